// Several named backends in one client (`backends: [...]`) against two fake ComfyUIs: pinning
// by name on submit and on job lookup, routing by priority, and the backends serverInfo lists.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { ComfyClient, InvalidArgumentError, NotFoundError } from '../index.mjs'
import { modelFree, startFake } from './helpers.mjs'

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

test('a bad entry names the entry and the field', () => {
  assert.throws(
    () => new ComfyClient({ backends: [{ name: 'a', kind: 'local' }] }),
    (e) => e instanceof InvalidArgumentError && e.message.includes('backends[0] ("a").url'),
  )
})
