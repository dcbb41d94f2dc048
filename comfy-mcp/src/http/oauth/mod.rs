//! OAuth 2.1 resource server (MCP authorization, 2025-06-18 / 2025-11-25): JWT access tokens
//! from one configured issuer, beside the static tokens of [`super::auth`].
//!
//! - `GET /.well-known/oauth-protected-resource[/<path>]` serves the RFC 9728 metadata (no
//!   token needed), and every 401 names it in `WWW-Authenticate: Bearer resource_metadata=…`.
//! - A bearer token that matches no static token and is shaped like a JWT is verified against
//!   the issuer's keys ([`jwks`]): signature (RSA, ECDSA, EdDSA; never `none` or HMAC), `exp`
//!   and `nbf` with [`LEEWAY_SECS`] of leeway, `iss` equal to the issuer, `aud` containing
//!   this server's audience (RFC 8707), and a `sub`.
//! - Its scopes (`scope`, or `scp`, space-separated or a list) grant tools: the admin scope
//!   (`comfy:all`) every tool, `comfy:tools:<pattern>` that pattern, and each scope of
//!   `[http.oauth.scopes]` its list. Scopes granting nothing leave a token that sees no tools
//!   and whose tool calls answer 403 `insufficient_scope`.

pub mod jwks;
pub mod metadata;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::json;

use self::jwks::Jwks;
use self::metadata::{Challenge, WELL_KNOWN};
use self::settings::TOOL_SCOPE_PREFIX;
pub use self::settings::{FileOAuth, OAuthSettings};
use super::auth::{AuthFailure, Principal, TokenSet, presented_token};

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The signature algorithms accepted (asymmetric only).
const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The verifier of one issuer's access tokens for this resource.
pub struct OAuth {
    settings: OAuthSettings,
    metadata_url: String,
    jwks: Jwks,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// Why a JWT was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is malformed, badly signed, expired, or for another issuer or audience.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The issuer's keys cannot be had, so no token can be checked.
    #[error("cannot check tokens: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: Option<ScopeClaim>,
    #[serde(default)]
    scp: Option<ScopeClaim>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    Text(String),
    List(Vec<String>),
}

impl ScopeClaim {
    fn scopes(&self) -> Vec<&str> {
        match self {
            ScopeClaim::Text(s) => s.split_whitespace().collect(),
            ScopeClaim::List(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl OAuth {
    /// A verifier for `settings`; `ca_certs` are extra PEM CA files trusted for the issuer.
    pub fn new(settings: OAuthSettings, ca_certs: &[PathBuf]) -> OAuth {
        tracing::info!(issuer = %settings.issuer, resource = %settings.resource, "accepting OAuth access tokens");
        OAuth {
            metadata_url: metadata::metadata_url(&settings.resource),
            jwks: Jwks::new(&settings.issuer, settings.jwks_url.as_deref(), ca_certs),
            settings,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// The URL of this server's protected-resource metadata.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// How many times the issuer's key set was fetched.
    pub async fn jwks_fetches(&self) -> u64 {
        self.jwks.fetches().await
    }

    /// Verifies a JWT access token and returns its principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let header = decode_header(token).map_err(|e| TokenError::Invalid(format!("malformed: {e}")))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(TokenError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let keys = self
            .jwks
            .candidates(header.kid.as_deref(), header.alg)
            .await
            .map_err(|e| TokenError::Unavailable(e.0))?;
        if keys.is_empty() {
            return Err(TokenError::Invalid(match &header.kid {
                Some(kid) => format!(
                    "no {:?} key with kid {:?} at the issuer",
                    header.alg,
                    kid.chars().take(64).collect::<String>()
                ),
                None => format!("no {:?} key at the issuer", header.alg),
            }));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let mut last = String::new();
        for key in keys {
            match decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return Ok(self.principal(&data.claims)),
                Err(e) => last = e.to_string(),
            }
        }
        Err(TokenError::Invalid(last))
    }

    /// The principal of verified claims: named `oauth:<sub>` (so a `sub` can never take over a
    /// static token's label, rate-limit bucket or owned work), its tools granted by its scopes,
    /// never an admin. The one place an OAuth principal is made.
    fn principal(&self, claims: &Claims) -> Principal {
        let scopes: Vec<&str> =
            claims.scope.iter().chain(claims.scp.iter()).flat_map(ScopeClaim::scopes).collect();
        Principal {
            name: format!("oauth:{}", claims.sub),
            tools: self.tools_for(&scopes).map(Arc::new),
            admin: false,
            team: None,
        }
    }

    /// The tool patterns `scopes` grant; `None` = every tool (the admin scope).
    pub fn tools_for(&self, scopes: &[&str]) -> Option<Vec<String>> {
        let mut tools = Vec::new();
        for scope in scopes {
            if *scope == self.settings.admin_scope {
                return None;
            }
            if let Some(pattern) = scope.strip_prefix(TOOL_SCOPE_PREFIX).filter(|p| !p.is_empty()) {
                tools.push(pattern.to_owned());
            }
            if let Some(granted) = self.settings.scopes.get(*scope) {
                tools.extend(granted.iter().cloned());
            }
        }
        Some(tools)
    }

    /// The `WWW-Authenticate` value of a 403 for `tool`, naming the scope that grants it.
    pub fn insufficient_scope(&self, tool: &str) -> HeaderValue {
        let plain =
            !tool.is_empty() && tool.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let scope = plain.then(|| format!("{TOOL_SCOPE_PREFIX}{tool}"));
        metadata::www_authenticate(&self.metadata_url, Challenge::InsufficientScope(scope.as_deref()))
    }

    /// The metadata routes: `/.well-known/oauth-protected-resource` and any path below it
    /// (the path-suffixed form, e.g. `…/mcp`), served without authentication.
    pub fn metadata_routes(self: &Arc<Self>) -> Router {
        let doc = Arc::new(metadata::document(&self.settings));
        let handler = move || {
            let doc = doc.clone();
            async move {
                let mut r = axum::Json(doc.as_ref().clone()).into_response();
                r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
                r
            }
        };
        Router::new()
            .route(WELL_KNOWN, get(handler.clone()))
            .route(&format!("{WELL_KNOWN}/{{*path}}"), get(handler))
    }
}

/// Who called, and whether through an OAuth access token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal.
    pub principal: Principal,
    /// Authenticated by a JWT (not a static token).
    pub via_oauth: bool,
}

/// Whether `token` looks like a JWS compact serialization (`header.payload.signature`).
pub fn is_jwt_shaped(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Authenticates a request: anonymous when neither static tokens nor OAuth are configured;
/// else the static tokens first (compared in constant time, as always), then, with OAuth
/// configured, a JWT-shaped bearer as an access token. The error is the response to send.
pub async fn authenticate(
    tokens: &TokenSet,
    oauth: Option<&OAuth>,
    headers: &HeaderMap,
) -> Result<Caller, Response> {
    if tokens.is_empty() && oauth.is_none() {
        return Ok(Caller { principal: Principal::anonymous(), via_oauth: false });
    }
    let failure = match tokens.authenticate(headers) {
        Ok(principal) => return Ok(Caller { principal, via_oauth: false }),
        Err(failure) => failure,
    };
    if failure == AuthFailure::Invalid
        && let Some(oauth) = oauth
        && let Some(token) = presented_token(headers).filter(|t| is_jwt_shaped(t))
    {
        return match oauth.verify(&token).await {
            Ok(principal) => {
                tracing::debug!(principal = %principal.name, "OAuth access token accepted");
                Ok(Caller { principal, via_oauth: true })
            }
            Err(TokenError::Invalid(reason)) => {
                tracing::info!(reason = %reason, "OAuth access token rejected");
                Err(unauthorized(Some(oauth), AuthFailure::Invalid))
            }
            Err(TokenError::Unavailable(reason)) => {
                tracing::warn!(reason = %reason, "cannot verify OAuth access tokens");
                let body = json!({"error": "auth_unavailable", "message": "the authorization server's keys cannot be fetched; retry later"});
                Err((StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response())
            }
        };
    }
    Err(unauthorized(oauth, failure))
}

/// The 401 answer: the body as for static tokens; with OAuth, the challenge names the
/// resource metadata (and `invalid_token` when a token was presented).
fn unauthorized(oauth: Option<&OAuth>, failure: AuthFailure) -> Response {
    let message = match failure {
        AuthFailure::Missing => "send Authorization: Bearer <token> or X-API-Key: <token>",
        AuthFailure::Invalid => "the token is not valid",
    };
    let challenge = match (oauth, failure) {
        (None, _) => HeaderValue::from_static("Bearer realm=\"comfy-mcp\""),
        (Some(o), AuthFailure::Missing) => metadata::www_authenticate(o.metadata_url(), Challenge::Missing),
        (Some(o), AuthFailure::Invalid) => {
            metadata::www_authenticate(o.metadata_url(), Challenge::InvalidToken)
        }
    };
    let mut r = (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "unauthorized", "message": message})))
        .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    r
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn oauth() -> OAuth {
        let mut scopes = BTreeMap::new();
        scopes.insert("images:read".to_string(), vec!["get_output".to_string(), "list_assets".to_string()]);
        OAuth::new(
            OAuthSettings {
                issuer: "https://auth.example".into(),
                resource: "https://comfy.example/mcp".into(),
                jwks_url: None,
                audience: "https://comfy.example/mcp".into(),
                admin_scope: "comfy:all".into(),
                scopes,
            },
            &[],
        )
    }

    #[test]
    fn scopes_map_to_tools() {
        let o = oauth();
        assert_eq!(o.tools_for(&["openid", "comfy:all"]), None);
        assert_eq!(
            o.tools_for(&["comfy:tools:get_*", "images:read"]).unwrap(),
            vec!["get_*", "get_output", "list_assets"]
        );
        assert_eq!(o.tools_for(&["openid", "comfy:tools:"]).unwrap(), Vec::<String>::new());
        let claims: Claims = serde_json::from_value(json!({"sub": "u1", "scp": ["images:read"]})).unwrap();
        let p = o.principal(&claims);
        assert_eq!(p.name, "oauth:u1", "a sub never takes a static token's name");
        assert!(!p.admin, "a JWT is never an admin");
        assert!(p.may_call("get_output") && !p.may_call("submit_workflow"));
    }

    #[test]
    fn jwt_shape() {
        assert!(is_jwt_shaped("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."));
        assert!(is_jwt_shaped("a.b.c"));
        assert!(!is_jwt_shaped("admin-secret"));
        assert!(!is_jwt_shaped("a.b"));
        assert!(!is_jwt_shaped("a..c"));
        assert!(!is_jwt_shaped("a.b.c d"));
    }

    #[tokio::test]
    async fn none_and_hmac_are_refused_before_any_fetch() {
        let o = oauth();
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.";
        assert!(matches!(o.verify(none).await, Err(TokenError::Invalid(_))));
        let key = jsonwebtoken::EncodingKey::from_secret(b"secret").unwrap();
        let hs = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &json!({"sub": "x"}), &key).unwrap();
        let e = o.verify(&hs).await.unwrap_err();
        assert!(matches!(&e, TokenError::Invalid(m) if m.contains("HS256")), "{e}");
        assert_eq!(o.jwks_fetches().await, 0);
    }
}
