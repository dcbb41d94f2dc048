//! A fake RunComfy Serverless API (`api.runcomfy.net`), on the same execution engine as the
//! fake ComfyUI.
//!
//! What it reproduces (from `shared/reference/runcomfy.md`): bearer-token auth on every route
//! (401 `{"error_code": 401001, "error_message"}`); deployments CRUD under `/prod/v2`
//! (bare-array list, `includes=payload|readme`, PATCH refused without `name`, one-element
//! `hardware` of the known SKUs, deleted deployments answer 10003, disabled ones 10002);
//! inference under both `/prod/v1` and `/prod/v2` with node-keyed `overrides` (422001 with a
//! `detail` list for unknown nodes or inputs) or an inline `workflow_api_json` (not both),
//! media inputs as data URIs or hosted URLs; status `in_queue` + `queue_position` →
//! `in_progress` (+ `instance_id`) → `completed` (also for failures, which only the result
//! shows) or `cancelled`; results with every output item given a hosted `url` on a second
//! "CDN" listener that refuses any request carrying credentials; failures as an `error` object
//! or array; cancel answered in the documented shape (`outcome`) or the earlier one
//! (`cancellation_requested`); the instance proxy (`object_info`, `api/free`); the balance.
//!
//! ```no_run
//! # async fn demo() -> Result<(), comfy_fake::Error> {
//! use comfy_fake::FakeRunComfy;
//! let rc = FakeRunComfy::builder().token("rc-test").start().await?;
//! let (base, deployment) = (rc.url(), rc.deployment_id());
//! rc.engine().hold();
//! # let _ = (base, deployment); Ok(()) }
//! ```

mod cdn;
mod deployments;
mod requests;
mod routes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::state::Shared;
use crate::{Error, FakeComfyUi, FakeComfyUiBuilder};

/// The token a fake RunComfy accepts when none was configured.
pub const DEFAULT_TOKEN: &str = "rc-fake-token";

/// The id of the deployment every fake RunComfy starts with.
pub const DEFAULT_DEPLOYMENT_ID: &str = "0d3e5a7c-0000-4000-8000-00000000d001";

/// How cancel answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelShape {
    /// `202 {"status": "completed", "outcome": "cancelled" | "not_cancellable"}` (the 2026 docs).
    Outcome,
    /// `{"status": "cancellation_requested"}` / `{"status": "not_cancellable"}` (earlier answers).
    Requested,
}

/// How a failure's `error` looks in a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// An object: `type`, `message` and ComfyUI's execution-error fields.
    Object,
    /// An array of `{errorCode, error, debugInfo}`.
    Array,
}

/// One request the CDN listener received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnRequest {
    /// The path.
    pub path: String,
    /// Header names it carried (lower-case).
    pub headers: Vec<String>,
    /// Whether it was refused because it carried a credential.
    pub refused: bool,
}

/// One inference request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub deployment: String,
    pub account: String,
    pub created: String,
    pub cancelled: bool,
}

/// Mutable state beyond the engine.
#[derive(Default)]
pub(crate) struct Inner {
    pub deployments: BTreeMap<String, Value>,
    pub deleted: HashSet<String>,
    pub requests: HashMap<String, Request>,
    /// CDN token → (folder, subfolder, filename).
    pub hosted: HashMap<String, (String, String, String)>,
    pub cdn_log: Vec<CdnRequest>,
    pub cancel_shape: Option<CancelShape>,
    pub error_shape: Option<ErrorShape>,
    pub canceled_spelling: bool,
    pub failed_on_status: bool,
    pub inference_bodies: Vec<Value>,
    pub inference_queries: Vec<String>,
    pub input_counter: u64,
    /// Scripted failures: (path fragment, HTTP status, times left).
    pub failures: Vec<(String, u16, u32)>,
    /// `METHOD path` of every authenticated request, in order.
    pub calls: Vec<String>,
    /// Every bearer token presented, known or not, in order.
    pub tokens_seen: Vec<String>,
}

/// What the routes share.
pub(crate) struct RcState {
    pub engine: Arc<Shared>,
    /// Token → account.
    pub tokens: HashMap<String, String>,
    pub api_url: String,
    pub cdn_url: String,
    pub inner: Mutex<Inner>,
}

impl RcState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Configures a [`FakeRunComfy`].
pub struct FakeRunComfyBuilder {
    engine: FakeComfyUiBuilder,
    tokens: Vec<String>,
    listen: SocketAddr,
}

impl FakeRunComfyBuilder {
    /// The execution engine's settings, as for [`FakeComfyUi::builder`].
    pub fn engine(mut self, f: impl FnOnce(FakeComfyUiBuilder) -> FakeComfyUiBuilder) -> Self {
        self.engine = f(self.engine);
        self
    }

    /// An accepted token; each is its own account. Without any, [`DEFAULT_TOKEN`].
    pub fn token(mut self, token: &str) -> Self {
        self.tokens.push(token.to_owned());
        self
    }

    /// The address to bind (default `127.0.0.1:0`); the CDN gets its own free port.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Starts the API listener, the CDN listener and the engine's worker.
    pub async fn start(self) -> Result<FakeRunComfy, Error> {
        let shared = self.engine.into_shared()?;
        let cdn_listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.map_err(Error::Io)?;
        let cdn_addr = cdn_listener.local_addr().map_err(Error::Io)?;
        let listener = tokio::net::TcpListener::bind(self.listen).await.map_err(Error::Io)?;
        let addr = listener.local_addr().map_err(Error::Io)?;
        let tokens = if self.tokens.is_empty() { vec![DEFAULT_TOKEN.to_owned()] } else { self.tokens };
        let state = Arc::new(RcState {
            engine: shared.clone(),
            tokens: tokens.iter().enumerate().map(|(i, k)| (k.clone(), format!("user-{i}"))).collect(),
            api_url: format!("http://{addr}"),
            cdn_url: format!("http://{cdn_addr}"),
            inner: Mutex::new(Inner::default()),
        });
        {
            let mut inner = state.lock();
            let first = tokens.first().map(|_| "user-0".to_owned()).unwrap_or_default();
            let d = deployments::new_deployment(
                &state,
                DEFAULT_DEPLOYMENT_ID,
                &first,
                &json!({"name": "fake-text-to-image", "workflow_id": "00000000-0000-4000-8000-0000000f1111",
                        "workflow_version": "v1", "hardware": ["AMPERE_48"], "min_instances": 0,
                        "max_instances": 1, "queue_size": 1, "keep_warm_duration_in_seconds": 60}),
            );
            inner.deployments.insert(DEFAULT_DEPLOYMENT_ID.to_owned(), d);
        }
        let app = routes::build(state.clone());
        let cdn_app = cdn::build(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let cdn = tokio::spawn(async move {
            let _ = axum::serve(cdn_listener, cdn_app).await;
        });
        let worker = tokio::spawn(crate::worker::run(shared.clone()));
        let engine = FakeComfyUi { shared, addr, tasks: vec![server, cdn, worker] };
        Ok(FakeRunComfy { engine, state, tokens })
    }
}

/// A running fake RunComfy. Dropping it stops everything.
pub struct FakeRunComfy {
    engine: FakeComfyUi,
    state: Arc<RcState>,
    tokens: Vec<String>,
}

impl FakeRunComfy {
    /// A builder: the bundled core catalogue, one deployment ([`DEFAULT_DEPLOYMENT_ID`]).
    pub fn builder() -> FakeRunComfyBuilder {
        FakeRunComfyBuilder {
            engine: FakeComfyUi::builder().official_templates(false),
            tokens: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// `http://127.0.0.1:PORT` (the API base URL; routes under `/prod/v1` and `/prod/v2`).
    pub fn url(&self) -> String {
        self.engine.url()
    }

    /// The CDN listener's base URL (where output URLs point).
    pub fn cdn_url(&self) -> String {
        self.state.cdn_url.clone()
    }

    /// The first accepted token.
    pub fn token(&self) -> &str {
        self.tokens.first().map_or(DEFAULT_TOKEN, String::as_str)
    }

    /// The deployment the fake starts with.
    pub fn deployment_id(&self) -> &'static str {
        DEFAULT_DEPLOYMENT_ID
    }

    /// The execution engine, with all of [`FakeComfyUi`]'s scripting and introspection.
    pub fn engine(&self) -> &FakeComfyUi {
        &self.engine
    }

    /// Replaces the saved workflow (`payload.workflow_api_json`) of a deployment.
    pub fn set_deployment_workflow(&self, id: &str, workflow: Value) {
        if let Some(d) = self.state.lock().deployments.get_mut(id) {
            d["payload"]["workflow_api_json"] = workflow;
        }
    }

    /// Whether a deployment's payload carries an `object_info_url` (default true).
    pub fn set_object_info_url(&self, id: &str, on: bool) {
        let url = format!("{}/object_info/{id}.json", self.state.cdn_url);
        if let Some(d) = self.state.lock().deployments.get_mut(id) {
            match on {
                true => d["payload"]["object_info_url"] = json!(url),
                false => {
                    if let Some(p) = d["payload"].as_object_mut() {
                        p.remove("object_info_url");
                    }
                }
            }
        }
    }

    /// How cancel answers (default [`CancelShape::Outcome`]).
    pub fn set_cancel_shape(&self, shape: CancelShape) {
        self.state.lock().cancel_shape = Some(shape);
    }

    /// How a failure's `error` looks (default [`ErrorShape::Object`]).
    pub fn set_error_shape(&self, shape: ErrorShape) {
        self.state.lock().error_shape = Some(shape);
    }

    /// Spell the cancelled state `canceled` (as one client saw it).
    pub fn set_canceled_spelling(&self, on: bool) {
        self.state.lock().canceled_spelling = on;
    }

    /// Say `failed` on the status endpoint instead of hiding it behind `completed`.
    pub fn set_failed_on_status(&self, on: bool) {
        self.state.lock().failed_on_status = on;
    }

    /// The next `times` requests whose path contains `fragment` (e.g. `/inference`, `/status`)
    /// answer `status` with error code 500001 (after being counted in [`calls`](Self::calls)).
    pub fn fail_next(&self, fragment: &str, status: u16, times: u32) {
        self.state.lock().failures.push((fragment.to_owned(), status, times));
    }

    /// `METHOD path` of every authenticated API request, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().calls.clone()
    }

    /// Every bearer token presented to the API, known or not, in arrival order.
    pub fn tokens_seen(&self) -> Vec<String> {
        self.state.lock().tokens_seen.clone()
    }

    /// Every request the CDN listener received.
    pub fn cdn_requests(&self) -> Vec<CdnRequest> {
        self.state.lock().cdn_log.clone()
    }

    /// Every inference body received, in order.
    pub fn inference_bodies(&self) -> Vec<Value> {
        self.state.lock().inference_bodies.clone()
    }

    /// The query string of every inference call, in order.
    pub fn inference_queries(&self) -> Vec<String> {
        self.state.lock().inference_queries.clone()
    }

    /// Stops everything.
    pub fn shutdown(self) {
        self.engine.shutdown();
    }
}
