//! Comfy Cloud (`https://cloud.comfy.org`): the ComfyUI-compatible `/api/*` surface with an API
//! key (`X-API-Key`) or an OAuth token (`Authorization: Bearer`).
//!
//! What differs from a local ComfyUI, and how it is handled here:
//!
//! - Cloud assigns job ids (`prompt_id`); the client re-keys the job on submit.
//! - Status comes from `GET /api/jobs/{id}` (friendly states, outputs once finished), falling
//!   back to `GET /api/job/{id}/status` (raw internal states) where that route is missing, and
//!   to `GET /api/history_v2/{id}` for outputs a job detail does not carry. Every vocabulary
//!   maps to one [`JobStatus`] (see `status.rs`).
//! - Cloud is eventually consistent: a job it has just accepted may not be listed yet, so the
//!   backend's [`PollPolicy`] gives such a job a grace period (default 120 s) before the client
//!   declares it lost, and polls no more often than every 2 s.
//! - The WebSocket takes the credential as a `token` query parameter and sends every job of the
//!   account to every connection: events are kept only for this backend's jobs.
//! - Outputs are downloaded through `/api/view`, whose 302 points to a signed storage URL that
//!   is fetched **without** credentials; [`Backend::output_url`] returns that URL with its expiry.
//! - Cancel uses `POST /api/jobs/{id}/cancel`, falling back to deleting a pending job from the
//!   queue; the account-wide `/api/interrupt` is used only with
//!   [`ComfyCloudBuilder::allow_account_interrupt`].
//! - 402 is `insufficient_credits`; 429 is `subscription_inactive` ("User has not paid"),
//!   `queue_full` or `rate_limited` depending on the body; `Retry-After` is honoured.

mod config;
mod outputs;
mod queue;
#[cfg(feature = "websocket")]
mod socket;
pub(crate) mod status;
mod workflows;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{RwLock, broadcast};

pub use config::{COMFY_CLOUD_URL, CloudConfig, ComfyCloudBuilder};
pub use outputs::signed_url_expiry;
pub use workflows::CloudWorkflow;

use super::http::{Http, HttpSettings, Retry};
use super::local::{answers, urlencode};
use super::{
    Backend, BackendEvent, CancelOutcome, CancelScope, Capabilities, Credential, Download, Health, HostedUrl,
    JobRef, JobRequest, PollPolicy, QueueSnapshot, RemoteJob, SavedWorkflowInfo, Submitted, Upload,
    UploadedFile,
};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::job::{FileRef, FolderType, JobId, JobStatus, parse_history_outputs};

/// Aborts a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    config: CloudConfig,
    http: Http,
    #[cfg_attr(not(feature = "websocket"), allow(dead_code))]
    tls: Arc<rustls::ClientConfig>,
    events: broadcast::Sender<BackendEvent>,
    socket_connected: AtomicBool,
    /// Jobs submitted or looked up through this backend: the socket keeps only their events.
    jobs: Mutex<HashSet<String>>,
    catalog: RwLock<Option<Arc<Catalog>>>,
    socket_task: Mutex<Option<AbortOnDrop>>,
}

impl Inner {
    fn known(&self, id: &str) -> bool {
        self.jobs.lock().map(|j| j.contains(id)).unwrap_or_else(|e| e.into_inner().contains(id))
    }
}

/// A Comfy Cloud account.
///
/// ```no_run
/// # async fn demo() -> comfy_core::Result<()> {
/// use comfy_core::backend::{Backend, cloud::ComfyCloud};
/// let cloud = ComfyCloud::builder("https://cloud.comfy.org").api_key("comfyui-…").build()?;
/// println!("{:?}", cloud.health().await?.version);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ComfyCloud {
    inner: Arc<Inner>,
}

impl ComfyCloudBuilder {
    /// Builds the backend and, inside a tokio runtime, starts its WebSocket. A credential
    /// ([`api_key`](Self::api_key), [`bearer_token`](Self::bearer_token) or
    /// [`credentials`](Self::credentials)) is required.
    pub fn build(self) -> Result<ComfyCloud> {
        let config = self.config?;
        if config.credentials.is_none() {
            return Err(Error::InvalidArgument {
                argument: "credentials".into(),
                message:
                    "Comfy Cloud needs an API key (api_key) or a token (bearer_token); keys are made at \
                          https://platform.comfy.org/profile/api-keys"
                        .into(),
            });
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
            tls: tls.clone(),
            url_policy: config.url_policy.clone(),
        })?;
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            config,
            http,
            tls,
            events,
            socket_connected: AtomicBool::new(false),
            jobs: Mutex::new(HashSet::new()),
            catalog: RwLock::new(None),
            socket_task: Mutex::new(None),
        });
        #[cfg(feature = "websocket")]
        if inner.config.websocket {
            let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::InvalidArgument {
                argument: "runtime".into(),
                message: "ComfyCloud::build must be called inside a tokio runtime (it starts the WebSocket)"
                    .into(),
            })?;
            let task = handle.spawn(socket::run(Arc::downgrade(&inner)));
            if let Ok(mut slot) = inner.socket_task.lock() {
                *slot = Some(AbortOnDrop(task.abort_handle()));
            }
        }
        Ok(ComfyCloud { inner })
    }
}

impl ComfyCloud {
    /// Starts configuring a backend for the Cloud at `url` (normally [`COMFY_CLOUD_URL`]).
    pub fn builder(url: &str) -> ComfyCloudBuilder {
        ComfyCloudBuilder { config: CloudConfig::new(url) }
    }

    /// The configuration in use.
    pub fn config(&self) -> &CloudConfig {
        &self.inner.config
    }

    fn http(&self) -> &Http {
        &self.inner.http
    }

    fn is_known(&self, id: &str) -> bool {
        self.inner.known(id)
    }

    fn remember(&self, id: &JobId) {
        if let Ok(mut jobs) = self.inner.jobs.lock() {
            jobs.insert(id.0.clone());
        }
    }

    /// `extra_data` for a submit: the caller's, with partner-node credentials only from our
    /// configuration (never from the request) and the usage attribution.
    async fn extra_data(&self, request: &JobRequest) -> Result<serde_json::Map<String, Value>> {
        let mut extra = request.extra_data.clone();
        extra.remove("api_key_comfy_org");
        extra.remove("auth_token_comfy_org");
        if let (true, Some(key)) = (self.inner.config.partner_credentials, &self.inner.config.partner_api_key)
        {
            extra.insert("api_key_comfy_org".into(), Value::String(key.expose().to_owned()));
        } else if self.inner.config.partner_credentials {
            match self.http().credential().await? {
                Some(Credential::ApiKey { key, .. }) => {
                    extra.insert("api_key_comfy_org".into(), Value::String(key.expose().to_owned()));
                }
                Some(Credential::Bearer(token)) => {
                    extra.insert("auth_token_comfy_org".into(), Value::String(token.expose().to_owned()));
                }
                _ => {}
            }
        }
        if let Some(source) = &self.inner.config.usage_source {
            extra.entry("comfy_usage_source").or_insert_with(|| Value::String(source.clone()));
        }
        Ok(extra)
    }

    /// Outputs from the history (`/api/history_v2/{id}`, else `/api/history/{id}`).
    async fn history_outputs(&self, job: &JobId) -> Result<Vec<crate::job::JobOutput>> {
        for route in ["history_v2", "history"] {
            let path = format!("/api/{route}/{}", urlencode(job.as_str()));
            let (op, resp) = self
                .http()
                .request(Method::GET, &path, Retry::Idempotent, &[StatusCode::NOT_FOUND], None)
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                continue;
            }
            let v = self.http().json(&op, resp).await?;
            if let Some(entry) = v.get(job.as_str()) {
                return Ok(parse_history_outputs(entry.get("outputs").unwrap_or(&Value::Null)));
            }
        }
        Ok(Vec::new())
    }

    /// The status of one job: `/api/jobs/{id}`, else the raw `/api/job/{id}/status`.
    async fn status_by_id(&self, job: &JobId) -> Result<RemoteJob> {
        self.remember(job);
        let not_found = [StatusCode::NOT_FOUND];
        let path = format!("/api/jobs/{}", urlencode(job.as_str()));
        let (op, resp) = self.http().request(Method::GET, &path, Retry::Idempotent, &not_found, None).await?;
        let (detail, from_raw) = if resp.status() == StatusCode::NOT_FOUND {
            let raw = format!("/api/job/{}/status", urlencode(job.as_str()));
            let (op, resp) =
                self.http().request(Method::GET, &raw, Retry::Idempotent, &not_found, None).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Err(Error::JobNotFound {
                    backend: self.inner.config.name.clone(),
                    job_id: job.0.clone(),
                });
            }
            (self.http().json(&op, resp).await?, true)
        } else {
            (self.http().json(&op, resp).await?, false)
        };
        let status = status::from_detail(&detail);
        let outputs = match (outputs::outputs_of(&detail), &status) {
            (Some(outputs), _) if !from_raw => parse_history_outputs(outputs),
            (_, s) if s.is_terminal() && *s != JobStatus::Cancelled => self.history_outputs(job).await?,
            _ => Vec::new(),
        };
        Ok(RemoteJob { status, outputs })
    }
}

/// An upload answer, read leniently (`subfolder` and `type` may be missing).
fn uploaded(v: &Value, folder: FolderType) -> Option<UploadedFile> {
    Some(UploadedFile {
        name: v.get("name")?.as_str()?.to_owned(),
        subfolder: v.get("subfolder").and_then(Value::as_str).unwrap_or("").to_owned(),
        folder: v.get("type").and_then(Value::as_str).and_then(FolderType::parse).unwrap_or(folder),
    })
}

#[async_trait]
impl Backend for ComfyCloud {
    fn name(&self) -> &str {
        &self.inner.config.name
    }

    fn kind(&self) -> super::BackendKind {
        super::BackendKind::ComfyCloud
    }

    fn capabilities(&self) -> Capabilities {
        let events = self.inner.config.websocket && cfg!(feature = "websocket");
        Capabilities {
            events,
            previews: events,
            cancel_pending: true,
            cancel_running: CancelScope::Job,
            queue: true,
            upload: true,
            catalog: true,
            models: true,
            partial_execution: true,
            client_job_ids: false,
        }
    }

    fn events(&self) -> broadcast::Receiver<BackendEvent> {
        self.inner.events.subscribe()
    }

    fn events_connected(&self) -> bool {
        self.inner.socket_connected.load(Ordering::SeqCst)
    }

    fn unsupported_reason(&self, operation: &'static str) -> String {
        match operation {
            "official workflow templates" => "Comfy Cloud has no official template gallery API; use this \
                                              client's built-in templates or your saved workflows"
                .into(),
            _ => format!("Comfy Cloud has no API for {operation}"),
        }
    }

    fn poll_policy(&self) -> PollPolicy {
        PollPolicy {
            min_interval: self.inner.config.poll_interval,
            not_found_grace: self.inner.config.not_found_grace,
        }
    }

    async fn submit(&self, request: &JobRequest) -> Result<Submitted> {
        let mut body = json!({
            "prompt": request.workflow.to_value(),
            "client_id": self.inner.config.client_id,
            "extra_data": self.extra_data(request).await?,
        });
        if let Some(outputs) = &request.outputs {
            body["partial_execution_targets"] = json!(outputs);
        }
        tracing::debug!(backend = %self.name(), nodes = request.workflow.len(), "submitting to Comfy Cloud");
        let op = "POST /api/prompt";
        let url = self.http().url("/api/prompt");
        let timeout = self.inner.config.request_timeout;
        let resp = self
            .http()
            .send(op, Retry::ConnectOnly, timeout, &[StatusCode::BAD_REQUEST], |c| c.post(&url).json(&body))
            .await?;
        let status = resp.status();
        let answer = self.http().json(op, resp).await?;
        let prompt_id = answer.get("prompt_id").and_then(Value::as_str);
        if status == StatusCode::BAD_REQUEST || (prompt_id.is_none() && answer.get("error").is_some()) {
            return Err(answers::prompt_rejected(self.name(), &answer));
        }
        let prompt_id = prompt_id.ok_or_else(|| Error::UnexpectedResponse {
            backend: self.name().to_owned(),
            operation: op.into(),
            message: format!("no prompt_id in {}", crate::json::preview(&answer)),
        })?;
        let job_id = JobId(prompt_id.to_owned());
        self.remember(&job_id);
        Ok(Submitted {
            job_id,
            handle: None,
            number: answer.get("number").and_then(Value::as_f64),
            node_errors: answer.get("node_errors").cloned().unwrap_or(Value::Null),
        })
    }

    async fn status(&self, job: &JobId) -> Result<RemoteJob> {
        self.status_by_id(job).await
    }

    async fn status_of(&self, job: &JobRef) -> Result<RemoteJob> {
        self.status_by_id(&job.id).await
    }

    async fn cancel(&self, job: &JobId) -> Result<CancelOutcome> {
        self.cancel_job(job).await
    }

    async fn queue(&self) -> Result<QueueSnapshot> {
        self.read_queue().await
    }

    async fn upload(&self, upload: Upload) -> Result<UploadedFile> {
        upload.check()?;
        let (op, v) = self.http().post_upload(&upload, self.inner.config.transfer_timeout).await?;
        uploaded(&v, upload.folder).ok_or_else(|| Error::UnexpectedResponse {
            backend: self.name().to_owned(),
            operation: op,
            message: format!("no name in {}", crate::json::preview(&v)),
        })
    }

    async fn download(&self, file: &FileRef) -> Result<Download> {
        self.download_file(file).await
    }

    async fn download_url(&self, url: &str) -> Result<Download> {
        self.download_any(url).await
    }

    async fn output_url(&self, file: &FileRef) -> Result<HostedUrl> {
        self.signed_url(file).await
    }

    async fn catalog(&self, refresh: bool) -> Result<Arc<Catalog>> {
        if !refresh && let Some(c) = self.inner.catalog.read().await.as_ref() {
            return Ok(c.clone());
        }
        let op = "GET /api/object_info";
        let url = self.http().url("/api/object_info");
        let timeout = self.inner.config.transfer_timeout;
        let resp = self.http().send(op, Retry::Idempotent, timeout, &[], |c| c.get(&url)).await?;
        let raw = self.http().json(op, resp).await?;
        let catalog = Arc::new(Catalog::from_value(&raw)?);
        *self.inner.catalog.write().await = Some(catalog.clone());
        Ok(catalog)
    }

    async fn model_folders(&self) -> Result<Vec<String>> {
        let v = self.http().get_json("/api/experiment/models").await?;
        let names = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("name").and_then(Value::as_str).or_else(|| f.as_str()))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(names)
    }

    async fn models(&self, folder: &str) -> Result<Vec<String>> {
        let path = format!("/api/experiment/models/{}", urlencode(folder));
        let v = self.http().get_json(&path).await.map_err(|e| match e {
            Error::Http { status: 404, .. } => Error::InvalidArgument {
                argument: "model folder".into(),
                message: format!("{folder:?} is not a model folder on Comfy Cloud"),
            },
            other => other,
        })?;
        let names = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("name").and_then(Value::as_str).or_else(|| f.as_str()))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(names)
    }

    async fn health(&self) -> Result<Health> {
        let v = self.http().get_json("/api/system_stats").await?;
        Ok(answers::parse_health(v))
    }

    async fn identity(&self) -> super::BackendIdentity {
        let config = &self.inner.config;
        let mut identity = super::BackendIdentity {
            kind: super::BackendKind::ComfyCloud,
            auth: super::AuthState::NotConfigured,
            account_status: None,
            partner_nodes_key: self.has_partner_key(),
        };
        if config.credentials.is_none() {
            return identity;
        }
        // `/api/user` needs the credential and changes nothing: it tells whether it is accepted.
        identity.auth = match self.http().get_json("/api/user").await {
            Ok(user) => {
                identity.account_status = user.get("status").and_then(Value::as_str).map(str::to_owned);
                super::AuthState::Accepted
            }
            Err(Error::Unauthorized { .. }) => super::AuthState::Rejected,
            Err(Error::Http { status: 403, .. }) => super::AuthState::Rejected,
            Err(_) => super::AuthState::Configured,
        };
        identity
    }

    fn has_billing(&self) -> bool {
        true
    }

    fn has_partner_key(&self) -> bool {
        self.inner.config.partner_credentials && self.inner.config.credentials.is_some()
    }

    async fn billing(&self) -> Result<super::BillingStatus> {
        let status = self.http().get_json("/api/billing/status").await?;
        let balance = self.http().get_json("/api/billing/balance").await?;
        Ok(super::BillingStatus::from_cloud(&status, &balance))
    }

    async fn list_saved_workflows(&self) -> Result<Vec<SavedWorkflowInfo>> {
        self.http().userdata_list().await
    }

    async fn get_saved_workflow(&self, name: &str) -> Result<Value> {
        self.http().userdata_get(name).await
    }

    async fn save_workflow(
        &self,
        name: &str,
        workflow: &Value,
        overwrite: bool,
    ) -> Result<SavedWorkflowInfo> {
        self.http().userdata_save(name, workflow, overwrite).await
    }

    async fn delete_saved_workflow(&self, name: &str) -> Result<()> {
        self.http().userdata_delete(name).await
    }

    async fn move_saved_workflow(&self, from: &str, to: &str, overwrite: bool) -> Result<SavedWorkflowInfo> {
        self.http().userdata_move(from, to, overwrite).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_credential_is_required_and_urls_are_checked() {
        let e = ComfyCloud::builder(COMFY_CLOUD_URL).websocket(false).build().unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        assert!(e.to_string().contains("api_key"), "{e}");
        assert!(ComfyCloud::builder("cloud.comfy.org").api_key("k").websocket(false).build().is_err());
        let c = ComfyCloud::builder("https://cloud.comfy.org/")
            .api_key("comfyui-k")
            .websocket(false)
            .build()
            .unwrap();
        assert_eq!(c.name(), "cloud:https://cloud.comfy.org");
        assert!(!format!("{c:?}").contains("comfyui-k"), "the key never shows in Debug output");
        let ws = c.config().ws_url("a+b");
        assert!(ws.starts_with("wss://cloud.comfy.org/ws?clientId=") && ws.ends_with("&token=a%2Bb"), "{ws}");
        assert_eq!(c.poll_policy().not_found_grace, Duration::from_secs(120));
    }

    #[test]
    fn uploads_are_read_leniently() {
        let u = uploaded(&json!({"name": "a.png"}), FolderType::Input).unwrap();
        assert_eq!(u.input_value(), "a.png");
        let u = uploaded(&json!({"name": "a.png", "subfolder": "s", "type": "output"}), FolderType::Input)
            .unwrap();
        assert_eq!(u.input_value(), "s/a.png [output]");
        assert!(uploaded(&json!({}), FolderType::Input).is_none());
    }
}
