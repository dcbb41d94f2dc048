// End to end against a real ComfyUI (CPU, tiny checkpoint): needs COMFYUI_E2E_URL,
// which scripts/test.sh sets in its end-to-end tier (scripts/real-comfyui/start.sh).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, test } from 'node:test'

import { ComfyClient, JobFailedError } from '../index.mjs'
import { CKPT, ROOT, modelFree, txt2img, viewBytes } from './helpers.mjs'

const URL_ = process.env.COMFYUI_E2E_URL
const smoke = (name) => join(ROOT, 'scripts', 'real-comfyui', `smoke_${name}.json`)
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47])

// Never a silent skip: the fake tier leaves this file out, the e2e tier sets the URL.
if (!URL_) throw new Error('COMFYUI_E2E_URL is not set: run this file with scripts/test-node.sh e2e')

describe('real ComfyUI', () => {
  let client
  before(() => {
    client = new ComfyClient({ url: URL_, maxRunningJobs: 16 })
  })

  test('the smoke workflows validate; a broken one names node and input', async () => {
    assert.deepEqual(await client.validate(smoke('model_free')), [])
    assert.deepEqual(await client.validate(smoke('txt2img')), [])
    const broken = JSON.parse(readFileSync(smoke('txt2img'), 'utf8'))
    const sampler = Object.keys(broken).find((id) => broken[id].class_type === 'KSampler')
    broken[sampler].inputs.sampler_name = 'eulr'
    const [p] = await client.validate(broken)
    assert.equal(p.nodeId, sampler)
    assert.equal(p.code, 'value_not_in_list')
    assert.equal(p.input, 'sampler_name')
    assert.ok(p.suggestions.includes('euler'))
  })

  test('txt2img on the tiny checkpoint: progress events, a PNG identical to /view', async () => {
    const job = await client.submit(txt2img(3, 7))
    const events = []
    for await (const ev of job.events()) events.push(ev)
    assert.equal(events.at(-1).kind, 'finished')
    assert.equal(events.at(-1).status, 'succeeded', JSON.stringify(events.at(-1)))
    const steps = events.filter((e) => e.kind === 'running' && e.nodeClass === 'KSampler' && e.step != null)
    assert.ok(steps.length > 0, JSON.stringify(events.map((e) => e.kind)))
    assert.equal(steps.at(-1).maxSteps, 3)
    const [asset] = await job.assets()
    const bytes = await client.assetBytes(asset.id)
    assert.ok(bytes.subarray(0, 4).equals(PNG))
    assert.ok(bytes.equals(await viewBytes(URL_, asset)))
    const info = await client.asset(asset.id)
    assert.equal(info.width, 64)
    assert.equal(info.height, 64)
  })

  test('generateImage, upload → LoadImage, and the model-free smoke graph', async () => {
    const gen = await client.generateImage({ prompt: 'a lighthouse', ckpt_name: CKPT, steps: 2, width: 64, height: 64, seed: 1 })
    const [image] = await gen.assets()
    assert.equal(image.template, 'generate_image')
    const value = await client.upload(await client.assetBytes(image.id), `node-e2e-${process.pid}.png`)
    const wf = {
      1: { class_type: 'LoadImage', inputs: { image: value } },
      2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'node_e2e_upload' } },
    }
    const job = await client.run(wf)
    assert.equal(job.status, 'succeeded', JSON.stringify(job.failure))
    const smokeJob = await client.run(smoke('model_free'))
    const [out] = await smokeJob.assets()
    assert.ok((await client.assetBytes(out.id)).equals(await viewBytes(URL_, out)))
  })

  test('failure details from the real server', async () => {
    const job = await client.run(modelFree('../escape'))
    assert.equal(job.status, 'failed')
    assert.equal(job.failure.nodeId, '3')
    assert.equal(job.failure.nodeClass, 'SaveImage')
    assert.equal(job.failure.exceptionType, 'Exception')
    assert.match(job.failure.message, /outside the output folder/)
    await assert.rejects(job.assets(), JobFailedError)
  })

  test('cancel a running job on the real server', async () => {
    const job = await client.submit(txt2img(10000, 9))
    for await (const ev of job.events()) {
      if (ev.kind === 'running' && ev.nodeClass === 'KSampler' && ev.step >= 1) break
    }
    const outcome = await job.cancel()
    assert.ok(['interrupted', 'interrupt_requested'].includes(outcome), outcome)
    await job.wait({ timeoutMs: 30_000 })
    assert.equal(job.status, 'cancelled')
  })

  test('UI round trip with the live catalogue', async () => {
    const ui = await client.apiToUi(smoke('txt2img'))
    const { workflow } = await client.uiToApi(ui)
    assert.deepEqual(await client.validate(workflow), [])
  })
})
