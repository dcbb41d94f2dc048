//! Publishing: copy bytes into a web project's directory under a safe name, keep a
//! `manifest.json` (`{key: filename}`) and an append-only `publish_log.jsonl`.
//!
//! - Target names are plain file names ([`crate::paths::check_file_name`]); a name that is a
//!   symlink or resolves outside the directory is refused. `manifest.json` and
//!   `publish_log.jsonl` cannot be overwritten by a publish.
//! - The file and the manifest are written atomically (temporary file + rename); the log gets
//!   one line per publish in a single append.
//! - Publishes into the same directory are serialized by a per-directory lock (within this
//!   process), so concurrent publishes never lose a manifest entry.
//! - Results carry the path *relative to* the publish directory only.
//!
//! [`PublishDir::detect`] finds `public/gen`, `static/gen` or `assets/gen` under a project
//! directory (the first that exists), the conventional places for generated web assets.

mod atomic;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub use atomic::{append_line, write_atomic};

use crate::error::{Error, Result};
use crate::paths::file_inside;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The log's file name.
pub const LOG: &str = "publish_log.jsonl";
/// Sub-directories [`PublishDir::detect`] looks for, in order.
pub const AUTO_DIRS: [&str; 3] = ["public/gen", "static/gen", "assets/gen"];
/// Default size budget for web-optimised publishes.
pub const DEFAULT_MAX_BYTES: u64 = 600_000;
/// Longest manifest key.
pub const MAX_KEY: usize = 200;

/// A directory assets are published into.
#[derive(Debug, Clone)]
pub struct PublishDir {
    root: PathBuf,
    display: String,
    auto_detected: bool,
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The bytes.
    pub data: Bytes,
    /// Target file name (plain name, no path).
    pub filename: String,
    /// Manifest key (default: the file name without extension).
    pub manifest_key: Option<String>,
    /// Replace an existing file of that name.
    pub overwrite: bool,
    /// Extra fields for the log line (source asset, job, ...).
    pub log: Map<String, Value>,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Published {
    /// The file name written.
    pub filename: String,
    /// Its path relative to the publish directory (never absolute).
    pub relative_path: String,
    /// The manifest key that now points at it.
    pub manifest_key: String,
    /// Bytes written.
    pub byte_size: u64,
    /// SHA-256 (hex) of the bytes.
    pub sha256: String,
    /// An existing file was replaced.
    pub replaced: bool,
}

static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn lock_for(root: &Path) -> Arc<tokio::sync::Mutex<()>> {
    let mut map = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(root.to_path_buf()).or_default().clone()
}

impl PublishDir {
    /// An existing directory. `display` is how it is shown to callers (never an absolute path
    /// of this machine; e.g. the configured relative path or its last component).
    pub fn open(path: &Path, display: impl Into<String>, auto_detected: bool) -> Result<PublishDir> {
        let root = path.canonicalize().map_err(|e| Error::io("opening the publish directory", path, e))?;
        if !root.is_dir() {
            return Err(Error::InvalidArgument {
                argument: "publish_dir".into(),
                message: format!("{} is not a directory", path.display()),
            });
        }
        Ok(PublishDir { root, display: display.into(), auto_detected })
    }

    /// The first of [`AUTO_DIRS`] that exists under `project`.
    pub fn detect(project: &Path) -> Option<PublishDir> {
        AUTO_DIRS
            .iter()
            .find(|d| project.join(d).is_dir())
            .and_then(|d| PublishDir::open(&project.join(d), *d, true).ok())
    }

    /// How the directory is shown (relative or last component).
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Whether it was found by [`PublishDir::detect`].
    pub fn auto_detected(&self) -> bool {
        self.auto_detected
    }

    /// The manifest (empty when there is none yet). Blocking.
    pub fn manifest(&self) -> Result<Map<String, Value>> {
        let path = self.root.join(MANIFEST);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err(Error::InvalidArgument {
                    argument: MANIFEST.into(),
                    message: "the existing manifest.json is not a JSON object; fix or remove it".into(),
                }),
                Err(e) => Err(Error::json(MANIFEST, &e)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(e) => Err(Error::io("reading", path, e)),
        }
    }

    /// Writes the file, then the manifest entry, then the log line, under the directory's lock.
    pub async fn publish(&self, request: PublishRequest) -> Result<Published> {
        let lock = lock_for(&self.root);
        let _guard = lock.lock().await;
        let dir = self.clone();
        tokio::task::spawn_blocking(move || dir.publish_blocking(request)).await.map_err(|e| Error::Io {
            action: "publishing",
            path: PathBuf::from("publish"),
            source: std::io::Error::other(e.to_string()),
        })?
    }

    fn publish_blocking(&self, request: PublishRequest) -> Result<Published> {
        let name = request.filename.as_str();
        if name == MANIFEST || name == LOG {
            return Err(Error::PathNotAllowed {
                argument: "target_filename".into(),
                message: format!("{name} is the publish directory's own bookkeeping file"),
            });
        }
        let key = match &request.manifest_key {
            Some(k) => k.clone(),
            None => {
                Path::new(name).file_stem().map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into())
            }
        };
        if key.trim().is_empty() || key.len() > MAX_KEY || key.chars().any(char::is_control) {
            return Err(Error::InvalidArgument {
                argument: "manifest_key".into(),
                message: "the key must be 1 to 200 characters without control characters".into(),
            });
        }
        let target = file_inside(&self.root, name, "target_filename")?;
        let replaced = target.exists();
        if replaced && !request.overwrite {
            return Err(Error::InvalidArgument {
                argument: "target_filename".into(),
                message: format!(
                    "{name:?} already exists in the publish directory; pass overwrite=true or another name"
                ),
            });
        }
        // Read the manifest first: a broken one stops the publish before anything is written.
        let mut manifest = self.manifest()?;
        write_atomic(&target, &request.data)?;
        manifest.insert(key.clone(), Value::String(name.to_owned()));
        let text = serde_json::to_string_pretty(&Value::Object(manifest)).unwrap_or_else(|_| "{}".into());
        write_atomic(&self.root.join(MANIFEST), text.as_bytes())?;
        let sha256 = hex::encode(Sha256::digest(&request.data));
        let mut line = request.log.clone();
        line.insert("at_ms".into(), json!(crate::store::now_millis()));
        line.insert("filename".into(), json!(name));
        line.insert("manifest_key".into(), json!(key));
        line.insert("byte_size".into(), json!(request.data.len()));
        line.insert("sha256".into(), json!(sha256));
        line.insert("replaced".into(), json!(replaced));
        append_line(&self.root.join(LOG), &Value::Object(line).to_string())?;
        Ok(Published {
            filename: name.to_owned(),
            relative_path: name.to_owned(),
            manifest_key: key,
            byte_size: request.data.len() as u64,
            sha256,
            replaced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, data: &'static [u8]) -> PublishRequest {
        PublishRequest {
            data: Bytes::from_static(data),
            filename: name.into(),
            manifest_key: None,
            overwrite: false,
            log: Map::new(),
        }
    }

    #[tokio::test]
    async fn publishes_updates_manifest_and_log() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = PublishDir::open(tmp.path(), "gen", false).unwrap();
        let p = dir.publish(req("hero.webp", b"abc")).await.unwrap();
        assert_eq!(
            (p.relative_path.as_str(), p.manifest_key.as_str(), p.byte_size),
            ("hero.webp", "hero", 3)
        );
        assert_eq!(std::fs::read(tmp.path().join("hero.webp")).unwrap(), b"abc");
        assert_eq!(dir.manifest().unwrap()["hero"], "hero.webp");
        let e = dir.publish(req("hero.webp", b"xyz")).await.unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        let mut again = req("hero.webp", b"xyz");
        again.overwrite = true;
        again.manifest_key = Some("landing/hero".into());
        assert!(dir.publish(again).await.unwrap().replaced);
        let log = std::fs::read_to_string(tmp.path().join(LOG)).unwrap();
        let lines: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["manifest_key"], "landing/hero");
        assert_eq!(dir.manifest().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn escaping_or_bookkeeping_targets_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = PublishDir::open(tmp.path(), "gen", false).unwrap();
        for bad in ["../x.png", "/etc/x.png", "a/b.png", "..", MANIFEST, LOG, ".x"] {
            let e = dir.publish(req(bad, b"1")).await.unwrap_err();
            assert_eq!(e.code(), "path_not_allowed", "{bad}");
        }
        assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none(), "nothing written");
    }

    #[tokio::test]
    async fn a_broken_manifest_stops_the_publish() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(MANIFEST), b"[1,2").unwrap();
        let dir = PublishDir::open(tmp.path(), "gen", false).unwrap();
        assert!(dir.publish(req("a.png", b"1")).await.is_err());
        assert!(!tmp.path().join("a.png").exists());
        assert_eq!(std::fs::read(tmp.path().join(MANIFEST)).unwrap(), b"[1,2", "left untouched");
    }

    #[tokio::test]
    async fn concurrent_publishes_keep_every_manifest_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = PublishDir::open(tmp.path(), "gen", false).unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let dir = dir.clone();
                tokio::spawn(async move {
                    let mut r = req(&format!("img{i}.png"), b"data");
                    r.manifest_key = Some(format!("k{i}"));
                    dir.publish(r).await.unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let m = dir.manifest().unwrap();
        assert_eq!(m.len(), 16);
        let log = std::fs::read_to_string(tmp.path().join(LOG)).unwrap();
        assert_eq!(log.lines().count(), 16);
        assert!(log.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
    }

    #[test]
    fn detect_finds_the_conventional_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(PublishDir::detect(tmp.path()).is_none());
        std::fs::create_dir_all(tmp.path().join("static/gen")).unwrap();
        let d = PublishDir::detect(tmp.path()).unwrap();
        assert_eq!((d.display(), d.auto_detected()), ("static/gen", true));
        std::fs::create_dir_all(tmp.path().join("public/gen")).unwrap();
        assert_eq!(PublishDir::detect(tmp.path()).unwrap().display(), "public/gen");
    }
}
