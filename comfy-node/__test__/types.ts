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
  type BillingStatus,
  type CancelOutcome,
  type CheckResult,
  type CqlResult,
  type Failure,
  type Job,
  type JobEvent,
  type JobState,
  type JobStatus,
  type McpServer,
  type ServerInfo,
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
  const server: McpServer = await serveMcp(client, { listen: '127.0.0.1:0', token: 't' })
  const endpoint: string = server.url
  await server.close()
  const stdio: void = await serveMcp(client, { transport: 'stdio' })
  try {
    await client.run('x.json', { timeoutMs: 10 })
  } catch (e) {
    if (e instanceof ValidationError) e.details.problems.map((p) => p.code)
    if (e instanceof JobFailedError) void e.details.failure?.exceptionType
    if (e instanceof ComfyError) void [e.code, e.retryable, e.details]
  }
  void [first, checked, status, failure, state, same, outcome, saved, fromPath, templates, gen, up, i2i, inp, tpl, again, hash, endpoint, stdio]
}
