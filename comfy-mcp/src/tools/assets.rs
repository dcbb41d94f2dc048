//! Assets: list_assets, get_asset_metadata.

use comfy_core::job::JobId;
use comfy_core::store::{Asset, AssetId, AssetQuery, parse_time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::views::{LinkedAsset, asset_uri};
use super::{CallCtx, Output, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "list_assets",
            "List assets",
            "Recorded outputs, newest first, by job_id, workflow (template) or since.",
        ),
        list_assets,
    );
    r.add(
        ToolDef::read(
            "get_asset_metadata",
            "Asset metadata",
            "An asset's job, node, type, size, dimensions, SHA-256, parameters.",
        ),
        get_asset_metadata,
    );
}

/// Arguments of list_assets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAssetsArgs {
    /// At most this many (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// Only this job's outputs.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub job_id: Option<String>,
    /// Only outputs of this workflow (template name).
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub workflow: Option<String>,
    /// ISO 8601 time or Unix milliseconds.
    #[serde(default)]
    #[schemars(schema_with = "since_schema")]
    pub since: Option<Value>,
}

fn since_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "integer", "null"],
        "minimum": 0,
        "maxLength": 40,
        "description": "ISO 8601 time (2026-11-05T12:00:00Z) or milliseconds since the Unix epoch."
    })
}

/// The answer of list_assets.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AssetList {
    /// The assets, newest first.
    pub assets: Vec<LinkedAsset>,
}

async fn list_assets(ctx: CallCtx, args: ListAssetsArgs) -> ToolResult<AssetList> {
    let since = match &args.since {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => Some(parse_time(s).ok_or_else(|| {
            ToolError::invalid("since", format!("{s:?} is not a time"))
                .with_expected("ISO 8601 like 2026-11-05T12:00:00Z, or milliseconds since the Unix epoch")
        })?),
        Some(_) => return Err(ToolError::invalid("since", "since must be a string or an integer")),
    };
    let query = AssetQuery {
        limit: args.limit.unwrap_or(20) as usize,
        job_id: args.job_id.map(JobId),
        template: args.workflow,
        since,
        owner: None,
    };
    let assets = ctx.state.comfy.assets(&query).await?;
    let assets: Vec<LinkedAsset> = assets.iter().map(LinkedAsset::from).collect();
    let links = assets.iter().filter_map(LinkedAsset::link).collect();
    Ok(Output::from(AssetList { assets }).with_content(links))
}

/// Arguments of get_asset_metadata.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetArgs {
    /// An asset_id from get_output or list_assets.
    #[schemars(length(min = 1, max = 200))]
    pub asset_id: String,
}

/// The answer of get_asset_metadata: the whole record (provenance, file, hashes) and where its
/// bytes are.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AssetMetadata {
    /// The asset record.
    #[serde(flatten)]
    pub asset: Asset,
    /// Resource URI with the bytes (`comfy://assets/<id>`).
    pub uri: String,
}

async fn get_asset_metadata(ctx: CallCtx, args: AssetArgs) -> ToolResult<AssetMetadata> {
    let asset = ctx.state.comfy.asset(&AssetId(args.asset_id)).await?;
    let link = LinkedAsset::from(&asset).link();
    let uri = asset_uri(asset.id.as_str());
    Ok(Output::from(AssetMetadata { asset, uri }).with_content(link.into_iter().collect()))
}
