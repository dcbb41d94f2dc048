// submitFeedback / sessionSummary / reportSessionSummary: consent, scrubbing, and the POST to a
// feedback URL (no credential of the backend).
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, before, test } from 'node:test'

import { ComfyClient, InvalidArgumentError } from '../index.mjs'
import { startFake } from './helpers.mjs'

let fake
before(async () => {
  fake = await startFake([])
})
after(async () => {
  await fake?.stop()
})

test('feedback needs consent, refuses paths and is posted without credentials', async () => {
  const received = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ headers: req.headers, body })
      res.writeHead(204).end()
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const feedbackUrl = `http://127.0.0.1:${server.address().port}/fb`
    const client = new ComfyClient({ url: fake.url, comfyApiKey: 'comfyui-node-secret', feedbackUrl })
    assert.equal(client.sessionSummary().jobs_submitted, 0)
    await assert.rejects(client.submitFeedback({ message: 'nice' }), (e) => e instanceof InvalidArgumentError && /consent/.test(e.message))
    await assert.rejects(client.submitFeedback({ consent: true, message: 'see C:\\Users\\me' }), InvalidArgumentError)
    const r = await client.submitFeedback({ consent: true, message: 'quick', rating: 5 })
    assert.equal(r.posted, true)
    assert.equal(r.stored, 'memory')
    const s = await client.reportSessionSummary({ consent: true })
    assert.equal(s.posted, true)
    await assert.rejects(client.reportSessionSummary(), InvalidArgumentError)
    assert.equal(received.length, 2)
    for (const { headers, body } of received) {
      assert.equal(headers['x-api-key'], undefined)
      assert.equal(headers.authorization, undefined)
      assert.ok(!body.includes('comfyui-node-secret'))
    }
  } finally {
    server.close()
  }
})
