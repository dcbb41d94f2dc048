//! The embedded MCP server: the client's own backend, store and templates served over
//! streamable HTTP (see `comfy_mcp::embed`).

use comfy_core::Comfy;
use comfy_mcp::embed::{EmbedOptions, McpServer, parse_tool_profile};
use comfy_mcp::tools::profile::ToolProfile;
use napi_derive::napi;
use serde_json::Value;

use crate::error::{IntoNapi, encode};
use crate::types::McpOptions;

pub(crate) fn start_failed(message: String) -> napi::Error {
    encode("mcp_error", &message, false, Value::Null)
}

/// A running embedded MCP server (internal: `serveMcp` in `index.js` returns it).
#[napi(js_name = "NativeMcpServer")]
#[derive(Debug)]
pub struct McpServerHandle {
    url: String,
    server: tokio::sync::Mutex<Option<McpServer>>,
}

/// The embedding options, the tool profile parsed (an unknown one is an `invalid_argument`
/// error naming `toolProfile` and the accepted values).
pub fn embed_options(options: McpOptions) -> napi::Result<EmbedOptions> {
    let tool_profile = match options.tool_profile.as_deref() {
        Some(value) => parse_tool_profile("toolProfile", value).napi()?,
        None => ToolProfile::default(),
    };
    Ok(EmbedOptions { listen: options.listen, token: options.token, tool_profile })
}

impl McpServerHandle {
    /// Starts serving `comfy` over HTTP.
    pub async fn start(comfy: Comfy, options: McpOptions) -> napi::Result<McpServerHandle> {
        let server = comfy_mcp::embed::serve_http(comfy, &embed_options(options)?)
            .await
            .map_err(|e| start_failed(e.0))?;
        Ok(McpServerHandle { url: server.url().to_owned(), server: tokio::sync::Mutex::new(Some(server)) })
    }
}

#[napi]
impl McpServerHandle {
    /// The streamable-HTTP endpoint, e.g. `http://127.0.0.1:41234/mcp`.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops accepting connections and waits for the server to finish (again: nothing).
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        let server = self.server.lock().await.take();
        match server {
            Some(server) => server.close().await.map_err(|e| start_failed(e.to_string())),
            None => Ok(()),
        }
    }
}
