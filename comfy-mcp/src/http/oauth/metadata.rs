//! RFC 9728 protected-resource metadata and the `WWW-Authenticate` challenges that point to it.

use http::HeaderValue;
use reqwest::Url;
use serde_json::{Value, json};

use super::settings::OAuthSettings;

/// The well-known path of the metadata document (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The metadata URL of `resource`: the well-known path inserted between its host and its path,
/// `https://h/mcp` → `https://h/.well-known/oauth-protected-resource/mcp`.
pub fn metadata_url(resource: &str) -> String {
    match Url::parse(resource) {
        Ok(mut url) => {
            let path = url.path().trim_end_matches('/').to_owned();
            url.set_path(&format!("{WELL_KNOWN}{path}"));
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        // Settings are checked at startup; this is only reached with unchecked settings.
        Err(_) => format!("{}{WELL_KNOWN}", resource.trim_end_matches('/')),
    }
}

/// The metadata document.
pub fn document(settings: &OAuthSettings) -> Value {
    json!({
        "resource": settings.resource,
        "authorization_servers": [settings.issuer],
        "scopes_supported": settings.scopes_supported(),
        "bearer_methods_supported": ["header"],
        "resource_name": "comfy-mcp",
    })
}

/// Why a challenge is sent (RFC 6750 §3.1 error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge<'a> {
    /// No credentials: only where to find the metadata.
    Missing,
    /// A token was presented and rejected.
    InvalidToken,
    /// The token is valid but lacks the scope; the scope that would grant the call, if known.
    InsufficientScope(Option<&'a str>),
}

/// The `WWW-Authenticate` value for `challenge`.
pub fn www_authenticate(metadata_url: &str, challenge: Challenge<'_>) -> HeaderValue {
    let mut v = format!("Bearer realm=\"comfy-mcp\", resource_metadata=\"{}\"", quote_safe(metadata_url));
    match challenge {
        Challenge::Missing => {}
        Challenge::InvalidToken => v.push_str(", error=\"invalid_token\""),
        Challenge::InsufficientScope(scope) => {
            v.push_str(", error=\"insufficient_scope\"");
            if let Some(scope) = scope {
                v.push_str(&format!(", scope=\"{}\"", quote_safe(scope)));
            }
        }
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"comfy-mcp\""))
}

/// Drops what cannot stand inside a quoted-string header parameter.
fn quote_safe(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_well_known_path() {
        assert_eq!(
            metadata_url("https://comfy.example/mcp"),
            "https://comfy.example/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("https://comfy.example/"),
            "https://comfy.example/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:9000/a/mcp/"),
            "http://127.0.0.1:9000/.well-known/oauth-protected-resource/a/mcp"
        );
    }

    #[test]
    fn challenges() {
        let url = "https://c.example/.well-known/oauth-protected-resource/mcp";
        assert_eq!(
            www_authenticate(url, Challenge::Missing),
            "Bearer realm=\"comfy-mcp\", resource_metadata=\"https://c.example/.well-known/oauth-protected-resource/mcp\""
        );
        let v = www_authenticate(url, Challenge::InvalidToken);
        assert!(v.to_str().unwrap().ends_with(", error=\"invalid_token\""));
        let v = www_authenticate(url, Challenge::InsufficientScope(Some("comfy:tools:cancel_job")));
        assert!(
            v.to_str().unwrap().ends_with("error=\"insufficient_scope\", scope=\"comfy:tools:cancel_job\"")
        );
    }
}
