//! Serving MCP from inside another program: the Python and Node bindings hand over the core
//! client they already have, and get the server's URL back (or serve stdio).
//!
//! ```no_run
//! # async fn demo(comfy: comfy_core::Comfy) -> Result<(), Box<dyn std::error::Error>> {
//! let server = comfy_mcp::embed::serve_http(comfy, "127.0.0.1:0", Some("secret".into())).await?;
//! println!("MCP endpoint: {}", server.url());
//! server.close().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use comfy_core::Comfy;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::{ServerArgs, Transport};
use crate::config::{FileConfig, Settings, TokenConfig};
use crate::state::{AppState, StartError};

/// A running embedded HTTP server; [`McpServer::close`] stops it (dropping it stops it too).
#[derive(Debug)]
pub struct McpServer {
    url: String,
    shutdown: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl McpServer {
    /// The streamable-HTTP endpoint, e.g. `http://127.0.0.1:41234/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting connections and waits for the server to finish.
    pub async fn close(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Default settings for an embedded server over `comfy` (every tool, default limits).
pub fn settings(transport: Transport, listen: &str, token: Option<String>) -> Result<Settings, StartError> {
    let mut settings =
        Settings::merge(&ServerArgs::default(), FileConfig::default()).map_err(|e| StartError(e.0))?;
    settings.transport = transport;
    settings.listen = listen.to_owned();
    if let Some(token) = token {
        // The program's one user: its token sees everything the program's own client made.
        settings.http.tokens =
            vec![TokenConfig { name: Some("embedded".into()), token, tools: None, admin: true }];
    }
    settings.check().map_err(|e| StartError(e.0))?;
    Ok(settings)
}

/// Serves MCP over streamable HTTP on `listen` (`127.0.0.1:0` picks a free port) with the
/// client's own backend, store and templates. A non-loopback address needs a `token`.
pub async fn serve_http(comfy: Comfy, listen: &str, token: Option<String>) -> Result<McpServer, StartError> {
    let settings = settings(Transport::Http, listen, token)?;
    let addr = settings.listen_addr().map_err(|e| StartError(e.0))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError(format!("listening on {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| StartError(e.to_string()))?;
    let state = AppState::with_client(comfy, settings);
    state.start_background();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(crate::http::serve_listener(state, listener, shutdown.clone()));
    Ok(McpServer { url: format!("http://{local}/mcp"), shutdown, task: Some(task) })
}

/// Serves MCP over this process's stdin/stdout until the client goes away.
pub async fn serve_stdio(comfy: Comfy) -> std::io::Result<()> {
    let settings = settings(Transport::Stdio, "127.0.0.1:0", None).map_err(std::io::Error::other)?;
    let state: Arc<AppState> = AppState::with_client(comfy, settings);
    state.start_background();
    crate::serve_stdio(state).await
}
