//! Saved workflows (the editor's `workflows/` folder on the ComfyUI server): list, read as a
//! summary, save, and run with overrides addressed as `"<node title or id>.<input>"`. The same
//! run path serves official templates (`template: true`).

use comfy_core::backend::JobRequest;
use comfy_core::ui::UiConversion;
use comfy_core::workflow::{apply_overrides, summarize};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::execution::{checked_workflow, submit_and_maybe_wait};
use super::views::JobView;
use super::{CallCtx, Registry, ToolDef, ToolResult, workflow_schema, workflow_value};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "list_saved_workflows",
            "Saved workflows",
            "Workflows saved in the ComfyUI editor (user data).",
        ),
        list_saved_workflows,
    );
    r.add(
        ToolDef::read(
            "get_saved_workflow",
            "Saved workflow",
            "A saved workflow's nodes (title, class) and every editable input as \"<title or id>.<input>\" \
             with type and current value: the keys run_saved_workflow takes as overrides.",
        ),
        get_saved_workflow,
    );
    r.add(
        ToolDef {
            destructive: true,
            ..ToolDef::write(
                "save_workflow",
                "Save workflow",
                "Save a workflow (API or editor format) to the editor's workflows; API format is converted so \
                 it opens in the editor. overwrite=false refuses an existing name.",
            )
        },
        save_workflow,
    );
    r.add(
        ToolDef::write(
            "run_saved_workflow",
            "Run saved workflow",
            "Run a saved workflow (or, with template=true, an official template) with overrides \
             {\"<title or id>.<input>\": value}. Waits up to the wait budget unless wait=false.",
        ),
        run_saved_workflow,
    );
}

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// One saved workflow.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SavedItem {
    /// Name (path inside `workflows/`).
    pub name: String,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last change, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<f64>,
}

/// The answer of list_saved_workflows.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SavedList {
    /// The saved workflows, by name.
    pub workflows: Vec<SavedItem>,
}

async fn list_saved_workflows(ctx: CallCtx, _: NoArgs) -> ToolResult<SavedList> {
    let list = ctx.state.comfy.backend().list_saved_workflows().await?;
    let workflows =
        list.into_iter().map(|i| SavedItem { name: i.name, size: i.size, modified: i.modified }).collect();
    Ok(SavedList { workflows }.into())
}

/// Arguments naming a saved workflow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameArgs {
    /// Name from list_saved_workflows (".json" optional).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
}

/// A workflow as an agent can act on it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SummaryView {
    /// Its name.
    pub name: String,
    /// Description (templates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags (templates).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Models (templates).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Nodes: id, class_type, title, output.
    pub nodes: Vec<Value>,
    /// Editable inputs: key ("<title or id>.<input>"), node_id, type, value, min/max/choices.
    pub inputs: Vec<Value>,
    /// What converting the editor file had to guess or leave out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Errors about what the named workflow contains blame `name` (the argument), not `workflow`.
pub(crate) fn blame_name(e: comfy_core::Error) -> ToolError {
    let mut t = ToolError::from(e);
    if t.field.as_deref() == Some("workflow") {
        t.field = Some("name".into());
    }
    t
}

/// Builds the summary of a converted workflow against the live catalogue.
pub(crate) async fn summary_view(
    ctx: &CallCtx,
    name: &str,
    converted: UiConversion,
) -> Result<SummaryView, ToolError> {
    let catalog = ctx.state.catalog().await?;
    let summary = summarize(&converted.workflow, &catalog);
    let to_values = |v: Value| match v {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    Ok(SummaryView {
        name: name.to_owned(),
        description: None,
        tags: Vec::new(),
        models: Vec::new(),
        nodes: to_values(serde_json::to_value(&summary.nodes).unwrap_or(Value::Null)),
        inputs: to_values(serde_json::to_value(&summary.inputs).unwrap_or(Value::Null)),
        warnings: converted.warnings,
    })
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

async fn save_workflow(ctx: CallCtx, args: SaveArgs) -> ToolResult<SavedItem> {
    let value = workflow_value(&args.workflow)?;
    let info = ctx.state.comfy.save_workflow(&args.name, &value, args.overwrite).await?;
    Ok(SavedItem { name: info.name, size: info.size, modified: info.modified }.into())
}

/// Arguments of run_saved_workflow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSavedArgs {
    /// Saved workflow name, or official template name with template=true.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Input values by "<node title or id>.<input>" (see get_saved_workflow / get_template).
    #[serde(default)]
    pub overrides: Map<String, Value>,
    /// name is an official template (search_templates), not a saved workflow.
    #[serde(default)]
    pub template: bool,
    /// Wait for the result (default true, up to the server's wait budget).
    #[serde(default = "yes")]
    pub wait: bool,
}

fn yes() -> bool {
    true
}

async fn run_saved_workflow(ctx: CallCtx, args: RunSavedArgs) -> ToolResult<JobView> {
    let converted = if args.template {
        ctx.state.comfy.official_template(&args.name).await
    } else {
        ctx.state.comfy.saved_workflow(&args.name).await
    }
    .map_err(blame_name)?;
    let mut workflow = converted.workflow;
    let catalog = ctx.state.catalog().await?;
    apply_overrides(&mut workflow, args.overrides.iter().map(|(k, v)| (k.as_str(), v)), &catalog)?;
    let workflow = checked_workflow(&ctx, workflow.to_value()).await?;
    submit_and_maybe_wait(&ctx, JobRequest::new(workflow), args.wait).await
}
