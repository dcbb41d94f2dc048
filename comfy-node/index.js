// comfy-rs for Node.js: the thin JavaScript layer over the native module (native.js, built
// from comfy-node/src). It adds what JavaScript expects and Rust cannot give directly:
// ComfyError subclasses (parsed once, in toComfyError), AbortSignal support on every waiting
// call, async iterators over job events, and the template shortcuts. Types: index.d.ts.
'use strict'

const { fileURLToPath } = require('node:url')
const native = loadNative()

function loadNative() {
  try {
    return require('./native.js')
  } catch (e) {
    throw new Error(
      'comfy-rs: the native module is not built for this platform. Build it from the repository ' +
        'checkout with `npm rebuild comfy-rs` (it runs the install script), or run ' +
        '`node scripts/build-native.cjs --release` in the comfy-node directory; a Rust toolchain is needed.',
      { cause: e },
    )
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Prefix of a native error message carrying `{code, message, retryable, details}` (src/error.rs). */
const PREFIX = 'COMFY_RS_ERROR:'

/** Every error comfy-rs throws: `.code` (stable), `.retryable`, `.details` (or null). */
class ComfyError extends Error {
  constructor(message, { code = 'error', retryable = false, details = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = new.target.name
    this.code = code
    this.retryable = retryable
    this.details = details
  }
}
/** `validation_failed`: `details.problems` lists every problem. */
class ValidationError extends ComfyError {}
/** A workflow that cannot be read: invalid JSON or structure, unknown node classes, a cycle... */
class WorkflowError extends ComfyError {}
/** A template or parameter problem: `invalid_template`, `invalid_parameter`, `unresolved_placeholder`. */
class TemplateError extends ComfyError {}
/** The server could not be reached or answered badly (`backend_unreachable`, `backend_http_error`, ...). */
class BackendError extends ComfyError {}
/** `prompt_rejected`: ComfyUI refused the workflow; `details.nodeErrors` is its answer. */
class PromptRejectedError extends BackendError {}
/** Unknown job, asset, template or saved workflow. */
class NotFoundError extends ComfyError {}
/** `too_many_jobs` (retryable): the client already runs `maxRunningJobs` jobs. */
class TooManyJobsError extends ComfyError {}
/** `timeout` (retryable): an operation took longer than its limit. */
class ComfyTimeoutError extends ComfyError {}
/** A bad argument: `invalid_argument`, `invalid_query`, `path_not_allowed`, `too_large`, `invalid_image`. */
class InvalidArgumentError extends ComfyError {}
/** `job_failed` / `job_cancelled` from `job.assets()`: `details.failure` says where and why. */
class JobFailedError extends ComfyError {}

const CLASSES = {
  validation_failed: ValidationError,
  invalid_json: WorkflowError,
  invalid_workflow: WorkflowError,
  ui_format_workflow: WorkflowError,
  invalid_ui_workflow: WorkflowError,
  unknown_node_classes: WorkflowError,
  unknown_class: WorkflowError,
  invalid_override: WorkflowError,
  node_not_found: WorkflowError,
  workflow_cycle: WorkflowError,
  invalid_catalog: WorkflowError,
  invalid_template: TemplateError,
  invalid_parameter: TemplateError,
  unresolved_placeholder: TemplateError,
  backend_unreachable: BackendError,
  backend_http_error: BackendError,
  unexpected_response: BackendError,
  not_supported: BackendError,
  prompt_rejected: PromptRejectedError,
  job_not_found: NotFoundError,
  asset_not_found: NotFoundError,
  template_not_found: NotFoundError,
  saved_workflow_not_found: NotFoundError,
  batch_not_found: NotFoundError,
  too_many_jobs: TooManyJobsError,
  timeout: ComfyTimeoutError,
  invalid_argument: InvalidArgumentError,
  invalid_query: InvalidArgumentError,
  path_not_allowed: InvalidArgumentError,
  too_large: InvalidArgumentError,
  invalid_image: InvalidArgumentError,
  unknown_partner_model: InvalidArgumentError,
  spending_consent_required: InvalidArgumentError,
  price_above_max_credits: InvalidArgumentError,
  unknown_backend: InvalidArgumentError,
  no_backend_available: BackendError,
  job_failed: JobFailedError,
  job_cancelled: JobFailedError,
}

/** napi's own argument-conversion statuses (a wrong JavaScript type). */
const NAPI_ARGUMENT_STATUSES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
])

/** The ComfyError an error from the native module stands for (other errors pass through). */
function toComfyError(e) {
  if (e instanceof ComfyError || !(e instanceof Error)) return e
  if (e.message.startsWith(PREFIX)) {
    let body
    try {
      body = JSON.parse(e.message.slice(PREFIX.length))
    } catch {
      return e
    }
    const Class = CLASSES[body.code] ?? ComfyError
    return new Class(body.message, { code: body.code, retryable: body.retryable, details: body.details ?? null })
  }
  if (NAPI_ARGUMENT_STATUSES.has(e.code)) {
    return new InvalidArgumentError(e.message, { code: 'invalid_argument', cause: e })
  }
  return e
}

function sync(fn) {
  try {
    return fn()
  } catch (e) {
    throw toComfyError(e)
  }
}

/** Runs a native call (which may throw synchronously on a wrong argument type) and awaits it. */
async function call(start) {
  try {
    return await start()
  } catch (e) {
    throw toComfyError(e)
  }
}

/**
 * Runs `start(token)` (a native call that takes an AbortToken); when `signal` aborts, the
 * native side stops waiting and this rejects with `signal.reason`, as fetch() does.
 */
async function withSignal(signal, start) {
  if (signal == null) return call(() => start(undefined))
  if (typeof signal.addEventListener !== 'function' || typeof signal.aborted !== 'boolean') {
    throw new InvalidArgumentError('signal must be an AbortSignal', { code: 'invalid_argument' })
  }
  signal.throwIfAborted()
  const token = new native.AbortToken()
  const onAbort = () => token.abort()
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await start(token)
  } catch (e) {
    if (signal.aborted) throw signal.reason
    throw toComfyError(e)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

// ---------------------------------------------------------------------------------------------
// Workflows and catalogues (native classes; only their constructors can throw)

/** An API-format workflow (see native.d.ts for its methods). */
class Workflow extends native.Workflow {
  constructor(json) {
    try {
      super(json instanceof Buffer ? json.toString('utf8') : json)
    } catch (e) {
      throw toComfyError(e)
    }
  }
  static [Symbol.hasInstance](value) {
    return value instanceof native.Workflow
  }
}

/** A node catalogue (`/object_info`). */
class Catalog extends native.Catalog {
  constructor(objectInfo) {
    try {
      super(objectInfo instanceof Buffer ? objectInfo.toString('utf8') : objectInfo)
    } catch (e) {
      throw toComfyError(e)
    }
  }
  static [Symbol.hasInstance](value) {
    return value instanceof native.Catalog
  }
}

/**
 * A workflow argument as the native side takes it: JSON text or a path. Objects cross as JSON
 * text: V8's JSON.stringify and one string beat walking the object property by property
 * (measured: 30-50 µs less per validate call).
 */
function workflowArg(workflow) {
  if (typeof workflow === 'string') return workflow
  if (workflow instanceof native.Workflow) return workflow.toString()
  if (workflow instanceof URL) return fileURLToPath(workflow)
  if (workflow instanceof Buffer) return workflow.toString('utf8')
  if (workflow !== null && typeof workflow === 'object' && !Array.isArray(workflow)) {
    try {
      return JSON.stringify(workflow)
    } catch (e) {
      throw new InvalidArgumentError(`workflow is not JSON-serializable: ${e.message}`, { code: 'invalid_argument', cause: e })
    }
  }
  return workflow
}

function catalogArg(catalog) {
  return catalog instanceof native.Catalog ? catalog : new Catalog(catalog)
}

/** Converts an editor ("save" format) workflow to the API format against a catalogue. */
async function uiToApi(workflow, catalog) {
  const cat = catalogArg(catalog)
  return call(() => native.uiToApi(workflowArg(workflow), cat))
}

/** Converts an API-format workflow to an editor workflow against a catalogue. */
async function apiToUi(workflow, catalog) {
  const cat = catalogArg(catalog)
  return call(() => native.apiToUi(workflowArg(workflow), cat))
}

// ---------------------------------------------------------------------------------------------
// Jobs

const FINISHED = new Set(['succeeded', 'failed', 'cancelled'])

/** A submitted job: status, events, waiting, cancelling, outputs. */
class Job {
  #native

  /** @internal */
  constructor(nativeJob) {
    this.#native = nativeJob
  }

  /** The job id (the prompt id on ComfyUI). */
  get id() {
    return this.#native.id
  }

  /** `pending`, `queued`, `running`, `succeeded`, `failed` or `cancelled`. */
  get status() {
    return this.#native.status
  }

  /** Whether the job finished (succeeded, failed or cancelled). */
  get finished() {
    return FINISHED.has(this.#native.status)
  }

  /** Why the job failed (node, class, exception, message), or null. */
  get failure() {
    return this.#native.state().failure ?? null
  }

  /** Where the job is now: status, queue position, progress, failure. */
  state() {
    return this.#native.state()
  }

  /** Waits until the job finished, or `timeoutMs` passed (then it is still running). */
  async wait({ timeoutMs, signal } = {}) {
    await withSignal(signal, (token) => this.#native.wait(timeoutMs ?? null, token))
    return this
  }

  /** Cancels this job only. */
  async cancel() {
    return call(() => this.#native.cancel())
  }

  /** Waits for the job, then lists every output; throws JobFailedError if it failed or was cancelled. */
  async assets({ signal } = {}) {
    await this.wait({ signal })
    const state = this.#native.state()
    if (state.status === 'failed' || state.status === 'cancelled') {
      const where = state.failure?.nodeId ? ` at node ${state.failure.nodeId} (${state.failure.nodeClass ?? '?'})` : ''
      const message =
        state.status === 'failed'
          ? `job ${this.id} failed${where}: ${state.failure?.message ?? 'no message'}`
          : `job ${this.id} was cancelled`
      throw new JobFailedError(message, {
        code: state.status === 'failed' ? 'job_failed' : 'job_cancelled',
        details: { jobId: this.id, failure: state.failure ?? null },
      })
    }
    return call(() => this.#native.assets())
  }

  /** The job's updates: the current state first, `finished` last. */
  events({ signal } = {}) {
    return iterate(this.#native.events(), signal)
  }

  /** `for await (const ev of job)` is `job.events()`. */
  [Symbol.asyncIterator]() {
    return this.events()
  }

  toJSON() {
    return { id: this.id, ...this.#native.state() }
  }
}

async function* iterate(stream, signal) {
  for (;;) {
    const event = await withSignal(signal, (token) => stream.next(token))
    if (event == null) return
    yield event
  }
}

// ---------------------------------------------------------------------------------------------
// Client

const natives = new WeakMap()

function nativeOf(client) {
  const n = natives.get(client)
  if (!n) throw new InvalidArgumentError('expected a ComfyClient', { code: 'invalid_argument' })
  return n
}

/** A client of one ComfyUI server. */
class ComfyClient {
  #native

  constructor(options) {
    const opts = typeof options === 'string' ? { url: options } : options
    this.#native = sync(() => new native.NativeClient(opts))
    natives.set(this, this.#native)
  }

  /** Every problem of a workflow (API or editor format; object, JSON text or path). */
  async validate(workflow) {
    return (await this.check(workflow)).problems
  }

  /** The verdict: `{ valid, problems, conversionWarnings }`. */
  async check(workflow) {
    return call(() => this.#native.check(workflowArg(workflow)))
  }

  /** Converts, validates and submits a workflow (`options.backend`: on that named backend;
   * `options.resubmitIfLost`: run again on another backend if that one is lost with the job). */
  async submit(workflow, options = {}) {
    const { backend, resubmitIfLost } = options
    return new Job(await call(() => this.#native.submit(workflowArg(workflow), backend, resubmitIfLost)))
  }

  /** Submits (on `options.backend`, if given) and waits (see `job.wait`). */
  async run(workflow, options = {}) {
    return (await this.submit(workflow, options)).wait(options)
  }

  /** Renders a template of the client's set with `params`, validates and submits it
   * (`options.backend`, `options.resubmitIfLost`: as for `submit`). */
  async runTemplate(name, params = {}, options = {}) {
    const { backend, resubmitIfLost } = options
    return new Job(await call(() => this.#native.runTemplate(name, params, backend, resubmitIfLost)))
  }

  /** The built-in text-to-image template. */
  generateImage(params, options) {
    return this.runTemplate('generate_image', params, options)
  }

  /** The built-in image-to-image template (`image` is an uploaded input, see `upload`). */
  imageToImage(params, options) {
    return this.runTemplate('image_to_image', params, options)
  }

  /** The built-in inpainting template (the image's alpha is the mask). */
  inpaint(params, options) {
    return this.runTemplate('inpaint', params, options)
  }

  /** The built-in model-free upscale template. */
  upscale(params, options) {
    return this.runTemplate('upscale', params, options)
  }

  /** The templates this client serves. */
  listTemplates() {
    return sync(() => this.#native.listTemplates())
  }

  /** One template, its parameters enriched from the server's catalogue. */
  async template(name) {
    return call(() => this.#native.template(name))
  }

  /** A job by id (this client's, recorded in `dataDir`, or known to the server). */
  async job(id, options = {}) {
    return new Job(await call(() => this.#native.job(id, options.backend)))
  }

  /** An asset by id. */
  async asset(id) {
    return call(() => this.#native.asset(id))
  }

  /** An asset's bytes, fetched through the server. */
  async assetBytes(id) {
    return call(() => this.#native.assetBytes(id))
  }

  /** Fetches an asset and writes it to `path` (atomically). */
  async saveAsset(id, path) {
    return call(() => this.#native.saveAsset(id, path instanceof URL ? fileURLToPath(path) : path))
  }

  /** Uploads an input file (bytes or a path); returns the value for a LoadImage input. */
  async upload(data, filename) {
    const arg = data instanceof URL ? fileURLToPath(data) : data instanceof Uint8Array && !Buffer.isBuffer(data) ? Buffer.from(data) : data
    return call(() => this.#native.upload(arg, filename ?? null))
  }

  /** The server's node catalogue. */
  async catalog() {
    return call(() => this.#native.catalog())
  }

  /** Converts an editor workflow to the API format with the server's catalogue. */
  async uiToApi(workflow) {
    return call(() => this.#native.uiToApi(workflowArg(workflow)))
  }

  /** Converts an API workflow to the editor format with the server's catalogue. */
  async apiToUi(workflow) {
    return call(() => this.#native.apiToUi(workflowArg(workflow)))
  }

  /** The backend: kind, versions, reachable, credential state (never the secret), capabilities. */
  async serverInfo() {
    return call(() => this.#native.serverInfo())
  }

  /**
   * Generates with a partner (paid API) model: builds its workflow from the server's catalogue,
   * prices it, and submits it only with spending consent (`maxCredits` covering the price, or
   * the client's `allowPartnerSpend`); `dryRun: true` only quotes. Resolves to `{ quote, job }`.
   */
  async partnerGenerate(request) {
    const run = await call(() => this.#native.partnerGenerate(request))
    const job = run.job()
    return { quote: run.quote, job: job == null ? null : new Job(job) }
  }

  /** A CQL query over the server's node catalogue (`produces IMAGE | limit 10`, `path MODEL -> IMAGE`). */
  async cql(query) {
    return call(() => this.#native.cql(query))
  }

  /**
   * Runs one workflow (or `template` with `params`) many times: exactly one of `paramSets`,
   * `overrides`, `seeds` or `count`. Every item is checked before anything is submitted; items
   * beyond `maxRunningJobs` wait and are submitted as slots free. Resolves to the status.
   */
  async submitBatch(options) {
    const o = { ...options }
    if (o.workflow !== undefined) o.workflow = workflowArg(o.workflow)
    return call(() => this.#native.submitBatch(o))
  }

  /** A batch's status: state, counts per item state, fraction, every item's job id and state. */
  async batchStatus(batchId) {
    return call(() => this.#native.batchStatus(batchId))
  }

  /** Every output of every item of a batch, in item order. */
  async batchOutputs(batchId) {
    return call(() => this.#native.batchOutputs(batchId))
  }

  /** Waits up to `timeoutMs` (default: until done) for every item; resolves to the status. */
  async waitBatch(batchId, { timeoutMs } = {}) {
    return call(() => this.#native.waitBatch(batchId, timeoutMs ?? null))
  }

  /** RunComfy deployments (only `ids` when given); NotSupported on other backends. */
  async listDeployments({ ids, includePayload, includeReadme } = {}) {
    return call(() => this.#native.listDeployments(ids ?? null, includePayload ?? null, includeReadme ?? null))
  }

  /** One RunComfy deployment (default: the configured one). */
  async getDeployment(deploymentId, { includePayload, includeReadme } = {}) {
    return call(() => this.#native.getDeployment(deploymentId ?? null, includePayload ?? null, includeReadme ?? null))
  }

  /** Deploys a Cloud-Saved workflow on RunComfy (billed while instances run). */
  async createDeployment(spec) {
    return call(() => this.#native.createDeployment(spec))
  }

  /** Changes a RunComfy deployment (default: the configured one). */
  async updateDeployment(changes, deploymentId) {
    return call(() => this.#native.updateDeployment(changes, deploymentId ?? null))
  }

  /** Deletes a RunComfy deployment permanently; RunComfy's answer. */
  async deleteDeployment(deploymentId) {
    return call(() => this.#native.deleteDeployment(deploymentId))
  }

  /** Runs a RunComfy deployment as a job (overrides checked first); see index.d.ts. */
  async submitRequest(spec) {
    return new Job(await call(() => this.#native.submitRequest(spec ?? {})))
  }

  /** On a shared PostgreSQL store: takes over the work of stopped servers (`job:<id>`, …). */
  async takeOverOrphans() {
    return call(() => this.#native.takeOverOrphans())
  }

  /** On a shared store: hands this client's unfinished work to the other servers at once. */
  async retire() {
    return call(() => this.#native.retire())
  }

  /** Balance and subscription where the backend has billing (Comfy Cloud); else NotSupported. */
  async billingStatus() {
    return call(() => this.#native.billingStatus())
  }

  /** Records the user's feedback (needs `consent: true`); stored locally, posted if configured. */
  async submitFeedback(feedback) {
    return call(() => this.#native.submitFeedback(feedback))
  }

  /** This client's activity: jobs by outcome, error codes, uptime (no prompts, paths or ids). */
  sessionSummary() {
    return this.#native.sessionSummary()
  }

  /** Records `sessionSummary()` like `submitFeedback` (needs `{ consent: true }`). */
  async reportSessionSummary({ consent } = {}) {
    return call(() => this.#native.reportSessionSummary(consent ?? false))
  }
}

// ---------------------------------------------------------------------------------------------
// Embedded MCP server

/**
 * Serves MCP with the client's backend, store and templates. HTTP (default): resolves to
 * `{ url, close() }`. stdio: serves this process's stdin/stdout and resolves when the MCP
 * client goes away. `toolProfile`: `'full'` (default) or `'minimal'`.
 */
async function serveMcp(client, { transport = 'http', listen, token, toolProfile } = {}) {
  const n = nativeOf(client)
  if (transport === 'stdio') return call(() => n.serveMcpStdio({ toolProfile: toolProfile ?? undefined }))
  if (transport !== 'http') {
    throw new InvalidArgumentError(`transport must be 'http' or 'stdio', not ${JSON.stringify(transport)}`, {
      code: 'invalid_argument',
    })
  }
  const server = await call(() =>
    n.serveMcpHttp({ listen: listen ?? undefined, token: token ?? undefined, toolProfile: toolProfile ?? undefined }),
  )
  return {
    url: server.url,
    close: () => call(() => server.close()),
  }
}

module.exports = {
  ComfyClient,
  Job,
  Workflow,
  Catalog,
  uiToApi,
  apiToUi,
  serveMcp,
  ComfyError,
  ValidationError,
  WorkflowError,
  TemplateError,
  BackendError,
  PromptRejectedError,
  NotFoundError,
  TooManyJobsError,
  ComfyTimeoutError,
  InvalidArgumentError,
  JobFailedError,
}
