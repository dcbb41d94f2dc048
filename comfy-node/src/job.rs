//! `NativeJob` and `NativeEvents`: one submitted job — its status, waiting (with a time limit
//! and an abort token), cancelling, its outputs — and the stream of its updates.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::{Comfy, Follow, Job, Waited};
use napi::Env;
use napi::bindgen_prelude::{AsyncBlock, AsyncBlockBuilder};
use napi_derive::napi;

use crate::abort::{AbortToken, token_of, unless_aborted};
use crate::error::IntoNapi;
use crate::types::{AssetInfo, JobEvent, JobState};

/// A submitted job (internal: `Job` in `index.js` wraps it).
#[napi(js_name = "NativeJob")]
#[derive(Debug, Clone)]
pub struct JobHandle {
    job: Job,
    comfy: Comfy,
}

impl JobHandle {
    /// Wraps a core job handle.
    pub fn new(job: Job, comfy: Comfy) -> JobHandle {
        JobHandle { job, comfy }
    }
}

/// A time limit in milliseconds from JavaScript (negative or NaN is zero).
fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::ZERO)
}

#[napi]
impl JobHandle {
    /// The job id (the prompt id on a local ComfyUI).
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.job.id().0.clone()
    }

    /// `pending`, `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[napi(getter)]
    pub fn status(&self) -> String {
        self.job.status().name().to_owned()
    }

    /// Where the job is now: status, queue position, progress, failure.
    #[napi]
    pub fn state(&self) -> JobState {
        JobState::from(&self.job.status())
    }

    /// Resolves `true` once the job finished, `false` when `timeoutMs` passed first (the job
    /// goes on); rejects with `aborted` when the token fires.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn wait(
        &self,
        env: &Env,
        timeout_ms: Option<f64>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<AsyncBlock<bool>> {
        let (job, token) = (self.job.clone(), token_of(abort));
        let wait = async move {
            let waited = match timeout_ms {
                Some(ms) => job.wait(millis(ms)).await,
                None => job.result().await.map(Waited::Finished),
            };
            waited.napi().map(|w| matches!(w, Waited::Finished(_)))
        };
        AsyncBlockBuilder::new(unless_aborted(token, wait)).build(env)
    }

    /// Cancels this job only: `removed_from_queue`, `interrupted`, `interrupt_requested` (the
    /// server did not confirm in time), `already_finished`, `cancel_requested` (a hosted backend
    /// stops it later) or `not_cancellable`.
    #[napi]
    pub async fn cancel(&self) -> napi::Result<String> {
        Ok(self.job.cancel().await.napi()?.as_str().to_owned())
    }

    /// Every output recorded for the job (empty until it finished), in output order.
    #[napi]
    pub async fn assets(&self) -> napi::Result<Vec<AssetInfo>> {
        let ids = self.job.snapshot().assets;
        let mut assets = Vec::with_capacity(ids.len());
        for id in &ids {
            assets.push(AssetInfo::from(&self.comfy.asset(id).await.napi()?));
        }
        Ok(assets)
    }

    /// The job's updates from now on (the first is the current state, the last `finished`).
    #[napi]
    pub fn events(&self) -> EventStream {
        EventStream { follow: Arc::new(tokio::sync::Mutex::new(self.job.follow())) }
    }
}

/// The updates of one job (internal: `job.events()` in `index.js` is its async iterator).
#[napi(js_name = "NativeEvents")]
#[derive(Debug, Clone)]
pub struct EventStream {
    follow: Arc<tokio::sync::Mutex<Follow>>,
}

#[napi]
impl EventStream {
    /// The next update, or `null` after the `finished` one; rejects with `aborted` when the
    /// token fires (the stream stays usable).
    #[napi(ts_return_type = "Promise<JobEvent | null>")]
    pub fn next(&self, env: &Env, abort: Option<&AbortToken>) -> napi::Result<AsyncBlock<Option<JobEvent>>> {
        let (follow, token) = (self.follow.clone(), token_of(abort));
        let next = async move { Ok(follow.lock().await.next().await.map(JobEvent::from)) };
        AsyncBlockBuilder::new(unless_aborted(token, next)).build(env)
    }
}
