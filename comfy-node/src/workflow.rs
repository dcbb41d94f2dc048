//! Offline workflow tools: the `Workflow` (API format) and `Catalog` (`/object_info`) classes,
//! and the editor-format conversions `uiToApi` / `apiToUi` against a catalogue.

use std::sync::Arc;

use comfy_core::{Catalog, Workflow};
use napi::Env;
use napi::bindgen_prelude::{AsyncBlock, AsyncBlockBuilder};
use napi_derive::napi;
use serde_json::Value;

use crate::error::IntoNapi;
use crate::source::workflow_json;
use crate::types::{UiConversion, WorkflowNode};

/// An API-format workflow, parsed strictly (duplicate keys, NaN and malformed nodes are errors)
/// and kept without loss (node order, key order, `_meta`).
#[napi(js_name = "Workflow")]
#[derive(Debug, Clone)]
pub struct WorkflowHandle {
    inner: Workflow,
}

#[napi]
impl WorkflowHandle {
    /// Parses a workflow object or JSON text (API format; an editor file is refused with
    /// `ui_format_workflow`: convert it with `uiToApi`).
    #[napi(constructor)]
    pub fn new(json: Value) -> napi::Result<Self> {
        let inner = match json {
            Value::String(text) => Workflow::from_json_str(&text),
            other => Workflow::from_value(other),
        };
        inner.napi().map(|inner| WorkflowHandle { inner })
    }

    /// Number of nodes.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    /// The nodes in file order: id, class, title.
    #[napi]
    pub fn nodes(&self) -> Vec<WorkflowNode> {
        self.inner
            .nodes()
            .map(|(id, n)| WorkflowNode {
                id: id.0.clone(),
                class_type: n.class_type.clone(),
                title: n.title().map(str::to_owned),
            })
            .collect()
    }

    /// SHA-256 of the canonical form: the same for workflows that differ only in key order or
    /// titles.
    #[napi]
    pub fn canonical_hash(&self) -> String {
        self.inner.canonical_hash()
    }

    /// The workflow as a JSON object (what `JSON.stringify` uses).
    #[napi(js_name = "toJSON")]
    pub fn to_json(&self) -> Value {
        self.inner.to_value()
    }

    /// The workflow as JSON text (byte-identical to the input when unchanged).
    #[napi(js_name = "toString")]
    pub fn to_json_string(&self) -> String {
        self.inner.to_json_string()
    }
}

/// A node catalogue (`GET /object_info`), for offline validation-free conversions.
#[napi(js_name = "Catalog")]
#[derive(Debug, Clone)]
pub struct CatalogHandle {
    inner: Arc<Catalog>,
}

impl From<Arc<Catalog>> for CatalogHandle {
    fn from(inner: Arc<Catalog>) -> Self {
        CatalogHandle { inner }
    }
}

#[napi]
impl CatalogHandle {
    /// Parses an `/object_info` answer (object or JSON text).
    #[napi(constructor)]
    pub fn new(object_info: Value) -> napi::Result<Self> {
        let catalog = match object_info {
            Value::String(text) => Catalog::from_json_str(&text),
            other => Catalog::from_value(&other),
        };
        catalog.napi().map(|c| CatalogHandle { inner: Arc::new(c) })
    }

    /// Number of node classes.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    /// Whether the catalogue has this node class.
    #[napi]
    pub fn has(&self, class_type: String) -> bool {
        self.inner.node(&class_type).is_some()
    }
}

/// Converts an editor ("save" format) workflow to the API format, as the official editor does
/// when it queues it (off the JavaScript thread). The workflow is an object, JSON text or a path.
#[napi(ts_return_type = "Promise<UiConversion>")]
pub fn ui_to_api(
    env: &Env,
    workflow: Value,
    catalog: &CatalogHandle,
) -> napi::Result<AsyncBlock<UiConversion>> {
    let catalog = catalog.inner.clone();
    let convert = async move {
        let json = workflow_json(workflow).await?;
        comfy_core::ui::to_api(&json, &catalog).napi().map(UiConversion::from)
    };
    AsyncBlockBuilder::new(convert).build(env)
}

/// Converts an API-format workflow to an editor workflow (version 0.4, laid out by depth).
#[napi(ts_return_type = "Promise<unknown>")]
pub fn api_to_ui(env: &Env, workflow: Value, catalog: &CatalogHandle) -> napi::Result<AsyncBlock<Value>> {
    let catalog = catalog.inner.clone();
    let convert = async move {
        let workflow = Workflow::from_value(workflow_json(workflow).await?).napi()?;
        comfy_core::ui::to_ui(&workflow, &catalog).napi()
    };
    AsyncBlockBuilder::new(convert).build(env)
}
