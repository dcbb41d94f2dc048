// Validate a workflow, run it with a progress line, save every output.
//
//   node run_workflow.mjs workflow_api.json [--url http://127.0.0.1:8188] [--out outputs/]
//
// The workflow may be API format or an editor ("Save") file. Ctrl-C cancels the job.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import { ComfyClient, ComfyError } from 'comfy-rs'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { url: { type: 'string', default: process.env.COMFYUI_URL ?? 'http://127.0.0.1:8188' }, out: { type: 'string', default: 'outputs' } },
})
if (positionals.length !== 1) {
  console.error('usage: node run_workflow.mjs WORKFLOW.json [--url URL] [--out DIR]')
  process.exit(2)
}

const client = new ComfyClient({ url: values.url })
try {
  const problems = await client.validate(positionals[0])
  for (const p of problems) console.error(`${p.severity} ${p.code} node ${p.nodeId ?? '-'} ${p.input ?? ''}: ${p.message}`)
  if (problems.some((p) => p.severity === 'error')) process.exit(1)

  const job = await client.submit(positionals[0])
  process.once('SIGINT', () => job.cancel())
  for await (const ev of job.events()) {
    if (ev.kind === 'queued') console.error(`queued${ev.queuePosition != null ? ` (position ${ev.queuePosition})` : ''}`)
    if (ev.kind === 'running') {
      const step = ev.step != null ? ` step ${ev.step}/${ev.maxSteps}` : ''
      console.error(`${Math.round((ev.fraction ?? 0) * 100)}% ${ev.nodeClass ?? ''}${step}`)
    }
    if (ev.kind === 'finished') console.error(ev.status)
  }
  if (job.status !== 'succeeded') {
    const f = job.failure
    console.error(`job ${job.status}${f ? ` at node ${f.nodeId} (${f.nodeClass}): ${f.exceptionType}: ${f.message}` : ''}`)
    process.exit(1)
  }
  mkdirSync(values.out, { recursive: true })
  for (const asset of await job.assets()) {
    const path = join(values.out, `${asset.nodeId}_${asset.filename ?? `${asset.id}.txt`}`)
    const saved = await client.saveAsset(asset.id, path)
    console.log(`${path} (${saved.mimeType}, ${saved.byteSize} bytes)`)
  }
} catch (e) {
  if (!(e instanceof ComfyError)) throw e
  console.error(`error [${e.code}]${e.retryable ? ' (retryable)' : ''}: ${e.message}`)
  process.exit(1)
}
