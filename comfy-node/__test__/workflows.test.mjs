// Validation and the editor ("UI") format: against the fake ComfyUI, and offline with the
// Workflow and Catalog classes; both module systems.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import comfy, { Catalog, ComfyClient, ComfyError, Workflow, WorkflowError, apiToUi, uiToApi } from '../index.mjs'
import { PKG, ROOT, modelFree, startFake, txt2img } from './helpers.mjs'

const FIXTURES = process.env.COMFY_FIXTURES_DIR || join(ROOT, '..', 'shared', 'fixtures', 'comfyui')
const golden = (name, kind) => JSON.parse(readFileSync(join(FIXTURES, 'ui_to_api', `${name}.${kind}.json`), 'utf8'))
const objectInfo = () => readFileSync(join(FIXTURES, 'http', 'object_info_full.json'))

let fake
let client
before(async () => {
  fake = await startFake()
  client = new ComfyClient(fake.url)
})
after(() => fake?.stop())

describe('validate', () => {
  test('a valid workflow has no problems; every problem of a broken one at once', async () => {
    assert.deepEqual(await client.validate(modelFree()), [])
    const broken = txt2img()
    broken[3].inputs.steps = 0
    broken[3].inputs.sampler_name = 'eulr'
    delete broken[6].inputs.clip
    broken[10] = { class_type: 'NoSuchNode', inputs: {} }
    const problems = await client.validate(broken)
    const byInput = Object.fromEntries(problems.map((p) => [`${p.nodeId}.${p.input ?? ''}`, p]))
    assert.equal(byInput['3.steps'].code, 'value_smaller_than_min')
    assert.equal(byInput['3.steps'].severity, 'error')
    assert.equal(byInput['3.sampler_name'].code, 'value_not_in_list')
    assert.ok(byInput['3.sampler_name'].suggestions.includes('euler'))
    assert.equal(byInput['6.clip'].code, 'required_input_missing')
    assert.equal(byInput['10.'].code, 'unknown_class')
    for (const p of problems) {
      assert.equal(typeof p.message, 'string')
      assert.ok(Array.isArray(p.suggestions))
    }
  })

  test('submit refuses an invalid workflow with ValidationError listing the same problems', async () => {
    const broken = modelFree()
    broken[1].inputs.width = 0
    await assert.rejects(client.submit(broken), (e) => {
      assert.ok(e instanceof ComfyError)
      assert.equal(e.name, 'ValidationError')
      assert.equal(e.code, 'validation_failed')
      assert.equal(e.retryable, false)
      assert.equal(e.details.problems[0].nodeId, '1')
      assert.equal(e.details.problems[0].input, 'width')
      return true
    })
  })

  test('an editor workflow is converted with the live catalogue, then checked', async () => {
    const ui = golden('basic_image', 'workflow')
    const checked = await client.check(ui)
    assert.equal(typeof checked.valid, 'boolean')
    assert.ok(Array.isArray(checked.conversionWarnings))
    const problems = await client.validate(JSON.stringify(ui))
    assert.deepEqual(problems, checked.problems)
  })

  test('unreadable input: invalid JSON text names line and column; a missing file is io_error', async () => {
    await assert.rejects(client.validate('{"1": {"class_type": "X", "inputs": {}},}'), (e) => {
      assert.ok(e instanceof WorkflowError)
      assert.equal(e.code, 'invalid_json')
      assert.equal(e.details.line, 1)
      return true
    })
    await assert.rejects(client.validate('/no/such/workflow.json'), (e) => e.code === 'io_error')
    await assert.rejects(client.validate({ 1: { class_type: 'X', inputs: { n: 1n } } }), (e) => e.code === 'invalid_argument')
  })
})

describe('Workflow and Catalog (offline)', () => {
  test('Workflow: nodes, canonical hash, lossless JSON', () => {
    const text = JSON.stringify(modelFree())
    const wf = new Workflow(text)
    assert.ok(wf instanceof Workflow)
    assert.equal(wf.size, 3)
    assert.deepEqual(
      wf.nodes().map((n) => [n.id, n.classType]),
      [['1', 'EmptyImage'], ['2', 'ImageInvert'], ['3', 'SaveImage']],
    )
    assert.equal(wf.toString(), text)
    assert.deepEqual(wf.toJSON(), modelFree())
    assert.equal(JSON.stringify(wf), text)
    const reordered = { 3: modelFree()[3], 2: modelFree()[2], 1: modelFree()[1] }
    assert.equal(new Workflow(reordered).canonicalHash(), wf.canonicalHash())
    assert.match(wf.canonicalHash(), /^[0-9a-f]{64}$/)
  })

  test('Workflow is strict and refuses editor files with a hint', () => {
    assert.throws(() => new Workflow('{"1": {"class_type": "A", "inputs": {}}, "1": {}}'), (e) => {
      assert.ok(e instanceof WorkflowError)
      assert.equal(e.code, 'invalid_json')
      return true
    })
    assert.throws(() => new Workflow(golden('basic_image', 'workflow')), (e) => e.code === 'ui_format_workflow')
  })

  test('uiToApi gives exactly the official editor prompt (golden pairs)', async () => {
    const catalog = new Catalog(objectInfo())
    assert.ok(catalog.size > 400)
    assert.equal(catalog.has('KSampler'), true)
    for (const name of ['basic_image', 'default_graph']) {
      const { workflow, warnings } = await uiToApi(golden(name, 'workflow'), catalog)
      assert.deepEqual(workflow, golden(name, 'prompt'), name)
      assert.ok(Array.isArray(warnings))
    }
    const fromPath = await uiToApi(join(FIXTURES, 'ui_to_api', 'basic_image.workflow.json'), catalog)
    assert.deepEqual(fromPath.workflow, golden('basic_image', 'prompt'))
  })

  test('apiToUi then uiToApi gives the same graph back', async () => {
    const catalog = new Catalog(JSON.parse(objectInfo().toString('utf8')))
    const api = txt2img()
    const ui = await apiToUi(api, catalog)
    assert.ok(Array.isArray(ui.nodes) && ui.nodes.length === 7)
    const back = await uiToApi(ui, catalog)
    assert.equal(new Workflow(back.workflow).canonicalHash(), new Workflow(api).canonicalHash())
  })

  test('conversion errors are WorkflowErrors with details', async () => {
    const catalog = new Catalog(objectInfo())
    const ui = golden('basic_image', 'workflow')
    ui.nodes[0].type = 'NoSuchClass'
    await assert.rejects(uiToApi(ui, catalog), (e) => {
      assert.equal(e.code, 'unknown_node_classes')
      assert.deepEqual(e.details.classes, ['NoSuchClass'])
      return true
    })
    assert.throws(() => new Catalog('[1]'), (e) => e.code === 'invalid_catalog' || e.code === 'invalid_json')
  })

  test('client.apiToUi / uiToApi use the live catalogue', async () => {
    const ui = await client.apiToUi(modelFree())
    const { workflow } = await client.uiToApi(ui)
    assert.equal(new Workflow(workflow).canonicalHash(), new Workflow(modelFree()).canonicalHash())
    assert.ok((await client.catalog()).has('SaveImage'))
  })
})

describe('module systems', () => {
  test('require() and import give the same objects', () => {
    const require = createRequire(import.meta.url)
    const cjs = require('../index.js')
    assert.equal(cjs.ComfyClient, ComfyClient)
    assert.equal(cjs.Workflow, Workflow)
    assert.equal(comfy.serveMcp, cjs.serveMcp)
    for (const name of ['ComfyClient', 'ComfyError', 'Workflow', 'uiToApi', 'apiToUi', 'serveMcp']) {
      assert.equal(typeof cjs[name], 'function', name)
    }
  })

  test('index.d.ts declares exactly what index.js exports', () => {
    const require = createRequire(import.meta.url)
    const dts = readFileSync(join(PKG, 'index.d.ts'), 'utf8')
    const declared = new Set([...dts.matchAll(/^export declare (?:class|function) (\w+)/gm)].map((m) => m[1]))
    for (const m of dts.matchAll(/^export \{([^}]+)\}/gm)) for (const n of m[1].split(',')) declared.add(n.trim())
    assert.deepEqual([...declared].sort(), Object.keys(require('../index.js')).sort())
  })
})
