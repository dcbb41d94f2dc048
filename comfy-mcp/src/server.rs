//! The MCP [`ServerHandler`]: tools (static registry + one per template), resources, prompts.
//!
//! Which tools a caller sees and may call: those the config's allow/deny lists serve, narrowed
//! by the HTTP token's scope (a [`Principal`] put in the request by [`crate::http::auth`]).
//! Tool order in `tools/list` is deterministic: the static tools in registration order, then
//! the templates in library order.
//!
//! Logging (`logging/setLevel`, `notifications/message`) and `resources/subscribe` are
//! deprecated by the 2026-07-28 revision but part of 2025-11-25, which clients still speak.

#![allow(deprecated)]

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CreateTaskResult, GetPromptRequestParams,
    GetPromptResponse, GetTaskParams, GetTaskResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::error::{
    ToolError, forbidden, not_found, prompt_error, protocol_error_result, resource_error, task_not_found,
};
use crate::http::auth::Principal;
use crate::scopes;
use crate::session::Session;
use crate::state::AppState;
use crate::tools::{CallCtx, Registry, guarded, workflows};

const INSTRUCTIONS: &str = "Runs ComfyUI workflows. Generate with a workflow tool (e.g. generate_image) or \
run_workflow; submit raw graphs (API or editor format) with submit_workflow. The user's saved editor \
workflows: list_saved_workflows, get_saved_workflow (editable inputs), run_saved_workflow with overrides; \
official templates: search_templates, get_template. Long jobs return a job_id: poll \
get_job_status, then get_output. Outputs are assets with comfy://assets/<id> URIs. Use list_models, \
search_nodes and get_node_info to build valid inputs, validate_workflow before submitting.";

/// The MCP server. Cheap to clone: one per HTTP session (or stateless request) or stdio
/// session, all sharing the same [`AppState`]; clones share one [`Session`].
#[derive(Debug, Clone)]
pub struct ComfyMcp {
    state: Arc<AppState>,
    registry: Arc<Registry>,
    session: Arc<Session>,
}

impl ComfyMcp {
    /// A server over `state` with the standard tools.
    pub fn new(state: Arc<AppState>) -> Self {
        let registry = Arc::new(Registry::for_backend(state.comfy.backend().as_ref()));
        ComfyMcp::with_registry(state, registry)
    }

    /// A server with a custom registry (embedders adding their own tool groups).
    pub fn with_registry(state: Arc<AppState>, registry: Arc<Registry>) -> Self {
        ComfyMcp { state, registry, session: Arc::default() }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    fn served(&self, name: &str, principal: Option<&Principal>) -> bool {
        self.state.settings.serves_tool(name) && principal.is_none_or(|p| p.may_call(name))
    }

    /// Whether this server routes over several backends (template tools then list `backend`).
    fn several_backends(&self) -> bool {
        self.state.comfy.backend().as_fleet().is_some()
    }

    /// Every tool this caller may see, in a fixed order.
    pub fn tools(&self, principal: Option<&Principal>) -> Vec<Tool> {
        let mut tools: Vec<Tool> = self
            .registry
            .entries()
            .iter()
            .filter(|e| self.served(&e.tool.name, principal))
            .map(|e| e.tool.clone())
            .collect();
        let lib = self.state.comfy.templates().snapshot();
        for t in lib.list() {
            if self.registry.get(&t.name).is_none() && self.served(&t.name, principal) {
                tools.push(workflows::template_tool(&t, self.several_backends()));
            }
        }
        tools
    }

    /// Calls a tool by name (the transport-independent core of `tools/call`).
    pub async fn call(
        &self,
        request: CallToolRequestParams,
        ctx: CallCtx,
        principal: Option<&Principal>,
    ) -> Result<rmcp::model::CallToolResult, ErrorData> {
        let name = request.name.to_string();
        let arguments = request.arguments.unwrap_or_default();
        if !self.served(&name, principal) {
            // Outside the token's scope or the allow list: as unknown as a tool that does not exist,
            // except that a scoped-out tool says so.
            if principal.is_some_and(|p| !p.may_call(&name)) && self.exists(&name) {
                return Ok(
                    ToolError::new("forbidden", format!("this token may not call {name:?}")).into_result()
                );
            }
            return Err(self.unknown_tool(&name, principal));
        }
        if let Some(entry) = self.registry.get(&name) {
            let fut = (entry.handler)(ctx, arguments);
            return Ok(guarded(fut, &name).await);
        }
        let known = self.state.comfy.templates().snapshot().get(&name).is_ok();
        match known {
            true => {
                let fut = Box::pin(workflows::call_template(ctx, name.clone(), arguments));
                Ok(guarded(fut, &name).await)
            }
            false => Err(self.unknown_tool(&name, principal)),
        }
    }

    /// A task is used through the tool it runs: outside the token's scope it is forbidden.
    fn task_allowed(&self, task_id: &str, ctx: &RequestContext<RoleServer>) -> Result<(), ErrorData> {
        let Some(principal) = principal(ctx) else { return Ok(()) };
        match self.state.tasks.tool_of(task_id, &principal.caller()) {
            Some(tool) if !principal.may_call(&tool) => Err(forbidden(&format!("task {task_id:?}"))),
            _ => Ok(()),
        }
    }

    /// The tool's name as a metrics label: `unknown` for a name no tool has.
    fn tool_label(&self, name: &str) -> String {
        if self.exists(name) { name.to_owned() } else { "unknown".to_owned() }
    }

    fn exists(&self, name: &str) -> bool {
        self.registry.get(name).is_some() || self.state.comfy.templates().snapshot().get(name).is_ok()
    }

    fn unknown_tool(&self, name: &str, principal: Option<&Principal>) -> ErrorData {
        let names: Vec<String> = self.tools(principal).into_iter().map(|t| t.name.to_string()).collect();
        let shown: String = name.chars().take(128).collect();
        let suggestions = if name.len() <= 256 {
            comfy_core::suggest_closest(name, names.iter().map(String::as_str), 3)
        } else {
            Vec::new()
        };
        not_found("tool", &shown, &suggestions)
    }
}

/// The principal the HTTP layer authenticated, if any (none on stdio).
fn principal(ctx: &RequestContext<RoleServer>) -> Option<Principal> {
    ctx.extensions.get::<http::request::Parts>().and_then(|p| p.extensions.get::<Principal>()).cloned()
}

/// Whom the request acts for (ownership of jobs, assets, batches, tasks): the single local user
/// on stdio.
fn caller(ctx: &RequestContext<RoleServer>) -> comfy_core::Caller {
    principal(ctx).map_or_else(comfy_core::Caller::local, |p| p.caller())
}

fn call_ctx(state: &Arc<AppState>, ctx: &RequestContext<RoleServer>) -> CallCtx {
    CallCtx {
        state: state.acting_for(caller(ctx)),
        progress: ctx.meta.get_progress_token(),
        peer: Some(ctx.peer.clone()),
        ct: ctx.ct.clone(),
        wait_budget: state.comfy.wait_budget(),
    }
}

impl ServerHandler for ComfyMcp {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_resources_list_changed()
            .enable_logging()
            .enable_prompts()
            .enable_tasks()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("comfy-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(crate::tools::profile::instructions(
                self.state.settings.tool_profile,
                INSTRUCTIONS,
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let principal = principal(&ctx);
        Ok(ListToolsResult::with_all_items(self.tools(principal.as_ref())))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        if let Some(e) = self.registry.get(name) {
            return Some(e.tool.clone());
        }
        let several = self.several_backends();
        self.state.comfy.templates().snapshot().get(name).ok().map(|t| workflows::template_tool(&t, several))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = principal(&ctx);
        let mut call = call_ctx(&self.state, &ctx);
        let name = request.name.to_string();
        let client_tasks = ctx.client_capabilities().is_some_and(|c| c.supports_tasks());
        let is_template = self.registry.get(&name).is_none() && self.exists(&name);
        if client_tasks
            && crate::tasks::runs_as_task(&name, is_template)
            && self.exists(&name)
            && self.served(&name, principal.as_ref())
        {
            let ct = tokio_util::sync::CancellationToken::new();
            call.ct = ct.clone();
            call.progress = None;
            call.wait_budget = crate::tasks::TASK_WAIT;
            let this = self.clone();
            let label = self.tool_label(&name);
            let run = Box::pin(async move {
                let timer = this.state.comfy.metrics().tool_call(&label);
                let result = this.call(request, call, principal.as_ref()).await;
                timer.finish(&outcome_code(&result));
                result.unwrap_or_else(protocol_error_result)
            });
            let task = self.state.tasks.spawn(&name, &caller(&ctx), ct, run);
            tracing::info!(tool = %name, task = %task.task_id, "tools/call as a task");
            return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
        }
        let started = std::time::Instant::now();
        let timer = self.state.comfy.metrics().tool_call(&self.tool_label(&name));
        let result = self.call(request, call, principal.as_ref()).await;
        timer.finish(&outcome_code(&result));
        let outcome = match &result {
            Ok(r) if r.is_error == Some(true) => "tool_error",
            Ok(_) => "ok",
            Err(_) => "protocol_error",
        };
        tracing::info!(
            tool = %name.chars().take(128).collect::<String>(),
            principal = principal.as_ref().map_or("local", |p| p.name.as_str()),
            outcome,
            ms = started.elapsed().as_millis() as u64,
            "tools/call"
        );
        result.map(CallToolResponse::from)
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        // Tell this session when the template tools change (hot reload, catalogue enrichment).
        self.session.forward_logs(ctx.peer.clone());
        self.session.forward_asset_changes(&self.state, ctx.peer.clone());
        let mut changes = self.state.comfy.templates().subscribe();
        changes.mark_unchanged();
        let peer = ctx.peer;
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if peer.is_transport_closed() || peer.notify_tool_list_changed().await.is_err() {
                    break;
                }
            }
        });
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session.set_level(request.level);
        Ok(())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let principal = principal(&ctx);
        let tools = scopes::resource_tools(&request.uri);
        if !tools.is_empty() && !scopes::allows(principal.as_ref(), tools) {
            return Err(forbidden(&format!(
                "resource {:?}",
                request.uri.chars().take(200).collect::<String>()
            )));
        }
        self.session.subscribe(&self.state.acting_for(caller(&ctx)), ctx.peer.clone(), request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session.unsubscribe(&request.uri);
        Ok(())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.task_allowed(&request.task_id, &ctx)?;
        self.state
            .tasks
            .describe(&request.task_id, &caller(&ctx))
            .map(GetTaskResult::new)
            .ok_or_else(|| task_not_found(&request.task_id))
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.task_allowed(&request.task_id, &ctx)?;
        if self.state.tasks.cancel(&request.task_id, &caller(&ctx)) {
            Ok(())
        } else {
            Err(task_not_found(&request.task_id))
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let principal = principal(&ctx);
        let mut list = crate::resources::list(&self.state.acting_for(caller(&ctx))).await;
        list.resources.retain(|r| scopes::allows(principal.as_ref(), scopes::resource_tools(&r.uri)));
        Ok(list)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let principal = principal(&ctx);
        let mut templates = crate::resources::templates();
        templates.retain(|t| scopes::allows(principal.as_ref(), scopes::resource_tools(&t.uri_template)));
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let tools = scopes::resource_tools(&uri);
        if !tools.is_empty() && !scopes::allows(principal(&ctx).as_ref(), tools) {
            return Err(forbidden(&format!("resource {:?}", uri.chars().take(200).collect::<String>())));
        }
        let state = self.state.acting_for(caller(&ctx));
        let read =
            async move { crate::resources::read(&state, &uri).await.map_err(|e| resource_error(&uri, e)) };
        match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(read)).await {
            Ok(r) => r.map(ReadResourceResponse::from),
            Err(_) => Err(ErrorData::internal_error("reading the resource failed unexpectedly", None)),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let principal = principal(&ctx);
        let mut prompts = crate::prompts::list();
        prompts.retain(|p| scopes::allows(principal.as_ref(), scopes::prompt_tools(&p.name)));
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let tools = scopes::prompt_tools(&request.name);
        if !tools.is_empty() && !scopes::allows(principal(&ctx).as_ref(), tools) {
            return Err(forbidden(&format!("prompt {:?}", request.name)));
        }
        let args = request.arguments.unwrap_or_default();
        crate::prompts::get(&request.name, &args).map(GetPromptResponse::from).map_err(prompt_error)
    }
}

/// A call's outcome for the metrics: `ok`, the tool error's code, or `protocol_error`.
fn outcome_code(result: &Result<rmcp::model::CallToolResult, ErrorData>) -> String {
    match result {
        Ok(r) if r.is_error == Some(true) => r
            .structured_content
            .as_ref()
            .and_then(|c| c.get("code"))
            .and_then(serde_json::Value::as_str)
            .filter(|c| c.len() <= 64)
            .unwrap_or("tool_error")
            .to_owned(),
        Ok(_) => "ok".to_owned(),
        Err(_) => "protocol_error".to_owned(),
    }
}
