//! The legacy HTTP+SSE transport (2024-11-05), spoken raw with reqwest: `GET /sse`, the
//! `endpoint` event, JSON-RPC POSTs to `/messages?sessionId=…` answered 202, responses on the
//! stream; and the same tokens, scopes, body limit and Host check as `/mcp`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use comfy_mcp::config::{Settings, TokenConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const ADMIN: &str = "admin-secret";
const READER: &str = "reader-secret";

struct Server {
    base: String,
    _state: Arc<comfy_mcp::AppState>,
    _fake: comfy_fake::FakeComfyUi,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn serve_with(tweak: impl FnOnce(&mut Settings)) -> Server {
    let fake = common::fake().await;
    let state = common::state_for(&fake.url(), |s| {
        s.http.tokens = vec![
            TokenConfig {
                name: Some("admin".into()),
                token: ADMIN.into(),
                tools: None,
                admin: true,
                team: None,
            },
            TokenConfig {
                name: Some("reader".into()),
                token: READER.into(),
                tools: Some(vec!["get_*".into()]),
                admin: false,
                team: None,
            },
        ];
        tweak(s);
    });
    let (base, shutdown) = common::serve_http(state.clone()).await;
    Server { base, _state: state, _fake: fake, shutdown }
}

/// An open `GET /sse` stream, read event by event.
struct Stream {
    response: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(base: &str, token: &str) -> Stream {
        let response = reqwest::Client::new()
            .get(format!("{base}/sse"))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Stream { response, buf: String::new() }
    }

    /// The next event as (event type, data); keep-alive comments are skipped.
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = "message".to_owned();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (event, data.join("\n"));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("an event within 30 s")
                .unwrap()
                .expect("the stream stays open");
            self.buf.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }

    /// The next JSON-RPC message on the stream.
    async fn message(&mut self) -> Value {
        let (event, data) = self.next().await;
        assert_eq!(event, "message", "{data}");
        serde_json::from_str(&data).unwrap()
    }

    /// The answer to request `id` (notifications before it are skipped).
    async fn answer(&mut self, id: u64) -> Value {
        loop {
            let m = self.message().await;
            if m["id"] == json!(id) {
                return m;
            }
        }
    }
}

async fn post(base: &str, endpoint: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(format!("{base}{endpoint}")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "sse-test", "version": "0"}}})
}

/// Opens a session and initializes it; the stream and the endpoint.
async fn session(base: &str, token: &str) -> (Stream, String) {
    let mut stream = Stream::open(base, token).await;
    let (event, endpoint) = stream.next().await;
    assert_eq!(event, "endpoint");
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let r = post(base, &endpoint, Some(token), &initialize(1)).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let init = stream.answer(1).await;
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05", "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "comfy-mcp");
    let r =
        post(base, &endpoint, Some(token), &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    (stream, endpoint)
}

#[tokio::test]
async fn a_session_lists_and_calls_tools_over_sse() {
    let s = serve_with(|_| {}).await;
    let (mut stream, endpoint) = session(&s.base, ADMIN).await;

    let r =
        post(&s.base, &endpoint, Some(ADMIN), &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let tools = stream.answer(2).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"get_queue") && names.contains(&"submit_workflow"), "{names:?}");

    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_queue", "arguments": {}}});
    assert_eq!(post(&s.base, &endpoint, Some(ADMIN), &call).await.status(), StatusCode::ACCEPTED);
    let queue = stream.answer(3).await;
    assert_ne!(queue["result"]["isError"], json!(true), "{queue}");
    assert_eq!(queue["result"]["structuredContent"]["ours_active"], json!(0), "{queue}");

    // A job over SSE: its assets reach resources/list and the session hears list_changed.
    let run = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "submit_workflow",
        "arguments": {"workflow": common::image_workflow("sse"), "wait": true}}});
    assert_eq!(post(&s.base, &endpoint, Some(ADMIN), &run).await.status(), StatusCode::ACCEPTED);
    let (mut list_changed, mut answered) = (false, false);
    while !(list_changed && answered) {
        let m = stream.message().await;
        if m["method"] == "notifications/resources/list_changed" {
            list_changed = true;
        }
        if m["id"] == json!(4) {
            assert_eq!(m["result"]["structuredContent"]["status"], "succeeded", "{m}");
            answered = true;
        }
    }

    // A batch (2024-11-05 allows them): both answers come back.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 5, "method": "ping"},
        {"jsonrpc": "2.0", "id": 6, "method": "resources/list"}
    ]);
    assert_eq!(post(&s.base, &endpoint, Some(ADMIN), &batch).await.status(), StatusCode::ACCEPTED);
    let mut answered = std::collections::HashMap::new();
    while answered.len() < 2 {
        let m = stream.message().await;
        if let Some(id) = m["id"].as_u64().filter(|id| *id >= 5) {
            answered.insert(id, m);
        }
    }
    let listed = answered[&6]["result"]["resources"].as_array().unwrap();
    assert!(listed.iter().any(|r| r["uri"].as_str().unwrap().starts_with("comfy://assets/")), "{listed:?}");
}

#[tokio::test]
async fn sse_has_the_same_auth_and_limits_as_mcp() {
    let s = serve_with(|s| s.limits.max_body_bytes = 4096).await;
    // No or a wrong token: 401 on both routes.
    let r = reqwest::get(format!("{}/sse", s.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let r = reqwest::Client::new().get(format!("{}/sse", s.base)).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"});
    assert_eq!(post(&s.base, "/messages?sessionId=x", None, &ping).await.status(), StatusCode::UNAUTHORIZED);
    // X-API-Key works too.
    let r = reqwest::Client::new()
        .get(format!("{}/sse", s.base))
        .header("x-api-key", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(r);

    let (mut stream, endpoint) = session(&s.base, ADMIN).await;
    // Unknown or missing session.
    let r = post(&s.base, "/messages?sessionId=0123456789abcdef", Some(ADMIN), &ping).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "session_not_found");
    assert_eq!(post(&s.base, "/messages", Some(ADMIN), &ping).await.status(), StatusCode::BAD_REQUEST);
    // Another token cannot post into this session.
    assert_eq!(post(&s.base, &endpoint, Some(READER), &ping).await.status(), StatusCode::NOT_FOUND);
    // Body limit.
    let big = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
        "params": {"name": "validate_workflow", "arguments": {"workflow": "x".repeat(10_000)}}});
    assert_eq!(post(&s.base, &endpoint, Some(ADMIN), &big).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Not JSON-RPC: 400 naming the problem.
    let r = reqwest::Client::new()
        .post(format!("{}{endpoint}", s.base))
        .bearer_auth(ADMIN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("not JSON"));
    // A foreign Host (DNS rebinding) is refused.
    let r = reqwest::Client::new()
        .get(format!("{}/sse", s.base))
        .bearer_auth(ADMIN)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The session still works after all that.
    assert_eq!(post(&s.base, &endpoint, Some(ADMIN), &ping).await.status(), StatusCode::ACCEPTED);
    assert_eq!(stream.answer(9).await["result"], json!({}));

    // A scoped token: its session works, tools outside its scope are refused.
    let (mut reader, reader_endpoint) = session(&s.base, READER).await;
    let call = json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "submit_workflow",
        "arguments": {"workflow": common::image_workflow("no")}}});
    assert_eq!(post(&s.base, &reader_endpoint, Some(READER), &call).await.status(), StatusCode::FORBIDDEN);
    let list = json!({"jsonrpc": "2.0", "id": 12, "method": "tools/list"});
    assert_eq!(post(&s.base, &reader_endpoint, Some(READER), &list).await.status(), StatusCode::ACCEPTED);
    let tools = reader.answer(12).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("get_")), "{names:?}");
}

#[tokio::test]
async fn a_closed_stream_ends_its_session() {
    let s = serve_with(|s| s.limits.rate_limit_per_minute = 1_000_000).await;
    let (stream, endpoint) = session(&s.base, ADMIN).await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(post(&s.base, &endpoint, Some(ADMIN), &ping).await.status(), StatusCode::ACCEPTED);
    drop(stream);
    let mut gone = false;
    for _ in 0..2000 {
        if post(&s.base, &endpoint, Some(ADMIN), &ping).await.status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the session outlived its stream");
}
