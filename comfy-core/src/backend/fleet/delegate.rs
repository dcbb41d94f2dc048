//! [`Backend`] for [`Fleet`]: per-job calls go to the member the job's record names; calls about
//! the backend as a whole are combined over the members (queue, catalogue, models, health) or
//! go to the first member that answers (saved workflows, templates, downloads).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Fleet, lock, needs};
use crate::backend::{
    Backend, BackendEvent, BackendIdentity, BackendKind, CancelOutcome, CancelScope, Capabilities, Download,
    Health, HostedUrl, JobRef, JobRequest, PollPolicy, QueueSnapshot, RemoteJob, SavedWorkflowInfo,
    Submitted, Upload, UploadedFile,
};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::job::{FileRef, JobId};

impl Fleet {
    /// The members in routing order (priority, then configuration order).
    fn by_priority(&self) -> Vec<&Arc<dyn Backend>> {
        let mut members: Vec<_> = self.members.iter().collect();
        members.sort_by_key(|m| m.spec.priority);
        members.into_iter().map(|m| &m.spec.backend).collect()
    }

    /// The first member's answer to `call` that is not an error (the last error otherwise).
    async fn first_ok<'a, T, F, Fut>(&'a self, call: F) -> Result<T>
    where
        F: Fn(&'a Arc<dyn Backend>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut last = None;
        for backend in self.by_priority() {
            match call(backend).await {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| self.not_supported("an empty fleet")))
    }

    /// Runs `call` on the member that runs `job` (or, for a job of unknown origin, on each
    /// member until one knows it) and notes a finished job.
    async fn on_job<T, F, Fut>(&self, job: &JobRef, call: F, finished: impl Fn(&T) -> bool) -> Result<T>
    where
        F: Fn(Arc<dyn Backend>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        if let Some(i) = self.member_for(job)? {
            let answer = call(self.members[i].spec.backend.clone()).await?;
            if finished(&answer) {
                self.finished(i, &job.id);
            }
            return Ok(answer);
        }
        let mut last = None;
        for (i, member) in self.members.iter().enumerate() {
            match call(member.spec.backend.clone()).await {
                Ok(answer) => {
                    lock(&self.jobs).insert(job.id.clone(), i);
                    return Ok(answer);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| Error::JobNotFound { backend: self.name.clone(), job_id: job.id.0.clone() }))
    }
}

#[async_trait]
impl Backend for Fleet {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        let all: Vec<Capabilities> = self.members.iter().map(|m| m.spec.backend.capabilities()).collect();
        let every = |f: fn(&Capabilities) -> bool| all.iter().all(f);
        let any = |f: fn(&Capabilities) -> bool| all.iter().any(f);
        Capabilities {
            events: every(|c| c.events),
            previews: any(|c| c.previews),
            cancel_pending: every(|c| c.cancel_pending),
            cancel_running: if all.iter().all(|c| c.cancel_running == CancelScope::Job) {
                CancelScope::Job
            } else if all.iter().any(|c| c.cancel_running == CancelScope::None) {
                CancelScope::None
            } else {
                CancelScope::Account
            },
            queue: any(|c| c.queue),
            upload: any(|c| c.upload),
            catalog: any(|c| c.catalog),
            models: any(|c| c.models),
            partial_execution: every(|c| c.partial_execution),
            client_job_ids: every(|c| c.client_job_ids),
        }
    }

    fn events(&self) -> broadcast::Receiver<BackendEvent> {
        self.events.subscribe()
    }

    fn events_connected(&self) -> bool {
        self.members.iter().all(|m| m.spec.backend.events_connected())
    }

    async fn submit(&self, request: &JobRequest) -> Result<Submitted> {
        self.route_submit(request).await
    }

    async fn status(&self, job: &JobId) -> Result<RemoteJob> {
        self.status_of(&JobRef::from(job)).await
    }

    async fn status_of(&self, job: &JobRef) -> Result<RemoteJob> {
        if lock(&self.submitting).contains(&job.id) {
            return Ok(RemoteJob { status: crate::job::JobStatus::Pending, outputs: Vec::new() });
        }
        let job = &Self::remote_ref(job);
        self.on_job(job, |b| async move { b.status_of(job).await }, |r: &RemoteJob| r.status.is_terminal())
            .await
    }

    async fn cancel(&self, job: &JobId) -> Result<CancelOutcome> {
        self.cancel_of(&JobRef::from(job)).await
    }

    async fn cancel_of(&self, job: &JobRef) -> Result<CancelOutcome> {
        let job = &Self::remote_ref(job);
        self.on_job(job, |b| async move { b.cancel_of(job).await }, |_| false).await
    }

    fn poll_policy(&self) -> PollPolicy {
        let policies: Vec<PollPolicy> = self.members.iter().map(|m| m.spec.backend.poll_policy()).collect();
        PollPolicy {
            min_interval: policies.iter().map(|p| p.min_interval).max().unwrap_or_default(),
            not_found_grace: policies.iter().map(|p| p.not_found_grace).max().unwrap_or_default(),
        }
    }

    /// Every member's queue, one after the other (positions count across the whole fleet).
    async fn queue(&self) -> Result<QueueSnapshot> {
        let answers = futures::future::join_all(self.members.iter().map(|m| m.spec.backend.queue())).await;
        let mut merged = QueueSnapshot::default();
        let mut last = None;
        let mut any = false;
        for answer in answers {
            match answer {
                Ok(q) => {
                    any = true;
                    merged.running.extend(q.running);
                    merged.pending.extend(q.pending);
                }
                Err(e) => last = Some(e),
            }
        }
        match (any, last) {
            (false, Some(e)) => Err(e),
            _ => Ok(merged),
        }
    }

    /// Uploads to every healthy member that takes uploads (a job may run on any of them);
    /// answers the first one's name.
    async fn upload(&self, upload: Upload) -> Result<UploadedFile> {
        let targets: Vec<_> = self
            .members
            .iter()
            .filter(|m| m.spec.backend.capabilities().upload)
            .filter(|m| m.healthy.load(std::sync::atomic::Ordering::SeqCst))
            .collect();
        let answers =
            futures::future::join_all(targets.iter().map(|m| m.spec.backend.upload(upload.clone()))).await;
        let mut first: Option<UploadedFile> = None;
        let mut last = None;
        for (m, answer) in targets.iter().zip(answers) {
            match answer {
                Ok(file) => match &first {
                    None => first = Some(file),
                    Some(f) if f.input_value() != file.input_value() => tracing::warn!(
                        backend = %m.spec.name, name = %file.input_value(), first = %f.input_value(),
                        "the upload got another name on this backend"
                    ),
                    Some(_) => {}
                },
                Err(e) => {
                    tracing::warn!(backend = %m.spec.name, error = %e, "upload failed on this backend");
                    last = Some(e);
                }
            }
        }
        first.ok_or_else(|| last.unwrap_or_else(|| self.not_supported("upload")))
    }

    async fn upload_url(&self, url: &str, filename: &str) -> Result<UploadedFile> {
        self.first_ok(|b| b.upload_url(url, filename)).await
    }

    async fn download(&self, file: &FileRef) -> Result<Download> {
        self.first_ok(|b| b.download(file)).await
    }

    async fn download_url(&self, url: &str) -> Result<Download> {
        self.first_ok(|b| b.download_url(url)).await
    }

    async fn output_url(&self, file: &FileRef) -> Result<HostedUrl> {
        self.first_ok(|b| b.output_url(file)).await
    }

    /// The union of the members' catalogues (classes, and the options of model choices), so a
    /// workflow that runs on some member validates.
    async fn catalog(&self, refresh: bool) -> Result<Arc<Catalog>> {
        if !refresh && let Some(c) = lock(&self.merged_catalog).clone() {
            return Ok(c);
        }
        let answers =
            futures::future::join_all(self.members.iter().map(|m| m.spec.backend.catalog(refresh))).await;
        let mut values = Vec::new();
        let mut last = None;
        let total = answers.len();
        for answer in answers {
            match answer {
                Ok(c) => values.push(c.to_value()),
                Err(e) => last = Some(e),
            }
        }
        if values.is_empty() {
            return Err(last.unwrap_or_else(|| self.not_supported("node catalogue")));
        }
        let complete = values.len() == total;
        let merged = Arc::new(Catalog::from_value(&needs::merge(&values))?);
        if complete {
            *lock(&self.merged_catalog) = Some(merged.clone());
        }
        Ok(merged)
    }

    async fn model_folders(&self) -> Result<Vec<String>> {
        union(futures::future::join_all(self.members.iter().map(|m| m.spec.backend.model_folders())).await)
    }

    async fn models(&self, folder: &str) -> Result<Vec<String>> {
        union(futures::future::join_all(self.members.iter().map(|m| m.spec.backend.models(folder))).await)
    }

    /// The first healthy member's health, with every member's state in `raw.backends`.
    async fn health(&self) -> Result<Health> {
        let answers = futures::future::join_all(self.members.iter().map(|m| m.spec.backend.health())).await;
        let mut first: Option<Health> = None;
        let mut last = None;
        let mut states = serde_json::Map::new();
        for (m, answer) in self.members.iter().zip(answers) {
            states.insert(m.spec.name.clone(), serde_json::Value::Bool(answer.is_ok()));
            match answer {
                Ok(h) if first.is_none() => first = Some(h),
                Ok(_) => {}
                Err(e) => last = Some(e),
            }
        }
        let mut health = first.ok_or_else(|| last.unwrap_or_else(|| self.not_supported("health")))?;
        let mut raw = serde_json::Map::new();
        raw.insert("backends".into(), serde_json::Value::Object(states));
        raw.insert("first".into(), std::mem::take(&mut health.raw));
        health.raw = serde_json::Value::Object(raw);
        Ok(health)
    }

    async fn list_saved_workflows(&self) -> Result<Vec<SavedWorkflowInfo>> {
        self.first_ok(|b| b.list_saved_workflows()).await
    }

    async fn get_saved_workflow(&self, name: &str) -> Result<serde_json::Value> {
        self.first_ok(|b| b.get_saved_workflow(name)).await
    }

    async fn save_workflow(
        &self,
        name: &str,
        workflow: &serde_json::Value,
        overwrite: bool,
    ) -> Result<SavedWorkflowInfo> {
        self.by_priority()[0].save_workflow(name, workflow, overwrite).await
    }

    async fn delete_saved_workflow(&self, name: &str) -> Result<()> {
        self.by_priority()[0].delete_saved_workflow(name).await
    }

    async fn move_saved_workflow(&self, from: &str, to: &str, overwrite: bool) -> Result<SavedWorkflowInfo> {
        self.by_priority()[0].move_saved_workflow(from, to, overwrite).await
    }

    async fn template_index(&self) -> Result<serde_json::Value> {
        self.first_ok(|b| b.template_index()).await
    }

    async fn template_workflow(&self, name: &str) -> Result<serde_json::Value> {
        self.first_ok(|b| b.template_workflow(name)).await
    }

    /// The first member's identity (each member's own is reached through
    /// [`Fleet::member`]).
    async fn identity(&self) -> BackendIdentity {
        let mut identity = self.by_priority()[0].identity().await;
        identity.kind = BackendKind::Other;
        identity
    }

    fn has_partner_key(&self) -> bool {
        self.members.iter().any(|m| m.spec.backend.has_partner_key())
    }

    fn as_fleet(&self) -> Option<&Fleet> {
        Some(self)
    }

    fn unsupported_reason(&self, operation: &'static str) -> String {
        format!("no backend of {} has {operation}", self.name)
    }
}

/// The union of the members' lists (sorted), or the last error when none answered.
fn union(answers: Vec<Result<Vec<String>>>) -> Result<Vec<String>> {
    let mut all = std::collections::BTreeSet::new();
    let mut last = None;
    let mut any = false;
    for answer in answers {
        match answer {
            Ok(items) => {
                any = true;
                all.extend(items);
            }
            Err(e) => last = Some(e),
        }
    }
    match (any, last) {
        (false, Some(e)) => Err(e),
        _ => Ok(all.into_iter().collect()),
    }
}
