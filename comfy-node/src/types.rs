//! Plain data crossing into JavaScript (`#[napi(object)]`: TypeScript interfaces with camelCase
//! fields in `native.d.ts`), each built from the core type it shows.

use comfy_core::job::{JobFailure, JobStatus, Progress};
use comfy_core::template::Template;
use comfy_core::validate::{Problem, Severity};
use comfy_core::{AssetSummary, Checked, Update, UpdateFields};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde::Serialize;
use serde_json::Value;

/// What `client.submitBatch(options)` runs: `workflow`, or `template` with `params`, and
/// exactly one of `paramSets`, `overrides`, `seeds`, `count`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    /// The workflow every item runs (API or editor format, JSON text or a file path).
    pub workflow: Option<Value>,
    /// A template name, instead of `workflow`.
    pub template: Option<String>,
    /// Template parameters shared by every item.
    pub params: Option<serde_json::Map<String, Value>>,
    /// One item per set of template parameters (over `params`).
    pub param_sets: Option<Vec<serde_json::Map<String, Value>>>,
    /// One item per set of node inputs (`{"KSampler.steps": 20}`).
    pub overrides: Option<Vec<serde_json::Map<String, Value>>>,
    /// One item per seed.
    pub seeds: Option<Vec<i64>>,
    /// This many items with random seeds.
    pub count: Option<u32>,
    /// Every item runs on the backend of this name (several backends).
    pub backend: Option<String>,
    /// An item lost with its backend runs again on another (default false).
    pub resubmit_if_lost: Option<bool>,
}

/// Options of `new ComfyClient(options)`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Base URL of the ComfyUI server, e.g. `http://127.0.0.1:8188` (a path prefix is allowed);
    /// default `http://127.0.0.1:8188`. Unused with `backend: 'comfy-cloud'`.
    pub url: Option<String>,
    /// `'local'` (the ComfyUI at `url`, the default), `'comfy-cloud'` (Comfy Cloud at
    /// `cloudUrl` with `cloudApiKey`) or `'runcomfy'` (a RunComfy deployment, with
    /// `runcomfyToken` and `runcomfyDeployment`).
    pub backend: Option<String>,
    /// The Comfy Cloud URL; default `$COMFY_CLOUD_URL`, else `https://cloud.comfy.org`.
    pub cloud_url: Option<String>,
    /// The Comfy Cloud API key (sent to the Cloud host only; required on Cloud); default
    /// `$COMFY_CLOUD_API_KEY`. Never logged.
    pub cloud_api_key: Option<String>,
    /// With `backend: 'runcomfy'`: the RunComfy API URL; default `$RUNCOMFY_API_URL`, else
    /// `https://api.runcomfy.net`.
    pub runcomfy_url: Option<String>,
    /// The RunComfy API token (sent to the API host only, never to the output CDN; required
    /// on RunComfy); default `$RUNCOMFY_API_TOKEN`. Never logged.
    pub runcomfy_token: Option<String>,
    /// The RunComfy deployment workflows run on; default `$RUNCOMFY_DEPLOYMENT_ID`.
    pub runcomfy_deployment: Option<String>,
    /// RunComfy queue paths: `'v1'` (default) or `'v2'`.
    pub runcomfy_queue_version: Option<String>,
    /// An extra CA certificate (PEM file) to trust for `https://` and `wss://`.
    pub ca_cert: Option<String>,
    /// Comfy Cloud: allow the account-wide interrupt as a last resort to stop a running job (it
    /// stops every running job of the account). Default false.
    pub allow_account_interrupt: Option<bool>,
    /// A directory that keeps a copy of every output when its job finishes; assets are then
    /// read from it (Comfy Cloud's signed output URLs expire after about 6 h).
    pub keep_outputs: Option<String>,
    /// Where `submitFeedback` and `reportSessionSummary` also POST (no backend credential is
    /// sent); default `$COMFY_FEEDBACK_URL`.
    pub feedback_url: Option<String>,
    /// Directory for the job and asset records (`comfy.sqlite3`); kept in memory when absent.
    pub data_dir: Option<String>,
    /// Where job and asset records are kept instead of `dataDir`'s SQLite: a PostgreSQL URL
    /// (`postgres://user:password@host:5432/db`, shared by several processes and comfy-mcp
    /// servers), `sqlite:///path/file.sqlite3` or a path. Contacted on first use.
    pub store: Option<String>,
    /// Directory of workflow templates (API or editor JSON files, reloaded on change), served
    /// beside the built-ins.
    pub workflows_dir: Option<String>,
    /// At most this many jobs of this client run at once (default 8); one more is refused with
    /// the retryable `too_many_jobs` error.
    pub max_running_jobs: Option<u32>,
    /// Comfy API key for partner (API) nodes; default `$COMFY_API_KEY`; never logged. On Comfy
    /// Cloud, unset means the Cloud API key pays for partner nodes.
    pub comfy_api_key: Option<String>,
    /// Let `partnerGenerate` spend credits without a per-call `maxCredits` (also when the price
    /// is unknown); default `$COMFY_ALLOW_PARTNER_SPEND` (`1`/`true`), else false.
    pub allow_partner_spend: Option<bool>,
    /// Let output URLs a hosted backend answers (Comfy Cloud storage, the RunComfy CDN) reach
    /// loopback, private and link-local addresses; default `$COMFY_ALLOW_PRIVATE_URLS`
    /// (`1`/`true`), else false: only public addresses are fetched (`url_not_allowed`).
    pub allow_private_urls: Option<bool>,
    /// Hosts such URLs may reach whatever their address (`minio.internal`, `127.0.0.1:9000`).
    pub allowed_url_hosts: Option<Vec<String>>,
    /// Several named backends instead of one: each an object with the keys of a `[[backends]]`
    /// entry of comfy-mcp's config file (`name`, `kind`, `url`, `api_key_env`, `priority`, ...).
    pub backends: Option<Vec<serde_json::Value>>,
    /// `{overflow_queue, health_interval_ms}` (`[routing]`).
    pub routing: Option<serde_json::Value>,
}

/// Arguments of `client.submitFeedback(feedback)`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct FeedbackOptions {
    /// Must be `true`: the user agreed to send it.
    pub consent: Option<bool>,
    /// 1 (bad) to 5 (great).
    pub rating: Option<u32>,
    /// e.g. `bug`, `idea`, `praise`.
    pub category: Option<String>,
    /// The feedback: at most 2,000 characters, no paths, URLs or e-mail addresses.
    pub message: String,
}

/// One validation problem.
#[napi(object)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationProblem {
    /// `error` (ComfyUI would refuse it, or the node would fail) or `warning`.
    pub severity: String,
    /// Stable code (`value_not_in_list`, `missing_required_input`, ...).
    pub code: String,
    /// The node, when the problem is about one.
    pub node_id: Option<String>,
    /// Its class.
    pub class_type: Option<String>,
    /// The input, when the problem is about one.
    pub input: Option<String>,
    /// What is wrong, for people.
    pub message: String,
    /// "Did you mean" candidates.
    pub suggestions: Vec<String>,
    /// The template parameter bound to this input, for templates.
    pub param: Option<String>,
    /// What would be valid, when known.
    pub expected: Option<String>,
}

impl From<&Problem> for ValidationProblem {
    fn from(p: &Problem) -> Self {
        ValidationProblem {
            severity: match p.severity {
                Severity::Error => "error".into(),
                Severity::Warning => "warning".into(),
            },
            code: p.code.as_str().into(),
            node_id: p.node_id.as_ref().map(|n| n.0.clone()),
            class_type: p.class_type.clone(),
            input: p.input.clone(),
            message: p.message.clone(),
            suggestions: p.suggestions.clone(),
            param: p.param.clone(),
            expected: p.expected.clone(),
        }
    }
}

/// The verdict on a workflow: every problem at once.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// No errors (warnings allowed).
    pub valid: bool,
    /// Every problem, errors first.
    pub problems: Vec<ValidationProblem>,
    /// For an editor workflow: what its conversion had to guess or leave out.
    pub conversion_warnings: Vec<String>,
}

impl From<Checked> for CheckResult {
    fn from(c: Checked) -> Self {
        CheckResult {
            valid: c.valid,
            problems: c.problems.iter().map(ValidationProblem::from).collect(),
            conversion_warnings: c.conversion_warnings,
        }
    }
}

/// Why a job failed: the node, its class, the exception and ComfyUI's message.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct Failure {
    /// The node that raised.
    pub node_id: Option<String>,
    /// Its class.
    pub node_class: Option<String>,
    /// The Python exception type (`RuntimeError`, `torch.OutOfMemoryError`, ...).
    pub exception_type: Option<String>,
    /// The message.
    pub message: String,
    /// The traceback lines, when the backend sent them.
    pub traceback: Vec<String>,
    /// A stable code for failures of ours rather than of the workflow: `backend_lost` (the
    /// backend stopped answering), `job_lost` (it no longer knows the job).
    pub code: Option<String>,
}

impl From<&JobFailure> for Failure {
    fn from(f: &JobFailure) -> Self {
        Failure {
            node_id: f.node_id.clone(),
            node_class: f.class_type.clone(),
            exception_type: f.exception_type.clone(),
            message: f.message.clone(),
            traceback: f.traceback.clone(),
            code: f.code.clone(),
        }
    }
}

/// A count from the core as a JavaScript number (saturating; no step count comes close).
fn count(n: Option<u64>) -> Option<u32> {
    n.map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Where a job is now.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct JobState {
    /// `pending`, `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// Place in the queue (0 = next), while queued and known.
    pub queue_position: Option<u32>,
    /// Overall completion in 0..1, while running.
    pub fraction: Option<f64>,
    /// The node running now.
    pub node_id: Option<String>,
    /// Its class.
    pub node_class: Option<String>,
    /// Its sampler step, when it has steps.
    pub step: Option<u32>,
    /// Its step count.
    pub max_steps: Option<u32>,
    /// Why it failed, once failed.
    pub failure: Option<Failure>,
}

impl JobState {
    /// Only the status name and failure (plus the progress fields filled by [`JobState::progress`]).
    fn named(status: &JobStatus) -> JobState {
        JobState {
            status: status.name().into(),
            failure: match status {
                JobStatus::Failed(f) => Some(Failure::from(f)),
                _ => None,
            },
            queue_position: match status {
                JobStatus::Queued { position } => *position,
                _ => None,
            },
            ..JobState::default()
        }
    }

    fn progress(mut self, p: &Progress) -> JobState {
        self.fraction = Some(p.fraction.clamp(0.0, 1.0));
        self.node_id = p.node_id.clone();
        self.node_class = p.class_type.clone();
        self.step = count(p.step);
        self.max_steps = count(p.max_steps);
        self
    }
}

impl From<&JobStatus> for JobState {
    fn from(status: &JobStatus) -> Self {
        match status {
            JobStatus::Running(p) => JobState::named(status).progress(p),
            _ => JobState::named(status),
        }
    }
}

/// One step of a job's life, from `job.events()`.
#[napi(object)]
pub struct JobEvent {
    /// `queued`, `running`, `preview` or `finished` (always the last event).
    pub kind: String,
    /// Overall completion in 0..1 (running; 1 when finished successfully); never goes back.
    pub fraction: Option<f64>,
    /// The node running (running) or that the preview comes from.
    pub node_id: Option<String>,
    /// The running node's class.
    pub node_class: Option<String>,
    /// Sampler step (running, preview).
    pub step: Option<u32>,
    /// Sampler step count (running, preview).
    pub max_steps: Option<u32>,
    /// Nodes finished so far (running).
    pub nodes_done: Option<u32>,
    /// Nodes to run (running).
    pub nodes_total: Option<u32>,
    /// Place in the queue, 0 = next (queued, when known).
    pub queue_position: Option<u32>,
    /// The preview image bytes (preview).
    pub preview: Option<Buffer>,
    /// Their MIME type (preview).
    pub preview_mime: Option<String>,
    /// The final status: `succeeded`, `failed` or `cancelled` (finished).
    pub status: Option<String>,
    /// Why it failed (finished with `failed`).
    pub failure: Option<Failure>,
}

impl From<Update> for JobEvent {
    fn from(u: Update) -> Self {
        let f = UpdateFields::from(u);
        let (preview, preview_mime) = f.preview.map(|p| (Buffer::from(p.data.to_vec()), p.mime)).unzip();
        JobEvent {
            kind: f.kind.into(),
            fraction: f.fraction,
            node_id: f.node_id,
            node_class: f.node_class,
            step: count(f.step),
            max_steps: count(f.max_steps),
            nodes_done: f.nodes_done,
            nodes_total: f.nodes_total,
            queue_position: f.queue_position,
            preview,
            preview_mime,
            status: f.status.map(Into::into),
            failure: f.failure.as_ref().map(Failure::from),
        }
    }
}

/// One output of a job.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct AssetInfo {
    /// Stable asset id (`a_…`): pass it to `client.assetBytes` / `client.saveAsset`.
    pub id: String,
    /// The job that made it.
    pub job_id: String,
    /// The node that made it.
    pub node_id: String,
    /// `image`, `video`, `audio`, `model3d`, `text` or `other`.
    pub kind: String,
    /// MIME type.
    pub mime_type: String,
    /// File name on the server (files).
    pub filename: Option<String>,
    /// Its sub-folder on the server (files; often empty).
    pub subfolder: Option<String>,
    /// Its folder on the server: `output`, `temp` or `input` (files).
    pub folder: Option<String>,
    /// The text (text outputs; cut at 2000 characters).
    pub text: Option<String>,
    /// Image width, once the bytes were fetched.
    pub width: Option<u32>,
    /// Image height, once the bytes were fetched.
    pub height: Option<u32>,
    /// Size in bytes, once fetched.
    pub byte_size: Option<f64>,
    /// SHA-256 (hex) of the bytes, once fetched.
    pub sha256: Option<String>,
    /// The template that made it.
    pub template: Option<String>,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at: f64,
}

impl From<AssetSummary> for AssetInfo {
    fn from(a: AssetSummary) -> Self {
        AssetInfo {
            id: a.asset_id,
            job_id: a.job_id,
            node_id: a.node_id,
            kind: serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            mime_type: a.mime_type,
            filename: a.filename,
            subfolder: None,
            folder: None,
            text: a.text,
            width: a.width,
            height: a.height,
            byte_size: a.byte_size.map(|b| b as f64),
            sha256: a.sha256,
            template: a.template,
            created_at: a.created_at as f64,
        }
    }
}

impl From<&comfy_core::store::Asset> for AssetInfo {
    fn from(a: &comfy_core::store::Asset) -> Self {
        let mut info = AssetInfo::from(AssetSummary::from(a));
        if let Some(file) = &a.file {
            info.subfolder = Some(file.subfolder.clone());
            info.folder = Some(file.folder.as_str().to_owned());
        }
        info
    }
}

/// One template parameter.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct TemplateParam {
    /// Name.
    pub name: String,
    /// `string`, `integer`, `number` or `boolean`.
    #[napi(js_name = "type")]
    pub ty: String,
    /// Must be given.
    pub required: bool,
    /// Default value.
    pub default: Option<Value>,
    /// Description.
    pub description: Option<String>,
}

/// A template, as a listing shows it.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct TemplateSummary {
    /// Name (`generate_image`, or a file's stem).
    pub name: String,
    /// What it does.
    pub description: String,
    /// `builtin` or `directory`.
    pub source: String,
    /// Parameters, in declaration order.
    pub params: Vec<TemplateParam>,
    /// The parameters as a JSON Schema (2020-12), with bounds and choices once the server's
    /// catalogue is known.
    pub input_schema: Value,
}

impl From<&Template> for TemplateSummary {
    fn from(template: &Template) -> Self {
        let t = template.info();
        let source = serde_json::to_value(t.source).ok().and_then(|v| v.as_str().map(str::to_owned));
        TemplateSummary {
            name: t.name,
            description: t.description,
            source: source.unwrap_or_default(),
            params: t
                .params
                .into_iter()
                .map(|p| TemplateParam {
                    name: p.name,
                    ty: p.ty.as_str().into(),
                    required: p.required,
                    default: p.default,
                    description: p.description,
                })
                .collect(),
            input_schema: template.json_schema(),
        }
    }
}

/// An editor workflow converted to the API format.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct UiConversion {
    /// The API-format workflow.
    pub workflow: Value,
    /// What the conversion had to guess or leave out.
    pub warnings: Vec<String>,
}

impl From<comfy_core::ui::UiConversion> for UiConversion {
    fn from(c: comfy_core::ui::UiConversion) -> Self {
        UiConversion { workflow: c.workflow.to_value(), warnings: c.warnings }
    }
}

/// One node of a workflow.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct WorkflowNode {
    /// Node id.
    pub id: String,
    /// Node class.
    pub class_type: String,
    /// Its `_meta.title`, if any.
    pub title: Option<String>,
}

/// Options of `serveMcp`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct McpOptions {
    /// `http` (default) or `stdio`.
    pub transport: Option<String>,
    /// Address to listen on (HTTP; default `127.0.0.1:0`, a free port).
    pub listen: Option<String>,
    /// Bearer token clients must send (HTTP; required on non-loopback addresses).
    pub token: Option<String>,
    /// Which tools are listed: `full` (default, every tool) or `minimal` (a handful of general
    /// tools, as `comfy-mcp --tool-profile minimal`).
    pub tool_profile: Option<String>,
}
