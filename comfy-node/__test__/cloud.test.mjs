// `backend: 'comfy-cloud'` against the fake Comfy Cloud (`comfy-fake --cloud`): the same client,
// built by the same core function as every other surface.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { ComfyClient, ComfyError } from '../index.mjs'
import { modelFree, startFake } from './helpers.mjs'

const KEY = 'comfyui-fake-cloud-key'
let cloud

// The fake's storage host is on loopback, which clients refuse unless allowed (`allowPrivateUrls`).
delete process.env.COMFY_ALLOW_PRIVATE_URLS

before(async () => {
  cloud = await startFake(['--cloud'])
})
after(async () => {
  await cloud?.stop()
})

test('a Comfy Cloud client runs, downloads outputs, and never sends the key to storage', async () => {
  const options = { url: 'http://127.0.0.1:1', backend: 'comfy-cloud', cloudUrl: cloud.url, cloudApiKey: KEY }
  const closed = new ComfyClient(options)
  const guarded = await closed.run(modelFree('node_cloud_guarded'), { timeout: 30_000 })
  const [output] = await guarded.assets()
  await assert.rejects(closed.assetBytes(output.id), (e) => e instanceof ComfyError && e.code === 'url_not_allowed')

  const client = new ComfyClient({ ...options, allowPrivateUrls: true })
  const job = await client.run(modelFree('node_cloud'), { timeout: 30_000 })
  assert.equal(job.status, 'succeeded')
  const assets = await job.assets()
  assert.equal(assets.length, 1)
  const bytes = await client.assetBytes(assets[0].id)
  assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
  const res = await fetch(`${cloud.url}/__fake/storage-log`)
  const { requests } = await res.json()
  assert.ok(requests.length > 0, 'downloads go through the storage host')
  for (const r of requests) {
    assert.equal(r.refused, false)
    assert.deepEqual(r.headers.filter((h) => ['x-api-key', 'authorization', 'cookie'].includes(h)), [])
  }
})

test('Comfy Cloud without a key, or an unknown backend, is a clear error', () => {
  const saved = process.env.COMFY_CLOUD_API_KEY
  delete process.env.COMFY_CLOUD_API_KEY
  try {
    assert.throws(
      () => new ComfyClient({ backend: 'comfy-cloud', cloudUrl: cloud.url }),
      (e) => e instanceof ComfyError && e.code === 'invalid_argument' && /COMFY_CLOUD_API_KEY/.test(e.message),
    )
    assert.throws(
      () => new ComfyClient({ backend: 'runpod' }),
      (e) => e instanceof ComfyError && e.code === 'invalid_argument' && /comfy-cloud/.test(e.message),
    )
    assert.throws(
      () => new ComfyClient({ url: 'http://127.0.0.1:8188', caCert: '/no/such/ca.pem' }),
      (e) => e instanceof ComfyError && /\/no\/such\/ca\.pem/.test(e.message),
    )
  } finally {
    if (saved !== undefined) process.env.COMFY_CLOUD_API_KEY = saved
  }
})
