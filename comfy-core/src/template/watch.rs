//! Hot reload: a [`TemplateLibrary`] that follows its directory.
//!
//! A `notify` watcher reports changes; a Tokio task waits until the directory has been quiet
//! for [`DEBOUNCE`], then reloads on a blocking thread and swaps the new snapshot in. Readers
//! only clone an `Arc` under a lock held for a pointer swap, so they never wait for file I/O.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use super::{Template, TemplateLibrary};
use crate::catalog::Catalog;
use crate::error::{Error, Result};

/// How long the directory must be quiet before a reload.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// A template library kept up to date with its directory. Dropping it stops watching.
#[derive(Debug)]
pub struct WatchedLibrary {
    shared: Arc<Shared>,
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    current: RwLock<Arc<TemplateLibrary>>,
    catalog: RwLock<Option<Arc<Catalog>>>,
    version: watch::Sender<u64>,
}

impl Shared {
    fn snapshot(&self) -> Arc<TemplateLibrary> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Loads the directory (blocking I/O), enriches, then swaps the snapshot in.
    fn reload(&self) -> Result<()> {
        let catalog = self.catalog.read().unwrap_or_else(PoisonError::into_inner).clone();
        let mut lib = TemplateLibrary::load_with(&self.dir, catalog.as_deref())?;
        if let Some(catalog) = catalog {
            lib.enrich(&catalog);
        }
        for (path, err) in lib.errors() {
            tracing::warn!(file = %path.display(), error = %err, "template not loaded");
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(lib);
        self.version.send_modify(|v| *v += 1);
        Ok(())
    }
}

impl TemplateLibrary {
    /// Loads `dir` (see [`TemplateLibrary::load`]) and keeps following it: files created,
    /// changed or deleted there show up in [`WatchedLibrary::snapshot`] about [`DEBOUNCE`]
    /// after the last change. Must be called inside a Tokio runtime (the debounce runs as a
    /// task); the first load happens on the calling thread.
    pub fn watch(dir: impl AsRef<Path>) -> Result<WatchedLibrary> {
        let dir = dir.as_ref().to_path_buf();
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::io(
                "watching",
                &dir,
                std::io::Error::other("TemplateLibrary::watch must be called inside a Tokio runtime"),
            )
        })?;
        let initial = TemplateLibrary::load(&dir)?;
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            current: RwLock::new(Arc::new(initial)),
            catalog: RwLock::new(None),
            version: watch::Sender::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel::<()>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            if is_relevant(&event) {
                // The receiver is gone only when the library is dropped.
                let _ = tx.send(());
            }
        })
        .map_err(|e| notify_error(&dir, e))?;
        watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(|e| notify_error(&dir, e))?;
        let task = runtime.spawn(debounce(rx, Arc::downgrade(&shared)));
        Ok(WatchedLibrary { shared, _watcher: watcher, task })
    }
}

impl WatchedLibrary {
    /// The current templates. Cheap; never waits for I/O. Keep the snapshot for a consistent view.
    pub fn snapshot(&self) -> Arc<TemplateLibrary> {
        self.shared.snapshot()
    }

    /// A template by name from the current snapshot.
    pub fn get(&self, name: &str) -> Result<Arc<Template>> {
        self.snapshot().get(name)
    }

    /// The watched directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Reloads now, on the calling thread (blocking file I/O). If the directory cannot be listed
    /// the error is returned and the previous snapshot stays.
    pub fn reload(&self) -> Result<()> {
        self.shared.reload()
    }

    /// [`WatchedLibrary::reload`] on Tokio's blocking pool.
    pub async fn reload_async(&self) -> Result<()> {
        let shared = self.shared.clone();
        match tokio::task::spawn_blocking(move || shared.reload()).await {
            Ok(result) => result,
            Err(join) => {
                Err(Error::io("reloading", &self.shared.dir, std::io::Error::other(join.to_string())))
            }
        }
    }

    /// Sets (or clears) the catalogue every reload enriches templates from, and reloads now.
    pub fn set_catalog(&self, catalog: Option<Arc<Catalog>>) -> Result<()> {
        *self.shared.catalog.write().unwrap_or_else(PoisonError::into_inner) = catalog;
        self.shared.reload()
    }

    /// [`WatchedLibrary::set_catalog`] with the reload (and the conversion of editor-format
    /// files it does) on Tokio's blocking pool.
    pub async fn set_catalog_async(&self, catalog: Option<Arc<Catalog>>) -> Result<()> {
        *self.shared.catalog.write().unwrap_or_else(PoisonError::into_inner) = catalog;
        self.reload_async().await
    }

    /// How many reloads have completed; changes are announced on [`WatchedLibrary::subscribe`].
    pub fn version(&self) -> u64 {
        *self.shared.version.borrow()
    }

    /// A receiver that sees the version change after every reload (e.g. to send an MCP
    /// `tools/list_changed` notification).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.version.subscribe()
    }
}

impl Drop for WatchedLibrary {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Changes to `.json` files (templates and sidecars) and watcher errors (e.g. a queue overflow,
/// after which anything may have changed). Reads (`Access`) are ignored: reloading reads files.
fn is_relevant(event: &notify::Result<Event>) -> bool {
    match event {
        Err(_) => true,
        Ok(e) => {
            !matches!(e.kind, EventKind::Access(_))
                && e.paths.iter().any(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(".json") && !n.starts_with('.'))
                })
        }
    }
}

/// Waits for a change, then for [`DEBOUNCE`] of quiet, then reloads. Ends when the watcher or
/// the library is gone.
async fn debounce(mut rx: mpsc::UnboundedReceiver<()>, shared: std::sync::Weak<Shared>) {
    while rx.recv().await.is_some() {
        loop {
            match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_quiet) => break,
            }
        }
        let Some(shared) = shared.upgrade() else { return };
        let dir = shared.dir.clone();
        match tokio::task::spawn_blocking(move || shared.reload()).await {
            Ok(Ok(())) => tracing::debug!(dir = %dir.display(), "templates reloaded"),
            Ok(Err(e)) => {
                tracing::warn!(dir = %dir.display(), error = %e, "template reload failed; keeping the previous templates")
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "template reload task failed"),
        }
    }
}

fn notify_error(dir: &Path, e: notify::Error) -> Error {
    let source = match e.kind {
        notify::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    };
    Error::io("watching", dir, source)
}
