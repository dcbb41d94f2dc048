//! Workflows as tools: list_workflows, run_workflow, and one tool per template (built-ins and
//! every file in the workflows directory, hot-reloaded) whose input schema comes from the
//! template's placeholders, enriched from the node catalogue.

use std::sync::Arc;

use comfy_core::backend::JobRequest;
use comfy_core::store::Provenance;
use comfy_core::template::{RenderRequest, Rendered, Template};
use rmcp::model::{CallToolResult, JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::execution::{checked_workflow, submit_and_maybe_wait};
use super::views::JobView;
use super::{CallCtx, Output, Registry, ToolDef, ToolResult, args};
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

/// One parameter of a workflow.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ParamInfo {
    /// Name.
    pub name: String,
    /// string, integer, number or boolean.
    #[serde(rename = "type")]
    pub ty: String,
    /// Must be given.
    pub required: bool,
    /// Default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One workflow template.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkflowInfo {
    /// Name (also the tool name).
    pub name: String,
    /// What it does.
    pub description: String,
    /// `builtin` or `directory`.
    pub source: String,
    /// Its parameters.
    pub params: Vec<ParamInfo>,
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

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

async fn list_workflows(ctx: CallCtx, _: NoArgs) -> ToolResult<WorkflowList> {
    // Editor-format files in the workflows directory are converted once the catalogue is known.
    ctx.state.ensure_catalog().await;
    let lib = ctx.state.templates.snapshot();
    let workflows = lib.list().iter().map(|t| info(t)).collect();
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

fn info(t: &Template) -> WorkflowInfo {
    WorkflowInfo {
        name: t.name.clone(),
        description: t.description.clone(),
        source: if t.source.is_some() { "directory".into() } else { "builtin".into() },
        params: t
            .params
            .values()
            .map(|p| ParamInfo {
                name: p.name.clone(),
                ty: p.ty.as_str().to_owned(),
                required: p.required,
                default: p.default.clone(),
                description: p.description.clone(),
            })
            .collect(),
        uri: format!("comfy://workflows/{}", t.name),
    }
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

fn yes() -> bool {
    true
}

async fn run_workflow(ctx: CallCtx, args: RunArgs) -> ToolResult<JobView> {
    ctx.state.ensure_catalog().await;
    let template = ctx.state.template(&args.name)?;
    let tool = template_tool(&template);
    if let Err(mut e) = args::check(&tool.input_schema, &Value::Object(args.params.clone())) {
        e.field = e.field.map(|f| if f == "arguments" { "params".to_owned() } else { format!("params.{f}") });
        return Err(e);
    }
    run_template(&ctx, &template, args.params, args.wait).await
}

/// Renders a template with the layered defaults, checks it, submits it and (if asked) waits.
pub(crate) async fn run_template(
    ctx: &CallCtx,
    template: &Template,
    params: Map<String, Value>,
    wait: bool,
) -> ToolResult<JobView> {
    let defaults = ctx.state.param_defaults();
    let rendered = template.render(&RenderRequest::new(params).with_defaults(&defaults))?;
    submit_rendered(ctx, template, rendered, wait).await
}

/// Checks a rendered template against the catalogue, submits it with its provenance (template
/// and every parameter value) and (if asked) waits.
pub(crate) async fn submit_rendered(
    ctx: &CallCtx,
    template: &Template,
    rendered: Rendered,
    wait: bool,
) -> ToolResult<JobView> {
    let workflow =
        checked_workflow(ctx, rendered.workflow.to_value()).await.map_err(|e| blame_param(template, e))?;
    let params: Map<String, Value> = rendered.params.into_iter().collect();
    let mut request = JobRequest::new(workflow);
    request.provenance = Provenance {
        template: Some(template.name.clone()),
        params: Some(Value::Object(params.clone())),
        owner: None,
    };
    let out = submit_and_maybe_wait(ctx, request, wait).await?;
    let mut view = out.value;
    view.params = Some(params);
    Ok(Output { value: view, content: out.content })
}

/// Names the parameter bound to the first input a validation error is about (`params.<name>`).
fn blame_param(template: &Template, mut e: ToolError) -> ToolError {
    let first = e
        .details
        .as_ref()
        .and_then(|d| d.get("problems"))
        .and_then(Value::as_array)
        .and_then(|ps| ps.iter().find(|p| p.get("severity").and_then(Value::as_str) == Some("error")))
        .cloned();
    if let Some(p) = first {
        let node = p.get("node_id").and_then(Value::as_str);
        let input = p.get("input").and_then(Value::as_str);
        if let Some(spec) = template.params.values().find(|spec| {
            spec.bindings
                .iter()
                .any(|b| Some(b.node_id.0.as_str()) == node && Some(b.input.as_str()) == input)
        }) {
            e.field = Some(format!("params.{}", spec.name));
            if e.expected.is_none() {
                e.expected = Some(spec.describe_valid());
            }
        }
    }
    e
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
    ctx.state.ensure_catalog().await;
    let template = match ctx.state.template(&name) {
        Ok(t) => t,
        Err(e) => return e.into_result(),
    };
    let tool = template_tool(&template);
    if let Err(e) = args::check(&tool.input_schema, &Value::Object(arguments.clone())) {
        return e.into_result();
    }
    match run_template(&ctx, &template, arguments, true).await {
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
