//! Several named backends behind one client: the `[[backends]]` list of a config file, checked
//! and resolved into the [`BackendConfig`] of each member.
//!
//! ```toml
//! [[backends]]
//! name = "gpu1"
//! kind = "local"
//! url = "http://10.0.0.5:8188"
//! priority = 0                  # lower runs first; the next priority takes the overflow
//! weight = 2.0                  # relative capacity within a priority (default 1)
//! tags = ["sdxl"]
//!
//! [[backends]]
//! name = "cloud"
//! kind = "comfy-cloud"
//! api_key_env = "COMFY_CLOUD_API_KEY"   # the credential is read from this variable
//! priority = 1
//!
//! [routing]
//! overflow_queue = 4            # overflow once every better backend has more than 4 jobs
//! unreachable_after_ms = 60000  # a job whose backend is silent this long is lost with it
//! ```
//!
//! Credentials are given per entry (`api_key`, `token`, `comfy_api_key`) or, better, by the name
//! of the environment variable that holds them (`api_key_env`, `token_env`,
//! `comfy_api_key_env`). A member gets its own credentials only: nothing configured for one
//! entry, nor the single-backend flags' keys, reaches another.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{BackendConfig, BackendKind};
use crate::error::{Error, Result};

/// Default of [`RoutingConfig::overflow_queue`].
pub const DEFAULT_OVERFLOW_QUEUE: usize = 4;
/// Default of [`RoutingConfig::health_interval_ms`].
pub const DEFAULT_HEALTH_INTERVAL_MS: u64 = 10_000;
/// Default of [`RoutingConfig::unreachable_after_ms`].
pub const DEFAULT_UNREACHABLE_AFTER_MS: u64 = 60_000;

/// One `[[backends]]` entry as written. `Debug` masks the credentials.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamedBackend {
    /// The name jobs record and callers pin (`backend` argument): letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// `local`, `comfy-cloud` or `runcomfy` (checked by [`FleetConfig::resolve`], which names
    /// the entry when it is not one of them).
    pub kind: String,
    /// The base URL; required for `local`, the kind's default otherwise.
    pub url: Option<String>,
    /// Comfy Cloud API key (prefer `api_key_env`).
    pub api_key: Option<String>,
    /// The environment variable holding the Comfy Cloud API key.
    pub api_key_env: Option<String>,
    /// RunComfy API token (prefer `token_env`).
    pub token: Option<String>,
    /// The environment variable holding the RunComfy API token.
    pub token_env: Option<String>,
    /// Partner-node key for this backend only (prefer `comfy_api_key_env`).
    pub comfy_api_key: Option<String>,
    /// The environment variable holding this backend's partner-node key.
    pub comfy_api_key_env: Option<String>,
    /// RunComfy deployment.
    pub deployment: Option<String>,
    /// RunComfy queue path version (`v1`, `v2`).
    pub queue_version: Option<String>,
    /// Comfy Cloud: allow the account-wide interrupt as a last resort.
    pub allow_account_interrupt: bool,
    /// Extra CA certificates for this backend (empty: the client-wide ones).
    pub ca_certs: Vec<PathBuf>,
    /// Relative capacity within its priority (default 1): load is divided by it.
    pub weight: Option<f64>,
    /// Free-form labels, shown with the backend.
    pub tags: Vec<String>,
    /// Lower numbers are tried first (default 0).
    pub priority: u32,
}

impl fmt::Debug for NamedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("NamedBackend")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("api_key", &mask(&self.api_key))
            .field("api_key_env", &self.api_key_env)
            .field("token", &mask(&self.token))
            .field("token_env", &self.token_env)
            .field("comfy_api_key", &mask(&self.comfy_api_key))
            .field("comfy_api_key_env", &self.comfy_api_key_env)
            .field("deployment", &self.deployment)
            .field("priority", &self.priority)
            .field("weight", &self.weight)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

/// `[routing]`: how submissions are spread over the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// A priority takes work while at least one of its backends has at most this many jobs
    /// (its own queue plus ours in flight); the next priority only when all have more.
    pub overflow_queue: usize,
    /// How often every backend's health is checked (an unhealthy one is put back when it
    /// answers), in milliseconds.
    pub health_interval_ms: u64,
    /// A job whose backend has not answered a status read for this long is lost with it (it
    /// fails, or runs again on another backend when its request set `resubmit_if_lost`), in
    /// milliseconds: [`ClientOptions::unreachable_after`](crate::ClientOptions::unreachable_after)
    /// of a client built from a `[[backends]]` configuration.
    pub unreachable_after_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            overflow_queue: DEFAULT_OVERFLOW_QUEUE,
            health_interval_ms: DEFAULT_HEALTH_INTERVAL_MS,
            unreachable_after_ms: DEFAULT_UNREACHABLE_AFTER_MS,
        }
    }
}

/// Several named backends and how to route between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// The backends, in the order ties are broken.
    pub backends: Vec<NamedBackend>,
    /// Routing tunables.
    pub routing: RoutingConfig,
}

/// One backend of a fleet, resolved: credentials read, kind parsed, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberConfig {
    /// The configured name.
    pub name: String,
    /// Lower is tried first.
    pub priority: u32,
    /// Relative capacity within its priority (> 0).
    pub weight: f64,
    /// Labels.
    pub tags: Vec<String>,
    /// How to build it.
    pub backend: BackendConfig,
}

/// The error for entry `index` (named `name`) and one of its fields.
fn entry_error(index: usize, name: &str, field: &str, message: impl Into<String>) -> Error {
    let who = if name.trim().is_empty() {
        format!("backends[{index}]")
    } else {
        format!("backends[{index}] ({name:?})")
    };
    Error::InvalidArgument { argument: format!("{who}.{field}"), message: message.into() }
}

/// Whether `name` is a usable backend name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl FleetConfig {
    /// Parses the binding form: `backends`, a JSON list of entries as in `[[backends]]`, and
    /// `routing`, an optional object as in `[routing]`. Nothing is resolved yet (see
    /// [`resolve`](Self::resolve)).
    pub fn from_json(backends: serde_json::Value, routing: Option<serde_json::Value>) -> Result<FleetConfig> {
        let invalid = |argument: &str, e: serde_json::Error| Error::InvalidArgument {
            argument: argument.into(),
            message: format!("{e} (expected what a [[backends]] entry / [routing] of the config file holds)"),
        };
        let backends = serde_json::from_value(backends).map_err(|e| invalid("backends", e))?;
        let routing = match routing {
            Some(r) => serde_json::from_value(r).map_err(|e| invalid("routing", e))?,
            None => RoutingConfig::default(),
        };
        Ok(FleetConfig { backends, routing })
    }

    /// Whether any backend is listed.
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// Checks every entry and resolves it: names unique and well formed, the kind known, a URL
    /// for local backends, weights positive, credential variables set (read through `lookup`),
    /// then each backend's own [`BackendConfig::check`]. `base` gives the client-wide settings
    /// that are not credentials (URL policy, CA files used when an entry lists none). Every
    /// error names the entry and the field.
    pub fn resolve(
        &self,
        base: &BackendConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<MemberConfig>> {
        if self.routing.health_interval_ms == 0 {
            return Err(Error::InvalidArgument {
                argument: "routing.health_interval_ms".into(),
                message: "must be at least 1".into(),
            });
        }
        let mut seen = HashSet::new();
        let mut members = Vec::with_capacity(self.backends.len());
        for (i, entry) in self.backends.iter().enumerate() {
            let name = entry.name.trim();
            if !valid_name(name) {
                return Err(entry_error(
                    i,
                    name,
                    "name",
                    "every backend needs a name of letters, digits, '-', '_' or '.' (at most 64)",
                ));
            }
            if !seen.insert(name.to_owned()) {
                return Err(entry_error(
                    i,
                    name,
                    "name",
                    format!("the name {name:?} is used by an earlier entry"),
                ));
            }
            members.push(entry.resolve(i, base, &lookup)?);
        }
        Ok(members)
    }
}

impl NamedBackend {
    /// This entry resolved (see [`FleetConfig::resolve`]).
    fn resolve(
        &self,
        index: usize,
        base: &BackendConfig,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<MemberConfig> {
        let name = self.name.trim();
        let err = |field: &str, message: String| entry_error(index, name, field, message);
        let kind: BackendKind = self.kind.parse().map_err(|_| {
            err(
                "kind",
                format!(
                    "{:?} is not a backend kind: use \"local\", \"comfy-cloud\" or \"runcomfy\"",
                    self.kind
                ),
            )
        })?;
        let url = self.url.clone().filter(|u| !u.trim().is_empty());
        if kind == BackendKind::Local && url.is_none() {
            return Err(err("url", "missing: a local backend needs its ComfyUI URL".into()));
        }
        let weight = self.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            return Err(err("weight", format!("{weight} is not a positive number")));
        }
        let secret =
            |field: &str, literal: &Option<String>, env: &Option<String>| -> Result<Option<String>> {
                if let Some(var) = env.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                    return match lookup(var).filter(|v| !v.trim().is_empty()) {
                        Some(value) => Ok(Some(value)),
                        None => Err(err(
                            &format!("{field}_env"),
                            format!("the environment variable {var} is not set"),
                        )),
                    };
                }
                Ok(literal.clone().filter(|v| !v.trim().is_empty()))
            };
        let queue_version = match self.queue_version.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => Some(v.parse().map_err(|e: Error| err("queue_version", e.to_string()))?),
            None => None,
        };
        let backend = BackendConfig {
            kind,
            url,
            api_key: secret("api_key", &self.api_key, &self.api_key_env)?,
            comfy_api_key: secret("comfy_api_key", &self.comfy_api_key, &self.comfy_api_key_env)?,
            token: secret("token", &self.token, &self.token_env)?,
            deployment: self.deployment.clone().filter(|d| !d.trim().is_empty()),
            queue_version,
            allow_account_interrupt: self.allow_account_interrupt,
            ca_certs: if self.ca_certs.is_empty() { base.ca_certs.clone() } else { self.ca_certs.clone() },
            allow_private_urls: base.allow_private_urls,
            allowed_url_hosts: base.allowed_url_hosts.clone(),
            ..Default::default()
        };
        backend.check().map_err(|e| {
            let field = match &e {
                Error::InvalidArgument { argument, .. } if argument == "cloud_api_key" => "api_key",
                Error::InvalidArgument { argument, .. } if argument == "runcomfy_token" => "token",
                Error::InvalidArgument { argument, .. } if argument == "ca_cert" => "ca_certs",
                _ => "url",
            };
            err(field, e.to_string())
        })?;
        Ok(MemberConfig {
            name: name.to_owned(),
            priority: self.priority,
            weight,
            tags: self.tags.clone(),
            backend,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> FleetConfig {
        serde_json::from_str(json).unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn entries_resolve_with_their_own_credentials() {
        let fleet = parse(
            r#"{"backends":[
                {"name":"gpu1","kind":"local","url":"http://10.0.0.5:8188","tags":["sdxl"],"weight":2},
                {"name":"cloud","kind":"comfy-cloud","api_key_env":"MY_CLOUD_KEY","priority":1}
            ],"routing":{"overflow_queue":2}}"#,
        );
        let env = |name: &str| (name == "MY_CLOUD_KEY").then(|| "cloud-secret".to_owned());
        let members = fleet.resolve(&BackendConfig::default(), env).unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!((members[0].name.as_str(), members[0].weight, members[0].priority), ("gpu1", 2.0, 0));
        assert_eq!(members[0].backend.api_key, None, "the local entry gets no cloud key");
        assert_eq!(members[1].backend.api_key.as_deref(), Some("cloud-secret"));
        assert_eq!(members[1].backend.effective_url(), crate::backend::cloud::COMFY_CLOUD_URL);
        assert_eq!(fleet.routing.overflow_queue, 2);
        assert!(!format!("{:?}", fleet.backends).contains("cloud-secret"));
    }

    #[test]
    fn errors_name_the_entry_and_the_field() {
        let cases = [
            (
                r#"[{"name":"a","kind":"local","url":"http://h:1"},{"name":"a","kind":"local","url":"http://h:2"}]"#,
                "backends[1] (\"a\").name",
            ),
            (r#"[{"name":"x","kind":"runpod","url":"http://h:1"}]"#, "backends[0] (\"x\").kind"),
            (r#"[{"name":"x","kind":"local"}]"#, "backends[0] (\"x\").url"),
            (r#"[{"kind":"local","url":"http://h:1"}]"#, "backends[0].name"),
            (r#"[{"name":"c","kind":"comfy-cloud"}]"#, "backends[0] (\"c\").api_key"),
            (
                r#"[{"name":"c","kind":"comfy-cloud","api_key_env":"NOPE"}]"#,
                "backends[0] (\"c\").api_key_env",
            ),
            (r#"[{"name":"w","kind":"local","url":"http://h:1","weight":0}]"#, "backends[0] (\"w\").weight"),
            (r#"[{"name":"u","kind":"local","url":"ftp://h"}]"#, "backends[0] (\"u\").url"),
        ];
        for (backends, field) in cases {
            let fleet = parse(&format!(r#"{{"backends":{backends}}}"#));
            let e = fleet.resolve(&BackendConfig::default(), no_env).unwrap_err();
            assert_eq!(e.code(), "invalid_argument", "{backends}");
            assert!(e.to_string().contains(field), "{backends}: {e}");
        }
        assert!(serde_json::from_str::<FleetConfig>(r#"{"backends":[{"name":"a","urll":"x"}]}"#).is_err());
    }

    #[test]
    fn the_binding_form_parses_and_names_what_is_wrong() {
        let fleet = FleetConfig::from_json(
            serde_json::json!([{"name": "a", "kind": "local", "url": "http://h:1"}]),
            Some(serde_json::json!({"overflow_queue": 1})),
        )
        .unwrap();
        assert_eq!((fleet.backends.len(), fleet.routing.overflow_queue), (1, 1));
        let e = FleetConfig::from_json(serde_json::json!([{"name": "a", "urll": "x"}]), None).unwrap_err();
        assert!(e.to_string().contains("backends") && e.to_string().contains("urll"), "{e}");
        let e = FleetConfig::from_json(serde_json::json!([]), Some(serde_json::json!({"n": 1}))).unwrap_err();
        assert!(e.to_string().contains("routing"), "{e}");
    }

    #[test]
    fn client_wide_settings_that_are_not_credentials_apply() {
        let base = BackendConfig {
            allow_private_urls: true,
            api_key: Some("single-backend-key".into()),
            comfy_api_key: Some("single-partner-key".into()),
            ..Default::default()
        };
        let fleet = parse(r#"{"backends":[{"name":"a","kind":"local","url":"http://h:1"}]}"#);
        let members = fleet.resolve(&base, no_env).unwrap();
        assert!(members[0].backend.allow_private_urls);
        assert_eq!(
            (members[0].backend.api_key.as_deref(), members[0].backend.comfy_api_key.as_deref()),
            (None, None)
        );
    }
}
