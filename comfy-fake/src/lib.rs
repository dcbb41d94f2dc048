//! # comfy-fake
//!
//! A protocol-faithful fake ComfyUI server (HTTP + WebSocket) that tests start in-process.
//! Its answers follow real ComfyUI 0.3.64 captures (`shared/fixtures/comfyui`): the same routes
//! (each also under `/api`), status codes, JSON shapes, WebSocket message sequence and routing,
//! binary preview frames, queue ordering, caching, history and upload/view rules.
//!
//! ```no_run
//! # async fn demo() -> Result<(), comfy_fake::Error> {
//! use std::time::Duration;
//! use comfy_fake::FakeComfyUi;
//!
//! let fake = FakeComfyUi::builder()
//!     .object_info_fixture()                 // the full captured /object_info
//!     .step_delay(Duration::from_millis(5))  // between progress steps
//!     .start()
//!     .await?;                               // binds 127.0.0.1:0
//! let base = fake.url();                     // "http://127.0.0.1:PORT"
//! fake.hold();                               // build a queue deterministically...
//! fake.release();                            // ...then let it run
//! fake.fail_node_class("ImageInvert", "RuntimeError", "boom");
//! # let _ = base; Ok(()) }
//! ```
//!
//! What runs: one worker executes one prompt at a time. Nodes "compute" just enough to be
//! realistic: image sizes flow from `EmptyImage`/`LoadImage`/`ImageScale`..., scalar values
//! from primitives, `GetImageSize` and `StringConcatenate`; output nodes write small real PNGs
//! (and placeholder bytes for video/audio/3D) that `/view` serves. See the crate README for
//! what is faithful and what is simplified (`comfy-fake/README.md`).

#![warn(missing_docs)]

pub mod cloud;
mod files;
mod graph;
mod outputs;
mod pyfmt;
mod queue;
mod router;
pub mod runcomfy;
mod scripting;
mod state;
mod upload;
mod userdata;
mod validation;
mod worker;
mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use comfy_core::Catalog;
use serde_json::Value;
use tokio::task::JoinHandle;

pub use cloud::{FakeComfyCloud, FakeComfyCloudBuilder, Rejection, Vocabulary};
pub use files::Folder;
pub use runcomfy::{FakeRunComfy, FakeRunComfyBuilder};
pub use scripting::{InterruptCall, UploadRecord};

use state::{Config, Shared, State};

/// Why the fake could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The shared fixtures directory was not found.
    FixturesNotFound(String),
    /// A fixture or catalogue file could not be read or parsed.
    Fixture(String),
    /// Binding the listening socket failed.
    Io(std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::FixturesNotFound(m) => write!(f, "ComfyUI fixtures not found: {m}"),
            Error::Fixture(m) => write!(f, "bad fixture: {m}"),
            Error::Io(e) => write!(f, "cannot start the fake server: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// The captured ComfyUI fixtures directory (`…/shared/fixtures/comfyui`): `$COMFY_FIXTURES_DIR`
/// if set (that directory itself, or one containing `comfyui/` or `fixtures/comfyui/`), else
/// `shared/fixtures/comfyui` beside the workspace.
pub fn fixtures_dir() -> Result<PathBuf, Error> {
    let candidates: Vec<PathBuf> = match std::env::var_os("COMFY_FIXTURES_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            vec![dir.clone(), dir.join("comfyui"), dir.join("fixtures/comfyui")]
        }
        None => {
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            vec![manifest.join("../../shared/fixtures/comfyui"), manifest.join("../shared/fixtures/comfyui")]
        }
    };
    candidates
        .iter()
        .find(|d| d.join("http").is_dir())
        .cloned()
        .ok_or_else(|| Error::FixturesNotFound(format!("looked in {candidates:?}; set COMFY_FIXTURES_DIR")))
}

/// Where the node catalogue comes from.
enum ObjectInfo {
    /// The 30-class core subset bundled with this crate, plus five partner (API) node classes
    /// from the full capture (`data/object_info_partner.json`).
    Core,
    /// `http/object_info_full.json` from the fixtures (496 classes).
    FullFixture,
    /// A caller-supplied `/object_info` body.
    Custom(Value),
}

/// Configures a [`FakeComfyUi`].
pub struct FakeComfyUiBuilder {
    object_info: ObjectInfo,
    extra_classes: Vec<(String, Value)>,
    step_delay: Duration,
    previews: bool,
    model_files: HashMap<String, Vec<String>>,
    embeddings: Vec<String>,
    listen: SocketAddr,
    official_templates: bool,
    price_badges: bool,
}

impl FakeComfyUiBuilder {
    /// Adds the `price_badge` Comfy Cloud's catalogue carries to the partner classes the fake
    /// prices (see [`PRICE_BADGES`]); the captured ComfyUI 0.3.75 catalogue has none. On by
    /// default in the Cloud mode.
    pub fn price_badges(mut self, on: bool) -> Self {
        self.price_badges = on;
        self
    }

    /// The address to bind (default `127.0.0.1:0`, a free loopback port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Whether `/templates/index.json` and `/templates/<name>.json` serve the bundled slice of
    /// the official templates (default on; off answers 404 like a server without the
    /// `comfyui-workflow-templates` package).
    pub fn official_templates(mut self, on: bool) -> Self {
        self.official_templates = on;
        self
    }

    /// Serves the full captured catalogue (`http/object_info_full.json`, located with
    /// [`fixtures_dir`]). Without this the bundled 30-class core subset is served.
    pub fn object_info_fixture(mut self) -> Self {
        self.object_info = ObjectInfo::FullFixture;
        self
    }

    /// Serves this `/object_info` body instead.
    pub fn object_info(mut self, object_info: Value) -> Self {
        self.object_info = ObjectInfo::Custom(object_info);
        self
    }

    /// Adds (or replaces) one node class in the served catalogue, e.g. a custom node.
    pub fn node_class(mut self, name: &str, info: Value) -> Self {
        self.extra_classes.push((name.to_string(), info));
        self
    }

    /// Delay between progress steps of nodes with an INT `steps` input (default 0).
    pub fn step_delay(mut self, delay: Duration) -> Self {
        self.step_delay = delay;
        self
    }

    /// Whether nodes with `steps` send binary preview frames with their progress (default off,
    /// like ComfyUI's default `--preview-method none`). `SaveImageWebsocket` always sends.
    pub fn previews(mut self, on: bool) -> Self {
        self.previews = on;
        self
    }

    /// Files listed by `GET /models/{folder}` (the folder must be one ComfyUI knows). They also
    /// fill the matching loader combos of the catalogue (`checkpoints` → `ckpt_name`, `loras` →
    /// `lora_name`, `vae` → `vae_name`, ...), as a real server lists its files there.
    pub fn model_files(mut self, folder: &str, files: &[&str]) -> Self {
        self.model_files.insert(folder.to_string(), files.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Names listed by `GET /embeddings`.
    pub fn embeddings(mut self, names: &[&str]) -> Self {
        self.embeddings = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Binds the listen address (`127.0.0.1:0` unless [`listen`](Self::listen) was called) and
    /// starts the HTTP server and the prompt worker.
    pub async fn start(self) -> Result<FakeComfyUi, Error> {
        let listen = self.listen;
        let shared = self.into_shared()?;
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(Error::Io)?;
        let addr = listener.local_addr().map_err(Error::Io)?;
        let app = router::build(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let worker = tokio::spawn(worker::run(shared.clone()));
        Ok(FakeComfyUi { shared, addr, tasks: vec![server, worker] })
    }

    /// The engine's shared state (catalogue, queue, files, sockets), not yet serving.
    pub(crate) fn into_shared(self) -> Result<Arc<Shared>, Error> {
        let mut object_info = match self.object_info {
            ObjectInfo::Core => {
                let mut core = parse(include_str!("../data/object_info_core.json"), "object_info_core.json")?;
                let partner =
                    parse(include_str!("../data/object_info_partner.json"), "object_info_partner.json")?;
                if let (Value::Object(core), Value::Object(partner)) = (&mut core, partner) {
                    core.extend(partner);
                }
                core
            }
            ObjectInfo::FullFixture => {
                let path = fixtures_dir()?.join("http/object_info_full.json");
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| Error::Fixture(format!("{}: {e}", path.display())))?;
                parse(&text, "object_info_full.json")?
            }
            ObjectInfo::Custom(v) => v,
        };
        if let Value::Object(map) = &mut object_info {
            for (name, info) in self.extra_classes {
                map.insert(name, info);
            }
        }
        if self.price_badges {
            add_price_badges(&mut object_info);
        }
        fill_model_combos(&mut object_info, &self.model_files);
        let catalog = Catalog::from_value(&object_info).map_err(|e| Error::Fixture(e.to_string()))?;
        let model_folders: Vec<String> = serde_json::from_str(include_str!("../data/models.json"))
            .map_err(|e| Error::Fixture(format!("models.json: {e}")))?;
        let config = Config {
            catalog,
            object_info,
            system_stats: parse(include_str!("../data/system_stats.json"), "system_stats.json")?,
            model_folders,
            model_files: self.model_files,
            embeddings: self.embeddings,
            official_templates: self.official_templates,
        };
        Ok(Shared::new(config, State::new(self.step_delay, self.previews)))
    }
}

/// The price badges of the fake Cloud catalogue, in Comfy Cloud's form
/// (`{engine: "jsonata", depends_on, expr}`, the expression answering `{type: "usd", usd}`):
/// Flux Ultra's documented fixed price, and made-up prices for the rest — one that depends on
/// a widget (`duration`) and one on a combo (`quality`). `TripoTextToModelNode` has none.
pub const PRICE_BADGES: &[(&str, &[&str], &str)] = &[
    ("FluxProUltraImageNode", &[], r#"{"type":"usd","usd":0.06}"#),
    ("MinimaxTextToVideoNode", &[], r#"{"type":"usd","usd":0.43}"#),
    ("StabilityTextToAudio", &["duration"], r#"{"type":"usd","usd": 0.2 + widgets.duration * 0.01}"#),
    (
        "OpenAIGPTImage1",
        &["quality", "n"],
        r#"(widgets.quality = "high" ? {"type":"range_usd","min_usd":0.167 * widgets.n,"max_usd":0.25 * widgets.n} : {"type":"usd","usd":0.011 * widgets.n})"#,
    ),
];

fn add_price_badges(object_info: &mut Value) {
    let Value::Object(classes) = object_info else { return };
    for (class, widgets, expr) in PRICE_BADGES {
        if let Some(Value::Object(info)) = classes.get_mut(*class) {
            info.insert(
                "price_badge".into(),
                serde_json::json!({"engine": "jsonata", "depends_on": {"widgets": widgets, "inputs": [], "input_groups": []}, "expr": expr}),
            );
        }
    }
}

/// The loader inputs whose combo lists a model folder, as a real server fills them from disk.
const MODEL_INPUTS: &[(&str, &str)] = &[
    ("checkpoints", "ckpt_name"),
    ("loras", "lora_name"),
    ("vae", "vae_name"),
    ("controlnet", "control_net_name"),
    ("clip", "clip_name"),
    ("text_encoders", "clip_name"),
    ("diffusion_models", "unet_name"),
    ("upscale_models", "model_name"),
];

/// Puts the configured model files into the loader combos of the catalogue.
fn fill_model_combos(object_info: &mut Value, model_files: &HashMap<String, Vec<String>>) {
    let Value::Object(classes) = object_info else { return };
    for (folder, files) in model_files {
        let names: Vec<&str> = MODEL_INPUTS.iter().filter(|(f, _)| f == folder).map(|(_, i)| *i).collect();
        let list = Value::Array(files.iter().map(|f| Value::String(f.clone())).collect());
        for info in classes.values_mut() {
            for section in ["required", "optional"] {
                let Some(Value::Object(inputs)) = info.pointer_mut(&format!("/input/{section}")) else {
                    continue;
                };
                for (name, spec) in inputs.iter_mut() {
                    if !names.contains(&name.as_str()) {
                        continue;
                    }
                    match spec.get_mut(0) {
                        Some(v @ Value::Array(_)) => *v = list.clone(),
                        Some(Value::String(t)) if t == "COMBO" => {
                            if let Some(Value::Object(opts)) = spec.get_mut(1) {
                                opts.insert("options".into(), list.clone());
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn parse(text: &str, what: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::Fixture(format!("{what}: {e}")))
}

/// A running fake ComfyUI server. Dropping it stops the server and the worker.
pub struct FakeComfyUi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeComfyUi {
    /// A builder with the bundled core catalogue, no step delay and no previews.
    pub fn builder() -> FakeComfyUiBuilder {
        FakeComfyUiBuilder {
            object_info: ObjectInfo::Core,
            extra_classes: Vec::new(),
            step_delay: Duration::ZERO,
            previews: false,
            model_files: HashMap::new(),
            embeddings: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            official_templates: true,
            price_badges: false,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/ws` (append `?clientId=…`).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and the worker (open sockets are dropped).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.drop_sockets();
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for FakeComfyUi {
    fn drop(&mut self) {
        self.stop();
    }
}
