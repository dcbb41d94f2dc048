//! The command line: serve (default), `run`, `validate`, `convert`.
//!
//! Every server setting is a flag that can also be set from the environment (the variable is
//! shown in `--help`) and from the TOML config file; see [`crate::config`] for precedence.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `comfy-mcp`: an MCP server for ComfyUI (stdio by default, or streamable HTTP).
#[derive(Debug, Clone, Parser)]
#[command(name = "comfy-mcp", version, about, long_about = None)]
pub struct Cli {
    /// Server settings (also read by `run` and `validate` for the ComfyUI URL).
    #[command(flatten)]
    pub server: ServerArgs,
    /// A verb; without one the MCP server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Verbs besides serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve MCP (the default when no verb is given).
    Serve,
    /// Run a workflow or template with a live progress bar and save every output.
    ///
    /// Exit codes: 0 succeeded, 1 the job failed or was cancelled, 2 bad input (file, --set),
    /// 3 ComfyUI unreachable or refused the workflow, 4 gave up waiting (the job goes on).
    Run(RunArgs),
    /// Check a workflow or template against the live (or a saved) node catalogue.
    ///
    /// Prints every problem, one per line, to stdout. Exit codes: 0 no errors, 1 errors found,
    /// 2 bad input, 3 ComfyUI unreachable.
    Validate(ValidateArgs),
    /// Convert a workflow between the editor (UI) and API formats; prints JSON on stdout.
    ///
    /// Converts against a saved `/object_info` (`--object-info`) or the live server's node
    /// catalogue. Exit codes: 0 converted, 2 bad input (file, JSON, unknown node classes),
    /// 3 ComfyUI unreachable.
    Convert(ConvertArgs),
    /// Generate with a partner (paid API) model: builds the workflow from the server's node
    /// catalogue, prices it, and runs it only with consent (--max-credits covering the price,
    /// or --allow-partner-spend). --dry-run prints the workflow and price as JSON.
    ///
    /// Exit codes: 0 succeeded (or quoted, or submitted without --wait), 1 the job failed,
    /// 2 bad input or no consent (nothing spent), 3 ComfyUI unreachable, 4 gave up waiting.
    Generate(GenerateArgs),
    /// Manage the job/asset store (`store migrate --from DIR --to postgres://…`).
    #[command(subcommand)]
    Store(StoreCommand),
}

/// Arguments of `comfy-mcp generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// What to make: image, video, audio or 3d.
    #[arg(long = "type", value_name = "TYPE")]
    pub media_type: String,
    /// A partner node class, a value of its `model` list, its display name or an alias
    /// (`flux-ultra`, `nano-banana`, `seedance`, ...).
    #[arg(long)]
    pub model: String,
    /// The prompt.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Aspect ratio (`16:9`), where the model has one.
    #[arg(long)]
    pub aspect_ratio: Option<String>,
    /// Seed, where the model has one.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Duration in seconds, where the model has one.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Reference media: a local file (uploaded first) or an input name already on the server.
    /// Repeatable.
    #[arg(long, value_name = "FILE_OR_NAME")]
    pub media: Vec<String>,
    /// Spending consent: the most credits this run may cost ($1 = 211 credits).
    #[arg(long, value_name = "N")]
    pub max_credits: Option<f64>,
    /// Print the workflow and price as JSON; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait for the job with a progress bar and save its outputs (without it, the job is
    /// submitted and its id printed as JSON).
    #[arg(long)]
    pub wait: bool,
    /// Where to save the outputs (with --wait).
    #[arg(long, default_value = "outputs")]
    pub out: PathBuf,
    /// Give up waiting after this many seconds (the job goes on).
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `comfy-mcp store …`.
#[derive(Debug, Clone, Subcommand)]
pub enum StoreCommand {
    /// Copy every job, asset and batch of one store into another (e.g. an SQLite data
    /// directory into PostgreSQL). Idempotent: running it again copies nothing twice. Prints
    /// the counts as JSON. Exit codes: 0 done, 2 bad input, 3 a store failed.
    Migrate(StoreMigrateArgs),
}

/// Arguments of `comfy-mcp store migrate`.
#[derive(Debug, Clone, Args)]
pub struct StoreMigrateArgs {
    /// The source: a data directory (holding comfy.sqlite3), an SQLite file
    /// (`sqlite:///path` or a path), or a postgres:// URL. It must exist.
    #[arg(long, value_name = "STORE")]
    pub from: String,
    /// The target: a postgres:// URL (or another store location); created/migrated if needed.
    #[arg(long, value_name = "STORE")]
    pub to: String,
}

/// A workflow format for `convert --to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkflowFormatArg {
    /// The API ("prompt") format.
    Api,
    /// The editor (UI / "save") format.
    Ui,
}

/// Arguments of `comfy-mcp convert`.
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// An editor (UI) or API-format workflow file.
    pub file: PathBuf,
    /// The format to produce [default: the other one].
    #[arg(long, value_enum)]
    pub to: Option<WorkflowFormatArg>,
    /// A saved `/object_info` JSON file to convert against instead of the live server.
    #[arg(long, value_name = "FILE")]
    pub object_info: Option<PathBuf>,
}

/// Arguments of `comfy-mcp run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A workflow file (API or editor format), a template file, or the name of a template
    /// (built-in or in the workflows directory).
    pub file: String,
    /// `name=value` sets a template parameter; `node.input=value` sets a node input (node id or
    /// unique title). Values are JSON when they parse as JSON, text otherwise. Repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Where to save the outputs.
    #[arg(long, default_value = "outputs")]
    pub out: PathBuf,
    /// Give up waiting after this many seconds (the job goes on in ComfyUI).
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
    /// Save the outputs of an identical run that already succeeded instead of running again
    /// (looked up in, and this run recorded to, the configured store).
    #[arg(long)]
    pub reuse: bool,
    /// Run on this backend of the `[[backends]]` list (by name; a single backend answers to
    /// its kind). Default: routing chooses.
    #[arg(long, value_name = "NAME")]
    pub backend_name: Option<String>,
    /// If the backend that accepted the job is lost with it (stops answering, or restarts and
    /// forgets it), run it again on another backend of the `[[backends]]` list instead of
    /// failing (a second run may repeat work the lost backend did).
    #[arg(long)]
    pub resubmit_if_lost: bool,
}

/// Arguments of `comfy-mcp validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// A workflow file (API or editor format) or a template file.
    pub file: PathBuf,
    /// A saved `/object_info` JSON file to check against instead of the live server.
    #[arg(long, value_name = "FILE")]
    pub object_info: Option<PathBuf>,
    /// Print the problems as JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// The MCP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// JSON-RPC over stdin/stdout (for desktop clients that spawn the server).
    Stdio,
    /// Streamable HTTP at `http://<listen>/mcp`.
    Http,
}

/// Log line format (logs always go to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Server settings. Every one is optional here; unset ones come from the environment, the
/// config file or the defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// Which backend runs the workflows: `local` (a ComfyUI at --comfyui-url), `comfy-cloud`
    /// (Comfy Cloud at --cloud-url, with --cloud-api-key) or `runcomfy` (a RunComfy deployment,
    /// with --runcomfy-token and --runcomfy-deployment) [default: local].
    #[arg(long, env = "COMFY_MCP_BACKEND", value_name = "KIND", global = true)]
    pub backend: Option<String>,
    /// ComfyUI base URL [default: http://127.0.0.1:8188]; unused with `--backend comfy-cloud`
    /// or `runcomfy`.
    #[arg(long, env = "COMFYUI_URL", global = true)]
    pub comfyui_url: Option<String>,
    /// Comfy Cloud base URL [default: https://cloud.comfy.org].
    #[allow(rustdoc::bare_urls)] // the text is clap's --help, where a bare URL reads best
    #[arg(long, env = "COMFY_CLOUD_URL", value_name = "URL", global = true)]
    pub cloud_url: Option<String>,
    /// Comfy Cloud API key (sent to the Cloud host only; also used for partner nodes unless
    /// --comfy-api-key is set). Prefer the environment variable or the config file.
    #[arg(long, env = "COMFY_CLOUD_API_KEY", value_name = "KEY", global = true, hide_env_values = true)]
    pub cloud_api_key: Option<String>,
    /// Allow the account-wide interrupt on Comfy Cloud as a last resort to stop a running job
    /// (it stops every running job of the account).
    #[arg(long, env = "COMFY_CLOUD_ALLOW_ACCOUNT_INTERRUPT", global = true)]
    pub allow_account_interrupt: bool,
    /// Let `partner_generate` spend credits without a per-call max_credits (also when the
    /// price is unknown). Off: each paid run needs max_credits covering its price.
    #[arg(long, env = "COMFY_ALLOW_PARTNER_SPEND", global = true)]
    pub allow_partner_spend: bool,
    /// Let URLs that a hosted backend answers (output URLs, redirects to storage) reach
    /// loopback, private and link-local addresses; off, only public addresses are fetched (the
    /// configured backend URL itself is always allowed).
    #[arg(long, env = "COMFY_ALLOW_PRIVATE_URLS", global = true)]
    pub allow_private_urls: bool,
    /// RunComfy Serverless API base URL (`--backend runcomfy`) [default: https://api.runcomfy.net].
    #[allow(rustdoc::bare_urls)]
    #[arg(long, env = "RUNCOMFY_API_URL", value_name = "URL", global = true)]
    pub runcomfy_url: Option<String>,
    /// RunComfy API token (sent to the API host only, never to the output CDN). Prefer the
    /// environment variable or the config file.
    #[arg(long, env = "RUNCOMFY_API_TOKEN", value_name = "TOKEN", global = true, hide_env_values = true)]
    pub runcomfy_token: Option<String>,
    /// The RunComfy deployment workflows run on (`list_deployments` shows them).
    #[arg(long, env = "RUNCOMFY_DEPLOYMENT_ID", value_name = "ID", global = true)]
    pub runcomfy_deployment: Option<String>,
    /// RunComfy queue path version, `v1` or `v2` [default: v1].
    #[arg(long, env = "RUNCOMFY_QUEUE_VERSION", value_name = "VERSION", global = true)]
    pub runcomfy_queue_version: Option<String>,
    /// An extra CA certificate (PEM file) to trust for https:// and wss:// (repeatable; in the
    /// environment, comma-separated).
    #[arg(
        long = "ca-cert",
        env = "COMFY_CA_CERT",
        value_delimiter = ',',
        value_name = "FILE",
        global = true
    )]
    pub ca_certs: Vec<PathBuf>,
    /// TOML config file.
    #[arg(long, env = "COMFY_MCP_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// MCP transport [default: stdio].
    #[arg(long, env = "COMFY_MCP_TRANSPORT", value_enum)]
    pub transport: Option<Transport>,
    /// HTTP listen address [default: 127.0.0.1:9000]; the endpoint is /mcp.
    #[arg(long, env = "COMFY_MCP_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory of workflow templates (hot-reloaded); each becomes a tool.
    #[arg(long, env = "COMFY_MCP_WORKFLOWS_DIR", value_name = "DIR", global = true)]
    pub workflows_dir: Option<PathBuf>,
    /// Directory of the job/asset database [default: the user data directory].
    #[arg(long, env = "COMFY_MCP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where jobs, assets and batches are recorded, instead of the data directory:
    /// `postgres://user:password@host:port/db` (several servers share it), `sqlite:///path`,
    /// or a path [default: comfy.sqlite3 in the data directory].
    #[arg(long, env = "COMFY_STORE_URL", value_name = "URL")]
    pub store: Option<String>,
    /// Keep a local copy of every output in this directory when its job finishes, and serve
    /// assets from it (outputs on Comfy Cloud live at signed URLs that expire after about 6 h).
    #[arg(long, env = "COMFY_MCP_KEEP_OUTPUTS", value_name = "DIR", global = true)]
    pub keep_outputs: Option<PathBuf>,
    /// Append one JSON line to this file for every submission that spends money (Comfy Cloud,
    /// RunComfy, partner nodes on any backend) [default: no audit log].
    #[arg(long, env = "COMFY_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// On SIGTERM or Ctrl-C, wait this long for calls in flight before exiting, in seconds
    /// [default: 30].
    #[arg(long, env = "COMFY_MCP_DRAIN_TIMEOUT_SECS", value_name = "SECS")]
    pub drain_timeout_secs: Option<u64>,
    /// URL that `submit_feedback` and `report_session_summary` also POST to (with the user's
    /// consent, never with a backend credential) [default: stored locally only].
    #[arg(long, env = "COMFY_FEEDBACK_URL", value_name = "URL")]
    pub feedback_url: Option<String>,
    /// Directory that published assets are copied into.
    #[arg(long, env = "COMFY_MCP_PUBLISH_DIR", value_name = "DIR")]
    pub publish_dir: Option<PathBuf>,
    /// Directory whose files `upload_file` may read by `path` (repeatable; in the environment,
    /// comma-separated) [default: none: uploads take bytes only].
    #[arg(long = "upload-dir", env = "COMFY_MCP_UPLOAD_DIRS", value_delimiter = ',', value_name = "DIR")]
    pub upload_dirs: Vec<PathBuf>,
    /// HTTP access token, `TOKEN` (every tool) or `TOKEN:tool_a+tool_b` (only those tools).
    /// Repeatable; in the environment, separate tokens with commas.
    #[arg(long = "token", env = "COMFY_MCP_TOKENS", value_delimiter = ',', value_name = "TOKEN[:TOOLS]")]
    pub tokens: Vec<String>,
    /// OAuth 2.1: accept JWT access tokens from this issuer (its `iss`); needs --oauth-resource.
    #[arg(long, env = "COMFY_MCP_OAUTH_ISSUER", value_name = "URL")]
    pub oauth_issuer: Option<String>,
    /// OAuth 2.1: this server's canonical URL (e.g. `https://comfy.example/mcp`), the audience
    /// tokens must name and the `resource` of its protected-resource metadata.
    #[arg(long, env = "COMFY_MCP_OAUTH_RESOURCE", value_name = "URL")]
    pub oauth_resource: Option<String>,
    /// Comfy API key for partner (paid API) nodes, sent with each job (on Comfy Cloud it
    /// replaces the Cloud API key for partner nodes).
    #[arg(long, env = "COMFY_API_KEY", value_name = "KEY", global = true, hide_env_values = true)]
    pub comfy_api_key: Option<String>,
    /// Which tools are listed: `full` (every tool) or `minimal` (a handful of general tools in
    /// about 2 KB); allow/deny lists apply on top [default: full].
    #[arg(long, env = "COMFY_MCP_TOOL_PROFILE", value_enum)]
    pub tool_profile: Option<crate::tools::profile::ToolProfile>,
    /// Only these tools are served (comma-separated; `*` allowed at the end of a name).
    #[arg(long, env = "COMFY_MCP_ALLOW_TOOLS", value_delimiter = ',', value_name = "TOOLS")]
    pub allow_tools: Vec<String>,
    /// These tools are never served (comma-separated; `*` allowed at the end of a name).
    #[arg(long, env = "COMFY_MCP_DENY_TOOLS", value_delimiter = ',', value_name = "TOOLS")]
    pub deny_tools: Vec<String>,
    /// Host header values accepted over HTTP (comma-separated) [default: loopback names and the
    /// listen host].
    #[arg(long, env = "COMFY_MCP_ALLOWED_HOSTS", value_delimiter = ',', value_name = "HOSTS")]
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted over HTTP (comma-separated, e.g. `https://app.example:443`)
    /// [default: none checked].
    #[arg(long, env = "COMFY_MCP_ALLOWED_ORIGINS", value_delimiter = ',', value_name = "ORIGINS")]
    pub allowed_origins: Vec<String>,
    /// Longest a tool call waits for a job before answering with the job handle, in seconds
    /// [default: 45].
    #[arg(long, env = "COMFY_MCP_WAIT_BUDGET_SECS", value_name = "SECS")]
    pub wait_budget_secs: Option<u64>,
    /// Most jobs this server runs at once [default: 8].
    #[arg(long, env = "COMFY_MCP_MAX_RUNNING_JOBS", value_name = "N")]
    pub max_running_jobs: Option<usize>,
    /// Requests per minute per token over HTTP [default: 120].
    #[arg(long, env = "COMFY_MCP_RATE_LIMIT", value_name = "PER_MINUTE")]
    pub rate_limit: Option<u32>,
    /// Largest HTTP request body in bytes [default: 4194304].
    #[arg(long, env = "COMFY_MCP_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest asset served through `comfy://assets/...` in bytes [default: 67108864].
    #[arg(long, env = "COMFY_MCP_MAX_ASSET_BYTES", value_name = "BYTES")]
    pub max_asset_bytes: Option<u64>,
    /// Largest file `upload_file` and `use_previous_output` send to ComfyUI, in bytes
    /// [default: 33554432].
    #[arg(long, env = "COMFY_MCP_MAX_UPLOAD_BYTES", value_name = "BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// Log format on stderr [default: text].
    #[arg(long, env = "COMFY_MCP_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `comfy_mcp=debug` [default: info].
    #[arg(long, env = "COMFY_MCP_LOG", value_name = "FILTER", global = true)]
    pub log_level: Option<String>,
    /// Print the effective configuration (secrets masked) and exit.
    #[arg(long)]
    pub print_config: bool,
}
