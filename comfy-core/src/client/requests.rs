//! RunComfy requests as jobs: a request submitted with overrides against a deployment is
//! recorded, followed and reattached like any other job (its outputs become assets), and the
//! request tools answer from that record; a request id this client never recorded is asked of
//! RunComfy directly.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::{Comfy, Job, Waited, lock};
use crate::backend::runcomfy::{RequestCancel, RequestHandle, RequestResult, RequestSpec, RequestStatus};
use crate::backend::{JobRequest, Submitted};
use crate::error::{Error, Result};
use crate::job::JobId;
use crate::store::JobRecord;
use crate::workflow::Workflow;

/// A request submitted to a RunComfy deployment, with its status and result when waited for.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SubmittedRequest {
    /// The job it is recorded as (RunComfy's request id): the job tools (status, outputs,
    /// cancel, assets, regenerate) work on it.
    pub job_id: String,
    /// Where to find it (request_id for the request tools).
    #[serde(flatten)]
    pub handle: RequestHandle,
    /// Its status, when waited for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RequestStatus>,
    /// Its result, when it finished within the wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<RequestResult>,
}

/// Credentials a caller may pass in `extra_data`: sent, never recorded.
const SECRET_EXTRA: [&str; 2] = ["api_key_comfy_org", "auth_token_comfy_org"];

impl Comfy {
    /// Submits a request to a RunComfy deployment (overrides of its saved workflow, checked
    /// first, or an inline workflow) as a job: recorded with its handle (deployment, request
    /// id) and the graph that runs, followed to the end, its outputs recorded as assets, and
    /// reattached after a restart. Never retried once it may have reached RunComfy. Runs under
    /// the running-jobs cap. On another backend: [`Error::NotSupported`].
    pub async fn submit_request(&self, spec: &RequestSpec) -> Result<Job> {
        self.submit_request_with(spec, Default::default()).await
    }

    /// Submits a regeneration ([`Comfy::prepare_regenerate`]): on RunComfy, on the deployment
    /// the source output was made on (when that is not the configured one); elsewhere, like
    /// [`submit`](Self::submit).
    pub async fn submit_regeneration(&self, regeneration: super::Regeneration) -> Result<Job> {
        let Some(rc) = self.inner.backend.as_runcomfy() else {
            return self.submit(regeneration.prepared.into_request()).await;
        };
        let configured = rc.config().deployment_id.clone();
        match self.recorded_request(regeneration.source.job_id.as_str()).await {
            Ok(Some((_, handle))) if configured.as_deref() != Some(handle.deployment_id.as_str()) => {
                let prepared = regeneration.prepared;
                let spec = RequestSpec {
                    deployment_id: Some(handle.deployment_id),
                    workflow_api_json: Some(prepared.workflow.to_value()),
                    ..Default::default()
                };
                self.submit_request_with(&spec, prepared.provenance).await
            }
            _ => self.submit(regeneration.prepared.into_request()).await,
        }
    }

    async fn submit_request_with(
        &self,
        spec: &RequestSpec,
        provenance: crate::job::Provenance,
    ) -> Result<Job> {
        let rc = self.runcomfy()?.clone();
        let outgoing = rc.prepare_request(spec, true).await?;
        let workflow = match &outgoing.graph {
            Some(graph) => Workflow::from_value(graph.clone()).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "the deployment's workflow is recorded as empty");
                Workflow::default()
            }),
            None => Workflow::default(),
        };
        let mut request = JobRequest::new(workflow);
        request.provenance = provenance;
        request.extra_data = spec.extra_data.clone().unwrap_or_default();
        for key in SECRET_EXTRA {
            request.extra_data.remove(key);
        }
        let note = json!({"runcomfy": {
            "deployment_id": outgoing.deployment_id,
            "overrides": spec.overrides,
            "inline": spec.workflow_api_json.is_some(),
        }});
        let via = Box::pin(async move {
            let handle = rc.send_request(&outgoing).await?;
            Ok(Submitted {
                job_id: JobId(handle.request_id.clone()),
                handle: serde_json::to_value(&handle).ok(),
                number: None,
                node_errors: Value::Null,
            })
        });
        self.submit_via(request, Some((via, note))).await
    }

    /// [`submit_request`](Self::submit_request), then with `wait` waits up to that long: the
    /// answer carries the request's status and, once it finished, its result.
    pub async fn run_request(&self, spec: &RequestSpec, wait: Option<Duration>) -> Result<SubmittedRequest> {
        let job = self.submit_request(spec).await?;
        let record = job.record();
        let handle = handle_in(&record).ok_or_else(|| Error::UnexpectedResponse {
            backend: record.backend.clone(),
            operation: "submit_request".into(),
            message: "the submitted request has no handle".into(),
        })?;
        let mut answer = SubmittedRequest { job_id: job.id().0.clone(), handle, status: None, result: None };
        let Some(timeout) = wait else { return Ok(answer) };
        let id = answer.job_id.clone();
        answer.status = Some(match job.wait(timeout).await? {
            Waited::Finished(_) => {
                answer.result = Some(self.request_result(None, &id).await?);
                self.request_status(None, &id).await?
            }
            Waited::StillRunning(_) => self.request_status(None, &id).await?,
        });
        Ok(answer)
    }

    /// A request's status, found by its recorded handle (any deployment), else on
    /// `deployment_id` (default: the configured one). A finished job RunComfy no longer knows
    /// answers from its record.
    pub async fn request_status(
        &self,
        deployment_id: Option<&str>,
        request_id: &str,
    ) -> Result<RequestStatus> {
        let rc = self.runcomfy()?;
        let Some((record, handle)) = self.recorded_request(request_id).await? else {
            return rc.request_status(deployment_id, request_id).await;
        };
        match rc.status_by(&handle).await {
            Err(Error::JobNotFound { .. }) if record.status.is_terminal() => Ok(RequestStatus {
                request_id: handle.request_id,
                status: record.status.name().to_owned(),
                queue_position: None,
                instance_id: None,
                finished: true,
            }),
            other => other,
        }
    }

    /// A request's result: a finished job's recorded outputs (the same URLs its assets have),
    /// else RunComfy's answer (by the recorded handle, or on `deployment_id`).
    pub async fn request_result(
        &self,
        deployment_id: Option<&str>,
        request_id: &str,
    ) -> Result<RequestResult> {
        let rc = self.runcomfy()?;
        match self.recorded_request(request_id).await? {
            Some((record, handle)) if record.status.is_terminal() => {
                Ok(RequestResult::from_record(&handle.request_id, &record.status, &record.outputs))
            }
            Some((_, handle)) => rc.result_by(&handle).await,
            None => rc.request_result(deployment_id, request_id).await,
        }
    }

    /// Cancels a request (by its recorded handle, else on `deployment_id`); a recorded job is
    /// then brought up to date from RunComfy.
    pub async fn cancel_request(
        &self,
        deployment_id: Option<&str>,
        request_id: &str,
    ) -> Result<RequestCancel> {
        let rc = self.runcomfy()?;
        let Some((_, handle)) = self.recorded_request(request_id).await? else {
            return rc.cancel_request(deployment_id, request_id).await;
        };
        let answer = rc.cancel_by(&handle).await?;
        let tracked = lock(&self.inner.jobs).get(&JobId(handle.request_id.clone())).cloned();
        if let Some(shared) = tracked {
            self.inner.clone().spawn_reconcile_one(shared);
        }
        Ok(answer)
    }

    /// The record and handle of a request this client submitted or followed on this backend.
    async fn recorded_request(&self, request_id: &str) -> Result<Option<(JobRecord, RequestHandle)>> {
        let id = JobId(request_id.trim().to_owned());
        if id.0.is_empty() {
            return Err(Error::InvalidArgument { argument: "request_id".into(), message: "is empty".into() });
        }
        let live = lock(&self.inner.jobs).get(&id).map(|shared| lock(&shared.record).clone());
        let record = match live {
            Some(r) => Some(r),
            None => self.inner.store.get_job(&id).await?,
        };
        // A caller that does not see everything reaches only its own recorded requests: no other
        // owner's, and nothing asked of RunComfy directly.
        if !self.caller.sees_all()
            && !record.as_ref().is_some_and(|r| self.caller.may_see_provenance(&r.provenance))
        {
            return Err(self.job_not_found(&id));
        }
        Ok(record
            .filter(|r| r.backend == self.inner.backend.name())
            .and_then(|r| handle_in(&r).map(|h| (r, h))))
    }
}

/// The RunComfy handle recorded with a job.
fn handle_in(record: &JobRecord) -> Option<RequestHandle> {
    record.handle.as_ref().and_then(|h| serde_json::from_value(h.clone()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobStatus;

    #[test]
    fn the_handle_comes_from_the_record() {
        let mut record = JobRecord {
            id: JobId("r1".into()),
            backend: "runcomfy".into(),
            handle: None,
            request: Value::Null,
            workflow_hash: String::new(),
            provenance: Default::default(),
            status: JobStatus::Succeeded,
            outputs: Vec::new(),
            created_at: 0,
            updated_at: 0,
        };
        assert!(handle_in(&record).is_none());
        record.handle = Some(json!({"deployment_id": "d2", "request_id": "r1"}));
        assert_eq!(handle_in(&record).map(|h| h.deployment_id), Some("d2".to_owned()));
    }
}
