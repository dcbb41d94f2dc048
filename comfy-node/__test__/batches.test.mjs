// Batches against the fake ComfyUI binary: seeds, outputs in item order, bad items, a new client.
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import { ComfyClient, NotFoundError, WorkflowError, InvalidArgumentError } from '../index.mjs'
import { modelFree, startFake, txt2img } from './helpers.mjs'

let fake
before(async () => {
  fake = await startFake([])
})
after(async () => {
  await fake?.stop()
})

test('a batch of seeds finishes with every output in item order', async () => {
  const client = new ComfyClient(fake.url)
  const status = await client.submitBatch({ workflow: txt2img(3), seeds: [7, 8, 9] })
  assert.match(status.batch_id, /^b_/)
  assert.equal(status.total, 3)
  const done = await client.waitBatch(status.batch_id, { timeoutMs: 60_000 })
  assert.equal(done.state, 'succeeded')
  assert.equal(done.counts.succeeded, 3)
  assert.equal(done.fraction, 1)
  const outputs = await client.batchOutputs(status.batch_id)
  assert.deepEqual(outputs.items.map((i) => i.index), [0, 1, 2])
  for (const [i, item] of outputs.items.entries()) {
    assert.ok(item.outputs.length > 0, `item ${i}`)
    assert.ok(item.outputs.every((a) => a.job_id === item.job_id))
  }
  assert.equal((await client.batchStatus(status.batch_id)).state, 'succeeded')
})

test('a bad item rejects naming it; an unknown batch is NotFound', async () => {
  const client = new ComfyClient(fake.url)
  await assert.rejects(
    client.submitBatch({ workflow: modelFree(), overrides: [{ '1.width': 16 }, { '1.widht': 16 }] }),
    (e) => e instanceof WorkflowError && e.code === 'invalid_override' && e.message.startsWith('batch item 1: ') && e.details.item === 1,
  )
  await assert.rejects(
    client.submitBatch({ workflow: modelFree(), seeds: [1], count: 2 }),
    (e) => e instanceof InvalidArgumentError && e.code === 'invalid_argument',
  )
  await assert.rejects(client.batchStatus('b_nope'), (e) => e instanceof NotFoundError && e.code === 'batch_not_found')
})

test('a batch recorded in a data directory is finished by a new client', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'comfy-node-batch-'))
  const first = new ComfyClient({ url: fake.url, dataDir })
  const { batch_id: id } = await first.submitBatch({
    workflow: modelFree('node_batch'),
    overrides: [{ '1.width': 16 }, { '1.width': 24 }],
  })
  const second = new ComfyClient({ url: fake.url, dataDir })
  const done = await second.waitBatch(id, { timeoutMs: 60_000 })
  assert.equal(done.state, 'succeeded')
  assert.equal(new Set(done.items.map((i) => i.job_id)).size, 2)
})
