//! `comfy_rs.Asset`: one recorded output of a job, with its provenance.

use comfy_core::job::MediaKind;
use pyo3::prelude::*;

use crate::convert::Repr;

/// One output of a job (a file on the backend, or a text value) with a stable id. Size, SHA-256
/// and image dimensions are known once its bytes were fetched (`asset_bytes`, `save_asset`, or
/// `job.assets(fetch=True)`).
#[pyclass(module = "comfy_rs", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Asset {
    /// Stable id (`a_…`).
    id: String,
    /// The job that made it.
    job_id: String,
    /// The node that made it.
    node_id: String,
    /// The node's output key (`images`, `gifs`, `audio`, `text`, ...).
    key: String,
    /// Position under that key.
    index: u32,
    /// `image`, `video`, `audio`, `model3d`, `text` or `other`.
    kind: &'static str,
    /// MIME type.
    mime_type: String,
    /// File name on the backend, for files.
    filename: Option<String>,
    /// Sub-folder on the backend ("" for none), for files.
    subfolder: Option<String>,
    /// `output`, `temp` or `input`, for files.
    folder: Option<&'static str>,
    /// Hosted URL (cloud backends).
    url: Option<String>,
    /// The text, for text outputs.
    text: Option<String>,
    /// Image width, once known.
    width: Option<u32>,
    /// Image height, once known.
    height: Option<u32>,
    /// Size in bytes, once known.
    byte_size: Option<u64>,
    /// SHA-256 (hex) of the bytes, once fetched.
    sha256: Option<String>,
    /// The template that made it.
    template: Option<String>,
    /// Canonical hash of the job's workflow.
    workflow_hash: String,
    /// When it was recorded (ms since the Unix epoch).
    created_at: i64,
}

/// The stable name of a media kind.
pub fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Model3d => "model3d",
        MediaKind::Text => "text",
        MediaKind::Other => "other",
    }
}

impl From<comfy_core::store::Asset> for Asset {
    fn from(a: comfy_core::store::Asset) -> Self {
        let (filename, subfolder, folder) = match a.file {
            Some(f) => (Some(f.filename), Some(f.subfolder), Some(f.folder.as_str())),
            None => (None, None, None),
        };
        Asset {
            id: a.id.0,
            job_id: a.job_id.0,
            node_id: a.node_id,
            key: a.key,
            index: a.index,
            kind: kind_name(a.media),
            mime_type: a.mime_type,
            filename,
            subfolder,
            folder,
            url: a.url,
            text: a.text,
            width: a.width,
            height: a.height,
            byte_size: a.byte_size,
            sha256: a.sha256,
            template: a.provenance.template,
            workflow_hash: a.workflow_hash,
            created_at: a.created_at,
        }
    }
}

#[pymethods]
impl Asset {
    fn __repr__(&self) -> String {
        format!(
            "Asset(id={}, node_id={}, kind={}, filename={}, mime_type={})",
            self.id.repr(),
            self.node_id.repr(),
            self.kind.repr(),
            self.filename.repr(),
            self.mime_type.repr()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Asset>().is_ok_and(|o| o.get().id == self.id)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.id.hash(&mut h);
        h.finish()
    }
}

/// An asset id given as a `str` or an `Asset`.
pub fn asset_id(obj: &Bound<'_, PyAny>) -> PyResult<comfy_core::store::AssetId> {
    if let Ok(a) = obj.cast::<Asset>() {
        return Ok(comfy_core::store::AssetId(a.get().id.clone()));
    }
    obj.extract::<String>().map(comfy_core::store::AssetId).map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "an asset id must be a str or an Asset, not {}",
            obj.get_type()
        ))
    })
}
