//! Saved workflows (the editor's `workflows/` folder on the ComfyUI server): list, read as a
//! summary, save, and run with overrides addressed as `"<node title or id>.<input>"`. The same
//! run path serves official templates (`template: true`).

use comfy_core::backend::SavedWorkflowInfo;
use comfy_core::{Source, SubmitOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::shared::{NameArgs, NoArgs, SummaryView, blame_name, summary_view, yes};
use super::views::{JobView, submit_and_report};
use super::{CallCtx, Registry, ToolDef, ToolResult, workflow_schema, workflow_value};

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read("list_saved_workflows", "Saved workflows", "Workflows saved in the ComfyUI editor."),
        list_saved_workflows,
    );
    r.add(
        ToolDef::read(
            "get_saved_workflow",
            "Saved workflow",
            "A saved workflow's nodes and editable inputs (the override keys of run_saved_workflow).",
        ),
        get_saved_workflow,
    );
    r.add(
        ToolDef {
            destructive: true,
            ..ToolDef::write(
                "save_workflow",
                "Save workflow",
                "Save a workflow (API or editor format) to the editor's workflows.",
            )
        },
        save_workflow,
    );
    r.add(
        ToolDef::write(
            "run_saved_workflow",
            "Run saved workflow",
            "Run a saved workflow (or official template, template=true) with overrides.",
        ),
        run_saved_workflow,
    );
}

/// The answer of list_saved_workflows.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SavedList {
    /// The saved workflows, by name.
    pub workflows: Vec<SavedWorkflowInfo>,
}

async fn list_saved_workflows(ctx: CallCtx, _: NoArgs) -> ToolResult<SavedList> {
    let workflows = ctx.state.comfy.backend().list_saved_workflows().await?;
    Ok(SavedList { workflows }.into())
}

async fn get_saved_workflow(ctx: CallCtx, args: NameArgs) -> ToolResult<SummaryView> {
    let converted = ctx.state.comfy.saved_workflow(&args.name).await.map_err(blame_name)?;
    Ok(summary_view(&ctx, &args.name, converted).await?.into())
}

/// Arguments of save_workflow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveArgs {
    /// Name to save under (".json" added; folders with "/"; no "..").
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// The workflow (API or editor format).
    #[schemars(schema_with = "workflow_schema")]
    pub workflow: Value,
    /// Replace an existing workflow of that name (default false).
    #[serde(default)]
    pub overwrite: bool,
}

async fn save_workflow(ctx: CallCtx, args: SaveArgs) -> ToolResult<SavedWorkflowInfo> {
    let value = workflow_value(&args.workflow)?;
    Ok(ctx.state.comfy.save_workflow(&args.name, &value, args.overwrite).await?.into())
}

/// Arguments of run_saved_workflow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSavedArgs {
    /// Saved workflow name, or official template name with template=true.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// `{"<title or id>.<input>": value}`.
    #[serde(default)]
    pub overrides: Map<String, Value>,
    /// name is an official template.
    #[serde(default)]
    pub template: bool,
    /// Wait for the result (default true, up to the server's wait budget).
    #[serde(default = "yes")]
    pub wait: bool,
    /// Return the result of an identical job of yours that already succeeded, without running
    /// again (default false; `reused_from` then names that job).
    #[serde(default)]
    pub reuse: bool,
    /// Run on this configured backend (default: routing chooses).
    #[serde(default)]
    #[schemars(schema_with = "super::backend_schema")]
    pub backend: Option<String>,
    /// If the backend that accepted the job is lost with it (stops answering, or restarts and
    /// forgets it), run it again on another configured backend instead of failing it (default
    /// false: a second run may repeat work the lost backend did; never for a pinned `backend`).
    #[serde(default)]
    pub resubmit_if_lost: bool,
}

async fn run_saved_workflow(ctx: CallCtx, args: RunSavedArgs) -> ToolResult<JobView> {
    let converted = if args.template {
        ctx.state.comfy.official_template(&args.name).await
    } else {
        ctx.state.comfy.saved_workflow(&args.name).await
    }
    .map_err(blame_name)?;
    let source = Source::Workflow(converted.workflow).with_overrides(args.overrides);
    let prepared = ctx.state.comfy.prepare(source).await?;
    // Always dedup: a template or saved workflow with the same values and seed makes the same.
    let options = SubmitOptions { reuse: args.reuse, ..Default::default() };
    let mut request = prepared.into_request();
    request.backend = args.backend;
    request.resubmit_if_lost = args.resubmit_if_lost;
    submit_and_report(&ctx, request, args.wait, options).await
}
