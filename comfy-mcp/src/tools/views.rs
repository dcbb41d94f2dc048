//! What tools return: jobs and assets as models see them, plus the job-waiting loop with
//! progress notifications and cancellation shared by every tool that waits.

use std::time::Duration;

use comfy_core::backend::JobEvent;
use comfy_core::job::{JobFailure, JobStatus, MediaKind, Progress};
use comfy_core::store::{Asset, AssetId, Millis};
use comfy_core::{Job, Waited};
use rmcp::model::{ContentBlock, ProgressNotificationParam, Resource};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::CallCtx;
use crate::error::ToolError;

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Created, not yet accepted by ComfyUI.
    Pending,
    /// Waiting in ComfyUI's queue.
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

/// Live progress of a running job.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProgressView {
    /// Overall completion, 0.0 to 1.0.
    pub fraction: f64,
    /// The node executing now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Its class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_type: Option<String>,
    /// Sampler step within that node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// Steps of that node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    /// Nodes finished so far.
    pub nodes_done: u32,
    /// Nodes to run in all (0 when unknown).
    pub nodes_total: u32,
}

impl From<&Progress> for ProgressView {
    fn from(p: &Progress) -> Self {
        ProgressView {
            fraction: p.fraction.clamp(0.0, 1.0),
            node_id: p.node_id.clone(),
            class_type: p.class_type.clone(),
            step: p.step,
            max_steps: p.max_steps,
            nodes_done: p.nodes_done,
            nodes_total: p.nodes_total,
        }
    }
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FailureView {
    /// What went wrong.
    pub message: String,
    /// The failing node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Its class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_type: Option<String>,
    /// The Python exception type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_type: Option<String>,
}

impl From<&JobFailure> for FailureView {
    fn from(f: &JobFailure) -> Self {
        FailureView {
            message: crate::error::scrub_paths(&f.message),
            node_id: f.node_id.clone(),
            class_type: f.class_type.clone(),
            exception_type: f.exception_type.clone(),
        }
    }
}

/// One output of a job.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AssetView {
    /// Stable id; read the bytes at `uri`.
    pub asset_id: String,
    /// Resource URI with the bytes (`comfy://assets/<asset_id>`).
    pub uri: String,
    /// The job that made it.
    pub job_id: String,
    /// The node that made it.
    pub node_id: String,
    /// `image`, `video`, `audio`, `model3d`, `text` or `other`.
    pub kind: String,
    /// MIME type.
    pub mime_type: String,
    /// File name in ComfyUI's output folder, for files.
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
    /// The template (workflow tool) that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: Millis,
}

/// The URI of an asset's bytes.
pub fn asset_uri(id: &AssetId) -> String {
    format!("comfy://assets/{}", id.0)
}

impl From<&Asset> for AssetView {
    fn from(a: &Asset) -> Self {
        let kind = serde_json::to_value(a.media).ok().and_then(|v| v.as_str().map(str::to_owned));
        AssetView {
            asset_id: a.id.0.clone(),
            uri: asset_uri(&a.id),
            job_id: a.job_id.0.clone(),
            node_id: a.node_id.clone(),
            kind: kind.unwrap_or_else(|| "other".into()),
            mime_type: a.mime_type.clone(),
            filename: a.file.as_ref().map(|f| f.filename.clone()),
            text: a.text.as_ref().map(|t| t.chars().take(2000).collect()),
            width: a.width,
            height: a.height,
            byte_size: a.byte_size,
            workflow: a.provenance.template.clone(),
            created_at: a.created_at,
        }
    }
}

/// A resource link to an asset's bytes (files only; text is inline in the view).
pub fn asset_link(a: &Asset) -> Option<ContentBlock> {
    if a.file.is_none() && a.url.is_none() {
        return None;
    }
    let name = a.file.as_ref().map_or_else(|| a.id.0.clone(), |f| f.filename.clone());
    let mut r = Resource::new(asset_uri(&a.id), name).with_mime_type(a.mime_type.clone());
    if let Some(n) = a.byte_size {
        r = r.with_size(n);
    }
    if a.media != MediaKind::Other {
        r = r.with_description(format!(
            "{} output of node {} (job {})",
            kind_word(a.media),
            a.node_id,
            a.job_id
        ));
    }
    Some(ContentBlock::resource_link(r))
}

fn kind_word(m: MediaKind) -> &'static str {
    match m {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Model3d => "3D",
        MediaKind::Text => "text",
        MediaKind::Other => "other",
    }
}

/// A job as tools report it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct JobView {
    /// The job handle; pass it to get_job_status, get_output, cancel_job.
    pub job_id: String,
    /// pending, queued, running, succeeded, failed or cancelled.
    pub status: JobState,
    /// Place in ComfyUI's queue (0 = next), while queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    /// Progress, while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureView>,
    /// Its outputs, once succeeded (bytes at each `uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<AssetView>>,
    /// The template parameters used (with drawn seeds), for workflow tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    /// The newest sampler preview, while or after the job ran (ComfyUI sends them when started
    /// with `--preview-method`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewRef>,
    /// What to do next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Where a job's newest preview image is.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PreviewRef {
    /// `comfy://jobs/{job_id}/preview`: the image (or get_job_status with preview=true).
    pub uri: String,
    /// Frame number from 1; a higher one is a newer picture.
    pub sequence: u64,
    /// The sampler step it shows, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// The sampler's steps, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
}

/// The resource URI of a job's newest preview image.
pub fn preview_uri(job_id: &str) -> String {
    format!("comfy://jobs/{job_id}/preview")
}

impl JobView {
    /// Adds the job's newest preview frame, if it sent any.
    pub fn with_preview(mut self, job: &Job) -> Self {
        self.preview = job.latest_preview().map(|f| PreviewRef {
            uri: preview_uri(job.id().as_str()),
            sequence: f.sequence,
            step: f.step,
            max_steps: f.max_steps,
        });
        self
    }

    /// The view of a status (no outputs).
    pub fn of(job_id: &str, status: &JobStatus) -> JobView {
        let (queue_position, progress, error) = match status {
            JobStatus::Queued { position } => (*position, None, None),
            JobStatus::Running(p) => (None, Some(ProgressView::from(p)), None),
            JobStatus::Failed(f) => (None, None, Some(FailureView::from(f))),
            _ => (None, None, None),
        };
        let hint = if status.is_terminal() {
            match status {
                JobStatus::Succeeded => Some("finished; get_output lists the outputs".to_owned()),
                _ => None,
            }
        } else {
            Some("still going: poll get_job_status with this job_id (or cancel_job)".to_owned())
        };
        JobView {
            job_id: job_id.to_owned(),
            status: JobState::from(status),
            queue_position,
            progress,
            error,
            outputs: None,
            params: None,
            preview: None,
            hint,
        }
    }
}

/// The assets of a finished job, and links to their bytes.
pub async fn outputs_of(
    ctx: &CallCtx,
    ids: &[AssetId],
) -> Result<(Vec<AssetView>, Vec<ContentBlock>), ToolError> {
    let mut views = Vec::with_capacity(ids.len());
    let mut links = Vec::new();
    for id in ids {
        let asset = ctx.state.comfy.asset(id).await?;
        views.push(AssetView::from(&asset));
        links.extend(asset_link(&asset));
    }
    Ok((views, links))
}

/// A finished job's view with its outputs and resource links.
pub async fn finished_view(
    ctx: &CallCtx,
    job_id: &str,
    status: &JobStatus,
    assets: &[AssetId],
) -> Result<(JobView, Vec<ContentBlock>), ToolError> {
    let mut view = JobView::of(job_id, status);
    let mut links = Vec::new();
    if *status == JobStatus::Succeeded {
        let (outputs, l) = outputs_of(ctx, assets).await?;
        view.outputs = Some(outputs);
        view.hint = None;
        links = l;
    }
    Ok((view, links))
}

/// Waits for `job` within the server's wait budget, sending progress notifications when the
/// client asked for them. If the client cancels the call, the job is cancelled (only this job).
/// When the budget runs out first, the still-running job's view is returned with a hint to poll.
pub async fn wait_job(ctx: &CallCtx, job: &Job) -> Result<(JobView, Vec<ContentBlock>), ToolError> {
    let budget = ctx.wait_budget;
    let deadline = tokio::time::Instant::now() + budget;
    let mut events = job.subscribe();
    let mut reporter = ProgressReporter::default();
    loop {
        tokio::select! {
            biased;
            _ = ctx.ct.cancelled() => {
                let job = job.clone();
                tokio::spawn(async move {
                    match job.cancel().await {
                        Ok(outcome) => tracing::info!(job = %job.id(), ?outcome, "call cancelled by the client; job cancelled"),
                        Err(e) => tracing::warn!(job = %job.id(), error = %e, "call cancelled; cancelling the job failed"),
                    }
                });
                return Err(ToolError::new("cancelled", "the call was cancelled; its job is being cancelled"));
            }
            _ = tokio::time::sleep_until(deadline) => {
                let mut view = JobView::of(job.id().as_str(), &job.status()).with_preview(job);
                view.hint = Some(format!(
                    "still running after {} s: poll get_job_status with this job_id, then get_output",
                    budget.as_secs()
                ));
                return Ok((view, Vec::new()));
            }
            event = events.next() => {
                match event {
                    Some(JobEvent::Status(s)) if s.is_terminal() => break,
                    None => break,
                    Some(e) => reporter.report(ctx, job, &e).await,
                }
            }
        }
    }
    match job.wait(Duration::from_secs(10)).await? {
        Waited::Finished(result) => {
            reporter.finish(ctx, &result.status).await;
            finished_view(ctx, result.job_id.as_str(), &result.status, &result.assets).await
        }
        Waited::StillRunning(job) => {
            Ok((JobView::of(job.id().as_str(), &job.status()).with_preview(&job), Vec::new()))
        }
    }
}

/// Sends monotonic progress notifications (0–100) with a short message.
#[derive(Debug, Default)]
struct ProgressReporter {
    last: f64,
    last_message: String,
}

impl ProgressReporter {
    async fn report(&mut self, ctx: &CallCtx, job: &Job, event: &JobEvent) {
        let (Some(token), Some(peer)) = (&ctx.progress, &ctx.peer) else { return };
        let status = job.status();
        let fraction = match &status {
            JobStatus::Running(p) => p.fraction,
            _ => 0.0,
        };
        let message = match (event, &status) {
            (JobEvent::Status(JobStatus::Queued { position: Some(p) }), _) => format!("queued, position {p}"),
            (JobEvent::Status(JobStatus::Queued { position: None }), _) => "queued".to_owned(),
            (_, JobStatus::Running(p)) => {
                let mut m = running_message(p);
                // Clients show this text; the URI lets an agent look at the picture so far.
                if let Some(frame) = job.latest_preview() {
                    m.push_str(&format!(
                        ", preview #{} at {}",
                        frame.sequence,
                        preview_uri(job.id().as_str())
                    ));
                }
                m
            }
            (_, JobStatus::Queued { position: Some(p) }) => format!("queued, position {p}"),
            _ => return,
        };
        let mut progress = (fraction.clamp(0.0, 1.0) * 100.0).max(self.last);
        if progress <= self.last {
            if message == self.last_message {
                return;
            }
            // Same fraction, new message: the spec wants progress to increase every time.
            progress = (self.last + 0.001).min(99.999);
            if progress <= self.last {
                return;
            }
        }
        self.last = progress;
        self.last_message = message.clone();
        let param =
            ProgressNotificationParam::new(token.clone(), progress).with_total(100.0).with_message(message);
        if let Err(e) = peer.notify_progress(param).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }

    async fn finish(&mut self, ctx: &CallCtx, status: &JobStatus) {
        let (Some(token), Some(peer)) = (&ctx.progress, &ctx.peer) else { return };
        if self.last >= 100.0 {
            return;
        }
        self.last = 100.0;
        let param = ProgressNotificationParam::new(token.clone(), 100.0)
            .with_total(100.0)
            .with_message(status.name());
        let _ = peer.notify_progress(param).await;
    }
}

fn running_message(p: &Progress) -> String {
    let mut m = String::from("running");
    if let Some(node) = &p.node_id {
        m.push_str(&format!(" node {node}"));
        if let Some(class) = &p.class_type {
            m.push_str(&format!(" ({class})"));
        }
    }
    if let (Some(s), Some(max)) = (p.step, p.max_steps) {
        m.push_str(&format!(", step {s}/{max}"));
    }
    if p.nodes_total > 0 {
        m.push_str(&format!(", {}/{} nodes", p.nodes_done, p.nodes_total));
    }
    m
}
