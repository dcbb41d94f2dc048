// Compile-time checks of index.d.ts (tsc --noEmit, see tsconfig.json): every public call with
// the types a user sees. Never run.
import {
  Catalog,
  ComfyClient,
  ComfyError,
  JobFailedError,
  ValidationError,
  Workflow,
  apiToUi,
  serveMcp,
  uiToApi,
  type AssetInfo,
  type BatchItemState,
  type BatchOutputs,
  type BatchStatus,
  type BillingStatus,
  type CancelOutcome,
  type CheckResult,
  type CqlResult,
  type Failure,
  type FeedbackReceipt,
  type Job,
  type JobEvent,
  type JobState,
  type JobStatus,
  type McpServer,
  type PartnerPrice,
  type PartnerQuote,
  type ServerInfo,
  type SessionSummary,
  type TemplateSummary,
  type ValidationProblem,
} from 'comfy-rs'

export async function everything(url: string): Promise<void> {
  const client = new ComfyClient({ url, dataDir: '/tmp/x', workflowsDir: '/tmp/w', maxRunningJobs: 4, comfyApiKey: 'k' })
  const short = new ComfyClient(url)
  const info: ServerInfo = await short.serverInfo()
  const kind: 'local' | 'comfy_cloud' | 'runcomfy' | 'other' = info.kind
  const billing: BillingStatus = await short.billingStatus()
  const credits: number | null = billing.balance_credits
  const rc = new ComfyClient({ backend: 'runcomfy', runcomfyToken: 't', runcomfyDeployment: 'd', runcomfyQueueVersion: 'v2' })
  const deployments: Array<Record<string, unknown>> = await rc.listDeployments({ includePayload: true })
  await rc.updateDeployment({ max_instances: 2 }, String(deployments[0]?.id))
  const found: CqlResult = await short.cql('produces IMAGE | limit 3')
  const firstClass: string | undefined = found.classes?.[0]?.class_type
  const problems: ValidationProblem[] = await client.validate({ 1: { class_type: 'X', inputs: {} } })
  const first: string | undefined = problems[0]?.nodeId
  const checked: CheckResult = await short.check('workflow.json')
  const job: Job = await client.submit(new Workflow('{}'))
  const id: string = job.id
  const status: JobStatus = job.status
  const failure: Failure | null = job.failure
  const lostCode: string | undefined = failure?.code
  const moved: Job = await client.run(new Workflow('{}'), { backend: 'gpu1', resubmitIfLost: true, timeoutMs: 1000 })
  void lostCode
  void moved
  const state: JobState = job.state()
  const same: Job = await job.wait({ timeoutMs: 1000, signal: AbortSignal.timeout(5) })
  for await (const ev of job.events({ signal: new AbortController().signal })) {
    const e: JobEvent = ev
    const bytes: Buffer | undefined = e.preview
    void bytes
  }
  for await (const ev of job) void ev.fraction
  const outcome: CancelOutcome = await job.cancel()
  const assets: AssetInfo[] = await job.assets()
  const data: Buffer = await client.assetBytes(assets[0]!.id)
  const saved: AssetInfo = await client.saveAsset(assets[0]!.id, new URL('file:///tmp/a.png'))
  const value: string = await client.upload(data, 'a.png')
  const fromPath: string = await client.upload('/tmp/a.png')
  const templates: TemplateSummary[] = client.listTemplates()
  const gen: Job = await client.generateImage({ prompt: 'p', ckpt_name: 'c', steps: 2 })
  const up: Job = await client.upscale({ image: value, scale_by: 2 })
  const i2i: Job = await client.imageToImage({ image: value, prompt: 'p', ckpt_name: 'c' })
  const inp: Job = await client.inpaint({ image: value, prompt: 'p', ckpt_name: 'c' })
  const tpl: Job = await client.runTemplate('mine', { a: 1, b: 'x', c: true })
  const again: Job = await client.job(id)
  const catalog: Catalog = await client.catalog()
  const api = await uiToApi({}, catalog)
  const ui: Record<string, unknown> = await apiToUi(api.workflow, { KSampler: {} })
  const live = await client.uiToApi(ui)
  const hash: string = new Workflow(live.workflow).canonicalHash()
  const server: McpServer = await serveMcp(client, { listen: '127.0.0.1:0', token: 't', toolProfile: 'minimal' })
  const endpoint: string = server.url
  await server.close()
  const stdio: void = await serveMcp(client, { transport: 'stdio', toolProfile: 'full' })
  const partner = await client.partnerGenerate({ type: 'video', model: 'T2V-01', prompt: 'p', duration: 5, seed: 1, media: [value], maxCredits: 100, dryRun: true })
  const quote: PartnerQuote = partner.quote
  const price: PartnerPrice = quote.price
  const maxCredits: number | undefined = price.kind === 'known' ? price.max_credits : undefined
  const partnerJob: Job | null = partner.job
  const paying = new ComfyClient({ url, comfyApiKey: 'k', allowPartnerSpend: true })
  void paying
  const guarded = new ComfyClient({ url, allowPrivateUrls: false, allowedUrlHosts: ['minio.internal:9000'] })
  void guarded
  const batch: BatchStatus = await client.submitBatch({ template: 'generate_image', params: { prompt: 'p' }, seeds: [1, 2] })
  const itemState: BatchItemState | undefined = batch.items[0]?.state
  const polled: BatchStatus = await client.batchStatus(batch.batch_id)
  const waited: BatchStatus = await client.waitBatch(batch.batch_id, { timeoutMs: 1000 })
  const outputs: BatchOutputs = await client.batchOutputs(batch.batch_id)
  const receipt: FeedbackReceipt = await client.submitFeedback({ consent: true, message: 'works', rating: 5, category: 'praise' })
  const summary: SessionSummary = client.sessionSummary()
  const reported: FeedbackReceipt = await client.reportSessionSummary({ consent: true })
  void [quote.workflow, maxCredits, partnerJob, itemState, polled.fraction, waited.state, outputs.items, receipt.posted, summary.jobs_submitted, reported.stored]
  try {
    await client.run('x.json', { timeoutMs: 10 })
  } catch (e) {
    if (e instanceof ValidationError) e.details.problems.map((p) => p.code)
    if (e instanceof JobFailedError) void e.details.failure?.exceptionType
    if (e instanceof ComfyError) void [e.code, e.retryable, e.details]
  }
  void [first, checked, status, failure, state, same, outcome, saved, fromPath, templates, gen, up, i2i, inp, tpl, again, hash, endpoint, stdio]
}
