// The JavaScript example (examples/node/run_workflow.mjs) against the fake ComfyUI, imported
// as `comfy-rs` like a user would (examples/node/node_modules/comfy-rs links to this package).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'

import { PKG, ROOT, modelFree, startFake } from './helpers.mjs'

const EXAMPLES = join(ROOT, 'examples', 'node')
let fake
let dir
before(async () => {
  fake = await startFake()
  dir = mkdtempSync(join(tmpdir(), 'comfy-rs-example-'))
  const link = join(EXAMPLES, 'node_modules', 'comfy-rs')
  if (!existsSync(link)) {
    mkdirSync(join(EXAMPLES, 'node_modules'), { recursive: true })
    symlinkSync(PKG, link, 'dir')
  }
})
after(async () => {
  await fake?.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('run_workflow.mjs validates, runs and saves every output', async () => {
  const wf = join(dir, 'wf.json')
  writeFileSync(wf, JSON.stringify(modelFree('example')))
  const out = join(dir, 'out')
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    [join(EXAMPLES, 'run_workflow.mjs'), wf, '--url', fake.url, '--out', out],
    { timeout: 60_000 },
  )
  assert.match(stdout, /3_example_00001_\.png \(image\/png, \d+ bytes\)/)
  assert.match(stderr, /succeeded\n$/)
  assert.deepEqual(readdirSync(out), ['3_example_00001_.png'])
})

test('run_workflow.mjs reports validation problems and exits 1', async () => {
  const wf = join(dir, 'bad.json')
  const bad = modelFree()
  bad[1].inputs.width = 0
  writeFileSync(wf, JSON.stringify(bad))
  await assert.rejects(
    promisify(execFile)(process.execPath, [join(EXAMPLES, 'run_workflow.mjs'), wf, '--url', fake.url], { timeout: 60_000 }),
    (e) => e.code === 1 && /value_smaller_than_min node 1 width/.test(e.stderr),
  )
})
