//! Widget values of every node as the editor holds them just before it builds the prompt: the
//! saved values read onto the catalogue's widget layout, then the values PrimitiveNodes push into
//! their targets (`PrimitiveNode.applyToGraph`), then a group-node instance's own values.

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::{Error, Result};

use super::model::{Document, Scope, UiNode, WidgetValues};
use super::text::{Clock, Named, text_replacements};
use super::widgets::{Fit, Role, Widget, layout, read_values};

/// The widgets of one node and their current values.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub layout: Rc<Vec<Widget>>,
    /// `None` is JavaScript's `undefined` (a combo with no options and no saved value).
    pub values: Vec<Option<Value>>,
}

impl NodeState {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.layout.iter().position(|w| w.name == name).and_then(|i| self.values[i].as_ref())
    }

    /// Whether the widget `name` has a control_after_generate companion.
    pub fn has_control(&self, name: &str) -> bool {
        let Some(i) = self.layout.iter().position(|w| w.name == name && w.role == Role::Value) else {
            return false;
        };
        // The control follows the value, after a remote combo's toggle and refresh button.
        self.layout[i + 1..]
            .iter()
            .take_while(|w| !matches!(w.role, Role::Value | Role::Computed))
            .any(|w| w.role == Role::Control)
    }
}

/// Widget states, computed once per node of every scope.
pub(crate) struct States {
    layouts: HashMap<String, Rc<Vec<Widget>>>,
    /// `(scope, node)` → state, for class nodes.
    pub nodes: HashMap<(usize, usize), NodeState>,
    pub warnings: Vec<String>,
}

fn values_as_list(v: Option<&WidgetValues>) -> Vec<Value> {
    match v {
        Some(WidgetValues::List(l)) => l.clone(),
        Some(WidgetValues::Named(m)) => m.values().cloned().collect(),
        None => Vec::new(),
    }
}

impl States {
    pub fn layout_of(&mut self, catalog: &Catalog, class: &str) -> Option<Rc<Vec<Widget>>> {
        if let Some(l) = self.layouts.get(class) {
            return Some(l.clone());
        }
        let def = catalog.node(class)?;
        let l = Rc::new(layout(def));
        self.layouts.insert(class.to_owned(), l.clone());
        Some(l)
    }

    /// Reads every class node of every scope, then applies PrimitiveNode values.
    pub fn build(doc: &Document, catalog: &Catalog, strict: bool, clock: &Clock) -> Result<States> {
        let mut states = States { layouts: HashMap::new(), nodes: HashMap::new(), warnings: Vec::new() };
        for (s, scope) in doc.scopes.iter().enumerate() {
            for (n, node) in scope.nodes.iter().enumerate() {
                let Some(def) = catalog.node(&node.type_) else { continue };
                let Some(layout) = states.layout_of(catalog, &node.type_) else { continue };
                let (values, fit) = read_values(def, &layout, node.widgets_values.as_ref());
                if fit.found != fit.expected && !(fit.found == 0 && node.widgets_values.is_none()) {
                    let message = fit_message(scope, &node.type_, fit, &layout);
                    if strict {
                        return Err(Error::InvalidUiWorkflow { node_id: Some(node.id.clone()), message });
                    }
                    states.warnings.push(format!("node \"{}\": {message}", node.id));
                }
                states.nodes.insert((s, n), NodeState { layout, values });
            }
        }
        states.apply_primitives(doc, catalog, clock);
        Ok(states)
    }

    /// `PrimitiveNode.applyToGraph`: the primitive's first value goes into the widget of every
    /// input its output is linked to (direct links only, as in the editor).
    fn apply_primitives(&mut self, doc: &Document, catalog: &Catalog, clock: &Clock) {
        let mut updates: Vec<((usize, usize), String, Value)> = Vec::new();
        for (s, scope) in doc.scopes.iter().enumerate() {
            for node in &scope.nodes {
                if node.type_ != "PrimitiveNode" {
                    continue;
                }
                let Some(links) = node.outputs.first().map(|o| &o.links).filter(|l| !l.is_empty()) else {
                    continue;
                };
                let Some(mut value) = node.first_value().cloned() else { continue };
                let replace = node
                    .properties
                    .get("Run widget replace on values")
                    .is_some_and(|v| v.as_bool() == Some(true));
                if replace
                    && let Value::String(text) = &value
                    && !text.is_empty()
                {
                    value = Value::String(self.replace_text(doc, catalog, text, clock).0);
                }
                for link_id in links {
                    let Some(link) = scope.links.get(link_id) else { continue };
                    let Some((t, target)) = scope.node(&link.target) else { continue };
                    let input =
                        target.inputs.iter().find(|i| i.link.as_ref() == Some(link_id)).or_else(|| {
                            usize::try_from(link.target_slot).ok().and_then(|i| target.inputs.get(i))
                        });
                    let Some(widget) = input.and_then(|i| i.widget.clone()) else { continue };
                    updates.push(((s, t), widget, value.clone()));
                }
            }
        }
        for (key, widget, value) in updates {
            if let Some(state) = self.nodes.get_mut(&key) {
                match state.layout.iter().position(|w| w.name == widget) {
                    Some(i) => state.values[i] = Some(value),
                    None => self.warnings.push(format!(
                        "a PrimitiveNode feeds widget {widget:?} of node \"{}\", which has no such widget",
                        doc.scopes[key.0].nodes[key.1].id
                    )),
                }
            }
        }
    }

    /// The editor's `applyTextReplacements` over every node of the document (root graph first).
    pub fn replace_text(
        &self,
        doc: &Document,
        catalog: &Catalog,
        text: &str,
        clock: &Clock,
    ) -> (String, bool) {
        if !text.contains('%') {
            return (text.to_owned(), false);
        }
        let mut named: Vec<Named<'_>> = Vec::new();
        let primitive_names = ["value", "control_after_generate", "control_filter_list"];
        for (s, scope) in doc.scopes.iter().enumerate() {
            for (n, node) in scope.nodes.iter().enumerate() {
                let sr = node.properties.get("Node name for S&R").and_then(Value::as_str).or_else(|| {
                    (catalog.node(&node.type_).is_some() && !SAVE_CLASSES.contains(&node.type_.as_str()))
                        .then_some(node.type_.as_str())
                });
                let title = default_title(doc, catalog, node);
                let widgets: Vec<(&str, &Value)> = match self.nodes.get(&(s, n)) {
                    Some(state) => state
                        .layout
                        .iter()
                        .zip(state.values.iter())
                        .filter_map(|(w, v)| v.as_ref().map(|v| (w.name.as_str(), v)))
                        .collect(),
                    None => {
                        let list = match &node.widgets_values {
                            Some(WidgetValues::List(l)) => l.iter().collect::<Vec<_>>(),
                            _ => Vec::new(),
                        };
                        let names: Vec<&str> =
                            if node.type_ == "PrimitiveNode" { primitive_names.to_vec() } else { Vec::new() };
                        names.into_iter().zip(list).collect()
                    }
                };
                named.push(Named { sr_name: sr, title, widgets });
            }
        }
        text_replacements(text, &named, clock)
    }
}

fn fit_message(scope: &Scope, class: &str, fit: Fit, layout: &[Widget]) -> String {
    let names: Vec<String> = layout[..fit.expected]
        .iter()
        .map(|w| if w.saved { w.name.clone() } else { format!("{} (null)", w.name) })
        .collect();
    let what = if fit.found > fit.expected {
        "the extra values are ignored"
    } else {
        "the missing ones take their defaults"
    };
    format!(
        "{} ({class}): widgets_values has {} values but the catalogue's widgets [{}] take {}; {what} \
         (the file was probably saved with another version of this node)",
        scope.label,
        fit.found,
        names.join(", "),
        fit.expected
    )
}

/// Gives every node of a known class its loaded input slots ([`super::widgets::live_inputs`]).
pub(crate) fn load_inputs(doc: &mut Document, catalog: &Catalog) {
    for scope in &mut doc.scopes {
        for node in &mut scope.nodes {
            if let Some(def) = catalog.node(&node.type_) {
                node.inputs = super::widgets::live_inputs(def, &node.inputs);
            }
        }
    }
}

/// Save nodes whose `filename_prefix` goes through `applyTextReplacements` when queueing, and
/// which get no "Node name for S&R" property (`saveImageExtraOutput.ts`, 1.27.10).
pub(crate) const SAVE_CLASSES: &[&str] = &[
    "SaveImage",
    "SaveAnimatedWEBP",
    "SaveWEBM",
    "SaveAudio",
    "SaveGLB",
    "SaveAnimatedPNG",
    "CLIPSave",
    "VAESave",
    "ModelSave",
    "LoraSave",
    "SaveLatent",
];

/// `node.title`: the saved title, else the class's display name (a subgraph's name, the type).
pub(crate) fn default_title(doc: &Document, catalog: &Catalog, node: &UiNode) -> String {
    if let Some(t) = &node.title {
        return t.clone();
    }
    if let Some(def) = catalog.node(&node.type_) {
        return display_name(def);
    }
    if let Some(&s) = doc.subgraphs.get(&node.type_) {
        return doc.scopes[s].name.clone();
    }
    match node.type_.as_str() {
        "PrimitiveNode" => "Primitive".into(),
        "MarkdownNote" => "Markdown Note".into(),
        other => other.to_owned(),
    }
}

/// English display names the editor 1.27.10 shows (its `nodeDefs` locale) where they differ
/// from what `/object_info` says (these classes declare none there).
const EDITOR_DISPLAY_NAMES: &[(&str, &str)] = &[
    ("ImageBlend", "Image Blend"),
    ("ImageBlur", "Image Blur"),
    ("ImageQuantize", "Image Quantize"),
    ("ImageSharpen", "Image Sharpen"),
    ("ImageScaleToTotalPixels", "Scale Image to Total Pixels"),
];

/// A class's title in the editor: its English locale name, else `display_name`, else its name.
pub(crate) fn display_name(def: &crate::catalog::NodeDef) -> String {
    if let Some((_, name)) = EDITOR_DISPLAY_NAMES.iter().find(|(class, _)| *class == def.name) {
        return (*name).to_owned();
    }
    def.display_name.clone().unwrap_or_else(|| def.name.clone())
}

/// A list view of a node's saved widgets values (for promoted widgets of subgraph instances).
pub(crate) fn saved_list(v: Option<&WidgetValues>) -> Vec<Value> {
    values_as_list(v)
}
