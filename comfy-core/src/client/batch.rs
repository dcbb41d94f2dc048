//! Batches: one workflow or template run N times — with N parameter sets, N sets of node
//! overrides, or N seeds — under one id that survives restarts.
//!
//! [`Comfy::submit_batch`] prepares and validates every item first (a bad item fails the whole
//! call, naming the item, and nothing is submitted), records the batch in the [`Store`], then
//! submits what the running-jobs cap admits. The rest is submitted as slots free, by a
//! background task of the client and by every [`Comfy::batch_status`] and
//! [`Comfy::wait_batch`]; after a restart [`Comfy::reattach`] continues unsubmitted items.
//!
//! [`Store`]: crate::store::Store

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Comfy, Placement, Source, WeakComfy, lock};
use crate::backend::JobRequest;
use crate::error::{Error, Result};
use crate::job::{JobId, JobStatus};
use crate::report::{AssetSummary, JobState};
use crate::store::{BatchItemRecord, BatchQuery, BatchRecord, now_millis};
use crate::workflow::Workflow;

/// Node inputs that hold a sampler seed (set by [`BatchItems::Seeds`] on raw workflows).
const SEED_INPUTS: [&str; 2] = ["seed", "noise_seed"];

/// Largest random seed drawn (2^53 − 1: exact in JSON and JavaScript).
const MAX_RANDOM_SEED: u64 = (1 << 53) - 1;

/// Most items one batch may have.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// What varies between the items of a batch.
#[derive(Debug, Clone)]
pub enum BatchItems {
    /// One item per parameter set, each over the template's own parameters (template sources
    /// only).
    Params(Vec<Map<String, Value>>),
    /// One item per set of node inputs, `{"KSampler.seed": 7, "3.steps": 20}` (see
    /// [`Source::with_overrides`]).
    Overrides(Vec<Map<String, Value>>),
    /// One item per seed: the template's seed parameter, or every `seed`/`noise_seed` input
    /// of a raw workflow.
    Seeds(Vec<u64>),
    /// This many items, each with a freshly drawn random seed (as [`BatchItems::Seeds`]).
    RandomSeeds(usize),
}

impl BatchItems {
    /// The items from a surface's optional arguments, of which exactly one must be given
    /// (`param_sets`, `overrides`, `seeds`, `count`); otherwise [`Error::InvalidArgument`]
    /// on `items`.
    pub fn one_of(
        param_sets: Option<Vec<Map<String, Value>>>,
        overrides: Option<Vec<Map<String, Value>>>,
        seeds: Option<Vec<u64>>,
        count: Option<usize>,
    ) -> Result<BatchItems> {
        Ok(match (param_sets, overrides, seeds, count) {
            (Some(p), None, None, None) => BatchItems::Params(p),
            (None, Some(o), None, None) => BatchItems::Overrides(o),
            (None, None, Some(s), None) => BatchItems::Seeds(s),
            (None, None, None, Some(n)) => BatchItems::RandomSeeds(n),
            _ => {
                return Err(Error::InvalidArgument {
                    argument: "items".into(),
                    message: format!(
                        "give exactly one of param_sets, overrides, seeds or count (1 to {MAX_BATCH_ITEMS} items)"
                    ),
                });
            }
        })
    }
}

/// A batch to submit: one source, many items.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// The workflow or template every item starts from.
    pub source: Source,
    /// What each item changes.
    pub items: BatchItems,
}

/// An item's state: [`JobState`] once submitted, `waiting` before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum BatchItemState {
    /// Not submitted yet (the running-jobs cap is full).
    Waiting,
    /// Submitted, waiting in the backend's queue.
    Queued,
    /// Executing.
    Running,
    /// Finished with outputs.
    Succeeded,
    /// Failed, or refused by the backend.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl From<JobState> for BatchItemState {
    fn from(s: JobState) -> Self {
        match s {
            JobState::Pending | JobState::Queued => BatchItemState::Queued,
            JobState::Running => BatchItemState::Running,
            JobState::Succeeded => BatchItemState::Succeeded,
            JobState::Failed => BatchItemState::Failed,
            JobState::Cancelled => BatchItemState::Cancelled,
        }
    }
}

impl BatchItemState {
    /// Succeeded, failed or cancelled.
    pub fn is_finished(self) -> bool {
        matches!(self, BatchItemState::Succeeded | BatchItemState::Failed | BatchItemState::Cancelled)
    }
}

/// A whole batch's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum BatchState {
    /// Some items are waiting, queued or running.
    Running,
    /// Every item succeeded.
    Succeeded,
    /// Every item finished, and at least one did not succeed (see the counts).
    Failed,
}

/// How many items are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BatchCounts {
    /// Not submitted yet.
    pub waiting: usize,
    /// In the backend's queue.
    pub queued: usize,
    /// Executing.
    pub running: usize,
    /// Finished with outputs.
    pub succeeded: usize,
    /// Failed or refused.
    pub failed: usize,
    /// Cancelled.
    pub cancelled: usize,
}

/// One item of a [`BatchStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BatchItemStatus {
    /// Position in the batch (0-based).
    pub index: usize,
    /// Its job, once submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Where it is.
    pub state: BatchItemState,
    /// Completion in `0.0..=1.0`.
    pub fraction: f64,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where a batch is: counts per state, each item, and the overall fraction.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BatchStatus {
    /// The batch id.
    pub batch_id: String,
    /// Overall state.
    pub state: BatchState,
    /// Number of items.
    pub total: usize,
    /// Items per state.
    pub counts: BatchCounts,
    /// Overall completion in `0.0..=1.0` (the mean of the items').
    pub fraction: f64,
    /// Every item, in order.
    pub items: Vec<BatchItemStatus>,
}

impl BatchStatus {
    /// Whether every item finished.
    pub fn is_finished(&self) -> bool {
        self.state != BatchState::Running
    }

    /// `3/8 done (2 succeeded, 1 failed), 2 running, 1 queued, 2 waiting`.
    pub fn describe(&self) -> String {
        let c = &self.counts;
        let done = c.succeeded + c.failed + c.cancelled;
        let mut m = format!("{done}/{} done", self.total);
        let finished: Vec<String> =
            [("succeeded", c.succeeded), ("failed", c.failed), ("cancelled", c.cancelled)]
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| format!("{n} {s}"))
                .collect();
        if !finished.is_empty() {
            m.push_str(&format!(" ({})", finished.join(", ")));
        }
        for (s, n) in [("running", c.running), ("queued", c.queued), ("waiting", c.waiting)] {
            if n > 0 {
                m.push_str(&format!(", {n} {s}"));
            }
        }
        m
    }
}

/// One item's outputs in [`BatchOutputs`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BatchItemOutputs<A = AssetSummary> {
    /// Position in the batch (0-based).
    pub index: usize,
    /// Its job, once submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Where it is.
    pub state: BatchItemState,
    /// Every output, once it succeeded.
    pub outputs: Vec<A>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every output of every item, in item order. Surfaces that add their own fields to an asset
/// (an MCP resource link) put their type in `A`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BatchOutputs<A = AssetSummary> {
    /// The batch id.
    pub batch_id: String,
    /// Overall state.
    pub state: BatchState,
    /// Every item, in order.
    pub items: Vec<BatchItemOutputs<A>>,
}

impl<A> BatchOutputs<A> {
    /// The same outputs with each asset mapped (e.g. to a surface's own type).
    pub fn map<B>(self, mut f: impl FnMut(A) -> B) -> BatchOutputs<B> {
        BatchOutputs {
            batch_id: self.batch_id,
            state: self.state,
            items: self
                .items
                .into_iter()
                .map(|i| BatchItemOutputs {
                    index: i.index,
                    job_id: i.job_id,
                    state: i.state,
                    outputs: i.outputs.into_iter().map(&mut f).collect(),
                    error: i.error,
                })
                .collect(),
        }
    }
}

impl Comfy {
    /// Prepares every item of a batch (a bad item fails the call with
    /// [`Error::BatchItem`] naming it, and nothing is submitted), records the batch, submits
    /// what the running-jobs cap admits and the rest as slots free. The answer is the batch's
    /// status right after the first submissions; its `batch_id` survives restarts.
    pub async fn submit_batch(&self, request: BatchRequest) -> Result<BatchStatus> {
        self.submit_batch_on(request, None).await
    }

    /// [`submit_batch`](Self::submit_batch) with every item pinned to the backend `backend`
    /// names (recorded with each item, so a batch continued after a restart stays there).
    pub async fn submit_batch_on(
        &self,
        request: BatchRequest,
        backend: Option<String>,
    ) -> Result<BatchStatus> {
        self.submit_batch_placed(request, Placement { backend, resubmit_if_lost: false }).await
    }

    /// [`submit_batch`](Self::submit_batch) with every item placed as `place` says (pinned to a
    /// backend, and/or run again elsewhere if its backend is lost with it); recorded with each
    /// item, so a batch continued after a restart keeps it.
    pub async fn submit_batch_placed(&self, request: BatchRequest, place: Placement) -> Result<BatchStatus> {
        self.inner.check_pin(place.backend.as_deref())?;
        let sources = self.batch_sources(request).await?;
        let mut items = Vec::with_capacity(sources.len());
        for (index, (source, seed)) in sources.into_iter().enumerate() {
            let item = |e: Error| Error::BatchItem { index, source: Box::new(e) };
            let prepared = self.prepare(source).await.map_err(item)?;
            let mut request = prepared.into_request();
            place.clone().apply(&mut request);
            self.caller.stamp(&mut request.provenance);
            if let Some(seed) = seed {
                set_seeds(&mut request.workflow, seed).map_err(item)?;
            }
            items.push(BatchItemRecord {
                request: request.to_record(),
                provenance: request.provenance,
                job_id: None,
                error: None,
            });
        }
        let now = now_millis();
        let record = BatchRecord {
            id: format!("b_{}", uuid::Uuid::new_v4().simple()),
            backend: self.inner.backend.name().to_owned(),
            items,
            created_at: now,
            updated_at: now,
        };
        self.inner.store.put_batch(&record).await?;
        tracing::info!(batch = %record.id, items = record.items.len(), "batch recorded");
        self.batch_status(&record.id).await
    }

    /// A batch's status: counts per state, every item's job and state, the overall fraction.
    /// Items still waiting for a slot are submitted first, as far as the cap admits.
    pub async fn batch_status(&self, batch_id: &str) -> Result<BatchStatus> {
        let record = self.pump_batch(batch_id).await?;
        let mut items = Vec::with_capacity(record.items.len());
        let mut counts = BatchCounts::default();
        for (index, item) in record.items.iter().enumerate() {
            let (state, fraction, error) = self.item_state(item).await;
            match state {
                BatchItemState::Waiting => counts.waiting += 1,
                BatchItemState::Queued => counts.queued += 1,
                BatchItemState::Running => counts.running += 1,
                BatchItemState::Succeeded => counts.succeeded += 1,
                BatchItemState::Failed => counts.failed += 1,
                BatchItemState::Cancelled => counts.cancelled += 1,
            }
            items.push(BatchItemStatus {
                index,
                job_id: item.job_id.as_ref().map(|j| j.0.clone()),
                state,
                fraction,
                error,
            });
        }
        let total = items.len();
        let fraction =
            if total == 0 { 1.0 } else { items.iter().map(|i| i.fraction).sum::<f64>() / total as f64 };
        let state = if items.iter().any(|i| !i.state.is_finished()) {
            BatchState::Running
        } else if counts.succeeded == total {
            BatchState::Succeeded
        } else {
            BatchState::Failed
        };
        Ok(BatchStatus { batch_id: record.id, state, total, counts, fraction, items })
    }

    /// Every output of every item, in item order (an item that has not succeeded has none).
    pub async fn batch_outputs(&self, batch_id: &str) -> Result<BatchOutputs> {
        let status = self.batch_status(batch_id).await?;
        let mut items = Vec::with_capacity(status.items.len());
        for item in status.items {
            let mut outputs = Vec::new();
            if item.state == BatchItemState::Succeeded
                && let Some(id) = &item.job_id
            {
                let job = self.job(&JobId(id.clone())).await?;
                for asset in job.snapshot().assets {
                    outputs.push(AssetSummary::from(&self.asset(&asset).await?));
                }
            }
            items.push(BatchItemOutputs {
                index: item.index,
                job_id: item.job_id,
                state: item.state,
                outputs,
                error: item.error,
            });
        }
        Ok(BatchOutputs { batch_id: status.batch_id, state: status.state, items })
    }

    /// Waits up to `budget` for every item to finish, submitting waiting items as slots free;
    /// the answer is the status then (still `running` when the budget ran out — call again).
    pub async fn wait_batch(&self, batch_id: &str, budget: Duration) -> Result<BatchStatus> {
        self.wait_batch_with(batch_id, budget, |_| {}).await
    }

    /// [`Comfy::wait_batch`], calling `on_change` with every status that differs from the last
    /// (counts or fraction) — for progress bars and notifications.
    pub async fn wait_batch_with(
        &self,
        batch_id: &str,
        budget: Duration,
        mut on_change: impl FnMut(&BatchStatus) + Send,
    ) -> Result<BatchStatus> {
        let start = Instant::now();
        let mut last: Option<(BatchCounts, u64)> = None;
        loop {
            let status = self.batch_status(batch_id).await?;
            let key = (status.counts.clone(), (status.fraction * 1000.0).round() as u64);
            if last.as_ref() != Some(&key) {
                on_change(&status);
                last = Some(key);
            }
            let left = budget.saturating_sub(start.elapsed());
            if status.is_finished() || left.is_zero() {
                return Ok(status);
            }
            tokio::time::sleep(left.min(Duration::from_millis(200))).await;
        }
    }

    /// Recorded batches of this client's backend, newest first (only the caller's own,
    /// unless it sees everything).
    pub async fn batches(&self, limit: usize) -> Result<Vec<BatchRecord>> {
        let wanted = crate::store::effective_limit(limit);
        // Batches record their owner on their items: a caller's own are picked from the newest.
        let fetch = if self.caller.sees_all() { limit } else { wanted.saturating_mul(20).max(1000) };
        let query = BatchQuery {
            limit: fetch,
            backend: Some(self.inner.backend.name().to_owned()),
            ..Default::default()
        };
        let mut batches = self.inner.store.list_batches(&query).await?;
        batches.retain(|b| self.sees_batch(b));
        batches.truncate(wanted);
        Ok(batches)
    }

    /// Continues every recorded batch of this backend that has items still to submit (after a
    /// restart); returns their ids. [`Comfy::reattach`] calls it.
    pub async fn resume_batches(&self) -> Result<Vec<String>> {
        let query = BatchQuery {
            limit: 10_000,
            unsubmitted_only: true,
            backend: Some(self.inner.backend.name().to_owned()),
        };
        let mut ids = Vec::new();
        for record in self.inner.store.list_batches(&query).await? {
            if !self.sees_batch(&record) {
                continue;
            }
            self.pump_batch(&record.id).await?;
            ids.push(record.id);
        }
        Ok(ids)
    }

    /// The sources of the items, each with the seed to set on its workflow (raw workflows).
    async fn batch_sources(&self, request: BatchRequest) -> Result<Vec<(Source, Option<u64>)>> {
        let count = match &request.items {
            BatchItems::Params(p) | BatchItems::Overrides(p) => p.len(),
            BatchItems::Seeds(s) => s.len(),
            BatchItems::RandomSeeds(n) => *n,
        };
        if count == 0 || count > MAX_BATCH_ITEMS {
            return Err(Error::InvalidArgument {
                argument: "items".into(),
                message: format!("a batch has 1 to {MAX_BATCH_ITEMS} items, not {count}"),
            });
        }
        let source = request.source;
        Ok(match request.items {
            BatchItems::Params(sets) => {
                let mut out = Vec::with_capacity(sets.len());
                for (index, set) in sets.into_iter().enumerate() {
                    let s = with_params(source.clone(), set)
                        .map_err(|e| Error::BatchItem { index, source: Box::new(e) })?;
                    out.push((s, None));
                }
                out
            }
            BatchItems::Overrides(sets) => {
                sets.into_iter().map(|o| (source.clone().with_overrides(o), None)).collect()
            }
            BatchItems::Seeds(seeds) => self.seeded(source, seeds).await?,
            BatchItems::RandomSeeds(n) => {
                let seeds = (0..n).map(|_| rand::random_range(0..=MAX_RANDOM_SEED)).collect();
                self.seeded(source, seeds).await?
            }
        })
    }

    /// One source per seed: the template's seed parameter when it has one, else the seed is
    /// set on the prepared workflow.
    async fn seeded(&self, source: Source, seeds: Vec<u64>) -> Result<Vec<(Source, Option<u64>)>> {
        let seed_param = match template_of(&source) {
            Some(TemplateRef::Name(name)) => {
                self.template(&name).await?.params.values().find(|p| p.is_seed).cloned()
            }
            Some(TemplateRef::Template(t)) => t.params.values().find(|p| p.is_seed).cloned(),
            None => None,
        };
        let mut out = Vec::with_capacity(seeds.len());
        for seed in seeds {
            match &seed_param {
                Some(spec) => {
                    let params = Map::from_iter([(spec.name.clone(), Value::from(seed))]);
                    out.push((with_params(source.clone(), params)?, None));
                }
                None => out.push((source.clone(), Some(seed))),
            }
        }
        Ok(out)
    }

    /// The batch as recorded, after submitting as many waiting items as the cap admits.
    /// Starts the background task that submits the rest when some still wait.
    pub(super) async fn pump_batch(&self, batch_id: &str) -> Result<BatchRecord> {
        let _pumping = self.inner.batch_lock.lock().await;
        let mut record = self
            .inner
            .store
            .get_batch(batch_id)
            .await?
            .filter(|b| self.sees_batch(b))
            .ok_or_else(|| Error::BatchNotFound { batch_id: batch_id.to_owned() })?;
        if record.backend != self.inner.backend.name() {
            // Another backend's batch: what is recorded is all we know; never submitted here.
            return Ok(record);
        }
        if record.unsubmitted() > 0 && !self.leases_batch(&record.id).await? {
            // A live server of this store submits its items.
            return Ok(record);
        }
        for index in 0..record.items.len() {
            let item = &record.items[index];
            if item.job_id.is_some() || item.error.is_some() {
                continue;
            }
            let request = match item_request(item) {
                Ok(r) => r,
                Err(e) => {
                    record.items[index].error = Some(e.to_string());
                    continue;
                }
            };
            match self.submit(request).await {
                Ok(job) => record.items[index].job_id = Some(job.id().clone()),
                Err(e) if e.is_retryable() => break,
                Err(e) => {
                    tracing::warn!(batch = %record.id, index, error = %e, "the backend refused a batch item");
                    record.items[index].error = Some(e.to_string());
                }
            }
            record.updated_at = now_millis();
            // Recorded after each submission, so a restart does not submit an item twice (a
            // transient store error is retried before it fails the call).
            let mut attempt = 0;
            while let Err(e) = self.inner.store.put_batch(&record).await {
                attempt += 1;
                tracing::error!(batch = %record.id, attempt, error = %e, "could not record a batch item's job");
                if attempt == 3 {
                    return Err(e);
                }
            }
        }
        if record.unsubmitted() > 0 {
            self.spawn_batch_pump(&record.id);
        } else {
            self.release_batch(&record.id).await;
        }
        Ok(record)
    }

    /// Submits a batch's waiting items as slots free, until none waits or the client is gone.
    fn spawn_batch_pump(&self, batch_id: &str) {
        if !lock(&self.inner.pumping).insert(batch_id.to_owned()) {
            return;
        }
        let weak: WeakComfy = self.downgrade();
        let id = batch_id.to_owned();
        let interval = self.inner.options.poll_interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(client) = weak.upgrade() else { return };
                let waiting = match Box::pin(client.pump_batch(&id)).await {
                    Ok(record) => record.unsubmitted(),
                    Err(e) => {
                        tracing::warn!(batch = %id, error = %e, "could not submit waiting batch items");
                        1
                    }
                };
                if waiting == 0 {
                    lock(&client.inner.pumping).remove(&id);
                    return;
                }
            }
        });
    }

    async fn item_state(&self, item: &BatchItemRecord) -> (BatchItemState, f64, Option<String>) {
        if let Some(error) = &item.error {
            return (BatchItemState::Failed, 1.0, Some(error.clone()));
        }
        let Some(id) = &item.job_id else { return (BatchItemState::Waiting, 0.0, None) };
        match self.job(id).await {
            Ok(job) => {
                let status = job.status();
                let fraction = match &status {
                    JobStatus::Running(p) => p.fraction.clamp(0.0, 1.0),
                    s if s.is_terminal() => 1.0,
                    _ => 0.0,
                };
                let error = match &status {
                    JobStatus::Failed(f) => Some(f.message.clone()),
                    _ => None,
                };
                (JobState::from(&status).into(), fraction, error)
            }
            Err(e) => (BatchItemState::Failed, 1.0, Some(e.to_string())),
        }
    }
}

/// The request an item records, rebuilt to submit.
fn item_request(item: &BatchItemRecord) -> Result<JobRequest> {
    super::lost::request_from_record(&item.request, item.provenance.clone())
}

enum TemplateRef {
    Name(String),
    Template(std::sync::Arc<crate::template::Template>),
}

fn template_of(source: &Source) -> Option<TemplateRef> {
    match source {
        Source::Named { name, .. } => Some(TemplateRef::Name(name.clone())),
        Source::Template { template, .. } => Some(TemplateRef::Template(template.clone())),
        Source::Overridden { source, .. } => template_of(source),
        Source::Json(_) | Source::Workflow(_) => None,
    }
}

/// `source` with `params` over its template parameters.
fn with_params(source: Source, extra: Map<String, Value>) -> Result<Source> {
    Ok(match source {
        Source::Named { name, mut params } => {
            params.extend(extra);
            Source::Named { name, params }
        }
        Source::Template { template, mut params } => {
            params.extend(extra);
            Source::Template { template, params }
        }
        Source::Overridden { source, overrides } => {
            Source::Overridden { source: Box::new(with_params(*source, extra)?), overrides }
        }
        Source::Json(_) | Source::Workflow(_) => {
            return Err(Error::InvalidArgument {
                argument: "params".into(),
                message: "a raw workflow has no parameters; vary it with node overrides \
                          ({\"KSampler.seed\": 7}) or seeds instead"
                    .into(),
            });
        }
    })
}

/// Sets `seed` on every literal `seed`/`noise_seed` input; a workflow without one is refused.
fn set_seeds(workflow: &mut Workflow, seed: u64) -> Result<()> {
    let mut set = 0;
    for (_, node) in workflow.nodes_mut() {
        for name in SEED_INPUTS {
            if let Some(input) = node.inputs.get_mut(name)
                && input.as_value().is_some_and(Value::is_number)
            {
                *input = crate::workflow::Input::from_json(Value::from(seed));
                set += 1;
            }
        }
    }
    if set == 0 {
        return Err(Error::InvalidArgument {
            argument: "seeds".into(),
            message: "the workflow has no sampler seed input (seed or noise_seed) to set; vary it \
                      with node overrides instead"
                .into(),
        });
    }
    Ok(())
}
