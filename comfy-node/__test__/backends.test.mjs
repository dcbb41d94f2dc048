// Several named backends in one client (`backends: [...]`) against two fake ComfyUIs: pinning
// by name on submit and on job lookup, routing by priority, the backends serverInfo lists, and a
// job lost with its backend (stopped mid-run) that fails, or runs on the other with resubmitIfLost.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { ComfyClient, InvalidArgumentError, NotFoundError } from '../index.mjs'
import { CKPT, modelFree, startFake, txt2img } from './helpers.mjs'

let a
let b
before(async () => {
  ;[a, b] = await Promise.all([startFake([]), startFake([])])
})
after(async () => {
  await Promise.all([a?.stop(), b?.stop()])
})

async function ranOn(fake, id) {
  const history = await (await fetch(`${fake.url}/history`)).json()
  return id in history
}

test('a pinned job runs where pinned and is found only there', async () => {
  const client = new ComfyClient({
    backends: [
      { name: 'a', kind: 'local', url: a.url },
      { name: 'b', kind: 'local', url: b.url, priority: 1 },
    ],
    routing: { overflow_queue: 8 },
  })
  const info = await client.serverInfo()
  assert.deepEqual(info.backends.map((m) => m.name), ['a', 'b'])
  const pinned = await client.run(modelFree('pin_b'), { backend: 'b' })
  assert.equal(pinned.status, 'succeeded')
  assert.ok((await ranOn(b, pinned.id)) && !(await ranOn(a, pinned.id)))
  assert.equal((await client.job(pinned.id, { backend: 'b' })).id, pinned.id)
  await assert.rejects(client.job(pinned.id, { backend: 'a' }), (e) => e instanceof NotFoundError)
  const free = await client.run(modelFree('free'))
  assert.ok(await ranOn(a, free.id), 'priority 0 takes unpinned work')
  await assert.rejects(
    client.submit(modelFree('x'), { backend: 'gpu9' }),
    (e) => e instanceof InvalidArgumentError && e.code === 'unknown_backend',
  )
})

test('templates and batches are pinned too', async () => {
  const client = new ComfyClient({
    backends: [
      { name: 'a', kind: 'local', url: a.url },
      { name: 'b', kind: 'local', url: b.url, priority: 1 },
    ],
    routing: { overflow_queue: 8 },
  })
  const job = await client.generateImage({ prompt: 'a cat', ckpt_name: CKPT, steps: 1 }, { backend: 'b' })
  await job.wait({ timeoutMs: 60_000 })
  assert.equal(job.status, 'succeeded')
  assert.ok((await ranOn(b, job.id)) && !(await ranOn(a, job.id)))
  const status = await client.submitBatch({ workflow: txt2img(1), seeds: [1, 2], backend: 'b', resubmitIfLost: true })
  const done = await client.waitBatch(status.batch_id, { timeoutMs: 60_000 })
  const ids = done.items.map((i) => i.job_id)
  assert.equal(ids.length, 2)
  for (const id of ids) assert.ok((await ranOn(b, id)) && !(await ranOn(a, id)), id)
  await assert.rejects(
    client.runTemplate('generate_image', { prompt: 'x', ckpt_name: CKPT }, { backend: 'gpu9' }),
    (e) => e instanceof InvalidArgumentError && e.code === 'unknown_backend',
  )
})

test('a bad entry names the entry and the field', () => {
  assert.throws(
    () => new ComfyClient({ backends: [{ name: 'a', kind: 'local' }] }),
    (e) => e instanceof InvalidArgumentError && e.message.includes('backends[0] ("a").url'),
  )
})

test('a job lost with its backend fails, or runs on the other when allowed', async () => {
  const [lost, other] = await Promise.all([startFake(['--step-delay-ms', '20']), startFake([])])
  try {
    const client = new ComfyClient({
      backends: [
        { name: 'a', kind: 'local', url: lost.url },
        { name: 'b', kind: 'local', url: other.url, priority: 1 },
      ],
      routing: { overflow_queue: 8, unreachable_after_ms: 300 },
    })
    const kept = await client.submit(txt2img(500, 1))
    const moved = await client.submit(txt2img(500, 2), { resubmitIfLost: true })
    for (let i = 0; i < 1000 && kept.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 20))
    assert.equal(kept.status, 'running')
    await lost.stop()
    await kept.wait({ timeoutMs: 60_000 })
    assert.equal(kept.status, 'failed')
    assert.equal(kept.failure.code, 'backend_lost')
    assert.ok(kept.failure.message.includes('backend a'), kept.failure.message)
    await moved.wait({ timeoutMs: 60_000 })
    assert.equal(moved.status, 'succeeded')
    assert.ok((await ranOn(other, moved.id)) && !(await ranOn(other, kept.id)))
  } finally {
    await Promise.all([lost.stop(), other.stop()])
  }
})
