//! RunComfy's request vocabulary, read tolerantly (unknown fields are ignored, unknown words
//! are "still waiting"):
//!
//! - status endpoint: `in_queue` (+ `queue_position`), `in_progress`, `completed`, and (seen in
//!   some clients) `succeeded`, `failed`, `cancelled` / `canceled`; `instance_id` once an instance
//!   runs the request. `completed` may hide a failure: only the result says `succeeded` or
//!   `failed`, so `completed` means "read the result".
//! - result endpoint: `succeeded` | `failed` | `cancelled`/`canceled` (or the in-flight status
//!   when called early), `outputs` (node → channel → items with a hosted `url`), `error` as an
//!   array of `{errorCode, error, debugInfo}` or an object (`type`, `message`, or ComfyUI's
//!   execution-error fields).
//! - cancel: `{"outcome": "cancelled" | "not_cancellable"}` (2026 docs) or
//!   `{"status": "cancellation_requested" | "not_cancellable"}` (earlier answers).

use serde_json::Value;

use crate::backend::local::messages::failure_from;
use crate::job::{JobFailure, JobStatus, Progress};

/// Where a request is, as the status endpoint says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    /// Waiting; position from `queue_position` when given (RunComfy counts from 1 or 0: it is
    /// passed on as sent).
    Queued(Option<u32>),
    /// Running on an instance.
    Running,
    /// Finished; the result says how.
    Completed,
    /// Finished successfully (some answers say so directly).
    Succeeded,
    /// Failed (some answers say so directly).
    Failed,
    /// Cancelled (`cancelled` or `canceled`).
    Cancelled,
}

impl Phase {
    /// Reads a status word.
    pub(crate) fn parse(word: &str) -> Phase {
        match word.trim().to_ascii_lowercase().as_str() {
            "in_progress" | "running" | "executing" | "cancellation_requested" => Phase::Running,
            "completed" | "complete" => Phase::Completed,
            "succeeded" | "success" => Phase::Succeeded,
            "failed" | "error" => Phase::Failed,
            "cancelled" | "canceled" => Phase::Cancelled,
            // `in_queue` and any word not known yet: keep polling.
            _ => Phase::Queued(None),
        }
    }

    /// Whether nothing more will happen to the request.
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self, Phase::Completed | Phase::Succeeded | Phase::Failed | Phase::Cancelled)
    }
}

/// The phase and instance of a status answer.
pub(crate) fn from_status(v: &Value) -> (Phase, Option<String>) {
    let word = v.get("status").and_then(Value::as_str).unwrap_or("");
    let mut phase = Phase::parse(word);
    if let Phase::Queued(_) = phase {
        let position = v.get("queue_position").and_then(Value::as_u64).map(|p| p.min(u32::MAX as u64) as u32);
        phase = Phase::Queued(position);
    }
    let instance = v.get("instance_id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    (phase, instance)
}

/// The job status for a non-terminal phase (or a terminal one that needs no result read).
pub(crate) fn job_status(phase: &Phase) -> JobStatus {
    match phase {
        Phase::Queued(position) => JobStatus::Queued { position: *position },
        Phase::Running => JobStatus::Running(Progress::default()),
        Phase::Completed | Phase::Succeeded => JobStatus::Succeeded,
        Phase::Failed => JobStatus::Failed(JobFailure {
            message: "the request failed and RunComfy gave no error details".into(),
            ..Default::default()
        }),
        Phase::Cancelled => JobStatus::Cancelled,
    }
}

/// The best failure message an `error` value allows: ComfyUI's execution-error fields, an
/// object's `message`/`type`, or an array of `{errorCode, error, debugInfo}` items (the debug
/// information becomes the traceback).
pub(crate) fn failure(error: Option<&Value>) -> JobFailure {
    let none = || JobFailure {
        message: "the request failed and RunComfy gave no error details".into(),
        ..Default::default()
    };
    match error {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            JobFailure { message: s.clone(), ..Default::default() }
        }
        Some(e @ Value::Object(m)) => {
            if m.contains_key("exception_message") || m.contains_key("node_id") {
                let mut f = failure_from(e);
                if m.get("exception_message").is_none()
                    && let Some(text) = m.get("message").and_then(Value::as_str)
                {
                    f.message = text.to_owned();
                }
                return f;
            }
            let message = ["message", "error", "error_message", "detail"]
                .iter()
                .find_map(|k| m.get(*k).and_then(Value::as_str))
                .map(str::to_owned);
            let kind = m.get("type").and_then(Value::as_str).map(str::to_owned);
            match (message, kind) {
                (Some(message), kind) => JobFailure { exception_type: kind, message, ..Default::default() },
                (None, Some(kind)) => {
                    JobFailure { message: kind.clone(), exception_type: Some(kind), ..Default::default() }
                }
                (None, None) => JobFailure { message: crate::json::preview(e), ..Default::default() },
            }
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            let messages: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => {
                        let text =
                            other.get("error").or_else(|| other.get("message")).and_then(Value::as_str);
                        let code = other.get("errorCode").or_else(|| other.get("error_code"));
                        match (text, code) {
                            (Some(t), Some(c)) => format!("{t} (error code {c})"),
                            (Some(t), None) => t.to_owned(),
                            _ => crate::json::preview(other),
                        }
                    }
                })
                .collect();
            let traceback = items
                .iter()
                .filter_map(|i| i.get("debugInfo").and_then(Value::as_str))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            JobFailure { message: messages.join("; "), traceback, ..Default::default() }
        }
        _ => none(),
    }
}

/// What a cancel answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelAnswer {
    /// Cancelled (`outcome: cancelled`).
    Cancelled,
    /// Only requested (`status: cancellation_requested`): poll until it ends.
    Requested,
    /// Too late (`not_cancellable`).
    NotCancellable,
    /// Something else: treat as requested and poll.
    Unknown,
}

/// Reads a cancel answer: `outcome` first, then `status`.
pub(crate) fn cancel_answer(v: &Value) -> CancelAnswer {
    let word = |k: &str| v.get(k).and_then(Value::as_str).map(|s| s.trim().to_ascii_lowercase());
    for w in [word("outcome"), word("status")].into_iter().flatten() {
        match w.as_str() {
            "cancelled" | "canceled" => return CancelAnswer::Cancelled,
            "cancellation_requested" | "cancel_requested" | "requested" => return CancelAnswer::Requested,
            "not_cancellable" | "not_cancelable" => return CancelAnswer::NotCancellable,
            _ => {}
        }
    }
    CancelAnswer::Unknown
}

/// A RunComfy timestamp (ISO 8601 with microseconds and an offset) in ms.
pub(crate) fn timestamp(v: Option<&Value>) -> Option<i64> {
    crate::store::parse_time(v?.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_status_word_is_read() {
        let (p, i) = from_status(&json!({"status": "in_queue", "queue_position": 3, "new_field": 1}));
        assert_eq!((p, i), (Phase::Queued(Some(3)), None));
        let (p, i) = from_status(&json!({"status": "in_progress", "instance_id": "inst-1"}));
        assert_eq!((p, i.as_deref()), (Phase::Running, Some("inst-1")));
        assert_eq!(Phase::parse("completed"), Phase::Completed);
        assert_eq!(Phase::parse("succeeded"), Phase::Succeeded);
        assert_eq!(Phase::parse("FAILED"), Phase::Failed);
        assert_eq!(Phase::parse("cancelled"), Phase::Cancelled);
        assert_eq!(Phase::parse("canceled"), Phase::Cancelled);
        assert!(!Phase::parse("warming_up").is_terminal(), "unknown words keep polling");
        assert!(Phase::parse("completed").is_terminal());
    }

    #[test]
    fn failures_in_every_shape() {
        let array = json!([{"errorCode": 500, "error": "CUDA out of memory", "debugInfo": "trace"}]);
        let f = failure(Some(&array));
        assert!(f.message.contains("CUDA out of memory") && f.message.contains("500"), "{}", f.message);
        assert_eq!(f.traceback, ["trace"]);
        let object = json!({"type": "ExecutionError", "message": "bad node"});
        let f = failure(Some(&object));
        assert_eq!((f.message.as_str(), f.exception_type.as_deref()), ("bad node", Some("ExecutionError")));
        let comfy = json!({"node_id": "2", "node_type": "ImageInvert", "exception_type": "RuntimeError",
                           "exception_message": "boom", "traceback": ["a"]});
        let f = failure(Some(&comfy));
        assert_eq!((f.node_id.as_deref(), f.message.as_str()), (Some("2"), "boom"));
        assert!(failure(None).message.contains("no error details"));
        assert_eq!(failure(Some(&json!("plain"))).message, "plain");
    }

    #[test]
    fn cancel_answers_in_both_shapes() {
        let c = |v| cancel_answer(&v);
        assert_eq!(c(json!({"status": "completed", "outcome": "cancelled"})), CancelAnswer::Cancelled);
        assert_eq!(
            c(json!({"status": "completed", "outcome": "not_cancellable"})),
            CancelAnswer::NotCancellable
        );
        assert_eq!(c(json!({"status": "cancellation_requested"})), CancelAnswer::Requested);
        assert_eq!(c(json!({"status": "not_cancellable"})), CancelAnswer::NotCancellable);
        assert_eq!(c(json!({})), CancelAnswer::Unknown);
    }
}
