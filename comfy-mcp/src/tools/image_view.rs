//! view_image: a bounded preview of an image asset as MCP image content.

use comfy_core::job::MediaKind;
use comfy_core::preview::{Encoded, PREVIEW_DEFAULT_DIM, PREVIEW_MAX_DIM};
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
            "See an image asset as a JPEG preview (longest side max_dim, default 512).",
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
    /// Longest side in pixels.
    #[serde(default)]
    #[schemars(range(min = 16, max = 1024))]
    pub max_dim: Option<u32>,
}

/// The answer of view_image (the picture itself is the image content block).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ImagePreview {
    /// The asset.
    pub asset_id: String,
    /// The preview: its size and the original's (orientation applied), MIME type, JPEG quality.
    #[serde(flatten)]
    pub preview: Encoded,
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
    let mime_type = encoded.mime_type;
    let value = ImagePreview {
        asset_id: id.0.clone(),
        byte_size: encoded.data.len(),
        base64_chars: b64.len(),
        preview: encoded,
    };
    let mut content = vec![ContentBlock::image(b64, mime_type)];
    content.extend(LinkedAsset::from(&fetched.asset).link());
    Ok(Output::from(value).with_content(content))
}
