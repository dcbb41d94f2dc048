//! Configuration: command-line flags, environment variables, a TOML file, defaults.
//!
//! Precedence, highest first: **flag > environment > file > default**. Flags and environment
//! variables are read by clap ([`crate::cli::ServerArgs`], each flag names its variable); the
//! file is `--config FILE` (or `COMFY_MCP_CONFIG`). `comfy-mcp --print-config` prints the
//! effective values as TOML with secrets masked.
//!
//! ```toml
//! backend = "local"                 # or "comfy-cloud", "runcomfy"
//! comfyui_url = "http://127.0.0.1:8188"   # the local backend (unused on Comfy Cloud, RunComfy)
//! cloud_url = "https://cloud.comfy.org"   # the comfy-cloud backend
//! cloud_api_key = "comfyui-..."      # Comfy Cloud API key (masked by --print-config)
//! allow_account_interrupt = false    # Cloud: account-wide interrupt as a last resort
//! allow_partner_spend = false        # partner_generate may spend without max_credits
//! runcomfy_url = "https://api.runcomfy.net"  # the runcomfy backend
//! runcomfy_token = "..."             # RunComfy API token (masked by --print-config)
//! runcomfy_deployment = "a1b2c3d4-..."  # the deployment workflows run on
//! runcomfy_queue_version = "v1"      # or "v2"
//! runcomfy_inline_limit = 8388608    # largest upload sent inline as a data URI (bytes)
//! runcomfy_poll_interval_ms = 3000   # poll a RunComfy request no more often than this
//! ca_certs = ["/etc/ssl/private-ca.pem"]  # extra CAs for https:// and wss://
//! allow_private_urls = false        # hosted output URLs may reach loopback/private addresses
//! allowed_url_hosts = ["minio.internal:9000"]  # ... or only these hosts
//! transport = "http"                 # or "stdio"
//! listen = "127.0.0.1:9000"
//! workflows_dir = "/srv/comfy/workflows"
//! data_dir = "/srv/comfy/data"
//! store = "postgres://comfy:secret@db.internal/comfy"  # instead of data_dir's SQLite (masked when printed)
//! publish_dir = "/srv/www/gen"       # unset: public/gen, static/gen or assets/gen if present
//! keep_outputs = "/srv/comfy/outputs"  # keep a copy of every output (signed URLs expire)
//! feedback_url = "https://feedback.example/comfy"  # also POST consented feedback here
//! upload_dirs = ["/srv/comfy/uploads"]  # upload_file may read files by path only here
//! comfy_api_key = "..."              # partner nodes
//! log_format = "text"                # or "json"
//! log_level = "info"
//! tool_profile = "full"              # or "minimal": a handful of general tools
//!
//! [tools]
//! allow = []                         # empty = every tool
//! deny = ["cancel_job"]
//!
//! [limits]
//! wait_budget_secs = 45
//! max_running_jobs = 8
//! rate_limit_per_minute = 120
//! max_body_bytes = 4194304
//! body_timeout_secs = 30            # a request body must arrive within this (slow clients get 408)
//! header_timeout_secs = 20          # request headers must arrive within this; also the idle keep-alive limit
//! max_asset_bytes = 67108864
//! max_upload_bytes = 33554432
//!
//! [http]
//! allowed_hosts = ["comfy.example.org"]
//! allowed_origins = []
//!
//! [[http.tokens]]
//! name = "ci"                        # shown in logs, never the token
//! token = "s3cret"
//! tools = ["get_job_status", "get_output"]   # omit for every tool
//! team = "design"                   # tokens of one team own (and reuse) their work together
//!
//! [http.oauth]                       # JWT access tokens (see crate::http::oauth::settings)
//! issuer = "https://auth.example.org"
//! resource = "https://comfy.example.org/mcp"
//!
//! [defaults]                         # template parameter defaults (config-file layer)
//! steps = 30
//!
//! [[backends]]                       # several named backends (see comfy_core::connect::FleetConfig)
//! name = "gpu1"
//! kind = "local"
//! url = "http://10.0.0.5:8188"
//!
//! [[backends]]
//! name = "cloud"
//! kind = "comfy-cloud"
//! api_key_env = "COMFY_CLOUD_API_KEY"
//! priority = 1                       # takes the overflow
//!
//! [routing]
//! overflow_queue = 4
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use comfy_core::connect::{FleetConfig, NamedBackend, RoutingConfig};
use comfy_core::{BackendConfig, BackendKind, ClientConfig, ClientOptions, Secret, StoreConfig};

use crate::cli::{LogFormat, ServerArgs, Transport};

/// Default ComfyUI URL.
pub const DEFAULT_COMFYUI_URL: &str = "http://127.0.0.1:8188";
/// Default HTTP listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";

/// The config file as written (every key optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Backend kind (`local`, `comfy-cloud`).
    pub backend: Option<BackendKind>,
    /// ComfyUI base URL.
    pub comfyui_url: Option<String>,
    /// Comfy Cloud base URL.
    pub cloud_url: Option<String>,
    /// Comfy Cloud API key.
    pub cloud_api_key: Option<String>,
    /// Cloud: allow the account-wide interrupt.
    pub allow_account_interrupt: Option<bool>,
    /// partner_generate may spend credits without a per-call max_credits.
    pub allow_partner_spend: Option<bool>,
    /// RunComfy API base URL.
    pub runcomfy_url: Option<String>,
    /// RunComfy API token.
    pub runcomfy_token: Option<String>,
    /// RunComfy deployment.
    pub runcomfy_deployment: Option<String>,
    /// RunComfy queue path version.
    pub runcomfy_queue_version: Option<String>,
    /// RunComfy: largest upload sent inline as a data URI, in bytes.
    pub runcomfy_inline_limit: Option<u64>,
    /// RunComfy: poll a request no more often than this, in milliseconds.
    pub runcomfy_poll_interval_ms: Option<u64>,
    /// Extra CA certificate files.
    pub ca_certs: Option<Vec<PathBuf>>,
    /// URLs a backend answers may reach loopback and private addresses.
    pub allow_private_urls: Option<bool>,
    /// Hosts URLs a backend answers may reach whatever their address.
    pub allowed_url_hosts: Option<Vec<String>>,
    /// Transport.
    pub transport: Option<Transport>,
    /// HTTP listen address.
    pub listen: Option<String>,
    /// Template directory.
    pub workflows_dir: Option<PathBuf>,
    /// Store directory.
    pub data_dir: Option<PathBuf>,
    /// Store location (`postgres://…`, `sqlite:///path`, a path); overrides `data_dir`'s SQLite.
    pub store: Option<String>,
    /// Publish directory.
    pub publish_dir: Option<PathBuf>,
    /// Directory that keeps a copy of every output.
    pub keep_outputs: Option<PathBuf>,
    /// Where feedback is also posted.
    pub feedback_url: Option<String>,
    /// Directories upload_file may read from.
    pub upload_dirs: Option<Vec<PathBuf>>,
    /// Comfy API key.
    pub comfy_api_key: Option<String>,
    /// Log format.
    pub log_format: Option<LogFormat>,
    /// Log filter.
    pub log_level: Option<String>,
    /// Tool profile (`full` or `minimal`).
    pub tool_profile: Option<crate::tools::profile::ToolProfile>,
    /// Tool allow/deny lists.
    #[serde(default)]
    pub tools: FileTools,
    /// Limits.
    #[serde(default)]
    pub limits: FileLimits,
    /// HTTP settings.
    #[serde(default)]
    pub http: FileHttp,
    /// The audit log of paid submissions.
    #[serde(default)]
    pub audit: AuditSettings,
    /// Template parameter defaults (the config-file layer).
    #[serde(default)]
    pub defaults: Map<String, Value>,
    /// Several named backends (`[[backends]]`); checked by comfy-core.
    #[serde(default)]
    pub backends: Vec<NamedBackend>,
    /// How submissions are routed over `[[backends]]`.
    #[serde(default)]
    pub routing: RoutingConfig,
}

/// `[tools]` of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTools {
    /// Only these tools.
    pub allow: Option<Vec<String>>,
    /// Never these tools.
    pub deny: Option<Vec<String>>,
}

/// `[limits]` of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Wait budget in seconds.
    pub wait_budget_secs: Option<u64>,
    /// Concurrent jobs.
    pub max_running_jobs: Option<usize>,
    /// Requests per minute per token.
    pub rate_limit_per_minute: Option<u32>,
    /// Request body limit.
    pub max_body_bytes: Option<usize>,
    /// Time limit to receive a request body, in seconds.
    pub body_timeout_secs: Option<u64>,
    /// Time limit to receive a request's headers (and to keep an idle connection), in seconds.
    pub header_timeout_secs: Option<u64>,
    /// Asset size limit.
    pub max_asset_bytes: Option<u64>,
    /// Upload size limit.
    pub max_upload_bytes: Option<u64>,
}

/// `[http]` of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHttp {
    /// Accepted Host values.
    pub allowed_hosts: Option<Vec<String>>,
    /// Accepted Origin values.
    pub allowed_origins: Option<Vec<String>>,
    /// Access tokens.
    pub tokens: Option<Vec<TokenConfig>>,
    /// OAuth 2.1 resource server: the issuer whose JWT access tokens are accepted.
    pub oauth: Option<crate::http::oauth::FileOAuth>,
    /// Serve `/metrics` (default true).
    pub metrics: Option<bool>,
    /// How long a stop (SIGTERM, Ctrl-C) waits for calls in flight, in seconds (default 30).
    pub drain_timeout_secs: Option<u64>,
}

/// `[audit]`: the append-only log of submissions that spend money (hosted backends, partner
/// nodes); see [`comfy_core::audit`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The file lines are appended to (none: no audit log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// One HTTP access token (`Debug` masks the token).
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A label for logs and rate limiting (never the token itself), and the owner of the jobs
    /// created through the token.
    #[serde(default)]
    pub name: Option<String>,
    /// The secret.
    pub token: String,
    /// The tools it may call; `None` = every tool.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Sees and acts on every token's jobs, assets and batches (a token otherwise sees only
    /// those created through it, owned by its `name`). Config file only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// Tokens with the same team own what they create together: each sees and acts on the
    /// team's jobs, assets and batches, and an identical submission of any of them attaches
    /// to the team's running job (or reuses its result). Config file only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("token", &Secret::new(""))
            .field("tools", &self.tools)
            .field("admin", &self.admin)
            .field("team", &self.team)
            .finish()
    }
}

impl TokenConfig {
    /// Parses the flag form `TOKEN` or `TOKEN:tool_a+tool_b`.
    pub fn parse_flag(raw: &str, index: usize) -> Result<TokenConfig, ConfigError> {
        let raw = raw.trim();
        let (token, tools) = match raw.split_once(':') {
            Some((t, tools)) => {
                let tools: Vec<String> =
                    tools.split('+').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
                (t, Some(tools))
            }
            None => (raw, None),
        };
        if token.is_empty() {
            return Err(ConfigError(format!("token #{} is empty", index + 1)));
        }
        Ok(TokenConfig {
            name: Some(format!("token{}", index + 1)),
            token: token.to_owned(),
            tools,
            admin: false,
            team: None,
        })
    }

    /// The label used in logs, and the owner of what the token creates: its `name`, else
    /// `token<N>` by position (name tokens to keep ownership stable when the list changes).
    pub fn label(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| format!("token{}", index + 1))
    }
}

/// The effective settings. `Debug` masks every secret (API keys, HTTP tokens).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Which backend runs the workflows.
    pub backend: BackendKind,
    /// ComfyUI base URL (the local backend).
    pub comfyui_url: String,
    /// Comfy Cloud base URL (the comfy-cloud backend).
    pub cloud_url: String,
    /// Comfy Cloud API key (masked when printed).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "mask_opt")]
    pub cloud_api_key: Option<Secret>,
    /// Cloud: allow the account-wide interrupt as a last resort.
    pub allow_account_interrupt: bool,
    /// partner_generate may spend credits without a per-call max_credits.
    pub allow_partner_spend: bool,
    /// RunComfy API base URL (the runcomfy backend).
    pub runcomfy_url: String,
    /// RunComfy API token (masked when printed).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "mask_opt")]
    pub runcomfy_token: Option<Secret>,
    /// RunComfy deployment workflows run on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runcomfy_deployment: Option<String>,
    /// RunComfy queue path version.
    pub runcomfy_queue_version: comfy_core::backend::runcomfy::QueueVersion,
    /// RunComfy: largest upload sent inline as a data URI, in bytes (unset: 8 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runcomfy_inline_limit: Option<u64>,
    /// RunComfy: poll a request no more often than this, in ms (unset: 3000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runcomfy_poll_interval_ms: Option<u64>,
    /// Extra CA certificate files.
    pub ca_certs: Vec<PathBuf>,
    /// URLs a backend answers (hosted outputs, storage redirects) may reach loopback, private
    /// and link-local addresses (default false: public addresses only).
    pub allow_private_urls: bool,
    /// Hosts such URLs may reach whatever their address (`name`, `name:port`, an IP).
    pub allowed_url_hosts: Vec<String>,
    /// Transport.
    pub transport: Transport,
    /// HTTP listen address.
    pub listen: String,
    /// Template directory (none: built-in templates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflows_dir: Option<PathBuf>,
    /// Store directory (none: the user data directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Where jobs, assets and batches are recorded when not in the data directory's SQLite
    /// (a PostgreSQL URL's password is masked when printed).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "show_store")]
    pub store: Option<StoreConfig>,
    /// Publish directory (none: `public/gen`, `static/gen` or `assets/gen` under the current
    /// directory, when one exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_dir: Option<PathBuf>,
    /// Directory that keeps a local copy of every output (none: nothing is copied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_outputs: Option<PathBuf>,
    /// Where feedback and session summaries are also posted (none: stored locally only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_url: Option<String>,
    /// Directories whose files `upload_file` may read by path (empty: none).
    pub upload_dirs: Vec<PathBuf>,
    /// The config file in use, if any (`set_defaults {persist: true}` writes its `[defaults]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    /// Comfy API key (masked when printed).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "mask_opt")]
    pub comfy_api_key: Option<Secret>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Which tools are listed before the allow/deny lists apply.
    pub tool_profile: crate::tools::profile::ToolProfile,
    /// Tool lists.
    pub tools: ToolFilter,
    /// Limits.
    pub limits: Limits,
    /// HTTP settings.
    pub http: HttpSettings,
    /// The audit log of paid submissions.
    pub audit: AuditSettings,
    /// Template parameter defaults from the config file.
    pub defaults: Map<String, Value>,
    /// Several named backends (`[[backends]]`; credentials masked when printed). Empty: the one
    /// backend of `backend` and its flags.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "mask_backends")]
    pub backends: Vec<NamedBackend>,
    /// How submissions are routed over `backends`.
    pub routing: RoutingConfig,
    /// Settings given but unused (a ComfyUI URL while on Comfy Cloud), to log as warnings.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Which tools are served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ToolFilter {
    /// Only these (empty = all).
    pub allow: Vec<String>,
    /// Never these.
    pub deny: Vec<String>,
}

impl ToolFilter {
    /// Whether `name` is served.
    pub fn allows(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|p| pattern_matches(p, name)))
            && !self.deny.iter().any(|p| pattern_matches(p, name))
    }
}

/// `name` matches `pattern` exactly, or by prefix when the pattern ends with `*`.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Longest a call waits for a job before answering with the handle.
    pub wait_budget_secs: u64,
    /// Most jobs running at once through this server.
    pub max_running_jobs: usize,
    /// HTTP requests per minute per token.
    pub rate_limit_per_minute: u32,
    /// Largest HTTP request body.
    pub max_body_bytes: usize,
    /// Longest an HTTP request body may take to arrive (a client that trickles it or never
    /// finishes gets 408 and the connection is closed).
    pub body_timeout_secs: u64,
    /// Longest an HTTP request's line and headers may take to arrive, counted from the first
    /// read of a new request: a connection that trickles its headers, sends nothing, or idles
    /// between keep-alive requests for this long is closed. A response being streamed (SSE)
    /// is not affected.
    pub header_timeout_secs: u64,
    /// Largest asset served as a resource (and read by view_image, publish_asset, ...).
    pub max_asset_bytes: u64,
    /// Largest file sent to ComfyUI by upload_file / use_previous_output.
    pub max_upload_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wait_budget_secs: 45,
            max_running_jobs: 8,
            rate_limit_per_minute: 120,
            max_body_bytes: 4 * 1024 * 1024,
            body_timeout_secs: 30,
            header_timeout_secs: 20,
            max_asset_bytes: 64 * 1024 * 1024,
            max_upload_bytes: 32 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The wait budget as a duration.
    pub fn wait_budget(&self) -> Duration {
        Duration::from_secs(self.wait_budget_secs)
    }
}

/// HTTP settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpSettings {
    /// Accepted Host values (empty = loopback names plus the listen host).
    pub allowed_hosts: Vec<String>,
    /// Accepted Origin values (empty = not checked).
    pub allowed_origins: Vec<String>,
    /// Access tokens (masked when printed).
    #[serde(serialize_with = "mask_tokens")]
    pub tokens: Vec<TokenConfig>,
    /// OAuth 2.1: the issuer whose JWT access tokens are accepted (`None` = static tokens only).
    pub oauth: Option<crate::http::oauth::OAuthSettings>,
    /// Serve Prometheus metrics at `/metrics` (behind the same tokens as `/mcp`).
    pub metrics: bool,
    /// How long a stop (SIGTERM, Ctrl-C) waits for calls in flight before it exits, in seconds.
    pub drain_timeout_secs: u64,
}

/// Default of [`HttpSettings::drain_timeout_secs`].
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 30;

fn show_store<S: serde::Serializer>(v: &Option<StoreConfig>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(store) => s.serialize_some(&store.to_string()),
        None => s.serialize_none(),
    }
}

fn mask_opt<S: serde::Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("***"),
        None => s.serialize_none(),
    }
}

fn mask_backends<S: serde::Serializer>(v: &[NamedBackend], s: S) -> Result<S::Ok, S::Error> {
    let mask = |v: &Option<String>| v.as_ref().map(|_| "***".to_owned());
    let masked: Vec<NamedBackend> = v
        .iter()
        .map(|b| NamedBackend {
            api_key: mask(&b.api_key),
            token: mask(&b.token),
            comfy_api_key: mask(&b.comfy_api_key),
            ..b.clone()
        })
        .collect();
    masked.serialize(s)
}

fn mask_tokens<S: serde::Serializer>(v: &[TokenConfig], s: S) -> Result<S::Ok, S::Error> {
    let masked: Vec<TokenConfig> = v
        .iter()
        .enumerate()
        .map(|(i, t)| TokenConfig {
            name: Some(t.label(i)),
            token: "***".into(),
            tools: t.tools.clone(),
            admin: t.admin,
            team: t.team.clone(),
        })
        .collect();
    masked.serialize(s)
}

/// A configuration problem (bad file, bad value, unsafe combination).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl FileConfig {
    /// Reads and parses a TOML config file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("reading config file {}: {e}", path.display())))?;
        FileConfig::parse(&text).map_err(|e| ConfigError(format!("config file {}: {}", path.display(), e.0)))
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }
}

impl Settings {
    /// Reads the config file named by `args` (if any) and merges everything.
    pub fn from_args(args: &ServerArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let mut settings = Settings::merge(args, file)?;
        settings.config_file = args.config.clone();
        Ok(settings)
    }

    /// Merges flags/environment (already combined by clap) over the file over defaults, then
    /// checks the result.
    pub fn merge(args: &ServerArgs, file: FileConfig) -> Result<Settings, ConfigError> {
        fn list(flag: &[String], file: Option<Vec<String>>) -> Vec<String> {
            let v = if flag.is_empty() { file.unwrap_or_default() } else { flag.to_vec() };
            v.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
        }
        let d = Limits::default();
        let tokens = if args.tokens.iter().any(|t| !t.trim().is_empty()) {
            args.tokens
                .iter()
                .filter(|t| !t.trim().is_empty())
                .enumerate()
                .map(|(i, t)| TokenConfig::parse_flag(t, i))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            file.http.tokens.unwrap_or_default()
        };
        let backend = match &args.backend {
            Some(raw) => raw.parse::<BackendKind>().map_err(|e| ConfigError(format!("--backend: {e}")))?,
            None => file.backend.unwrap_or_default(),
        };
        let mut warnings = Vec::new();
        if backend != BackendKind::Local && (args.comfyui_url.is_some() || file.comfyui_url.is_some()) {
            warnings.push(format!(
                "the ComfyUI URL (--comfyui-url, COMFYUI_URL, comfyui_url) is unused: the backend is {backend}"
            ));
        }
        let runcomfy_queue_version = match args.runcomfy_queue_version.clone().or(file.runcomfy_queue_version)
        {
            Some(v) if !v.trim().is_empty() => {
                v.parse().map_err(|e| ConfigError(format!("runcomfy_queue_version: {e}")))?
            }
            _ => Default::default(),
        };
        let settings = Settings {
            warnings,
            backend,
            cloud_url: args
                .cloud_url
                .clone()
                .or(file.cloud_url)
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| BackendKind::ComfyCloud.default_url().into()),
            cloud_api_key: args
                .cloud_api_key
                .clone()
                .or(file.cloud_api_key)
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new),
            allow_account_interrupt: args.allow_account_interrupt
                || file.allow_account_interrupt.unwrap_or(false),
            allow_partner_spend: args.allow_partner_spend || file.allow_partner_spend.unwrap_or(false),
            allow_private_urls: args.allow_private_urls || file.allow_private_urls.unwrap_or(false),
            allowed_url_hosts: file.allowed_url_hosts.unwrap_or_default(),
            runcomfy_url: args
                .runcomfy_url
                .clone()
                .or(file.runcomfy_url)
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| BackendKind::RunComfy.default_url().into()),
            runcomfy_token: args
                .runcomfy_token
                .clone()
                .or(file.runcomfy_token)
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new),
            runcomfy_deployment: args
                .runcomfy_deployment
                .clone()
                .or(file.runcomfy_deployment)
                .filter(|d| !d.trim().is_empty()),
            runcomfy_queue_version,
            runcomfy_inline_limit: file.runcomfy_inline_limit,
            runcomfy_poll_interval_ms: file.runcomfy_poll_interval_ms,
            ca_certs: if args.ca_certs.is_empty() {
                file.ca_certs.unwrap_or_default()
            } else {
                args.ca_certs.clone()
            },
            comfyui_url: args
                .comfyui_url
                .clone()
                .or(file.comfyui_url)
                .unwrap_or_else(|| DEFAULT_COMFYUI_URL.into()),
            transport: args.transport.or(file.transport).unwrap_or(Transport::Stdio),
            listen: args.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into()),
            workflows_dir: args.workflows_dir.clone().or(file.workflows_dir),
            data_dir: args.data_dir.clone().or(file.data_dir),
            store: match args.store.clone().or(file.store).filter(|s| !s.trim().is_empty()) {
                Some(raw) => Some(StoreConfig::parse(&raw).map_err(|e| ConfigError(format!("store: {e}")))?),
                None => None,
            },
            publish_dir: args.publish_dir.clone().or(file.publish_dir),
            keep_outputs: args.keep_outputs.clone().or(file.keep_outputs),
            feedback_url: args.feedback_url.clone().or(file.feedback_url),
            upload_dirs: if args.upload_dirs.is_empty() {
                file.upload_dirs.unwrap_or_default()
            } else {
                args.upload_dirs.clone()
            },
            config_file: None,
            comfy_api_key: args
                .comfy_api_key
                .clone()
                .or(file.comfy_api_key)
                .filter(|k| !k.is_empty())
                .map(Secret::new),
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            log_level: args.log_level.clone().or(file.log_level).unwrap_or_else(|| "info".into()),
            tool_profile: args.tool_profile.or(file.tool_profile).unwrap_or_default(),
            tools: ToolFilter {
                allow: list(&args.allow_tools, file.tools.allow),
                deny: list(&args.deny_tools, file.tools.deny),
            },
            limits: Limits {
                wait_budget_secs: args
                    .wait_budget_secs
                    .or(file.limits.wait_budget_secs)
                    .unwrap_or(d.wait_budget_secs),
                max_running_jobs: args
                    .max_running_jobs
                    .or(file.limits.max_running_jobs)
                    .unwrap_or(d.max_running_jobs),
                rate_limit_per_minute: args
                    .rate_limit
                    .or(file.limits.rate_limit_per_minute)
                    .unwrap_or(d.rate_limit_per_minute),
                max_body_bytes: args
                    .max_body_bytes
                    .or(file.limits.max_body_bytes)
                    .unwrap_or(d.max_body_bytes),
                body_timeout_secs: file.limits.body_timeout_secs.unwrap_or(d.body_timeout_secs).max(1),
                header_timeout_secs: file.limits.header_timeout_secs.unwrap_or(d.header_timeout_secs),
                max_asset_bytes: args
                    .max_asset_bytes
                    .or(file.limits.max_asset_bytes)
                    .unwrap_or(d.max_asset_bytes),
                max_upload_bytes: args
                    .max_upload_bytes
                    .or(file.limits.max_upload_bytes)
                    .unwrap_or(d.max_upload_bytes),
            },
            http: HttpSettings {
                allowed_hosts: list(&args.allowed_hosts, file.http.allowed_hosts),
                allowed_origins: list(&args.allowed_origins, file.http.allowed_origins),
                tokens,
                oauth: crate::http::oauth::OAuthSettings::merge(
                    args.oauth_issuer.as_deref(),
                    args.oauth_resource.as_deref(),
                    file.http.oauth,
                )?,
                metrics: file.http.metrics.unwrap_or(true),
                drain_timeout_secs: args
                    .drain_timeout_secs
                    .or(file.http.drain_timeout_secs)
                    .unwrap_or(DEFAULT_DRAIN_TIMEOUT_SECS),
            },
            audit: AuditSettings {
                path: args.audit_log.clone().or(file.audit.path).filter(|p| !p.as_os_str().is_empty()),
            },
            defaults: file.defaults,
            backends: file.backends,
            routing: file.routing,
        };
        settings.check()?;
        Ok(settings)
    }

    /// Checks values and unsafe combinations.
    pub fn check(&self) -> Result<(), ConfigError> {
        // Only the selected backend is checked: a ComfyUI URL left in the environment or the
        // file is unused on Cloud, not an error.
        self.backend_config().check().map_err(|e| match self.backend {
            BackendKind::Local => ConfigError(format!("comfyui_url: {e}")),
            BackendKind::ComfyCloud | BackendKind::RunComfy => ConfigError(e.to_string()),
        })?;
        // Every `[[backends]]` entry, its credential variables included, is checked by the core
        // (errors name the entry and the field).
        if !self.backends.is_empty() {
            self.fleet_config()
                .resolve(&self.backend_config(), |name| std::env::var(name).ok())
                .map_err(|e| ConfigError(e.to_string()))?;
        }
        let limits = &self.limits;
        if !(1..=3600).contains(&limits.wait_budget_secs) {
            return Err(ConfigError("wait_budget_secs must be from 1 to 3600".into()));
        }
        if limits.max_running_jobs == 0 {
            return Err(ConfigError("max_running_jobs must be at least 1".into()));
        }
        if limits.rate_limit_per_minute == 0 {
            return Err(ConfigError("rate_limit_per_minute must be at least 1".into()));
        }
        if limits.max_upload_bytes == 0 {
            return Err(ConfigError("max_upload_bytes must be at least 1".into()));
        }
        if limits.max_body_bytes < 1024 {
            return Err(ConfigError("max_body_bytes must be at least 1024".into()));
        }
        if !(1..=3600).contains(&limits.header_timeout_secs) {
            return Err(ConfigError("[limits] header_timeout_secs must be from 1 to 3600".into()));
        }
        for (i, t) in self.http.tokens.iter().enumerate() {
            if t.token.trim().is_empty() {
                return Err(ConfigError(format!("token {} is empty", t.label(i))));
            }
        }
        if let Some(oauth) = &self.http.oauth {
            oauth.check()?;
        }
        if self.transport == Transport::Http {
            let addr = self.listen_addr()?;
            if !addr.ip().is_loopback() && self.http.tokens.is_empty() && self.http.oauth.is_none() {
                return Err(ConfigError(format!(
                    "refusing to listen on {addr} (not loopback) without an access token: \
                     set --token (or COMFY_MCP_TOKENS, or [[http.tokens]] in the config file), \
                     or OAuth (--oauth-issuer and --oauth-resource, or [http.oauth])"
                )));
            }
        }
        Ok(())
    }

    /// The backend these settings select, for [`ClientConfig::connect`].
    pub fn backend_config(&self) -> BackendConfig {
        let base = match self.backend {
            BackendKind::Local => BackendConfig::local(self.comfyui_url.clone()),
            BackendKind::ComfyCloud => BackendConfig {
                kind: BackendKind::ComfyCloud,
                url: Some(self.cloud_url.clone()),
                api_key: self.cloud_api_key.as_ref().map(|k| k.expose().to_owned()),
                allow_account_interrupt: self.allow_account_interrupt,
                ..Default::default()
            },
            BackendKind::RunComfy => BackendConfig {
                queue_version: Some(self.runcomfy_queue_version),
                max_inline_bytes: self.runcomfy_inline_limit,
                poll_interval_ms: self.runcomfy_poll_interval_ms,
                ..BackendConfig::runcomfy(
                    self.runcomfy_url.clone(),
                    self.runcomfy_token.as_ref().map(|k| k.expose().to_owned()).unwrap_or_default(),
                    self.runcomfy_deployment.clone(),
                )
            },
        };
        BackendConfig {
            ca_certs: self.ca_certs.clone(),
            allow_private_urls: self.allow_private_urls,
            allowed_url_hosts: self.allowed_url_hosts.clone(),
            ..base
        }
        .with_comfy_api_key(self.comfy_api_key.as_ref().map(|k| k.expose().to_owned()))
    }

    /// The `[[backends]]` list and its routing, for the core.
    pub fn fleet_config(&self) -> FleetConfig {
        FleetConfig { backends: self.backends.clone(), routing: self.routing }
    }

    /// The URL of the selected backend.
    pub fn backend_url(&self) -> &str {
        match self.backend {
            BackendKind::Local => &self.comfyui_url,
            BackendKind::ComfyCloud => &self.cloud_url,
            BackendKind::RunComfy => &self.runcomfy_url,
        }
    }

    /// The core client configuration: the backend, the store in the data directory (else the
    /// user data directory), the templates, the limits and the parameter defaults.
    pub fn client_config(&self) -> ClientConfig {
        let mut defaults = comfy_core::template::ParamDefaults::from_env();
        defaults.config = self.defaults.clone();
        let store = match &self.store {
            Some(store) => store.clone(),
            None => StoreConfig::dir_or(self.data_dir.clone(), StoreConfig::UserData),
        };
        // A store without a directory (a database URL) keeps feedback in the data directory.
        let feedback_dir = match store.data_dir() {
            Some(_) => None,
            None if store == StoreConfig::Memory => None,
            None => self.data_dir.clone().or_else(|| StoreConfig::UserData.data_dir()),
        };
        ClientConfig::new(self.backend_config())
            .fleet(self.fleet_config())
            .store(store)
            .workflows_dir(self.workflows_dir.clone())
            .options(ClientOptions {
                feedback_dir,
                max_asset_bytes: self.limits.max_asset_bytes,
                max_running_jobs: self.limits.max_running_jobs,
                wait_budget: self.limits.wait_budget(),
                keep_outputs: self.keep_outputs.clone(),
                feedback_url: self.feedback_url.clone(),
                allow_partner_spend: self.allow_partner_spend,
                audit_log: self.audit.path.clone(),
                ..ClientOptions::default()
            })
            .param_defaults(defaults)
    }

    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse::<SocketAddr>().map_err(|e| {
            ConfigError(format!("listen address {:?}: {e} (expected e.g. 127.0.0.1:9000)", self.listen))
        })
    }

    /// Whether the tool `name` is served: listed by the tool profile, then allowed by the
    /// `[tools]` allow/deny lists (token scopes narrow this further per caller).
    pub fn serves_tool(&self, name: &str) -> bool {
        self.tool_profile.includes(name) && self.tools.allows(name)
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not print the configuration: {e}\n"))
    }

    /// The Host values the HTTP transport accepts: the configured list, or loopback names plus
    /// the listen host.
    pub fn effective_allowed_hosts(&self) -> Vec<String> {
        if !self.http.allowed_hosts.is_empty() {
            return self.http.allowed_hosts.clone();
        }
        let mut hosts: Vec<String> =
            ["localhost", "127.0.0.1", "::1"].iter().map(|s| s.to_string()).collect();
        if let Ok(addr) = self.listen_addr()
            && !addr.ip().is_unspecified()
        {
            let ip = addr.ip().to_string();
            if !hosts.contains(&ip) {
                hosts.push(ip);
            }
        }
        hosts
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn args(argv: &[&str]) -> ServerArgs {
        let mut full = vec!["comfy-mcp"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().server
    }

    const FILE: &str = r#"
        comfyui_url = "http://file:8188"
        listen = "127.0.0.1:9100"
        log_level = "debug"
        upload_dirs = ["/file/uploads"]
        [limits]
        wait_budget_secs = 20
        max_running_jobs = 3
        [tools]
        deny = ["cancel_job"]
        [[http.tokens]]
        name = "ci"
        token = "file-secret"
        tools = ["get_job_status"]
        [defaults]
        steps = 30
    "#;

    #[test]
    fn the_store_url_is_chosen_and_its_password_masked() {
        let s = Settings::merge(
            &args(&["--store", "postgres://comfy:pg-secret@db:5432/comfy", "--data-dir", "/srv/d"]),
            FileConfig::default(),
        )
        .unwrap();
        let url = "postgres://comfy:pg-secret@db:5432/comfy";
        assert_eq!(s.store, Some(StoreConfig::Url(url.into())));
        let printed = s.to_toml();
        assert!(printed.contains("store = \"postgres://comfy:***@db:5432/comfy\""), "{printed}");
        assert!(!printed.contains("pg-secret") && !format!("{s:?}").contains("pg-secret"));
        let client = s.client_config();
        assert_eq!(client.store, StoreConfig::Url(url.into()));
        assert_eq!(
            client.options.feedback_dir,
            Some(PathBuf::from("/srv/d")),
            "feedback stays in the data dir"
        );
        assert!(!format!("{client:?}").contains("pg-secret"));

        // From the file; a flag wins over it; without either the data directory's SQLite.
        let file = FileConfig { store: Some("sqlite:///srv/x.sqlite3".into()), ..Default::default() };
        let s = Settings::merge(&ServerArgs::default(), file.clone()).unwrap();
        assert_eq!(s.client_config().store, StoreConfig::SqliteFile("/srv/x.sqlite3".into()));
        let s = Settings::merge(&args(&["--store", url]), file).unwrap();
        assert_eq!(s.client_config().store, StoreConfig::Url(url.into()));
        let s = Settings::merge(&args(&["--data-dir", "/srv/d"]), FileConfig::default()).unwrap();
        assert_eq!(s.client_config().store, StoreConfig::Dir("/srv/d".into()));
        assert_eq!(s.client_config().options.feedback_dir, None);

        let e = Settings::merge(&args(&["--store", "mysql://h/db"]), FileConfig::default()).unwrap_err();
        assert!(e.to_string().contains("store"), "{e}");
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = Settings::merge(&ServerArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(s.comfyui_url, DEFAULT_COMFYUI_URL);
        assert_eq!(s.listen, DEFAULT_LISTEN);
        assert_eq!(s.transport, Transport::Stdio);
        assert_eq!(s.limits, Limits::default());
        assert!(s.tools.allows("submit_workflow"));
    }

    #[test]
    fn file_beats_defaults_and_flags_beat_the_file() {
        let file = FileConfig::parse(FILE).unwrap();
        let s = Settings::merge(&ServerArgs::default(), file.clone()).unwrap();
        assert_eq!(s.comfyui_url, "http://file:8188");
        assert_eq!(s.listen, "127.0.0.1:9100");
        assert_eq!(s.limits.wait_budget_secs, 20);
        assert_eq!(s.limits.max_running_jobs, 3);
        assert_eq!(s.limits.rate_limit_per_minute, 120, "unset in the file: default");
        assert_eq!(s.http.tokens[0].tools.as_deref(), Some(&["get_job_status".to_string()][..]));
        assert!(!s.tools.allows("cancel_job"));
        assert_eq!(s.defaults["steps"], 30);
        assert_eq!(s.upload_dirs, vec![PathBuf::from("/file/uploads")]);
        assert_eq!(s.limits.max_upload_bytes, 32 * 1024 * 1024);

        let a = args(&[
            "--comfyui-url",
            "http://flag:1",
            "--wait-budget-secs",
            "5",
            "--deny-tools",
            "get_queue",
            "--token",
            "flag-secret:get_output+cancel_job",
            "--upload-dir",
            "/a",
            "--upload-dir",
            "/b",
            "--max-upload-bytes",
            "1000",
        ]);
        let s = Settings::merge(&a, file).unwrap();
        assert_eq!(s.comfyui_url, "http://flag:1");
        assert_eq!(s.limits.wait_budget_secs, 5);
        assert_eq!(s.limits.max_running_jobs, 3, "still from the file");
        assert!(
            s.tools.allows("cancel_job") && !s.tools.allows("get_queue"),
            "the flag list replaces the file's"
        );
        assert_eq!(s.http.tokens.len(), 1);
        assert_eq!(s.http.tokens[0].token, "flag-secret");
        assert_eq!(s.http.tokens[0].tools, Some(vec!["get_output".into(), "cancel_job".into()]));
        assert_eq!(
            s.upload_dirs,
            vec![PathBuf::from("/a"), PathBuf::from("/b")],
            "flags replace the file list"
        );
        assert_eq!(s.limits.max_upload_bytes, 1000);
    }

    #[test]
    fn print_config_masks_secrets() {
        let a = args(&["--token", "tok-abc", "--comfy-api-key", "key-xyz"]);
        let s = Settings::merge(&a, FileConfig::parse(FILE).unwrap()).unwrap();
        let text = s.to_toml();
        assert!(!text.contains("tok-abc") && !text.contains("key-xyz"), "{text}");
        assert!(text.contains("***"), "{text}");
        assert!(text.contains("comfyui_url = \"http://file:8188\""), "{text}");
    }

    #[test]
    fn debug_masks_every_secret() {
        let a = args(&[
            "--token",
            "tok-abc:get_output",
            "--comfy-api-key",
            "key-xyz",
            "--cloud-api-key",
            "cloud-123",
        ]);
        let s = Settings::merge(&a, FileConfig::parse(FILE).unwrap()).unwrap();
        assert_eq!(s.comfy_api_key.as_ref().map(Secret::expose), Some("key-xyz"));
        let text = format!("{s:?} {s:#?}");
        for secret in ["tok-abc", "key-xyz", "cloud-123"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("Secret(***)") && text.contains("get_output"), "{text}");
        assert!(text.contains("http://file:8188"), "the rest is still shown: {text}");
    }

    #[test]
    fn unsafe_or_invalid_settings_are_refused() {
        let a = args(&["--transport", "http", "--listen", "0.0.0.0:9000"]);
        let e = Settings::merge(&a, FileConfig::default()).unwrap_err();
        assert!(e.0.contains("without an access token"), "{e}");
        let a = args(&["--transport", "http", "--listen", "0.0.0.0:9000", "--token", "t"]);
        assert!(Settings::merge(&a, FileConfig::default()).is_ok());
        let a = args(&["--transport", "http", "--listen", "127.0.0.1:9000"]);
        assert!(Settings::merge(&a, FileConfig::default()).is_ok(), "loopback needs no token");
        let a = args(&["--comfyui-url", "ftp://x"]);
        assert!(Settings::merge(&a, FileConfig::default()).is_err());
        let a = args(&["--wait-budget-secs", "0"]);
        assert!(Settings::merge(&a, FileConfig::default()).is_err());
        assert!(FileConfig::parse("unknown_key = 1").is_err());
        assert!(FileConfig::parse("[limits]\nwait_budget_secs = \"x\"").is_err());
    }

    #[test]
    fn the_header_timeout_is_read_from_the_file_and_must_be_positive() {
        let none = ServerArgs::default();
        assert_eq!(Settings::merge(&none, FileConfig::default()).unwrap().limits.header_timeout_secs, 20);
        let five = FileConfig::parse("[limits]\nheader_timeout_secs = 5").unwrap();
        assert_eq!(Settings::merge(&none, five).unwrap().limits.header_timeout_secs, 5);
        for bad in [0, 3601] {
            let file = FileConfig::parse(&format!("[limits]\nheader_timeout_secs = {bad}")).unwrap();
            let e = Settings::merge(&none, file).unwrap_err();
            assert!(e.0.contains("header_timeout_secs"), "{e}");
        }
        assert!(FileConfig::parse("[limits]\nheader_timeout_secs = -1").is_err());
    }

    #[test]
    fn runcomfy_backend_settings() {
        let a = args(&[
            "--backend",
            "runcomfy",
            "--comfyui-url",
            "http://left-over:8188",
            "--runcomfy-token",
            "rc-token-123",
            "--runcomfy-deployment",
            "dep-1",
        ]);
        let s = Settings::merge(&a, FileConfig::default()).unwrap();
        let b = s.backend_config();
        assert_eq!((b.kind, b.effective_url()), (BackendKind::RunComfy, "https://api.runcomfy.net"));
        assert_eq!((b.token.as_deref(), b.deployment.as_deref()), (Some("rc-token-123"), Some("dep-1")));
        assert_eq!(s.warnings.len(), 1, "the ComfyUI URL is unused: {:?}", s.warnings);
        let text = s.to_toml();
        assert!(!text.contains("rc-token-123") && text.contains("runcomfy_token = \"***\""), "{text}");
        assert!(!format!("{s:?}").contains("rc-token-123"));
        let file = FileConfig::parse(
            "backend = \"runcomfy\"\nruncomfy_url = \"http://fake:2\"\nruncomfy_token = \"file-tok\"\n\
             runcomfy_queue_version = \"v2\"\n",
        )
        .unwrap();
        let s = Settings::merge(&ServerArgs::default(), file).unwrap();
        let b = s.backend_config();
        assert_eq!(b.effective_url(), "http://fake:2");
        assert_eq!(b.queue_version, Some(comfy_core::backend::runcomfy::QueueVersion::V2));
        assert_eq!((b.max_inline_bytes, b.poll_interval_ms), (None, None));
        let file = FileConfig::parse(
            "backend = \"runcomfy\"\nruncomfy_token = \"t\"\nruncomfy_inline_limit = 1024\n\
             runcomfy_poll_interval_ms = 500\n",
        )
        .unwrap();
        let s = Settings::merge(&ServerArgs::default(), file).unwrap();
        let b = s.backend_config();
        assert_eq!((b.max_inline_bytes, b.poll_interval_ms), (Some(1024), Some(500)));
        assert!(s.to_toml().contains("runcomfy_poll_interval_ms = 500"), "{}", s.to_toml());
        let file = FileConfig::parse(
            "backend = \"runcomfy\"\nruncomfy_token = \"t\"\nruncomfy_poll_interval_ms = 0\n",
        )
        .unwrap();
        let e = Settings::merge(&ServerArgs::default(), file).unwrap_err();
        assert!(e.0.contains("runcomfy_poll_interval_ms"), "{e}");
        let e = Settings::merge(&args(&["--backend", "runcomfy"]), FileConfig::default()).unwrap_err();
        assert!(e.0.contains("RUNCOMFY_API_TOKEN"), "{e}");
        let e = Settings::merge(
            &args(&["--backend", "runcomfy", "--runcomfy-token", "t", "--runcomfy-queue-version", "v9"]),
            FileConfig::default(),
        )
        .unwrap_err();
        assert!(e.0.contains("v1"), "{e}");
    }

    #[test]
    fn comfy_cloud_backend_settings() {
        // The default is local; a ComfyUI URL in the environment stays unused (a warning) on Cloud.
        let s = Settings::merge(&ServerArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(s.backend, BackendKind::Local);
        assert_eq!(s.backend_config().effective_url(), DEFAULT_COMFYUI_URL);
        let a = args(&[
            "--backend",
            "comfy-cloud",
            "--comfyui-url",
            "http://left-over:8188",
            "--cloud-api-key",
            "cloud-key-123",
        ]);
        let s = Settings::merge(&a, FileConfig::default()).unwrap();
        assert_eq!(s.cloud_url, "https://cloud.comfy.org", "the default Cloud URL");
        let b = s.backend_config();
        assert_eq!((b.kind, b.effective_url()), (BackendKind::ComfyCloud, "https://cloud.comfy.org"));
        assert_eq!(b.api_key.as_deref(), Some("cloud-key-123"));
        assert_eq!(b.comfy_api_key, None, "partner nodes use the Cloud key");
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        let text = s.to_toml();
        assert!(!text.contains("cloud-key-123") && text.contains("cloud_api_key = \"***\""), "{text}");

        // From the file, with a separate partner key and a CA; flags beat the file.
        let file = FileConfig::parse(
            "backend = \"comfy-cloud\"\ncloud_url = \"http://fake:1\"\ncloud_api_key = \"file-key\"\n\
             comfy_api_key = \"partner\"\nallow_account_interrupt = true\n",
        )
        .unwrap();
        let s = Settings::merge(&ServerArgs::default(), file.clone()).unwrap();
        let b = s.backend_config();
        assert_eq!(b.effective_url(), "http://fake:1");
        assert_eq!((b.api_key.as_deref(), b.comfy_api_key.as_deref()), (Some("file-key"), Some("partner")));
        assert!(b.allow_account_interrupt && s.warnings.is_empty());
        let s = Settings::merge(
            &args(&["--keep-outputs", "/k"]),
            FileConfig::parse("backend = \"local\"").unwrap(),
        )
        .unwrap();
        assert_eq!(s.client_config().options.keep_outputs, Some(PathBuf::from("/k")));
        let s = Settings::merge(&args(&["--backend", "local"]), file).unwrap();
        assert_eq!(s.backend_config().kind, BackendKind::Local);

        // Errors name what is wrong.
        let e = Settings::merge(&args(&["--backend", "comfy-cloud"]), FileConfig::default()).unwrap_err();
        assert!(e.0.contains("COMFY_CLOUD_API_KEY"), "{e}");
        let e = Settings::merge(&args(&["--backend", "runpod"]), FileConfig::default()).unwrap_err();
        assert!(e.0.contains("--backend") && e.0.contains("comfy-cloud"), "{e}");
        let e = Settings::merge(&args(&["--ca-cert", "/no/such/ca.pem"]), FileConfig::default()).unwrap_err();
        assert!(e.0.contains("/no/such/ca.pem"), "{e}");
        assert!(FileConfig::parse("backend = \"nope\"").is_err());
    }

    #[test]
    fn tool_patterns() {
        let f = ToolFilter {
            allow: vec!["get_*".into(), "submit_workflow".into()],
            deny: vec!["get_queue".into()],
        };
        assert!(f.allows("get_output") && f.allows("submit_workflow"));
        assert!(!f.allows("get_queue") && !f.allows("cancel_job"));
    }

    #[test]
    fn the_tool_profile_comes_first_then_allow_and_deny() {
        use crate::tools::profile::ToolProfile;
        let s = Settings::merge(&ServerArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(s.tool_profile, ToolProfile::Full);
        assert!(s.serves_tool("cancel_job") && s.serves_tool("generate_image"));
        assert!(s.to_toml().contains("tool_profile = \"full\""), "{}", s.to_toml());

        let file =
            FileConfig::parse("tool_profile = \"minimal\"\n[tools]\ndeny = [\"upload_file\"]\n").unwrap();
        let s = Settings::merge(&ServerArgs::default(), file.clone()).unwrap();
        assert_eq!(s.tool_profile, ToolProfile::Minimal);
        assert!(s.to_toml().contains("tool_profile = \"minimal\""), "{}", s.to_toml());
        assert!(s.serves_tool("run_workflow"));
        assert!(!s.serves_tool("upload_file"), "denied");
        assert!(!s.serves_tool("cancel_job") && !s.serves_tool("generate_image"), "not in the profile");
        // An allow list cannot bring back a tool the profile leaves out.
        let s = Settings::merge(&args(&["--allow-tools", "cancel_job,run_*"]), file.clone()).unwrap();
        assert!(!s.serves_tool("cancel_job") && s.serves_tool("run_workflow"));
        // The flag beats the file.
        let s = Settings::merge(&args(&["--tool-profile", "full"]), file).unwrap();
        assert!(s.serves_tool("cancel_job") && !s.serves_tool("upload_file"));
        let e = FileConfig::parse("tool_profile = \"tiny\"\n").unwrap_err();
        assert!(e.to_string().contains("tiny") || e.to_string().contains("tool_profile"), "{e}");
    }
}
