//! Shared state of one server process: the core client, settings, templates and the job cap.
//! Everything MCP-facing clones an `Arc<AppState>`; nothing here knows about MCP.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use comfy_core::backend::Backend;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::catalog::Catalog;
use comfy_core::publish::PublishDir;
use comfy_core::store::{SqliteStore, Store};
use comfy_core::template::{ParamDefaults, Template, TemplateLibrary, WatchedLibrary};
use comfy_core::{ClientOptions, Comfy, Job};
use tokio::sync::watch;

use crate::config::Settings;
use crate::error::ToolError;

/// Everything a tool call needs. Cheap to share (`Arc<AppState>`).
#[derive(Debug)]
pub struct AppState {
    /// The core client (backend + store).
    pub comfy: Comfy,
    /// The effective settings.
    pub settings: Arc<Settings>,
    /// Workflow templates (built-ins plus the workflows directory).
    pub templates: Templates,
    /// The cap on concurrently running jobs.
    pub jobs: JobGate,
    /// Template parameter defaults: runtime (set while running), config file, environment.
    pub defaults: RwLock<ParamDefaults>,
    /// Calls running as MCP tasks.
    pub tasks: Arc<crate::tasks::Tasks>,
}

/// A failure to start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl AppState {
    /// Builds the state from settings: a local ComfyUI backend (nothing is contacted yet: the
    /// server starts even when ComfyUI is down) and the SQLite store in the data directory.
    /// Must be called inside a Tokio runtime.
    pub fn from_settings(settings: Settings) -> Result<Arc<AppState>, StartError> {
        let mut builder = LocalComfyUi::builder(&settings.comfyui_url);
        if let Some(key) = &settings.comfy_api_key {
            builder = builder.comfy_api_key(key.clone());
        }
        let backend = builder.build().map_err(|e| StartError(format!("ComfyUI backend: {e}")))?;
        let store = match &settings.data_dir {
            Some(dir) => SqliteStore::open(dir.join("comfy.sqlite3")),
            None => SqliteStore::open_default(),
        }
        .map_err(|e| StartError(format!("job/asset store: {e}")))?;
        AppState::new(Arc::new(backend), Arc::new(store), settings)
    }

    /// Builds the state over any backend and store (embedding, tests).
    pub fn new(
        backend: Arc<dyn Backend>,
        store: Arc<dyn Store>,
        settings: Settings,
    ) -> Result<Arc<AppState>, StartError> {
        let options =
            ClientOptions { max_asset_bytes: settings.limits.max_asset_bytes, ..ClientOptions::default() };
        let comfy = Comfy::builder(backend)
            .store(store)
            .options(options)
            .build()
            .map_err(|e| StartError(format!("client: {e}")))?;
        let templates = match &settings.workflows_dir {
            Some(dir) => Templates::watched(
                TemplateLibrary::watch(dir).map_err(|e| StartError(format!("workflows directory: {e}")))?,
            ),
            None => Templates::builtin(),
        };
        let mut defaults = ParamDefaults::from_env();
        defaults.config = settings.defaults.clone();
        let jobs = JobGate::new(settings.limits.max_running_jobs);
        Ok(Arc::new(AppState {
            comfy,
            settings: Arc::new(settings),
            templates,
            jobs,
            defaults: RwLock::new(defaults),
            tasks: Arc::default(),
        }))
    }

    /// Starts background work: fetching the node catalogue (retrying until ComfyUI answers) to
    /// enrich templates, and reattaching jobs left unfinished by a previous run.
    pub fn start_background(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut delay = Duration::from_secs(1);
            let mut reattached = false;
            loop {
                let Some(state) = weak.upgrade() else { return };
                if !reattached {
                    match state.comfy.reattach().await {
                        Ok(jobs) => {
                            reattached = true;
                            if !jobs.is_empty() {
                                tracing::info!(jobs = jobs.len(), "reattached unfinished jobs");
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "reattach deferred"),
                    }
                }
                match state.comfy.backend().catalog(false).await {
                    Ok(catalog) => {
                        state.templates.set_catalog(catalog).await;
                        tracing::info!("node catalogue loaded; templates enriched");
                        if reattached {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "ComfyUI not ready"),
                }
                drop(state);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        });
    }

    /// The node catalogue (cached by the backend after the first fetch).
    pub async fn catalog(&self) -> Result<Arc<Catalog>, ToolError> {
        let catalog = self.comfy.backend().catalog(false).await?;
        self.templates.set_catalog_if_missing(&catalog).await;
        Ok(catalog)
    }

    /// Makes sure templates are enriched from the catalogue when ComfyUI can be reached (so
    /// parameter bounds and choices are checked); a down backend is not an error here.
    pub async fn ensure_catalog(&self) {
        if !self.templates.has_catalog.load(std::sync::atomic::Ordering::SeqCst)
            && let Err(e) = self.catalog().await
        {
            tracing::debug!(error = %e, "templates not enriched: no catalogue");
        }
    }

    /// A template by name (enriched from the catalogue once it is known).
    pub fn template(&self, name: &str) -> Result<Arc<Template>, ToolError> {
        Ok(self.templates.snapshot().get(name)?)
    }

    /// The publish directory: the configured one, else the first of `public/gen`, `static/gen`,
    /// `assets/gen` under the current directory. Shown to callers by a relative or last-component
    /// name only. The file-system checks run off the async runtime.
    pub async fn publish_dir(&self) -> Result<PublishDir, ToolError> {
        let configured = self.settings.publish_dir.clone();
        tokio::task::spawn_blocking(move || resolve_publish_dir(configured))
            .await
            .map_err(|e| ToolError::new("internal_error", format!("publish directory lookup failed: {e}")))?
    }

    /// A copy of the current parameter defaults.
    pub fn param_defaults(&self) -> ParamDefaults {
        self.defaults.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

fn resolve_publish_dir(configured: Option<std::path::PathBuf>) -> Result<PublishDir, ToolError> {
    if let Some(path) = &configured {
        let display = if path.is_relative() {
            path.display().to_string()
        } else {
            path.file_name().map_or_else(|| "publish_dir".to_owned(), |n| n.to_string_lossy().into_owned())
        };
        return Ok(PublishDir::open(path, display, false)?);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| ToolError::new("not_configured", format!("no publish directory: {e}")))?;
    PublishDir::detect(&cwd).ok_or_else(|| {
        ToolError::new(
            "not_configured",
            "no publish directory: set --publish-dir (COMFY_MCP_PUBLISH_DIR, publish_dir), or create \
             public/gen, static/gen or assets/gen in the server's working directory",
        )
    })
}

/// The template library: watched when a workflows directory is configured, else built-ins.
#[derive(Debug)]
pub struct Templates {
    inner: TemplatesInner,
    pub(crate) has_catalog: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
enum TemplatesInner {
    Watched(WatchedLibrary),
    Fixed { current: RwLock<Arc<TemplateLibrary>>, version: watch::Sender<u64> },
}

impl Templates {
    /// Built-in templates only.
    pub fn builtin() -> Templates {
        Templates {
            inner: TemplatesInner::Fixed {
                current: RwLock::new(Arc::new(TemplateLibrary::builtin())),
                version: watch::Sender::new(0),
            },
            has_catalog: false.into(),
        }
    }

    /// A watched directory (hot reload).
    pub fn watched(lib: WatchedLibrary) -> Templates {
        Templates { inner: TemplatesInner::Watched(lib), has_catalog: false.into() }
    }

    /// The current library.
    pub fn snapshot(&self) -> Arc<TemplateLibrary> {
        match &self.inner {
            TemplatesInner::Watched(w) => w.snapshot(),
            TemplatesInner::Fixed { current, .. } => {
                current.read().unwrap_or_else(PoisonError::into_inner).clone()
            }
        }
    }

    /// Changes whenever the set of templates (or their schemas) changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        match &self.inner {
            TemplatesInner::Watched(w) => w.subscribe(),
            TemplatesInner::Fixed { version, .. } => version.subscribe(),
        }
    }

    /// Enriches every template from the catalogue (now and on later reloads), and converts the
    /// editor-format files of the workflows directory; the reload runs on the blocking pool.
    pub async fn set_catalog(&self, catalog: Arc<Catalog>) {
        self.has_catalog.store(true, std::sync::atomic::Ordering::SeqCst);
        match &self.inner {
            TemplatesInner::Watched(w) => {
                if let Err(e) = w.set_catalog_async(Some(catalog)).await {
                    tracing::warn!(error = %e, "could not reload templates with the catalogue");
                }
            }
            TemplatesInner::Fixed { current, version } => {
                let mut lib = TemplateLibrary::builtin();
                lib.enrich(&catalog);
                *current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(lib);
                version.send_modify(|v| *v += 1);
            }
        }
    }

    async fn set_catalog_if_missing(&self, catalog: &Arc<Catalog>) {
        if !self.has_catalog.load(std::sync::atomic::Ordering::SeqCst) {
            self.set_catalog(catalog.clone()).await;
        }
    }
}

/// Caps the jobs this server has running at once.
#[derive(Debug)]
pub struct JobGate {
    max: usize,
    inner: Mutex<GateInner>,
}

#[derive(Debug, Default)]
struct GateInner {
    active: Vec<Job>,
    reserved: usize,
}

/// A reserved slot; [`JobPermit::track`] it with the submitted job, or drop it.
#[derive(Debug)]
pub struct JobPermit<'a> {
    gate: &'a JobGate,
    used: bool,
}

impl JobGate {
    /// A gate for at most `max` jobs.
    pub fn new(max: usize) -> JobGate {
        JobGate { max, inner: Mutex::new(GateInner::default()) }
    }

    /// Jobs running (or queued) through this server now.
    pub fn running(&self) -> usize {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.active.retain(|j| !j.status().is_terminal());
        g.active.len()
    }

    /// Reserves a slot, or refuses with a retryable `too_many_jobs` error.
    pub fn admit(&self) -> Result<JobPermit<'_>, ToolError> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.active.retain(|j| !j.status().is_terminal());
        if g.active.len() + g.reserved >= self.max {
            return Err(ToolError::new(
                "too_many_jobs",
                format!(
                    "{} jobs are already running through this server (the limit); wait for one to finish \
                     or cancel one",
                    g.active.len() + g.reserved
                ),
            )
            .retryable(true));
        }
        g.reserved += 1;
        Ok(JobPermit { gate: self, used: false })
    }
}

impl JobPermit<'_> {
    /// Counts `job` against the cap until it finishes.
    pub fn track(mut self, job: &Job) {
        let mut g = self.gate.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.reserved = g.reserved.saturating_sub(1);
        g.active.push(job.clone());
        self.used = true;
    }
}

impl Drop for JobPermit<'_> {
    fn drop(&mut self) {
        if !self.used {
            let mut g = self.gate.inner.lock().unwrap_or_else(PoisonError::into_inner);
            g.reserved = g.reserved.saturating_sub(1);
        }
    }
}
