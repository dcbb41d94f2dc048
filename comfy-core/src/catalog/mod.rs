//! The node catalogue: every node class a ComfyUI server offers, from `GET /object_info`.
//!
//! Each class is parsed into typed [`NodeDef`]s and its original JSON is kept, so
//! [`Catalog::to_value`] gives back exactly what the server sent.

mod info;
mod input;
pub mod query;
mod search;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

pub use info::{INFO_MAX_CHOICES, InputInfo, NodeInfo, OutputInfo};
pub use input::{InputDef, InputKind, InputOptions, Section, types_compatible};
pub use search::{NodeSearch, SearchHit};

use crate::error::{Error, Result};

/// One output of a node class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputDef {
    /// The output type (`IMAGE`, `MODEL`, `*`, ...); `COMBO` for outputs declared as a list of choices.
    pub type_name: String,
    /// The output's display name.
    pub name: String,
    /// Whether the output is a list (`output_is_list`).
    pub is_list: bool,
    /// `output_tooltips` entry, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tooltip: Option<String>,
}

/// Compact JSON text, equal when the text is.
#[derive(Debug, Clone)]
struct RawJson(Box<RawValue>);

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// One node class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDef {
    /// Class name (the `class_type` of API-format nodes).
    pub name: String,
    /// Human name shown in the editor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description.
    pub description: String,
    /// Menu category, e.g. `sampling` or `image/upscaling`.
    pub category: String,
    /// Python module that defines it (`nodes`, `comfy_extras.nodes_x`, `custom_nodes.<pkg>`).
    pub python_module: String,
    /// Inputs in declaration order: required, then optional, then hidden.
    pub inputs: Vec<InputDef>,
    /// Outputs in slot order.
    pub outputs: Vec<OutputDef>,
    /// Whether the node is an output (`OUTPUT_NODE`): a prompt needs at least one.
    pub output_node: bool,
    /// Deprecated flag.
    pub deprecated: bool,
    /// Experimental flag.
    pub experimental: bool,
    /// Whether the node calls a paid partner API (needs a Comfy API key).
    pub api_node: bool,
    /// The class's JSON exactly as the server sent it, kept as compact text: a parsed tree of
    /// a whole catalogue costs several times its text in memory, and it is read rarely.
    #[serde(skip)]
    raw: RawJson,
    /// Whether the class declares `input_order` (read on every editor conversion).
    #[serde(skip)]
    has_input_order: bool,
}

impl NodeDef {
    /// The class's JSON exactly as the server sent it (parsed anew on each call).
    pub fn raw(&self) -> Value {
        serde_json::from_str(self.raw.0.get()).unwrap_or(Value::Null)
    }

    /// Whether the class declares `input_order` (the editor's widget order).
    pub fn has_input_order(&self) -> bool {
        self.has_input_order
    }

    /// A declared input by name.
    pub fn input(&self, name: &str) -> Option<&InputDef> {
        self.inputs.iter().find(|i| i.name == name)
    }

    /// Inputs of one section, in declaration order.
    pub fn inputs_in(&self, section: Section) -> impl Iterator<Item = &InputDef> {
        self.inputs.iter().filter(move |i| i.section == section)
    }

    /// Parses one class from its `/object_info` entry.
    pub fn from_value(name: &str, value: &Value) -> Result<Self> {
        let obj =
            value.as_object().ok_or_else(|| Error::catalog(name, "a node class must be a JSON object"))?;
        let text = |key: &str| -> Result<Option<String>> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(Error::catalog(
                    format!("{name} / {key}"),
                    format!("expected a string, got {}", crate::json::preview(other)),
                )),
            }
        };
        let flag = |key: &str| obj.get(key).and_then(Value::as_bool).unwrap_or(false);

        let mut inputs = Vec::new();
        if let Some(sections) = obj.get("input") {
            let sections = sections
                .as_object()
                .ok_or_else(|| Error::catalog(format!("{name} / input"), "expected an object"))?;
            for (section_name, section) in [
                ("required", Section::Required),
                ("optional", Section::Optional),
                ("hidden", Section::Hidden),
            ] {
                let Some(specs) = sections.get(section_name) else { continue };
                let location = format!("{name} / input / {section_name}");
                let specs = specs
                    .as_object()
                    .ok_or_else(|| Error::catalog(&location, "expected an object of input name → spec"))?;
                // Declaration order comes from `input_order` when present (it is the widget order).
                let order: Vec<&str> = obj
                    .get("input_order")
                    .and_then(|o| o.get(section_name))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut names: Vec<&str> = order.into_iter().filter(|n| specs.contains_key(*n)).collect();
                for k in specs.keys() {
                    if !names.contains(&k.as_str()) {
                        names.push(k);
                    }
                }
                for input_name in names {
                    let spec = &specs[input_name];
                    inputs.push(InputDef::parse(
                        input_name,
                        section,
                        spec,
                        &format!("{location} / {input_name}"),
                    )?);
                }
            }
        }

        // Kept for the server's life: no spare capacity from the pushes above.
        inputs.shrink_to_fit();
        let list = |key: &str| obj.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        let types = list("output");
        let names = list("output_name");
        let is_list = list("output_is_list");
        let tooltips = list("output_tooltips");
        let mut outputs = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            let type_name = match t {
                Value::String(s) => s.clone(),
                Value::Array(_) => "COMBO".to_string(),
                other => {
                    return Err(Error::catalog(
                        format!("{name} / output / {i}"),
                        format!("expected a type string, got {}", crate::json::preview(other)),
                    ));
                }
            };
            outputs.push(OutputDef {
                name: names
                    .get(i)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| type_name.clone()),
                type_name,
                is_list: is_list.get(i).and_then(Value::as_bool).unwrap_or(false),
                tooltip: tooltips.get(i).and_then(Value::as_str).map(str::to_owned),
            });
        }

        Ok(NodeDef {
            name: text("name")?.unwrap_or_else(|| name.to_owned()),
            display_name: text("display_name")?,
            description: text("description")?.unwrap_or_default(),
            category: text("category")?.unwrap_or_default(),
            python_module: text("python_module")?.unwrap_or_default(),
            inputs,
            outputs,
            output_node: flag("output_node"),
            deprecated: flag("deprecated"),
            experimental: flag("experimental"),
            api_node: flag("api_node"),
            raw: RawJson(
                serde_json::value::to_raw_value(value)
                    .map_err(|e| Error::catalog(name, format!("cannot keep the class's JSON: {e}")))?,
            ),
            has_input_order: obj.contains_key("input_order"),
        })
    }
}

/// Every node class of a server.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    nodes: IndexMap<String, NodeDef>,
    search: NodeSearch,
}

impl Catalog {
    /// Parses the body of `GET /object_info`.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value = crate::json::parse_strict(text, "object_info")?;
        Self::from_value(&value)
    }

    /// Builds the catalogue from a parsed `/object_info` body.
    pub fn from_value(value: &Value) -> Result<Self> {
        let map = value
            .as_object()
            .ok_or_else(|| Error::catalog("top level", "expected an object of class name → node info"))?;
        let mut nodes = IndexMap::with_capacity(map.len());
        for (name, info) in map {
            nodes.insert(name.clone(), NodeDef::from_value(name, info)?);
        }
        let search = NodeSearch::build(nodes.values());
        Ok(Catalog { nodes, search })
    }

    /// The catalogue as `/object_info` JSON, exactly as it was parsed.
    pub fn to_value(&self) -> Value {
        Value::Object(self.nodes.iter().map(|(k, n)| (k.clone(), n.raw())).collect())
    }

    /// A class by name.
    pub fn node(&self, class_type: &str) -> Option<&NodeDef> {
        self.nodes.get(class_type)
    }

    /// All classes in server order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &NodeDef> {
        self.nodes.values()
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Class names close to `class_type`, best first ("did you mean").
    pub fn suggest_classes(&self, class_type: &str) -> Vec<String> {
        crate::suggest::closest(class_type, self.nodes.keys().map(String::as_str), 3)
    }

    /// Ranked text search over class names, display names, categories, descriptions and types.
    pub fn search(&self, query: &search::SearchQuery<'_>) -> Vec<SearchHit> {
        self.search.run(&self.nodes, query)
    }
}

pub use search::SearchQuery;

#[cfg(test)]
mod tests;
