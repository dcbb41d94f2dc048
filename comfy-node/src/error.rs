//! The one place where errors become JavaScript errors.
//!
//! Every failure leaves Rust as a `napi::Error` whose message is [`PREFIX`] followed by one JSON
//! object `{code, message, retryable, details}`: `code` is the core's stable code
//! ([`comfy_core::Error::code`]), `retryable` is [`comfy_core::Error::is_retryable`], `details`
//! the structured facts of the variant (validation problems, ComfyUI's node errors, the
//! parameter at fault...). The JavaScript layer (`index.js`, `toComfyError`) parses it once
//! into a `ComfyError` subclass. Codes that only the binding produces: `aborted` (an
//! `AbortSignal` fired) and `mcp_error` (the embedded MCP server could not start or stop).

use comfy_core::Error;
use serde_json::{Map, Value, json};

use crate::types::ValidationProblem;

/// Marks a message that carries a JSON-encoded error (see the module documentation).
pub const PREFIX: &str = "COMFY_RS_ERROR:";

/// Builds the JavaScript-bound error for a code, message, retryability and details.
pub fn encode(code: &str, message: &str, retryable: bool, details: Value) -> napi::Error {
    let body = json!({"code": code, "message": message, "retryable": retryable, "details": details});
    napi::Error::new(napi::Status::GenericFailure, format!("{PREFIX}{body}"))
}

/// The error of an `AbortSignal` that fired (the JavaScript layer rethrows `signal.reason`).
pub fn aborted() -> napi::Error {
    encode("aborted", "the operation was aborted", false, Value::Null)
}

/// A core error, with its code, retryability and details.
pub fn from_core(e: &Error) -> napi::Error {
    encode(e.code(), &e.to_string(), e.is_retryable(), details(e))
}

/// The machine-readable facts of an error (camelCase keys), `null` when there are none.
fn details(e: &Error) -> Value {
    match e {
        Error::Validation(report) => {
            let problems: Vec<ValidationProblem> =
                report.problems.iter().map(ValidationProblem::from).collect();
            json!({"problems": serde_json::to_value(problems).unwrap_or(Value::Null)})
        }
        Error::PromptRejected { error_type, node_errors, .. } => {
            json!({"errorType": error_type, "nodeErrors": node_errors})
        }
        Error::InvalidParameter { template, param, .. } => json!({"template": template, "param": param}),
        Error::UnresolvedPlaceholder { template, node_id, input, placeholder } => {
            json!({"template": template, "nodeId": node_id, "input": input, "placeholder": placeholder})
        }
        Error::TemplateNotFound { name, suggestions }
        | Error::SavedWorkflowNotFound { name, suggestions } => {
            json!({"name": name, "suggestions": suggestions})
        }
        Error::InvalidTemplate { template, .. } => json!({"template": template}),
        Error::UnknownNodeClasses { classes, nodes } => {
            let nodes: Vec<Value> =
                nodes.iter().map(|(id, class)| json!({"nodeId": id, "classType": class})).collect();
            json!({"classes": classes, "nodes": nodes})
        }
        Error::UnknownClass { class_type, suggestions } => {
            json!({"classType": class_type, "suggestions": suggestions})
        }
        Error::InvalidOverride { target, suggestions, .. } => {
            json!({"target": target, "suggestions": suggestions})
        }
        Error::InvalidUiWorkflow { node_id, .. } => json!({"nodeId": node_id}),
        Error::NodeNotFound { node_id } => json!({"nodeId": node_id}),
        Error::Cycle { cycle } => json!({"cycle": cycle}),
        Error::Json { what, line, column, .. } => json!({"what": what, "line": line, "column": column}),
        Error::InvalidWorkflow { location, .. } => json!({"location": location}),
        Error::Http { status, operation, .. } => json!({"status": status, "operation": operation}),
        Error::UnexpectedResponse { operation, .. } => json!({"operation": operation}),
        Error::NotSupported { operation, reason, .. } => json!({"operation": operation, "reason": reason}),
        Error::JobNotFound { job_id, .. } => json!({"jobId": job_id}),
        Error::AssetNotFound { asset_id } => json!({"assetId": asset_id}),
        Error::AssetExpired { asset_id, job_id, expired_at_ms, .. } => {
            json!({"assetId": asset_id, "jobId": job_id, "expiredAtMs": expired_at_ms})
        }
        Error::Timeout { operation, after_ms } => json!({"operation": operation, "afterMs": after_ms}),
        Error::TooManyJobs { running, limit } => json!({"running": running, "limit": limit}),
        Error::InvalidArgument { argument, .. } | Error::PathNotAllowed { argument, .. } => {
            json!({"argument": argument})
        }
        Error::TooLarge { what, size, limit, .. } => json!({"what": what, "size": size, "limit": limit}),
        Error::BatchItem { index, source } => {
            let mut d = match details(source) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            d.insert("item".into(), json!(index));
            Value::Object(d)
        }
        Error::BatchNotFound { batch_id } => json!({"batchId": batch_id}),
        Error::UnknownPartnerModel { media, model, suggestions, .. } => {
            json!({"type": media, "model": model, "suggestions": suggestions})
        }
        Error::SpendingConsentRequired { class_type, price, .. } => {
            json!({"classType": class_type, "price": price})
        }
        Error::PriceAboveMaxCredits { class_type, price, credits, max_credits } => {
            json!({"classType": class_type, "price": price, "credits": credits, "maxCredits": max_credits})
        }
        _ => Value::Null,
    }
}

/// `.napi()` on core results: the error mapped by [`from_core`].
pub trait IntoNapi<T> {
    /// Maps the error into the JavaScript-bound error.
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for comfy_core::Result<T> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(|e| from_core(&e))
    }
}

/// An invalid argument given from JavaScript.
pub fn invalid_argument(argument: &str, message: impl Into<String>) -> napi::Error {
    from_core(&Error::InvalidArgument { argument: argument.into(), message: message.into() })
}

/// A file-system failure on a caller's path.
pub fn io(action: &'static str, path: &str, source: std::io::Error) -> napi::Error {
    from_core(&Error::Io { action, path: path.into(), source })
}
