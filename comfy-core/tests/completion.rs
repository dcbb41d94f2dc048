//! The completion path adds no fixed delay: ComfyUI sends `execution_success`, then writes the
//! history entry, then `executing {node: null}`; the client reads the final record as soon as
//! the run is closed, not at its next retry. And a finished job is recorded in one store write.
//!
//! The clock is Tokio's paused test clock: timers only move when every task waits, so a
//! finalizer that sleeps shows up as virtual time passing, deterministically (no wall-clock
//! assertion).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use comfy_core::backend::{
    Backend, BackendEvent, CancelOutcome, CancelScope, Capabilities, Download, Health, JobEvent, JobRequest,
    RemoteJob, Submitted,
};
use comfy_core::job::{FileRef, JobId, JobStatus};
use comfy_core::store::{MemoryStore, Store};
use comfy_core::{Comfy, Result, Workflow};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// A backend that behaves like ComfyUI around the end of a job: until `history_written`, the
/// job's status read says it is still running.
#[derive(Debug)]
struct LateHistory {
    events: broadcast::Sender<BackendEvent>,
    history_written: AtomicBool,
    status_reads: AtomicUsize,
    /// The outputs of the history entry (none: the backend's record carries no outputs).
    history_outputs: std::sync::Mutex<Vec<comfy_core::job::JobOutput>>,
}

impl LateHistory {
    fn new(history_written: bool) -> Arc<Self> {
        Arc::new(LateHistory {
            events: broadcast::channel(64).0,
            history_written: AtomicBool::new(history_written),
            status_reads: AtomicUsize::new(0),
            history_outputs: std::sync::Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Backend for LateHistory {
    fn name(&self) -> &str {
        "late-history"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            events: true,
            previews: false,
            cancel_pending: false,
            cancel_running: CancelScope::None,
            queue: false,
            upload: false,
            catalog: false,
            models: false,
            partial_execution: false,
            client_job_ids: true,
        }
    }
    fn events(&self) -> broadcast::Receiver<BackendEvent> {
        self.events.subscribe()
    }
    fn events_connected(&self) -> bool {
        true
    }
    async fn submit(&self, request: &JobRequest) -> Result<Submitted> {
        let job_id = request.job_id.clone().unwrap_or_else(|| JobId("j".into()));
        Ok(Submitted { job_id, handle: None, number: Some(1.0), node_errors: json!({}) })
    }
    async fn status(&self, _job: &JobId) -> Result<RemoteJob> {
        self.status_reads.fetch_add(1, Ordering::SeqCst);
        let status = if self.history_written.load(Ordering::SeqCst) {
            JobStatus::Succeeded
        } else {
            JobStatus::Running(Default::default())
        };
        let outputs = match self.history_outputs.lock() {
            Ok(outputs) => outputs.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        Ok(RemoteJob { status, outputs })
    }
    async fn cancel(&self, _job: &JobId) -> Result<CancelOutcome> {
        Err(self.not_supported("cancel"))
    }
    async fn download(&self, _file: &FileRef) -> Result<Download> {
        Err(self.not_supported("download"))
    }
    async fn health(&self) -> Result<Health> {
        Err(self.not_supported("health"))
    }
}

/// Lets every spawned task run until all of them wait (the paused clock does not move).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_final_read_follows_the_closing_event_without_a_retry_delay() {
    let backend = LateHistory::new(false);
    let comfy = Comfy::builder(backend.clone()).store(Arc::new(MemoryStore::new())).build().unwrap();
    let workflow = Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}}
    }))
    .unwrap();
    let job = comfy.submit(JobRequest::new(workflow)).await.unwrap();
    let id = job.id().clone();
    let send = |event: JobEvent| {
        backend.events.send(BackendEvent::Job { job_id: id.clone(), event }).unwrap();
    };
    send(JobEvent::Started);
    // `execution_success` before the history entry exists: the finalizer's first read sees a
    // running job and waits.
    send(JobEvent::Succeeded);
    settle().await;
    assert!(backend.status_reads.load(Ordering::SeqCst) >= 1, "the finalizer read the status");
    assert!(!job.status().is_terminal());
    // ComfyUI writes the history, then closes the run.
    let closed_at = tokio::time::Instant::now();
    backend.history_written.store(true, Ordering::SeqCst);
    send(JobEvent::Done);
    let result = job.result().await.unwrap();
    assert_eq!(result.status, JobStatus::Succeeded);
    // No timer ran between the closing event and the result: the paused clock did not move
    // (a finalizer that waited for its 25 ms retry would have advanced it).
    assert_eq!(closed_at.elapsed(), Duration::ZERO, "the final read waited for a retry timer");
}

/// A store that counts its writes.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryStore,
    writes: AtomicUsize,
}

#[async_trait]
impl Store for CountingStore {
    async fn put_job(&self, job: &comfy_core::store::JobRecord) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_job(job).await
    }
    async fn get_job(&self, id: &JobId) -> Result<Option<comfy_core::store::JobRecord>> {
        self.inner.get_job(id).await
    }
    async fn list_jobs(
        &self,
        query: &comfy_core::store::JobQuery,
    ) -> Result<Vec<comfy_core::store::JobRecord>> {
        self.inner.list_jobs(query).await
    }
    async fn put_assets(&self, assets: &[comfy_core::store::Asset]) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_assets(assets).await
    }
    async fn put_job_with_assets(
        &self,
        job: &comfy_core::store::JobRecord,
        assets: &[comfy_core::store::Asset],
    ) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_assets(assets).await?;
        self.inner.put_job(job).await
    }
    async fn get_asset(&self, id: &comfy_core::store::AssetId) -> Result<Option<comfy_core::store::Asset>> {
        self.inner.get_asset(id).await
    }
    async fn list_assets(
        &self,
        query: &comfy_core::store::AssetQuery,
    ) -> Result<Vec<comfy_core::store::Asset>> {
        self.inner.list_assets(query).await
    }
    async fn set_asset_content(
        &self,
        id: &comfy_core::store::AssetId,
        content: &comfy_core::store::AssetContent,
    ) -> Result<()> {
        self.inner.set_asset_content(id, content).await
    }
    async fn purge_expired(&self, now: comfy_core::store::Millis) -> Result<u64> {
        self.inner.purge_expired(now).await
    }
    async fn put_batch(&self, batch: &comfy_core::store::BatchRecord) -> Result<()> {
        self.inner.put_batch(batch).await
    }
    async fn get_batch(&self, id: &str) -> Result<Option<comfy_core::store::BatchRecord>> {
        self.inner.get_batch(id).await
    }
    async fn list_batches(
        &self,
        query: &comfy_core::store::BatchQuery,
    ) -> Result<Vec<comfy_core::store::BatchRecord>> {
        self.inner.list_batches(query).await
    }
}

/// Two `SaveImage` outputs, as ComfyUI's `executed` event for node 2 carries them.
fn two_images() -> Vec<comfy_core::job::JobOutput> {
    let outputs: Value = json!({"images": [
        {"filename": "t_00001_.png", "subfolder": "", "type": "output"},
        {"filename": "t_00002_.png", "subfolder": "", "type": "output"}
    ]});
    comfy_core::job::parse_node_output("2", &outputs)
}

/// A client on `backend` and a counting store, with one submitted job that announced
/// `live` outputs; returns the writes counted so far.
async fn job_with_outputs(
    backend: &Arc<LateHistory>,
    live: Vec<comfy_core::job::JobOutput>,
) -> (Comfy, Arc<CountingStore>, comfy_core::Job, usize) {
    let store = Arc::new(CountingStore { inner: MemoryStore::new(), writes: AtomicUsize::new(0) });
    let comfy = Comfy::builder(backend.clone()).store(store.clone()).build().unwrap();
    let workflow = Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}}
    }))
    .unwrap();
    let job = comfy.submit(JobRequest::new(workflow)).await.unwrap();
    backend
        .events
        .send(BackendEvent::Job { job_id: job.id().clone(), event: JobEvent::Outputs(live) })
        .unwrap();
    settle().await;
    let before = store.writes.load(Ordering::SeqCst);
    (comfy, store, job, before)
}

#[tokio::test(start_paused = true)]
async fn a_finished_job_and_its_assets_are_recorded_in_one_write() {
    let backend = LateHistory::new(true);
    assert_eq!(two_images().len(), 2);
    let (_comfy, store, job, before) = job_with_outputs(&backend, two_images()).await;
    let id = job.id().clone();
    backend.events.send(BackendEvent::Job { job_id: id.clone(), event: JobEvent::Succeeded }).unwrap();
    let result = job.result().await.unwrap();
    assert_eq!(result.status, JobStatus::Succeeded);
    assert_eq!(result.assets.len(), 2, "{result:?}");
    assert_eq!(store.writes.load(Ordering::SeqCst) - before, 1, "one write for the job and its two assets");
    let stored = store.inner.get_job(&id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Succeeded);
    for asset in &result.assets {
        assert!(store.inner.get_asset(asset).await.unwrap().is_some());
    }
}

#[tokio::test(start_paused = true)]
async fn the_finished_job_is_on_disk_before_the_backend_has_written_its_history() {
    // The sync to disk runs while ComfyUI writes its history entry, not after it.
    let backend = LateHistory::new(false);
    let (_comfy, store, job, before) = job_with_outputs(&backend, two_images()).await;
    let id = job.id().clone();
    backend.events.send(BackendEvent::Job { job_id: id.clone(), event: JobEvent::Succeeded }).unwrap();
    settle().await;
    assert!(!job.status().is_terminal(), "the result waits for the backend's final record");
    let stored = store.inner.get_job(&id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Succeeded, "written at the success event");
    assert_eq!(stored.outputs, two_images());
    assert_eq!(store.writes.load(Ordering::SeqCst) - before, 1);
    backend.history_written.store(true, Ordering::SeqCst);
    backend.events.send(BackendEvent::Job { job_id: id.clone(), event: JobEvent::Done }).unwrap();
    let result = job.result().await.unwrap();
    assert_eq!(result.status, JobStatus::Succeeded);
    assert_eq!(result.assets.len(), 2);
    for asset in &result.assets {
        assert!(store.inner.get_asset(asset).await.unwrap().is_some(), "{asset:?} is stored");
    }
    assert_eq!(store.writes.load(Ordering::SeqCst) - before, 1, "the same record is not written twice");
}

#[tokio::test(start_paused = true)]
async fn a_final_record_with_more_outputs_than_the_live_events_is_written_again() {
    let backend = LateHistory::new(false);
    let (_comfy, store, job, before) = job_with_outputs(&backend, two_images()).await;
    let id = job.id().clone();
    let mut history = two_images();
    history.extend(comfy_core::job::parse_node_output(
        "3",
        &json!({"images": [{"filename": "extra_00001_.png", "subfolder": "", "type": "output"}]}),
    ));
    *backend.history_outputs.lock().unwrap() = history.clone();
    backend.events.send(BackendEvent::Job { job_id: id.clone(), event: JobEvent::Succeeded }).unwrap();
    settle().await;
    backend.history_written.store(true, Ordering::SeqCst);
    backend.events.send(BackendEvent::Job { job_id: id.clone(), event: JobEvent::Done }).unwrap();
    let result = job.result().await.unwrap();
    assert_eq!(result.outputs, history, "the backend's record is authoritative");
    assert_eq!(result.assets.len(), 3);
    let stored = store.inner.get_job(&id).await.unwrap().unwrap();
    assert_eq!(stored.outputs, history);
    for asset in &result.assets {
        assert!(store.inner.get_asset(asset).await.unwrap().is_some(), "{asset:?} is stored");
    }
    assert_eq!(store.writes.load(Ordering::SeqCst) - before, 2, "the early record, then the final one");
}
