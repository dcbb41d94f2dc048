//! Workflow arguments: an object (API format, editor file or `POST /prompt` body), a JSON
//! string, or the path of a JSON file. Read and parsed off the JavaScript thread.

use serde_json::Value;

use crate::error::{IntoNapi, invalid_argument, io};

/// The workflow JSON an argument stands for.
pub async fn workflow_json(workflow: Value) -> napi::Result<Value> {
    match workflow {
        Value::Object(_) => Ok(workflow),
        Value::String(s) if s.trim_start().starts_with('{') => {
            comfy_core::json::parse_strict(&s, "workflow").napi()
        }
        Value::String(path) => {
            let text = tokio::fs::read_to_string(&path).await.map_err(|e| io("reading", &path, e))?;
            comfy_core::json::parse_strict(&text, &path).napi()
        }
        other => Err(invalid_argument(
            "workflow",
            format!(
                "expected a workflow object, a JSON string or a file path, got {}",
                comfy_core::json::type_name(&other)
            ),
        )),
    }
}
