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
pub mod compact;
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
pub mod profile;
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
use rmcp::handler::server::tool::schema_for_input;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ProgressToken, Tool, ToolAnnotations};
use rmcp::{Peer, RoleServer};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
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
    /// Human title (for documentation and logs; not listed, to keep `tools/list` small: the
    /// name says it).
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

    /// The annotations as listed: the hints that differ from MCP's defaults
    /// ([`compact::annotations`]).
    pub fn annotations(&self) -> ToolAnnotations {
        compact::annotations(self.read_only, self.destructive, self.idempotent, self.open_world)
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

    /// The standard tools this backend can serve plus its own: RunComfy's deployment and
    /// request tools only on RunComfy, get_billing_status only where the backend has billing
    /// (Comfy Cloud, RunComfy), partner_generate only where a partner-node key is configured.
    /// The `backend` and `resubmit_if_lost` arguments of the job tools are listed only with
    /// several backends (`[[backends]]`); one backend still accepts them but does not
    /// advertise them.
    pub fn for_backend(backend: &dyn comfy_core::backend::Backend) -> Registry {
        let mut r = Registry::standard();
        if backend.as_fleet().is_none() {
            for entry in &mut r.entries {
                unlist_argument(&mut entry.tool, "backend");
                unlist_argument(&mut entry.tool, "resubmit_if_lost");
            }
        }
        if !backend.has_billing() {
            r.entries.retain(|e| e.tool.name != "get_billing_status");
        }
        if !backend.has_partner_key() {
            r.entries.retain(|e| e.tool.name != "partner_generate");
        }
        if backend.as_runcomfy().is_some() {
            runcomfy::register(&mut r);
        }
        r
    }

    /// Registers a typed tool.
    pub fn add<In, Out, F, Fut>(&mut self, def: ToolDef, handler: F)
    where
        In: DeserializeOwned + JsonSchema + Send + 'static,
        Out: Serialize + 'static,
        F: Fn(CallCtx, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult<Out>> + Send + 'static,
    {
        // Arguments are checked against the full schema; clients see the compact one (see
        // [`compact`]), which names the same arguments and types.
        let input_schema = match schema_for_input::<In>() {
            Ok(s) => s,
            Err(e) => {
                // A programming error in a schema type: keep serving the other tools.
                tracing::error!(tool = def.name, error = %e, "tool not registered: bad input schema");
                return;
            }
        };
        let listed = Arc::new(compact::input_schema(input_schema.as_ref().clone(), false));
        let tool = Tool::new(def.name, def.description, listed).with_annotations(def.annotations());
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

/// Removes `name` from the arguments `tool` lists (calls are still checked against the full
/// schema, which keeps it).
fn unlist_argument(tool: &mut Tool, name: &str) {
    let listed = tool.input_schema.as_ref();
    if !listed.get("properties").and_then(Value::as_object).is_some_and(|p| p.contains_key(name)) {
        return;
    }
    let mut schema = listed.clone();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.remove(name);
    }
    tool.input_schema = Arc::new(schema);
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

/// The schema for the optional `backend` argument of the tools that submit or read jobs.
pub fn backend_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "description": "A configured backend's name (get_server_info lists them): run there / the job must run there. Omit to let routing choose."
    })
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
