//! Check a workflow against a node catalogue before it reaches a GPU.
//!
//! [`validate`] returns every problem at once, each with the node id, class, input, a stable
//! code, a message and "did you mean" suggestions. Its verdicts follow ComfyUI's own
//! (`execution.py` `validate_prompt`), with three deliberate differences, all documented on
//! [`ProblemCode`]: V3 combo values are checked (ComfyUI only fails them at run time),
//! literals given to link-only inputs are errors (they fail at run time too), and problems in
//! nodes that no output depends on are warnings (ComfyUI ignores those nodes).

mod coerce;
pub(crate) mod report;
mod rules;

use serde_json::Value;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::workflow::{NodeId, Workflow};

pub use report::{Problem, ProblemCode, Severity, ValidationReport};

/// Options for [`validate_with`].
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Partial execution: only these output nodes (and what they depend on) will run.
    pub outputs: Option<Vec<NodeId>>,
    /// Inputs whose literal value is not checked, as `(node id, input name)`: template
    /// parameters, whose values are checked by the parameter schema when rendering instead.
    pub skip_literals: Vec<(NodeId, String)>,
    /// Files known to be in the server's input folder beyond those the catalogue lists (the
    /// catalogue is a snapshot: files uploaded since it was fetched go here).
    pub input_files: Vec<String>,
}

impl ValidationReport {
    /// `Ok(self)` when there are no errors, else [`Error::Validation`].
    pub fn into_result(self) -> Result<Self> {
        if self.is_ok() { Ok(self) } else { Err(Error::Validation(Box::new(self))) }
    }
}

/// Validates a workflow against a catalogue.
pub fn validate(workflow: &Workflow, catalog: &Catalog) -> ValidationReport {
    validate_with(workflow, catalog, &ValidateOptions::default())
}

/// Validates a workflow with options (partial execution targets).
pub fn validate_with(workflow: &Workflow, catalog: &Catalog, options: &ValidateOptions) -> ValidationReport {
    rules::run(workflow, catalog, options, Vec::new())
}

/// Validates raw JSON: structural problems of single nodes (no `class_type`, `inputs` not an
/// object) become problems on those nodes instead of stopping everything, so every problem is
/// still reported at once.
pub fn validate_value(value: &Value, catalog: &Catalog, options: &ValidateOptions) -> ValidationReport {
    let (workflow, problems) = rules::lenient_parse(value);
    rules::run(&workflow, catalog, options, problems)
}

/// [`validate_value`] that also hands back the workflow it parsed (one parse for both): when the
/// report has no errors, that workflow is the checked one.
pub(crate) fn validate_parsed(
    value: &Value,
    catalog: &Catalog,
    options: &ValidateOptions,
) -> (Workflow, ValidationReport) {
    let (workflow, problems) = rules::lenient_parse(value);
    let report = rules::run(&workflow, catalog, options, problems);
    (workflow, report)
}

#[cfg(test)]
mod tests;
