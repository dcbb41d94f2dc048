//! What every surface shows of a job and its outputs: [`JobReport`], [`AssetSummary`],
//! [`PreviewInfo`]. Plain data (serde, and `schemars` behind the `schemars` feature), so the MCP
//! server, the CLI and the bindings print and describe the same shapes.
//!
//! A surface that adds its own fields (an MCP resource URI, a hint) wraps these types with
//! `#[serde(flatten)]` and puts its own types in the `A` (asset) and `P` (preview) slots of
//! [`JobReport`]; it never re-declares them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::job::{JobFailure, JobStatus, MediaKind, PreviewFrame, Progress};
use crate::store::{Asset, Millis};

/// Longest text output a report carries (in characters); the whole text is in the asset.
pub const REPORT_TEXT_CHARS: usize = 2000;

/// A job's state, without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Created, not yet accepted by the backend.
    Pending,
    /// Waiting in the backend's queue.
    Queued,
    /// Executing.
    Running,
    /// Finished; outputs are available.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl From<&JobStatus> for JobState {
    fn from(s: &JobStatus) -> Self {
        match s {
            JobStatus::Pending => JobState::Pending,
            JobStatus::Queued { .. } => JobState::Queued,
            JobStatus::Running(_) => JobState::Running,
            JobStatus::Succeeded => JobState::Succeeded,
            JobStatus::Failed(_) => JobState::Failed,
            JobStatus::Cancelled => JobState::Cancelled,
        }
    }
}

impl JobState {
    /// The stable name (`pending`, `queued`, `running`, `succeeded`, `failed`, `cancelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// One output of a job, as people and models need it (the full record, with provenance, is
/// the [`Asset`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct AssetSummary {
    /// Stable id.
    pub asset_id: String,
    /// The job that made it.
    pub job_id: String,
    /// The node that made it.
    pub node_id: String,
    /// `image`, `video`, `audio`, `model3d`, `text` or `other`.
    pub kind: MediaKind,
    /// MIME type.
    pub mime_type: String,
    /// File name on the backend, for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The text, for text outputs (cut at 2000 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Image width, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Image height, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Size in bytes, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_size: Option<u64>,
    /// SHA-256 (hex) of the bytes, once fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The template that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Where a hosted backend (RunComfy) serves it, without credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When that URL stops working (ms since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: Millis,
}

impl From<&Asset> for AssetSummary {
    fn from(a: &Asset) -> Self {
        AssetSummary {
            asset_id: a.id.0.clone(),
            job_id: a.job_id.0.clone(),
            node_id: a.node_id.clone(),
            kind: a.media,
            mime_type: a.mime_type.clone(),
            filename: a.file.as_ref().map(|f| f.filename.clone()).or_else(|| {
                let url = a.url.as_deref()?;
                url.split(['?', '#']).next()?.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_owned)
            }),
            text: a.text.as_ref().map(|t| t.chars().take(REPORT_TEXT_CHARS).collect()),
            width: a.width,
            height: a.height,
            byte_size: a.byte_size,
            sha256: a.sha256.clone(),
            template: a.provenance.template.clone(),
            url: a.url.clone(),
            expires_at: a.url.as_ref().and(a.expires_at),
            created_at: a.created_at,
        }
    }
}

/// The newest sampler preview of a job (the bytes are in the [`PreviewFrame`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PreviewInfo {
    /// Frame number from 1; a higher one is a newer picture.
    pub sequence: u64,
    /// The sampler step it shows, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// The sampler's steps, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
}

impl From<&PreviewFrame> for PreviewInfo {
    fn from(f: &PreviewFrame) -> Self {
        PreviewInfo { sequence: f.sequence, step: f.step, max_steps: f.max_steps }
    }
}

/// Where a job is, and (once it succeeded) what it made. `A` and `P` are the asset and preview
/// shapes: [`AssetSummary`] and [`PreviewInfo`] unless a surface adds fields of its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct JobReport<A = AssetSummary, P = PreviewInfo> {
    /// The job handle.
    pub job_id: String,
    /// pending, queued, running, succeeded, failed or cancelled.
    pub status: JobState,
    /// Place in the backend's queue (0 = next), while queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    /// Progress, while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Why it failed (without the traceback; [`crate::Job::status`] has it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobFailure>,
    /// Its outputs, once succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<A>>,
    /// The template parameters used (drawn seeds included), for jobs rendered from a template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    /// The newest sampler preview, while or after the job ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<P>,
}

impl JobReport {
    /// The report of a status alone (no outputs, params or preview).
    pub fn of(job_id: &str, status: &JobStatus) -> JobReport {
        let (queue_position, progress, error) = match status {
            JobStatus::Queued { position } => (*position, None, None),
            JobStatus::Running(p) => {
                let mut p = p.clone();
                p.fraction = p.fraction.clamp(0.0, 1.0);
                (None, Some(p), None)
            }
            JobStatus::Failed(f) => (None, None, Some(JobFailure { traceback: Vec::new(), ..f.clone() })),
            _ => (None, None, None),
        };
        JobReport {
            job_id: job_id.to_owned(),
            status: JobState::from(status),
            queue_position,
            progress,
            error,
            outputs: None,
            params: None,
            preview: None,
        }
    }
}

impl<A, P> JobReport<A, P> {
    /// The same report with other asset and preview shapes (a surface adding its own fields).
    pub fn map<B, Q>(self, asset: impl FnMut(A) -> B, preview: impl FnOnce(P) -> Q) -> JobReport<B, Q> {
        JobReport {
            job_id: self.job_id,
            status: self.status,
            queue_position: self.queue_position,
            progress: self.progress,
            error: self.error,
            outputs: self.outputs.map(|o| o.into_iter().map(asset).collect()),
            params: self.params,
            preview: self.preview.map(preview),
        }
    }

    /// Whether the job has finished (succeeded, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        matches!(self.status, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_keep_the_shape_surfaces_print() {
        let failed = JobStatus::Failed(JobFailure {
            node_id: Some("3".into()),
            message: "boom".into(),
            traceback: vec!["line".into()],
            ..Default::default()
        });
        let v = serde_json::to_value(JobReport::of("j", &failed)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"job_id": "j", "status": "failed", "error": {"node_id": "3", "message": "boom"}})
        );
        let queued = JobReport::of("j", &JobStatus::Queued { position: Some(2) });
        assert_eq!(serde_json::to_value(&queued).unwrap()["queue_position"], 2);
        let mapped: JobReport<String, u8> = queued.map(|a| a.asset_id, |_| 1);
        assert!(!mapped.is_finished());
        assert_eq!(JobState::Cancelled.as_str(), "cancelled");
    }
}
