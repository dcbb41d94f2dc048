//! Flattening the graph into executable nodes ("DTOs"), the way `graphToPrompt` does: subgraph
//! and group-node instances are expanded into their inner nodes, whose ids are the instance path
//! joined with `:` (`"12:5"`, nested `"12:7:3"`). Done with an explicit stack, so neither deep
//! nesting nor long chains can overflow the call stack.

use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::error::{Error, Result};

use super::model::{Document, MODE_BYPASS, MODE_NEVER, Scope, looks_like_uuid};

/// Node types the editor implements itself; they never reach the prompt.
pub(crate) const VIRTUAL_TYPES: &[&str] = &["Reroute", "PrimitiveNode", "Note", "MarkdownNote"];

/// Subgraph instances may nest this deep.
const MAX_DEPTH: usize = 64;
/// A flattened graph may have this many executable nodes (nested instances multiply).
const MAX_DTOS: usize = 1_000_000;

/// What an executable node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A node class of the catalogue.
    Class,
    /// Reroute, PrimitiveNode, Note, MarkdownNote.
    Virtual,
    /// An instance of the subgraph definition in this scope.
    Subgraph(usize),
    /// An instance of the legacy group node defined in this scope.
    Group(usize),
    /// A class the catalogue does not have.
    Unknown,
}

/// One executable node.
#[derive(Debug, Clone)]
pub(crate) struct Dto {
    pub exec_id: String,
    pub scope: usize,
    pub node: usize,
    /// The subgraph or group instance containing it.
    pub parent: Option<usize>,
    pub kind: Kind,
}

/// The flattened graph.
#[derive(Debug, Default)]
pub(crate) struct Flat {
    pub dtos: Vec<Dto>,
    /// `(containing instance or usize::MAX, node index in its scope)` → DTO.
    pub by_key: HashMap<(usize, usize), usize>,
}

impl Flat {
    pub fn lookup(&self, parent: Option<usize>, node: usize) -> Option<usize> {
        self.by_key.get(&(parent.unwrap_or(usize::MAX), node)).copied()
    }
}

/// Whether a DTO ends up in the prompt.
pub(crate) fn is_active(doc: &Document, dto: &Dto) -> bool {
    let mode = doc.scopes[dto.scope].nodes[dto.node].mode;
    matches!(dto.kind, Kind::Class | Kind::Unknown) && mode != MODE_NEVER && mode != MODE_BYPASS
}

pub(crate) fn classify(doc: &Document, catalog: &Catalog, type_: &str) -> Kind {
    if let Some(&s) = doc.subgraphs.get(type_) {
        return Kind::Subgraph(s);
    }
    if let Some(&g) = super::group::group_name(type_).and_then(|n| doc.groups.get(n)) {
        return Kind::Group(g);
    }
    if catalog.node(type_).is_some() {
        return Kind::Class;
    }
    if VIRTUAL_TYPES.contains(&type_) {
        return Kind::Virtual;
    }
    Kind::Unknown
}

/// The order `graph.computeExecutionOrder` would run a scope's nodes in: sources first, ties in
/// document order; nodes caught in a cycle come last, in document order.
pub(crate) fn execution_order(scope: &Scope) -> Vec<usize> {
    let edges = scope.nodes.iter().enumerate().flat_map(|(t, node)| {
        node.inputs.iter().filter_map(move |slot| {
            let link = slot.link.as_ref().and_then(|l| scope.links.get(l))?;
            scope.index.get(&link.origin).map(|&o| (o, t))
        })
    });
    super::order::kahn(scope.nodes.len(), edges).order
}

struct Frame {
    scope: usize,
    order: Vec<usize>,
    pos: usize,
    parent: Option<usize>,
    prefix: String,
    /// Definition scopes on the path from the root, to catch a definition containing itself.
    ancestors: Vec<usize>,
}

/// Expands the root graph into executable nodes.
pub(crate) fn flatten(doc: &Document, catalog: &Catalog) -> Result<Flat> {
    let mut flat = Flat::default();
    let mut stack = vec![Frame {
        scope: 0,
        order: execution_order(&doc.scopes[0]),
        pos: 0,
        parent: None,
        prefix: String::new(),
        ancestors: Vec::new(),
    }];
    while let Some(frame) = stack.last_mut() {
        let Some(&node_index) = frame.order.get(frame.pos) else {
            stack.pop();
            continue;
        };
        frame.pos += 1;
        let scope = &doc.scopes[frame.scope];
        let node = &scope.nodes[node_index];
        let exec_id = format!("{}{}", frame.prefix, node.id);
        let kind = classify(doc, catalog, &node.type_);
        if kind == Kind::Unknown && looks_like_uuid(&node.type_) && node.mode != MODE_NEVER {
            let known: Vec<&str> = doc.subgraphs.keys().map(String::as_str).take(5).collect();
            return Err(Error::InvalidUiWorkflow {
                node_id: Some(exec_id),
                message: format!(
                    "{}: the node's type {} is a subgraph id, but definitions.subgraphs has no such \
                     subgraph (it has {})",
                    scope.label,
                    node.type_,
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            });
        }
        if flat.dtos.len() >= MAX_DTOS {
            return Err(Error::InvalidUiWorkflow {
                node_id: Some(exec_id),
                message: format!("expanding the subgraphs gives more than {MAX_DTOS} nodes"),
            });
        }
        let dto_index = flat.dtos.len();
        flat.by_key.insert((frame.parent.unwrap_or(usize::MAX), node_index), dto_index);
        flat.dtos.push(Dto {
            exec_id: exec_id.clone(),
            scope: frame.scope,
            node: node_index,
            parent: frame.parent,
            kind,
        });
        let inner = match kind {
            Kind::Subgraph(s) | Kind::Group(s) => s,
            _ => continue,
        };
        if frame.ancestors.contains(&inner) {
            return Err(Error::InvalidUiWorkflow {
                node_id: Some(exec_id),
                message: format!(
                    "{} contains an instance of itself (a subgraph cannot nest itself)",
                    doc.scopes[inner].label
                ),
            });
        }
        if frame.ancestors.len() >= MAX_DEPTH {
            return Err(Error::InvalidUiWorkflow {
                node_id: Some(exec_id),
                message: format!("subgraphs are nested more than {MAX_DEPTH} levels deep"),
            });
        }
        let mut ancestors = frame.ancestors.clone();
        ancestors.push(inner);
        stack.push(Frame {
            scope: inner,
            order: (0..doc.scopes[inner].nodes.len()).collect(),
            pos: 0,
            parent: Some(dto_index),
            prefix: format!("{exec_id}:"),
            ancestors,
        });
    }
    Ok(flat)
}
