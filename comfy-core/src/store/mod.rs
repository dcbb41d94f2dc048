//! Persistence of jobs and assets: the [`Store`] trait and its implementations.
//!
//! Every output becomes an [`Asset`] with a stable id and full provenance. Jobs are recorded
//! as [`JobRecord`]s so that after a restart they can be listed and reattached to.
//! [`MemoryStore`] keeps everything in memory (tests, embedding); `SqliteStore` is the
//! embedded default, in a file under the user's data directory, with versioned migrations;
//! `PostgresStore` (the `postgres` feature) is a database several servers share.
//! [`copy_store`] copies one store's records into another (e.g. SQLite into PostgreSQL).

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod columns;
mod copy;
mod memory;
#[cfg(feature = "sqlite")]
mod migrations;
#[cfg(feature = "postgres")]
mod postgres;
pub mod shared;
#[cfg(feature = "sqlite")]
mod sqlite;
mod time;
mod url;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use copy::{CopyCounts, CopyReport, copy_store};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{CALL_TIMEOUT, PoolOptions, PostgresStore};
pub use shared::{SharedClaim, SharedState, Signal, SignalBody, Subject};
#[cfg(feature = "sqlite")]
pub use sqlite::{DATA_DIR_ENV, SqliteStore};
pub use time::parse_time;
pub use url::{is_postgres_url, redact_url};

use crate::error::Result;
pub use crate::job::Provenance;
use crate::job::{FileRef, JobId, JobOutput, JobStatus, MediaKind};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How many items a list returns when its query's `limit` is 0.
pub const DEFAULT_LIMIT: usize = 100;

/// The limit a query actually applies: `limit`, or [`DEFAULT_LIMIT`] when it is 0.
pub(crate) fn effective_limit(limit: usize) -> usize {
    if limit == 0 { DEFAULT_LIMIT } else { limit }
}

/// A stable asset id (`a_` + 24 hex digits), derived from where the output came from, so
/// collecting the same job's outputs twice never creates duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct AssetId(pub String);

impl AssetId {
    /// The id for output `index` under `key` of node `node_id` in job `job_id` on `backend`.
    pub fn derive(backend: &str, job_id: &JobId, node_id: &str, key: &str, index: u32) -> AssetId {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [backend, job_id.as_str(), node_id, key] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update(index.to_le_bytes());
        let digest = hex::encode(h.finalize());
        AssetId(format!("a_{}", &digest[..24]))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AssetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A persisted job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id (the prompt id on a local ComfyUI).
    pub id: JobId,
    /// Name of the backend that runs it. A job belongs to that backend: it is never looked up
    /// on, reconciled against or cancelled through another one.
    pub backend: String,
    /// The backend's opaque handle for the job ([`Submitted::handle`](crate::backend::Submitted)),
    /// when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Value>,
    /// What was submitted (workflow and options), as JSON.
    pub request: Value,
    /// Canonical hash of the submitted workflow.
    pub workflow_hash: String,
    /// Template, parameters and owner.
    #[serde(default)]
    pub provenance: Provenance,
    /// Last known status.
    pub status: JobStatus,
    /// Every output collected so far.
    #[serde(default)]
    pub outputs: Vec<JobOutput>,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// One output with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Asset {
    /// Stable id.
    pub id: AssetId,
    /// The job that produced it.
    pub job_id: JobId,
    /// The backend it lives on.
    pub backend: String,
    /// The node that produced it.
    pub node_id: String,
    /// UI-output key (`images`, `audio`, ...).
    pub key: String,
    /// Position under that key.
    pub index: u32,
    /// Template, parameters and owner of the job.
    #[serde(default)]
    pub provenance: Provenance,
    /// Canonical hash of the job's workflow.
    pub workflow_hash: String,
    /// The file on the backend, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileRef>,
    /// Hosted URL (cloud backends), when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Text content for text outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// What it is.
    pub media: MediaKind,
    /// MIME type.
    pub mime_type: String,
    /// Size in bytes, once fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_size: Option<u64>,
    /// Image width, once fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Image height, once fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// SHA-256 (hex) of the bytes, once fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// When it was recorded.
    pub created_at: Millis,
    /// When it may be forgotten, if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

/// What is learned about an asset when its bytes are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetContent {
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub byte_size: u64,
    /// Image width, if it is an image.
    pub width: Option<u32>,
    /// Image height, if it is an image.
    pub height: Option<u32>,
    /// MIME type as served, if the backend said.
    pub mime_type: Option<String>,
}

/// Filters for [`Store::list_assets`]; newest first.
#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    /// At most this many (0 = 100).
    pub limit: usize,
    /// Only this job's.
    pub job_id: Option<JobId>,
    /// Only from this template.
    pub template: Option<String>,
    /// Only created at or after this time.
    pub since: Option<Millis>,
    /// Only this owner's.
    pub owner: Option<String>,
}

/// Filters for [`Store::list_jobs`]; newest first.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// At most this many (0 = 100).
    pub limit: usize,
    /// Only jobs that are not finished (to reattach after a restart).
    pub unfinished_only: bool,
    /// Only this backend's.
    pub backend: Option<String>,
    /// Only this owner's.
    pub owner: Option<String>,
    /// Only jobs whose workflow has this canonical hash ([`Workflow::canonical_hash`](crate::workflow::Workflow::canonical_hash)).
    pub workflow_hash: Option<String>,
}

/// A persisted batch ([`Comfy::submit_batch`](crate::Comfy::submit_batch)): every item's
/// prepared request, and the job it became once submitted, so that a restart continues it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// Batch id (`b_` + 32 hex digits).
    pub id: String,
    /// Name of the backend its jobs run on.
    pub backend: String,
    /// The items, in order.
    pub items: Vec<BatchItemRecord>,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// One item of a [`BatchRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItemRecord {
    /// The prepared request ([`JobRequest::to_record`](crate::backend::JobRequest::to_record)).
    pub request: Value,
    /// Template, parameters and owner of the item.
    #[serde(default)]
    pub provenance: Provenance,
    /// Its job, once submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// Why the backend refused it (the item then never runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BatchRecord {
    /// How many items are neither submitted nor refused.
    pub fn unsubmitted(&self) -> usize {
        self.items.iter().filter(|i| i.job_id.is_none() && i.error.is_none()).count()
    }
}

/// Filters for [`Store::list_batches`]; newest first.
#[derive(Debug, Clone, Default)]
pub struct BatchQuery {
    /// At most this many (0 = 100).
    pub limit: usize,
    /// Only batches with items still to submit (to continue after a restart).
    pub unsubmitted_only: bool,
    /// Only this backend's.
    pub backend: Option<String>,
}

/// Where jobs and assets are kept. Every write is durable when it returns.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Inserts or replaces a job record.
    async fn put_job(&self, job: &JobRecord) -> Result<()>;
    /// A job by id.
    async fn get_job(&self, id: &JobId) -> Result<Option<JobRecord>>;
    /// Jobs, newest first.
    async fn list_jobs(&self, query: &JobQuery) -> Result<Vec<JobRecord>>;
    /// Inserts assets; an asset whose id is already stored is left as it is (idempotent).
    async fn put_assets(&self, assets: &[Asset]) -> Result<()>;
    /// Records a job and its assets together, as a finished job is recorded: the assets as
    /// [`put_assets`](Store::put_assets) does, then the job as [`put_job`](Store::put_job).
    /// Durable when it returns, like every write. A store that can do both in one transaction
    /// (one commit, so one sync to disk instead of two) overrides it; the default writes the
    /// assets first, so a failure in between leaves an unfinished job to reconcile again.
    async fn put_job_with_assets(&self, job: &JobRecord, assets: &[Asset]) -> Result<()> {
        self.put_assets(assets).await?;
        self.put_job(job).await
    }
    /// An asset by id.
    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>>;
    /// Assets, newest first.
    async fn list_assets(&self, query: &AssetQuery) -> Result<Vec<Asset>>;
    /// Records what was learned by fetching an asset's bytes.
    async fn set_asset_content(&self, id: &AssetId, content: &AssetContent) -> Result<()>;
    /// Deletes assets whose `expires_at` is before `now`; returns how many.
    async fn purge_expired(&self, now: Millis) -> Result<u64>;
    /// Inserts or replaces a batch.
    async fn put_batch(&self, batch: &BatchRecord) -> Result<()>;
    /// A batch by id.
    async fn get_batch(&self, id: &str) -> Result<Option<BatchRecord>>;
    /// Batches, newest first.
    async fn list_batches(&self, query: &BatchQuery) -> Result<Vec<BatchRecord>>;
    /// The state several servers of this store share (leases, claims, rate budgets, signals),
    /// for a store that several processes use at once; `None` (the default) for an embedded
    /// store, whose one process keeps that state in memory.
    fn shared(&self) -> Option<std::sync::Arc<dyn SharedState>> {
        None
    }
}

impl Asset {
    /// Builds the asset for one job output.
    pub fn from_output(job: &JobRecord, output: &JobOutput, created_at: Millis) -> Asset {
        use crate::job::OutputItem;
        let expires_at = match &output.item {
            OutputItem::Url { expires_at, .. } => *expires_at,
            _ => None,
        };
        let (file, url, text, media, mime) = match &output.item {
            OutputItem::File { file, media, .. } => {
                (Some(file.clone()), None, None, *media, MediaKind::mime_for(&file.filename).to_owned())
            }
            OutputItem::Url { url, filename, media, .. } => (
                None,
                Some(url.clone()),
                None,
                *media,
                MediaKind::mime_for(filename.as_deref().unwrap_or(url.split('?').next().unwrap_or("")))
                    .to_owned(),
            ),
            OutputItem::Text { text } => {
                (None, None, Some(text.clone()), MediaKind::Text, "text/plain".to_owned())
            }
            OutputItem::Value { value } => {
                (None, None, Some(value.to_string()), MediaKind::Other, "application/json".to_owned())
            }
        };
        Asset {
            id: AssetId::derive(&job.backend, &job.id, &output.node_id, &output.key, output.index),
            job_id: job.id.clone(),
            backend: job.backend.clone(),
            node_id: output.node_id.clone(),
            key: output.key.clone(),
            index: output.index,
            provenance: job.provenance.clone(),
            workflow_hash: job.workflow_hash.clone(),
            file,
            url,
            text,
            media,
            mime_type: mime,
            byte_size: None,
            width: None,
            height: None,
            sha256: None,
            created_at,
            expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::OutputItem;

    #[test]
    fn a_hosted_output_url_expires_with_its_asset() {
        let job = JobRecord {
            id: JobId::from("j"),
            backend: "cloud".into(),
            handle: Some(serde_json::json!({"deployment": "d"})),
            request: Value::Null,
            workflow_hash: String::new(),
            provenance: Provenance::default(),
            status: JobStatus::Succeeded,
            outputs: Vec::new(),
            created_at: 1,
            updated_at: 1,
        };
        let output = JobOutput {
            node_id: "9".into(),
            key: "images".into(),
            index: 0,
            item: OutputItem::Url {
                url: "https://cdn.example/o.png?X-Goog-Signature=s".into(),
                filename: Some("o.png".into()),
                media: MediaKind::Image,
                expires_at: Some(5_000),
            },
        };
        let asset = Asset::from_output(&job, &output, 10);
        assert_eq!(asset.expires_at, Some(5_000));
        assert_eq!(asset.mime_type, "image/png");
        assert_eq!(asset.url.as_deref(), Some("https://cdn.example/o.png?X-Goog-Signature=s"));
        let back: JobRecord = serde_json::from_value(serde_json::to_value(&job).unwrap()).unwrap();
        assert_eq!(back, job, "the handle survives serialization");
    }
}
