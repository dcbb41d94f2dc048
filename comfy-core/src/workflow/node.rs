//! Nodes, node ids, inputs and links of an API-format workflow.

use std::borrow::Borrow;
use std::fmt;

use indexmap::IndexMap;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// A node id. ComfyUI ids are arbitrary strings (`"3"`, `"12:4"` for subgraph nodes, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for NodeId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.to_owned())
    }
}

impl From<String> for NodeId {
    fn from(s: String) -> Self {
        NodeId(s)
    }
}

/// A link from another node's output: `["<node id>", <output index>]` in the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Link {
    /// The node the value comes from.
    pub node: NodeId,
    /// Which of that node's outputs (0-based).
    pub output: u32,
}

impl Serialize for Link {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&self.node.0)?;
        seq.serialize_element(&self.output)?;
        seq.end()
    }
}

/// One input value: a link or a literal.
///
/// Only `[string, non-negative integer]` is a link, exactly as ComfyUI's `is_link`; any other
/// value (including malformed arrays) is kept as a literal so that nothing is lost and the
/// validator can say what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A link to another node's output.
    Link(Link),
    /// A literal JSON value (ComfyUI wraps literal lists as `{"__value__": [...]}`).
    Value(Value),
}

impl Input {
    /// Classifies a JSON value as a link or a literal.
    pub fn from_json(v: Value) -> Input {
        if let Value::Array(items) = &v
            && let [Value::String(node), Value::Number(n)] = items.as_slice()
        {
            let slot =
                n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
            if let Some(output) = slot.and_then(|s| u32::try_from(s).ok()) {
                return Input::Link(Link { node: NodeId(node.clone()), output });
            }
        }
        Input::Value(v)
    }

    /// The link, if this input is one.
    pub fn as_link(&self) -> Option<&Link> {
        match self {
            Input::Link(l) => Some(l),
            Input::Value(_) => None,
        }
    }

    /// The literal value, if this input is one.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Input::Link(_) => None,
            Input::Value(v) => Some(v),
        }
    }

    /// The input as JSON, exactly as ComfyUI expects it.
    pub fn to_json(&self) -> Value {
        match self {
            Input::Link(l) => Value::Array(vec![Value::String(l.node.0.clone()), Value::from(l.output)]),
            Input::Value(v) => v.clone(),
        }
    }
}

impl Serialize for Input {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Input::Link(l) => l.serialize(s),
            Input::Value(v) => v.serialize(s),
        }
    }
}

impl From<Value> for Input {
    fn from(v: Value) -> Self {
        Input::from_json(v)
    }
}

/// One node of an API-format workflow.
///
/// `_meta` and any field ComfyUI does not know are kept in [`Node::extra`], and the order of
/// the node's keys is remembered, so parse → serialize gives back the same document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node class, e.g. `KSampler`.
    pub class_type: String,
    /// Inputs by name, in document order.
    pub inputs: IndexMap<String, Input>,
    /// Every other field of the node (`_meta`, unknown fields), in document order.
    pub extra: Map<String, Value>,
    /// Order of the node's keys in the source document.
    key_order: Vec<String>,
    /// Whether `inputs` was present in the source (so an absent one stays absent).
    had_inputs: bool,
}

impl Node {
    /// A new node of `class_type` with no inputs.
    pub fn new(class_type: impl Into<String>) -> Self {
        Node {
            class_type: class_type.into(),
            inputs: IndexMap::new(),
            extra: Map::new(),
            key_order: Vec::new(),
            had_inputs: true,
        }
    }

    /// Sets an input (builder style).
    pub fn with_input(mut self, name: impl Into<String>, value: impl Into<Input>) -> Self {
        self.inputs.insert(name.into(), value.into());
        self
    }

    /// Sets `_meta.title` (builder style).
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.set_title(title);
        self
    }

    /// The editor title from `_meta.title`, if any.
    pub fn title(&self) -> Option<&str> {
        self.extra.get("_meta")?.get("title")?.as_str()
    }

    /// Sets `_meta.title`, keeping any other `_meta` fields.
    pub fn set_title(&mut self, title: impl Into<String>) {
        let meta = self.extra.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        if let Value::Object(m) = meta {
            m.insert("title".into(), Value::String(title.into()));
        }
    }

    /// Links into this node: `(input name, link)` in input order.
    pub fn links(&self) -> impl Iterator<Item = (&str, &Link)> {
        self.inputs.iter().filter_map(|(name, input)| input.as_link().map(|l| (name.as_str(), l)))
    }

    /// Builds a node from its JSON object, collecting every structural problem.
    pub(crate) fn from_json(id: &str, value: Value, problems: &mut Vec<(String, String)>) -> Option<Node> {
        let Value::Object(map) = value else {
            problems.push((
                format!("node {id:?}"),
                format!("a node must be a JSON object, got {}", crate::describe::type_name(&value)),
            ));
            return None;
        };
        let key_order: Vec<String> = map.keys().cloned().collect();
        let mut class_type = None;
        let mut inputs = IndexMap::new();
        let mut had_inputs = false;
        let mut extra = Map::new();
        let mut ok = true;
        let mut class_reported = false;
        for (key, v) in map {
            match key.as_str() {
                "class_type" => match v {
                    Value::String(s) if !s.trim().is_empty() => class_type = Some(s),
                    other => {
                        ok = false;
                        class_reported = true;
                        problems.push((
                            format!("node {id:?} / class_type"),
                            format!(
                                "class_type must be a non-empty string, got {}",
                                crate::describe::preview(&other)
                            ),
                        ));
                    }
                },
                "inputs" => {
                    had_inputs = true;
                    match v {
                        Value::Object(m) => {
                            for (name, iv) in m {
                                inputs.insert(name, Input::from_json(iv));
                            }
                        }
                        other => {
                            ok = false;
                            problems.push((
                                format!("node {id:?} / inputs"),
                                format!(
                                    "inputs must be a JSON object of name → value, got {}",
                                    crate::describe::type_name(&other)
                                ),
                            ));
                        }
                    }
                }
                _ => {
                    extra.insert(key, v);
                }
            }
        }
        if class_type.is_none() && !class_reported {
            problems.push((
                format!("node {id:?}"),
                "the node has no class_type (which node class should run here?)".into(),
            ));
        }
        Some(Node { class_type: class_type?, inputs, extra, key_order, had_inputs }).filter(|_| ok)
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        let mut wrote_class = false;
        let mut wrote_inputs = false;
        let emit_inputs = self.had_inputs || !self.inputs.is_empty();
        // Keys in source order first; then anything added since.
        let default_order = ["inputs", "class_type", "_meta"];
        let order = self
            .key_order
            .iter()
            .map(String::as_str)
            .chain(default_order)
            .chain(self.extra.keys().map(String::as_str));
        let mut seen_extra = std::collections::HashSet::new();
        for key in order {
            match key {
                "class_type" if !wrote_class => {
                    map.serialize_entry("class_type", &self.class_type)?;
                    wrote_class = true;
                }
                "inputs" if !wrote_inputs => {
                    if emit_inputs {
                        map.serialize_entry("inputs", &self.inputs)?;
                    }
                    wrote_inputs = true;
                }
                "class_type" | "inputs" => {}
                other => {
                    if let Some(v) = self.extra.get(other)
                        && seen_extra.insert(other)
                    {
                        map.serialize_entry(other, v)?;
                    }
                }
            }
        }
        map.end()
    }
}
