// Types of comfy-rs. The data shapes (AssetInfo, JobEvent, ValidationProblem, ...) and the
// Workflow and Catalog classes are generated from the Rust code into native.d.ts; this file
// declares only the thin JavaScript layer of index.js (ComfyClient, Job, serveMcp, the errors).
// `npm run typecheck` (tsc --noEmit) checks it against native.d.ts and the examples.

import type {
  AssetInfo,
  CheckResult,
  ClientOptions,
  Failure,
  JobEvent,
  JobState,
  McpOptions,
  PartnerOptions,
  TemplateParam,
  TemplateSummary,
  UiConversion,
  ValidationProblem,
  WorkflowNode,
} from './native'
import { Catalog, Workflow } from './native'

export { Catalog, Workflow }
export type {
  AssetInfo,
  CheckResult,
  ClientOptions,
  Failure,
  JobEvent,
  JobState,
  McpOptions,
  PartnerOptions,
  TemplateParam,
  TemplateSummary,
  UiConversion,
  ValidationProblem,
  WorkflowNode,
}

/** `client.serverInfo()`: the core's `ServerInfo` as JSON (no secret in it). */
export interface ServerInfo {
  backend: string
  kind: 'local' | 'comfy_cloud' | 'runcomfy' | 'other'
  reachable: boolean
  /** Why the backend did not answer (`code: message`). */
  unreachable?: string
  server_version?: string
  client_version: string
  auth: 'not_configured' | 'configured' | 'accepted' | 'rejected'
  account_status?: string
  partner_nodes_key: boolean
  capabilities: Record<string, boolean | string>
  running_jobs: number
}

/** `client.cql(query)`: the core's `QueryResult` as JSON (classes, or paths for `path`). */
export interface CqlResult {
  total: number
  truncated?: boolean
  classes?: Array<{
    class_type: string
    display_name?: string
    category: string
    produces: string[]
    accepts: string[]
    connections: number
    via?: string[]
    api_node?: boolean
    deprecated?: boolean
  }>
  paths?: Array<{ length: number; steps: Array<{ class_type: string; input: string; from: string; output: string }> }>
}

/** `client.billingStatus()`: the core's `BillingStatus` as JSON. */
export interface BillingStatus {
  balance_usd: number | null
  /** 211 credits per US dollar. */
  balance_credits: number | null
  subscription: Record<string, unknown>
}

/** `client.sessionSummary()`: the core's `SessionSummary` as JSON. */
export interface SessionSummary {
  uptime_secs: number
  jobs_submitted: number
  jobs_succeeded: number
  jobs_failed: number
  jobs_cancelled: number
  error_codes: Record<string, number>
}

/** A partner run's price: known (USD and credits, $1 = 211 credits) or unknown with the reason. */
export type PartnerPrice =
  | { kind: 'known'; min_usd: number; max_usd: number; min_credits: number; max_credits: number }
  | { kind: 'unknown'; reason: string }

/** `client.partnerGenerate()`: the core's `PartnerQuote` as JSON. */
export interface PartnerQuote {
  class_type: string
  display_name?: string
  provider: string
  /** The save node appended (absent when the partner node saves by itself). */
  save_node?: string
  price: PartnerPrice
  /** e.g. `$0.06 (12.66 credits)`. */
  price_text: string
  /** Whether the request may spend the price (free, within `maxCredits`, or allowed by the client). */
  consent: boolean
  /** The API-format workflow that runs. */
  workflow: Record<string, unknown>
  warnings?: string[]
}

/** `client.submitFeedback()` / `reportSessionSummary()`: the core's `FeedbackReceipt` as JSON. */
export interface FeedbackReceipt {
  /** `file` (the data directory's `feedback.jsonl`) or `memory` (no data directory). */
  stored: 'file' | 'memory'
  posted: boolean
  /** Why it was not posted (no feedback URL, or the post failed). */
  reason?: string
  record: Record<string, unknown>
}

/** A workflow argument: API or editor format, as an object, JSON text, a file path or URL. */
export type WorkflowInput = Workflow | Record<string, unknown> | string | URL | Buffer

/** A job's status. */
export type JobStatus = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** What `job.cancel()` did. */
export type CancelOutcome = 'removed_from_queue' | 'interrupted' | 'interrupt_requested' | 'already_finished' | 'cancel_requested' | 'not_cancellable'

/** Options of waiting calls. */
export interface WaitOptions {
  /** Give up waiting after this long (the job goes on); no limit when absent. */
  timeoutMs?: number
  /** Stop waiting when it aborts: the call rejects with `signal.reason`. */
  signal?: AbortSignal
}

/** Options of `job.events()` and `job.assets()`. */
export interface SignalOptions {
  /** Stop waiting when it aborts: the call rejects with `signal.reason`. */
  signal?: AbortSignal
}

/** Parameters of a template: names to values (validated against the template's schema). */
export type TemplateParams = Record<string, string | number | boolean | null | undefined>

/** The built-in `generate_image` template (text to image). */
export interface GenerateImageParams extends TemplateParams {
  prompt: string
  ckpt_name: string
  negative_prompt?: string
  width?: number
  height?: number
  steps?: number
  cfg?: number
  sampler_name?: string
  scheduler?: string
  seed?: number
  batch_size?: number
  filename_prefix?: string
}

/** The built-in `image_to_image` template; `image` is a value from `client.upload`. */
export interface ImageToImageParams extends TemplateParams {
  image: string
  prompt: string
  ckpt_name: string
  negative_prompt?: string
  denoise?: number
  steps?: number
  cfg?: number
  sampler_name?: string
  scheduler?: string
  seed?: number
  filename_prefix?: string
}

/** The built-in `inpaint` template; the uploaded image's alpha channel is the mask. */
export interface InpaintParams extends TemplateParams {
  image: string
  prompt: string
  ckpt_name: string
  negative_prompt?: string
  grow_mask_by?: number
  denoise?: number
  steps?: number
  cfg?: number
  sampler_name?: string
  scheduler?: string
  seed?: number
  filename_prefix?: string
}

/** The built-in model-free `upscale` template. */
export interface UpscaleParams extends TemplateParams {
  image: string
  upscale_method?: string
  scale_by?: number
  filename_prefix?: string
}

/** Which of the configured backends (`ClientOptions.backends`) a call is about. */
export interface BackendChoice {
  /** A configured backend's name (a single backend answers to its kind, e.g. `local`). */
  backend?: string
}

/** Where a submission may run (several backends: `ClientOptions.backends`). */
export interface Placement extends BackendChoice {
  /** If the backend that accepted the job is lost with it (stops answering, or restarts and
   * forgets it), run it again on another configured backend instead of failing it (default
   * false: a second run may repeat work; never for a job pinned with `backend`). */
  resubmitIfLost?: boolean
}

/** A client of one ComfyUI server. Every method that does I/O returns a Promise. */
export declare class ComfyClient {
  /** `new ComfyClient('http://127.0.0.1:8188')` or with options. Nothing is contacted yet. */
  constructor(options: ClientOptions | string)
  /** Every problem of a workflow against the server's catalogue (empty: valid). */
  validate(workflow: WorkflowInput): Promise<ValidationProblem[]>
  /** The verdict with every problem and, for editor files, the conversion warnings. */
  check(workflow: WorkflowInput): Promise<CheckResult>
  /** Converts, validates and submits a workflow (ValidationError lists every problem), on the
   * backend `options.backend` names (several backends: `ClientOptions.backends`). */
  submit(workflow: WorkflowInput, options?: Placement): Promise<Job>
  /** Submits (on `options.backend`, if given), then waits like `job.wait(options)`. */
  run(workflow: WorkflowInput, options?: WaitOptions & Placement): Promise<Job>
  /** Renders a template with `params`, validates and submits it (on `options.backend`, if given). */
  runTemplate(name: string, params?: TemplateParams, options?: Placement): Promise<Job>
  /** The built-in text-to-image template. */
  generateImage(params: GenerateImageParams, options?: Placement): Promise<Job>
  /** The built-in image-to-image template. */
  imageToImage(params: ImageToImageParams, options?: Placement): Promise<Job>
  /** The built-in inpainting template. */
  inpaint(params: InpaintParams, options?: Placement): Promise<Job>
  /** The built-in model-free upscale template. */
  upscale(params: UpscaleParams, options?: Placement): Promise<Job>
  /** The templates this client serves (built-ins and `workflowsDir`). */
  listTemplates(): TemplateSummary[]
  /** One template, its parameters enriched from the server's catalogue. */
  template(name: string): Promise<TemplateSummary>
  /** A job by id: this client's, one recorded in `dataDir`, or one the server knows; with
   * `options.backend`, only a job that runs there. */
  job(id: string, options?: BackendChoice): Promise<Job>
  /** An asset by id. */
  asset(id: string): Promise<AssetInfo>
  /** An asset's bytes, fetched through the server (size, SHA-256 and image size are then recorded). */
  assetBytes(id: string): Promise<Buffer>
  /** Fetches an asset and writes it to `path` atomically. */
  saveAsset(id: string, path: string | URL): Promise<AssetInfo>
  /**
   * Uploads an input file (bytes, or the path of a file) and returns the value a `LoadImage`
   * input takes; it is a valid input value at once. `filename` is required with bytes.
   */
  upload(data: Buffer | Uint8Array | string | URL, filename?: string): Promise<string>
  /** The server's node catalogue (cached). */
  catalog(): Promise<Catalog>
  /** Converts an editor workflow to the API format with the server's catalogue. */
  uiToApi(workflow: WorkflowInput): Promise<UiConversion>
  /** Converts an API workflow to the editor format with the server's catalogue. */
  apiToUi(workflow: WorkflowInput): Promise<Record<string, unknown>>
  /** The backend: kind, versions, reachable, credential state (never the secret), capabilities. */
  serverInfo(): Promise<ServerInfo>
  /**
   * A CQL query over the server's node catalogue: a source, then `|`-separated stages
   * (`produces IMAGE | NOT deprecated | sort connections | limit 10`, `upstream KSampler`,
   * `path MODEL -> IMAGE`). A bad query is an InvalidArgumentError (`invalid_query`).
   */
  cql(query: string): Promise<CqlResult>
  /**
   * Generates with a partner (paid API) model: its one-node-plus-save workflow from the server's
   * catalogue, priced from its price badge. Submits only with spending consent (`maxCredits`
   * covering the price, or `allowPartnerSpend`), else an InvalidArgumentError
   * (`spending_consent_required`, `price_above_max_credits`); `dryRun: true` only quotes.
   */
  partnerGenerate(request: PartnerOptions): Promise<{ quote: PartnerQuote; job: Job | null }>
  /** RunComfy deployments (only `ids` when given); `not_supported` on other backends. */
  listDeployments(options?: { ids?: string[]; includePayload?: boolean; includeReadme?: boolean }): Promise<Array<Record<string, unknown>>>
  /** One RunComfy deployment (default: the configured one); `includePayload` adds its workflow. */
  getDeployment(deploymentId?: string, options?: { includePayload?: boolean; includeReadme?: boolean }): Promise<Record<string, unknown>>
  /** Deploys a Cloud-Saved workflow on RunComfy (billed while instances run). */
  createDeployment(spec: {
    name: string
    workflow_id: string
    workflow_version: string
    hardware?: string
    min_instances?: number
    max_instances?: number
    queue_size?: number
    keep_warm_duration_in_seconds?: number
  }): Promise<Record<string, unknown>>
  /** Changes a RunComfy deployment (default: the configured one). */
  updateDeployment(
    changes: {
      name?: string
      workflow_version?: string
      hardware?: string
      min_instances?: number
      max_instances?: number
      queue_size?: number
      keep_warm_duration_in_seconds?: number
      is_enabled?: boolean
    },
    deploymentId?: string,
  ): Promise<Record<string, unknown>>
  /** Deletes a RunComfy deployment permanently; RunComfy's answer. */
  deleteDeployment(deploymentId: string): Promise<unknown>
  /**
   * Runs a RunComfy deployment (billed) as a job: `overrides` of its saved workflow
   * (`{"<node title or id>.<input>": value}` or node-keyed `{"6": {"inputs": {...}}}`), checked
   * before anything is sent, or a whole `workflow_api_json`; `deployment_id` defaults to the
   * configured one. Recorded like any other job (outputs are assets; reattached after a restart).
   */
  submitRequest(spec: {
    overrides?: Record<string, unknown>
    deployment_id?: string
    workflow_api_json?: Record<string, unknown>
    extra_data?: Record<string, unknown>
    webhook_url?: string
    webhook_intermediate_status?: boolean
  }): Promise<Job>
  /**
   * On a PostgreSQL store shared by several servers: takes over the unfinished jobs and batches
   * of servers that stopped (`['job:<id>', 'batch:<id>', …]`). The client does this by itself
   * every few seconds; `[]` on other stores.
   */
  takeOverOrphans(): Promise<string[]>
  /**
   * On a shared store: hands this client's unfinished jobs and batches to the other servers at
   * once (call before a planned shutdown). Does nothing on other stores.
   */
  retire(): Promise<void>
  /** Balance and subscription where the backend has billing (Comfy Cloud); else `not_supported`. */
  billingStatus(): Promise<BillingStatus>
  /**
   * Records the user's feedback; an InvalidArgumentError without `consent: true` or when
   * `message` holds a path, URL or e-mail address. Stored locally, posted to `feedbackUrl`
   * (without any backend credential); a failed post resolves with `posted: false`.
   */
  submitFeedback(feedback: { consent: boolean; message: string; rating?: number; category?: string }): Promise<FeedbackReceipt>
  /** This client's activity: jobs by outcome, error codes, uptime (no prompts, paths or ids). */
  sessionSummary(): SessionSummary
  /** Records `sessionSummary()` like `submitFeedback`; needs `{ consent: true }`. */
  reportSessionSummary(options: { consent: boolean }): Promise<FeedbackReceipt>
  /**
   * Runs one workflow (or `template` with `params`) many times: exactly one of `paramSets`,
   * `overrides`, `seeds` or `count`. Every item is checked before anything is submitted (a bad
   * one rejects with `batch item <i>: ...`); items beyond the running-jobs cap wait and are
   * submitted as slots free, also after a restart (same `dataDir`).
   */
  submitBatch(options: BatchOptions): Promise<BatchStatus>
  /** A batch's status; an unknown id is a NotFoundError (`batch_not_found`). */
  batchStatus(batchId: string): Promise<BatchStatus>
  /** Every output of every item of a batch, in item order. */
  batchOutputs(batchId: string): Promise<BatchOutputs>
  /** Waits up to `timeoutMs` (default: until done) for every item; the status then. */
  waitBatch(batchId: string, options?: { timeoutMs?: number }): Promise<BatchStatus>
}

/** `client.submitBatch(options)`. */
export interface BatchOptions {
  workflow?: WorkflowInput
  template?: string
  params?: Record<string, unknown>
  paramSets?: Array<Record<string, unknown>>
  overrides?: Array<Record<string, unknown>>
  seeds?: number[]
  count?: number
  /** Every item runs on the backend of this name (several backends). */
  backend?: string
  /** An item lost with its backend runs again on another (default false). */
  resubmitIfLost?: boolean
}

export type BatchItemState = 'waiting' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/** The core's `BatchStatus` as JSON. */
export interface BatchStatus {
  batch_id: string
  state: 'running' | 'succeeded' | 'failed'
  total: number
  counts: Record<BatchItemState, number>
  fraction: number
  items: Array<{ index: number; job_id?: string; state: BatchItemState; fraction: number; error?: string }>
}

/** The core's `BatchOutputs` as JSON (each output is an `AssetSummary`). */
export interface BatchOutputs {
  batch_id: string
  state: 'running' | 'succeeded' | 'failed'
  items: Array<{
    index: number
    job_id?: string
    state: BatchItemState
    outputs: Array<Record<string, unknown> & { asset_id: string; job_id: string }>
    error?: string
  }>
}

/** A submitted job. `for await (const ev of job)` iterates its events. */
export declare class Job implements AsyncIterable<JobEvent> {
  private constructor()
  /** The job id (the prompt id on ComfyUI). */
  readonly id: string
  /** Its status now. */
  readonly status: JobStatus
  /** Whether it finished (succeeded, failed or cancelled). */
  readonly finished: boolean
  /** Why it failed (node id and class, exception type, message, traceback), or null. */
  readonly failure: Failure | null
  /** Where it is now: status, queue position, progress, failure. */
  state(): JobState
  /** Waits until it finished, or `timeoutMs` passed (then it is returned still running). */
  wait(options?: WaitOptions): Promise<Job>
  /** Cancels this job only (never a global interrupt). */
  cancel(): Promise<CancelOutcome>
  /** Waits for it, then lists every output; JobFailedError if it failed or was cancelled. */
  assets(options?: SignalOptions): Promise<AssetInfo[]>
  /** Its updates: the current state first, `finished` last. */
  events(options?: SignalOptions): AsyncGenerator<JobEvent, void, undefined>
  [Symbol.asyncIterator](): AsyncGenerator<JobEvent, void, undefined>
  toJSON(): JobState & { id: string }
}

/** Converts an editor ("save" format) workflow to the API format against a catalogue. */
export declare function uiToApi(workflow: WorkflowInput, catalog: Catalog | Record<string, unknown> | string): Promise<UiConversion>

/** Converts an API-format workflow to an editor workflow against a catalogue. */
export declare function apiToUi(
  workflow: WorkflowInput,
  catalog: Catalog | Record<string, unknown> | string,
): Promise<Record<string, unknown>>

/** A running embedded MCP server. */
export interface McpServer {
  /** The streamable-HTTP endpoint, e.g. `http://127.0.0.1:41234/mcp`. */
  readonly url: string
  /** Stops it (again: nothing). */
  close(): Promise<void>
}

/** Options of `serveMcp` over HTTP. */
export interface McpHttpOptions {
  transport?: 'http'
  /** Address to listen on (default `127.0.0.1:0`, a free port). */
  listen?: string
  /** Bearer token clients must send (required on non-loopback addresses). */
  token?: string
  /** Which tools are listed: `'full'` (default) or `'minimal'` (as `comfy-mcp --tool-profile minimal`). */
  toolProfile?: McpToolProfile
}

/** The tool profiles of `comfy-mcp --tool-profile`. */
export type McpToolProfile = 'full' | 'minimal'

/** Serves MCP over streamable HTTP with the client's backend, store and templates. */
export declare function serveMcp(client: ComfyClient, options?: McpHttpOptions): Promise<McpServer>
/** Serves MCP over this process's stdin/stdout; resolves when the MCP client goes away. */
export declare function serveMcp(
  client: ComfyClient,
  options: { transport: 'stdio'; toolProfile?: McpToolProfile },
): Promise<void>

/** The details of every ComfyError: a stable code, retryability and structured facts. */
export declare class ComfyError extends Error {
  constructor(message: string, options?: { code?: string; retryable?: boolean; details?: unknown; cause?: unknown })
  /** Stable machine-readable code (`validation_failed`, `backend_unreachable`, `job_not_found`, ...). */
  readonly code: string
  /** Whether repeating the same call later may succeed. */
  readonly retryable: boolean
  /** Structured facts (validation problems, ComfyUI's node errors, the parameter at fault), or null. */
  readonly details: any
}
/** `validation_failed`: `details.problems` is every problem. */
export declare class ValidationError extends ComfyError {
  readonly details: { problems: ValidationProblem[] }
}
/** A workflow that cannot be read (`invalid_json`, `invalid_workflow`, `unknown_node_classes`, ...). */
export declare class WorkflowError extends ComfyError {}
/** `invalid_template`, `invalid_parameter` (`details.param`), `unresolved_placeholder`. */
export declare class TemplateError extends ComfyError {}
/** `backend_unreachable`, `backend_http_error`, `unexpected_response`, `not_supported`. */
export declare class BackendError extends ComfyError {}
/** `prompt_rejected`: `details.nodeErrors` is ComfyUI's answer. */
export declare class PromptRejectedError extends BackendError {}
/** `job_not_found`, `asset_not_found`, `template_not_found`, `saved_workflow_not_found`. */
export declare class NotFoundError extends ComfyError {}
/** `too_many_jobs` (retryable). */
export declare class TooManyJobsError extends ComfyError {}
/** `timeout` (retryable). */
export declare class ComfyTimeoutError extends ComfyError {}
/** `invalid_argument`, `invalid_query`, `path_not_allowed`, `too_large`, `invalid_image`. */
export declare class InvalidArgumentError extends ComfyError {}
/** `job_failed` / `job_cancelled` (from `job.assets()`): `details.failure` says where and why. */
export declare class JobFailedError extends ComfyError {
  readonly details: { jobId: string; failure: Failure | null }
}
