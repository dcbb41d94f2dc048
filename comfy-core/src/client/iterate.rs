//! Iterating on outputs: make an asset again with changes ([`Comfy::prepare_regenerate`]), and
//! put an output back in as an input of the next workflow ([`Comfy::reuse_output`]).

use serde_json::{Map, Value};

use super::{Comfy, Origin, override_workflow, rerender};
use crate::backend::{Upload, UploadedFile};
use crate::error::{Error, Result};
use crate::job::MediaKind;
use crate::prepare::{Prepared, prepare_rendered};
use crate::store::{Asset, AssetId};

/// A regeneration ready to submit.
#[derive(Debug, Clone)]
pub struct Regeneration {
    /// The asset it remakes.
    pub source: Asset,
    /// The template re-rendered, or `None` for a raw workflow.
    pub template: Option<String>,
    /// The checked workflow with its provenance.
    pub prepared: Prepared,
}

/// An output uploaded again as an input.
#[derive(Debug, Clone)]
pub struct Reused {
    /// Where it landed (`uploaded.input_value()` goes into `LoadImage.image`).
    pub uploaded: UploadedFile,
    /// Bytes sent.
    pub byte_size: u64,
    /// The asset it came from.
    pub source: Asset,
}

impl Comfy {
    /// Prepares an asset again: its template re-rendered with the stored parameters, then
    /// `overrides` (parameter names), then `seed` on the template's seed parameter; or, for a
    /// raw workflow, the stored graph with `overrides` as `"<node id>.<input>"` (no `seed`:
    /// [`Error::InvalidArgument`] on `seed`). A template that no longer exists is
    /// [`Error::TemplateNotFound`].
    pub async fn prepare_regenerate(
        &self,
        id: &AssetId,
        overrides: &Map<String, Value>,
        seed: Option<u64>,
    ) -> Result<Regeneration> {
        let (source, origin) = self.origin_of(id).await?;
        match origin {
            Origin::Template { name, params } => {
                let template = self.template(&name).await.map_err(|e| match e {
                    Error::TemplateNotFound { .. } => {
                        Error::TemplateGone { name: name.clone(), asset_id: id.0.clone() }
                    }
                    other => other,
                })?;
                let rendered = rerender(&template, &params, overrides, seed, &self.param_defaults())?;
                let catalog = self.catalog().await?;
                let prepared = prepare_rendered(&template, rendered, &catalog, &self.validate_options())?;
                Ok(Regeneration { source, template: Some(name), prepared })
            }
            Origin::Workflow(graph) => {
                if seed.is_some() {
                    return Err(Error::InvalidArgument {
                        argument: "seed".into(),
                        message: format!(
                            "asset {id} came from a raw workflow, which has no seed parameter; set the \
                             sampler's seed with overrides, e.g. {{\"3.seed\": 42}}"
                        ),
                    });
                }
                let catalog = self.catalog().await?;
                let workflow = override_workflow(&graph, overrides, &catalog)?;
                let prepared = self.prepare(workflow).await?;
                Ok(Regeneration { source, template: None, prepared })
            }
        }
    }

    /// Uploads an earlier output (image, video or audio) as an input file, through the backend
    /// (so it works with a remote server), named `<asset id>_<file name>`. Larger than
    /// `max_bytes` is [`Error::TooLarge`]; not a file or not a media file is
    /// [`Error::InvalidArgument`] on `asset_id`.
    pub async fn reuse_output(
        &self,
        id: &AssetId,
        subfolder: Option<String>,
        max_bytes: u64,
    ) -> Result<Reused> {
        let asset = self.asset(id).await?;
        let invalid = |message: String| Error::InvalidArgument { argument: "asset_id".into(), message };
        // A hosted output on a backend that takes URLs as inputs (RunComfy): the URL, no bytes.
        if let (None, Some(url)) = (&asset.file, &asset.url)
            && matches!(asset.media, MediaKind::Image | MediaKind::Video | MediaKind::Audio)
        {
            let filename = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or("output");
            match self.inner.backend.upload_url(url, filename).await {
                Ok(uploaded) => {
                    super::lock(&self.inner.known_inputs).insert(uploaded.input_value());
                    let byte_size = asset.byte_size.unwrap_or(0);
                    return Ok(Reused { uploaded, byte_size, source: asset });
                }
                Err(Error::NotSupported { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(file) = &asset.file else {
            return Err(invalid(format!("{id} is not a file (a {} value)", asset.mime_type)));
        };
        if !matches!(asset.media, MediaKind::Image | MediaKind::Video | MediaKind::Audio) {
            return Err(invalid(format!(
                "{id} is a {} file; only images, videos and audio can be inputs",
                asset.mime_type
            )));
        }
        let too_large = |size: u64| Error::TooLarge {
            what: "the file".into(),
            size,
            limit: max_bytes,
            hint: Some("the server's max_upload_bytes".into()),
        };
        if let Some(size) = asset.byte_size.filter(|s| *s > max_bytes) {
            return Err(too_large(size));
        }
        let fetched = self.fetch_asset(id).await?;
        let byte_size = fetched.data.len() as u64;
        if byte_size > max_bytes {
            return Err(too_large(byte_size));
        }
        let name = format!("{}_{}", id.0, file.filename);
        crate::paths::check_file_name(&name, "asset_id")?;
        let mut upload = Upload::file(name, fetched.data);
        upload.subfolder = subfolder.unwrap_or_default();
        upload.overwrite = true;
        let uploaded = self.upload(upload).await?;
        Ok(Reused { uploaded, byte_size, source: asset })
    }
}
