//! Workflows offline: `comfy_rs.Workflow`, validation problems, and editor (UI) ↔ API
//! conversion against a node catalogue.

use comfy_core::validate::Severity;
use comfy_core::{Catalog, Workflow};
use pyo3::prelude::*;

use crate::convert::{JsonArg, Repr, json_to_py};
use crate::error::to_pyerr;

/// An API-format ComfyUI workflow (the "prompt" graph), parsed without loss.
#[pyclass(name = "Workflow", module = "comfy_rs", frozen)]
#[derive(Debug, Clone)]
pub struct PyWorkflow {
    pub(crate) workflow: Workflow,
}

#[pymethods]
impl PyWorkflow {
    /// Parses an API-format workflow from a dict, a JSON string or a path. Editor (UI) files
    /// are refused with `ui_format_workflow`: convert them with `ui_to_api` first.
    #[staticmethod]
    fn from_json(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PyWorkflow> {
        let value = JsonArg::extract(data, "workflow")?.load_now("workflow").map_err(|e| to_pyerr(py, e))?;
        Workflow::from_value(value).map(|workflow| PyWorkflow { workflow }).map_err(|e| to_pyerr(py, e))
    }

    /// The workflow as a dict (node ids → nodes), in document order.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.workflow.to_value())
    }

    /// The workflow as compact JSON text, nodes and keys in their original order.
    fn to_json(&self) -> String {
        self.workflow.to_json_string()
    }

    /// SHA-256 (hex) of the canonical form: ignores key order and `_meta` titles.
    fn canonical_hash(&self) -> String {
        self.workflow.canonical_hash()
    }

    /// The nodes, in document order.
    fn nodes(&self, py: Python<'_>) -> PyResult<Vec<Node>> {
        self.workflow
            .nodes()
            .map(|(id, node)| {
                let inputs = serde_json::to_value(&node.inputs).unwrap_or_default();
                Ok(Node {
                    id: id.0.clone(),
                    class_type: node.class_type.clone(),
                    title: node.title().map(str::to_owned),
                    inputs: json_to_py(py, &inputs)?.unbind(),
                })
            })
            .collect()
    }

    fn __len__(&self) -> usize {
        self.workflow.len()
    }

    fn __repr__(&self) -> String {
        format!("Workflow({} nodes, hash {})", self.workflow.len(), &self.workflow.canonical_hash()[..12])
    }
}

/// One node of a workflow.
#[pyclass(module = "comfy_rs", frozen, get_all)]
#[derive(Debug)]
pub struct Node {
    /// The node id.
    id: String,
    /// Its class (`KSampler`).
    class_type: String,
    /// Its `_meta.title`, if any.
    title: Option<String>,
    /// Its inputs: literals as values, links as `[node_id, output_index]`.
    inputs: Py<PyAny>,
}

#[pymethods]
impl Node {
    fn __repr__(&self) -> String {
        format!("Node(id={}, class_type={})", self.id.repr(), self.class_type.repr())
    }
}

/// One validation problem: where (node, input, template parameter), what (stable code,
/// message) and what might fix it (suggestions, expected).
#[pyclass(module = "comfy_rs", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Problem {
    /// `error` or `warning`.
    severity: &'static str,
    /// Stable code (`value_not_in_list`, `required_input_missing`, ...).
    code: &'static str,
    /// The node it is about.
    node_id: Option<String>,
    /// That node's class.
    node_class: Option<String>,
    /// The input it is about.
    input: Option<String>,
    /// What is wrong and what would be valid.
    message: String,
    /// "Did you mean" candidates.
    suggestions: Vec<String>,
    /// The template parameter bound to the input (workflows rendered from a template).
    param: Option<String>,
    /// What would be valid there, when known.
    expected: Option<String>,
    /// Output nodes that cannot run because of it.
    dependent_outputs: Vec<String>,
}

impl From<&comfy_core::validate::Problem> for Problem {
    fn from(p: &comfy_core::validate::Problem) -> Self {
        Problem {
            severity: match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            code: p.code.as_str(),
            node_id: p.node_id.as_ref().map(|n| n.0.clone()),
            node_class: p.class_type.clone(),
            input: p.input.clone(),
            message: p.message.clone(),
            suggestions: p.suggestions.clone(),
            param: p.param.clone(),
            expected: p.expected.clone(),
            dependent_outputs: p.dependent_outputs.iter().map(|n| n.0.clone()).collect(),
        }
    }
}

#[pymethods]
impl Problem {
    fn __repr__(&self) -> String {
        format!(
            "Problem(severity={}, code={}, node_id={}, input={}, message={})",
            self.severity.repr(),
            self.code.repr(),
            self.node_id.repr(),
            self.input.repr(),
            self.message.repr()
        )
    }

    fn __str__(&self) -> String {
        let mut s = String::new();
        if let Some(id) = &self.node_id {
            s.push_str(&format!("node {id:?}"));
            if let Some(class) = &self.node_class {
                s.push_str(&format!(" ({class})"));
            }
            if let Some(input) = &self.input {
                s.push_str(&format!(" input {input:?}"));
            }
            s.push_str(": ");
        }
        s.push_str(&format!("[{}] {}", self.code, self.message));
        s
    }
}

fn catalog(py: Python<'_>, object_info: &Bound<'_, PyAny>) -> PyResult<Catalog> {
    let value =
        JsonArg::extract(object_info, "object_info")?.load_now("object_info").map_err(|e| to_pyerr(py, e))?;
    Catalog::from_value(&value).map_err(|e| to_pyerr(py, e))
}

/// Converts an editor ("save" / UI format) workflow to the API format, exactly as the official
/// editor does when it queues it, against a node catalogue (`GET /object_info`). Both may be
/// dicts, JSON strings or paths. Returns the API workflow as a dict.
#[pyfunction]
pub fn ui_to_api<'py>(
    py: Python<'py>,
    ui: &Bound<'py, PyAny>,
    object_info: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let catalog = catalog(py, object_info)?;
    let ui = JsonArg::extract(ui, "ui")?.load_now("ui workflow").map_err(|e| to_pyerr(py, e))?;
    let converted = comfy_core::ui::to_api_any(&ui, &catalog).map_err(|e| to_pyerr(py, e))?;
    json_to_py(py, &converted.workflow.to_value())
}

/// Builds an editor (UI format, version 0.4) workflow from an API workflow (a dict, JSON
/// string, path or `Workflow`), laid out by depth, against a node catalogue. Returns a dict.
#[pyfunction]
pub fn api_to_ui<'py>(
    py: Python<'py>,
    api: &Bound<'py, PyAny>,
    object_info: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let catalog = catalog(py, object_info)?;
    let workflow = match api.cast::<PyWorkflow>() {
        Ok(w) => w.get().workflow.clone(),
        Err(_) => {
            let value = JsonArg::extract(api, "api")?.load_now("workflow").map_err(|e| to_pyerr(py, e))?;
            Workflow::from_value(value).map_err(|e| to_pyerr(py, e))?
        }
    };
    let ui = comfy_core::ui::to_ui(&workflow, &catalog).map_err(|e| to_pyerr(py, e))?;
    json_to_py(py, &ui)
}

/// Registers this file's classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWorkflow>()?;
    m.add_class::<Node>()?;
    m.add_class::<Problem>()?;
    m.add_function(wrap_pyfunction!(ui_to_api, m)?)?;
    m.add_function(wrap_pyfunction!(api_to_ui, m)?)?;
    Ok(())
}
