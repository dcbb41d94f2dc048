//! Configuration of the Comfy Cloud backend and its builder.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::credentials::{Credential, CredentialProvider, StaticCredential};
use crate::backend::tls::CaCert;
use crate::error::Result;

/// The Comfy Cloud base URL.
pub const COMFY_CLOUD_URL: &str = "https://cloud.comfy.org";

/// Settings of a [`ComfyCloud`](super::ComfyCloud) backend; build it with
/// [`ComfyCloud::builder`](super::ComfyCloud::builder).
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// Base URL without a trailing slash (`https://cloud.comfy.org`).
    pub base_url: String,
    /// Name used in errors, logs and the asset registry (`cloud:https://cloud.comfy.org`).
    pub name: String,
    /// Where the credential comes from (an API key as `X-API-Key`, or a bearer token).
    pub credentials: Option<Arc<dyn CredentialProvider>>,
    /// Put the credential into `extra_data` of every submit (`api_key_comfy_org` for an API
    /// key, `auth_token_comfy_org` for a token) so partner (API) nodes can run. Default true.
    pub partner_credentials: bool,
    /// A Comfy API key for partner nodes that replaces the account credential in `extra_data`
    /// (a key of another account, or one with its own spending limit); never logged.
    pub partner_api_key: Option<crate::secret::Secret>,
    /// `extra_data.comfy_usage_source` attribution, if any.
    pub usage_source: Option<String>,
    /// Extra CA certificates to trust.
    pub ca_certs: Vec<CaCert>,
    /// What a URL off the base URL's host may reach: hosted output URLs and redirect hops
    /// answered by the backend (default: public addresses only; see [`crate::net::UrlPolicy`]).
    pub url_policy: crate::net::UrlPolicy,
    /// The client id sent with prompts and the WebSocket (Cloud ignores it for routing).
    pub client_id: String,
    /// Time limit to connect.
    pub connect_timeout: Duration,
    /// Time limit of one request.
    pub request_timeout: Duration,
    /// Time limit of one download, upload or catalogue fetch (the Cloud catalogue is ~9 MB).
    pub transfer_timeout: Duration,
    /// Retries of failed idempotent requests.
    pub retries: u32,
    /// First retry delay.
    pub retry_backoff: Duration,
    /// Longest `Retry-After` waited for before a read is retried.
    pub max_retry_after: Duration,
    /// Poll a job's status no more often than this.
    pub poll_interval: Duration,
    /// How long a job Cloud does not list yet is not declared lost (Cloud is eventually
    /// consistent: a job it has just accepted may not be listed at once).
    pub not_found_grace: Duration,
    /// Open the WebSocket for live events (default true; without it jobs are polled).
    pub websocket: bool,
    /// Longest delay between WebSocket reconnections.
    pub max_reconnect_delay: Duration,
    /// Allow the account-wide `POST /api/interrupt` as a last resort to stop a running job when
    /// the per-job cancel route is missing. It stops **every** running job of the account, so it
    /// is off unless asked for.
    pub allow_account_interrupt: bool,
}

impl CloudConfig {
    /// Defaults for the Cloud at `url`.
    pub fn new(url: &str) -> Result<Self> {
        let trimmed = crate::backend::http::base_url(
            url,
            "Comfy Cloud URL",
            "must start with https:// (or http:// for a test server)",
        )?;
        Ok(CloudConfig {
            base_url: trimmed.clone(),
            name: format!("cloud:{trimmed}"),
            credentials: None,
            partner_credentials: true,
            partner_api_key: None,
            usage_source: None,
            ca_certs: Vec::new(),
            url_policy: crate::net::UrlPolicy::default(),
            client_id: uuid::Uuid::new_v4().to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            transfer_timeout: Duration::from_secs(300),
            retries: 3,
            retry_backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(30),
            poll_interval: Duration::from_secs(2),
            not_found_grace: Duration::from_secs(120),
            websocket: true,
            max_reconnect_delay: Duration::from_secs(30),
            allow_account_interrupt: false,
        })
    }

    /// The WebSocket URL (`wss://…/ws?clientId=…&token=…`); it carries the secret, never log it.
    pub(crate) fn ws_url(&self, token: &str) -> String {
        let base = match self.base_url.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", self.base_url.trim_start_matches("http://")),
        };
        format!("{base}/ws?clientId={}&token={}", self.client_id, crate::backend::local::urlencode(token))
    }
}

/// Builder for [`ComfyCloud`](super::ComfyCloud).
#[derive(Debug)]
pub struct ComfyCloudBuilder {
    pub(super) config: Result<CloudConfig>,
}

impl ComfyCloudBuilder {
    fn map(mut self, f: impl FnOnce(&mut CloudConfig)) -> Self {
        if let Ok(c) = &mut self.config {
            f(c);
        }
        self
    }

    /// A Comfy API key (`comfyui-…`), sent as `X-API-Key` (and in `extra_data` for partner
    /// nodes); never logged.
    pub fn api_key(self, key: impl Into<String>) -> Self {
        let provider: Arc<dyn CredentialProvider> = Arc::new(StaticCredential(Credential::api_key(key)));
        self.map(|c| c.credentials = Some(provider))
    }

    /// An OAuth access token, sent as `Authorization: Bearer …` (and as
    /// `extra_data.auth_token_comfy_org`).
    pub fn bearer_token(self, token: impl Into<String>) -> Self {
        let provider: Arc<dyn CredentialProvider> = Arc::new(StaticCredential(Credential::bearer(token)));
        self.map(|c| c.credentials = Some(provider))
    }

    /// A credential provider (tokens that are refreshed, keys from a vault).
    pub fn credentials(self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.map(|c| c.credentials = Some(provider))
    }

    /// Whether submits carry the credential in `extra_data` for partner nodes (default true).
    pub fn partner_credentials(self, on: bool) -> Self {
        self.map(|c| c.partner_credentials = on)
    }

    /// A Comfy API key for partner nodes, put into `extra_data.api_key_comfy_org` instead of
    /// the account credential (only when [`partner_credentials`](Self::partner_credentials) is on).
    pub fn partner_api_key(self, key: impl Into<String>) -> Self {
        let key = crate::secret::Secret::new(key);
        self.map(|c| c.partner_api_key = Some(key))
    }

    /// `extra_data.comfy_usage_source` attribution (e.g. `comfy-rs`).
    pub fn usage_source(self, source: impl Into<String>) -> Self {
        let source = source.into();
        self.map(|c| c.usage_source = Some(source))
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

    /// Trusts an extra CA certificate given as PEM text.
    pub fn ca_cert_pem(self, pem: impl Into<Vec<u8>>) -> Self {
        let ca = CaCert::Pem(pem.into());
        self.map(|c| c.ca_certs.push(ca))
    }

    /// Time limit of one request (default 30 s).
    pub fn request_timeout(self, t: Duration) -> Self {
        self.map(|c| c.request_timeout = t)
    }

    /// Time limit to connect (default 10 s).
    pub fn connect_timeout(self, t: Duration) -> Self {
        self.map(|c| c.connect_timeout = t)
    }

    /// Time limit of one download, upload or catalogue fetch (default 300 s).
    pub fn transfer_timeout(self, t: Duration) -> Self {
        self.map(|c| c.transfer_timeout = t)
    }

    /// Retries of failed idempotent requests (default 3).
    pub fn retries(self, n: u32) -> Self {
        self.map(|c| c.retries = n)
    }

    /// First retry delay (default 250 ms).
    pub fn retry_backoff(self, t: Duration) -> Self {
        self.map(|c| c.retry_backoff = t)
    }

    /// Longest `Retry-After` waited for before a read is retried (default 30 s).
    pub fn max_retry_after(self, t: Duration) -> Self {
        self.map(|c| c.max_retry_after = t)
    }

    /// Poll a job no more often than this (default 2 s).
    pub fn poll_interval(self, t: Duration) -> Self {
        self.map(|c| c.poll_interval = t)
    }

    /// How long a job Cloud does not list yet is given before it is declared lost (default 120 s).
    pub fn not_found_grace(self, t: Duration) -> Self {
        self.map(|c| c.not_found_grace = t)
    }

    /// Open the WebSocket (default true).
    pub fn websocket(self, on: bool) -> Self {
        self.map(|c| c.websocket = on)
    }

    /// Longest delay between WebSocket reconnections (default 30 s).
    pub fn max_reconnect_delay(self, t: Duration) -> Self {
        self.map(|c| c.max_reconnect_delay = t)
    }

    /// Allows the account-wide interrupt as a last resort to stop a running job (default off: it
    /// stops every running job of the account).
    pub fn allow_account_interrupt(self, on: bool) -> Self {
        self.map(|c| c.allow_account_interrupt = on)
    }

    /// The client id (default: a new UUID).
    pub fn client_id(self, id: impl Into<String>) -> Self {
        let id = id.into();
        self.map(|c| c.client_id = id)
    }
}
