//! The Cloud queue and cancelling one job.
//!
//! `GET /api/queue` items are `[number (1-based), prompt_id, workflow, output_node_ids,
//! {"create_time": ms}]` on Cloud — not local ComfyUI's `[number, prompt_id, prompt,
//! extra_data, outputs_to_execute]`. Both shapes are read. Cancel prefers the per-job
//! `POST /api/jobs/{id}/cancel`; without it a pending job is deleted from the queue, and a
//! running one is stopped by the account-wide `/api/interrupt` only when that was allowed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::ComfyCloud;
use crate::backend::http::Retry;
use crate::backend::local::urlencode;
use crate::backend::{CancelOutcome, QueueEntry, QueueSnapshot};
use crate::error::{Error, Result};
use crate::job::{JobId, JobStatus};

/// Parses a queue answer in either tuple order; `ours` says which ids this backend submitted.
pub(crate) fn parse_queue(
    v: &Value,
    ours: impl Fn(&str) -> bool,
) -> std::result::Result<QueueSnapshot, String> {
    let entries = |key: &str| -> std::result::Result<Vec<(QueueEntry, f64)>, String> {
        let Some(items) = v.get(key) else { return Ok(Vec::new()) };
        let items = items.as_array().ok_or_else(|| format!("{key} is not a list"))?;
        items
            .iter()
            .map(|item| {
                let number = item
                    .get(0)
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("{key} item without a number"))?;
                let id = item
                    .get(1)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{key} item without a prompt id"))?;
                // Cloud: the 5th element is {"create_time": ms}; local: extra_data is the 4th.
                let created = item
                    .get(4)
                    .and_then(|m| m.get("create_time"))
                    .and_then(super::status::millis)
                    .map_or(number, |t| t as f64);
                let entry = QueueEntry { job_id: JobId(id.to_owned()), number, ours: ours(id) };
                Ok((entry, created))
            })
            .collect()
    };
    let running = entries("queue_running")?.into_iter().map(|(e, _)| e).collect();
    let mut pending = entries("queue_pending")?;
    // Oldest first (Cloud schedules per user fairly and ignores `number`/`front`).
    pending.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.number.total_cmp(&b.0.number)));
    Ok(QueueSnapshot { running, pending: pending.into_iter().map(|(e, _)| e).collect() })
}

impl ComfyCloud {
    pub(super) async fn read_queue(&self) -> Result<QueueSnapshot> {
        let v = self.http().get_json("/api/queue").await?;
        parse_queue(&v, |id| self.is_known(id)).map_err(|message| Error::UnexpectedResponse {
            backend: self.inner.config.name.clone(),
            operation: "GET /api/queue".into(),
            message,
        })
    }

    /// Cancels one job; see the module documentation.
    pub(super) async fn cancel_job(&self, job: &JobId) -> Result<CancelOutcome> {
        let before = self.status_by_id(job).await?.status;
        if before.is_terminal() {
            return Ok(CancelOutcome::AlreadyFinished);
        }
        let was_waiting = matches!(before, JobStatus::Queued { .. } | JobStatus::Pending);
        let path = format!("/api/jobs/{}/cancel", urlencode(job.as_str()));
        let missing = [StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED];
        let (_, resp) =
            self.http().request(Method::POST, &path, Retry::ConnectOnly, &missing, Some(b"{}")).await?;
        if resp.status().is_success() {
            return self.after_cancel(job, was_waiting).await;
        }
        // No per-job cancel route here: the queue delete for a pending job...
        tracing::debug!(job = %job, status = %resp.status(), "no per-job cancel route; falling back");
        if was_waiting {
            let answer = self
                .http()
                .post_json("/api/queue", &json!({"delete": [job.as_str()]}), Retry::ConnectOnly)
                .await?;
            let deleted = answer
                .get("deleted")
                .and_then(Value::as_array)
                .is_none_or(|d| d.iter().any(|x| x.as_str() == Some(job.as_str())));
            if deleted {
                return Ok(CancelOutcome::RemovedFromQueue);
            }
            // It started in between: stop it as a running job below.
        }
        // ...and for a running one, only the account-wide interrupt, and only when allowed.
        if !self.inner.config.allow_account_interrupt {
            return Ok(CancelOutcome::NotCancellable);
        }
        self.http().post_json("/api/interrupt", &json!({}), Retry::ConnectOnly).await?;
        Ok(CancelOutcome::InterruptRequested)
    }

    /// What a successful cancel call did, from the job's status right after it.
    async fn after_cancel(&self, job: &JobId, was_waiting: bool) -> Result<CancelOutcome> {
        Ok(match self.status_by_id(job).await.map(|r| r.status) {
            Ok(JobStatus::Cancelled) if was_waiting => CancelOutcome::RemovedFromQueue,
            Ok(JobStatus::Cancelled) => CancelOutcome::Interrupted,
            Ok(s) if s.is_terminal() => CancelOutcome::AlreadyFinished,
            _ => CancelOutcome::CancelRequested,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tuple_orders_are_read_and_pending_is_oldest_first() {
        let cloud = json!({
            "queue_running": [[1, "r", {"1": {}}, ["9"], {"create_time": 1_000}]],
            "queue_pending": [[3, "late", {}, ["9"], {"create_time": 3_000}], [2, "early", {}, ["9"], {"create_time": 2_000}]]
        });
        let q = parse_queue(&cloud, |id| id == "late").unwrap();
        assert_eq!(q.running[0].job_id.as_str(), "r");
        let ids: Vec<&str> = q.pending.iter().map(|e| e.job_id.as_str()).collect();
        assert_eq!(ids, ["early", "late"]);
        assert!(q.pending[1].ours && !q.pending[0].ours);
        let local = json!({"queue_running": [], "queue_pending": [[5, "b", {}, {"client_id": "x"}, []], [4, "a", {}, {}, []]]});
        let q = parse_queue(&local, |_| false).unwrap();
        assert_eq!(q.pending[0].job_id.as_str(), "a");
        assert!(parse_queue(&json!({"queue_pending": {}}), |_| false).is_err());
        assert!(parse_queue(&json!({"queue_pending": [[1]]}), |_| false).is_err());
    }
}
