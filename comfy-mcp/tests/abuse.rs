//! The abuse suite: the HTTP server (as `comfy-mcp --transport http` runs it) against what an
//! attacker sends — path traversal in every path-like argument and resource URI, oversized and
//! deeply nested arguments, 1,000 concurrent calls, slow-loris bodies and headers, connections
//! that send nothing or idle. None may crash the server, leak a path of the server machine or a
//! secret in an answer, or lose a job it acknowledged; none may hold a connection forever.
//! The same over stdio: `abuse_stdio.rs`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use comfy_core::Secret;
use comfy_mcp::config::{Settings, TokenConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "abuse-token-9f3c1e77";
const API_KEY: &str = "comfyui-abuse-partner-key-5d2a";
const MAX_BODY: usize = 256 * 1024;
/// JSON-RPC ids, unique per server (a session's requests in flight must have distinct ids).
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(100);

struct Server {
    base: String,
    addr: std::net::SocketAddr,
    state: Arc<comfy_mcp::AppState>,
    fake: comfy_fake::FakeComfyUi,
    root: tempfile::TempDir,
    shutdown: CancellationToken,
    /// The serving task (it ends after `shutdown`).
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Server {
    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// No answer may name the server's directories or carry a secret.
    fn assert_clean(&self, what: &str, text: &str) {
        let root = self.root.path().to_string_lossy().into_owned();
        let canonical = self.root.path().canonicalize().unwrap().to_string_lossy().into_owned();
        for secret in [TOKEN, API_KEY, root.as_str(), canonical.as_str()] {
            assert!(!text.contains(secret), "{what}: the answer leaks {secret:?}: {text}");
        }
        assert!(!text.contains("panicked"), "{what}: {text}");
    }
}

async fn serve(tweak: impl FnOnce(&mut Settings)) -> Server {
    let fake = common::fake().await;
    let root = tempfile::tempdir().unwrap();
    for d in ["workflows", "uploads", "publish", "outside"] {
        std::fs::create_dir_all(root.path().join(d)).unwrap();
    }
    std::fs::write(root.path().join("outside/secret.txt"), b"top secret").unwrap();
    std::fs::write(root.path().join("uploads/ok.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    let r = root.path().to_path_buf();
    let state = common::state_for(&fake.url(), |s| {
        s.http.tokens = vec![TokenConfig {
            name: Some("abuser".into()),
            token: TOKEN.into(),
            tools: None,
            admin: false,
            team: None,
        }];
        s.workflows_dir = Some(r.join("workflows"));
        s.upload_dirs = vec![r.join("uploads")];
        s.publish_dir = Some(r.join("publish"));
        s.comfy_api_key = Some(Secret::new(API_KEY));
        s.limits.max_body_bytes = MAX_BODY;
        s.limits.rate_limit_per_minute = 1_000_000;
        s.limits.max_running_jobs = 1_000;
        s.limits.body_timeout_secs = 1;
        tweak(s);
    });
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (st, ct) = (state.clone(), shutdown.clone());
    let task = tokio::spawn(async move { comfy_mcp::http::serve_listener(st, listener, ct).await });
    Server { base: format!("http://{addr}"), addr, state, fake, root, shutdown, task: Some(task) }
}

/// The JSON-RPC answer in a streamable-HTTP response (JSON, or the `data:` of an SSE event).
fn rpc_answer(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v;
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {body:?}"))
}

/// One MCP session over raw HTTP.
#[derive(Clone)]
struct Session {
    base: String,
    id: String,
    http: reqwest::Client,
}

impl Session {
    async fn open(base: &str) -> Session {
        // Bounded, so that a stalled answer fails the test instead of hanging it.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "abuse", "version": "0"}}});
        let r = request(&http, base, None).body(init.to_string()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let _ = r.text().await;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = request(&http, base, Some(&id)).body(note.to_string()).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        Session { base: base.to_owned(), id, http }
    }

    /// Sends one JSON-RPC request; answers (HTTP status, body text).
    async fn raw(&self, message: String) -> (u16, String) {
        let r = request(&self.http, &self.base, Some(&self.id)).body(message).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn rpc(&self, method: &str, params: Value) -> (Value, String) {
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, body) = self.raw(msg.to_string()).await;
        assert_eq!(status, 200, "{method}: {body}");
        (rpc_answer(&body), body)
    }

    /// A tools/call: the tool's structured result (or error) and the raw text.
    async fn call(&self, tool: &str, args: Value) -> (Value, String) {
        let (v, body) = self.rpc("tools/call", json!({"name": tool, "arguments": args})).await;
        (v, body)
    }
}

fn request(http: &reqwest::Client, base: &str, session: Option<&str>) -> reqwest::RequestBuilder {
    let mut r = http
        .post(format!("{base}/mcp"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(id) = session {
        r = r.header("mcp-session-id", id);
    }
    r
}

/// Whether a tools/call answer is a refusal (a tool error or a JSON-RPC error).
fn refused(v: &Value) -> bool {
    v.get("error").is_some() || v["result"]["isError"] == true
}

async fn healthy(s: &Server) {
    let r = reqwest::get(format!("{}/healthz", s.base)).await.expect("the server still answers");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn path_traversal_is_refused_everywhere_without_leaking_paths() {
    let s = serve(|_| {}).await;
    let c = Session::open(&s.base).await;
    // An asset to publish and a job to name.
    let (run, _) =
        c.call("submit_workflow", json!({"workflow": common::image_workflow("abuse"), "wait": true})).await;
    let asset = run["result"]["structuredContent"]["outputs"][0]["asset_id"].as_str().unwrap().to_owned();
    let outside = s.dir("outside/secret.txt").to_string_lossy().into_owned();

    let cases = common::traversal::cases(&asset, &outside);
    for (tool, args) in &cases {
        let (v, body) = c.call(tool, args.clone()).await;
        assert!(refused(&v), "{tool} {args}: accepted: {body}");
        s.assert_clean(&format!("{tool} {args}"), &body);
    }
    for uri in [
        "comfy://workflows/../../../etc/passwd",
        "comfy://workflows/..%2f..%2fetc%2fpasswd",
        "comfy://assets/../../etc/passwd",
        "comfy://assets/a_1%00",
        "comfy://jobs/../../x/preview",
        "comfy://models/..\\..\\x",
        "file:///etc/passwd",
        "comfy://../../etc/passwd",
    ] {
        let (v, body) = c.rpc("resources/read", json!({"uri": uri})).await;
        assert!(v.get("error").is_some(), "{uri}: {body}");
        s.assert_clean(uri, &body);
    }
    // Nothing was written outside the publish directory, nothing read from outside the uploads.
    let escaped: Vec<_> = common::traversal::files_under(s.root.path())
        .into_iter()
        .filter(|p| !p.starts_with(s.dir("publish")))
        .collect();
    let expected = [s.dir("outside/secret.txt"), s.dir("uploads/ok.png")];
    assert!(escaped.iter().all(|p| expected.contains(p)), "{escaped:?}");
    assert!(
        common::traversal::files_under(&s.dir("publish")).iter().all(|p| p.starts_with(s.dir("publish")))
    );
    let uploads = s.fake.uploads();
    assert!(uploads.iter().all(|u| !u.name.contains("secret") && !u.subfolder.contains("..")), "{uploads:?}");
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_and_deeply_nested_arguments_are_clean_errors() {
    let s = serve(|_| {}).await;
    let c = Session::open(&s.base).await;
    // Over max_body_bytes: 413 with a JSON body, announced or chunked.
    let big = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "validate_workflow",
        "arguments": {"workflow": {"1": {"class_type": "x".repeat(MAX_BODY), "inputs": {}}}}}});
    let (status, body) = c.raw(big.to_string()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "payload_too_large");
    let chunks = futures::stream::iter(
        (0..64).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; MAX_BODY / 32]))),
    );
    // The server answers 413 and closes as soon as the limit is passed; whether the client
    // reads that answer or first fails writing the rest of its body (broken pipe / reset) is a
    // race. Either is a refusal; the server must then still serve.
    match request(&c.http, &s.base, Some(&c.id)).body(reqwest::Body::wrap_stream(chunks)).send().await {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request() && !e.is_timeout(), "chunked oversize: {e:?}"),
    }
    let (v, body) = c.call("get_queue", json!({})).await;
    assert!(!refused(&v), "the server still serves after an oversized chunked body: {body}");
    // Big but under the limit: each argument's own bound.
    let (v, body) = c.call("upload_file", json!({"filename": "a".repeat(100_000), "data": "aGk="})).await;
    assert!(refused(&v), "{body}");
    s.assert_clean("long filename", &body);

    // 10,000 levels of arrays: a parse error, no stack overflow.
    for depth in [10_000usize, 100_000 / 2] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let msg = format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"validate_workflow","arguments":{{"workflow":{nested}}}}}}}"#
        );
        let (status, body) = c.raw(msg).await;
        assert!(status < 500, "{depth} levels: HTTP {status}: {body}");
        s.assert_clean("nested", &body);
        healthy(&s).await;
    }
    // Nested as deep as the parser allows, inside each tool that walks values.
    let deep = (0..120).fold(json!(1), |acc, _| json!([acc]));
    let deep_obj = (0..120).fold(json!("x"), |acc, _| json!({"k": acc}));
    let wf = json!({"1": {"class_type": "EmptyImage", "inputs": {"width": deep, "height": deep_obj}}});
    for (tool, args) in [
        ("validate_workflow", json!({"workflow": wf})),
        ("submit_workflow", json!({"workflow": wf})),
        ("save_workflow", json!({"name": "deep", "workflow": wf, "overwrite": true})),
        ("run_workflow", json!({"name": "generate_image", "params": {"prompt": deep}})),
        ("submit_batch", json!({"items": [{"workflow": wf}]})),
        ("set_defaults", json!({"defaults": {"steps": deep}})),
    ] {
        let msg = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": tool, "arguments": args}});
        let (status, body) = c.raw(msg.to_string()).await;
        assert!(status < 500, "{tool}: HTTP {status}: {body}");
        s.assert_clean(tool, &body);
    }
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_calls_and_every_acknowledged_job_is_kept() {
    let s = serve(|_| {}).await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(Session::open(&s.base).await);
    }
    let calls = (0..1_000).map(|i| {
        let c = sessions[i % sessions.len()].clone();
        async move {
            if i % 20 == 0 {
                let wf = common::image_workflow(&format!("abuse_{i}"));
                c.call("submit_workflow", json!({"workflow": wf})).await
            } else if i % 2 == 0 {
                c.call("get_queue", json!({})).await
            } else {
                c.call("list_assets", json!({"limit": 5})).await
            }
        }
    });
    let answers = futures::future::join_all(calls).await;
    let mut acknowledged = Vec::new();
    for (v, body) in &answers {
        s.assert_clean("concurrent", body);
        assert!(!refused(v), "{body}");
        if let Some(id) = v["result"]["structuredContent"]["job_id"].as_str() {
            acknowledged.push(id.to_owned());
        }
    }
    assert_eq!(acknowledged.len(), 50);
    healthy(&s).await;
    for id in &acknowledged {
        let job = s.state.comfy.store().get_job(&comfy_core::job::JobId(id.clone())).await.unwrap();
        assert!(job.is_some(), "acknowledged job {id} is not in the store");
    }
}

/// Writes headers announcing a body, then part of it, and stops.
async fn slow_client(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{{\"jsonrpc\""
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_loris_bodies_time_out_and_others_are_served_meanwhile() {
    let s = serve(|_| {}).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(slow_client(s.addr).await);
    }
    // Others are served while the slow ones hang.
    let c = Session::open(&s.base).await;
    let (v, _) = c.call("get_queue", json!({})).await;
    assert!(!refused(&v), "{v}");
    healthy(&s).await;
    // Each slow body is given up on: 408, and the connection closed (read to its end).
    for mut tcp in slow {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(60), tcp.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the server kept a slow body's connection open");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        s.assert_clean("slow body", &text);
    }
    healthy(&s).await;
}

/// How a connection the server should close ends on the client's side: end of stream (the
/// server closed it) or a reset (it closed it with our bytes unread). `None`: still open after
/// a generous bound (the server kept it).
async fn closed_by_server(mut tcp: impl tokio::io::AsyncRead + Unpin) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(60), tcp.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => Some(answer),
        Ok(Err(e)) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => Some(answer),
        Ok(Err(e)) => panic!("reading the connection: {e}"),
        Err(_) => None,
    }
}

/// A request line and headers trickled one byte every 100 ms, never finished.
async fn trickling_headers(
    addr: std::net::SocketAddr,
) -> (tokio::net::tcp::OwnedReadHalf, tokio::task::JoinHandle<()>) {
    let (reader, mut writer) = tokio::net::TcpStream::connect(addr).await.unwrap().into_split();
    let head = format!("POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nX-Slow: ");
    let task = tokio::spawn(async move {
        for b in head.bytes().chain(std::iter::repeat(b'a')).take(600) {
            if writer.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (reader, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_headers_silent_and_idle_connections_are_closed_while_others_are_served() {
    let s = serve(|l| l.limits.header_timeout_secs = 1).await;
    let (trickler, writer) = trickling_headers(s.addr).await;
    let silent = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // A keep-alive connection that made one request and then idles.
    let mut idle = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).as_bytes()).await.unwrap();
    let mut first = Vec::new();
    while !String::from_utf8_lossy(&first).contains("\"ok\"") {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(30), idle.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&first));
        first.extend_from_slice(&buf[..n]);
    }
    assert!(first.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first));

    // Others are served while those hang.
    let c = Session::open(&s.base).await;
    let (v, body) = c.call("get_queue", json!({})).await;
    assert!(!refused(&v), "{body}");
    healthy(&s).await;

    let answer = closed_by_server(trickler).await.expect("the server kept a trickling header open");
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.contains("200 OK"), "{text}");
    s.assert_clean("slow headers", &text);
    writer.abort();
    let answer = closed_by_server(silent).await.expect("the server kept a silent connection open");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    let rest = closed_by_server(idle).await.expect("the server kept an idle keep-alive connection open");
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"), "{}", String::from_utf8_lossy(&rest));

    // A keep-alive client is served several requests on one connection.
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    for _ in 0..3 {
        tcp.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).as_bytes()).await.unwrap();
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("\"ok\"") {
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "a keep-alive connection was closed between requests");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
    }
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sse_stream_outlives_the_header_timeout() {
    let s = serve(|l| l.limits.header_timeout_secs = 1).await;
    let http = reqwest::Client::new();
    let mut stream = http
        .get(format!("{}/sse", s.base))
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    while !seen.contains("sessionId=") || !seen.ends_with('\n') {
        next_chunk(&mut stream, &mut seen).await;
    }
    let endpoint = seen
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim().to_owned())
        .expect("an endpoint event");
    // A connection that sends nothing meanwhile is closed; the stream is not.
    let silent = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    assert!(closed_by_server(silent).await.is_some(), "the server kept a silent connection open");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let init = json!({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "abuse", "version": "0"}}});
    let r = http.post(format!("{}{endpoint}", s.base)).bearer_auth(TOKEN).json(&init).send().await.unwrap();
    assert_eq!(r.status(), 202);
    while !seen.contains("serverInfo") {
        next_chunk(&mut stream, &mut seen).await;
    }
    s.assert_clean("sse", &seen);
}

/// Appends the next chunk of an event stream to `seen`.
async fn next_chunk(stream: &mut reqwest::Response, seen: &mut String) {
    let chunk = tokio::time::timeout(Duration::from_secs(30), stream.chunk())
        .await
        .expect("an event within 30 s")
        .expect("the stream is readable")
        .expect("the stream stays open");
    seen.push_str(&String::from_utf8_lossy(&chunk));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_ends_idle_silent_and_streaming_connections() {
    // A header timeout far away: only the graceful shutdown can end these connections.
    let mut s = serve(|l| l.limits.header_timeout_secs = 3600).await;
    let silent = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).as_bytes()).await.unwrap();
    let mut first = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(30), idle.read(&mut first)).await.unwrap().unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first[..n]));
    let mut stream = reqwest::Client::new()
        .get(format!("{}/sse", s.base))
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    next_chunk(&mut stream, &mut seen).await;
    // Something is served up to the moment of shutdown.
    healthy(&s).await;
    s.shutdown.cancel();
    let task = s.task.take().unwrap();
    let served = tokio::time::timeout(Duration::from_secs(60), task).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "the server did not stop: {served:?}");
    assert!(closed_by_server(silent).await.is_some(), "a silent connection outlived the server");
    assert!(closed_by_server(idle).await.is_some(), "an idle connection outlived the server");
    let end = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "the SSE stream outlived the server");
}
