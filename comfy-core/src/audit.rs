//! The append-only audit log of submissions that spend money: every job a hosted backend
//! (Comfy Cloud, RunComfy) accepted, and every job with partner (paid API) nodes on any backend.
//!
//! One JSON object per line ([`AuditEntry`]): when, for whom, on which backend, the job and
//! request ids, the workflow's canonical hash, the partner nodes and their priced estimate when
//! the catalogue prices them. Never a credential, the prompt text or any other input value.
//! The file is opened once, for appending only (`O_APPEND`), created with mode `0600` on Unix;
//! each line is one `write`, so lines of several processes sharing the file do not interleave.
//! The client writes a line after the backend accepted the job (see
//! [`ClientOptions::audit_log`](crate::ClientOptions::audit_log)); a line that cannot be written
//! is logged as an error and does not undo the submission.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::BackendKind;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::partner::{Price, price_of};
use crate::workflow::Workflow;

/// Why a submission is in the audit log.
pub const REASON_HOSTED: &str = "hosted_backend";
/// Why a submission is in the audit log: it runs partner (paid API) nodes.
pub const REASON_PARTNER: &str = "partner_nodes";

/// One audited submission (one line of the log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the backend accepted it (RFC 3339, UTC).
    pub at: String,
    /// The same, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Why it spends money: [`REASON_HOSTED`] and/or [`REASON_PARTNER`].
    pub reasons: Vec<String>,
    /// Who submitted it (the caller's owner name; `None`: the single local user).
    pub owner: Option<String>,
    /// The backend's name.
    pub backend: String,
    /// The backend's kind (`local`, `comfy-cloud`, `runcomfy`).
    pub kind: String,
    /// The job id.
    pub job_id: String,
    /// The backend's own id of the request when it has one apart from the job id (RunComfy's
    /// request id); otherwise the job id, which is the backend's prompt id.
    pub request_id: String,
    /// The canonical hash of the submitted graph.
    pub workflow_hash: String,
    /// The template it was rendered from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Partner node classes in the graph (one entry per node).
    #[serde(default)]
    pub partner_nodes: Vec<String>,
    /// The summed price estimate of those nodes (from the catalogue's price badges), when
    /// every one of them is priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

/// A price estimate in US dollars and Comfy credits (a range when a badge gives one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Lowest, in US dollars.
    pub min_usd: f64,
    /// Highest, in US dollars.
    pub max_usd: f64,
    /// Lowest, in credits.
    pub min_credits: f64,
    /// Highest, in credits.
    pub max_credits: f64,
}

/// The partner nodes of `workflow` (per the catalogue) and their summed estimate, `None` when
/// one of them is not priced.
pub fn partner_nodes(workflow: &Workflow, catalog: &Catalog) -> (Vec<String>, Option<Estimate>) {
    let mut classes = Vec::new();
    let mut sum = Some(Estimate { min_usd: 0.0, max_usd: 0.0, min_credits: 0.0, max_credits: 0.0 });
    for (_, node) in workflow.nodes() {
        let Some(def) = catalog.node(&node.class_type).filter(|d| d.api_node) else { continue };
        classes.push(node.class_type.clone());
        let inputs: serde_json::Map<String, Value> = node
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
            .collect();
        sum = match (sum, price_of(def, &inputs)) {
            (Some(s), Price::Known { min_usd, max_usd, min_credits, max_credits }) => Some(Estimate {
                min_usd: s.min_usd + min_usd,
                max_usd: s.max_usd + max_usd,
                min_credits: s.min_credits + min_credits,
                max_credits: s.max_credits + max_credits,
            }),
            _ => None,
        };
    }
    let estimate = if classes.is_empty() { None } else { sum.map(round) };
    (classes, estimate)
}

fn round(e: Estimate) -> Estimate {
    let r = |v: f64| (v * 10_000.0).round() / 10_000.0;
    Estimate {
        min_usd: r(e.min_usd),
        max_usd: r(e.max_usd),
        min_credits: r(e.min_credits),
        max_credits: r(e.max_credits),
    }
}

/// Why a submission on a backend of `kind` with these partner nodes spends money (empty: it
/// does not).
pub fn reasons(kind: BackendKind, partner_nodes: &[String]) -> Vec<String> {
    let mut reasons = Vec::new();
    if kind.is_hosted() {
        reasons.push(REASON_HOSTED.to_owned());
    }
    if !partner_nodes.is_empty() {
        reasons.push(REASON_PARTNER.to_owned());
    }
    reasons
}

/// The request id an audit line names: RunComfy's `request_id` in the job's handle, else the
/// job id.
pub(crate) fn request_id(job_id: &str, handle: Option<&Value>) -> String {
    handle
        .and_then(|h| h.get("request_id"))
        .and_then(Value::as_str)
        .map_or_else(|| job_id.to_owned(), str::to_owned)
}

/// `2026-12-03T19:04:14.123Z`.
pub(crate) fn rfc3339(ms: i64) -> String {
    let c = crate::ui::text::Clock::from_unix(ms.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        ms.rem_euclid(1000)
    )
}

/// The open audit log file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    file: Arc<Mutex<std::fs::File>>,
}

impl AuditLog {
    /// Opens (creating) `path` for appending only. Fails, naming the path, when it cannot be
    /// opened: a server configured to audit does not start without its log.
    pub fn open(path: &Path) -> Result<AuditLog> {
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(|e| Error::io("opening the audit log", path, e))?;
        Ok(AuditLog { path: path.to_owned(), file: Arc::new(Mutex::new(file)) })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (one `write` of the whole line), off the async runtime.
    pub async fn append(&self, entry: &AuditEntry) -> Result<()> {
        let mut line = serde_json::to_vec(entry)
            .map_err(|e| Error::io("encoding an audit line for", &self.path, std::io::Error::other(e)))?;
        line.push(b'\n');
        let file = self.file.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            f.write_all(&line).map_err(|e| Error::io("appending to", &path, e))
        })
        .await
        .map_err(|e| Error::io("appending to", &self.path, std::io::Error::other(e.to_string())))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(job: &str) -> AuditEntry {
        AuditEntry {
            at: rfc3339(1_793_880_000_123),
            at_ms: 1_793_880_000_123,
            reasons: vec![REASON_HOSTED.into()],
            owner: Some("alice".into()),
            backend: "cloud:https://cloud.example".into(),
            kind: "comfy-cloud".into(),
            job_id: job.into(),
            request_id: job.into(),
            workflow_hash: "abc".into(),
            template: None,
            partner_nodes: vec![],
            estimate: None,
        }
    }

    #[tokio::test]
    async fn lines_are_appended_never_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let log = AuditLog::open(&path).unwrap();
        log.append(&entry("j1")).await.unwrap();
        let again = AuditLog::open(&path).unwrap();
        again.append(&entry("j2")).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "{\"earlier\":true}");
        let second: AuditEntry = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(second.job_id, "j2");
        assert_eq!(second.at, "2026-11-05T12:00:00.123Z");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let fresh = dir.path().join("new.jsonl");
            AuditLog::open(&fresh).unwrap();
            assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn an_unopenable_log_names_its_path() {
        let e = AuditLog::open(Path::new("/nonexistent-dir/audit.jsonl")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/audit.jsonl"), "{e}");
    }

    #[test]
    fn reasons_and_request_ids() {
        assert_eq!(reasons(BackendKind::Local, &[]), Vec::<String>::new());
        assert_eq!(reasons(BackendKind::RunComfy, &[]), vec![REASON_HOSTED]);
        assert_eq!(reasons(BackendKind::Local, &["FluxProNode".into()]), vec![REASON_PARTNER]);
        let handle = serde_json::json!({"deployment_id": "d", "request_id": "r-1"});
        assert_eq!(request_id("j", Some(&handle)), "r-1");
        assert_eq!(request_id("j", None), "j");
    }
}
