//! Execution: submit_workflow, get_job_status, get_output, cancel_job, get_queue,
//! validate_workflow.

use comfy_core::Workflow;
use comfy_core::backend::{CancelOutcome, JobRequest};
use comfy_core::job::JobId;
use comfy_core::preview::PREVIEW_DEFAULT_DIM;
use comfy_core::validate::{ValidateOptions, validate_value};
use rmcp::model::ContentBlock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::image_view::bounded_jpeg;
use super::views::{JobView, finished_view, wait_job};
use super::{CallCtx, Output, Registry, ToolDef, ToolResult, job_id_schema, workflow_schema, workflow_value};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "submit_workflow",
            "Submit workflow",
            "Queue a ComfyUI workflow (API or editor format). Returns {job_id, status}. With wait=true, waits (with \
             progress) up to the server's wait budget and returns the outputs, or the job handle if it is \
             still running.",
        ),
        submit_workflow,
    );
    r.add(
        ToolDef::read(
            "get_job_status",
            "Job status",
            "Status of a job: queued (with position), running (with progress), succeeded, failed (with the \
             error) or cancelled. preview=true adds the newest sampler preview as image content.",
        ),
        get_job_status,
    );
    r.add(
        ToolDef::read(
            "get_output",
            "Job outputs",
            "Outputs of a finished job: one entry per image, video, audio or text, with asset_id and a \
             comfy://assets/ URI for the bytes.",
        ),
        get_output,
    );
    r.add(
        ToolDef {
            destructive: true,
            idempotent: true,
            ..ToolDef::write("cancel_job", "Cancel job", "Cancel one job: removed from the queue if waiting, interrupted if running. Other jobs are never touched.")
        },
        cancel_job,
    );
    r.add(
        ToolDef::read("get_queue", "Queue", "ComfyUI's queue: running and pending jobs, in run order."),
        get_queue,
    );
    r.add(
        ToolDef::read(
            "validate_workflow",
            "Validate workflow",
            "Check a workflow (API or editor format) against the server's nodes without running it. \
             Returns every problem with node, input, code, message and suggestions.",
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
}

/// Arguments naming one job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobArgs {
    /// The job handle.
    #[schemars(schema_with = "job_id_schema")]
    pub job_id: String,
}

/// Arguments of get_job_status.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {
    /// The job handle.
    #[schemars(schema_with = "job_id_schema")]
    pub job_id: String,
    /// Also return the newest sampler preview as a JPEG (≤512 px), if the job sent one.
    #[serde(default)]
    pub preview: bool,
}

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Arguments of validate_workflow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateArgs {
    /// The workflow (API or editor format).
    #[schemars(schema_with = "workflow_schema")]
    pub workflow: Value,
}

/// Converts a workflow in either format (editor workflows against the live catalogue) and
/// checks it; refuses it with every problem when it has errors.
pub(crate) async fn checked_workflow(ctx: &CallCtx, value: Value) -> Result<Workflow, ToolError> {
    let catalog = ctx.state.catalog().await?;
    let value = match comfy_core::ui::is_ui(&value) {
        true => comfy_core::ui::to_api(&value, &catalog)?.workflow.to_value(),
        false => value,
    };
    let report = validate_value(&value, &catalog, &ValidateOptions::default());
    if !report.is_ok() {
        return Err(comfy_core::Error::Validation(Box::new(report)).into());
    }
    Ok(Workflow::from_value(value)?)
}

/// Submits a checked workflow under the job cap and waits if asked.
pub(crate) async fn submit_and_maybe_wait(
    ctx: &CallCtx,
    request: JobRequest,
    wait: bool,
) -> ToolResult<JobView> {
    let permit = ctx.state.jobs.admit()?;
    let job = ctx.state.comfy.submit(request).await?;
    permit.track(&job);
    if wait {
        let (view, links) = wait_job(ctx, &job).await?;
        return Ok(Output::from(view).with_content(links));
    }
    let mut view = JobView::of(job.id().as_str(), &job.status());
    view.hint = Some("queued: poll get_job_status with this job_id, then get_output".into());
    Ok(view.into())
}

async fn submit_workflow(ctx: CallCtx, args: SubmitArgs) -> ToolResult<JobView> {
    let value = workflow_value(&args.workflow)?;
    let workflow = checked_workflow(&ctx, value).await?;
    submit_and_maybe_wait(&ctx, JobRequest::new(workflow), args.wait).await
}

async fn get_job_status(ctx: CallCtx, args: StatusArgs) -> ToolResult<JobView> {
    let job = ctx.state.comfy.job(&JobId(args.job_id)).await?;
    let view = JobView::of(job.id().as_str(), &job.status()).with_preview(&job);
    let frame = match (args.preview, job.latest_preview()) {
        (true, Some(frame)) => frame,
        _ => return Ok(view.into()),
    };
    // A glimpse, bounded like view_image.
    let what = format!("the preview of job {}", job.id());
    let (encoded, b64) = bounded_jpeg(frame.data, what, PREVIEW_DEFAULT_DIM, "preview").await?;
    Ok(Output::from(view).with_content(vec![ContentBlock::image(b64, encoded.mime_type)]))
}

async fn get_output(ctx: CallCtx, args: JobArgs) -> ToolResult<JobView> {
    let job = ctx.state.comfy.job(&JobId(args.job_id)).await?;
    let snapshot = job.snapshot();
    if !snapshot.status.is_terminal() {
        let mut view = JobView::of(job.id().as_str(), &snapshot.status);
        view.hint = Some("not finished yet: poll get_job_status, then call get_output again".into());
        return Ok(view.into());
    }
    let (view, links) = finished_view(&ctx, job.id().as_str(), &snapshot.status, &snapshot.assets).await?;
    Ok(Output::from(view).with_content(links))
}

/// The answer of cancel_job.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CancelView {
    /// The job.
    pub job_id: String,
    /// removed_from_queue, interrupted, interrupt_requested or already_finished.
    pub outcome: String,
    /// Its status now.
    pub status: super::views::JobState,
}

async fn cancel_job(ctx: CallCtx, args: JobArgs) -> ToolResult<CancelView> {
    let job = ctx.state.comfy.job(&JobId(args.job_id)).await?;
    let outcome = job.cancel().await?;
    let outcome = match outcome {
        CancelOutcome::RemovedFromQueue => "removed_from_queue",
        CancelOutcome::Interrupted => "interrupted",
        CancelOutcome::InterruptRequested => "interrupt_requested",
        CancelOutcome::AlreadyFinished => "already_finished",
    };
    Ok(CancelView { job_id: job.id().0.clone(), outcome: outcome.into(), status: (&job.status()).into() }
        .into())
}

/// One queue entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueueItem {
    /// The job.
    pub job_id: String,
    /// Submitted through this server.
    pub ours: bool,
}

/// The answer of get_queue.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueueView {
    /// Running now.
    pub running: Vec<QueueItem>,
    /// Waiting, next first.
    pub pending: Vec<QueueItem>,
    /// Jobs this server is running (the cap is max_running_jobs).
    pub ours_active: usize,
}

async fn get_queue(ctx: CallCtx, _: NoArgs) -> ToolResult<QueueView> {
    let q = ctx.state.comfy.queue().await?;
    let item = |e: &comfy_core::backend::QueueEntry| QueueItem { job_id: e.job_id.0.clone(), ours: e.ours };
    Ok(QueueView {
        running: q.running.iter().map(item).collect(),
        pending: q.pending.iter().map(item).collect(),
        ours_active: ctx.state.jobs.running(),
    }
    .into())
}

/// One problem in a workflow.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProblemView {
    /// error or warning.
    pub severity: String,
    /// Stable code (unknown_class, required_input_missing, value_not_in_list, ...).
    pub code: String,
    /// The node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Its class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_type: Option<String>,
    /// The input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
    /// Did-you-mean candidates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

/// The answer of validate_workflow.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidationView {
    /// No errors (warnings allowed).
    pub valid: bool,
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Every problem, errors first.
    pub problems: Vec<ProblemView>,
    /// For an editor workflow: what its conversion to the API format had to guess or leave out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversion_warnings: Vec<String>,
}

async fn validate_workflow(ctx: CallCtx, args: ValidateArgs) -> ToolResult<ValidationView> {
    let value = workflow_value(&args.workflow)?;
    let catalog = ctx.state.catalog().await?;
    let mut conversion_warnings = Vec::new();
    let value = match comfy_core::ui::is_ui(&value) {
        true => {
            let converted = comfy_core::ui::to_api(&value, &catalog)?;
            conversion_warnings = converted.warnings;
            converted.workflow.to_value()
        }
        false => value,
    };
    let report = validate_value(&value, &catalog, &ValidateOptions::default());
    let problems = report
        .problems
        .iter()
        .map(|p| ProblemView {
            severity: match p.severity {
                comfy_core::validate::Severity::Error => "error".into(),
                comfy_core::validate::Severity::Warning => "warning".into(),
            },
            code: p.code.as_str().into(),
            node_id: p.node_id.as_ref().map(|n| n.0.clone()),
            class_type: p.class_type.clone(),
            input: p.input.clone(),
            message: p.message.clone(),
            suggestions: p.suggestions.clone(),
        })
        .collect();
    Ok(ValidationView {
        valid: report.is_ok(),
        errors: report.errors().count(),
        warnings: report.warnings().count(),
        problems,
        conversion_warnings,
    }
    .into())
}
