//! Checking a template against a node catalogue before anyone renders it.

use super::resolve::kind_type;
use super::substitute::{Slot, substitute};
use super::values::check_value;
use super::{Binding, ParamSpec, ParamType, Template};
use crate::catalog::{Catalog, InputDef, InputKind, Section};
use crate::validate::{Problem, ProblemCode, Severity, ValidateOptions, ValidationReport, validate_with};
use crate::workflow::NodeId;

impl Template {
    /// Validates the template against `catalog` as ComfyUI would validate its rendered graphs.
    ///
    /// Every parameter's default (or, without one, its placeholder) is put in the graph and the
    /// result goes through [`crate::validate::validate_with`], skipping the literal checks of
    /// whole-value bindings (their values are checked by the parameter schema at render time).
    /// On top of that it reports, as errors: bindings to inputs the class does not declare (or
    /// hides), bindings to link-only inputs, parameter types that do not fit the input
    /// (e.g. a boolean parameter on an INT input), and defaults that break the enriched schema.
    pub fn check(&self, catalog: &Catalog) -> ValidationReport {
        let t = self.enriched(catalog);
        let workflow =
            substitute(&t.workflow, |name| match t.params.get(name).and_then(|p| p.default.as_ref()) {
                Some(v) => Slot::Value(v),
                None => Slot::Keep,
            });
        let skip_literals: Vec<(NodeId, String)> = t
            .params
            .values()
            .flat_map(|p| p.bindings.iter().filter(|b| b.whole))
            .map(|b| (b.node_id.clone(), b.input.clone()))
            .collect();
        let options = ValidateOptions { skip_literals, ..ValidateOptions::default() };
        let mut report = validate_with(&workflow, catalog, &options);

        let mut extra = Vec::new();
        for spec in t.params.values() {
            for binding in spec.bindings.iter().filter(|b| b.whole) {
                let Some(node) = t.workflow.node(binding.node_id.as_str()) else { continue };
                // An unknown class is already reported by the validator.
                let Some(class) = catalog.node(&node.class_type) else { continue };
                let problem = match class.input(&binding.input) {
                    Some(def) if def.section != Section::Hidden => binding_mismatch(spec, binding, def),
                    hidden => {
                        // The validator warns about undeclared inputs; a parameter bound there is an error.
                        report
                            .problems
                            .retain(|p| !(p.code == ProblemCode::UnknownInput && same_place(p, binding)));
                        let declared: Vec<&str> = class
                            .inputs
                            .iter()
                            .filter(|i| i.section != Section::Hidden)
                            .map(|i| i.name.as_str())
                            .collect();
                        let why = if hidden.is_some() {
                            "is a hidden input that ComfyUI fills itself"
                        } else {
                            "is not an input of this class, so the value would be ignored"
                        };
                        let mut p = problem(
                            ProblemCode::UnknownInput,
                            binding,
                            &node.class_type,
                            format!(
                                "template parameter {:?} is bound to {:?}, which {why}; inputs are: {}",
                                spec.name,
                                binding.input,
                                declared.join(", ")
                            ),
                        );
                        p.suggestions = crate::suggest::closest(&binding.input, declared.iter().copied(), 2);
                        Some(p)
                    }
                };
                extra.extend(problem_with_class(problem, &node.class_type));
            }
            if let (Some(default), Some(first)) = (&spec.default, spec.bindings.first())
                && let Err(why) = check_value(spec, default)
            {
                let class = t.workflow.node(first.node_id.as_str()).map(|n| n.class_type.clone());
                extra.push(problem(
                    ProblemCode::InvalidInputType,
                    first,
                    class.as_deref().unwrap_or(""),
                    format!(
                        "the default {} of template parameter {:?} is not valid for the input: {why}",
                        crate::json::preview(default),
                        spec.name
                    ),
                ));
            }
        }
        merge(&t, &mut report, extra);
        report
    }
}

/// Whether a parameter of type `spec.ty` fits the input `def`.
fn binding_mismatch(spec: &ParamSpec, binding: &Binding, def: &InputDef) -> Option<Problem> {
    let (code, message) = match &def.kind {
        InputKind::Connection { type_name } if type_name == "*" => return None,
        InputKind::Connection { type_name } => (
            ProblemCode::LiteralForLinkInput,
            format!(
                "template parameter {:?} is bound to {:?}, which takes a link from a {type_name} output, not a \
                 value; links cannot be parameterised",
                spec.name, binding.input
            ),
        ),
        kind => {
            let expected = kind_type(kind)?;
            let fits =
                spec.ty == expected || (expected == ParamType::Number && spec.ty == ParamType::Integer);
            if fits {
                return None;
            }
            (
                ProblemCode::InvalidInputType,
                format!(
                    "template parameter {:?} is {} {}, but input {:?} takes {} ({} values); declare the parameter \
                     as {} or bind it to another input",
                    spec.name,
                    article(spec.ty),
                    spec.ty,
                    binding.input,
                    kind.type_name(),
                    expected,
                    expected
                ),
            )
        }
    };
    Some(problem(code, binding, "", message))
}

fn article(ty: ParamType) -> &'static str {
    if ty == ParamType::Integer { "an" } else { "a" }
}

fn problem(code: ProblemCode, binding: &Binding, class: &str, message: String) -> Problem {
    Problem {
        severity: Severity::Error,
        code,
        node_id: Some(binding.node_id.clone()),
        class_type: (!class.is_empty()).then(|| class.to_owned()),
        input: Some(binding.input.clone()),
        message,
        suggestions: Vec::new(),
        dependent_outputs: Vec::new(),
        param: None,
        expected: None,
    }
}

fn problem_with_class(p: Option<Problem>, class: &str) -> Option<Problem> {
    p.map(|mut p| {
        p.class_type = Some(class.to_owned());
        p
    })
}

fn same_place(p: &Problem, b: &Binding) -> bool {
    p.node_id.as_ref() == Some(&b.node_id) && p.input.as_deref() == Some(b.input.as_str())
}

/// Adds the template's own problems: errors block the outputs that depend on their node; in a
/// node no output depends on they are warnings, as the validator does.
fn merge(t: &Template, report: &mut ValidationReport, extra: Vec<Problem>) {
    if extra.is_empty() {
        return;
    }
    let dependents = t.workflow.dependents(&report.outputs);
    for mut p in extra {
        let outs = p.node_id.as_ref().and_then(|id| dependents.get(id)).cloned().unwrap_or_default();
        if outs.is_empty() && !report.outputs.is_empty() {
            p.severity = Severity::Warning;
            p.message.push_str(" (no output depends on this node, so ComfyUI will not run it)");
        }
        if p.severity == Severity::Error {
            report.runnable_outputs.retain(|o| !outs.contains(o));
        }
        p.dependent_outputs = outs;
        report.problems.push(p);
    }
    report.problems.sort_by_key(|p| p.severity);
}
