//! A local or self-hosted ComfyUI: HTTP with reqwest, events over one WebSocket per client.

pub(crate) mod answers;
mod config;
#[cfg_attr(not(feature = "websocket"), allow(dead_code))]
pub(crate) mod messages;
#[cfg(feature = "websocket")]
pub(crate) mod socket;
#[cfg(not(feature = "websocket"))]
#[path = "no_socket.rs"]
mod socket;
pub(crate) mod userdata;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast};

pub(crate) use crate::backend::http::error_chain;
pub use config::LocalConfig;

use super::http::{Http, HttpSettings, Retry};
use super::{
    Backend, BackendEvent, CancelOutcome, CancelScope, Capabilities, Download, Health, JobRequest,
    QueueSnapshot, RemoteJob, Submitted, Upload, UploadedFile,
};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::job::{FileRef, JobId};
use crate::secret::Secret;

/// Aborts a task when dropped, so the socket loop ends with its backend.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug)]
struct Inner {
    config: LocalConfig,
    http: Http,
    events: broadcast::Sender<BackendEvent>,
    socket: Arc<socket::SocketState>,
    /// The cached catalogue; held while fetching, so concurrent first calls share one fetch.
    catalog: Mutex<Option<Arc<Catalog>>>,
    _socket_task: Option<AbortOnDrop>,
}

/// A ComfyUI server reached over HTTP and WebSocket.
///
/// ```no_run
/// # async fn demo() -> comfy_core::Result<()> {
/// use comfy_core::backend::{Backend, local::LocalComfyUi};
/// let comfy = LocalComfyUi::builder("http://127.0.0.1:8188").build()?;
/// println!("{:?}", comfy.health().await?.version);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LocalComfyUi {
    inner: Arc<Inner>,
}

/// Builder for [`LocalComfyUi`].
#[derive(Debug)]
pub struct LocalComfyUiBuilder {
    config: Result<LocalConfig>,
}

impl LocalComfyUiBuilder {
    fn map(mut self, f: impl FnOnce(&mut LocalConfig)) -> Self {
        if let Ok(c) = &mut self.config {
            f(c);
        }
        self
    }

    /// A header for a ComfyUI behind an authenticating gateway (e.g. `Authorization`, `Bearer …`).
    pub fn auth_header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), Secret::new(value));
        self.map(|c| c.auth_header = Some((name, value)))
    }

    /// Where the credential for the server comes from (a token that can be refreshed, ...);
    /// it replaces [`auth_header`](Self::auth_header) and goes to this server's host only.
    pub fn credentials(self, provider: Arc<dyn super::CredentialProvider>) -> Self {
        self.map(|c| c.credentials = Some(provider))
    }

    /// What URLs off the base URL's host (hosted outputs, redirect hops) may reach; the default
    /// refuses loopback, private and link-local targets.
    pub fn url_policy(self, policy: crate::net::UrlPolicy) -> Self {
        self.map(|c| c.url_policy = policy)
    }

    /// Trusts an extra CA certificate (a PEM file, read by [`build`](Self::build)) for
    /// `https://` and `wss://`, e.g. a ComfyUI behind a private CA.
    pub fn ca_cert(self, path: impl AsRef<std::path::Path>) -> Self {
        let ca = super::tls::ca_file(path);
        self.map(|c| c.ca_certs.push(ca))
    }

    /// Trusts an extra CA certificate given as PEM text.
    pub fn ca_cert_pem(self, pem: impl Into<Vec<u8>>) -> Self {
        let ca = super::tls::CaCert::Pem(pem.into());
        self.map(|c| c.ca_certs.push(ca))
    }

    /// A Comfy API key for partner (API) nodes; never logged.
    pub fn comfy_api_key(self, key: impl Into<String>) -> Self {
        let key = Secret::new(key);
        self.map(|c| c.comfy_api_key = Some(key))
    }

    /// The client id (default: a new UUID). Reuse one to see your own prompts after a restart.
    pub fn client_id(self, id: impl Into<String>) -> Self {
        let id = id.into();
        self.map(|c| c.client_id = id)
    }

    /// Time limit of one request (default 30 s).
    pub fn request_timeout(self, t: Duration) -> Self {
        self.map(|c| c.request_timeout = t)
    }

    /// Time limit to connect (default 5 s).
    pub fn connect_timeout(self, t: Duration) -> Self {
        self.map(|c| c.connect_timeout = t)
    }

    /// Time limit of one download or upload (default 300 s).
    pub fn transfer_timeout(self, t: Duration) -> Self {
        self.map(|c| c.transfer_timeout = t)
    }

    /// Retries of failed idempotent requests (default 3).
    pub fn retries(self, n: u32) -> Self {
        self.map(|c| c.retries = n)
    }

    /// First retry delay (default 100 ms).
    pub fn retry_backoff(self, t: Duration) -> Self {
        self.map(|c| c.retry_backoff = t)
    }

    /// Longest delay between WebSocket reconnections (default 10 s).
    pub fn max_reconnect_delay(self, t: Duration) -> Self {
        self.map(|c| c.max_reconnect_delay = t)
    }

    /// Open the WebSocket (default true); without it jobs are tracked by polling.
    pub fn websocket(self, on: bool) -> Self {
        self.map(|c| c.websocket = on)
    }

    /// Builds the backend and, inside a tokio runtime, starts its WebSocket.
    pub fn build(self) -> Result<LocalComfyUi> {
        let config = self.config?;
        let tls = super::tls::client_config(&config.ca_certs)?;
        let http = Http::new(HttpSettings {
            base_url: config.base_url.clone(),
            name: config.name.clone(),
            credentials: config.credential_provider(),
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            retries: config.retries,
            retry_backoff: config.retry_backoff,
            max_retry_after: Duration::from_secs(10),
            tls: tls.clone(),
            url_policy: config.url_policy.clone(),
        })?;
        let (events, _) = broadcast::channel(4096);
        let socket = Arc::new(socket::SocketState::default());
        let task = if config.websocket && socket::AVAILABLE {
            let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::InvalidArgument {
                argument: "runtime".into(),
                message:
                    "LocalComfyUi::build must be called inside a tokio runtime (it starts the WebSocket)"
                        .into(),
            })?;
            let task = handle.spawn(socket::run(config.clone(), tls, events.clone(), socket.clone()));
            Some(AbortOnDrop(task.abort_handle()))
        } else {
            None
        };
        Ok(LocalComfyUi {
            inner: Arc::new(Inner {
                config,
                http,
                events,
                socket,
                catalog: Mutex::new(None),
                _socket_task: task,
            }),
        })
    }
}

impl LocalComfyUi {
    /// Starts configuring a backend for the ComfyUI at `url` (a path prefix is allowed).
    pub fn builder(url: &str) -> LocalComfyUiBuilder {
        LocalComfyUiBuilder { config: LocalConfig::new(url) }
    }

    /// The configuration in use.
    pub fn config(&self) -> &LocalConfig {
        &self.inner.config
    }

    fn http(&self) -> &Http {
        &self.inner.http
    }

    async fn history_entry(&self, job: &JobId) -> Result<Option<Value>> {
        let path = format!("/api/history/{}", urlencode(job.as_str()));
        let v = self.http().get_json(&path).await?;
        Ok(v.get(job.as_str()).cloned())
    }
}

/// Percent-encodes a path segment or query value.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[async_trait]
impl Backend for LocalComfyUi {
    fn name(&self) -> &str {
        &self.config().name
    }

    fn kind(&self) -> super::BackendKind {
        super::BackendKind::Local
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            events: self.config().websocket && socket::AVAILABLE,
            previews: self.config().websocket && socket::AVAILABLE,
            cancel_pending: true,
            cancel_running: CancelScope::Job,
            queue: true,
            upload: true,
            catalog: true,
            models: true,
            partial_execution: true,
            client_job_ids: true,
        }
    }

    fn unsupported_reason(&self, operation: &'static str) -> String {
        match operation {
            "billing status" => "a local ComfyUI has no account or credit balance (partner-node credits \
                                 are billed to the Comfy account of the API key; see platform.comfy.org)"
                .into(),
            "download by URL" | "self-authorising output URLs" => {
                "a local ComfyUI serves outputs only through its own /view endpoint".into()
            }
            _ => format!("a local ComfyUI has no API for {operation}"),
        }
    }

    fn events(&self) -> broadcast::Receiver<BackendEvent> {
        self.inner.events.subscribe()
    }

    fn events_connected(&self) -> bool {
        self.inner.socket.connected.load(Ordering::SeqCst)
    }

    async fn submit(&self, request: &JobRequest) -> Result<Submitted> {
        let job_id = request.job_id.clone().unwrap_or_else(|| JobId(uuid::Uuid::new_v4().to_string()));
        let mut extra = request.extra_data.clone();
        extra.remove("api_key_comfy_org");
        extra.remove("auth_token_comfy_org");
        if let Some(key) = &self.config().comfy_api_key {
            extra.insert("api_key_comfy_org".into(), Value::String(key.expose().to_owned()));
        }
        let mut body = json!({
            "prompt": request.workflow.to_value(),
            "client_id": self.config().client_id,
            "prompt_id": job_id.as_str(),
            "extra_data": extra,
        });
        if let Some(outputs) = &request.outputs {
            body["partial_execution_targets"] = json!(outputs);
        }
        if request.front {
            body["front"] = json!(true);
        }
        tracing::debug!(backend = %self.name(), job = %job_id, nodes = request.workflow.len(), "submitting");
        let op = "POST /api/prompt";
        let url = self.http().url("/api/prompt");
        let resp = self
            .http()
            .send(op, Retry::ConnectOnly, self.config().request_timeout, &[StatusCode::BAD_REQUEST], |c| {
                c.post(&url).json(&body)
            })
            .await?;
        let status = resp.status();
        let answer = self.http().json(op, resp).await?;
        if status == StatusCode::BAD_REQUEST {
            return Err(answers::prompt_rejected(self.name(), &answer));
        }
        let returned =
            answer.get("prompt_id").and_then(Value::as_str).ok_or_else(|| Error::UnexpectedResponse {
                backend: self.name().to_owned(),
                operation: op.into(),
                message: format!("no prompt_id in {}", crate::json::preview(&answer)),
            })?;
        Ok(Submitted {
            job_id: JobId(returned.to_owned()),
            handle: None,
            number: answer.get("number").and_then(Value::as_f64),
            node_errors: answer.get("node_errors").cloned().unwrap_or(Value::Null),
        })
    }

    async fn status(&self, job: &JobId) -> Result<RemoteJob> {
        if let Some(entry) = self.history_entry(job).await? {
            return Ok(answers::from_history(&entry));
        }
        let queue = self.queue().await?;
        if let Some(status) = answers::from_queue(&queue, job) {
            return Ok(RemoteJob { status, outputs: Vec::new() });
        }
        // It may have finished between the two reads.
        if let Some(entry) = self.history_entry(job).await? {
            return Ok(answers::from_history(&entry));
        }
        Err(Error::JobNotFound { backend: self.name().to_owned(), job_id: job.0.clone() })
    }

    async fn cancel(&self, job: &JobId) -> Result<CancelOutcome> {
        let queue = self.queue().await?;
        if queue.position(job).is_some() {
            self.http()
                .post_json("/api/queue", &json!({"delete": [job.as_str()]}), Retry::ConnectOnly)
                .await?;
            let after = self.queue().await?;
            if after.position(job).is_none() && !after.is_running(job) {
                return Ok(CancelOutcome::RemovedFromQueue);
            }
            if !after.is_running(job) {
                return Err(Error::UnexpectedResponse {
                    backend: self.name().to_owned(),
                    operation: "POST /api/queue delete".into(),
                    message: "the job is still pending after it was deleted from the queue".into(),
                });
            }
        } else if !queue.is_running(job) {
            return match self.history_entry(job).await? {
                Some(_) => Ok(CancelOutcome::AlreadyFinished),
                None => Err(Error::JobNotFound { backend: self.name().to_owned(), job_id: job.0.clone() }),
            };
        }
        // Running: interrupt exactly this prompt, never the global interrupt.
        self.http()
            .post_json("/api/interrupt", &json!({"prompt_id": job.as_str()}), Retry::ConnectOnly)
            .await?;
        Ok(CancelOutcome::InterruptRequested)
    }

    async fn queue(&self) -> Result<QueueSnapshot> {
        let v = self.http().get_json("/api/queue").await?;
        answers::parse_queue(&v, &self.config().client_id).map_err(|message| Error::UnexpectedResponse {
            backend: self.name().to_owned(),
            operation: "GET /api/queue".into(),
            message,
        })
    }

    async fn upload(&self, upload: Upload) -> Result<UploadedFile> {
        upload.check()?;
        let (op, v) = self.http().post_upload(&upload, self.config().transfer_timeout).await?;
        serde_json::from_value(v.clone()).map_err(|e| Error::UnexpectedResponse {
            backend: self.name().to_owned(),
            operation: op,
            message: format!("{e}: {}", crate::json::preview(&v)),
        })
    }

    async fn download(&self, file: &FileRef) -> Result<Download> {
        let path = format!(
            "/api/view?filename={}&subfolder={}&type={}",
            urlencode(&file.filename),
            urlencode(&file.subfolder),
            file.folder.as_str()
        );
        let op = format!("GET /api/view {}", file.filename);
        let url = self.http().url(&path);
        let resp = self
            .http()
            .send(&op, Retry::Idempotent, self.config().transfer_timeout, &[], |c| c.get(&url))
            .await?;
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_length = resp.content_length();
        let backend = self.name().to_owned();
        let stream = resp.bytes_stream().map_err(move |e| Error::UnexpectedResponse {
            backend: backend.clone(),
            operation: "download".into(),
            message: error_chain(&e),
        });
        Ok(Download { content_type, content_length, stream: Box::pin(stream) })
    }

    async fn catalog(&self, refresh: bool) -> Result<Arc<Catalog>> {
        // One fetch at a time: many first calls at once (a burst of submits) share one
        // download and parse instead of each fetching the whole catalogue.
        let mut cached = self.inner.catalog.lock().await;
        if !refresh && let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let raw = self.http().get_json("/api/object_info").await?;
        let catalog = Arc::new(Catalog::from_value(&raw)?);
        *cached = Some(catalog.clone());
        Ok(catalog)
    }

    async fn model_folders(&self) -> Result<Vec<String>> {
        let v = self.http().get_json("/api/models").await?;
        Ok(answers::string_list(&v))
    }

    async fn models(&self, folder: &str) -> Result<Vec<String>> {
        let v = self.http().get_json(&format!("/api/models/{}", urlencode(folder))).await.map_err(
            |e| match e {
                Error::Http { status: 404, .. } => Error::InvalidArgument {
                    argument: "model folder".into(),
                    message: format!("{folder:?} is not a model folder on this server"),
                },
                other => other,
            },
        )?;
        Ok(answers::string_list(&v))
    }

    async fn health(&self) -> Result<Health> {
        let v = self.http().get_json("/api/system_stats").await?;
        Ok(answers::parse_health(v))
    }

    async fn identity(&self) -> super::BackendIdentity {
        let config = self.config();
        super::BackendIdentity {
            kind: super::BackendKind::Local,
            // A ComfyUI has no route that checks a credential without doing something.
            auth: match config.credential_provider() {
                Some(_) => super::AuthState::Configured,
                None => super::AuthState::NotConfigured,
            },
            account_status: None,
            partner_nodes_key: self.has_partner_key(),
        }
    }

    fn has_partner_key(&self) -> bool {
        self.config().comfy_api_key.is_some()
    }

    async fn list_saved_workflows(&self) -> Result<Vec<super::SavedWorkflowInfo>> {
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
    ) -> Result<super::SavedWorkflowInfo> {
        self.http().userdata_save(name, workflow, overwrite).await
    }

    async fn delete_saved_workflow(&self, name: &str) -> Result<()> {
        self.http().userdata_delete(name).await
    }

    async fn move_saved_workflow(
        &self,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<super::SavedWorkflowInfo> {
        self.http().userdata_move(from, to, overwrite).await
    }

    async fn template_index(&self) -> Result<Value> {
        self.http().official_index().await
    }

    async fn template_workflow(&self, name: &str) -> Result<Value> {
        self.http().official_template(name).await
    }
}

#[cfg(test)]
mod tests;
