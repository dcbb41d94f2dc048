//! The real binary over stdio: stdout carries only JSON-RPC, logs go to stderr, a down
//! ComfyUI does not stop the server.

mod common;

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_comfy-mcp");

fn command(url: &str, data: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("COMFYUI_URL", url)
        .env("COMFY_MCP_DATA_DIR", data)
        .env("COMFY_MCP_LOG", "info")
        .kill_on_drop(true);
    c
}

async fn read_response(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    id: u64,
    seen: &mut Vec<Value>,
) -> Value {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("an answer within 30 s")
            .expect("stdout readable")
            .expect("stdout open");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        seen.push(v.clone());
        if v["id"] == id {
            return v;
        }
    }
}

#[tokio::test]
async fn stdout_is_only_json_rpc_and_logs_go_to_stderr() {
    let fake = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(&fake.url(), dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let send = |v: Value| format!("{v}\n");
    stdin
        .write_all(
            send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
            .as_bytes(),
        )
        .await
        .unwrap();
    let init = read_response(&mut lines, 1, &mut seen).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "comfy-mcp");
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    stdin
        .write_all(send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).as_bytes())
        .await
        .unwrap();
    stdin
        .write_all(send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).as_bytes())
        .await
        .unwrap();
    let list = read_response(&mut lines, 2, &mut seen).await;
    let n = list["result"]["tools"].as_array().unwrap().len();
    assert!(n >= 18, "{n}");
    eprintln!("tools/list over stdio: {} bytes", list["result"].to_string().len());
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "submit_workflow", "arguments": {"workflow": common::image_workflow("stdio"), "wait": true}}});
    stdin.write_all(send(call).as_bytes()).await.unwrap();
    let r = read_response(&mut lines, 3, &mut seen).await;
    assert_eq!(r["result"]["structuredContent"]["status"], "succeeded", "{r}");
    // Garbage in: an error answer (or nothing), never a crash.
    stdin.write_all(b"{this is not json\n").await.unwrap();
    stdin.write_all(send(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "get_queue", "arguments": {}}})).as_bytes()).await.unwrap();
    let q = read_response(&mut lines, 4, &mut seen).await;
    assert!(q["result"]["structuredContent"]["pending"].is_array(), "{q}");
    drop(stdin);
    // Whatever else was printed is JSON-RPC too.
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await {
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0");
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits when stdin closes")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
    assert!(stderr.contains("tools/call"), "logs on stderr: {stderr}");
    assert!(!seen.is_empty());
}

#[tokio::test]
async fn rmcp_client_drives_the_binary_and_a_down_backend_keeps_it_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(&dead, dir.path());
    cmd.stderr(Stdio::null());
    let client = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "submit_workflow"));
    for _ in 0..2 {
        let r =
            client.call_tool(CallToolRequestParams::new("get_queue")).await.expect("the server is still up");
        assert_eq!(r.is_error, Some(true));
        let s = r.structured_content.unwrap();
        assert_eq!(s["code"], "backend_unreachable");
        assert_eq!(s["retryable"], true);
    }
    let r = client.call_tool(CallToolRequestParams::new("list_workflows")).await.unwrap();
    assert_ne!(r.is_error, Some(true));
    client.cancel().await.unwrap();
}

/// A client that closes stdin before `initialize` (or `</dev/null`) is a normal end: exit 0,
/// no ERROR line, and no hint meant for a person at a terminal.
#[tokio::test]
async fn stdin_closed_before_initialize_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let out = command("http://127.0.0.1:9", data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert!(!stderr.contains("waiting for an MCP client"), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Started from a terminal, the server says once what it is waiting for and where to go.
#[tokio::test]
async fn a_terminal_gets_one_line_pointing_at_help_run_and_http() {
    let data = tempfile::tempdir().unwrap();
    // `script` gives the server a pseudo-terminal as stdin/stdout; closing its input ends it.
    let inner = format!("{BIN} --log-level error");
    let mut c = Command::new("script");
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("COMFYUI_URL", "http://127.0.0.1:9")
        .env("COMFY_MCP_DATA_DIR", data.path())
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = c.spawn().expect("the script(1) command");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        let mut line = String::new();
        while stdout.read_line(&mut line).await.unwrap_or(0) > 0 {
            seen.push_str(&line);
            if line.contains("waiting for an MCP client") {
                return Some(line.clone());
            }
            line.clear();
        }
        None
    })
    .await
    .expect("the hint within 30 s")
    .unwrap_or_else(|| panic!("no hint in {seen:?}"));
    for word in ["--help", "run", "--transport http"] {
        assert!(found.contains(word), "{found}");
    }
    assert_eq!(found.trim_end().lines().count(), 1);
    let _ = child.kill().await;
}
