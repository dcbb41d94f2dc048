//! Several backends behind one client: which backend a job's record names, and the backend
//! calls about a recorded job or asset go to. With one backend (no
//! [`Fleet`](crate::backend::fleet::Fleet)) every name resolves to it, as before.

use std::sync::Arc;

use super::{ClientInner, Comfy};
use crate::backend::Backend;
use crate::backend::fleet::{Fleet, MemberInfo};
use crate::error::{Error, Result};
use crate::job::JobId;

impl ClientInner {
    /// The fleet, when this client has several backends.
    pub(crate) fn fleet(&self) -> Option<&Fleet> {
        self.backend.as_fleet()
    }

    /// Whether a job recorded as run by `name` is run by this client's backend(s).
    pub(crate) fn runs_backend(&self, name: &str) -> bool {
        name == self.backend.name() || self.fleet().is_some_and(|f| f.member(name).is_some())
    }

    /// The backend that runs what the record names `name`: that member of the fleet, else the
    /// client's backend.
    pub(crate) fn backend_for(&self, name: &str) -> Arc<dyn Backend> {
        self.fleet().and_then(|f| f.member(name)).cloned().unwrap_or_else(|| self.backend.clone())
    }

    /// The store filter for "jobs of this client's backend": its name, or none for a fleet
    /// (whose jobs carry their members' names: filter with [`runs_backend`](Self::runs_backend)).
    pub(crate) fn backend_filter(&self) -> Option<String> {
        match self.fleet() {
            Some(_) => None,
            None => Some(self.backend.name().to_owned()),
        }
    }

    /// Refuses a pinned backend this client does not have. A single backend answers to its own
    /// name and its kind; a fleet member to its configured name and its backend's name.
    pub(crate) fn check_pin(&self, pin: Option<&str>) -> Result<()> {
        let Some(pin) = pin.filter(|p| !p.trim().is_empty()) else { return Ok(()) };
        match self.fleet() {
            Some(fleet) if fleet.member(pin).is_none() => {
                Err(Error::UnknownBackend { name: pin.to_owned(), configured: fleet.names() })
            }
            Some(_) => Ok(()),
            None if pin == self.backend.name() || pin == self.backend.kind().as_str() => Ok(()),
            None => Err(Error::UnknownBackend {
                name: pin.to_owned(),
                configured: vec![self.backend.kind().as_str().to_owned()],
            }),
        }
    }

    /// Every backend by the name jobs record: a fleet's members, else the one backend.
    pub(crate) fn each_backend(&self) -> Vec<(String, Arc<dyn Backend>)> {
        match self.fleet() {
            Some(fleet) => {
                fleet.names().into_iter().filter_map(|n| fleet.member(&n).cloned().map(|b| (n, b))).collect()
            }
            None => vec![(self.backend.name().to_owned(), self.backend.clone())],
        }
    }

    /// Whether a job recorded as run by `recorded` runs on the backend `pin` names (a single
    /// backend also answers to its kind).
    pub(crate) fn matches_pin(&self, recorded: &str, pin: &str) -> bool {
        if recorded == pin {
            return true;
        }
        match self.fleet() {
            Some(fleet) => fleet.configured_name(pin) == Some(recorded),
            None => recorded == self.backend.name() && pin == self.backend.kind().as_str(),
        }
    }

    /// The name a submitted job's record gets: the fleet member that accepted it, else the
    /// client's backend.
    pub(crate) fn recorded_backend(&self, job: &JobId) -> String {
        self.fleet().and_then(|f| f.member_of(job)).unwrap_or_else(|| self.backend.name().to_owned())
    }
}

/// Where a submission may run: the [`JobRequest`](crate::backend::JobRequest) fields that
/// surfaces (MCP tools, CLI, bindings) take from their callers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// [`JobRequest::backend`](crate::backend::JobRequest::backend): run on this named
    /// backend (`None`: routing chooses).
    pub backend: Option<String>,
    /// [`JobRequest::resubmit_if_lost`](crate::backend::JobRequest::resubmit_if_lost): run it
    /// again on another backend if the one that accepted it is lost with it.
    pub resubmit_if_lost: bool,
}

impl Placement {
    /// Sets these fields of `request`.
    pub fn apply(self, request: &mut crate::backend::JobRequest) {
        request.backend = self.backend;
        request.resubmit_if_lost = self.resubmit_if_lost;
    }
}

impl Comfy {
    /// [`run`](Self::run) on the backend named `backend` (pinned; `None`: routing chooses).
    pub async fn run_on(
        &self,
        source: impl Into<crate::Source>,
        wait: Option<std::time::Duration>,
        backend: Option<String>,
    ) -> Result<crate::Waited> {
        self.run_placed(source, wait, Placement { backend, ..Default::default() }).await
    }

    /// [`run`](Self::run) with the request's [`Placement`].
    pub async fn run_placed(
        &self,
        source: impl Into<crate::Source>,
        wait: Option<std::time::Duration>,
        placement: Placement,
    ) -> Result<crate::Waited> {
        let mut request = self.prepare(source).await?.into_request();
        placement.apply(&mut request);
        self.run_prepared(request, wait).await
    }

    /// [`job`](Self::job), on the backend `backend` names when given: a job that runs elsewhere
    /// is [`Error::JobNotFound`] there, and a name no backend has is
    /// [`Error::UnknownBackend`].
    pub async fn job_on(&self, id: &JobId, backend: Option<&str>) -> Result<crate::Job> {
        let Some(pin) = backend.filter(|b| !b.trim().is_empty()) else { return self.job(id).await };
        self.inner.check_pin(Some(pin))?;
        let job = self.job(id).await?;
        if !self.inner.matches_pin(&job.record().backend, pin) {
            return Err(Error::JobNotFound { backend: pin.to_owned(), job_id: id.0.clone() });
        }
        Ok(job)
    }

    /// The fleet of named backends, when this client has several (`[[backends]]`).
    pub fn fleet(&self) -> Option<&Fleet> {
        self.inner.fleet()
    }

    /// The backends jobs can be pinned to (`backend` arguments), with their routing state. A
    /// client with one backend lists it under its kind's name.
    pub fn backends(&self) -> Vec<MemberInfo> {
        if let Some(fleet) = self.fleet() {
            return fleet.members();
        }
        let kind = self.inner.backend.kind().as_str();
        vec![MemberInfo {
            name: kind.to_owned(),
            kind,
            priority: 0,
            weight: 1.0,
            tags: Vec::new(),
            healthy: true,
            in_flight: super::lock(&self.inner.jobs).values().filter(|j| !j.is_terminal()).count(),
            last_error: None,
        }]
    }
}
