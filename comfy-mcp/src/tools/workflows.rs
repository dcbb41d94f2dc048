//! Workflows as tools: list_workflows, run_workflow, and one tool per template (built-ins and
//! every file in the workflows directory, hot-reloaded) whose input schema comes from the
//! template's placeholders, enriched from the node catalogue.

use std::sync::Arc;

use comfy_core::Source;
use comfy_core::template::{Template, TemplateInfo};
use rmcp::model::{CallToolResult, JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::shared::{NoArgs, yes};
use super::views::{JobView, submit_and_report};
use super::{CallCtx, Registry, ToolDef, ToolResult, args};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "list_workflows",
            "List workflows",
            "Workflow templates (each is also its own tool): name, description and parameters.",
        ),
        list_workflows,
    );
    r.add(
        ToolDef::write(
            "run_workflow",
            "Run workflow",
            "Run a workflow template by name with parameters (see list_workflows). Waits up to the server's \
             wait budget unless wait=false; returns outputs or the job handle.",
        ),
        run_workflow,
    );
}

/// One workflow template.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkflowInfo {
    /// Name (also the tool name), description, source and parameters.
    #[serde(flatten)]
    pub info: TemplateInfo,
    /// Resource with the template itself.
    pub uri: String,
}

/// The answer of list_workflows.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkflowList {
    /// The templates.
    pub workflows: Vec<WorkflowInfo>,
    /// Files in the workflows directory that could not be loaded (file name and reason).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

async fn list_workflows(ctx: CallCtx, _: NoArgs) -> ToolResult<WorkflowList> {
    // Editor-format files in the workflows directory are converted once the catalogue is known.
    ctx.state.comfy.enrich_templates().await;
    let lib = ctx.state.comfy.templates().snapshot();
    let workflows = lib
        .list()
        .iter()
        .map(|t| WorkflowInfo { info: t.info(), uri: format!("comfy://workflows/{}", t.name) })
        .collect();
    let problems = lib
        .errors()
        .iter()
        .map(|(path, e)| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            format!("{name}: {}", crate::error::scrub_paths(&e.to_string()))
        })
        .collect();
    Ok(WorkflowList { workflows, problems }.into())
}

/// Arguments of run_workflow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// Template name (see list_workflows).
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Parameter values by name.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Wait for the result (default true, up to the server's wait budget).
    #[serde(default = "yes")]
    pub wait: bool,
}

async fn run_workflow(ctx: CallCtx, args: RunArgs) -> ToolResult<JobView> {
    let template = ctx.state.comfy.template(&args.name).await?;
    let tool = template_tool(&template);
    if let Err(mut e) = args::check(&tool.input_schema, &Value::Object(args.params.clone())) {
        e.field = e.field.map(|f| if f == "arguments" { "params".to_owned() } else { format!("params.{f}") });
        return Err(e);
    }
    run_template(&ctx, &args.name, args.params, args.wait).await
}

/// Prepares a template with the layered defaults (a problem names its parameter), submits it
/// with its provenance and (if asked) waits.
async fn run_template(
    ctx: &CallCtx,
    name: &str,
    params: Map<String, Value>,
    wait: bool,
) -> ToolResult<JobView> {
    let prepared = ctx.state.comfy.prepare(Source::named(name, params)).await?;
    submit_and_report(ctx, prepared.into_request(), wait).await
}

/// The tool of one template.
pub fn template_tool(t: &Template) -> Tool {
    let mut schema = match t.json_schema() {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    };
    schema.remove("title");
    schema.remove("description");
    let schema = super::slim_schema(schema);
    let mut description: String = t.description.chars().take(400).collect();
    if description.trim().is_empty() {
        description = format!("Run the {} workflow.", t.name);
    }
    description.push_str(" Waits up to the server's wait budget; returns outputs or the job handle.");
    Tool::new(t.name.clone(), description, Arc::new(schema))
        .with_title(format!("Workflow: {}", t.name))
        .with_raw_output_schema(super::compact_output_schema::<JobView>())
        .with_annotations(
            ToolAnnotations::with_title(format!("Workflow: {}", t.name))
                .read_only(false)
                .destructive(false)
                .idempotent(false)
                .open_world(false),
        )
}

/// Calls the tool of template `name` with `arguments` (its parameters).
pub async fn call_template(ctx: CallCtx, name: String, arguments: JsonObject) -> CallToolResult {
    let template = match ctx.state.comfy.template(&name).await {
        Ok(t) => t,
        Err(e) => return ToolError::from(e).into_result(),
    };
    let tool = template_tool(&template);
    if let Err(e) = args::check(&tool.input_schema, &Value::Object(arguments.clone())) {
        return e.into_result();
    }
    match run_template(&ctx, &name, arguments, true).await {
        Ok(out) => super::success(out),
        Err(mut e) => {
            // Template tools take the parameters directly, not under `params`.
            if let Some(f) = e.field.as_mut().and_then(|f| f.strip_prefix("params.").map(str::to_owned)) {
                e.field = Some(f);
            }
            e.into_result()
        }
    }
}
