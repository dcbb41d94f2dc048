//! `comfy_rs._native`: the native half of the `comfy_rs` Python package.
//!
//! A thin layer over `comfy-core`: each method clones what it needs, calls one core function,
//! and converts the answer; errors are mapped in one place ([`error`]). A client is built
//! either to answer with asyncio awaitables (`comfy_rs.AsyncClient`) or to block with the GIL
//! released (`comfy_rs.Client`), see [`runtime`]. The idiomatic Python API, docstrings and
//! exceptions live in `python/comfy_rs/`; the types are in `python/comfy_rs/_native.pyi`.

#![warn(missing_docs)]

pub mod asset;
pub mod client;
pub mod convert;
pub mod error;
pub mod job;
pub mod mcp;
pub mod partner;
pub mod runtime;
pub mod template;
pub mod workflow;

use pyo3::prelude::*;

/// The native module `comfy_rs._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    client::register(m)?;
    job::register(m)?;
    workflow::register(m)?;
    template::register(m)?;
    mcp::register(m)?;
    m.add_class::<asset::Asset>()?;
    m.add_function(wrap_pyfunction!(runtime::_in_flight, m)?)?;
    Ok(())
}
