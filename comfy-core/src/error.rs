//! The crate's one error type.
//!
//! Every fallible function in `comfy-core` returns [`Error`]. Each variant carries the
//! structured facts a caller needs (which node, which input, which parameter), a stable
//! machine-readable [`Error::code`], and [`Error::is_retryable`] so that surfaces (MCP,
//! Python, Node) can map it in exactly one place without parsing messages.

use std::path::PathBuf;

use crate::validate::report::ValidationReport;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `comfy-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Text that is not valid JSON (or breaks a JSON rule we enforce, such as duplicate keys).
    #[error("invalid JSON in {what} at line {line}, column {column}: {message}")]
    Json {
        /// What was being parsed ("workflow", "object_info", a file name, ...).
        what: String,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
        /// The parser's own description.
        message: String,
    },

    /// Well-formed JSON that is not a valid API-format workflow.
    #[error("invalid workflow at {location}: {message}")]
    InvalidWorkflow {
        /// JSON-pointer-like location, e.g. `node "3" / inputs / seed`.
        location: String,
        /// What is wrong there.
        message: String,
    },

    /// An editor (UI / "save" format) workflow was given where the API format is expected.
    #[error(
        "this is a ComfyUI editor (UI \"save\" format) workflow with {node_count} nodes, not an API-format prompt; \
         export it with \"Export (API)\" in ComfyUI, or pass it to a function that converts UI workflows"
    )]
    UiFormatWorkflow {
        /// Number of entries in the file's `nodes` array.
        node_count: usize,
    },

    /// An editor (UI / "save" format) workflow that cannot be converted: malformed structure, a link
    /// to a node or slot that does not exist, an unknown subgraph, a cycle through reroutes.
    #[error("invalid UI workflow{}: {message}", node_suffix(.node_id))]
    InvalidUiWorkflow {
        /// The node the problem is about (its execution id, e.g. `"12"` or `"5:3"` inside a
        /// subgraph), when there is one.
        node_id: Option<String>,
        /// What is wrong and where.
        message: String,
    },

    /// A UI workflow uses node classes the target server does not have. Every missing class is
    /// listed at once, with the nodes that use it.
    #[error("{}", unknown_classes_message(.classes, .nodes))]
    UnknownNodeClasses {
        /// The missing classes, sorted, each once.
        classes: Vec<String>,
        /// `(node id, class)` for every node that uses one of them, in workflow order.
        nodes: Vec<(String, String)>,
    },

    /// An override addressed as `"<node title or id>.<input>"` cannot be applied: no such node,
    /// an ambiguous title, an input the node's class does not have, or a value the input refuses.
    #[error("override {target:?}: {message}{}", suggestion_suffix(.suggestions))]
    InvalidOverride {
        /// The override's key as given (`"KSampler.seed"`, `"3.steps"`).
        target: String,
        /// What is wrong.
        message: String,
        /// Candidates: node ids for an ambiguous title, close node or input names otherwise.
        suggestions: Vec<String>,
    },

    /// No saved workflow (ComfyUI user data, `workflows/` folder) with this name.
    #[error("no saved workflow named {name:?}{}", suggestion_suffix(.suggestions))]
    SavedWorkflowNotFound {
        /// The requested name.
        name: String,
        /// Close names that do exist.
        suggestions: Vec<String>,
    },

    /// Something with this name exists already and the call did not allow overwriting it.
    #[error("{what} {name:?} already exists; pass overwrite=true to replace it")]
    AlreadyExists {
        /// What kind of thing (`saved workflow`).
        what: &'static str,
        /// Its name.
        name: String,
    },

    /// Well-formed JSON that is not a valid `/object_info` node catalogue.
    #[error("invalid node catalogue at {location}: {message}")]
    InvalidCatalog {
        /// Where in the catalogue, e.g. `KSampler / input / required / seed`.
        location: String,
        /// What is wrong there.
        message: String,
    },

    /// A node id that the operation needs is not in the workflow.
    #[error("node \"{node_id}\" is not in the workflow")]
    NodeNotFound {
        /// The missing node id.
        node_id: String,
    },

    /// The graph's links form a cycle, so it has no execution order.
    #[error("the workflow has a link cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// Node ids along the cycle, first node repeated at the end.
        cycle: Vec<String>,
    },

    /// The workflow failed validation against the node catalogue.
    #[error("{}", .0.summary())]
    Validation(Box<ValidationReport>),

    /// A template file is malformed (bad `__metadata__`, conflicting placeholder types, ...).
    #[error("template {template:?}: {message}")]
    InvalidTemplate {
        /// Template name (file stem) or path.
        template: String,
        /// What is wrong.
        message: String,
    },

    /// An asset's recorded template no longer exists, so the asset cannot be re-rendered.
    /// Same code as [`Error::TemplateNotFound`].
    #[error(
        "asset {asset_id} was made by template {name:?}, which no longer exists; it cannot be re-rendered"
    )]
    TemplateGone {
        /// The template recorded with the asset.
        name: String,
        /// The asset.
        asset_id: String,
    },

    /// No template with this name is known.
    #[error("no template named {name:?}{}", suggestion_suffix(.suggestions))]
    TemplateNotFound {
        /// The requested name.
        name: String,
        /// Close names that do exist.
        suggestions: Vec<String>,
    },

    /// A template parameter value is missing, of the wrong type or out of bounds.
    #[error("template {template:?}, parameter {param:?}: {message}")]
    InvalidParameter {
        /// Template name.
        template: String,
        /// Parameter name.
        param: String,
        /// What is wrong and what would be valid.
        message: String,
    },

    /// Rendering would leave a placeholder in the graph.
    #[error(
        "template {template:?}: placeholder {placeholder:?} would stay in node \"{node_id}\" input {input:?}"
    )]
    UnresolvedPlaceholder {
        /// Template name.
        template: String,
        /// The node holding it.
        node_id: String,
        /// The input holding it.
        input: String,
        /// The placeholder text.
        placeholder: String,
    },

    /// The backend could not be reached (connection refused, DNS, TLS, reset).
    #[error("backend {backend} is unreachable: {message}")]
    BackendUnreachable {
        /// Backend name.
        backend: String,
        /// What failed.
        message: String,
    },

    /// The backend answered with an HTTP error status.
    #[error("backend {backend} answered HTTP {status} to {operation}: {message}")]
    Http {
        /// Backend name.
        backend: String,
        /// What we asked (`POST /api/prompt`, ...).
        operation: String,
        /// HTTP status.
        status: u16,
        /// The backend's own message (or the start of its body).
        message: String,
    },

    /// The backend refused our credential (HTTP 401): a missing, wrong or expired API key or
    /// token.
    #[error("backend {backend} refused the credential (HTTP 401): {message}; check the API key or token")]
    Unauthorized {
        /// Backend name.
        backend: String,
        /// The backend's own message.
        message: String,
    },

    /// The account has no credits left for this job (HTTP 402 on Comfy Cloud).
    #[error("backend {backend}: insufficient credits: {message}")]
    InsufficientCredits {
        /// Backend name.
        backend: String,
        /// The backend's own message.
        message: String,
    },

    /// The account's subscription is not active, so it may not run jobs (Comfy Cloud answers
    /// 429 "User has not paid").
    #[error("backend {backend}: the subscription is not active: {message}")]
    SubscriptionInactive {
        /// Backend name.
        backend: String,
        /// The backend's own message.
        message: String,
    },

    /// Too many requests: try again later (after `retry_after_ms` when the backend said).
    #[error("backend {backend} is rate limiting requests: {message}{}", retry_suffix(.retry_after_ms))]
    RateLimited {
        /// Backend name.
        backend: String,
        /// The backend's own message.
        message: String,
        /// The backend's `Retry-After`, in milliseconds.
        retry_after_ms: Option<u64>,
    },

    /// The backend's queue is full: try again when jobs have finished.
    #[error("backend {backend}: the queue is full: {message}{}", retry_suffix(.retry_after_ms))]
    QueueFull {
        /// Backend name.
        backend: String,
        /// The backend's own message.
        message: String,
        /// The backend's `Retry-After`, in milliseconds.
        retry_after_ms: Option<u64>,
    },

    /// The backend answered something we cannot understand (HTML, truncated JSON, wrong shape).
    #[error("backend {backend} sent an unexpected answer to {operation}: {message}")]
    UnexpectedResponse {
        /// Backend name.
        backend: String,
        /// What we asked.
        operation: String,
        /// What was wrong, with the start of the body.
        message: String,
    },

    /// The backend refused the workflow (ComfyUI's 400 from `POST /prompt`).
    #[error("backend {backend} rejected the workflow ({error_type}): {message}{}", node_errors_suffix(.node_errors))]
    PromptRejected {
        /// Backend name.
        backend: String,
        /// ComfyUI's `error.type` (`prompt_outputs_failed_validation`, `invalid_prompt`, ...).
        error_type: String,
        /// ComfyUI's message and details.
        message: String,
        /// ComfyUI's `node_errors`, as sent.
        node_errors: Box<serde_json::Value>,
    },

    /// The backend does not support this operation.
    #[error("backend {backend} does not support {operation}: {reason}")]
    NotSupported {
        /// Backend name.
        backend: String,
        /// The operation.
        operation: &'static str,
        /// Why not, and what to do instead.
        reason: String,
    },

    /// A `backend` argument names no configured backend.
    #[error("no backend named {name:?}; configured: {}", .configured.join(", "))]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The configured names.
        configured: Vec<String>,
    },

    /// No configured backend can take the job now (all unhealthy or failing, or none has what
    /// the workflow needs).
    #[error("no backend can take the job: {message}")]
    NoBackendAvailable {
        /// Why, per backend.
        message: String,
        /// Whether trying again later may succeed (backends down) or not (nothing fits).
        retryable: bool,
    },

    /// No job with this id is known here or on the backend.
    #[error("no job {job_id:?} on backend {backend}")]
    JobNotFound {
        /// Backend name.
        backend: String,
        /// The job id.
        job_id: String,
    },

    /// No asset with this id is recorded.
    #[error("no asset {asset_id:?}")]
    AssetNotFound {
        /// The asset id.
        asset_id: String,
    },

    /// The asset's bytes lived at a signed URL of a hosted backend, and that URL has expired
    /// (hosted backends keep outputs for a limited time); no copy was kept.
    #[error(
        "the URL of asset {asset_id:?} expired {ago_s} s ago and no copy was kept: run job {job_id:?} again \
         (regenerate from this asset) to get a fresh output"
    )]
    AssetExpired {
        /// The asset id.
        asset_id: String,
        /// The job that produced it (run it again to get the output again).
        job_id: String,
        /// When the URL expired (Unix milliseconds).
        expired_at_ms: i64,
        /// How long ago, in seconds.
        ago_s: i64,
    },

    /// An operation took longer than its time limit.
    #[error("{operation} timed out after {after_ms} ms")]
    Timeout {
        /// What timed out.
        operation: String,
        /// The limit.
        after_ms: u64,
    },

    /// A node class the catalogue does not have.
    #[error("no node class {class_type:?} on this server{}", suggestion_suffix(suggestions))]
    UnknownClass {
        /// The class asked for.
        class_type: String,
        /// Close class names.
        suggestions: Vec<String>,
    },

    /// The client is draining before it stops (SIGTERM, Ctrl-C): it takes no new jobs.
    /// Retryable: another server behind the same load balancer (or this one after its
    /// restart) takes the call; jobs already running go on and are reattached.
    #[error(
        "this server is shutting down and takes no new jobs; retry the call (another server, or this \
         one once it has restarted, takes it); jobs already submitted are not affected"
    )]
    Draining,

    /// The client already runs as many jobs as it is allowed to
    /// ([`ClientOptions::max_running_jobs`](crate::ClientOptions)). Retryable: try again when one
    /// has finished, or cancel one.
    #[error(
        "{running} jobs are already running through this client (the limit is {limit}); wait for one to \
         finish or cancel one"
    )]
    TooManyJobs {
        /// Jobs running (or being submitted) now.
        running: usize,
        /// The limit.
        limit: usize,
    },

    /// An argument is invalid (empty upload, bad URL, ...).
    #[error("invalid {argument}: {message}")]
    InvalidArgument {
        /// Which argument.
        argument: String,
        /// What is wrong and what would be valid.
        message: String,
    },

    /// A catalogue query (CQL) that does not parse or cannot run.
    #[error("invalid query at column {column}: expected {expected}, found {found}")]
    InvalidQuery {
        /// 1-based character column of the problem in the query text.
        column: usize,
        /// What would have been valid there.
        expected: String,
        /// What was there (`end of query` at the end).
        found: String,
    },

    /// Bytes that should be an image could not be decoded (or re-encoded) as one.
    #[error("{what} is not a readable image: {message}")]
    InvalidImage {
        /// What was being read (an asset id, an upload name).
        what: String,
        /// Why decoding failed.
        message: String,
    },

    /// A path or file name given by a caller would leave the directory it must stay in
    /// (`..`, an absolute path, separators, a symlink out), or is outside every allowed directory.
    #[error("{argument}: {message}")]
    PathNotAllowed {
        /// Which argument (`path`, `target_filename`, ...).
        argument: String,
        /// What is wrong and what would be allowed.
        message: String,
    },

    /// A URL that did not come from the operator's configuration (a hosted output URL a backend
    /// answered, a redirect hop) was not fetched: not http(s), or its host is loopback, private,
    /// link-local (cloud metadata) or otherwise not public, and the operator did not allow it
    /// (see [`crate::net::UrlPolicy`]).
    #[error("refused to fetch {url}: {reason}")]
    UrlNotAllowed {
        /// The URL without credentials, query or fragment.
        url: String,
        /// Why, and how an operator can allow it.
        reason: String,
    },

    /// Something is bigger than a configured limit (or cannot be made to fit it).
    #[error("{what} is {size} bytes, over the limit of {limit} bytes{}", hint_suffix(.hint))]
    TooLarge {
        /// What is too large (`upload`, `asset`, `published file`, ...).
        what: String,
        /// Its size (or the smallest size reached).
        size: u64,
        /// The limit.
        limit: u64,
        /// What the caller can do about it.
        hint: Option<String>,
    },

    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("reading", "listing", "watching", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The job/asset store failed: the database could not be opened, a query failed, or a
    /// stored row could not be decoded (the message then names the table, row id and column).
    #[error("store operation {operation} failed: {message}")]
    Store {
        /// What the store was doing (`open`, `put_job`, `list_assets`, ...).
        operation: &'static str,
        /// What went wrong.
        message: String,
        /// Whether it was a transient fault (the database was busy or locked).
        retryable: bool,
    },

    /// The store's database was written by a newer comfy-rs (its schema version is higher than
    /// this build knows). The database is left untouched.
    #[error(
        "the store database {} has schema version {found}, newer than version {supported} that this \
         build supports; it was left untouched (use a newer comfy-rs or another database file)",
        path.display()
    )]
    StoreSchemaTooNew {
        /// The database file (`:memory:` for an in-memory one).
        path: PathBuf,
        /// The schema version found in the database.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },

    /// One item of a batch is invalid, so nothing of the batch was submitted. The code and
    /// retryability are the item's error's.
    #[error("batch item {index}: {source}")]
    BatchItem {
        /// The item's position (0-based).
        index: usize,
        /// What is wrong with it.
        source: Box<Error>,
    },

    /// No batch with this id is recorded.
    #[error("no batch {batch_id:?}; batch ids come from submit_batch")]
    BatchNotFound {
        /// The batch id.
        batch_id: String,
    },

    /// No partner (API) node of the catalogue matches a partner_generate `model`.
    #[error("unknown {media} partner model {model:?}: {message}{}", suggestion_suffix(suggestions))]
    UnknownPartnerModel {
        /// The requested type (`image`, `video`, `audio`, `3d`).
        media: &'static str,
        /// The model as given.
        model: String,
        /// What was searched.
        message: String,
        /// Close candidates of that type (class names, model values, aliases).
        suggestions: Vec<String>,
    },

    /// A partner run costs credits and the call did not consent to spending them.
    #[error("{class_type} costs {price}; nothing was submitted: {hint}")]
    SpendingConsentRequired {
        /// The partner node class.
        class_type: String,
        /// Its price in words (or `unknown (why)`).
        price: String,
        /// How to consent.
        hint: String,
    },

    /// A partner run costs more than the call's `max_credits`.
    #[error(
        "{class_type} costs {price}, more than max_credits {max_credits}; nothing was submitted (raise max_credits to at least {credits} to run it)"
    )]
    PriceAboveMaxCredits {
        /// The partner node class.
        class_type: String,
        /// Its price in words.
        price: String,
        /// Its (highest) price in credits.
        credits: f64,
        /// The limit the call gave.
        max_credits: f64,
    },

    /// Partner nodes need a Comfy API key and none is configured for this backend.
    #[error(
        "partner nodes on {backend} need a Comfy API key and none is configured; nothing was submitted: set \
         --comfy-api-key / COMFY_API_KEY (keys: https://platform.comfy.org/profile/api-keys)"
    )]
    PartnerKeyMissing {
        /// Backend name.
        backend: String,
    },
}

fn node_errors_suffix(node_errors: &serde_json::Value) -> String {
    let Some(map) = node_errors.as_object().filter(|m| !m.is_empty()) else {
        return String::new();
    };
    let parts: Vec<String> = map
        .iter()
        .take(5)
        .map(|(node, e)| {
            let class = e.get("class_type").and_then(|c| c.as_str()).unwrap_or("?");
            let first = e
                .get("errors")
                .and_then(|e| e.get(0))
                .map(|e| {
                    let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
                    let details = e.get("details").and_then(|m| m.as_str()).unwrap_or("");
                    if details.is_empty() { msg.to_string() } else { format!("{msg}: {details}") }
                })
                .unwrap_or_default();
            format!("node \"{node}\" ({class}): {first}")
        })
        .collect();
    format!("; {}", parts.join("; "))
}

fn retry_suffix(retry_after_ms: &Option<u64>) -> String {
    retry_after_ms.map(|ms| format!(" (retry after {:.1} s)", ms as f64 / 1000.0)).unwrap_or_default()
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default()
}

fn node_suffix(node_id: &Option<String>) -> String {
    node_id.as_ref().map(|id| format!(" at node \"{id}\"")).unwrap_or_default()
}

fn unknown_classes_message(classes: &[String], nodes: &[(String, String)]) -> String {
    let parts: Vec<String> = classes
        .iter()
        .map(|class| {
            let ids: Vec<String> =
                nodes.iter().filter(|(_, c)| c == class).map(|(id, _)| format!("\"{id}\"")).collect();
            let shown = ids.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
            let more = if ids.len() > 8 { format!(" and {} more", ids.len() - 8) } else { String::new() };
            format!("{class} (node{} {shown}{more})", if ids.len() == 1 { "" } else { "s" })
        })
        .collect();
    format!(
        "the workflow uses {} node class{} this server does not have: {}; install the custom nodes \
         that provide {} or update ComfyUI",
        classes.len(),
        if classes.len() == 1 { "" } else { "es" },
        parts.join("; "),
        if classes.len() == 1 { "it" } else { "them" }
    )
}

fn suggestion_suffix(suggestions: &[String]) -> String {
    crate::suggest::did_you_mean(suggestions)
}

impl Error {
    /// A stable, machine-readable code for this error. Surfaces expose it verbatim;
    /// it never changes once released.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Json { .. } => "invalid_json",
            Error::BatchItem { source, .. } => source.code(),
            Error::BatchNotFound { .. } => "batch_not_found",
            Error::InvalidWorkflow { .. } => "invalid_workflow",
            Error::UiFormatWorkflow { .. } => "ui_format_workflow",
            Error::InvalidUiWorkflow { .. } => "invalid_ui_workflow",
            Error::UnknownNodeClasses { .. } => "unknown_node_classes",
            Error::InvalidCatalog { .. } => "invalid_catalog",
            Error::InvalidOverride { .. } => "invalid_override",
            Error::SavedWorkflowNotFound { .. } => "saved_workflow_not_found",
            Error::AlreadyExists { .. } => "already_exists",
            Error::NodeNotFound { .. } => "node_not_found",
            Error::Cycle { .. } => "workflow_cycle",
            Error::Validation(_) => "validation_failed",
            Error::InvalidTemplate { .. } => "invalid_template",
            Error::TemplateNotFound { .. } | Error::TemplateGone { .. } => "template_not_found",
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::UnresolvedPlaceholder { .. } => "unresolved_placeholder",
            Error::BackendUnreachable { .. } => "backend_unreachable",
            Error::Http { .. } => "backend_http_error",
            Error::UnexpectedResponse { .. } => "unexpected_response",
            Error::PromptRejected { .. } => "prompt_rejected",
            Error::NotSupported { .. } => "not_supported",
            Error::JobNotFound { .. } => "job_not_found",
            Error::UnknownBackend { .. } => "unknown_backend",
            Error::NoBackendAvailable { .. } => "no_backend_available",
            Error::AssetNotFound { .. } => "asset_not_found",
            Error::AssetExpired { .. } => "asset_expired",
            Error::Timeout { .. } => "timeout",
            Error::InvalidArgument { .. } => "invalid_argument",
            Error::InvalidQuery { .. } => "invalid_query",
            Error::Io { .. } => "io_error",
            Error::Store { .. } => "store_error",
            Error::StoreSchemaTooNew { .. } => "store_schema_too_new",
            Error::InvalidImage { .. } => "invalid_image",
            Error::PathNotAllowed { .. } => "path_not_allowed",
            Error::UrlNotAllowed { .. } => "url_not_allowed",
            Error::TooLarge { .. } => "too_large",
            Error::TooManyJobs { .. } => "too_many_jobs",
            Error::Draining => "draining",
            Error::UnknownClass { .. } => "unknown_class",
            Error::Unauthorized { .. } => "unauthorized",
            Error::InsufficientCredits { .. } => "insufficient_credits",
            Error::SubscriptionInactive { .. } => "subscription_inactive",
            Error::RateLimited { .. } => "rate_limited",
            Error::QueueFull { .. } => "queue_full",
            Error::UnknownPartnerModel { .. } => "unknown_partner_model",
            Error::SpendingConsentRequired { .. } => "spending_consent_required",
            Error::PriceAboveMaxCredits { .. } => "price_above_max_credits",
            Error::PartnerKeyMissing { .. } => "partner_key_missing",
        }
    }

    /// Whether repeating the same call may succeed (transient faults only).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            Error::BackendUnreachable { .. }
            | Error::Timeout { .. }
            | Error::TooManyJobs { .. }
            | Error::Draining
            | Error::RateLimited { .. }
            | Error::QueueFull { .. } => true,
            Error::Http { status, .. } => *status == 429 || ((500..600).contains(status) && *status != 501),
            Error::Store { retryable, .. } => *retryable,
            Error::NoBackendAvailable { retryable, .. } => *retryable,
            Error::BatchItem { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// How long the backend asked us to wait before trying again (its `Retry-After`), for
    /// [`Error::RateLimited`] and [`Error::QueueFull`].
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::RateLimited { retry_after_ms, .. } | Error::QueueFull { retry_after_ms, .. } => {
                retry_after_ms.map(std::time::Duration::from_millis)
            }
            _ => None,
        }
    }

    /// Builds an [`Error::Json`] from a `serde_json` error.
    pub(crate) fn json(what: impl Into<String>, err: &serde_json::Error) -> Self {
        // serde_json appends " at line L column C" to its Display; keep only the message.
        let full = err.to_string();
        let message = match full.rfind(" at line ") {
            Some(pos) if err.line() > 0 => full[..pos].to_string(),
            _ => full,
        };
        Error::Json { what: what.into(), line: err.line(), column: err.column(), message }
    }

    /// Builds an [`Error::InvalidWorkflow`].
    pub(crate) fn workflow(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidWorkflow { location: location.into(), message: message.into() }
    }

    /// Builds an [`Error::InvalidCatalog`].
    pub(crate) fn catalog(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidCatalog { location: location.into(), message: message.into() }
    }

    /// Builds a non-retryable [`Error::Store`].
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn store(operation: &'static str, message: impl Into<String>) -> Self {
        Error::Store { operation, message: message.into(), retryable: false }
    }

    /// Builds an [`Error::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let errors = [
            Error::workflow("x", "y"),
            Error::UiFormatWorkflow { node_count: 1 },
            Error::InvalidUiWorkflow { node_id: Some("3".into()), message: "y".into() },
            Error::UnknownNodeClasses { classes: vec!["X".into()], nodes: vec![("1".into(), "X".into())] },
            Error::catalog("x", "y"),
            Error::NodeNotFound { node_id: "1".into() },
            Error::Cycle { cycle: vec!["1".into(), "2".into(), "1".into()] },
            Error::TemplateNotFound { name: "a".into(), suggestions: vec![] },
            Error::io("reading", "/x", std::io::Error::from(std::io::ErrorKind::NotFound)),
            Error::store("put_job", "disk I/O error"),
            Error::StoreSchemaTooNew { path: "/x.sqlite3".into(), found: 3, supported: 1 },
            Error::InvalidImage { what: "a".into(), message: "b".into() },
            Error::PathNotAllowed { argument: "path".into(), message: "b".into() },
            Error::UrlNotAllowed { url: "http://127.0.0.1/".into(), reason: "b".into() },
            Error::TooLarge { what: "upload".into(), size: 2, limit: 1, hint: None },
            Error::InvalidOverride { target: "a.b".into(), message: "m".into(), suggestions: vec![] },
            Error::SavedWorkflowNotFound { name: "a".into(), suggestions: vec![] },
            Error::AlreadyExists { what: "saved workflow", name: "a".into() },
            Error::TooManyJobs { running: 2, limit: 2 },
            Error::Draining,
            Error::UnknownClass { class_type: "X".into(), suggestions: vec![] },
            Error::Unauthorized { backend: "b".into(), message: "m".into() },
            Error::InsufficientCredits { backend: "b".into(), message: "m".into() },
            Error::SubscriptionInactive { backend: "b".into(), message: "m".into() },
            Error::RateLimited { backend: "b".into(), message: "m".into(), retry_after_ms: Some(1500) },
            Error::QueueFull { backend: "b".into(), message: "m".into(), retry_after_ms: None },
            Error::AssetExpired { asset_id: "a_1".into(), job_id: "j".into(), expired_at_ms: 1, ago_s: 2 },
            Error::AssetNotFound { asset_id: "a_1".into() },
            Error::BatchNotFound { batch_id: "b_1".into() },
            Error::UnknownPartnerModel {
                media: "image",
                model: "m".into(),
                message: "x".into(),
                suggestions: vec![],
            },
            Error::SpendingConsentRequired { class_type: "C".into(), price: "$1".into(), hint: "h".into() },
            Error::PriceAboveMaxCredits {
                class_type: "C".into(),
                price: "$1".into(),
                credits: 211.0,
                max_credits: 1.0,
            },
            Error::PartnerKeyMissing { backend: "b".into() },
        ];
        let codes: std::collections::HashSet<_> = errors.iter().map(Error::code).collect();
        assert_eq!(codes.len(), errors.len());
        assert_eq!(Error::workflow("a", "b").code(), "invalid_workflow");
    }

    #[test]
    fn a_batch_item_error_names_the_item_and_keeps_its_code() {
        let e = Error::BatchItem { index: 2, source: Box::new(Error::NodeNotFound { node_id: "9".into() }) };
        assert_eq!(e.code(), "node_not_found");
        assert!(e.to_string().starts_with("batch item 2: "), "{e}");
        let busy =
            Error::BatchItem { index: 0, source: Box::new(Error::TooManyJobs { running: 1, limit: 1 }) };
        assert!(busy.is_retryable());
    }

    #[test]
    fn hosted_account_errors_are_retryable_only_when_waiting_helps() {
        let limited =
            Error::RateLimited { backend: "b".into(), message: "m".into(), retry_after_ms: Some(1500) };
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(std::time::Duration::from_millis(1500)));
        assert!(limited.to_string().contains("retry after 1.5 s"), "{limited}");
        assert!(
            Error::QueueFull { backend: "b".into(), message: "m".into(), retry_after_ms: None }
                .is_retryable()
        );
        for e in [
            Error::Unauthorized { backend: "b".into(), message: "m".into() },
            Error::InsufficientCredits { backend: "b".into(), message: "m".into() },
            Error::SubscriptionInactive { backend: "b".into(), message: "m".into() },
        ] {
            assert!(!e.is_retryable(), "{e}");
            assert_eq!(e.retry_after(), None);
        }
    }

    #[test]
    fn json_error_keeps_position_and_message() {
        let err = serde_json::from_str::<serde_json::Value>("{\n  \"a\": nope}").unwrap_err();
        let e = Error::json("workflow", &err);
        match &e {
            Error::Json { line, column, message, .. } => {
                assert_eq!(*line, 2);
                assert!(*column > 0);
                assert!(!message.contains(" at line "), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(e.to_string().contains("line 2"));
    }

    #[test]
    fn only_transient_io_is_retryable() {
        let timed_out = Error::io("reading", "/x", std::io::Error::from(std::io::ErrorKind::TimedOut));
        let missing = Error::io("reading", "/x", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(timed_out.is_retryable());
        assert!(!missing.is_retryable());
        assert!(!Error::workflow("a", "b").is_retryable());
    }

    #[test]
    fn store_errors_are_retryable_only_when_flagged() {
        let busy =
            Error::Store { operation: "put_job", message: "database is locked".into(), retryable: true };
        assert!(busy.is_retryable());
        assert_eq!(busy.code(), "store_error");
        assert!(busy.to_string().contains("put_job"));
        assert!(!Error::store("get_job", "corrupt").is_retryable());
        let too_new = Error::StoreSchemaTooNew { path: "/d/comfy.sqlite3".into(), found: 7, supported: 1 };
        assert!(!too_new.is_retryable());
        let text = too_new.to_string();
        assert!(
            text.contains("/d/comfy.sqlite3") && text.contains('7') && text.contains("untouched"),
            "{text}"
        );
    }

    #[test]
    fn unknown_classes_list_every_class_and_node() {
        let e = Error::UnknownNodeClasses {
            classes: vec!["Alpha".into(), "Beta".into()],
            nodes: vec![
                ("1".into(), "Alpha".into()),
                ("2".into(), "Beta".into()),
                ("5:3".into(), "Alpha".into()),
            ],
        };
        let text = e.to_string();
        assert!(text.contains("2 node classes"), "{text}");
        assert!(text.contains("Alpha (nodes \"1\", \"5:3\")"), "{text}");
        assert!(text.contains("Beta (node \"2\")"), "{text}");
        let ui =
            Error::InvalidUiWorkflow { node_id: Some("7".into()), message: "link 3 points nowhere".into() };
        assert_eq!(ui.to_string(), "invalid UI workflow at node \"7\": link 3 points nowhere");
        assert_eq!(ui.code(), "invalid_ui_workflow");
    }

    #[test]
    fn template_not_found_lists_suggestions() {
        let e = Error::TemplateNotFound {
            name: "generate_imag".into(),
            suggestions: vec!["generate_image".into()],
        };
        assert!(e.to_string().contains("did you mean generate_image?"));
    }
}
