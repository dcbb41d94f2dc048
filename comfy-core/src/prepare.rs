//! Preparing a workflow for a run, offline: any input form (API JSON, an editor "save" file, a
//! `POST /prompt` body, a template with parameters) becomes one checked API [`Workflow`] with a
//! typed report. One conversion and one parse: nothing goes back to JSON between the steps.
//!
//! [`Comfy::prepare`](crate::Comfy::prepare) is the same pipeline with the backend's live
//! catalogue, the files this client uploaded and the client's template set.
//!
//! ```
//! use comfy_core::{Catalog, prepare::{check_value, prepare_value}, validate::ValidateOptions};
//! use serde_json::json;
//!
//! let catalog = Catalog::from_json_str(r#"{
//!   "EmptyImage": {"input": {"required": {"width": ["INT", {"min": 1, "max": 16384}]}},
//!                  "output": ["IMAGE"], "output_node": false},
//!   "SaveImage":  {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_node": true}
//! }"#)?;
//! let bad = json!({"1": {"class_type": "EmptyImage", "inputs": {"width": 0}},
//!                  "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}});
//! let checked = check_value(&bad, &catalog, &ValidateOptions::default())?;
//! assert_eq!(checked.problems[0].input.as_deref(), Some("width"));
//! assert_eq!(prepare_value(&bad, &catalog, &ValidateOptions::default()).unwrap_err().code(), "validation_failed");
//! # Ok::<(), comfy_core::Error>(())
//! ```

use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::error::Result;
use crate::job::Provenance;
use crate::template::{ParamDefaults, RenderRequest, Rendered, Template};
use crate::validate::{Problem, Severity, ValidateOptions, ValidationReport, validate_parsed, validate_with};
use crate::workflow::Workflow;

/// A workflow ready to submit: checked against the catalogue, with what was found on the way.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The API-format workflow (converted, rendered) that passed validation.
    pub workflow: Workflow,
    /// The validation report: warnings only (errors make [`Error::Validation`](crate::Error::Validation) instead).
    pub report: ValidationReport,
    /// What converting an editor workflow had to guess or leave out.
    pub conversion_warnings: Vec<String>,
    /// The template and every parameter value used (drawn seeds included), for templates.
    pub provenance: Provenance,
    /// Template parameters whose seeds were drawn at random.
    pub random_seeds: Vec<String>,
}

impl Prepared {
    /// The request that submits it, carrying its provenance.
    pub fn into_request(self) -> crate::backend::JobRequest {
        let mut request = crate::backend::JobRequest::new(self.workflow);
        request.provenance = self.provenance;
        request
    }

    /// The template parameter values used, for templates.
    pub fn params(&self) -> Option<&Map<String, Value>> {
        self.provenance.params.as_ref().and_then(Value::as_object)
    }
}

/// The verdict on a workflow without running it: every problem at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Checked {
    /// No errors (warnings allowed).
    pub valid: bool,
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Every problem, errors first: node id, class, input, stable code, message, suggestions,
    /// and the template parameter behind it when there is one.
    pub problems: Vec<Problem>,
    /// For an editor workflow: what its conversion to the API format had to guess or leave out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversion_warnings: Vec<String>,
}

impl Checked {
    /// The verdict of a report (and an editor conversion's warnings).
    pub fn from_report(report: ValidationReport, conversion_warnings: Vec<String>) -> Checked {
        Checked {
            valid: report.is_ok(),
            errors: report.errors().count(),
            warnings: report.warnings().count(),
            problems: report.problems,
            conversion_warnings,
        }
    }
}

/// Converts (editor files) and validates, returning the workflow and its report either way.
fn convert_and_validate(
    value: &Value,
    catalog: &Catalog,
    options: &ValidateOptions,
) -> Result<(Workflow, ValidationReport, Vec<String>)> {
    if crate::ui::is_ui(value) {
        let converted = crate::ui::to_api(value, catalog)?;
        let report = validate_with(&converted.workflow, catalog, options);
        return Ok((converted.workflow, report, converted.warnings));
    }
    let (workflow, report) = validate_parsed(value, catalog, options);
    Ok((workflow, report, Vec::new()))
}

/// Checks a workflow given as JSON (API, editor or `POST /prompt` body) without failing on
/// its problems: they are all in the answer. Fails only when an editor workflow cannot be
/// converted at all (unknown node classes, broken links).
pub fn check_value(value: &Value, catalog: &Catalog, options: &ValidateOptions) -> Result<Checked> {
    let (_, report, warnings) = convert_and_validate(value, catalog, options)?;
    Ok(Checked::from_report(report, warnings))
}

/// Prepares a workflow given as JSON: converted and validated; any error is
/// [`Error::Validation`](crate::Error::Validation) with every problem.
pub fn prepare_value(value: &Value, catalog: &Catalog, options: &ValidateOptions) -> Result<Prepared> {
    let (workflow, report, conversion_warnings) = convert_and_validate(value, catalog, options)?;
    let report = report.into_result()?;
    Ok(Prepared {
        workflow,
        report,
        conversion_warnings,
        provenance: Provenance::default(),
        random_seeds: Vec::new(),
    })
}

/// Prepares an already-parsed API workflow.
pub fn prepare_workflow(
    workflow: Workflow,
    catalog: &Catalog,
    options: &ValidateOptions,
) -> Result<Prepared> {
    let report = validate_with(&workflow, catalog, options).into_result()?;
    Ok(Prepared {
        workflow,
        report,
        conversion_warnings: Vec::new(),
        provenance: Provenance::default(),
        random_seeds: Vec::new(),
    })
}

/// Renders a template with `params` over the layered `defaults` and validates the result; a
/// problem on an input bound to a parameter names that parameter ([`Problem::param`]).
pub fn prepare_template(
    template: &Template,
    params: Map<String, Value>,
    defaults: &ParamDefaults,
    catalog: &Catalog,
    options: &ValidateOptions,
) -> Result<Prepared> {
    let rendered = template.render(&RenderRequest::new(params).with_defaults(defaults))?;
    prepare_rendered(template, rendered, catalog, options)
}

/// Validates a rendered template (see [`prepare_template`]).
pub fn prepare_rendered(
    template: &Template,
    rendered: Rendered,
    catalog: &Catalog,
    options: &ValidateOptions,
) -> Result<Prepared> {
    let mut report = validate_with(&rendered.workflow, catalog, options);
    blame_params(template, &mut report);
    let report = report.into_result()?;
    let params: Map<String, Value> = rendered.params.into_iter().collect();
    Ok(Prepared {
        workflow: rendered.workflow,
        report,
        conversion_warnings: Vec::new(),
        provenance: Provenance {
            template: Some(rendered.template),
            params: Some(Value::Object(params)),
            owner: None,
        },
        random_seeds: rendered.random_seeds,
    })
}

/// Names the template parameter bound to each problem's input, with what it accepts.
fn blame_params(template: &Template, report: &mut ValidationReport) {
    for problem in &mut report.problems {
        let (Some(node), Some(input)) = (&problem.node_id, &problem.input) else { continue };
        let bound = template
            .params
            .values()
            .find(|spec| spec.bindings.iter().any(|b| &b.node_id == node && &b.input == input));
        if let Some(spec) = bound {
            problem.param = Some(spec.name.clone());
            if problem.severity == Severity::Error && problem.expected.is_none() {
                problem.expected = Some(spec.describe_valid());
            }
        }
    }
}

/// The first error of a report that is about a template parameter, if any.
pub fn blamed_param(report: &ValidationReport) -> Option<&Problem> {
    report.errors().find(|p| p.param.is_some())
}
