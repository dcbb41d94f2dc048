//! The [`Job`] handle: status, live events, wait, cancel.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::ClientInner;
use crate::backend::{CancelOutcome, JobEvent};
use crate::error::{Error, Result};
use crate::job::{JobId, JobOutput, JobStatus, PreviewFrame, Progress};
use crate::store::{AssetId, JobRecord};

/// What is known about a job right now.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSnapshot {
    /// Current status. A terminal status is published only once every output is recorded.
    pub status: JobStatus,
    /// Outputs: live ones while running, the backend's complete list once finished.
    pub outputs: Vec<JobOutput>,
    /// Asset ids of the outputs, once finished.
    pub assets: Vec<AssetId>,
}

/// A finished job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    /// The job id.
    pub job_id: JobId,
    /// Succeeded, Failed or Cancelled.
    pub status: JobStatus,
    /// Every output of every node.
    pub outputs: Vec<JobOutput>,
    /// Their asset ids, in the same order.
    pub assets: Vec<AssetId>,
}

/// The outcome of [`Job::wait`]: finished, or still going (and still yours).
#[derive(Debug)]
pub enum Waited {
    /// The job finished.
    Finished(JobResult),
    /// The time ran out first; the job goes on and this handle still tracks it.
    StillRunning(Job),
}

/// Shared state of one tracked job.
#[derive(Debug)]
pub(crate) struct JobShared {
    pub(crate) id: JobId,
    pub(crate) state: watch::Sender<JobSnapshot>,
    pub(crate) events: broadcast::Sender<JobEvent>,
    pub(crate) record: Mutex<JobRecord>,
    pub(crate) nodes_total: u32,
    pub(crate) finished_nodes: Mutex<HashSet<String>>,
    pub(crate) finalizing: std::sync::atomic::AtomicBool,
    pub(crate) created: std::time::Instant,
    /// Submitted by another client (or an earlier run of this one): its events go to another
    /// socket, so it is polled even while our events flow.
    pub(crate) foreign: std::sync::atomic::AtomicBool,
    /// The newest preview frame, if the backend sent any.
    pub(crate) latest_preview: Mutex<Option<PreviewFrame>>,
    /// Signalled when the backend closes the job's run (ComfyUI's `executing {node: null}`,
    /// sent after it wrote the history entry): a finalizer waiting for that entry reads again
    /// at once instead of at its next retry.
    pub(crate) closed: tokio::sync::Notify,
    /// The durable write of the finished job started at the backend's success event, before
    /// its final record could be read (see `ClientInner::spawn_early_record`).
    pub(crate) early_record: Mutex<Option<EarlyRecord>>,
    /// The record names the backend that accepted the job and its handle. False only between
    /// a submission's start and the backend's answer: a job that finishes in that window is
    /// not written early (its record would name the wrong backend and asset ids).
    pub(crate) settled: std::sync::atomic::AtomicBool,
    /// Since when every status read of the job failed because its backend did not answer
    /// (`None` while reads succeed): see `ClientOptions::unreachable_after`.
    pub(crate) unreachable_since: Mutex<Option<tokio::time::Instant>>,
    /// A reconciliation is scheduled for when a job its backend does not know yet may be
    /// declared lost.
    pub(crate) recheck_scheduled: std::sync::atomic::AtomicBool,
}

/// A finished job's record written ahead of the backend's final record: what it holds and the
/// write itself (true once stored).
#[derive(Debug)]
pub(crate) struct EarlyRecord {
    pub(crate) record: JobRecord,
    pub(crate) written: tokio::task::JoinHandle<bool>,
}

/// Events a job's subscriber may fall behind by before it skips ahead.
const JOB_EVENT_BUFFER: usize = 64;

impl JobShared {
    pub(crate) fn new(record: JobRecord, nodes_total: u32) -> Arc<Self> {
        // Every slot is allocated up front and a finished job stays in memory for a while
        // (`finished_jobs_in_memory`): 1,024 slots cost ~150 KiB a job (40 MiB for 256 jobs).
        // A reader that falls further behind skips to the job's current state (see `recv`).
        let (events, _) = broadcast::channel(JOB_EVENT_BUFFER);
        let finalized = record.status.is_terminal();
        let snapshot = JobSnapshot {
            status: record.status.clone(),
            outputs: record.outputs.clone(),
            assets: if finalized { asset_ids(&record) } else { Vec::new() },
        };
        Arc::new(JobShared {
            id: record.id.clone(),
            state: watch::Sender::new(snapshot),
            events,
            record: Mutex::new(record),
            nodes_total,
            finished_nodes: Mutex::new(HashSet::new()),
            finalizing: std::sync::atomic::AtomicBool::new(finalized),
            created: std::time::Instant::now(),
            foreign: std::sync::atomic::AtomicBool::new(false),
            latest_preview: Mutex::new(None),
            closed: tokio::sync::Notify::new(),
            early_record: Mutex::new(None),
            settled: std::sync::atomic::AtomicBool::new(true),
            unreachable_since: Mutex::new(None),
            recheck_scheduled: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A job being submitted: not [`settled`](Self::settled) until the backend has answered.
    pub(crate) fn submitting(record: JobRecord, nodes_total: u32) -> Arc<Self> {
        let shared = Self::new(record, nodes_total);
        shared.settled.store(false, std::sync::atomic::Ordering::SeqCst);
        shared
    }

    /// The job as its backend addresses it (id and the handle recorded at submit).
    pub(crate) fn job_ref(&self) -> crate::backend::JobRef {
        let handle =
            self.record.lock().map(|r| r.handle.clone()).unwrap_or_else(|e| e.into_inner().handle.clone());
        let backend =
            self.record.lock().map(|r| r.backend.clone()).unwrap_or_else(|e| e.into_inner().backend.clone());
        crate::backend::JobRef { id: self.id.clone(), handle, backend: Some(backend) }
    }

    pub(crate) fn snapshot(&self) -> JobSnapshot {
        self.state.borrow().clone()
    }

    pub(crate) fn is_terminal(&self) -> bool {
        self.state.borrow().status.is_terminal()
    }

    /// Current running progress, or a fresh one.
    pub(crate) fn progress(&self) -> Progress {
        match &self.state.borrow().status {
            JobStatus::Running(p) => p.clone(),
            _ => Progress { nodes_total: self.nodes_total, ..Default::default() },
        }
    }
}

pub(crate) fn asset_ids(record: &JobRecord) -> Vec<AssetId> {
    record
        .outputs
        .iter()
        .map(|o| AssetId::derive(&record.backend, &record.id, &o.node_id, &o.key, o.index))
        .collect()
}

/// A job on a backend: its id, live status and events, and the means to wait for or cancel it.
/// Cheap to clone; every clone tracks the same job.
#[derive(Debug, Clone)]
pub struct Job {
    pub(crate) shared: Arc<JobShared>,
    pub(crate) client: Arc<ClientInner>,
}

impl Job {
    /// The job id (the prompt id on a local ComfyUI).
    pub fn id(&self) -> &JobId {
        &self.shared.id
    }

    /// The current status.
    pub fn status(&self) -> JobStatus {
        self.shared.state.borrow().status.clone()
    }

    /// Everything known now: status, outputs, assets.
    pub fn snapshot(&self) -> JobSnapshot {
        self.shared.snapshot()
    }

    /// The stored record (request, provenance, timestamps).
    pub fn record(&self) -> JobRecord {
        self.shared.record.lock().map(|r| r.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The newest preview image the job sent while it ran (sampler previews), if any. Kept
    /// after the job finishes for as long as this handle (or the client's memory of the job,
    /// see [`ClientOptions::finished_jobs_in_memory`](super::ClientOptions)) lasts; it is never
    /// stored.
    pub fn latest_preview(&self) -> Option<PreviewFrame> {
        self.shared.latest_preview.lock().map(|p| p.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Live events. The first event is always the current [`JobEvent::Status`], so a late
    /// subscriber knows where the job is; the stream ends after the terminal status.
    pub fn subscribe(&self) -> JobSubscription {
        let rx = self.shared.events.subscribe();
        let first = JobEvent::Status(self.status());
        JobSubscription { first: Some(first), rx, shared: self.shared.clone(), done: false }
    }

    /// Waits until the job finishes or `timeout` passes. On timeout the job is handed back,
    /// still tracked: nothing is lost.
    pub async fn wait(&self, timeout: Duration) -> Result<Waited> {
        let mut rx = self.shared.state.subscribe();
        let finished = tokio::time::timeout(timeout, rx.wait_for(|s| s.status.is_terminal())).await;
        match finished {
            Ok(Ok(snapshot)) => Ok(Waited::Finished(self.result_from(&snapshot))),
            Ok(Err(_)) => Err(Error::JobNotFound {
                backend: self.client.backend.name().to_owned(),
                job_id: self.id().0.clone(),
            }),
            Err(_) => Ok(Waited::StillRunning(self.clone())),
        }
    }

    /// Waits without a time limit.
    pub async fn result(&self) -> Result<JobResult> {
        match self.wait(Duration::MAX / 4).await? {
            Waited::Finished(r) => Ok(r),
            Waited::StillRunning(_) => {
                Err(Error::Timeout { operation: "waiting for a job".into(), after_ms: u64::MAX })
            }
        }
    }

    fn result_from(&self, s: &JobSnapshot) -> JobResult {
        JobResult {
            job_id: self.id().clone(),
            status: s.status.clone(),
            outputs: s.outputs.clone(),
            assets: s.assets.clone(),
        }
    }

    /// Cancels this job and only this job: removed from the queue if pending; interrupted by
    /// its id if running, waiting (up to the client's confirmation time) until the backend
    /// confirms. Never a global interrupt.
    ///
    /// A hosted backend may only accept the request ([`CancelOutcome::CancelRequested`]): the
    /// answer is then [`CancelOutcome::Interrupted`] if the job ends cancelled within the
    /// confirmation time. A job the backend cannot stop without touching others is
    /// [`CancelOutcome::NotCancellable`]. A job another backend ran is refused.
    pub async fn cancel(&self) -> Result<CancelOutcome> {
        if self.shared.is_terminal() {
            return Ok(CancelOutcome::AlreadyFinished);
        }
        let ran_on = self.record().backend;
        if !self.client.runs_backend(&ran_on) {
            return Err(Error::InvalidArgument {
                argument: "job".into(),
                message: format!(
                    "job {} ran on backend {ran_on}, not on this client's backend {}; cancel it there",
                    self.id(),
                    self.client.backend.name()
                ),
            });
        }
        let outcome = self.client.backend.cancel_of(&self.shared.job_ref()).await?;
        match outcome {
            CancelOutcome::RemovedFromQueue => {
                // No history entry will ever exist for it: finish it here.
                self.client.finish(&self.shared, JobStatus::Cancelled, Vec::new()).await;
                Ok(outcome)
            }
            CancelOutcome::InterruptRequested | CancelOutcome::CancelRequested => {
                let mut rx = self.shared.state.subscribe();
                let confirm = self.client.options.cancel_confirm_timeout;
                let done = tokio::time::timeout(confirm, rx.wait_for(|s| s.status.is_terminal())).await;
                Ok(match done {
                    Ok(Ok(s)) if s.status == JobStatus::Cancelled => CancelOutcome::Interrupted,
                    Ok(Ok(_)) => CancelOutcome::AlreadyFinished,
                    _ => outcome,
                })
            }
            CancelOutcome::NotCancellable => Ok(outcome),
            CancelOutcome::AlreadyFinished | CancelOutcome::Interrupted => {
                self.client.clone().spawn_finalize(self.shared.clone());
                Ok(outcome)
            }
        }
    }
}

/// A stream of one job's events; see [`Job::subscribe`].
#[derive(Debug)]
pub struct JobSubscription {
    first: Option<JobEvent>,
    rx: broadcast::Receiver<JobEvent>,
    shared: Arc<JobShared>,
    done: bool,
}

impl JobSubscription {
    /// The next event, or `None` after the terminal status has been delivered.
    pub async fn next(&mut self) -> Option<JobEvent> {
        if self.done {
            return None;
        }
        if let Some(first) = self.first.take() {
            if let JobEvent::Status(s) = &first {
                self.done = s.is_terminal();
            }
            return Some(first);
        }
        match self.rx.recv().await {
            Ok(event) => {
                if let JobEvent::Status(s) = &event {
                    self.done = s.is_terminal();
                }
                Some(event)
            }
            // Too slow a reader: skip ahead and say where the job is now.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let status = self.shared.state.borrow().status.clone();
                self.done = status.is_terminal();
                Some(JobEvent::Status(status))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The events as a `futures::Stream`.
    pub fn into_stream(self) -> impl futures::Stream<Item = JobEvent> + Send {
        futures::stream::unfold(self, |mut s| async move { s.next().await.map(|e| (e, s)) })
    }
}
