// `backend: 'runcomfy'` against the fake RunComfy (`comfy-fake --runcomfy`): the same client, built
// by the same core function as every other surface, plus the deployment operations.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ComfyClient, ComfyError } from '../index.mjs'
import { modelFree, startFake } from './helpers.mjs'

const TOKEN = 'rc-fake-token'
const DEPLOYMENT = '0d3e5a7c-0000-4000-8000-00000000d001'
let rc

// The fake's output CDN is on loopback, which clients refuse unless allowed (`allowPrivateUrls`,
// else $COMFY_ALLOW_PRIVATE_URLS): each test says how it allows it.
delete process.env.COMFY_ALLOW_PRIVATE_URLS

before(async () => {
  rc = await startFake(['--runcomfy'])
})
after(async () => {
  await rc?.stop()
})

function client(urlGuard = { allowPrivateUrls: true }) {
  return new ComfyClient({
    url: 'http://127.0.0.1:1',
    backend: 'runcomfy',
    runcomfyUrl: rc.url,
    runcomfyToken: TOKEN,
    runcomfyDeployment: DEPLOYMENT,
    ...urlGuard,
  })
}

test('a RunComfy client runs, downloads hosted outputs, and never sends the token to the CDN', async () => {
  const c = client()
  const job = await c.run(modelFree('node_rc'), { timeout: 30_000 })
  assert.equal(job.status, 'succeeded')
  const assets = await job.assets()
  assert.equal(assets.length, 1)
  const bytes = await c.assetBytes(assets[0].id)
  assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
  const res = await fetch(`${rc.url}/__fake/cdn-log`)
  const { requests } = await res.json()
  assert.ok(requests.length > 0, 'downloads go to the CDN host')
  for (const r of requests) {
    assert.equal(r.refused, false)
    assert.deepEqual(r.headers.filter((h) => ['x-api-key', 'authorization', 'cookie'].includes(h)), [])
  }
})

test('deployment operations', async () => {
  const c = client()
  assert.deepEqual((await c.listDeployments()).map((d) => d.id), [DEPLOYMENT])
  const d = await c.getDeployment(undefined, { includePayload: true })
  assert.equal(d.payload.workflow_api_json['1']._meta.title, 'Canvas')
  const created = await c.createDeployment({ name: 'node-dep', workflow_id: 'w-1', workflow_version: 'v1', max_instances: 2 })
  assert.deepEqual(created.hardware, ['AMPERE_48'])
  await assert.rejects(
    c.createDeployment({ name: 'bad', workflow_id: 'w', workflow_version: 'v1', hardware: 'H100' }),
    (e) => e instanceof ComfyError && e.code === 'invalid_argument',
  )
  const updated = await c.updateDeployment({ queue_size: 4 }, created.id)
  assert.equal(updated.name, 'node-dep')
  assert.equal(updated.queue_size, 4)
  assert.equal((await c.deleteDeployment(created.id)).deleted, true)
  assert.deepEqual(await c.listDeployments({ ids: [created.id] }), [])
  await assert.rejects(
    c.submitRequest({ overrides: { 'Canvas.widht': 20 } }),
    (e) => e instanceof ComfyError && e.code === 'invalid_override',
  )
  const req = await (await c.submitRequest({ overrides: { 'Canvas.width': 20 } })).wait({ timeout: 30_000 })
  assert.equal(req.status, 'succeeded')
  const reqAssets = await req.assets()
  assert.equal(reqAssets.length, 1)
  const reqBytes = await c.assetBytes(reqAssets[0].id)
  assert.deepEqual([...reqBytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
  assert.equal((await c.job(req.id)).status, 'succeeded')
  const local = new ComfyClient({ url: 'http://127.0.0.1:1' })
  await assert.rejects(local.listDeployments(), (e) => e instanceof ComfyError && e.code === 'not_supported')
  assert.throws(
    () => new ComfyClient({ backend: 'runcomfy', runcomfyUrl: rc.url, runcomfyToken: '' }),
    (e) => e instanceof ComfyError && /RUNCOMFY_API_TOKEN/.test(e.message),
  )
})

test('a loopback CDN is refused with url_not_allowed unless allowed (option, environment, allow-list)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'comfy-node-guard-'))
  // Clients on one store: each reads the assets the others recorded.
  const on = (urlGuard) => client({ dataDir, ...urlGuard })
  const refused = (promise) =>
    assert.rejects(promise, (e) => {
      assert.ok(e instanceof ComfyError, e)
      assert.equal(e.code, 'url_not_allowed', e.message)
      assert.match(e.message, /allow_private_urls/)
      assert.ok(!e.message.includes(TOKEN), e.message)
      return true
    })
  const isPng = (bytes) => assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
  const run = async (c, prefix) => {
    const job = await c.run(modelFree(prefix), { timeout: 30_000 })
    const [asset] = await job.assets()
    assert.ok(asset, 'one output')
    isPng(await c.assetBytes(asset.id))
    return asset
  }
  try {
    const asset = await run(on({ allowPrivateUrls: true }), 'node_rc_opted_in')
    // Without the opt-in: the deployment's catalogue and the outputs are on the loopback CDN.
    const closed = on({})
    await refused(closed.run(modelFree('node_rc_guarded')))
    await refused(closed.assetBytes(asset.id))
    // The environment is the fallback; an explicit false still wins over it.
    process.env.COMFY_ALLOW_PRIVATE_URLS = '1'
    try {
      isPng(await on({}).assetBytes(asset.id))
      await refused(on({ allowPrivateUrls: false }).assetBytes(asset.id))
    } finally {
      delete process.env.COMFY_ALLOW_PRIVATE_URLS
    }
    // The allow-list: the CDN's host and port (where the deployment's catalogue is), not another port.
    const deployment = await on({}).getDeployment(undefined, { includePayload: true })
    const cdn = new URL(deployment.payload.object_info_url)
    assert.equal(cdn.hostname, '127.0.0.1')
    assert.notEqual(cdn.port, new URL(rc.url).port)
    await refused(on({ allowedUrlHosts: [`127.0.0.1:${Number(cdn.port) + 1}`] }).assetBytes(asset.id))
    await run(on({ allowedUrlHosts: [cdn.host] }), 'node_rc_listed')
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
})
