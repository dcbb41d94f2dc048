//! Following a link to the node that really produces the value (`ExecutableNodeDTO.resolveInput`
//! / `resolveOutput`): through legacy Reroute nodes, around bypassed nodes, into and out of
//! subgraph and group-node instances. One loop, no recursion; a revisited slot is a cycle.

use std::collections::HashSet;

use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::{Error, Result};

use super::flatten::{Flat, Kind};
use super::model::{Document, MODE_BYPASS, Slot, UiNode};

/// Where an input's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    /// Output `slot` of executable node `dto`.
    Link { dto: usize, slot: i64 },
    /// A subgraph instance's promoted widget value.
    Widget(Value),
    /// Nothing: unconnected, or the chain ends at a node that gives nothing (a PrimitiveNode, a
    /// bypassed node without a matching input).
    Nothing,
}

/// What the promoted-widget lookup needs from the caller.
pub(crate) trait Promoted {
    /// The value of the promoted widget for input `io_index` of the subgraph instance `dto`, if
    /// that input has one.
    fn promoted_value(&mut self, dto: usize, io_index: usize) -> Option<Value>;
}

/// LiteGraph's `isValidConnection`: equal, either side `*`/empty, or comma lists that share a
/// type (case-insensitive).
pub(crate) fn valid_connection(a: &str, b: &str) -> bool {
    let a = if a == "*" { "" } else { a };
    let b = if b == "*" { "" } else { b };
    if a.is_empty() || b.is_empty() || a == b {
        return true;
    }
    let a = a.to_lowercase();
    let b = b.to_lowercase();
    if !a.contains(',') && !b.contains(',') {
        return a == b;
    }
    a.split(',').any(|x| b.split(',').any(|y| x == y))
}

/// `#getBypassSlotIndex`: which input of a bypassed node stands in for output `slot`.
fn bypass_index(node: &UiNode, slot: usize, wanted: &str, output_type: &str) -> Option<usize> {
    let inputs = &node.inputs;
    if wanted == "*" || wanted.is_empty() {
        return if inputs.len() > slot {
            Some(slot)
        } else if inputs.is_empty() {
            None
        } else {
            Some(0)
        };
    }
    if let Some(opposite) = inputs.get(slot)
        && valid_connection(&opposite.type_, output_type)
        && valid_connection(&opposite.type_, wanted)
    {
        return Some(slot);
    }
    if let Some(exact) = inputs.iter().position(|i| i.type_ == wanted) {
        return Some(exact);
    }
    inputs.iter().position(|i| valid_connection(&i.type_, output_type) && valid_connection(&i.type_, wanted))
}

enum Step {
    Input { dto: usize, slot: usize, wanted: Option<String> },
    Output { dto: usize, slot: i64, wanted: String },
}

pub(crate) struct Resolver<'a> {
    pub doc: &'a Document,
    pub catalog: &'a Catalog,
    pub flat: &'a Flat,
}

impl Resolver<'_> {
    fn node(&self, dto: usize) -> &UiNode {
        let d = &self.flat.dtos[dto];
        &self.doc.scopes[d.scope].nodes[d.node]
    }

    fn err(&self, dto: usize, message: String) -> Error {
        let d = &self.flat.dtos[dto];
        Error::InvalidUiWorkflow {
            node_id: Some(d.exec_id.clone()),
            message: format!("{} ({}): {message}", self.doc.scopes[d.scope].label, self.node(dto).type_),
        }
    }

    /// The instance input that feeds input `io_index` of a subgraph definition: matched by
    /// name and type, then by name (the editor rebinds saved instance inputs this way), and by
    /// position for group nodes.
    fn instance_input(&self, instance: usize, io_index: usize) -> Option<usize> {
        let d = &self.flat.dtos[instance];
        let node = self.node(instance);
        match d.kind {
            Kind::Subgraph(def) => {
                let io = self.doc.scopes[def].io_inputs.get(io_index)?;
                node.inputs
                    .iter()
                    .position(|i| i.name == io.name && i.type_ == io.type_)
                    .or_else(|| node.inputs.iter().position(|i| i.name == io.name))
            }
            _ => (io_index < node.inputs.len()).then_some(io_index),
        }
    }

    /// Resolves input `slot` of executable node `dto`.
    pub fn resolve_input(&self, dto: usize, slot: usize, promoted: &mut dyn Promoted) -> Result<Resolved> {
        let mut visited: HashSet<(usize, bool, i64)> = HashSet::new();
        let mut step = Step::Input { dto, slot, wanted: None };
        loop {
            step = match step {
                Step::Input { dto, slot, wanted } => {
                    if !visited.insert((dto, true, slot as i64)) {
                        return Err(self.err(
                            dto,
                            format!("the links through input {slot} form a cycle (through reroutes or bypassed nodes)"),
                        ));
                    }
                    let node = self.node(dto);
                    let Some(input) = node.inputs.get(slot) else {
                        return Err(self.err(dto, format!("the node has no input slot {slot}")));
                    };
                    match self.follow_link(dto, input, wanted, promoted)? {
                        Ok(next) => next,
                        Err(done) => return Ok(done),
                    }
                }
                Step::Output { dto, slot, wanted } => {
                    if !visited.insert((dto, false, slot)) {
                        return Err(self.err(
                            dto,
                            format!("the links through output {slot} form a cycle (through reroutes or bypassed nodes)"),
                        ));
                    }
                    match self.through_output(dto, slot, wanted)? {
                        Ok(next) => next,
                        Err(done) => return Ok(done),
                    }
                }
            };
        }
    }

    /// One `resolveInput` step: `Ok(next step)` or `Err(final answer)`.
    fn follow_link(
        &self,
        dto: usize,
        input: &Slot,
        wanted: Option<String>,
        promoted: &mut dyn Promoted,
    ) -> Result<std::result::Result<Step, Resolved>> {
        let Some(link_id) = &input.link else { return Ok(Err(Resolved::Nothing)) };
        let d = &self.flat.dtos[dto];
        let scope = &self.doc.scopes[d.scope];
        let Some(link) = scope.links.get(link_id) else {
            return Err(self.err(
                dto,
                format!("input {:?} uses link {link_id}, which is not in the links list", input.name),
            ));
        };
        if let Some(instance) = d.parent
            && link.origin == scope.input_node
        {
            let io_index = usize::try_from(link.origin_slot).ok().filter(|&i| i < scope.io_inputs.len());
            let Some(io_index) = io_index else {
                return Err(self.err(
                    dto,
                    format!(
                        "input {:?} comes from input {} of the subgraph, which has only {} inputs",
                        input.name,
                        link.origin_slot,
                        scope.io_inputs.len()
                    ),
                ));
            };
            return Ok(match self.instance_input(instance, io_index) {
                Some(outer) if self.node(instance).inputs[outer].link.is_some() => {
                    Ok(Step::Input { dto: instance, slot: outer, wanted: None })
                }
                _ => Err(promoted
                    .promoted_value(instance, io_index)
                    .map(Resolved::Widget)
                    .unwrap_or(Resolved::Nothing)),
            });
        }
        let Some(origin) = scope.index.get(&link.origin).copied() else {
            return Err(self.err(
                dto,
                format!(
                    "input {:?} is linked (link {link_id}) from node {}, which does not exist",
                    input.name, link.origin
                ),
            ));
        };
        let Some(origin_dto) = self.flat.lookup(d.parent, origin) else {
            return Err(self.err(dto, format!("link {link_id} comes from a node that was not expanded")));
        };
        let wanted = wanted.unwrap_or_else(|| input.type_.clone());
        Ok(Ok(Step::Output { dto: origin_dto, slot: link.origin_slot, wanted }))
    }

    /// One `resolveOutput` step.
    fn through_output(
        &self,
        dto: usize,
        slot: i64,
        wanted: String,
    ) -> Result<std::result::Result<Step, Resolved>> {
        let d = &self.flat.dtos[dto];
        let node = self.node(dto);
        let Ok(index) = usize::try_from(slot) else {
            return Err(self.err(dto, format!("a link uses output slot {slot}")));
        };
        if node.mode == MODE_BYPASS {
            if let Kind::Group(_) = d.kind {
                // `ExecutableGroupNodeDTO`: the same slot if its type matches exactly, else the
                // first input of exactly the wanted type.
                let found = std::iter::once(index)
                    .chain(0..node.inputs.len())
                    .find(|&i| node.inputs.get(i).is_some_and(|s| s.type_ == wanted));
                return Ok(match found {
                    Some(i) => Ok(Step::Input { dto, slot: i, wanted: None }),
                    None => Err(Resolved::Nothing),
                });
            }
            let output_type = match node.outputs.get(index) {
                Some(o) => o.type_.clone(),
                None => self.class_output_type(node, index).ok_or_else(|| {
                    self.err(
                        dto,
                        format!("a link uses output {slot}, but the bypassed node has no such output"),
                    )
                })?,
            };
            return Ok(match bypass_index(node, index, &wanted, &output_type) {
                Some(i) => Ok(Step::Input { dto, slot: i, wanted: None }),
                None => Err(Resolved::Nothing),
            });
        }
        match d.kind {
            Kind::Subgraph(def) | Kind::Group(def) => {
                let scope = &self.doc.scopes[def];
                let Some(io) = scope.io_outputs.get(index) else {
                    return Err(self.err(
                        dto,
                        format!(
                            "a link uses output {slot}, but the subgraph has {} outputs",
                            scope.io_outputs.len()
                        ),
                    ));
                };
                let inner_link = io.link_ids.iter().find_map(|id| scope.links.get(id)).or_else(|| {
                    let mut candidates: Vec<(&String, _)> = scope
                        .links
                        .iter()
                        .filter(|(_, l)| l.target == scope.output_node && l.target_slot == slot)
                        .collect();
                    candidates.sort_by(|a, b| a.0.cmp(b.0));
                    candidates.first().map(|(_, l)| *l)
                });
                let Some(inner_link) = inner_link else { return Ok(Err(Resolved::Nothing)) };
                if inner_link.origin == scope.input_node {
                    // An input passed straight through to an output.
                    let io_index = usize::try_from(inner_link.origin_slot).unwrap_or(usize::MAX);
                    return Ok(match self.instance_input(dto, io_index) {
                        Some(outer) => Ok(Step::Input { dto, slot: outer, wanted: None }),
                        None => Err(Resolved::Nothing),
                    });
                }
                let Some(inner) = scope.index.get(&inner_link.origin).copied() else {
                    return Err(self.err(
                        dto,
                        format!(
                            "output {slot} of {} comes from node {}, which does not exist",
                            scope.label, inner_link.origin
                        ),
                    ));
                };
                let Some(inner_dto) = self.flat.lookup(Some(dto), inner) else {
                    return Err(
                        self.err(dto, format!("output {slot} comes from a node that was not expanded"))
                    );
                };
                Ok(Ok(Step::Output { dto: inner_dto, slot: inner_link.origin_slot, wanted }))
            }
            Kind::Virtual => Ok(if node.inputs.get(index).is_some() {
                Ok(Step::Input { dto, slot: index, wanted: Some(wanted) })
            } else {
                Err(Resolved::Nothing)
            }),
            Kind::Class | Kind::Unknown => {
                let catalog_outputs = self.catalog.node(&node.type_).map(|n| n.outputs.len()).unwrap_or(0);
                if index >= node.outputs.len().max(catalog_outputs) {
                    return Err(self.err(
                        dto,
                        format!(
                            "a link uses output {slot}, but the node has {} outputs",
                            node.outputs.len().max(catalog_outputs)
                        ),
                    ));
                }
                Ok(Err(Resolved::Link { dto, slot }))
            }
        }
    }

    fn class_output_type(&self, node: &UiNode, index: usize) -> Option<String> {
        self.catalog.node(&node.type_)?.outputs.get(index).map(|o| o.type_name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_connection;

    #[test]
    fn connection_rules_follow_litegraph() {
        assert!(valid_connection("IMAGE", "IMAGE"));
        assert!(valid_connection("*", "IMAGE"));
        assert!(valid_connection("", "MASK"));
        assert!(valid_connection("image", "IMAGE"));
        assert!(valid_connection("IMAGE,MASK", "mask"));
        assert!(!valid_connection("IMAGE", "MASK"));
        assert!(!valid_connection("LATENT", "IMAGE,MASK"));
    }
}
