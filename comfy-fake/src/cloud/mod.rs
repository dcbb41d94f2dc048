//! A fake Comfy Cloud (`cloud.comfy.org`), on the same execution engine as the fake ComfyUI.
//!
//! What it reproduces (from `shared/reference/comfy-cloud.md`): every `/api/*` route needs the
//! API key (`X-API-Key` or `Authorization: Bearer`; 401 `{"code","message"}` otherwise, the
//! WebSocket takes it as `?token=`); Cloud assigns prompt ids; `GET /api/jobs/{id}` answers the
//! friendly states (or, scripted, the raw internal ones), `GET /api/job/{id}/status` the raw
//! ones; jobs of another account are 403; `/api/view` answers 302 to a second "storage" listener
//! whose signed URLs reject any request that carries the API key; `GET /api/queue` uses Cloud's
//! tuple order `[number, prompt_id, workflow, output_ids, {"create_time"}]`; `POST /api/queue`
//! answers `{"deleted", "cleared"}`; the queue holds at most 100 jobs (429 `queue_full`);
//! `POST /api/jobs/{id}/cancel` cancels one job; `POST /api/interrupt` stops the account's
//! running job; every WebSocket connection receives every job's messages; the Cloud workflow
//! store (`/api/workflows`). Error answers can be scripted ([`Rejection`]): 402, 403, both
//! meanings of 429, 503 with `Retry-After`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), comfy_fake::Error> {
//! use comfy_fake::FakeComfyCloud;
//! let cloud = FakeComfyCloud::builder().api_key("comfyui-test").start().await?;
//! let base = cloud.url();                        // "http://127.0.0.1:PORT"
//! cloud.engine().hold();                         // the engine's scripting, as on FakeComfyUi
//! # let _ = base; Ok(()) }
//! ```

mod routes;
mod storage;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::state::Shared;
use crate::{Error, FakeComfyUi, FakeComfyUiBuilder};

/// The key a fake Cloud accepts when none was configured.
pub const DEFAULT_API_KEY: &str = "comfyui-fake-cloud-key";

/// Which status words `GET /api/jobs/{id}` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    /// `pending | in_progress | completed | failed | cancelled` (the documented detail endpoint).
    Friendly,
    /// The raw internal states (`submitted`, `executing`, `success`, `error`, `cancelled`), as
    /// the status endpoint really returns them.
    Raw,
}

/// A scripted error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// 402 `insufficient_credits`.
    InsufficientCredits,
    /// 429 "User has not paid" (inactive subscription).
    SubscriptionInactive,
    /// 429 "Rate limit exceeded", with `Retry-After` seconds.
    RateLimited {
        /// `Retry-After`.
        retry_after_secs: u32,
    },
    /// 429 `queue_full`.
    QueueFull,
    /// 503 with `Retry-After` seconds.
    Unavailable {
        /// `Retry-After`.
        retry_after_secs: u32,
    },
    /// 403 `forbidden`.
    Forbidden,
}

/// One request the storage listener received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRequest {
    /// The path.
    pub path: String,
    /// Header names it carried (lower-case).
    pub headers: Vec<String>,
    /// Whether it was refused because it carried a credential.
    pub refused: bool,
}

/// A Cloud saved workflow.
#[derive(Debug, Clone)]
pub(crate) struct SavedEntity {
    pub name: String,
    pub description: Option<String>,
    pub workflow: Value,
    pub created_ms: u64,
}

/// What the cloud routes know beyond the engine.
pub(crate) struct CloudState {
    pub engine: Arc<Shared>,
    /// API key → account.
    pub keys: HashMap<String, String>,
    pub storage_url: String,
    pub inner: Mutex<CloudInner>,
}

/// Mutable cloud state and scripts.
#[derive(Default)]
pub(crate) struct CloudInner {
    /// prompt id → (account, submitted at, create time in ms).
    pub owners: HashMap<String, (String, Instant, u64)>,
    /// Jobs cancelled while pending (they leave no history).
    pub cancelled: HashSet<String>,
    /// Signed-URL token → (folder, subfolder, filename).
    pub signed: HashMap<String, (String, String, String)>,
    pub storage_log: Vec<StorageRequest>,
    pub rejections: Vec<(String, Rejection, u32)>,
    pub workflows: BTreeMap<String, SavedEntity>,
    pub account_interrupts: u32,
    pub cancel_calls: Vec<String>,
    /// Every API key or token presented (header or `token=` query), known or not, in order.
    pub keys_seen: Vec<String>,
    pub vocabulary: Option<Vocabulary>,
    pub jobs_route: bool,
    pub cancel_route: bool,
    pub omit_outputs: bool,
    pub listing_lag: Duration,
    pub queue_limit: usize,
}

impl CloudState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, CloudInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Configures a [`FakeComfyCloud`].
pub struct FakeComfyCloudBuilder {
    engine: FakeComfyUiBuilder,
    keys: Vec<String>,
    listen: SocketAddr,
    vocabulary: Vocabulary,
    listing_lag: Duration,
    queue_limit: usize,
}

impl FakeComfyCloudBuilder {
    /// The execution engine's settings (catalogue, step delay, previews, model files), as for
    /// [`FakeComfyUi::builder`].
    pub fn engine(mut self, f: impl FnOnce(FakeComfyUiBuilder) -> FakeComfyUiBuilder) -> Self {
        self.engine = f(self.engine);
        self
    }

    /// An accepted API key; each key is its own account (jobs of another account are 403).
    /// Without any, [`DEFAULT_API_KEY`] is accepted.
    pub fn api_key(mut self, key: &str) -> Self {
        self.keys.push(key.to_owned());
        self
    }

    /// The address to bind (default `127.0.0.1:0`); storage gets its own free port.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The status words of `GET /api/jobs/{id}` (default friendly).
    pub fn vocabulary(mut self, v: Vocabulary) -> Self {
        self.vocabulary = v;
        self
    }

    /// For this long after a submit, the job is not listed yet (404): Cloud's eventual
    /// consistency.
    pub fn listing_lag(mut self, lag: Duration) -> Self {
        self.listing_lag = lag;
        self
    }

    /// How many jobs the queue holds (default 100) before submits are 429 `queue_full`.
    pub fn queue_limit(mut self, n: usize) -> Self {
        self.queue_limit = n;
        self
    }

    /// Starts the Cloud listener, the storage listener and the engine's worker.
    pub async fn start(self) -> Result<FakeComfyCloud, Error> {
        let shared = self.engine.price_badges(true).into_shared()?;
        shared.lock().broadcast_all = true;
        let storage_listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.map_err(Error::Io)?;
        let storage_addr = storage_listener.local_addr().map_err(Error::Io)?;
        let listener = tokio::net::TcpListener::bind(self.listen).await.map_err(Error::Io)?;
        let addr = listener.local_addr().map_err(Error::Io)?;
        let keys = if self.keys.is_empty() { vec![DEFAULT_API_KEY.to_owned()] } else { self.keys };
        let cloud = Arc::new(CloudState {
            engine: shared.clone(),
            keys: keys.iter().enumerate().map(|(i, k)| (k.clone(), format!("user-{i}"))).collect(),
            storage_url: format!("http://{storage_addr}"),
            inner: Mutex::new(CloudInner {
                vocabulary: Some(self.vocabulary),
                jobs_route: true,
                cancel_route: true,
                listing_lag: self.listing_lag,
                queue_limit: self.queue_limit,
                ..Default::default()
            }),
        });
        let app = routes::build(cloud.clone());
        let storage_app = storage::build(cloud.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let storage = tokio::spawn(async move {
            let _ = axum::serve(storage_listener, storage_app).await;
        });
        let worker = tokio::spawn(crate::worker::run(shared.clone()));
        let engine = FakeComfyUi { shared, addr, tasks: vec![server, storage, worker] };
        Ok(FakeComfyCloud { engine, cloud, keys })
    }
}

/// A running fake Comfy Cloud. Dropping it stops everything.
pub struct FakeComfyCloud {
    engine: FakeComfyUi,
    cloud: Arc<CloudState>,
    keys: Vec<String>,
}

impl FakeComfyCloud {
    /// A builder: the bundled core catalogue, friendly vocabulary, no listing lag, a queue of 100.
    pub fn builder() -> FakeComfyCloudBuilder {
        FakeComfyCloudBuilder {
            engine: FakeComfyUi::builder().official_templates(false),
            keys: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            vocabulary: Vocabulary::Friendly,
            listing_lag: Duration::ZERO,
            queue_limit: 100,
        }
    }

    /// `http://127.0.0.1:PORT` (the Cloud base URL; routes are under `/api`).
    pub fn url(&self) -> String {
        self.engine.url()
    }

    /// The storage listener's base URL (where `/api/view` redirects).
    pub fn storage_url(&self) -> String {
        self.cloud.storage_url.clone()
    }

    /// The first accepted API key.
    pub fn api_key(&self) -> &str {
        self.keys.first().map_or(DEFAULT_API_KEY, String::as_str)
    }

    /// The execution engine, with all of [`FakeComfyUi`]'s scripting and introspection (hold,
    /// release, node failures, received prompts, files, ...).
    pub fn engine(&self) -> &FakeComfyUi {
        &self.engine
    }

    /// The next `times` requests whose path starts with `path` (e.g. `/api/prompt`) get this
    /// error answer.
    pub fn reject(&self, path: &str, rejection: Rejection, times: u32) {
        self.cloud.lock().rejections.push((path.to_owned(), rejection, times));
    }

    /// Changes the status words of `GET /api/jobs/{id}`.
    pub fn set_vocabulary(&self, v: Vocabulary) {
        self.cloud.lock().vocabulary = Some(v);
    }

    /// Whether `GET /api/jobs/{id}` exists (off: 404, so clients fall back to the raw status).
    pub fn set_jobs_route(&self, on: bool) {
        self.cloud.lock().jobs_route = on;
    }

    /// Whether `POST /api/jobs/{id}/cancel` exists (off: 404).
    pub fn set_cancel_route(&self, on: bool) {
        self.cloud.lock().cancel_route = on;
    }

    /// Whether job details leave out `outputs` (clients then read `/api/history_v2/{id}`).
    pub fn set_omit_outputs(&self, on: bool) {
        self.cloud.lock().omit_outputs = on;
    }

    /// Changes the listing lag (see [`FakeComfyCloudBuilder::listing_lag`]).
    pub fn set_listing_lag(&self, lag: Duration) {
        self.cloud.lock().listing_lag = lag;
    }

    /// Every request the storage listener received.
    pub fn storage_requests(&self) -> Vec<StorageRequest> {
        self.cloud.lock().storage_log.clone()
    }

    /// How many account-wide `POST /api/interrupt` calls were made.
    pub fn account_interrupts(&self) -> u32 {
        self.cloud.lock().account_interrupts
    }

    /// Job ids of every `POST /api/jobs/{id}/cancel` call.
    pub fn cancel_calls(&self) -> Vec<String> {
        self.cloud.lock().cancel_calls.clone()
    }

    /// Every API key presented to it (`X-API-Key`, `Authorization: Bearer`, `token=`), known
    /// or not, in arrival order.
    pub fn keys_seen(&self) -> Vec<String> {
        self.cloud.lock().keys_seen.clone()
    }

    /// Stops everything.
    pub fn shutdown(self) {
        self.engine.shutdown();
    }
}
