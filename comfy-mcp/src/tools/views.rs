//! What tools return about jobs and assets: the core's [`JobReport`] and [`AssetSummary`] plus
//! what only MCP has (resource URIs, hints, resource-link content blocks), and the one place
//! that waits for a job with progress notifications and cancellation.

use comfy_core::backend::JobRequest;
use comfy_core::job::JobStatus;
use comfy_core::store::{Asset, AssetId};
use comfy_core::{AssetSummary, Job, JobReport, JobState, PreviewInfo, ReusedFrom, SubmitOptions, Update};
use rmcp::model::{ContentBlock, ProgressNotificationParam, Resource};
use schemars::JsonSchema;
use serde::Serialize;

use super::{CallCtx, Output, ToolResult};
use crate::error::ToolError;

/// The URI of an asset's bytes.
pub fn asset_uri(id: &str) -> String {
    format!("comfy://assets/{id}")
}

/// The resource URI of a job's newest preview image.
pub fn preview_uri(job_id: &str) -> String {
    format!("comfy://jobs/{job_id}/preview")
}

/// An output as tools show it: the core's summary plus where to read its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LinkedAsset {
    /// The output.
    #[serde(flatten)]
    pub asset: AssetSummary,
    /// Resource URI with the bytes (`comfy://assets/<asset_id>`).
    pub uri: String,
}

impl From<AssetSummary> for LinkedAsset {
    fn from(asset: AssetSummary) -> Self {
        let uri = asset_uri(&asset.asset_id);
        LinkedAsset { asset, uri }
    }
}

impl From<&Asset> for LinkedAsset {
    fn from(a: &Asset) -> Self {
        LinkedAsset::from(AssetSummary::from(a))
    }
}

impl LinkedAsset {
    /// A resource link to the bytes (files only; text is inline).
    pub fn link(&self) -> Option<ContentBlock> {
        let a = &self.asset;
        if a.text.is_some() && a.filename.is_none() {
            return None;
        }
        let name = a.filename.clone().unwrap_or_else(|| a.asset_id.clone());
        let mut r = Resource::new(self.uri.clone(), name).with_mime_type(a.mime_type.clone());
        if let Some(n) = a.byte_size {
            r = r.with_size(n);
        }
        r = r.with_description(
            format!("{:?} output of node {} (job {})", a.kind, a.node_id, a.job_id).to_lowercase(),
        );
        Some(ContentBlock::resource_link(r))
    }
}

/// Where a job's newest preview image is.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LinkedPreview {
    /// `comfy://jobs/{job_id}/preview`: the image (or get_job_status with preview=true).
    pub uri: String,
    /// Which frame.
    #[serde(flatten)]
    pub frame: PreviewInfo,
}

/// A job as tools report it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct JobView {
    /// The job (pass `job_id` to get_job_status, get_output, cancel_job).
    #[serde(flatten)]
    pub report: JobReport<LinkedAsset, LinkedPreview>,
    /// Set when this call started nothing: it reused an earlier identical job of the same owner
    /// (`in_flight`: attached to it while unfinished; `cached`: its result, with `reuse`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<ReusedFrom>,
    /// What to do next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl From<JobReport> for JobView {
    fn from(report: JobReport) -> Self {
        let job_id = report.job_id.clone();
        let mut report =
            report.map(LinkedAsset::from, |frame| LinkedPreview { uri: preview_uri(&job_id), frame });
        if let Some(error) = &mut report.error {
            error.message = crate::error::scrub_paths(&error.message);
        }
        let hint = match report.status {
            JobState::Succeeded if report.outputs.is_none() => {
                Some("finished; get_output lists the outputs".to_owned())
            }
            JobState::Succeeded | JobState::Failed | JobState::Cancelled => None,
            _ => Some("still going: poll get_job_status with this job_id (or cancel_job)".to_owned()),
        };
        JobView { report, reused_from: None, hint }
    }
}

impl JobView {
    /// The view of a status alone (no outputs), for a job whose details are not needed.
    pub fn of(job_id: &str, status: &JobStatus) -> JobView {
        JobView::from(JobReport::of(job_id, status))
    }

    /// The same view with another hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The tool output: the view plus resource links to every output's bytes.
    pub fn into_output(self) -> Output<JobView> {
        let links = self.report.outputs.iter().flatten().filter_map(LinkedAsset::link).collect();
        Output::from(self).with_content(links)
    }
}

/// Where a job is now, with its outputs once finished.
pub async fn job_view(ctx: &CallCtx, job: &Job) -> Result<JobView, ToolError> {
    Ok(JobView::from(ctx.state.comfy.report(job).await?))
}

/// Submits a prepared request (under the client's running-jobs cap) with result reuse
/// ([`SubmitOptions`]) and, if asked, waits for it within the call's wait budget. A reused job
/// is not cancelled when the call is (others may be waiting for it).
pub async fn submit_and_report(
    ctx: &CallCtx,
    request: JobRequest,
    wait: bool,
    options: SubmitOptions,
) -> ToolResult<JobView> {
    let submission = ctx.state.comfy.submit_with(request, options).await?;
    let job = &submission.job;
    let mut out = if wait {
        wait_job_within(ctx, job, ctx.wait_budget, submission.is_new()).await?.into_output()
    } else if submission.is_new() {
        report_submitted(ctx, job, false).await?
    } else {
        let view = job_view(ctx, job).await?;
        let view = if view.report.is_finished() {
            view
        } else {
            view.with_hint(
                "an identical job of yours was already running: poll get_job_status with this job_id",
            )
        };
        view.into_output()
    };
    out.value.reused_from = submission.reused_from;
    Ok(out)
}

/// A job just submitted: waited for within the budget (with `wait`) or its view with a hint.
pub async fn report_submitted(ctx: &CallCtx, job: &Job, wait: bool) -> ToolResult<JobView> {
    if wait {
        return Ok(wait_job(ctx, job).await?.into_output());
    }
    Ok(job_view(ctx, job)
        .await?
        .with_hint("queued: poll get_job_status with this job_id, then get_output")
        .into_output())
}

/// Waits for `job` within the call's wait budget, sending progress notifications when the
/// client asked for them. If the client cancels the call, the job is cancelled (only this job).
/// When the budget runs out first, the still-running job's view comes back with a hint to poll.
pub async fn wait_job(ctx: &CallCtx, job: &Job) -> Result<JobView, ToolError> {
    wait_job_within(ctx, job, ctx.wait_budget, true).await
}

/// Waits for `job` up to `budget` with progress notifications, like [`wait_job`]. When the
/// client cancels the call, the job is cancelled only if `cancel_on_abort` (the call started
/// it); otherwise just the wait ends.
pub async fn wait_job_within(
    ctx: &CallCtx,
    job: &Job,
    budget: std::time::Duration,
    cancel_on_abort: bool,
) -> Result<JobView, ToolError> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut updates = job.follow();
    let mut reporter = ProgressReporter::default();
    loop {
        tokio::select! {
            biased;
            _ = ctx.ct.cancelled() => {
                if !cancel_on_abort {
                    return Err(ToolError::new("cancelled", "the wait was cancelled; the job goes on"));
                }
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
                let view = job_view(ctx, job).await?;
                if view.report.is_finished() {
                    return Ok(view);
                }
                let hint = format!(
                    "still running after {} s: poll get_job_status with this job_id, then get_output",
                    budget.as_secs()
                );
                return Ok(view.with_hint(hint));
            }
            update = updates.next() => match update {
                Some(Update::Finished(result)) => {
                    reporter.finish(ctx, result.status.name()).await;
                    break;
                }
                None => break,
                Some(update) => reporter.report(ctx, job, &update).await,
            }
        }
    }
    job_view(ctx, job).await
}

/// Sends monotonic progress notifications (0–100) with the update's one-line description.
#[derive(Debug, Default)]
struct ProgressReporter {
    last: f64,
    last_message: String,
}

impl ProgressReporter {
    async fn report(&mut self, ctx: &CallCtx, job: &Job, update: &Update) {
        let (Some(token), Some(peer)) = (&ctx.progress, &ctx.peer) else { return };
        let mut message = match (update, job.status()) {
            (Update::Preview(_), JobStatus::Running(p)) => comfy_core::describe_progress(&p),
            (Update::Preview(_), _) => return,
            (u, _) => u.describe(),
        };
        if let (Update::Running(_) | Update::Preview(_), Some(frame)) = (update, job.latest_preview()) {
            // Clients show this text; the URI lets an agent look at the picture so far.
            message.push_str(&format!(", preview #{} at {}", frame.sequence, preview_uri(job.id().as_str())));
        }
        let fraction = match (update, job.status()) {
            (Update::Preview(_), JobStatus::Running(p)) => p.fraction.clamp(0.0, 1.0),
            (u, _) => u.fraction().unwrap_or(0.0),
        };
        let mut progress = (fraction * 100.0).max(self.last);
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

    async fn finish(&mut self, ctx: &CallCtx, status: &str) {
        let (Some(token), Some(peer)) = (&ctx.progress, &ctx.peer) else { return };
        if self.last >= 100.0 {
            return;
        }
        self.last = 100.0;
        let param = ProgressNotificationParam::new(token.clone(), 100.0)
            .with_total(100.0)
            .with_message(status.to_owned());
        let _ = peer.notify_progress(param).await;
    }
}

/// The assets with these ids, linked.
pub async fn linked_assets(ctx: &CallCtx, ids: &[AssetId]) -> Result<Vec<LinkedAsset>, ToolError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(LinkedAsset::from(&ctx.state.comfy.asset(id).await?));
    }
    Ok(out)
}
