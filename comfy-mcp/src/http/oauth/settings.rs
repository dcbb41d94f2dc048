//! `[http.oauth]`: the authorization server whose JWT access tokens this server accepts, this
//! server's resource URL, and how token scopes map to tools.
//!
//! ```toml
//! [http.oauth]
//! issuer = "https://auth.example.org"        # or --oauth-issuer / COMFY_MCP_OAUTH_ISSUER
//! resource = "https://comfy.example.org/mcp" # or --oauth-resource / COMFY_MCP_OAUTH_RESOURCE
//! jwks_url = "https://auth.example.org/jwks" # optional: else from the issuer's metadata
//! audience = "https://comfy.example.org/mcp" # optional: defaults to `resource`
//! admin_scope = "comfy:all"                  # the scope that grants every tool (default)
//!
//! [http.oauth.scopes]                        # more scopes, each granting tool patterns
//! "images:read" = ["get_output", "list_assets"]
//! ```

use std::collections::BTreeMap;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The scope that grants every tool unless `admin_scope` says otherwise.
pub const DEFAULT_ADMIN_SCOPE: &str = "comfy:all";

/// The prefix of scopes naming a tool pattern: `comfy:tools:get_*` grants the `get_*` tools.
pub const TOOL_SCOPE_PREFIX: &str = "comfy:tools:";

/// `[http.oauth]` of the config file (every field optional: flags may supply the essentials).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOAuth {
    /// The authorization server's issuer identifier (the `iss` of its tokens).
    pub issuer: Option<String>,
    /// This server's canonical URL (the resource tokens must name in `aud`).
    pub resource: Option<String>,
    /// The issuer's JWKS URL (default: `jwks_uri` from the issuer's metadata).
    pub jwks_url: Option<String>,
    /// The `aud` value tokens must carry (default: `resource`).
    pub audience: Option<String>,
    /// The scope that grants every tool (default `comfy:all`).
    pub admin_scope: Option<String>,
    /// Scope name → the tool patterns it grants.
    pub scopes: Option<BTreeMap<String, Vec<String>>>,
}

/// The effective OAuth settings (nothing secret: this server only verifies tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthSettings {
    /// The authorization server's issuer identifier; tokens' `iss` must equal it.
    pub issuer: String,
    /// This server's canonical URL, published as `resource` in its metadata.
    pub resource: String,
    /// The JWKS URL; `None` = discovered from the issuer's metadata.
    pub jwks_url: Option<String>,
    /// The audience tokens must name in `aud`.
    pub audience: String,
    /// The scope that grants every tool.
    pub admin_scope: String,
    /// Scope name → the tool patterns it grants (beside `comfy:tools:<pattern>`).
    pub scopes: BTreeMap<String, Vec<String>>,
}

impl OAuthSettings {
    /// Merges the flags (`--oauth-issuer`, `--oauth-resource`, already combined with their
    /// environment variables by clap) over `[http.oauth]`. `None` when neither names an issuer
    /// or a resource; an error when only one of the two is set.
    pub fn merge(
        issuer: Option<&str>,
        resource: Option<&str>,
        file: Option<FileOAuth>,
    ) -> Result<Option<OAuthSettings>, ConfigError> {
        let file = file.unwrap_or_default();
        let pick = |flag: Option<&str>, file: Option<String>| {
            flag.map(str::to_owned).or(file).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
        };
        let issuer = pick(issuer, file.issuer);
        let resource = pick(resource, file.resource);
        let (issuer, resource) = match (issuer, resource) {
            (None, None) => {
                if file.jwks_url.is_some() || file.audience.is_some() || file.scopes.is_some() {
                    return Err(ConfigError(
                        "[http.oauth] needs `issuer` and `resource` (or --oauth-issuer and --oauth-resource)"
                            .into(),
                    ));
                }
                return Ok(None);
            }
            (Some(_), None) => {
                return Err(ConfigError(
                    "OAuth: an issuer is set but no resource: set --oauth-resource (or \
                     COMFY_MCP_OAUTH_RESOURCE, or `resource` in [http.oauth]) to this server's URL"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError(
                    "OAuth: a resource is set but no issuer: set --oauth-issuer (or \
                     COMFY_MCP_OAUTH_ISSUER, or `issuer` in [http.oauth])"
                        .into(),
                ));
            }
            (Some(i), Some(r)) => (i, r),
        };
        let settings = OAuthSettings {
            audience: file.audience.map(|a| a.trim().to_owned()).unwrap_or_else(|| resource.clone()),
            issuer,
            resource,
            jwks_url: file.jwks_url.map(|u| u.trim().to_owned()),
            admin_scope: file
                .admin_scope
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|| DEFAULT_ADMIN_SCOPE.into()),
            scopes: file.scopes.unwrap_or_default(),
        };
        settings.check()?;
        Ok(Some(settings))
    }

    /// Checks URLs (https, or http on a loopback host), the audience and the scope table.
    pub fn check(&self) -> Result<(), ConfigError> {
        let issuer = checked_url("issuer", &self.issuer)?;
        if issuer.query().is_some() {
            return Err(ConfigError(format!("OAuth issuer {:?}: an issuer has no query", self.issuer)));
        }
        let resource = checked_url("resource", &self.resource)?;
        if resource.query().is_some() {
            return Err(ConfigError(format!(
                "OAuth resource {:?}: a resource URL has no query",
                self.resource
            )));
        }
        if let Some(jwks) = &self.jwks_url {
            checked_url("jwks_url", jwks)?;
        }
        if self.audience.is_empty() {
            return Err(ConfigError("OAuth audience is empty".into()));
        }
        check_scope("admin_scope", &self.admin_scope)?;
        for (scope, tools) in &self.scopes {
            check_scope("[http.oauth.scopes]", scope)?;
            if tools.is_empty() || tools.iter().any(|t| t.trim().is_empty()) {
                return Err(ConfigError(format!(
                    "[http.oauth.scopes] {scope:?}: list one or more tool names or patterns (e.g. \"get_*\")"
                )));
            }
        }
        Ok(())
    }

    /// The scopes this server understands, as published in its metadata: the admin scope and
    /// the configured ones (`comfy:tools:<pattern>` scopes are open-ended and not listed).
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut out = vec![self.admin_scope.clone()];
        out.extend(self.scopes.keys().filter(|s| **s != self.admin_scope).cloned());
        out
    }
}

fn check_scope(what: &str, scope: &str) -> Result<(), ConfigError> {
    if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
        return Err(ConfigError(format!(
            "OAuth {what}: {scope:?} is not a scope name (no spaces, quotes or backslashes)"
        )));
    }
    Ok(())
}

/// An absolute URL without fragment, https or http on a loopback host.
pub(crate) fn checked_url(what: &str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError(format!("OAuth {what} {raw:?}: {e}")))?;
    if url.fragment().is_some() {
        return Err(ConfigError(format!("OAuth {what} {raw:?}: a URL with a #fragment is not allowed")));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => {
            return Err(ConfigError(format!(
                "OAuth {what} {raw:?}: must be an https:// URL (http:// only on localhost)"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError(format!("OAuth {what} {raw:?}: no host")));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("");
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml_text: &str) -> FileOAuth {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn merges_flags_over_the_file_and_defaults_the_audience() {
        let f = file(
            "issuer = \"https://file.example\"\nresource = \"https://comfy.example/mcp\"\n\
             [scopes]\n\"images:read\" = [\"get_output\"]\n",
        );
        let s = OAuthSettings::merge(Some("https://flag.example/tenant"), None, Some(f)).unwrap().unwrap();
        assert_eq!(s.issuer, "https://flag.example/tenant");
        assert_eq!(s.audience, "https://comfy.example/mcp");
        assert_eq!(s.admin_scope, DEFAULT_ADMIN_SCOPE);
        assert_eq!(s.scopes_supported(), vec!["comfy:all".to_string(), "images:read".to_string()]);
        assert_eq!(OAuthSettings::merge(None, None, None).unwrap(), None);
    }

    #[test]
    fn bad_settings_are_named() {
        let e = OAuthSettings::merge(Some("https://a.example"), None, None).unwrap_err();
        assert!(e.0.contains("no resource"), "{e}");
        let e = OAuthSettings::merge(None, Some("https://r.example"), None).unwrap_err();
        assert!(e.0.contains("no issuer"), "{e}");
        let e =
            OAuthSettings::merge(Some("http://auth.example"), Some("https://r.example"), None).unwrap_err();
        assert!(e.0.contains("issuer") && e.0.contains("https://"), "{e}");
        assert!(
            OAuthSettings::merge(Some("http://127.0.0.1:8080"), Some("http://localhost:9/mcp"), None).is_ok()
        );
        let e = OAuthSettings::merge(Some("https://a.example"), Some("not a url"), None).unwrap_err();
        assert!(e.0.contains("resource"), "{e}");
        let f = file("[scopes]\n\"bad scope\" = [\"x\"]\n");
        let e =
            OAuthSettings::merge(Some("https://a.example"), Some("https://r.example"), Some(f)).unwrap_err();
        assert!(e.0.contains("bad scope"), "{e}");
        let f = file("[scopes]\n\"empty\" = []\n");
        assert!(OAuthSettings::merge(Some("https://a.example"), Some("https://r.example"), Some(f)).is_err());
        let e =
            OAuthSettings::merge(None, None, Some(file("jwks_url = \"https://a.example/k\"\n"))).unwrap_err();
        assert!(e.0.contains("needs `issuer`"), "{e}");
    }
}
