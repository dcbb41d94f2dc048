//! Feedback and session summaries: consent-gated, free of prompts, paths and personal data.
//!
//! [`Comfy::submit_feedback`](crate::Comfy::submit_feedback) and
//! [`Comfy::report_session_summary`](crate::Comfy::report_session_summary) refuse without
//! `consent: true`, store each record as one JSON line in `feedback.jsonl` in the client's
//! data directory (in memory when it has none) and, when a feedback URL is configured, POST
//! the same JSON there — without any backend credential. A failed post never loses the record.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file feedback records are appended to, in the data directory.
pub const FEEDBACK_FILE: &str = "feedback.jsonl";

/// Longest accepted feedback message, in characters.
pub const MAX_FEEDBACK_CHARS: usize = 2000;

/// How long a POST to the feedback URL may take.
pub const FEEDBACK_POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Feedback from a user, sent only with their consent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// true: the user agreed to send it.
    #[serde(default)]
    pub consent: bool,
    /// 1 (bad) to 5 (great).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// e.g. `bug`, `idea`, `praise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// At most 2,000 characters.
    pub message: String,
}

/// Counts of this client's in-process activity: no prompts, paths, ids or text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SessionSummary {
    /// Seconds since the client started.
    pub uptime_secs: u64,
    /// Jobs submitted through this client.
    pub jobs_submitted: u64,
    /// Of those (and reattached ones), jobs that finished successfully.
    pub jobs_succeeded: u64,
    /// Jobs that failed.
    pub jobs_failed: u64,
    /// Jobs cancelled.
    pub jobs_cancelled: u64,
    /// Error codes seen (refused submissions, failed jobs), with counts.
    pub error_codes: BTreeMap<String, u64>,
}

/// What happened to a feedback record or session summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FeedbackReceipt {
    /// Where it was stored: `file` (the data directory's `feedback.jsonl`) or `memory`
    /// (the client has no data directory: kept only while it runs).
    pub stored: String,
    /// Whether it was posted to the configured feedback URL.
    pub posted: bool,
    /// Why it was not posted (no URL configured, or the post failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The record as stored and posted.
    pub record: serde_json::Value,
}

/// Cheap counters, bumped where jobs are submitted and finish.
#[derive(Debug)]
pub(crate) struct Activity {
    started: Instant,
    pub(crate) submitted: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    codes: Mutex<BTreeMap<String, u64>>,
    /// Records kept when there is no data directory.
    pub(crate) memory: Mutex<Vec<String>>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            started: Instant::now(),
            submitted: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            codes: Mutex::new(BTreeMap::new()),
            memory: Mutex::new(Vec::new()),
        }
    }
}

impl Activity {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, code: &str) {
        *self.codes.lock().unwrap_or_else(|e| e.into_inner()).entry(code.to_owned()).or_insert(0) += 1;
    }

    pub(crate) fn summary(&self) -> SessionSummary {
        SessionSummary {
            uptime_secs: self.started.elapsed().as_secs(),
            jobs_submitted: self.submitted.load(Ordering::Relaxed),
            jobs_succeeded: self.succeeded.load(Ordering::Relaxed),
            jobs_failed: self.failed.load(Ordering::Relaxed),
            jobs_cancelled: self.cancelled.load(Ordering::Relaxed),
            error_codes: self.codes.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

pub(crate) fn require_consent(consent: bool) -> Result<()> {
    if consent {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            argument: "consent".into(),
            message: "nothing is sent without the user's consent: ask them, then pass consent: true".into(),
        })
    }
}

fn invalid(argument: &str, message: impl Into<String>) -> Error {
    Error::InvalidArgument { argument: argument.into(), message: message.into() }
}

/// Checks a feedback record: consent, rating range, category shape, and a message free of
/// paths, URLs and e-mail addresses.
pub(crate) fn check(feedback: &Feedback) -> Result<()> {
    require_consent(feedback.consent)?;
    if let Some(r) = feedback.rating
        && !(1..=5).contains(&r)
    {
        return Err(invalid("rating", format!("{r} is out of range: give 1 to 5")));
    }
    if let Some(c) = &feedback.category
        && (c.is_empty()
            || c.len() > 32
            || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    {
        return Err(invalid(
            "category",
            "use a short word such as bug, idea or praise (letters, digits, - and _)",
        ));
    }
    check_message(&feedback.message)
}

fn check_message(message: &str) -> Result<()> {
    let chars = message.chars().count();
    if message.trim().is_empty() {
        return Err(invalid("message", "is empty"));
    }
    if chars > MAX_FEEDBACK_CHARS {
        return Err(invalid("message", format!("has {chars} characters; at most {MAX_FEEDBACK_CHARS}")));
    }
    let what = if contains_url(message) {
        Some("a URL")
    } else if contains_email(message) {
        Some("an e-mail address")
    } else if contains_path(message) {
        Some("a file path")
    } else {
        None
    };
    match what {
        Some(what) => Err(invalid(
            "message",
            format!("contains {what}; feedback carries no paths, URLs or personal data: remove it and retry"),
        )),
        None => Ok(()),
    }
}

fn contains_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.contains("://") || lower.contains("www.")
}

fn contains_email(s: &str) -> bool {
    s.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | '"' | '\'')).any(
        |w| match w.split_once('@') {
            Some((user, host)) => !user.is_empty() && host.trim_end_matches(['.', '!', '?']).contains('.'),
            None => false,
        },
    )
}

fn contains_path(s: &str) -> bool {
    let bytes = s.as_bytes();
    // Windows drive paths: `C:\` or `C:/`.
    let drive = bytes
        .windows(3)
        .any(|w| w[0].is_ascii_alphabetic() && w[1] == b':' && (w[2] == b'\\' || w[2] == b'/'));
    // UNC paths and home-relative paths.
    let unc = s.contains("\\\\") || s.contains("~/");
    // Absolute Unix paths with at least two components: `/a/b`.
    let unix = s.split_whitespace().any(|w| {
        let w = w.trim_start_matches(['(', '"', '\'', '`']);
        w.starts_with('/') && w[1..].split('/').filter(|p| !p.is_empty()).count() >= 2
    });
    drive || unc || unix
}

/// POSTs `record` to `url` with a timeout and no credentials.
pub(crate) async fn post(url: &str, record: &serde_json::Value) -> std::result::Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(FEEDBACK_POST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("could not build an HTTP client: {e}"))?;
    match client.post(url).json(record).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("the feedback URL answered HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => {
            Err(format!("the feedback URL did not answer within {}s", FEEDBACK_POST_TIMEOUT.as_secs()))
        }
        Err(e) => Err(format!("could not reach the feedback URL: {}", e.without_url())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(message: &str) -> Feedback {
        Feedback { consent: true, message: message.into(), ..Default::default() }
    }

    #[test]
    fn consent_is_required() {
        let e = check(&Feedback { message: "nice".into(), ..Default::default() }).unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        assert!(e.to_string().contains("consent"), "{e}");
        assert!(check(&fb("the sampler list is great")).is_ok());
    }

    #[test]
    fn messages_with_paths_urls_or_emails_are_refused() {
        for bad in [
            "it failed on /home/me/models/x.safetensors",
            "see C:\\Users\\me",
            "see https://example.com",
            "mail me at a.b@example.org",
            "open ~/secret",
        ] {
            let e = check(&fb(bad)).unwrap_err();
            assert!(e.to_string().contains("message"), "{bad}: {e}");
        }
        for ok in ["works well and/or fast", "a 1/2 speed", "use @ mentions", "ratio 16:9"] {
            assert!(check(&fb(ok)).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_FEEDBACK_CHARS + 1);
        assert!(check(&fb(&long)).unwrap_err().to_string().contains("at most"));
        assert!(check(&Feedback { rating: Some(6), ..fb("x") }).is_err());
        assert!(check(&Feedback { category: Some("a b".into()), ..fb("x") }).is_err());
    }
}
