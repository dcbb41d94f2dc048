//! [`Fleet`]: several named backends behind the one [`Backend`] a [`Comfy`](crate::Comfy)
//! client drives.
//!
//! A submission is routed ([`route::rank`]): pinned to a backend by name when the request says
//! so ([`JobRequest::backend`]); otherwise to a healthy backend whose catalogue has what the
//! workflow names, the least busy of the best priority with room. A backend whose submit fails
//! with a retryable error (unreachable, 5xx, timeout) is marked unhealthy and the next candidate
//! gets the job; periodic health checks put it back. Every later call on a job (status, cancel)
//! goes to the backend named by the job's record ([`JobRef::backend`]): a job is never looked up
//! on, nor a credential sent to, another backend.
//!
//! A job a backend had *accepted* and then lost with it (the backend stops answering, or
//! forgets the job) fails with a clear failure, or, when its request allowed it
//! ([`JobRequest::resubmit_if_lost`]), is submitted again under the same id to another member
//! ([`Fleet::resubmit`]; a hosted member that chooses its own id is reached through the
//! job's handle, see `alias`); the lost member's later events about it are ignored and its old
//! copy is cancelled when it comes back.
//!
//! Not done yet: the routing state (health, load, which member runs which job) lives in this
//! process's memory only (several servers on one store each keep their own).

mod alias;
mod delegate;
mod events;
mod health;
pub mod needs;
mod resubmit;
pub mod route;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::broadcast;

use super::{Backend, JobRef, JobRequest, Submitted};
use crate::catalog::Catalog;
use crate::connect::RoutingConfig;
use crate::error::{Error, Result};
use crate::job::JobId;

/// How long a backend gets to say how busy it is (or send its catalogue) while routing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// A queue read this recent is reused for routing. A ComfyUI queue lists every waiting prompt
/// with its whole graph: reading it for each submission made routing cost grow with the queue
/// (~0.5 s a submission with a few hundred jobs queued). Jobs we send meanwhile are counted by
/// `in_flight` and `reserved` at once, so a burst still spreads by load.
const QUEUE_FRESH: Duration = Duration::from_millis(250);

/// One backend of a fleet, as given to [`Fleet::new`].
#[derive(Debug, Clone)]
pub struct FleetMember {
    /// The name jobs record and callers pin.
    pub name: String,
    /// Lower is tried first.
    pub priority: u32,
    /// Relative capacity within its priority (> 0).
    pub weight: f64,
    /// Labels.
    pub tags: Vec<String>,
    /// The backend.
    pub backend: Arc<dyn Backend>,
}

impl FleetMember {
    /// A member of priority 0 and weight 1.
    pub fn new(name: impl Into<String>, backend: Arc<dyn Backend>) -> Self {
        FleetMember { name: name.into(), priority: 0, weight: 1.0, tags: Vec::new(), backend }
    }

    /// Sets the priority (lower is tried first).
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the weight (relative capacity).
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }
}

/// A member with its routing state.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) spec: FleetMember,
    pub(crate) healthy: AtomicBool,
    /// Jobs submitted through the fleet that have not been seen finished.
    pub(crate) in_flight: Mutex<HashSet<JobId>>,
    /// Submissions on their way to it.
    pub(crate) reserved: AtomicUsize,
    /// The job it runs now, for events that carry no job id.
    pub(crate) running: Mutex<Option<JobId>>,
    pub(crate) last_error: Mutex<Option<String>>,
    /// Its queue as last read, and when: the submissions of a burst share one read.
    queue_seen: tokio::sync::Mutex<Option<(Instant, Vec<JobId>)>>,
}

impl Member {
    fn backend(&self) -> &Arc<dyn Backend> {
        &self.spec.backend
    }

    /// The ids in its queue, read at most once per [`QUEUE_FRESH`] (concurrent callers wait
    /// for the one read); empty when it does not answer in time.
    async fn queue_ids(&self) -> Vec<JobId> {
        let mut seen = self.queue_seen.lock().await;
        if let Some((at, ids)) = &*seen
            && at.elapsed() < QUEUE_FRESH
        {
            return ids.clone();
        }
        match tokio::time::timeout(PROBE_TIMEOUT, self.backend().queue()).await {
            Ok(Ok(q)) => {
                let ids: Vec<JobId> = q.running.into_iter().chain(q.pending).map(|e| e.job_id).collect();
                *seen = Some((Instant::now(), ids.clone()));
                ids
            }
            _ => {
                *seen = None;
                Vec::new()
            }
        }
    }

    /// Jobs queued or running on it: its own queue (`queue`, the ids it listed) plus ours in
    /// flight that it did not list (just sent, or its queue is unknown), each counted once.
    fn load(&self, queue: &[JobId]) -> usize {
        let ours = lock(&self.in_flight);
        let others = queue.iter().filter(|id| !ours.contains(*id)).count();
        others + ours.len() + self.reserved.load(Ordering::SeqCst)
    }

    pub(crate) fn set_health(&self, ok: bool, error: Option<String>) {
        let was = self.healthy.swap(ok, Ordering::SeqCst);
        if was != ok {
            if ok {
                tracing::info!(backend = %self.spec.name, "backend is healthy again");
            } else {
                tracing::warn!(backend = %self.spec.name, error = error.as_deref().unwrap_or(""), "backend taken out of routing");
            }
        }
        if error.is_some() {
            *lock(&self.last_error) = error;
        }
    }
}

/// One backend of a fleet as callers see it (server info, health tools).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MemberInfo {
    /// The configured name (what `backend` arguments pin).
    pub name: String,
    /// `local`, `comfy-cloud`, `runcomfy` or `other`.
    pub kind: &'static str,
    /// Lower is tried first.
    pub priority: u32,
    /// Relative capacity within its priority.
    pub weight: f64,
    /// Labels.
    pub tags: Vec<String>,
    /// Whether routing sends it work now.
    pub healthy: bool,
    /// Jobs submitted through this client that it has not finished.
    pub in_flight: usize,
    /// Why it was last taken out, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Several named backends behind one [`Backend`]; see the [module docs](self).
#[derive(Debug)]
pub struct Fleet {
    name: String,
    pub(crate) members: Vec<Arc<Member>>,
    routing: RoutingConfig,
    /// Which member runs each job submitted (or found) through the fleet.
    jobs: Mutex<HashMap<JobId, usize>>,
    /// Jobs being routed now (tried on one backend after another): not yet anyone's, so
    /// not lost either.
    pub(crate) submitting: Mutex<HashSet<JobId>>,
    /// Jobs resubmitted elsewhere, with the member they were lost with: that member's events
    /// about them are dropped, and their old copy is cancelled when it comes back.
    pub(crate) abandoned: Mutex<HashMap<JobId, usize>>,
    /// (member, the member's own id) → the caller's id, for jobs moved to a member that chose
    /// its own id (see `alias`).
    aliases: Mutex<HashMap<(usize, JobId), JobId>>,
    /// Serialises the choice of a backend (so two submissions see each other's reservation).
    pick: Mutex<()>,
    pub(crate) events: broadcast::Sender<super::BackendEvent>,
    merged_catalog: Mutex<Option<Arc<Catalog>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fleet {
    /// A fleet of `members` (at least one; names unique). Inside a tokio runtime it starts the
    /// health checks and the event forwarding at once.
    pub fn new(members: Vec<FleetMember>, routing: RoutingConfig) -> Result<Arc<Fleet>> {
        if members.is_empty() {
            return Err(Error::InvalidArgument {
                argument: "backends".into(),
                message: "a fleet needs at least one backend".into(),
            });
        }
        let mut names = HashSet::new();
        for m in &members {
            if !names.insert(m.name.clone()) {
                return Err(Error::InvalidArgument {
                    argument: "backends".into(),
                    message: format!("the name {:?} is used twice", m.name),
                });
            }
        }
        let name = format!("fleet:{}", members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(","));
        let (events, _) = broadcast::channel(1024);
        let fleet = Arc::new(Fleet {
            name,
            members: members
                .into_iter()
                .map(|spec| {
                    Arc::new(Member {
                        spec,
                        healthy: AtomicBool::new(true),
                        in_flight: Mutex::default(),
                        reserved: AtomicUsize::new(0),
                        running: Mutex::default(),
                        last_error: Mutex::default(),
                        queue_seen: tokio::sync::Mutex::default(),
                    })
                })
                .collect(),
            routing,
            jobs: Mutex::default(),
            submitting: Mutex::default(),
            abandoned: Mutex::default(),
            aliases: Mutex::default(),
            pick: Mutex::default(),
            events,
            merged_catalog: Mutex::default(),
            tasks: Mutex::default(),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            let mut tasks = events::spawn_forwarders(&fleet);
            tasks.push(health::spawn(&fleet, Duration::from_millis(routing.health_interval_ms)));
            *lock(&fleet.tasks) = tasks;
        }
        Ok(fleet)
    }

    /// The members' configured names, in configuration order.
    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.spec.name.clone()).collect()
    }

    /// Every member with its routing state.
    pub fn members(&self) -> Vec<MemberInfo> {
        self.members
            .iter()
            .map(|m| MemberInfo {
                name: m.spec.name.clone(),
                kind: m.backend().kind().as_str(),
                priority: m.spec.priority,
                weight: m.spec.weight,
                tags: m.spec.tags.clone(),
                healthy: m.healthy.load(Ordering::SeqCst),
                in_flight: lock(&m.in_flight).len(),
                last_error: lock(&m.last_error).clone(),
            })
            .collect()
    }

    /// The member named `name` (its configured name, or the backend's own
    /// [`Backend::name`]).
    pub fn member(&self, name: &str) -> Option<&Arc<dyn Backend>> {
        self.index_of(name).map(|i| self.members[i].backend())
    }

    /// The configured name of the member `name` names (its configured name, or the backend's
    /// own [`Backend::name`]).
    pub fn configured_name(&self, name: &str) -> Option<&str> {
        self.index_of(name).map(|i| self.members[i].spec.name.as_str())
    }

    /// The configured name of the member that runs `job`, if the job went through this fleet.
    pub fn member_of(&self, job: &JobId) -> Option<String> {
        lock(&self.jobs).get(job).map(|&i| self.members[i].spec.name.clone())
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.spec.name == name)
            .or_else(|| self.members.iter().position(|m| m.backend().name() == name))
    }

    fn unknown(&self, name: &str) -> Error {
        Error::UnknownBackend { name: name.to_owned(), configured: self.names() }
    }

    /// The member that runs `job`: the one its record names, else the one it was submitted
    /// to here. `None` when neither is known (a job of another client).
    fn member_for(&self, job: &JobRef) -> Result<Option<usize>> {
        if let Some(name) = job.backend.as_deref().filter(|n| *n != self.name) {
            let i = self.index_of(name).ok_or_else(|| self.unknown(name))?;
            // Known from now on (a job reattached after a restart): another member's events
            // about it are dropped.
            lock(&self.jobs).insert(job.id.clone(), i);
            return Ok(Some(i));
        }
        Ok(lock(&self.jobs).get(&job.id).copied())
    }

    /// A job seen finished on member `i`: it no longer counts as load.
    pub(crate) fn finished(&self, i: usize, job: &JobId) {
        lock(&self.members[i].in_flight).remove(job);
    }

    /// Submits `request`: to the pinned member, else along the routing order. While it is being
    /// routed its status reads as pending (a failover takes time; the job is not lost).
    async fn route_submit(&self, request: &JobRequest) -> Result<Submitted> {
        let Some(id) = request.job_id.clone() else { return self.route_submit_inner(request).await };
        lock(&self.submitting).insert(id.clone());
        let sent = self.route_submit_inner(request).await;
        lock(&self.submitting).remove(&id);
        sent
    }

    async fn route_submit_inner(&self, request: &JobRequest) -> Result<Submitted> {
        if let Some(pin) = request.backend.as_deref().filter(|p| !p.trim().is_empty()) {
            let i = self.index_of(pin).ok_or_else(|| self.unknown(pin))?;
            self.members[i].reserved.fetch_add(1, Ordering::SeqCst);
            // Pinned: no failover, but a backend that does not answer is still taken out.
            let sent = self.submit_to(i, request).await;
            if let Err(e) = &sent
                && marks_unhealthy(e)
            {
                self.members[i].set_health(false, Some(e.to_string()));
            }
            return sent;
        }
        let order = self.plan(request, None).await?;
        self.submit_along(&order, request).await
    }

    /// Tries the members of `order` one after the other (the first holds a reservation) until
    /// one accepts `request` or fails for a reason the next one would share.
    async fn submit_along(&self, order: &[usize], request: &JobRequest) -> Result<Submitted> {
        let mut failures = Vec::new();
        for (attempt, &i) in order.iter().enumerate() {
            if attempt > 0 {
                self.members[i].reserved.fetch_add(1, Ordering::SeqCst);
            }
            match self.submit_to(i, request).await {
                Ok(s) => return Ok(s),
                Err(e) if fails_over(&e) => {
                    let member = &self.members[i];
                    tracing::warn!(backend = %member.spec.name, error = %e, "submit failed; trying the next backend");
                    if marks_unhealthy(&e) {
                        member.set_health(false, Some(e.to_string()));
                    }
                    failures.push(format!("{}: {e}", member.spec.name));
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoBackendAvailable {
            message: format!("every backend failed: {}", failures.join("; ")),
            retryable: true,
        })
    }

    /// Sends `request` to member `i`, whose reservation the caller took.
    async fn submit_to(&self, i: usize, request: &JobRequest) -> Result<Submitted> {
        let member = &self.members[i];
        let sent = member.backend().submit(request).await;
        if let Ok(s) = &sent {
            lock(&member.in_flight).insert(s.job_id.clone());
            lock(&self.jobs).insert(s.job_id.clone(), i);
            tracing::info!(backend = %member.spec.name, job = %s.job_id, "routed");
        }
        member.reserved.fetch_sub(1, Ordering::SeqCst);
        sent
    }

    /// The members to try for `request`, best first, with a reservation on the first. When
    /// `resubmitting_from` names the member a job was lost with, that member is left out, and
    /// so is every member that cannot take the job under its id.
    async fn plan(&self, request: &JobRequest, resubmitting_from: Option<usize>) -> Result<Vec<usize>> {
        let probes = self.members.iter().map(|m| probe(m, request));
        let probed: Vec<Probe> = futures::future::join_all(probes).await;
        let _pick = lock(&self.pick);
        let candidates: Vec<route::Candidate> = self
            .members
            .iter()
            .zip(&probed)
            .enumerate()
            .map(|(index, (m, p))| route::Candidate {
                index,
                priority: m.spec.priority,
                weight: m.spec.weight,
                load: m.load(&p.queue),
                healthy: m.healthy.load(Ordering::SeqCst),
                capable: p.lacks.is_none() && resubmitting_from.is_none_or(|lost| index != lost),
            })
            .collect();
        let order = route::rank(&candidates, self.routing.overflow_queue);
        let Some(&first) = order.first() else {
            return Err(self.nothing_fits(&candidates, &probed));
        };
        self.members[first].reserved.fetch_add(1, Ordering::SeqCst);
        Ok(order)
    }

    /// Why no member could take a job.
    fn nothing_fits(&self, candidates: &[route::Candidate], probed: &[Probe]) -> Error {
        let healthy: Vec<usize> = candidates.iter().filter(|c| c.healthy).map(|c| c.index).collect();
        if healthy.is_empty() {
            let names = self.names().join(", ");
            return Error::NoBackendAvailable {
                message: format!(
                    "no backend is healthy now ({names}); they are checked again every {} ms",
                    self.routing.health_interval_ms
                ),
                retryable: true,
            };
        }
        let lacks: Vec<String> = healthy
            .iter()
            .filter_map(|&i| {
                probed[i].lacks.as_ref().map(|l| format!("{} lacks {l}", self.members[i].spec.name))
            })
            .collect();
        Error::NoBackendAvailable {
            message: format!("no healthy backend has what the workflow needs: {}", lacks.join("; ")),
            retryable: false,
        }
    }
}

/// What routing learnt from one member for one submission.
struct Probe {
    /// The jobs of its own queue (running and pending); empty when it cannot say.
    queue: Vec<JobId>,
    /// What it lacks of the workflow's needs (`None`: nothing, or its catalogue is unknown).
    lacks: Option<String>,
}

async fn probe(member: &Member, request: &JobRequest) -> Probe {
    if !member.healthy.load(Ordering::SeqCst) {
        return Probe { queue: Vec::new(), lacks: None };
    }
    let backend = member.backend();
    let (queue, catalog) =
        futures::join!(member.queue_ids(), tokio::time::timeout(PROBE_TIMEOUT, backend.catalog(false)));
    let lacks = match catalog {
        Ok(Ok(catalog)) => needs::missing(&request.workflow, &catalog),
        Ok(Err(e)) => {
            tracing::debug!(backend = %member.spec.name, error = %e, "no catalogue: capability not checked");
            None
        }
        Err(_) => None,
    };
    Probe { queue, lacks }
}

/// Whether a failed submit may go to the next backend (the job was not accepted).
fn fails_over(e: &Error) -> bool {
    e.is_retryable() || matches!(e, Error::Unauthorized { .. } | Error::UnexpectedResponse { .. })
}

/// Whether a failed submit takes the backend out of routing until a health check passes.
fn marks_unhealthy(e: &Error) -> bool {
    matches!(e, Error::BackendUnreachable { .. } | Error::Timeout { .. } | Error::Unauthorized { .. })
        || matches!(e, Error::Http { status, .. } if *status >= 500)
}
