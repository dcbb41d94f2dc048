//! Environment fallbacks of a [`ClientConfig`], written once for the Python and Node bindings:
//! a setting the caller left unset is read from the environment variable comfy-mcp's flag of
//! the same meaning reads (`COMFY_CLOUD_API_KEY`, `RUNCOMFY_API_TOKEN`, ...). An explicit value,
//! even an empty string, always wins; an empty variable counts as unset.
//!
//! ```
//! use comfy_core::connect::{BackendConfig, BackendKind, ClientConfig, ExplicitFlags};
//!
//! let env = |name: &str| (name == "COMFY_CLOUD_API_KEY").then(|| "comfyui-…".to_owned());
//! let config = ClientConfig::new(BackendConfig { kind: BackendKind::ComfyCloud, ..Default::default() })
//!     .fill_from(ExplicitFlags::default(), env)?;
//! assert_eq!(config.backend.api_key.as_deref(), Some("comfyui-…"));
//! # Ok::<(), comfy_core::Error>(())
//! ```

use super::{BackendKind, ClientConfig};
use crate::error::{Error, Result};

/// The environment variables [`ClientConfig::fill_from_env`] reads (the names comfy-mcp's
/// flags read too).
pub mod vars {
    /// Comfy Cloud base URL (`backend = comfy-cloud`).
    pub const COMFY_CLOUD_URL: &str = "COMFY_CLOUD_URL";
    /// Comfy Cloud API key.
    pub const COMFY_CLOUD_API_KEY: &str = "COMFY_CLOUD_API_KEY";
    /// RunComfy API base URL (`backend = runcomfy`).
    pub const RUNCOMFY_API_URL: &str = "RUNCOMFY_API_URL";
    /// RunComfy API token.
    pub const RUNCOMFY_API_TOKEN: &str = "RUNCOMFY_API_TOKEN";
    /// The RunComfy deployment workflows run on.
    pub const RUNCOMFY_DEPLOYMENT_ID: &str = "RUNCOMFY_DEPLOYMENT_ID";
    /// RunComfy queue path version (`v1`, `v2`).
    pub const RUNCOMFY_QUEUE_VERSION: &str = "RUNCOMFY_QUEUE_VERSION";
    /// Comfy API key for partner (paid API) nodes.
    pub const COMFY_API_KEY: &str = "COMFY_API_KEY";
    /// Let hosted output URLs reach loopback/private addresses (`1`, `true`, `yes`, `on`).
    pub const COMFY_ALLOW_PRIVATE_URLS: &str = "COMFY_ALLOW_PRIVATE_URLS";
    /// Where feedback and session summaries are also POSTed.
    pub const COMFY_FEEDBACK_URL: &str = "COMFY_FEEDBACK_URL";
    /// Let partner runs spend credits without a per-call `max_credits` (`1`, `true`, `yes`, `on`).
    pub const COMFY_ALLOW_PARTNER_SPEND: &str = "COMFY_ALLOW_PARTNER_SPEND";
}

/// The caller's yes/no choices, which a `bool` field cannot mark as unset: `None` means "not
/// chosen", and [`ClientConfig::fill_from_env`] reads the environment variable instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExplicitFlags {
    /// [`BackendConfig::allow_private_urls`](super::BackendConfig::allow_private_urls); else
    /// `COMFY_ALLOW_PRIVATE_URLS`.
    pub allow_private_urls: Option<bool>,
    /// [`ClientOptions::allow_partner_spend`](crate::ClientOptions::allow_partner_spend); else
    /// `COMFY_ALLOW_PARTNER_SPEND`.
    pub allow_partner_spend: Option<bool>,
}

/// Whether a flag variable's value means "on" (`1`, `true`, `yes`, `on`, any case).
fn truthy(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

impl ClientConfig {
    /// Fills every setting the caller left unset from the process environment (see
    /// [`fill_from`](Self::fill_from) for which ones).
    pub fn fill_from_env(self, flags: ExplicitFlags) -> Result<Self> {
        self.fill_from(flags, |name| std::env::var(name).ok())
    }

    /// Fills every setting left unset (`None`) from `lookup` (an environment: name → value;
    /// empty values count as unset):
    ///
    /// - the backend URL from `COMFY_CLOUD_URL` or `RUNCOMFY_API_URL` by kind (a local
    ///   ComfyUI's URL is always the caller's);
    /// - `api_key` from `COMFY_CLOUD_API_KEY`, `token` from `RUNCOMFY_API_TOKEN`,
    ///   `deployment` from `RUNCOMFY_DEPLOYMENT_ID`, `queue_version` from
    ///   `RUNCOMFY_QUEUE_VERSION`, `comfy_api_key` from `COMFY_API_KEY`;
    /// - `allow_private_urls` and `allow_partner_spend` from `flags`, else
    ///   `COMFY_ALLOW_PRIVATE_URLS` / `COMFY_ALLOW_PARTNER_SPEND` (`1`, `true`, `yes`, `on`);
    /// - `feedback_url` from `COMFY_FEEDBACK_URL`.
    ///
    /// A `RUNCOMFY_QUEUE_VERSION` that is not a version is an error naming the variable.
    pub fn fill_from(
        mut self,
        flags: ExplicitFlags,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let fill = |slot: &mut Option<String>, name: &str| {
            if slot.is_none() {
                *slot = get(name);
            }
        };
        let b = &mut self.backend;
        match b.kind {
            BackendKind::Local => {}
            BackendKind::ComfyCloud => fill(&mut b.url, vars::COMFY_CLOUD_URL),
            BackendKind::RunComfy => fill(&mut b.url, vars::RUNCOMFY_API_URL),
        }
        fill(&mut b.api_key, vars::COMFY_CLOUD_API_KEY);
        fill(&mut b.token, vars::RUNCOMFY_API_TOKEN);
        fill(&mut b.deployment, vars::RUNCOMFY_DEPLOYMENT_ID);
        fill(&mut b.comfy_api_key, vars::COMFY_API_KEY);
        if b.queue_version.is_none()
            && let Some(v) = get(vars::RUNCOMFY_QUEUE_VERSION)
        {
            b.queue_version = Some(v.parse().map_err(|e: Error| Error::InvalidArgument {
                argument: vars::RUNCOMFY_QUEUE_VERSION.into(),
                message: match e {
                    Error::InvalidArgument { message, .. } => message,
                    other => other.to_string(),
                },
            })?);
        }
        let flag = |explicit: Option<bool>, name: &str| {
            explicit.unwrap_or_else(|| get(name).is_some_and(|v| truthy(&v)))
        };
        b.allow_private_urls = flag(flags.allow_private_urls, vars::COMFY_ALLOW_PRIVATE_URLS);
        let o = &mut self.options;
        fill(&mut o.feedback_url, vars::COMFY_FEEDBACK_URL);
        o.allow_partner_spend = flag(flags.allow_partner_spend, vars::COMFY_ALLOW_PARTNER_SPEND);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::backend::runcomfy::QueueVersion;
    use crate::connect::BackendConfig;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    fn kind(kind: BackendKind) -> ClientConfig {
        ClientConfig::new(BackendConfig { kind, ..Default::default() })
    }

    const EVERYTHING: &[(&str, &str)] = &[
        ("COMFY_CLOUD_URL", "https://cloud.example"),
        ("COMFY_CLOUD_API_KEY", "cloud-key"),
        ("RUNCOMFY_API_URL", "https://rc.example"),
        ("RUNCOMFY_API_TOKEN", "rc-token"),
        ("RUNCOMFY_DEPLOYMENT_ID", "dep-1"),
        ("RUNCOMFY_QUEUE_VERSION", "v2"),
        ("COMFY_API_KEY", "partner-key"),
        ("COMFY_ALLOW_PRIVATE_URLS", "yes"),
        ("COMFY_FEEDBACK_URL", "https://feedback.example"),
        ("COMFY_ALLOW_PARTNER_SPEND", "TRUE"),
    ];

    #[test]
    fn unset_settings_come_from_the_environment() {
        let c = kind(BackendKind::RunComfy).fill_from(ExplicitFlags::default(), env(EVERYTHING)).unwrap();
        let b = &c.backend;
        assert_eq!(b.url.as_deref(), Some("https://rc.example"));
        assert_eq!(b.api_key.as_deref(), Some("cloud-key"));
        assert_eq!(b.token.as_deref(), Some("rc-token"));
        assert_eq!(b.deployment.as_deref(), Some("dep-1"));
        assert_eq!(b.queue_version, Some(QueueVersion::V2));
        assert_eq!(b.comfy_api_key.as_deref(), Some("partner-key"));
        assert!(b.allow_private_urls);
        assert_eq!(c.options.feedback_url.as_deref(), Some("https://feedback.example"));
        assert!(c.options.allow_partner_spend);

        let cloud =
            kind(BackendKind::ComfyCloud).fill_from(ExplicitFlags::default(), env(EVERYTHING)).unwrap();
        assert_eq!(cloud.backend.url.as_deref(), Some("https://cloud.example"));
        // A local ComfyUI's URL is never taken from these variables.
        let local = kind(BackendKind::Local).fill_from(ExplicitFlags::default(), env(EVERYTHING)).unwrap();
        assert_eq!(local.backend.url, None);
    }

    #[test]
    fn explicit_values_win_even_empty_or_false() {
        let mut c = kind(BackendKind::ComfyCloud);
        c.backend.url = Some("https://mine.example".into());
        c.backend.api_key = Some(String::new());
        c.backend.comfy_api_key = Some("mine".into());
        c.backend.queue_version = Some(QueueVersion::V1);
        c.options.feedback_url = Some("https://fb.mine".into());
        let flags = ExplicitFlags { allow_private_urls: Some(false), allow_partner_spend: Some(false) };
        let c = c.fill_from(flags, env(EVERYTHING)).unwrap();
        let b = &c.backend;
        assert_eq!(b.url.as_deref(), Some("https://mine.example"));
        assert_eq!(b.api_key.as_deref(), Some(""), "an explicit empty key stays unset, not the env's");
        assert_eq!(b.comfy_api_key.as_deref(), Some("mine"));
        assert_eq!(b.queue_version, Some(QueueVersion::V1));
        assert!(!b.allow_private_urls && !c.options.allow_partner_spend);
        assert_eq!(c.options.feedback_url.as_deref(), Some("https://fb.mine"));

        let on = ExplicitFlags { allow_private_urls: Some(true), allow_partner_spend: Some(true) };
        let c = kind(BackendKind::Local).fill_from(on, env(&[])).unwrap();
        assert!(c.backend.allow_private_urls && c.options.allow_partner_spend);
    }

    #[test]
    fn empty_and_falsy_variables_leave_settings_off() {
        let blank = env(&[
            ("COMFY_CLOUD_API_KEY", "  "),
            ("COMFY_ALLOW_PRIVATE_URLS", "0"),
            ("COMFY_ALLOW_PARTNER_SPEND", "maybe"),
            ("RUNCOMFY_QUEUE_VERSION", ""),
        ]);
        let c = kind(BackendKind::RunComfy).fill_from(ExplicitFlags::default(), blank).unwrap();
        assert_eq!((c.backend.api_key, c.backend.queue_version), (None, None));
        assert!(!c.backend.allow_private_urls && !c.options.allow_partner_spend);
        for on in ["1", "true", "Yes", " on "] {
            let c = kind(BackendKind::Local)
                .fill_from(ExplicitFlags::default(), env(&[("COMFY_ALLOW_PRIVATE_URLS", on)]))
                .unwrap();
            assert!(c.backend.allow_private_urls, "{on:?}");
        }
    }

    #[test]
    fn a_bad_queue_version_names_the_variable() {
        let e = kind(BackendKind::RunComfy)
            .fill_from(ExplicitFlags::default(), env(&[("RUNCOMFY_QUEUE_VERSION", "v9")]))
            .unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        let text = e.to_string();
        assert!(
            text.contains("RUNCOMFY_QUEUE_VERSION") && text.contains("v9") && text.contains("v2"),
            "{text}"
        );
    }
}
