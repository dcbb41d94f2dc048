//! Fetching asset bytes through the backend (never from a local folder), and recording what
//! they turn out to be: size, SHA-256, image dimensions.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::Comfy;
use crate::backend::Download;
use crate::error::{Error, Result};
use crate::job::MediaKind;
use crate::store::{Asset, AssetContent, AssetId};

/// An asset with its bytes.
#[derive(Debug, Clone)]
pub struct FetchedAsset {
    /// The asset, with size, hash and dimensions filled in.
    pub asset: Asset,
    /// The bytes.
    pub data: Bytes,
}

impl Comfy {
    /// Fetches an asset (through the backend) and writes its bytes to `path` (a temporary file
    /// renamed into place, so a reader never sees half a file), creating missing parent
    /// directories. Returns the fetched asset.
    pub async fn save_asset(&self, id: &AssetId, path: impl AsRef<std::path::Path>) -> Result<FetchedAsset> {
        let fetched = self.fetch_asset(id).await?;
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(|e| Error::io("creating", dir, e))?;
        }
        let data = fetched.data.clone();
        tokio::task::spawn_blocking(move || crate::publish::write_atomic(&path, &data))
            .await
            .map_err(|e| Error::io("writing", "asset", std::io::Error::other(e)))??;
        Ok(fetched)
    }

    /// Saves every asset into `dir` (created if missing) as `<node id>_<file name>` (text
    /// outputs as `<node id>_<key>_<index>.txt`); returns the paths written, in order.
    pub async fn save_assets(
        &self,
        ids: &[AssetId],
        dir: impl AsRef<std::path::Path>,
    ) -> Result<Vec<std::path::PathBuf>> {
        let dir = dir.as_ref().to_path_buf();
        tokio::fs::create_dir_all(&dir).await.map_err(|e| Error::io("creating", &dir, e))?;
        let mut written = Vec::with_capacity(ids.len());
        for id in ids {
            let asset = self.asset(id).await?;
            let name = match &asset.file {
                Some(f) => format!("{}_{}", asset.node_id, f.filename),
                None => format!("{}_{}_{}.txt", asset.node_id, asset.key, asset.index),
            };
            let path = dir.join(name.replace(['/', '\\', ':'], "_"));
            self.save_asset(id, &path).await?;
            written.push(path);
        }
        Ok(written)
    }

    /// An asset by id. One the caller may not see ([`Caller`](crate::Caller)) is
    /// [`Error::AssetNotFound`], like a missing id.
    pub async fn asset(&self, id: &AssetId) -> Result<Asset> {
        let asset = self
            .inner
            .store
            .get_asset(id)
            .await?
            .ok_or_else(|| Error::AssetNotFound { asset_id: id.0.clone() })?;
        self.visible_asset(asset)
    }

    /// Streams an asset's bytes from the backend. An asset known only by a signed URL whose
    /// expiry has passed is [`Error::AssetExpired`] (the URL would be refused).
    pub async fn download_asset(&self, id: &AssetId) -> Result<Download> {
        let asset = self.asset(id).await?;
        if let Some(dir) = &self.inner.options.keep_outputs {
            let path = kept_path(dir, &asset.id);
            match tokio::fs::read(&path).await {
                Ok(data) => {
                    let data = Bytes::from(data);
                    return Ok(Download {
                        content_type: Some(asset.mime_type.clone()),
                        content_length: Some(data.len() as u64),
                        stream: Box::pin(futures::stream::once(async move { Ok(data) })),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("reading", &path, e)),
            }
        }
        let backend = self.inner.backend_for(&asset.backend);
        if let Some(file) = &asset.file {
            backend.download(file).await
        } else if let Some(url) = &asset.url {
            check_not_expired(&asset)?;
            backend.download_url(url).await
        } else {
            Err(Error::InvalidArgument {
                argument: "asset".into(),
                message: format!("{id} is a {} value, not a file; read its text instead", asset.mime_type),
            })
        }
    }

    /// A URL that serves the asset without credentials, with its expiry: the recorded URL of a
    /// hosted output, or a fresh signed URL from the backend for a file (Comfy Cloud). Backends
    /// without such URLs (a local ComfyUI) answer `not_supported`; text outputs are
    /// `invalid_argument`.
    pub async fn asset_url(&self, id: &AssetId) -> Result<crate::backend::HostedUrl> {
        let asset = self.asset(id).await?;
        if let Some(url) = &asset.url {
            check_not_expired(&asset)?;
            return Ok(crate::backend::HostedUrl { url: url.clone(), expires_at: asset.expires_at });
        }
        match &asset.file {
            Some(file) => self.inner.backend_for(&asset.backend).output_url(file).await,
            None => Err(Error::InvalidArgument {
                argument: "asset".into(),
                message: format!("{id} is a {} value, not a file", asset.mime_type),
            }),
        }
    }

    /// Loads an asset's bytes (up to the client's limit), recording size, SHA-256 and, for
    /// images, width and height.
    pub async fn fetch_asset(&self, id: &AssetId) -> Result<FetchedAsset> {
        let mut asset = self.asset(id).await?;
        if asset.file.is_none() && asset.url.is_none() {
            let data = Bytes::from(asset.text.clone().unwrap_or_default());
            return Ok(FetchedAsset { asset, data });
        }
        let download = self.download_asset(id).await?;
        let served_type = download.content_type.clone();
        let data = download.bytes(self.inner.options.max_asset_bytes).await?;
        let (width, height) = if asset.media == MediaKind::Image { image_size(&data) } else { (None, None) };
        let content = AssetContent {
            sha256: hex::encode(Sha256::digest(&data)),
            byte_size: data.len() as u64,
            width,
            height,
            mime_type: served_type.filter(|t| !t.is_empty() && t != "application/octet-stream"),
        };
        self.inner.store.set_asset_content(id, &content).await?;
        asset.sha256 = Some(content.sha256);
        asset.byte_size = Some(content.byte_size);
        asset.width = width;
        asset.height = height;
        if let Some(t) = content.mime_type {
            asset.mime_type = t;
        }
        Ok(FetchedAsset { asset, data })
    }
}

/// Where the kept copy of an asset lives (asset ids are `a_` and hex: safe file names).
fn kept_path(dir: &std::path::Path, id: &AssetId) -> std::path::PathBuf {
    dir.join(id.0.replace(['/', '\\', ':'], "_"))
}

/// Downloads an output file into the keep directory (atomically: a temporary file renamed).
/// Text outputs have no bytes to keep.
pub(super) async fn keep_copy(
    inner: &super::ClientInner,
    dir: &std::path::Path,
    asset: &Asset,
) -> Result<()> {
    let backend = inner.backend_for(&asset.backend);
    let download = if let Some(file) = &asset.file {
        backend.download(file).await?
    } else if let Some(url) = &asset.url {
        backend.download_url(url).await?
    } else {
        return Ok(());
    };
    let data = download.bytes(inner.options.max_asset_bytes).await?;
    tokio::fs::create_dir_all(dir).await.map_err(|e| Error::io("creating", dir, e))?;
    let path = kept_path(dir, &asset.id);
    let tmp = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
    tokio::fs::write(&tmp, &data).await.map_err(|e| Error::io("writing", &tmp, e))?;
    tokio::fs::rename(&tmp, &path).await.map_err(|e| Error::io("renaming", &path, e))
}

/// [`Error::AssetExpired`] when the asset's URL expiry has passed.
fn check_not_expired(asset: &Asset) -> Result<()> {
    let now = crate::store::now_millis();
    match asset.expires_at {
        Some(at) if at <= now => Err(Error::AssetExpired {
            asset_id: asset.id.0.clone(),
            job_id: asset.job_id.0.clone(),
            expired_at_ms: at,
            ago_s: (now - at) / 1000,
        }),
        _ => Ok(()),
    }
}

/// Width and height from the image header, without decoding pixels.
fn image_size(data: &[u8]) -> (Option<u32>, Option<u32>) {
    image::ImageReader::new(std::io::Cursor::new(data))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok())
        .map_or((None, None), |(w, h)| (Some(w), Some(h)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_size_reads_headers_and_survives_garbage() {
        let mut png = Vec::new();
        image::RgbImage::new(7, 3)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(super::image_size(&png), (Some(7), Some(3)));
        assert_eq!(super::image_size(b"not an image"), (None, None));
        assert_eq!(super::image_size(&png[..10]), (None, None));
    }
}

#[cfg(test)]
mod expiry_tests {
    use std::sync::Arc;

    use crate::backend::local::LocalComfyUi;
    use crate::job::{JobId, MediaKind};
    use crate::store::{Asset, AssetId, MemoryStore, Store, now_millis};
    use crate::{Comfy, Error};

    fn url_asset(id: &str, expires_at: Option<i64>) -> Asset {
        Asset {
            id: AssetId(id.into()),
            job_id: JobId("job-1".into()),
            backend: "test".into(),
            node_id: "9".into(),
            key: "images".into(),
            index: 0,
            provenance: Default::default(),
            workflow_hash: String::new(),
            text: None,
            file: None,
            url: Some("http://127.0.0.1:9/bucket/x.png?X-Goog-Signature=s".into()),
            media: MediaKind::Image,
            mime_type: "image/png".into(),
            byte_size: None,
            width: None,
            height: None,
            sha256: None,
            created_at: 1,
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_lapsed_signed_url_is_asset_expired_with_how_to_get_it_again() {
        let store = Arc::new(MemoryStore::default());
        let backend =
            LocalComfyUi::builder("http://127.0.0.1:9").retries(0).websocket(false).build().unwrap();
        let comfy = Comfy::builder(Arc::new(backend)).store(store.clone()).build().unwrap();
        let now = now_millis();
        store
            .put_assets(&[url_asset("a_old", Some(now - 90_000)), url_asset("a_new", Some(now + 3_600_000))])
            .await
            .unwrap();

        let e = comfy.fetch_asset(&AssetId("a_old".into())).await.unwrap_err();
        assert_eq!((e.code(), e.is_retryable()), ("asset_expired", false));
        let text = e.to_string();
        assert!(text.contains("a_old") && text.contains("job-1") && text.contains("again"), "{text}");
        assert!(matches!(e, Error::AssetExpired { ago_s, .. } if (89..=120).contains(&ago_s)), "{e:?}");
        assert_eq!(comfy.asset_url(&AssetId("a_old".into())).await.unwrap_err().code(), "asset_expired");

        // Not expired yet: the URL is handed out and fetched (here the host is down).
        let url = comfy.asset_url(&AssetId("a_new".into())).await.unwrap();
        assert_eq!(url.expires_at, Some(now + 3_600_000));
        let e = comfy.fetch_asset(&AssetId("a_new".into())).await.unwrap_err();
        assert_ne!(e.code(), "asset_expired", "{e}");
    }

    #[tokio::test]
    async fn a_kept_copy_outlives_the_signed_url() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::default());
        let backend =
            LocalComfyUi::builder("http://127.0.0.1:9").retries(0).websocket(false).build().unwrap();
        let options =
            crate::ClientOptions { keep_outputs: Some(dir.path().to_owned()), ..Default::default() };
        let comfy = Comfy::builder(Arc::new(backend)).store(store.clone()).options(options).build().unwrap();
        store.put_assets(&[url_asset("a_old", Some(now_millis() - 90_000))]).await.unwrap();
        let mut png = Vec::new();
        image::RgbImage::new(5, 3)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        std::fs::write(dir.path().join("a_old"), &png).unwrap();
        let fetched = comfy.fetch_asset(&AssetId("a_old".into())).await.unwrap();
        assert_eq!(fetched.data.as_ref(), &png[..]);
        assert_eq!((fetched.asset.width, fetched.asset.height), (Some(5), Some(3)));
    }
}
