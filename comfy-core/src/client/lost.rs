//! A job lost with its backend: the backend stopped answering for longer than
//! [`ClientOptions::unreachable_after`](super::ClientOptions::unreachable_after), or no longer
//! knows the job. It fails with a failure naming the backend and a stable code, or, when its
//! request allowed it ([`JobRequest::resubmit_if_lost`]) and the client drives a fleet, it is
//! submitted again to another member under the same id: the record then names the member
//! that runs it and lists the lost runs under `request.resubmitted`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::job::JobShared;
use super::{ClientInner, lock};
use crate::backend::{BackendKind, JobEvent, JobRequest};
use crate::error::{Error, Result};
use crate::job::{JobFailure, JobStatus, Provenance};
use crate::store::now_millis;
use crate::workflow::{NodeId, Workflow};

/// How a job was lost.
#[derive(Debug, Clone)]
pub(crate) enum Lost {
    /// Its backend failed every status read for `after`, the last with `error`.
    Unreachable { after: Duration, error: String },
    /// Its backend answered that it does not know the job.
    Forgotten,
}

impl Lost {
    fn code(&self) -> &'static str {
        match self {
            Lost::Unreachable { .. } => "backend_lost",
            Lost::Forgotten => "job_lost",
        }
    }

    fn describe(&self, backend: &str) -> String {
        match self {
            Lost::Unreachable { after, error } => format!(
                "backend {backend} has not answered for {} s, so the job is lost with it (last error: {error})",
                after.as_secs()
            ),
            Lost::Forgotten => format!(
                "backend {backend} no longer knows this job (it restarted or its history was cleared)"
            ),
        }
    }
}

/// Whether a failed status read means the backend did not answer (rather than answered no).
fn no_answer(e: &Error) -> bool {
    matches!(e, Error::BackendUnreachable { .. } | Error::Timeout { .. })
        || matches!(e, Error::Http { status: 502..=504, .. })
}

impl ClientInner {
    /// Notes the outcome of a status read of `shared`: how long its backend has not answered,
    /// once that reaches `unreachable_after` (`None` otherwise, and after any answer). A job
    /// of a hosted backend (Comfy Cloud, RunComfy) is never lost this way: it runs on the
    /// provider's machines and goes on (and is paid for) while we cannot reach them.
    pub(crate) fn note_read<T>(&self, shared: &JobShared, read: &Result<T>) -> Option<Lost> {
        let recorded = lock(&shared.record).backend.clone();
        if matches!(self.backend_for(&recorded).kind(), BackendKind::ComfyCloud | BackendKind::RunComfy) {
            return None;
        }
        let mut since = lock(&shared.unreachable_since);
        match read {
            Err(e) if no_answer(e) => {
                let now = tokio::time::Instant::now();
                let after = now - *since.get_or_insert(now);
                (after >= self.options.unreachable_after)
                    .then(|| Lost::Unreachable { after, error: e.to_string() })
            }
            _ => {
                *since = None;
                None
            }
        }
    }

    /// Handles a job lost with its backend: resubmits it when allowed and possible, otherwise
    /// fails it. Nothing happens when the job is already finishing.
    pub(crate) async fn job_lost(self: &Arc<Self>, shared: &Arc<JobShared>, lost: Lost) {
        if shared.finalizing.swap(true, Ordering::SeqCst) {
            return;
        }
        let backend = lock(&shared.record).backend.clone();
        let why = lost.describe(&backend);
        tracing::warn!(job = %shared.id, %backend, reason = %why, "job lost with its backend");
        let not_resubmitted = match self.resubmit(shared, &backend, &lost, &why).await {
            Ok(true) => return,
            Ok(false) => match self.fleet() {
                Some(f) if f.names().len() > 1 => {
                    " (not resubmitted elsewhere: the request did not allow it with resubmit_if_lost)"
                        .to_owned()
                }
                _ => String::new(),
            },
            Err(e) => format!(" (resubmitting it elsewhere failed: {e})"),
        };
        let failure = JobFailure {
            message: format!("{why}{not_resubmitted}"),
            code: Some(lost.code().to_owned()),
            ..Default::default()
        };
        self.finish(shared, JobStatus::Failed(failure), Vec::new()).await;
    }

    /// Submits a lost job again to another member of the fleet, if its request allowed it;
    /// `Ok(false)` when it did not (or it was pinned, or the client has one backend).
    async fn resubmit(
        self: &Arc<Self>,
        shared: &Arc<JobShared>,
        from: &str,
        lost: &Lost,
        why: &str,
    ) -> Result<bool> {
        let Some(fleet) = self.fleet() else { return Ok(false) };
        let (recorded, provenance) = {
            let r = lock(&shared.record);
            (r.request.clone(), r.provenance.clone())
        };
        let allowed = recorded.get("resubmit_if_lost").and_then(Value::as_bool).unwrap_or(false);
        if !allowed || recorded.get("backend").is_some() || recorded.get("via").is_some() {
            return Ok(false);
        }
        let mut request = request_from_record(&recorded, provenance)?;
        request.job_id = Some(shared.id.clone());
        let unreachable = matches!(lost, Lost::Unreachable { .. });
        let submitted = fleet.resubmit(&request, from, unreachable).await?;
        let to = fleet.member_of(&submitted.job_id).unwrap_or_default();
        let record = {
            let mut r = lock(&shared.record);
            r.backend = to.clone();
            r.handle = submitted.handle.clone();
            r.status = JobStatus::Queued { position: None };
            let at = now_millis();
            r.updated_at = at;
            if let Some(fields) = r.request.as_object_mut() {
                let runs = fields.entry("resubmitted").or_insert_with(|| Value::Array(Vec::new()));
                if let Some(runs) = runs.as_array_mut() {
                    runs.push(json!({"backend": from, "reason": why, "to": to, "at": at}));
                }
            }
            r.clone()
        };
        lock(&shared.finished_nodes).clear();
        *lock(&shared.latest_preview) = None;
        *lock(&shared.unreachable_since) = None;
        {
            let mut running = lock(&self.running);
            if running.as_ref() == Some(&shared.id) {
                *running = None;
            }
        }
        let status = JobStatus::Queued { position: None };
        shared.state.send_modify(|s| {
            s.status = status.clone();
            s.outputs.clear();
        });
        if let Err(e) = self.store.put_job(&record).await {
            tracing::error!(job = %record.id, error = %e, "could not record a resubmitted job; it is tracked in memory only");
        }
        let _ = shared.events.send(JobEvent::Status(status));
        shared.finalizing.store(false, Ordering::SeqCst);
        tracing::warn!(job = %shared.id, %from, %to, "lost job resubmitted");
        Ok(true)
    }
}

/// The request a job recorded ([`JobRequest::to_record`]), rebuilt to submit again.
pub(crate) fn request_from_record(r: &Value, provenance: Provenance) -> Result<JobRequest> {
    let workflow = Workflow::from_value(r.get("workflow").cloned().unwrap_or(Value::Null))?;
    let mut request = JobRequest::new(workflow);
    request.outputs = match r.get("outputs") {
        Some(Value::Array(ids)) => {
            Some(ids.iter().filter_map(Value::as_str).map(|s| NodeId(s.to_owned())).collect())
        }
        _ => None,
    };
    request.front = r.get("front").and_then(Value::as_bool).unwrap_or(false);
    request.extra_data = r.get("extra_data").and_then(Value::as_object).cloned().unwrap_or_default();
    request.provenance = provenance;
    request.backend = r.get("backend").and_then(Value::as_str).map(str::to_owned);
    request.resubmit_if_lost = r.get("resubmit_if_lost").and_then(Value::as_bool).unwrap_or(false);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::backend::local::LocalComfyUi;
    use crate::job::JobId;
    use crate::store::JobRecord;
    use crate::{ClientOptions, Comfy};

    fn down() -> Result<()> {
        Err(Error::BackendUnreachable { backend: "a".into(), message: "connection refused".into() })
    }

    fn record(backend: &str) -> JobRecord {
        JobRecord {
            id: JobId("j".into()),
            backend: backend.into(),
            handle: None,
            request: Value::Null,
            workflow_hash: String::new(),
            provenance: Default::default(),
            status: JobStatus::Queued { position: None },
            outputs: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hosted_backend_that_cannot_be_reached_loses_no_job() {
        let backend =
            crate::backend::cloud::ComfyCloud::builder("http://127.0.0.1:9").api_key("k").build().unwrap();
        let name = crate::backend::Backend::name(&backend).to_owned();
        let comfy = Comfy::builder(Arc::new(backend)).build().unwrap();
        let shared = JobShared::new(record(&name), 1);
        assert!(comfy.inner.note_read(&shared, &down()).is_none());
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(comfy.inner.note_read(&shared, &down()).is_none(), "its job goes on at the provider");
    }

    #[tokio::test(start_paused = true)]
    async fn a_backend_is_lost_only_after_failing_every_read_for_the_limit() {
        let backend = Arc::new(LocalComfyUi::builder("http://127.0.0.1:9").build().unwrap());
        let options = ClientOptions { unreachable_after: Duration::from_secs(60), ..Default::default() };
        let comfy = Comfy::builder(backend).options(options).build().unwrap();
        let record = JobRecord {
            id: JobId("j".into()),
            backend: "a".into(),
            handle: None,
            request: Value::Null,
            workflow_hash: String::new(),
            provenance: Default::default(),
            status: JobStatus::Queued { position: None },
            outputs: Vec::new(),
            created_at: 0,
            updated_at: 0,
        };
        let shared = JobShared::new(record, 1);
        let inner = &comfy.inner;
        assert!(inner.note_read(&shared, &down()).is_none());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(inner.note_read(&shared, &down()).is_none(), "not yet");
        // One answer (even "not found") starts the count again.
        let not_found: Result<()> = Err(Error::JobNotFound { backend: "a".into(), job_id: "j".into() });
        assert!(inner.note_read(&shared, &not_found).is_none());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(inner.note_read(&shared, &down()).is_none(), "counted from the first failure after it");
        tokio::time::advance(Duration::from_secs(30)).await;
        let timeout: Result<()> = Err(Error::Timeout { operation: "GET /history".into(), after_ms: 2_000 });
        assert!(inner.note_read(&shared, &timeout).is_none());
        tokio::time::advance(Duration::from_secs(30)).await;
        match inner.note_read(&shared, &down()) {
            Some(lost @ Lost::Unreachable { after, .. }) => {
                assert_eq!(after, Duration::from_secs(60));
                assert_eq!(lost.code(), "backend_lost");
                let said = lost.describe("a");
                assert!(
                    said.contains("backend a has not answered for 60 s") && said.contains("refused"),
                    "{said}"
                );
            }
            other => panic!("lost after 60 s, got {other:?}"),
        }
    }
}
