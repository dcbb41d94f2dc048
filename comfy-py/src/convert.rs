//! Python values ↔ JSON, and the argument forms a workflow (or a catalogue) may take: a dict,
//! a JSON string, a path (`str` or `os.PathLike`), or a `comfy_rs.Workflow`.

use std::path::PathBuf;
use std::time::Duration;

use comfy_core::{Error, Source, Workflow};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::workflow::PyWorkflow;

/// A JSON value as a Python object (dicts keep their key order).
pub fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python object (dict with str keys, list, tuple, str, int, float, bool, None) as JSON.
pub fn py_to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Ok(Value::Bool(b.is_true()))
    } else if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            Ok(Value::from(v))
        } else if let Ok(v) = i.extract::<u64>() {
            Ok(Value::from(v))
        } else {
            // Beyond 64 bits: a float, as a JSON parser reads such a literal (ComfyUI's
            // catalogue has -18446744073709551615 as a seed minimum).
            let f: f64 = i.extract()?;
            Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| PyValueError::new_err(format!("integer {i} is not a JSON number")))
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("{} is not a JSON number", f.value())))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Value::String(s.to_str()?.to_owned()))
    } else if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("JSON object keys must be str, not {}", k.get_type()))
            })?;
            map.insert(key.to_str()?.to_owned(), py_to_json(&v)?);
        }
        Ok(Value::Object(map))
    } else if let Ok(l) = obj.cast::<PyList>() {
        l.iter().map(|v| py_to_json(&v)).collect::<PyResult<Vec<_>>>().map(Value::Array)
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().map(|v| py_to_json(&v)).collect::<PyResult<Vec<_>>>().map(Value::Array)
    } else {
        Err(PyTypeError::new_err(format!("{} is not a JSON value", obj.get_type())))
    }
}

/// Keyword arguments (template parameters) as a JSON object.
pub fn kwargs_to_json(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Map<String, Value>> {
    match kwargs {
        None => Ok(Map::new()),
        Some(d) => match py_to_json(d.as_any())? {
            Value::Object(m) => Ok(m),
            _ => Ok(Map::new()),
        },
    }
}

/// `os.fspath(obj)` for path-like objects, `None` for anything else.
pub fn fspath(obj: &Bound<'_, PyAny>) -> PyResult<Option<PathBuf>> {
    if obj.hasattr("__fspath__")? {
        let os = obj.py().import("os")?;
        Ok(Some(os.getattr("fspath")?.call1((obj,))?.extract::<PathBuf>()?))
    } else {
        Ok(None)
    }
}

/// A JSON document given from Python, read and parsed off the GIL when it is a file.
#[derive(Debug, Clone)]
pub enum JsonArg {
    /// Already a value (a dict).
    Value(Value),
    /// JSON text.
    Text(String),
    /// A file holding JSON.
    File(PathBuf),
}

impl JsonArg {
    /// From a dict, a JSON string (its first non-blank character is `{`), a path string or an
    /// `os.PathLike`.
    pub fn extract(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<JsonArg> {
        if let Ok(s) = obj.cast::<PyString>() {
            let s = s.to_str()?;
            return Ok(if s.trim_start().starts_with(['{', '[']) {
                JsonArg::Text(s.to_owned())
            } else {
                JsonArg::File(PathBuf::from(s))
            });
        }
        if obj.cast::<PyDict>().is_ok() {
            return py_to_json(obj).map(JsonArg::Value);
        }
        if let Some(path) = fspath(obj)? {
            return Ok(JsonArg::File(path));
        }
        Err(PyTypeError::new_err(format!(
            "{what} must be a dict, a JSON string or a path (str or os.PathLike), not {}",
            obj.get_type()
        )))
    }

    /// The value, parsed strictly (duplicate keys, NaN and trailing data are errors).
    pub async fn load(self, what: &str) -> Result<Value, Error> {
        match self {
            JsonArg::Value(v) => Ok(v),
            JsonArg::Text(text) => comfy_core::json::parse_strict(&text, what),
            JsonArg::File(path) => {
                let text = tokio::fs::read_to_string(&path).await.map_err(|source| Error::Io {
                    action: "reading",
                    path: path.clone(),
                    source,
                })?;
                comfy_core::json::parse_strict(&text, &path.display().to_string())
            }
        }
    }

    /// The same, blocking (for synchronous functions).
    pub fn load_now(self, what: &str) -> Result<Value, Error> {
        match self {
            JsonArg::Value(v) => Ok(v),
            JsonArg::Text(text) => comfy_core::json::parse_strict(&text, what),
            JsonArg::File(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                    action: "reading",
                    path: path.clone(),
                    source,
                })?;
                comfy_core::json::parse_strict(&text, &path.display().to_string())
            }
        }
    }
}

/// A workflow argument: JSON in any form, or a `comfy_rs.Workflow`.
#[derive(Debug, Clone)]
pub enum WorkflowArg {
    /// An API workflow object.
    Parsed(Workflow),
    /// JSON (API format, an editor file or a `POST /prompt` body).
    Json(JsonArg),
}

impl WorkflowArg {
    /// From a `comfy_rs.Workflow`, a dict, a JSON string or a path.
    pub fn extract(obj: &Bound<'_, PyAny>) -> PyResult<WorkflowArg> {
        if let Ok(w) = obj.cast::<PyWorkflow>() {
            return Ok(WorkflowArg::Parsed(w.get().workflow.clone()));
        }
        JsonArg::extract(obj, "workflow").map(WorkflowArg::Json)
    }

    /// What the core prepares or checks.
    pub async fn into_source(self) -> Result<Source, Error> {
        match self {
            WorkflowArg::Parsed(w) => Ok(Source::Workflow(w)),
            WorkflowArg::Json(j) => j.load("workflow").await.map(Source::Json),
        }
    }
}

/// A timeout in seconds (`None`: no limit).
pub fn timeout(seconds: Option<f64>) -> PyResult<Duration> {
    match seconds {
        None => Ok(Duration::MAX / 4),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s.min(1e9))),
        Some(s) => {
            Err(PyValueError::new_err(format!("timeout must be a non-negative number of seconds, not {s}")))
        }
    }
}

/// Python's `repr` of a string (or `None`), for the `__repr__` of the classes.
pub trait Repr {
    /// `'text'` or `None`.
    fn repr(&self) -> String;
}

impl Repr for str {
    fn repr(&self) -> String {
        format!("'{}'", self.replace('\\', "\\\\").replace('\'', "\\'").replace('\n', "\\n"))
    }
}

impl Repr for String {
    fn repr(&self) -> String {
        self.as_str().repr()
    }
}

impl Repr for &str {
    fn repr(&self) -> String {
        (*self).repr()
    }
}

impl<T: Repr> Repr for Option<T> {
    fn repr(&self) -> String {
        match self {
            Some(v) => v.repr(),
            None => "None".to_owned(),
        }
    }
}
