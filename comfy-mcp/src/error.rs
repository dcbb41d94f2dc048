//! The one place where errors become MCP answers.
//!
//! - A tool that ran and failed answers a [`CallToolResult`] with `isError: true` and the
//!   structured content `{code, message, field?, expected?, retryable}` ([`ToolError::into_result`]).
//! - A request that cannot be routed (unknown tool, unknown resource URI) is a JSON-RPC
//!   [`ErrorData`] ([`not_found`], [`resource_error`]).
//!
//! Every [`comfy_core::Error`] is turned into a [`ToolError`] by [`ToolError::from`], keeping the
//! core's stable code and retryability. Messages never carry an absolute path of the server
//! machine: paths are reduced to file names ([`scrub_paths`]).

use std::borrow::Cow;
use std::path::Path;

use rmcp::ErrorData;
use rmcp::model::CallToolResult;
use serde::Serialize;
use serde_json::{Value, json};

/// A tool failure: a stable code, a message, and (when one argument is at fault) which one and
/// what would be valid.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ToolError {
    /// Stable machine-readable code (`invalid_argument`, `job_not_found`, `backend_unreachable`, ...).
    pub code: Cow<'static, str>,
    /// What went wrong, for people and models.
    pub message: String,
    /// The offending argument (`workflow`, `params.steps`, ...), when one is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What would be valid there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Whether repeating the same call later may succeed.
    pub retryable: bool,
    /// Extra machine-readable detail (validation problems, ComfyUI's node errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub details: Option<Box<Value>>,
}

impl ToolError {
    /// A non-retryable error with a code and message.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ToolError {
            code: code.into(),
            message: scrub_paths(&message.into()),
            field: None,
            expected: None,
            retryable: false,
            details: None,
        }
    }

    /// An `invalid_argument` error about `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ToolError::new("invalid_argument", message).with_field(field)
    }

    /// Names the offending argument.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Rewrites the offending argument's name (e.g. `params.x` to `overrides.x`).
    pub fn map_field(mut self, f: impl FnOnce(&str) -> String) -> Self {
        if let Some(field) = &self.field {
            self.field = Some(f(field));
        }
        self
    }

    /// Says what would be valid.
    pub fn with_expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Marks the error retryable (or not).
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Attaches machine-readable details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// The MCP answer: `isError: true`, the error as structured content and as text.
    pub fn into_result(self) -> CallToolResult {
        let value = serde_json::to_value(&self)
            .unwrap_or_else(|_| json!({"code": self.code, "message": self.message}));
        CallToolResult::structured_error(value)
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl From<comfy_core::Error> for ToolError {
    fn from(e: comfy_core::Error) -> Self {
        ToolError::of(&e)
    }
}

impl ToolError {
    /// The tool error for a core error: its stable code, message, field and details.
    fn of(e: &comfy_core::Error) -> Self {
        use comfy_core::Error as E;
        let code = e.code();
        let retryable = e.is_retryable();
        let mut out = ToolError::new(code, message_of(e)).retryable(retryable);
        match e {
            E::InvalidOverride { target, suggestions, .. } => {
                out = out.with_field(format!("overrides.{target}"));
                if !suggestions.is_empty() {
                    out = out.with_expected(format!("one of: {}", suggestions.join(", ")));
                }
            }
            E::SavedWorkflowNotFound { suggestions, .. } => {
                out = out.with_field("name");
                out = out.with_expected(match suggestions.is_empty() {
                    true => "a name from list_saved_workflows".to_owned(),
                    false => format!("one of: {}", suggestions.join(", ")),
                });
            }
            E::AlreadyExists { .. } => {
                out = out.with_field("name").with_expected("another name, or overwrite=true to replace it")
            }
            E::UnknownNodeClasses { .. } | E::InvalidUiWorkflow { .. } => out = out.with_field("workflow"),
            E::InvalidQuery { expected, .. } => out = out.with_field("query").with_expected(expected.clone()),
            E::UnknownClass { suggestions, .. } => {
                out = out.with_field("class_type").with_expected(match suggestions.is_empty() {
                    true => "a class name from search_nodes".to_owned(),
                    false => format!("did you mean {}?", suggestions.join(", ")),
                });
            }
            E::Json { .. } | E::InvalidWorkflow { .. } | E::UiFormatWorkflow { .. } | E::Cycle { .. } => {
                out = out.with_field("workflow");
                if matches!(e, E::UiFormatWorkflow { .. }) {
                    out = out.with_expected("an API-format workflow (ComfyUI: Workflow > Export (API))");
                }
            }
            E::Validation(report) => {
                // A problem on a template's input is the caller's parameter value.
                out = match comfy_core::prepare::blamed_param(report) {
                    Some(p) => {
                        let field = format!("params.{}", p.param.as_deref().unwrap_or_default());
                        let out = out.with_field(field);
                        match &p.expected {
                            Some(expected) => out.with_expected(expected.clone()),
                            None => out,
                        }
                    }
                    None => out.with_field("workflow"),
                };
                out = out.with_details(json!({"problems": report.problems}));
            }
            E::PromptRejected { node_errors, error_type, .. } => {
                out = out
                    .with_field("workflow")
                    .with_details(json!({"type": error_type, "node_errors": node_errors}));
            }
            E::InvalidParameter { param, .. } => out = out.with_field(format!("params.{param}")),
            E::TemplateNotFound { suggestions, .. } => {
                out = out.with_field("name");
                if !suggestions.is_empty() {
                    out = out.with_expected(format!("one of: {}", suggestions.join(", ")));
                }
            }
            E::JobNotFound { .. } => {
                out = out
                    .with_field("job_id")
                    .with_expected("a job_id returned by submit_workflow or run_workflow")
            }
            E::AssetNotFound { .. } => {
                out = out.with_field("asset_id").with_expected("an asset_id from get_output or list_assets")
            }
            E::AssetExpired { .. } => out = out.with_field("asset_id"),
            E::InvalidArgument { argument, .. } | E::PathNotAllowed { argument, .. } => {
                out = out.with_field(argument.clone())
            }
            E::BatchItem { index, source } => {
                // The item's own field, under the item: `items[2].overrides.KSampler.stepz`.
                let inner = ToolError::of(source);
                out.field = Some(match inner.field {
                    Some(f) => format!("items[{index}].{f}"),
                    None => format!("items[{index}]"),
                });
                out.expected = inner.expected;
                out.details = inner.details;
            }
            E::BatchNotFound { .. } => {
                out = out.with_field("batch_id").with_expected("a batch_id returned by submit_batch")
            }
            _ => {}
        }
        out
    }
}

/// The message of a core error with paths reduced to file names and the backend URL left out
/// of nothing sensitive: backend names are `local:<url>`, which the operator configured.
fn message_of(e: &comfy_core::Error) -> String {
    use comfy_core::Error as E;
    match e {
        E::Io { action, path, source } => format!("{action} {}: {source}", file_name(path)),
        E::StoreSchemaTooNew { found, supported, .. } => format!(
            "the job/asset database has schema version {found}, newer than version {supported} that this \
             build supports"
        ),
        E::BackendUnreachable { message, .. } => {
            format!("ComfyUI is unreachable ({message}); it may be down or starting. Try again shortly.")
        }
        other => other.to_string(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "<path>".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Replaces absolute file-system paths in a message with their last component, so no answer
/// reveals the server's directory layout. URLs (`scheme://...`) are left alone.
pub fn scrub_paths(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = rest.find(['/', '\\']) {
        let (before, at) = rest.split_at(pos);
        out.push_str(before);
        // What precedes the slash in the whole message so far.
        let prev = out.as_bytes();
        let last = prev.last().copied();
        let starts_token = last.is_none_or(|c| b" \"'([=,\t\n".contains(&c));
        let windows_drive = prev.len() >= 2
            && last == Some(b':')
            && prev[prev.len() - 2].is_ascii_alphabetic()
            && (prev.len() == 2 || !prev[prev.len() - 3].is_ascii_alphanumeric());
        if !(starts_token || windows_drive) {
            out.push_str(&at[..1]);
            rest = &at[1..];
            continue;
        }
        let end = at.find([' ', '"', '\'', ')', ']', ',', ';', '\t', '\n']).unwrap_or(at.len());
        let token = &at[..end];
        // Only absolute paths with at least two components are rewritten ("/x" may be a URL path).
        let http_path = token.starts_with("/api/")
            || ["GET ", "POST ", "PUT ", "DELETE ", "PATCH ", "HEAD "].iter().any(|m| out.ends_with(m));
        if token.matches(['/', '\\']).count() >= 2 && !token.starts_with("//") && !http_path {
            if windows_drive {
                out.truncate(out.len() - 2);
            }
            let last = token.rsplit(['/', '\\']).find(|s| !s.is_empty()).unwrap_or("");
            out.push_str("…/");
            out.push_str(last);
        } else {
            out.push_str(token);
        }
        rest = &at[end..];
    }
    out.push_str(rest);
    out
}

/// A JSON-RPC error for a tool name nobody serves.
pub fn not_found(what: &str, name: &str, suggestions: &[String]) -> ErrorData {
    let hint = comfy_core::did_you_mean(suggestions);
    ErrorData::invalid_params(format!("unknown {what} {name:?}{hint}"), Some(json!({"name": name})))
}

/// A JSON-RPC error for `resources/read` (resources have no `isError` result): unknown URIs and
/// unknown ids are "resource not found", everything else an internal error carrying the code.
pub fn resource_error(uri: &str, e: ToolError) -> ErrorData {
    let data = Some(json!({"uri": uri, "code": e.code, "retryable": e.retryable}));
    match e.code.as_ref() {
        "job_not_found" | "asset_not_found" | "template_not_found" | "unknown_resource" => {
            ErrorData::resource_not_found(e.message, data)
        }
        "invalid_argument" => ErrorData::invalid_params(e.message, data),
        _ => ErrorData::internal_error(e.message, data),
    }
}

/// A protocol error met inside a call that runs as a task: the task completes with it as a
/// tool error.
pub fn protocol_error_result(e: ErrorData) -> CallToolResult {
    ToolError::new("invalid_request", e.message.to_string()).into_result()
}

/// A JSON-RPC error for an unknown task id.
pub fn task_not_found(task_id: &str) -> ErrorData {
    let shown: String = task_id.chars().take(128).collect();
    ErrorData::invalid_params(format!("unknown task {shown:?}"), Some(json!({"taskId": shown})))
}

/// A JSON-RPC error for a resource, prompt or task outside the HTTP token's scope.
pub fn forbidden(what: &str) -> ErrorData {
    ErrorData::invalid_request(
        format!("this token may not use {what}"),
        Some(json!({"code": "forbidden", "retryable": false})),
    )
}

/// A JSON-RPC error for `prompts/get` (unknown prompt, missing argument).
pub fn prompt_error(e: ToolError) -> ErrorData {
    ErrorData::invalid_params(
        e.message,
        Some(json!({"code": e.code, "field": e.field, "expected": e.expected})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_keep_code_field_and_retryability() {
        let e: ToolError = comfy_core::Error::JobNotFound { backend: "b".into(), job_id: "x".into() }.into();
        assert_eq!(
            (e.code.as_ref(), e.field.as_deref(), e.retryable),
            ("job_not_found", Some("job_id"), false)
        );
        let e: ToolError =
            comfy_core::Error::BackendUnreachable { backend: "b".into(), message: "refused".into() }.into();
        assert!(e.retryable);
        assert!(e.message.contains("unreachable"));
        let r = e.into_result();
        assert_eq!(r.is_error, Some(true));
        let s = r.structured_content.unwrap();
        assert_eq!(s["code"], "backend_unreachable");
        assert_eq!(s["retryable"], true);
    }

    #[test]
    fn paths_are_scrubbed_urls_are_not() {
        assert_eq!(scrub_paths("reading /home/me/flows/a.json: denied"), "reading …/a.json: denied");
        assert_eq!(scrub_paths("at \"/var/lib/x/db.sqlite3\""), "at \"…/db.sqlite3\"");
        assert_eq!(
            scrub_paths("GET http://127.0.0.1:8188/api/prompt failed"),
            "GET http://127.0.0.1:8188/api/prompt failed"
        );
        assert_eq!(scrub_paths("POST /api/prompt"), "POST /api/prompt");
        assert_eq!(scrub_paths("file C:\\Users\\me\\a.png"), "file …/a.png");
        assert_eq!(scrub_paths("a/b relative"), "a/b relative");
        let io = comfy_core::Error::Io {
            action: "reading",
            path: "/srv/secret/dir/flow.json".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let e: ToolError = io.into();
        assert!(!e.message.contains("/srv"), "{}", e.message);
    }
}
