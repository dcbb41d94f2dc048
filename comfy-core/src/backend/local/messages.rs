//! Decoding ComfyUI's WebSocket messages (text and binary) into [`BackendEvent`]s.
//!
//! Every message kind in the captured transcripts is understood; unknown kinds and malformed
//! frames are reported as `None` (logged by the caller), never a panic.

use bytes::Bytes;
use serde_json::Value;

use crate::backend::{BackendEvent, JobEvent};
use crate::job::{JobFailure, JobId, parse_node_output};

fn prompt_id(data: &Value) -> Option<JobId> {
    data.get("prompt_id").and_then(Value::as_str).map(JobId::from)
}

fn str_field(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn job(data: &Value, event: JobEvent) -> Vec<BackendEvent> {
    match prompt_id(data) {
        Some(job_id) => vec![BackendEvent::Job { job_id, event }],
        None => vec![BackendEvent::Unaddressed(event)],
    }
}

/// Decodes one text frame. Returns no events for kinds that carry nothing for jobs
/// (`feature_flags`, `logs`, custom kinds) and `Err` with a reason for malformed frames.
pub(crate) fn decode_text(text: &str) -> Result<Vec<BackendEvent>, String> {
    let msg: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let kind = msg.get("type").and_then(Value::as_str).ok_or("no \"type\"")?;
    let data = msg.get("data").cloned().unwrap_or(Value::Null);
    let events = match kind {
        "status" => {
            let remaining =
                data.pointer("/status/exec_info/queue_remaining").and_then(Value::as_u64).unwrap_or(0);
            vec![BackendEvent::QueueRemaining(remaining.min(u32::MAX as u64) as u32)]
        }
        "execution_start" => job(&data, JobEvent::Started),
        "execution_cached" => {
            let nodes = data
                .get("nodes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            job(&data, JobEvent::Cached { nodes })
        }
        "executing" => match data.get("node") {
            Some(Value::String(node)) => {
                let node_id = str_field(&data, "display_node").unwrap_or_else(|| node.clone());
                job(&data, JobEvent::Executing { node_id })
            }
            // `node: null` closes the prompt; without a prompt id (reconnect replay) it means nothing.
            _ => match prompt_id(&data) {
                Some(job_id) => vec![BackendEvent::Job { job_id, event: JobEvent::Done }],
                None => Vec::new(),
            },
        },
        "progress" => {
            let num = |k: &str| data.get(k).and_then(Value::as_f64).filter(|f| f.is_finite() && *f >= 0.0);
            let (Some(value), Some(max)) = (num("value"), num("max")) else {
                return Err("progress without numeric value/max".into());
            };
            job(
                &data,
                JobEvent::Progress {
                    node_id: str_field(&data, "node"),
                    value: value as u64,
                    max: max as u64,
                },
            )
        }
        "progress_state" => {
            let Some(nodes) = data.get("nodes").and_then(Value::as_object) else {
                return Ok(Vec::new());
            };
            let finished: Vec<BackendEvent> = nodes
                .iter()
                .filter(|(_, n)| n.get("state").and_then(Value::as_str) == Some("finished"))
                .flat_map(|(id, n)| {
                    let node_id = str_field(n, "display_node_id").unwrap_or_else(|| id.clone());
                    job(&data, JobEvent::NodeFinished { node_id })
                })
                .collect();
            finished
        }
        "executed" => {
            let node =
                str_field(&data, "display_node").or_else(|| str_field(&data, "node")).unwrap_or_default();
            let outputs = parse_node_output(&node, data.get("output").unwrap_or(&Value::Null));
            job(&data, JobEvent::Outputs(outputs))
        }
        "execution_success" => job(&data, JobEvent::Succeeded),
        "execution_error" => {
            let failure = failure_from(&data);
            // ExecutionBlocked is informational: execution continues for other branches.
            if failure.exception_type.as_deref() == Some("ExecutionBlocked") {
                return Ok(job(&data, JobEvent::Text { node_id: failure.node_id, text: failure.message }));
            }
            job(&data, JobEvent::Failed(failure))
        }
        "execution_interrupted" => job(&data, JobEvent::Interrupted),
        _ => Vec::new(),
    };
    Ok(events)
}

/// Builds a failure from an `execution_error` payload (also found in history `status.messages`).
pub(crate) fn failure_from(data: &Value) -> JobFailure {
    let traceback = match data.get("traceback") {
        Some(Value::Array(lines)) => lines.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    JobFailure {
        node_id: str_field(data, "node_id"),
        class_type: str_field(data, "node_type"),
        exception_type: str_field(data, "exception_type"),
        message: str_field(data, "exception_message")
            .map(|m| m.trim_end().to_owned())
            .unwrap_or_else(|| "the backend reported an error without a message".into()),
        traceback,
        code: None,
    }
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decodes one binary frame: previews (event 1 and 4) and progress text (event 3).
pub(crate) fn decode_binary(frame: &Bytes) -> Result<Vec<BackendEvent>, String> {
    let kind = be_u32(frame, 0).ok_or("binary frame shorter than 4 bytes")?;
    match kind {
        1 => {
            let format = be_u32(frame, 4).ok_or("preview frame without an image format")?;
            let mime = match format {
                1 => "image/jpeg",
                2 => "image/png",
                other => return Err(format!("unknown preview image format {other}")),
            };
            Ok(vec![BackendEvent::Unaddressed(JobEvent::Preview {
                node_id: None,
                mime: mime.into(),
                data: frame.slice(8..),
            })])
        }
        3 => {
            let len = be_u32(frame, 4).ok_or("text frame without a node id length")? as usize;
            let node = frame.get(8..8 + len).ok_or("text frame shorter than its node id")?;
            let node_id = String::from_utf8_lossy(node).into_owned();
            let text = String::from_utf8_lossy(&frame[8 + len..]).into_owned();
            Ok(vec![BackendEvent::Unaddressed(JobEvent::Text { node_id: Some(node_id), text })])
        }
        4 => {
            let len = be_u32(frame, 4).ok_or("preview frame without a metadata length")? as usize;
            let meta = frame.get(8..8 + len).ok_or("preview frame shorter than its metadata")?;
            let meta: Value =
                serde_json::from_slice(meta).map_err(|e| format!("preview metadata is not JSON: {e}"))?;
            let mime = str_field(&meta, "image_type").unwrap_or_else(|| "image/png".into());
            let node_id = str_field(&meta, "display_node_id").or_else(|| str_field(&meta, "node_id"));
            let event = JobEvent::Preview { node_id, mime, data: frame.slice(8 + len..) };
            Ok(job(&meta, event))
        }
        other => Err(format!("unknown binary event type {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(name: &str) -> Vec<Value> {
        let path = format!("{}/../../shared/fixtures/comfyui/ws/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["direction"] == "server->client")
            .map(|l| l["msg"].clone())
            .collect()
    }

    /// Rebuilds the binary frame a transcript line describes (header fields + image bytes).
    fn rebuild_binary(msg: &Value) -> Bytes {
        let mut out = Vec::new();
        let kind = msg["event_type"].as_u64().unwrap() as u32;
        out.extend_from_slice(&kind.to_be_bytes());
        match kind {
            1 => {
                out.extend_from_slice(&(msg["image_format_code"].as_u64().unwrap() as u32).to_be_bytes());
                out.extend_from_slice(&[0x89, b'P', b'N', b'G']);
            }
            4 => {
                let meta = serde_json::to_vec(&msg["metadata"]).unwrap();
                out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
                out.extend_from_slice(&meta);
                out.extend_from_slice(&[0x89, b'P', b'N', b'G']);
            }
            3 => {
                let node = msg["node_id"].as_str().unwrap_or("1").as_bytes();
                out.extend_from_slice(&(node.len() as u32).to_be_bytes());
                out.extend_from_slice(node);
                out.extend_from_slice(msg["text"].as_str().unwrap_or("hi").as_bytes());
            }
            _ => {}
        }
        Bytes::from(out)
    }

    #[test]
    fn every_captured_message_decodes() {
        let dir = format!("{}/../../shared/fixtures/comfyui/ws", env!("CARGO_MANIFEST_DIR"));
        let mut kinds = std::collections::BTreeSet::new();
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect();
        files.sort();
        for f in files {
            for msg in transcript(&f.to_string_lossy()) {
                if msg.get("binary").is_some() {
                    let events = decode_binary(&rebuild_binary(&msg)).unwrap();
                    assert_eq!(events.len(), 1, "{msg}");
                    kinds.insert(format!("binary-{}", msg["event_type"]));
                } else {
                    decode_text(&msg.to_string()).unwrap_or_else(|e| panic!("{e}: {msg}"));
                    kinds.insert(msg["type"].as_str().unwrap().to_string());
                }
            }
        }
        for k in [
            "status",
            "execution_start",
            "execution_cached",
            "executing",
            "progress_state",
            "executed",
            "execution_success",
            "execution_error",
            "execution_interrupted",
            "binary-1",
            "binary-3",
            "binary-4",
        ] {
            assert!(kinds.contains(k), "no {k} in the transcripts: {kinds:?}");
        }
    }

    #[test]
    fn basic_run_maps_to_job_events() {
        let mut events = Vec::new();
        for msg in transcript("ws_01_basic_success.jsonl") {
            events.extend(decode_text(&msg.to_string()).unwrap());
        }
        let job_events: Vec<&JobEvent> = events
            .iter()
            .filter_map(|e| match e {
                BackendEvent::Job { event, .. } => Some(event),
                _ => None,
            })
            .collect();
        assert_eq!(job_events.first(), Some(&&JobEvent::Started));
        assert!(job_events.iter().any(|e| matches!(e, JobEvent::Outputs(o) if !o.is_empty())));
        assert!(job_events.contains(&&JobEvent::Succeeded));
        assert_eq!(job_events.last(), Some(&&JobEvent::Done));
    }

    #[test]
    fn errors_keep_the_backend_details() {
        let msgs = transcript("ws_06_execution_error.jsonl");
        let err = msgs.iter().find(|m| m["type"] == "execution_error").unwrap();
        let events = decode_text(&err.to_string()).unwrap();
        let BackendEvent::Job { event: JobEvent::Failed(f), .. } = &events[0] else { panic!("{events:?}") };
        assert_eq!(f.node_id.as_deref(), Some("1"));
        assert_eq!(f.class_type.as_deref(), Some("LoadImage"));
        assert_eq!(f.exception_type.as_deref(), Some("PIL.UnidentifiedImageError"));
        assert!(f.message.contains("cannot identify image file"));
        assert!(!f.traceback.is_empty());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in
            ["", "nope", "{}", "[1]", "{\"type\": 5}", "{\"type\":\"progress\",\"data\":{\"value\":\"x\"}}"]
        {
            let _ = decode_text(text);
        }
        assert!(decode_text("{\"type\":\"something_new\",\"data\":{}}").unwrap().is_empty());
        for frame in [
            &b""[..],
            &[0, 0],
            &[0, 0, 0, 9],
            &[0, 0, 0, 4, 255, 255, 255, 255],
            &[0, 0, 0, 1, 0, 0, 0, 7],
            &[0, 0, 0, 3, 0, 0, 1, 0],
        ] {
            assert!(decode_binary(&Bytes::copy_from_slice(frame)).is_err(), "{frame:?}");
        }
    }
}
