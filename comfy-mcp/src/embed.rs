//! Serving MCP from inside another program: the Python and Node bindings hand over the core
//! client they already have, and get the server's URL back (or serve stdio).
//!
//! ```no_run
//! # async fn demo(comfy: comfy_core::Comfy) -> Result<(), Box<dyn std::error::Error>> {
//! use comfy_mcp::embed::{EmbedOptions, serve_http};
//! use comfy_mcp::tools::profile::ToolProfile;
//!
//! let options = EmbedOptions { token: Some("secret".into()), tool_profile: ToolProfile::Minimal, ..Default::default() };
//! let server = serve_http(comfy, &options).await?;
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
use crate::tools::profile::ToolProfile;

/// How an embedded server serves: where (HTTP), with which token, which tools.
#[derive(Debug, Clone, Default)]
pub struct EmbedOptions {
    /// Address to listen on (HTTP); `None` is `127.0.0.1:0` (a free port).
    pub listen: Option<String>,
    /// The Bearer token clients must send (HTTP; required on a non-loopback address). Its
    /// holder sees everything the program's own client made.
    pub token: Option<String>,
    /// Which tools are listed ([`ToolProfile::Full`] by default).
    pub tool_profile: ToolProfile,
}

/// Parses a binding's tool-profile option (`full`, `minimal`); the error names `argument`
/// (the binding's spelling, e.g. `tool_profile` or `toolProfile`) and the accepted values.
pub fn parse_tool_profile(argument: &str, value: &str) -> Result<ToolProfile, comfy_core::Error> {
    value.parse().map_err(|message| comfy_core::Error::InvalidArgument { argument: argument.into(), message })
}

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

/// Settings for an embedded server over `comfy`: default limits, the profile's tools.
pub fn settings(transport: Transport, options: &EmbedOptions) -> Result<Settings, StartError> {
    let mut settings =
        Settings::merge(&ServerArgs::default(), FileConfig::default()).map_err(|e| StartError(e.0))?;
    settings.transport = transport;
    settings.listen = options.listen.clone().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    settings.tool_profile = options.tool_profile;
    if let Some(token) = options.token.clone() {
        // The program's one user: its token sees everything the program's own client made.
        settings.http.tokens =
            vec![TokenConfig { name: Some("embedded".into()), token, tools: None, admin: true, team: None }];
    }
    settings.check().map_err(|e| StartError(e.0))?;
    Ok(settings)
}

/// Serves MCP over streamable HTTP on `options.listen` (`127.0.0.1:0` picks a free port) with
/// the client's own backend, store and templates. A non-loopback address needs a token.
pub async fn serve_http(comfy: Comfy, options: &EmbedOptions) -> Result<McpServer, StartError> {
    let settings = settings(Transport::Http, options)?;
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

/// Serves MCP over this process's stdin/stdout until the client goes away (`options.listen`
/// and `options.token` are unused).
pub async fn serve_stdio(comfy: Comfy, options: &EmbedOptions) -> std::io::Result<()> {
    let options = EmbedOptions { listen: None, token: None, ..options.clone() };
    let settings = settings(Transport::Stdio, &options).map_err(std::io::Error::other)?;
    let state: Arc<AppState> = AppState::with_client(comfy, settings);
    state.start_background();
    crate::serve_stdio(state).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_reaches_the_settings_and_a_bad_one_names_the_argument() {
        let options = EmbedOptions { tool_profile: ToolProfile::Minimal, ..Default::default() };
        let s = settings(Transport::Http, &options).unwrap();
        assert_eq!((s.tool_profile, s.listen.as_str()), (ToolProfile::Minimal, "127.0.0.1:0"));
        assert_eq!(
            settings(Transport::Http, &EmbedOptions::default()).unwrap().tool_profile,
            ToolProfile::Full
        );
        assert_eq!(parse_tool_profile("toolProfile", "minimal").unwrap(), ToolProfile::Minimal);
        let e = parse_tool_profile("toolProfile", "tiny").unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        let text = e.to_string();
        assert!(
            text.contains("toolProfile") && text.contains("\"full\"") && text.contains("\"minimal\""),
            "{text}"
        );
    }
}
