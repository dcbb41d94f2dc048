//! [`Comfy::submit_feedback`], [`Comfy::session_summary`], [`Comfy::report_session_summary`].

use super::{Comfy, lock};
use crate::error::Result;
use crate::feedback::{self, FEEDBACK_FILE, Feedback, FeedbackReceipt, SessionSummary};
use crate::store::now_millis;

impl Comfy {
    /// Counts of this client's activity since it started: jobs submitted, succeeded, failed
    /// and cancelled, error codes seen, uptime. No prompts, paths, ids or text.
    pub fn session_summary(&self) -> SessionSummary {
        self.inner.activity.summary()
    }

    /// Records user feedback (refused without `consent: true`, or when the message holds a
    /// path, URL or e-mail address, or is longer than
    /// [`MAX_FEEDBACK_CHARS`](crate::feedback::MAX_FEEDBACK_CHARS)): appended to the data
    /// directory's `feedback.jsonl` (in memory when there is none) and POSTed to the feedback
    /// URL when one is configured. A failed post keeps the record and answers `posted: false`.
    pub async fn submit_feedback(&self, feedback: Feedback) -> Result<FeedbackReceipt> {
        feedback::check(&feedback)?;
        let record = serde_json::json!({
            "kind": "feedback",
            "at": now_millis(),
            "rating": feedback.rating,
            "category": feedback.category,
            "message": feedback.message,
            "client": concat!("comfy-rs/", env!("CARGO_PKG_VERSION")),
        });
        self.record_feedback(record).await
    }

    /// Records this session's [summary](Self::session_summary) like
    /// [`submit_feedback`](Self::submit_feedback); refused without `consent`.
    pub async fn report_session_summary(&self, consent: bool) -> Result<FeedbackReceipt> {
        feedback::require_consent(consent)?;
        let record = serde_json::json!({
            "kind": "session_summary",
            "at": now_millis(),
            "summary": self.session_summary(),
            "client": concat!("comfy-rs/", env!("CARGO_PKG_VERSION")),
        });
        self.record_feedback(record).await
    }

    async fn record_feedback(&self, record: serde_json::Value) -> Result<FeedbackReceipt> {
        let line = record.to_string();
        let stored = match &self.inner.options.feedback_dir {
            Some(dir) => {
                let dir = dir.clone();
                let file = dir.join(FEEDBACK_FILE);
                let line = line.clone();
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io("creating", &dir, e))?;
                    crate::publish::append_line(&dir.join(FEEDBACK_FILE), &line)
                })
                .await
                .map_err(|e| {
                    crate::Error::io("appending to", file, std::io::Error::other(e.to_string()))
                })??;
                "file"
            }
            None => {
                lock(&self.inner.activity.memory).push(line);
                "memory"
            }
        };
        let (posted, reason) = match &self.inner.options.feedback_url {
            None => (false, Some("no feedback URL is configured".to_owned())),
            Some(url) => match feedback::post(url, &record).await {
                Ok(()) => (true, None),
                Err(reason) => {
                    tracing::warn!(reason = %reason, "could not post feedback; it is kept locally");
                    (false, Some(reason))
                }
            },
        };
        tracing::debug!(stored, posted, "feedback recorded");
        Ok(FeedbackReceipt { stored: stored.to_owned(), posted, reason, record })
    }

    /// Feedback records kept in memory (a client without a data directory), oldest first.
    pub fn feedback_in_memory(&self) -> Vec<String> {
        lock(&self.inner.activity.memory).clone()
    }
}
