//! The [`Backend`] trait: one interface over a local ComfyUI, Comfy Cloud and RunComfy.
//!
//! The trait is shaped by what all three can do. Everything is addressed by [`JobId`]; a
//! backend that cannot push events ([`Capabilities::events`] false, e.g. RunComfy) is polled
//! through [`Backend::status`]; a backend that cannot cancel one running job without touching
//! others says so in [`Capabilities::cancel_running`] instead of pretending. Optional operations
//! return [`Error::NotSupported`].

pub mod cloud;
pub mod credentials;
pub mod fleet;
pub(crate) mod http;
pub mod local;
pub mod runcomfy;
mod saved;
pub mod tls;
mod types;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

pub use credentials::{Credential, CredentialProvider, StaticCredential};
pub use saved::{SavedWorkflowInfo, WORKFLOWS_DIR, saved_workflow_name, saved_workflow_path};
pub use types::*;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::job::{FileRef, JobId};

/// A place that runs ComfyUI workflows.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// A short name for logs, errors and the asset registry (e.g. `local:http://127.0.0.1:8188`).
    fn name(&self) -> &str;

    /// Which kind of backend this is, known without a request (labels, readiness, audit).
    fn kind(&self) -> BackendKind {
        BackendKind::Other
    }

    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// Live events of this client's jobs. Backends without push events return a receiver that
    /// only ever sees connection events (or nothing); callers then poll [`Backend::status`].
    fn events(&self) -> broadcast::Receiver<BackendEvent>;

    /// Whether the event channel is connected right now (events may be missed while it is not).
    fn events_connected(&self) -> bool {
        false
    }

    /// Queues a job. The request's `job_id` is used when the backend accepts client-chosen ids.
    async fn submit(&self, request: &JobRequest) -> Result<Submitted>;

    /// Where a job is now; outputs are filled in once it has finished.
    async fn status(&self, job: &JobId) -> Result<RemoteJob>;

    /// Where a job is now, given with the handle recorded at submit. Backends that need their
    /// handle override this; by default it is [`Backend::status`] by id.
    async fn status_of(&self, job: &JobRef) -> Result<RemoteJob> {
        self.status(&job.id).await
    }

    /// Cancels one job: removes it from the queue if pending, interrupts it if running.
    async fn cancel(&self, job: &JobId) -> Result<CancelOutcome>;

    /// Cancels one job, given with the handle recorded at submit; by default [`Backend::cancel`].
    async fn cancel_of(&self, job: &JobRef) -> Result<CancelOutcome> {
        self.cancel(&job.id).await
    }

    /// How this backend wants to be polled (by default: as the client is configured).
    fn poll_policy(&self) -> PollPolicy {
        PollPolicy::default()
    }

    /// The backend's queue.
    async fn queue(&self) -> Result<QueueSnapshot> {
        Err(self.not_supported("queue snapshot"))
    }

    /// Uploads an input file (image, mask, video, audio) for workflows to use.
    async fn upload(&self, _upload: Upload) -> Result<UploadedFile> {
        Err(self.not_supported("upload"))
    }

    /// Makes a hosted file (a previous output's URL) an input without moving its bytes, where
    /// the backend takes URLs as inputs (RunComfy); answers a short input value like
    /// [`Backend::upload`].
    async fn upload_url(&self, _url: &str, _filename: &str) -> Result<UploadedFile> {
        Err(self.not_supported("inputs by URL"))
    }

    /// This backend as RunComfy, for RunComfy's own operations (deployments, requests by id).
    fn as_runcomfy(&self) -> Option<&runcomfy::RunComfy> {
        None
    }

    /// This backend as a [`fleet::Fleet`] of named backends, for routing and per-member calls.
    fn as_fleet(&self) -> Option<&fleet::Fleet> {
        None
    }

    /// Downloads an output as a byte stream with its content type.
    async fn download(&self, file: &FileRef) -> Result<Download>;

    /// Downloads a hosted output by URL (hosted backends).
    async fn download_url(&self, _url: &str) -> Result<Download> {
        Err(self.not_supported("download by URL"))
    }

    /// A self-authorising URL for an output file (a signed storage URL) with its expiry, to hand
    /// to someone who has no credentials for the backend.
    async fn output_url(&self, _file: &FileRef) -> Result<HostedUrl> {
        Err(self.not_supported("self-authorising output URLs"))
    }

    /// The node catalogue, cached; `refresh` fetches it again.
    async fn catalog(&self, _refresh: bool) -> Result<Arc<Catalog>> {
        Err(self.not_supported("node catalogue"))
    }

    /// Model folders (`checkpoints`, `loras`, ...).
    async fn model_folders(&self) -> Result<Vec<String>> {
        Err(self.not_supported("model lists"))
    }

    /// Model files in one folder.
    async fn models(&self, _folder: &str) -> Result<Vec<String>> {
        Err(self.not_supported("model lists"))
    }

    /// Version, devices and free memory.
    async fn health(&self) -> Result<Health>;

    /// The saved workflows (the editor's `workflows/` user-data folder, recursively).
    async fn list_saved_workflows(&self) -> Result<Vec<SavedWorkflowInfo>> {
        Err(self.not_supported("saved workflows"))
    }

    /// One saved workflow's JSON (as the editor saved it: normally UI format). `name` is checked
    /// with [`saved_workflow_name`]; a missing one is [`Error::SavedWorkflowNotFound`].
    async fn get_saved_workflow(&self, _name: &str) -> Result<serde_json::Value> {
        Err(self.not_supported("saved workflows"))
    }

    /// Saves a workflow document under `name`; without `overwrite` an existing one is
    /// [`Error::AlreadyExists`].
    async fn save_workflow(
        &self,
        _name: &str,
        _workflow: &serde_json::Value,
        _overwrite: bool,
    ) -> Result<SavedWorkflowInfo> {
        Err(self.not_supported("saved workflows"))
    }

    /// Deletes a saved workflow.
    async fn delete_saved_workflow(&self, _name: &str) -> Result<()> {
        Err(self.not_supported("saved workflows"))
    }

    /// Renames (moves) a saved workflow; without `overwrite` an existing target is
    /// [`Error::AlreadyExists`].
    async fn move_saved_workflow(
        &self,
        _from: &str,
        _to: &str,
        _overwrite: bool,
    ) -> Result<SavedWorkflowInfo> {
        Err(self.not_supported("saved workflows"))
    }

    /// The official workflow templates index the backend serves (`/templates/index.json` of the
    /// `comfyui-workflow-templates` package), as sent; parse it with
    /// [`crate::gallery::TemplateIndex::from_value`].
    async fn template_index(&self) -> Result<serde_json::Value> {
        Err(self.not_supported("official workflow templates"))
    }

    /// One official template's workflow (UI format), by its index name.
    async fn template_workflow(&self, _name: &str) -> Result<serde_json::Value> {
        Err(self.not_supported("official workflow templates"))
    }

    /// Which kind of backend this is and the state of its credential (checked with the
    /// backend where that is free of side effects). Never fails: what cannot be checked is
    /// [`AuthState::Configured`].
    async fn identity(&self) -> BackendIdentity {
        BackendIdentity::default()
    }

    /// Whether [`Backend::billing`] answers (the backend has an account with a balance).
    /// Tool servers list billing tools only where it does.
    fn has_billing(&self) -> bool {
        false
    }

    /// Whether a key for partner (paid API) nodes is configured, so partner node workflows can
    /// run (the same as [`BackendIdentity::partner_nodes_key`], known without a request).
    fn has_partner_key(&self) -> bool {
        false
    }

    /// The account's balance and subscription, where the backend has billing.
    async fn billing(&self) -> Result<BillingStatus> {
        Err(self.not_supported("billing status"))
    }

    /// Why this backend does not have `operation` (one of the names the default methods pass to
    /// [`Backend::not_supported`]); backends override it to say why and what to use instead.
    fn unsupported_reason(&self, operation: &'static str) -> String {
        format!("the {} backend has no API for {operation}", self.name())
    }

    /// The error for an operation this backend does not have, with its reason.
    fn not_supported(&self, operation: &'static str) -> Error {
        Error::NotSupported {
            backend: self.name().to_owned(),
            operation,
            reason: self.unsupported_reason(operation),
        }
    }
}
