//! OAuth 2.1 resource server over streamable HTTP: a local issuer (metadata + JWKS, keys made
//! by the test) signs access tokens; the server publishes its protected-resource metadata,
//! challenges with `resource_metadata`, verifies tokens and maps their scopes to tools.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use clap::Parser;
use comfy_mcp::config::{FileConfig, Settings, TokenConfig};
use comfy_mcp::http::oauth::OAuthSettings;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

// ---- the issuer -------------------------------------------------------------------------

/// A signing key and its public JWK.
struct TestKey {
    kid: String,
    alg: Algorithm,
    enc: EncodingKey,
    jwk: Value,
}

fn key(kid: &str, alg: Algorithm) -> TestKey {
    let rc_alg = match alg {
        Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        Algorithm::RS256 => &rcgen::PKCS_RSA_SHA256,
        other => panic!("no test key for {other:?}"),
    };
    let pair = rcgen::KeyPair::generate_for(rc_alg).unwrap();
    let der = pair.serialize_der();
    let enc = if alg == Algorithm::ES256 {
        EncodingKey::from_ec_der(&der)
    } else {
        EncodingKey::from_rsa_der(pkcs8_inner(&der))
    };
    let mut jwk = Jwk::from_encoding_key(&enc, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    TestKey { kid: kid.to_owned(), alg, enc, jwk: serde_json::to_value(jwk).unwrap() }
}

/// The PKCS #1 `RSAPrivateKey` inside a PKCS #8 `PrivateKeyInfo` (what jsonwebtoken wants for
/// RSA): SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING key }.
fn pkcs8_inner(der: &[u8]) -> &[u8] {
    // (tag, header length, content length) of the DER element at the start of `d`.
    fn element(d: &[u8]) -> (u8, usize, usize) {
        let first = d[1] as usize;
        if first < 0x80 {
            return (d[0], 2, first);
        }
        let n = first & 0x7f;
        let len = d[2..2 + n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (d[0], 2 + n, len)
    }
    let (_, h, _) = element(der);
    let mut rest = &der[h..];
    for _ in 0..2 {
        let (_, h, len) = element(rest);
        rest = &rest[h + len..];
    }
    let (tag, h, len) = element(rest);
    assert_eq!(tag, 0x04, "an OCTET STRING");
    &rest[h..h + len]
}

#[derive(Default)]
struct IssuerState {
    base: String,
    keys: Mutex<Vec<Value>>,
    jwks_hits: AtomicUsize,
    /// Serve only OpenID Connect discovery (no RFC 8414 document).
    oidc_only: bool,
}

struct Issuer {
    state: Arc<IssuerState>,
    shutdown: CancellationToken,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Issuer {
    fn url(&self) -> String {
        self.state.base.clone()
    }
    fn publish(&self, keys: &[&TestKey]) {
        *self.state.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }
    fn publish_raw(&self, jwk: Value) {
        self.state.keys.lock().unwrap().push(jwk);
    }
    fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }
}

async fn issuer(oidc_only: bool) -> Issuer {
    async fn rfc8414(State(s): State<Arc<IssuerState>>) -> axum::response::Response {
        use axum::response::IntoResponse;
        if s.oidc_only {
            return http::StatusCode::NOT_FOUND.into_response();
        }
        axum::Json(json!({"issuer": s.base, "jwks_uri": format!("{}/keys", s.base)})).into_response()
    }
    async fn oidc(State(s): State<Arc<IssuerState>>) -> axum::Json<Value> {
        axum::Json(json!({"issuer": s.base, "jwks_uri": format!("{}/keys", s.base)}))
    }
    async fn jwks(State(s): State<Arc<IssuerState>>) -> axum::Json<Value> {
        s.jwks_hits.fetch_add(1, Ordering::SeqCst);
        axum::Json(json!({"keys": s.keys.lock().unwrap().clone()}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let state = Arc::new(IssuerState {
        base: format!("http://{}", listener.local_addr().unwrap()),
        oidc_only,
        ..Default::default()
    });
    let app = axum::Router::new()
        .route("/.well-known/oauth-authorization-server", get(rfc8414))
        .route("/.well-known/openid-configuration", get(oidc))
        .route("/keys", get(jwks))
        .with_state(state.clone());
    let shutdown = CancellationToken::new();
    let ct = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(async move { ct.cancelled().await }).await;
    });
    Issuer { state, shutdown }
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.enc).unwrap()
}

// ---- the server -------------------------------------------------------------------------

struct Server {
    base: String,
    _fake: comfy_fake::FakeComfyUi,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Server {
    fn resource(&self) -> String {
        format!("{}/mcp", self.base)
    }
    /// Claims for this server from `issuer`, valid for five minutes, with `scope`.
    fn claims(&self, issuer: &str, scope: &str) -> Value {
        json!({"iss": issuer, "sub": "user-1", "aud": self.resource(), "exp": now() + 300, "iat": now(), "scope": scope})
    }
}

async fn serve(oauth: impl FnOnce(&str) -> Option<OAuthSettings>, tokens: Vec<TokenConfig>) -> Server {
    let fake = common::fake().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let oauth = oauth(&format!("{base}/mcp"));
    let state = common::state_for(&fake.url(), |s| {
        s.http.tokens = tokens;
        s.http.oauth = oauth;
    });
    let (_, shutdown) = common::serve_http_on(state, listener).await;
    Server { base, _fake: fake, shutdown }
}

fn oauth_for(issuer: &str) -> impl FnOnce(&str) -> Option<OAuthSettings> {
    let issuer = issuer.to_owned();
    move |resource| {
        let mut scopes = BTreeMap::new();
        scopes.insert("images:read".to_string(), vec!["get_output".to_string(), "list_assets".to_string()]);
        Some(OAuthSettings {
            issuer,
            resource: resource.to_owned(),
            jwks_url: None,
            audience: resource.to_owned(),
            admin_scope: "comfy:all".into(),
            scopes,
        })
    }
}

fn static_admin() -> Vec<TokenConfig> {
    vec![TokenConfig {
        name: Some("admin".into()),
        token: "admin-secret".into(),
        tools: None,
        admin: false,
        team: None,
    }]
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

fn call(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": {}}})
}

async fn post(base: &str, bearer: Option<&str>, body: &Value) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = bearer {
        r = r.header("authorization", format!("Bearer {token}"));
    }
    r.send().await.unwrap()
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn client(base: &str, token: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let t = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(token.to_owned()),
    );
    ().serve(t).await.expect("HTTP client connects")
}

// ---- tests ------------------------------------------------------------------------------

#[tokio::test]
async fn metadata_and_challenges_point_to_each_other() {
    let iss = issuer(false).await;
    let s = serve(oauth_for(&iss.url()), static_admin()).await;
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", s.base);
    for url in [format!("{}/.well-known/oauth-protected-resource", s.base), metadata_url.clone()] {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["resource"], s.resource());
        assert_eq!(doc["authorization_servers"], json!([iss.url()]));
        assert_eq!(doc["scopes_supported"], json!(["comfy:all", "images:read"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }

    let r = post(&s.base, None, &initialize()).await;
    assert_eq!(r.status(), 401);
    let c = challenge(&r);
    assert!(c.starts_with("Bearer "), "{c}");
    assert!(c.contains(&format!("resource_metadata=\"{metadata_url}\"")), "{c}");
    assert!(!c.contains("error="), "no token, no error code: {c}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");

    for bad in ["wrong-static", "aaa.bbb.ccc"] {
        let r = post(&s.base, Some(bad), &initialize()).await;
        assert_eq!(r.status(), 401, "{bad}");
        let c = challenge(&r);
        assert!(c.contains("error=\"invalid_token\"") && c.contains("resource_metadata="), "{c}");
    }
}

#[tokio::test]
async fn without_oauth_nothing_changes() {
    let s = serve(|_| None, static_admin()).await;
    // No metadata (unknown paths are behind the token check, as before).
    let r = reqwest::get(format!("{}/.well-known/oauth-protected-resource", s.base)).await.unwrap();
    assert_eq!((r.status().as_u16(), challenge(&r)), (401, "Bearer realm=\"comfy-mcp\"".to_string()));
    let r = post(&s.base, None, &initialize()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(&r), "Bearer realm=\"comfy-mcp\"");
    // A JWT-shaped bearer is just a wrong static token here.
    let r = post(&s.base, Some("aaa.bbb.ccc"), &initialize()).await;
    assert_eq!((r.status().as_u16(), challenge(&r)), (401, "Bearer realm=\"comfy-mcp\"".to_string()));
}

#[tokio::test]
async fn valid_tokens_work_and_their_scopes_choose_the_tools() {
    let iss = issuer(false).await;
    let k1 = key("k1", Algorithm::ES256);
    let rsa = key("rsa1", Algorithm::RS256);
    iss.publish(&[&k1, &rsa]);
    let s = serve(oauth_for(&iss.url()), static_admin()).await;

    // Every tool with the admin scope, through a real client, ES256 and RS256 alike.
    for k in [&k1, &rsa] {
        let admin = client(&s.base, &sign(k, &s.claims(&iss.url(), "openid comfy:all"))).await;
        let tools = admin.list_all_tools().await.unwrap();
        assert!(tools.len() >= 18, "{}", tools.len());
        let r = admin.call_tool(CallToolRequestParams::new("get_queue")).await.unwrap();
        assert_ne!(r.is_error, Some(true), "{:?}", r.structured_content);
        let _ = admin.cancel().await;
    }

    // `comfy:tools:<pattern>` and a configured scope: only those tools.
    let scoped = sign(&k1, &s.claims(&iss.url(), "comfy:tools:get_queue images:read"));
    let reader = client(&s.base, &scoped).await;
    let mut names: Vec<String> =
        reader.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["get_output", "get_queue", "list_assets"]);
    assert_ne!(reader.call_tool(CallToolRequestParams::new("get_queue")).await.unwrap().is_error, Some(true));
    let _ = reader.cancel().await;
    let r = post(&s.base, Some(&scoped), &call("submit_workflow")).await;
    assert_eq!(r.status(), 403);
    let c = challenge(&r);
    assert!(
        c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"comfy:tools:submit_workflow\""),
        "{c}"
    );

    // A scope that maps to nothing: authenticated, but no tools.
    let nothing = sign(&k1, &s.claims(&iss.url(), "openid profile"));
    assert_eq!(post(&s.base, Some(&nothing), &initialize()).await.status(), 200);
    assert_eq!(post(&s.base, Some(&nothing), &call("get_queue")).await.status(), 403);
    let none = client(&s.base, &nothing).await;
    assert!(none.list_all_tools().await.unwrap().is_empty());
    let _ = none.cancel().await;

    // The static token still works beside OAuth.
    assert_eq!(post(&s.base, Some("admin-secret"), &initialize()).await.status(), 200);
    // In scope: not refused by the guard (rmcp then wants a session; anything but 401/403/429).
    let r = post(&s.base, Some("admin-secret"), &call("submit_workflow")).await;
    assert!(![401, 403, 429].contains(&r.status().as_u16()), "{}", r.status());
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let iss = issuer(false).await;
    let k1 = key("k1", Algorithm::ES256);
    iss.publish(&[&k1]);
    // An HMAC key under the same kid: an HS256 token "signed" with it must still be refused.
    iss.publish_raw(json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}));
    let s = serve(oauth_for(&iss.url()), vec![]).await;
    let good = s.claims(&iss.url(), "comfy:all");
    assert_eq!(
        post(&s.base, Some(&sign(&k1, &good)), &initialize()).await.status(),
        200,
        "the control token"
    );

    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let other_key = key("k1", Algorithm::ES256); // same kid, another key: bad signature
    let hs = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("hs".into());
        jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(b"secret-secret-secret-secret").unwrap())
            .unwrap()
    };
    let none = {
        use base64::Engine;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(&json!({"alg": "none", "kid": "k1"})), b64(&good))
    };
    let cases = [
        ("expired", sign(&k1, &with(json!({"exp": now() - 120})))),
        ("not yet valid", sign(&k1, &with(json!({"nbf": now() + 600})))),
        ("wrong audience", sign(&k1, &with(json!({"aud": "https://elsewhere.example/mcp"})))),
        ("no audience", sign(&k1, &with(json!({"aud": null})))),
        ("wrong issuer", sign(&k1, &with(json!({"iss": "https://evil.example"})))),
        ("no subject", sign(&k1, &with(json!({"sub": null})))),
        ("bad signature", sign(&other_key, &good)),
        ("HS256", hs),
        ("alg none", none),
    ];
    for (what, token) in cases {
        let r = post(&s.base, Some(&token), &initialize()).await;
        assert_eq!(r.status(), 401, "{what}");
        assert!(challenge(&r).contains("error=\"invalid_token\""), "{what}: {}", challenge(&r));
    }
    // A list audience containing this server is fine.
    let both = with(json!({"aud": ["https://other.example", s.resource()]}));
    assert_eq!(post(&s.base, Some(&sign(&k1, &both)), &initialize()).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_once() {
    let iss = issuer(false).await;
    let k1 = key("k1", Algorithm::ES256);
    iss.publish(&[&k1]);
    let s = serve(oauth_for(&iss.url()), vec![]).await;
    assert_eq!(iss.jwks_hits(), 0, "keys are fetched on first use");
    let claims = s.claims(&iss.url(), "comfy:all");
    assert_eq!(post(&s.base, Some(&sign(&k1, &claims)), &initialize()).await.status(), 200);
    assert_eq!(post(&s.base, Some(&sign(&k1, &claims)), &initialize()).await.status(), 200);
    assert_eq!(iss.jwks_hits(), 1, "cached");

    // The issuer rotates its key: the new kid is fetched once.
    let k2 = key("k2", Algorithm::ES256);
    iss.publish(&[&k1, &k2]);
    assert_eq!(post(&s.base, Some(&sign(&k2, &claims)), &initialize()).await.status(), 200);
    assert_eq!(iss.jwks_hits(), 2);

    // Made-up kids do not make the server hammer the issuer.
    for i in 0..5 {
        let junk = key(&format!("junk{i}"), Algorithm::ES256);
        assert_eq!(post(&s.base, Some(&sign(&junk, &claims)), &initialize()).await.status(), 401);
    }
    assert_eq!(iss.jwks_hits(), 2);
    assert_eq!(post(&s.base, Some(&sign(&k2, &claims)), &initialize()).await.status(), 200);
}

#[tokio::test]
async fn openid_discovery_and_an_unreachable_issuer() {
    let iss = issuer(true).await;
    let k1 = key("k1", Algorithm::ES256);
    iss.publish(&[&k1]);
    let s = serve(oauth_for(&iss.url()), vec![]).await;
    let claims = s.claims(&iss.url(), "comfy:all");
    assert_eq!(post(&s.base, Some(&sign(&k1, &claims)), &initialize()).await.status(), 200);
    assert_eq!(iss.jwks_hits(), 1);

    // An issuer that does not answer: 503, not a 401 that would send clients to log in again.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let s = serve(oauth_for(&gone), vec![]).await;
    let r = post(&s.base, Some(&sign(&k1, &s.claims(&gone, "comfy:all"))), &initialize()).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "auth_unavailable");
}

#[tokio::test]
async fn a_configured_jwks_url_and_a_jwt_shaped_static_token() {
    let iss = issuer(true).await;
    let k1 = key("k1", Algorithm::ES256);
    iss.publish(&[&k1]);
    let jwks_url = format!("{}/keys", iss.url());
    let issuer_url = "https://auth.example"; // never fetched: the JWKS URL is configured
    let s = serve(
        move |resource| {
            let mut o = oauth_for(issuer_url)(resource).unwrap();
            o.jwks_url = Some(jwks_url);
            Some(o)
        },
        vec![TokenConfig {
            name: Some("dotted".into()),
            token: "aaa.bbb.ccc".into(),
            tools: None,
            admin: false,
            team: None,
        }],
    )
    .await;
    assert_eq!(
        post(&s.base, Some(&sign(&k1, &s.claims(issuer_url, "comfy:all"))), &initialize()).await.status(),
        200
    );
    assert_eq!(post(&s.base, Some("aaa.bbb.ccc"), &initialize()).await.status(), 200, "static first");
}

#[test]
fn configuration_flags_file_and_the_listen_rule() {
    let args = |argv: &[&str]| {
        let mut full = vec!["comfy-mcp"];
        full.extend_from_slice(argv);
        comfy_mcp::cli::Cli::try_parse_from(full).unwrap().server
    };
    let file = FileConfig::parse(
        "[http.oauth]\nissuer = \"https://auth.example\"\nresource = \"https://comfy.example/mcp\"\n\
         [http.oauth.scopes]\n\"images:read\" = [\"get_output\"]\n",
    )
    .unwrap();
    // OAuth counts as authentication for a public address.
    let public = args(&["--transport", "http", "--listen", "0.0.0.0:9000"]);
    let s = Settings::merge(&public, file.clone()).unwrap();
    let o = s.http.oauth.as_ref().unwrap();
    assert_eq!(
        (o.issuer.as_str(), o.audience.as_str()),
        ("https://auth.example", "https://comfy.example/mcp")
    );
    let text = s.to_toml();
    assert!(text.contains("[http.oauth]") && text.contains("issuer = \"https://auth.example\""), "{text}");
    let e = Settings::merge(&public, FileConfig::default()).unwrap_err();
    assert!(e.0.contains("without an access token") && e.0.contains("--oauth-issuer"), "{e}");
    // Flags override the file.
    let flagged =
        args(&["--oauth-issuer", "https://flag.example", "--oauth-resource", "https://r.example/mcp"]);
    let s = Settings::merge(&flagged, file).unwrap();
    assert_eq!(s.http.oauth.as_ref().unwrap().issuer, "https://flag.example");
    assert_eq!(s.http.oauth.as_ref().unwrap().scopes.len(), 1, "the file's scope table stays");
    // Bad values are named.
    let e = Settings::merge(&args(&["--oauth-issuer", "ftp://x"]), FileConfig::default()).unwrap_err();
    assert!(e.0.contains("no resource"), "{e}");
    let bad = args(&["--oauth-issuer", "http://auth.example", "--oauth-resource", "https://r.example/mcp"]);
    let e = Settings::merge(&bad, FileConfig::default()).unwrap_err();
    assert!(e.0.contains("issuer") && e.0.contains("https://"), "{e}");
    assert!(FileConfig::parse("[http.oauth]\nisuer = \"x\"\n").is_err(), "unknown keys are refused");
}

#[tokio::test]
async fn the_binary_takes_oauth_from_the_environment() {
    let run = |env: &[(&str, &str)]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_comfy-mcp"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["--transport", "http", "--listen", "0.0.0.0:9000", "--print-config"])
            .kill_on_drop(true);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output()
    };
    let out = run(&[
        ("COMFY_MCP_OAUTH_ISSUER", "https://auth.example"),
        ("COMFY_MCP_OAUTH_RESOURCE", "https://comfy.example/mcp"),
    ])
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        printed.contains("[http.oauth]") && printed.contains("audience = \"https://comfy.example/mcp\""),
        "{printed}"
    );
    assert!(printed.contains("admin_scope = \"comfy:all\""), "{printed}");

    let out = run(&[("COMFY_MCP_OAUTH_ISSUER", "https://auth.example")]).await.unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--oauth-resource"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
