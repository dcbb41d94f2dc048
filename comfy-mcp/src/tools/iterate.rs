//! Iteration: regenerate (make an asset again with changes), use_previous_output (an output
//! becomes an input of the next workflow).

use comfy_core::backend::Upload;
use comfy_core::job::MediaKind;
use comfy_core::prepare::prepare_rendered;
use comfy_core::store::AssetId;
use comfy_core::{Origin, Source, override_workflow, rerender};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::shared::{InputView, asset_id_schema, too_large, upload_error, yes};
use super::views::{JobView, submit_and_report};
use super::{CallCtx, Output, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "regenerate",
            "Regenerate",
            "Make an asset again: its template re-rendered with the stored parameters plus overrides (param \
             names) and seed; for a raw workflow, the stored graph with overrides as \"node_id.input\". \
             Returns the new job like run_workflow.",
        ),
        regenerate,
    );
    r.add(
        ToolDef {
            idempotent: true,
            ..ToolDef::write(
                "use_previous_output",
                "Use previous output",
                "Upload an earlier output (via ComfyUI, works remotely) as an input file; returns input_name \
                 for LoadImage's image input.",
            )
        },
        use_previous_output,
    );
}

fn overrides_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 100,
        "description": "Template outputs: {param: value}. Raw workflows: {\"<node_id>.<input>\": value}."
    })
}

/// Arguments of regenerate.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateArgs {
    /// The asset to make again.
    #[schemars(schema_with = "asset_id_schema")]
    pub asset_id: String,
    /// Changes to the stored parameters.
    #[serde(default)]
    #[schemars(schema_with = "overrides_schema")]
    pub overrides: Map<String, Value>,
    /// New value of the template's seed parameter (templates only).
    #[serde(default)]
    #[schemars(range(min = 0, max = 9_007_199_254_740_991u64))]
    pub seed: Option<u64>,
    /// Wait for the result (default true, up to the server's wait budget).
    #[serde(default = "yes")]
    pub wait: bool,
}

/// The answer of regenerate: the new job plus where it came from.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RegenerateView {
    /// The new job.
    #[serde(flatten)]
    pub job: JobView,
    /// The asset it was made from.
    pub source_asset_id: String,
    /// The template re-rendered, or absent for a raw workflow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

async fn regenerate(ctx: CallCtx, args: RegenerateArgs) -> ToolResult<RegenerateView> {
    if args.overrides.len() > 100 {
        return Err(ToolError::invalid("overrides", "at most 100 overrides"));
    }
    let (asset, origin) = ctx.state.comfy.origin_of(&AssetId(args.asset_id.clone())).await?;
    let source_asset_id = asset.id.0.clone();
    match origin {
        Origin::Template { name, params } => {
            let template = ctx.state.comfy.template(&name).await.map_err(|e| {
                if e.code() == "template_not_found" {
                    ToolError::new(
                        "template_not_found",
                        format!(
                            "asset {source_asset_id} was made by template {name:?}, which no longer exists; it \
                             cannot be re-rendered"
                        ),
                    )
                    .with_field("asset_id")
                } else {
                    e.into()
                }
            })?;
            let overrides = |e: comfy_core::Error| {
                ToolError::from(e).map_field(|f| f.replacen("params.", "overrides.", 1))
            };
            let defaults = ctx.state.comfy.param_defaults();
            let rendered =
                rerender(&template, &params, &args.overrides, args.seed, &defaults).map_err(overrides)?;
            let catalog = ctx.state.comfy.catalog().await?;
            let prepared =
                prepare_rendered(&template, rendered, &catalog, &Default::default()).map_err(overrides)?;
            let out = submit_and_report(&ctx, prepared.into_request(), args.wait).await?;
            let view = RegenerateView { job: out.value, source_asset_id, template: Some(name) };
            Ok(Output { value: view, content: out.content })
        }
        Origin::Workflow(graph) => {
            if args.seed.is_some() {
                return Err(ToolError::invalid(
                    "seed",
                    format!(
                        "asset {source_asset_id} came from a raw workflow, which has no seed parameter; set \
                         the sampler's seed with overrides, e.g. {{\"3.seed\": 42}}"
                    ),
                ));
            }
            let catalog = ctx.state.comfy.catalog().await?;
            let workflow = override_workflow(&graph, &args.overrides, &catalog)?;
            let prepared = ctx.state.comfy.prepare(Source::Workflow(workflow)).await?;
            let out = submit_and_report(&ctx, prepared.into_request(), args.wait).await?;
            let view = RegenerateView { job: out.value, source_asset_id, template: None };
            Ok(Output { value: view, content: out.content })
        }
    }
}

/// Arguments of use_previous_output.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviousOutputArgs {
    /// The output to reuse.
    #[schemars(schema_with = "asset_id_schema")]
    pub asset_id: String,
    /// Sub-folder of ComfyUI's input folder (default: none).
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub subfolder: Option<String>,
}

async fn use_previous_output(ctx: CallCtx, args: PreviousOutputArgs) -> ToolResult<InputView> {
    let id = AssetId(args.asset_id);
    let asset = ctx.state.comfy.asset(&id).await?;
    let Some(file) = &asset.file else {
        return Err(ToolError::invalid(
            "asset_id",
            format!("{id} is not a file (a {} value)", asset.mime_type),
        ));
    };
    if !matches!(asset.media, MediaKind::Image | MediaKind::Video | MediaKind::Audio) {
        return Err(ToolError::invalid(
            "asset_id",
            format!("{id} is a {} file; only images, videos and audio can be inputs", asset.mime_type),
        ));
    }
    let limit = ctx.state.settings.limits.max_upload_bytes;
    if let Some(size) = asset.byte_size.filter(|s| *s > limit) {
        return Err(too_large("asset_id", size, limit));
    }
    let fetched = ctx.state.comfy.fetch_asset(&id).await?;
    if fetched.data.len() as u64 > limit {
        return Err(too_large("asset_id", fetched.data.len() as u64, limit));
    }
    let name = format!("{}_{}", id.0, file.filename);
    comfy_core::paths::check_file_name(&name, "asset_id")?;
    let size = fetched.data.len() as u64;
    let mut upload = Upload::file(name, fetched.data);
    upload.subfolder = args.subfolder.unwrap_or_default();
    upload.overwrite = true;
    let uploaded = ctx.state.comfy.upload(upload).await.map_err(|e| upload_error(e, "subfolder"))?;
    Ok(InputView {
        source_asset_id: Some(id.0.clone()),
        source_job_id: Some(asset.job_id.0.clone()),
        ..InputView::uploaded(uploaded, size)
    }
    .into())
}
