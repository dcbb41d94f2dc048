//! view_image: a bounded preview of an image asset as MCP image content.

use comfy_core::job::MediaKind;
use comfy_core::preview::{PREVIEW_DEFAULT_DIM, PREVIEW_MAX_DIM};
use comfy_core::store::AssetId;
use rmcp::model::ContentBlock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::shared::{asset_id_schema, bounded_jpeg};
use super::views::LinkedAsset;
use super::{CallCtx, Output, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "view_image",
            "View image",
            "See an image asset: a JPEG preview (longest side ≤ max_dim, default 512, max 1024; under 100 000 \
             base64 chars) as image content, plus its size.",
        ),
        view_image,
    );
}

/// Arguments of view_image.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewImageArgs {
    /// The image asset.
    #[schemars(schema_with = "asset_id_schema")]
    pub asset_id: String,
    /// Longest side of the preview in pixels (default 512).
    #[serde(default)]
    #[schemars(range(min = 16, max = 1024))]
    pub max_dim: Option<u32>,
}

/// The answer of view_image (the picture itself is the image content block).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ImagePreview {
    /// The asset.
    pub asset_id: String,
    /// Preview width.
    pub width: u32,
    /// Preview height.
    pub height: u32,
    /// The image's width (orientation applied).
    pub original_width: u32,
    /// The image's height (orientation applied).
    pub original_height: u32,
    /// `image/jpeg`.
    pub mime_type: String,
    /// JPEG quality used.
    pub quality: u8,
    /// Size of the preview in bytes.
    pub byte_size: usize,
    /// Length of its base64 text.
    pub base64_chars: usize,
}

async fn view_image(ctx: CallCtx, args: ViewImageArgs) -> ToolResult<ImagePreview> {
    let id = AssetId(args.asset_id);
    let asset = ctx.state.comfy.asset(&id).await?;
    if asset.media != MediaKind::Image || asset.file.is_none() && asset.url.is_none() {
        return Err(ToolError::invalid(
            "asset_id",
            format!("{id} is not an image ({}); view_image shows image assets only", asset.mime_type),
        ));
    }
    let fetched = ctx.state.comfy.fetch_asset(&id).await?;
    let max_dim = args.max_dim.unwrap_or(PREVIEW_DEFAULT_DIM).clamp(16, PREVIEW_MAX_DIM);
    let (encoded, b64) =
        bounded_jpeg(fetched.data.clone(), format!("asset {id}"), max_dim, "asset_id").await?;
    let value = ImagePreview {
        asset_id: id.0.clone(),
        width: encoded.width,
        height: encoded.height,
        original_width: encoded.original_width,
        original_height: encoded.original_height,
        mime_type: encoded.mime_type.to_owned(),
        quality: encoded.quality.unwrap_or(100),
        byte_size: encoded.data.len(),
        base64_chars: b64.len(),
    };
    let mut content = vec![ContentBlock::image(b64, encoded.mime_type)];
    content.extend(LinkedAsset::from(&fetched.asset).link());
    Ok(Output::from(value).with_content(content))
}
