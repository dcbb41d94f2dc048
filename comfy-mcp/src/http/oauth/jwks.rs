//! The issuer's signing keys: found from `jwks_url` or the issuer's metadata (RFC 8414, then
//! OpenID Connect discovery), fetched over HTTPS with timeouts, cached for an hour, and fetched
//! again when a token names an unknown `kid`, at most once per [`KID_REFETCH_COOLDOWN`] so
//! that made-up key ids cannot make this server hammer the issuer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde_json::Value;
use tokio::sync::Mutex;

use super::settings::checked_url;

/// How long fetched keys are used before they are fetched again.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Least time between two fetches caused by an unknown `kid`.
pub const KID_REFETCH_COOLDOWN: Duration = Duration::from_secs(60);
/// Largest metadata or JWKS document read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// One verification key.
#[derive(Clone)]
pub struct Key {
    /// Its `kid`, if any.
    pub kid: Option<String>,
    /// The algorithms it verifies (never HMAC, never `none`).
    pub algorithms: Vec<Algorithm>,
    /// The key.
    pub key: DecodingKey,
}

/// Why keys could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

#[derive(Default)]
struct Cache {
    keys: Vec<Key>,
    fetched_at: Option<Instant>,
    last_kid_refetch: Option<Instant>,
    jwks_url: Option<Url>,
    fetches: u64,
}

/// The cached key set of one issuer.
pub struct Jwks {
    issuer: String,
    configured_url: Option<String>,
    client: Result<reqwest::Client, String>,
    cache: Mutex<Cache>,
}

impl Jwks {
    /// Keys of `issuer`, from `jwks_url` if set. `ca_certs` are extra PEM CA files to trust.
    pub fn new(issuer: &str, jwks_url: Option<&str>, ca_certs: &[PathBuf]) -> Jwks {
        Jwks {
            issuer: issuer.to_owned(),
            configured_url: jwks_url.map(str::to_owned),
            client: http_client(ca_certs),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The keys that may verify a token with `kid` and `alg`: fetched if none are cached or
    /// they are older than [`JWKS_MAX_AGE`], fetched again (rate-limited) if `kid` is unknown.
    pub async fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<Key>, FetchError> {
        let mut cache = self.cache.lock().await;
        let mut fetched_now = false;
        if cache.fetched_at.is_none_or(|t| t.elapsed() >= JWKS_MAX_AGE) {
            match self.fetch(&mut cache).await {
                Ok(()) => fetched_now = true,
                // Stale keys beat none when the issuer is briefly unreachable.
                Err(e) if !cache.keys.is_empty() => {
                    tracing::warn!(error = %e, "cannot refresh the issuer's keys; using the cached ones")
                }
                Err(e) => return Err(e),
            }
        }
        let mut found = matching(&cache.keys, kid, alg);
        if found.is_empty()
            && kid.is_some()
            && !fetched_now
            && cache.last_kid_refetch.is_none_or(|t| t.elapsed() >= KID_REFETCH_COOLDOWN)
        {
            cache.last_kid_refetch = Some(Instant::now());
            tracing::info!("a token names an unknown key id; fetching the issuer's keys again");
            if let Err(e) = self.fetch(&mut cache).await {
                tracing::warn!(error = %e, "cannot refresh the issuer's keys");
            }
            found = matching(&cache.keys, kid, alg);
        }
        Ok(found)
    }

    /// How many times the key set was fetched (for logs and tests).
    pub async fn fetches(&self) -> u64 {
        self.cache.lock().await.fetches
    }

    async fn fetch(&self, cache: &mut Cache) -> Result<(), FetchError> {
        let client = self.client.as_ref().map_err(|e| FetchError(e.clone()))?;
        let url = match (&cache.jwks_url, &self.configured_url) {
            (Some(url), _) => url.clone(),
            (None, Some(raw)) => checked_url("jwks_url", raw).map_err(|e| FetchError(e.0))?,
            (None, None) => discover(client, &self.issuer).await?,
        };
        cache.fetches += 1;
        let doc = get_json(client, &url).await?;
        let keys = parse_jwks(&doc).map_err(|e| FetchError(format!("JWKS {url}: {e}")))?;
        tracing::debug!(url = %url, keys = keys.len(), "fetched the issuer's keys");
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        cache.jwks_url = Some(url);
        Ok(())
    }
}

fn http_client(ca_certs: &[PathBuf]) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("comfy-mcp/", env!("CARGO_PKG_VERSION")));
    for path in ca_certs {
        let pem = std::fs::read(path).map_err(|e| format!("reading CA file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| format!("building the HTTP client for the issuer: {e}"))
}

/// The candidate metadata URLs of `issuer`, in the order the MCP authorization spec gives:
/// RFC 8414 path insertion, OpenID Connect path insertion, OpenID Connect path appending.
pub fn discovery_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut paths = vec![
        format!("/.well-known/oauth-authorization-server{path}"),
        format!("/.well-known/openid-configuration{path}"),
    ];
    if !path.is_empty() {
        paths.push(format!("{path}/.well-known/openid-configuration"));
    }
    paths
        .into_iter()
        .map(|p| {
            let mut u = issuer.clone();
            u.set_path(&p);
            u.set_query(None);
            u
        })
        .collect()
}

async fn discover(client: &reqwest::Client, issuer: &str) -> Result<Url, FetchError> {
    let issuer_url = checked_url("issuer", issuer).map_err(|e| FetchError(e.0))?;
    let mut tried = Vec::new();
    for url in discovery_urls(&issuer_url) {
        match get_json(client, &url).await {
            Ok(doc) => {
                // RFC 8414 §3.3: the document must name the issuer it was fetched for.
                let named = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
                if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
                    return Err(FetchError(format!(
                        "issuer metadata {url} names issuer {named:?}, not {issuer:?}"
                    )));
                }
                let raw = doc.get("jwks_uri").and_then(Value::as_str).ok_or_else(|| {
                    FetchError(format!("issuer metadata {url} has no jwks_uri: set jwks_url in [http.oauth]"))
                })?;
                return checked_url("jwks_uri", raw).map_err(|e| FetchError(e.0));
            }
            Err(e) => tried.push(e.0),
        }
    }
    Err(FetchError(format!("no metadata found for issuer {issuer}: {}", tried.join("; "))))
}

async fn get_json(client: &reqwest::Client, url: &Url) -> Result<Value, FetchError> {
    let mut response = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(FetchError(format!("GET {url}: HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| FetchError(format!("GET {url}: {e}")))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError(format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| FetchError(format!("GET {url}: not JSON: {e}")))
}

/// The usable verification keys of a JWKS document. Keys this server cannot or must not use
/// (symmetric, encryption-only, unknown type or curve) are skipped; a document with no `keys`
/// array is an error.
pub fn parse_jwks(doc: &Value) -> Result<Vec<Key>, String> {
    let keys = doc.get("keys").and_then(Value::as_array).ok_or("no \"keys\" array")?;
    Ok(keys
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter_map(|jwk| key(&jwk))
        .collect())
}

fn key(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
        // Symmetric (`oct`) keys would let anyone who can read the JWKS sign tokens.
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm.map(|a| a.to_string().parse::<Algorithm>()) {
        Some(Ok(alg)) if family.contains(&alg) => vec![alg],
        Some(_) => return None,
        None => family,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { kid: jwk.common.key_id.clone(), algorithms, key })
}

fn matching(keys: &[Key], kid: Option<&str>, alg: Algorithm) -> Vec<Key> {
    keys.iter()
        .filter(|k| k.algorithms.contains(&alg) && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn discovery_urls_follow_the_spec_order() {
        let u =
            |s: &str| discovery_urls(&Url::parse(s).unwrap()).iter().map(Url::to_string).collect::<Vec<_>>();
        assert_eq!(
            u("https://auth.example"),
            vec![
                "https://auth.example/.well-known/oauth-authorization-server",
                "https://auth.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            u("https://auth.example/tenant1/"),
            vec![
                "https://auth.example/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example/.well-known/openid-configuration/tenant1",
                "https://auth.example/tenant1/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn symmetric_encryption_and_odd_keys_are_skipped() {
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-256", "use": "enc", "kid": "enc",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "sig", "alg": "ES256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "mislabelled", "alg": "RS256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird"},
        ]});
        let keys = parse_jwks(&doc).unwrap();
        assert_eq!(keys.iter().map(|k| k.kid.clone().unwrap()).collect::<Vec<_>>(), vec!["sig"]);
        assert_eq!(keys[0].algorithms, vec![Algorithm::ES256]);
        assert!(matching(&keys, Some("sig"), Algorithm::HS256).is_empty());
        assert_eq!(matching(&keys, None, Algorithm::ES256).len(), 1);
        assert!(parse_jwks(&json!({"nokeys": 1})).is_err());
    }
}
