//! The checks behind [`super::validate`].

use std::collections::HashSet;

use serde_json::Value;

use super::coerce::{self, Coerced};
use super::{Problem, ProblemCode, Severity, ValidateOptions, ValidationReport};
use crate::catalog::{Catalog, InputDef, InputKind, NodeDef, Section, types_compatible};
use crate::json::{Num, preview};
use crate::suggest::closest;
use crate::workflow::{Input, Node, NodeId, Workflow, WorkflowFormat, detect_format};

/// Builds a problem; severity and dependent outputs are filled in later.
fn problem(
    code: ProblemCode,
    node: Option<(&NodeId, &str)>,
    input: Option<&str>,
    message: String,
) -> Problem {
    Problem {
        severity: Severity::Error,
        code,
        node_id: node.map(|(id, _)| id.clone()),
        class_type: node.map(|(_, c)| c.to_owned()).filter(|c| !c.is_empty()),
        input: input.map(str::to_owned),
        message,
        suggestions: Vec::new(),
        dependent_outputs: Vec::new(),
        param: None,
        expected: None,
    }
}

/// Parses what can be parsed, turning per-node structural errors into problems.
pub(super) fn lenient_parse(value: &Value) -> (Workflow, Vec<Problem>) {
    let mut workflow = Workflow::new();
    let mut problems = Vec::new();
    match detect_format(value) {
        WorkflowFormat::Ui { node_count } => {
            problems.push(problem(
                ProblemCode::UiFormatWorkflow,
                None,
                None,
                crate::Error::UiFormatWorkflow { node_count }.to_string(),
            ));
            return (workflow, problems);
        }
        WorkflowFormat::PromptRequest => {
            if let Some(prompt) = value.get("prompt") {
                return lenient_parse(prompt);
            }
        }
        WorkflowFormat::Api | WorkflowFormat::Unknown => {}
    }
    let Some(map) = value.as_object() else {
        problems.push(problem(
            ProblemCode::InvalidNode,
            None,
            None,
            format!(
                "an API-format workflow is a JSON object of node id → node, got {}",
                crate::json::type_name(value)
            ),
        ));
        return (workflow, problems);
    };
    for (id, node) in map {
        if id == "__metadata__" {
            continue;
        }
        let mut issues = Vec::new();
        let node_id = NodeId(id.clone());
        match Node::from_json(id, node.clone(), &mut issues) {
            Some(n) => {
                workflow.insert(node_id, n);
            }
            None => {
                let class = node.get("class_type").and_then(Value::as_str).unwrap_or("");
                for (_, message) in issues {
                    problems.push(problem(ProblemCode::InvalidNode, Some((&node_id, class)), None, message));
                }
            }
        }
    }
    (workflow, problems)
}

pub(super) fn run(
    workflow: &Workflow,
    catalog: &Catalog,
    options: &ValidateOptions,
    mut problems: Vec<Problem>,
) -> ValidationReport {
    // 1. Classes must exist (ComfyUI checks every node, reachable or not).
    for (id, node) in workflow.nodes() {
        if catalog.node(&node.class_type).is_none() {
            let mut p = problem(
                ProblemCode::UnknownClass,
                Some((id, &node.class_type)),
                None,
                format!(
                    "node class {:?} does not exist on this server (missing custom node or model-specific node?)",
                    node.class_type
                ),
            );
            p.suggestions = catalog.suggest_classes(&node.class_type);
            problems.push(p);
        }
    }

    // 2. Which outputs would run.
    let all_outputs = workflow.output_nodes(catalog);
    let outputs: Vec<NodeId> = match &options.outputs {
        None => all_outputs.clone(),
        Some(targets) => {
            for t in targets {
                if !all_outputs.contains(t) {
                    let class = workflow.node(t.as_str()).map(|n| n.class_type.as_str()).unwrap_or("");
                    let reason = if workflow.node(t.as_str()).is_none() {
                        "is not in the workflow"
                    } else {
                        "is not an output node"
                    };
                    problems.push(problem(
                        ProblemCode::InvalidOutputTarget,
                        Some((t, class)),
                        None,
                        format!("partial execution target \"{t}\" {reason}; ComfyUI ignores it"),
                    ));
                    if let Some(p) = problems.last_mut() {
                        p.severity = Severity::Warning;
                    }
                }
            }
            all_outputs.iter().filter(|o| targets.contains(o)).cloned().collect()
        }
    };
    if outputs.is_empty() && !workflow.is_empty() {
        problems.push(problem(
            ProblemCode::NoOutputNode,
            None,
            None,
            "the workflow has no output node (such as SaveImage or PreviewImage), so ComfyUI has nothing to run".into(),
        ));
    } else if workflow.is_empty() && problems.is_empty() {
        problems.push(problem(ProblemCode::NoOutputNode, None, None, "the workflow has no nodes".into()));
    }

    // 3. Cycles.
    let mut cycle_nodes: HashSet<NodeId> = HashSet::new();
    if let Some(cycle) = workflow.find_cycle() {
        let first = cycle[0].clone();
        let class = workflow.node(first.as_str()).map(|n| n.class_type.clone()).unwrap_or_default();
        let path: Vec<&str> = cycle.iter().map(NodeId::as_str).collect();
        problems.push(problem(
            ProblemCode::Cycle,
            Some((&first, &class)),
            None,
            format!("links form a cycle: {}; a workflow must flow one way", path.join(" → ")),
        ));
        cycle_nodes.extend(cycle);
    }

    // 4. Every node's inputs.
    let reachable: HashSet<NodeId> = workflow.ancestors(&outputs).unwrap_or_default().into_iter().collect();
    for (id, node) in workflow.nodes() {
        let Some(def) = catalog.node(&node.class_type) else { continue };
        let before = problems.len();
        check_node(workflow, catalog, id, node, def, options, &mut problems);
        if !reachable.contains(id) {
            for p in &mut problems[before..] {
                p.severity = Severity::Warning;
                p.message.push_str(" (no output depends on this node, so ComfyUI will not run it)");
            }
            if !outputs.is_empty() {
                problems.push(Problem {
                    severity: Severity::Warning,
                    ..problem(
                        ProblemCode::UnusedNode,
                        Some((id, &node.class_type)),
                        None,
                        "no output node depends on this node; ComfyUI will not run it".into(),
                    )
                });
            }
        }
    }

    // 5. Which outputs are blocked, and by what.
    let dependents = workflow.dependents(&outputs);
    let mut blocked: HashSet<NodeId> = HashSet::new();
    for p in &mut problems {
        let Some(id) = &p.node_id else { continue };
        if let Some(outs) = dependents.get(id) {
            p.dependent_outputs = outs.clone();
            if p.severity == Severity::Error {
                blocked.extend(outs.iter().cloned());
            }
        }
    }
    for (node, outs) in &dependents {
        if cycle_nodes.contains(node) {
            blocked.extend(outs.iter().cloned());
        }
    }
    let runnable_outputs = outputs.iter().filter(|o| !blocked.contains(*o)).cloned().collect();

    // Errors first, otherwise keep discovery order (node order).
    problems.sort_by_key(|p| p.severity);
    ValidationReport { problems, outputs, runnable_outputs }
}

fn check_node(
    workflow: &Workflow,
    catalog: &Catalog,
    id: &NodeId,
    node: &Node,
    def: &NodeDef,
    options: &ValidateOptions,
    problems: &mut Vec<Problem>,
) {
    let at = Some((id, node.class_type.as_str()));
    let skipped = |name: &str| options.skip_literals.iter().any(|(n, i)| n == id && i == name);
    let declared: Vec<&str> =
        def.inputs.iter().filter(|i| i.section != Section::Hidden).map(|i| i.name.as_str()).collect();
    let undeclared: Vec<&str> =
        node.inputs.keys().map(String::as_str).filter(|k| def.input(k).is_none()).collect();

    for input_def in def.inputs.iter().filter(|i| i.section != Section::Hidden) {
        let name = input_def.name.as_str();
        match node.inputs.get(name) {
            None => {
                if input_def.is_required() {
                    let mut p = problem(
                        ProblemCode::RequiredInputMissing,
                        at,
                        Some(name),
                        format!("required input {name:?} ({}) is missing", describe_kind(input_def)),
                    );
                    p.suggestions = closest(name, undeclared.iter().copied(), 2);
                    problems.push(p);
                }
            }
            Some(Input::Link(link)) => check_link(workflow, catalog, at, input_def, link, problems),
            Some(Input::Value(_)) if skipped(name) => {}
            Some(Input::Value(v)) => check_literal(at, input_def, v, options, problems),
        }
    }

    for name in undeclared {
        let mut p = problem(
            ProblemCode::UnknownInput,
            at,
            Some(name),
            format!("{} has no input {name:?}; ComfyUI ignores it", node.class_type),
        );
        p.severity = Severity::Warning;
        p.suggestions = closest(name, declared.iter().copied(), 2);
        problems.push(p);
    }
}

fn describe_kind(def: &InputDef) -> String {
    match &def.kind {
        InputKind::Combo { options, .. } => format!("one of {} options", options.len()),
        InputKind::Connection { type_name } => format!("a link from a {type_name} output"),
        other => other.type_name().to_string(),
    }
}

fn check_link(
    workflow: &Workflow,
    catalog: &Catalog,
    at: Option<(&NodeId, &str)>,
    def: &InputDef,
    link: &crate::workflow::Link,
    problems: &mut Vec<Problem>,
) {
    let name = def.name.as_str();
    let Some(source) = workflow.node(link.node.as_str()) else {
        let mut p = problem(
            ProblemCode::LinkToMissingNode,
            at,
            Some(name),
            format!("links to node \"{}\", which is not in the workflow", link.node),
        );
        p.suggestions = Vec::new();
        problems.push(p);
        return;
    };
    // An unknown source class is reported on that node already.
    let Some(source_def) = catalog.node(&source.class_type) else { return };
    let Some(output) = source_def.outputs.get(link.output as usize) else {
        let available: Vec<String> =
            source_def.outputs.iter().enumerate().map(|(i, o)| format!("{i}: {}", o.type_name)).collect();
        problems.push(problem(
            ProblemCode::LinkBadOutputIndex,
            at,
            Some(name),
            format!(
                "links to output {} of node \"{}\" ({}), which has {} output{}{}",
                link.output,
                link.node,
                source.class_type,
                source_def.outputs.len(),
                if source_def.outputs.len() == 1 { "" } else { "s" },
                if available.is_empty() { String::new() } else { format!(" ({})", available.join(", ")) }
            ),
        ));
        return;
    };
    let expected = def.kind.type_name();
    if !types_compatible(&output.type_name, expected) {
        problems.push(problem(
            ProblemCode::ReturnTypeMismatch,
            at,
            Some(name),
            format!(
                "expects {expected} but is linked to output {} ({}) of node \"{}\" ({})",
                link.output, output.type_name, link.node, source.class_type
            ),
        ));
    }
}

fn check_literal(
    at: Option<(&NodeId, &str)>,
    def: &InputDef,
    value: &Value,
    options: &ValidateOptions,
    problems: &mut Vec<Problem>,
) {
    let name = def.name.as_str();
    // Literal lists travel wrapped as {"__value__": [...]}.
    let value = match value {
        Value::Object(m) if m.len() == 1 && m.get("__value__").is_some_and(Value::is_array) => {
            &m["__value__"]
        }
        Value::Array(items) => {
            let shape = if items.len() == 2 {
                "a link must be [\"<node id>\", <output index>] with a string id and a non-negative integer index"
                    .to_string()
            } else {
                format!(
                    "a link must be a length-2 list of [node_id, slot_index], got {} items; wrap a literal list as {{\"__value__\": [...]}}",
                    items.len()
                )
            };
            problems.push(problem(
                ProblemCode::BadLinkedInput,
                at,
                Some(name),
                format!("bad linked input {}: {shape}", preview(value)),
            ));
            return;
        }
        other => other,
    };

    let converted = match &def.kind {
        InputKind::Int => coerce::to_int(value),
        InputKind::Float => coerce::to_float(value),
        InputKind::String => coerce::to_string(value),
        InputKind::Boolean => coerce::to_bool(value),
        InputKind::Combo { options: choices, v3, multiselect } => {
            let combo = Combo { options: choices, v3: *v3, multiselect: *multiselect };
            check_combo(at, def, value, &combo, &options.input_files, problems);
            return;
        }
        InputKind::Connection { type_name } => {
            if type_name != "*" {
                problems.push(problem(
                    ProblemCode::LiteralForLinkInput,
                    at,
                    Some(name),
                    format!(
                        "expects a link from a {type_name} output, got the literal {}; connect a node's output instead",
                        preview(value)
                    ),
                ));
            }
            return;
        }
    };
    match converted {
        Err(reason) => problems.push(problem(
            ProblemCode::InvalidInputType,
            at,
            Some(name),
            format!("cannot convert {} to {}: {reason}", preview(value), def.kind.type_name()),
        )),
        Ok(Coerced { value: converted, note }) => {
            if let Some(note) = note {
                let mut p = problem(ProblemCode::CoercedValue, at, Some(name), note);
                p.severity = Severity::Warning;
                problems.push(p);
            }
            check_bounds(at, def, &converted, problems);
        }
    }
}

fn check_bounds(at: Option<(&NodeId, &str)>, def: &InputDef, value: &Value, problems: &mut Vec<Problem>) {
    let Some(n) = Num::from_value(value) else { return };
    let name = def.name.as_str();
    if let Some(min) = def.options.min_num()
        && n.partial_cmp(min) == Some(std::cmp::Ordering::Less)
    {
        problems.push(problem(
            ProblemCode::ValueSmallerThanMin,
            at,
            Some(name),
            format!("value {n} is smaller than the minimum {min}"),
        ));
    }
    if let Some(max) = def.options.max_num()
        && n.partial_cmp(max) == Some(std::cmp::Ordering::Greater)
    {
        problems.push(problem(
            ProblemCode::ValueBiggerThanMax,
            at,
            Some(name),
            format!("value {n} is bigger than the maximum {max}"),
        ));
    }
}

/// JSON equality, except that numbers compare by value (`5` equals `5.0`).
fn option_matches(option: &Value, value: &Value) -> bool {
    match (Num::from_value(option), Num::from_value(value)) {
        (Some(a), Some(b)) => a.partial_cmp(b) == Some(std::cmp::Ordering::Equal),
        _ => option == value,
    }
}

/// A combo input's choices.
struct Combo<'a> {
    options: &'a [Value],
    v3: bool,
    multiselect: bool,
}

/// Whether a file-upload combo value can be checked against the catalogue's list at all.
/// ComfyUI lists only the top level of its input folder, but LoadImage-style nodes accept
/// `sub/dir/file.png` and annotated names (`file.png [output]`), checked on disk at queue time.
fn unverifiable_file(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.contains('/') || s.ends_with(" [input]") || s.ends_with(" [output]") || s.ends_with(" [temp]")
    })
}

fn check_combo(
    at: Option<(&NodeId, &str)>,
    def: &InputDef,
    value: &Value,
    combo: &Combo<'_>,
    input_files: &[String],
    problems: &mut Vec<Problem>,
) {
    let Combo { options, v3, multiselect } = *combo;
    // Remote combos are filled by the editor at run time; we cannot know their values.
    if def.options.remote && options.is_empty() {
        return;
    }
    let is_upload = def.options.upload.is_some();
    let name = def.name.as_str();
    let chosen: Vec<&Value> = match value {
        Value::Array(items) if multiselect => items.iter().collect(),
        other => vec![other],
    };
    for v in chosen {
        if options.iter().any(|o| option_matches(o, v)) {
            continue;
        }
        if is_upload
            && (unverifiable_file(v) || v.as_str().is_some_and(|s| input_files.iter().any(|f| f == s)))
        {
            continue;
        }
        let listed: Vec<String> = options.iter().take(20).map(preview).collect();
        let more =
            if options.len() > 20 { format!(", … {} more", options.len() - 20) } else { String::new() };
        let mut message = if options.is_empty() {
            format!("{} is not available: this server offers no choices for {name:?}", preview(v))
        } else {
            format!("{} is not one of [{}{more}]", preview(v), listed.join(", "))
        };
        if is_upload {
            message.push_str("; if it is your own file, upload it to ComfyUI's input folder first");
        }
        if v3 {
            message.push_str(" (ComfyUI would queue this and then fail when the node runs)");
        }
        let mut p = problem(ProblemCode::ValueNotInList, at, Some(name), message);
        if let Some(s) = v.as_str() {
            p.suggestions = closest(s, options.iter().filter_map(Value::as_str), 3);
        }
        problems.push(p);
    }
}
