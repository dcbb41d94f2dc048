//! The embedded MCP server: a client's own backend, store and templates served over
//! streamable HTTP (or this process's stdio) by comfy-mcp.

use std::sync::Mutex;

use comfy_mcp::embed::{EmbedOptions, parse_tool_profile};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::client::Client;
use crate::convert::Repr;
use crate::error::{Failure, to_pyerr};
use crate::runtime::{Mode, block_on, resolve};

/// A running embedded MCP server (streamable HTTP).
#[pyclass(module = "comfy_rs._native", frozen)]
#[derive(Debug)]
pub struct McpServer {
    url: String,
    server: Mutex<Option<comfy_mcp::embed::McpServer>>,
}

#[pymethods]
impl McpServer {
    /// The endpoint, e.g. `http://127.0.0.1:41234/mcp`.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting connections and waits until the server has stopped (awaitable).
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let server = self.server.lock().map(|mut s| s.take()).unwrap_or_else(|e| e.into_inner().take());
        resolve(py, Mode::Async, async move {
            if let Some(server) = server {
                server.close().await.map_err(|e| Failure::Py(PyRuntimeError::new_err(e.to_string())))?;
            }
            Ok(())
        })
    }

    fn __repr__(&self) -> String {
        format!("McpServer(url={})", self.url.repr())
    }
}

/// The embedding options, the tool profile parsed (an unknown one raises `InvalidInput` naming
/// `tool_profile` and the accepted values).
fn options(
    py: Python<'_>,
    listen: Option<String>,
    token: Option<String>,
    tool_profile: &str,
) -> PyResult<EmbedOptions> {
    let tool_profile = parse_tool_profile("tool_profile", tool_profile).map_err(|e| to_pyerr(py, e))?;
    Ok(EmbedOptions { listen, token, tool_profile })
}

/// Starts an MCP server over streamable HTTP on `listen` (`127.0.0.1:0` picks a free port)
/// serving `client`'s backend, store and templates with the tools of `tool_profile` (`full`
/// or `minimal`); a non-loopback address needs a `token` (clients then send
/// `Authorization: Bearer <token>`). Awaitable.
#[pyfunction]
#[pyo3(signature = (client, listen="127.0.0.1:0", token=None, tool_profile="full"))]
pub fn serve_mcp_http<'py>(
    py: Python<'py>,
    client: &Bound<'py, Client>,
    listen: &str,
    token: Option<String>,
    tool_profile: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let options = options(py, Some(listen.to_owned()), token, tool_profile)?;
    let comfy = client.get().comfy().clone();
    resolve(py, Mode::Async, async move {
        let server = comfy_mcp::embed::serve_http(comfy, &options)
            .await
            .map_err(|e| Failure::Py(PyRuntimeError::new_err(format!("MCP server: {e}"))))?;
        Ok(McpServer { url: server.url().to_owned(), server: Mutex::new(Some(server)) })
    })
}

/// Serves MCP over this process's stdin/stdout until the MCP client goes away (blocking; the
/// GIL is released), with the tools of `tool_profile`. Nothing else may write to stdout
/// meanwhile.
#[pyfunction]
#[pyo3(signature = (client, tool_profile="full"))]
pub fn serve_mcp_stdio(py: Python<'_>, client: &Bound<'_, Client>, tool_profile: &str) -> PyResult<()> {
    let options = options(py, None, None, tool_profile)?;
    let comfy = client.get().comfy().clone();
    block_on(py, async move {
        comfy_mcp::embed::serve_stdio(comfy, &options)
            .await
            .map_err(|e| Failure::Py(PyRuntimeError::new_err(format!("MCP server: {e}"))))
    })?
    .map_err(|f| f.into_pyerr(py))
}

/// Registers this file's classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<McpServer>()?;
    m.add_function(wrap_pyfunction!(serve_mcp_http, m)?)?;
    m.add_function(wrap_pyfunction!(serve_mcp_stdio, m)?)?;
    Ok(())
}
