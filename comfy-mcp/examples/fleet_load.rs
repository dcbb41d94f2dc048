//! Load driver for a shared deployment: several `comfy-mcp` HTTP servers on one PostgreSQL
//! store, in front of several fake ComfyUIs (each server routes over all of them), driven by
//! many concurrent MCP clients. Numbers are printed, never asserted.
//!
//! ```sh
//! cargo build --release -p comfy-mcp --bins --examples
//! URL="$(scripts/postgres/start.sh /tmp/pg)"
//! target/release/examples/fleet_load --store "$URL"                 # 3 servers, 4 fakes, 10,000 jobs, 64 clients
//! target/release/examples/fleet_load --store "$URL" --kill          # one fake and one server killed halfway
//! ```
//!
//! Every job is a distinct graph (its own seed): `submit_workflow` (no wait), then `wait_for_job`
//! until it is finished, through the client's server. A client whose server is gone reconnects
//! to the next live one and repeats the call, as a careful client would: a repeated submission
//! attaches to the job already running (in-flight dedup is shared by the servers) and carries
//! `reuse: true`, so a run that finished while the client had no answer is returned, not run
//! again. Reported: jobs/s, p50/p99 submit and
//! completion latency, how the jobs spread over the fakes, how many were lost (never finished),
//! and duplicate executions (a job id executed by more than one fake, or more executions than
//! jobs). Each run uses a fresh schema of the database, dropped afterwards.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use comfy_fake::FakeComfyUi;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

type Client = RunningService<RoleClient, ()>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TOKEN: &str = "fleet-load-token";
/// Longest wait for one tool call (`wait_for_job` waits up to 30 s on the server).
const CALL_TIMEOUT: Duration = Duration::from_secs(45);

/// Load driver for several comfy-mcp servers on one PostgreSQL (see the module docs).
#[derive(Debug, Parser)]
struct Args {
    /// The PostgreSQL database (a fresh schema is created in it for the run).
    #[arg(long)]
    store: String,
    /// The comfy-mcp binary (default: `comfy-mcp` next to this example's directory).
    #[arg(long)]
    server: Option<PathBuf>,
    /// comfy-mcp servers.
    #[arg(long, default_value_t = 3)]
    servers: usize,
    /// Fake ComfyUIs (every server routes over all of them).
    #[arg(long, default_value_t = 4)]
    fakes: usize,
    /// Jobs in all.
    #[arg(long, default_value_t = 10_000)]
    jobs: usize,
    /// Concurrent MCP clients (HTTP sessions), spread over the servers.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Kill one fake and one server when half of the jobs are done.
    #[arg(long)]
    kill: bool,
    /// Ask for a lost job to run on another backend (`resubmit_if_lost`).
    #[arg(long)]
    resubmit: bool,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let server_bin = match &args.server {
        Some(p) => p.clone(),
        None => default_server()?,
    };
    let schema = format!("fleet_load_{}", uuid::Uuid::new_v4().simple());
    let store = schema_url(&args.store, &schema).await?;
    let mut fakes = Vec::new();
    for _ in 0..args.fakes {
        fakes.push(FakeComfyUi::builder().model_files("checkpoints", &["m.safetensors"]).start().await?);
    }
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("fleet.toml");
    std::fs::write(&config, config_toml(&store, &fakes))?;
    let mut servers = Vec::new();
    for i in 0..args.servers {
        let data = dir.path().join(format!("data{i}"));
        std::fs::create_dir_all(&data)?;
        servers.push(HttpServer::spawn(&server_bin, &config, &data).await?);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    println!(
        "{} servers on PostgreSQL (schema {schema}), {} fake ComfyUIs, {} jobs from {} clients{}",
        args.servers,
        args.fakes,
        args.jobs,
        args.clients,
        if args.kill { ", one fake and one server killed halfway" } else { "" }
    );

    let run = Arc::new(Run {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        jobs: args.jobs,
        bases: bases.clone(),
        dead: (0..bases.len()).map(|_| AtomicBool::new(false)).collect(),
        results: Mutex::new(Vec::with_capacity(args.jobs)),
        resubmit: args.resubmit,
    });
    let started = Instant::now();
    let mut workers = Vec::new();
    for c in 0..args.clients {
        let run = run.clone();
        workers.push(tokio::spawn(async move { run.worker(c).await }));
    }
    if args.kill {
        while run.done.load(Ordering::SeqCst) < args.jobs / 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!(
            "killing fake 0 and server 0 after {} jobs ({:.1} s)",
            run.done.load(Ordering::SeqCst),
            secs(started)
        );
        run.dead[0].store(true, Ordering::SeqCst);
        servers[0].kill().await;
        fakes.remove(0).shutdown();
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed();

    let results = run.results.lock().await;
    report(&results, elapsed);
    let strays = executions(&fakes, &results, args.kill).await?;
    explain(&store, &strays).await?;
    for s in &mut servers {
        s.kill().await;
    }
    drop_schema(&args.store, &schema).await?;
    Ok(())
}

/// One job as the client saw it.
struct Outcome {
    job_id: Option<String>,
    status: String,
    submit: Duration,
    completion: Duration,
}

struct Run {
    next: AtomicUsize,
    done: AtomicUsize,
    jobs: usize,
    bases: Vec<String>,
    /// Servers the driver killed (clients skip them when reconnecting).
    dead: Vec<AtomicBool>,
    results: Mutex<Vec<Outcome>>,
    resubmit: bool,
}

impl Run {
    async fn worker(&self, c: usize) -> Result<(), BoxError> {
        let mut at = c % self.bases.len();
        let mut client = self.connect(&mut at).await?;
        loop {
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            if i >= self.jobs {
                return Ok(());
            }
            let outcome = self.job(i, &mut client, &mut at).await?;
            self.results.lock().await.push(outcome);
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Connects to the live server at or after `at`.
    async fn connect(&self, at: &mut usize) -> Result<Client, BoxError> {
        for _ in 0..self.bases.len() * 3 {
            if !self.dead[*at].load(Ordering::SeqCst)
                && let Ok(c) = http_client(&self.bases[*at]).await
            {
                return Ok(c);
            }
            *at = (*at + 1) % self.bases.len();
        }
        Err("no server answers".into())
    }

    /// Calls a tool, reconnecting to another server while the call fails at the transport.
    async fn call(
        &self,
        client: &mut Client,
        at: &mut usize,
        tool: &'static str,
        args: Value,
    ) -> Result<Value, BoxError> {
        let Value::Object(mut args) = args else { return Err("arguments must be an object".into()) };
        for attempt in 0..10 {
            if attempt > 0 && tool == "submit_workflow" {
                // The first attempt's answer was lost: if that run finished meanwhile (its dedup
                // claim is gone with it), take its result instead of running the graph again.
                args.insert("reuse".into(), Value::Bool(true));
            }
            let params = CallToolRequestParams::new(tool).with_arguments(args.clone());
            // A call in flight on a server that dies may never be answered.
            match tokio::time::timeout(CALL_TIMEOUT, client.call_tool(params)).await {
                Ok(Ok(r)) => return Ok(r.structured_content.unwrap_or_default()),
                Ok(Err(_)) | Err(_) => {
                    *at = (*at + 1) % self.bases.len();
                    *client = self.connect(at).await?;
                }
            }
        }
        Err(format!("{tool} failed on every server").into())
    }

    async fn job(&self, i: usize, client: &mut Client, at: &mut usize) -> Result<Outcome, BoxError> {
        let start = Instant::now();
        let mut submit_args = json!({"workflow": workflow(i as u64)});
        if self.resubmit {
            submit_args["resubmit_if_lost"] = json!(true);
        }
        let submitted = self.call(client, at, "submit_workflow", submit_args).await?;
        let submit = start.elapsed();
        let Some(job_id) = submitted.get("job_id").and_then(Value::as_str).map(str::to_owned) else {
            let status = submitted.get("code").and_then(Value::as_str).unwrap_or("refused").to_owned();
            return Ok(Outcome { job_id: None, status, submit, completion: start.elapsed() });
        };
        // Bounded: a job still unfinished after ~5 minutes of waiting counts as lost.
        for _ in 0..10 {
            let view =
                self.call(client, at, "wait_for_job", json!({"job_id": job_id, "timeout": 30})).await?;
            let status = view.get("status").and_then(Value::as_str).unwrap_or("");
            if matches!(status, "succeeded" | "failed" | "cancelled") {
                let status = status.to_owned();
                return Ok(Outcome { job_id: Some(job_id), status, submit, completion: start.elapsed() });
            }
            if view.get("code").is_some() && status.is_empty() {
                let status = format!("error:{}", view["code"].as_str().unwrap_or("?"));
                return Ok(Outcome { job_id: Some(job_id), status, submit, completion: start.elapsed() });
            }
        }
        Ok(Outcome { job_id: Some(job_id), status: "lost".into(), submit, completion: start.elapsed() })
    }
}

/// A distinct small text-to-image graph per job (its seed), one sampling step.
fn workflow(seed: u64) -> Value {
    json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
              "latent_image": ["3", 0], "seed": seed, "steps": 1, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "load"}}
    })
}

fn config_toml(store: &str, fakes: &[FakeComfyUi]) -> String {
    let mut out = format!(
        "store = {store:?}\nlog_format = \"json\"\n\n[limits]\nmax_running_jobs = 1000000\n\
         rate_limit_per_minute = 1000000000\nwait_budget_secs = 30\n\n[routing]\noverflow_queue = 1000000\n"
    );
    for (i, f) in fakes.iter().enumerate() {
        out.push_str(&format!("\n[[backends]]\nname = \"fake{i}\"\nkind = \"local\"\nurl = {:?}\n", f.url()));
    }
    out
}

fn report(results: &[Outcome], elapsed: Duration) {
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for r in results {
        *by_status.entry(r.status.as_str()).or_default() += 1;
    }
    let finished = results.iter().filter(|r| r.status != "lost").count();
    println!(
        "{} jobs in {:.1} s: {:.0} jobs/s; outcomes {:?}",
        results.len(),
        elapsed.as_secs_f64(),
        finished as f64 / elapsed.as_secs_f64(),
        by_status
    );
    let pct = |mut v: Vec<f64>, p: f64| -> f64 {
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
    };
    let submit: Vec<f64> = results.iter().map(|r| r.submit.as_secs_f64() * 1e3).collect();
    let done: Vec<f64> = results.iter().map(|r| r.completion.as_secs_f64() * 1e3).collect();
    println!("submit     p50 {:>8.1} ms  p99 {:>8.1} ms", pct(submit.clone(), 0.5), pct(submit, 0.99));
    println!("completion p50 {:>8.1} ms  p99 {:>8.1} ms", pct(done.clone(), 0.5), pct(done, 0.99));
    println!("lost (never finished): {}", by_status.get("lost").copied().unwrap_or(0));
}

/// Executions per fake (from each one's `/history`), and duplicates across them; returns the
/// executed job ids that no client was told about.
async fn executions(
    fakes: &[FakeComfyUi],
    results: &[Outcome],
    killed: bool,
) -> Result<Vec<String>, BoxError> {
    let http = reqwest::Client::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut duplicates = 0;
    let mut counts = Vec::new();
    for f in fakes {
        let history: Value =
            http.get(format!("{}/history?max_items=1000000", f.url())).send().await?.json().await?;
        let ids: Vec<String> = history.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        counts.push(ids.len());
        for id in ids {
            if !seen.insert(id) {
                duplicates += 1;
            }
        }
    }
    let ours: HashSet<&str> = results.iter().filter_map(|r| r.job_id.as_deref()).collect();
    let strays: Vec<String> = seen.into_iter().filter(|id| !ours.contains(id.as_str())).collect();
    println!(
        "executions per live fake {counts:?} (total {}){}; job ids executed twice: {duplicates}; \
         executions that are not a reported job: {}",
        counts.iter().sum::<usize>(),
        if killed { ", the killed fake's not counted" } else { "" },
        strays.len()
    );
    Ok(strays)
}

/// What the store recorded for executions no client was told about.
async fn explain(store: &str, strays: &[String]) -> Result<(), BoxError> {
    if strays.is_empty() {
        return Ok(());
    }
    let ids: Vec<Vec<u8>> = strays.iter().map(|s| s.as_bytes().to_vec()).collect();
    let rows = raw(store)
        .await?
        .query("SELECT id, status_name, backend, created_at, request FROM jobs WHERE id = ANY($1)", &[&ids])
        .await?;
    for row in rows {
        let text = |i: usize| String::from_utf8_lossy(&row.get::<_, Vec<u8>>(i)).into_owned();
        let request: String = row.get(4);
        let resubmitted =
            serde_json::from_str::<Value>(&request).ok().and_then(|r| r.get("resubmitted").cloned());
        println!(
            "  not reported: {} {} on {} (created {}; resubmitted {:?})",
            text(0),
            row.get::<_, String>(1),
            text(2),
            row.get::<_, i64>(3),
            resubmitted
        );
    }
    Ok(())
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

fn default_server() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/fleet_load -> target/<profile>/comfy-mcp
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("cannot locate the target directory")?;
    Ok(profile_dir.join(format!("comfy-mcp{}", std::env::consts::EXE_SUFFIX)))
}

async fn raw(url: &str) -> Result<tokio_postgres::Client, BoxError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Creates `schema` and returns the URL whose connections use it.
async fn schema_url(base: &str, schema: &str) -> Result<String, BoxError> {
    raw(base).await?.batch_execute(&format!("CREATE SCHEMA {schema}")).await?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

async fn drop_schema(base: &str, schema: &str) -> Result<(), BoxError> {
    raw(base).await?.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await?;
    Ok(())
}

struct HttpServer {
    child: Child,
    base: String,
}

impl HttpServer {
    /// Starts `comfy-mcp --transport http` on a free port; reads the address from its log.
    async fn spawn(server: &Path, config: &Path, data: &Path) -> Result<HttpServer, BoxError> {
        let mut cmd = Command::new(server);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("COMFY_MCP_DATA_DIR", data)
            .env("COMFY_MCP_LOG", "info")
            .args(["--config"])
            .arg(config)
            .args(["--transport", "http", "--listen", "127.0.0.1:0", "--token", TOKEN])
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(a) = v.pointer("/fields/address").and_then(|a| a.as_str())
                {
                    return Ok::<_, BoxError>(a.to_owned());
                }
            }
            Err("comfy-mcp exited before listening".into())
        })
        .await
        .map_err(|_| "comfy-mcp did not report its address within 30 s")??;
        // Keep draining the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(HttpServer { child, base: format!("http://{addr}") })
    }

    async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

async fn http_client(base: &str) -> Result<Client, BoxError> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(TOKEN.to_owned()),
    );
    Ok(().serve(transport).await?)
}
