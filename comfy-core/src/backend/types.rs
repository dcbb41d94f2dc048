//! Requests, answers and events of the [`Backend`](super::Backend) trait.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::job::{FileRef, FolderType, JobFailure, JobId, JobOutput, JobStatus, Provenance};
use crate::workflow::{NodeId, Workflow};

/// How a backend can stop a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CancelScope {
    /// Exactly the one job (ComfyUI's `/interrupt` with a `prompt_id`).
    Job,
    /// Only by interrupting everything the account runs (Comfy Cloud's `/interrupt`).
    Account,
    /// Running jobs cannot be stopped.
    None,
}

/// What a backend supports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Capabilities {
    /// Pushes live events (progress, outputs) instead of being polled.
    pub events: bool,
    /// Sends preview images while sampling.
    pub previews: bool,
    /// Can remove a pending job from its queue.
    pub cancel_pending: bool,
    /// How a running job can be stopped.
    pub cancel_running: CancelScope,
    /// Has a queue that can be listed.
    pub queue: bool,
    /// Accepts uploads of input files.
    pub upload: bool,
    /// Serves its node catalogue.
    pub catalog: bool,
    /// Lists model files.
    pub models: bool,
    /// Runs only some outputs of a workflow.
    pub partial_execution: bool,
    /// Accepts a client-chosen job id.
    pub client_job_ids: bool,
}

/// A job to submit.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The API-format workflow.
    pub workflow: Workflow,
    /// Run only these output nodes (and what they need).
    pub outputs: Option<Vec<NodeId>>,
    /// Put it at the front of the queue.
    pub front: bool,
    /// Extra fields for ComfyUI's `extra_data` (e.g. `extra_pnginfo`); credentials are added by
    /// the backend from its configuration, never from here.
    pub extra_data: Map<String, Value>,
    /// A client-chosen job id (generated when absent).
    pub job_id: Option<JobId>,
    /// Template, parameters and owner, recorded with the job and its assets.
    pub provenance: Provenance,
    /// Run on this named backend (pinning, when the client has several: see
    /// [`Fleet`](super::fleet::Fleet)); `None`: routing picks one. A single backend answers to
    /// its kind (`local`, `comfy-cloud`, `runcomfy`) and its own name.
    pub backend: Option<String>,
    /// When the backend that accepted the job is lost with it (it stops answering for
    /// [`ClientOptions::unreachable_after`](crate::ClientOptions::unreachable_after), or no
    /// longer knows the job), submit it again to another healthy backend of the fleet instead
    /// of failing it. Off by default: the job may then have run partly (or wholly) on the lost
    /// backend, so only the caller can say a second run is acceptable. Never applies to a job
    /// pinned with [`backend`](Self::backend).
    pub resubmit_if_lost: bool,
}

impl JobRequest {
    /// A request for a whole workflow.
    pub fn new(workflow: Workflow) -> Self {
        JobRequest {
            workflow,
            outputs: None,
            front: false,
            extra_data: Map::new(),
            job_id: None,
            provenance: Provenance::default(),
            backend: None,
            resubmit_if_lost: false,
        }
    }

    /// The request as JSON for persistence (no credentials are ever in it); a pinned backend
    /// is kept as `backend`, and `resubmit_if_lost` when set.
    pub fn to_record(&self) -> Value {
        let mut record = serde_json::json!({
            "workflow": self.workflow.to_value(),
            "outputs": self.outputs,
            "front": self.front,
            "extra_data": self.extra_data,
        });
        if let (Some(pin), Some(fields)) = (&self.backend, record.as_object_mut()) {
            fields.insert("backend".into(), Value::String(pin.clone()));
        }
        if let (true, Some(fields)) = (self.resubmit_if_lost, record.as_object_mut()) {
            fields.insert("resubmit_if_lost".into(), Value::Bool(true));
        }
        record
    }
}

/// The backend's answer to a submit.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The job id: the requested one, or the one the backend assigned (hosted backends choose
    /// their own ids; the client re-keys the job then).
    pub job_id: JobId,
    /// Whatever else the backend needs to find the job again (status, result and cancel URLs,
    /// a deployment id, ...), opaque to everyone else. It is recorded with the job and handed
    /// back through [`JobRef`], also after a restart.
    pub handle: Option<Value>,
    /// The queue number ComfyUI assigned.
    pub number: Option<f64>,
    /// Outputs ComfyUI dropped because they failed validation (the rest runs).
    pub node_errors: Value,
}

/// A job as a backend addresses it: its id and the opaque handle the backend returned when it
/// was submitted ([`Submitted::handle`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JobRef {
    /// The job id.
    pub id: JobId,
    /// The backend's handle, if it gave one.
    pub handle: Option<Value>,
    /// The name of the backend the job's record says runs it (a fleet sends every call on the
    /// job there, and nowhere else); `None` when not known.
    pub backend: Option<String>,
}

impl From<&JobId> for JobRef {
    fn from(id: &JobId) -> Self {
        JobRef { id: id.clone(), handle: None, backend: None }
    }
}

/// How a backend wants to be polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// Poll a job no more often than this (hosted backends bill or rate-limit status reads).
    pub min_interval: std::time::Duration,
    /// How long after it was submitted (or reattached) a job the backend says it does not know
    /// is still given the benefit of the doubt: an eventually-consistent hosted backend may not
    /// list a job it has just accepted.
    pub not_found_grace: std::time::Duration,
}

impl Default for PollPolicy {
    /// No opinion: the client's own interval and lost-job delay apply.
    fn default() -> Self {
        PollPolicy { min_interval: std::time::Duration::ZERO, not_found_grace: std::time::Duration::ZERO }
    }
}

/// A job as the backend sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteJob {
    /// Current status.
    pub status: JobStatus,
    /// Every output, once the job has finished (empty before).
    pub outputs: Vec<JobOutput>,
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// It was pending and is no longer in the queue.
    RemovedFromQueue,
    /// It was running and the backend confirmed the interrupt.
    Interrupted,
    /// An interrupt was sent; the job will stop at its next node boundary.
    InterruptRequested,
    /// It had already finished.
    AlreadyFinished,
    /// The backend accepted the cancel request; the job stops when the backend gets to it
    /// (hosted backends cancel asynchronously). Poll its status to see it end.
    CancelRequested,
    /// The backend cannot cancel this job without touching others (a running job on a backend
    /// whose only stop is an account-wide interrupt, which was not allowed), or refused to.
    NotCancellable,
}

impl CancelOutcome {
    /// The stable snake_case name (the same as its serde form), for surfaces that show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RemovedFromQueue => "removed_from_queue",
            Self::Interrupted => "interrupted",
            Self::InterruptRequested => "interrupt_requested",
            Self::AlreadyFinished => "already_finished",
            Self::CancelRequested => "cancel_requested",
            Self::NotCancellable => "not_cancellable",
        }
    }
}

/// One entry of a backend queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct QueueEntry {
    /// The job id.
    pub job_id: JobId,
    /// Queue number (lower runs first).
    pub number: f64,
    /// Submitted by this client.
    pub ours: bool,
}

/// The queue: what runs now and what waits, in run order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct QueueSnapshot {
    /// Running now.
    pub running: Vec<QueueEntry>,
    /// Waiting, first to run first.
    pub pending: Vec<QueueEntry>,
}

impl QueueSnapshot {
    /// Position of a pending job (0 = next), if it is pending.
    pub fn position(&self, job: &JobId) -> Option<u32> {
        self.pending.iter().position(|e| &e.job_id == job).map(|p| p as u32)
    }

    /// Whether a job is running.
    pub fn is_running(&self, job: &JobId) -> bool {
        self.running.iter().any(|e| &e.job_id == job)
    }
}

/// What an upload is.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadKind {
    /// A plain file (images, video, audio, 3D) for LoadImage-style nodes.
    File,
    /// A mask whose alpha replaces the alpha of `original`.
    Mask {
        /// The image the mask belongs to.
        original: FileRef,
    },
}

/// An input file to upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// File name to store it under.
    pub filename: String,
    /// The bytes.
    pub data: Bytes,
    /// Sub-folder ("" for none).
    pub subfolder: String,
    /// Folder (normally `input`).
    pub folder: FolderType,
    /// Replace a file of the same name.
    pub overwrite: bool,
    /// File or mask.
    pub kind: UploadKind,
}

impl Upload {
    /// An input file upload.
    pub fn file(filename: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Upload {
            filename: filename.into(),
            data: data.into(),
            subfolder: String::new(),
            folder: FolderType::Input,
            overwrite: false,
            kind: UploadKind::File,
        }
    }

    /// Checks what can be checked before sending: a name without path tricks, some bytes.
    pub fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidArgument { argument: "upload".into(), message: m.into() });
        if self.data.is_empty() {
            return bad("the file is empty (0 bytes)");
        }
        if self.filename.trim().is_empty() {
            return bad("the file name is empty");
        }
        if self.filename.contains('/') || self.filename.contains('\\') || self.filename.contains("..") {
            return bad("the file name must not contain a path (use `subfolder`)");
        }
        // Percent-encoded dots and separators count as what they encode (a proxy may decode
        // them); drive letters, UNC paths and control characters are refused too.
        let decoded = ["%2e", "%2E", "%2f", "%2F", "%5c", "%5C"]
            .iter()
            .zip([".", ".", "/", "/", "\\", "\\"])
            .fold(self.subfolder.clone(), |s, (from, to)| s.replace(from, to));
        if decoded.split(['/', '\\']).any(|p| p == "..")
            || decoded.starts_with(['/', '\\'])
            || decoded.contains(':')
            || decoded.chars().any(char::is_control)
        {
            return bad("the subfolder must stay inside the folder (no `..`, not absolute)");
        }
        Ok(())
    }
}

/// Where an uploaded file landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct UploadedFile {
    /// Final name (may differ from the requested one when it was taken).
    pub name: String,
    /// Sub-folder.
    pub subfolder: String,
    /// Folder.
    #[serde(rename = "type")]
    pub folder: FolderType,
}

impl UploadedFile {
    /// The value to put in a LoadImage-style input.
    pub fn input_value(&self) -> String {
        let path = if self.subfolder.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.subfolder, self.name)
        };
        match self.folder {
            FolderType::Input => path,
            other => format!("{path} [{}]", other.as_str()),
        }
    }
}

/// A URL that serves an output by itself (a signed storage URL): whoever has it can fetch the
/// file without credentials until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct HostedUrl {
    /// The URL, to be used verbatim (its query carries the signature).
    pub url: String,
    /// When it stops working (milliseconds since the Unix epoch), when known.
    pub expires_at: Option<i64>,
}

/// A download in progress.
pub struct Download {
    /// `Content-Type`, when the backend sent one.
    pub content_type: Option<String>,
    /// `Content-Length`, when known.
    pub content_length: Option<u64>,
    /// The bytes, as they arrive.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("content_type", &self.content_type)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// Collects the whole body, refusing more than `max_bytes` ([`Error::TooLarge`]).
    pub async fn bytes(mut self, max_bytes: u64) -> Result<Bytes> {
        if self.content_length.is_some_and(|n| n > max_bytes) {
            return Err(Error::TooLarge {
                what: "the download".into(),
                size: self.content_length.unwrap_or(0),
                limit: max_bytes,
                hint: Some("the limit is the server's max_asset_bytes".into()),
            });
        }
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = self.stream.next().await {
            let chunk = chunk?;
            if buf.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(Error::TooLarge {
                    what: "the download".into(),
                    size: buf.len() as u64 + chunk.len() as u64,
                    limit: max_bytes,
                    hint: Some("the limit is the server's max_asset_bytes".into()),
                });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

/// A compute device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    /// Device name.
    pub name: String,
    /// `cuda`, `cpu`, `mps`, ...
    pub kind: String,
    /// Total VRAM in bytes.
    pub vram_total: Option<u64>,
    /// Free VRAM in bytes.
    pub vram_free: Option<u64>,
}

/// Backend health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// ComfyUI version.
    pub version: Option<String>,
    /// Devices.
    pub devices: Vec<Device>,
    /// Free system RAM in bytes.
    pub ram_free: Option<u64>,
    /// The raw answer, for anything else.
    #[serde(skip)]
    pub raw: Value,
}

/// A live event of one job. Its `serde` form (`{"type": "started"}`, `{"type": "progress",
/// "data": {...}}`) is how servers of one store relay events to each other; previews are not
/// relayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum JobEvent {
    /// Full status, sent first to every subscriber and after reconciliations.
    Status(JobStatus),
    /// The backend started running it.
    Started,
    /// Nodes served from the backend's cache (they will not run).
    Cached {
        /// Node ids.
        nodes: Vec<String>,
    },
    /// A node started.
    Executing {
        /// Node id.
        node_id: String,
    },
    /// A node finished.
    NodeFinished {
        /// Node id.
        node_id: String,
    },
    /// Step progress within a node (samplers).
    Progress {
        /// Node id, when known.
        node_id: Option<String>,
        /// Steps done.
        value: u64,
        /// Steps in all.
        max: u64,
    },
    /// A node produced outputs.
    Outputs(Vec<JobOutput>),
    /// A preview image while sampling.
    #[serde(skip)]
    Preview {
        /// Node id, when the backend said.
        node_id: Option<String>,
        /// `image/png` or `image/jpeg`.
        mime: String,
        /// The image.
        data: Bytes,
    },
    /// Progress text from a node.
    Text {
        /// Node id, when known.
        node_id: Option<String>,
        /// The text.
        text: String,
    },
    /// Finished successfully (outputs follow from [`Backend::status`](super::Backend::status)).
    Succeeded,
    /// Failed.
    Failed(JobFailure),
    /// Interrupted.
    Interrupted,
    /// The backend is done with the job (success, error or interrupt): its final status and
    /// outputs can be read now.
    Done,
}

/// An event from a backend.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    /// Something happened to one job.
    Job {
        /// Which job.
        job_id: JobId,
        /// What.
        event: JobEvent,
    },
    /// An event without a job id (legacy previews, progress text): it belongs to whichever of
    /// this client's jobs is running now.
    Unaddressed(JobEvent),
    /// The number of queued and running prompts changed.
    QueueRemaining(u32),
    /// The event channel is (re)connected. Events may have been missed before it: reconcile.
    Connected,
    /// The event channel dropped; until `Connected`, poll.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// Which kind of backend this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// A ComfyUI server (local or behind a proxy).
    Local,
    /// Comfy Cloud.
    ComfyCloud,
    /// RunComfy's Serverless API.
    #[serde(rename = "runcomfy")]
    RunComfy,
    /// Any other implementation of the trait.
    Other,
}

impl BackendKind {
    /// The kind as configuration names it (`local`, `comfy-cloud`, `runcomfy`), or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::ComfyCloud => "comfy-cloud",
            BackendKind::RunComfy => "runcomfy",
            BackendKind::Other => "other",
        }
    }

    /// Whether runs on it are paid for by the account (a hosted backend).
    pub fn is_hosted(self) -> bool {
        matches!(self, BackendKind::ComfyCloud | BackendKind::RunComfy)
    }
}

/// Whether the backend accepts our credential. Never carries the credential itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuthState {
    /// No credential is configured (normal for a local ComfyUI).
    NotConfigured,
    /// A credential is configured; the backend has no way to check it without side effects.
    Configured,
    /// The backend accepted the credential just now.
    Accepted,
    /// The backend rejected the credential just now (401/403).
    Rejected,
}

/// Who the backend is and how we talk to it, for `server_info`; no secrets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BackendIdentity {
    /// Which kind of backend.
    pub kind: BackendKind,
    /// The state of the credential for the backend itself.
    pub auth: AuthState,
    /// The account's status as the backend reports it (Comfy Cloud: `active`, `waitlisted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_status: Option<String>,
    /// A Comfy API key for partner (API) nodes is configured.
    pub partner_nodes_key: bool,
}

impl Default for BackendIdentity {
    fn default() -> Self {
        BackendIdentity {
            kind: BackendKind::Other,
            auth: AuthState::NotConfigured,
            account_status: None,
            partner_nodes_key: false,
        }
    }
}

/// Comfy Cloud's rate: credits per US dollar.
pub const CREDITS_PER_USD: f64 = 211.0;

/// An account's balance and subscription, where the backend has billing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BillingStatus {
    /// Spendable balance in US dollars (the first non-zero of the backend's balance fields).
    pub balance_usd: Option<f64>,
    /// The same balance in credits (211 credits per dollar).
    pub balance_credits: Option<f64>,
    /// Subscription facts as the backend reports them (tier, status, renewal, ...): its
    /// top-level scalar fields only.
    pub subscription: Map<String, Value>,
}

impl BillingStatus {
    /// Builds the status from Comfy Cloud's `/api/billing/status` and `/api/billing/balance`
    /// answers. The balance is the first present, non-zero field of `effective_balance_micros`,
    /// `amount_micros`, `prepaid_balance_micros`, `cloud_credit_balance_micros` (zero when all
    /// present ones are zero; unknown when none is present).
    pub fn from_cloud(status: &Value, balance: &Value) -> BillingStatus {
        const FIELDS: [&str; 4] = [
            "effective_balance_micros",
            "amount_micros",
            "prepaid_balance_micros",
            "cloud_credit_balance_micros",
        ];
        let present: Vec<f64> =
            FIELDS.iter().filter_map(|f| balance.get(*f).and_then(Value::as_f64)).collect();
        let micros = present.iter().copied().find(|m| *m != 0.0).or_else(|| present.first().copied());
        let balance_usd = micros.map(|m| m / 1_000_000.0);
        let subscription = status
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| !(v.is_object() || v.is_array()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        BillingStatus {
            balance_usd,
            balance_credits: balance_usd.map(|usd| (usd * CREDITS_PER_USD * 100.0).round() / 100.0),
            subscription,
        }
    }
}

#[cfg(test)]
mod upload_tests {
    use super::*;

    #[test]
    fn upload_subfolders_stay_inside_also_when_encoded() {
        let with = |sub: &str| {
            let mut u = Upload::file("a.png", bytes::Bytes::from_static(b"png"));
            u.subfolder = sub.to_owned();
            u.check()
        };
        for bad in
            ["../x", "a/../../x", "/etc", "\\\\server\\share", "%2e%2e/x", "a%2F..%2fb", "C:\\x", "a\u{0}"]
        {
            assert!(with(bad).is_err(), "{bad:?}");
        }
        for ok in ["", "refs", "team/2026", "a.b"] {
            assert!(with(ok).is_ok(), "{ok:?}");
        }
    }
}
