//! Graph operations: links in and out, execution order, cycles, dangling links, sub-graphs.
//!
//! Everything here is iterative (no recursion), so a 10,000-node chain cannot overflow the stack.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{NodeId, Workflow};
use crate::catalog::Catalog;
use crate::error::{Error, Result};

/// A link seen from its source: which node and input consume which output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRef {
    /// The consuming node.
    pub target: NodeId,
    /// The consuming input.
    pub input: String,
    /// The source node's output index.
    pub output: u32,
}

/// A link whose source node is not in the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingLink {
    /// The node holding the link.
    pub node: NodeId,
    /// The input holding the link.
    pub input: String,
    /// The missing source node id.
    pub missing: NodeId,
}

impl Workflow {
    /// Links into `id`: `(input name, link)` in input order. Empty if the node is unknown.
    pub fn links_in(&self, id: &str) -> Vec<(&str, &super::Link)> {
        self.node(id).map(|n| n.links().collect()).unwrap_or_default()
    }

    /// Links out of `id`: every input of every node that consumes one of its outputs.
    pub fn links_out(&self, id: &str) -> Vec<LinkRef> {
        let mut out = Vec::new();
        for (target, node) in self.nodes() {
            for (input, link) in node.links() {
                if link.node.as_str() == id {
                    out.push(LinkRef {
                        target: target.clone(),
                        input: input.to_string(),
                        output: link.output,
                    });
                }
            }
        }
        out
    }

    /// Links whose source node does not exist.
    pub fn dangling_links(&self) -> Vec<DanglingLink> {
        let mut out = Vec::new();
        for (id, node) in self.nodes() {
            for (input, link) in node.links() {
                if self.node(link.node.as_str()).is_none() {
                    out.push(DanglingLink {
                        node: id.clone(),
                        input: input.to_string(),
                        missing: link.node.clone(),
                    });
                }
            }
        }
        out
    }

    /// Upstream neighbours by node index (dangling links are skipped).
    fn upstream_indices(&self) -> Vec<Vec<usize>> {
        let index: HashMap<&str, usize> =
            self.nodes().enumerate().map(|(i, (id, _))| (id.as_str(), i)).collect();
        self.nodes()
            .map(|(_, node)| node.links().filter_map(|(_, l)| index.get(l.node.as_str()).copied()).collect())
            .collect()
    }

    /// One link cycle, if the graph has any: node ids along it, the first repeated at the end.
    pub fn find_cycle(&self) -> Option<Vec<NodeId>> {
        let upstream = self.upstream_indices();
        let ids: Vec<&NodeId> = self.nodes().map(|(id, _)| id).collect();
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; upstream.len()];
        for start in 0..upstream.len() {
            if state[start] != 0 {
                continue;
            }
            // Stack of (node, next edge to follow).
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
                if let Some(&next) = upstream[node].get(*edge) {
                    *edge += 1;
                    match state[next] {
                        0 => {
                            state[next] = 1;
                            stack.push((next, 0));
                        }
                        1 => {
                            // Back edge: the cycle is the stack from `next` to the top.
                            let pos = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                            // The stack follows links upstream; report it in data-flow order.
                            let mut cycle: Vec<NodeId> =
                                stack[pos..].iter().rev().map(|&(n, _)| ids[n].clone()).collect();
                            if let Some(first) = cycle.first().cloned() {
                                cycle.push(first);
                            }
                            return Some(cycle);
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
        None
    }

    /// Node ids in an order where every node comes after the nodes it links from
    /// (document order among independent nodes). Dangling links are ignored.
    pub fn topological_order(&self) -> Result<Vec<NodeId>> {
        let upstream = self.upstream_indices();
        let n = upstream.len();
        let mut indegree = vec![0usize; n];
        let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (node, ups) in upstream.iter().enumerate() {
            for &u in ups {
                indegree[node] += 1;
                downstream[u].push(node);
            }
        }
        let mut ready: VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &d in &downstream[i] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.push_back(d);
                }
            }
        }
        if order.len() < n {
            let cycle = self.find_cycle().map(|c| c.into_iter().map(|id| id.0).collect()).unwrap_or_default();
            return Err(Error::Cycle { cycle });
        }
        let ids: Vec<&NodeId> = self.nodes().map(|(id, _)| id).collect();
        Ok(order.into_iter().map(|i| ids[i].clone()).collect())
    }

    /// Nodes whose class is an output node (`OUTPUT_NODE`) in the catalogue, in document order.
    pub fn output_nodes(&self, catalog: &Catalog) -> Vec<NodeId> {
        self.nodes()
            .filter(|(_, n)| catalog.node(&n.class_type).is_some_and(|d| d.output_node))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The ids of `targets` and every node they depend on (transitively), in document order.
    pub fn ancestors(&self, targets: &[NodeId]) -> Result<Vec<NodeId>> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut queue: Vec<&str> = Vec::new();
        for t in targets {
            if self.node(t.as_str()).is_none() {
                return Err(Error::NodeNotFound { node_id: t.0.clone() });
            }
            if seen.insert(t.as_str()) {
                queue.push(t.as_str());
            }
        }
        while let Some(id) = queue.pop() {
            if let Some(node) = self.node(id) {
                for (_, link) in node.links() {
                    let src = link.node.as_str();
                    if self.node(src).is_some() && seen.insert(src) {
                        queue.push(src);
                    }
                }
            }
        }
        Ok(self.nodes().filter(|(id, _)| seen.contains(id.as_str())).map(|(id, _)| id.clone()).collect())
    }

    /// The sub-graph needed to compute `outputs` (ComfyUI's partial execution): those nodes and
    /// everything upstream of them, in document order.
    pub fn subgraph_for(&self, outputs: &[NodeId]) -> Result<Workflow> {
        let keep: HashSet<NodeId> = self.ancestors(outputs)?.into_iter().collect();
        let mut sub = Workflow::new();
        for (id, node) in self.nodes() {
            if keep.contains(id) {
                sub.insert(id.clone(), node.clone());
            }
        }
        Ok(sub)
    }

    /// For each node, the output nodes (among `outputs`) that depend on it.
    pub(crate) fn dependents(&self, outputs: &[NodeId]) -> HashMap<NodeId, Vec<NodeId>> {
        let mut map: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
        for out in outputs {
            if let Ok(ancestors) = self.ancestors(std::slice::from_ref(out)) {
                for a in ancestors {
                    map.entry(a).or_default().push(out.clone());
                }
            }
        }
        map
    }
}
