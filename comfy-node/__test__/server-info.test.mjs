// serverInfo / billingStatus against the fake ComfyUI binary (a local ComfyUI: no billing).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { BackendError, ComfyClient, InvalidArgumentError } from '../index.mjs'
import { startFake } from './helpers.mjs'

let fake
before(async () => {
  fake = await startFake([])
})
after(async () => {
  await fake?.stop()
})

test('serverInfo describes the backend and never the key', async () => {
  const client = new ComfyClient({ url: fake.url, comfyApiKey: 'comfyui-node-secret' })
  const info = await client.serverInfo()
  assert.equal(info.kind, 'local')
  assert.equal(info.reachable, true)
  assert.equal(typeof info.server_version, 'string')
  assert.equal(info.auth, 'not_configured')
  assert.equal(info.partner_nodes_key, true)
  assert.equal(info.capabilities.cancel_running, 'job')
  assert.ok(!JSON.stringify(info).includes('comfyui-node-secret'))
})

test('billingStatus is not_supported on a local ComfyUI; a down server is reported, not thrown', async () => {
  const client = new ComfyClient(fake.url)
  await assert.rejects(client.billingStatus(), (e) => e instanceof BackendError && e.code === 'not_supported')
  const down = new ComfyClient('http://127.0.0.1:9')
  const info = await down.serverInfo()
  assert.equal(info.reachable, false)
  assert.equal(typeof info.unreachable, 'string')
})

test('cql answers classes and paths; a bad query names the column', async () => {
  const client = new ComfyClient(fake.url)
  const found = await client.cql('produces IMAGE | NOT deprecated | sort connections | limit 3')
  assert.equal(found.classes.length, 3)
  assert.ok(found.total > 3)
  assert.ok(found.classes.every((c) => c.produces.includes('IMAGE')))
  const paths = await client.cql('path MODEL -> IMAGE depth 2 | limit 2')
  assert.equal(paths.paths[0].length, 2)
  await assert.rejects(
    client.cql('produces IMAGEE'),
    (e) => e instanceof InvalidArgumentError && e.code === 'invalid_query' && e.message.includes('column 10'),
  )
})
