//! Operating a shared deployment: `/metrics` (counts by backend, state, tool, code and
//! status, parsed from the exposition text), per-backend `/readyz` (fake up, fake stopped,
//! draining), and the graceful drain of the real binary on SIGTERM.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use comfy_mcp::config::TokenConfig;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const TOKEN: &str = "ops-secret";

fn with_token(s: &mut comfy_mcp::config::Settings) {
    s.http.tokens = vec![TokenConfig {
        name: Some("ops".into()),
        token: TOKEN.into(),
        tools: None,
        admin: true,
        team: None,
    }];
}

async fn client(base: &str, token: Option<&str>) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"));
    if let Some(token) = token {
        config = config.auth_header(token.to_owned());
    }
    ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("HTTP client connects")
}

async fn call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tool: &str,
    args: Value,
) -> Value {
    let p = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    let r = tokio::time::timeout(Duration::from_secs(60), client.call_tool(p))
        .await
        .unwrap_or_else(|_| panic!("{tool}: no answer"))
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    r.structured_content.unwrap_or(Value::Null)
}

/// One sample of the exposition text: `name{k="v",...} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}').expect("labels end with }")),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line:?}"));
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample { name: name.to_owned(), labels, value }
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let hits: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    match hits.as_slice() {
        [one] => one.value,
        [] => panic!("no sample {name} {labels:?} in {samples:#?}"),
        more => more.iter().map(|s| s.value).sum(),
    }
}

async fn scrape(base: &str) -> Vec<Sample> {
    let r = reqwest::Client::new().get(format!("{base}/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    parse(&text)
}

#[tokio::test]
async fn metrics_count_jobs_tools_errors_and_responses_by_label() {
    let fake = common::fake().await;
    let state = common::state_for(&fake.url(), with_token);
    let backend = state.comfy.backend().name().to_owned();
    let b = backend.as_str();
    let (base, _shutdown) = common::serve_http(state.clone()).await;

    let anonymous = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(anonymous.status(), 401, "the token protects /metrics like /mcp");
    let before = scrape(&base).await;
    assert_eq!(value(&before, "comfy_jobs_submitted_total", &[("backend", b)]), 0.0);
    assert_eq!(value(&before, "comfy_backend_info", &[("backend", b), ("kind", "local")]), 1.0);

    let c = client(&base, Some(TOKEN)).await;
    for prefix in ["m1", "m2"] {
        let r =
            call(&c, "submit_workflow", json!({"workflow": common::image_workflow(prefix), "wait": true}))
                .await;
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    fake.fail_node_class("SaveImage", "RuntimeError", "scripted failure");
    let r =
        call(&c, "submit_workflow", json!({"workflow": common::image_workflow("m3"), "wait": true})).await;
    assert!(r.to_string().contains("failed"), "{r}");
    fake.clear_node_scripts();
    let missing = call(&c, "get_job_status", json!({"job_id": "no-such-job"})).await;
    assert_eq!(missing["code"], "job_not_found", "{missing}");

    // A job held in the fake's queue: in flight, and in the backend's queue.
    fake.hold();
    let held = call(&c, "submit_workflow", json!({"workflow": common::image_workflow("m4")})).await;
    let job_id = held["job_id"].as_str().expect("job id").to_owned();
    let during = scrape(&base).await;
    assert_eq!(value(&during, "comfy_jobs_in_flight", &[("backend", b)]), 1.0);
    assert_eq!(value(&during, "comfy_backend_queue_depth", &[("backend", b), ("state", "pending")]), 1.0);
    assert_eq!(value(&during, "comfy_backend_up", &[("backend", b)]), 1.0);
    fake.release();
    let done = call(&c, "wait_for_job", json!({"job_id": job_id})).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    let after = scrape(&base).await;
    let v = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels);
    assert_eq!(v("comfy_jobs_submitted_total", &[("backend", b)]), 4.0);
    assert_eq!(v("comfy_jobs_finished_total", &[("backend", b), ("state", "succeeded")]), 3.0);
    assert_eq!(v("comfy_jobs_finished_total", &[("backend", b), ("state", "failed")]), 1.0);
    assert_eq!(v("comfy_jobs_finished_total", &[("backend", b), ("state", "cancelled")]), 0.0);
    assert_eq!(v("comfy_jobs_in_flight", &[("backend", b)]), 0.0);
    assert_eq!(v("comfy_errors_total", &[("backend", b), ("code", "job_failed")]), 1.0);
    assert_eq!(v("comfy_job_submit_duration_seconds_count", &[("backend", b)]), 4.0);
    assert_eq!(v("comfy_job_duration_seconds_count", &[("backend", b), ("state", "succeeded")]), 3.0);
    assert_eq!(v("comfy_job_duration_seconds_count", &[("backend", b), ("state", "failed")]), 1.0);
    assert_eq!(v("comfy_tool_call_duration_seconds_count", &[("tool", "submit_workflow")]), 4.0);
    assert_eq!(
        v(
            "comfy_tool_call_duration_seconds_count",
            &[("tool", "get_job_status"), ("outcome", "job_not_found")]
        ),
        1.0
    );
    assert_eq!(
        v("comfy_tool_call_duration_seconds_count", &[("tool", "wait_for_job"), ("outcome", "ok")]),
        1.0
    );
    assert_eq!(v("comfy_tool_calls_in_flight", &[]), 0.0);
    assert!(v("comfy_http_responses_total", &[("status", "401")]) >= 1.0);
    assert!(v("comfy_http_responses_total", &[("status", "200")]) >= 7.0);
    assert_eq!(v("comfy_backend_queue_depth", &[("backend", b), ("state", "pending")]), 0.0);
}

#[tokio::test]
async fn metrics_can_be_turned_off_and_are_open_without_tokens() {
    let fake = common::fake().await;
    let off = common::state_for(&fake.url(), |s| s.http.metrics = false);
    let (base, _stop) = common::serve_http(off).await;
    assert_eq!(reqwest::get(format!("{base}/metrics")).await.unwrap().status(), 404);
    let open = common::state_for(&fake.url(), |_| {});
    let (base, _stop2) = common::serve_http(open).await;
    let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200, "a server without tokens serves metrics to anyone, like /mcp");
}

#[tokio::test]
async fn readyz_reports_each_backend_up_down_and_draining() {
    let fake = common::fake().await;
    let url = fake.url();
    let state = common::state_for(&url, with_token);
    let name = state.comfy.backend().name().to_owned();
    let (base, _shutdown) = common::serve_http(state.clone()).await;
    let http = reqwest::Client::new();
    let get = |token: Option<&str>| {
        let mut r = http.get(format!("{base}/readyz"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    let (status, body) = get(None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["backends"], json!([{"kind": "local", "ready": true}]), "no name without a token");
    let (status, body) = get(Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["backends"][0]["name"], name.as_str(), "{body}");
    assert_eq!(body["backends"][0]["ready"], true);

    fake.shutdown();
    let (status, body) = get(None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "backend_unreachable");
    assert_eq!(body["backends"][0]["ready"], false);
    let code = body["backends"][0]["last_error"]["code"].as_str().expect("an error code").to_owned();
    assert!(!body.to_string().contains(&url), "no URL without a token: {body}");
    let (_, detailed) = get(Some(TOKEN)).await;
    assert_eq!(detailed["backends"][0]["last_error"]["code"], code.as_str());
    assert!(detailed["backends"][0]["last_error"]["message"].is_string(), "{detailed}");

    // Draining: not ready even with the backend up; new submissions are refused, retryably.
    let fake = common::fake().await;
    let state = common::state_for(&fake.url(), |_| {});
    let (base, _stop) = common::serve_http(state.clone()).await;
    let (client, _) = common::connect(state.clone()).await;
    state.comfy.begin_drain();
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "draining", "{body}");
    assert_eq!(body["draining"], true);
    assert_eq!(body["backends"][0]["ready"], true, "{body}");
    let e = common::err(&client, "submit_workflow", json!({"workflow": common::image_workflow("d")})).await;
    assert_eq!(e["code"], "draining", "{e}");
    assert_eq!(e["retryable"], true, "{e}");
    let listed = common::ok(&client, "list_workflows", json!({})).await;
    assert!(listed.is_object(), "reads still work while draining: {listed}");
}

#[cfg(unix)]
mod binary {
    use std::net::TcpStream;
    use std::process::Stdio;

    use super::*;

    const BIN: &str = env!("CARGO_BIN_EXE_comfy-mcp");

    struct Server {
        child: tokio::process::Child,
        base: String,
        port: u16,
        _data: tempfile::TempDir,
        data_dir: std::path::PathBuf,
    }

    async fn start(fake_url: &str, drain_secs: u64) -> Server {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().to_owned();
        let child = tokio::process::Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("COMFY_MCP_LOG", "warn")
            .args(["--transport", "http", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--comfyui-url", fake_url, "--data-dir"])
            .arg(&data_dir)
            .args(["--drain-timeout-secs", &drain_secs.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
                && r.status() == 200
            {
                return Server { child, base, port, _data: data, data_dir };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not come up");
    }

    impl Server {
        fn terminate(&self) {
            let pid = self.child.id().expect("running").to_string();
            let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            assert!(status.success());
        }

        /// Waits until a new connection is refused (the listener is closed).
        async fn refuses_connections(&self) {
            for _ in 0..200 {
                if TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("new connections are still accepted while draining");
        }

        async fn exit_code(&mut self) -> Option<i32> {
            let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
                .await
                .expect("the server exits")
                .unwrap();
            status.code()
        }
    }

    async fn tool_calls_in_flight(base: &str) -> f64 {
        let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
        value(&parse(&text), "comfy_tool_calls_in_flight", &[])
    }

    /// Starts a held job and a `wait_for_job` on it; returns when the wait is in flight.
    async fn held_wait(
        server: &Server,
        fake: &comfy_fake::FakeComfyUi,
    ) -> (String, tokio::task::JoinHandle<Value>) {
        fake.hold();
        let c = client(&server.base, None).await;
        let submitted =
            call(&c, "submit_workflow", json!({"workflow": common::image_workflow("drain")})).await;
        let job_id = submitted["job_id"].as_str().expect("job id").to_owned();
        let id = job_id.clone();
        let wait = tokio::spawn(async move {
            let r = call(&c, "wait_for_job", json!({"job_id": id, "timeout": 120})).await;
            drop(c);
            r
        });
        for _ in 0..200 {
            if tool_calls_in_flight(&server.base).await == 1.0 {
                return (job_id, wait);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("wait_for_job never got in flight");
    }

    #[tokio::test]
    async fn sigterm_lets_the_wait_in_flight_finish_refuses_new_connections_and_exits_0() {
        let fake = common::fake().await;
        let mut server = start(&fake.url(), 60).await;
        let (_job, wait) = held_wait(&server, &fake).await;

        server.terminate();
        server.refuses_connections().await;
        assert!(!wait.is_finished(), "the job is held: the wait is still in flight");
        fake.release();
        let result = wait.await.unwrap();
        assert_eq!(result["status"], "succeeded", "the wait in flight finished: {result}");
        assert_eq!(server.exit_code().await, Some(0));
    }

    #[tokio::test]
    async fn the_drain_timeout_bounds_the_stop_and_the_job_stays_recorded_unfinished() {
        let fake = common::fake().await;
        let mut server = start(&fake.url(), 1).await;
        let (job_id, wait) = held_wait(&server, &fake).await;
        server.terminate();
        let data_dir = server.data_dir.clone();
        assert_eq!(server.exit_code().await, Some(0), "exits 0 once the drain timeout is over");
        wait.abort();
        let store = comfy_core::store::SqliteStore::open(data_dir.join("comfy.sqlite3")).unwrap();
        use comfy_core::store::Store;
        let record = store
            .get_job(&comfy_core::job::JobId(job_id.clone()))
            .await
            .unwrap()
            .expect("the job is recorded");
        assert!(!record.status.is_terminal(), "left for a restart to reattach: {:?}", record.status);
    }
}

#[test]
fn drain_and_audit_settings_come_from_flags_files_and_defaults() {
    use clap::Parser;
    use comfy_mcp::cli::Cli;
    use comfy_mcp::config::{FileConfig, Settings};
    let defaults = Settings::merge(&Cli::parse_from(["comfy-mcp"]).server, FileConfig::default()).unwrap();
    assert_eq!(defaults.http.drain_timeout_secs, 30);
    assert!(defaults.http.metrics);
    assert_eq!(defaults.audit.path, None);
    let file = FileConfig::parse(
        "[http]\nmetrics = false\ndrain_timeout_secs = 5\n[audit]\npath = \"/var/log/comfy/audit.jsonl\"\n",
    )
    .unwrap();
    let s = Settings::merge(&Cli::parse_from(["comfy-mcp"]).server, file.clone()).unwrap();
    assert!(!s.http.metrics);
    assert_eq!(s.http.drain_timeout_secs, 5);
    assert_eq!(s.audit.path.as_deref(), Some(std::path::Path::new("/var/log/comfy/audit.jsonl")));
    let printed = s.to_toml();
    assert!(printed.contains("[audit]") && printed.contains("drain_timeout_secs = 5"), "{printed}");
    let flags = Cli::parse_from(["comfy-mcp", "--audit-log", "/tmp/a.jsonl", "--drain-timeout-secs", "9"]);
    let s = Settings::merge(&flags.server, file).unwrap();
    assert_eq!(s.audit.path.as_deref(), Some(std::path::Path::new("/tmp/a.jsonl")));
    assert_eq!(s.http.drain_timeout_secs, 9);
    assert!(FileConfig::parse("[audit]\nfile = \"x\"\n").is_err(), "unknown keys are refused");
    let _ = Arc::new(());
}
