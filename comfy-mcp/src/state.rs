//! Shared state of one server process: the core client (backend, store, templates, defaults,
//! running-jobs cap) and the server's settings. Everything MCP-facing clones an
//! `Arc<AppState>`; nothing here knows about MCP.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::Comfy;
use comfy_core::backend::Backend;
use comfy_core::publish::PublishDir;
use comfy_core::store::Store;

use crate::config::Settings;
use crate::error::ToolError;

/// Everything a tool call needs. Cheap to share (`Arc<AppState>`).
#[derive(Debug)]
pub struct AppState {
    /// The core client: backend, store, templates, parameter defaults, running-jobs cap.
    pub comfy: Comfy,
    /// The effective settings.
    pub settings: Arc<Settings>,
    /// Calls running as MCP tasks.
    pub tasks: Arc<crate::tasks::Tasks>,
}

/// A failure to start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl AppState {
    /// Builds the state from settings through the core's one client constructor
    /// ([`ClientConfig::connect`](comfy_core::ClientConfig::connect)): the selected backend
    /// (nothing is contacted yet: the server starts even when the backend is down) and the
    /// SQLite store in the data directory. Must be called inside a Tokio runtime.
    pub fn from_settings(settings: Settings) -> Result<Arc<AppState>, StartError> {
        let comfy = settings
            .client_config()
            .connect()
            .map_err(|e| StartError(format!("cannot start the {} client: {e}", settings.backend)))?;
        Ok(AppState::with_client(comfy, settings))
    }

    /// Builds the state over any backend and store (embedding, tests): a core client with the
    /// settings' limits, templates (the workflows directory, watched, or the built-ins) and
    /// parameter defaults.
    pub fn new(
        backend: Arc<dyn Backend>,
        store: Arc<dyn Store>,
        settings: Settings,
    ) -> Result<Arc<AppState>, StartError> {
        let comfy = settings
            .client_config()
            .connect_with(backend, store)
            .map_err(|e| StartError(format!("client: {e}")))?;
        Ok(AppState::with_client(comfy, settings))
    }

    /// The state over a client built elsewhere (the Python and Node bindings serve their own
    /// client over MCP); its options, templates and defaults are used as they are.
    pub fn with_client(comfy: Comfy, settings: Settings) -> Arc<AppState> {
        Arc::new(AppState { comfy, settings: Arc::new(settings), tasks: Arc::default() })
    }

    /// The same state with the core client acting for `caller` (one per request): every tool,
    /// resource and subscription reached through it applies the caller's ownership rule.
    pub fn acting_for(&self, caller: comfy_core::Caller) -> Arc<AppState> {
        Arc::new(AppState {
            comfy: self.comfy.acting_for(caller),
            settings: self.settings.clone(),
            tasks: self.tasks.clone(),
        })
    }

    /// Starts background work: fetching the node catalogue (retrying until the backend
    /// answers) to enrich templates, and reattaching jobs left unfinished by a previous run.
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
                match state.comfy.catalog().await {
                    Ok(_) => {
                        tracing::info!("node catalogue loaded; templates enriched");
                        // Parsing it left megabytes of freed pages behind.
                        crate::memory::release_free_heap();
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

    /// The publish directory: the configured one, else the first of `public/gen`, `static/gen`,
    /// `assets/gen` under the current directory. Shown to callers by a relative or last-component
    /// name only. The file-system checks run off the async runtime.
    pub async fn publish_dir(&self) -> Result<PublishDir, ToolError> {
        let configured = self.settings.publish_dir.clone();
        tokio::task::spawn_blocking(move || resolve_publish_dir(configured))
            .await
            .map_err(|e| ToolError::new("internal_error", format!("publish directory lookup failed: {e}")))?
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
