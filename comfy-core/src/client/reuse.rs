//! Result reuse ([`Comfy::submit_with`]): an identical submission of the same owner attaches to
//! the job already running it (in-flight dedup, on by default), and, when the caller allows it
//! (`reuse`), an identical graph that already succeeded answers at once with that job's outputs.
//!
//! "Identical" is the canonical hash of the graph ([`Workflow::canonical_hash`], seeds included)
//! plus the output nodes asked for, on this client's backend. Reuse never crosses owners: the
//! owner recorded on the job ([`Caller`](crate::Caller), [`Provenance::owner`]) is part of the key.
//!
//! In-flight claims are kept in this client's memory ([`Claims`]) on an embedded store, and in
//! the store itself on a store several servers share ([`SharedState::claim`]): an identical
//! submission through another server attaches to the same job.
//!
//! [`SharedState::claim`]: crate::store::SharedState::claim
//!
//! [`Workflow::canonical_hash`]: crate::workflow::Workflow::canonical_hash
//! [`Provenance::owner`]: crate::job::Provenance

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use super::{Comfy, Job, lock};
use crate::backend::JobRequest;
use crate::error::Result;
use crate::job::{JobId, JobStatus, OutputItem};
use crate::store::shared::CLAIM_TTL;
use crate::store::{JobQuery, SharedClaim, SharedState, now_millis};

/// How often a submission waiting on another server's claim looks again.
const CLAIM_POLL: Duration = Duration::from_millis(50);

/// How a submission may reuse earlier work ([`Comfy::submit_with`]).
///
/// The default attaches an identical submission of the same owner to its unfinished job
/// (`dedup: true`): asking twice for the same graph while it runs is almost always a retry or a
/// double click, and running it twice costs GPU time (or money on a hosted backend) for the same
/// result. Returning an earlier *finished* result is a choice only the caller can make (a graph
/// may read inputs that changed since), so `reuse` is off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Attach to an unfinished identical job of the same owner instead of running again.
    pub dedup: bool,
    /// Answer with the outputs of an identical job of the same owner that already succeeded.
    pub reuse: bool,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        SubmitOptions { dedup: true, reuse: false }
    }
}

/// How a submission reused an earlier job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReuseKind {
    /// Attached to an identical job that was still unfinished.
    InFlight,
    /// Answered with the outputs of an identical job that had succeeded.
    Cached,
}

/// The earlier job a submission reused instead of running again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ReusedFrom {
    /// The job it reused (the handle returned is that job's).
    pub job_id: String,
    /// `in_flight` or `cached`.
    pub kind: ReuseKind,
}

/// The answer to [`Comfy::submit_with`]: the job, and whether it is an earlier one reused.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The job (a new one, or the earlier one reused).
    pub job: Job,
    /// Set when nothing new was submitted.
    pub reused_from: Option<ReusedFrom>,
}

impl Submission {
    /// Whether the job was started by this submission (so cancelling it on the caller's behalf
    /// cancels nobody else's work).
    pub fn is_new(&self) -> bool {
        self.reused_from.is_none()
    }
}

/// This client's claims on unfinished work: identity key → the job running it (`None` while
/// the claimant is still submitting).
#[derive(Debug, Default)]
pub(crate) struct Claims {
    map: Mutex<HashMap<String, watch::Receiver<Option<JobId>>>>,
}

/// What [`Claims::claim`] found.
pub(crate) enum Claim<'a> {
    /// Nobody runs it: submit, then [`ClaimGuard::settle`] (dropping the guard gives it up).
    Mine(ClaimGuard<'a>),
    /// Someone does (or is submitting it): wait for its job id.
    Theirs(watch::Receiver<Option<JobId>>),
}

/// A claim being submitted; given up (waiters try again) when dropped unsettled.
pub(crate) struct ClaimGuard<'a> {
    claims: &'a Claims,
    key: String,
    tx: watch::Sender<Option<JobId>>,
}

impl Claims {
    /// Claims `key`, unless a live claim holds it (`live` says whether a settled job still runs).
    pub(crate) fn claim(&self, key: &str, live: impl Fn(&JobId) -> bool) -> Claim<'_> {
        let mut map = lock(&self.map);
        if let Some(rx) = map.get(key) {
            let held = match &*rx.borrow() {
                None => true,
                Some(id) => live(id),
            };
            if held {
                return Claim::Theirs(rx.clone());
            }
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.to_owned(), rx);
        Claim::Mine(ClaimGuard { claims: self, key: key.to_owned(), tx })
    }

    /// Drops the claim settled on `id` (its job finished).
    pub(crate) fn release(&self, id: &JobId) {
        lock(&self.map).retain(|_, rx| rx.borrow().as_ref() != Some(id));
    }

    /// How many claims are held (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.map).len()
    }
}

impl ClaimGuard<'_> {
    /// The claim's job is `id`: waiters attach to it.
    pub(crate) fn settle(self, id: JobId) {
        self.tx.send_replace(Some(id));
        // Drop runs next and sees a settled claim: it stays.
    }
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        if self.tx.borrow().is_some() {
            return;
        }
        let mut map = lock(&self.claims.map);
        if map.get(&self.key).is_some_and(|rx| rx.same_channel(&self.tx.subscribe())) {
            map.remove(&self.key);
        }
    }
}

/// The identity of a submission for reuse: owner, graph hash and the outputs asked for.
fn claim_key(owner: Option<&str>, hash: &str, outputs: &Value) -> String {
    serde_json::json!([owner, hash, outputs]).to_string()
}

impl Comfy {
    /// [`submit`](Self::submit) with result reuse ([`SubmitOptions`]): an identical unfinished
    /// job of the same owner is attached to (with `dedup`), an identical succeeded one answers
    /// at once (with `reuse`), else a new job is submitted. [`Submission::reused_from`] says
    /// which. Cancelling an attached job cancels it for everyone attached. A request with its
    /// own `job_id` is always submitted anew.
    pub async fn submit_with(&self, mut request: JobRequest, options: SubmitOptions) -> Result<Submission> {
        self.caller.stamp(&mut request.provenance);
        let hash = request.workflow.canonical_hash();
        let owner = request.provenance.owner.clone();
        let outputs = serde_json::to_value(&request.outputs).unwrap_or(Value::Null);
        if options.reuse
            && let Some(job) = self
                .succeeded_identical(&hash, owner.as_deref(), &outputs, request.backend.as_deref())
                .await?
        {
            tracing::info!(job = %job.id(), "identical graph already succeeded: its outputs are reused");
            let reused_from = Some(ReusedFrom { job_id: job.id().0.clone(), kind: ReuseKind::Cached });
            return Ok(Submission { job, reused_from });
        }
        if !options.dedup || request.job_id.is_some() {
            return Ok(Submission { job: self.submit(request).await?, reused_from: None });
        }
        // A pinned submission is only the same as one pinned to the same backend.
        let key = match request.backend.as_deref() {
            Some(pin) => format!("{}@{pin}", claim_key(owner.as_deref(), &hash, &outputs)),
            None => claim_key(owner.as_deref(), &hash, &outputs),
        };
        if let Some(c) = &self.inner.coordination {
            return self.submit_claimed_shared(c.state.clone(), &key, request).await;
        }
        // A claimant that fails to submit gives its claim up: its waiters try again (each may
        // become the claimant). Bounded, so a backend that keeps refusing cannot loop forever.
        for _ in 0..3 {
            let claim = self
                .inner
                .claims
                .claim(&key, |id| lock(&self.inner.jobs).get(id).is_some_and(|shared| !shared.is_terminal()));
            match claim {
                Claim::Mine(guard) => {
                    let job = self.submit(request).await?;
                    guard.settle(job.id().clone());
                    if job.status().is_terminal() {
                        // Finished before the claim was settled: `finish` found nothing to release.
                        self.inner.claims.release(job.id());
                    }
                    return Ok(Submission { job, reused_from: None });
                }
                Claim::Theirs(mut rx) => {
                    let settled = rx.wait_for(Option::is_some).await.ok().and_then(|id| id.clone());
                    let Some(id) = settled else { continue };
                    let job = self.job(&id).await?;
                    tracing::info!(job = %id, "identical submission attached to the unfinished job");
                    let reused_from = Some(ReusedFrom { job_id: id.0, kind: ReuseKind::InFlight });
                    return Ok(Submission { job, reused_from });
                }
            }
        }
        Ok(Submission { job: self.submit(request).await?, reused_from: None })
    }

    /// In-flight dedup through the shared store's claims: the claimant submits; the others wait
    /// (polling) until its job is known and attach to it. A claimant that fails gives the claim
    /// up; a claimant that stops (or a claim older than [`CLAIM_TTL`]) is taken over.
    async fn submit_claimed_shared(
        &self,
        state: Arc<dyn SharedState>,
        key: &str,
        request: JobRequest,
    ) -> Result<Submission> {
        // Waiting for a claimant that is still submitting: at most CLAIM_TTL, then it is stale.
        let polls = CLAIM_TTL.as_millis() / CLAIM_POLL.as_millis() + 1;
        for _ in 0..polls {
            match state.claim(key, CLAIM_TTL, self.inner.options.dead_server_after).await? {
                SharedClaim::Mine => {
                    // The claim names the job before the backend sees it: a retry through
                    // another server attaches to it even if this one dies mid-submission.
                    let mut request = request;
                    let id = JobId(uuid::Uuid::new_v4().to_string());
                    request.job_id = Some(id.clone());
                    state.settle_claim(key, &id).await?;
                    let job = match self.submit(request).await {
                        Ok(job) => job,
                        Err(e) => {
                            if let Err(drop_error) = state.drop_claim(key, Some(&id)).await {
                                tracing::debug!(error = %drop_error, "could not give a claim up");
                            }
                            return Err(e);
                        }
                    };
                    if job.id() != &id
                        && let Err(e) = state.settle_claim(key, job.id()).await
                    {
                        // The backend gave the job its own id.
                        tracing::warn!(job = %job.id(), error = %e, "could not settle a dedup claim");
                    }
                    if job.status().is_terminal() {
                        // Finished before the claim was settled: `finish` released nothing.
                        let _ = state.drop_claim(key, Some(job.id())).await;
                    }
                    return Ok(Submission { job, reused_from: None });
                }
                SharedClaim::Held(Some(id)) => {
                    let job = self.job(&id).await?;
                    tracing::info!(job = %id, "identical submission attached to the unfinished job");
                    let reused_from = Some(ReusedFrom { job_id: id.0, kind: ReuseKind::InFlight });
                    return Ok(Submission { job, reused_from });
                }
                SharedClaim::Held(None) => tokio::time::sleep(CLAIM_POLL).await,
            }
        }
        Ok(Submission { job: self.submit(request).await?, reused_from: None })
    }

    /// The newest job of this backend (of the pinned one, with `pin`) with this owner, graph
    /// and outputs that succeeded and whose outputs have not expired.
    async fn succeeded_identical(
        &self,
        hash: &str,
        owner: Option<&str>,
        outputs: &Value,
        pin: Option<&str>,
    ) -> Result<Option<Job>> {
        let query = JobQuery {
            workflow_hash: Some(hash.to_owned()),
            owner: owner.map(str::to_owned),
            backend: self.inner.backend_filter(),
            limit: 50,
            ..Default::default()
        };
        let now = now_millis();
        for record in self.inner.store.list_jobs(&query).await? {
            let same = self.inner.runs_backend(&record.backend)
                && pin.is_none_or(|p| self.inner.matches_pin(&record.backend, p))
                && record.status == JobStatus::Succeeded
                && record.provenance.owner.as_deref() == owner
                && record.request.get("outputs").unwrap_or(&Value::Null) == outputs
                && !record.outputs.is_empty()
                && record.outputs.iter().all(|o| match &o.item {
                    OutputItem::Url { expires_at: Some(at), .. } => *at > now,
                    _ => true,
                });
            if same {
                return self.job(&record.id).await.map(Some);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_held_until_given_up_or_its_job_finishes() {
        let claims = Claims::default();
        let Claim::Mine(guard) = claims.claim("k", |_| true) else { panic!("first claim is mine") };
        assert!(matches!(claims.claim("k", |_| true), Claim::Theirs(_)), "held while submitting");
        drop(guard);
        assert_eq!(claims.len(), 0, "an unsettled claim dropped is given up");
        let Claim::Mine(guard) = claims.claim("k", |_| true) else { panic!("free again") };
        guard.settle(JobId::from("j"));
        assert!(matches!(claims.claim("k", |_| true), Claim::Theirs(_)), "held while the job runs");
        assert!(matches!(claims.claim("other", |_| true), Claim::Mine(_)), "keys are separate");
        claims.release(&JobId::from("j"));
        assert!(matches!(claims.claim("k", |_| true), Claim::Mine(_)), "released when it finished");
        // A settled claim whose job is no longer live is stale: taken over.
        let claims = Claims::default();
        let Claim::Mine(guard) = claims.claim("k", |_| false) else { panic!() };
        guard.settle(JobId::from("old"));
        assert!(matches!(claims.claim("k", |_| false), Claim::Mine(_)));
    }

    #[test]
    fn owners_are_part_of_the_key() {
        let h = "abc";
        let out = Value::Null;
        assert_ne!(claim_key(Some("a"), h, &out), claim_key(Some("b"), h, &out));
        assert_ne!(claim_key(None, h, &out), claim_key(Some("a"), h, &out));
        assert_ne!(claim_key(None, h, &out), claim_key(None, h, &serde_json::json!(["9"])));
    }
}
