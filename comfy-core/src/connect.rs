//! One way to build a [`Comfy`] client from configuration, shared by every surface (the MCP
//! server and its CLI verbs, the Python and Node bindings).
//!
//! A surface parses its own input (flags, keyword arguments, an options object) into a
//! [`ClientConfig`] and calls [`ClientConfig::connect`]; which backend is built, how its
//! credentials are placed and where jobs are recorded is decided here, once.
//!
//! ```no_run
//! # async fn demo() -> comfy_core::Result<()> {
//! use comfy_core::connect::{BackendConfig, ClientConfig, StoreConfig};
//!
//! let comfy = ClientConfig::new(BackendConfig::comfy_cloud("https://cloud.comfy.org", "comfyui-…"))
//!     .store(StoreConfig::Memory)
//!     .connect()?;
//! # drop(comfy); Ok(()) }
//! ```
//!
//! The backend part deserializes from a config file (TOML, JSON):
//!
//! ```toml
//! kind = "comfy-cloud"            # or "local" (then `url` is the ComfyUI URL)
//! url = "https://cloud.comfy.org"
//! api_key = "comfyui-…"
//! ca_certs = ["/etc/ssl/private-ca.pem"]
//! ```

mod env;
mod fleet;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::backend::cloud::{COMFY_CLOUD_URL, ComfyCloud};
use crate::backend::local::LocalComfyUi;
use crate::backend::runcomfy::{QueueVersion, RUNCOMFY_URL, RunComfy};
use crate::client::{ClientOptions, Comfy};
use crate::error::{Error, Result};
use crate::store::{MemoryStore, Store};
use crate::template::{ParamDefaults, TemplateSet};

pub use self::env::{ExplicitFlags, vars as env_vars};
pub use self::fleet::{
    DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_OVERFLOW_QUEUE, FleetConfig, MemberConfig, NamedBackend,
    RoutingConfig,
};

/// The default local ComfyUI URL.
pub const LOCAL_COMFYUI_URL: &str = "http://127.0.0.1:8188";

/// Which kind of backend: the names used by flags, environment variables and bindings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// A local or self-hosted ComfyUI (`local`).
    #[default]
    Local,
    /// Comfy Cloud (`comfy-cloud`).
    ComfyCloud,
    /// RunComfy's Serverless API (`runcomfy`).
    #[serde(rename = "runcomfy")]
    RunComfy,
}

impl BackendKind {
    /// The name as written in configuration (`local`, `comfy-cloud`, `runcomfy`): the name the
    /// running backend reports as its [`crate::backend::BackendKind`].
    pub fn as_str(self) -> &'static str {
        crate::backend::BackendKind::from(self).as_str()
    }

    /// The URL used when none is configured.
    pub fn default_url(self) -> &'static str {
        match self {
            BackendKind::Local => LOCAL_COMFYUI_URL,
            BackendKind::ComfyCloud => COMFY_CLOUD_URL,
            BackendKind::RunComfy => RUNCOMFY_URL,
        }
    }
}

impl From<BackendKind> for crate::backend::BackendKind {
    fn from(kind: BackendKind) -> Self {
        match kind {
            BackendKind::Local => crate::backend::BackendKind::Local,
            BackendKind::ComfyCloud => crate::backend::BackendKind::ComfyCloud,
            BackendKind::RunComfy => crate::backend::BackendKind::RunComfy,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = Error;

    /// Parses `local`, `comfy-cloud` (also `comfy_cloud`, `cloud`) or `runcomfy` (also
    /// `run-comfy`), case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" | "comfyui" => Ok(BackendKind::Local),
            "comfy-cloud" | "comfy_cloud" | "cloud" => Ok(BackendKind::ComfyCloud),
            "runcomfy" | "run-comfy" | "run_comfy" => Ok(BackendKind::RunComfy),
            other => Err(Error::InvalidArgument {
                argument: "backend".into(),
                message: format!(
                    "{other:?} is not a backend: use \"local\", \"comfy-cloud\" or \"runcomfy\""
                ),
            }),
        }
    }
}

/// Where a backend is and how to reach it. Secrets are never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// Which backend.
    pub kind: BackendKind,
    /// Its base URL; `None` is [`BackendKind::default_url`].
    pub url: Option<String>,
    /// Comfy Cloud: the account's API key, sent as `X-API-Key` to the Cloud host only (required
    /// on Cloud). Unused by a local ComfyUI.
    pub api_key: Option<String>,
    /// The Comfy API key for partner (paid API) nodes, sent in each job's `extra_data`. On a
    /// local ComfyUI this is the only way partner nodes run; on Cloud, unset means the account's
    /// `api_key` is used.
    pub comfy_api_key: Option<String>,
    /// Comfy Cloud: allow the account-wide interrupt as a last resort to stop a running job
    /// (it stops every running job of the account). Default off.
    pub allow_account_interrupt: bool,
    /// Extra CA certificates (PEM files) to trust, e.g. for a ComfyUI behind a reverse proxy
    /// with a private CA.
    pub ca_certs: Vec<PathBuf>,
    /// RunComfy: the API token, sent as `Authorization: Bearer` to the API host only (required
    /// on RunComfy).
    pub token: Option<String>,
    /// RunComfy: the deployment generic submits run on.
    pub deployment: Option<String>,
    /// RunComfy: the queue path version (`v1` default, or `v2`).
    pub queue_version: Option<QueueVersion>,
    /// RunComfy: the largest uploaded file sent inline as a data URI (RunComfy has no upload
    /// endpoint); `None` is 8 MiB.
    pub max_inline_bytes: Option<u64>,
    /// RunComfy: poll a request's status no more often than this many milliseconds; `None` is
    /// 3000.
    pub poll_interval_ms: Option<u64>,
    /// Let URLs that the backend answers (hosted outputs, redirects to storage) reach loopback,
    /// private and link-local addresses. Default false: only public addresses are fetched
    /// (the backend's own URL is always allowed). See [`crate::net::UrlPolicy`].
    pub allow_private_urls: bool,
    /// Hosts (`name`, `name:port`, an IP address) such URLs may reach whatever their address.
    pub allowed_url_hosts: Vec<String>,
}

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("BackendConfig")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("api_key", &mask(&self.api_key))
            .field("comfy_api_key", &mask(&self.comfy_api_key))
            .field("allow_account_interrupt", &self.allow_account_interrupt)
            .field("ca_certs", &self.ca_certs)
            .field("token", &mask(&self.token))
            .field("deployment", &self.deployment)
            .field("queue_version", &self.queue_version)
            .field("max_inline_bytes", &self.max_inline_bytes)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("allow_private_urls", &self.allow_private_urls)
            .field("allowed_url_hosts", &self.allowed_url_hosts)
            .finish()
    }
}

impl BackendConfig {
    /// A local (or self-hosted) ComfyUI at `url`.
    pub fn local(url: impl Into<String>) -> Self {
        BackendConfig { kind: BackendKind::Local, url: Some(url.into()), ..Default::default() }
    }

    /// Comfy Cloud at `url` with the account's API key.
    pub fn comfy_cloud(url: impl Into<String>, api_key: impl Into<String>) -> Self {
        BackendConfig {
            kind: BackendKind::ComfyCloud,
            url: Some(url.into()),
            api_key: Some(api_key.into()),
            ..Default::default()
        }
    }

    /// RunComfy at `url` with the API token and, optionally, the default deployment.
    pub fn runcomfy(url: impl Into<String>, token: impl Into<String>, deployment: Option<String>) -> Self {
        BackendConfig {
            kind: BackendKind::RunComfy,
            url: Some(url.into()),
            token: Some(token.into()),
            deployment: deployment.filter(|d| !d.trim().is_empty()),
            ..Default::default()
        }
    }

    /// Sets the partner-node key ([`comfy_api_key`](Self::comfy_api_key)); empty is unset.
    pub fn with_comfy_api_key(mut self, key: Option<String>) -> Self {
        self.comfy_api_key = key.filter(|k| !k.trim().is_empty());
        self
    }

    /// Adds a CA certificate file to trust.
    pub fn with_ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certs.push(path.into());
        self
    }

    /// What URLs off the backend's host may reach ([`allow_private_urls`](Self::allow_private_urls),
    /// [`allowed_url_hosts`](Self::allowed_url_hosts)).
    pub fn url_policy(&self) -> crate::net::UrlPolicy {
        crate::net::UrlPolicy {
            allow_private: self.allow_private_urls,
            allowed_hosts: self.allowed_url_hosts.clone(),
        }
    }

    /// The URL in effect (the configured one, else the kind's default).
    pub fn effective_url(&self) -> &str {
        self.url.as_deref().filter(|u| !u.trim().is_empty()).unwrap_or(self.kind.default_url())
    }

    /// Checks the configuration without building anything (URL shape, a Cloud API key, CA
    /// files exist).
    pub fn check(&self) -> Result<()> {
        match self.kind {
            BackendKind::Local => {
                crate::backend::local::LocalConfig::new(self.effective_url())?;
            }
            BackendKind::ComfyCloud => {
                crate::backend::cloud::CloudConfig::new(self.effective_url())?;
                if self.api_key.as_deref().is_none_or(|k| k.trim().is_empty()) {
                    return Err(missing_cloud_key());
                }
            }
            BackendKind::RunComfy => {
                crate::backend::runcomfy::RunComfyConfig::new(self.effective_url())?;
                if self.token.as_deref().is_none_or(|k| k.trim().is_empty()) {
                    return Err(missing_runcomfy_token());
                }
                if self.poll_interval_ms == Some(0) {
                    return Err(Error::InvalidArgument {
                        argument: "runcomfy_poll_interval_ms".into(),
                        message: "must be at least 1 ms (RunComfy's own clients poll every 3 s)".into(),
                    });
                }
            }
        }
        for path in &self.ca_certs {
            if !path.is_file() {
                return Err(Error::InvalidArgument {
                    argument: "ca_cert".into(),
                    message: format!("{} is not a readable file", path.display()),
                });
            }
        }
        Ok(())
    }

    /// Builds the backend. Inside a tokio runtime (a backend may start its WebSocket); nothing
    /// is contacted yet, so a server that is down is not an error here.
    pub fn build(&self) -> Result<Arc<dyn Backend>> {
        let url = self.effective_url();
        let partner_key = self.comfy_api_key.clone().filter(|k| !k.trim().is_empty());
        match self.kind {
            BackendKind::Local => {
                let mut b = LocalComfyUi::builder(url).url_policy(self.url_policy());
                if let Some(key) = partner_key {
                    b = b.comfy_api_key(key);
                }
                for ca in &self.ca_certs {
                    b = b.ca_cert(ca);
                }
                Ok(Arc::new(b.build()?))
            }
            BackendKind::ComfyCloud => {
                let key =
                    self.api_key.clone().filter(|k| !k.trim().is_empty()).ok_or_else(missing_cloud_key)?;
                let mut b = ComfyCloud::builder(url)
                    .api_key(key)
                    .allow_account_interrupt(self.allow_account_interrupt)
                    .usage_source("comfy-rs")
                    .url_policy(self.url_policy());
                if let Some(key) = partner_key {
                    b = b.partner_api_key(key);
                }
                for ca in &self.ca_certs {
                    b = b.ca_cert(ca);
                }
                Ok(Arc::new(b.build()?))
            }
            BackendKind::RunComfy => {
                let token =
                    self.token.clone().filter(|k| !k.trim().is_empty()).ok_or_else(missing_runcomfy_token)?;
                let mut b = RunComfy::builder(url)
                    .token(token)
                    .queue_version(self.queue_version.unwrap_or_default())
                    .url_policy(self.url_policy());
                if let Some(d) = self.deployment.clone().filter(|d| !d.trim().is_empty()) {
                    b = b.deployment(d);
                }
                if let Some(n) = self.max_inline_bytes {
                    b = b.max_inline_bytes(n);
                }
                if let Some(ms) = self.poll_interval_ms {
                    b = b.poll_interval(std::time::Duration::from_millis(ms));
                }
                if let Some(key) = partner_key {
                    b = b.partner_api_key(key);
                }
                for ca in &self.ca_certs {
                    b = b.ca_cert(ca);
                }
                Ok(Arc::new(b.build()?))
            }
        }
    }
}

fn missing_runcomfy_token() -> Error {
    Error::InvalidArgument {
        argument: "runcomfy_token".into(),
        message: "RunComfy needs an API token (--runcomfy-token, RUNCOMFY_API_TOKEN, runcomfy_token); \
                  tokens are on https://www.runcomfy.com/profile"
            .into(),
    }
}

fn missing_cloud_key() -> Error {
    Error::InvalidArgument {
        argument: "cloud_api_key".into(),
        message: "Comfy Cloud needs an API key (--cloud-api-key, COMFY_CLOUD_API_KEY, cloud_api_key); \
                  keys are made at https://platform.comfy.org/profile/api-keys"
            .into(),
    }
}

/// Where jobs and assets are recorded.
///
/// Parsed from one string by [`StoreConfig::parse`] (a `--store` flag, a binding option):
/// `memory`, a `postgres://…` URL, `sqlite:///path/to/file.sqlite3`, or a plain path (an
/// existing directory holds `comfy.sqlite3`; anything else is the database file itself).
/// `Debug` masks a URL's password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreConfig {
    /// In memory: gone when the client is.
    #[default]
    Memory,
    /// `comfy.sqlite3` in the user data directory (`~/.local/share/comfy-rs`, ...).
    UserData,
    /// `comfy.sqlite3` in this directory (created if missing).
    Dir(PathBuf),
    /// This SQLite database file (created if missing, with its parent directories).
    SqliteFile(PathBuf),
    /// A database URL: `postgres://user:password@host:port/db` or `postgresql://…` (the
    /// `postgres` feature). Several servers may share one database.
    Url(String),
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Memory => f.write_str("Memory"),
            StoreConfig::UserData => f.write_str("UserData"),
            StoreConfig::Dir(dir) => f.debug_tuple("Dir").field(dir).finish(),
            StoreConfig::SqliteFile(path) => f.debug_tuple("SqliteFile").field(path).finish(),
            StoreConfig::Url(url) => f.debug_tuple("Url").field(&crate::store::redact_url(url)).finish(),
        }
    }
}

/// The location as [`StoreConfig::parse`] reads it, password masked (`postgres://u:***@h/db`).
impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Memory => f.write_str("memory"),
            StoreConfig::UserData => match self.sqlite_file() {
                Some(path) => write!(f, "sqlite://{}", path.display()),
                None => f.write_str("the user data directory"),
            },
            StoreConfig::Dir(dir) => write!(f, "{}", dir.display()),
            StoreConfig::SqliteFile(path) => write!(f, "sqlite://{}", path.display()),
            StoreConfig::Url(url) => f.write_str(&crate::store::redact_url(url)),
        }
    }
}

impl std::str::FromStr for StoreConfig {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        StoreConfig::parse(s)
    }
}

impl StoreConfig {
    /// Parses a store location: `memory`; `postgres://…` or `postgresql://…`;
    /// `sqlite://PATH` (`sqlite:///srv/comfy.sqlite3` is an absolute path); or a plain path:
    /// an existing directory means `comfy.sqlite3` in it, anything else the database file.
    pub fn parse(s: &str) -> Result<StoreConfig> {
        let t = s.trim();
        let invalid = |message: String| Error::InvalidArgument { argument: "store".into(), message };
        if t.is_empty() {
            return Err(invalid("the store location is empty".into()));
        }
        if t.eq_ignore_ascii_case("memory") || t.eq_ignore_ascii_case(":memory:") {
            return Ok(StoreConfig::Memory);
        }
        if crate::store::is_postgres_url(t) {
            return Ok(StoreConfig::Url(t.to_owned()));
        }
        if let Some(path) = t.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(invalid("sqlite:// needs a path (sqlite:///srv/comfy/comfy.sqlite3)".into()));
            }
            return Ok(StoreConfig::SqliteFile(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = t.split_once("://") {
            return Err(invalid(format!(
                "{scheme}:// is not a store: use postgres://…, sqlite://PATH, a path, or memory"
            )));
        }
        let path = PathBuf::from(t);
        Ok(if path.is_dir() { StoreConfig::Dir(path) } else { StoreConfig::SqliteFile(path) })
    }

    /// The data directory if given, else `fallback`.
    pub fn dir_or(dir: Option<PathBuf>, fallback: StoreConfig) -> StoreConfig {
        dir.map_or(fallback, StoreConfig::Dir)
    }

    /// The data directory this store lives in (`None` in memory, for a database URL, or when
    /// the user data directory cannot be found).
    pub fn data_dir(&self) -> Option<PathBuf> {
        match self {
            StoreConfig::Memory | StoreConfig::Url(_) => None,
            #[cfg(feature = "sqlite")]
            StoreConfig::UserData => {
                crate::store::SqliteStore::default_path().ok()?.parent().map(|p| p.to_path_buf())
            }
            #[cfg(not(feature = "sqlite"))]
            StoreConfig::UserData => None,
            StoreConfig::Dir(dir) => Some(dir.clone()),
            StoreConfig::SqliteFile(path) => {
                path.parent().filter(|p| !p.as_os_str().is_empty()).map(|p| p.to_path_buf())
            }
        }
    }

    /// Opens the store. A database URL is only parsed here: the database is contacted (and its
    /// schema migrated) on the first call, so a database that is down is not an error yet.
    pub fn open(&self) -> Result<Arc<dyn Store>> {
        match self {
            StoreConfig::Memory => Ok(Arc::new(MemoryStore::default())),
            #[cfg(feature = "sqlite")]
            StoreConfig::UserData => Ok(Arc::new(crate::store::SqliteStore::open_default()?)),
            #[cfg(feature = "sqlite")]
            StoreConfig::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    action: "creating",
                    path: dir.to_path_buf(),
                    source,
                })?;
                Ok(Arc::new(crate::store::SqliteStore::open(dir.join("comfy.sqlite3"))?))
            }
            #[cfg(feature = "sqlite")]
            StoreConfig::SqliteFile(path) => Ok(Arc::new(crate::store::SqliteStore::open(path)?)),
            #[cfg(not(feature = "sqlite"))]
            StoreConfig::UserData | StoreConfig::Dir(_) | StoreConfig::SqliteFile(_) => {
                Err(Error::NotSupported {
                    backend: "store (comfy-core built without the `sqlite` feature)".into(),
                    operation: "a persistent store",
                    reason: "rebuild comfy-core with the `sqlite` feature, or use an in-memory store".into(),
                })
            }
            #[cfg(feature = "postgres")]
            StoreConfig::Url(url) => {
                Ok(Arc::new(crate::store::PostgresStore::lazy(url, crate::store::PoolOptions::default())?))
            }
            #[cfg(not(feature = "postgres"))]
            StoreConfig::Url(_) => Err(Error::NotSupported {
                backend: "store (comfy-core built without the `postgres` feature)".into(),
                operation: "a PostgreSQL store",
                reason: "rebuild with the `postgres` feature (comfy-mcp has it by default)".into(),
            }),
        }
    }

    /// The SQLite database file this configuration names, if any.
    fn sqlite_file(&self) -> Option<PathBuf> {
        match self {
            StoreConfig::Dir(dir) => Some(dir.join("comfy.sqlite3")),
            StoreConfig::SqliteFile(path) => Some(path.clone()),
            #[cfg(feature = "sqlite")]
            StoreConfig::UserData => crate::store::SqliteStore::default_path().ok(),
            _ => None,
        }
    }

    /// Copies every job, asset and batch of this store into `to` (e.g. an SQLite data
    /// directory into PostgreSQL) and says how many were copied, updated or already there;
    /// running it again copies nothing twice (see [`copy_store`](crate::store::copy_store)).
    /// The source must exist: an SQLite source that is missing is an error, never created empty.
    pub async fn migrate_to(&self, to: &StoreConfig) -> Result<crate::store::CopyReport> {
        if *self == StoreConfig::Memory {
            return Err(Error::InvalidArgument {
                argument: "from".into(),
                message: "an in-memory store holds nothing to migrate".into(),
            });
        }
        if let Some(file) = self.sqlite_file()
            && !file.is_file()
        {
            return Err(Error::InvalidArgument {
                argument: "from".into(),
                message: format!("{} does not exist (no SQLite store there)", file.display()),
            });
        }
        let (from_config, to_config) = (self.clone(), to.clone());
        // Opening an SQLite file is blocking I/O.
        let (from, to) =
            tokio::task::spawn_blocking(move || Ok::<_, Error>((from_config.open()?, to_config.open()?)))
                .await
                .map_err(|e| Error::store("open", format!("opening the stores did not complete: {e}")))??;
        crate::store::copy_store(from.as_ref(), to.as_ref()).await
    }
}

/// Everything a client is built from: the backend, the store, the templates, the tunables.
/// Build it with [`ClientConfig::new`] and the setters, then [`connect`](Self::connect).
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// The backend (with no [`fleet`](Self::fleet)); with a fleet, the client-wide settings
    /// that are not credentials (URL policy, CA files) its members share.
    pub backend: BackendConfig,
    /// Several named backends (`[[backends]]`); empty: the one [`backend`](Self::backend).
    pub fleet: FleetConfig,
    /// Where jobs and assets are recorded (default in memory).
    pub store: StoreConfig,
    /// A directory of templates (watched); `None`: the built-ins.
    pub workflows_dir: Option<PathBuf>,
    /// Tunables (limits, wait budget, keeping outputs).
    pub options: ClientOptions,
    /// Template parameter defaults; `None`: the `COMFY_DEFAULT_*` environment only.
    pub param_defaults: Option<ParamDefaults>,
}

impl ClientConfig {
    /// A configuration for `backend` with the defaults for the rest.
    pub fn new(backend: BackendConfig) -> Self {
        ClientConfig { backend, ..Default::default() }
    }

    /// Several named backends instead of one ([`FleetConfig`]).
    pub fn fleet(mut self, fleet: FleetConfig) -> Self {
        self.fleet = fleet;
        self
    }

    /// Builds the backend: the one configured, or, with a [`fleet`](Self::fleet), every member
    /// (credential variables read from the process environment) behind a
    /// [`Fleet`](crate::backend::fleet::Fleet).
    pub fn build_backend(&self) -> Result<Arc<dyn Backend>> {
        if self.fleet.is_empty() {
            self.backend.check()?;
            return self.backend.build();
        }
        let members = self.fleet.resolve(&self.backend, |name| std::env::var(name).ok())?;
        let mut built = Vec::with_capacity(members.len());
        for m in members {
            let backend = m.backend.build().map_err(|e| Error::InvalidArgument {
                argument: format!("backends ({:?})", m.name),
                message: e.to_string(),
            })?;
            built.push(crate::backend::fleet::FleetMember {
                name: m.name,
                priority: m.priority,
                weight: m.weight,
                tags: m.tags,
                backend,
            });
        }
        let fleet: Arc<dyn Backend> = crate::backend::fleet::Fleet::new(built, self.fleet.routing)?;
        Ok(fleet)
    }

    /// Where jobs and assets are recorded.
    pub fn store(mut self, store: StoreConfig) -> Self {
        self.store = store;
        self
    }

    /// A template directory (watched), or the built-ins.
    pub fn workflows_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.workflows_dir = dir;
        self
    }

    /// Tunables.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Where feedback and session summaries are also POSTed (`None`: stored locally only).
    pub fn feedback_url(mut self, url: Option<String>) -> Self {
        self.options.feedback_url = url;
        self
    }

    /// Lets partner runs spend credits without a per-call `max_credits`
    /// ([`ClientOptions::allow_partner_spend`]).
    pub fn allow_partner_spend(mut self, on: bool) -> Self {
        self.options.allow_partner_spend = on;
        self
    }

    /// Template parameter defaults.
    pub fn param_defaults(mut self, defaults: ParamDefaults) -> Self {
        self.param_defaults = Some(defaults);
        self
    }

    /// Builds the backend, opens the store and the templates, and starts the client (inside a
    /// tokio runtime). Feedback is kept in the store's data directory unless
    /// [`ClientOptions::feedback_dir`] says otherwise. Nothing is contacted yet: a backend that is down is not an error here.
    pub fn connect(&self) -> Result<Comfy> {
        let backend = self.build_backend()?;
        let store = self.store.open()?;
        if self.options.feedback_dir.is_none() && self.store.data_dir().is_some() {
            // Feedback is kept next to the store.
            let mut config = self.clone();
            config.options.feedback_dir = self.store.data_dir();
            return config.connect_with(backend, store);
        }
        self.connect_with(backend, store)
    }

    /// Like [`connect`](Self::connect) over a backend and store built elsewhere (tests,
    /// embedding); the configured backend and store are not used. With a fleet configured,
    /// its `[routing] unreachable_after_ms` sets [`ClientOptions::unreachable_after`].
    pub fn connect_with(&self, backend: Arc<dyn Backend>, store: Arc<dyn Store>) -> Result<Comfy> {
        let templates = match &self.workflows_dir {
            Some(dir) => TemplateSet::watch(dir)?,
            None => TemplateSet::builtin(),
        };
        let mut options = self.options.clone();
        if !self.fleet.is_empty() {
            options.unreachable_after =
                std::time::Duration::from_millis(self.fleet.routing.unreachable_after_ms);
        }
        let mut builder = Comfy::builder(backend).store(store).options(options).templates(templates);
        if let Some(defaults) = &self.param_defaults {
            builder = builder.param_defaults(defaults.clone());
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print() {
        assert_eq!("comfy-cloud".parse::<BackendKind>().unwrap(), BackendKind::ComfyCloud);
        assert_eq!("LOCAL".parse::<BackendKind>().unwrap(), BackendKind::Local);
        let e = "runpod".parse::<BackendKind>().unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        assert!(e.to_string().contains("comfy-cloud"), "{e}");
        assert_eq!(BackendKind::ComfyCloud.to_string(), "comfy-cloud");
        assert_eq!("runcomfy".parse::<BackendKind>().unwrap(), BackendKind::RunComfy);
        assert_eq!(BackendKind::RunComfy.default_url(), "https://api.runcomfy.net");
    }

    #[tokio::test]
    async fn runcomfy_needs_a_token_and_hides_it() {
        let c: BackendConfig = serde_json::from_str(
            r#"{"kind":"runcomfy","token":"rc-secret","deployment":"d1","queue_version":"v2"}"#,
        )
        .unwrap();
        assert_eq!((c.kind, c.queue_version), (BackendKind::RunComfy, Some(QueueVersion::V2)));
        assert!(!format!("{c:?}").contains("rc-secret"));
        let e = BackendConfig { kind: BackendKind::RunComfy, ..Default::default() }.check().unwrap_err();
        assert!(e.to_string().contains("RUNCOMFY_API_TOKEN"), "{e}");
        let comfy = ClientConfig::new(c).connect().unwrap();
        assert!(comfy.backend().name().starts_with("runcomfy:"), "{}", comfy.backend().name());
        assert!(comfy.backend().as_runcomfy().is_some());
        let config = comfy.runcomfy().unwrap().config();
        assert_eq!(
            (config.max_inline_bytes, config.poll_interval),
            (8 << 20, std::time::Duration::from_secs(3))
        );
        let tuned: BackendConfig = serde_json::from_str(
            r#"{"kind":"runcomfy","token":"t","max_inline_bytes":1024,"poll_interval_ms":250}"#,
        )
        .unwrap();
        let comfy = ClientConfig::new(tuned.clone()).connect().unwrap();
        let config = comfy.runcomfy().unwrap().config();
        assert_eq!(
            (config.max_inline_bytes, config.poll_interval),
            (1024, std::time::Duration::from_millis(250))
        );
        let e = BackendConfig { poll_interval_ms: Some(0), ..tuned }.check().unwrap_err();
        assert!(e.to_string().contains("runcomfy_poll_interval_ms"), "{e}");
    }

    #[test]
    fn backend_config_deserializes_and_hides_secrets() {
        let c: BackendConfig =
            serde_json::from_str(r#"{"kind":"comfy-cloud","api_key":"sk-secret","ca_certs":["/x.pem"]}"#)
                .unwrap();
        assert_eq!(c.kind, BackendKind::ComfyCloud);
        assert_eq!(c.effective_url(), COMFY_CLOUD_URL);
        assert!(!format!("{c:?}").contains("sk-secret"));
        assert!(serde_json::from_str::<BackendConfig>(r#"{"kind":"runpod"}"#).is_err());
        assert!(serde_json::from_str::<BackendConfig>(r#"{"urll":"x"}"#).is_err());
        assert_eq!(BackendConfig::default().effective_url(), LOCAL_COMFYUI_URL);
    }

    #[test]
    fn check_names_what_is_wrong() {
        let e = BackendConfig { kind: BackendKind::ComfyCloud, ..Default::default() }.check().unwrap_err();
        assert!(e.to_string().contains("COMFY_CLOUD_API_KEY"), "{e}");
        assert!(BackendConfig::local("ftp://x").check().is_err());
        let e = BackendConfig::local("http://h:1").with_ca_cert("/no/such.pem").check().unwrap_err();
        assert!(e.to_string().contains("/no/such.pem"), "{e}");
        assert!(BackendConfig::comfy_cloud("https://cloud.example", "k").check().is_ok());
    }

    #[test]
    fn store_locations_parse() {
        let dir = std::env::temp_dir();
        assert_eq!(StoreConfig::parse("memory").unwrap(), StoreConfig::Memory);
        let url = "postgres://comfy:pw@db:5432/comfy";
        assert_eq!(StoreConfig::parse(url).unwrap(), StoreConfig::Url(url.into()));
        assert_eq!(
            StoreConfig::parse(" postgresql://h/db ").unwrap(),
            StoreConfig::Url("postgresql://h/db".into())
        );
        assert_eq!(
            StoreConfig::parse("sqlite:///srv/c.sqlite3").unwrap(),
            StoreConfig::SqliteFile("/srv/c.sqlite3".into())
        );
        assert_eq!(StoreConfig::parse(dir.to_str().unwrap()).unwrap(), StoreConfig::Dir(dir.clone()));
        assert_eq!(
            StoreConfig::parse("/no/such/dir/x.sqlite3").unwrap(),
            StoreConfig::SqliteFile("/no/such/dir/x.sqlite3".into())
        );
        for bad in ["", "  ", "mysql://h/db", "sqlite://"] {
            let e = StoreConfig::parse(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_argument", "{bad:?}");
        }
        let shown = format!("{:?}", StoreConfig::parse(url).unwrap());
        assert!(!shown.contains("pw") && shown.contains("comfy:***@db"), "{shown}");
        assert_eq!(StoreConfig::parse(url).unwrap().to_string(), "postgres://comfy:***@db:5432/comfy");
        assert_eq!(StoreConfig::SqliteFile("/srv/x.sqlite3".into()).to_string(), "sqlite:///srv/x.sqlite3");
        assert_eq!(StoreConfig::Url(url.into()).data_dir(), None);
        assert_eq!(StoreConfig::SqliteFile("/srv/x.sqlite3".into()).data_dir(), Some("/srv".into()));
    }

    #[tokio::test]
    async fn migrating_from_a_missing_sqlite_store_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let from = StoreConfig::Dir(dir.path().join("nothing-here"));
        let e = from.migrate_to(&StoreConfig::Memory).await.unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(!dir.path().join("nothing-here").exists());
        let e = StoreConfig::Memory.migrate_to(&StoreConfig::Memory).await.unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
    }

    #[tokio::test]
    async fn connect_builds_each_kind() {
        let local = ClientConfig::new(BackendConfig::local("http://127.0.0.1:9")).connect().unwrap();
        assert!(local.backend().name().starts_with("local:"), "{}", local.backend().name());
        let cloud =
            ClientConfig::new(BackendConfig::comfy_cloud("http://127.0.0.1:9", "k")).connect().unwrap();
        assert!(cloud.backend().name().starts_with("cloud:"), "{}", cloud.backend().name());
        let e = ClientConfig::new(BackendConfig { kind: BackendKind::ComfyCloud, ..Default::default() })
            .connect()
            .unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
    }
}
