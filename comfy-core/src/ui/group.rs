//! Legacy group nodes (`extra.groupNodes`, `groupNode.ts`): each definition becomes a scope like a
//! subgraph definition, with inputs and outputs computed the way `GroupNodeConfig` registers them.
//!
//! Best effort, as the editor's own support is deprecated: inner ids are `"<group node id>:<index>"`;
//! the instance's inputs are, in order, the inner nodes' link inputs that no inner link feeds
//! (node by node), then the widget inputs converted to sockets that no inner link feeds; its
//! outputs are the inner outputs that are not consumed inside (or are marked external); its
//! `widgets_values` are assigned in order to the inner nodes' widgets (converted ones excluded).
//! PrimitiveNodes inside a group keep the value saved in the definition.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::catalog::{Catalog, Section};

use super::model::{Document, IoSlot, SUBGRAPH_INPUT_ID, SUBGRAPH_OUTPUT_ID, Scope, UiLink};
use super::widgets::{Role, has_widget, layout};

/// The group-node name of a node type `workflow>Name` (or the older `workflow/Name`).
pub(crate) fn group_name(type_: &str) -> Option<&str> {
    type_.strip_prefix("workflow>").or_else(|| type_.strip_prefix("workflow/"))
}

fn int(v: Option<&Value>) -> Option<usize> {
    v?.as_u64().and_then(|n| usize::try_from(n).ok())
}

/// Builds a scope for every group-node definition in `doc.group_defs`. Malformed definitions
/// are skipped with a warning (their instances then count as unknown node classes).
pub(crate) fn build_scopes(doc: &mut Document, catalog: &Catalog, warnings: &mut Vec<String>) {
    let defs = std::mem::take(&mut doc.group_defs);
    for (name, def) in &defs {
        match build_one(name, def, catalog) {
            Ok(scope) => {
                doc.groups.insert(name.clone(), doc.scopes.len());
                doc.scopes.push(scope);
            }
            Err(message) => warnings.push(format!("group node {name:?} is skipped: {message}")),
        }
    }
    doc.group_defs = defs;
}

fn build_one(name: &str, def: &Value, catalog: &Catalog) -> Result<Scope, String> {
    let label = format!("group node {name:?}");
    let mut scope = Scope {
        label: label.clone(),
        name: name.to_owned(),
        input_node: SUBGRAPH_INPUT_ID.into(),
        output_node: SUBGRAPH_OUTPUT_ID.into(),
        ..Scope::default()
    };
    let nodes = def.get("nodes").and_then(Value::as_array).ok_or("it has no \"nodes\" array")?;
    for (i, n) in nodes.iter().enumerate() {
        let mut node = super::model::parse_node(n, &label, i).map_err(|e| e.to_string())?;
        node.id = i.to_string();
        for input in &mut node.inputs {
            input.link = None;
        }
        for output in &mut node.outputs {
            output.links.clear();
        }
        scope.push_node(node).map_err(|e| e.to_string())?;
    }
    // Inner links: [origin index, origin slot, target index, target slot, origin id, type].
    let mut links_to: HashMap<(usize, usize), String> = HashMap::new();
    let mut links_from: HashSet<(usize, usize)> = HashSet::new();
    for (k, l) in def.get("links").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let (Some(o), Some(os), Some(t), Some(ts)) =
            (int(l.get(0)), int(l.get(1)), int(l.get(2)), int(l.get(3)))
        else {
            continue;
        };
        if o >= scope.nodes.len() || t >= scope.nodes.len() {
            return Err(format!(
                "inner link {k} joins nodes {o} and {t}, but there are {} nodes",
                scope.nodes.len()
            ));
        }
        let id = format!("g{k}");
        if let Some(input) = scope.nodes[t].inputs.get_mut(ts) {
            input.link = Some(id.clone());
        }
        if let Some(output) = scope.nodes[o].outputs.get_mut(os) {
            output.links.push(id.clone());
        }
        scope.links.insert(
            id.clone(),
            UiLink {
                origin: o.to_string(),
                origin_slot: os as i64,
                target: t.to_string(),
                target_slot: ts as i64,
            },
        );
        links_to.insert((t, ts), id);
        links_from.insert((o, os));
    }
    let mut external: HashSet<(usize, usize)> = HashSet::new();
    for e in def.get("external").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(i), Some(s)) = (int(e.get(0)), int(e.get(1))) {
            external.insert((i, s));
        }
    }

    let mut converted_inputs: Vec<(usize, usize)> = Vec::new();
    let mut io_in: Vec<(usize, usize)> = Vec::new();
    for (i, node) in scope.nodes.iter().enumerate() {
        if node.type_ == "Reroute" {
            if !links_to.contains_key(&(i, 0)) && !node.inputs.is_empty() {
                io_in.push((i, 0));
            }
            continue;
        }
        let Some(class) = catalog.node(&node.type_) else { continue };
        let mut slots = Vec::new();
        let mut converted = Vec::new();
        for input in class.inputs.iter().filter(|d| d.section != Section::Hidden) {
            if has_widget(input) {
                if let Some(pos) = node
                    .inputs
                    .iter()
                    .position(|s| s.name == input.name && s.widget.as_deref() == Some(&input.name))
                {
                    converted.push(pos);
                }
            } else {
                slots.push(input.name.clone());
            }
        }
        for (j, input_name) in slots.iter().enumerate() {
            if links_to.contains_key(&(i, j)) {
                continue;
            }
            let slot = node.inputs.iter().position(|s| &s.name == input_name).unwrap_or(j);
            if slot < node.inputs.len() {
                io_in.push((i, slot));
            }
        }
        converted.sort_unstable();
        for (ci, pos) in converted.into_iter().enumerate() {
            if !links_to.contains_key(&(i, slots.len() + ci)) && !links_to.contains_key(&(i, pos)) {
                converted_inputs.push((i, pos));
            }
        }
    }
    io_in.extend(converted_inputs);
    for (k, (i, slot)) in io_in.into_iter().enumerate() {
        let id = format!("gi{k}");
        let input = &mut scope.nodes[i].inputs[slot];
        input.link = Some(id.clone());
        scope.io_inputs.push(IoSlot {
            name: input.name.clone(),
            type_: input.type_.clone(),
            link_ids: vec![id.clone()],
        });
        scope.links.insert(
            id,
            UiLink {
                origin: SUBGRAPH_INPUT_ID.into(),
                origin_slot: k as i64,
                target: i.to_string(),
                target_slot: slot as i64,
            },
        );
    }

    for (i, node) in scope.nodes.iter().enumerate() {
        let count = catalog.node(&node.type_).map(|c| c.outputs.len()).unwrap_or(node.outputs.len());
        for o in 0..count {
            let custom = def
                .get("config")
                .and_then(|c| c.get(i.to_string()))
                .and_then(|c| c.get("output"))
                .and_then(|c| c.get(o.to_string()))
                .and_then(|c| c.get("visible"))
                .and_then(Value::as_bool);
            let used_inside = links_from.contains(&(i, o)) && !external.contains(&(i, o));
            if !custom.unwrap_or(!used_inside) {
                continue;
            }
            let k = scope.io_outputs.len();
            let id = format!("go{k}");
            let type_ = node.outputs.get(o).map(|s| s.type_.clone()).unwrap_or_default();
            scope.io_outputs.push(IoSlot { name: type_.clone(), type_, link_ids: vec![id.clone()] });
            scope.links.insert(
                id,
                UiLink {
                    origin: i.to_string(),
                    origin_slot: o as i64,
                    target: SUBGRAPH_OUTPUT_ID.into(),
                    target_slot: k as i64,
                },
            );
        }
    }

    for (i, node) in scope.nodes.iter().enumerate() {
        if node.type_ == "PrimitiveNode" && node.outputs.first().is_some_and(|o| !o.links.is_empty()) {
            scope.group_widgets.extend([None, None]);
            continue;
        }
        let Some(class) = catalog.node(&node.type_) else { continue };
        let converted: HashSet<&str> = node.inputs.iter().filter_map(|s| s.widget.as_deref()).collect();
        let mut skip_companions = false;
        for w in layout(class).iter().filter(|w| w.saved) {
            match w.role {
                Role::Value | Role::Computed => {
                    skip_companions = converted.contains(w.name.as_str());
                    if !skip_companions {
                        scope.group_widgets.push(Some((i, w.name.clone())));
                    }
                }
                Role::Control | Role::ControlFilter if skip_companions => {}
                _ => scope.group_widgets.push(None),
            }
        }
    }
    Ok(scope)
}
