//! API → UI: an editor workflow (version 0.4) that the official editor opens and that converts
//! back to the same prompt.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, NodeDef, Section};
use crate::error::{Error, Result};
use crate::workflow::{Input, NodeId, Workflow};

use super::state::SAVE_CLASSES;
use super::widgets::{Role, has_widget, layout, write_values};

const COLUMN_WIDTH: f64 = 380.0;
const ROW_GAP: f64 = 40.0;
const MARGIN: f64 = 100.0;

/// A canonical array index (`"0"`, `"17"`), which can stay the node's id in the editor.
fn numeric_id(id: &str) -> Option<u64> {
    if id == "0"
        || (!id.starts_with('0') && !id.is_empty() && id.len() <= 9 && id.bytes().all(|b| b.is_ascii_digit()))
    {
        id.parse().ok()
    } else {
        None
    }
}

/// Editor ids for the workflow's nodes: numeric ids are kept, the others (`"5:3"`, `"a"`) get
/// fresh numbers after the largest one, in workflow order.
fn assign_ids(workflow: &Workflow) -> IndexMap<NodeId, u64> {
    let mut used: HashSet<u64> = HashSet::new();
    let mut ids: IndexMap<NodeId, u64> = IndexMap::new();
    for (id, _) in workflow.nodes() {
        if let Some(n) = numeric_id(id.as_str())
            && used.insert(n)
        {
            ids.insert(id.clone(), n);
        }
    }
    let mut next = used.iter().max().copied().unwrap_or(0) + 1;
    let mut out = IndexMap::new();
    for (id, _) in workflow.nodes() {
        let n = match ids.get(id) {
            Some(&n) => n,
            None => {
                let n = next;
                next += 1;
                n
            }
        };
        out.insert(id.clone(), n);
    }
    out
}

/// Topological levels (longest path from a source) and an execution order; nodes caught in a
/// cycle go after everything else. No recursion.
fn levels(workflow: &Workflow) -> (HashMap<NodeId, usize>, Vec<NodeId>) {
    let ids: Vec<&NodeId> = workflow.nodes().map(|(id, _)| id).collect();
    let position: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let position = &position;
    let edges = workflow.nodes().enumerate().flat_map(|(t, (_, node))| {
        node.links().filter_map(move |(_, link)| position.get(link.node.as_str()).map(|&o| (o, t)))
    });
    let super::order::Kahn { order, sorted, mut level } = super::order::kahn(ids.len(), edges);
    // Nodes caught in a cycle go one column after everything else.
    let last = level.iter().copied().max().unwrap_or(0) + 1;
    for &i in &order[sorted..] {
        level[i] = last;
    }
    (
        ids.iter().enumerate().map(|(i, id)| ((*id).clone(), level[i])).collect(),
        order.into_iter().map(|i| ids[i].clone()).collect(),
    )
}

fn unwrap_value(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("__value__") => m["__value__"].clone(),
        other => other.clone(),
    }
}

fn node_size(def: &NodeDef, link_inputs: usize, widgets: usize) -> [f64; 2] {
    let rows = link_inputs.max(def.outputs.len());
    let multiline = def.inputs.iter().any(|i| i.options.multiline);
    let width = if multiline { 400.0 } else { 315.0 };
    let height = 30.0 + 22.0 * rows as f64 + 24.0 * widgets as f64 + if multiline { 100.0 } else { 0.0 };
    [width, height.max(46.0)]
}

/// Converts an API workflow to an editor workflow; also returns the editor id of every node.
pub(crate) fn convert(workflow: &Workflow, catalog: &Catalog) -> Result<(Value, IndexMap<NodeId, u64>)> {
    let mut missing: Vec<(String, String)> = Vec::new();
    for (id, node) in workflow.nodes() {
        if catalog.node(&node.class_type).is_none() {
            missing.push((id.to_string(), node.class_type.clone()));
        }
    }
    if !missing.is_empty() {
        let mut classes: Vec<String> = missing.iter().map(|(_, c)| c.clone()).collect();
        classes.sort();
        classes.dedup();
        return Err(Error::UnknownNodeClasses { classes, nodes: missing });
    }
    for (id, node) in workflow.nodes() {
        for (name, link) in node.links() {
            if workflow.node(link.node.as_str()).is_none() {
                return Err(Error::InvalidWorkflow {
                    location: format!("node {id:?} / inputs / {name}"),
                    message: format!("links to node {:?}, which is not in the workflow", link.node.as_str()),
                });
            }
        }
    }

    let ids = assign_ids(workflow);
    let (level, order) = levels(workflow);
    let order_index: HashMap<&NodeId, usize> = order.iter().enumerate().map(|(i, id)| (id, i)).collect();

    // Inputs of every node in editor slot order: (name, type, link source, is widget socket).
    struct SlotPlan<'a> {
        name: &'a str,
        type_: String,
        link: Option<&'a crate::workflow::Link>,
        widget: bool,
    }
    let mut plans: IndexMap<&NodeId, Vec<SlotPlan<'_>>> = IndexMap::new();
    for (id, node) in workflow.nodes() {
        let Some(def) = catalog.node(&node.class_type) else { continue };
        // The editor's slot order: link-only inputs, then the widget inputs that are linked.
        let mut slots = Vec::new();
        let visible: Vec<&crate::catalog::InputDef> =
            def.inputs.iter().filter(|i| i.section != Section::Hidden).collect();
        for widget in [false, true] {
            for input in visible.iter().filter(|i| has_widget(i) == widget) {
                let link = node.inputs.get(&input.name).and_then(Input::as_link);
                if widget && link.is_none() {
                    continue;
                }
                slots.push(SlotPlan {
                    name: &input.name,
                    type_: input.kind.type_name().to_owned(),
                    link,
                    widget,
                });
            }
        }
        for (name, link) in node.links() {
            if def.input(name).is_none() {
                slots.push(SlotPlan { name, type_: "*".into(), link: Some(link), widget: false });
            }
        }
        plans.insert(id, slots);
    }

    // Links, numbered in node order.
    let keys: HashMap<&str, &NodeId> = workflow.nodes().map(|(k, _)| (k.as_str(), k)).collect();
    let mut used_outputs: HashMap<&str, usize> = HashMap::new();
    let mut links: Vec<Value> = Vec::new();
    let mut input_links: HashMap<(&NodeId, usize), u64> = HashMap::new();
    let mut output_links: HashMap<(&NodeId, u32), Vec<u64>> = HashMap::new();
    for (id, slots) in &plans {
        for (slot_index, slot) in slots.iter().enumerate() {
            let Some(link) = slot.link else { continue };
            let link_id = links.len() as u64 + 1;
            let origin = ids.get(link.node.as_str()).copied().unwrap_or(0);
            let origin_type = workflow
                .node(link.node.as_str())
                .and_then(|o| catalog.node(&o.class_type))
                .and_then(|d| d.outputs.get(link.output as usize))
                .map(|o| o.type_name.clone())
                .unwrap_or_else(|| "*".into());
            let type_ = if slot.type_.is_empty() { origin_type } else { slot.type_.clone() };
            links.push(json!([link_id, origin, link.output, ids[*id], slot_index, type_]));
            input_links.insert((*id, slot_index), link_id);
            if let Some(&key) = keys.get(link.node.as_str()) {
                output_links.entry((key, link.output)).or_default().push(link_id);
                let used = used_outputs.entry(key.as_str()).or_default();
                *used = (*used).max(link.output as usize + 1);
            }
        }
    }

    let mut columns: HashMap<usize, f64> = HashMap::new();
    let mut nodes: Vec<Value> = Vec::new();
    for (id, node) in workflow.nodes() {
        let Some(def) = catalog.node(&node.class_type) else { continue };
        let widgets = layout(def);
        let values: Vec<Option<Value>> = widgets
            .iter()
            .map(|w| match w.role {
                Role::Value | Role::Computed => match w.input.and_then(|i| def.inputs.get(i)) {
                    Some(input) => match node.inputs.get(&input.name) {
                        Some(Input::Value(v)) => Some(unwrap_value(v)),
                        _ => w.default.clone(),
                    },
                    None => w.default.clone(),
                },
                Role::Control => Some(Value::String("fixed".into())),
                Role::ControlFilter => Some(Value::String(String::new())),
                Role::Ui => w.default.clone(),
            })
            .collect();
        let widgets_values = write_values(&widgets, &values);
        let slots = plans.get(id).map(Vec::as_slice).unwrap_or(&[]);
        let inputs: Vec<Value> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut m = Map::new();
                m.insert("name".into(), Value::String(s.name.to_owned()));
                m.insert("type".into(), Value::String(s.type_.clone()));
                if s.widget {
                    m.insert("widget".into(), json!({"name": s.name}));
                }
                m.insert("link".into(), input_links.get(&(id, i)).map(|&l| json!(l)).unwrap_or(Value::Null));
                Value::Object(m)
            })
            .collect();
        let output_count = def.outputs.len().max(used_outputs.get(id.as_str()).copied().unwrap_or(0));
        let outputs: Vec<Value> = (0..output_count)
            .map(|o| {
                let (name, type_) = def
                    .outputs
                    .get(o)
                    .map(|d| (d.name.clone(), d.type_name.clone()))
                    .unwrap_or_else(|| ("*".into(), "*".into()));
                let ids = output_links.get(&(id, o as u32)).map(|l| json!(l)).unwrap_or(Value::Null);
                json!({"name": name, "type": type_, "links": ids})
            })
            .collect();
        let visible_widgets = widgets.iter().filter(|w| w.saved).count();
        let size = node_size(def, slots.iter().filter(|s| !s.widget).count(), visible_widgets);
        let column = level.get(id).copied().unwrap_or(0);
        let y = columns.entry(column).or_insert(MARGIN);
        let pos = [MARGIN + column as f64 * COLUMN_WIDTH, *y];
        *y += size[1] + ROW_GAP;
        let mut properties = Map::new();
        if !SAVE_CLASSES.contains(&node.class_type.as_str()) {
            properties.insert("Node name for S&R".into(), Value::String(node.class_type.clone()));
        }
        let mut obj = Map::new();
        obj.insert("id".into(), json!(ids[id]));
        obj.insert("type".into(), Value::String(node.class_type.clone()));
        obj.insert("pos".into(), json!(pos));
        obj.insert("size".into(), json!(size));
        obj.insert("flags".into(), json!({}));
        obj.insert("order".into(), json!(order_index.get(id).copied().unwrap_or(0)));
        obj.insert("mode".into(), json!(0));
        obj.insert("inputs".into(), Value::Array(inputs));
        obj.insert("outputs".into(), Value::Array(outputs));
        let default_title = super::state::display_name(def);
        if let Some(title) = node.title()
            && title != default_title
        {
            obj.insert("title".into(), Value::String(title.to_owned()));
        }
        obj.insert("properties".into(), Value::Object(properties));
        obj.insert("widgets_values".into(), Value::Array(widgets_values));
        nodes.push(Value::Object(obj));
    }

    let last_node_id = ids.values().copied().max().unwrap_or(0);
    let doc = json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "revision": 0,
        "last_node_id": last_node_id,
        "last_link_id": links.len(),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
        "version": 0.4
    });
    Ok((doc, ids))
}
