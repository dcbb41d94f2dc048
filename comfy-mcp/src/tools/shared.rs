//! Helpers more than one tool group uses: argument schemas, the bounded JPEG for images and
//! previews, upload results and errors, workflow summaries. Tool modules import this module
//! (and [`super::views`]), never each other.

use base64::Engine;
use comfy_core::backend::UploadedFile;
use comfy_core::preview::{Encoded, PREVIEW_MAX_BASE64, base64_len, preview};
use comfy_core::ui::UiConversion;
use comfy_core::workflow::{WorkflowSummary, summarize};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::CallCtx;
use crate::error::ToolError;

/// The schema of an `asset_id` argument.
pub(crate) fn asset_id_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "description": "An asset_id from get_output or list_assets."
    })
}

/// A bounded JPEG of an image (see [`preview`]) and its base64 text, encoded off the async
/// runtime; a decoding error names `field`.
pub(crate) async fn bounded_jpeg(
    data: bytes::Bytes,
    what: String,
    max_dim: u32,
    field: &'static str,
) -> Result<(Encoded, String), ToolError> {
    let encoded = tokio::task::spawn_blocking(move || preview(&data, &what, max_dim, PREVIEW_MAX_BASE64))
        .await
        .map_err(|e| ToolError::new("internal_error", format!("preview task failed: {e}")))?
        .map_err(|e| ToolError::from(e).with_field(field))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&encoded.data);
    debug_assert_eq!(b64.len(), base64_len(encoded.data.len()));
    Ok((encoded, b64))
}

/// Where an uploaded input landed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InputView {
    /// The value for a LoadImage-style input (`subfolder/name.png`).
    pub input_name: String,
    /// The file as the backend stored it.
    #[serde(flatten)]
    pub file: UploadedFile,
    /// Bytes sent.
    pub byte_size: u64,
    /// The asset it came from (use_previous_output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_asset_id: Option<String>,
    /// That asset's job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_job_id: Option<String>,
}

impl InputView {
    /// Where `uploaded` landed, `byte_size` bytes, from no asset.
    pub(crate) fn uploaded(uploaded: UploadedFile, byte_size: u64) -> InputView {
        InputView {
            input_name: uploaded.input_value(),
            file: uploaded,
            byte_size,
            source_asset_id: None,
            source_job_id: None,
        }
    }
}

/// A `too_large` error about `field`.
pub(crate) fn too_large(field: &str, size: u64, limit: u64) -> ToolError {
    ToolError::from(comfy_core::Error::TooLarge {
        what: "the file".into(),
        size,
        limit,
        hint: Some("the server's max_upload_bytes".into()),
    })
    .with_field(field)
}

/// Names the argument an upload's own checks are about.
pub(crate) fn upload_error(e: comfy_core::Error, field: &str) -> ToolError {
    let t = ToolError::from(e);
    if t.field.as_deref() == Some("upload") { t.with_field(field) } else { t }
}

/// Arguments naming a saved workflow or an official template.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameArgs {
    /// Name from list_saved_workflows (".json" optional) or search_templates.
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
    /// Nodes and editable inputs (`key` is what run_saved_workflow takes as an override).
    #[serde(flatten)]
    pub summary: WorkflowSummary,
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

/// The summary of a converted workflow against the live catalogue.
pub(crate) async fn summary_view(
    ctx: &CallCtx,
    name: &str,
    converted: UiConversion,
) -> Result<SummaryView, ToolError> {
    let catalog = ctx.state.comfy.catalog().await?;
    Ok(SummaryView {
        name: name.to_owned(),
        description: None,
        tags: Vec::new(),
        models: Vec::new(),
        summary: summarize(&converted.workflow, &catalog),
        warnings: converted.warnings,
    })
}

/// Default-true for `wait` arguments.
pub(crate) fn yes() -> bool {
    true
}

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}
