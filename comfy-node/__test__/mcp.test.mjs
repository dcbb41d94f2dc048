// The embedded MCP server, driven by the official TypeScript MCP client
// (@modelcontextprotocol/sdk) over streamable HTTP: same backend, store and jobs as the client.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'

import { ComfyClient, serveMcp } from '../index.mjs'
import { PKG, mcpBin, modelFree, startFake } from './helpers.mjs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let fake
let client
before(async () => {
  fake = await startFake()
  client = new ComfyClient({ url: fake.url })
})
after(() => fake?.stop())

async function connect(url, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {}
  const mcp = new Client({ name: 'comfy-rs-node-test', version: '0.0.0' })
  await mcp.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }))
  return mcp
}

test('the official MCP client lists the tools and runs a workflow the Node client then sees', async () => {
  const server = await serveMcp(client, { transport: 'http', listen: '127.0.0.1:0', token: 'node-secret' })
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/)
    const mcp = await connect(server.url, 'node-secret')
    assert.equal(mcp.getServerVersion()?.name, 'comfy-mcp')
    const { tools } = await mcp.listTools()
    const names = new Set(tools.map((t) => t.name))
    for (const n of ['submit_workflow', 'validate_workflow', 'get_job_status', 'generate_image', 'cancel_job']) {
      assert.ok(names.has(n), n)
    }

    const checked = await mcp.callTool({ name: 'validate_workflow', arguments: { workflow: modelFree() } })
    assert.ok(!checked.isError)
    assert.equal(checked.structuredContent.valid, true)

    const run = await mcp.callTool({ name: 'submit_workflow', arguments: { workflow: modelFree('via_mcp'), wait: true } })
    assert.equal(run.structuredContent.status, 'succeeded', JSON.stringify(run.structuredContent))
    const job = await client.job(run.structuredContent.job_id)
    assert.equal(job.status, 'succeeded')
    const [asset] = await job.assets()
    assert.match(asset.filename, /^via_mcp_/)
    await mcp.close()
  } finally {
    await server.close()
  }
  await server.close()
})

test('HTTP without the token is refused; a closed server stops answering', async () => {
  const server = await serveMcp(client, { token: 'tok' })
  const res = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }),
  })
  assert.equal(res.status, 401)
  await server.close()
  await assert.rejects(fetch(server.url, { method: 'POST' }))
})

async function toolNames(mcp) {
  const { tools } = await mcp.listTools()
  await mcp.close()
  return new Set(tools.map((t) => t.name))
}

test('toolProfile minimal lists exactly what `comfy-mcp --tool-profile minimal` lists', async () => {
  const served = async (toolProfile) => {
    const server = await serveMcp(client, { toolProfile })
    try {
      return await toolNames(await connect(server.url))
    } finally {
      await server.close()
    }
  }
  const minimal = await served('minimal')
  const full = await served('full')
  // The binary's own minimal profile over stdio: the set is comfy-mcp's, not a copy of it.
  const dataDir = mkdtempSync(join(tmpdir(), 'comfy-node-mcp-'))
  try {
    const transport = new StdioClientTransport({
      command: mcpBin(),
      args: ['--tool-profile', 'minimal'],
      env: { PATH: process.env.PATH ?? '', COMFYUI_URL: fake.url, COMFY_MCP_DATA_DIR: dataDir },
      stderr: 'ignore',
    })
    const mcp = new Client({ name: 'comfy-rs-node-cli', version: '0.0.0' })
    await mcp.connect(transport)
    const cli = await toolNames(mcp)
    assert.deepEqual([...minimal].sort(), [...cli].sort())
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
  assert.ok(minimal.has('run_workflow'))
  assert.ok([...minimal].every((n) => full.has(n)) && minimal.size < full.size / 3, `${[...minimal]} / ${full.size}`)
})

test('bad options are ComfyErrors', async () => {
  await assert.rejects(serveMcp(client, { toolProfile: 'tiny' }), (e) => {
    assert.equal(e.code, 'invalid_argument')
    for (const word of ['toolProfile', 'tiny', '"full"', '"minimal"']) assert.ok(e.message.includes(word), e.message)
    return true
  })
  await assert.rejects(serveMcp(client, { transport: 'stdio', toolProfile: 'everything' }), (e) => e.code === 'invalid_argument')
  await assert.rejects(serveMcp(client, { transport: 'carrier-pigeon' }), (e) => e.code === 'invalid_argument')
  await assert.rejects(serveMcp({}, {}), (e) => e.code === 'invalid_argument')
  await assert.rejects(serveMcp(client, { listen: '0.0.0.0:0' }), (e) => e.code === 'mcp_error')
})

test('stdio: a Node program serving MCP on its stdin/stdout, for the official client', async () => {
  const program = `
    import { ComfyClient, serveMcp } from ${JSON.stringify(join(PKG, 'index.mjs'))}
    await serveMcp(new ComfyClient(process.env.COMFY_URL), { transport: 'stdio' })
  `
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--input-type=module', '-e', program],
    env: { ...process.env, COMFY_URL: fake.url },
    stderr: 'inherit',
  })
  const mcp = new Client({ name: 'comfy-rs-node-stdio-test', version: '0.0.0' })
  await mcp.connect(transport)
  const { tools } = await mcp.listTools()
  assert.ok(tools.some((t) => t.name === 'validate_workflow'))
  const bad = modelFree()
  bad[1].inputs.width = 0
  const r = await mcp.callTool({ name: 'validate_workflow', arguments: { workflow: bad } })
  assert.equal(r.structuredContent.valid, false)
  assert.equal(r.structuredContent.problems[0].input, 'width')
  await mcp.close()
})
