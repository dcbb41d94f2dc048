//! What a client can say about its backend: [`Comfy::server_info`] (kind, versions, auth state,
//! capabilities; never a secret) and [`Comfy::billing_status`].

use serde::Serialize;

use super::Comfy;
use crate::backend::{AuthState, BackendKind, BillingStatus, Capabilities};
use crate::error::Result;

/// The backend as [`Comfy::server_info`] describes it. Holds no credential, and the backend
/// name has any `user:password@` removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ServerInfo {
    /// The backend's name (`local:<url>`, `cloud:<url>`).
    pub backend: String,
    /// Which kind of backend.
    pub kind: BackendKind,
    /// Whether the backend answered just now.
    pub reachable: bool,
    /// Why it did not answer (stable error code and message), when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    /// The ComfyUI version the backend reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// This library's version.
    pub client_version: String,
    /// The state of our credential for the backend.
    pub auth: AuthState,
    /// The account's status, where the backend reports one (Comfy Cloud: `active`, `waitlisted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_status: Option<String>,
    /// A Comfy API key for partner (API) nodes is configured.
    pub partner_nodes_key: bool,
    /// What the backend can do.
    pub capabilities: Capabilities,
    /// Jobs this client is running now.
    pub running_jobs: usize,
    /// The backends jobs can be pinned to by name (`backend` arguments), with their routing
    /// state: the members of a fleet (`[[backends]]`), or the one backend under its kind.
    pub backends: Vec<crate::backend::fleet::MemberInfo>,
}

impl Comfy {
    /// Describes the backend: kind, versions, whether it answers, the state of our credential
    /// (checked with the backend where that has no side effects) and its capabilities. An
    /// unreachable backend is reported, not an error.
    pub async fn server_info(&self) -> Result<ServerInfo> {
        let backend = self.backend();
        let (health, identity) = tokio::join!(backend.health(), backend.identity());
        let (reachable, unreachable, server_version) = match health {
            Ok(h) => (true, None, h.version),
            Err(e) => (false, Some(format!("{}: {e}", e.code())), None),
        };
        Ok(ServerInfo {
            backend: without_userinfo(backend.name()),
            kind: identity.kind,
            reachable,
            unreachable: unreachable.map(|m| without_userinfo(&m)),
            server_version,
            client_version: env!("CARGO_PKG_VERSION").to_owned(),
            auth: identity.auth,
            account_status: identity.account_status,
            partner_nodes_key: identity.partner_nodes_key,
            capabilities: backend.capabilities(),
            running_jobs: self.running_jobs(),
            backends: self.backends(),
        })
    }

    /// The account's balance (US dollars and credits) and subscription, where the backend has
    /// billing (Comfy Cloud); elsewhere [`Error::NotSupported`](crate::Error::NotSupported).
    pub async fn billing_status(&self) -> Result<BillingStatus> {
        self.backend().billing().await
    }
}

/// `text` with the `user:password@` part of every URL in it removed.
pub(crate) fn without_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', ' ', '?', '#']).unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => rest = &tail[at + 1..],
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::without_userinfo;
    use crate::backend::BillingStatus;

    #[test]
    fn userinfo_is_removed_from_every_url_and_nothing_else() {
        assert_eq!(without_userinfo("local:http://u:secret@host:8188/x"), "local:http://host:8188/x");
        assert_eq!(without_userinfo("cloud:https://cloud.comfy.org"), "cloud:https://cloud.comfy.org");
        assert_eq!(
            without_userinfo("GET http://a:b@h/p failed; see https://c@d/e?x=f@g"),
            "GET http://h/p failed; see https://d/e?x=f@g"
        );
        assert_eq!(without_userinfo("no url, me@example.org"), "no url, me@example.org");
    }

    #[test]
    fn the_balance_is_the_first_non_zero_field_and_only_scalars_of_the_status_are_kept() {
        let status = json!({"is_active": true, "subscription_tier": "STANDARD", "plan": {"nested": 1}});
        let balance = json!({"effective_balance_micros": 0, "amount_micros": 5_000_000});
        let b = BillingStatus::from_cloud(&status, &balance);
        assert_eq!(b.balance_usd, Some(5.0));
        assert_eq!(b.balance_credits, Some(1055.0));
        assert_eq!(b.subscription.len(), 2, "{:?}", b.subscription);
        assert_eq!(b.subscription["subscription_tier"], "STANDARD");
        // All present fields zero: the balance is zero; none present: unknown.
        let zero = BillingStatus::from_cloud(&json!({}), &json!({"amount_micros": 0}));
        assert_eq!((zero.balance_usd, zero.balance_credits), (Some(0.0), Some(0.0)));
        let unknown = BillingStatus::from_cloud(&json!([]), &json!({"other": 3}));
        assert_eq!((unknown.balance_usd, unknown.balance_credits), (None, None));
        assert!(unknown.subscription.is_empty());
    }
}
