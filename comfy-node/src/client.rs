//! `NativeClient`: one [`Comfy`] client (a local ComfyUI or Comfy Cloud backend, a store,
//! templates), built by the core's [`ClientConfig::connect`]. Every
//! method clones what it needs, calls one core function on napi's tokio runtime and maps the
//! answer; nothing blocks the JavaScript thread but argument conversion.

use std::path::{Path, PathBuf};

use comfy_core::backend::Upload;
use comfy_core::connect::{ExplicitFlags, FleetConfig};
use comfy_core::job::JobId;
use comfy_core::store::AssetId;
use comfy_core::{
    BackendConfig, BackendKind, BatchItems, BatchRequest, ClientConfig, Comfy, Placement, Source, StoreConfig,
};
use napi::bindgen_prelude::{Buffer, Either, within_runtime_if_available};
use napi_derive::napi;
use serde_json::{Map, Value};

use crate::error::{IntoNapi, invalid_argument, io};
use crate::job::JobHandle;
use crate::mcp::McpServerHandle;
use crate::source::workflow_json;
use crate::types::{
    AssetInfo, BatchOptions, CheckResult, ClientOptions, FeedbackOptions, McpOptions, TemplateSummary,
    UiConversion,
};
use crate::workflow::CatalogHandle;

/// A client of one ComfyUI server (internal: `ComfyClient` in `index.js` wraps it).
#[napi(js_name = "NativeClient")]
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) comfy: Comfy,
}

/// Builds the client through the core's one constructor ([`ClientConfig::connect`]); what the
/// caller left unset comes from the environment ([`ClientConfig::fill_from_env`]).
fn build(options: &ClientOptions) -> comfy_core::Result<Comfy> {
    let kind: BackendKind = options.backend.as_deref().unwrap_or("local").parse()?;
    let url = match kind {
        BackendKind::Local => options.url.clone(),
        BackendKind::ComfyCloud => options.cloud_url.clone(),
        BackendKind::RunComfy => options.runcomfy_url.clone(),
    };
    let backend = BackendConfig {
        kind,
        url,
        api_key: options.cloud_api_key.clone(),
        comfy_api_key: options.comfy_api_key.clone(),
        allow_account_interrupt: options.allow_account_interrupt.unwrap_or(false),
        ca_certs: options.ca_cert.iter().map(PathBuf::from).collect(),
        token: options.runcomfy_token.clone(),
        deployment: options.runcomfy_deployment.clone(),
        queue_version: options.runcomfy_queue_version.as_deref().map(str::parse).transpose()?,
        allowed_url_hosts: options.allowed_url_hosts.clone().unwrap_or_default(),
        ..BackendConfig::default()
    };
    let mut tunables = comfy_core::ClientOptions::default();
    if let Some(n) = options.max_running_jobs {
        tunables.max_running_jobs = n.max(1) as usize;
    }
    tunables.keep_outputs = options.keep_outputs.as_ref().map(PathBuf::from);
    tunables.feedback_url = options.feedback_url.clone();
    let data_dir = options.data_dir.as_ref().map(PathBuf::from);
    // `store` wins over `dataDir`, which then still keeps feedback.
    let store = match &options.store {
        Some(location) => {
            tunables.feedback_dir = data_dir;
            StoreConfig::parse(location)?
        }
        None => StoreConfig::dir_or(data_dir, StoreConfig::Memory),
    };
    let flags = ExplicitFlags {
        allow_private_urls: options.allow_private_urls,
        allow_partner_spend: options.allow_partner_spend,
    };
    let fleet = match &options.backends {
        Some(list) => FleetConfig::from_json(Value::Array(list.clone()), options.routing.clone())?,
        None => FleetConfig::default(),
    };
    ClientConfig::new(backend)
        .fleet(fleet)
        .store(store)
        .workflows_dir(options.workflows_dir.as_ref().map(PathBuf::from))
        .options(tunables)
        .fill_from_env(flags)?
        .connect()
}

#[napi]
impl Client {
    /// Connects to the server at `options.url` (the connection is made in the background: a
    /// server that is down is not an error here). Opens the store in `dataDir` if given.
    #[napi(constructor)]
    pub fn new(options: ClientOptions) -> napi::Result<Self> {
        within_runtime_if_available(|| build(&options)).napi().map(|comfy| Client { comfy })
    }

    /// Every problem of a workflow against the server's catalogue.
    #[napi]
    pub async fn check(&self, workflow: Value) -> napi::Result<CheckResult> {
        let json = workflow_json(workflow).await?;
        self.comfy.check(Source::Json(json)).await.napi().map(CheckResult::from)
    }

    /// Prepares (converts, validates) and submits a workflow (on the backend named `backend`,
    /// else where routing sends it; `resubmit_if_lost`: run it again on another backend if that
    /// one is lost with the job).
    #[napi]
    pub async fn submit(
        &self,
        workflow: Value,
        backend: Option<String>,
        resubmit_if_lost: Option<bool>,
    ) -> napi::Result<JobHandle> {
        let json = workflow_json(workflow).await?;
        let place = Placement { backend, resubmit_if_lost: resubmit_if_lost.unwrap_or(false) };
        self.submit_source(Source::Json(json), place).await
    }

    /// Renders a template of the client's set with `params`, validates and submits it (on the
    /// backend named `backend`, else where routing sends it; `resubmit_if_lost` as for `submit`).
    #[napi]
    pub async fn run_template(
        &self,
        name: String,
        params: Option<Map<String, Value>>,
        backend: Option<String>,
        resubmit_if_lost: Option<bool>,
    ) -> napi::Result<JobHandle> {
        let place = Placement { backend, resubmit_if_lost: resubmit_if_lost.unwrap_or(false) };
        self.submit_source(Source::named(name, params.unwrap_or_default()), place).await
    }

    /// A job by id: one of this client's, one recorded in its store, or one the server knows
    /// (with `backend`, only a job that runs there).
    #[napi]
    pub async fn job(&self, id: String, backend: Option<String>) -> napi::Result<JobHandle> {
        let job = self.comfy.job_on(&JobId(id), backend.as_deref()).await.napi()?;
        Ok(JobHandle::new(job, self.comfy.clone()))
    }

    /// An asset by id.
    #[napi]
    pub async fn asset(&self, id: String) -> napi::Result<AssetInfo> {
        self.comfy.asset(&AssetId(id)).await.napi().map(|a| AssetInfo::from(&a))
    }

    /// An asset's bytes, fetched through the server.
    #[napi]
    pub async fn asset_bytes(&self, id: String) -> napi::Result<Buffer> {
        let fetched = self.comfy.fetch_asset(&AssetId(id)).await.napi()?;
        Ok(Buffer::from(Vec::from(fetched.data)))
    }

    /// Fetches an asset and writes it to `path` atomically; returns it with size and hash.
    #[napi]
    pub async fn save_asset(&self, id: String, path: String) -> napi::Result<AssetInfo> {
        let fetched = self.comfy.save_asset(&AssetId(id), &path).await.napi()?;
        Ok(AssetInfo::from(&fetched.asset))
    }

    /// Uploads an input file (bytes, or the path of a file) and returns the value a `LoadImage`
    /// input takes (`name.png`, `sub/name.png`).
    #[napi]
    pub async fn upload(
        &self,
        data: Either<Buffer, String>,
        filename: Option<String>,
    ) -> napi::Result<String> {
        let (bytes, name) = match data {
            Either::A(buffer) => (buffer.to_vec(), filename),
            Either::B(path) => {
                let bytes = tokio::fs::read(&path).await.map_err(|e| io("reading", &path, e))?;
                let base = Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned());
                (bytes, filename.or(base))
            }
        };
        let name =
            name.ok_or_else(|| invalid_argument("filename", "a file name is needed to upload bytes"))?;
        let uploaded = self.comfy.upload(Upload::file(name, bytes)).await.napi()?;
        Ok(uploaded.input_value())
    }

    /// The templates this client serves (built-ins, and the workflows directory).
    #[napi]
    pub fn list_templates(&self) -> Vec<TemplateSummary> {
        self.comfy.templates().snapshot().list().iter().map(|t| TemplateSummary::from(t.as_ref())).collect()
    }

    /// A template by name, its parameters enriched from the server's catalogue when it answers.
    #[napi]
    pub async fn template(&self, name: String) -> napi::Result<TemplateSummary> {
        self.comfy.template(&name).await.napi().map(|t| TemplateSummary::from(t.as_ref()))
    }

    /// The server's node catalogue (cached).
    #[napi]
    pub async fn catalog(&self) -> napi::Result<CatalogHandle> {
        self.comfy.catalog().await.napi().map(CatalogHandle::from)
    }

    /// Converts an editor workflow to the API format against the server's catalogue.
    #[napi]
    pub async fn ui_to_api(&self, workflow: Value) -> napi::Result<UiConversion> {
        let json = workflow_json(workflow).await?;
        let catalog = self.comfy.catalog().await.napi()?;
        comfy_core::ui::to_api(&json, &catalog).napi().map(UiConversion::from)
    }

    /// Converts an API workflow to the editor format against the server's catalogue.
    #[napi]
    pub async fn api_to_ui(&self, workflow: Value) -> napi::Result<Value> {
        let json = workflow_json(workflow).await?;
        let catalog = self.comfy.catalog().await.napi()?;
        let workflow = comfy_core::Workflow::from_value(json).napi()?;
        comfy_core::ui::to_ui(&workflow, &catalog).napi()
    }

    /// The backend: kind, versions, reachable, credential state (never the secret), account
    /// status and capabilities.
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn server_info(&self) -> napi::Result<Value> {
        let info = self.comfy.server_info().await.napi()?;
        comfy_core::json::to_value(&info, "server info").napi()
    }

    /// Builds a partner (paid API) node workflow from the live catalogue, prices it and submits
    /// it only with spending consent (`maxCredits` covering the price, or `allowPartnerSpend`).
    #[napi]
    pub async fn partner_generate(
        &self,
        request: crate::partner::PartnerOptions,
    ) -> napi::Result<crate::partner::PartnerRun> {
        let request = request.into_request()?;
        let generated = self.comfy.partner_generate(request).await.napi()?;
        crate::partner::PartnerRun::new(generated, self.comfy.clone())
    }

    /// Runs a CQL query over the server's node catalogue.
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn cql(&self, query: String) -> napi::Result<Value> {
        let result = self.comfy.cql(&query).await.napi()?;
        comfy_core::json::to_value(&result, "query result").napi()
    }

    /// Records the user's feedback (refused without `consent: true`); the receipt.
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn submit_feedback(&self, feedback: FeedbackOptions) -> napi::Result<Value> {
        let feedback = comfy_core::Feedback {
            consent: feedback.consent.unwrap_or(false),
            rating: feedback.rating.map(|r| u8::try_from(r).unwrap_or(u8::MAX)),
            category: feedback.category,
            message: feedback.message,
        };
        let receipt = self.comfy.submit_feedback(feedback).await.napi()?;
        comfy_core::json::to_value(&receipt, "feedback receipt").napi()
    }

    /// This client's activity counts (jobs by outcome, error codes, uptime).
    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn session_summary(&self) -> napi::Result<Value> {
        comfy_core::json::to_value(&self.comfy.session_summary(), "session summary").napi()
    }

    /// Records the session summary like `submitFeedback` (refused without `consent`).
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn report_session_summary(&self, consent: Option<bool>) -> napi::Result<Value> {
        let receipt = self.comfy.report_session_summary(consent.unwrap_or(false)).await.napi()?;
        comfy_core::json::to_value(&receipt, "feedback receipt").napi()
    }

    /// RunComfy deployments (only `ids` when given).
    #[napi(ts_return_type = "Promise<Array<Record<string, unknown>>>")]
    pub async fn list_deployments(
        &self,
        ids: Option<Vec<String>>,
        include_payload: Option<bool>,
        include_readme: Option<bool>,
    ) -> napi::Result<Value> {
        let rc = self.comfy.runcomfy().napi()?;
        let ids = ids.unwrap_or_default();
        let list = rc
            .list_deployments(&ids, include_payload.unwrap_or(false), include_readme.unwrap_or(false))
            .await
            .napi()?;
        comfy_core::json::to_value(&list, "deployments").napi()
    }

    /// One RunComfy deployment (default: the configured one).
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn get_deployment(
        &self,
        deployment_id: Option<String>,
        include_payload: Option<bool>,
        include_readme: Option<bool>,
    ) -> napi::Result<Value> {
        let rc = self.comfy.runcomfy().napi()?;
        let d = rc
            .get_deployment(
                deployment_id.as_deref(),
                include_payload.unwrap_or(false),
                include_readme.unwrap_or(false),
            )
            .await
            .napi()?;
        comfy_core::json::to_value(&d, "deployment").napi()
    }

    /// Creates a RunComfy deployment (`name`, `workflow_id`, `workflow_version`, optional
    /// `hardware`, `min_instances`, `max_instances`, `queue_size`,
    /// `keep_warm_duration_in_seconds`).
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn create_deployment(&self, spec: Value) -> napi::Result<Value> {
        let spec: comfy_core::backend::runcomfy::DeploymentSpec =
            serde_json::from_value(spec).map_err(|e| invalid_argument("spec", e.to_string()))?;
        let d = self.comfy.runcomfy().napi()?.create_deployment(&spec).await.napi()?;
        comfy_core::json::to_value(&d, "deployment").napi()
    }

    /// Changes a RunComfy deployment (default: the configured one).
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn update_deployment(
        &self,
        changes: Value,
        deployment_id: Option<String>,
    ) -> napi::Result<Value> {
        let update: comfy_core::backend::runcomfy::DeploymentUpdate =
            serde_json::from_value(changes).map_err(|e| invalid_argument("changes", e.to_string()))?;
        let d = self
            .comfy
            .runcomfy()
            .napi()?
            .update_deployment(deployment_id.as_deref(), &update)
            .await
            .napi()?;
        comfy_core::json::to_value(&d, "deployment").napi()
    }

    /// Deletes a RunComfy deployment permanently; RunComfy's answer.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub async fn delete_deployment(&self, deployment_id: String) -> napi::Result<Value> {
        self.comfy.runcomfy().napi()?.delete_deployment(&deployment_id).await.napi()
    }

    /// Submits a request to a RunComfy deployment (`overrides` of its saved workflow, checked
    /// first, or `workflow_api_json`; optional `deployment_id`, `extra_data`, `webhook_url`,
    /// `webhook_intermediate_status`) as a job: recorded, its outputs assets, reattached.
    #[napi]
    pub async fn submit_request(&self, spec: Value) -> napi::Result<JobHandle> {
        let spec: comfy_core::backend::runcomfy::RequestSpec =
            serde_json::from_value(spec).map_err(|e| invalid_argument("spec", e.to_string()))?;
        let job = self.comfy.submit_request(&spec).await.napi()?;
        Ok(JobHandle::new(job, self.comfy.clone()))
    }

    /// On a PostgreSQL store shared by several servers: takes over the unfinished jobs and
    /// batches of servers that stopped; the keys taken (`job:<id>`, `batch:<id>`).
    #[napi]
    pub async fn take_over_orphans(&self) -> napi::Result<Vec<String>> {
        Ok(self.comfy.take_over_orphans().await.napi()?.iter().map(|s| s.key()).collect())
    }

    /// On a shared store: hands this client's unfinished jobs and batches to the other servers
    /// at once (before a planned shutdown). Does nothing on other stores.
    #[napi]
    pub async fn retire(&self) -> napi::Result<()> {
        self.comfy.retire().await.napi()
    }

    /// The account's balance and subscription where the backend has billing.
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn billing_status(&self) -> napi::Result<Value> {
        let status = self.comfy.billing_status().await.napi()?;
        comfy_core::json::to_value(&status, "billing status").napi()
    }

    /// Prepares every item of a batch, records it and submits what the running-jobs cap admits;
    /// the batch's status (with `batch_id`).
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn submit_batch(&self, options: BatchOptions) -> napi::Result<Value> {
        let source = match (options.workflow, options.template) {
            (Some(w), None) => Source::Json(workflow_json(w).await?),
            (None, Some(name)) => Source::named(name, options.params.unwrap_or_default()),
            _ => return Err(invalid_argument("workflow", "give exactly one of workflow or template")),
        };
        let seeds = options.seeds.map(|s| s.into_iter().map(u64::try_from).collect::<Result<Vec<_>, _>>());
        let seeds = seeds.transpose().map_err(|_| invalid_argument("seeds", "seeds are integers ≥ 0"))?;
        let count = options.count.map(|n| n as usize);
        let items = BatchItems::one_of(options.param_sets, options.overrides, seeds, count).napi()?;
        let place = Placement {
            backend: options.backend,
            resubmit_if_lost: options.resubmit_if_lost.unwrap_or(false),
        };
        let status = self.comfy.submit_batch_placed(BatchRequest { source, items }, place).await.napi()?;
        comfy_core::json::to_value(&status, "batch").napi()
    }

    /// A batch's status: counts per state, fraction, every item's job id and state.
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn batch_status(&self, batch_id: String) -> napi::Result<Value> {
        let status = self.comfy.batch_status(&batch_id).await.napi()?;
        comfy_core::json::to_value(&status, "batch").napi()
    }

    /// Every output of every item of a batch, in item order.
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn batch_outputs(&self, batch_id: String) -> napi::Result<Value> {
        let outputs = self.comfy.batch_outputs(&batch_id).await.napi()?;
        comfy_core::json::to_value(&outputs, "batch outputs").napi()
    }

    /// Waits up to `timeoutMs` milliseconds (default: until done) for every item; the status then.
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn wait_batch(&self, batch_id: String, timeout_ms: Option<f64>) -> napi::Result<Value> {
        let budget = match timeout_ms {
            Some(ms) if ms.is_finite() && ms >= 0.0 => {
                std::time::Duration::from_secs_f64(ms.min(1e12) / 1000.0)
            }
            Some(_) => return Err(invalid_argument("timeoutMs", "a number of milliseconds ≥ 0")),
            None => std::time::Duration::MAX / 4,
        };
        let status = self.comfy.wait_batch(&batch_id, budget).await.napi()?;
        comfy_core::json::to_value(&status, "batch").napi()
    }

    /// Serves MCP over streamable HTTP with this client's backend, store and templates.
    #[napi]
    pub async fn serve_mcp_http(&self, options: Option<McpOptions>) -> napi::Result<McpServerHandle> {
        McpServerHandle::start(self.comfy.clone(), options.unwrap_or_default()).await
    }

    /// Serves MCP over this process's stdin/stdout until the MCP client goes away
    /// (`options.toolProfile` applies; `listen` and `token` are unused).
    #[napi]
    pub async fn serve_mcp_stdio(&self, options: Option<McpOptions>) -> napi::Result<()> {
        let options = crate::mcp::embed_options(options.unwrap_or_default())?;
        comfy_mcp::embed::serve_stdio(self.comfy.clone(), &options)
            .await
            .map_err(|e| crate::mcp::start_failed(e.to_string()))
    }
}

impl Client {
    async fn submit_source(&self, source: Source, place: Placement) -> napi::Result<JobHandle> {
        let mut request = self.comfy.prepare(source).await.napi()?.into_request();
        place.apply(&mut request);
        let job = self.comfy.submit(request).await.napi()?;
        Ok(JobHandle::new(job, self.comfy.clone()))
    }
}
