//! The embedded MCP server: the client's own backend, store and templates served over
//! streamable HTTP (see `comfy_mcp::embed`).

use comfy_core::Comfy;
use comfy_mcp::embed::McpServer;
use napi_derive::napi;
use serde_json::Value;

use crate::error::encode;
use crate::types::McpOptions;

fn start_failed(message: String) -> napi::Error {
    encode("mcp_error", &message, false, Value::Null)
}

/// A running embedded MCP server (internal: `serveMcp` in `index.js` returns it).
#[napi(js_name = "NativeMcpServer")]
#[derive(Debug)]
pub struct McpServerHandle {
    url: String,
    server: tokio::sync::Mutex<Option<McpServer>>,
}

impl McpServerHandle {
    /// Starts serving `comfy` over HTTP.
    pub async fn start(comfy: Comfy, options: McpOptions) -> napi::Result<McpServerHandle> {
        let listen = options.listen.as_deref().unwrap_or("127.0.0.1:0");
        let server = comfy_mcp::embed::serve_http(comfy, listen, options.token)
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
