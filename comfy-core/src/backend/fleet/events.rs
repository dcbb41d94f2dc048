//! The members' event channels forwarded into the fleet's one channel. An event without a job
//! id is addressed here to the job its member runs now (another member's job must never get
//! it), a job seen finished stops counting as its member's load, and a member's events about a
//! job that runs elsewhere (resubmitted after it was lost there) are dropped.

use std::sync::{Arc, Weak};

use tokio::sync::broadcast;

use super::{Fleet, lock};
use crate::backend::{BackendEvent, JobEvent};

/// One forwarding task per member; they end when the fleet is dropped (aborted) or a member's
/// channel closes.
pub(super) fn spawn_forwarders(fleet: &Arc<Fleet>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..fleet.members.len())
        .map(|i| {
            let events = fleet.members[i].spec.backend.events();
            tokio::spawn(forward(Arc::downgrade(fleet), i, events))
        })
        .collect()
}

async fn forward(fleet: Weak<Fleet>, i: usize, mut events: broadcast::Receiver<BackendEvent>) {
    loop {
        let received = events.recv().await;
        let Some(fleet) = fleet.upgrade() else { return };
        let event = match received {
            Ok(event) => event,
            // Events were missed: whoever listens reconciles on a (re)connect.
            Err(broadcast::error::RecvError::Lagged(_)) => BackendEvent::Connected,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if let Some(event) = fleet.address(i, event) {
            let _ = fleet.events.send(event);
        }
    }
}

impl Fleet {
    /// `event` from member `i` as the fleet forwards it (`None`: dropped).
    fn address(&self, i: usize, event: BackendEvent) -> Option<BackendEvent> {
        let member = &self.members[i];
        match self.translate(i, event) {
            // A job abandoned on this member (resubmitted elsewhere), or another member's.
            BackendEvent::Job { job_id, .. } if self.not_from(i, &job_id) => None,
            BackendEvent::Job { job_id, event } => {
                match &event {
                    JobEvent::Started | JobEvent::Executing { .. } => {
                        *lock(&member.running) = Some(job_id.clone());
                    }
                    JobEvent::Succeeded | JobEvent::Failed(_) | JobEvent::Interrupted | JobEvent::Done => {
                        let mut running = lock(&member.running);
                        if running.as_ref() == Some(&job_id) {
                            *running = None;
                        }
                        drop(running);
                        self.finished(i, &job_id);
                    }
                    _ => {}
                }
                Some(BackendEvent::Job { job_id, event })
            }
            BackendEvent::Unaddressed(event) => {
                let job_id = lock(&member.running).clone()?;
                (!self.not_from(i, &job_id)).then_some(BackendEvent::Job { job_id, event })
            }
            other => Some(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::Backend;
    use crate::backend::fleet::FleetMember;
    use crate::backend::local::LocalComfyUi;
    use crate::connect::RoutingConfig;
    use crate::job::JobId;

    fn member(name: &str) -> FleetMember {
        let backend: Arc<dyn Backend> =
            Arc::new(LocalComfyUi::builder("http://127.0.0.1:9").build().unwrap());
        FleetMember::new(name, backend)
    }

    #[tokio::test]
    async fn events_without_a_job_id_go_to_the_job_their_member_runs() {
        let fleet = Fleet::new(vec![member("a"), member("b")], RoutingConfig::default()).unwrap();
        let j1 = JobId("j1".into());
        lock(&fleet.members[0].in_flight).insert(j1.clone());
        let progress = JobEvent::Progress { node_id: None, value: 1, max: 2 };
        assert_eq!(fleet.address(0, BackendEvent::Unaddressed(progress.clone())), None, "a runs nothing yet");
        let started = BackendEvent::Job { job_id: j1.clone(), event: JobEvent::Started };
        assert_eq!(fleet.address(0, started.clone()), Some(started));
        assert_eq!(
            fleet.address(0, BackendEvent::Unaddressed(progress.clone())),
            Some(BackendEvent::Job { job_id: j1.clone(), event: progress.clone() })
        );
        // b's unaddressed events never reach a's job.
        assert_eq!(fleet.address(1, BackendEvent::Unaddressed(progress.clone())), None);
        fleet.address(0, BackendEvent::Job { job_id: j1.clone(), event: JobEvent::Done });
        assert!(lock(&fleet.members[0].in_flight).is_empty(), "a finished job is no longer load");
        assert_eq!(fleet.address(0, BackendEvent::Unaddressed(progress)), None);
    }

    #[tokio::test]
    async fn a_reattached_job_hears_only_the_member_its_record_names() {
        let fleet = Fleet::new(vec![member("a"), member("b")], RoutingConfig::default()).unwrap();
        let j = JobId("j".into());
        let on_b = crate::backend::JobRef { id: j.clone(), handle: None, backend: Some("b".into()) };
        assert_eq!(fleet.member_for(&on_b).unwrap(), Some(1));
        let done = BackendEvent::Job { job_id: j, event: JobEvent::Succeeded };
        assert_eq!(fleet.address(0, done.clone()), None, "a's copy (before a restart) is not heard");
        assert_eq!(fleet.address(1, done.clone()), Some(done));
    }

    #[tokio::test]
    async fn events_of_a_job_abandoned_on_a_member_are_dropped() {
        let fleet = Fleet::new(vec![member("a"), member("b")], RoutingConfig::default()).unwrap();
        let j1 = JobId("j1".into());
        // j1 was lost with a and now runs on b.
        lock(&fleet.abandoned).insert(j1.clone(), 0);
        lock(&fleet.jobs).insert(j1.clone(), 1);
        let done = |event| BackendEvent::Job { job_id: j1.clone(), event };
        assert_eq!(fleet.address(0, done(JobEvent::Succeeded)), None, "a's old copy never finishes it");
        *lock(&fleet.members[0].running) = Some(j1.clone());
        let progress = JobEvent::Progress { node_id: None, value: 1, max: 2 };
        assert_eq!(fleet.address(0, BackendEvent::Unaddressed(progress)), None);
        assert_eq!(fleet.address(1, done(JobEvent::Started)), Some(done(JobEvent::Started)));
    }
}
