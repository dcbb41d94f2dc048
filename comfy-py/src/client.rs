//! The native client: one `comfy_core::Comfy` (local ComfyUI backend, job/asset store,
//! templates) whose methods answer with awaitables or block, as built. The Python classes
//! `comfy_rs.AsyncClient` and `comfy_rs.Client` wrap it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use comfy_core::backend::Upload;
use comfy_core::connect::{ExplicitFlags, FleetConfig};
use comfy_core::job::JobId;
use comfy_core::store::AssetQuery;
use comfy_core::{
    BackendConfig, BackendKind, BatchItems, BatchRequest, ClientConfig, ClientOptions, Comfy, Error,
    Placement, Source, StoreConfig, Waited,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};
use serde_json::Value;

use crate::asset::{Asset, asset_id};
use crate::convert::{Repr, WorkflowArg, fspath, json_to_py, kwargs_to_json, py_to_json};
use crate::error::{Failure, to_pyerr};
use crate::job::Job;
use crate::runtime::{Mode, resolve, runtime};
use crate::template::Template;
use crate::workflow::Problem;

/// The native client behind `comfy_rs.Client` (blocking) and `comfy_rs.AsyncClient`.
#[pyclass(name = "Client", module = "comfy_rs._native", frozen)]
#[derive(Debug)]
pub struct Client {
    pub(crate) comfy: Comfy,
    mode: Mode,
    url: String,
}

/// Bytes handed to Python as `bytes`.
pub struct Data(pub Bytes);

impl<'py> IntoPyObject<'py> for Data {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.0))
    }
}

/// A JSON value handed to Python as dicts and lists.
pub struct Json(pub Value);

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.0)
    }
}

/// What to upload: bytes in hand, or a file to read off the GIL.
enum UploadArg {
    Data(Vec<u8>),
    File(PathBuf),
}

impl Client {
    /// The core client (for the embedded MCP server).
    pub fn comfy(&self) -> &Comfy {
        &self.comfy
    }
}

/// The keyword arguments of the constructor that pick and configure the backend.
struct BackendArgs {
    backend: String,
    url: String,
    cloud_url: Option<String>,
    cloud_api_key: Option<String>,
    runcomfy: RunComfyArgs,
    comfy_api_key: Option<String>,
    ca_certs: Vec<PathBuf>,
    allow_account_interrupt: bool,
    keep_outputs: Option<PathBuf>,
    feedback_url: Option<String>,
    allow_partner_spend: bool,
    allow_private_urls: Option<bool>,
    allowed_url_hosts: Vec<String>,
    /// Several named backends (`backends=[{...}]`, `routing={...}`); empty: the one above.
    fleet: FleetConfig,
}

/// The RunComfy keyword arguments (each defaults to its environment variable).
#[derive(Default)]
struct RunComfyArgs {
    url: Option<String>,
    token: Option<String>,
    deployment: Option<String>,
    queue_version: Option<String>,
}

/// Builds the client through the core's one constructor ([`ClientConfig::connect`]); what the
/// caller left unset comes from the environment ([`ClientConfig::fill_from_env`]).
fn build(
    args: BackendArgs,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    workflows_dir: Option<PathBuf>,
    max_running_jobs: Option<usize>,
) -> Result<(Comfy, String), Error> {
    let _entered = runtime().enter();
    let kind: BackendKind = args.backend.parse()?;
    let url = match kind {
        BackendKind::Local => Some(args.url),
        BackendKind::ComfyCloud => args.cloud_url,
        BackendKind::RunComfy => args.runcomfy.url,
    };
    let backend = BackendConfig {
        kind,
        url,
        api_key: args.cloud_api_key,
        comfy_api_key: args.comfy_api_key,
        allow_account_interrupt: args.allow_account_interrupt,
        ca_certs: args.ca_certs,
        token: args.runcomfy.token,
        deployment: args.runcomfy.deployment,
        queue_version: args.runcomfy.queue_version.map(|v| v.parse()).transpose()?,
        allowed_url_hosts: args.allowed_url_hosts,
        ..BackendConfig::default()
    };
    let defaults = ClientOptions::default();
    // `store` (a postgres:// URL, sqlite://PATH or a path) wins over `data_dir`, which then
    // still keeps feedback.
    let (store, feedback_dir) = match store {
        Some(location) => (StoreConfig::parse(&location)?, data_dir.clone()),
        None => (StoreConfig::dir_or(data_dir, StoreConfig::Memory), None),
    };
    let options = ClientOptions {
        feedback_dir,
        max_running_jobs: max_running_jobs.unwrap_or(defaults.max_running_jobs),
        keep_outputs: args.keep_outputs,
        feedback_url: args.feedback_url,
        ..defaults
    };
    // `allow_partner_spend=False` is the keyword's default, not a choice: the environment may
    // still turn it on.
    let flags = ExplicitFlags {
        allow_private_urls: args.allow_private_urls,
        allow_partner_spend: args.allow_partner_spend.then_some(true),
    };
    let config = ClientConfig::new(backend)
        .fleet(args.fleet)
        .store(store)
        .workflows_dir(workflows_dir)
        .options(options)
        .fill_from_env(flags)?;
    let url = config.backend.effective_url().trim_end_matches('/').to_owned();
    Ok((config.connect()?, url))
}

#[pymethods]
impl Client {
    /// A client of the ComfyUI at `url`, or of Comfy Cloud (`backend="comfy-cloud"`, at
    /// `cloud_url` with `cloud_api_key`). Jobs and assets are recorded in
    /// `data_dir/comfy.sqlite3` when `data_dir` is given, in memory otherwise, or in `store`
    /// (`postgres://user:password@host/db`, shared by several processes; `sqlite://PATH`);
    /// templates come from `workflows_dir` (watched) or are the built-ins.
    #[new]
    #[pyo3(signature = (url="http://127.0.0.1:8188", *, data_dir=None, workflows_dir=None, max_running_jobs=None, comfy_api_key=None, blocking=false, backend="local", cloud_url=None, cloud_api_key=None, ca_cert=None, allow_account_interrupt=false, keep_outputs=None, feedback_url=None, allow_partner_spend=false, runcomfy_url=None, runcomfy_token=None, runcomfy_deployment=None, runcomfy_queue_version=None, store=None, allow_private_urls=None, allowed_url_hosts=None, backends=None, routing=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: &str,
        data_dir: Option<PathBuf>,
        workflows_dir: Option<PathBuf>,
        max_running_jobs: Option<usize>,
        comfy_api_key: Option<String>,
        blocking: bool,
        backend: &str,
        cloud_url: Option<String>,
        cloud_api_key: Option<String>,
        ca_cert: Option<Vec<PathBuf>>,
        allow_account_interrupt: bool,
        keep_outputs: Option<PathBuf>,
        feedback_url: Option<String>,
        allow_partner_spend: bool,
        runcomfy_url: Option<String>,
        runcomfy_token: Option<String>,
        runcomfy_deployment: Option<String>,
        runcomfy_queue_version: Option<String>,
        store: Option<String>,
        allow_private_urls: Option<bool>,
        allowed_url_hosts: Option<Vec<String>>,
        backends: Option<&Bound<'_, PyAny>>,
        routing: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Client> {
        let fleet = match backends {
            Some(list) => {
                FleetConfig::from_json(py_to_json(list)?, routing.map(|r| py_to_json(r)).transpose()?)
                    .map_err(|e| to_pyerr(py, e))?
            }
            None => FleetConfig::default(),
        };
        let args = BackendArgs {
            backend: backend.to_owned(),
            url: url.to_owned(),
            cloud_url,
            cloud_api_key,
            runcomfy: RunComfyArgs {
                url: runcomfy_url,
                token: runcomfy_token,
                deployment: runcomfy_deployment,
                queue_version: runcomfy_queue_version,
            },
            comfy_api_key,
            ca_certs: ca_cert.unwrap_or_default(),
            allow_account_interrupt,
            keep_outputs,
            feedback_url,
            allow_partner_spend,
            allow_private_urls,
            allowed_url_hosts: allowed_url_hosts.unwrap_or_default(),
            fleet,
        };
        let (comfy, url) = py
            .detach(|| build(args, data_dir, store, workflows_dir, max_running_jobs))
            .map_err(|e| to_pyerr(py, e))?;
        Ok(Client { comfy, mode: Mode::new(blocking), url })
    }

    /// The backend's base URL (the ComfyUI URL, or the Comfy Cloud URL).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// Whether this client blocks (else it answers with awaitables).
    #[getter]
    fn blocking(&self) -> bool {
        self.mode == Mode::Blocking
    }

    /// Jobs submitted through this client that have not finished.
    #[getter]
    fn running_jobs(&self) -> usize {
        self.comfy.running_jobs()
    }

    /// Every problem of a workflow (API or editor format) against the live node catalogue.
    fn validate<'py>(&self, py: Python<'py>, workflow: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, workflow) = (self.comfy.clone(), WorkflowArg::extract(workflow)?);
        resolve(py, self.mode, async move {
            let checked = comfy.check(workflow.into_source().await?).await?;
            Ok(checked.problems.iter().map(Problem::from).collect::<Vec<_>>())
        })
    }

    /// Prepares (converts, validates) and submits a workflow (on the backend named `backend`,
    /// else where routing sends it; `resubmit_if_lost`: run again on another backend if that
    /// one is lost with the job); answers the job at once.
    #[pyo3(signature = (workflow, *, backend=None, resubmit_if_lost=false))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        workflow: &Bound<'py, PyAny>,
        backend: Option<String>,
        resubmit_if_lost: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, workflow, mode) = (self.comfy.clone(), WorkflowArg::extract(workflow)?, self.mode);
        let place = Placement { backend, resubmit_if_lost };
        resolve(
            py,
            self.mode,
            async move { submit(&comfy, workflow.into_source().await?, mode, place).await },
        )
    }

    /// Renders a template of this client's set with `params` (over the layered defaults),
    /// validates and submits it (`backend`, `resubmit_if_lost`: as for `submit`); answers the
    /// job at once.
    #[pyo3(signature = (name, params=None, *, backend=None, resubmit_if_lost=false))]
    fn submit_template<'py>(
        &self,
        py: Python<'py>,
        name: String,
        params: Option<&Bound<'py, PyDict>>,
        backend: Option<String>,
        resubmit_if_lost: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, params, mode) = (self.comfy.clone(), kwargs_to_json(params)?, self.mode);
        let place = Placement { backend, resubmit_if_lost };
        resolve(py, self.mode, async move { submit(&comfy, Source::named(name, params), mode, place).await })
    }

    /// A job by id: tracked by this client, recorded in its store, or known to the backend
    /// (with `backend`, only a job that runs there).
    #[pyo3(signature = (job_id, *, backend=None))]
    fn job<'py>(
        &self,
        py: Python<'py>,
        job_id: String,
        backend: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, mode) = (self.comfy.clone(), self.mode);
        resolve(py, self.mode, async move {
            let job = comfy.job_on(&JobId(job_id), backend.as_deref()).await?;
            Ok(Job::new(job, comfy, mode))
        })
    }

    /// A recorded asset by id.
    fn asset<'py>(&self, py: Python<'py>, asset: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, id) = (self.comfy.clone(), asset_id(asset)?);
        resolve(py, self.mode, async move { Ok(Asset::from(comfy.asset(&id).await?)) })
    }

    /// Recorded assets, newest first (at most `limit`; only `job_id`'s when given).
    #[pyo3(signature = (job_id=None, limit=100))]
    fn assets<'py>(
        &self,
        py: Python<'py>,
        job_id: Option<String>,
        limit: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        let query = AssetQuery { limit: limit.max(1), job_id: job_id.map(JobId), ..Default::default() };
        resolve(py, self.mode, async move {
            Ok(comfy.assets(&query).await?.into_iter().map(Asset::from).collect::<Vec<_>>())
        })
    }

    /// An asset's bytes, fetched through the backend (size, SHA-256 and image size recorded).
    fn asset_bytes<'py>(&self, py: Python<'py>, asset: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, id) = (self.comfy.clone(), asset_id(asset)?);
        resolve(py, self.mode, async move { Ok(Data(comfy.fetch_asset(&id).await?.data)) })
    }

    /// Fetches an asset and writes it to `path` atomically; answers the updated asset.
    fn save_asset<'py>(
        &self,
        py: Python<'py>,
        asset: &Bound<'py, PyAny>,
        path: PathBuf,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, id) = (self.comfy.clone(), asset_id(asset)?);
        resolve(py, self.mode, async move { Ok(Asset::from(comfy.save_asset(&id, &path).await?.asset)) })
    }

    /// Uploads an input file (bytes, or a path); answers the value for a LoadImage input.
    #[pyo3(signature = (data, filename=None))]
    fn upload<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        filename: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        let source = if let Ok(b) = data.cast::<PyBytes>() {
            UploadArg::Data(b.as_bytes().to_vec())
        } else if data.cast::<PyByteArray>().is_ok() || data.cast::<PyMemoryView>().is_ok() {
            let copy = py.import("builtins")?.getattr("bytes")?.call1((data,))?;
            UploadArg::Data(copy.cast::<PyBytes>()?.as_bytes().to_vec())
        } else if let Some(path) = fspath(data)? {
            UploadArg::File(path)
        } else if let Ok(s) = data.extract::<String>() {
            UploadArg::File(PathBuf::from(s))
        } else {
            return Err(PyTypeError::new_err(format!(
                "upload takes bytes or a path (str or os.PathLike), not {}",
                data.get_type()
            )));
        };
        resolve(py, self.mode, async move {
            let (name, bytes) = match source {
                UploadArg::Data(bytes) => {
                    let name = filename.ok_or_else(|| Error::InvalidArgument {
                        argument: "filename".into(),
                        message: "a file name is needed to upload bytes (e.g. filename=\"input.png\")".into(),
                    })?;
                    (name, bytes)
                }
                UploadArg::File(path) => {
                    let bytes = tokio::fs::read(&path).await.map_err(|source| Error::Io {
                        action: "reading",
                        path: path.clone(),
                        source,
                    })?;
                    let name = filename
                        .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .unwrap_or_else(|| "upload.png".to_owned());
                    (name, bytes)
                }
            };
            Ok::<_, Failure>(comfy.upload(Upload::file(name, bytes)).await?.input_value())
        })
    }

    /// The templates of this client's set (built-ins, or the workflows directory).
    fn list_templates(&self, py: Python<'_>) -> PyResult<Vec<Template>> {
        self.comfy.templates().snapshot().list().iter().map(|t| Template::new(py, t)).collect()
    }

    /// The backend's queue: `{"running": [job ids], "pending": [job ids]}` in run order.
    fn queue<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            let q = comfy.queue().await?;
            let ids = |entries: Vec<comfy_core::backend::QueueEntry>| {
                entries.into_iter().map(|e| e.job_id.0).collect()
            };
            Ok(BTreeMap::from([("running", ids(q.running)), ("pending", ids(q.pending))])
                as BTreeMap<&str, Vec<String>>)
        })
    }

    /// The server's node catalogue (`GET /object_info`, cached) as a dict.
    fn object_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move { Ok(Json(comfy.catalog().await?.to_value())) })
    }

    /// The backend: kind, versions, reachable, credential state (never the secret), account
    /// status and capabilities, as a dict.
    fn server_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            Ok(Json(comfy_core::json::to_value(&comfy.server_info().await?, "server info")?))
        })
    }

    /// RunComfy deployments (only `ids` when given), as dicts.
    #[pyo3(signature = (ids=None, include_payload=false, include_readme=false))]
    fn list_deployments<'py>(
        &self,
        py: Python<'py>,
        ids: Option<Vec<String>>,
        include_payload: bool,
        include_readme: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            let ids = ids.unwrap_or_default();
            let list = comfy.runcomfy()?.list_deployments(&ids, include_payload, include_readme).await?;
            Ok(Json(comfy_core::json::to_value(&list, "deployments")?))
        })
    }

    /// One RunComfy deployment (default: the configured one) as a dict.
    #[pyo3(signature = (deployment_id=None, include_payload=false, include_readme=false))]
    fn get_deployment<'py>(
        &self,
        py: Python<'py>,
        deployment_id: Option<String>,
        include_payload: bool,
        include_readme: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            let rc = comfy.runcomfy()?;
            let d = rc.get_deployment(deployment_id.as_deref(), include_payload, include_readme).await?;
            Ok(Json(comfy_core::json::to_value(&d, "deployment")?))
        })
    }

    /// Creates a RunComfy deployment from a dict (`name`, `workflow_id`, `workflow_version`,
    /// optional `hardware`, `min_instances`, `max_instances`, `queue_size`,
    /// `keep_warm_duration_in_seconds`).
    fn create_deployment<'py>(
        &self,
        py: Python<'py>,
        spec: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, spec) = (self.comfy.clone(), crate::convert::py_to_json(spec.as_any())?);
        resolve(py, self.mode, async move {
            let spec: comfy_core::backend::runcomfy::DeploymentSpec =
                serde_json::from_value(spec).map_err(|e| bad_dict("spec", e))?;
            let d = comfy.runcomfy()?.create_deployment(&spec).await?;
            Ok(Json(comfy_core::json::to_value(&d, "deployment")?))
        })
    }

    /// Changes a RunComfy deployment (default: the configured one) with a dict of fields.
    #[pyo3(signature = (changes, deployment_id=None))]
    fn update_deployment<'py>(
        &self,
        py: Python<'py>,
        changes: &Bound<'py, PyDict>,
        deployment_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, changes) = (self.comfy.clone(), crate::convert::py_to_json(changes.as_any())?);
        resolve(py, self.mode, async move {
            let update: comfy_core::backend::runcomfy::DeploymentUpdate =
                serde_json::from_value(changes).map_err(|e| bad_dict("changes", e))?;
            let d = comfy.runcomfy()?.update_deployment(deployment_id.as_deref(), &update).await?;
            Ok(Json(comfy_core::json::to_value(&d, "deployment")?))
        })
    }

    /// Deletes a RunComfy deployment permanently; RunComfy's answer.
    fn delete_deployment<'py>(&self, py: Python<'py>, deployment_id: String) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(
            py,
            self.mode,
            async move { Ok(Json(comfy.runcomfy()?.delete_deployment(&deployment_id).await?)) },
        )
    }

    /// Submits a request to a RunComfy deployment from a dict (`overrides` of its saved
    /// workflow, checked first, or `workflow_api_json`; optional `deployment_id`, `extra_data`,
    /// `webhook_url`, `webhook_intermediate_status`) as a job (recorded, reattached); answers
    /// the job at once.
    fn submit_request<'py>(&self, py: Python<'py>, spec: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, spec, mode) = (self.comfy.clone(), crate::convert::py_to_json(spec.as_any())?, self.mode);
        resolve(py, self.mode, async move {
            let spec: comfy_core::backend::runcomfy::RequestSpec =
                serde_json::from_value(spec).map_err(|e| bad_dict("spec", e))?;
            let job = comfy.submit_request(&spec).await?;
            Ok(Job::new(job, comfy, mode))
        })
    }

    /// On a store several servers share (PostgreSQL): takes over the unfinished jobs and batches
    /// of servers that stopped and follows them here; the keys taken (`job:<id>`,
    /// `batch:<id>`). A client does this by itself every few seconds; `[]` on other stores.
    fn take_over_orphans<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            Ok(comfy.take_over_orphans().await?.iter().map(|s| s.key()).collect::<Vec<String>>())
        })
    }

    /// On a shared store: says this client is gone, so that other servers take over its
    /// unfinished jobs and batches at once (call it before a planned shutdown). Does nothing
    /// on other stores.
    fn retire<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move { Ok(comfy.retire().await?) })
    }

    /// The account's balance and subscription where the backend has billing, as a dict.
    fn billing_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            Ok(Json(comfy_core::json::to_value(&comfy.billing_status().await?, "billing status")?))
        })
    }

    /// Records the user's feedback (refused without `consent=True`, or when `message` holds a
    /// path, URL or e-mail address): stored locally, posted to the feedback URL if set. The
    /// receipt as a dict (`stored`, `posted`, `reason`, `record`).
    #[pyo3(signature = (message, *, consent=false, rating=None, category=None))]
    fn submit_feedback<'py>(
        &self,
        py: Python<'py>,
        message: String,
        consent: bool,
        rating: Option<u8>,
        category: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        let feedback = comfy_core::Feedback { consent, rating, category, message };
        resolve(py, self.mode, async move {
            Ok(Json(comfy_core::json::to_value(&comfy.submit_feedback(feedback).await?, "feedback receipt")?))
        })
    }

    /// Counts of this client's activity (jobs by outcome, error codes, uptime) as a dict.
    fn session_summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let summary = comfy_core::json::to_value(&self.comfy.session_summary(), "session summary")
            .map_err(|e| to_pyerr(py, e))?;
        json_to_py(py, &summary)
    }

    /// Records the session summary like `submit_feedback` (refused without `consent=True`).
    #[pyo3(signature = (*, consent=false))]
    fn report_session_summary<'py>(&self, py: Python<'py>, consent: bool) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            Ok(Json(comfy_core::json::to_value(
                &comfy.report_session_summary(consent).await?,
                "feedback receipt",
            )?))
        })
    }

    /// Builds a partner (paid API) node workflow for `type`/`model` from the live catalogue,
    /// prices it, and submits it only with spending consent (`max_credits` covering the price,
    /// or the client's `allow_partner_spend`); `dry_run=True` only quotes. Answers
    /// `{"quote": {...}, "job": Job | None}`.
    #[pyo3(signature = (r#type, model, prompt=None, *, aspect_ratio=None, seed=None, duration=None, media=None, max_credits=None, dry_run=false))]
    #[allow(clippy::too_many_arguments)]
    fn partner_generate<'py>(
        &self,
        py: Python<'py>,
        r#type: &str,
        model: String,
        prompt: Option<String>,
        aspect_ratio: Option<String>,
        seed: Option<u64>,
        duration: Option<f64>,
        media: Option<Vec<String>>,
        max_credits: Option<f64>,
        dry_run: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let media_type = r#type.parse::<comfy_core::MediaType>().map_err(|e| to_pyerr(py, e))?;
        let request = comfy_core::PartnerRequest {
            media_type,
            model,
            prompt,
            aspect_ratio,
            seed,
            duration,
            media: media.unwrap_or_default(),
            max_credits,
            dry_run,
        };
        let (comfy, mode) = (self.comfy.clone(), self.mode);
        resolve(py, self.mode, async move {
            let generated = comfy.partner_generate(request).await?;
            crate::partner::Generated::new(generated, comfy, mode)
        })
    }

    /// Runs a CQL query over the server's node catalogue; the answer as a dict.
    fn cql<'py>(&self, py: Python<'py>, query: String) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            Ok(Json(comfy_core::json::to_value(&comfy.cql(&query).await?, "query result")?))
        })
    }

    /// Prepares every item of a batch (a workflow or a template with `params`, and exactly one
    /// of `param_sets`, `overrides`, `seeds`, `count`), records it and submits what the
    /// running-jobs cap admits (every item on the backend named `backend`, when given; run again
    /// elsewhere if lost with it, with `resubmit_if_lost`); answers
    /// its status (with `batch_id`) as a dict.
    #[pyo3(signature = (workflow=None, *, template=None, params=None, param_sets=None, overrides=None, seeds=None, count=None, backend=None, resubmit_if_lost=false))]
    #[allow(clippy::too_many_arguments)]
    fn submit_batch<'py>(
        &self,
        py: Python<'py>,
        workflow: Option<&Bound<'py, PyAny>>,
        template: Option<String>,
        params: Option<&Bound<'py, PyDict>>,
        param_sets: Option<Vec<Bound<'py, PyDict>>>,
        overrides: Option<Vec<Bound<'py, PyDict>>>,
        seeds: Option<Vec<u64>>,
        count: Option<usize>,
        backend: Option<String>,
        resubmit_if_lost: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let maps = |v: Option<Vec<Bound<'py, PyDict>>>| {
            v.map(|v| v.iter().map(|d| kwargs_to_json(Some(d))).collect::<PyResult<Vec<_>>>()).transpose()
        };
        let items = BatchItems::one_of(maps(param_sets)?, maps(overrides)?, seeds, count)
            .map_err(|e| to_pyerr(py, e))?;
        let workflow = workflow.map(WorkflowArg::extract).transpose()?;
        let (comfy, params) = (self.comfy.clone(), kwargs_to_json(params)?);
        resolve(py, self.mode, async move {
            let source = match (workflow, template) {
                (Some(w), None) => w.into_source().await?,
                (None, Some(name)) => Source::named(name, params),
                _ => {
                    return Err(Error::InvalidArgument {
                        argument: "workflow".into(),
                        message: "give exactly one of workflow or template".into(),
                    }
                    .into());
                }
            };
            Ok(Json(comfy_core::json::to_value(
                &comfy
                    .submit_batch_placed(
                        BatchRequest { source, items },
                        Placement { backend, resubmit_if_lost },
                    )
                    .await?,
                "batch",
            )?))
        })
    }

    /// A batch's status (counts per state, fraction, every item's job id and state) as a dict.
    fn batch_status<'py>(&self, py: Python<'py>, batch_id: String) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            Ok(Json(comfy_core::json::to_value(&comfy.batch_status(&batch_id).await?, "batch")?))
        })
    }

    /// Every output of every item of a batch, in item order, as a dict.
    fn batch_outputs<'py>(&self, py: Python<'py>, batch_id: String) -> PyResult<Bound<'py, PyAny>> {
        let comfy = self.comfy.clone();
        resolve(py, self.mode, async move {
            Ok(Json(comfy_core::json::to_value(&comfy.batch_outputs(&batch_id).await?, "batch outputs")?))
        })
    }

    /// Waits up to `timeout` seconds (`None`: until done) for every item; the status then.
    #[pyo3(signature = (batch_id, timeout=None))]
    fn wait_batch<'py>(
        &self,
        py: Python<'py>,
        batch_id: String,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (comfy, budget) = (self.comfy.clone(), crate::convert::timeout(timeout)?);
        resolve(py, self.mode, async move {
            Ok(Json(comfy_core::json::to_value(&comfy.wait_batch(&batch_id, budget).await?, "batch")?))
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Client(url={}, blocking={})",
            self.url.repr(),
            if self.mode == Mode::Blocking { "True" } else { "False" }
        )
    }
}

/// Prepares and submits (one core call), handing back the job in this client's mode.
async fn submit(comfy: &Comfy, source: Source, mode: Mode, place: Placement) -> Result<Job, Failure> {
    match comfy.run_placed(source, None, place).await? {
        Waited::StillRunning(job) => Ok(Job::new(job, comfy.clone(), mode)),
        Waited::Finished(result) => Ok(Job::new(comfy.job(&result.job_id).await?, comfy.clone(), mode)),
    }
}

/// Registers this file's classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    Ok(())
}

/// The problem with a dict that is not the expected request, named.
fn bad_dict(what: &str, e: serde_json::Error) -> Error {
    Error::InvalidArgument { argument: what.into(), message: e.to_string() }
}
