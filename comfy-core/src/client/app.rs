//! The user intentions, end to end, on a [`Comfy`] client: *prepare* a workflow (any form, or a
//! template with parameters) against the live catalogue, *run* it under the running-jobs cap
//! with an optional wait, *report* where a job is with its outputs. Every surface (MCP, CLI,
//! Python, Node) calls these and only maps the result.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{Comfy, Job, Waited, lock};
use crate::backend::{JobRequest, Upload, UploadedFile};
use crate::catalog::Catalog;
use crate::error::Result;
use crate::prepare::{self, Checked, Prepared};
use crate::report::{AssetSummary, JobReport, PreviewInfo};
use crate::template::{ParamDefaults, RenderRequest, Template, TemplateSet};
use crate::validate::{ProblemCode, ValidateOptions, ValidationReport};
use crate::workflow::{Workflow, apply_overrides};

/// What to prepare or check.
#[derive(Debug, Clone)]
pub enum Source {
    /// A workflow as JSON: API format, an editor ("save") file, or a `POST /prompt` body.
    Json(Value),
    /// An API workflow already parsed.
    Workflow(Workflow),
    /// A template from the client's [`TemplateSet`], by name, with parameter values.
    Named {
        /// Template name.
        name: String,
        /// Parameter values (over the client's layered defaults).
        params: Map<String, Value>,
    },
    /// A template object (e.g. a file outside the template set), with parameter values.
    Template {
        /// The template.
        template: Arc<Template>,
        /// Parameter values (over the client's layered defaults).
        params: Map<String, Value>,
    },
    /// Another source with node inputs set, addressed as `"<node title or id>.<input>"` (see
    /// [`crate::workflow::apply_overrides`]); applied after conversion or rendering, before
    /// validation.
    Overridden {
        /// What the overrides apply to.
        source: Box<Source>,
        /// `{"KSampler.seed": 7, "3.steps": 20}`.
        overrides: Map<String, Value>,
    },
}

impl Source {
    /// A template of the client's set, by name.
    pub fn named(name: impl Into<String>, params: Map<String, Value>) -> Source {
        Source::Named { name: name.into(), params }
    }

    /// This source with node inputs set (`"<node title or id>.<input>"` → value); no overrides
    /// leaves it as it is.
    pub fn with_overrides(self, overrides: Map<String, Value>) -> Source {
        if overrides.is_empty() {
            return self;
        }
        Source::Overridden { source: Box::new(self), overrides }
    }
}

impl From<Value> for Source {
    fn from(v: Value) -> Self {
        Source::Json(v)
    }
}

impl From<Workflow> for Source {
    fn from(w: Workflow) -> Self {
        Source::Workflow(w)
    }
}

impl Comfy {
    /// The template set (built-ins, or a watched directory), enriched from the catalogue once
    /// it is known.
    pub fn templates(&self) -> &TemplateSet {
        &self.inner.templates
    }

    /// A template by name, enriched from the live catalogue when the backend answers (its
    /// parameters' bounds and choices then come from the node catalogue).
    pub async fn template(&self, name: &str) -> Result<Arc<Template>> {
        self.enrich_templates().await;
        self.inner.templates.get(name)
    }

    /// Enriches the templates from the catalogue if that has not happened yet; a backend that
    /// does not answer is not an error here (the templates stay as they are).
    pub async fn enrich_templates(&self) {
        if !self.inner.templates.has_catalog()
            && let Err(e) = self.catalog().await
        {
            tracing::debug!(error = %e, "templates not enriched: no catalogue");
        }
    }

    /// A copy of the template parameter defaults (runtime, config file, environment layers).
    pub fn param_defaults(&self) -> ParamDefaults {
        lock(&self.inner.defaults).clone()
    }

    /// Changes the parameter defaults (e.g. a runtime default set by a user).
    pub fn update_param_defaults<R>(&self, change: impl FnOnce(&mut ParamDefaults) -> R) -> R {
        change(&mut lock(&self.inner.defaults))
    }

    /// How long a caller that waits "the usual time" waits ([`super::ClientOptions::wait_budget`]).
    pub fn wait_budget(&self) -> Duration {
        self.inner.options.wait_budget
    }

    /// Whether partner runs may spend credits without a per-call `max_credits`
    /// ([`super::ClientOptions::allow_partner_spend`]).
    pub fn allows_partner_spend(&self) -> bool {
        self.inner.options.allow_partner_spend
    }

    /// Jobs submitted through this client that have not finished (counted against
    /// [`super::ClientOptions::max_running_jobs`]).
    pub fn running_jobs(&self) -> usize {
        self.inner.gate.running()
    }

    /// The node catalogue (cached by the backend); the first one also enriches the templates.
    pub async fn catalog(&self) -> Result<Arc<Catalog>> {
        let catalog = self.inner.backend.catalog(false).await?;
        self.inner.templates.set_catalog_if_missing(&catalog).await;
        Ok(catalog)
    }

    /// Runs a CQL query (typed structural questions: which classes produce or accept a type,
    /// upstream/downstream of a class, typed paths) over the backend's node catalogue; see
    /// [`crate::catalog::query`]. The query is checked before the catalogue is fetched.
    pub async fn cql(&self, query: &str) -> Result<crate::catalog::query::QueryResult> {
        crate::catalog::query::parse::parse(query)?;
        self.catalog().await?.query(query)
    }

    /// The backend as RunComfy, for RunComfy's own operations (deployments, requests by id);
    /// on any other backend [`Error::NotSupported`](crate::Error::NotSupported) says why.
    pub fn runcomfy(&self) -> Result<&crate::backend::runcomfy::RunComfy> {
        self.inner.backend.as_runcomfy().ok_or_else(|| crate::Error::NotSupported {
            backend: self.inner.backend.name().to_owned(),
            operation: "RunComfy deployments and requests",
            reason: "this server is not configured with the RunComfy backend (--backend runcomfy)".into(),
        })
    }

    /// Uploads an input file; its name is a valid input value for this client at once, even
    /// though the cached catalogue predates it.
    pub async fn upload(&self, upload: Upload) -> Result<UploadedFile> {
        let uploaded = self.inner.backend.upload(upload).await?;
        lock(&self.inner.known_inputs).insert(uploaded.input_value());
        Ok(uploaded)
    }

    pub(crate) fn validate_options(&self) -> ValidateOptions {
        let files: HashSet<String> = lock(&self.inner.known_inputs).clone();
        ValidateOptions { input_files: files.into_iter().collect(), ..Default::default() }
    }

    /// Prepares a workflow to run: converted (editor files), rendered (templates, over the
    /// layered defaults), validated against the live catalogue. Every problem comes at once in
    /// [`Error::Validation`](crate::Error::Validation); a problem on a template's input names
    /// the parameter. A file name on an upload input that the cached catalogue does not list
    /// is re-checked against a fresh catalogue before it is refused.
    pub async fn prepare(&self, source: impl Into<Source>) -> Result<Prepared> {
        let source = source.into();
        let catalog = self.catalog().await?;
        match self.prepare_with(&source, &catalog) {
            Err(crate::Error::Validation(report)) if misses_upload(&report, &catalog) => {
                let fresh = self.inner.backend.catalog(true).await?;
                self.prepare_with(&source, &fresh)
            }
            other => other,
        }
    }

    fn prepare_with(&self, source: &Source, catalog: &Catalog) -> Result<Prepared> {
        let options = self.validate_options();
        match source {
            Source::Json(v) => prepare::prepare_value(v, catalog, &options),
            Source::Workflow(w) => prepare::prepare_workflow(w.clone(), catalog, &options),
            Source::Named { name, params } => {
                let template = self.inner.templates.get(name)?;
                let defaults = self.param_defaults();
                prepare::prepare_template(&template, params.clone(), &defaults, catalog, &options)
            }
            Source::Template { template, params } => {
                let template = template.enriched(catalog);
                let defaults = self.param_defaults();
                prepare::prepare_template(&template, params.clone(), &defaults, catalog, &options)
            }
            Source::Overridden { source, overrides } => {
                let set = |workflow: &mut Workflow| {
                    apply_overrides(workflow, overrides.iter().map(|(k, v)| (k.as_str(), v)), catalog)
                };
                match source.as_ref() {
                    Source::Json(v) => {
                        let converted = crate::ui::to_api_any(v, catalog)?;
                        let mut workflow = converted.workflow;
                        set(&mut workflow)?;
                        let mut prepared = prepare::prepare_workflow(workflow, catalog, &options)?;
                        prepared.conversion_warnings = converted.warnings;
                        Ok(prepared)
                    }
                    Source::Workflow(w) => {
                        let mut workflow = w.clone();
                        set(&mut workflow)?;
                        prepare::prepare_workflow(workflow, catalog, &options)
                    }
                    Source::Named { name, params } => {
                        let template = self.inner.templates.get(name)?;
                        self.render_overridden(&template, params, catalog, &options, set)
                    }
                    Source::Template { template, params } => {
                        let template = template.enriched(catalog);
                        self.render_overridden(&template, params, catalog, &options, set)
                    }
                    Source::Overridden { .. } => {
                        let inner = self.prepare_with(source, catalog)?;
                        let mut workflow = inner.workflow;
                        set(&mut workflow)?;
                        let mut prepared = prepare::prepare_workflow(workflow, catalog, &options)?;
                        prepared.provenance = inner.provenance;
                        Ok(prepared)
                    }
                }
            }
        }
    }

    /// Renders a template, sets node inputs on the result, validates it (blaming parameters).
    fn render_overridden(
        &self,
        template: &Template,
        params: &Map<String, Value>,
        catalog: &Catalog,
        options: &ValidateOptions,
        set: impl Fn(&mut Workflow) -> Result<()>,
    ) -> Result<Prepared> {
        let defaults = self.param_defaults();
        let mut rendered = template.render(&RenderRequest::new(params.clone()).with_defaults(&defaults))?;
        set(&mut rendered.workflow)?;
        prepare::prepare_rendered(template, rendered, catalog, options)
    }

    /// Checks a workflow against the live catalogue without running it: every problem, never
    /// an error for them (see [`prepare::check_value`]). A template is rendered first.
    pub async fn check(&self, source: impl Into<Source>) -> Result<Checked> {
        let source = source.into();
        let catalog = self.catalog().await?;
        let options = self.validate_options();
        match &source {
            Source::Json(v) => prepare::check_value(v, &catalog, &options),
            Source::Workflow(w) => {
                Ok(Checked::from_report(crate::validate::validate_with(w, &catalog, &options), Vec::new()))
            }
            Source::Named { .. } | Source::Template { .. } | Source::Overridden { .. } => {
                match self.prepare_with(&source, &catalog) {
                    Ok(p) => Ok(Checked::from_report(p.report, p.conversion_warnings)),
                    Err(crate::Error::Validation(report)) => Ok(Checked::from_report(*report, Vec::new())),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Prepares and submits; with `wait`, waits up to that long. The answer is the finished
    /// job (every output recorded) or the live job handle — never lost.
    pub async fn run(&self, source: impl Into<Source>, wait: Option<Duration>) -> Result<Waited> {
        let prepared = self.prepare(source).await?;
        self.run_prepared(prepared.into_request(), wait).await
    }

    /// Submits a request (under the running-jobs cap); with `wait`, waits up to that long.
    pub async fn run_prepared(&self, request: JobRequest, wait: Option<Duration>) -> Result<Waited> {
        let job = self.submit(request).await?;
        match wait {
            Some(timeout) => job.wait(timeout).await,
            None => Ok(Waited::StillRunning(job)),
        }
    }

    /// Where a job is, with its outputs once it succeeded, the template parameters it used and
    /// its newest preview frame.
    pub async fn report(&self, job: &Job) -> Result<JobReport> {
        let snapshot = job.snapshot();
        let mut report = JobReport::of(job.id().as_str(), &snapshot.status);
        if snapshot.status == crate::job::JobStatus::Succeeded {
            let mut outputs = Vec::with_capacity(snapshot.assets.len());
            for id in &snapshot.assets {
                outputs.push(AssetSummary::from(&self.asset(id).await?));
            }
            report.outputs = Some(outputs);
        }
        report.params = job.record().provenance.params.and_then(|p| match p {
            Value::Object(m) => Some(m),
            _ => None,
        });
        report.preview = job.latest_preview().as_ref().map(PreviewInfo::from);
        Ok(report)
    }
}

/// Whether a report refuses a value on an upload input (a file the catalogue may not list yet).
fn misses_upload(report: &ValidationReport, catalog: &Catalog) -> bool {
    report.errors().any(|p| {
        p.code == ProblemCode::ValueNotInList
            && p.class_type.as_deref().and_then(|c| catalog.node(c)).is_some_and(|node| {
                p.input.as_deref().and_then(|i| node.input(i)).is_some_and(|i| i.options.upload.is_some())
            })
    })
}
