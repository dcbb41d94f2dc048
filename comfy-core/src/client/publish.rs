//! Publishing an asset into a web project's directory: fetched through the backend, optionally
//! converted to WebP under a byte budget, written atomically with its manifest entry.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, json};

use super::Comfy;
use crate::error::{Error, Result};
use crate::job::MediaKind;
use crate::preview::web_optimize;
use crate::publish::{DEFAULT_MAX_BYTES, PublishDir, PublishRequest, Published};
use crate::store::AssetId;

/// How to publish an asset.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// File name in the directory (default: the asset's; `.webp` with `web_optimize`).
    pub target_filename: Option<String>,
    /// `manifest.json` key (default: the file name without extension).
    pub manifest_key: Option<String>,
    /// Convert to WebP, scaled down until it fits `max_bytes`.
    pub web_optimize: bool,
    /// Size budget (default [`DEFAULT_MAX_BYTES`] with `web_optimize`; else checked when given).
    pub max_bytes: Option<u64>,
    /// Replace a file of the same name.
    pub overwrite: bool,
}

/// What was published.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PublishedAsset {
    /// The asset published.
    pub asset_id: String,
    /// The file written and its manifest entry.
    #[serde(flatten)]
    pub file: Published,
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
}

impl Comfy {
    /// Publishes an asset into `dir`. Errors name the option at fault: `asset_id` (not a file,
    /// not an image for `web_optimize`), `target_filename` (not a plain file name), `max_bytes`
    /// (does not fit).
    pub async fn publish_asset(
        &self,
        id: &AssetId,
        dir: &PublishDir,
        options: PublishOptions,
    ) -> Result<PublishedAsset> {
        let asset = self.asset(id).await?;
        // A file on the server, or a hosted output (its name is the URL's last segment).
        let default_name = match (&asset.file, &asset.url) {
            (Some(file), _) => file.filename.clone(),
            (None, Some(url)) => {
                let path = url.split(['?', '#']).next().unwrap_or(url);
                path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("output").to_owned()
            }
            (None, None) => {
                return Err(invalid("asset_id", format!("{id} is not a file (a {} value)", asset.mime_type)));
            }
        };
        if options.web_optimize && asset.media != MediaKind::Image {
            return Err(invalid("web_optimize", format!("{id} is not an image ({})", asset.mime_type)));
        }
        let mut filename = options.target_filename.clone().unwrap_or(default_name);
        crate::paths::check_file_name(&filename, "target_filename")?;
        let fetched = self.fetch_asset(id).await?;
        let (data, mime_type, width, height) = if options.web_optimize {
            let budget = options.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
            let (bytes, what) = (fetched.data.clone(), format!("asset {id}"));
            let encoded = tokio::task::spawn_blocking(move || web_optimize(&bytes, &what, budget))
                .await
                .map_err(|e| Error::io("encoding", "asset", std::io::Error::other(e)))??;
            filename = with_extension(&filename, encoded.extension);
            (
                Bytes::from(encoded.data),
                encoded.mime_type.to_owned(),
                Some(encoded.width),
                Some(encoded.height),
            )
        } else {
            if let Some(max) = options.max_bytes
                && fetched.data.len() as u64 > max
            {
                return Err(Error::TooLarge {
                    what: format!("asset {id}"),
                    size: fetched.data.len() as u64,
                    limit: max,
                    hint: Some("pass web_optimize=true to convert and scale it down".into()),
                });
            }
            (fetched.data.clone(), fetched.asset.mime_type.clone(), fetched.asset.width, fetched.asset.height)
        };
        let mut log = Map::new();
        log.insert("asset_id".into(), json!(id.0));
        log.insert("job_id".into(), json!(asset.job_id.0));
        log.insert("web_optimized".into(), json!(options.web_optimize));
        if let Some(t) = &asset.provenance.template {
            log.insert("template".into(), json!(t));
        }
        let request = PublishRequest {
            data,
            filename,
            manifest_key: options.manifest_key,
            overwrite: options.overwrite,
            log,
        };
        let file = dir.publish(request).await?;
        Ok(PublishedAsset {
            asset_id: id.0.clone(),
            file,
            mime_type,
            width,
            height,
            web_optimized: options.web_optimize,
        })
    }
}

fn invalid(argument: &str, message: String) -> Error {
    Error::InvalidArgument { argument: argument.into(), message }
}

fn with_extension(name: &str, ext: &str) -> String {
    let stem = std::path::Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned());
    format!("{stem}.{ext}")
}
