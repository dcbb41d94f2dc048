//! Ownership over HTTP: what one token creates (jobs, assets, batches, previews, tasks) is
//! invisible to another token, reported exactly like a missing id, unless the token is an
//! admin; a token-less loopback server and stdio keep the single-user behaviour.

mod common;

use std::sync::Arc;
use std::time::Duration;

use comfy_mcp::config::TokenConfig;
use common::{Recorder, err, ok};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, ClientConfig,
    GetTaskParams, Implementation, ReadResourceRequestParams,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Server {
    base: String,
    state: Arc<comfy_mcp::AppState>,
    fake: comfy_fake::FakeComfyUi,
    shutdown: CancellationToken,
    _publish: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn token(name: &str, admin: bool) -> TokenConfig {
    TokenConfig { name: Some(name.into()), token: format!("{name}-secret"), tools: None, admin, team: None }
}

/// A server over a fake ComfyUI with the tokens `alice`, `bob` and the admin `root` (or none).
async fn serve(with_tokens: bool) -> Server {
    let tokens = vec![token("alice", false), token("bob", false), token("root", true)];
    serve_with(if with_tokens { tokens } else { Vec::new() }).await
}

async fn serve_with(tokens: Vec<TokenConfig>) -> Server {
    let fake = common::fake().await;
    let publish = tempfile::tempdir().unwrap();
    let dir = publish.path().to_path_buf();
    let state = common::state_for(&fake.url(), |s| {
        s.http.tokens = tokens;
        s.publish_dir = Some(dir);
    });
    let (base, shutdown) = common::serve_http(state.clone()).await;
    Server { base, state, fake, shutdown, _publish: publish }
}

fn transport(base: &str, name: Option<&str>) -> StreamableHttpClientTransport<reqwest::Client> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"));
    if let Some(name) = name {
        config = config.auth_header(format!("{name}-secret"));
    }
    StreamableHttpClientTransport::from_config(config)
}

type Client = RunningService<RoleClient, Recorder>;

async fn client(base: &str, name: Option<&str>) -> Client {
    Recorder::default().serve(transport(base, name)).await.expect("HTTP client connects")
}

/// A client that declares the tasks extension.
#[derive(Clone, Default)]
struct TaskClient;

impl ClientHandler for TaskClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(ClientCapabilities::builder().enable_tasks().build(), Implementation::new("t", "0"))
    }
}

async fn task_client(base: &str, name: &str) -> RunningService<RoleClient, TaskClient> {
    TaskClient.serve(transport(base, Some(name))).await.expect("HTTP client connects")
}

/// Runs a small image job; returns (job id, asset id).
async fn make_image(c: &Client, prefix: &str) -> (String, String) {
    let done =
        ok(c, "submit_workflow", json!({"workflow": common::image_workflow(prefix), "wait": true})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let asset = done["outputs"][0]["asset_id"].as_str().expect("an asset").to_owned();
    (done["job_id"].as_str().unwrap().to_owned(), asset)
}

async fn asset_ids(c: &Client, args: Value) -> Vec<String> {
    let list = ok(c, "list_assets", args).await;
    list["assets"].as_array().unwrap().iter().map(|a| a["asset_id"].as_str().unwrap().to_owned()).collect()
}

/// `tool` fails for `c` on `id` exactly as on an id that does not exist (code and message).
async fn hidden(c: &Client, tool: &str, args: Value, id: &str, missing: &str, code: &str) {
    let on = |v: &str| {
        let text = args.to_string().replace("<ID>", v);
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let e = err(c, tool, on(id)).await;
    assert_eq!(e["code"], code, "{tool}: {e}");
    let gone = err(c, tool, on(missing)).await;
    assert_eq!(gone["code"], code, "{tool}: {gone}");
    let same = |v: &Value, which: &str| v["message"].as_str().unwrap().replace(which, "<ID>");
    assert_eq!(same(&e, id), same(&gone, missing), "{tool}: another's id reads like a missing one");
}

fn read(uri: &str) -> ReadResourceRequestParams {
    ReadResourceRequestParams::new(uri.to_owned())
}

/// A resource read that fails as "not found".
async fn unreadable(c: &Client, uri: &str) -> String {
    match c.read_resource(read(uri)).await {
        Err(rmcp::ServiceError::McpError(e)) => {
            assert_eq!(e.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND, "{uri}: {e:?}");
            e.message.to_string()
        }
        other => panic!("{uri}: expected not found, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_sees_and_acts_on_only_its_own_jobs_and_assets_unless_admin() {
    let s = serve(true).await;
    let (alice, bob, root) = (
        client(&s.base, Some("alice")).await,
        client(&s.base, Some("bob")).await,
        client(&s.base, Some("root")).await,
    );
    let (job, asset) = make_image(&alice, "alice").await;
    ok(&alice, "get_job_status", json!({"job_id": job})).await;
    assert_eq!(asset_ids(&alice, json!({})).await, vec![asset.as_str()]);

    // Bob: nothing listed, every tool on it not found, exactly as a missing id.
    assert!(asset_ids(&bob, json!({})).await.is_empty());
    assert!(asset_ids(&bob, json!({"job_id": job})).await.is_empty());
    let missing_job = "0b0b0b0b-0000-4000-8000-000000000000";
    for tool in ["get_job_status", "wait_for_job", "get_output", "cancel_job"] {
        hidden(&bob, tool, json!({"job_id": "<ID>"}), &job, missing_job, "job_not_found").await;
    }
    let missing_asset = "a_000000000000000000000000";
    for (tool, args) in [
        ("get_asset_metadata", json!({"asset_id": "<ID>"})),
        ("view_image", json!({"asset_id": "<ID>"})),
        ("regenerate", json!({"asset_id": "<ID>"})),
        ("use_previous_output", json!({"asset_id": "<ID>"})),
        ("publish_asset", json!({"asset_id": "<ID>"})),
    ] {
        hidden(&bob, tool, args, &asset, missing_asset, "asset_not_found").await;
    }
    for (uri, missing) in [
        (format!("comfy://jobs/{job}"), format!("comfy://jobs/{missing_job}")),
        (format!("comfy://jobs/{job}/preview"), format!("comfy://jobs/{missing_job}/preview")),
        (format!("comfy://assets/{asset}"), format!("comfy://assets/{missing_asset}")),
    ] {
        let theirs = unreadable(&bob, &uri).await;
        let gone = unreadable(&bob, &missing).await;
        assert_eq!(
            theirs.replace(&job, "<ID>").replace(&asset, "<ID>"),
            gone.replace(missing_job, "<ID>").replace(missing_asset, "<ID>")
        );
    }
    let listed = bob.list_all_resources().await.unwrap();
    assert!(listed.iter().all(|r| !r.uri.contains(&job) && !r.uri.contains(&asset)));
    assert!(s.state.comfy.jobs(&Default::default()).await.unwrap().iter().any(|j| j.id.0 == job));

    // Bob's own work is his, and invisible to Alice.
    let (bob_job, bob_asset) = make_image(&bob, "bob").await;
    assert_eq!(asset_ids(&bob, json!({})).await, vec![bob_asset.as_str()]);
    assert_eq!(asset_ids(&alice, json!({})).await, vec![asset.as_str()]);
    assert_eq!(err(&alice, "get_job_status", json!({"job_id": bob_job})).await["code"], "job_not_found");
    alice.read_resource(read(&format!("comfy://assets/{asset}"))).await.expect("alice reads her bytes");
    let alices = alice.list_all_resources().await.unwrap();
    assert!(alices.iter().any(|r| r.uri.contains(&asset)), "resources/list shows the caller's own assets");
    assert!(alices.iter().all(|r| !r.uri.contains(&bob_asset)), "and not another token's");
    ok(&alice, "publish_asset", json!({"asset_id": asset, "target_filename": "mine.png"})).await;

    // The admin sees and acts on everyone's.
    let all = asset_ids(&root, json!({})).await;
    assert!(all.contains(&asset) && all.contains(&bob_asset), "{all:?}");
    ok(&root, "get_job_status", json!({"job_id": job})).await;
    ok(&root, "get_output", json!({"job_id": bob_job})).await;
    ok(&root, "cancel_job", json!({"job_id": job})).await;
    ok(&root, "get_asset_metadata", json!({"asset_id": asset})).await;
    ok(&root, "publish_asset", json!({"asset_id": asset, "target_filename": "admin.png"})).await;
    root.read_resource(read(&format!("comfy://jobs/{job}"))).await.expect("the admin reads the job");
    root.read_resource(read(&format!("comfy://assets/{asset}"))).await.expect("the admin reads the bytes");
    let again = ok(&root, "regenerate", json!({"asset_id": asset})).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    // What the admin made is the admin's: not Alice's.
    let regenerated = again["outputs"][0]["asset_id"].as_str().unwrap().to_owned();
    assert!(!asset_ids(&alice, json!({})).await.contains(&regenerated));
    assert!(asset_ids(&root, json!({})).await.contains(&regenerated));
    for c in [alice, bob, root] {
        let _ = c.cancel().await;
    }
}

#[tokio::test]
async fn batches_and_tasks_belong_to_the_token_that_made_them() {
    let s = serve(true).await;
    let (alice, bob, root) = (
        client(&s.base, Some("alice")).await,
        client(&s.base, Some("bob")).await,
        client(&s.base, Some("root")).await,
    );
    let params =
        json!({"prompt": "a lighthouse", "ckpt_name": common::CKPT, "steps": 2, "width": 64, "height": 64});
    let batch =
        ok(&alice, "submit_batch", json!({"template": "generate_image", "params": params, "seeds": [1, 2]}))
            .await;
    let id = batch["batch_id"].as_str().unwrap().to_owned();
    let done = ok(&alice, "wait_for_batch", json!({"batch_id": id})).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let missing = "b_00000000000000000000000000000000";
    for tool in ["get_batch_status", "get_batch_output", "wait_for_batch"] {
        hidden(&bob, tool, json!({"batch_id": "<ID>"}), &id, missing, "batch_not_found").await;
    }
    assert!(asset_ids(&bob, json!({})).await.is_empty(), "the batch's outputs are Alice's");
    assert_eq!(asset_ids(&alice, json!({})).await.len(), 2);
    let as_admin = ok(&root, "get_batch_status", json!({"batch_id": id})).await;
    assert_eq!(as_admin["state"], "succeeded");
    let outputs = ok(&root, "get_batch_output", json!({"batch_id": id})).await;
    assert_eq!(outputs["items"].as_array().unwrap().len(), 2);
    // The batch's jobs are Alice's too.
    let item_job = done["items"][0]["job_id"].as_str().unwrap().to_owned();
    assert_eq!(err(&bob, "get_job_status", json!({"job_id": item_job})).await["code"], "job_not_found");
    ok(&alice, "get_job_status", json!({"job_id": item_job})).await;

    // A task Alice starts: unknown to Bob, visible to the admin.
    let (alice_t, bob_t, root_t) = (
        task_client(&s.base, "alice").await,
        task_client(&s.base, "bob").await,
        task_client(&s.base, "root").await,
    );
    s.fake.hold();
    let args = json!({"workflow": common::image_workflow("task"), "wait": true});
    let p = CallToolRequestParams::new("submit_workflow").with_arguments(args.as_object().cloned().unwrap());
    let CallToolResponse::Task(created) = alice_t.call_tool_once(p).await.unwrap() else {
        panic!("expected a task")
    };
    let task = created.task.task_id.clone();
    let unknown = |e: rmcp::ServiceError| {
        matches!(&e, rmcp::ServiceError::McpError(d) if d.code == rmcp::model::ErrorCode::INVALID_PARAMS
            && d.message.contains("unknown task"))
    };
    assert!(unknown(bob_t.get_task(GetTaskParams::new(&task)).await.unwrap_err()));
    assert!(unknown(bob_t.cancel_task(CancelTaskParams::new(&task)).await.unwrap_err()));
    alice_t.get_task(GetTaskParams::new(&task)).await.expect("alice reads her task");
    root_t.get_task(GetTaskParams::new(&task)).await.expect("the admin reads it");
    root_t.cancel_task(CancelTaskParams::new(&task)).await.expect("the admin cancels it");
    let after = serde_json::to_value(alice_t.get_task(GetTaskParams::new(&task)).await.unwrap()).unwrap();
    assert_eq!(after["status"], "cancelled", "{after}");
    s.fake.release();
    // The job the task ran is Alice's.
    let mut jobs = Vec::new();
    for _ in 0..200 {
        jobs = s.state.comfy.jobs(&Default::default()).await.unwrap();
        if jobs.iter().any(|j| j.request["workflow"]["2"]["inputs"]["filename_prefix"] == "task") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let task_job = jobs.iter().find(|j| j.request["workflow"]["2"]["inputs"]["filename_prefix"] == "task");
    assert_eq!(task_job.expect("the task's job").provenance.owner.as_deref(), Some("alice"));
    for c in [alice, bob, root] {
        let _ = c.cancel().await;
    }
    for c in [alice_t, bob_t, root_t] {
        let _ = c.cancel().await;
    }
}

#[tokio::test]
async fn without_tokens_and_on_stdio_everything_stays_visible() {
    // A token-less loopback server: one user, whatever the session.
    let open = serve(false).await;
    let (one, two) = (client(&open.base, None).await, client(&open.base, None).await);
    let (job, asset) = make_image(&one, "open").await;
    ok(&two, "get_job_status", json!({"job_id": job})).await;
    assert_eq!(asset_ids(&two, json!({})).await, vec![asset.as_str()]);
    two.read_resource(read(&format!("comfy://assets/{asset}"))).await.expect("readable");
    let recorded = open.state.comfy.jobs(&Default::default()).await.unwrap();
    assert_eq!(recorded[0].provenance.owner, None, "no owner is recorded without tokens");

    // Stdio on a server with tokens: sees what the tokens made; what it makes is unowned, so
    // only the admin token sees it.
    let s = serve(true).await;
    let (alice, bob, root) = (
        client(&s.base, Some("alice")).await,
        client(&s.base, Some("bob")).await,
        client(&s.base, Some("root")).await,
    );
    let (alice_job, alice_asset) = make_image(&alice, "alice").await;
    let (stdio, _) = common::connect(s.state.clone()).await;
    ok(&stdio, "get_job_status", json!({"job_id": alice_job})).await;
    ok(&stdio, "get_asset_metadata", json!({"asset_id": alice_asset})).await;
    let (local_job, local_asset) = make_image(&stdio, "local").await;
    let seen = asset_ids(&stdio, json!({})).await;
    assert!(seen.contains(&alice_asset) && seen.contains(&local_asset), "{seen:?}");
    assert_eq!(err(&bob, "get_job_status", json!({"job_id": local_job})).await["code"], "job_not_found");
    assert!(!asset_ids(&alice, json!({})).await.contains(&local_asset));
    ok(&root, "get_job_status", json!({"job_id": local_job})).await;
    for c in [one, two, alice, bob, root, stdio] {
        let _ = c.cancel().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_one_team_share_their_jobs_and_reuse_but_nobody_else_does() {
    let team = |name: &str| TokenConfig { team: Some("design".into()), ..token(name, false) };
    let server = serve_with(vec![team("carol"), team("dave"), token("alice", false)]).await;
    let (carol, dave, alice) = (
        client(&server.base, Some("carol")).await,
        client(&server.base, Some("dave")).await,
        client(&server.base, Some("alice")).await,
    );
    server.fake.hold();
    let wf = common::image_workflow("team");
    let first = ok(&carol, "submit_workflow", json!({"workflow": wf})).await;
    let job = first["job_id"].as_str().unwrap().to_owned();
    let by_dave = ok(&dave, "submit_workflow", json!({"workflow": wf})).await;
    assert_eq!(by_dave["reused_from"], json!({"job_id": job, "kind": "in_flight"}), "{by_dave}");
    let by_alice = ok(&alice, "submit_workflow", json!({"workflow": wf})).await;
    assert!(by_alice.get("reused_from").is_none(), "another owner never attaches: {by_alice}");
    let e = err(&alice, "get_job_status", json!({"job_id": job})).await;
    assert_eq!(e["code"], "job_not_found", "{e}");
    server.fake.release();
    let done = ok(&dave, "wait_for_job", json!({"job_id": job})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let listed = asset_ids(&dave, json!({"job_id": job})).await;
    assert_eq!(listed.len(), 1, "the team's assets are listed for each member");
    assert!(asset_ids(&alice, json!({"job_id": job})).await.is_empty());
    assert_eq!(server.fake.received_prompts().len(), 2, "carol's run (shared with dave) and alice's");
}
