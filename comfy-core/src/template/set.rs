//! [`TemplateSet`]: the templates an application serves — the built-ins, or a watched directory
//! (hot reload) — enriched from the node catalogue once it is known.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::watch;

use super::{Template, TemplateLibrary, WatchedLibrary};
use crate::catalog::Catalog;
use crate::error::Result;

/// The template library of a client: built-ins, or a directory followed for changes. Readers
/// get a cheap snapshot; [`TemplateSet::subscribe`] tells when the set (or a schema) changed.
#[derive(Debug)]
pub struct TemplateSet {
    inner: Inner,
    has_catalog: AtomicBool,
}

#[derive(Debug)]
enum Inner {
    Watched(WatchedLibrary),
    /// The built-ins (rebuilt and enriched when the catalogue arrives).
    Fixed {
        current: RwLock<Arc<TemplateLibrary>>,
        version: watch::Sender<u64>,
    },
}

impl Default for TemplateSet {
    fn default() -> Self {
        TemplateSet::builtin()
    }
}

impl TemplateSet {
    /// The built-in templates only (`generate_image`, `image_to_image`, `inpaint`, `upscale`).
    pub fn builtin() -> TemplateSet {
        TemplateSet {
            inner: Inner::Fixed {
                current: RwLock::new(Arc::new(TemplateLibrary::builtin())),
                version: watch::Sender::new(0),
            },
            has_catalog: AtomicBool::new(false),
        }
    }

    /// A directory of templates, reloaded about 200 ms after it changes (inside a Tokio runtime).
    pub fn watch(dir: impl AsRef<Path>) -> Result<TemplateSet> {
        Ok(TemplateSet {
            inner: Inner::Watched(TemplateLibrary::watch(dir)?),
            has_catalog: AtomicBool::new(false),
        })
    }

    /// The current library.
    pub fn snapshot(&self) -> Arc<TemplateLibrary> {
        match &self.inner {
            Inner::Watched(w) => w.snapshot(),
            Inner::Fixed { current, .. } => current.read().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }

    /// A template by name ([`Error::TemplateNotFound`](crate::Error::TemplateNotFound) with
    /// suggestions otherwise).
    pub fn get(&self, name: &str) -> Result<Arc<Template>> {
        self.snapshot().get(name)
    }

    /// Changes whenever the set of templates (or their schemas) changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        match &self.inner {
            Inner::Watched(w) => w.subscribe(),
            Inner::Fixed { version, .. } => version.subscribe(),
        }
    }

    /// Whether the templates have been enriched from a catalogue yet.
    pub fn has_catalog(&self) -> bool {
        self.has_catalog.load(Ordering::SeqCst)
    }

    /// Enriches every template from the catalogue (now and on later reloads) and converts the
    /// editor-format files of a watched directory; the reload runs on the blocking pool.
    pub async fn set_catalog(&self, catalog: Arc<Catalog>) {
        self.has_catalog.store(true, Ordering::SeqCst);
        match &self.inner {
            Inner::Watched(w) => {
                if let Err(e) = w.set_catalog_async(Some(catalog)).await {
                    tracing::warn!(error = %e, "could not reload templates with the catalogue");
                }
            }
            Inner::Fixed { current, version } => {
                let mut lib = TemplateLibrary::builtin();
                lib.enrich(&catalog);
                *current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(lib);
                version.send_modify(|v| *v += 1);
            }
        }
    }

    /// [`TemplateSet::set_catalog`] unless the templates already have one.
    pub async fn set_catalog_if_missing(&self, catalog: &Arc<Catalog>) {
        if !self.has_catalog() {
            self.set_catalog(catalog.clone()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn enrichment_bumps_the_version_and_keeps_the_templates() {
        let set = TemplateSet::builtin();
        let changes = set.subscribe();
        assert!(!set.has_catalog());
        let before = set.snapshot().len();
        let catalog = Catalog::from_json_str("{}").unwrap();
        set.set_catalog(Arc::new(catalog)).await;
        assert!(set.has_catalog());
        assert!(changes.has_changed().unwrap());
        assert_eq!(set.snapshot().len(), before);
        assert!(set.get("generate_image").is_ok());
        assert_eq!(set.get("nope").unwrap_err().code(), "template_not_found");
    }
}
