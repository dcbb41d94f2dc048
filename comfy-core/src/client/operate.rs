//! Operating a client behind a load balancer: metrics ([`Comfy::render_metrics`]), per-backend
//! readiness ([`Comfy::readiness`]), draining before a stop ([`Comfy::begin_drain`]) and the
//! audit log of submissions that spend money.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::{ClientInner, Comfy, lock};
use crate::audit::{AuditEntry, AuditLog};
use crate::backend::JobRequest;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::store::{JobRecord, now_millis};

/// How long a scrape waits for a backend's health and queue.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Operational state of a client: the draining switch, the last error of each backend's checks,
/// the metrics and the audit log.
#[derive(Debug, Default)]
pub(crate) struct Ops {
    draining: AtomicBool,
    last_errors: Mutex<HashMap<String, BackendError>>,
    pub(crate) metrics: Metrics,
    pub(crate) audit: Option<AuditLog>,
}

impl Ops {
    pub(crate) fn new(audit: Option<AuditLog>) -> Ops {
        Ops { audit, ..Ops::default() }
    }

    /// Refuses a new submission while draining.
    pub(crate) fn admit(&self) -> Result<()> {
        if self.draining.load(Ordering::SeqCst) { Err(Error::Draining) } else { Ok(()) }
    }
}

/// Whether a client can take work: its backends' reachability, and whether it is draining.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Readiness {
    /// `ready`, `draining` or `backend_unreachable`.
    pub status: &'static str,
    /// Ready to take work: not draining, and at least one backend answered.
    pub ready: bool,
    /// The client takes no new jobs ([`Comfy::begin_drain`]).
    pub draining: bool,
    /// Each backend, checked now.
    pub backends: Vec<BackendReadiness>,
}

/// One backend's readiness.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BackendReadiness {
    /// The backend's name.
    pub name: String,
    /// Its kind (`local`, `comfy-cloud`, `runcomfy`).
    pub kind: &'static str,
    /// It answered its health check just now.
    pub ready: bool,
    /// The version it reports, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The last failed check (kept after it recovered, with its time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<BackendError>,
}

/// A failed backend check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BackendError {
    /// The error's stable code ([`Error::code`]).
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

impl Comfy {
    /// The client's metrics: counted by the client as jobs are submitted and finish; a surface
    /// adds its tool calls and HTTP responses ([`Metrics::tool_call`],
    /// [`Metrics::http_response`]).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.ops.metrics
    }

    /// Refreshes what is read at scrape time (each backend's reachability and queue depth, the
    /// jobs in flight; a backend gets 2 s to answer) and renders every metric in
    /// the OpenMetrics text format ([`crate::metrics::CONTENT_TYPE`]).
    pub async fn render_metrics(&self) -> String {
        let metrics = &self.inner.ops.metrics;
        let scrapes = self.inner.each_backend().into_iter().map(|(name, backend)| async move {
            let in_flight = lock(&self.inner.jobs)
                .values()
                .filter(|j| !j.is_terminal() && lock(&j.record).backend == name)
                .count();
            metrics.set_in_flight(&name, in_flight);
            let (health, queue) = futures::join!(
                tokio::time::timeout(SCRAPE_TIMEOUT, backend.health()),
                tokio::time::timeout(SCRAPE_TIMEOUT, backend.queue())
            );
            let health = flatten(health);
            metrics.set_up(&name, health.is_ok());
            if let Err(e) = &health {
                self.inner.ops.record_error(&name, e);
            }
            match flatten(queue) {
                Ok(q) => metrics.set_queue_depth(&name, q.running.len(), q.pending.len()),
                Err(e) => tracing::debug!(backend = %name, error = %e, "no queue depth for the metrics"),
            }
        });
        futures::future::join_all(scrapes).await;
        metrics.encode()
    }

    /// Checks every backend now (each gets `timeout` to answer its health check). Ready when
    /// the client is not draining and at least one backend answered.
    pub async fn readiness(&self, timeout: Duration) -> Readiness {
        let checks = self.inner.each_backend().into_iter().map(|(name, backend)| async move {
            let health = flatten(tokio::time::timeout(timeout, backend.health()).await);
            if let Err(e) = &health {
                self.inner.ops.record_error(&name, e);
            }
            self.inner.ops.metrics.set_up(&name, health.is_ok());
            BackendReadiness {
                kind: backend.kind().as_str(),
                ready: health.is_ok(),
                version: health.ok().and_then(|h| h.version),
                last_error: lock(&self.inner.ops.last_errors).get(&name).cloned(),
                name,
            }
        });
        let backends = futures::future::join_all(checks).await;
        let draining = self.is_draining();
        let any = backends.iter().any(|b| b.ready);
        let status = match (draining, any) {
            (true, _) => "draining",
            (false, true) => "ready",
            (false, false) => "backend_unreachable",
        };
        Readiness { status, ready: !draining && any, draining, backends }
    }

    /// Starts draining: from now on every new submission (through any handle of this client)
    /// is refused with the retryable [`Error::Draining`], and [`readiness`](Self::readiness)
    /// says `draining`. Jobs already submitted go on and stay recorded; a restarted client (or
    /// another one on the same store) reattaches those still unfinished.
    pub fn begin_drain(&self) {
        if !self.inner.ops.draining.swap(true, Ordering::SeqCst) {
            tracing::info!("draining: no new jobs are taken");
        }
    }

    /// Whether [`begin_drain`](Self::begin_drain) was called.
    pub fn is_draining(&self) -> bool {
        self.inner.ops.draining.load(Ordering::SeqCst)
    }
}

impl Ops {
    fn record_error(&self, backend: &str, e: &Error) {
        let error = BackendError {
            code: e.code().to_owned(),
            message: e.to_string(),
            at: crate::audit::rfc3339(now_millis()),
        };
        lock(&self.last_errors).insert(backend.to_owned(), error);
    }
}

fn flatten<T>(r: std::result::Result<Result<T>, tokio::time::error::Elapsed>) -> Result<T> {
    r.unwrap_or_else(|_| {
        Err(Error::Timeout {
            operation: "the backend's health check".into(),
            after_ms: SCRAPE_TIMEOUT.as_millis() as u64,
        })
    })
}

impl ClientInner {
    /// Writes the audit line of a submission the backend accepted, when it spends money and an
    /// audit log is configured. Never fails the submission: a line that cannot be written is
    /// logged as an error.
    pub(crate) async fn audit_submission(&self, request: &JobRequest, record: &JobRecord) {
        let Some(log) = &self.ops.audit else { return };
        // The member that runs it: its kind says whether the run is paid, its catalogue what
        // partner nodes cost.
        let backend = self.backend_for(&record.backend);
        let kind = backend.kind();
        // Partner nodes are told by the catalogue (cached after the first fetch).
        let (partner_nodes, estimate) = match tokio::time::timeout(
            Duration::from_secs(10),
            backend.catalog(false),
        )
        .await
        {
            Ok(Ok(catalog)) => crate::audit::partner_nodes(&request.workflow, &catalog),
            Ok(Err(e)) => {
                tracing::warn!(job = %record.id, error = %e, "no node catalogue: partner nodes of this job are not audited");
                (Vec::new(), None)
            }
            Err(_) => {
                tracing::warn!(job = %record.id, "the node catalogue did not come in time: partner nodes of this job are not audited");
                (Vec::new(), None)
            }
        };
        let reasons = crate::audit::reasons(kind, &partner_nodes);
        if reasons.is_empty() {
            return;
        }
        let at_ms = now_millis();
        let entry = AuditEntry {
            at: crate::audit::rfc3339(at_ms),
            at_ms,
            reasons,
            owner: request.provenance.owner.clone(),
            backend: record.backend.clone(),
            kind: kind.as_str().to_owned(),
            job_id: record.id.0.clone(),
            request_id: crate::audit::request_id(&record.id.0, record.handle.as_ref()),
            workflow_hash: record.workflow_hash.clone(),
            template: request.provenance.template.clone(),
            partner_nodes,
            estimate,
        };
        if let Err(e) = log.append(&entry).await {
            tracing::error!(job = %record.id, error = %e, "could not write the audit line of a paid submission");
        }
    }
}
