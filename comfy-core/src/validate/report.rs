//! The plain data of a validation: problems and the report. Depends on nothing in the crate
//! but [`NodeId`], so the error type can carry a report without an import cycle.

use std::fmt;

use serde::Serialize;

use crate::workflow::node::NodeId;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// ComfyUI would reject the prompt, or the node would fail when it runs.
    Error,
    /// Accepted, but probably not what was meant.
    Warning,
}

/// Stable problem codes. The string form ([`ProblemCode::as_str`]) never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemCode {
    /// The file is in the editor's UI format, not the API format.
    UiFormatWorkflow,
    /// A node entry is malformed (not an object, no `class_type`, `inputs` not an object).
    InvalidNode,
    /// `class_type` names no class in the catalogue.
    UnknownClass,
    /// A required input is absent.
    RequiredInputMissing,
    /// An array that is not a valid link (`["node id", output index]`).
    BadLinkedInput,
    /// A link to a node id that is not in the workflow.
    LinkToMissingNode,
    /// A link to an output index the source class does not have.
    LinkBadOutputIndex,
    /// A link whose source output type does not fit the input type.
    ReturnTypeMismatch,
    /// A literal that ComfyUI cannot convert to the input's type.
    InvalidInputType,
    /// A number below the input's `min`.
    ValueSmallerThanMin,
    /// A number above the input's `max`.
    ValueBiggerThanMax,
    /// A value that is not one of the combo's options. Also raised for V3 combos, which ComfyUI
    /// 0.3.x accepts at queue time and then fails when the node runs.
    ValueNotInList,
    /// A literal where only a link can go (e.g. a string for an `IMAGE` input). ComfyUI does
    /// not check this at queue time; the node fails when it runs.
    LiteralForLinkInput,
    /// No output node at all, so ComfyUI has nothing to run.
    NoOutputNode,
    /// A requested partial-execution target is not an output node of the workflow.
    InvalidOutputTarget,
    /// The links form a cycle.
    Cycle,
    /// An input the class does not declare (ComfyUI ignores it). Warning.
    UnknownInput,
    /// A literal ComfyUI will convert in a surprising way (`"false"` → `True`). Warning.
    CoercedValue,
    /// A node that no output depends on (ComfyUI will not run it). Warning.
    UnusedNode,
}

impl ProblemCode {
    /// The stable string code.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::UiFormatWorkflow => "ui_format_workflow",
            ProblemCode::InvalidNode => "invalid_node",
            ProblemCode::UnknownClass => "unknown_class",
            ProblemCode::RequiredInputMissing => "required_input_missing",
            ProblemCode::BadLinkedInput => "bad_linked_input",
            ProblemCode::LinkToMissingNode => "link_to_missing_node",
            ProblemCode::LinkBadOutputIndex => "link_bad_output_index",
            ProblemCode::ReturnTypeMismatch => "return_type_mismatch",
            ProblemCode::InvalidInputType => "invalid_input_type",
            ProblemCode::ValueSmallerThanMin => "value_smaller_than_min",
            ProblemCode::ValueBiggerThanMax => "value_bigger_than_max",
            ProblemCode::ValueNotInList => "value_not_in_list",
            ProblemCode::LiteralForLinkInput => "literal_for_link_input",
            ProblemCode::NoOutputNode => "no_output_node",
            ProblemCode::InvalidOutputTarget => "invalid_output_target",
            ProblemCode::Cycle => "cycle",
            ProblemCode::UnknownInput => "unknown_input",
            ProblemCode::CoercedValue => "coerced_value",
            ProblemCode::UnusedNode => "unused_node",
        }
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code.
    pub code: ProblemCode,
    /// The node it is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<NodeId>,
    /// That node's class, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_type: Option<String>,
    /// The input it is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
    /// "Did you mean" candidates (class names, input names or combo values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
    /// The output nodes that cannot run because of this problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependent_outputs: Vec<NodeId>,
    /// The template parameter bound to this input, when the workflow was rendered from a
    /// template: the value to change is that parameter's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// What would be valid there, when known (a template parameter's type, bounds or choices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = &self.node_id {
            write!(f, "node \"{id}\"")?;
            if let Some(class) = &self.class_type {
                write!(f, " ({class})")?;
            }
            if let Some(input) = &self.input {
                write!(f, " input {input:?}")?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{} [{}]", self.message, self.code)?;
        if !self.suggestions.is_empty() {
            write!(f, "; did you mean {}?", self.suggestions.join(", "))?;
        }
        Ok(())
    }
}

/// The result of validating a workflow.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ValidationReport {
    /// Every problem, errors first, then in node order.
    pub problems: Vec<Problem>,
    /// The output nodes that would run.
    pub outputs: Vec<NodeId>,
    /// The outputs with no error in themselves or upstream. ComfyUI queues a prompt when this is
    /// non-empty and nothing is wrong with the workflow as a whole, running only these.
    pub runnable_outputs: Vec<NodeId>,
}

impl ValidationReport {
    /// No errors (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Warning)
    }

    /// Whether ComfyUI would queue this workflow (possibly with only some outputs; see
    /// [`ValidationReport::runnable_outputs`]).
    pub fn comfyui_would_queue(&self) -> bool {
        !self.runnable_outputs.is_empty()
            && !self.errors().any(|p| {
                matches!(
                    p.code,
                    ProblemCode::UnknownClass
                        | ProblemCode::InvalidNode
                        | ProblemCode::UiFormatWorkflow
                        | ProblemCode::NoOutputNode
                )
            })
    }

    /// A one-line summary naming the first few errors.
    pub fn summary(&self) -> String {
        let errors: Vec<&Problem> = self.errors().collect();
        if errors.is_empty() {
            return format!("workflow is valid ({} warnings)", self.warnings().count());
        }
        let shown: Vec<String> = errors.iter().take(3).map(|p| p.to_string()).collect();
        let more = if errors.len() > 3 { format!("; and {} more", errors.len() - 3) } else { String::new() };
        format!(
            "workflow has {} error{}: {}{more}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            shown.join("; ")
        )
    }
}
