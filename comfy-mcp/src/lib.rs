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
pub mod drain;
pub mod embed;
pub mod error;
pub mod http;
pub mod logbus;
pub mod memory;
pub mod prompts;
pub mod resources;
pub mod scopes;
pub mod server;
pub mod session;
pub mod state;
pub mod stdio;
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
///
/// A client that closes stdin before `initialize` (it gave up, or `</dev/null`) is a normal
/// end, not an error.
pub async fn serve_stdio(state: Arc<AppState>) -> std::io::Result<()> {
    use rmcp::service::ServerInitializeError;
    let server = ComfyMcp::new(state);
    // Pipes (how MCP clients start a server) are read and written on the IO reactor, each on its
    // own non-blocking open file description; anything else uses Tokio's blocking stdio. Saves
    // a hand-off to a blocking-pool thread for every message in each direction. Notifications
    // and responses sent before `initialize` are ignored ([`stdio`]).
    let running = match server.serve(stdio::transport()).await {
        Ok(r) => r,
        Err(
            ServerInitializeError::ConnectionClosed(_)
            | ServerInitializeError::ExpectedInitializeRequest(None),
        ) => {
            tracing::info!("stdin closed before an MCP client initialized; exiting");
            return Ok(());
        }
        Err(e) => return Err(std::io::Error::other(e)),
    };
    let reason = running.waiting().await.map_err(std::io::Error::other)?;
    tracing::info!(?reason, "stdio session ended");
    Ok(())
}

/// Sets up logging to stderr (text or JSON lines), filtered by `filter` (e.g. `info`).
/// The server's own warnings also go to MCP clients ([`logbus`]), whatever the filter.
pub fn init_logging(format: cli::LogFormat, filter: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false);
    let fmt = match format {
        cli::LogFormat::Text => fmt.boxed(),
        cli::LogFormat::Json => fmt.json().boxed(),
    };
    let _ = tracing_subscriber::registry().with(fmt.with_filter(filter)).with(logbus::filtered()).try_init();
}
