//! A lost job resubmitted to a member that chooses its own job ids (Comfy Cloud, RunComfy):
//! the caller's job keeps its id, and the fleet translates between it and the member's id.
//!
//! The member's id and handle travel inside the job's recorded handle
//! (`{"fleet_remote": {"id": …, "handle": …}}`), so every later call on the job (status,
//! cancel), also after a restart, reaches the member under its own id; while this process
//! runs, the member's events about its id are forwarded under the caller's.

use serde_json::{Value, json};

use super::{Fleet, lock};
use crate::backend::{BackendEvent, JobRef, Submitted};
use crate::job::JobId;

/// The key of a wrapped handle.
const REMOTE: &str = "fleet_remote";

impl Fleet {
    /// The answer to give for a resubmission of `id` that member `i` accepted as `sent`:
    /// unchanged when the member kept the id, else under `id` with the member's id and handle
    /// wrapped into the handle (and its events translated from now on).
    pub(super) fn keep_id(&self, i: usize, id: &JobId, sent: Submitted) -> Submitted {
        if sent.job_id == *id {
            return sent;
        }
        lock(&self.aliases).insert((i, sent.job_id.clone()), id.clone());
        lock(&self.jobs).insert(id.clone(), i);
        let handle = json!({REMOTE: {"id": sent.job_id.0, "handle": sent.handle}});
        Submitted { job_id: id.clone(), handle: Some(handle), ..sent }
    }

    /// `job` as its member knows it: the member's own id and handle when the job was moved to
    /// a member that chose its own id.
    pub(super) fn remote_ref(job: &JobRef) -> JobRef {
        let Some(remote) = job.handle.as_ref().and_then(|h| h.get(REMOTE)) else { return job.clone() };
        let Some(id) = remote.get("id").and_then(Value::as_str) else { return job.clone() };
        let handle = remote.get("handle").cloned().filter(|h| !h.is_null());
        JobRef { id: JobId(id.to_owned()), handle, backend: job.backend.clone() }
    }

    /// A member's event about its own id of a moved job, under the caller's id.
    pub(super) fn translate(&self, i: usize, event: BackendEvent) -> BackendEvent {
        match event {
            BackendEvent::Job { job_id, event } => {
                let job_id = lock(&self.aliases).get(&(i, job_id.clone())).cloned().unwrap_or(job_id);
                BackendEvent::Job { job_id, event }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_handle_reaches_the_member_under_its_own_id() {
        let job = JobRef {
            id: JobId::from("ours"),
            handle: Some(json!({REMOTE: {"id": "theirs", "handle": {"url": "u"}}})),
            backend: Some("cloud".into()),
        };
        let remote = Fleet::remote_ref(&job);
        assert_eq!(remote.id, JobId::from("theirs"));
        assert_eq!(remote.handle, Some(json!({"url": "u"})));
        assert_eq!(remote.backend.as_deref(), Some("cloud"));
        let plain = JobRef { id: JobId::from("x"), handle: Some(json!({"url": "u"})), backend: None };
        assert_eq!(Fleet::remote_ref(&plain), plain, "other handles pass through");
    }
}
