//! Execution: submit_workflow, get_job_status, wait_for_job, get_output, cancel_job, get_queue,
//! validate_workflow.

use comfy_core::backend::{CancelOutcome, QueueSnapshot};
use comfy_core::job::JobId;
use comfy_core::preview::PREVIEW_DEFAULT_DIM;
use comfy_core::{Checked, JobState, Source, SubmitOptions};
use rmcp::model::ContentBlock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::shared::{NoArgs, bounded_jpeg, yes};
use super::views::{JobView, job_view, submit_and_report, wait_job_within};
use super::{
    CallCtx, Output, Registry, ToolDef, ToolResult, backend_schema, job_id_schema, workflow_schema,
    workflow_value,
};

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "submit_workflow",
            "Submit workflow",
            "Queue a workflow (API or editor format); returns job_id, or outputs with wait=true.",
        ),
        submit_workflow,
    );
    r.add(
        ToolDef::read(
            "get_job_status",
            "Job status",
            "A job's status, queue position, progress or error. preview=true adds the latest preview image.",
        ),
        get_job_status,
    );
    r.add(
        ToolDef::read(
            "wait_for_job",
            "Wait for job",
            "Wait (with progress) until a job finishes or timeout; returns outputs or status.",
        ),
        wait_for_job,
    );
    r.add(
        ToolDef::read(
            "get_output",
            "Job outputs",
            "A finished job's outputs: asset_id and comfy://assets/ URI of each.",
        ),
        get_output,
    );
    r.add(
        ToolDef {
            destructive: true,
            idempotent: true,
            ..ToolDef::write(
                "cancel_job",
                "Cancel job",
                "Cancel one job: dequeued if waiting, interrupted if running.",
            )
        },
        cancel_job,
    );
    r.add(ToolDef::read("get_queue", "Queue", "The queue: running and pending jobs in order."), get_queue);
    r.add(
        ToolDef::read(
            "validate_workflow",
            "Validate workflow",
            "Check a workflow against the server's nodes without running it; lists every problem.",
        ),
        validate_workflow,
    );
}

/// Arguments of submit_workflow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitArgs {
    /// The workflow (API or editor format).
    #[schemars(schema_with = "workflow_schema")]
    pub workflow: Value,
    /// Wait for the result (up to the server's wait budget) instead of returning at once.
    #[serde(default)]
    pub wait: bool,
    /// Attach to an identical unfinished job of yours instead of running it twice (default true).
    #[serde(default = "yes")]
    pub dedup: bool,
    /// Return the result of an identical job of yours that already succeeded, without running
    /// again (default false; `reused_from` then names that job).
    #[serde(default)]
    pub reuse: bool,
    /// Run on this configured backend (default: routing chooses).
    #[serde(default)]
    #[schemars(schema_with = "backend_schema")]
    pub backend: Option<String>,
    /// If the backend that accepted the job is lost with it (stops answering, or restarts and
    /// forgets it), run it again on another configured backend instead of failing it (default
    /// false: a second run may repeat work the lost backend did; never for a pinned `backend`).
    #[serde(default)]
    pub resubmit_if_lost: bool,
}

/// Arguments naming one job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobArgs {
    /// The job handle.
    #[schemars(schema_with = "job_id_schema")]
    pub job_id: String,
    /// The backend the job runs on (optional; another backend's job is job_not_found).
    #[serde(default)]
    #[schemars(schema_with = "backend_schema")]
    pub backend: Option<String>,
}

/// Arguments of get_job_status.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {
    /// The job handle.
    #[schemars(schema_with = "job_id_schema")]
    pub job_id: String,
    /// Add the latest preview image.
    #[serde(default)]
    pub preview: bool,
    /// The backend the job runs on (optional; another backend's job is job_not_found).
    #[serde(default)]
    #[schemars(schema_with = "backend_schema")]
    pub backend: Option<String>,
}

/// Arguments of wait_for_job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// The job handle.
    #[schemars(schema_with = "job_id_schema")]
    pub job_id: String,
    /// Seconds to wait at most (default and cap: the server's wait budget).
    #[schemars(range(max = 86400))]
    pub timeout: Option<u32>,
    /// The backend the job runs on (optional; another backend's job is job_not_found).
    #[serde(default)]
    #[schemars(schema_with = "backend_schema")]
    pub backend: Option<String>,
}

/// Arguments of validate_workflow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateArgs {
    /// The workflow (API or editor format).
    #[schemars(schema_with = "workflow_schema")]
    pub workflow: Value,
}

async fn submit_workflow(ctx: CallCtx, args: SubmitArgs) -> ToolResult<JobView> {
    let prepared = ctx.state.comfy.prepare(Source::Json(workflow_value(&args.workflow)?)).await?;
    let options = SubmitOptions { dedup: args.dedup, reuse: args.reuse };
    let mut request = prepared.into_request();
    request.backend = args.backend;
    request.resubmit_if_lost = args.resubmit_if_lost;
    submit_and_report(&ctx, request, args.wait, options).await
}

async fn get_job_status(ctx: CallCtx, args: StatusArgs) -> ToolResult<JobView> {
    let job = ctx.state.comfy.job_on(&JobId(args.job_id), args.backend.as_deref()).await?;
    let mut view = job_view(&ctx, &job).await?;
    // The status call does not list outputs (get_output does).
    if view.report.outputs.take().is_some() {
        view.hint = Some("finished; get_output lists the outputs".to_owned());
    }
    let frame = match (args.preview, job.latest_preview()) {
        (true, Some(frame)) => frame,
        _ => return Ok(view.into()),
    };
    // A glimpse, bounded like view_image.
    let what = format!("the preview of job {}", job.id());
    let (encoded, b64) = bounded_jpeg(frame.data, what, PREVIEW_DEFAULT_DIM, "preview").await?;
    Ok(Output::from(view).with_content(vec![ContentBlock::image(b64, encoded.mime_type)]))
}

async fn wait_for_job(ctx: CallCtx, args: WaitArgs) -> ToolResult<JobView> {
    let job = ctx.state.comfy.job_on(&JobId(args.job_id), args.backend.as_deref()).await?;
    let budget = match args.timeout {
        Some(secs) => ctx.wait_budget.min(std::time::Duration::from_secs(secs.into())),
        None => ctx.wait_budget,
    };
    let view = wait_job_within(&ctx, &job, budget, false).await?;
    if !view.report.is_finished() {
        return Ok(view.into());
    }
    Ok(view.into_output())
}

async fn get_output(ctx: CallCtx, args: JobArgs) -> ToolResult<JobView> {
    let job = ctx.state.comfy.job_on(&JobId(args.job_id), args.backend.as_deref()).await?;
    let view = job_view(&ctx, &job).await?;
    if !view.report.is_finished() {
        return Ok(view
            .with_hint("not finished yet: poll get_job_status, then call get_output again")
            .into());
    }
    Ok(view.into_output())
}

/// The answer of cancel_job.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CancelView {
    /// The job.
    pub job_id: String,
    /// What the cancel did.
    pub outcome: CancelOutcome,
    /// Its status now.
    pub status: JobState,
}

async fn cancel_job(ctx: CallCtx, args: JobArgs) -> ToolResult<CancelView> {
    let job = ctx.state.comfy.job_on(&JobId(args.job_id), args.backend.as_deref()).await?;
    let outcome = job.cancel().await?;
    Ok(CancelView { job_id: job.id().0.clone(), outcome, status: JobState::from(&job.status()) }.into())
}

/// The answer of get_queue.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueueView {
    /// Running and pending jobs, in run order (`ours`: submitted through this server).
    #[serde(flatten)]
    pub queue: QueueSnapshot,
    /// Jobs this server is running (the cap is max_running_jobs).
    pub ours_active: usize,
}

async fn get_queue(ctx: CallCtx, _: NoArgs) -> ToolResult<QueueView> {
    let queue = ctx.state.comfy.queue().await?;
    Ok(QueueView { queue, ours_active: ctx.state.comfy.running_jobs() }.into())
}

async fn validate_workflow(ctx: CallCtx, args: ValidateArgs) -> ToolResult<Checked> {
    Ok(ctx.state.comfy.check(Source::Json(workflow_value(&args.workflow)?)).await?.into())
}
