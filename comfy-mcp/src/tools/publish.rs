//! Publishing into a web project: publish_asset, get_publish_info.

use comfy_core::preview::{WEB_QUALITIES, WEB_SCALES};
use comfy_core::publish::{AUTO_DIRS, DEFAULT_MAX_BYTES};
use comfy_core::store::AssetId;
use comfy_core::{PublishOptions, PublishedAsset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::shared::{NoArgs, asset_id_schema};
use super::{CallCtx, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "publish_asset",
            "Publish asset",
            "Copy an asset into the web publish dir (optionally as WebP) and record it in manifest.json.",
        ),
        publish_asset,
    );
    r.add(
        ToolDef::read(
            "get_publish_info",
            "Publish info",
            "The publish dir, manifest entries and size budget.",
        ),
        get_publish_info,
    );
}

/// Arguments of publish_asset.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishArgs {
    /// The asset to publish.
    #[schemars(schema_with = "asset_id_schema")]
    pub asset_id: String,
    /// Default: the asset's file name.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub target_filename: Option<String>,
    /// Default: the file name without extension.
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub manifest_key: Option<String>,
    /// WebP, scaled to fit max_bytes.
    #[serde(default)]
    pub web_optimize: bool,
    /// Size budget (default 600000 with web_optimize).
    #[serde(default)]
    #[schemars(range(min = 1024, max = 104_857_600))]
    pub max_bytes: Option<u64>,
    /// Replace an existing file of that name.
    #[serde(default)]
    pub overwrite: bool,
}

/// The answer of publish_asset.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedView {
    /// What was written (path relative to the publish directory, manifest key, size, hash).
    #[serde(flatten)]
    pub published: PublishedAsset,
    /// The publish directory (relative or last component; never absolute).
    pub publish_dir: String,
}

async fn publish_asset(ctx: CallCtx, args: PublishArgs) -> ToolResult<PublishedView> {
    let dir = ctx.state.publish_dir().await?;
    let options = PublishOptions {
        target_filename: args.target_filename,
        manifest_key: args.manifest_key,
        web_optimize: args.web_optimize,
        max_bytes: args.max_bytes,
        overwrite: args.overwrite,
    };
    let published =
        ctx.state.comfy.publish_asset(&AssetId(args.asset_id), &dir, options).await.map_err(|e| {
            let too_large = e.code() == "too_large";
            let t = ToolError::from(e);
            if too_large { t.with_field("max_bytes") } else { t }
        })?;
    Ok(PublishedView { published, publish_dir: dir.display().to_owned() }.into())
}

/// The answer of get_publish_info.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishInfo {
    /// A publish directory is available.
    pub available: bool,
    /// Its relative (or last-component) name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_dir: Option<String>,
    /// Found under the working directory rather than configured.
    pub auto_detected: bool,
    /// Entries in manifest.json.
    pub manifest_entries: usize,
    /// Default max_bytes with web_optimize.
    pub default_max_bytes: u64,
    /// How web_optimize encodes (WebP: lossless, then lossy qualities, over a ladder of scales).
    pub web_optimize: String,
    /// Where auto-detection looks, in order.
    pub auto_dirs: Vec<String>,
    /// Why none is available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

async fn get_publish_info(ctx: CallCtx, _: NoArgs) -> ToolResult<PublishInfo> {
    let scales: Vec<String> = WEB_SCALES.iter().map(|s| format!("{s}")).collect();
    let mut info = PublishInfo {
        available: false,
        publish_dir: None,
        auto_detected: false,
        manifest_entries: 0,
        default_max_bytes: DEFAULT_MAX_BYTES,
        web_optimize: format!(
            "WebP; at each scale ({}) lossless, then lossy at quality {}, until it fits",
            scales.join(", "),
            WEB_QUALITIES.map(|q| q.to_string()).join(", ")
        ),
        auto_dirs: AUTO_DIRS.iter().map(|s| s.to_string()).collect(),
        hint: None,
    };
    match ctx.state.publish_dir().await {
        Ok(dir) => {
            let d = dir.clone();
            let manifest = tokio::task::spawn_blocking(move || d.manifest())
                .await
                .map_err(|e| ToolError::new("internal_error", e.to_string()))??;
            info.available = true;
            info.publish_dir = Some(dir.display().to_owned());
            info.auto_detected = dir.auto_detected();
            info.manifest_entries = manifest.len();
        }
        Err(e) => info.hint = Some(e.message),
    }
    Ok(info.into())
}
