//! Network safety for URLs that did not come from the operator's configuration.
//!
//! A backend's own base URL is trusted (a local ComfyUI on `127.0.0.1` keeps working). Every
//! other URL the core fetches — a hosted output URL a backend answered (RunComfy's CDN, Comfy
//! Cloud's signed storage URL), a redirect hop, a deployment's `object_info_url` — goes through
//! one [`UrlPolicy`]: http(s) only, and no loopback, private, link-local (cloud metadata),
//! carrier-grade NAT, unique-local, multicast or otherwise non-public address unless the
//! operator allows private targets ([`UrlPolicy::allow_private`]) or names the host
//! ([`UrlPolicy::allowed_hosts`]). The address checked is the address connected to (the
//! guarded HTTP client resolves names through a filtering resolver), so a DNS answer that
//! changes between the check and the connection does not get through, and every redirect hop
//! is checked again.

mod classify;
mod guard;

pub use classify::refusal as address_refusal;
pub(crate) use guard::{GuardedResolver, refused_in};
pub use guard::{UrlPolicy, shown_url};
