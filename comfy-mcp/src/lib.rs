//! # comfy-mcp
//!
//! An MCP server for ComfyUI on top of [`comfy_core`]: a library other Rust programs can
//! embed, and the `comfy-mcp` binary.
//!
//! - [`config`]: settings from flags, environment, a TOML file and defaults.
//! - [`state::AppState`]: the shared core client, templates and job cap.
//! - [`server::ComfyMcp`]: the MCP handler — tools ([`tools`]), [`resources`], [`prompts`].
//! - [`http`]: streamable HTTP with tokens, scopes, rate limits and probes; [`serve_stdio`] for stdio.
//! - [`error`]: the one mapping from core errors to MCP tool errors.
//!
//! Embedding:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use comfy_mcp::{config::Settings, state::AppState};
//! let settings = Settings::merge(&Default::default(), Default::default())?;
//! let state = AppState::from_settings(settings)?;
//! state.start_background();
//! comfy_mcp::serve_stdio(state).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod config_edit;
pub mod embed;
pub mod error;
pub mod http;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod state;
pub mod store_cmd;
pub mod tasks;
pub mod tools;
pub mod verbs;

use std::sync::Arc;

use rmcp::ServiceExt;

pub use server::ComfyMcp;
pub use state::AppState;

/// Serves MCP over stdin/stdout until the client goes away. Nothing but JSON-RPC is written
/// to stdout. When the template set changes (hot reload, catalogue enrichment) the client is
/// told `notifications/tools/list_changed` (see [`ComfyMcp`]'s `on_initialized`).
pub async fn serve_stdio(state: Arc<AppState>) -> std::io::Result<()> {
    let server = ComfyMcp::new(state);
    let running = server.serve(rmcp::transport::stdio()).await.map_err(std::io::Error::other)?;
    let reason = running.waiting().await.map_err(std::io::Error::other)?;
    tracing::info!(?reason, "stdio session ended");
    Ok(())
}

/// Sets up logging to stderr (text or JSON lines), filtered by `filter` (e.g. `info`).
pub fn init_logging(format: cli::LogFormat, filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder =
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).with_ansi(false);
    let _ = match format {
        cli::LogFormat::Text => builder.try_init(),
        cli::LogFormat::Json => builder.json().try_init(),
    };
}
