//! The binary's command line: configuration precedence, --print-config, refusal to start
//! unsafely, and the `run`, `validate` and `convert` verbs with their exit codes.

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::json;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_comfy-mcp");

fn base() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).kill_on_drop(true);
    c
}

async fn run(mut c: Command) -> Output {
    tokio::time::timeout(std::time::Duration::from_secs(120), c.output()).await.expect("finishes").unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn precedence_is_flag_then_env_then_file_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("comfy-mcp.toml");
    std::fs::write(
        &file,
        "comfyui_url = \"http://file:1\"\nlisten = \"127.0.0.1:9100\"\n[limits]\nwait_budget_secs = 30\nmax_running_jobs = 2\n[[http.tokens]]\ntoken = \"file-token\"\n",
    )
    .unwrap();
    let cfg = file.to_str().unwrap();

    // File over defaults.
    let mut c = base();
    c.args(["--config", cfg, "--print-config"]);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("comfyui_url = \"http://file:1\""), "{printed}");
    assert!(printed.contains("wait_budget_secs = 30"), "{printed}");
    assert!(printed.contains("rate_limit_per_minute = 120"), "default: {printed}");
    assert!(!printed.contains("file-token") && printed.contains("***"), "masked: {printed}");

    // Environment over the file.
    let mut c = base();
    c.args(["--config", cfg, "--print-config"])
        .env("COMFYUI_URL", "http://env:2")
        .env("COMFY_MCP_WAIT_BUDGET_SECS", "7");
    let printed = text(&run(c).await.stdout);
    assert!(printed.contains("comfyui_url = \"http://env:2\""), "{printed}");
    assert!(printed.contains("wait_budget_secs = 7"), "{printed}");
    assert!(printed.contains("max_running_jobs = 2"), "{printed}");

    // Flag over the environment; the config file itself can come from the environment.
    let mut c = base();
    c.args(["--comfyui-url", "http://flag:3", "--print-config"])
        .env("COMFY_MCP_CONFIG", cfg)
        .env("COMFYUI_URL", "http://env:2")
        .env("COMFY_MCP_TOKENS", "env-token-a,env-token-b:get_queue+get_output");
    let printed = text(&run(c).await.stdout);
    assert!(printed.contains("comfyui_url = \"http://flag:3\""), "{printed}");
    assert!(printed.contains("listen = \"127.0.0.1:9100\""), "{printed}");
    assert!(!printed.contains("env-token") && printed.contains("get_output"), "{printed}");

    // Defaults.
    let mut c = base();
    c.arg("--print-config");
    let printed = text(&run(c).await.stdout);
    assert!(printed.contains("comfyui_url = \"http://127.0.0.1:8188\""), "{printed}");
    assert!(
        printed.contains("listen = \"127.0.0.1:9000\"") && printed.contains("transport = \"stdio\""),
        "{printed}"
    );
}

#[tokio::test]
async fn feedback_url_and_partner_spend_follow_flag_then_env_then_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("comfy-mcp.toml");
    std::fs::write(&file, "feedback_url = \"http://file.example/fb\"\nallow_partner_spend = true\n").unwrap();
    let cfg = file.to_str().unwrap();
    let printed = |out: Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };

    let mut c = base();
    c.args(["--config", cfg, "--print-config"]);
    let p = printed(run(c).await);
    assert!(p.contains("feedback_url = \"http://file.example/fb\""), "{p}");
    assert!(p.contains("allow_partner_spend = true"), "{p}");

    let mut c = base();
    c.args(["--config", cfg, "--print-config"]).env("COMFY_FEEDBACK_URL", "http://env.example/fb");
    let p = printed(run(c).await);
    assert!(p.contains("feedback_url = \"http://env.example/fb\""), "{p}");

    let mut c = base();
    c.args(["--config", cfg, "--feedback-url", "http://flag.example/fb", "--print-config"])
        .env("COMFY_FEEDBACK_URL", "http://env.example/fb");
    let p = printed(run(c).await);
    assert!(p.contains("feedback_url = \"http://flag.example/fb\""), "{p}");

    // Unset everywhere: no feedback URL, and partner spending needs max_credits.
    let mut c = base();
    c.arg("--print-config");
    let p = printed(run(c).await);
    assert!(!p.contains("feedback_url") && p.contains("allow_partner_spend = false"), "{p}");
    let mut c = base();
    c.arg("--print-config").env("COMFY_ALLOW_PARTNER_SPEND", "true");
    assert!(printed(run(c).await).contains("allow_partner_spend = true"));
}

#[tokio::test]
async fn unsafe_or_broken_configurations_refuse_to_start() {
    let mut c = base();
    c.args(["--transport", "http", "--listen", "0.0.0.0:0"]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("without an access token"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "no_such_setting = true\n").unwrap();
    let mut c = base();
    c.args(["--config", file.to_str().unwrap(), "--print-config"]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no_such_setting"), "{}", text(&out.stderr));

    let mut c = base();
    c.args(["--config", "/nonexistent/comfy.toml"]);
    assert_eq!(run(c).await.status.code(), Some(2));
}

fn object_info() -> String {
    format!("{}/../../shared/fixtures/comfyui/http/object_info_full.json", env!("CARGO_MANIFEST_DIR"))
}

fn write(dir: &Path, name: &str, v: serde_json::Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

#[tokio::test]
async fn validate_prints_every_problem_and_sets_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.json", common::basic_workflow());
    let bad = write(
        dir.path(),
        "bad.json",
        json!({
            "1": {"class_type": "EmptyImag", "inputs": {}},
            "2": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}
        }),
    );
    let mut c = base();
    c.args(["validate", &good, "--object-info", &object_info()]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut c = base();
    c.args(["validate", &bad, "--object-info", &object_info()]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("unknown_class") && stdout.contains("EmptyImage"), "{stdout}");
    assert!(stdout.contains("value_smaller_than_min"), "{stdout}");
    assert!(text(&out.stderr).contains("2 errors"), "{}", text(&out.stderr));

    let mut c = base();
    c.args(["validate", &bad, "--object-info", &object_info(), "--json"]);
    let out = run(c).await;
    let problems: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(problems.as_array().unwrap().len(), 2);

    let mut c = base();
    c.args(["validate", "/nonexistent.json", "--object-info", &object_info()]);
    assert_eq!(run(c).await.status.code(), Some(2));

    // Against the live (fake) server.
    let fake = common::fake().await;
    let mut c = base();
    c.args(["validate", &good, "--comfyui-url", &fake.url()]);
    assert_eq!(run(c).await.status.code(), Some(0));
    // ComfyUI down: exit 3.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut c = base();
    c.args(["validate", &good, "--comfyui-url", &dead]);
    assert_eq!(run(c).await.status.code(), Some(3));
}

#[tokio::test]
async fn run_saves_every_output_for_workflows_and_templates() {
    let fake = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let wf = write(dir.path(), "wf.json", common::basic_workflow());
    let out_dir = dir.path().join("out");
    let mut c = base();
    c.args([
        "run",
        &wf,
        "--comfyui-url",
        &fake.url(),
        "--out",
        out_dir.to_str().unwrap(),
        "--set",
        "1.width=48",
    ]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let saved: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert!(saved.len() >= 2, "{saved:?}");
    for p in &saved {
        let bytes = std::fs::read(p).unwrap();
        assert_eq!(&bytes[..4], b"\x89PNG");
    }
    let sent = fake.received_prompts();
    assert_eq!(sent.last().unwrap()["prompt"]["1"]["inputs"]["width"], 48);

    // A built-in template by name, with parameters.
    let mut c = base();
    c.args([
        "run",
        "generate_image",
        "--comfyui-url",
        &fake.url(),
        "--out",
        out_dir.to_str().unwrap(),
        "--set",
        "prompt=a red fox",
        "--set",
        &format!("ckpt_name={}", common::CKPT),
        "--set",
        "steps=2",
    ]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("seed = "), "the random seed is shown: {}", text(&out.stderr));

    // Bad --set and a failing job.
    let mut c = base();
    c.args(["run", &wf, "--comfyui-url", &fake.url(), "--set", "steps=3"]);
    assert_eq!(run(c).await.status.code(), Some(2));
    let mut c = base();
    c.args(["run", "generate_image", "--comfyui-url", &fake.url(), "--set", "steps=0"]);
    assert_eq!(run(c).await.status.code(), Some(2));
    fake.fail_node_class("SaveImage", "RuntimeError", "boom");
    let mut c = base();
    c.args(["run", &wf, "--comfyui-url", &fake.url(), "--out", out_dir.to_str().unwrap()]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("boom"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn run_with_reuse_saves_an_identical_earlier_result_without_running_again() {
    let fake = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let wf = write(dir.path(), "wf.json", common::image_workflow("cli-reuse"));
    let data = dir.path().join("data");
    let go = |out: &str, reuse: bool| {
        let mut c = base();
        c.args(["run", &wf, "--comfyui-url", &fake.url(), "--quiet"]);
        c.env("COMFY_MCP_DATA_DIR", &data).env("COMFY_DATA_DIR", &data);
        c.args(["--out", dir.path().join(out).to_str().unwrap()]);
        if reuse {
            c.arg("--reuse");
        }
        c
    };
    let first = run(go("one", true)).await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(!text(&first.stderr).contains("reused"), "{}", text(&first.stderr));
    assert!(data.join("comfy.sqlite3").exists(), "--reuse records the run in the configured store");
    let second = run(go("two", true)).await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert!(text(&second.stderr).contains("reused"), "{}", text(&second.stderr));
    let saved = text(&second.stdout);
    let path = saved.lines().next().expect("an output saved");
    assert_eq!(&std::fs::read(path).unwrap()[..4], b"\x89PNG");
    assert_eq!(fake.received_prompts().len(), 1, "the second run reused the first");
    let third = run(go("three", false)).await;
    assert_eq!(third.status.code(), Some(0), "{}", text(&third.stderr));
    assert_eq!(fake.received_prompts().len(), 2, "without --reuse it runs again");
}

fn ui_pair(case: &str) -> (String, serde_json::Value) {
    let dir = format!("{}/../../shared/fixtures/comfyui/ui_to_api", env!("CARGO_MANIFEST_DIR"));
    let prompt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{case}.prompt.json")).unwrap()).unwrap();
    (format!("{dir}/{case}.workflow.json"), prompt)
}

#[tokio::test]
async fn convert_turns_editor_files_into_api_and_back() {
    let dir = tempfile::tempdir().unwrap();
    for case in ["basic_image", "subgraph", "mute_and_bypass"] {
        let (ui, expected) = ui_pair(case);
        let mut c = base();
        c.args(["convert", &ui, "--object-info", &object_info()]);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(0), "{case}: {}", text(&out.stderr));
        let api: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(api, expected, "{case}");

        // API → UI (the default for an API file), then back to API gives the same graph.
        let api_file = write(dir.path(), &format!("{case}.api.json"), api.clone());
        let mut c = base();
        c.args(["convert", &api_file, "--object-info", &object_info()]);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let editor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(editor["nodes"].is_array() && editor["links"].is_array(), "{editor}");
        let ui_file = write(dir.path(), &format!("{case}.ui.json"), editor);
        let mut c = base();
        c.args(["convert", &ui_file, "--to", "api", "--object-info", &object_info()]);
        let out = run(c).await;
        let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(again.as_object().unwrap().len(), api.as_object().unwrap().len(), "{case}");
        // Subgraph ids ("5:3") are renumbered on the way to the editor format; the rest is kept.
        if api.as_object().unwrap().keys().all(|id| !id.contains(':')) {
            for (id, node) in api.as_object().unwrap() {
                assert_eq!(again[id]["class_type"], node["class_type"], "{case} node {id}");
                assert_eq!(again[id]["inputs"], node["inputs"], "{case} node {id}");
            }
        }
    }

    // Against the live (fake) server.
    let fake = common::fake().await;
    let (ui, expected) = ui_pair("basic_image");
    let mut c = base();
    c.args(["convert", &ui, "--comfyui-url", &fake.url()]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), expected);
}

#[tokio::test]
async fn convert_errors_go_to_stderr_with_a_usage_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let (ui, _) = ui_pair("basic_image");
    let full = std::fs::read_to_string(&ui).unwrap();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let mut c = base();
    c.args(["convert", cut.to_str().unwrap(), "--object-info", &object_info()]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("cut.json") && text(&out.stderr).contains("line"),
        "{}",
        text(&out.stderr)
    );

    let mut doc: serde_json::Value = serde_json::from_str(&full).unwrap();
    for (i, node) in doc["nodes"].as_array_mut().unwrap().iter_mut().enumerate() {
        node["type"] = json!(format!("Custom{i}"));
    }
    let unknown = write(dir.path(), "unknown.json", doc);
    let mut c = base();
    c.args(["convert", &unknown, "--object-info", &object_info()]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("Custom0") && err.contains("Custom1"), "every class is listed: {err}");

    let mut c = base();
    c.args(["convert", "/nonexistent.json", "--object-info", &object_info()]);
    assert_eq!(run(c).await.status.code(), Some(2));
}

#[tokio::test]
async fn run_and_validate_take_editor_files() {
    let fake = common::fake().await;
    let dir = tempfile::tempdir().unwrap();
    let (ui, _) = ui_pair("basic_image");
    let mut c = base();
    c.args(["validate", &ui, "--object-info", &object_info()]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ui).unwrap()).unwrap();
    let title_of = |class: &str| {
        doc["nodes"].as_array().unwrap().iter().find(|n| n["type"] == class).map(|n| n["id"].to_string())
    };
    let empty = title_of("EmptyImage").expect("basic_image has an EmptyImage");
    let out_dir = dir.path().join("out");
    let mut c = base();
    c.args([
        "run",
        &ui,
        "--comfyui-url",
        &fake.url(),
        "--out",
        out_dir.to_str().unwrap(),
        "--set",
        &format!("{empty}.width=40"),
    ]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fake.received_prompts().last().unwrap()["prompt"][&empty]["inputs"]["width"], 40);

    // Overrides are checked against the catalogue: unknown input, with a suggestion.
    let mut c = base();
    c.args(["run", &ui, "--comfyui-url", &fake.url(), "--set", &format!("{empty}.widht=40")]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("did you mean width"), "{}", text(&out.stderr));

    // An editor file with a placeholder is a template.
    let mut tpl = doc.clone();
    let node = tpl["nodes"].as_array_mut().unwrap().iter_mut().find(|n| n["type"] == "EmptyImage").unwrap();
    node["widgets_values"][0] = json!("PARAM_INT_WIDTH");
    let tpl_file = write(dir.path(), "tpl.json", tpl);
    let mut c = base();
    c.args([
        "run",
        &tpl_file,
        "--comfyui-url",
        &fake.url(),
        "--out",
        out_dir.to_str().unwrap(),
        "--set",
        "width=24",
    ]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fake.received_prompts().last().unwrap()["prompt"][&empty]["inputs"]["width"], 24);
}

/// `run` interrupted (SIGTERM, as Ctrl-C sends SIGINT) cancels its own job on the server,
/// says so, and exits 130; the progress bar names the node's class.
#[cfg(unix)]
#[tokio::test]
async fn run_cancels_its_job_when_interrupted() {
    use std::time::Duration;
    let fake = comfy_fake::FakeComfyUi::builder()
        .object_info_fixture()
        .model_files("checkpoints", &["tiny.safetensors"])
        .step_delay(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "slow.json",
        json!({
            "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny.safetensors"}},
            "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
            "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["1", 1]}},
            "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["3", 0], "negative": ["3", 0],
                  "latent_image": ["2", 0], "seed": 1, "steps": 5000, "cfg": 7.0, "sampler_name": "euler",
                  "scheduler": "normal", "denoise": 1.0}},
            "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
            "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "slow"}}
        }),
    );
    let mut c = base();
    c.args(["run", &wf, "--comfyui-url", &fake.url(), "--out", dir.path().join("out").to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let pid = child.id().unwrap();
    // Interrupt once the sampler runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let queue_url = format!("{}/queue", fake.url());
    loop {
        assert!(tokio::time::Instant::now() < deadline, "the job never started");
        let q: serde_json::Value = reqwest::get(&queue_url).await.unwrap().json().await.unwrap();
        if q["queue_running"].as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: cancelling job"), "{stderr}");
    let job_id = fake.received_prompts()[0]["prompt_id"].as_str().unwrap().to_owned();
    let calls = fake.interrupt_calls();
    assert!(calls.iter().any(|c| c.prompt_id.as_deref() == Some(job_id.as_str())), "targeted: {calls:?}");
    assert!(calls.iter().all(|c| c.prompt_id.is_some()), "never a global interrupt: {calls:?}");
}

#[tokio::test]
async fn generate_quotes_refuses_without_consent_and_runs_with_it() {
    let fake = comfy_fake::FakeComfyCloud::builder().start().await.unwrap();
    let key = fake.api_key().to_owned();
    let cloud = |c: &mut Command| {
        // The fake's storage (where outputs are downloaded from) is on loopback: opt in.
        c.args(["--backend", "comfy-cloud", "--cloud-url", &fake.url(), "--allow-private-urls"])
            .env("COMFY_CLOUD_API_KEY", &key);
    };
    let gen_args = ["generate", "--type", "image", "--model", "flux-ultra", "--prompt", "a lighthouse"];

    let mut c = base();
    c.args(gen_args).arg("--dry-run");
    cloud(&mut c);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let quote: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(quote["class_type"], "FluxProUltraImageNode");
    assert_eq!(quote["price"]["max_credits"], 12.66);
    assert!(text(&out.stderr).contains("$0.06 (12.66 credits)"), "{}", text(&out.stderr));

    let mut c = base();
    c.args(gen_args);
    cloud(&mut c);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("max_credits"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let mut c = base();
    c.args(gen_args).args([
        "--max-credits",
        "13",
        "--wait",
        "--quiet",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    cloud(&mut c);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = text(&out.stdout);
    assert!(saved.trim().ends_with(".png") && Path::new(saved.trim()).is_file(), "{saved}");
}

#[tokio::test]
async fn run_with_a_backend_name_runs_there() {
    let (a, b) = (common::fake().await, common::fake().await);
    let dir = tempfile::tempdir().unwrap();
    let wf = write(dir.path(), "wf.json", common::basic_workflow());
    let file = dir.path().join("fleet.toml");
    std::fs::write(
        &file,
        format!(
            "[[backends]]\nname = \"a\"\nkind = \"local\"\nurl = \"{}\"\n[[backends]]\nname = \"b\"\nkind = \"local\"\nurl = \"{}\"\n",
            a.url(),
            b.url()
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let mut c = base();
    c.args(["--config", file.to_str().unwrap(), "run", &wf, "--backend-name", "b", "--out"]).arg(&out_dir);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!((a.received_prompts().len(), b.received_prompts().len()), (0, 1));
    let mut c = base();
    c.args(["--config", file.to_str().unwrap(), "run", &wf, "--backend-name", "gpu9"]);
    let out = run(c).await;
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("gpu9"), "{}", text(&out.stderr));
    assert_eq!(a.received_prompts().len() + b.received_prompts().len(), 1, "nothing else was sent");
}
