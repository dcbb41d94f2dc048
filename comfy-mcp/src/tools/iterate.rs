//! Iteration: regenerate (make an asset again with changes), use_previous_output (an output
//! becomes an input of the next workflow).

use comfy_core::store::AssetId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::shared::{InputView, asset_id_schema, upload_error, yes};
use super::views::{JobView, report_submitted};
use super::{CallCtx, Output, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "regenerate",
            "Regenerate",
            "Make an asset again from its stored parameters plus overrides (template params, or \"node_id.input\") and seed.",
        ),
        regenerate,
    );
    r.add(
        ToolDef {
            idempotent: true,
            ..ToolDef::write(
                "use_previous_output",
                "Use previous output",
                "Make an earlier output an input file; returns input_name.",
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
    /// New seed (templates).
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
    let id = AssetId(args.asset_id);
    let regeneration =
        ctx.state.comfy.prepare_regenerate(&id, &args.overrides, args.seed).await.map_err(|e| {
            let gone = matches!(e, comfy_core::Error::TemplateGone { .. });
            match gone {
                true => ToolError::from(e).with_field("asset_id"),
                // Parameter names are this tool's `overrides`.
                false => ToolError::from(e).map_field(|f| f.replacen("params.", "overrides.", 1)),
            }
        })?;
    let template = regeneration.template.clone();
    let job = ctx.state.comfy.submit_regeneration(regeneration).await?;
    let out = report_submitted(&ctx, &job, args.wait).await?;
    let view = RegenerateView { job: out.value, source_asset_id: id.0, template };
    Ok(Output { value: view, content: out.content })
}

/// Arguments of use_previous_output.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviousOutputArgs {
    /// The output to reuse.
    #[schemars(schema_with = "asset_id_schema")]
    pub asset_id: String,
    /// In ComfyUI's input folder.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub subfolder: Option<String>,
}

async fn use_previous_output(ctx: CallCtx, args: PreviousOutputArgs) -> ToolResult<InputView> {
    let limit = ctx.state.settings.limits.max_upload_bytes;
    let reused =
        ctx.state.comfy.reuse_output(&AssetId(args.asset_id), args.subfolder, limit).await.map_err(|e| {
            let too_large = matches!(e, comfy_core::Error::TooLarge { .. });
            match too_large {
                true => ToolError::from(e).with_field("asset_id"),
                false => upload_error(e, "subfolder"),
            }
        })?;
    Ok(InputView {
        source_asset_id: Some(reused.source.id.0.clone()),
        source_job_id: Some(reused.source.job_id.0.clone()),
        ..InputView::uploaded(reused.uploaded, reused.byte_size)
    }
    .into())
}
