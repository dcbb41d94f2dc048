//! The event router: backend events → jobs, and reconciliation from the backend's own record
//! (`/history`, `/queue`) whenever events may have been missed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::broadcast;

use super::job::JobShared;
use super::{ClientInner, lock};
use crate::backend::{BackendEvent, JobEvent, RemoteJob};
use crate::error::Error;
use crate::job::{JobId, JobStatus, PreviewFrame, Progress};
use crate::store::now_millis;

/// How many status requests a reconciliation runs at once.
const RECONCILE_CONCURRENCY: usize = 8;

/// Runs until the client is dropped.
pub(crate) async fn route(client: Weak<ClientInner>, mut events: broadcast::Receiver<BackendEvent>) {
    let poll = match client.upgrade() {
        Some(c) => c.options.poll_interval.max(c.backend.poll_policy().min_interval),
        None => return,
    };
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_reconcile = Instant::now();
    let mut events_open = true;
    loop {
        tokio::select! {
            received = events.recv(), if events_open => {
                let Some(c) = client.upgrade() else { return };
                match received {
                    Ok(event) => c.on_event(event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "event router lagged; reconciling");
                        c.spawn_reconcile(false);
                    }
                    Err(broadcast::error::RecvError::Closed) => events_open = false,
                }
            }
            _ = tick.tick() => {
                let Some(c) = client.upgrade() else { return };
                let blind = !c.backend.events_connected();
                if blind || last_reconcile.elapsed() >= c.options.safety_interval {
                    last_reconcile = Instant::now();
                    c.spawn_reconcile(false);
                } else {
                    // Jobs whose events go to another client's socket.
                    c.spawn_reconcile(true);
                }
            }
        }
    }
}

impl ClientInner {
    fn shared(&self, id: &JobId) -> Option<Arc<JobShared>> {
        lock(&self.jobs).get(id).cloned()
    }

    pub(crate) fn on_event(self: &Arc<Self>, event: BackendEvent) {
        match event {
            BackendEvent::Job { job_id, event } => {
                if let Some(shared) = self.shared(&job_id) {
                    self.relay_event(&job_id, &event);
                    self.apply(&shared, event);
                }
            }
            BackendEvent::Unaddressed(event) => {
                let running = lock(&self.running).clone();
                if let Some(shared) = running.and_then(|id| self.shared(&id)) {
                    self.apply(&shared, event);
                }
            }
            // Reconnected: whatever happened while we were away is in /history and /queue.
            BackendEvent::Connected => self.clone().spawn_reconcile(false),
            BackendEvent::Disconnected { reason } => tracing::debug!(%reason, "events disconnected; polling"),
            BackendEvent::QueueRemaining(_) => self.clone().spawn_queue_positions(),
        }
    }

    /// Applies one live event to a job and forwards it to subscribers.
    pub(crate) fn apply(self: &Arc<Self>, shared: &Arc<JobShared>, event: JobEvent) {
        if shared.is_terminal() {
            return;
        }
        let mut persist_running = false;
        match &event {
            JobEvent::Started => {
                *lock(&self.running) = Some(shared.id.clone());
                persist_running = self.set_running(shared, |_| {});
            }
            JobEvent::Cached { nodes } => {
                lock(&shared.finished_nodes).extend(nodes.iter().cloned());
                persist_running = self.set_running(shared, |_| {});
            }
            JobEvent::Executing { node_id } => {
                *lock(&self.running) = Some(shared.id.clone());
                let class = class_of(shared, node_id);
                persist_running = self.set_running(shared, |p| {
                    p.node_id = Some(node_id.clone());
                    p.class_type = class;
                    p.step = None;
                    p.max_steps = None;
                });
            }
            JobEvent::NodeFinished { node_id } => {
                lock(&shared.finished_nodes).insert(node_id.clone());
                persist_running = self.set_running(shared, |_| {});
            }
            JobEvent::Progress { node_id, value, max } => {
                persist_running = self.set_running(shared, |p| {
                    if node_id.is_some() {
                        p.node_id = node_id.clone();
                    }
                    p.step = Some(*value);
                    p.max_steps = Some(*max);
                });
            }
            JobEvent::Outputs(outputs) => {
                shared.state.send_modify(|s| {
                    for o in outputs {
                        if !s
                            .outputs
                            .iter()
                            .any(|x| x.node_id == o.node_id && x.key == o.key && x.index == o.index)
                        {
                            s.outputs.push(o.clone());
                        }
                    }
                });
            }
            JobEvent::Succeeded | JobEvent::Failed(_) | JobEvent::Interrupted | JobEvent::Done => {
                if matches!(event, JobEvent::Done) {
                    shared.closed.notify_one();
                }
                if matches!(event, JobEvent::Succeeded) {
                    self.spawn_early_record(shared);
                }
                self.clone().spawn_finalize(shared.clone());
            }
            JobEvent::Preview { node_id, mime, data } => {
                let progress = shared.progress();
                let mut latest = lock(&shared.latest_preview);
                let sequence = latest.as_ref().map_or(1, |p| p.sequence + 1);
                *latest = Some(PreviewFrame {
                    node_id: node_id.clone().or(progress.node_id),
                    mime: mime.clone(),
                    data: data.clone(),
                    step: progress.step,
                    max_steps: progress.max_steps,
                    sequence,
                });
            }
            JobEvent::Text { .. } | JobEvent::Status(_) => {}
        }
        let _ = shared.events.send(event);
        if persist_running {
            let (store, record) = (self.store.clone(), lock(&shared.record).clone());
            tokio::spawn(async move {
                if let Err(e) = store.put_job(&record).await {
                    tracing::warn!(job = %record.id, error = %e, "could not record the running state");
                }
            });
        }
    }

    /// Moves a job to Running (updating progress); returns true the first time it starts running.
    fn set_running(&self, shared: &Arc<JobShared>, update: impl FnOnce(&mut Progress)) -> bool {
        let mut progress = shared.progress();
        let before = progress.fraction;
        update(&mut progress);
        let (done, current_finished) = {
            let finished = lock(&shared.finished_nodes);
            (finished.len() as u32, progress.node_id.as_ref().is_some_and(|n| finished.contains(n)))
        };
        progress.nodes_done = done;
        progress.nodes_total = shared.nodes_total.max(done);
        // Steps count only for a node that has not been counted as finished already.
        let step_part = match (progress.step, progress.max_steps) {
            (Some(v), Some(m)) if m > 0 && !current_finished => (v as f64 / m as f64).min(1.0),
            _ => 0.0,
        };
        let computed = if progress.nodes_total == 0 {
            0.0
        } else {
            ((done as f64 + step_part) / progress.nodes_total as f64).clamp(0.0, 0.999)
        };
        // Never report going backwards (events of one node can interleave with the next).
        progress.fraction = computed.max(before);
        let mut first = false;
        shared.state.send_modify(|s| {
            first = !matches!(s.status, JobStatus::Running(_));
            s.status = JobStatus::Running(progress.clone());
        });
        if first {
            let mut r = lock(&shared.record);
            r.status = JobStatus::Running(Progress::default());
            r.updated_at = now_millis();
        }
        first
    }

    /// Starts the durable write of a job that just succeeded, with the outputs its live events
    /// announced, while the backend is still writing its own final record.
    ///
    /// ComfyUI sends `execution_success` before it writes the history entry the finalizer reads;
    /// the sync to disk of the finished job (a few milliseconds) runs in that window instead of
    /// after it. `finish` waits for this write before it publishes the result, so the guarantee
    /// stands (a result a caller sees is on disk), and writes again only when the final record
    /// differs (outputs the live events did not carry: the upserts add them).
    fn spawn_early_record(&self, shared: &Arc<JobShared>) {
        let outputs = shared.snapshot().outputs;
        if outputs.is_empty() || !shared.settled.load(Ordering::SeqCst) {
            return;
        }
        let at = now_millis();
        let record = {
            let mut r = lock(&shared.record).clone();
            r.status = JobStatus::Succeeded;
            r.outputs = outputs;
            r.updated_at = at;
            r
        };
        let assets: Vec<_> =
            record.outputs.iter().map(|o| crate::store::Asset::from_output(&record, o, at)).collect();
        let store = self.store.clone();
        let early = record.clone();
        let written = tokio::spawn(async move {
            match store.put_job_with_assets(&record, &assets).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(job = %record.id, error = %e, "early record failed; the final write retries");
                    false
                }
            }
        });
        *lock(&shared.early_record) = Some(super::job::EarlyRecord { record: early, written });
    }

    /// Fetches the final status and every output from the backend, then finishes the job.
    pub(crate) fn spawn_finalize(self: Arc<Self>, shared: Arc<JobShared>) {
        if shared.finalizing.swap(true, Ordering::SeqCst) {
            return;
        }
        tokio::spawn(async move {
            // The terminal message can arrive just before the history entry is written (ComfyUI
            // sends `execution_success`, then writes the history, then `executing {node: null}`):
            // read again when the run is closed, or after a growing delay for backends that never
            // say so.
            let mut delay = Duration::from_millis(25);
            for _ in 0..12 {
                match self.backend.status_of(&shared.job_ref()).await {
                    Ok(remote) if remote.status.is_terminal() => {
                        self.finish_remote(&shared, remote).await;
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(job = %shared.id, error = %e, "final status not readable yet"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shared.closed.notified() => {}
                }
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            // Leave it to the periodic reconciliation.
            shared.finalizing.store(false, Ordering::SeqCst);
        });
    }

    async fn finish_remote(self: &Arc<Self>, shared: &Arc<JobShared>, remote: RemoteJob) {
        // The backend's record is authoritative; live outputs cover backends whose record has none.
        let outputs = if remote.outputs.is_empty() { shared.snapshot().outputs } else { remote.outputs };
        self.finish(shared, remote.status, outputs).await;
    }

    /// Reconciles unfinished jobs from the backend (only foreign ones when `foreign_only`).
    pub(crate) fn spawn_reconcile(self: Arc<Self>, foreign_only: bool) {
        let active: Vec<Arc<JobShared>> = lock(&self.jobs)
            .values()
            .filter(|s| !s.is_terminal() && (!foreign_only || s.foreign.load(Ordering::SeqCst)))
            .cloned()
            .collect();
        if active.is_empty() || self.reconciling.swap(true, Ordering::SeqCst) {
            return;
        }
        tokio::spawn(async move {
            futures::stream::iter(active)
                .for_each_concurrent(RECONCILE_CONCURRENCY, |shared| {
                    let me = self.clone();
                    async move { me.reconcile_one(shared).await }
                })
                .await;
            self.reconciling.store(false, Ordering::SeqCst);
        });
    }

    pub(crate) fn spawn_reconcile_one(self: Arc<Self>, shared: Arc<JobShared>) {
        tokio::spawn(async move { self.reconcile_one(shared).await });
    }

    /// Reconciles a job whose events may have been dropped before it was known under its
    /// backend's id: at once, then again after 1 s and 5 s while it is unfinished. A backend
    /// whose status lags its events can still say "running" at the first read, and the next
    /// safety reconciliation would be `safety_interval` (30 s) away.
    pub(crate) fn spawn_reconcile_rekeyed(self: Arc<Self>, shared: Arc<JobShared>) {
        tokio::spawn(async move {
            for wait in [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(4)] {
                tokio::time::sleep(wait).await;
                if shared.is_terminal() || shared.finalizing.load(Ordering::SeqCst) {
                    return;
                }
                self.reconcile_one(shared.clone()).await;
            }
        });
    }

    /// Reconciles `shared` again after `wait`.
    fn spawn_recheck(self: Arc<Self>, shared: Arc<JobShared>, wait: Duration) {
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            shared.recheck_scheduled.store(false, Ordering::SeqCst);
            self.reconcile_one(shared).await;
        });
    }

    async fn reconcile_one(self: &Arc<Self>, shared: Arc<JobShared>) {
        if shared.is_terminal() || shared.finalizing.load(Ordering::SeqCst) {
            return;
        }
        let lost_after = self.options.lost_after.max(self.backend.poll_policy().not_found_grace);
        let read = self.backend.status_of(&shared.job_ref()).await;
        if let Some(lost) = self.note_read(&shared, &read) {
            self.job_lost(&shared, lost).await;
            return;
        }
        match read {
            Ok(remote) if remote.status.is_terminal() => {
                if !shared.finalizing.swap(true, Ordering::SeqCst) {
                    self.finish_remote(&shared, remote).await;
                }
            }
            Ok(RemoteJob { status: JobStatus::Running(_), .. }) => {
                *lock(&self.running) = Some(shared.id.clone());
                if self.set_running(&shared, |_| {}) {
                    let _ = shared.events.send(JobEvent::Status(shared.snapshot().status));
                }
            }
            Ok(RemoteJob { status, .. }) => {
                // A read of the queue can be older than the live events: never move backwards
                // (a running job is not re-queued).
                set_waiting(&shared, status);
            }
            Err(Error::JobNotFound { .. }) if shared.created.elapsed() >= lost_after => {
                self.job_lost(&shared, super::lost::Lost::Forgotten).await;
            }
            Err(Error::JobNotFound { .. }) => {
                // Not lost yet: look again when it may be (no event need come to prompt it).
                let left = lost_after.saturating_sub(shared.created.elapsed());
                if !shared.recheck_scheduled.swap(true, Ordering::SeqCst) {
                    self.clone().spawn_recheck(shared, left);
                }
            }
            Err(e) => tracing::debug!(job = %shared.id, error = %e, "reconcile failed; will retry"),
        }
    }

    /// Refreshes queue positions of this client's waiting jobs.
    pub(crate) fn spawn_queue_positions(self: Arc<Self>) {
        let queued: Vec<Arc<JobShared>> = lock(&self.jobs)
            .values()
            .filter(|s| matches!(s.state.borrow().status, JobStatus::Queued { .. } | JobStatus::Pending))
            .cloned()
            .collect();
        if queued.is_empty() || !self.backend.capabilities().queue {
            return;
        }
        // One refresh at a time: a burst of queue changes costs one request.
        if self.refreshing_queue.swap(true, Ordering::SeqCst) {
            return;
        }
        tokio::spawn(async move {
            let queue = self.backend.queue().await;
            self.refreshing_queue.store(false, Ordering::SeqCst);
            let Ok(queue) = queue else { return };
            for shared in queued {
                if let Some(position) = queue.position(&shared.id) {
                    let status = JobStatus::Queued { position: Some(position) };
                    set_waiting(&shared, status);
                }
            }
        });
    }
}

/// Updates a job that is still waiting (Pending or Queued) to `status`, telling subscribers;
/// a job that has moved on is left alone.
fn set_waiting(shared: &JobShared, status: JobStatus) {
    let changed = shared.state.send_if_modified(|s| {
        let waiting = matches!(s.status, JobStatus::Pending | JobStatus::Queued { .. });
        if waiting && s.status != status {
            s.status = status.clone();
            true
        } else {
            false
        }
    });
    if changed {
        let _ = shared.events.send(JobEvent::Status(status));
    }
}

/// The class of a node of the job's workflow, from the recorded request.
fn class_of(shared: &JobShared, node_id: &str) -> Option<String> {
    let r = lock(&shared.record);
    r.request.get("workflow")?.get(node_id)?.get("class_type")?.as_str().map(str::to_owned)
}
