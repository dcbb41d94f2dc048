//! The one place where core errors become Python exceptions.
//!
//! Every [`comfy_core::Error`] is raised as the `comfy_rs.exceptions` class of its family, with
//! `.code` (the core's stable code), `.retryable`, `.details` (the error's structured fields)
//! and, for `validation_failed`, `.problems`. The classes are defined in Python
//! (`python/comfy_rs/exceptions.py`) so they can inherit from `ValueError` / `LookupError`.

use comfy_core::Error;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};
use serde_json::{Value, json};

use crate::convert::json_to_py;
use crate::workflow::Problem;

/// Why a native call failed: a core error (mapped here), or a Python error as it is.
#[derive(Debug)]
pub enum Failure {
    /// An error of comfy-core.
    Core(Error),
    /// A Python exception (bad argument type, KeyboardInterrupt while blocking, ...).
    Py(PyErr),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

impl Failure {
    /// The exception to raise (needs the GIL: the classes live in a Python module).
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Py(e) => e,
            Failure::Core(e) => core_to_pyerr(py, e).unwrap_or_else(|import_failed| import_failed),
        }
    }
}

/// Maps a core error where the GIL is held already (synchronous methods).
pub fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    Failure::Core(e).into_pyerr(py)
}

/// The exception class of each error family (names in `comfy_rs.exceptions`).
fn class_name(code: &str) -> &'static str {
    match code {
        "validation_failed" | "prompt_rejected" => "ValidationError",
        "invalid_json"
        | "invalid_workflow"
        | "ui_format_workflow"
        | "invalid_ui_workflow"
        | "unknown_node_classes"
        | "invalid_override"
        | "invalid_catalog"
        | "workflow_cycle"
        | "invalid_template"
        | "invalid_parameter"
        | "unresolved_placeholder"
        | "invalid_argument"
        | "invalid_query"
        | "invalid_image"
        | "path_not_allowed"
        | "too_large"
        | "unknown_class"
        | "already_exists"
        | "unknown_partner_model"
        | "spending_consent_required"
        | "price_above_max_credits"
        | "unknown_backend" => "InvalidInput",
        "job_not_found"
        | "asset_not_found"
        | "template_not_found"
        | "saved_workflow_not_found"
        | "node_not_found"
        | "batch_not_found" => "NotFound",
        "backend_unreachable" => "BackendUnreachable",
        "backend_http_error" | "unexpected_response" | "no_backend_available" => "BackendError",
        "timeout" => "Timeout",
        "not_supported" => "NotSupported",
        "too_many_jobs" => "TooManyJobs",
        "store_error" | "store_schema_too_new" => "StoreError",
        _ => "ComfyError",
    }
}

/// The error's structured fields, for `.details`.
fn details(e: &Error) -> Value {
    match e {
        Error::Json { what, line, column, message } => {
            json!({"what": what, "line": line, "column": column, "message": message})
        }
        Error::InvalidWorkflow { location, message } | Error::InvalidCatalog { location, message } => {
            json!({"location": location, "message": message})
        }
        Error::UiFormatWorkflow { node_count } => json!({"node_count": node_count}),
        Error::InvalidUiWorkflow { node_id, message } => json!({"node_id": node_id, "message": message}),
        Error::UnknownNodeClasses { classes, nodes } => json!({"classes": classes, "nodes": nodes}),
        Error::InvalidOverride { target, message, suggestions } => {
            json!({"target": target, "message": message, "suggestions": suggestions})
        }
        Error::SavedWorkflowNotFound { name, suggestions }
        | Error::TemplateNotFound { name, suggestions } => {
            json!({"name": name, "suggestions": suggestions})
        }
        Error::AlreadyExists { what, name } => json!({"what": what, "name": name}),
        Error::NodeNotFound { node_id } => json!({"node_id": node_id}),
        Error::Cycle { cycle } => json!({"cycle": cycle}),
        Error::Validation(report) => {
            json!({"errors": report.errors().count(), "warnings": report.warnings().count()})
        }
        Error::InvalidTemplate { template, message } => json!({"template": template, "message": message}),
        Error::InvalidParameter { template, param, message } => {
            json!({"template": template, "param": param, "message": message})
        }
        Error::UnresolvedPlaceholder { template, node_id, input, placeholder } => {
            json!({"template": template, "node_id": node_id, "input": input, "placeholder": placeholder})
        }
        Error::BackendUnreachable { backend, message } => json!({"backend": backend, "message": message}),
        Error::Http { backend, operation, status, message } => {
            json!({"backend": backend, "operation": operation, "status": status, "message": message})
        }
        Error::UnexpectedResponse { backend, operation, message } => {
            json!({"backend": backend, "operation": operation, "message": message})
        }
        Error::PromptRejected { backend, error_type, message, node_errors } => json!({
            "backend": backend, "error_type": error_type, "message": message, "node_errors": node_errors
        }),
        Error::NotSupported { backend, operation, reason } => {
            json!({"backend": backend, "operation": operation, "reason": reason})
        }
        Error::JobNotFound { backend, job_id } => json!({"backend": backend, "job_id": job_id}),
        Error::AssetNotFound { asset_id } => json!({"asset_id": asset_id}),
        Error::AssetExpired { asset_id, job_id, expired_at_ms, .. } => {
            json!({"asset_id": asset_id, "job_id": job_id, "expired_at_ms": expired_at_ms})
        }
        Error::Timeout { operation, after_ms } => json!({"operation": operation, "after_ms": after_ms}),
        Error::UnknownClass { class_type, suggestions } => {
            json!({"class_type": class_type, "suggestions": suggestions})
        }
        Error::TooManyJobs { running, limit } => json!({"running": running, "limit": limit}),
        Error::InvalidArgument { argument, message } | Error::PathNotAllowed { argument, message } => {
            json!({"argument": argument, "message": message})
        }
        Error::InvalidImage { what, message } => json!({"what": what, "message": message}),
        Error::TooLarge { what, size, limit, hint } => {
            json!({"what": what, "size": size, "limit": limit, "hint": hint})
        }
        Error::Io { action, path, source } => json!({
            "action": action, "path": path.display().to_string(), "kind": format!("{:?}", source.kind())
        }),
        Error::Store { operation, message, retryable } => {
            json!({"operation": operation, "message": message, "retryable": retryable})
        }
        Error::StoreSchemaTooNew { path, found, supported } => {
            json!({"path": path.display().to_string(), "found": found, "supported": supported})
        }
        Error::BatchItem { index, source } => {
            let mut d = details(source);
            if let Some(m) = d.as_object_mut() {
                m.insert("item".into(), json!(index));
            }
            d
        }
        Error::BatchNotFound { batch_id } => json!({"batch_id": batch_id}),
        Error::UnknownPartnerModel { media, model, suggestions, .. } => {
            json!({"type": media, "model": model, "suggestions": suggestions})
        }
        Error::SpendingConsentRequired { class_type, price, .. } => {
            json!({"class_type": class_type, "price": price})
        }
        Error::PriceAboveMaxCredits { class_type, price, credits, max_credits } => {
            json!({"class_type": class_type, "price": price, "credits": credits, "max_credits": max_credits})
        }
        _ => json!({}),
    }
}

fn core_to_pyerr(py: Python<'_>, e: Error) -> Result<PyErr, PyErr> {
    static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = EXCEPTIONS.get_or_try_init(py, || py.import("comfy_rs.exceptions").map(Bound::unbind))?;
    let code = e.code();
    let class = module.bind(py).getattr(class_name(code))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("code", code)?;
    kwargs.set_item("retryable", e.is_retryable())?;
    kwargs.set_item("details", json_to_py(py, &details(&e))?)?;
    let validation = match &e {
        Error::BatchItem { source, .. } => source.as_ref(),
        other => other,
    };
    if let Error::Validation(report) = validation {
        let problems: Vec<Problem> = report.problems.iter().map(Problem::from).collect();
        kwargs.set_item("problems", problems)?;
    }
    let exception = class.call((e.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exception))
}
