// client.partnerGenerate: a partner (paid API) node workflow from the live catalogue, priced
// from its price badge on the fake Comfy Cloud, run only with spending consent; on the fake
// local ComfyUI a Comfy API key is needed.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { ComfyClient, InvalidArgumentError } from '../index.mjs'
import { startFake } from './helpers.mjs'

const KEY = 'comfyui-fake-cloud-key'
let cloud
let local

before(async () => {
  cloud = await startFake(['--cloud'])
  local = await startFake([])
})
after(async () => {
  await cloud?.stop()
  await local?.stop()
})

test('on Comfy Cloud a priced partner run needs maxCredits, then runs', async () => {
  const client = new ComfyClient({ backend: 'comfy-cloud', cloudUrl: cloud.url, cloudApiKey: KEY })
  const request = { type: 'image', model: 'flux-ultra', prompt: 'a lighthouse' }
  const { quote, job } = await client.partnerGenerate({ ...request, dryRun: true })
  assert.equal(job, null)
  assert.equal(quote.class_type, 'FluxProUltraImageNode')
  assert.deepEqual(quote.price, { kind: 'known', min_usd: 0.06, max_usd: 0.06, min_credits: 12.66, max_credits: 12.66 })
  assert.equal(quote.consent, false)

  await assert.rejects(client.partnerGenerate(request), (e) => e instanceof InvalidArgumentError && e.code === 'spending_consent_required' && !e.retryable)
  await assert.rejects(
    client.partnerGenerate({ ...request, maxCredits: 12 }),
    (e) => e.code === 'price_above_max_credits' && e.details.credits === 12.66 && e.details.maxCredits === 12,
  )

  const ran = await client.partnerGenerate({ ...request, maxCredits: 13 })
  await ran.job.wait({ timeoutMs: 30_000 })
  assert.equal(ran.job.status, 'succeeded')
  assert.equal((await ran.job.assets()).length, 1)
})

test('on a local ComfyUI the partner key is required before anything is submitted', async () => {
  const noKey = new ComfyClient({ url: local.url, comfyApiKey: '', allowPartnerSpend: true })
  await assert.rejects(noKey.partnerGenerate({ type: 'audio', model: 'stable-audio-2.5', prompt: 'rain' }), (e) => e.code === 'partner_key_missing')
  const client = new ComfyClient({ url: local.url, comfyApiKey: 'comfyui-test-key', allowPartnerSpend: true })
  const { quote, job } = await client.partnerGenerate({ type: 'audio', model: 'stable-audio-2.5', prompt: 'rain', duration: 20 })
  assert.equal(quote.price.kind, 'unknown')
  assert.equal(quote.workflow['1'].inputs.duration, 20)
  await job.wait({ timeoutMs: 30_000 })
  assert.equal(job.status, 'succeeded')
})
