//! Resources: `comfy://models/{folder}`, `comfy://assets/{asset_id}` (the bytes, with their MIME
//! type), `comfy://jobs/{job_id}` (and its newest sampler preview at `.../preview`),
//! `comfy://workflows/{name}`.

use std::sync::Arc;

use base64::Engine;
use comfy_core::job::JobId;
use comfy_core::store::{Asset, AssetId, AssetQuery};
use rmcp::model::{ListResourcesResult, ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

use crate::error::ToolError;
use crate::state::AppState;
use crate::tools::views::JobView;

/// The URI scheme.
pub const SCHEME: &str = "comfy://";

/// The resource templates.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("comfy://assets/{asset_id}", "asset")
            .with_title("Asset bytes")
            .with_description("An output's bytes (image, video, audio, ...) with its MIME type."),
        ResourceTemplate::new("comfy://jobs/{job_id}", "job")
            .with_title("Job")
            .with_description("A job's status and outputs as JSON.")
            .with_mime_type("application/json"),
        ResourceTemplate::new("comfy://jobs/{job_id}/preview", "job_preview")
            .with_title("Job preview")
            .with_description("The newest sampler preview image of a job, as ComfyUI sent it."),
        ResourceTemplate::new("comfy://models/{folder}", "models")
            .with_title("Model files")
            .with_description("Model files in one folder (checkpoints, loras, ...) as JSON.")
            .with_mime_type("application/json"),
        ResourceTemplate::new("comfy://workflows/{name}", "workflow")
            .with_title("Workflow template")
            .with_description("A workflow template: parameters, JSON Schema and graph.")
            .with_mime_type("application/json"),
    ]
}

/// How many of the newest assets `resources/list` shows.
pub const LISTED_ASSETS: usize = 50;

/// The listed resources: every workflow template, then the newest [`LISTED_ASSETS`] assets
/// (others, and jobs, are reached by URI). The list grows as jobs finish: sessions are told
/// with `notifications/resources/list_changed`.
pub async fn list(state: &AppState) -> ListResourcesResult {
    let lib = state.comfy.templates().snapshot();
    let mut items: Vec<Resource> = lib
        .list()
        .iter()
        .map(|t| {
            Resource::new(format!("comfy://workflows/{}", t.name), t.name.clone())
                .with_description(t.description.chars().take(200).collect::<String>())
                .with_mime_type("application/json")
        })
        .collect();
    let query = AssetQuery { limit: LISTED_ASSETS, ..Default::default() };
    match state.comfy.assets(&query).await {
        Ok(assets) => items.extend(assets.iter().map(asset_resource)),
        Err(e) => tracing::warn!(error = %e, "cannot list assets for resources/list"),
    }
    ListResourcesResult::with_all_items(items)
}

fn asset_resource(a: &Asset) -> Resource {
    let name = a
        .file
        .as_ref()
        .map(|f| f.filename.clone())
        .unwrap_or_else(|| format!("{}[{}] of node {}", a.key, a.index, a.node_id));
    Resource::new(format!("comfy://assets/{}", a.id), name)
        .with_description(format!("output of job {} (node {})", a.job_id, a.node_id))
        .with_mime_type(a.mime_type.clone())
}

/// One path segment of a URI: not empty, not too long, no separators.
fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.contains(['/', '?', '#'])
}

fn unknown(uri: &str) -> ToolError {
    ToolError::new(
        "unknown_resource",
        format!(
            "unknown resource {:?}; expected comfy://assets/{{asset_id}}, comfy://jobs/{{job_id}}, \
             comfy://jobs/{{job_id}}/preview, comfy://models/{{folder}} or comfy://workflows/{{name}}",
            uri.chars().take(200).collect::<String>()
        ),
    )
}

/// Reads one resource.
pub async fn read(state: &Arc<AppState>, uri: &str) -> Result<ReadResourceResult, ToolError> {
    let rest = uri.strip_prefix(SCHEME).ok_or_else(|| unknown(uri))?;
    let (kind, id) = rest.split_once('/').ok_or_else(|| unknown(uri))?;
    if kind == "jobs"
        && let Some(job_id) = id.strip_suffix("/preview")
    {
        return job_preview(state, uri, job_id).await;
    }
    if !plain_id(id) {
        return Err(unknown(uri));
    }
    let json_text = |v: serde_json::Value| {
        ReadResourceResult::new(vec![
            ResourceContents::text(serde_json::to_string_pretty(&v).unwrap_or_default(), uri)
                .with_mime_type("application/json"),
        ])
    };
    match kind {
        "assets" => {
            let fetched = state.comfy.fetch_asset(&AssetId(id.to_owned())).await?;
            let mime = fetched.asset.mime_type.clone();
            let contents = if fetched.asset.file.is_none() && fetched.asset.url.is_none() {
                ResourceContents::text(String::from_utf8_lossy(&fetched.data).into_owned(), uri)
            } else {
                ResourceContents::blob(base64::engine::general_purpose::STANDARD.encode(&fetched.data), uri)
            };
            Ok(ReadResourceResult::new(vec![contents.with_mime_type(mime)]))
        }
        "jobs" => {
            let job = state.comfy.job(&JobId(id.to_owned())).await?;
            let view = JobView::from(state.comfy.report(&job).await?);
            Ok(json_text(serde_json::to_value(view).unwrap_or_default()))
        }
        "models" => {
            let models = state
                .comfy
                .backend()
                .models(id)
                .await
                .map_err(|e| ToolError::from(e).with_field("folder"))?;
            Ok(json_text(json!({"folder": id, "models": models})))
        }
        "workflows" => {
            let t = state.comfy.template(id).await?;
            Ok(json_text(json!({
                "name": t.name,
                "description": t.description,
                "params": t.params,
                "input_schema": t.json_schema(),
                "workflow": t.workflow.to_value(),
            })))
        }
        _ => Err(unknown(uri)),
    }
}

/// The newest preview frame of a job, as the backend sent it (already a small JPEG or PNG).
async fn job_preview(
    state: &Arc<AppState>,
    uri: &str,
    job_id: &str,
) -> Result<ReadResourceResult, ToolError> {
    if !plain_id(job_id) {
        return Err(unknown(uri));
    }
    let job = state.comfy.job(&JobId(job_id.to_owned())).await?;
    let frame = job.latest_preview().ok_or_else(|| {
        ToolError::new(
            "no_preview",
            format!(
                "job {job_id} has sent no preview image (yet): ComfyUI sends sampler previews while a \
                 sampler runs when started with --preview-method auto, and they are kept in memory only"
            ),
        )
    })?;
    let blob = base64::engine::general_purpose::STANDARD.encode(&frame.data);
    Ok(ReadResourceResult::new(vec![ResourceContents::blob(blob, uri).with_mime_type(frame.mime)]))
}
