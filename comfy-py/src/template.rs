//! `comfy_rs.Template`: what a template listing shows.

use pyo3::prelude::*;

use crate::convert::{Repr, json_to_py};

/// A workflow template: a name, what it does, and its parameters.
#[pyclass(module = "comfy_rs", frozen, get_all)]
#[derive(Debug)]
pub struct Template {
    /// Name (`generate_image`, or a file stem of the workflows directory).
    name: String,
    /// What it does.
    description: String,
    /// `builtin` or `directory`.
    source: &'static str,
    /// Its parameters, in declaration order.
    params: Vec<Py<TemplateParam>>,
}

/// One parameter of a template.
#[pyclass(module = "comfy_rs", frozen, get_all)]
#[derive(Debug)]
pub struct TemplateParam {
    /// Name.
    name: String,
    /// `string`, `integer`, `number` or `boolean`.
    r#type: &'static str,
    /// Must be given (no default in any layer).
    required: bool,
    /// The template's default, if any.
    default: Py<PyAny>,
    /// Description.
    description: Option<String>,
}

impl Template {
    /// The listing of one core template.
    pub fn new(py: Python<'_>, t: &comfy_core::template::Template) -> PyResult<Template> {
        let info = t.info();
        let params = info
            .params
            .into_iter()
            .map(|p| {
                let default = match &p.default {
                    Some(v) => json_to_py(py, v)?.unbind(),
                    None => py.None(),
                };
                Py::new(
                    py,
                    TemplateParam {
                        name: p.name,
                        r#type: p.ty.as_str(),
                        required: p.required,
                        default,
                        description: p.description,
                    },
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Template {
            name: info.name,
            description: info.description,
            source: match info.source {
                comfy_core::template::TemplateSource::Builtin => "builtin",
                comfy_core::template::TemplateSource::Directory => "directory",
            },
            params,
        })
    }
}

#[pymethods]
impl Template {
    fn __repr__(&self) -> String {
        let names: Vec<String> = self.params.iter().map(|p| p.get().name.repr()).collect();
        format!("Template(name={}, params=[{}])", self.name.repr(), names.join(", "))
    }
}

#[pymethods]
impl TemplateParam {
    fn __repr__(&self) -> String {
        format!(
            "TemplateParam(name={}, type={}, required={})",
            self.name.repr(),
            self.r#type.repr(),
            if self.required { "True" } else { "False" }
        )
    }
}

/// Registers this file's classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Template>()?;
    m.add_class::<TemplateParam>()?;
    Ok(())
}
