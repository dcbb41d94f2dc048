// The `store` option: an SQLite file shared by two clients; a PostgreSQL URL reaches the core's
// PostgreSQL store (a database that is down is a retryable store_error, password never shown).
// Runs on one real PostgreSQL are in comfy-core's store_postgres tests.
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import { ComfyClient, ComfyError } from '../index.mjs'
import { modelFree, startFake } from './helpers.mjs'

let fake
before(async () => {
  fake = await startFake([])
})
after(async () => {
  await fake?.stop()
})

test('a store file is shared by two clients', async () => {
  const store = `sqlite://${join(mkdtempSync(join(tmpdir(), 'comfy-node-store-')), 'shared.sqlite3')}`
  const first = new ComfyClient({ url: fake.url, store })
  const job = await first.submit(modelFree('node_store'))
  const recorded = await job.assets()
  assert.ok(recorded.length > 0)
  const second = new ComfyClient({ url: fake.url, store })
  for (const a of recorded) assert.equal((await second.asset(a.id)).id, a.id)
  const elsewhere = new ComfyClient({ url: fake.url })
  await assert.rejects(elsewhere.asset(recorded[0].id), (e) => e.code === 'asset_not_found')
})

test('a postgres URL uses the PostgreSQL store', async () => {
  const client = new ComfyClient({ url: fake.url, store: 'postgres://comfy:pg-secret@127.0.0.1:1/comfy' })
  await assert.rejects(client.asset('a_000000000000000000000000'), (e) => {
    assert.ok(e instanceof ComfyError)
    assert.equal(e.code, 'store_error')
    assert.equal(e.retryable, true)
    assert.ok(!e.message.includes('pg-secret'), e.message)
    return true
  })
})

test('an unknown store scheme is refused', () => {
  assert.throws(() => new ComfyClient({ url: 'http://127.0.0.1:9', store: 'mysql://db/x' }), (e) => {
    assert.equal(e.code, 'invalid_argument')
    return true
  })
})

test('handing work over is a no-op without a shared store, and reaches the shared one', async () => {
  const local = new ComfyClient({ url: fake.url })
  assert.deepEqual(await local.takeOverOrphans(), [])
  assert.equal(await local.retire(), undefined)
  const shared = new ComfyClient({ url: fake.url, store: 'postgres://comfy:pg-secret@127.0.0.1:1/comfy' })
  for (const call of [() => shared.takeOverOrphans(), () => shared.retire()]) {
    await assert.rejects(call(), (e) => {
      assert.equal(e.code, 'store_error')
      assert.ok(!e.message.includes('pg-secret'), e.message)
      return true
    })
  }
})
