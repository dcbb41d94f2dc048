//! The UI document read into plain structures: one [`Scope`] per graph (the root graph, each
//! subgraph definition, each legacy group-node definition), with node and link ids normalised to
//! strings the way JavaScript prints them.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The node id of a subgraph's input node (litegraph `SUBGRAPH_INPUT_ID`).
pub(crate) const SUBGRAPH_INPUT_ID: &str = "-10";
/// The node id of a subgraph's output node (litegraph `SUBGRAPH_OUTPUT_ID`).
pub(crate) const SUBGRAPH_OUTPUT_ID: &str = "-20";

/// `mode` values (litegraph `LGraphEventMode`).
pub(crate) const MODE_NEVER: i64 = 2;
pub(crate) const MODE_BYPASS: i64 = 4;

/// How many subgraph definitions (nested ones included) a document may carry.
const MAX_DEFINITIONS: usize = 10_000;

/// One input slot of a node.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub name: String,
    pub type_: String,
    pub link: Option<String>,
    /// `widget.name` when the socket belongs to a widget.
    pub widget: Option<String>,
}

/// One output slot of a node.
#[derive(Debug, Clone)]
pub(crate) struct OutSlot {
    pub type_: String,
    pub links: Vec<String>,
}

/// `widgets_values` as saved: usually an array, an object for some custom nodes.
#[derive(Debug, Clone)]
pub(crate) enum WidgetValues {
    List(Vec<Value>),
    Named(Map<String, Value>),
}

/// One node of a graph.
#[derive(Debug, Clone)]
pub(crate) struct UiNode {
    pub id: String,
    pub type_: String,
    pub mode: i64,
    pub title: Option<String>,
    pub inputs: Vec<Slot>,
    pub outputs: Vec<OutSlot>,
    pub widgets_values: Option<WidgetValues>,
    pub properties: Map<String, Value>,
}

impl UiNode {
    /// The first value of `widgets_values` (a PrimitiveNode's value).
    pub fn first_value(&self) -> Option<&Value> {
        match &self.widgets_values {
            Some(WidgetValues::List(v)) => v.first(),
            Some(WidgetValues::Named(m)) => m.get("value"),
            None => None,
        }
    }
}

/// One link of a graph.
#[derive(Debug, Clone)]
pub(crate) struct UiLink {
    pub origin: String,
    pub origin_slot: i64,
    pub target: String,
    pub target_slot: i64,
}

/// An input or output of a subgraph definition (or of a legacy group node).
#[derive(Debug, Clone)]
pub(crate) struct IoSlot {
    pub name: String,
    pub type_: String,
    pub link_ids: Vec<String>,
}

/// One graph: the root, a subgraph definition or a group-node definition.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// For messages: `root graph`, `subgraph "<name>" (<uuid>)`, `group node "<name>"`.
    pub label: String,
    /// The subgraph's or group node's name (the default title of its instances).
    pub name: String,
    pub nodes: Vec<UiNode>,
    pub index: HashMap<String, usize>,
    pub links: HashMap<String, UiLink>,
    pub io_inputs: Vec<IoSlot>,
    pub io_outputs: Vec<IoSlot>,
    pub input_node: String,
    pub output_node: String,
    /// For a group-node definition: the instance's widget layout, `(inner node index, widget
    /// name)` per `widgets_values` slot of the instance (`None` for companion slots).
    pub group_widgets: Vec<Option<(usize, String)>>,
}

impl Scope {
    pub fn node(&self, id: &str) -> Option<(usize, &UiNode)> {
        self.index.get(id).map(|&i| (i, &self.nodes[i]))
    }

    pub fn push_node(&mut self, node: UiNode) -> Result<()> {
        if self.index.contains_key(&node.id) {
            return Err(Error::InvalidUiWorkflow {
                node_id: Some(node.id.clone()),
                message: format!("{} has two nodes with id {}", self.label, node.id),
            });
        }
        self.index.insert(node.id.clone(), self.nodes.len());
        self.nodes.push(node);
        Ok(())
    }
}

/// The whole document.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    /// Scope 0 is the root graph.
    pub scopes: Vec<Scope>,
    /// Subgraph definition id → scope.
    pub subgraphs: HashMap<String, usize>,
    /// Group-node definition name → scope (filled by [`super::group`]).
    pub groups: HashMap<String, usize>,
    /// `extra.groupNodes`, as saved.
    pub group_defs: Map<String, Value>,
}

/// A JSON id (number or string) as JavaScript's `String(id)` prints it.
pub(crate) fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(super::text::js_number(n)),
        _ => None,
    }
}

fn slot_number(v: Option<&Value>) -> Option<i64> {
    let n = v?.as_number()?;
    n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
}

fn invalid(node_id: Option<&str>, message: impl Into<String>) -> Error {
    Error::InvalidUiWorkflow { node_id: node_id.map(str::to_owned), message: message.into() }
}

fn type_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => super::text::js_number(n),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        _ => String::new(),
    }
}

pub(crate) fn parse_node(value: &Value, scope_label: &str, position: usize) -> Result<UiNode> {
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            None,
            format!(
                "{scope_label}: nodes[{position}] is {}, not a node object",
                crate::json::type_name(value)
            ),
        )
    })?;
    let id = obj
        .get("id")
        .and_then(id_string)
        .ok_or_else(|| invalid(None, format!("{scope_label}: nodes[{position}] has no usable \"id\"")))?;
    let type_ = match obj.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(invalid(
                Some(&id),
                format!(
                    "{scope_label}: the node has no \"type\" (got {})",
                    other.map(crate::json::preview).unwrap_or_else(|| "nothing".into())
                ),
            ));
        }
    };
    let mode = obj.get("mode").and_then(|m| slot_number(Some(m))).unwrap_or(0);
    let title = obj.get("title").and_then(Value::as_str).map(str::to_owned);
    let mut inputs = Vec::new();
    match obj.get("inputs") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Some(slot) = item.as_object() else {
                    return Err(invalid(Some(&id), format!("{scope_label}: inputs[{i}] is not an object")));
                };
                let link = match slot.get("link") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(id_string(v).ok_or_else(|| {
                        invalid(
                            Some(&id),
                            format!("{scope_label}: inputs[{i}].link is {}", crate::json::preview(v)),
                        )
                    })?),
                };
                inputs.push(Slot {
                    name: slot.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    type_: type_string(slot.get("type")),
                    link,
                    widget: slot
                        .get("widget")
                        .and_then(|w| w.get("name"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            }
        }
        Some(other) => {
            return Err(invalid(
                Some(&id),
                format!("{scope_label}: \"inputs\" is {}", crate::json::type_name(other)),
            ));
        }
    }
    let mut outputs = Vec::new();
    match obj.get("outputs") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Some(slot) = item.as_object() else {
                    return Err(invalid(Some(&id), format!("{scope_label}: outputs[{i}] is not an object")));
                };
                let links = match slot.get("links") {
                    Some(Value::Array(ids)) => ids.iter().filter_map(id_string).collect(),
                    _ => Vec::new(),
                };
                outputs.push(OutSlot { type_: type_string(slot.get("type")), links });
            }
        }
        Some(other) => {
            return Err(invalid(
                Some(&id),
                format!("{scope_label}: \"outputs\" is {}", crate::json::type_name(other)),
            ));
        }
    }
    let widgets_values = match obj.get("widgets_values") {
        Some(Value::Array(v)) => Some(WidgetValues::List(v.clone())),
        Some(Value::Object(m)) => Some(WidgetValues::Named(m.clone())),
        _ => None,
    };
    let properties = obj.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    Ok(UiNode { id, type_, mode, title, inputs, outputs, widgets_values, properties })
}

/// Reads `links` in either layout: arrays `[id, origin, origin_slot, target, target_slot, type]`
/// (version 0.4) or objects `{id, origin_id, ...}` (version 1 and subgraph definitions).
fn parse_links(value: Option<&Value>, scope: &mut Scope) -> Result<()> {
    let items: Vec<&Value> = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items.iter().collect(),
        // Some writers store links as an object keyed by id.
        Some(Value::Object(map)) => map.values().collect(),
        Some(other) => {
            return Err(invalid(
                None,
                format!("{}: \"links\" is {}, expected an array", scope.label, crate::json::type_name(other)),
            ));
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let parsed = match item {
            Value::Array(a) => (|| {
                Some((
                    id_string(a.first()?)?,
                    UiLink {
                        origin: id_string(a.get(1)?)?,
                        origin_slot: slot_number(a.get(2))?,
                        target: id_string(a.get(3)?)?,
                        target_slot: slot_number(a.get(4))?,
                    },
                ))
            })(),
            Value::Object(o) => (|| {
                Some((
                    id_string(o.get("id")?)?,
                    UiLink {
                        origin: id_string(o.get("origin_id")?)?,
                        origin_slot: slot_number(o.get("origin_slot"))?,
                        target: id_string(o.get("target_id")?)?,
                        target_slot: slot_number(o.get("target_slot"))?,
                    },
                ))
            })(),
            Value::Null => continue,
            _ => None,
        };
        let Some((id, link)) = parsed else {
            return Err(invalid(
                None,
                format!(
                    "{}: links[{i}] is not a link ([id, origin, origin_slot, target, target_slot, type]): {}",
                    scope.label,
                    crate::json::preview(item)
                ),
            ));
        };
        scope.links.insert(id, link);
    }
    Ok(())
}

fn parse_io(value: Option<&Value>) -> Vec<IoSlot> {
    let Some(Value::Array(items)) = value else { return Vec::new() };
    items
        .iter()
        .map(|item| IoSlot {
            name: item.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            type_: type_string(item.get("type")),
            link_ids: match item.get("linkIds") {
                Some(Value::Array(ids)) => ids.iter().filter_map(id_string).collect(),
                _ => Vec::new(),
            },
        })
        .collect()
}

fn parse_nodes(value: Option<&Value>, scope: &mut Scope) -> Result<()> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let node = parse_node(item, &scope.label, i)?;
                scope.push_node(node)?;
            }
            Ok(())
        }
        Some(other) => Err(invalid(
            None,
            format!("{}: \"nodes\" is {}, expected an array", scope.label, crate::json::type_name(other)),
        )),
    }
}

/// Reads a UI document. Subgraph definitions may be nested inside other definitions; they are
/// collected with a work list, never by recursion.
pub(crate) fn parse_document(ui: &Value) -> Result<Document> {
    let root = ui.as_object().ok_or_else(|| {
        invalid(None, format!("a UI workflow is a JSON object, got {}", crate::json::type_name(ui)))
    })?;
    if !root.contains_key("nodes") {
        let hint = if crate::workflow::detect_format(ui) == crate::workflow::WorkflowFormat::Api {
            "; this looks like an API-format workflow already (no conversion needed)"
        } else {
            ""
        };
        return Err(invalid(None, format!("the document has no \"nodes\" array{hint}")));
    }
    let mut doc = Document::default();
    let mut scope = Scope {
        label: "root graph".into(),
        input_node: SUBGRAPH_INPUT_ID.into(),
        output_node: SUBGRAPH_OUTPUT_ID.into(),
        ..Scope::default()
    };
    parse_nodes(root.get("nodes"), &mut scope)?;
    parse_links(root.get("links"), &mut scope)?;
    doc.scopes.push(scope);

    let mut pending: Vec<&Value> = Vec::new();
    fn push_defs<'v>(pending: &mut Vec<&'v Value>, defs: Option<&'v Value>) {
        if let Some(Value::Array(list)) = defs.and_then(|d| d.get("subgraphs")) {
            pending.extend(list.iter().rev());
        }
    }
    push_defs(&mut pending, root.get("definitions"));
    // Some writers keep definitions under `extra`.
    push_defs(&mut pending, root.get("extra").and_then(|e| e.get("definitions")));
    while let Some(def) = pending.pop() {
        if doc.scopes.len() > MAX_DEFINITIONS {
            return Err(invalid(None, format!("more than {MAX_DEFINITIONS} subgraph definitions")));
        }
        let Some(obj) = def.as_object() else {
            return Err(invalid(None, "definitions.subgraphs holds an entry that is not an object"));
        };
        let Some(id) = obj.get("id").and_then(id_string) else {
            return Err(invalid(None, "a subgraph definition has no \"id\""));
        };
        let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
        let mut scope = Scope {
            label: format!("subgraph {name:?} ({id})"),
            name: name.to_owned(),
            input_node: obj
                .get("inputNode")
                .and_then(|n| n.get("id"))
                .and_then(id_string)
                .unwrap_or_else(|| SUBGRAPH_INPUT_ID.into()),
            output_node: obj
                .get("outputNode")
                .and_then(|n| n.get("id"))
                .and_then(id_string)
                .unwrap_or_else(|| SUBGRAPH_OUTPUT_ID.into()),
            io_inputs: parse_io(obj.get("inputs")),
            io_outputs: parse_io(obj.get("outputs")),
            ..Scope::default()
        };
        parse_nodes(obj.get("nodes"), &mut scope)?;
        parse_links(obj.get("links"), &mut scope)?;
        // The first definition of an id wins, as in the editor's subgraph map.
        if !doc.subgraphs.contains_key(&id) {
            doc.subgraphs.insert(id, doc.scopes.len());
            doc.scopes.push(scope);
        }
        push_defs(&mut pending, obj.get("definitions"));
    }
    if let Some(Value::Object(groups)) = root.get("extra").and_then(|e| e.get("groupNodes")) {
        doc.group_defs = groups.clone();
    }
    Ok(doc)
}

/// Whether a node type looks like a subgraph definition id (a UUID).
pub(crate) fn looks_like_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| p.len() == *n)
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}
