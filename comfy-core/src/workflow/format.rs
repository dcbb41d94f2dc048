//! Telling the workflow formats apart.

use serde_json::Value;

/// Which kind of document a JSON value looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowFormat {
    /// API ("prompt") format: `{node_id: {class_type, inputs}}`.
    Api,
    /// Editor UI ("save") format: top-level `nodes` array and `links`.
    Ui {
        /// Number of entries in `nodes`.
        node_count: usize,
    },
    /// A whole `POST /prompt` body: `{"prompt": {...}, "client_id"?: ...}`.
    PromptRequest,
    /// Not recognisable as a workflow.
    Unknown,
}

/// Detects the format of a JSON document without converting it.
pub fn detect_format(value: &Value) -> WorkflowFormat {
    let Some(map) = value.as_object() else {
        return WorkflowFormat::Unknown;
    };
    if let (Some(Value::Array(nodes)), Some(_)) = (map.get("nodes"), map.get("links")) {
        return WorkflowFormat::Ui { node_count: nodes.len() };
    }
    // A UI file without links (a single node) still has `nodes` plus UI-only keys.
    if let Some(Value::Array(nodes)) = map.get("nodes")
        && (map.contains_key("last_node_id") || map.contains_key("version") || map.contains_key("extra"))
    {
        return WorkflowFormat::Ui { node_count: nodes.len() };
    }
    if let Some(Value::Object(prompt)) = map.get("prompt") {
        let prompt_is_graph = prompt.values().all(|n| n.get("class_type").is_some());
        let outer_is_graph = map.values().all(|n| n.get("class_type").is_some());
        if prompt_is_graph && !outer_is_graph {
            return WorkflowFormat::PromptRequest;
        }
    }
    let looks_api = map
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .all(|(_, n)| n.is_object() && (n.get("class_type").is_some() || n.get("inputs").is_some()));
    if looks_api { WorkflowFormat::Api } else { WorkflowFormat::Unknown }
}
