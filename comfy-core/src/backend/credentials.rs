//! Credentials of a backend: what proves who we are to the host we talk to.
//!
//! A backend holds one [`CredentialProvider`]. It asks it for the current [`Credential`] before
//! each request **to its configured host only** (scheme, host and port must match): a redirect
//! to another host, such as Comfy Cloud's `/api/view` answering with a signed storage URL, is
//! followed without any credential. When the host rejects a credential (HTTP 401) the backend
//! calls [`CredentialProvider::refresh`] once and, if it says a new credential is ready, sends
//! the request again.

use async_trait::async_trait;

use crate::error::Result;
use crate::secret::Secret;

/// One credential, as sent to the backend's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key in a header (`X-API-Key: comfyui-…` on Comfy Cloud).
    ApiKey {
        /// The header name.
        header: String,
        /// The key.
        key: Secret,
    },
    /// An OAuth access token or other bearer token (`Authorization: Bearer …`).
    Bearer(Secret),
    /// Any other header (an authenticating gateway in front of a ComfyUI).
    Header {
        /// The header name.
        name: String,
        /// The header value.
        value: Secret,
    },
}

impl Credential {
    /// An API key sent as `X-API-Key` (Comfy Cloud).
    pub fn api_key(key: impl Into<String>) -> Self {
        Credential::ApiKey { header: "X-API-Key".into(), key: Secret::new(key) }
    }

    /// A bearer token sent as `Authorization: Bearer …`.
    pub fn bearer(token: impl Into<String>) -> Self {
        Credential::Bearer(Secret::new(token))
    }

    /// The header that carries it: name and value (the value is secret).
    pub fn header(&self) -> (String, Secret) {
        match self {
            Credential::ApiKey { header, key } => (header.clone(), key.clone()),
            Credential::Bearer(token) => {
                ("Authorization".into(), Secret::new(format!("Bearer {}", token.expose())))
            }
            Credential::Header { name, value } => (name.clone(), value.clone()),
        }
    }

    /// The bare secret (API key or token), for places that take it without a header: the
    /// WebSocket `token` query parameter, partner-node credentials in `extra_data`.
    pub fn secret(&self) -> &Secret {
        match self {
            Credential::ApiKey { key, .. } => key,
            Credential::Bearer(token) => token,
            Credential::Header { value, .. } => value,
        }
    }
}

/// Where a backend gets its credential from. Implement it to fetch tokens from a vault or to
/// refresh OAuth tokens; [`StaticCredential`] covers fixed keys.
#[async_trait]
pub trait CredentialProvider: Send + Sync + std::fmt::Debug {
    /// The credential to send now.
    async fn credential(&self) -> Result<Credential>;

    /// The host rejected `rejected` (HTTP 401). Return `true` when a new credential is ready
    /// (the request is then sent once more), `false` when there is nothing better (the default).
    async fn refresh(&self, _rejected: &Credential) -> Result<bool> {
        Ok(false)
    }
}

/// A fixed credential (an API key, a long-lived token, a gateway header).
#[derive(Debug, Clone)]
pub struct StaticCredential(pub Credential);

#[async_trait]
impl CredentialProvider for StaticCredential {
    async fn credential(&self) -> Result<Credential> {
        Ok(self.0.clone())
    }
}

/// The origin (`scheme://host:port`, lower-case, default port made explicit) of a URL, or `None`
/// when it has none.
pub(crate) fn origin(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    let port = parsed.port_or_known_default()?;
    Some(format!("{}://{host}:{port}", parsed.scheme()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_make_their_headers_and_never_print() {
        let (name, value) = Credential::api_key("comfyui-abc").header();
        assert_eq!((name.as_str(), value.expose()), ("X-API-Key", "comfyui-abc"));
        let (name, value) = Credential::bearer("tok").header();
        assert_eq!((name.as_str(), value.expose()), ("Authorization", "Bearer tok"));
        assert_eq!(Credential::bearer("tok").secret().expose(), "tok");
        assert!(!format!("{:?}", Credential::api_key("comfyui-abc")).contains("abc"));
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("https://Cloud.Comfy.org/api/view?x=1").as_deref(),
            Some("https://cloud.comfy.org:443")
        );
        assert_eq!(origin("http://127.0.0.1:8188/x"), origin("http://127.0.0.1:8188/y"));
        assert_ne!(origin("http://127.0.0.1:8188/"), origin("http://127.0.0.1:8189/"));
        assert_ne!(origin("http://h/"), origin("https://h/"));
        assert_eq!(origin("not a url"), None);
    }
}
