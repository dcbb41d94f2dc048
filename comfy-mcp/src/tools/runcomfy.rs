//! RunComfy's own tools, listed only when the server runs on the RunComfy backend:
//! deployments (list, get, create, update, delete) and requests by id (submit with overrides,
//! status, result, cancel), plus the instance proxy. Each is one call into
//! [`comfy_core::backend::runcomfy::RunComfy`].

use comfy_core::SubmittedRequest;
use comfy_core::backend::runcomfy::{
    Deployment, DeploymentSpec, DeploymentUpdate, PayloadSummary, RequestCancel, RequestResult, RequestSpec,
    RequestStatus,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CallCtx, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "list_deployments",
            "List deployments",
            "RunComfy deployments (id, name, workflow, hardware, scaling, status).",
        ),
        list_deployments,
    );
    r.add(
        ToolDef::read(
            "get_deployment",
            "Get deployment",
            "One deployment (default: the configured one); include_payload adds its workflow and overridable inputs.",
        ),
        get_deployment,
    );
    r.add(
        ToolDef::write(
            "create_deployment",
            "Create deployment",
            "Deploy a Cloud-Saved workflow on a GPU. Billed per second while instances run (min_instances > 0 bills while idle).",
        ),
        create_deployment,
    );
    r.add(
        ToolDef {
            idempotent: true,
            ..ToolDef::write(
                "update_deployment",
                "Update deployment",
                "Change a deployment (rolling update); is_enabled=false fails its queued requests.",
            )
        },
        update_deployment,
    );
    r.add(
        ToolDef {
            destructive: true,
            idempotent: true,
            ..ToolDef::write(
                "delete_deployment",
                "Delete deployment",
                "Delete a deployment permanently; confirm must repeat its id.",
            )
        },
        delete_deployment,
    );
    r.add(
        ToolDef::write(
            "submit_request",
            "Submit request",
            "Run a deployment (billed): overrides of its saved workflow, checked first, or a whole \
             workflow_api_json. Recorded as a job (job_id = request_id): the job tools, assets and regenerate \
             work on it. wait=true waits up to the wait budget for the result.",
        ),
        submit_request,
    );
    r.add(
        ToolDef::read(
            "get_request_status",
            "Request status",
            "A request's status, queue position and instance.",
        ),
        get_request_status,
    );
    r.add(
        ToolDef::read(
            "get_request_result",
            "Request result",
            "A request's outputs (hosted URLs, kept 7 days), texts, or why it failed.",
        ),
        get_request_result,
    );
    r.add(
        ToolDef {
            destructive: true,
            idempotent: true,
            ..ToolDef::write(
                "cancel_request",
                "Cancel request",
                "Cancel a request: cancelled, cancel_requested or not_cancellable.",
            )
        },
        cancel_request,
    );
    r.add(
        ToolDef {
            destructive: true,
            ..ToolDef::write(
                "instance_proxy",
                "Instance proxy",
                "Call the ComfyUI of a running instance (instance_id from get_request_status). Read-only paths \
                 (object_info, system_stats, queue, history) unless allow_write (e.g. api/free).",
            )
        },
        instance_proxy,
    );
}

fn runcomfy(ctx: &CallCtx) -> Result<&comfy_core::backend::runcomfy::RunComfy, ToolError> {
    Ok(ctx.state.comfy.runcomfy()?)
}

/// Arguments of list_deployments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only these deployment ids.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub ids: Vec<String>,
    /// Include each workflow payload (large).
    #[serde(default)]
    pub include_payload: bool,
    /// Include each readme.
    #[serde(default)]
    pub include_readme: bool,
}

/// Deployments.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeploymentList {
    /// The deployments.
    pub deployments: Vec<Deployment>,
}

async fn list_deployments(ctx: CallCtx, a: ListArgs) -> ToolResult<DeploymentList> {
    let deployments = runcomfy(&ctx)?.list_deployments(&a.ids, a.include_payload, a.include_readme).await?;
    Ok(DeploymentList { deployments }.into())
}

/// Arguments of get_deployment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// The deployment (default: the configured one).
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// Include the workflow payload and its summary.
    #[serde(default)]
    pub include_payload: bool,
    /// Include the readme.
    #[serde(default)]
    pub include_readme: bool,
}

/// One deployment.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeploymentView {
    /// The deployment.
    pub deployment: Deployment,
    /// With include_payload: the nodes and literal inputs overrides can change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_summary: Option<PayloadSummary>,
}

async fn get_deployment(ctx: CallCtx, a: GetArgs) -> ToolResult<DeploymentView> {
    let deployment = runcomfy(&ctx)?
        .get_deployment(a.deployment_id.as_deref(), a.include_payload, a.include_readme)
        .await?;
    let payload_summary = deployment.payload_summary();
    Ok(DeploymentView { deployment, payload_summary }.into())
}

async fn create_deployment(ctx: CallCtx, spec: DeploymentSpec) -> ToolResult<DeploymentView> {
    let deployment = runcomfy(&ctx)?.create_deployment(&spec).await?;
    Ok(DeploymentView { deployment, payload_summary: None }.into())
}

/// Arguments of update_deployment.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateArgs {
    /// The deployment (default: the configured one).
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// The changes.
    #[serde(flatten)]
    pub update: DeploymentUpdate,
}

async fn update_deployment(ctx: CallCtx, a: UpdateArgs) -> ToolResult<DeploymentView> {
    let deployment = runcomfy(&ctx)?.update_deployment(a.deployment_id.as_deref(), &a.update).await?;
    Ok(DeploymentView { deployment, payload_summary: None }.into())
}

/// Arguments of delete_deployment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// The deployment to delete.
    #[schemars(length(min = 1, max = 200))]
    pub deployment_id: String,
    /// The same id again: the deletion is permanent.
    #[schemars(length(min = 1, max = 200))]
    pub confirm: String,
}

/// What a delete did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    /// The deleted deployment.
    pub deployment_id: String,
    /// RunComfy's answer, as sent.
    pub response: Value,
}

async fn delete_deployment(ctx: CallCtx, a: DeleteArgs) -> ToolResult<Deleted> {
    if a.confirm.trim() != a.deployment_id.trim() {
        return Err(ToolError::invalid(
            "confirm",
            "deleting a deployment is permanent: pass confirm equal to deployment_id to do it",
        ));
    }
    let response = runcomfy(&ctx)?.delete_deployment(&a.deployment_id).await?;
    Ok(Deleted { deployment_id: a.deployment_id, response }.into())
}

/// Arguments of submit_request.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SubmitArgs {
    /// The request.
    #[serde(flatten)]
    pub request: RequestSpec,
    /// Wait (up to the server's wait budget) for the result.
    #[serde(default)]
    pub wait: bool,
}

async fn submit_request(ctx: CallCtx, a: SubmitArgs) -> ToolResult<SubmittedRequest> {
    let wait = a.wait.then_some(ctx.wait_budget);
    Ok(ctx.state.comfy.run_request(&a.request, wait).await?.into())
}

/// A request by id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestArgs {
    /// The deployment (default: the configured one).
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// From submit_request (or a job_id of this backend).
    #[schemars(length(min = 1, max = 200))]
    pub request_id: String,
}

async fn get_request_status(ctx: CallCtx, a: RequestArgs) -> ToolResult<RequestStatus> {
    Ok(ctx.state.comfy.request_status(a.deployment_id.as_deref(), &a.request_id).await?.into())
}

async fn get_request_result(ctx: CallCtx, a: RequestArgs) -> ToolResult<RequestResult> {
    Ok(ctx.state.comfy.request_result(a.deployment_id.as_deref(), &a.request_id).await?.into())
}

async fn cancel_request(ctx: CallCtx, a: RequestArgs) -> ToolResult<RequestCancel> {
    Ok(ctx.state.comfy.cancel_request(a.deployment_id.as_deref(), &a.request_id).await?.into())
}

/// Paths of ComfyUI's API that only read.
const READ_PATHS: [&str; 6] = ["object_info", "system_stats", "queue", "history", "features", "embeddings"];

/// Arguments of instance_proxy.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyArgs {
    /// The deployment (default: the configured one).
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// The instance (from get_request_status while it runs or is kept warm).
    #[schemars(length(min = 1, max = 200))]
    pub instance_id: String,
    /// ComfyUI path, e.g. `object_info`, `api/free`.
    #[schemars(length(min = 1, max = 300))]
    pub path: String,
    /// JSON body (default `{}`), e.g. `{"unload_models": true}` for api/free.
    #[serde(default)]
    pub body: Option<Map<String, Value>>,
    /// Allow paths that change the instance (api/free, api/interrupt, api/prompt).
    #[serde(default)]
    pub allow_write: bool,
}

/// The instance's answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProxyAnswer {
    /// As sent (JSON, or text; null when empty).
    pub response: Value,
}

async fn instance_proxy(ctx: CallCtx, a: ProxyArgs) -> ToolResult<ProxyAnswer> {
    let path = a.path.trim().trim_start_matches('/');
    let route = path.strip_prefix("api/").unwrap_or(path);
    let first = route.split(['/', '?']).next().unwrap_or("");
    if !a.allow_write && !READ_PATHS.contains(&first) {
        return Err(ToolError::invalid(
            "path",
            format!(
                "{path:?} may change the instance; read-only paths are {} (pass allow_write=true to call it)",
                READ_PATHS.join(", ")
            ),
        ));
    }
    let body = a.body.map(Value::Object);
    let response = runcomfy(&ctx)?
        .instance_proxy(a.deployment_id.as_deref(), &a.instance_id, path, body.as_ref())
        .await?;
    Ok(ProxyAnswer { response }.into())
}
