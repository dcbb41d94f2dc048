//! Load driver for the `comfy-mcp` binary: latency, throughput, startup, memory and
//! `tools/list` size. Numbers are printed, never asserted.
//!
//! ```sh
//! cargo build --release -p comfy-mcp --bins --examples
//! target/release/examples/mcp_load                          # against an in-process comfy-fake
//! target/release/examples/mcp_load --comfyui-url "$URL"     # against a real ComfyUI (latency only)
//! ```
//!
//! Measures: (a) `get_queue` latency over stdio and over streamable HTTP (sequential calls on
//! one session), next to a direct `GET /queue` on the same ComfyUI; (b) HTTP throughput with
//! many concurrent sessions; (c) time from spawning the binary to an answered `tools/list`;
//! (d) the server's resident memory (VmRSS) after startup and a few calls, and after the load;
//! (e) the size of the `tools/list` result; (f) `get_queue` over streamable HTTP from a plain
//! keep-alive HTTP/1.1 client (one TCP connection, no pipelining, like Python's `http.client`,
//! curl with reuse or Go's `net/http`): a server that wrote its answer in several small pieces
//! without `TCP_NODELAY` made that client wait ~40 ms per call for a delayed ACK (Nagle).
//! (g) completion latency (`--mode completion`, or part of `all`): the time from ComfyUI's
//! `execution_success` to the `submit_workflow` (`wait: true`) result for a model-free job
//! (`EmptyImage` → `SaveImage`), over stdio and over HTTP, next to a direct client that submits
//! to `/prompt` and reads its own WebSocket. The `execution_success` time is the `timestamp`
//! ComfyUI writes into that message (milliseconds, read back from `/history`), so every series
//! carries the same rounding.
//! The server binary is `--server PATH`, by default
//! `comfy-mcp` next to this example's directory (`target/<profile>/comfy-mcp`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

type Client = RunningService<RoleClient, ()>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TOKEN: &str = "mcp-load-token";

/// Load driver for comfy-mcp (see the module docs).
#[derive(Debug, Parser)]
struct Args {
    /// ComfyUI to drive; without it an in-process comfy-fake is started.
    #[arg(long)]
    comfyui_url: Option<String>,
    /// The comfy-mcp binary.
    #[arg(long)]
    server: Option<PathBuf>,
    /// Sequential calls per latency series.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Concurrent HTTP sessions for the throughput run (0 skips it).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Calls per session in the throughput run.
    #[arg(long, default_value_t = 200)]
    calls_per_client: usize,
    /// Spawns for the time-to-first-tools/list median.
    #[arg(long, default_value_t = 10)]
    spawns: usize,
    /// What to measure: everything, only the light-call series (with memory), or only the
    /// completion latency.
    #[arg(long, value_enum, default_value_t = Mode::All)]
    mode: Mode,
    /// Model-free jobs per completion series.
    #[arg(long, default_value_t = 40)]
    jobs: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    All,
    Light,
    Completion,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let server = match &args.server {
        Some(p) => p.clone(),
        None => default_server()?,
    };
    if !server.is_file() {
        return Err(format!(
            "{} not found: build it (cargo build --release -p comfy-mcp) or pass --server",
            server.display()
        )
        .into());
    }
    let _fake;
    let url = match &args.comfyui_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let fake = comfy_fake::FakeComfyUi::builder().object_info_fixture().start().await?;
            let url = fake.url();
            _fake = fake;
            url
        }
    };
    let data = tempfile::tempdir()?;
    println!(
        "comfy-mcp load driver: server {}, ComfyUI {url}{}",
        server.display(),
        if args.comfyui_url.is_none() { " (in-process comfy-fake)" } else { "" }
    );
    if args.mode == Mode::Completion {
        return completion(&args, &server, &url, data.path()).await;
    }
    println!("{} calls per latency series; times in microseconds\n", args.calls);

    // (a) direct GET /queue.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let direct = series(args.calls, || {
        let http = http.clone();
        let url = format!("{url}/queue");
        async move {
            let r = http.get(url).send().await?;
            if !r.status().is_success() {
                return Err(format!("GET /queue: {}", r.status()).into());
            }
            r.bytes().await?;
            Ok(())
        }
    })
    .await?;
    report("direct GET /queue (reqwest, keep-alive)", &direct);

    // (a) stdio, then (d) its memory.
    let (stdio, pid) = spawn_stdio(&server, &url, data.path()).await?;
    let tools = stdio.list_all_tools().await?;
    let list_bytes = serde_json::to_string(&serde_json::json!({ "tools": tools }))?.len();
    for _ in 0..5 {
        get_queue(&stdio).await?;
    }
    let stdio_rss_idle = rss_kib(pid);
    let cpu_before = cpu_ns(pid);
    let over_stdio = series(args.calls, || get_queue(&stdio)).await?;
    report("get_queue over stdio (rmcp client)", &over_stdio);
    report_cpu("  server CPU per call, stdio", cpu_before, cpu_ns(pid), args.calls + 50);
    let stdio_rss_after = rss_kib(pid);
    stdio.cancel().await?;
    let (over_lean, direct_paired, lean_cpu) = {
        let (server, url, data) = (server.clone(), url.clone(), data.path().to_owned());
        let calls = args.calls;
        tokio::task::spawn_blocking(move || lean_stdio_series(&server, &url, &data, calls)).await??
    };
    report("direct GET /queue, paired (blocking keep-alive client)", &direct_paired);
    report("get_queue over stdio (lean blocking client)", &over_lean);
    report_paired("  stdio minus direct, call by call", &over_lean, &direct_paired);
    if let Some(ns) = lean_cpu {
        println!(
            "{:<58} {:>7.1} µs",
            "  server CPU per call, stdio (lean client)",
            ns as f64 / args.calls as f64 / 1e3
        );
    }

    // (a) HTTP, (b) throughput, (d) memory.
    let mut http_server = HttpServer::spawn(&server, &url, data.path()).await?;
    let one = http_client(&http_server.base).await?;
    for _ in 0..5 {
        get_queue(&one).await?;
    }
    let http_rss_idle = rss_kib(http_server.pid);
    let cpu_before = cpu_ns(http_server.pid);
    let over_http = series(args.calls, || get_queue(&one)).await?;
    report("get_queue over streamable HTTP (rmcp client, 1 session)", &over_http);
    report_cpu(
        "  server CPU per call, HTTP (rmcp client)",
        cpu_before,
        cpu_ns(http_server.pid),
        args.calls + 50,
    );
    one.cancel().await?;
    let mut plain = PlainClient::connect(&http_server.base).await?;
    plain.initialize().await?;
    for _ in 0..50 {
        plain.get_queue().await?;
    }
    let mut over_plain = Vec::with_capacity(args.calls);
    let mut direct_plain = Vec::with_capacity(args.calls);
    let cpu_before = cpu_ns(http_server.pid);
    for _ in 0..args.calls {
        let t = Instant::now();
        let r = http.get(format!("{url}/queue")).send().await?;
        r.bytes().await?;
        direct_plain.push(t.elapsed());
        let t = Instant::now();
        plain.get_queue().await?;
        over_plain.push(t.elapsed());
    }
    report("direct GET /queue, paired (reqwest)", &direct_plain);
    report("get_queue over streamable HTTP (plain keep-alive client)", &over_plain);
    report_paired("  HTTP minus direct, call by call", &over_plain, &direct_plain);
    report_cpu("  server CPU per call, HTTP (plain client)", cpu_before, cpu_ns(http_server.pid), args.calls);
    drop(plain);
    if args.concurrency > 0 {
        let mut clients = Vec::with_capacity(args.concurrency);
        for _ in 0..args.concurrency {
            clients.push(http_client(&http_server.base).await?);
        }
        let start = Instant::now();
        let mut tasks = Vec::new();
        for client in clients {
            let n = args.calls_per_client;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    get_queue(&client).await?;
                    lat.push(t.elapsed());
                }
                client.cancel().await?;
                Ok::<_, BoxError>(lat)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        let wall = start.elapsed();
        let rate = all.len() as f64 / wall.as_secs_f64();
        println!(
            "{:<58} {:>8.0} calls/s  ({} sessions x {} calls in {:.2} s)",
            format!("HTTP throughput, {} concurrent sessions", args.concurrency),
            rate,
            args.concurrency,
            args.calls_per_client,
            wall.as_secs_f64()
        );
        report("  latency under that load", &all);
    }
    let http_rss_after = rss_kib(http_server.pid);
    http_server.stop().await;
    let kib = |v: Option<(u64, u64)>| {
        v.map_or("n/a".to_owned(), |(rss, anon)| {
            format!("{:.1} MiB (anon {:.1})", rss as f64 / 1024.0, anon as f64 / 1024.0)
        })
    };
    if args.mode == Mode::Light {
        println!("{:<58} {:>8}", "server VmRSS, stdio, after startup + 5 calls", kib(stdio_rss_idle));
        println!(
            "{:<58} {:>8}",
            format!("server VmRSS, stdio, after {} calls", args.calls + 5),
            kib(stdio_rss_after)
        );
        println!("{:<58} {:>8}", "server VmRSS, HTTP, after startup + 5 calls", kib(http_rss_idle));
        println!("{:<58} {:>8}", "server VmRSS, HTTP, after the load", kib(http_rss_after));
        return Ok(());
    }

    // (c) spawn -> initialize -> tools/list answered.
    let mut startup = Vec::new();
    for _ in 0..args.spawns {
        let t = Instant::now();
        let (c, _) = spawn_stdio(&server, &url, data.path()).await?;
        let tools = c.list_all_tools().await?;
        startup.push(t.elapsed());
        if tools.is_empty() {
            return Err("tools/list was empty".into());
        }
        c.cancel().await?;
    }
    startup.sort();
    println!(
        "\n{:<58} {:>8.1} ms  (min {:.1}, max {:.1}, {} spawns)",
        "spawn -> initialize -> tools/list answered (median)",
        ms(startup[startup.len() / 2]),
        ms(startup[0]),
        ms(startup[startup.len() - 1]),
        startup.len()
    );
    println!("{:<58} {:>8} bytes ({} tools)", "tools/list result size", list_bytes, tools.len());
    println!("{:<58} {:>8}", "server VmRSS, stdio, after startup + 5 calls", kib(stdio_rss_idle));
    println!(
        "{:<58} {:>8}",
        format!("server VmRSS, stdio, after {} calls", args.calls + 5),
        kib(stdio_rss_after)
    );
    println!("{:<58} {:>8}", "server VmRSS, HTTP, after startup + 5 calls", kib(http_rss_idle));
    println!("{:<58} {:>8}", "server VmRSS, HTTP, after the load", kib(http_rss_after));
    println!();
    completion(&args, &server, &url, data.path()).await
}

/// (g): `execution_success` → result, direct and through the server.
async fn completion(args: &Args, server: &Path, url: &str, data: &Path) -> Result<(), BoxError> {
    println!(
        "{} model-free jobs per completion series; times in milliseconds (from `execution_success`)\n",
        args.jobs
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    // Distinct colours: ComfyUI would answer a repeated prompt from its cache.
    let mut colour = (std::process::id() % 100_000) as u64 * 1000;
    let mut next_workflow = || {
        colour += 1;
        serde_json::json!({
            "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": colour % 16_777_216}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "mcp_load"}}
        })
    };

    let mut direct = DirectClient::connect(url).await?;
    let (mut seen, mut with_history) = (Vec::new(), Vec::new());
    for i in 0..args.jobs + 5 {
        let (success_ms, seen_at, history_at) = direct.run(&http, url, next_workflow()).await?;
        if i >= 5 {
            seen.push(seen_at - success_ms);
            with_history.push(history_at - success_ms);
        }
    }
    report_ms("direct WebSocket client: execution_success seen", &seen);
    report_ms("direct client: execution_success -> /history read", &with_history);

    let (stdio, _) = spawn_stdio(server, url, data).await?;
    let over_stdio = completion_series(&stdio, &http, url, args.jobs, &mut next_workflow).await?;
    report_ms("submit_workflow wait=true over stdio: -> result", &over_stdio);
    stdio.cancel().await?;

    let mut http_server = HttpServer::spawn(server, url, data).await?;
    let one = http_client(&http_server.base).await?;
    let over_http = completion_series(&one, &http, url, args.jobs, &mut next_workflow).await?;
    report_ms("submit_workflow wait=true over HTTP: -> result", &over_http);
    one.cancel().await?;
    http_server.stop().await;
    Ok(())
}

/// `jobs` waited-for submissions (after 5 warm-up jobs): ms from `execution_success` to the result.
async fn completion_series(
    client: &Client,
    http: &reqwest::Client,
    url: &str,
    jobs: usize,
    next_workflow: &mut impl FnMut() -> serde_json::Value,
) -> Result<Vec<f64>, BoxError> {
    let mut out = Vec::with_capacity(jobs);
    for i in 0..jobs + 5 {
        let mut args = serde_json::Map::new();
        args.insert("workflow".into(), next_workflow());
        args.insert("wait".into(), serde_json::Value::Bool(true));
        let r = client.call_tool(CallToolRequestParams::new("submit_workflow").with_arguments(args)).await?;
        let done_at = epoch_ms();
        let view = r.structured_content.unwrap_or_default();
        if r.is_error == Some(true) || view.get("status").and_then(|s| s.as_str()) != Some("succeeded") {
            return Err(format!("submit_workflow did not succeed: {view}").into());
        }
        let job_id = view.get("job_id").and_then(|j| j.as_str()).ok_or("no job_id in the result")?;
        if i >= 5 {
            out.push(done_at - success_timestamp(http, url, job_id).await?);
        }
    }
    Ok(out)
}

/// The `timestamp` of the job's `execution_success`, from its history entry.
async fn success_timestamp(http: &reqwest::Client, url: &str, job_id: &str) -> Result<f64, BoxError> {
    let history: serde_json::Value = http.get(format!("{url}/history/{job_id}")).send().await?.json().await?;
    let messages = history
        .pointer(&format!("/{job_id}/status/messages"))
        .and_then(|m| m.as_array())
        .ok_or_else(|| format!("no status messages in the history of {job_id}"))?;
    messages
        .iter()
        .find(|m| m.get(0).and_then(|k| k.as_str()) == Some("execution_success"))
        .and_then(|m| m.pointer("/1/timestamp"))
        .and_then(|t| t.as_f64())
        .ok_or_else(|| format!("no execution_success timestamp for {job_id}").into())
}

/// A client of ComfyUI itself: its own WebSocket, `POST /prompt`, `GET /history/{id}`.
struct DirectClient {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    client_id: String,
}

impl DirectClient {
    async fn connect(url: &str) -> Result<DirectClient, BoxError> {
        let client_id = format!("mcp-load-{}", std::process::id());
        let ws_url = format!("{}/ws?clientId={client_id}", url.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
        Ok(DirectClient { ws, client_id })
    }

    /// Runs one job: (execution_success timestamp, when the socket delivered it, when its
    /// history entry was read), all in ms since the epoch.
    async fn run(
        &mut self,
        http: &reqwest::Client,
        url: &str,
        workflow: serde_json::Value,
    ) -> Result<(f64, f64, f64), BoxError> {
        use futures::StreamExt;
        let body = serde_json::json!({"prompt": workflow, "client_id": self.client_id});
        let answer: serde_json::Value =
            http.post(format!("{url}/prompt")).json(&body).send().await?.json().await?;
        let prompt_id = answer
            .get("prompt_id")
            .and_then(|p| p.as_str())
            .ok_or_else(|| format!("POST /prompt: {answer}"))?;
        let mut success: Option<(f64, f64)> = None;
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(60), self.ws.next())
                .await
                .map_err(|_| "the job did not finish within 60 s")?
                .ok_or("the WebSocket closed")??;
            let tokio_tungstenite::tungstenite::Message::Text(text) = msg else { continue };
            let seen_at = epoch_ms();
            let v: serde_json::Value = serde_json::from_str(&text)?;
            if v.pointer("/data/prompt_id").and_then(|p| p.as_str()) != Some(prompt_id) {
                continue;
            }
            match v.get("type").and_then(|t| t.as_str()) {
                Some("execution_success") => {
                    let ts = v.pointer("/data/timestamp").and_then(|t| t.as_f64()).ok_or("no timestamp")?;
                    success = Some((ts, seen_at));
                }
                // `executing {node: null}`: ComfyUI has written the history entry.
                Some("executing") if v.pointer("/data/node").is_some_and(|n| n.is_null()) => {
                    let (ts, seen) = success.ok_or("the job closed without execution_success")?;
                    let h: serde_json::Value =
                        http.get(format!("{url}/history/{prompt_id}")).send().await?.json().await?;
                    if h.get(prompt_id).is_none() {
                        return Err(format!("no history entry for {prompt_id}").into());
                    }
                    return Ok((ts, seen, epoch_ms()));
                }
                Some("execution_error" | "execution_interrupted") => {
                    return Err(format!("job failed: {text}").into());
                }
                _ => {}
            }
        }
    }
}

fn epoch_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn report_ms(what: &str, v: &[f64]) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return;
    }
    let pct = |p: f64| v[((v.len() as f64 * p).ceil() as usize).saturating_sub(1).min(v.len() - 1)];
    println!(
        "{what:<58} p50 {:>7.2}  p99 {:>7.2}  max {:>7.2}  (n={})",
        pct(0.50),
        pct(0.99),
        v[v.len() - 1],
        v.len()
    );
}

fn default_server() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/mcp_load -> target/<profile>/comfy-mcp
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("cannot locate the target directory")?;
    Ok(profile_dir.join(format!("comfy-mcp{}", std::env::consts::EXE_SUFFIX)))
}

/// The server with a clean environment: this ComfyUI, this data directory, warnings only.
fn server_command(server: &Path, url: &str, data: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(server);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("COMFYUI_URL", url)
        .env("COMFY_MCP_DATA_DIR", data)
        .env("COMFY_MCP_LOG", "warn");
    c
}

fn base_command(server: &Path, url: &str, data: &Path) -> Command {
    let mut c = Command::from(server_command(server, url, data));
    c.kill_on_drop(true);
    c
}

async fn spawn_stdio(server: &Path, url: &str, data: &Path) -> Result<(Client, Option<u32>), BoxError> {
    let mut cmd = base_command(server, url, data);
    cmd.stderr(Stdio::null());
    let transport = TokioChildProcess::new(cmd)?;
    let pid = transport.id();
    let client = ().serve(transport).await?;
    Ok((client, pid))
}

struct HttpServer {
    child: Child,
    pid: Option<u32>,
    base: String,
}

impl HttpServer {
    /// Starts `comfy-mcp --transport http` on a free port; reads the address from its log.
    async fn spawn(server: &Path, url: &str, data: &Path) -> Result<HttpServer, BoxError> {
        let mut cmd = base_command(server, url, data);
        cmd.env("COMFY_MCP_LOG", "info")
            .args(["--transport", "http", "--listen", "127.0.0.1:0", "--token", TOKEN])
            .args(["--log-format", "json", "--rate-limit", "1000000000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let pid = child.id();
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await? {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(a) = v.pointer("/fields/address").and_then(|a| a.as_str())
                {
                    return Ok::<_, BoxError>(a.to_owned());
                }
            }
            Err("comfy-mcp exited before listening".into())
        })
        .await
        .map_err(|_| "comfy-mcp did not report its address within 20 s")??;
        // Keep draining the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(HttpServer { child, pid, base: format!("http://{addr}") })
    }

    async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

async fn http_client(base: &str) -> Result<Client, BoxError> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(TOKEN.to_owned()),
    );
    Ok(().serve(transport).await?)
}

async fn get_queue(client: &Client) -> Result<(), BoxError> {
    let r = client.call_tool(CallToolRequestParams::new("get_queue")).await?;
    if r.is_error == Some(true) {
        return Err(format!("get_queue failed: {:?}", r.structured_content).into());
    }
    Ok(())
}

/// Latencies over stdio, the paired direct latencies, and the server's CPU time (ns).
type LeanSeries = (Vec<Duration>, Vec<Duration>, Option<u64>);

/// `get_queue` over stdio from a lean client: plain blocking pipes on this thread, one JSON line
/// out and one in per call, no MCP library. What it measures beyond the direct request is what
/// the server adds (and the pipe hops), not a client library's own cost. Returns the latencies
/// (after 50 warm-up calls) and the server's CPU time over the measured calls.
fn lean_stdio_series(server: &Path, url: &str, data: &Path, calls: usize) -> Result<LeanSeries, BoxError> {
    use std::io::{BufRead, Write};
    let mut child = server_command(server, url, data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = Some(child.id());
    let mut input = child.stdin.take().ok_or("no stdin")?;
    let mut output = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    let mut exchange = |request: &str, line: &mut String| -> Result<(), BoxError> {
        input.write_all(request.as_bytes())?;
        input.flush()?;
        if request.contains("\"id\"") {
            // Skip notifications (no id) up to the response.
            loop {
                line.clear();
                if output.read_line(line)? == 0 {
                    return Err("the server closed stdout".into());
                }
                if line.contains("\"id\":") {
                    break;
                }
            }
        }
        Ok(())
    };
    exchange(
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"mcp_load-lean\",\"version\":\"0\"}}}\n",
        &mut line,
    )?;
    exchange("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n", &mut line)?;
    let mut lat = Vec::with_capacity(calls);
    let mut direct = RawGet::connect(url)?;
    let mut direct_lat = Vec::with_capacity(calls);
    let mut cpu_before = None;
    for i in 0..calls + 50 {
        let t = Instant::now();
        direct.get("/queue")?;
        if i >= 50 {
            direct_lat.push(t.elapsed());
        }
        if i == 50 {
            cpu_before = cpu_ns(pid);
        }
        let request = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/call\",\"params\":{{\"name\":\"get_queue\",\"arguments\":{{}}}}}}\n",
            i + 1
        );
        let t = Instant::now();
        exchange(&request, &mut line)?;
        if i >= 50 {
            lat.push(t.elapsed());
        }
        if !line.contains("\"result\"") || line.contains("\"isError\":true") {
            return Err(format!("get_queue over lean stdio: {line}").into());
        }
    }
    let cpu = match (cpu_before, cpu_ns(pid)) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    drop(input);
    let _ = child.wait();
    Ok((lat, direct_lat, cpu))
}

/// A blocking HTTP/1.1 keep-alive GET client on one TCP connection (for paired direct calls).
struct RawGet {
    io: std::io::BufReader<std::net::TcpStream>,
    host: String,
}

impl RawGet {
    fn connect(url: &str) -> Result<RawGet, BoxError> {
        let host = url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let stream = std::net::TcpStream::connect(&host)?;
        stream.set_nodelay(true)?;
        Ok(RawGet { io: std::io::BufReader::new(stream), host })
    }

    fn get(&mut self, path: &str) -> Result<(), BoxError> {
        use std::io::{BufRead, Read, Write};
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.io.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        let mut len = 0usize;
        let mut first = true;
        loop {
            line.clear();
            if self.io.read_line(&mut line)? == 0 {
                return Err("ComfyUI closed the connection".into());
            }
            if first && !line.contains(" 200") {
                return Err(format!("GET {path}: {line}").into());
            }
            first = false;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse()?;
            }
        }
        let mut body = vec![0; len];
        self.io.read_exact(&mut body)?;
        Ok(())
    }
}

/// p50 of the per-call differences between two paired series.
fn report_paired(what: &str, over: &[Duration], direct: &[Duration]) {
    let mut d: Vec<f64> = over.iter().zip(direct).map(|(a, b)| us(*a) - us(*b)).collect();
    d.sort_by(f64::total_cmp);
    if d.is_empty() {
        return;
    }
    let pct = |p: f64| d[((d.len() as f64 * p).ceil() as usize).saturating_sub(1).min(d.len() - 1)];
    println!("{what:<58} p50 {:>7.0}  p90 {:>7.0}  (n={})", pct(0.50), pct(0.90), d.len());
}

/// A minimal HTTP/1.1 keep-alive client on one TCP connection: writes a request, reads the
/// whole response (Content-Length or chunked), then the next. Nothing is tuned on its socket.
struct PlainClient {
    io: BufReader<tokio::net::TcpStream>,
    host: String,
    session: Option<String>,
    next_id: u64,
}

impl PlainClient {
    async fn connect(base: &str) -> Result<PlainClient, BoxError> {
        let host = base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await?;
        Ok(PlainClient { io: BufReader::new(stream), host, session: None, next_id: 1 })
    }

    /// `initialize` then `notifications/initialized`, keeping the session id.
    async fn initialize(&mut self) -> Result<(), BoxError> {
        let init = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "mcp_load-plain", "version": "0"}}});
        let (status, headers, body) = self.post(&init.to_string()).await?;
        if status != 200 || !body.contains("\"result\"") {
            return Err(format!("initialize: HTTP {status}: {body}").into());
        }
        self.session =
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id")).map(|(_, v)| v.clone());
        let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, _) = self.post(&note.to_string()).await?;
        if status / 100 != 2 {
            return Err(format!("notifications/initialized: HTTP {status}").into());
        }
        Ok(())
    }

    async fn get_queue(&mut self) -> Result<(), BoxError> {
        let id = self.next_id;
        self.next_id += 1;
        let call = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "get_queue", "arguments": {}}});
        let (status, _, body) = self.post(&call.to_string()).await?;
        if status != 200 || !body.contains("\"result\"") || body.contains("\"isError\":true") {
            return Err(format!("get_queue: HTTP {status}: {body}").into());
        }
        Ok(())
    }

    async fn post(&mut self, body: &str) -> Result<(u16, Vec<(String, String)>, String), BoxError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut req = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             MCP-Protocol-Version: 2025-11-25\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(s) = &self.session {
            req.push_str(&format!("Mcp-Session-Id: {s}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.io.get_mut().write_all(req.as_bytes()).await?;
        let mut line = String::new();
        self.io.read_line(&mut line).await?;
        let status: u16 =
            line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("bad status line")?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.io.read_line(&mut line).await? == 0 {
                return Err("connection closed in the headers".into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let mut data = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                line.clear();
                self.io.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)?;
                let mut chunk = vec![0; size + 2];
                self.io.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                data.extend_from_slice(&chunk[..size]);
            }
        } else {
            let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            data.resize(len, 0);
            self.io.read_exact(&mut data).await?;
        }
        Ok((status, headers, String::from_utf8_lossy(&data).into_owned()))
    }
}

/// Runs `n` calls one after the other (after 50 warm-up calls); returns each latency.
async fn series<F, Fut>(n: usize, mut call: F) -> Result<Vec<Duration>, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    for _ in 0..50 {
        call().await?;
    }
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        call().await?;
        lat.push(t.elapsed());
    }
    Ok(lat)
}

fn report(what: &str, lat: &[Duration]) {
    let mut v = lat.to_vec();
    v.sort();
    let pct = |p: f64| v[((v.len() as f64 * p).ceil() as usize).saturating_sub(1).min(v.len() - 1)];
    println!(
        "{what:<58} p50 {:>7.0}  p99 {:>7.0}  max {:>7.0}  (n={})",
        us(pct(0.50)),
        us(pct(0.99)),
        us(v[v.len() - 1]),
        v.len()
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time a process has used, all its threads, in nanoseconds (Linux `schedstat`), or None.
/// Unlike wall-clock latency it does not count time spent waiting for a busy machine's CPUs,
/// so it shows what the server itself spends per call even on a loaded VM.
fn cpu_ns(pid: Option<u32>) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", pid?)).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Some(total)
}

fn report_cpu(what: &str, before: Option<u64>, after: Option<u64>, calls: usize) {
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "{what:<58} {:>7.1} µs (threads that ended meanwhile are not counted)",
            a.saturating_sub(b) as f64 / calls as f64 / 1e3
        );
    }
}

/// VmRSS and its anonymous part (RssAnon: heap and stacks, without the binary's mapped code
/// pages) of a process in KiB (Linux), or None.
fn rss_kib(pid: Option<u32>) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("RssAnon:")?))
}
