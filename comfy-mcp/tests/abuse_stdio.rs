//! The abuse suite over stdio: the real `comfy-mcp` binary, started as an MCP client starts it,
//! against what a broken or hostile client writes on its stdin — lines that are not JSON, JSON
//! that is not JSON-RPC, messages before `initialize`, a line of several megabytes and one over
//! the line limit, 10,000 levels of nesting, invalid UTF-8, 1,000 pipelined calls, path
//! traversal in every path-like argument and resource URI, stdin closed in the middle of a
//! call. The process must never die: it answers a normal call afterwards and exits 0 at the end
//! of stdin; stdout carries JSON-RPC messages and nothing else; no answer names a directory of
//! the server machine or carries a secret; every submission it acknowledged is in its store.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use comfy_core::job::JobId;
use comfy_core::store::{JobQuery, SqliteStore, Store};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_comfy-mcp");
const API_KEY: &str = "comfyui-stdio-abuse-key-7c41";

/// The binary over stdio with its own directories (data, workflows, uploads, publish) and a
/// secret (the partner-node API key) that must never appear in an answer.
struct Server {
    child: tokio::process::Child,
    stdin: Option<ChildStdin>,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
    root: tempfile::TempDir,
    /// Every message read from stdout so far.
    seen: Vec<Value>,
    /// stderr, read all along (a full pipe would block the server's logging).
    stderr: tokio::task::JoinHandle<String>,
}

impl Server {
    fn start(url: &str) -> Server {
        let root = tempfile::tempdir().unwrap();
        for d in ["data", "workflows", "uploads", "publish", "outside"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        std::fs::write(root.path().join("outside/secret.txt"), b"top secret").unwrap();
        std::fs::write(root.path().join("uploads/ok.png"), b"\x89PNG\r\n\x1a\n").unwrap();
        let dir = |d: &str| root.path().join(d);
        let mut child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("COMFYUI_URL", url)
            .env("COMFY_MCP_DATA_DIR", dir("data"))
            .env("COMFY_MCP_WORKFLOWS_DIR", dir("workflows"))
            .env("COMFY_MCP_UPLOAD_DIRS", dir("uploads"))
            .env("COMFY_MCP_PUBLISH_DIR", dir("publish"))
            .env("COMFY_API_KEY", API_KEY)
            .env("COMFY_MCP_MAX_RUNNING_JOBS", "1000")
            .env("COMFY_MCP_WAIT_BUDGET_SECS", "30")
            .env("COMFY_MCP_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = err.read_to_end(&mut text).await;
            String::from_utf8_lossy(&text).into_owned()
        });
        Server { child, stdin, lines, root, seen: Vec::new(), stderr }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    async fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).await.unwrap();
        stdin.flush().await.unwrap();
    }

    async fn send(&mut self, message: &Value) {
        self.write(format!("{message}\n").as_bytes()).await;
    }

    /// The next stdout line, which must be a JSON-RPC message; `None` at the end of stdout.
    async fn next(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("a message within 60 s")
            .expect("stdout readable")?;
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "not JSON-RPC: {line}");
        // An answer, a request or a notification. (rmcp answers JSON that is not a JSON-RPC
        // message with an error object without `id`, where JSON-RPC 2.0 asks for `"id": null`.)
        assert!(
            v.get("id").is_some() || v.get("method").is_some() || v["error"]["code"].is_i64(),
            "neither an answer nor a request or notification: {line}"
        );
        self.assert_clean("stdout", &line);
        self.seen.push(v.clone());
        Some(v)
    }

    /// The answer to request `id`; messages before it are checked and kept in `seen`.
    async fn answer(&mut self, id: u64) -> Value {
        loop {
            let Some(v) = self.next().await else {
                let stderr = tokio::time::timeout(Duration::from_secs(10), &mut self.stderr).await;
                panic!("stdout closed before the answer to {id}; stderr: {stderr:?}");
            };
            if v["id"] == json!(id) && v.get("method").is_none() {
                return v;
            }
        }
    }

    async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        self.answer(id).await
    }

    async fn call(&mut self, id: u64, tool: &str, args: Value) -> Value {
        self.request(id, "tools/call", json!({"name": tool, "arguments": args})).await
    }

    async fn initialize(&mut self, id: u64) {
        let init = self
            .request(
                id,
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "abuse-stdio", "version": "0"}}),
            )
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], "comfy-mcp", "{init}");
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    }

    /// A normal call still works: the process is alive and serving.
    async fn still_serves(&mut self, id: u64) {
        let q = self.call(id, "get_queue", json!({})).await;
        assert!(q["result"]["structuredContent"]["pending"].is_array(), "{q}");
    }

    /// Closes stdin, reads stdout to its end (every line checked), and waits for exit 0.
    /// Returns stderr.
    async fn finish(&mut self) -> String {
        drop(self.stdin.take());
        while self.next().await.is_some() {}
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("exits when stdin closes")
            .unwrap();
        let stderr = (&mut self.stderr).await.unwrap();
        assert!(status.success(), "{status:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        // No error logged for anything a client sent, except rmcp's own for a line over its limit.
        let errors: Vec<_> = stderr
            .lines()
            .filter(|l| l.contains(" ERROR ") && !l.contains("exceeded the maximum line length"))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        stderr
    }

    /// No answer may name the server's directories or carry a secret.
    fn assert_clean(&self, what: &str, text: &str) {
        let root = self.root.path().to_string_lossy().into_owned();
        let canonical = self.root.path().canonicalize().unwrap().to_string_lossy().into_owned();
        for secret in [API_KEY, root.as_str(), canonical.as_str()] {
            assert!(!text.contains(secret), "{what}: the answer leaks {secret:?}: {text}");
        }
        assert!(!text.contains("panicked"), "{what}: {text}");
    }

    /// The jobs the server acknowledged (answered with a job id) are in its store.
    async fn assert_kept(&self, jobs: &[String]) {
        let store = SqliteStore::open(self.dir("data").join("comfy.sqlite3")).unwrap();
        for id in jobs {
            let job = store.get_job(&JobId(id.clone())).await.unwrap();
            assert!(job.is_some(), "acknowledged job {id} is not in the store");
        }
    }
}

/// Whether a tools/call answer is a refusal (a tool error or a JSON-RPC error).
fn refused(v: &Value) -> bool {
    v.get("error").is_some() || v["result"]["isError"] == true
}

/// Messages a broken or hostile client writes, each one line (or a byte sequence ending in one).
fn garbage() -> Vec<(&'static str, Vec<u8>)> {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    vec![
        ("not JSON", b"{this is not json\n".to_vec()),
        ("plain text", b"hello server\n".to_vec()),
        ("a lone brace", b"}\n".to_vec()),
        ("a number", b"42\n".to_vec()),
        ("a string", b"\"initialize\"\n".to_vec()),
        ("null", b"null\n".to_vec()),
        ("an empty batch", b"[]\n".to_vec()),
        ("a batch of numbers", b"[1, 2, 3]\n".to_vec()),
        ("an object that is not JSON-RPC", b"{\"hello\": \"world\"}\n".to_vec()),
        ("a wrong jsonrpc version", b"{\"jsonrpc\": \"1.0\", \"id\": 900, \"method\": \"ping\"}\n".to_vec()),
        ("a method that is a number", b"{\"jsonrpc\": \"2.0\", \"id\": 901, \"method\": 7}\n".to_vec()),
        ("an id that is an object", b"{\"jsonrpc\": \"2.0\", \"id\": {}, \"method\": \"ping\"}\n".to_vec()),
        ("an unknown method", b"{\"jsonrpc\": \"2.0\", \"id\": 902, \"method\": \"no/such\"}\n".to_vec()),
        ("an unknown notification", b"{\"jsonrpc\": \"2.0\", \"method\": \"notifications/zzz\"}\n".to_vec()),
        ("a stray response", b"{\"jsonrpc\": \"2.0\", \"id\": 903, \"result\": {}}\n".to_vec()),
        ("a stray error", b"{\"jsonrpc\": \"2.0\", \"id\": 904, \"error\": {\"code\": 1, \"message\": \"x\"}}\n".to_vec()),
        ("a cancellation of nothing", b"{\"jsonrpc\": \"2.0\", \"method\": \"notifications/cancelled\", \"params\": {\"requestId\": 5}}\n".to_vec()),
        ("an initialized notification", b"{\"jsonrpc\": \"2.0\", \"method\": \"notifications/initialized\"}\n".to_vec()),
        ("invalid UTF-8", b"\xff\xfe\xc3\x28 \xa0\xa1\n".to_vec()),
        (
            "invalid UTF-8 inside a string",
            b"{\"jsonrpc\": \"2.0\", \"id\": 905, \"method\": \"tools/call\", \"params\": {\"name\": \"get_\xff\xfe\"}}\n"
                .to_vec(),
        ),
        ("a NUL byte", b"{\"jsonrpc\": \"2.0\",\x00 \"id\": 906}\n".to_vec()),
        ("10,000 levels of arrays", format!("{}\n", nested(10_000)).into_bytes()),
        (
            "10,000 levels inside a request",
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":907,\"method\":\"tools/call\",\"params\":{{\"name\":\"validate_workflow\",\"arguments\":{{\"workflow\":{}}}}}}}\n",
                nested(10_000)
            )
            .into_bytes(),
        ),
        ("a carriage return only", b"\r\n".to_vec()),
        ("blank lines", b"\n\n\n".to_vec()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_and_after_initialize_never_kills_the_server() {
    let fake = common::fake().await;
    let mut s = Server::start(&fake.url());
    // Before initialize: each message is ignored or answered with an error, and the server
    // still waits for initialize.
    for (what, bytes) in garbage() {
        s.write(&bytes).await;
        let pong = s.request(1_000, "ping", json!({})).await;
        assert!(pong.get("result").is_some(), "after {what} before initialize: {pong}");
    }
    let early = s.call(1, "get_queue", json!({})).await;
    assert!(early.get("error").is_some(), "a tools/call before initialize: {early}");
    s.initialize(2).await;
    // After initialize, the same again; a normal call is answered after each.
    for (i, (what, bytes)) in garbage().into_iter().enumerate() {
        s.write(&bytes).await;
        let id = 10 + i as u64;
        let q = s.call(id, "get_queue", json!({})).await;
        assert!(q["result"]["structuredContent"]["pending"].is_array(), "after {what}: {q}");
    }
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enormous_lines_are_refused_or_answered_and_the_server_goes_on() {
    let fake = common::fake().await;
    let mut s = Server::start(&fake.url());
    s.initialize(1).await;
    // Several megabytes in one request: a tool error (no such node class), not a crash.
    let big = "x".repeat(6 * 1024 * 1024);
    let v =
        s.call(2, "validate_workflow", json!({"workflow": {"1": {"class_type": big, "inputs": {}}}})).await;
    assert_eq!(v["result"]["structuredContent"]["valid"], false, "{}", &v.to_string()[..300]);
    s.still_serves(3).await;
    // Over the line limit (16 MiB) without a newline for a long time, then one: dropped.
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{{\"name\":\"get_queue\",\"x\":\"{}\"}}}}\n",
        "y".repeat(20 * 1024 * 1024)
    );
    s.write(huge.as_bytes()).await;
    s.still_serves(5).await;
    // A huge line that is not JSON at all.
    let mut junk = vec![b'{'; 3 * 1024 * 1024];
    junk.push(b'\n');
    s.write(&junk).await;
    s.still_serves(6).await;
    assert!(s.seen.iter().all(|m| m["id"] != 4), "the oversized line was answered");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pipelined_calls_are_all_answered_and_every_acknowledged_job_is_kept() {
    let fake = common::fake().await;
    let mut s = Server::start(&fake.url());
    s.initialize(1).await;
    // All 1,000 written at once (from another task, so that neither side blocks on a full
    // pipe), then every answer read.
    let mut batch = Vec::new();
    for i in 0..1_000u64 {
        let id = 100 + i;
        let (tool, args) = if i % 20 == 0 {
            ("submit_workflow", json!({"workflow": common::image_workflow(&format!("flood_{i}"))}))
        } else if i % 2 == 0 {
            ("get_queue", json!({}))
        } else {
            ("list_assets", json!({"limit": 5}))
        };
        let m = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": args}});
        batch.extend_from_slice(format!("{m}\n").as_bytes());
    }
    let mut stdin = s.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        stdin.write_all(&batch).await.unwrap();
        stdin.flush().await.unwrap();
        stdin
    });
    let mut answers = std::collections::HashMap::new();
    while answers.len() < 1_000 {
        let v = s.next().await.expect("stdout open");
        if let Some(id) = v["id"].as_u64()
            && v.get("method").is_none()
        {
            assert!(answers.insert(id, v).is_none(), "two answers to {id}");
        }
    }
    s.stdin = Some(writer.await.unwrap());
    let mut acknowledged = Vec::new();
    for (id, v) in &answers {
        assert!(!refused(v), "{id}: {v}");
        if let Some(job) = v["result"]["structuredContent"]["job_id"].as_str() {
            acknowledged.push(job.to_owned());
        }
    }
    assert_eq!(acknowledged.len(), 50);
    s.still_serves(5_000).await;
    s.finish().await;
    s.assert_kept(&acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_over_stdio_is_refused_without_leaking_paths() {
    let fake = common::fake().await;
    let mut s = Server::start(&fake.url());
    s.initialize(1).await;
    let run =
        s.call(2, "submit_workflow", json!({"workflow": common::image_workflow("trav"), "wait": true})).await;
    let asset = run["result"]["structuredContent"]["outputs"][0]["asset_id"].as_str().unwrap().to_owned();
    let outside = s.dir("outside/secret.txt").to_string_lossy().into_owned();
    let cases = common::traversal::cases(&asset, &outside);
    let mut id = 10;
    for (tool, args) in &cases {
        id += 1;
        let v = s.call(id, tool, args.clone()).await;
        assert!(refused(&v), "{tool} {args}: accepted: {v}");
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
        id += 1;
        let v = s.request(id, "resources/read", json!({"uri": uri})).await;
        assert!(v.get("error").is_some(), "{uri}: {v}");
    }
    s.still_serves(id + 1).await;
    s.finish().await;
    // Nothing was written outside the publish and data directories, nothing uploaded from outside.
    let written: Vec<_> = common::traversal::files_under(s.root.path())
        .into_iter()
        .filter(|p| !p.starts_with(s.dir("publish")) && !p.starts_with(s.dir("data")))
        .collect();
    let expected = [s.dir("outside/secret.txt"), s.dir("uploads/ok.png")];
    assert!(written.iter().all(|p| expected.contains(p)), "{written:?}");
    let uploads = fake.uploads();
    assert!(uploads.iter().all(|u| !u.name.contains("secret") && !u.subfolder.contains("..")), "{uploads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_closed_during_a_running_call_exits_cleanly_and_keeps_what_it_acknowledged() {
    let fake = common::fake().await;
    let mut s = Server::start(&fake.url());
    s.initialize(1).await;
    // One job done and acknowledged, then one that waits (the fake holds its queue) when stdin
    // closes.
    let done = s.call(2, "submit_workflow", json!({"workflow": common::image_workflow("before")})).await;
    let mut acknowledged = vec![done["result"]["structuredContent"]["job_id"].as_str().unwrap().to_owned()];
    fake.hold();
    s.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "submit_workflow", "arguments": {"workflow": common::image_workflow("during"), "wait": true}}}))
        .await;
    // The prompt has reached ComfyUI: the call is running.
    for _ in 0..600 {
        if fake.received_prompts().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.received_prompts().len(), 2, "the second prompt never reached ComfyUI");
    s.finish().await;
    // An answer given before exiting counts as acknowledged too.
    for m in &s.seen {
        if m["id"] == 3
            && let Some(job) = m["result"]["structuredContent"]["job_id"].as_str()
        {
            acknowledged.push(job.to_owned());
        }
    }
    s.assert_kept(&acknowledged).await;
    // The job ComfyUI had received when stdin closed is recorded too (unfinished: it can be
    // picked up again by the next server on this data directory).
    let store = SqliteStore::open(s.dir("data").join("comfy.sqlite3")).unwrap();
    let jobs = store.list_jobs(&JobQuery::default()).await.unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    fake.release();
}
