//! RunComfy deployments (`/prod/v2/deployments`): list, read (with the workflow payload),
//! create, update and delete, with the checks RunComfy's own clients make before calling.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The hardware SKUs RunComfy accepts (GPU tiers from 16 to 141 GB of VRAM).
pub const HARDWARE: [&str; 7] =
    ["TURING_16", "AMPERE_24", "AMPERE_48", "ADA_48_PLUS", "AMPERE_80", "ADA_80_PLUS", "HOPPER_141"];

/// A deployment as RunComfy returns it. Every field but `id` is optional (RunComfy's answers
/// gain fields over time); anything else is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Deployment {
    /// Deployment id (UUID).
    pub id: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Cloud-Saved workflow it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// The pinned workflow version (`v1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_version: Option<String>,
    /// Hardware SKUs (one element).
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub hardware: Vec<String>,
    /// Instances kept running (billed while idle when > 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_instances: Option<i64>,
    /// Most instances (concurrency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<i64>,
    /// Pending requests per instance before scaling up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_size: Option<i64>,
    /// Idle seconds before scale-down (billed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_warm_duration_in_seconds: Option<i64>,
    /// `standby`, ... (an open set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Disabled deployments fail every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// Creation time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last update (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// With `include_payload`: `workflow_api_json`, default `overrides`, `object_info_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// With `include_readme`: the deployment's readme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readme: Option<Value>,
    /// Fields not listed above, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => vec![s],
        Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    })
}

impl Deployment {
    /// The API-format workflow of the payload, when it was read with it.
    pub fn workflow_api_json(&self) -> Option<&Value> {
        self.payload.as_ref()?.get("workflow_api_json").filter(|w| w.is_object())
    }

    /// The payload's `object_info_url` (the node schema of the deployment's environment).
    pub fn object_info_url(&self) -> Option<&str> {
        self.payload.as_ref()?.get("object_info_url")?.as_str().filter(|u| !u.is_empty())
    }

    /// A short summary of the payload: which nodes and inputs can be overridden.
    pub fn payload_summary(&self) -> Option<PayloadSummary> {
        let payload = self.payload.as_ref()?.as_object()?;
        let nodes = self.workflow_api_json().and_then(Value::as_object);
        let workflow_nodes = nodes
            .map(|n| {
                n.iter()
                    .take(200)
                    .map(|(id, node)| PayloadNode {
                        node_id: id.clone(),
                        title: node.pointer("/_meta/title").and_then(Value::as_str).map(str::to_owned),
                        class_type: node.get("class_type").and_then(Value::as_str).unwrap_or("").to_owned(),
                        inputs: node
                            .get("inputs")
                            .and_then(Value::as_object)
                            .map(|i| {
                                i.iter()
                                    .filter(|(_, v)| !is_link(v))
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(PayloadSummary {
            payload_keys: payload.keys().cloned().collect(),
            has_object_info_url: self.object_info_url().is_some(),
            default_overrides: payload.get("overrides").cloned().filter(|o| !o.is_null()),
            nodes: workflow_nodes,
        })
    }
}

fn is_link(v: &Value) -> bool {
    matches!(v, Value::Array(a) if a.len() == 2 && a[0].is_string() && a[1].is_u64())
}

/// Which nodes and literal inputs a deployment's workflow has (what overrides can change).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PayloadSummary {
    /// Keys of the payload.
    pub payload_keys: Vec<String>,
    /// Whether the node schema URL is there (inputs are then checked before submitting).
    pub has_object_info_url: bool,
    /// The deployment's default overrides, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_overrides: Option<Value>,
    /// Nodes (at most 200) with their literal inputs and current values.
    pub nodes: Vec<PayloadNode>,
}

/// One node of a deployment's workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PayloadNode {
    /// Node id (an override key).
    pub node_id: String,
    /// Its title, when set (usable as `"<title>.<input>"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its class.
    pub class_type: String,
    /// Literal inputs and their saved values.
    pub inputs: Map<String, Value>,
}

/// A new deployment. RunComfy requires every field; the defaults are its web UI's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct DeploymentSpec {
    /// Name, e.g. `text-to-image`.
    pub name: String,
    /// The Cloud-Saved workflow's id (UUID).
    pub workflow_id: String,
    /// The workflow version label to pin, e.g. `v1`.
    pub workflow_version: String,
    /// GPU SKU: TURING_16 (16 GB), AMPERE_24, AMPERE_48 (default), ADA_48_PLUS (L40S),
    /// AMPERE_80 (A100), ADA_80_PLUS (H100), HOPPER_141 (H200).
    #[serde(default = "default_hardware")]
    pub hardware: String,
    /// Instances always on (billed while idle when > 0). Default 0.
    #[serde(default)]
    pub min_instances: u32,
    /// Most instances (>= min_instances). Default 1.
    #[serde(default = "one")]
    pub max_instances: u32,
    /// Pending requests per instance before scaling up. Default 1.
    #[serde(default = "one")]
    pub queue_size: u32,
    /// Idle seconds before scale-down (billed). Default 60.
    #[serde(default = "sixty")]
    pub keep_warm_duration_in_seconds: u32,
}

fn default_hardware() -> String {
    "AMPERE_48".into()
}
fn one() -> u32 {
    1
}
fn sixty() -> u32 {
    60
}

/// Changes to a deployment; at least one field. Version and hardware changes roll out to new
/// instances; `is_enabled: false` fails every request, queued ones included.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct DeploymentUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New workflow version label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_version: Option<String>,
    /// New GPU SKU (see `create_deployment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    /// New minimum instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_instances: Option<u32>,
    /// New maximum instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u32>,
    /// New queue size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_size: Option<u32>,
    /// New keep-warm seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_warm_duration_in_seconds: Option<u32>,
    /// Enable or pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
}

fn invalid(argument: &str, message: String) -> Error {
    Error::InvalidArgument { argument: argument.into(), message }
}

/// Checks a hardware SKU.
pub fn check_hardware(sku: &str) -> Result<()> {
    if HARDWARE.contains(&sku) {
        return Ok(());
    }
    Err(invalid(
        "hardware",
        format!(
            "{sku:?} is not a RunComfy hardware SKU{}: use one of {}",
            crate::suggest::closest(sku, HARDWARE.iter().copied(), 1)
                .first()
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default(),
            HARDWARE.join(", ")
        ),
    ))
}

/// Instance bounds: RunComfy's documents disagree on the limits (0–3 / 1–10 on the REST page,
/// 0–30 / 1–60 in its MCP server; probably plan dependent), so only the wider ones and
/// `min <= max` are checked here; the API refuses what the plan does not allow.
fn check_instances(min: Option<u32>, max: Option<u32>) -> Result<()> {
    if let Some(min) = min.filter(|m| *m > 30) {
        return Err(invalid("min_instances", format!("{min} is above 30")));
    }
    if let Some(max) = max.filter(|m| !(1..=60).contains(m)) {
        return Err(invalid("max_instances", format!("{max} is not in 1..=60")));
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(invalid("max_instances", format!("max_instances {max} is below min_instances {min}")));
    }
    Ok(())
}

impl DeploymentSpec {
    /// Checks the spec and answers the API body (hardware as a one-element array).
    pub fn body(&self) -> Result<Value> {
        for (arg, v) in [
            ("name", &self.name),
            ("workflow_id", &self.workflow_id),
            ("workflow_version", &self.workflow_version),
        ] {
            if v.trim().is_empty() {
                return Err(invalid(arg, "must not be empty".into()));
            }
        }
        check_hardware(&self.hardware)?;
        check_instances(Some(self.min_instances), Some(self.max_instances))?;
        Ok(json!({
            "name": self.name,
            "workflow_id": self.workflow_id,
            "workflow_version": self.workflow_version,
            "hardware": [self.hardware],
            "min_instances": self.min_instances,
            "max_instances": self.max_instances,
            "queue_size": self.queue_size,
            "keep_warm_duration_in_seconds": self.keep_warm_duration_in_seconds,
        }))
    }
}

impl DeploymentUpdate {
    /// Checks the update and answers the PATCH body; `current_name` is resent when no new name
    /// is given (RunComfy refuses a PATCH without `name`).
    pub fn body(&self, current_name: Option<&str>) -> Result<Value> {
        if *self == DeploymentUpdate::default() {
            return Err(invalid("update", "give at least one field to change".into()));
        }
        if let Some(hw) = &self.hardware {
            check_hardware(hw)?;
        }
        check_instances(self.min_instances, self.max_instances)?;
        let mut body = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(hw) = &self.hardware {
            body["hardware"] = json!([hw]);
        }
        if self.name.is_none()
            && let Some(name) = current_name
        {
            body["name"] = json!(name);
        }
        Ok(body)
    }
}

/// A list answer: a bare array, or (tolerated) an object wrapping one.
pub(crate) fn parse_list(v: Value) -> std::result::Result<Vec<Deployment>, String> {
    let items = match v {
        Value::Array(items) => items,
        Value::Object(mut m) => {
            match ["deployments", "data", "items", "results"].iter().find_map(|k| m.remove(*k)) {
                Some(Value::Array(items)) => items,
                _ => return Err("neither a list nor an object with a deployments list".into()),
            }
        }
        _ => return Err("not a list of deployments".into()),
    };
    items.into_iter().map(|d| serde_json::from_value(d).map_err(|e| format!("a deployment: {e}"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_checked_before_anything_is_sent() {
        let spec: DeploymentSpec =
            serde_json::from_value(json!({"name": "t2i", "workflow_id": "w", "workflow_version": "v1"}))
                .unwrap();
        let body = spec.body().unwrap();
        assert_eq!(body["hardware"], json!(["AMPERE_48"]));
        assert_eq!(
            (body["max_instances"].as_u64(), body["keep_warm_duration_in_seconds"].as_u64()),
            (Some(1), Some(60))
        );
        let bad = DeploymentSpec { hardware: "AMPERE_49".into(), ..spec.clone() };
        let e = bad.body().unwrap_err();
        assert!(e.to_string().contains("AMPERE_48"), "{e}");
        let bad = DeploymentSpec { min_instances: 3, max_instances: 2, ..spec };
        assert!(bad.body().unwrap_err().to_string().contains("below"));
    }

    #[test]
    fn updates_resend_the_name_and_need_a_field() {
        assert!(DeploymentUpdate::default().body(Some("n")).is_err());
        let u = DeploymentUpdate { max_instances: Some(2), ..Default::default() };
        assert_eq!(u.body(Some("keep")).unwrap(), json!({"max_instances": 2, "name": "keep"}));
        let u = DeploymentUpdate {
            hardware: Some("HOPPER_141".into()),
            name: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(u.body(Some("keep")).unwrap(), json!({"name": "x", "hardware": ["HOPPER_141"]}));
    }

    #[test]
    fn lists_and_deployments_are_read_tolerantly() {
        let d = json!({"id": "d1", "name": "n", "hardware": ["AMPERE_48"], "status": "standby", "new": 1,
                       "payload": {"workflow_api_json": {"6": {"class_type": "CLIPTextEncode", "_meta": {"title": "Prompt"},
                       "inputs": {"text": "a", "clip": ["4", 1]}}}, "object_info_url": "https://x/o.json"}});
        let list = parse_list(json!([d.clone()])).unwrap();
        assert_eq!(list[0].extra.get("new"), Some(&json!(1)));
        assert_eq!(parse_list(json!({"deployments": [d]})).unwrap().len(), 1);
        assert!(parse_list(json!("x")).is_err());
        let s = list[0].payload_summary().unwrap();
        assert!(s.has_object_info_url);
        assert_eq!(s.nodes[0].title.as_deref(), Some("Prompt"));
        assert_eq!(s.nodes[0].inputs.keys().collect::<Vec<_>>(), ["text"], "links are not overridable");
        let single: Deployment = serde_json::from_value(json!({"id": "x", "hardware": "AMPERE_24"})).unwrap();
        assert_eq!(single.hardware, ["AMPERE_24"]);
    }
}
