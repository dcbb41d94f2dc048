//! `Job` handles: status, failure details, wait, cancel, live events, outputs.

use std::sync::Arc;

use bytes::Bytes;
use comfy_core::job::{JobFailure, JobStatus};
use comfy_core::{Comfy, Follow, Update, UpdateFields, Waited};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::asset::Asset;
use crate::convert::{Repr, timeout};
use crate::error::Failure;
use crate::runtime::{Mode, resolve};

/// A submitted job. Its methods await or block like the client that made it.
#[pyclass(module = "comfy_rs._native", frozen)]
#[derive(Debug, Clone)]
pub struct Job {
    job: comfy_core::Job,
    comfy: Comfy,
    mode: Mode,
}

impl Job {
    /// A handle on a core job for the client `comfy` in `mode`.
    pub fn new(job: comfy_core::Job, comfy: Comfy, mode: Mode) -> Job {
        Job { job, comfy, mode }
    }
}

#[pymethods]
impl Job {
    /// The job id (the prompt id on a local ComfyUI).
    #[getter]
    fn id(&self) -> &str {
        self.job.id().as_str()
    }

    /// `pending`, `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[getter]
    fn status(&self) -> &'static str {
        self.job.status().name()
    }

    /// Why it failed (node, class, exception type, message), once it failed.
    #[getter]
    fn error(&self) -> Option<JobError> {
        match self.job.status() {
            JobStatus::Failed(f) => Some(JobError::from(f)),
            _ => None,
        }
    }

    /// Overall completion in 0..1 while running (1.0 once succeeded).
    #[getter]
    fn fraction(&self) -> Option<f64> {
        match self.job.status() {
            JobStatus::Running(p) => Some(p.fraction.clamp(0.0, 1.0)),
            JobStatus::Succeeded => Some(1.0),
            _ => None,
        }
    }

    /// Place in the backend's queue (0 = next) while queued, when known.
    #[getter]
    fn queue_position(&self) -> Option<u32> {
        match self.job.status() {
            JobStatus::Queued { position } => position,
            _ => None,
        }
    }

    /// Waits until the job finishes or `timeout` seconds pass; answers whether it finished.
    #[pyo3(signature = (timeout=None))]
    fn wait<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let (job, limit) = (self.job.clone(), self::timeout(timeout)?);
        resolve(py, self.mode, async move { Ok(matches!(job.wait(limit).await?, Waited::Finished(_))) })
    }

    /// Cancels this job only (dequeued, or interrupted by its id): `removed_from_queue`,
    /// `interrupted`, `interrupt_requested`, `already_finished`, `cancel_requested` (a hosted
    /// backend stops it later) or `not_cancellable`.
    fn cancel<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let job = self.job.clone();
        resolve(py, self.mode, async move { Ok(job.cancel().await?.as_str()) })
    }

    /// The job's recorded outputs (every output of every node, once it finished); with
    /// `fetch`, each file is downloaded first so size, SHA-256 and image size are known.
    #[pyo3(signature = (fetch=false))]
    fn assets<'py>(&self, py: Python<'py>, fetch: bool) -> PyResult<Bound<'py, PyAny>> {
        let (job, comfy) = (self.job.clone(), self.comfy.clone());
        resolve(py, self.mode, async move {
            let ids = job.snapshot().assets;
            let mut assets = Vec::with_capacity(ids.len());
            for id in &ids {
                let asset = if fetch { comfy.fetch_asset(id).await?.asset } else { comfy.asset(id).await? };
                assets.push(Asset::from(asset));
            }
            Ok(assets)
        })
    }

    /// The job's updates from now until it finishes (`next()` answers `None` after the last).
    fn events(&self) -> Events {
        Events { follow: Arc::new(tokio::sync::Mutex::new(self.job.follow())), mode: self.mode }
    }

    fn __repr__(&self) -> String {
        format!("Job(id={}, status={})", self.job.id().as_str().repr(), self.job.status().name().repr())
    }
}

/// Why a job failed.
#[pyclass(module = "comfy_rs", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct JobError {
    /// The failing node.
    node_id: Option<String>,
    /// Its class.
    node_class: Option<String>,
    /// Python exception type on the server (`RuntimeError`, ...).
    exception_type: Option<String>,
    /// The message.
    message: String,
    /// Traceback lines, if the server sent them.
    traceback: Vec<String>,
    /// A stable code for failures of ours rather than of the workflow: `backend_lost` (the
    /// backend stopped answering), `job_lost` (it no longer knows the job).
    code: Option<String>,
}

impl From<JobFailure> for JobError {
    fn from(f: JobFailure) -> Self {
        JobError {
            node_id: f.node_id,
            node_class: f.class_type,
            exception_type: f.exception_type,
            message: f.message,
            traceback: f.traceback,
            code: f.code,
        }
    }
}

#[pymethods]
impl JobError {
    fn __repr__(&self) -> String {
        format!(
            "JobError(node_id={}, node_class={}, exception_type={}, message={})",
            self.node_id.repr(),
            self.node_class.repr(),
            self.exception_type.repr(),
            self.message.repr()
        )
    }

    fn __str__(&self) -> String {
        match (&self.node_id, &self.node_class) {
            (Some(n), Some(c)) => format!("node {n:?} ({c}) failed: {}", self.message.trim_end()),
            (Some(n), None) => format!("node {n:?} failed: {}", self.message.trim_end()),
            _ => self.message.trim_end().to_owned(),
        }
    }
}

/// The live updates of one job.
#[pyclass(module = "comfy_rs._native", frozen)]
#[derive(Debug)]
pub struct Events {
    follow: Arc<tokio::sync::Mutex<Follow>>,
    mode: Mode,
}

#[pymethods]
impl Events {
    /// The next update, or `None` once the job finished (the last update is `finished`).
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let follow = self.follow.clone();
        resolve(py, self.mode, async move {
            let update = follow.lock().await.next().await;
            Ok::<_, Failure>(update.map(Event::from))
        })
    }
}

/// One update of a job: `queued`, `running`, `preview` or `finished`.
#[pyclass(module = "comfy_rs", frozen)]
#[derive(Debug, Clone)]
pub struct Event {
    kind: &'static str,
    fraction: Option<f64>,
    node_id: Option<String>,
    node_class: Option<String>,
    step: Option<u64>,
    max_steps: Option<u64>,
    nodes_done: Option<u32>,
    nodes_total: Option<u32>,
    queue_position: Option<u32>,
    preview: Option<Bytes>,
    preview_mime: Option<String>,
    status: Option<&'static str>,
}

impl From<Update> for Event {
    fn from(u: Update) -> Self {
        let f = UpdateFields::from(u);
        let (preview, preview_mime) = f.preview.map(|p| (p.data, p.mime)).unzip();
        Event {
            kind: f.kind,
            fraction: f.fraction,
            node_id: f.node_id,
            node_class: f.node_class,
            step: f.step,
            max_steps: f.max_steps,
            nodes_done: f.nodes_done,
            nodes_total: f.nodes_total,
            queue_position: f.queue_position,
            preview,
            preview_mime,
            status: f.status,
        }
    }
}

#[pymethods]
impl Event {
    /// `queued`, `running`, `preview` or `finished`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }
    /// Overall completion in 0..1 (running; 1.0 when finished successfully).
    #[getter]
    fn fraction(&self) -> Option<f64> {
        self.fraction
    }
    /// The node running (running) or that sent the preview.
    #[getter]
    fn node_id(&self) -> Option<&str> {
        self.node_id.as_deref()
    }
    /// The running node's class.
    #[getter]
    fn node_class(&self) -> Option<&str> {
        self.node_class.as_deref()
    }
    /// Sampler step, when the node reports steps.
    #[getter]
    fn step(&self) -> Option<u64> {
        self.step
    }
    /// The node's step count, when it reports steps.
    #[getter]
    fn max_steps(&self) -> Option<u64> {
        self.max_steps
    }
    /// Nodes finished so far (running).
    #[getter]
    fn nodes_done(&self) -> Option<u32> {
        self.nodes_done
    }
    /// Nodes that will run (running; 0 when unknown).
    #[getter]
    fn nodes_total(&self) -> Option<u32> {
        self.nodes_total
    }
    /// Place in the queue (queued, when known).
    #[getter]
    fn queue_position(&self) -> Option<u32> {
        self.queue_position
    }
    /// The preview image bytes (preview).
    #[getter]
    fn preview<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.preview.as_ref().map(|b| PyBytes::new(py, b))
    }
    /// The preview's MIME type (preview).
    #[getter]
    fn preview_mime(&self) -> Option<&str> {
        self.preview_mime.as_deref()
    }
    /// `succeeded`, `failed` or `cancelled` (finished).
    #[getter]
    fn status(&self) -> Option<&'static str> {
        self.status
    }

    fn __repr__(&self) -> String {
        let mut s = format!("Event(kind={}", self.kind.repr());
        if let Some(f) = self.fraction {
            s.push_str(&format!(", fraction={f:.3}"));
        }
        if let Some(n) = &self.node_id {
            s.push_str(&format!(", node_id={}", n.repr()));
        }
        if let (Some(a), Some(b)) = (self.step, self.max_steps) {
            s.push_str(&format!(", step={a}/{b}"));
        }
        if let Some(p) = self.queue_position {
            s.push_str(&format!(", queue_position={p}"));
        }
        if let Some(st) = self.status {
            s.push_str(&format!(", status={}", st.repr()));
        }
        s.push(')');
        s
    }
}

/// Registers this file's classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Job>()?;
    m.add_class::<JobError>()?;
    m.add_class::<Events>()?;
    m.add_class::<Event>()?;
    Ok(())
}
