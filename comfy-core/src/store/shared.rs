//! [`SharedState`]: what several servers on one store agree on beyond the records themselves.
//!
//! A store that several processes use at once ([`PostgresStore`](super::PostgresStore)) offers
//! it through [`Store::shared`](super::Store::shared); an embedded store (SQLite, memory) has one
//! process and answers `None`, and the client keeps the same state in its own memory.
//!
//! - **Leases**: which server follows an unfinished job or pumps a batch. Each server says it is
//!   alive ([`heartbeat`](SharedState::heartbeat)); the subjects of a server that stopped saying
//!   so are taken over by another ([`take_orphans`](SharedState::take_orphans)), so a server
//!   killed mid-job loses nothing: another one follows the job to its end and records it.
//! - **Claims**: in-flight dedup across servers (an identical submission attaches to the job one
//!   server is already running instead of running again).
//! - **Rate budgets**: per-token request budgets counted once for all servers.
//! - **Defaults**: the runtime layer of template parameter defaults (set through any server,
//!   used by all).
//! - **Signals**: job events and configuration changes passed between servers (PostgreSQL
//!   `LISTEN`/`NOTIFY`), so a job submitted through one server shows live progress through
//!   another.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::Result;
use crate::job::JobId;

/// A server silent for this long is taken for dead and its subjects are taken over (the
/// default of `ClientOptions::dead_server_after`; servers say they are alive 4× as often).
pub const DEAD_AFTER: Duration = Duration::from_secs(20);
/// An unsettled claim (its claimant is still submitting) older than this is given up.
pub const CLAIM_TTL: Duration = Duration::from_secs(120);

/// A subject of a lease: an unfinished job this server follows, or a batch it submits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A job (by id).
    Job(JobId),
    /// A batch (by id).
    Batch(String),
}

impl Subject {
    /// The key stored for it (`job:<id>`, `batch:<id>`).
    pub fn key(&self) -> String {
        match self {
            Subject::Job(id) => format!("job:{}", id.0),
            Subject::Batch(id) => format!("batch:{id}"),
        }
    }

    /// The subject a stored key names (`None` for a key of another kind).
    pub fn from_key(key: &str) -> Option<Subject> {
        if let Some(id) = key.strip_prefix("job:") {
            return Some(Subject::Job(JobId(id.to_owned())));
        }
        key.strip_prefix("batch:").map(|id| Subject::Batch(id.to_owned()))
    }
}

/// What [`SharedState::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedClaim {
    /// The claim is this server's: submit, then [`settle_claim`](SharedState::settle_claim).
    Mine,
    /// Another claimant holds it; its job once settled (`None` while it is still submitting).
    Held(Option<JobId>),
}

/// A message passed between the servers of one store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// The server that sent it (a server ignores its own).
    pub from: String,
    /// What it says.
    #[serde(flatten)]
    pub body: SignalBody,
}

/// The content of a [`Signal`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum SignalBody {
    /// A live event of a job the sender follows (its backend's own event, relayed).
    Job {
        /// The job.
        job_id: JobId,
        /// The event (`serde` form of [`JobEvent`](crate::backend::JobEvent); previews and
        /// progress text are not relayed).
        event: crate::backend::JobEvent,
    },
    /// A server recorded the job as finished (by its events, a cancel, a reconciliation): a
    /// server holding it unfinished reads the record and finishes it too.
    Finished {
        /// The job.
        job_id: JobId,
    },
    /// Template parameter defaults of the runtime layer changed: read them again.
    DefaultsChanged,
}

/// State shared by every server of one store (see the module documentation).
///
/// Every call is bounded in time and fails with a retryable [`Error::Store`](crate::Error::Store)
/// when the database cannot be reached; callers treat it as advisory where they can (a lease or
/// a signal that could not be written is retried, never fatal to a job).
#[async_trait]
pub trait SharedState: Send + Sync + std::fmt::Debug {
    /// This server's id (unique per process).
    fn server_id(&self) -> &str;

    /// Says this server is alive now.
    async fn heartbeat(&self) -> Result<()>;

    /// Says this server is gone (a graceful stop): its subjects can be taken at once.
    async fn retire(&self) -> Result<()>;

    /// Takes each subject that no live server (one heard from within `dead_after`) holds, or
    /// that this server holds already; returns those now this server's.
    async fn take(&self, subjects: &[Subject], dead_after: Duration) -> Result<Vec<Subject>>;

    /// Takes every subject held by a server silent for longer than `dead_after` (or retired).
    async fn take_orphans(&self, dead_after: Duration) -> Result<Vec<Subject>>;

    /// Lets a subject go (the job finished, the batch is fully submitted).
    async fn release(&self, subject: &Subject) -> Result<()>;

    /// Claims the work of an identity `key` (see [`SharedClaim`]). Taken over: a claim whose
    /// job's record is finished, and one older than `ttl` or of a server not heard from within
    /// `dead_after` that is unsettled or whose job was never recorded (its server died before
    /// the backend could see the job).
    async fn claim(&self, key: &str, ttl: Duration, dead_after: Duration) -> Result<SharedClaim>;

    /// The claim of `key` (this server's) is the job `job`.
    async fn settle_claim(&self, key: &str, job: &JobId) -> Result<()>;

    /// Removes the claim of `key` if it is unsettled or settled on `job` (its job is over, or
    /// its submission failed).
    async fn drop_claim(&self, key: &str, job: Option<&JobId>) -> Result<()>;

    /// Removes every claim settled on `job` (it finished).
    async fn release_claims_of(&self, job: &JobId) -> Result<()>;

    /// Takes one request from the budget of `key` (`per_minute` requests a minute, bursts up to
    /// that many); false when the budget is spent. Counted once for every server.
    async fn take_token(&self, key: &str, per_minute: u32) -> Result<bool>;

    /// Sets template parameter defaults of the runtime layer for every server (`null` removes
    /// a name); other names are left as they are.
    async fn set_param_defaults(&self, values: &serde_json::Map<String, serde_json::Value>) -> Result<()>;

    /// The runtime layer of template parameter defaults every server shares.
    async fn param_defaults(&self) -> Result<serde_json::Map<String, serde_json::Value>>;

    /// Sends a signal to every server of this store (this one included).
    async fn publish(&self, body: &SignalBody) -> Result<()>;

    /// Sends several signals, in order (a store packs them into as few messages as it can).
    async fn publish_many(&self, bodies: &[SignalBody]) -> Result<()> {
        for body in bodies {
            self.publish(body).await?;
        }
        Ok(())
    }

    /// Signals from every server (this one's included), from now on. A receiver that falls
    /// behind misses signals (`Lagged`); job state is reconciled from the backend anyway.
    fn subscribe(&self) -> broadcast::Receiver<Signal>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_through_their_keys() {
        for s in [Subject::Job(JobId::from("a:b")), Subject::Batch("b1".into())] {
            assert_eq!(Subject::from_key(&s.key()), Some(s));
        }
        assert_eq!(Subject::from_key("other:1"), None);
    }

    #[test]
    fn signals_have_a_stable_wire_form() {
        let s = Signal {
            from: "srv".into(),
            body: SignalBody::Job { job_id: JobId::from("j"), event: crate::backend::JobEvent::Started },
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, r#"{"from":"srv","signal":"job","job_id":"j","event":{"type":"started"}}"#);
        assert_eq!(serde_json::from_str::<Signal>(&text).unwrap(), s);
    }
}
