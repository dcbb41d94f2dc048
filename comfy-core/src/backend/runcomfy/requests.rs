//! RunComfy requests as RunComfy's own tools see them: a submit to a deployment with node-keyed
//! overrides (checked against the deployment's workflow and node schema first) or an inline
//! workflow, and the status, result and cancel of a request by id.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::status::{CancelAnswer, Phase};
use crate::backend::CancelOutcome;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::job::{JobFailure, JobOutput, OutputItem};
use crate::workflow::{InputAddress, Workflow, apply_overrides, resolve_node};

/// A request to a deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RequestSpec {
    /// The deployment (default: the configured one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Changes to the deployment's saved workflow, either node-keyed as RunComfy takes them
    /// (`{"6": {"inputs": {"text": "a cat"}}}`) or as `{"<node title or id>.<input>": value}`.
    /// Images/video/audio inputs take a public URL, a data URI or an `upload_file` reference.
    /// Checked against the deployment's workflow (and node schema, when published) before
    /// anything is billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Map<String, Value>>,
    /// Instead of overrides: a whole API-format workflow run on the deployment's environment
    /// (its nodes and models must exist there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_api_json: Option<Value>,
    /// Passed to ComfyUI, e.g. `{"api_key_comfy_org": "comfyui-…"}` for partner nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_data: Option<Map<String, Value>>,
    /// An https URL RunComfy POSTs status changes to (not guaranteed: poll anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Also send queue/progress events to the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_intermediate_status: Option<bool>,
}

/// Where to find a request again: persisted with the job so that it can be followed after a
/// restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RequestHandle {
    /// The deployment it runs on.
    pub deployment_id: String,
    /// RunComfy's request id.
    pub request_id: String,
    /// Status URL as RunComfy returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
    /// Result URL as RunComfy returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    /// Cancel URL as RunComfy returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
}

impl RequestHandle {
    /// Reads a submit answer.
    pub(crate) fn from_answer(deployment_id: &str, v: &Value) -> Option<RequestHandle> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(RequestHandle {
            deployment_id: deployment_id.to_owned(),
            request_id: s("request_id").filter(|r| !r.is_empty())?,
            status_url: s("status_url"),
            result_url: s("result_url"),
            cancel_url: s("cancel_url"),
        })
    }
}

/// A request's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RequestStatus {
    /// The request.
    pub request_id: String,
    /// RunComfy's word (`in_queue`, `in_progress`, `completed`, `cancelled`, ...). `completed`
    /// does not mean success: read the result.
    pub status: String,
    /// Place in the deployment's queue while `in_queue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    /// The instance running it (for `instance_proxy`), once one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Whether it has finished (read the result then).
    pub finished: bool,
}

impl RequestStatus {
    pub(crate) fn from_answer(request_id: &str, v: &Value) -> RequestStatus {
        let (phase, instance_id) = super::status::from_status(v);
        RequestStatus {
            request_id: v.get("request_id").and_then(Value::as_str).unwrap_or(request_id).to_owned(),
            status: v.get("status").and_then(Value::as_str).unwrap_or("unknown").to_owned(),
            queue_position: match phase {
                Phase::Queued(p) => p,
                _ => None,
            },
            instance_id,
            finished: phase.is_terminal(),
        }
    }
}

/// One hosted output file of a result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OutputUrl {
    /// The node that made it.
    pub node_id: String,
    /// Its channel (`images`, `gifs`, `videos`, `audio`, ...).
    pub channel: String,
    /// The hosted URL (no credentials needed; deleted after 7 days).
    pub url: String,
    /// File name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// When RunComfy deletes it (ms since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// A request's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RequestResult {
    /// The request.
    pub request_id: String,
    /// `succeeded`, `failed`, `cancelled`, or the in-flight status when it has not finished.
    pub status: String,
    /// Every hosted file of every node, with its URL.
    pub output_urls: Vec<OutputUrl>,
    /// Text outputs: node id, channel and text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<Value>,
    /// Other output values (custom channels), as sent: node id, channel, value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobFailure>,
    /// The raw `outputs` object, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
}

impl RequestResult {
    pub(crate) fn from_answer(request_id: &str, v: &Value, outputs: &[JobOutput]) -> RequestResult {
        let mut output_urls = Vec::new();
        let mut texts = Vec::new();
        let mut values = Vec::new();
        for o in outputs {
            match &o.item {
                OutputItem::Url { url, filename, expires_at, .. } => output_urls.push(OutputUrl {
                    node_id: o.node_id.clone(),
                    channel: o.key.clone(),
                    url: url.clone(),
                    filename: filename.clone(),
                    expires_at: *expires_at,
                }),
                OutputItem::Text { text } => {
                    texts.push(json!({"node_id": o.node_id, "channel": o.key, "text": text}))
                }
                OutputItem::Value { value } => {
                    values.push(json!({"node_id": o.node_id, "channel": o.key, "value": value}))
                }
                OutputItem::File { file, .. } => {
                    values.push(json!({"node_id": o.node_id, "channel": o.key, "value": file}))
                }
            }
        }
        let status = v.get("status").and_then(Value::as_str).unwrap_or("unknown").to_owned();
        let error = match Phase::parse(&status) {
            Phase::Failed => Some(super::status::failure(v.get("error"))),
            _ => None,
        };
        RequestResult {
            request_id: v.get("request_id").and_then(Value::as_str).unwrap_or(request_id).to_owned(),
            status,
            output_urls,
            texts,
            values,
            error,
            outputs: v.get("outputs").cloned().filter(|o| !o.is_null()),
        }
    }
}

impl RequestResult {
    /// The result of a finished job as recorded: its outputs, and why it failed.
    pub(crate) fn from_record(
        request_id: &str,
        status: &crate::job::JobStatus,
        outputs: &[JobOutput],
    ) -> RequestResult {
        let mut result = RequestResult::from_answer(request_id, &json!({"status": status.name()}), outputs);
        if let crate::job::JobStatus::Failed(failure) = status {
            result.error = Some(failure.clone());
        }
        result
    }
}

/// What a cancel did, with RunComfy's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RequestCancel {
    /// The request.
    pub request_id: String,
    /// `cancelled` (stopped), `cancel_requested` (accepted: poll the status until it ends) or
    /// `not_cancellable` (it had finished, or RunComfy refused).
    pub outcome: &'static str,
    /// RunComfy's answer, as sent.
    pub answer: Value,
}

impl RequestCancel {
    pub(crate) fn from_answer(request_id: &str, v: Value) -> RequestCancel {
        let outcome = match super::status::cancel_answer(&v) {
            CancelAnswer::Cancelled => "cancelled",
            CancelAnswer::NotCancellable => "not_cancellable",
            CancelAnswer::Requested | CancelAnswer::Unknown => "cancel_requested",
        };
        RequestCancel { request_id: request_id.to_owned(), outcome, answer: v }
    }
}

/// What the client's cancel reports for a RunComfy answer.
pub(crate) fn cancel_outcome(answer: CancelAnswer, was_queued: bool) -> CancelOutcome {
    match answer {
        CancelAnswer::Cancelled if was_queued => CancelOutcome::RemovedFromQueue,
        CancelAnswer::Cancelled => CancelOutcome::Interrupted,
        CancelAnswer::NotCancellable => CancelOutcome::NotCancellable,
        CancelAnswer::Requested | CancelAnswer::Unknown => CancelOutcome::CancelRequested,
    }
}

/// `(target, value)` pairs of overrides in either form.
fn pairs(overrides: &Map<String, Value>) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (key, value) in overrides {
        match value.as_object().and_then(|o| o.get("inputs")).and_then(Value::as_object) {
            Some(inputs) => {
                for (input, v) in inputs {
                    out.push((format!("{key}.{input}"), v.clone()));
                }
            }
            None if value.is_object() && !key.contains('.') => {
                return Err(Error::InvalidOverride {
                    target: key.clone(),
                    message: "a node-keyed override is {\"inputs\": {<input>: value}}".into(),
                    suggestions: Vec::new(),
                });
            }
            None => out.push((key.clone(), value.clone())),
        }
    }
    Ok(out)
}

/// Checks overrides against a deployment's workflow (and node schema, when known) and answers
/// them node-keyed as RunComfy takes them, titles resolved to ids.
pub fn check_overrides(
    workflow: Option<&Value>,
    catalog: Option<&Catalog>,
    overrides: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    let pairs = pairs(overrides)?;
    let mut out: Map<String, Value> = Map::new();
    let Some(workflow) = workflow else {
        // No payload to check against: node ids only, as given.
        for (target, value) in pairs {
            let address = InputAddress::parse(&target)?;
            let node = out.entry(address.node).or_insert_with(|| json!({"inputs": {}}));
            node["inputs"][address.input] = value;
        }
        return Ok(out);
    };
    let mut wf = Workflow::from_value(workflow.clone())?;
    if let Some(catalog) = catalog {
        apply_overrides(&mut wf, pairs.iter().map(|(k, v)| (k.as_str(), v)), catalog)?;
    }
    for (target, value) in pairs {
        let address = InputAddress::parse(&target)?;
        let id = resolve_node(&wf, &address.node, &target)?;
        let node = wf.node(id.as_str()).ok_or_else(|| Error::NodeNotFound { node_id: id.0.clone() })?;
        if catalog.is_none() && !node.inputs.contains_key(&address.input) {
            let names: Vec<&str> = node.inputs.keys().map(String::as_str).collect();
            return Err(Error::InvalidOverride {
                target: target.clone(),
                message: format!(
                    "node \"{id}\" ({}) has no input {:?} in the deployment's workflow; its inputs are {}",
                    node.class_type,
                    address.input,
                    names.join(", ")
                ),
                suggestions: crate::suggest::closest(&address.input, names.iter().copied(), 3),
            });
        }
        let entry = out.entry(id.0.clone()).or_insert_with(|| json!({"inputs": {}}));
        entry["inputs"][address.input] = value;
    }
    Ok(out)
}

/// A workflow with checked node-keyed overrides (from [`check_overrides`]) set on it.
pub(crate) fn overridden(workflow: &Value, checked: &Map<String, Value>) -> Value {
    let mut graph = workflow.clone();
    for (node_id, node) in checked {
        let Some(inputs) = node.get("inputs").and_then(Value::as_object) else { continue };
        let Some(target) = graph.get_mut(node_id).and_then(Value::as_object_mut) else { continue };
        let slot = target.entry("inputs").or_insert_with(|| json!({}));
        if let Some(slot) = slot.as_object_mut() {
            for (input, value) in inputs {
                slot.insert(input.clone(), value.clone());
            }
        }
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow() -> Value {
        json!({
            "6": {"class_type": "CLIPTextEncode", "_meta": {"title": "Prompt"}, "inputs": {"text": "a", "clip": ["4", 1]}},
            "31": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20}}
        })
    }

    #[test]
    fn overrides_in_both_forms_become_node_keyed() {
        let o = json!({"Prompt.text": "a cat", "31": {"inputs": {"seed": 7}}});
        let out = check_overrides(Some(&workflow()), None, o.as_object().unwrap()).unwrap();
        let graph = overridden(&workflow(), &out);
        assert_eq!(
            (graph["6"]["inputs"]["text"].clone(), graph["31"]["inputs"]["seed"].clone()),
            (json!("a cat"), json!(7))
        );
        assert_eq!(graph["6"]["inputs"]["clip"], json!(["4", 1]));
        assert_eq!(
            Value::Object(out),
            json!({"6": {"inputs": {"text": "a cat"}}, "31": {"inputs": {"seed": 7}}})
        );
    }

    #[test]
    fn unknown_nodes_and_inputs_are_refused_with_suggestions() {
        let o = json!({"31": {"inputs": {"sed": 7}}});
        let e = check_overrides(Some(&workflow()), None, o.as_object().unwrap()).unwrap_err();
        assert_eq!(e.code(), "invalid_override");
        assert!(e.to_string().contains("seed"), "{e}");
        let o = json!({"Promt.text": "x"});
        assert!(check_overrides(Some(&workflow()), None, o.as_object().unwrap()).is_err());
        let o = json!({"31": {"seed": 7}});
        assert!(check_overrides(Some(&workflow()), None, o.as_object().unwrap()).is_err());
    }

    #[test]
    fn handles_statuses_and_cancels_read_answers() {
        let h = RequestHandle::from_answer("d", &json!({"request_id": "r", "status_url": "https://x/s"}))
            .unwrap();
        assert_eq!((h.request_id.as_str(), h.status_url.as_deref()), ("r", Some("https://x/s")));
        assert!(RequestHandle::from_answer("d", &json!({})).is_none());
        let s = RequestStatus::from_answer("r", &json!({"status": "in_queue", "queue_position": 2}));
        assert_eq!((s.queue_position, s.finished), (Some(2), false));
        let c = RequestCancel::from_answer("r", json!({"status": "cancellation_requested"}));
        assert_eq!(c.outcome, "cancel_requested");
        assert_eq!(cancel_outcome(CancelAnswer::Cancelled, true), CancelOutcome::RemovedFromQueue);
        assert_eq!(cancel_outcome(CancelAnswer::Cancelled, false), CancelOutcome::Interrupted);
    }
}
