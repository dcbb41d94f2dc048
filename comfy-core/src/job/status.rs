//! Job identity and lifecycle states.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A job id. For a local ComfyUI it is the `prompt_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for JobId {
    fn from(s: &str) -> Self {
        JobId(s.to_owned())
    }
}

impl From<String> for JobId {
    fn from(s: String) -> Self {
        JobId(s)
    }
}

/// Live progress of a running job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Progress {
    /// The node executing now, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// That node's class, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_type: Option<String>,
    /// Step within the node (samplers report steps), if it reports any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// Number of steps of the node, if it reports any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    /// Nodes finished (executed or cached) so far.
    pub nodes_done: u32,
    /// Nodes that will run in all (0 when unknown).
    pub nodes_total: u32,
    /// Overall completion in `0.0..=1.0`.
    pub fraction: f64,
}

/// Why a job failed: ComfyUI's `execution_error`, or a failure of ours, with every field
/// optional ("absent rather than invented").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct JobFailure {
    /// The failing node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Its class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_type: Option<String>,
    /// Python exception type, e.g. `PIL.UnidentifiedImageError`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_type: Option<String>,
    /// The message.
    pub message: String,
    /// The traceback lines, if the backend sent them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traceback: Vec<String>,
    /// A stable code for failures of ours rather than of the workflow: `backend_lost` (the
    /// backend stopped answering for longer than
    /// [`ClientOptions::unreachable_after`](crate::ClientOptions::unreachable_after)) or
    /// `job_lost` (the backend no longer knows the job). `None` for the backend's own errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Where a job is in its life: Pending → Queued → Running → Succeeded | Failed | Cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobStatus {
    /// Created, not yet accepted by the backend.
    Pending,
    /// Accepted and waiting; `position` 0 = next to run.
    Queued {
        /// Place in the backend's queue, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        position: Option<u32>,
    },
    /// Executing.
    Running(Progress),
    /// Finished; outputs are available.
    Succeeded,
    /// Finished with an error.
    Failed(JobFailure),
    /// Cancelled (removed from the queue, or interrupted while running).
    Cancelled,
}

impl JobStatus {
    /// Succeeded, failed or cancelled: nothing more will happen.
    pub fn is_terminal(&self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed(_) | JobStatus::Cancelled)
    }

    /// The state's stable name: `pending`, `queued`, `running`, `succeeded`, `failed`, `cancelled`.
    pub fn name(&self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Queued { .. } => "queued",
            JobStatus::Running(_) => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed(_) => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serializes_with_a_state_tag() {
        let s = JobStatus::Queued { position: Some(2) };
        assert_eq!(serde_json::to_value(&s).unwrap(), serde_json::json!({"state": "queued", "position": 2}));
        let f = JobStatus::Failed(JobFailure { message: "boom".into(), ..Default::default() });
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["state"], "failed");
        assert_eq!(serde_json::from_value::<JobStatus>(v).unwrap(), f);
        assert!(f.is_terminal());
        assert!(!JobStatus::Running(Progress::default()).is_terminal());
        assert_eq!(JobStatus::Cancelled.name(), "cancelled");
    }
}
