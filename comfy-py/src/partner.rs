//! What `Client.partner_generate` answers: `{"quote": {...}, "job": Job | None}`.

use comfy_core::{Comfy, PartnerGenerated};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::convert::json_to_py;
use crate::error::Failure;
use crate::job::Job;
use crate::runtime::Mode;

/// The quote (workflow, price, consent) as JSON and the submitted job, if any.
pub struct Generated {
    quote: Value,
    job: Option<Job>,
}

impl Generated {
    /// Converts the core's answer (the job handed back in this client's mode).
    pub fn new(generated: PartnerGenerated, comfy: Comfy, mode: Mode) -> Result<Generated, Failure> {
        let quote = comfy_core::json::to_value(&generated.quote, "partner quote")?;
        Ok(Generated { quote, job: generated.job.map(|job| Job::new(job, comfy, mode)) })
    }
}

impl<'py> IntoPyObject<'py> for Generated {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("quote", json_to_py(py, &self.quote)?)?;
        d.set_item("job", self.job)?;
        Ok(d)
    }
}
