//! [`UrlPolicy`]: the check of a URL before it is fetched, and the resolver that pins the
//! connection to checked addresses.

use std::net::{IpAddr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};

use super::classify::refusal;
use crate::error::{Error, Result};

/// Which targets a URL fetched on someone else's behalf may have. The default refuses every
/// non-public address; the scheme must be `http` or `https` whatever the policy says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UrlPolicy {
    /// Allow loopback, private, link-local and other non-public addresses (an operator running
    /// its own storage on a private network, or tests against local fakes). Default false.
    pub allow_private: bool,
    /// Hosts allowed whatever their address: a name or IP address, optionally with `:port`
    /// (`minio.internal`, `127.0.0.1:9000`, `[::1]:9000`). Matched case-insensitively.
    pub allowed_hosts: Vec<String>,
}

/// A URL for messages: scheme, host, port and path, without credentials, query or fragment
/// (signed URLs carry their signature in the query), at most 200 characters.
pub fn shown_url(url: &str) -> String {
    let shown = match Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            match u.scheme() {
                "http" | "https" | "ftp" | "ws" | "wss" | "gopher" => {
                    format!("{}://{host}{port}{}", u.scheme(), u.path())
                }
                other => format!("{other}:{}", u.path()),
            }
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or("").to_owned(),
    };
    if shown.chars().count() > 200 {
        format!("{}…", shown.chars().take(200).collect::<String>())
    } else {
        shown
    }
}

/// `host` without IPv6 brackets, lower-case.
fn bare(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

impl UrlPolicy {
    /// A policy that allows private targets (the scheme is still checked).
    pub fn allow_private() -> Self {
        UrlPolicy { allow_private: true, allowed_hosts: Vec::new() }
    }

    /// Adds a host allowed whatever its address.
    pub fn with_allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// Whether `host` (and `port`, when the entry names one) is on the allow-list.
    fn host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        let host = bare(host);
        self.allowed_hosts.iter().any(|entry| {
            let Ok(parsed) = Url::parse(&format!("http://{}/", entry.trim())) else {
                return false;
            };
            let entry_host = parsed.host_str().map(bare);
            let entry_port = parsed.port();
            entry_host.as_deref() == Some(host.as_str())
                && (entry_port.is_none() || port.is_none() || entry_port == port)
        })
    }

    /// Whether non-public addresses of `host` are acceptable.
    fn private_ok(&self, host: &str, port: Option<u16>) -> bool {
        self.allow_private || self.host_allowed(host, port)
    }

    fn refused(url: &str, reason: String) -> Error {
        Error::UrlNotAllowed { url: shown_url(url), reason }
    }

    fn private_reason(host: &str, ip: IpAddr, why: &str) -> String {
        let ip = ip.to_string();
        let at = if bare(host) == ip { String::new() } else { format!(" (resolves to {ip})") };
        format!(
            "{host}{at} is {why}; fetches on a caller's behalf may only reach public addresses unless \
             the operator allows private ones (allow_private_urls) or this host (allowed_url_hosts)"
        )
    }

    /// Checks what can be checked without the network: an absolute `http`/`https` URL with a
    /// host, and an IP-literal host that is public (or allowed). Answers the parsed URL.
    pub fn check_static(&self, url: &str) -> Result<Url> {
        let parsed = Url::parse(url).map_err(|e| Self::refused(url, format!("not an absolute URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Self::refused(
                url,
                format!(
                    "the scheme {:?} is not allowed: only http and https URLs are fetched",
                    parsed.scheme()
                ),
            ));
        }
        let name = match parsed.host_str() {
            Some(h) if !h.is_empty() => h,
            _ => return Err(Self::refused(url, "the URL has no host".into())),
        };
        let port = parsed.port_or_known_default();
        if let Ok(ip) = bare(name).parse::<IpAddr>()
            && let Some(why) = refusal(ip)
            && !self.private_ok(name, port)
        {
            return Err(Self::refused(url, Self::private_reason(name, ip, why)));
        }
        Ok(parsed)
    }

    /// [`check_static`](Self::check_static), then the addresses a host name resolves to: one
    /// that is not public refuses the URL. A name that does not resolve here is left to the
    /// connection (it fails there, or a proxy resolves it); the guarded client's resolver
    /// checks the addresses it connects to again.
    pub async fn check(&self, url: &str) -> Result<Url> {
        let parsed = self.check_static(url)?;
        let port = parsed.port_or_known_default();
        let name = parsed.host_str().unwrap_or_default();
        if bare(name).parse::<IpAddr>().is_err()
            && !self.private_ok(name, port)
            && let Ok(addrs) = tokio::net::lookup_host((name, port.unwrap_or(80))).await
        {
            for addr in addrs {
                if let Some(why) = refusal(addr.ip()) {
                    return Err(Self::refused(url, Self::private_reason(name, addr.ip(), why)));
                }
            }
        }
        Ok(parsed)
    }
}

/// A resolution the guarded resolver refused (found in a transport error's sources by
/// [`refused_in`]).
#[derive(Debug)]
pub(crate) struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub why: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves to {}, {}", self.host, self.ip, self.why)
    }
}

impl std::error::Error for Refused {}

/// The [`Error::UrlNotAllowed`] for a transport error caused by the guarded resolver.
pub(crate) fn refused_in(url: &str, e: &(dyn std::error::Error + 'static)) -> Option<Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(UrlPolicy::refused(url, UrlPolicy::private_reason(&r.host, r.ip, r.why)));
        }
        cur = err.source();
    }
    None
}

/// The resolver of the guarded HTTP client: resolves like the system does and refuses a name
/// with any non-public address (unless the policy allows it), so the connection only ever goes
/// to addresses that were checked. Proxy hosts from the environment are exempt (a proxy then
/// resolves the target, which [`UrlPolicy::check`] looked at first).
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    policy: UrlPolicy,
    exempt: Vec<String>,
}

impl GuardedResolver {
    pub(crate) fn new(policy: UrlPolicy) -> Self {
        GuardedResolver { policy, exempt: proxy_hosts() }
    }
}

/// The hosts of the proxies named by the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`
/// in either case), which reqwest uses by default.
fn proxy_hosts() -> Vec<String> {
    ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .filter_map(|v| {
            let v = v.trim().to_owned();
            let with_scheme = if v.contains("://") { v } else { format!("http://{v}") };
            Url::parse(&with_scheme).ok()?.host_str().map(bare)
        })
        .collect()
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let open = self.policy.private_ok(&host, None) || self.exempt.contains(&bare(&host));
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !open && let Some(ip) = addrs.iter().map(SocketAddr::ip).find(|ip| refusal(*ip).is_some()) {
                let why = refusal(ip).unwrap_or("not public");
                return Err(Box::new(Refused { host, ip, why }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn code(r: Result<Url>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn schemes_and_literal_addresses_are_checked() {
        let p = UrlPolicy::default();
        for bad in [
            "file:///etc/passwd",
            "gopher://example.com/",
            "ftp://example.com/x",
            "data:text/plain,hi",
            "http://127.0.0.1:8188/view",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00:ec2::254]/",
            "http://10.0.0.5/x",
            "http://0.0.0.0:80/",
            "http://2130706433/",
            "http://0x7f.1/",
            "not a url",
        ] {
            assert_eq!(code(p.check_static(bad)), "url_not_allowed", "{bad}");
        }
        assert_eq!(code(p.check_static("https://cdn.example.com/o.png?sig=1")), "ok");
        assert_eq!(code(p.check_static("http://8.8.8.8/x")), "ok");

        let open = UrlPolicy::allow_private();
        assert_eq!(code(open.check_static("http://127.0.0.1:1/")), "ok");
        assert_eq!(code(open.check_static("file:///etc/passwd")), "url_not_allowed", "never another scheme");

        let listed = UrlPolicy::default().with_allowed_host("127.0.0.1:9000").with_allowed_host("[::1]");
        assert_eq!(code(listed.check_static("http://127.0.0.1:9000/a")), "ok");
        assert_eq!(code(listed.check_static("http://127.0.0.1:9001/a")), "url_not_allowed");
        assert_eq!(code(listed.check_static("http://[::1]:5/a")), "ok");
    }

    #[test]
    fn errors_name_the_url_without_secrets_and_say_why() {
        let e = UrlPolicy::default()
            .check_static("http://user:pw@169.254.169.254/latest/?X-Goog-Signature=abc#f")
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("http://169.254.169.254/latest/"), "{text}");
        assert!(text.contains("link-local") && text.contains("allow_private_urls"), "{text}");
        assert!(!text.contains("pw") && !text.contains("abc"), "{text}");
        assert!(!e.is_retryable());
        let e = UrlPolicy::default().check_static("file:///etc/shadow").unwrap_err();
        assert!(e.to_string().contains("\"file\""), "{e}");
    }

    #[tokio::test]
    async fn names_are_resolved_and_checked() {
        let e = UrlPolicy::default().check("http://localhost:9/x").await.unwrap_err();
        assert_eq!(e.code(), "url_not_allowed");
        assert!(e.to_string().contains("resolves to"), "{e}");
        assert!(UrlPolicy::allow_private().check("http://localhost:9/x").await.is_ok());
        assert!(
            UrlPolicy::default().with_allowed_host("LOCALHOST").check("http://localhost:9/x").await.is_ok()
        );
        // A name that does not resolve is left to the connection.
        assert!(UrlPolicy::default().check("http://no-such-host.invalid/").await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_private_answers() {
        let r = GuardedResolver { policy: UrlPolicy::default(), exempt: Vec::new() };
        let e = r.resolve(Name::from_str("localhost").unwrap()).await.err().expect("refused");
        let refused = refused_in("http://localhost/", e.as_ref()).expect("a Refused error");
        assert_eq!(refused.code(), "url_not_allowed");
        let open = GuardedResolver { policy: UrlPolicy::allow_private(), exempt: Vec::new() };
        let addrs: Vec<SocketAddr> =
            open.resolve(Name::from_str("localhost").unwrap()).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        let exempt = GuardedResolver { policy: UrlPolicy::default(), exempt: vec!["localhost".into()] };
        assert!(exempt.resolve(Name::from_str("localhost").unwrap()).await.is_ok());
    }

    #[test]
    fn shown_urls_drop_credentials_and_queries() {
        assert_eq!(shown_url("https://u:p@h.example:8443/a/b?sig=s#x"), "https://h.example:8443/a/b");
        assert_eq!(shown_url("file:///etc/passwd"), "file:/etc/passwd");
        assert_eq!(shown_url("nope?secret"), "nope");
        assert!(shown_url(&format!("https://h/{}", "a".repeat(500))).chars().count() <= 201);
    }
}
