//! Publishing into a web project: publish_asset, get_publish_info.

use std::path::Path;

use bytes::Bytes;
use comfy_core::job::MediaKind;
use comfy_core::preview::{WEB_SCALES, web_optimize};
use comfy_core::publish::{AUTO_DIRS, DEFAULT_MAX_BYTES, PublishRequest};
use comfy_core::store::AssetId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::execution::NoArgs;
use super::shared::asset_id_schema;
use super::{CallCtx, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "publish_asset",
            "Publish asset",
            "Copy an asset into the web publish dir (optionally as WebP under max_bytes), record it in \
             manifest.json {key: filename} and publish_log.jsonl. Returns the relative path.",
        ),
        publish_asset,
    );
    r.add(
        ToolDef::read(
            "get_publish_info",
            "Publish info",
            "The publish directory (relative name), whether auto-detected, manifest entries, size budget.",
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
    /// File name in the publish dir (default: the asset's; `.webp` when web_optimize).
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub target_filename: Option<String>,
    /// manifest.json key (default: the file name without extension).
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub manifest_key: Option<String>,
    /// Convert to WebP, scaled down until it fits max_bytes.
    #[serde(default)]
    pub web_optimize: bool,
    /// Size budget in bytes (default 600000 with web_optimize; else only checked when given).
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
    /// The asset published.
    pub asset_id: String,
    /// File name written.
    pub filename: String,
    /// Path relative to the publish directory.
    pub relative_path: String,
    /// The publish directory (relative or last component; never absolute).
    pub publish_dir: String,
    /// The manifest key now pointing at it.
    pub manifest_key: String,
    /// Bytes written.
    pub byte_size: u64,
    /// SHA-256 of the bytes.
    pub sha256: String,
    /// MIME type of the file written.
    pub mime_type: String,
    /// Width, for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height, for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Converted to WebP.
    pub web_optimized: bool,
    /// An existing file was replaced.
    pub replaced: bool,
}

fn with_extension(name: &str, ext: &str) -> String {
    let stem =
        Path::new(name).file_stem().map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned());
    format!("{stem}.{ext}")
}

async fn publish_asset(ctx: CallCtx, args: PublishArgs) -> ToolResult<PublishedView> {
    let dir = ctx.state.publish_dir().await?;
    let id = AssetId(args.asset_id);
    let asset = ctx.state.comfy.asset(&id).await?;
    let Some(file) = asset.file.clone() else {
        return Err(ToolError::invalid(
            "asset_id",
            format!("{id} is not a file (a {} value)", asset.mime_type),
        ));
    };
    if args.web_optimize && asset.media != MediaKind::Image {
        return Err(ToolError::invalid(
            "web_optimize",
            format!("{id} is not an image ({})", asset.mime_type),
        ));
    }
    let mut filename = args.target_filename.clone().unwrap_or_else(|| file.filename.clone());
    comfy_core::paths::check_file_name(&filename, "target_filename")?;
    let fetched = ctx.state.comfy.fetch_asset(&id).await?;
    let (data, mime_type, width, height) = if args.web_optimize {
        let budget = args.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        let bytes = fetched.data.clone();
        let what = format!("asset {id}");
        let encoded = tokio::task::spawn_blocking(move || web_optimize(&bytes, &what, budget))
            .await
            .map_err(|e| ToolError::new("internal_error", format!("encoding task failed: {e}")))?
            .map_err(|e| ToolError::from(e).with_field("max_bytes"))?;
        filename = with_extension(&filename, encoded.extension);
        (Bytes::from(encoded.data), encoded.mime_type.to_owned(), Some(encoded.width), Some(encoded.height))
    } else {
        if let Some(max) = args.max_bytes
            && fetched.data.len() as u64 > max
        {
            return Err(ToolError::from(comfy_core::Error::TooLarge {
                what: format!("asset {id}"),
                size: fetched.data.len() as u64,
                limit: max,
                hint: Some("pass web_optimize=true to convert and scale it down".into()),
            })
            .with_field("max_bytes"));
        }
        (fetched.data.clone(), fetched.asset.mime_type.clone(), fetched.asset.width, fetched.asset.height)
    };
    let mut log = Map::new();
    log.insert("asset_id".into(), json!(id.0));
    log.insert("job_id".into(), json!(asset.job_id.0));
    log.insert("web_optimized".into(), json!(args.web_optimize));
    if let Some(t) = &asset.provenance.template {
        log.insert("template".into(), json!(t));
    }
    let published = dir
        .publish(PublishRequest {
            data,
            filename,
            manifest_key: args.manifest_key,
            overwrite: args.overwrite,
            log,
        })
        .await?;
    Ok(PublishedView {
        asset_id: id.0,
        filename: published.filename,
        relative_path: published.relative_path,
        publish_dir: dir.display().to_owned(),
        manifest_key: published.manifest_key,
        byte_size: published.byte_size,
        sha256: published.sha256,
        mime_type,
        width,
        height,
        web_optimized: args.web_optimize,
        replaced: published.replaced,
    }
    .into())
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
    /// How web_optimize encodes (lossless WebP over a ladder of scales).
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
        web_optimize: format!("lossless WebP, scales tried in order: {}", scales.join(", ")),
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
