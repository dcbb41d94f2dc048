//! Working beside the other servers of a shared store ([`Store::shared`]): this client leases
//! the jobs it submits and the batches it pumps, says it is alive, takes over the leases of a
//! server that stopped, relays its backend's live job events to the others and applies theirs
//! to the jobs it follows for its callers.
//!
//! Nothing here runs on an embedded store (SQLite, memory): one process, nobody to coordinate
//! with. Every shared-state call is advisory: a failed one is logged and retried by the next
//! tick, never fails a job.
//!
//! [`Store::shared`]: crate::store::Store::shared

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{broadcast, mpsc};

use super::job::JobShared;
use super::{ClientInner, Comfy, WeakComfy, lock};
use crate::backend::JobEvent;
use crate::job::{JobFailure, JobId, JobStatus};
use crate::store::{SharedState, Signal, SignalBody, Subject};

/// Relayed events waiting to be published; more are dropped (receivers reconcile).
const RELAY_BUFFER: usize = 4096;
/// Relayed events sent in one batch at most.
const RELAY_BATCH: usize = 256;

/// This client's link to the shared state.
#[derive(Debug)]
pub(crate) struct Coordination {
    pub(crate) state: Arc<dyn SharedState>,
    relay: mpsc::Sender<SignalBody>,
    relay_rx: std::sync::Mutex<Option<mpsc::Receiver<SignalBody>>>,
}

impl Coordination {
    pub(crate) fn new(state: Arc<dyn SharedState>) -> Coordination {
        let (relay, rx) = mpsc::channel(RELAY_BUFFER);
        Coordination { state, relay, relay_rx: std::sync::Mutex::new(Some(rx)) }
    }
}

impl ClientInner {
    /// Leases a job this client just submitted (in the background).
    pub(crate) fn lease_job(&self, id: &JobId) {
        let Some(c) = &self.coordination else { return };
        let (state, subject) = (c.state.clone(), Subject::Job(id.clone()));
        let dead_after = self.options.dead_server_after;
        tokio::spawn(async move {
            if let Err(e) = state.take(std::slice::from_ref(&subject), dead_after).await {
                tracing::warn!(subject = %subject.key(), error = %e, "could not lease a job; another server may follow it too");
            }
        });
    }

    /// On a shared store whose backend takes our job ids: records the job (pending) before the
    /// backend may see it, so that a server dying mid-submission leaves a job the others find
    /// and follow (or fail clearly), never an unrecorded run that a client's retry would run
    /// again. True when it wrote the record.
    pub(crate) async fn record_before_submit(&self, shared: &JobShared) -> crate::Result<bool> {
        if self.coordination.is_none() || !self.backend.capabilities().client_job_ids {
            return Ok(false);
        }
        let record = lock(&shared.record).clone();
        self.store.put_job(&record).await?;
        Ok(true)
    }

    /// Records as failed a job recorded before its submission that the backend refused.
    pub(crate) async fn record_refused(&self, shared: &JobShared, error: &crate::Error) {
        let mut record = lock(&shared.record).clone();
        record.status = JobStatus::Failed(JobFailure {
            message: format!("the backend refused the job: {error}"),
            ..Default::default()
        });
        record.updated_at = crate::store::now_millis();
        if let Err(e) = self.store.put_job(&record).await {
            tracing::warn!(job = %record.id, error = %e, "could not record a refused submission");
        }
    }

    /// Lets a finished job's lease and dedup claims go and tells the other servers that it
    /// finished (in the background).
    pub(crate) fn release_job(&self, id: &JobId) {
        let Some(c) = &self.coordination else { return };
        let (state, id) = (c.state.clone(), id.clone());
        tokio::spawn(async move {
            if let Err(e) = state.publish(&SignalBody::Finished { job_id: id.clone() }).await {
                tracing::debug!(job = %id, error = %e, "could not tell the other servers a job finished");
            }
            let released = state.release(&Subject::Job(id.clone())).await;
            if let Err(e) = released.and(state.release_claims_of(&id).await) {
                tracing::debug!(job = %id, error = %e, "could not release a finished job's lease");
            }
        });
    }

    /// Relays a live event of a job this client submitted to the other servers.
    pub(crate) fn relay_event(&self, job_id: &JobId, event: &JobEvent) {
        let Some(c) = &self.coordination else { return };
        if matches!(event, JobEvent::Preview { .. } | JobEvent::Text { .. } | JobEvent::Status(_)) {
            return;
        }
        let foreign = lock(&self.jobs).get(job_id).is_some_and(|s| s.foreign.load(Ordering::SeqCst));
        if foreign {
            return;
        }
        let body = SignalBody::Job { job_id: job_id.clone(), event: event.clone() };
        if c.relay.try_send(body).is_err() {
            tracing::debug!(job = %job_id, "relay queue full; an event is not relayed");
        }
    }

    /// Applies a signal from another server.
    fn on_signal(self: &Arc<Self>, signal: Signal) {
        match signal.body {
            SignalBody::Job { job_id, event } => {
                let Some(shared) = lock(&self.jobs).get(&job_id).cloned() else { return };
                // Only jobs followed for callers here; our own get their events first-hand.
                if shared.foreign.load(Ordering::SeqCst) {
                    self.apply(&shared, event);
                }
            }
            SignalBody::Finished { job_id } => {
                let Some(shared) = lock(&self.jobs).get(&job_id).cloned() else { return };
                if shared.is_terminal() || shared.finalizing.load(Ordering::SeqCst) {
                    return;
                }
                let inner = self.clone();
                tokio::spawn(async move { inner.finish_as_recorded(&shared).await });
            }
            SignalBody::DefaultsChanged => {}
        }
    }

    /// Finishes a job another server recorded as finished (cancelled through it, say), with
    /// the recorded status and outputs.
    async fn finish_as_recorded(self: &Arc<Self>, shared: &Arc<super::job::JobShared>) {
        let record = match self.store.get_job(&shared.id).await {
            Ok(Some(record)) if record.status.is_terminal() => record,
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(job = %shared.id, error = %e, "could not read a job another server finished");
                return;
            }
        };
        if !shared.finalizing.swap(true, Ordering::SeqCst) {
            self.finish(shared, record.status, record.outputs).await;
        }
    }
}

/// Reads the shared runtime defaults into this client's runtime layer.
async fn load_shared_defaults(client: &Comfy, state: &Arc<dyn SharedState>) {
    match state.param_defaults().await {
        Ok(values) => client.update_param_defaults(|d| d.runtime = values),
        Err(e) => tracing::warn!(error = %e, "could not read the shared parameter defaults"),
    }
}

impl Comfy {
    /// Starts the coordination tasks (a client on a shared store only).
    pub(crate) fn start_coordination(&self) {
        let Some(c) = &self.inner.coordination else { return };
        let Some(relay) = lock(&c.relay_rx).take() else { return };
        let state = c.state.clone();
        tokio::spawn(publish_relayed(state.clone(), relay));
        let every = (self.inner.options.dead_server_after / 4).max(std::time::Duration::from_millis(100));
        tokio::spawn(coordinate(self.downgrade(), state.clone(), state.subscribe(), every));
    }

    /// Takes over the leases of stopped servers and follows what they left: each job to its
    /// end (recorded like ours), each batch's waiting items submitted. Returns what was taken.
    pub async fn take_over_orphans(&self) -> crate::Result<Vec<Subject>> {
        let Some(c) = &self.inner.coordination else { return Ok(Vec::new()) };
        let taken = c.state.take_orphans(self.inner.options.dead_server_after).await?;
        self.adopt(&taken).await;
        Ok(taken)
    }

    /// Follows taken subjects: jobs reattached, batches pumped.
    async fn adopt(&self, taken: &[Subject]) {
        for subject in taken {
            let adopted = match subject {
                Subject::Job(id) => self.find_job(id).await.map(|_| ()),
                Subject::Batch(id) => self.pump_batch(id).await.map(|_| ()),
            };
            match adopted {
                Ok(()) => tracing::info!(subject = %subject.key(), "took over from a stopped server"),
                Err(e) => tracing::warn!(subject = %subject.key(), error = %e, "could not take over"),
            }
        }
    }

    /// Whether this client submits the batch's waiting items: always on an embedded store; on
    /// a shared one when it holds (or now takes) the batch's lease.
    pub(super) async fn leases_batch(&self, id: &str) -> crate::Result<bool> {
        let Some(c) = &self.inner.coordination else { return Ok(true) };
        let subject = Subject::Batch(id.to_owned());
        let dead_after = self.inner.options.dead_server_after;
        Ok(c.state.take(std::slice::from_ref(&subject), dead_after).await?.contains(&subject))
    }

    /// Lets a fully submitted batch's lease go.
    pub(super) async fn release_batch(&self, id: &str) {
        let Some(c) = &self.inner.coordination else { return };
        if let Err(e) = c.state.release(&Subject::Batch(id.to_owned())).await {
            tracing::debug!(batch = %id, error = %e, "could not release a batch's lease");
        }
    }

    /// Tells the other servers that the shared defaults changed.
    pub(super) async fn announce_defaults_changed(&self) {
        let Some(c) = &self.inner.coordination else { return };
        if let Err(e) = c.state.publish(&SignalBody::DefaultsChanged).await {
            tracing::warn!(error = %e, "could not tell the other servers that defaults changed");
        }
    }

    /// Says this server is gone (a graceful stop after draining): the others take over its
    /// unfinished jobs and batches at once instead of after
    /// [`ClientOptions::dead_server_after`](super::ClientOptions::dead_server_after).
    pub async fn retire(&self) -> crate::Result<()> {
        match &self.inner.coordination {
            Some(c) => c.state.retire().await,
            None => Ok(()),
        }
    }
}

/// Publishes relayed events in order: whatever queued up while the previous batch was sent
/// goes out together (one message per ~8 KB under load, one per event when idle).
async fn publish_relayed(state: Arc<dyn SharedState>, mut relay: mpsc::Receiver<SignalBody>) {
    let mut batch = Vec::with_capacity(RELAY_BATCH);
    while relay.recv_many(&mut batch, RELAY_BATCH).await > 0 {
        if let Err(e) = state.publish_many(&batch).await {
            tracing::debug!(error = %e, events = batch.len(), "could not relay job events");
        }
        batch.clear();
    }
}

/// Heartbeats, takes over orphans every other beat, and applies other servers' signals, until
/// the client is dropped.
async fn coordinate(
    weak: WeakComfy,
    state: Arc<dyn SharedState>,
    mut signals: broadcast::Receiver<Signal>,
    every: std::time::Duration,
) {
    let mut beat = tokio::time::interval(every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beats = 0u64;
    let mut listening = true;
    loop {
        tokio::select! {
            _ = beat.tick() => {
                let Some(client) = weak.upgrade() else { return };
                if let Err(e) = state.heartbeat().await {
                    tracing::warn!(error = %e, "could not say this server is alive");
                    continue;
                }
                beats += 1;
                if beats == 1 {
                    load_shared_defaults(&client, &state).await;
                }
                // The first beat is at start: orphans are taken once this server is known alive.
                if beats.is_multiple_of(2)
                    && let Err(e) = client.take_over_orphans().await
                {
                    tracing::warn!(error = %e, "could not look for a stopped server's work");
                }
            }
            received = signals.recv(), if listening => match received {
                Ok(Signal { from, body: SignalBody::DefaultsChanged }) if from != state.server_id() => {
                    let Some(client) = weak.upgrade() else { return };
                    load_shared_defaults(&client, &state).await;
                }
                Ok(signal) if signal.from != state.server_id() => {
                    let Some(client) = weak.upgrade() else { return };
                    client.inner.on_signal(signal);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "missed signals of other servers; reconciling");
                    let Some(client) = weak.upgrade() else { return };
                    client.inner.clone().spawn_reconcile(true);
                }
                // The store stopped listening: the heartbeats go on.
                Err(broadcast::error::RecvError::Closed) => listening = false,
            }
        }
    }
}
