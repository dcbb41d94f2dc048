//! A canonical content hash of a workflow, for caching and de-duplication.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Workflow;

impl Workflow {
    /// SHA-256 (hex) of what ComfyUI would execute: node ids, class types and inputs.
    ///
    /// Key order, node order, `_meta` (titles), unknown node fields and the spelling of a number
    /// (`8` or `8.0`) do not change it; any change to a class, an input value or a link does.
    pub fn canonical_hash(&self) -> String {
        let mut nodes: Vec<_> = self.nodes().collect();
        nodes.sort_by(|a, b| a.0.cmp(b.0));
        let mut hasher = Sha256::new();
        hasher.update(b"comfy-workflow-v1\n");
        for (id, node) in nodes {
            write_str(&mut hasher, id.as_str());
            write_str(&mut hasher, &node.class_type);
            let mut inputs: Vec<_> = node.inputs.iter().collect();
            inputs.sort_by(|a, b| a.0.cmp(b.0));
            hasher.update((inputs.len() as u64).to_le_bytes());
            for (name, input) in inputs {
                write_str(&mut hasher, name);
                write_value(&mut hasher, &input.to_json());
            }
        }
        hex::encode(hasher.finalize())
    }
}

/// Numbers by value: `8` and `8.0` are the same to ComfyUI (it converts literals before it
/// runs them, and stores the converted prompt), so they hash alike.
fn canonical_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
            format!("{}", f as i64)
        }
        _ => n.to_string(),
    }
}

/// Length-prefixed so that no two different sequences of strings hash alike.
fn write_str(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// Writes a value with object keys sorted, iteratively (no recursion limit to hit).
fn write_value(h: &mut Sha256, v: &Value) {
    enum Item<'a> {
        Value(&'a Value),
        Key(&'a str),
    }
    let mut stack = vec![Item::Value(v)];
    while let Some(item) = stack.pop() {
        let v = match item {
            Item::Key(k) => {
                h.update(b"k");
                write_str(h, k);
                continue;
            }
            Item::Value(v) => v,
        };
        match v {
            Value::Null => h.update(b"n"),
            Value::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
            Value::Number(n) => {
                h.update(b"#");
                write_str(h, &canonical_number(n));
            }
            Value::String(s) => {
                h.update(b"s");
                write_str(h, s);
            }
            Value::Array(items) => {
                h.update(b"[");
                h.update((items.len() as u64).to_le_bytes());
                stack.extend(items.iter().rev().map(Item::Value));
            }
            Value::Object(map) => {
                h.update(b"{");
                h.update((map.len() as u64).to_le_bytes());
                let mut entries: Vec<_> = map.iter().collect();
                // Pushed in descending key order so they pop (and hash) ascending: key, then value.
                entries.sort_by(|a, b| b.0.cmp(a.0));
                for (k, v) in entries {
                    stack.push(Item::Value(v));
                    stack.push(Item::Key(k));
                }
            }
        }
    }
}
