//! Workflows as tools: list_workflows, run_workflow, and one tool per template (built-ins and
//! every file in the workflows directory, hot-reloaded) whose input schema comes from the
//! template's placeholders, enriched from the node catalogue.

use std::sync::Arc;

use comfy_core::template::{Template, TemplateInfo};
use comfy_core::{Placement, Source, SubmitOptions};
use rmcp::model::{CallToolResult, JsonObject, Tool};
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
            "Workflow templates (each also a tool) and their parameters.",
        ),
        list_workflows,
    );
    r.add(
        ToolDef::write(
            "run_workflow",
            "Run workflow",
            "Run a workflow template by name with params (see list_workflows).",
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
    /// By name.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Wait for the result (default true, up to the server's wait budget).
    #[serde(default = "yes")]
    pub wait: bool,
    /// Return the result of an identical job of yours that already succeeded (same parameters
    /// and seed), without running again (default false; `reused_from` then names that job).
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

async fn run_workflow(ctx: CallCtx, args: RunArgs) -> ToolResult<JobView> {
    let template = ctx.state.comfy.template(&args.name).await?;
    if let Err(mut e) = args::check(&template_schema(&template), &Value::Object(args.params.clone())) {
        e.field = e.field.map(|f| if f == "arguments" { "params".to_owned() } else { format!("params.{f}") });
        return Err(e);
    }
    // Always dedup: a template or saved workflow with the same values and seed makes the same.
    let options = SubmitOptions { reuse: args.reuse, ..Default::default() };
    let place = Placement { backend: args.backend, resubmit_if_lost: args.resubmit_if_lost };
    run_template(&ctx, &args.name, args.params, args.wait, options, place).await
}

/// Prepares a template with the layered defaults (a problem names its parameter), submits it
/// with its provenance and (if asked) waits.
async fn run_template(
    ctx: &CallCtx,
    name: &str,
    params: Map<String, Value>,
    wait: bool,
    options: SubmitOptions,
    place: Placement,
) -> ToolResult<JobView> {
    let prepared = ctx.state.comfy.prepare(Source::named(name, params)).await?;
    let mut request = prepared.into_request();
    place.apply(&mut request);
    submit_and_report(ctx, request, wait, options).await
}

/// The full input schema of a template's tool (what its arguments are checked against).
pub fn template_schema(t: &Template) -> JsonObject {
    match t.json_schema() {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

/// The tool of one template: its description's first clause (list_workflows has the whole
/// text), its parameters as the input schema. It waits like `wait=true` (the instructions say
/// so once). With several backends it also lists `backend` and `resubmit_if_lost` (unless the
/// template has parameters of those names).
pub fn template_tool(t: &Template, several_backends: bool) -> Tool {
    let mut schema = template_schema(t);
    if several_backends && let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (name, spec) in placement_args() {
            if t.param(name).is_none() {
                properties.insert(name.to_owned(), spec);
            }
        }
    }
    let schema = super::compact::input_schema(schema, true);
    let mut description = first_clause(&t.description, 160);
    if description.is_empty() {
        description = format!("Run the {} workflow", t.name);
    }
    description.push('.');
    Tool::new(t.name.clone(), description, Arc::new(schema))
        .with_annotations(super::compact::annotations(false, false, false, false))
}

/// The placement arguments a template tool takes besides its parameters.
fn placement_args() -> [(&'static str, Value); 2] {
    [
        ("backend", serde_json::json!({"type": "string", "description": "Run on this configured backend."})),
        (
            "resubmit_if_lost",
            serde_json::json!({"type": "boolean", "description": "Run again on another backend if this one is lost with the job."}),
        ),
    ]
}

/// Takes the placement arguments (`backend`, `resubmit_if_lost`) out of a template tool's
/// arguments, unless the template has parameters of those names.
fn take_placement(t: &Template, arguments: &mut JsonObject) -> Result<Placement, ToolError> {
    let mut place = Placement::default();
    if t.param("backend").is_none()
        && let Some(v) = arguments.remove("backend")
    {
        match v {
            Value::String(name) => place.backend = Some(name),
            Value::Null => {}
            _ => return Err(ToolError::invalid("backend", "a backend name (string)")),
        }
    }
    if t.param("resubmit_if_lost").is_none()
        && let Some(v) = arguments.remove("resubmit_if_lost")
    {
        match v {
            Value::Bool(b) => place.resubmit_if_lost = b,
            Value::Null => {}
            _ => return Err(ToolError::invalid("resubmit_if_lost", "true or false")),
        }
    }
    Ok(place)
}

/// `text` up to its first `:` or sentence end, at most `max` characters, without the final
/// punctuation.
fn first_clause(text: &str, max: usize) -> String {
    let text = text.trim();
    let end =
        [text.find(": "), text.find(". "), text.find('\n')].into_iter().flatten().min().unwrap_or(text.len());
    let clause: String = text[..end].chars().take(max).collect();
    clause.trim_end_matches(['.', ' ']).to_owned()
}

/// Calls the tool of template `name` with `arguments` (its parameters, and where to run it).
pub async fn call_template(ctx: CallCtx, name: String, mut arguments: JsonObject) -> CallToolResult {
    let template = match ctx.state.comfy.template(&name).await {
        Ok(t) => t,
        Err(e) => return ToolError::from(e).into_result(),
    };
    let place = match take_placement(&template, &mut arguments) {
        Ok(place) => place,
        Err(e) => return e.into_result(),
    };
    if let Err(e) = args::check(&template_schema(&template), &Value::Object(arguments.clone())) {
        return e.into_result();
    }
    // A template tool's arguments are its parameters (and placement): reuse has its defaults.
    match run_template(&ctx, &name, arguments, true, SubmitOptions::default(), place).await {
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
