//! Configuration of a local (or self-hosted) ComfyUI backend.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::credentials::{Credential, CredentialProvider, StaticCredential};
use crate::backend::tls::CaCert;
use crate::error::Result;
use crate::secret::Secret;

/// Settings for [`LocalComfyUi`](super::LocalComfyUi); build it with [`LocalComfyUi::builder`](super::LocalComfyUi::builder).
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Base URL without a trailing slash; may carry a path prefix (`https://host/comfy`).
    pub base_url: String,
    /// Name used in errors, logs and the asset registry.
    pub name: String,
    /// An extra header for a ComfyUI behind an authenticating gateway (`Authorization`, ...).
    pub auth_header: Option<(String, Secret)>,
    /// Where the credential for the server comes from (takes precedence over `auth_header`);
    /// it is sent to this server's host only, never to a host a redirect points to.
    pub credentials: Option<Arc<dyn CredentialProvider>>,
    /// Extra CA certificates to trust (a server behind a private CA).
    pub ca_certs: Vec<CaCert>,
    /// What a URL off the base URL's host may reach: hosted output URLs and redirect hops
    /// answered by the backend (default: public addresses only; see [`crate::net::UrlPolicy`]).
    pub url_policy: crate::net::UrlPolicy,
    /// Comfy API key for partner (API) nodes; sent as `extra_data.api_key_comfy_org`.
    pub comfy_api_key: Option<Secret>,
    /// The stable client id of this client's WebSocket and prompts.
    pub client_id: String,
    /// Time limit to establish a connection.
    pub connect_timeout: Duration,
    /// Time limit of one request (downloads have their own).
    pub request_timeout: Duration,
    /// Time limit of one download or upload.
    pub transfer_timeout: Duration,
    /// How often a failed idempotent request is retried.
    pub retries: u32,
    /// First retry delay (doubled each time, capped at 5 s).
    pub retry_backoff: Duration,
    /// Longest wait between WebSocket reconnection attempts.
    pub max_reconnect_delay: Duration,
    /// Whether to open the WebSocket at all (when false, jobs are tracked by polling).
    pub websocket: bool,
}

impl LocalConfig {
    /// Defaults for a server at `url`.
    pub fn new(url: &str) -> Result<Self> {
        let trimmed =
            crate::backend::http::base_url(url, "ComfyUI URL", "must start with http:// or https://")?;
        Ok(LocalConfig {
            base_url: trimmed.clone(),
            name: format!("local:{trimmed}"),
            auth_header: None,
            credentials: None,
            ca_certs: Vec::new(),
            url_policy: crate::net::UrlPolicy::default(),
            comfy_api_key: None,
            client_id: uuid::Uuid::new_v4().to_string(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            transfer_timeout: Duration::from_secs(300),
            retries: 3,
            retry_backoff: Duration::from_millis(100),
            max_reconnect_delay: Duration::from_secs(10),
            websocket: true,
        })
    }

    /// The credential provider in effect: `credentials`, else `auth_header` as a fixed header.
    pub fn credential_provider(&self) -> Option<Arc<dyn CredentialProvider>> {
        self.credentials.clone().or_else(|| {
            self.auth_header.as_ref().map(|(name, value)| {
                Arc::new(StaticCredential(Credential::Header { name: name.clone(), value: value.clone() }))
                    as Arc<dyn CredentialProvider>
            })
        })
    }

    /// The WebSocket URL for this client.
    pub fn ws_url(&self) -> String {
        let base = if let Some(rest) = self.base_url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            format!("ws://{}", self.base_url.trim_start_matches("http://"))
        };
        format!("{base}/ws?clientId={}", self.client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_and_checked() {
        let c = LocalConfig::new("http://127.0.0.1:8188/").unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:8188");
        assert!(c.ws_url().starts_with("ws://127.0.0.1:8188/ws?clientId="));
        let c = LocalConfig::new("https://gpu.example/comfy").unwrap();
        assert!(c.ws_url().starts_with("wss://gpu.example/comfy/ws?clientId="));
        for bad in ["", "127.0.0.1:8188", "ftp://x", "http://", "http://h/?a=1"] {
            assert!(LocalConfig::new(bad).is_err(), "{bad}");
        }
    }
}
