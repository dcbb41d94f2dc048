//! Configuration of the RunComfy backend and its builder.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::credentials::{Credential, CredentialProvider, StaticCredential};
use crate::backend::tls::CaCert;
use crate::error::{Error, Result};

/// RunComfy's Serverless API base URL.
pub const RUNCOMFY_URL: &str = "https://api.runcomfy.net";

/// Which path version the async queue (inference, status, result, cancel) uses. RunComfy
/// documents `/prod/v1` and its own newer clients use `/prod/v2`; deployments and the instance
/// proxy are always under `/prod/v2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueVersion {
    /// `/prod/v1` (the documented queue paths; the default).
    #[default]
    V1,
    /// `/prod/v2` (the official CLI and Zapier integration).
    V2,
}

impl QueueVersion {
    /// The path prefix (`/prod/v1`, `/prod/v2`).
    pub fn prefix(self) -> &'static str {
        match self {
            QueueVersion::V1 => "/prod/v1",
            QueueVersion::V2 => "/prod/v2",
        }
    }
}

impl std::str::FromStr for QueueVersion {
    type Err = Error;

    /// `v1`, `v2`, `/prod/v1`, `/prod/v2` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().trim_start_matches("/prod/").trim_start_matches('/').to_ascii_lowercase().as_str() {
            "v1" | "1" => Ok(QueueVersion::V1),
            "v2" | "2" => Ok(QueueVersion::V2),
            other => Err(Error::InvalidArgument {
                argument: "runcomfy_queue_version".into(),
                message: format!("{other:?} is not a queue path version: use \"v1\" or \"v2\""),
            }),
        }
    }
}

/// Settings of a [`RunComfy`](super::RunComfy) backend; build it with
/// [`RunComfy::builder`](super::RunComfy::builder).
#[derive(Debug, Clone)]
pub struct RunComfyConfig {
    /// Base URL without a trailing slash (`https://api.runcomfy.net`).
    pub base_url: String,
    /// Name used in errors, logs and the asset registry (`runcomfy:<deployment or url>`).
    pub name: String,
    /// Where the bearer token comes from; it goes to the API host only (never to the CDN).
    pub credentials: Option<Arc<dyn CredentialProvider>>,
    /// The deployment that generic submits run on (a workflow runs inline on it).
    pub deployment_id: Option<String>,
    /// The queue path version.
    pub queue_version: QueueVersion,
    /// A Comfy API key for partner (API) nodes, put into `extra_data.api_key_comfy_org`.
    pub partner_api_key: Option<crate::secret::Secret>,
    /// Webhook URL passed with every submit (`?webhook=`), if any; polling stays the primary path.
    pub webhook: Option<String>,
    /// Ask for the webhook's intermediate statuses too.
    pub webhook_intermediate_status: bool,
    /// Largest file placed inline as a data URI (there is no upload endpoint); bigger files are
    /// refused with a clear error (use a public URL instead).
    pub max_inline_bytes: u64,
    /// How long RunComfy keeps outputs (7 days): the expiry recorded on every hosted URL.
    pub output_retention: Duration,
    /// Extra CA certificates to trust.
    pub ca_certs: Vec<CaCert>,
    /// What a URL off the base URL's host may reach: hosted output URLs and redirect hops
    /// answered by the backend (default: public addresses only; see [`crate::net::UrlPolicy`]).
    pub url_policy: crate::net::UrlPolicy,
    /// Time limit to connect.
    pub connect_timeout: Duration,
    /// Time limit of one request.
    pub request_timeout: Duration,
    /// Time limit of one download or catalogue fetch.
    pub transfer_timeout: Duration,
    /// Retries of failed reads (a submit is never retried once it may have reached the server).
    pub retries: u32,
    /// First retry delay.
    pub retry_backoff: Duration,
    /// Longest `Retry-After` waited for before a read is retried.
    pub max_retry_after: Duration,
    /// Poll a request's status no more often than this (default 3 s, as RunComfy's MCP server).
    pub poll_interval: Duration,
}

impl RunComfyConfig {
    /// Defaults for the API at `url`.
    pub fn new(url: &str) -> Result<Self> {
        let trimmed = crate::backend::http::base_url(
            url,
            "RunComfy URL",
            "must start with https:// (or http:// for a test server)",
        )?;
        Ok(RunComfyConfig {
            name: format!("runcomfy:{trimmed}"),
            base_url: trimmed,
            credentials: None,
            deployment_id: None,
            queue_version: QueueVersion::V1,
            partner_api_key: None,
            webhook: None,
            webhook_intermediate_status: false,
            max_inline_bytes: 8 * 1024 * 1024,
            output_retention: Duration::from_secs(7 * 24 * 3600),
            ca_certs: Vec::new(),
            url_policy: crate::net::UrlPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            transfer_timeout: Duration::from_secs(300),
            retries: 3,
            retry_backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(30),
            poll_interval: Duration::from_secs(3),
        })
    }
}

/// Builder for [`RunComfy`](super::RunComfy).
#[derive(Debug)]
pub struct RunComfyBuilder {
    pub(super) config: Result<RunComfyConfig>,
}

impl RunComfyBuilder {
    fn map(mut self, f: impl FnOnce(&mut RunComfyConfig)) -> Self {
        if let Ok(c) = &mut self.config {
            f(c);
        }
        self
    }

    /// The API token (from the RunComfy profile page), sent as `Authorization: Bearer …` to the
    /// API host only; never logged.
    pub fn token(self, token: impl Into<String>) -> Self {
        let provider: Arc<dyn CredentialProvider> = Arc::new(StaticCredential(Credential::bearer(token)));
        self.map(|c| c.credentials = Some(provider))
    }

    /// A credential provider (a token from a vault).
    pub fn credentials(self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.map(|c| c.credentials = Some(provider))
    }

    /// The deployment generic submits run on.
    pub fn deployment(self, id: impl Into<String>) -> Self {
        let id = id.into();
        self.map(|c| c.deployment_id = Some(id).filter(|d| !d.trim().is_empty()))
    }

    /// The queue path version (default `/prod/v1`).
    pub fn queue_version(self, v: QueueVersion) -> Self {
        self.map(|c| c.queue_version = v)
    }

    /// A Comfy API key for partner nodes (`extra_data.api_key_comfy_org`).
    pub fn partner_api_key(self, key: impl Into<String>) -> Self {
        let key = crate::secret::Secret::new(key);
        self.map(|c| c.partner_api_key = Some(key))
    }

    /// A webhook URL passed with every submit; `intermediate` asks for queue/progress events too.
    pub fn webhook(self, url: impl Into<String>, intermediate: bool) -> Self {
        let url = url.into();
        self.map(|c| {
            c.webhook = Some(url);
            c.webhook_intermediate_status = intermediate;
        })
    }

    /// Largest file placed inline as a data URI (default 8 MiB).
    pub fn max_inline_bytes(self, n: u64) -> Self {
        self.map(|c| c.max_inline_bytes = n)
    }

    /// What URLs off the base URL's host (hosted outputs, redirect hops) may reach; the default
    /// refuses loopback, private and link-local targets.
    pub fn url_policy(self, policy: crate::net::UrlPolicy) -> Self {
        self.map(|c| c.url_policy = policy)
    }

    /// Trusts an extra CA certificate (a PEM file, read by [`build`](Self::build)).
    pub fn ca_cert(self, path: impl AsRef<Path>) -> Self {
        let ca = crate::backend::tls::ca_file(path);
        self.map(|c| c.ca_certs.push(ca))
    }

    /// Time limit of one request (default 60 s).
    pub fn request_timeout(self, t: Duration) -> Self {
        self.map(|c| c.request_timeout = t)
    }

    /// Time limit to connect (default 10 s).
    pub fn connect_timeout(self, t: Duration) -> Self {
        self.map(|c| c.connect_timeout = t)
    }

    /// Retries of failed reads (default 3).
    pub fn retries(self, n: u32) -> Self {
        self.map(|c| c.retries = n)
    }

    /// First retry delay (default 250 ms).
    pub fn retry_backoff(self, t: Duration) -> Self {
        self.map(|c| c.retry_backoff = t)
    }

    /// Poll a request no more often than this (default 3 s).
    pub fn poll_interval(self, t: Duration) -> Self {
        self.map(|c| c.poll_interval = t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_versions_parse() {
        assert_eq!("v2".parse::<QueueVersion>().unwrap(), QueueVersion::V2);
        assert_eq!("/prod/v1".parse::<QueueVersion>().unwrap(), QueueVersion::V1);
        assert!("v3".parse::<QueueVersion>().is_err());
        assert_eq!(QueueVersion::V2.prefix(), "/prod/v2");
    }
}
