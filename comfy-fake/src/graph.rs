//! Execution order and cache keys, as `comfy_execution/graph.py` (`ExecutionList`) and
//! `comfy_execution/caching.py` (`CacheKeySetInputSignature`) compute them.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use comfy_core::catalog::Section;
use comfy_core::{Catalog, Input, Workflow};
use indexmap::IndexSet;

use crate::files::{FileKey, FileStore, Folder, annotated, normalize_rel, split_path};

/// The nodes still to run and what blocks what. Nodes are picked the way ComfyUI's
/// `ux_friendly_pick_node` does: a ready output node first, then a node feeding an output,
/// then one two steps from an output, else the first ready node in staging order.
pub(crate) struct ExecList<'a> {
    wf: &'a Workflow,
    output_nodes: &'a HashSet<String>,
    cached: &'a HashSet<String>,
    pending: IndexSet<String>,
    block_count: HashMap<String, usize>,
    blocking: HashMap<String, IndexSet<String>>,
}

impl<'a> ExecList<'a> {
    pub fn new(wf: &'a Workflow, output_nodes: &'a HashSet<String>, cached: &'a HashSet<String>) -> Self {
        ExecList {
            wf,
            output_nodes,
            cached,
            pending: IndexSet::new(),
            block_count: HashMap::new(),
            blocking: HashMap::new(),
        }
    }

    /// `TopologicalSort.add_node`: stages a node and, depth first, its uncached ancestors.
    pub fn add_node(&mut self, id: &str) {
        let mut stack = vec![id.to_string()];
        let mut links: Vec<(String, String)> = Vec::new();
        while let Some(unique_id) = stack.pop() {
            if self.pending.contains(&unique_id) {
                continue;
            }
            let Some(node) = self.wf.node(&unique_id) else { continue };
            self.pending.insert(unique_id.clone());
            self.block_count.insert(unique_id.clone(), 0);
            self.blocking.insert(unique_id.clone(), IndexSet::new());
            for input in node.inputs.values() {
                let Input::Link(link) = input else { continue };
                let from = link.node.0.clone();
                if self.wf.node(&from).is_none() {
                    continue;
                }
                if !self.cached.contains(&from) {
                    stack.push(from.clone());
                }
                links.push((from, unique_id.clone()));
            }
        }
        for (from, to) in links {
            if self.cached.contains(&from) {
                continue;
            }
            if !self.pending.contains(&from) {
                self.add_node(&from);
            }
            if self.blocking.get_mut(&from).is_some_and(|b| b.insert(to.clone())) {
                *self.block_count.entry(to).or_default() += 1;
            }
        }
    }

    fn is_output(&self, id: &str) -> bool {
        self.output_nodes.contains(id)
    }

    /// The next node to run, or `None` when done (or, impossibly after validation, stuck).
    pub fn next(&self) -> Option<String> {
        let ready: Vec<&String> =
            self.pending.iter().filter(|n| self.block_count.get(*n) == Some(&0)).collect();
        let blocked_by = |id: &str| self.blocking.get(id).into_iter().flatten();
        if let Some(n) = ready.iter().find(|n| self.is_output(n)) {
            return Some((*n).clone());
        }
        if let Some(n) = ready.iter().find(|n| blocked_by(n).any(|b| self.is_output(b))) {
            return Some((*n).clone());
        }
        if let Some(n) =
            ready.iter().find(|n| blocked_by(n).any(|b| blocked_by(b).any(|c| self.is_output(c))))
        {
            return Some((*n).clone());
        }
        ready.first().map(|n| (*n).clone())
    }

    /// `pop_node`: the node ran; unblock what waited on it.
    pub fn complete(&mut self, id: &str) {
        self.pending.shift_remove(id);
        if let Some(blocked) = self.blocking.remove(id) {
            for b in blocked {
                if let Some(c) = self.block_count.get_mut(&b) {
                    *c = c.saturating_sub(1);
                }
            }
        }
    }
}

/// Where a `LoadImage`-style value points in the fake's input folder.
pub(crate) fn input_file_key(value: &str) -> Option<FileKey> {
    let (name, folder) = annotated(value);
    let path = normalize_rel(name)?;
    let (subfolder, filename) = split_path(&path);
    Some(FileKey { folder: folder.unwrap_or(Folder::Input), subfolder, filename })
}

/// Cache signature of every node: its class, its literal inputs, the signatures of the nodes it
/// links from (with the output slot), the node id for classes with a hidden `UNIQUE_ID`, and,
/// like `LoadImage.IS_CHANGED`, the content of files its upload combos name. Nodes with a
/// dangling link or in a cycle get a unique signature (never cached).
pub(crate) fn signatures(wf: &Workflow, catalog: &Catalog, files: &FileStore) -> HashMap<String, u64> {
    let mut sigs: HashMap<String, u64> = HashMap::new();
    let mut visiting: HashSet<String> = HashSet::new();
    for (start, _) in wf.nodes() {
        // Iterative post-order DFS.
        let mut stack: Vec<(String, bool)> = vec![(start.0.clone(), false)];
        while let Some((id, expanded)) = stack.pop() {
            if sigs.contains_key(&id) {
                continue;
            }
            let Some(node) = wf.node(&id) else { continue };
            if !expanded {
                if !visiting.insert(id.clone()) {
                    // Back edge: a cycle. Never cacheable.
                    sigs.insert(id, rand::random());
                    continue;
                }
                stack.push((id.clone(), true));
                for (_, link) in node.links() {
                    if wf.node(link.node.as_str()).is_some() && !sigs.contains_key(link.node.as_str()) {
                        stack.push((link.node.0.clone(), false));
                    }
                }
                continue;
            }
            visiting.remove(&id);
            let def = catalog.node(&node.class_type);
            let mut h = DefaultHasher::new();
            node.class_type.hash(&mut h);
            if def.is_some_and(|d| d.inputs_in(Section::Hidden).any(|i| i.kind.type_name() == "UNIQUE_ID")) {
                id.hash(&mut h);
            }
            let mut names: Vec<&String> = node.inputs.keys().collect();
            names.sort();
            let mut unsignable = false;
            for name in names {
                name.hash(&mut h);
                match &node.inputs[name] {
                    Input::Link(link) => match sigs.get(link.node.as_str()) {
                        Some(s) => {
                            ("ANCESTOR", s, link.output).hash(&mut h);
                        }
                        None => unsignable = true,
                    },
                    Input::Value(v) => {
                        v.to_string().hash(&mut h);
                        let upload =
                            def.and_then(|d| d.input(name)).is_some_and(|i| i.options.upload.is_some());
                        if let (true, Some(s)) = (upload, v.as_str()) {
                            input_file_key(s).and_then(|k| files.get(&k)).hash(&mut h);
                        }
                    }
                }
            }
            let sig = if unsignable { rand::random() } else { h.finish() };
            sigs.insert(id, sig);
        }
    }
    sigs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(prompt: serde_json::Value, outputs: &[&str], out_classes: &[&str]) -> Vec<String> {
        let wf = Workflow::from_value(prompt).unwrap();
        let output_nodes: HashSet<String> = wf
            .nodes()
            .filter(|(_, n)| out_classes.contains(&n.class_type.as_str()))
            .map(|(id, _)| id.0.clone())
            .collect();
        let cached = HashSet::new();
        let mut list = ExecList::new(&wf, &output_nodes, &cached);
        for o in outputs {
            list.add_node(o);
        }
        let mut out = Vec::new();
        while let Some(n) = list.next() {
            list.complete(&n);
            out.push(n);
        }
        out
    }

    #[test]
    fn basic_graph_runs_the_preview_early_like_ws_01() {
        let prompt = json!({
            "1": {"class_type": "EmptyImage", "inputs": {}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
        });
        assert_eq!(order(prompt, &["3", "4"], &["SaveImage", "PreviewImage"]), ["1", "4", "2", "3"]);
    }

    #[test]
    fn video_graph_matches_ws_11_with_its_output_order() {
        let prompt = json!({
            "1": {"class_type": "EmptyImage", "inputs": {}},
            "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0]}},
            "5": {"class_type": "EmptyAudio", "inputs": {}},
            "3": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "audio": ["5", 0]}},
            "4": {"class_type": "SaveVideo", "inputs": {"video": ["3", 0]}},
            "6": {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["2", 0]}},
            "7": {"class_type": "SaveAnimatedPNG", "inputs": {"images": ["2", 0]}},
            "8": {"class_type": "SaveWEBM", "inputs": {"images": ["2", 0]}}
        });
        let outs = ["SaveVideo", "SaveAnimatedWEBP", "SaveAnimatedPNG", "SaveWEBM"];
        // outputs_to_execute as the capture's history lists it.
        assert_eq!(order(prompt, &["6", "4", "7", "8"], &outs), ["1", "2", "6", "7", "8", "5", "3", "4"]);
    }
}
