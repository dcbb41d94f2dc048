//! HTTP authentication: `Authorization: Bearer <token>` or `X-API-Key: <token>`, compared in
//! constant time, each token with an optional tool scope.

use std::sync::Arc;

use comfy_core::Caller;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{TokenConfig, pattern_matches};

/// Who is calling: the token's label, the tools it may call (`None` = every tool) and whether
/// it sees everyone's jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's label (never the token): the owner of the jobs it creates.
    pub name: String,
    /// Tool scope; `None` means unrestricted.
    pub tools: Option<Arc<Vec<String>>>,
    /// Sees and acts on every owner's jobs, assets and batches.
    pub admin: bool,
    /// The team whose tokens own what they create together (`None`: the token alone).
    pub team: Option<String>,
}

impl Principal {
    /// The caller of a server without tokens (loopback only): the single user, who sees
    /// everything.
    pub fn anonymous() -> Principal {
        Principal { name: "anonymous".into(), tools: None, admin: true, team: None }
    }

    /// The owner recorded on what this principal creates: its team (`team:<name>`), whose
    /// tokens share it, or else its own name.
    pub fn owner(&self) -> String {
        match &self.team {
            Some(team) => format!("team:{team}"),
            None => self.name.clone(),
        }
    }

    /// The core identity this principal acts as: a token owns what it creates (with its team)
    /// and sees only that, an admin token sees everything, and the token-less caller is the
    /// single local user.
    pub fn caller(&self) -> Caller {
        if *self == Principal::anonymous() {
            Caller::local()
        } else if self.admin {
            Caller::admin(self.owner())
        } else {
            Caller::user(self.owner())
        }
    }

    /// Whether this caller may call `tool`.
    pub fn may_call(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|scope| scope.iter().any(|p| pattern_matches(p, tool)))
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials were sent.
    Missing,
    /// Credentials were sent but match no token.
    Invalid,
}

/// The configured tokens, kept as SHA-256 digests.
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    entries: Vec<([u8; 32], Principal)>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenSet {
    /// From configuration.
    pub fn new(tokens: &[TokenConfig]) -> TokenSet {
        let entries = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let tools = t.tools.clone().map(Arc::new);
                let principal = Principal { name: t.label(i), tools, admin: t.admin, team: t.team.clone() };
                (digest(&t.token), principal)
            })
            .collect();
        TokenSet { entries }
    }

    /// No tokens configured (only allowed on loopback).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal whose token the request carries. Every token is compared, in constant
    /// time, whatever matches, so timing reveals nothing about the tokens.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthFailure> {
        let presented = presented_token(headers).ok_or(AuthFailure::Missing)?;
        let got = digest(&presented);
        let mut found: Option<&Principal> = None;
        for (want, principal) in &self.entries {
            let equal: bool = want.ct_eq(&got).into();
            if equal && found.is_none() {
                found = Some(principal);
            }
        }
        found.cloned().ok_or(AuthFailure::Invalid)
    }
}

/// The token from `Authorization: Bearer …`, else from `X-API-Key: …`. An `Authorization`
/// header of another scheme (a proxy's Basic credentials, say) does not hide the API key.
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some((scheme, rest)) = v.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
        && !rest.trim().is_empty()
    {
        return Some(rest.trim().to_owned());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        h
    }

    #[test]
    fn bearer_and_api_key_with_scopes() {
        let set = TokenSet::new(&[
            TokenConfig {
                name: Some("admin".into()),
                token: "a-secret".into(),
                tools: None,
                admin: true,
                team: None,
            },
            TokenConfig {
                name: None,
                token: "b-secret".into(),
                tools: Some(vec!["get_*".into()]),
                admin: false,
                team: None,
            },
        ]);
        let admin = set.authenticate(&headers("authorization", "Bearer a-secret")).unwrap();
        assert_eq!(admin.name, "admin");
        assert_eq!(admin.caller(), Caller::admin("admin"));
        assert!(admin.may_call("cancel_job"));
        let reader = set.authenticate(&headers("x-api-key", "b-secret")).unwrap();
        assert_eq!(reader.name, "token2");
        assert_eq!(reader.caller(), Caller::user("token2"));
        assert_eq!(Principal::anonymous().caller(), Caller::local());
        assert!(reader.may_call("get_output") && !reader.may_call("submit_workflow"));
        assert_eq!(set.authenticate(&HeaderMap::new()), Err(AuthFailure::Missing));
        assert_eq!(set.authenticate(&headers("authorization", "Bearer nope")), Err(AuthFailure::Invalid));
        assert_eq!(set.authenticate(&headers("authorization", "Basic a-secret")), Err(AuthFailure::Missing));
        assert_eq!(set.authenticate(&headers("x-api-key", "a-secre")), Err(AuthFailure::Invalid));
        let mut both = headers("authorization", "Basic dXNlcjpwYXNz");
        both.insert("x-api-key", "b-secret".parse().unwrap());
        assert_eq!(set.authenticate(&both).unwrap().name, "token2");
    }
}
