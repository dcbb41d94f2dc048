//! A job lost with the member that accepted it, submitted again to another member under the
//! same id; the lost member's copy is abandoned (its events dropped, cancelled when it is back).

use std::sync::atomic::Ordering;

use super::{Fleet, lock};
use crate::backend::{JobRef, JobRequest, Submitted};
use crate::error::{Error, Result};

impl Fleet {
    /// Submits `request` (whose `job_id` is the lost job's id) again, to the best healthy
    /// member other than `lost` (the configured name of the member it was lost with). The job
    /// keeps its id, also on a member that chooses its own (see `alias`). `unreachable`: the lost member stopped
    /// answering (it is taken out of routing until a health check passes).
    ///
    /// From now on events of `lost` about this job are dropped, so a member that comes back
    /// cannot finish its old copy into the job; a health check that finds it back cancels
    /// that copy.
    pub async fn resubmit(&self, request: &JobRequest, lost: &str, unreachable: bool) -> Result<Submitted> {
        let i = self.index_of(lost).ok_or_else(|| self.unknown(lost))?;
        let id = request.job_id.clone().ok_or_else(|| Error::InvalidArgument {
            argument: "job_id".into(),
            message: "a resubmission keeps the lost job's id".into(),
        })?;
        let member = &self.members[i];
        if unreachable {
            member.set_health(false, Some(format!("lost job {id}: it stopped answering")));
        }
        lock(&member.in_flight).remove(&id);
        {
            let mut running = lock(&member.running);
            if running.as_ref() == Some(&id) {
                *running = None;
            }
        }
        lock(&self.abandoned).insert(id.clone(), i);
        lock(&self.jobs).remove(&id);
        let order = self.plan(request, Some(i)).await?;
        lock(&self.submitting).insert(id.clone());
        let sent = self.submit_along(&order, request).await;
        lock(&self.submitting).remove(&id);
        let sent = sent.map(|s| match self.member_of(&s.job_id).and_then(|name| self.index_of(&name)) {
            // A member that chose its own id (a hosted one): the job keeps ours.
            Some(to) => self.keep_id(to, &id, s),
            None => s,
        });
        if let Ok(s) = &sent {
            tracing::warn!(job = %id, from = lost, to = ?self.member_of(&s.job_id), "lost job resubmitted");
        }
        sent
    }

    /// Whether member `i`'s events about `job` are to be dropped: the job was abandoned on it,
    /// or it runs on another member.
    pub(crate) fn not_from(&self, i: usize, job: &crate::job::JobId) -> bool {
        lock(&self.abandoned).get(job) == Some(&i) || lock(&self.jobs).get(job).is_some_and(|&j| j != i)
    }

    /// Cancels the copies of abandoned jobs on the members that answer again (best effort:
    /// a member that restarted has forgotten them anyway); a copy whose cancel was answered is
    /// forgotten.
    pub(crate) async fn cancel_abandoned(&self) {
        let abandoned: Vec<_> = lock(&self.abandoned)
            .iter()
            .filter(|(_, i)| self.members[**i].healthy.load(Ordering::SeqCst))
            .map(|(id, i)| (id.clone(), *i))
            .collect();
        for (id, i) in abandoned {
            let member = &self.members[i];
            let job = JobRef { id: id.clone(), handle: None, backend: Some(member.spec.name.clone()) };
            match member.spec.backend.cancel_of(&job).await {
                Ok(outcome) => {
                    tracing::info!(job = %id, backend = %member.spec.name, ?outcome, "abandoned copy cancelled");
                    lock(&self.abandoned).remove(&id);
                }
                Err(Error::JobNotFound { .. }) => {
                    lock(&self.abandoned).remove(&id);
                }
                Err(e) => {
                    tracing::debug!(job = %id, backend = %member.spec.name, error = %e, "abandoned copy not cancelled yet")
                }
            }
        }
    }
}
