//! [`Comfy`]: submit jobs to a [`Backend`], track them live, record every output as an asset.
//!
//! One client owns one backend and one store. A single background task routes the backend's
//! events to jobs by id and reconciles unfinished jobs from the backend whenever events may
//! have been missed (socket down or reconnected, lagging) — so no completion is ever lost.

mod app;
mod assets;
mod batch;
mod coordinate;
mod defaults;
mod feedback;
mod follow;
mod gate;
mod info;
mod iterate;
mod job;
mod lost;
mod models;
mod operate;
mod owner;
mod publish;
mod regenerate;
mod requests;
mod reuse;
mod route;
mod tracker;
mod workflows;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub use app::Source;
pub use assets::FetchedAsset;
pub use batch::{
    BatchCounts, BatchItemOutputs, BatchItemState, BatchItemStatus, BatchItems, BatchOutputs, BatchRequest,
    BatchState, BatchStatus, MAX_BATCH_ITEMS,
};
pub use defaults::{DefaultsLayer, DefaultsSet};
pub use follow::{Follow, Update, UpdateFields, describe_progress};
pub use info::ServerInfo;
pub use iterate::{Regeneration, Reused};
pub use job::{Job, JobResult, JobSnapshot, JobSubscription, Waited};
pub use models::ModelHit;
pub use operate::{BackendError, BackendReadiness, Readiness};
pub use publish::{PublishOptions, PublishedAsset};
pub use regenerate::{Origin, override_workflow, rerender, rerender_request};
pub use requests::SubmittedRequest;
pub use reuse::{ReuseKind, ReusedFrom, Submission, SubmitOptions};
pub use route::Placement;

use self::job::JobShared;
use crate::backend::{Backend, JobEvent, JobRequest, QueueSnapshot};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::job::{JobId, JobOutput, JobStatus};
use crate::store::{Asset, AssetQuery, JobQuery, JobRecord, MemoryStore, Store, Subject, now_millis};
use crate::template::{ParamDefaults, TemplateSet};

/// A submit that does not go through [`Backend::submit`] (a RunComfy request with overrides).
pub(crate) type Via<'a> = futures::future::BoxFuture<'a, Result<crate::backend::Submitted>>;

/// Tunables of a [`Comfy`] client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How often unfinished jobs are polled while the event channel is down (or absent).
    pub poll_interval: Duration,
    /// How often they are reconciled even while events flow (a safety net).
    pub safety_interval: Duration,
    /// How long [`Job::cancel`] waits for the backend to confirm an interrupt.
    pub cancel_confirm_timeout: Duration,
    /// A job the backend no longer knows is declared lost after this long.
    pub lost_after: Duration,
    /// A job whose backend fails every status read (unreachable, timing out, 502–504) for this
    /// long is declared lost with it: it fails (failure code `backend_lost`, naming the
    /// backend), or runs again on another backend of a fleet when its request allowed it
    /// ([`JobRequest::resubmit_if_lost`](crate::backend::JobRequest::resubmit_if_lost)).
    /// Not for hosted backends (Comfy Cloud, RunComfy), whose jobs go on (and are paid for)
    /// while they cannot be reached. Default 60 s.
    pub unreachable_after: Duration,
    /// Largest asset [`Comfy::fetch_asset`] loads into memory.
    pub max_asset_bytes: u64,
    /// Finished jobs kept in memory (with their live state, such as the last preview frame);
    /// older ones are dropped from memory only: [`Comfy::job`] reloads them from the store.
    pub finished_jobs_in_memory: usize,
    /// At most this many jobs submitted through this client are unfinished at once; one more
    /// is refused with the retryable [`Error::TooManyJobs`]. Unlimited by default (servers that
    /// share one ComfyUI between callers set a cap; comfy-mcp's default is 8).
    pub max_running_jobs: usize,
    /// How long a caller that waits "the usual time" for a job waits ([`Comfy::wait_budget`]):
    /// short enough for an agent's tool-call timeout, after which it gets the job handle.
    pub wait_budget: Duration,
    /// Keep a local copy of every output in this directory (`<dir>/<asset id>`) when its job
    /// finishes, and serve the asset from it afterwards: outputs of hosted backends live at
    /// signed URLs that expire (about 6 h on Comfy Cloud). `None` (default): nothing is copied.
    pub keep_outputs: Option<std::path::PathBuf>,
    /// Where feedback and session summaries are appended (`<dir>/feedback.jsonl`); `None`:
    /// kept in memory only. [`ClientConfig::connect`](crate::ClientConfig::connect) fills it
    /// with the store's data directory.
    pub feedback_dir: Option<std::path::PathBuf>,
    /// Where feedback and session summaries are also POSTed (with no backend credential).
    pub feedback_url: Option<String>,
    /// Let [`Comfy::partner_generate`] spend credits without a per-call `max_credits`
    /// (including runs whose price is unknown). Off by default.
    pub allow_partner_spend: bool,
    /// Append one JSON line to this file for every submission that spends money (a hosted
    /// backend, or partner nodes on any backend): see [`crate::audit`]. The file is opened when
    /// the client is built (which fails if it cannot be). `None` (default): no audit log.
    pub audit_log: Option<std::path::PathBuf>,
    /// On a store several servers share: a server silent this long is taken for dead, and its
    /// unfinished jobs and batches are taken over by another (this client says it is alive
    /// four times as often). Default 20 s.
    pub dead_server_after: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            poll_interval: Duration::from_millis(500),
            safety_interval: Duration::from_secs(30),
            cancel_confirm_timeout: Duration::from_secs(15),
            lost_after: Duration::from_secs(10),
            unreachable_after: Duration::from_secs(60),
            max_asset_bytes: 1 << 30,
            finished_jobs_in_memory: 256,
            max_running_jobs: usize::MAX,
            wait_budget: Duration::from_secs(45),
            keep_outputs: None,
            feedback_dir: None,
            feedback_url: None,
            allow_partner_spend: false,
            audit_log: None,
            dead_server_after: crate::store::shared::DEAD_AFTER,
        }
    }
}

#[derive(Debug)]
pub(crate) struct ClientInner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) options: ClientOptions,
    pub(crate) jobs: Mutex<HashMap<JobId, Arc<JobShared>>>,
    /// This client's job that runs now, for events that carry no job id.
    pub(crate) running: Mutex<Option<JobId>>,
    pub(crate) reconciling: std::sync::atomic::AtomicBool,
    pub(crate) refreshing_queue: std::sync::atomic::AtomicBool,
    /// Finished jobs still in `jobs`, oldest first (bounded by `finished_jobs_in_memory`).
    pub(crate) finished: Mutex<VecDeque<JobId>>,
    /// The running-jobs cap.
    pub(crate) gate: gate::JobGate,
    /// Templates served by this client.
    pub(crate) templates: TemplateSet,
    /// Template parameter defaults (runtime, config, environment layers).
    pub(crate) defaults: Mutex<ParamDefaults>,
    /// Input values (`sub/name.png`) of files this client uploaded: valid inputs even though
    /// the cached catalogue predates them.
    pub(crate) known_inputs: Mutex<HashSet<String>>,
    /// Held while a batch's waiting items are submitted (no item is submitted twice).
    pub(crate) batch_lock: tokio::sync::Mutex<()>,
    /// Batches whose background submitter runs.
    pub(crate) pumping: Mutex<HashSet<String>>,
    /// In-process activity counts for [`Comfy::session_summary`].
    pub(crate) activity: crate::feedback::Activity,
    /// Bumped whenever finished jobs record new assets ([`Comfy::subscribe_assets`]).
    pub(crate) assets_version: tokio::sync::watch::Sender<u64>,
    /// Metrics, readiness, draining and the audit log.
    pub(crate) ops: operate::Ops,
    /// In-flight claims of result reuse ([`Comfy::submit_with`]).
    pub(crate) claims: reuse::Claims,
    /// The shared state of a store several servers use (`None` on an embedded store).
    pub(crate) coordination: Option<coordinate::Coordination>,
}

/// Builder for [`Comfy`].
#[derive(Debug)]
pub struct ComfyBuilder {
    backend: Arc<dyn Backend>,
    store: Option<Arc<dyn Store>>,
    options: ClientOptions,
    templates: Option<TemplateSet>,
    defaults: Option<ParamDefaults>,
}

impl ComfyBuilder {
    /// Where jobs and assets are recorded (default: in memory).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Tunables.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// The templates this client serves (default: the built-ins).
    pub fn templates(mut self, templates: TemplateSet) -> Self {
        self.templates = Some(templates);
        self
    }

    /// Template parameter defaults (default: the `COMFY_DEFAULT_*` environment only).
    pub fn param_defaults(mut self, defaults: ParamDefaults) -> Self {
        self.defaults = Some(defaults);
        self
    }

    /// Builds the client and starts its event router (inside a tokio runtime).
    pub fn build(self) -> Result<Comfy> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::InvalidArgument {
            argument: "runtime".into(),
            message: "Comfy::build must be called inside a tokio runtime".into(),
        })?;
        let gate = gate::JobGate::new(self.options.max_running_jobs.max(1));
        let audit = match &self.options.audit_log {
            Some(path) => Some(crate::audit::AuditLog::open(path)?),
            None => None,
        };
        let ops = operate::Ops::new(audit);
        ops.metrics.add_backend(self.backend.name(), self.backend.kind().as_str());
        if let Some(fleet) = self.backend.as_fleet() {
            for member in fleet.members() {
                ops.metrics.add_backend(&member.name, member.kind);
            }
        }
        let store: Arc<dyn Store> = self.store.unwrap_or_else(|| Arc::new(MemoryStore::default()));
        let coordination = store.shared().map(coordinate::Coordination::new);
        let inner = Arc::new(ClientInner {
            backend: self.backend,
            store,
            options: self.options,
            jobs: Mutex::new(HashMap::new()),
            running: Mutex::new(None),
            reconciling: std::sync::atomic::AtomicBool::new(false),
            refreshing_queue: std::sync::atomic::AtomicBool::new(false),
            finished: Mutex::new(VecDeque::new()),
            gate,
            templates: self.templates.unwrap_or_default(),
            defaults: Mutex::new(self.defaults.unwrap_or_else(ParamDefaults::from_env)),
            known_inputs: Mutex::new(HashSet::new()),
            batch_lock: tokio::sync::Mutex::new(()),
            pumping: Mutex::new(HashSet::new()),
            activity: Default::default(),
            assets_version: tokio::sync::watch::Sender::new(0),
            ops,
            claims: Default::default(),
            coordination,
        });
        let task = handle.spawn(tracker::route(Arc::downgrade(&inner), inner.backend.events()));
        let comfy =
            Comfy { inner, _router: Arc::new(AbortOnDrop(task.abort_handle())), caller: Caller::local() };
        comfy.start_coordination();
        Ok(comfy)
    }
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A client of one backend: submit workflows, follow jobs, find assets. Cheap to clone.
///
/// A handle acts for one [`Caller`] (the single local user unless
/// [`acting_for`](Comfy::acting_for) says otherwise), whose ownership rule every method applies.
#[derive(Debug, Clone)]
pub struct Comfy {
    inner: Arc<ClientInner>,
    _router: Arc<AbortOnDrop>,
    caller: Caller,
}

/// A [`Comfy`] that does not keep the client alive (background tasks hold this).
#[derive(Debug, Clone)]
pub(crate) struct WeakComfy {
    inner: std::sync::Weak<ClientInner>,
    router: std::sync::Weak<AbortOnDrop>,
    caller: Caller,
}

impl WeakComfy {
    /// The client, while some caller still holds it.
    pub(crate) fn upgrade(&self) -> Option<Comfy> {
        Some(Comfy {
            inner: self.inner.upgrade()?,
            _router: self.router.upgrade()?,
            caller: self.caller.clone(),
        })
    }
}

/// Locks a std mutex, recovering the data if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Comfy {
    /// Starts configuring a client for `backend`.
    pub fn builder(backend: Arc<dyn Backend>) -> ComfyBuilder {
        ComfyBuilder {
            backend,
            store: None,
            options: ClientOptions::default(),
            templates: None,
            defaults: None,
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub(crate) fn downgrade(&self) -> WeakComfy {
        WeakComfy {
            inner: Arc::downgrade(&self.inner),
            router: Arc::downgrade(&self._router),
            caller: self.caller.clone(),
        }
    }

    fn job_handle(&self, shared: Arc<JobShared>) -> Job {
        Job { shared, client: self.inner.clone() }
    }

    /// Submits a job and records it. The job is tracked from before the backend sees it, so
    /// not a single event is missed.
    /// Refused with the retryable [`Error::TooManyJobs`] when the client already runs
    /// [`ClientOptions::max_running_jobs`] jobs.
    pub async fn submit(&self, request: JobRequest) -> Result<Job> {
        self.submit_via(request, None).await
    }

    /// [`submit`](Self::submit), or, with `via`, the job recorded for `request` (its graph and
    /// extra data) is sent by `via` instead of [`Backend::submit`]; its JSON note is recorded
    /// with the request.
    pub(crate) async fn submit_via(&self, request: JobRequest, via: Option<(Via<'_>, Value)>) -> Result<Job> {
        let started = std::time::Instant::now();
        let submitted = self.submit_inner(request, via).await;
        let backend = self.inner.backend.name();
        match &submitted {
            Ok(job) => {
                crate::feedback::Activity::bump(&self.inner.activity.submitted);
                // Counted under the backend that took it (a fleet's member).
                self.inner.ops.metrics.job_submitted(&job.record().backend, started.elapsed());
            }
            Err(e) => {
                self.inner.activity.error(e.code());
                self.inner.ops.metrics.error(backend, e.code());
            }
        }
        submitted
    }

    async fn submit_inner(&self, mut request: JobRequest, via: Option<(Via<'_>, Value)>) -> Result<Job> {
        self.inner.ops.admit()?;
        self.inner.check_pin(request.backend.as_deref())?;
        let permit = self.inner.gate.admit()?;
        self.caller.stamp(&mut request.provenance);
        let backend = &self.inner.backend;
        let id = request.job_id.get_or_insert_with(|| JobId(uuid::Uuid::new_v4().to_string())).clone();
        let nodes_total = match &request.outputs {
            Some(outputs) => request.workflow.ancestors(outputs)?.len(),
            None => request.workflow.len(),
        } as u32;
        let now = now_millis();
        let (via, note) = match via {
            Some((via, note)) => (Some(via), Some(note)),
            None => (None, None),
        };
        let mut recorded = request.to_record();
        if let (Some(note), Some(fields)) = (note, recorded.as_object_mut()) {
            fields.insert("via".into(), note);
        }
        let record = JobRecord {
            id: id.clone(),
            backend: backend.name().to_owned(),
            handle: None,
            request: recorded,
            workflow_hash: request.workflow.canonical_hash(),
            provenance: request.provenance.clone(),
            status: JobStatus::Pending,
            outputs: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let shared = JobShared::submitting(record, nodes_total);
        lock(&self.inner.jobs).insert(id.clone(), shared.clone());
        let recorded_first = match self.inner.record_before_submit(&shared).await {
            Ok(recorded) => recorded,
            Err(e) => {
                lock(&self.inner.jobs).remove(&id);
                return Err(e);
            }
        };
        let sent = match via {
            Some(via) => via.await,
            None => backend.submit(&request).await,
        };
        let submitted = match sent {
            Ok(s) => s,
            Err(e) => {
                lock(&self.inner.jobs).remove(&id);
                if recorded_first {
                    self.inner.record_refused(&shared, &e).await;
                }
                return Err(e);
            }
        };
        // The backend that accepted it (a fleet's member): every later call goes there.
        lock(&shared.record).backend = self.inner.recorded_backend(&submitted.job_id);
        let shared = if submitted.job_id != id {
            // A backend that assigns its own ids: re-key (events before this are reconciled).
            let mut jobs = lock(&self.inner.jobs);
            jobs.remove(&id);
            let mut record = lock(&shared.record).clone();
            record.id = submitted.job_id.clone();
            record.handle = submitted.handle.clone();
            let rekeyed = JobShared::new(record, nodes_total);
            jobs.insert(submitted.job_id.clone(), rekeyed.clone());
            drop(jobs);
            // Its events may have come (and been dropped, unknown) before the re-key: a fast
            // job may already be over, with nothing left to tell us until the safety interval.
            self.inner.clone().spawn_reconcile_rekeyed(rekeyed.clone());
            rekeyed
        } else {
            lock(&shared.record).handle = submitted.handle.clone();
            shared.settled.store(true, std::sync::atomic::Ordering::SeqCst);
            shared
        };
        shared.state.send_if_modified(|s| {
            if s.status == JobStatus::Pending {
                s.status = JobStatus::Queued { position: None };
                true
            } else {
                false
            }
        });
        let record = {
            let mut r = lock(&shared.record);
            if r.status == JobStatus::Pending {
                r.status = JobStatus::Queued { position: None };
            }
            r.clone()
        };
        if let Err(e) = self.inner.store.put_job(&record).await {
            tracing::error!(job = %record.id, error = %e, "could not record a submitted job; it is tracked in memory only");
        }
        self.inner.lease_job(&record.id);
        self.inner.audit_submission(&request, &record).await;
        // Its queue position (the queue update event may have come before we knew the job).
        self.inner.clone().spawn_queue_positions();
        tracing::info!(backend = %record.backend, job = %record.id, "job submitted");
        permit.track(shared.clone());
        Ok(self.job_handle(shared))
    }

    /// A job by id: tracked here, recorded in the store (reattached), or known to the backend.
    /// Whatever the caller may not see ([`Caller`]) is [`Error::JobNotFound`], like a missing
    /// id; a caller that does not see everything adopts no job from the backend.
    pub async fn job(&self, id: &JobId) -> Result<Job> {
        if self.caller.sees_all() {
            return self.find_job(id).await;
        }
        self.owned_job(id).await
    }

    /// [`job`](Self::job) for a caller that sees everything.
    async fn find_job(&self, id: &JobId) -> Result<Job> {
        if let Some(shared) = lock(&self.inner.jobs).get(id).cloned() {
            return Ok(self.job_handle(shared));
        }
        let record = match self.inner.store.get_job(id).await? {
            Some(r) => r,
            None => {
                // Not ours on record: adopt it if the backend knows it.
                let remote = self.inner.backend.status(id).await?;
                let now = now_millis();
                JobRecord {
                    id: id.clone(),
                    backend: self.inner.backend.name().to_owned(),
                    handle: None,
                    request: serde_json::Value::Null,
                    workflow_hash: String::new(),
                    provenance: Default::default(),
                    status: if remote.status.is_terminal() {
                        JobStatus::Queued { position: None }
                    } else {
                        remote.status
                    },
                    outputs: Vec::new(),
                    created_at: now,
                    updated_at: now,
                }
            }
        };
        let nodes_total =
            record.request.get("workflow").and_then(|w| w.as_object()).map_or(0, |w| w.len() as u32);
        let other_backend = !self.inner.runs_backend(&record.backend);
        let shared = JobShared::new(record, nodes_total);
        shared.foreign.store(true, std::sync::atomic::Ordering::SeqCst);
        if other_backend {
            // Another backend ran it: what is recorded is all we know. It is never looked up on,
            // reconciled against or cancelled through this client's backend.
            shared.finalizing.store(true, std::sync::atomic::Ordering::SeqCst);
            return Ok(self.job_handle(shared));
        }
        if shared.is_terminal() {
            // Finished and stored: nothing live to track, so it is not kept in memory.
            return Ok(self.job_handle(shared));
        }
        let shared = lock(&self.inner.jobs).entry(id.clone()).or_insert(shared).clone();
        if !shared.is_terminal() {
            self.inner.clone().spawn_reconcile_one(shared.clone());
        }
        Ok(self.job_handle(shared))
    }

    /// How many jobs this client holds in memory: the unfinished ones plus up to
    /// [`ClientOptions::finished_jobs_in_memory`] recently finished ones (for monitoring).
    pub fn jobs_in_memory(&self) -> usize {
        lock(&self.inner.jobs).len()
    }

    /// Reattaches every unfinished job of this backend recorded in the store (after a restart),
    /// and continues the batches that have items still to submit.
    pub async fn reattach(&self) -> Result<Vec<Job>> {
        let records = self
            .inner
            .store
            .list_jobs(&JobQuery {
                unfinished_only: true,
                backend: self.inner.backend_filter(),
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        let mut records: Vec<JobRecord> =
            records.into_iter().filter(|r| self.inner.runs_backend(&r.backend)).collect();
        if let Some(c) = &self.inner.coordination {
            // On a shared store, only the jobs no live server follows (another server's jobs
            // are followed by it, or taken over when it stops).
            let wanted: Vec<Subject> = records.iter().map(|r| Subject::Job(r.id.clone())).collect();
            let taken = c.state.take(&wanted, self.inner.options.dead_server_after).await?;
            records.retain(|r| taken.contains(&Subject::Job(r.id.clone())));
        }
        let mut jobs = Vec::with_capacity(records.len());
        for r in records {
            // Everyone's jobs: reattaching is the client's own work, not a caller's.
            jobs.push(self.find_job(&r.id).await?);
        }
        self.resume_batches().await?;
        Ok(jobs)
    }

    /// Jobs recorded in the store (only the caller's own, unless it sees everything).
    pub async fn jobs(&self, query: &JobQuery) -> Result<Vec<JobRecord>> {
        let query = JobQuery { owner: self.caller.narrow(query.owner.clone()), ..query.clone() };
        self.inner.store.list_jobs(&query).await
    }

    /// The backend's queue.
    pub async fn queue(&self) -> Result<QueueSnapshot> {
        self.inner.backend.queue().await
    }

    /// Assets recorded in the store, newest first (only the caller's own, unless it sees
    /// everything).
    pub async fn assets(&self, query: &AssetQuery) -> Result<Vec<Asset>> {
        let query = AssetQuery { owner: self.caller.narrow(query.owner.clone()), ..query.clone() };
        self.inner.store.list_assets(&query).await
    }

    /// Changes whenever a finished job of this client has recorded new assets (the value counts
    /// such changes). A receiver sees one change for any burst it has not read yet, so a
    /// subscriber that debounces gets one wake-up per burst, not one per asset.
    pub fn subscribe_assets(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.assets_version.subscribe()
    }
}

impl ClientInner {
    /// Publishes a terminal status with the final outputs, after recording job and assets.
    pub(crate) async fn finish(
        self: &Arc<Self>,
        shared: &Arc<JobShared>,
        status: JobStatus,
        outputs: Vec<JobOutput>,
    ) {
        if shared.is_terminal() {
            return;
        }
        // A write started at the success event: wait for it (so the final record never lands
        // before it), and reuse it when it already holds this final record.
        let early = lock(&shared.early_record).take();
        let mut stored_at = None;
        let record = {
            let mut r = lock(&shared.record);
            r.status = status.clone();
            r.outputs = outputs.clone();
            r.clone()
        };
        if let Some(early) = early {
            let written = early.written.await.unwrap_or(false);
            let same = JobRecord { updated_at: early.record.updated_at, ..record.clone() } == early.record;
            if written && same {
                stored_at = Some(early.record.updated_at);
            }
        }
        let now = stored_at.unwrap_or_else(now_millis);
        lock(&shared.record).updated_at = now;
        let record = JobRecord { updated_at: now, ..record };
        let assets: Vec<Asset> = record.outputs.iter().map(|o| Asset::from_output(&record, o, now)).collect();
        if (stored_at.is_some() || self.record_finished(&record, &assets).await) && !assets.is_empty() {
            self.assets_version.send_modify(|v| *v = v.wrapping_add(1));
        }
        if let Some(dir) = &self.options.keep_outputs {
            for asset in &assets {
                if let Err(e) = assets::keep_copy(self, dir, asset).await {
                    tracing::warn!(job = %record.id, asset = %asset.id, error = %e, "could not keep a copy of an output");
                }
            }
        }
        let activity = &self.activity;
        let metrics = &self.ops.metrics;
        let took =
            u64::try_from(now.saturating_sub(record.created_at)).ok().map(std::time::Duration::from_millis);
        match &status {
            JobStatus::Succeeded => {
                crate::feedback::Activity::bump(&activity.succeeded);
                metrics.job_finished(&record.backend, "succeeded", took);
            }
            JobStatus::Cancelled => {
                crate::feedback::Activity::bump(&activity.cancelled);
                metrics.job_finished(&record.backend, "cancelled", took);
            }
            JobStatus::Failed(_) => {
                crate::feedback::Activity::bump(&activity.failed);
                activity.error("job_failed");
                metrics.job_finished(&record.backend, "failed", took);
                metrics.error(&record.backend, "job_failed");
            }
            _ => {}
        }
        let ids = job::asset_ids(&record);
        shared.state.send_modify(|s| {
            s.status = status.clone();
            s.outputs = outputs;
            s.assets = ids;
        });
        let _ = shared.events.send(JobEvent::Status(status.clone()));
        {
            let mut running = lock(&self.running);
            if running.as_ref() == Some(&shared.id) {
                *running = None;
            }
        }
        self.claims.release(&shared.id);
        self.release_job(&shared.id);
        tracing::info!(job = %shared.id, status = status.name(), outputs = record.outputs.len(), "job finished");
        self.forget_old_finished(&shared.id);
    }

    /// Records a finished job and its assets; false when the store refused three times.
    ///
    /// One write for the job and its assets (one commit where the store can: no sync to disk
    /// per asset). A store that writes them apart writes the assets first: a crash in between
    /// leaves an unfinished job that is reconciled again.
    async fn record_finished(&self, record: &JobRecord, assets: &[Asset]) -> bool {
        for attempt in 0..3 {
            match self.store.put_job_with_assets(record, assets).await {
                Ok(()) => return true,
                Err(e) => {
                    tracing::error!(job = %record.id, attempt, error = %e, "could not record a finished job")
                }
            }
        }
        false
    }

    /// Bounds memory on a long-running client: every finished job is in the store, so the
    /// oldest ones leave the in-memory map (handles that callers still hold stay valid).
    fn forget_old_finished(&self, id: &JobId) {
        let evicted: Vec<JobId> = {
            let mut finished = lock(&self.finished);
            finished.push_back(id.clone());
            let over = finished.len().saturating_sub(self.options.finished_jobs_in_memory);
            finished.drain(..over).collect()
        };
        if evicted.is_empty() {
            return;
        }
        let mut jobs = lock(&self.jobs);
        for old in evicted {
            if jobs.get(&old).is_some_and(|s| s.is_terminal()) {
                jobs.remove(&old);
            }
        }
    }
}
