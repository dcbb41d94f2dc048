//! Reading ComfyUI's `/history`, `/queue` and `/system_stats` answers.

use serde_json::Value;

use super::messages::failure_from;
use crate::backend::{Device, Health, QueueEntry, QueueSnapshot, RemoteJob};
use crate::job::{JobFailure, JobId, JobStatus, Progress, parse_history_outputs};

/// A finished job from its history entry: status from `status.messages`, every output.
pub(crate) fn from_history(entry: &Value) -> RemoteJob {
    let status = entry.get("status").cloned().unwrap_or(Value::Null);
    let messages: Vec<(&str, &Value)> = status
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|pair| {
                    let kind = pair.get(0)?.as_str()?;
                    Some((kind, pair.get(1).unwrap_or(&Value::Null)))
                })
                .collect()
        })
        .unwrap_or_default();
    let find = |kind: &str| messages.iter().find(|(k, _)| *k == kind).map(|(_, d)| *d);
    let status = if find("execution_interrupted").is_some() {
        JobStatus::Cancelled
    } else if let Some(data) = find("execution_error") {
        JobStatus::Failed(failure_from(data))
    } else if status.get("status_str").and_then(Value::as_str) == Some("success")
        || find("execution_success").is_some()
    {
        JobStatus::Succeeded
    } else {
        JobStatus::Failed(JobFailure {
            message: format!(
                "the backend finished the job with status {:?} and no error details",
                status.get("status_str").and_then(Value::as_str).unwrap_or("unknown")
            ),
            ..Default::default()
        })
    };
    RemoteJob { status, outputs: parse_history_outputs(entry.get("outputs").unwrap_or(&Value::Null)) }
}

/// ComfyUI's refusal of a prompt (`{"error": {"type", "message", "details"}, "node_errors"}`).
pub(crate) fn prompt_rejected(backend: &str, answer: &Value) -> crate::Error {
    let err = answer.get("error").cloned().unwrap_or(Value::Null);
    let text = |k: &str| match &err {
        Value::String(s) if k == "message" => s.clone(),
        other => other.get(k).and_then(Value::as_str).unwrap_or("").to_owned(),
    };
    let (message, details) = (text("message"), text("details"));
    crate::Error::PromptRejected {
        backend: backend.to_owned(),
        error_type: text("type"),
        message: if details.is_empty() { message } else { format!("{message}: {details}") },
        node_errors: Box::new(answer.get("node_errors").cloned().unwrap_or(Value::Null)),
    }
}

/// Where a job is in the queue, if it is there.
pub(crate) fn from_queue(queue: &QueueSnapshot, job: &JobId) -> Option<JobStatus> {
    if queue.is_running(job) {
        return Some(JobStatus::Running(Progress::default()));
    }
    queue.position(job).map(|p| JobStatus::Queued { position: Some(p) })
}

/// Parses `GET /queue`: running and pending items `[number, prompt_id, prompt, extra_data, outputs]`;
/// the pending list is a raw heap, so it is sorted by number (then id) here.
pub(crate) fn parse_queue(v: &Value, client_id: &str) -> Result<QueueSnapshot, String> {
    let entries = |key: &str| -> Result<Vec<QueueEntry>, String> {
        let Some(items) = v.get(key) else { return Ok(Vec::new()) };
        let items = items.as_array().ok_or_else(|| format!("{key} is not a list"))?;
        items
            .iter()
            .map(|item| {
                let number = item
                    .get(0)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("{key} item without a number"))?;
                let id = item
                    .get(1)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{key} item without a prompt id"))?;
                let ours =
                    item.get(3).and_then(|e| e.get("client_id")).and_then(Value::as_str) == Some(client_id);
                Ok(QueueEntry { job_id: JobId(id.to_owned()), number, ours })
            })
            .collect()
    };
    let running = entries("queue_running")?;
    let mut pending = entries("queue_pending")?;
    pending.sort_by(|a, b| a.number.total_cmp(&b.number).then_with(|| a.job_id.cmp(&b.job_id)));
    Ok(QueueSnapshot { running, pending })
}

pub(crate) fn string_list(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

pub(crate) fn parse_health(v: Value) -> Health {
    let system = v.get("system").cloned().unwrap_or(Value::Null);
    let devices = v
        .get("devices")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|d| Device {
                    name: d.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
                    kind: d.get("type").and_then(Value::as_str).unwrap_or("").to_owned(),
                    vram_total: d.get("vram_total").and_then(Value::as_u64),
                    vram_free: d.get("vram_free").and_then(Value::as_u64),
                })
                .collect()
        })
        .unwrap_or_default();
    Health {
        version: system.get("comfyui_version").and_then(Value::as_str).map(str::to_owned),
        devices,
        ram_free: system.get("ram_free").and_then(Value::as_u64),
        raw: v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../shared/fixtures/comfyui/http/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn entry(name: &str) -> Value {
        fixture(name).as_object().unwrap().values().next().unwrap().clone()
    }

    #[test]
    fn history_statuses() {
        let ok = from_history(&entry("history_prompt_success.json"));
        assert_eq!(ok.status, JobStatus::Succeeded);
        assert!(!ok.outputs.is_empty());
        let cached = from_history(&entry("history_prompt_cached_rerun.json"));
        assert_eq!(cached.status, JobStatus::Succeeded);
        assert!(!cached.outputs.is_empty(), "a cached re-run still has its outputs");
        let JobStatus::Failed(f) = from_history(&entry("history_prompt_execution_error.json")).status else {
            panic!("expected a failure")
        };
        assert_eq!(f.class_type.as_deref(), Some("LoadImage"));
        assert_eq!(from_history(&entry("history_prompt_interrupted.json")).status, JobStatus::Cancelled);
    }

    #[test]
    fn queue_is_sorted_and_ours_is_marked() {
        let q = parse_queue(&fixture("queue_busy.json"), "nobody").unwrap();
        assert_eq!(q.running.len(), 1);
        let numbers: Vec<f64> = q.pending.iter().map(|e| e.number).collect();
        let mut sorted = numbers.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(numbers, sorted);
        assert!(q.pending.iter().all(|e| !e.ours));
        let raw = fixture("queue_busy.json");
        let client = raw["queue_running"][0][3]["client_id"].as_str().unwrap();
        assert!(parse_queue(&raw, client).unwrap().running[0].ours);
        assert!(parse_queue(&serde_json::json!({"queue_running": 5}), "x").is_err());
        assert!(parse_queue(&fixture("queue_empty.json"), "x").unwrap().pending.is_empty());
    }

    #[test]
    fn health_from_system_stats() {
        let h = parse_health(fixture("system_stats.json"));
        assert_eq!(h.version.as_deref(), Some("0.3.64"));
        assert_eq!(h.devices.len(), 1);
    }
}
