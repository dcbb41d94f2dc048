// Jobs against the fake ComfyUI binary: submit, events, every output's bytes, upload,
// failure details, cancel, timeouts and AbortSignal, the running-jobs cap, concurrency,
// templates and the SQLite store.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import {
  ComfyClient,
  ComfyError,
  JobFailedError,
  NotFoundError,
  TooManyJobsError,
  ValidationError,
  BackendError,
  TemplateError,
} from '../index.mjs'
import { CKPT, modelFree, startFake, txt2img, until, viewBytes } from './helpers.mjs'

let fake
let client
const dirs = []
function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'comfy-rs-node-'))
  dirs.push(d)
  return d
}

before(async () => {
  fake = await startFake(['--step-delay-ms', '2'])
  client = new ComfyClient({ url: fake.url, maxRunningJobs: 200 })
})
after(async () => {
  await fake?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('submit and follow', () => {
  test('events: queued or running first, fraction never goes back, finished last', async () => {
    const job = await client.submit(txt2img(6))
    assert.match(job.id, /^[0-9a-f-]{36}$/)
    const events = []
    for await (const ev of job.events()) events.push(ev)
    const kinds = events.map((e) => e.kind)
    assert.equal(kinds.at(-1), 'finished')
    assert.equal(events.at(-1).status, 'succeeded')
    assert.equal(events.at(-1).fraction, 1)
    assert.ok(kinds.includes('running'), kinds.join(','))
    const running = events.filter((e) => e.kind === 'running')
    for (let i = 1; i < running.length; i++) assert.ok(running[i].fraction >= running[i - 1].fraction)
    const sampling = running.filter((e) => e.nodeClass === 'KSampler' && e.step != null)
    assert.ok(sampling.length > 0, 'KSampler steps reported')
    assert.equal(sampling[0].nodeId, '3')
    assert.equal(sampling[0].maxSteps, 6)
    const previews = events.filter((e) => e.kind === 'preview')
    assert.ok(previews.length > 0, 'preview frames')
    assert.ok(Buffer.isBuffer(previews[0].preview) && previews[0].preview.length > 0)
    assert.match(previews[0].previewMime, /^image\//)
    assert.equal(job.status, 'succeeded')
    assert.equal(job.finished, true)
    assert.equal(job.failure, null)
  })

  test('`for await (const ev of job)` iterates the events; a late reader gets the final state', async () => {
    const job = await client.run(modelFree('late'))
    const kinds = []
    for await (const ev of job) kinds.push(ev.kind)
    assert.deepEqual(kinds, ['finished'])
  })

  test('every output, with bytes identical to the server /view', async () => {
    const wf = {
      1: { class_type: 'EmptyImage', inputs: { width: 32, height: 16, batch_size: 3, color: 255 } },
      2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'multi/a' } },
      4: { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'multi_b' } },
      5: { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    }
    const job = await client.submit(wf)
    const assets = await job.assets()
    assert.equal(assets.length, 9, JSON.stringify(assets))
    // In the order the server ran the output nodes.
    assert.deepEqual(
      assets.map((a) => a.nodeId).sort(),
      ['3', '3', '3', '4', '4', '4', '5', '5', '5'],
    )
    assert.equal(new Set(assets.map((a) => a.id)).size, 9)
    for (const a of assets) {
      assert.equal(a.kind, 'image')
      assert.equal(a.mimeType, 'image/png')
      assert.equal(a.jobId, job.id)
      const bytes = await client.assetBytes(a.id)
      assert.ok(bytes.equals(await viewBytes(fake.url, a)), `bytes of ${a.filename}`)
      const info = await client.asset(a.id)
      assert.equal(info.byteSize, bytes.length)
      assert.equal(info.width, 32)
      assert.equal(info.height, 16)
      assert.match(info.sha256, /^[0-9a-f]{64}$/)
    }
    assert.equal(assets.find((a) => a.nodeId === '3').subfolder, 'multi')
    assert.equal(assets.find((a) => a.nodeId === '5').folder, 'temp')
    const out = join(tempDir(), 'saved.png')
    const saved = await client.saveAsset(assets[0].id, out)
    assert.ok(readFileSync(out).equals(await client.assetBytes(assets[0].id)))
    assert.equal(saved.byteSize, readFileSync(out).length)
  })

  test('a workflow given as JSON text, as a path and as a Workflow object', async () => {
    const { Workflow } = await import('../index.mjs')
    const path = join(tempDir(), 'wf.json')
    writeFileSync(path, JSON.stringify(modelFree('from_path')))
    for (const wf of [JSON.stringify(modelFree('from_text')), path, new Workflow(modelFree('from_class'))]) {
      const job = await client.run(wf)
      assert.equal(job.status, 'succeeded')
      assert.equal((await job.assets()).length, 1)
    }
  })
})

describe('upload', () => {
  test('uploaded bytes are a valid LoadImage value at once and run', async () => {
    const png = await client.assetBytes((await (await client.run(modelFree('src'))).assets())[0].id)
    const name = `node-upload-${process.pid}.png`
    const value = await client.upload(png, name)
    assert.equal(value, name)
    const wf = {
      1: { class_type: 'LoadImage', inputs: { image: value } },
      2: { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'uploaded' } },
    }
    assert.deepEqual(await client.validate(wf), [])
    const job = await client.run(wf)
    assert.equal(job.status, 'succeeded', JSON.stringify(job.failure))
    const [asset] = await job.assets()
    await client.assetBytes(asset.id)
    assert.equal((await client.asset(asset.id)).width, 64)
  })

  test('upload from a path uses the file name; bytes without a name are refused', async () => {
    const png = await client.assetBytes((await (await client.run(modelFree('src2'))).assets())[0].id)
    const path = join(tempDir(), `from-path-${process.pid}.png`)
    writeFileSync(path, png)
    assert.equal(await client.upload(path), `from-path-${process.pid}.png`)
    await assert.rejects(client.upload(png), (e) => e instanceof ComfyError && e.code === 'invalid_argument')
    await assert.rejects(client.upload(join(tempDir(), 'missing.png')), (e) => e.code === 'io_error')
  })
})

describe('failure and cancel', () => {
  test('a failing node: nodeId, nodeClass, exceptionType, message; assets() throws JobFailedError', async () => {
    const wf = modelFree('../escape')
    const job = await client.submit(wf)
    const events = []
    for await (const ev of job.events()) events.push(ev)
    const last = events.at(-1)
    assert.equal(last.kind, 'finished')
    assert.equal(last.status, 'failed')
    assert.equal(job.status, 'failed')
    const f = job.failure
    assert.equal(f.nodeId, '3')
    assert.equal(f.nodeClass, 'SaveImage')
    assert.equal(f.exceptionType, 'Exception')
    assert.match(f.message, /outside the output folder/)
    assert.ok(f.traceback.length > 0)
    assert.deepEqual(last.failure.nodeId, '3')
    await assert.rejects(job.assets(), (e) => {
      assert.ok(e instanceof JobFailedError)
      assert.equal(e.code, 'job_failed')
      assert.equal(e.details.failure.nodeClass, 'SaveImage')
      return true
    })
  })

  test('cancel a running job: interrupted, status cancelled, only this job', async () => {
    const job = await client.submit(txt2img(4000))
    const other = await client.submit(modelFree('after_cancel'))
    for await (const ev of job.events()) {
      if (ev.kind === 'running' && ev.nodeClass === 'KSampler' && ev.step >= 2) break
    }
    assert.equal(job.status, 'running')
    const outcome = await job.cancel()
    assert.ok(['interrupted', 'interrupt_requested'].includes(outcome), outcome)
    await job.wait({ timeoutMs: 10_000 })
    assert.equal(job.status, 'cancelled')
    await assert.rejects(job.assets(), (e) => e.code === 'job_cancelled')
    assert.equal(await job.cancel(), 'already_finished')
    await other.wait({ timeoutMs: 10_000 })
    assert.equal(other.status, 'succeeded')
  })

  test('cancel a queued job: removed from the queue', async () => {
    const running = await client.submit(txt2img(4000, 1))
    const queued = await client.submit(modelFree('never'))
    await until(() => running.status === 'running', 10_000, 'the first job to run')
    assert.equal(await queued.cancel(), 'removed_from_queue')
    assert.equal(queued.status, 'cancelled')
    await running.cancel()
    await running.wait({ timeoutMs: 10_000 })
    assert.equal(running.status, 'cancelled')
  })
})

describe('waiting', () => {
  test('timeoutMs hands the job back still running; AbortSignal rejects with its reason', async () => {
    const job = await client.submit(txt2img(4000, 2))
    const t0 = performance.now()
    const same = await job.wait({ timeoutMs: 100 })
    assert.equal(same, job)
    assert.ok(performance.now() - t0 >= 90)
    assert.ok(['queued', 'running'].includes(job.status))

    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    await assert.rejects(job.wait({ signal: controller.signal }), (e) => e.name === 'AbortError')
    await assert.rejects(job.wait({ signal: AbortSignal.abort(new Error('mine')) }), /mine/)
    await assert.rejects(job.assets({ signal: AbortSignal.timeout(30) }), (e) => e.name === 'TimeoutError')

    const events = job.events({ signal: AbortSignal.timeout(200) })
    await assert.rejects(async () => {
      for await (const ev of events) assert.ok(ev.kind)
    }, (e) => e.name === 'TimeoutError')
    await assert.rejects(job.wait({ signal: 'nope' }), (e) => e.code === 'invalid_argument')

    await job.cancel()
    await job.wait()
    assert.equal(job.status, 'cancelled')
  })
})

describe('many jobs', () => {
  test('100 concurrent jobs all finish with their own outputs', async () => {
    const jobs = await Promise.all(Array.from({ length: 100 }, (_, i) => client.submit(modelFree(`many_${i}`))))
    assert.equal(new Set(jobs.map((j) => j.id)).size, 100)
    const all = await Promise.all(jobs.map((j) => j.assets()))
    all.forEach((assets, i) => {
      assert.equal(assets.length, 1)
      assert.match(assets[0].filename, new RegExp(`^many_${i}_`))
    })
  })

  test('the running-jobs cap refuses one more with the retryable too_many_jobs', async () => {
    const capped = new ComfyClient({ url: fake.url, maxRunningJobs: 1 })
    const first = await capped.submit(txt2img(4000, 3))
    await assert.rejects(capped.submit(modelFree('over')), (e) => {
      assert.ok(e instanceof TooManyJobsError)
      assert.equal(e.code, 'too_many_jobs')
      assert.equal(e.retryable, true)
      assert.deepEqual(e.details, { running: 1, limit: 1 })
      return true
    })
    await first.cancel()
    await first.wait()
  })
})

describe('templates, store and errors', () => {
  test('built-in templates: listed, run with parameters, parameter errors name the parameter', async () => {
    const names = client.listTemplates().map((t) => t.name)
    for (const n of ['generate_image', 'image_to_image', 'inpaint', 'upscale']) assert.ok(names.includes(n), n)
    const gen = await client.template('generate_image')
    assert.equal(gen.params.find((p) => p.name === 'prompt').required, true)
    assert.ok(gen.inputSchema.properties.ckpt_name.enum.includes(CKPT))
    const job = await client.generateImage({ prompt: 'a lighthouse', ckpt_name: CKPT, steps: 3, width: 64, height: 64 })
    const [asset] = await job.assets()
    assert.equal(asset.template, 'generate_image')
    await assert.rejects(client.generateImage({ prompt: 'x', ckpt_name: 'nope.safetensors' }), (e) => {
      assert.ok(e instanceof TemplateError, e.name)
      assert.equal(e.code, 'invalid_parameter')
      assert.equal(e.details.param, 'ckpt_name')
      return true
    })
    await assert.rejects(client.generateImage({ prompt: 'x', ckpt_name: CKPT, steps: 0 }), (e) => {
      assert.ok(e instanceof TemplateError || e instanceof ValidationError, e.name)
      return true
    })
    await assert.rejects(client.runTemplate('generate_imag', {}), (e) => {
      assert.ok(e instanceof NotFoundError)
      assert.equal(e.code, 'template_not_found')
      assert.deepEqual(e.details.suggestions, ['generate_image'])
      return true
    })
  })

  test('workflowsDir: a template file beside the built-ins', async () => {
    const dir = tempDir()
    const tpl = modelFree('{{prefix}}')
    tpl.__metadata__ = { name: 'invert', description: 'Inverts an empty image', parameters: { prefix: { type: 'string' } } }
    writeFileSync(join(dir, 'invert.json'), JSON.stringify(tpl))
    const c = new ComfyClient({ url: fake.url, workflowsDir: dir })
    const t = c.listTemplates().find((x) => x.name === 'invert')
    assert.equal(t.source, 'directory')
    const job = await c.runTemplate('invert', { prefix: 'from_template' })
    const [asset] = await job.assets()
    assert.match(asset.filename, /^from_template_/)
  })

  test('dataDir: jobs and assets survive the client (SQLite store)', async () => {
    const dataDir = tempDir()
    const first = new ComfyClient({ url: fake.url, dataDir })
    const job = await first.run(modelFree('stored'))
    const [asset] = await job.assets()
    const second = new ComfyClient({ url: fake.url, dataDir })
    const again = await second.job(job.id)
    assert.equal(again.status, 'succeeded')
    assert.equal((await again.assets())[0].id, asset.id)
    assert.ok((await second.assetBytes(asset.id)).equals(await first.assetBytes(asset.id)))
  })

  test('not found, unreachable, wrong argument types', async () => {
    await assert.rejects(client.asset('a_missing'), (e) => e instanceof NotFoundError && e.code === 'asset_not_found')
    await assert.rejects(client.job('no-such-job'), (e) => e.code === 'job_not_found' && e.details.jobId === 'no-such-job')
    const down = new ComfyClient({ url: 'http://127.0.0.1:9' })
    await assert.rejects(down.validate(modelFree()), (e) => {
      assert.ok(e instanceof BackendError)
      assert.equal(e.code, 'backend_unreachable')
      assert.equal(e.retryable, true)
      return true
    })
    assert.throws(() => new ComfyClient({ url: 'ftp://x' }), (e) => e.code === 'invalid_argument')
    // No url: the default local ComfyUI (as in Python); a bad Cloud URL is refused.
    assert.doesNotThrow(() => new ComfyClient({}))
    assert.throws(
      () => new ComfyClient({ backend: 'comfy-cloud', cloudUrl: 'ftp://x', cloudApiKey: 'k' }),
      (e) => e.code === 'invalid_argument' && /Comfy Cloud URL/.test(e.message),
    )
    await assert.rejects(client.validate(42), (e) => e.code === 'invalid_argument')
    await assert.rejects(client.assetBytes(7), (e) => e.code === 'invalid_argument')
  })
})
