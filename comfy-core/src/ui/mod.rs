//! Editor ("UI" / "save") workflows: conversion to and from the API format.
//!
//! [`to_api`] reproduces what the official editor (ComfyUI_frontend 1.27.10, `graphToPrompt`)
//! sends when it queues a saved workflow, without a browser:
//!
//! - `widgets_values` are mapped onto the widgets the editor builds from the catalogue, in
//!   input order, skipping the slots that never reach the prompt (`control_after_generate`,
//!   `control_filter_list`, upload buttons, players);
//! - links are followed through legacy `Reroute` nodes, around bypassed nodes (mode 4, matched by
//!   type), into and out of subgraphs (`definitions.subgraphs`, nested; inner node ids are
//!   `"<instance id>:<inner id>"`) and legacy group nodes (`extra.groupNodes`);
//! - `PrimitiveNode` values are pushed into the widgets they feed; an unconnected subgraph input
//!   uses the instance's promoted widget value;
//! - muted nodes (mode 2) and virtual nodes (Note, MarkdownNote, Reroute, PrimitiveNode, subgraph
//!   and group instances) are left out, and inputs linked to a node that is not in the prompt are
//!   removed (its consumer stays);
//! - what the editor rewrites when queueing is rewritten too: dynamic prompts (`{a|b}` choices,
//!   comments), `%Node.widget%` and `%date:…%` in save nodes' `filename_prefix`, PreviewAny's
//!   extra `preview` input;
//! - `_meta.title` is the node's title, else its class's display name.
//!
//! Node classes the catalogue does not have are reported together in one
//! [`Error::UnknownNodeClasses`](crate::Error::UnknownNodeClasses); structural problems (a link to a missing node or slot, an
//! unknown subgraph, a cycle through reroutes) are [`Error::InvalidUiWorkflow`](crate::Error::InvalidUiWorkflow) naming the node.
//! Nothing recurses on the input, so a deep or huge graph cannot overflow the stack.
//!
//! [`to_ui`] goes the other way, laying the nodes out left to right by depth.
//!
//! ```
//! use comfy_core::{Catalog, ui};
//! use serde_json::json;
//!
//! let catalog = Catalog::from_json_str(r#"{
//!   "EmptyImage": {"input": {"required": {"width": ["INT", {"default": 512}], "height": ["INT", {"default": 512}]}},
//!                  "input_order": {"required": ["width", "height"]},
//!                  "output": ["IMAGE"], "output_node": false, "display_name": "EmptyImage"},
//!   "PreviewImage": {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_node": true,
//!                    "display_name": "Preview Image"}
//! }"#)?;
//! let saved = json!({
//!   "nodes": [
//!     {"id": 1, "type": "EmptyImage", "mode": 0, "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
//!      "widgets_values": [64, 32]},
//!     {"id": 2, "type": "PreviewImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 1}], "outputs": []}
//!   ],
//!   "links": [[1, 1, 0, 2, 0, "IMAGE"]],
//!   "version": 0.4
//! });
//! let converted = ui::to_api(&saved, &catalog)?;
//! assert_eq!(
//!     converted.workflow.to_value(),
//!     json!({
//!       "1": {"inputs": {"width": 64, "height": 32}, "class_type": "EmptyImage", "_meta": {"title": "EmptyImage"}},
//!       "2": {"inputs": {"images": ["1", 0]}, "class_type": "PreviewImage", "_meta": {"title": "Preview Image"}}
//!     })
//! );
//! let editor = ui::to_ui(&converted.workflow, &catalog)?;
//! assert_eq!(ui::to_api(&editor, &catalog)?.workflow, converted.workflow);
//! # Ok::<(), comfy_core::Error>(())
//! ```

mod flatten;
mod group;
mod model;
mod order;
mod resolve;
mod state;
pub(crate) mod text;
mod to_api;
mod to_ui;
mod widgets;

use indexmap::IndexMap;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::workflow::{NodeId, Workflow};

/// The result of [`to_api`].
#[derive(Debug, Clone, PartialEq)]
pub struct UiConversion {
    /// The API-format workflow, nodes in the order the editor would send them.
    pub workflow: Workflow,
    /// Things the conversion had to guess or leave out, one sentence each (a `widgets_values`
    /// whose length does not fit the catalogue, a value the editor computes when queueing, an
    /// unknown node that is muted anyway, ...).
    pub warnings: Vec<String>,
    /// Inputs whose value the editor does not take verbatim from the file, as `(node, input)`:
    ///
    /// - text with dynamic-prompt choices (`{a|b}`): a random choice each time, here as in the
    ///   editor;
    /// - `filename_prefix` with a `%date:…%` pattern: the current time (UTC here, local time in
    ///   the editor);
    /// - inputs whose `control_after_generate` is `randomize`, `increment` or `decrement`: the
    ///   editor changes the value after each queue (before it, in its "before" control mode); the
    ///   converted value is the saved one, which is what the editor sends in its default "after"
    ///   mode.
    ///
    /// Only inputs that are literals in [`UiConversion::workflow`] are listed.
    pub randomized: Vec<(NodeId, String)>,
}

/// Options for [`to_api_with`].
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// Fail with [`crate::Error::InvalidUiWorkflow`] when a node's `widgets_values` has more or
    /// fewer values than the catalogue's widgets take. By default (like the editor) extra values
    /// are ignored and missing ones take their defaults, with a warning.
    pub strict_widgets: bool,
    /// Seed for dynamic-prompt choices; `None` picks at random like the editor.
    pub seed: Option<u64>,
    /// The time (Unix seconds) used for `%date:…%` patterns; `None` is now.
    pub now_unix: Option<i64>,
    /// Pass template placeholders through verbatim: a widget value with a `{{name}}` in it or a
    /// whole `PARAM_…` value is not rewritten (no dynamic-prompt choice, no `%…%` replacement, no
    /// `[input]` annotation), so it can become a template parameter after conversion.
    pub keep_placeholders: bool,
}

/// Converts an editor (UI / "save" format) workflow to the API format, as the official editor
/// does when it queues it. See the [module documentation](self).
pub fn to_api(ui: &Value, catalog: &Catalog) -> Result<UiConversion> {
    to_api_with(ui, catalog, &UiOptions::default())
}

/// [`to_api`] with options.
pub fn to_api_with(ui: &Value, catalog: &Catalog, options: &UiOptions) -> Result<UiConversion> {
    to_api::convert(ui, catalog, options)
}

/// [`to_api`] from JSON text (duplicate keys, truncation and trailing data are
/// [`crate::Error::Json`] with line and column).
pub fn to_api_json(text: &str, catalog: &Catalog) -> Result<UiConversion> {
    let value = crate::json::parse_strict(text, "UI workflow")?;
    to_api(&value, catalog)
}

/// Whether a JSON document is an editor (UI / "save" format) workflow.
pub fn is_ui(value: &Value) -> bool {
    matches!(crate::workflow::detect_format(value), crate::workflow::WorkflowFormat::Ui { .. })
}

/// Accepts a workflow in either format: an editor workflow is converted ([`to_api`]), an
/// API-format one is parsed as is (no warnings). This is what every surface that takes "a
/// workflow" uses, so UI files work wherever API ones do.
pub fn to_api_any(value: &Value, catalog: &Catalog) -> Result<UiConversion> {
    if is_ui(value) {
        return to_api(value, catalog);
    }
    Ok(UiConversion {
        workflow: Workflow::from_value(value.clone())?,
        warnings: Vec::new(),
        randomized: Vec::new(),
    })
}

/// Converts an API-format workflow to an editor workflow (version 0.4): nodes laid out left to
/// right by depth, `widgets_values` in catalogue order (control_after_generate slots `"fixed"`),
/// linked inputs as sockets, titles kept. [`to_api`] of the result gives the workflow back (with
/// every widget input filled in, and non-numeric node ids renumbered; see [`to_ui_with_ids`]).
///
/// Literal values for inputs the catalogue does not declare cannot be shown in the editor and
/// are dropped; every class must be in the catalogue ([`crate::Error::UnknownNodeClasses`]).
pub fn to_ui(workflow: &Workflow, catalog: &Catalog) -> Result<Value> {
    to_ui_with_ids(workflow, catalog).map(|(ui, _)| ui)
}

/// [`to_ui`], also returning the editor node id given to each API node id (numeric ids are kept;
/// others such as `"5:3"` get fresh numbers).
pub fn to_ui_with_ids(workflow: &Workflow, catalog: &Catalog) -> Result<(Value, IndexMap<NodeId, u64>)> {
    to_ui::convert(workflow, catalog)
}

#[cfg(test)]
mod tests;
