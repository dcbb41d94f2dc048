//! RunComfy's Serverless API (`https://api.runcomfy.net`): ComfyUI workflows on autoscaled
//! GPUs behind a deployment, reached with a bearer token.
//!
//! What differs from a local ComfyUI, and how it is handled here:
//!
//! - Everything runs on a **deployment** (a Cloud-Saved workflow pinned to hardware). A generic
//!   submit runs the workflow inline (`workflow_api_json`) on the configured deployment;
//!   RunComfy's normal mode, node-keyed `overrides` of the deployment's saved workflow, is
//!   [`RunComfy::submit_request`], checked against the deployment's workflow and node schema
//!   before anything is billed.
//! - RunComfy assigns request ids; the submit answer (request id, status/result/cancel URLs,
//!   deployment) is the job's handle, recorded with the job so that it can be followed after a
//!   restart. A submit is never retried once it may have reached the server: every submit is
//!   billable and there is no idempotency key.
//! - No events: requests are polled (`status`, then `result` once it has finished; `completed`
//!   on the status endpoint may hide a failure that only the result shows). See `status.rs`.
//! - Outputs are hosted URLs on RunComfy's CDN, deleted after 7 days; they are downloaded
//!   **without** the token (the credential only ever goes to the API host).
//! - No upload endpoint: an uploaded file becomes a short reference expanded to a data URI at
//!   submit time (`inputs.rs`), a previous output its hosted URL.
//! - The queue path version (`/prod/v1` or `/prod/v2`) is configurable; deployments, the
//!   instance proxy and the balance are under `/prod/v2`.

mod config;
mod deployments;
mod inputs;
mod requests;
pub(crate) mod result;
pub(crate) mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::TryStreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tokio::sync::{RwLock, broadcast};

pub use config::{QueueVersion, RUNCOMFY_URL, RunComfyBuilder, RunComfyConfig};
pub use deployments::{
    Deployment, DeploymentSpec, DeploymentUpdate, HARDWARE, PayloadNode, PayloadSummary, check_hardware,
};
pub use inputs::{REFERENCE_FOLDER, data_uri};
pub use requests::{
    OutputUrl, RequestCancel, RequestHandle, RequestResult, RequestSpec, RequestStatus, check_overrides,
};

use self::inputs::{Inputs, Source};
use self::status::Phase;
use super::http::{Http, HttpSettings, Retry, error_chain};
use super::local::urlencode;
use super::{
    Backend, BackendEvent, CancelOutcome, CancelScope, Capabilities, Download, Health, JobRef, JobRequest,
    PollPolicy, QueueEntry, QueueSnapshot, RemoteJob, Submitted, Upload, UploadedFile,
};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::job::{FileRef, FolderType, JobId, JobStatus, MediaKind};

#[derive(Debug)]
struct Inner {
    config: RunComfyConfig,
    http: Http,
    events: broadcast::Sender<BackendEvent>,
    /// Requests submitted or followed here that have not finished: request id → handle.
    in_flight: Mutex<HashMap<String, RequestHandle>>,
    /// The last instance seen per deployment (for the instance proxy catalogue).
    instances: Mutex<HashMap<String, String>>,
    inputs: Inputs,
    catalog: RwLock<Option<Arc<Catalog>>>,
}

/// A checked request to a deployment, ready to post.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    /// The deployment it goes to.
    pub(crate) deployment_id: String,
    body: Value,
    webhook: Option<String>,
    intermediate: bool,
    /// The graph that runs: the deployment's workflow with the overrides set, or the inline
    /// workflow (upload references not expanded); `None` when the deployment publishes none.
    pub(crate) graph: Option<Value>,
}

/// A RunComfy account (and its default deployment).
///
/// ```no_run
/// # async fn demo() -> comfy_core::Result<()> {
/// use comfy_core::backend::runcomfy::RunComfy;
/// let rc = RunComfy::builder("https://api.runcomfy.net").token("…").deployment("a1b2…").build()?;
/// for d in rc.list_deployments(&[], false, false).await? {
///     println!("{} {:?}", d.id, d.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RunComfy {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RunComfyBuilder {
    /// Builds the backend. A token ([`token`](Self::token) or [`credentials`](Self::credentials))
    /// is required.
    pub fn build(self) -> Result<RunComfy> {
        let mut config = self.config?;
        if config.credentials.is_none() {
            return Err(Error::InvalidArgument {
                argument: "runcomfy_token".into(),
                message: "RunComfy needs an API token (from https://www.runcomfy.com/profile)".into(),
            });
        }
        if let Some(d) = &config.deployment_id {
            config.name = format!("runcomfy:{}/{d}", config.base_url);
        }
        let tls = super::tls::client_config(&config.ca_certs)?;
        let http = Http::new(HttpSettings {
            base_url: config.base_url.clone(),
            name: config.name.clone(),
            credentials: config.credentials.clone(),
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            retries: config.retries,
            retry_backoff: config.retry_backoff,
            max_retry_after: config.max_retry_after,
            tls,
            url_policy: config.url_policy.clone(),
        })?;
        let (events, _) = broadcast::channel(16);
        Ok(RunComfy {
            inner: Arc::new(Inner {
                config,
                http,
                events,
                in_flight: Mutex::new(HashMap::new()),
                instances: Mutex::new(HashMap::new()),
                inputs: Inputs::default(),
                catalog: RwLock::new(None),
            }),
        })
    }
}

impl RunComfy {
    /// Starts configuring a backend for the API at `url` (normally [`RUNCOMFY_URL`]).
    pub fn builder(url: &str) -> RunComfyBuilder {
        RunComfyBuilder { config: RunComfyConfig::new(url) }
    }

    /// The configuration in use.
    pub fn config(&self) -> &RunComfyConfig {
        &self.inner.config
    }

    fn http(&self) -> &Http {
        &self.inner.http
    }

    fn backend_name(&self) -> String {
        self.inner.config.name.clone()
    }

    /// The deployment to use: `given`, else the configured one.
    pub fn deployment_id(&self, given: Option<&str>) -> Result<String> {
        given
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .or_else(|| self.inner.config.deployment_id.clone())
            .ok_or_else(|| Error::InvalidArgument {
                argument: "deployment_id".into(),
                message:
                    "no RunComfy deployment: pass deployment_id, or configure one (--runcomfy-deployment, \
                          RUNCOMFY_DEPLOYMENT_ID); list_deployments shows them"
                        .into(),
            })
    }

    fn queue_path(&self, deployment: &str, rest: &str) -> String {
        format!("{}/deployments/{}{rest}", self.inner.config.queue_version.prefix(), urlencode(deployment))
    }

    fn request_path(&self, handle: &RequestHandle, what: &str) -> String {
        self.queue_path(&handle.deployment_id, &format!("/requests/{}/{what}", urlencode(&handle.request_id)))
    }

    /// One API call: JSON answer (or `Null` for an empty body), 2xx answers that carry an
    /// `error_code` turned into errors. `not_found` answers 404 as `Ok(None)`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        retry: Retry,
        body: Option<&Value>,
        not_found: bool,
    ) -> Result<Option<Value>> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let accept: &[StatusCode] = if not_found { &[StatusCode::NOT_FOUND] } else { &[] };
        let (op, resp) = self.http().request(method, path, retry, accept, bytes.as_deref()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let v = self.http().optional_json(&op, resp).await?;
        if let Some(code) = v.get("error_code").filter(|c| !c.is_null()) {
            let text = v.to_string();
            let status = match code.as_u64() {
                Some(c) if c >= 100_000 => (c / 1000) as u16,
                _ => 400,
            };
            return Err(super::http::classify(&self.backend_name(), &op, status, None, &text));
        }
        Ok(Some(v))
    }

    async fn get(&self, path: &str) -> Result<Value> {
        Ok(self.call(Method::GET, path, Retry::Idempotent, None, false).await?.unwrap_or(Value::Null))
    }

    fn remember(&self, handle: &RequestHandle) {
        lock(&self.inner.in_flight).insert(handle.request_id.clone(), handle.clone());
    }

    fn forget(&self, request_id: &str) {
        lock(&self.inner.in_flight).remove(request_id);
    }

    fn handle_of(&self, job: &JobRef) -> Result<RequestHandle> {
        if let Some(h) =
            job.handle.as_ref().and_then(|h| serde_json::from_value::<RequestHandle>(h.clone()).ok())
        {
            return Ok(h);
        }
        if let Some(h) = lock(&self.inner.in_flight).get(job.id.as_str()) {
            return Ok(h.clone());
        }
        Ok(RequestHandle {
            deployment_id: self.deployment_id(None)?,
            request_id: job.id.0.clone(),
            status_url: None,
            result_url: None,
            cancel_url: None,
        })
    }

    // ---- deployments ----

    /// `GET /prod/v2/deployments` (optionally only `ids`, with payloads and readmes).
    pub async fn list_deployments(
        &self,
        ids: &[String],
        include_payload: bool,
        include_readme: bool,
    ) -> Result<Vec<Deployment>> {
        let mut query: Vec<String> = ids.iter().map(|id| format!("ids={}", urlencode(id))).collect();
        if include_payload {
            query.push("includes=payload".into());
        }
        if include_readme {
            query.push("includes=readme".into());
        }
        let path = match query.is_empty() {
            true => "/prod/v2/deployments".to_owned(),
            false => format!("/prod/v2/deployments?{}", query.join("&")),
        };
        let v = self.get(&path).await?;
        deployments::parse_list(v).map_err(|message| Error::UnexpectedResponse {
            backend: self.backend_name(),
            operation: "GET /prod/v2/deployments".into(),
            message,
        })
    }

    /// `GET /prod/v2/deployments/{id}` (default: the configured deployment).
    pub async fn get_deployment(
        &self,
        id: Option<&str>,
        include_payload: bool,
        include_readme: bool,
    ) -> Result<Deployment> {
        let id = self.deployment_id(id)?;
        let mut query = Vec::new();
        if include_payload {
            query.push("includes=payload");
        }
        if include_readme {
            query.push("includes=readme");
        }
        let mut path = format!("/prod/v2/deployments/{}", urlencode(&id));
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        self.deployment_from(&path, self.get(&path).await?)
    }

    fn deployment_from(&self, op: &str, v: Value) -> Result<Deployment> {
        let v = match v {
            Value::Object(mut m)
                if !m.contains_key("id") && m.get("deployment").is_some_and(Value::is_object) =>
            {
                m.remove("deployment").unwrap_or(Value::Null)
            }
            other => other,
        };
        serde_json::from_value(v).map_err(|e| Error::UnexpectedResponse {
            backend: self.backend_name(),
            operation: op.split('?').next().unwrap_or(op).to_owned(),
            message: format!("not a deployment: {e}"),
        })
    }

    /// `POST /prod/v2/deployments`: a new deployment (billable while instances run).
    pub async fn create_deployment(&self, spec: &DeploymentSpec) -> Result<Deployment> {
        let body = spec.body()?;
        let path = "/prod/v2/deployments";
        let v = self.call(Method::POST, path, Retry::ConnectOnly, Some(&body), false).await?;
        self.deployment_from(path, v.unwrap_or(Value::Null))
    }

    /// `PATCH /prod/v2/deployments/{id}`; the current name is resent when not changed (RunComfy
    /// refuses a PATCH without it).
    pub async fn update_deployment(&self, id: Option<&str>, update: &DeploymentUpdate) -> Result<Deployment> {
        let id = self.deployment_id(id)?;
        if *update == DeploymentUpdate::default() {
            return Err(Error::InvalidArgument {
                argument: "update".into(),
                message: "give at least one field to change".into(),
            });
        }
        let current = match update.name {
            Some(_) => None,
            None => self.get_deployment(Some(&id), false, false).await?.name,
        };
        let body = update.body(current.as_deref())?;
        let path = format!("/prod/v2/deployments/{}", urlencode(&id));
        let v = self.call(Method::PATCH, &path, Retry::ConnectOnly, Some(&body), false).await?;
        self.deployment_from(&path, v.unwrap_or(Value::Null))
    }

    /// `DELETE /prod/v2/deployments/{id}` (permanent); answers RunComfy's body as sent.
    pub async fn delete_deployment(&self, id: &str) -> Result<Value> {
        if id.trim().is_empty() {
            return Err(Error::InvalidArgument {
                argument: "deployment_id".into(),
                message: "is empty".into(),
            });
        }
        let path = format!("/prod/v2/deployments/{}", urlencode(id.trim()));
        let v = self.call(Method::DELETE, &path, Retry::ConnectOnly, None, false).await?;
        Ok(v.unwrap_or(Value::Null))
    }

    /// The node schema of a deployment's environment: its payload's `object_info_url`, else
    /// `object_info` through the instance proxy of an instance seen running it.
    pub async fn deployment_catalog(&self, deployment: &Deployment) -> Result<Arc<Catalog>> {
        if let Some(url) = deployment.object_info_url() {
            let op = "GET object_info_url";
            let timeout = self.inner.config.transfer_timeout;
            let resp = self.http().send(op, Retry::Idempotent, timeout, &[], |c| c.get(url)).await?;
            let raw = self.http().optional_json(op, resp).await?;
            return Ok(Arc::new(Catalog::from_value(&raw)?));
        }
        let instance = lock(&self.inner.instances).get(&deployment.id).cloned();
        if let Some(instance) = instance {
            let raw = self.instance_proxy(Some(&deployment.id), &instance, "object_info", None).await?;
            return Ok(Arc::new(Catalog::from_value(&raw)?));
        }
        Err(self.not_supported("node catalogue"))
    }

    // ---- requests ----

    /// Submits to a deployment: node-keyed overrides (checked first against the deployment's
    /// workflow and node schema) or an inline workflow. Never retried once it may have reached
    /// RunComfy (every submit is billable). This records nothing:
    /// [`Comfy::submit_request`](crate::Comfy::submit_request) submits the same request as a
    /// job (recorded, followed, its outputs assets).
    pub async fn submit_request(&self, spec: &RequestSpec) -> Result<RequestHandle> {
        let outgoing = self.prepare_request(spec, false).await?;
        self.send_request(&outgoing).await
    }

    /// Checks a request and builds what [`send_request`](Self::send_request) posts; with
    /// `want_workflow`, also the graph that will run (the deployment's workflow is read even
    /// without overrides).
    pub(crate) async fn prepare_request(&self, spec: &RequestSpec, want_workflow: bool) -> Result<Outgoing> {
        let deployment_id = self.deployment_id(spec.deployment_id.as_deref())?;
        let mut body = Map::new();
        let mut graph = None;
        match (&spec.overrides, &spec.workflow_api_json) {
            (Some(o), Some(_)) if !o.is_empty() => {
                return Err(Error::InvalidArgument {
                    argument: "overrides".into(),
                    message: "give overrides or workflow_api_json, not both".into(),
                });
            }
            (_, Some(workflow)) => {
                let mut workflow = crate::workflow::Workflow::from_value(workflow.clone())?.to_value();
                graph = Some(workflow.clone());
                self.inner.inputs.expand(&mut workflow)?;
                body.insert("workflow_api_json".into(), workflow);
            }
            (overrides, None) => {
                let overrides = overrides.clone().unwrap_or_default();
                let checked = if overrides.is_empty() {
                    // Nothing to check: the deployment's workflow is read for the record only.
                    if want_workflow {
                        match self.get_deployment(Some(&deployment_id), true, false).await {
                            Ok(d) => graph = d.workflow_api_json().cloned(),
                            Err(e) => {
                                tracing::debug!(error = %e, "the deployment's workflow is not recorded")
                            }
                        }
                    }
                    Map::new()
                } else {
                    let deployment = self.get_deployment(Some(&deployment_id), true, false).await?;
                    let catalog = match self.deployment_catalog(&deployment).await {
                        Ok(c) => Some(c),
                        Err(e) => {
                            tracing::debug!(error = %e, "overrides checked without a node schema");
                            None
                        }
                    };
                    let checked =
                        check_overrides(deployment.workflow_api_json(), catalog.as_deref(), &overrides)?;
                    graph = deployment.workflow_api_json().map(|w| requests::overridden(w, &checked));
                    checked
                };
                let mut value = Value::Object(checked);
                let mut wrapped = json!({"n": {"inputs": {}}});
                // Expand upload references inside node-keyed overrides.
                if let Some(nodes) = value.as_object_mut() {
                    for (_, node) in nodes.iter_mut() {
                        wrapped["n"] = node.clone();
                        self.inner.inputs.expand(&mut wrapped)?;
                        *node = wrapped["n"].clone();
                    }
                }
                // RunComfy wants the key even when empty.
                body.insert("overrides".into(), value);
            }
        }
        let extra = self.extra_data(spec.extra_data.clone().unwrap_or_default());
        if !extra.is_empty() {
            body.insert("extra_data".into(), Value::Object(extra));
        }
        let webhook = spec.webhook_url.clone().or_else(|| self.inner.config.webhook.clone());
        let intermediate =
            spec.webhook_intermediate_status.unwrap_or(self.inner.config.webhook_intermediate_status);
        Ok(Outgoing { deployment_id, body: Value::Object(body), webhook, intermediate, graph })
    }

    /// Posts a prepared request (once: never retried after it may have reached RunComfy).
    pub(crate) async fn send_request(&self, outgoing: &Outgoing) -> Result<RequestHandle> {
        self.post_inference(
            &outgoing.deployment_id,
            &outgoing.body,
            outgoing.webhook.as_deref(),
            outgoing.intermediate,
        )
        .await
    }

    fn extra_data(&self, mut extra: Map<String, Value>) -> Map<String, Value> {
        if let Some(key) = &self.inner.config.partner_api_key {
            extra.entry("api_key_comfy_org").or_insert_with(|| Value::String(key.expose().to_owned()));
        }
        extra
    }

    async fn post_inference(
        &self,
        deployment: &str,
        body: &Value,
        webhook: Option<&str>,
        intermediate: bool,
    ) -> Result<RequestHandle> {
        let mut path = self.queue_path(deployment, "/inference");
        if let Some(url) = webhook {
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(Error::InvalidArgument {
                    argument: "webhook_url".into(),
                    message: format!("{url:?} is not an http(s) URL"),
                });
            }
            path = format!("{path}?webhook={}&webhook_intermediate_status={intermediate}", urlencode(url));
        }
        tracing::debug!(backend = %self.backend_name(), deployment, "submitting to RunComfy");
        let v = self
            .call(Method::POST, &path, Retry::ConnectOnly, Some(body), false)
            .await?
            .unwrap_or(Value::Null);
        let handle = RequestHandle::from_answer(deployment, &v).ok_or_else(|| Error::UnexpectedResponse {
            backend: self.backend_name(),
            operation: "POST inference".into(),
            message: format!("no request_id in {}", crate::json::preview(&v)),
        })?;
        self.remember(&handle);
        Ok(handle)
    }

    /// A request's status (`deployment_id` default: the configured one).
    pub async fn request_status(
        &self,
        deployment_id: Option<&str>,
        request_id: &str,
    ) -> Result<RequestStatus> {
        self.status_by(&self.adhoc_handle(deployment_id, request_id)?).await
    }

    /// A request's status, found by its handle.
    pub(crate) async fn status_by(&self, handle: &RequestHandle) -> Result<RequestStatus> {
        let v = self.status_answer(handle).await?;
        Ok(RequestStatus::from_answer(&handle.request_id, &v))
    }

    /// A request's result: every hosted output with its URL, or why it failed.
    pub async fn request_result(
        &self,
        deployment_id: Option<&str>,
        request_id: &str,
    ) -> Result<RequestResult> {
        self.result_by(&self.adhoc_handle(deployment_id, request_id)?).await
    }

    /// A request's result, found by its handle.
    pub(crate) async fn result_by(&self, handle: &RequestHandle) -> Result<RequestResult> {
        let v = self.result_answer(handle).await?;
        let outputs = result::outputs(v.get("outputs"), self.expiry(&v));
        Ok(RequestResult::from_answer(&handle.request_id, &v, &outputs))
    }

    /// Cancels a request: `cancelled`, `cancel_requested` (poll until it ends) or
    /// `not_cancellable`.
    pub async fn cancel_request(
        &self,
        deployment_id: Option<&str>,
        request_id: &str,
    ) -> Result<RequestCancel> {
        self.cancel_by(&self.adhoc_handle(deployment_id, request_id)?).await
    }

    /// Cancels a request found by its handle.
    pub(crate) async fn cancel_by(&self, handle: &RequestHandle) -> Result<RequestCancel> {
        let v = self.cancel_answer(handle).await?;
        Ok(RequestCancel::from_answer(&handle.request_id, v))
    }

    /// Polls a request (at the configured interval) until it finishes or `timeout` passes;
    /// then its result. The request keeps running on a timeout (it is never cancelled here).
    pub async fn wait_request(
        &self,
        deployment_id: Option<&str>,
        request_id: &str,
        timeout: std::time::Duration,
    ) -> Result<(RequestStatus, Option<RequestResult>)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.request_status(deployment_id, request_id).await?;
            if status.finished {
                let result = self.request_result(deployment_id, request_id).await?;
                return Ok((status, Some(result)));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok((status, None));
            }
            tokio::time::sleep(self.inner.config.poll_interval.min(deadline - now)).await;
        }
    }

    /// The handle of a request known by id only.
    pub(crate) fn adhoc_handle(
        &self,
        deployment_id: Option<&str>,
        request_id: &str,
    ) -> Result<RequestHandle> {
        if request_id.trim().is_empty() {
            return Err(Error::InvalidArgument { argument: "request_id".into(), message: "is empty".into() });
        }
        Ok(RequestHandle {
            deployment_id: self.deployment_id(deployment_id)?,
            request_id: request_id.trim().to_owned(),
            status_url: None,
            result_url: None,
            cancel_url: None,
        })
    }

    fn not_found(&self, handle: &RequestHandle) -> Error {
        Error::JobNotFound { backend: self.backend_name(), job_id: handle.request_id.clone() }
    }

    async fn status_answer(&self, handle: &RequestHandle) -> Result<Value> {
        let path = self.request_path(handle, "status");
        let v = self.call(Method::GET, &path, Retry::Idempotent, None, true).await?;
        let v = v.ok_or_else(|| self.not_found(handle))?;
        if let Some(instance) = v.get("instance_id").and_then(Value::as_str).filter(|i| !i.is_empty()) {
            lock(&self.inner.instances).insert(handle.deployment_id.clone(), instance.to_owned());
        }
        Ok(v)
    }

    async fn result_answer(&self, handle: &RequestHandle) -> Result<Value> {
        let path = self.request_path(handle, "result");
        let v = self.call(Method::GET, &path, Retry::Idempotent, None, true).await?;
        v.ok_or_else(|| self.not_found(handle))
    }

    async fn cancel_answer(&self, handle: &RequestHandle) -> Result<Value> {
        let path = self.request_path(handle, "cancel");
        let v = self.call(Method::POST, &path, Retry::ConnectOnly, None, true).await?;
        v.ok_or_else(|| self.not_found(handle))
    }

    /// When the outputs of a result are deleted: `finished_at` (else now) + the retention.
    fn expiry(&self, result: &Value) -> Option<i64> {
        let retention = self.inner.config.output_retention.as_millis() as i64;
        let finished = status::timestamp(result.get("finished_at")).unwrap_or_else(crate::store::now_millis);
        Some(finished + retention)
    }

    /// A job's status from its handle: the status endpoint, and the result once it finished.
    async fn remote_job(&self, handle: &RequestHandle) -> Result<RemoteJob> {
        let v = self.status_answer(handle).await?;
        let (phase, _) = status::from_status(&v);
        if !phase.is_terminal() {
            return Ok(RemoteJob { status: status::job_status(&phase), outputs: Vec::new() });
        }
        if phase == Phase::Cancelled {
            self.forget(&handle.request_id);
            return Ok(RemoteJob { status: JobStatus::Cancelled, outputs: Vec::new() });
        }
        let result = self.result_answer(handle).await?;
        let word = result.get("status").and_then(Value::as_str).unwrap_or("");
        let job = match Phase::parse(word) {
            Phase::Succeeded | Phase::Completed => RemoteJob {
                status: JobStatus::Succeeded,
                outputs: result::outputs(result.get("outputs"), self.expiry(&result)),
            },
            Phase::Failed => RemoteJob {
                status: JobStatus::Failed(status::failure(result.get("error"))),
                outputs: Vec::new(),
            },
            Phase::Cancelled => RemoteJob { status: JobStatus::Cancelled, outputs: Vec::new() },
            // The status said finished, the result is not there yet: still running.
            Phase::Queued(_) | Phase::Running => {
                return Ok(RemoteJob { status: status::job_status(&Phase::Running), outputs: Vec::new() });
            }
        };
        self.forget(&handle.request_id);
        Ok(job)
    }

    // ---- instance proxy ----

    /// `POST /prod/v2/deployments/{id}/instances/{iid}/proxy/{path}`: a call to the live
    /// ComfyUI of a running instance (`instance_id` from a request's status). `body` defaults
    /// to `{}`; a non-JSON answer comes back as a string, an empty one as `null`.
    pub async fn instance_proxy(
        &self,
        deployment_id: Option<&str>,
        instance_id: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let deployment = self.deployment_id(deployment_id)?;
        let clean = path.trim().trim_start_matches('/');
        if instance_id.trim().is_empty() || clean.is_empty() || clean.split('/').any(|p| p == "..") {
            return Err(Error::InvalidArgument {
                argument: if clean.is_empty() { "path".into() } else { "instance_id".into() },
                message: "an instance id and a ComfyUI path (e.g. api/free, object_info) are required".into(),
            });
        }
        let route = format!(
            "/prod/v2/deployments/{}/instances/{}/proxy/{clean}",
            urlencode(&deployment),
            urlencode(instance_id.trim())
        );
        let body = body.cloned().unwrap_or_else(|| json!({}));
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let (op, resp) =
            self.http().request(Method::POST, &route, Retry::ConnectOnly, &[], Some(&bytes)).await?;
        let ct = super::http::content_type(&resp);
        let text = resp.text().await.map_err(|e| Error::UnexpectedResponse {
            backend: self.backend_name(),
            operation: op.clone(),
            message: error_chain(&e),
        })?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(match ct.contains("json") {
            true => super::http::parse_json_body(&self.backend_name(), &op, &ct, &text)?,
            false => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        })
    }

    /// The account balance (`GET /prod/v2/balance`).
    async fn balance(&self) -> Result<super::BillingStatus> {
        let v = self.get("/prod/v2/balance").await?;
        let usd = v
            .get("balance_usd")
            .and_then(Value::as_f64)
            .or_else(|| v.get("balance_microdollars").and_then(Value::as_f64).map(|m| m / 1_000_000.0));
        let subscription = v
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| !(v.is_object() || v.is_array()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(super::BillingStatus { balance_usd: usd, balance_credits: None, subscription })
    }
}

#[async_trait]
impl Backend for RunComfy {
    fn name(&self) -> &str {
        &self.inner.config.name
    }

    fn kind(&self) -> super::BackendKind {
        super::BackendKind::RunComfy
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            events: false,
            previews: false,
            cancel_pending: true,
            cancel_running: CancelScope::Job,
            queue: true,
            upload: true,
            catalog: true,
            models: false,
            partial_execution: false,
            client_job_ids: false,
        }
    }

    fn events(&self) -> broadcast::Receiver<BackendEvent> {
        self.inner.events.subscribe()
    }

    fn as_runcomfy(&self) -> Option<&RunComfy> {
        Some(self)
    }

    fn unsupported_reason(&self, operation: &'static str) -> String {
        match operation {
            "node catalogue" => {
                "the deployment publishes no object_info_url and no running instance is known \
                                 (the catalogue comes from an instance once a request runs)"
                    .into()
            }
            "model lists" => "RunComfy has no model listing API; the models are those of the deployment's \
                              workflow environment"
                .into(),
            "saved workflows" => {
                "RunComfy runs Cloud-Saved workflows through deployments; use list_deployments \
                                  and get_deployment"
                    .into()
            }
            "official workflow templates" => {
                "RunComfy has no template gallery API; use this client's built-in \
                                              templates"
                    .into()
            }
            "download" => "RunComfy outputs are hosted URLs (download them by URL)".into(),
            _ => format!("RunComfy has no API for {operation}"),
        }
    }

    fn poll_policy(&self) -> PollPolicy {
        PollPolicy {
            min_interval: self.inner.config.poll_interval,
            not_found_grace: std::time::Duration::from_secs(30),
        }
    }

    async fn submit(&self, request: &JobRequest) -> Result<Submitted> {
        let deployment = self.deployment_id(None)?;
        let mut workflow = request.workflow.to_value();
        self.inner.inputs.expand(&mut workflow)?;
        let mut body = json!({"workflow_api_json": workflow});
        // Partner-node credentials come from the configuration only, never from a request.
        let mut extra = request.extra_data.clone();
        extra.remove("api_key_comfy_org");
        extra.remove("auth_token_comfy_org");
        let extra = self.extra_data(extra);
        if !extra.is_empty() {
            body["extra_data"] = Value::Object(extra);
        }
        let config = &self.inner.config;
        let handle = self
            .post_inference(&deployment, &body, config.webhook.as_deref(), config.webhook_intermediate_status)
            .await?;
        Ok(Submitted {
            job_id: JobId(handle.request_id.clone()),
            handle: serde_json::to_value(&handle).ok(),
            number: None,
            node_errors: Value::Null,
        })
    }

    async fn status(&self, job: &JobId) -> Result<RemoteJob> {
        self.status_of(&JobRef::from(job)).await
    }

    async fn status_of(&self, job: &JobRef) -> Result<RemoteJob> {
        let handle = self.handle_of(job)?;
        self.remember(&handle);
        self.remote_job(&handle).await
    }

    async fn cancel(&self, job: &JobId) -> Result<CancelOutcome> {
        self.cancel_of(&JobRef::from(job)).await
    }

    async fn cancel_of(&self, job: &JobRef) -> Result<CancelOutcome> {
        let handle = self.handle_of(job)?;
        let before = self.status_answer(&handle).await?;
        let (phase, _) = status::from_status(&before);
        if phase.is_terminal() {
            return Ok(CancelOutcome::AlreadyFinished);
        }
        let was_queued = matches!(phase, Phase::Queued(_));
        let answer = status::cancel_answer(&self.cancel_answer(&handle).await?);
        let outcome = requests::cancel_outcome(answer, was_queued);
        if outcome == CancelOutcome::NotCancellable {
            // Refused because it had just finished?
            let (now, _) = status::from_status(&self.status_answer(&handle).await?);
            if now.is_terminal() {
                return Ok(CancelOutcome::AlreadyFinished);
            }
        }
        Ok(outcome)
    }

    /// The requests this backend has in flight on RunComfy (there is no queue endpoint): the
    /// running ones, then the waiting ones by their queue position.
    async fn queue(&self) -> Result<QueueSnapshot> {
        let handles: Vec<RequestHandle> = lock(&self.inner.in_flight).values().cloned().collect();
        let mut snapshot = QueueSnapshot::default();
        let mut pending = Vec::new();
        for handle in handles {
            let v = match self.status_answer(&handle).await {
                Ok(v) => v,
                Err(Error::JobNotFound { .. }) => {
                    self.forget(&handle.request_id);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (phase, _) = status::from_status(&v);
            let id = JobId(handle.request_id.clone());
            match phase {
                Phase::Running => snapshot.running.push(QueueEntry { job_id: id, number: 0.0, ours: true }),
                Phase::Queued(position) => {
                    let number = position.map_or(f64::MAX, f64::from);
                    pending.push(QueueEntry { job_id: id, number, ours: true });
                }
                _ => {}
            }
        }
        pending.sort_by(|a, b| a.number.total_cmp(&b.number));
        snapshot.pending = pending;
        Ok(snapshot)
    }

    async fn upload(&self, upload: Upload) -> Result<UploadedFile> {
        upload.check()?;
        let limit = self.inner.config.max_inline_bytes;
        if upload.data.len() as u64 > limit {
            return Err(Error::TooLarge {
                what: format!(
                    "{} (sent inline as a data URI: RunComfy has no upload endpoint)",
                    upload.filename
                ),
                size: upload.data.len() as u64,
                limit,
                hint: Some("put the file at a public URL and give that URL as the input value".into()),
            });
        }
        let mime = MediaKind::mime_for(&upload.filename);
        let name = self.inner.inputs.add(&upload.filename, Source::Inline { mime, data: upload.data });
        Ok(UploadedFile { name, subfolder: REFERENCE_FOLDER.into(), folder: FolderType::Input })
    }

    async fn upload_url(&self, url: &str, filename: &str) -> Result<UploadedFile> {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(Error::InvalidArgument {
                argument: "url".into(),
                message: format!("{url:?} is not an http(s) URL"),
            });
        }
        let name = self.inner.inputs.add(filename, Source::Url(url.to_owned()));
        Ok(UploadedFile { name, subfolder: REFERENCE_FOLDER.into(), folder: FolderType::Input })
    }

    async fn download(&self, _file: &FileRef) -> Result<Download> {
        Err(self.not_supported("download"))
    }

    /// Downloads a hosted output; the token goes to the API host only, never to the CDN.
    async fn download_url(&self, url: &str) -> Result<Download> {
        reqwest::Url::parse(url).map_err(|e| Error::InvalidArgument {
            argument: "url".into(),
            message: format!("{url:?} is not a URL: {e}"),
        })?;
        let op = "GET (hosted output URL)";
        let timeout = self.inner.config.transfer_timeout;
        let resp = self.http().send(op, Retry::Idempotent, timeout, &[], |c| c.get(url)).await?;
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_length = resp.content_length();
        let backend = self.backend_name();
        let stream = resp.bytes_stream().map_err(move |e| Error::UnexpectedResponse {
            backend: backend.clone(),
            operation: "download".into(),
            message: error_chain(&e),
        });
        Ok(Download { content_type, content_length, stream: Box::pin(stream) })
    }

    async fn catalog(&self, refresh: bool) -> Result<Arc<Catalog>> {
        if !refresh && let Some(c) = self.inner.catalog.read().await.as_ref() {
            return Ok(c.clone());
        }
        let deployment = self.get_deployment(None, true, false).await?;
        let catalog = self.deployment_catalog(&deployment).await?;
        *self.inner.catalog.write().await = Some(catalog.clone());
        Ok(catalog)
    }

    async fn health(&self) -> Result<Health> {
        let raw = match &self.inner.config.deployment_id {
            Some(id) => {
                serde_json::to_value(self.get_deployment(Some(id), false, false).await?).unwrap_or_default()
            }
            None => json!({"deployments": self.list_deployments(&[], false, false).await?.len()}),
        };
        Ok(Health { version: None, devices: Vec::new(), ram_free: None, raw })
    }

    async fn identity(&self) -> super::BackendIdentity {
        let auth = match self.get("/prod/v2/deployments").await {
            Ok(_) => super::AuthState::Accepted,
            Err(Error::Unauthorized { .. }) | Err(Error::Http { status: 403, .. }) => {
                super::AuthState::Rejected
            }
            Err(_) => super::AuthState::Configured,
        };
        super::BackendIdentity {
            kind: super::BackendKind::RunComfy,
            auth,
            account_status: None,
            partner_nodes_key: self.has_partner_key(),
        }
    }

    fn has_billing(&self) -> bool {
        true
    }

    fn has_partner_key(&self) -> bool {
        self.inner.config.partner_api_key.is_some()
    }

    async fn billing(&self) -> Result<super::BillingStatus> {
        self.balance().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_required_and_never_printed() {
        let e = RunComfy::builder(RUNCOMFY_URL).build().unwrap_err();
        assert!(e.to_string().contains("token"), "{e}");
        let rc = RunComfy::builder("https://api.runcomfy.net/")
            .token("rc-secret")
            .deployment("d1")
            .build()
            .unwrap();
        assert_eq!(rc.name(), "runcomfy:https://api.runcomfy.net/d1");
        assert!(!format!("{rc:?}").contains("rc-secret"));
        assert_eq!(rc.queue_path("d1", "/inference"), "/prod/v1/deployments/d1/inference");
        let v2 = RunComfy::builder(RUNCOMFY_URL).token("t").queue_version(QueueVersion::V2).build().unwrap();
        assert_eq!(v2.queue_path("d", "/requests/r/status"), "/prod/v2/deployments/d/requests/r/status");
        assert!(v2.deployment_id(None).unwrap_err().to_string().contains("RUNCOMFY_DEPLOYMENT_ID"));
    }
}
