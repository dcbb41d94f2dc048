//! Comfy Cloud's job states: the friendly vocabulary of `GET /api/jobs/{id}`
//! (`pending | in_progress | completed | failed | cancelled`), the raw internal states that
//! `GET /api/job/{id}/status` (and sometimes `/api/jobs/{id}`) returns (`submitted`,
//! `executing`, `success`, `non_retryable_error`, `lost`, ...), and the enum the OpenAPI spec
//! documents (`waiting_to_dispatch`, ...), all mapped to one [`JobStatus`].

use serde_json::Value;

use crate::backend::local::messages::failure_from;
use crate::job::{JobFailure, JobStatus, Progress};

/// Maps any Cloud status word to a status; unknown words are "still waiting" (non-terminal),
/// as the docs advise ("poll until you see a terminal value").
pub(crate) fn map_state(state: &str) -> JobStatus {
    let waiting = JobStatus::Queued { position: None };
    let running = JobStatus::Running(Progress::default());
    match state.trim().to_ascii_lowercase().as_str() {
        // Friendly and spec vocabularies, then the raw internal states.
        "pending"
        | "waiting_to_dispatch"
        | "queued"
        | "submitted"
        | "queued_limited"
        | "queued_waiting"
        | "allocated"
        | "preparing"
        | "pending_execution" => waiting,
        "in_progress" | "running" | "executing" | "executed" | "erroring" => running,
        // Cancelling: not over yet.
        "cancel_requested" | "cancel_pending" | "cancelling_preparing" | "canceling" | "cancelling" => {
            running
        }
        "completed" | "success" | "succeeded" => JobStatus::Succeeded,
        "cancelled" | "canceled" => JobStatus::Cancelled,
        "failed" | "error" | "non_retryable_error" | "retryable_error" | "lost" => {
            JobStatus::Failed(JobFailure {
                message: format!("the job ended with status {state:?} and no error details"),
                ..Default::default()
            })
        }
        _ => waiting,
    }
}

/// The failure details of a failed job: `execution_error` (ComfyUI's message fields) or
/// `error_message` (a plain or JSON-encoded string).
fn failure(detail: &Value, state: &str) -> JobFailure {
    if let Some(e) = detail.get("execution_error").filter(|e| e.is_object()) {
        return failure_from(e);
    }
    if let Some(text) = detail.get("error_message").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) {
        // It was seen JSON-encoded: an object with the usual fields, or a quoted string.
        return match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => {
                let mut f = failure_from(&v);
                if v.get("exception_message").is_none()
                    && let Some(m) = v.get("message").and_then(Value::as_str)
                {
                    f.message = m.to_owned();
                }
                f
            }
            Ok(Value::String(s)) => JobFailure { message: s, ..Default::default() },
            _ => JobFailure { message: text.to_owned(), ..Default::default() },
        };
    }
    JobFailure {
        message: format!("the job ended with status {state:?} and no error details"),
        ..Default::default()
    }
}

/// A job's status from a `/api/jobs/{id}` detail or a `/api/job/{id}/status` answer.
pub(crate) fn from_detail(detail: &Value) -> JobStatus {
    let state = detail.get("status").and_then(Value::as_str).unwrap_or("");
    match map_state(state) {
        JobStatus::Failed(_) => JobStatus::Failed(failure(detail, state)),
        other => other,
    }
}

/// A timestamp in milliseconds, whatever unit Cloud used: the spec says seconds, comfy-cli saw
/// milliseconds, so the unit is told by magnitude (anything below 10^11 is seconds).
pub(crate) fn millis(v: &Value) -> Option<i64> {
    let n = v.as_f64().filter(|n| n.is_finite() && *n > 0.0)?;
    Some(if n < 1e11 { (n * 1000.0) as i64 } else { n as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_vocabulary_maps_to_one_status() {
        for s in [
            "pending",
            "waiting_to_dispatch",
            "submitted",
            "queued_limited",
            "allocated",
            "pending_execution",
        ] {
            assert_eq!(map_state(s), JobStatus::Queued { position: None }, "{s}");
        }
        for s in ["in_progress", "executing", "executed", "cancel_requested", "cancelling_preparing"] {
            assert!(matches!(map_state(s), JobStatus::Running(_)), "{s}");
        }
        for s in ["completed", "success", "SUCCESS"] {
            assert_eq!(map_state(s), JobStatus::Succeeded, "{s}");
        }
        for s in ["cancelled", "canceled"] {
            assert_eq!(map_state(s), JobStatus::Cancelled, "{s}");
        }
        for s in ["failed", "error", "non_retryable_error", "retryable_error", "lost"] {
            assert!(matches!(map_state(s), JobStatus::Failed(_)), "{s}");
        }
        assert!(!map_state("some_new_state").is_terminal(), "unknown states are not terminal");
    }

    #[test]
    fn failures_come_from_execution_error_or_error_message() {
        let detail = json!({"status": "failed", "execution_error": {
            "node_id": "4", "node_type": "KSampler", "exception_type": "OOMError",
            "exception_message": "out of memory", "traceback": ["a", "b"]}});
        let JobStatus::Failed(f) = from_detail(&detail) else { panic!() };
        assert_eq!((f.node_id.as_deref(), f.class_type.as_deref()), (Some("4"), Some("KSampler")));
        assert_eq!(f.exception_type.as_deref(), Some("OOMError"));
        assert_eq!(f.traceback.len(), 2);
        let encoded = json!({"status": "error", "error_message":
            "{\"node_id\":\"2\",\"exception_type\":\"InsufficientFundsError\",\"exception_message\":\"no credits\"}"});
        let JobStatus::Failed(f) = from_detail(&encoded) else { panic!() };
        assert_eq!(f.exception_type.as_deref(), Some("InsufficientFundsError"));
        assert_eq!(f.message, "no credits");
        let plain = json!({"status": "lost", "error_message": "worker vanished"});
        let JobStatus::Failed(f) = from_detail(&plain) else { panic!() };
        assert_eq!(f.message, "worker vanished");
        let bare = json!({"status": "non_retryable_error"});
        let JobStatus::Failed(f) = from_detail(&bare) else { panic!() };
        assert!(f.message.contains("non_retryable_error"));
    }

    #[test]
    fn timestamps_in_seconds_or_milliseconds() {
        assert_eq!(millis(&json!(1_764_000_000)), Some(1_764_000_000_000));
        assert_eq!(millis(&json!(1_764_000_000_123i64)), Some(1_764_000_000_123));
        assert_eq!(millis(&json!(1_764_000_000.5)), Some(1_764_000_000_500));
        assert_eq!(millis(&json!("x")), None);
    }
}
