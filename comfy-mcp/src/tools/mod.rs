//! The tools, one module per group, registered in a [`Registry`].
//!
//! A tool is a name, a description, annotations, typed input and output (their JSON Schemas
//! come from `schemars`) and an async handler that clones the state `Arc`, calls the core and
//! returns `Result<Output<T>, ToolError>`. The registry checks arguments against the input
//! schema first ([`args::check`]), so handlers only see well-formed input, and turns every
//! outcome into a [`CallToolResult`] with structured content. A panicking handler becomes an
//! `internal_error` tool result; it never takes the server down.
//!
//! To add a group: write `tools/<group>.rs` with `pub(crate) fn register(r: &mut Registry)`
//! and call it from [`Registry::standard`].

pub mod account;
pub mod args;
pub mod assets;
pub mod batch;
pub mod cql;
pub mod defaults;
pub mod discovery;
pub mod execution;
pub mod feedback;
pub mod gallery;
pub mod image_view;
pub mod inputs;
pub mod iterate;
pub mod partner;
pub mod publish;
pub mod runcomfy;
pub mod saved;
pub mod shared;
pub mod views;
pub mod workflows;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use rmcp::handler::server::tool::{schema_for_input, schema_for_output};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ProgressToken, Tool, ToolAnnotations};
use rmcp::{Peer, RoleServer};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::error::ToolError;
use crate::state::AppState;

/// What a handler gets besides its arguments.
#[derive(Clone)]
pub struct CallCtx {
    /// The shared state.
    pub state: Arc<AppState>,
    /// The client's progress token, if it asked for progress.
    pub progress: Option<ProgressToken>,
    /// The client, for progress notifications.
    pub peer: Option<Peer<RoleServer>>,
    /// Cancelled when the client cancels the call.
    pub ct: CancellationToken,
    /// How long a waiting call may wait for its job (the server's wait budget, or longer for
    /// calls run as tasks).
    pub wait_budget: std::time::Duration,
}

impl std::fmt::Debug for CallCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCtx").field("progress", &self.progress).finish_non_exhaustive()
    }
}

/// A successful result: the structured value plus extra content blocks (resource links, ...).
#[derive(Debug)]
pub struct Output<T> {
    /// The structured content.
    pub value: T,
    /// Blocks after the JSON text mirror.
    pub content: Vec<ContentBlock>,
}

impl<T> From<T> for Output<T> {
    fn from(value: T) -> Self {
        Output { value, content: Vec::new() }
    }
}

impl<T> Output<T> {
    /// Adds content blocks.
    pub fn with_content(mut self, content: Vec<ContentBlock>) -> Self {
        self.content.extend(content);
        self
    }
}

/// What a tool handler returns.
pub type ToolResult<T> = Result<Output<T>, ToolError>;

/// A type-erased handler.
pub type Handler = Arc<dyn Fn(CallCtx, JsonObject) -> BoxFuture<'static, CallToolResult> + Send + Sync>;

/// The static facts of a tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolDef {
    /// Name (fixed, part of the public interface).
    pub name: &'static str,
    /// Human title.
    pub title: &'static str,
    /// Short, precise description for the model.
    pub description: &'static str,
    /// Does not change anything.
    pub read_only: bool,
    /// May destroy or stop something.
    pub destructive: bool,
    /// Repeating the call has no further effect.
    pub idempotent: bool,
    /// Talks to an open world of external entities (ours only talk to the configured ComfyUI).
    pub open_world: bool,
}

impl ToolDef {
    /// A read-only, idempotent tool.
    pub const fn read(name: &'static str, title: &'static str, description: &'static str) -> ToolDef {
        ToolDef {
            name,
            title,
            description,
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: false,
        }
    }

    /// A tool that changes state (submits work), not idempotent, not destructive.
    pub const fn write(name: &'static str, title: &'static str, description: &'static str) -> ToolDef {
        ToolDef {
            name,
            title,
            description,
            read_only: false,
            destructive: false,
            idempotent: false,
            open_world: false,
        }
    }

    /// The annotations.
    pub fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::with_title(self.title)
            .read_only(self.read_only)
            .destructive(self.destructive)
            .idempotent(self.idempotent)
            .open_world(self.open_world)
    }
}

/// One registered tool.
#[derive(Clone)]
pub struct ToolEntry {
    /// Its MCP definition.
    pub tool: Tool,
    /// Its handler.
    pub handler: Handler,
}

/// The static tools, in a fixed order.
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<ToolEntry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| &e.tool.name)).finish()
    }
}

impl Registry {
    /// Every standard tool group.
    pub fn standard() -> Registry {
        let mut r = Registry::default();
        execution::register(&mut r);
        batch::register(&mut r);
        workflows::register(&mut r);
        assets::register(&mut r);
        discovery::register(&mut r);
        iterate::register(&mut r);
        image_view::register(&mut r);
        inputs::register(&mut r);
        publish::register(&mut r);
        defaults::register(&mut r);
        saved::register(&mut r);
        gallery::register(&mut r);
        account::register(&mut r);
        cql::register(&mut r);
        feedback::register(&mut r);
        partner::register(&mut r);
        r
    }

    /// The standard tools plus the backend's own (RunComfy's deployment and request tools,
    /// listed only on that backend).
    pub fn for_backend(backend: &dyn comfy_core::backend::Backend) -> Registry {
        let mut r = Registry::standard();
        if backend.as_runcomfy().is_some() {
            runcomfy::register(&mut r);
        }
        r
    }

    /// Registers a typed tool.
    pub fn add<In, Out, F, Fut>(&mut self, def: ToolDef, handler: F)
    where
        In: DeserializeOwned + JsonSchema + Send + 'static,
        Out: Serialize + JsonSchema + 'static,
        F: Fn(CallCtx, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult<Out>> + Send + 'static,
    {
        let input_schema = match schema_for_input::<In>() {
            Ok(s) => Arc::new(slim_schema(s.as_ref().clone())),
            Err(e) => {
                // A programming error in a schema type: keep serving the other tools.
                tracing::error!(tool = def.name, error = %e, "tool not registered: bad input schema");
                return;
            }
        };
        let tool = Tool::new(def.name, def.description, input_schema.clone())
            .with_title(def.title)
            .with_raw_output_schema(compact_output_schema::<Out>())
            .with_annotations(def.annotations());
        let handler = Arc::new(handler);
        // Checked against on every call: built once, not copied per call.
        let schema = Arc::new(Value::Object(input_schema.as_ref().clone()));
        let erased: Handler = Arc::new(move |ctx: CallCtx, args: JsonObject| {
            let handler = handler.clone();
            let schema = schema.clone();
            async move {
                let args = Value::Object(args);
                if let Err(e) = args::check_with(&schema, &args) {
                    return e.into_result();
                }
                let input: In = match serde_json::from_value(args) {
                    Ok(i) => i,
                    Err(e) => {
                        return ToolError::invalid("arguments", format!("invalid arguments: {e}"))
                            .into_result();
                    }
                };
                match handler(ctx, input).await {
                    Ok(out) => success(out),
                    Err(e) => e.into_result(),
                }
            }
            .boxed()
        });
        self.push(ToolEntry { tool, handler: erased });
    }

    /// Registers a tool with a hand-made definition and handler.
    pub fn push(&mut self, entry: ToolEntry) {
        if self.entries.iter().any(|e| e.tool.name == entry.tool.name) {
            tracing::error!(tool = %entry.tool.name, "duplicate tool name; the second one is ignored");
            return;
        }
        self.entries.push(entry);
    }

    /// The tools in registration order.
    pub fn entries(&self) -> &[ToolEntry] {
        &self.entries
    }

    /// A tool by name.
    pub fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.entries.iter().find(|e| e.tool.name == name)
    }
}

/// The output schema of `T`, shallow: no `description`/`title`/`format` keywords, nested types
/// (`$ref`) reduced to their JSON type (`{"type": "object"}` for structs, `{"type": "string",
/// "enum": [...]}` for unit enums). Clients validate results against it and models read the
/// input schemas, so this keeps `tools/list` small without losing what matters.
pub fn compact_output_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    fn strip(v: &mut Value, defs: &Map<String, Value>) {
        match v {
            Value::Object(m) => {
                if let Some(reference) = m.get("$ref").and_then(Value::as_str) {
                    let shallow = shallow_ref(reference, defs);
                    *m = shallow;
                    return;
                }
                m.remove("$defs");
                m.remove("format");
                // `properties` maps names to schemas: a property may itself be called "description".
                for (k, child) in m.iter_mut() {
                    if k == "properties" || k == "$defs" {
                        if let Value::Object(props) = child {
                            props.values_mut().for_each(|p| strip(p, defs));
                        }
                    } else {
                        strip(child, defs);
                    }
                }
                m.remove("description");
                m.remove("title");
            }
            Value::Array(a) => a.iter_mut().for_each(|c| strip(c, defs)),
            _ => {}
        }
    }
    let full = schema_for_output::<T>();
    let defs = full.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut v = Value::Object(full.as_ref().clone());
    strip(&mut v, &defs);
    match v {
        Value::Object(m) => Arc::new(slim_schema(m)),
        _ => full,
    }
}

/// Drops what tells a client nothing: `$schema` (MCP's default dialect is already 2020-12) and
/// `"default": null` on optional fields (absent already means null). Saves about 4 KB of
/// `tools/list`; validation is unchanged.
pub fn slim_schema(mut schema: JsonObject) -> JsonObject {
    fn walk(m: &mut Map<String, Value>) {
        if m.get("default").is_some_and(Value::is_null) {
            m.remove("default");
        }
        for (k, child) in m.iter_mut() {
            match child {
                // `properties` and `$defs` map names to schemas; a name may be "default".
                Value::Object(named) if k == "properties" || k == "$defs" => {
                    named.values_mut().filter_map(Value::as_object_mut).for_each(walk);
                }
                Value::Object(sub) => walk(sub),
                Value::Array(items) => items.iter_mut().filter_map(Value::as_object_mut).for_each(walk),
                _ => {}
            }
        }
    }
    schema.remove("$schema");
    walk(&mut schema);
    schema
}

/// The shallow schema standing for a `$ref`: the referenced definition's JSON type (with the
/// values of a unit enum), or no constraint when it has no single type.
fn shallow_ref(reference: &str, defs: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(def) = reference.strip_prefix("#/$defs/").and_then(|name| defs.get(name)) else {
        return out;
    };
    let variants = def.get("oneOf").or_else(|| def.get("anyOf")).and_then(Value::as_array);
    let consts: Option<Vec<Value>> = match (def.get("enum"), variants) {
        (Some(Value::Array(values)), _) => Some(values.clone()),
        (None, Some(variants)) => variants.iter().map(|v| v.get("const").cloned()).collect(),
        _ => None,
    };
    let json_type = |v: &Value| match v {
        Value::String(_) => Some("string"),
        Value::Number(n) if n.is_f64() => Some("number"),
        Value::Number(_) => Some("integer"),
        Value::Bool(_) => Some("boolean"),
        _ => None,
    };
    if let Some(t) = def.get("type") {
        out.insert("type".into(), t.clone());
    } else if let Some(values) = &consts
        && let Some(first) = values.first().and_then(json_type)
        && values.iter().all(|v| json_type(v) == Some(first))
    {
        out.insert("type".into(), Value::String(first.into()));
    }
    if let Some(values) = consts
        && !values.is_empty()
    {
        out.insert("enum".into(), Value::Array(values));
    }
    out
}

/// Serializes a successful output (structured content plus its JSON text mirror, then the
/// extra blocks).
pub fn success<T: Serialize>(out: Output<T>) -> CallToolResult {
    match serde_json::to_value(&out.value) {
        Ok(value) => {
            let mut result = CallToolResult::structured(value);
            result.content.extend(out.content);
            result
        }
        Err(e) => {
            ToolError::new("internal_error", format!("could not serialize the result: {e}")).into_result()
        }
    }
}

/// Runs a handler future, turning a panic into an `internal_error` tool result.
pub async fn guarded(fut: BoxFuture<'static, CallToolResult>, tool: &str) -> CallToolResult {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(tool, "tool handler panicked");
            ToolError::new("internal_error", "the tool failed unexpectedly; the server is still running")
                .into_result()
        }
    }
}

/// The JSON Schema of a workflow argument: an API-format workflow object (or its JSON text).
pub fn workflow_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["object", "string"],
        "description": "API-format workflow ({\"<node id>\": {\"class_type\": ..., \"inputs\": {...}}}) or editor (UI) workflow, as an object or JSON text.",
        "maxProperties": 10000
    })
}

/// Turns a workflow argument (object, or JSON text) into a JSON value.
pub fn workflow_value(v: &Value) -> Result<Value, ToolError> {
    match v {
        Value::String(text) => comfy_core::json::parse_strict(text, "workflow").map_err(ToolError::from),
        other => Ok(other.clone()),
    }
}

/// The schema for a job id argument.
pub fn job_id_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "description": "A job_id returned by submit_workflow, run_workflow or a workflow tool."
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::views::JobView;
    use super::{compact_output_schema, slim_schema};

    #[test]
    fn slim_schemas_drop_the_dialect_and_null_defaults_only() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "default": {"type": ["string", "null"], "default": null},
                "steps": {"type": "integer", "default": 20},
                "kind": {"$ref": "#/$defs/Kind", "default": "image"}
            },
            "$defs": {"Kind": {"oneOf": [{"const": "image", "default": null}]}}
        });
        let Value::Object(m) = schema else { unreachable!() };
        let slim = Value::Object(slim_schema(m));
        assert_eq!(
            slim,
            json!({
                "type": "object",
                "properties": {
                    "default": {"type": ["string", "null"]},
                    "steps": {"type": "integer", "default": 20},
                    "kind": {"$ref": "#/$defs/Kind", "default": "image"}
                },
                "$defs": {"Kind": {"oneOf": [{"const": "image"}]}}
            })
        );
    }

    #[test]
    fn compact_output_schemas_keep_the_json_type_of_referenced_enums_and_structs() {
        let schema = compact_output_schema::<JobView>();
        let props = &schema["properties"];
        // A unit enum is a string, not an object: clients validate results against this.
        assert_eq!(
            props["status"],
            json!({"type": "string", "enum": ["pending", "queued", "running", "succeeded", "failed", "cancelled"]})
        );
        assert_eq!(props["job_id"], json!({"type": "string"}));
        let progress = serde_json::to_string(&props["progress"]).unwrap();
        assert!(progress.contains(r#"{"type":"object"}"#) && !progress.contains("$ref"), "{progress}");
        assert!(schema.get("$defs").is_none());
        assert!(!serde_json::to_string(&*schema).unwrap().contains("description"));
    }
}
