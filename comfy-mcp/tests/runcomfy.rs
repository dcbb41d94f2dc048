//! The RunComfy tools (listed only on the RunComfy backend) and the generic tools on RunComfy,
//! against the fake RunComfy.

mod common;

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::runcomfy::RunComfy;
use comfy_core::store::MemoryStore;
use comfy_fake::FakeRunComfy;
use comfy_mcp::AppState;
use common::*;
use serde_json::json;

const TOKEN: &str = "rc-mcp-test-token";

async fn session() -> (FakeRunComfy, Session) {
    session_with(|_| {}).await
}

async fn session_with(tweak: impl FnOnce(&mut comfy_mcp::config::Settings)) -> (FakeRunComfy, Session) {
    let fake = FakeRunComfy::builder()
        .token(TOKEN)
        .engine(|e| e.step_delay(Duration::from_millis(2)))
        .start()
        .await
        .unwrap();
    // The fake's CDN listens on loopback, which is refused unless the operator allows private
    // targets: these sessions opt in (a tweak may turn it off again).
    let settings = settings(&fake.url(), |s| {
        s.allow_private_urls = true;
        tweak(s)
    });
    let backend = RunComfy::builder(&fake.url())
        .token(TOKEN)
        .deployment(fake.deployment_id())
        .poll_interval(Duration::from_millis(50))
        .url_policy(settings.backend_config().url_policy())
        .build()
        .unwrap();
    let state = AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings).unwrap();
    let (client, recorder) = connect(state.clone()).await;
    (fake, Session { state, client, recorder })
}

#[tokio::test]
async fn runcomfy_tools_are_listed_only_on_runcomfy() {
    let (_fake, s) = session().await;
    let names: Vec<String> =
        s.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    for t in [
        "list_deployments",
        "get_deployment",
        "create_deployment",
        "update_deployment",
        "delete_deployment",
        "submit_request",
        "get_request_status",
        "get_request_result",
        "cancel_request",
        "instance_proxy",
    ] {
        assert!(names.contains(&t.to_owned()), "{t} missing");
    }
    let tools = s.client.list_all_tools().await.unwrap();
    let delete = tools.iter().find(|t| t.name == "delete_deployment").unwrap();
    // Destructive is MCP's default for a tool that is not read-only: the hint is left out.
    let a = delete.annotations.as_ref().unwrap();
    assert!(a.read_only_hint != Some(true) && a.destructive_hint != Some(false), "{a:?}");
    let h = start().await;
    let local: Vec<String> =
        h.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(!local.iter().any(|n| n == "list_deployments" || n == "submit_request"), "{local:?}");
}

#[tokio::test]
async fn deployments_through_the_tools_with_a_confirmed_delete() {
    let (fake, s) = session().await;
    let l = s.ok("list_deployments", json!({})).await;
    assert_eq!(l["deployments"][0]["id"], fake.deployment_id(), "{l}");
    let g = s.ok("get_deployment", json!({"include_payload": true})).await;
    assert!(g["payload_summary"]["nodes"].as_array().unwrap().iter().any(|n| n["title"] == "Canvas"), "{g}");
    let e = s
        .err(
            "create_deployment",
            json!({"name": "x", "workflow_id": "w", "workflow_version": "v1", "hardware": "H100"}),
        )
        .await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    let c =
        s.ok("create_deployment", json!({"name": "x", "workflow_id": "w", "workflow_version": "v1"})).await;
    let id = c["deployment"]["id"].as_str().unwrap().to_owned();
    let u = s.ok("update_deployment", json!({"deployment_id": id, "keep_warm_duration_in_seconds": 5})).await;
    assert_eq!(
        (u["deployment"]["name"].clone(), u["deployment"]["keep_warm_duration_in_seconds"].clone()),
        (json!("x"), json!(5))
    );
    let e = s.err("delete_deployment", json!({"deployment_id": id, "confirm": "yes"})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("invalid_argument"), Some("confirm")), "{e}");
    assert_eq!(
        s.ok("list_deployments", json!({"ids": [id]})).await["deployments"].as_array().unwrap().len(),
        1
    );
    let d = s.ok("delete_deployment", json!({"deployment_id": id, "confirm": id})).await;
    assert_eq!(d["response"]["deleted"], true, "{d}");
    assert!(
        s.ok("list_deployments", json!({"ids": [id]})).await["deployments"].as_array().unwrap().is_empty()
    );
}

#[tokio::test]
async fn requests_through_the_tools() {
    let (fake, s) = session().await;
    let e = s.err("submit_request", json!({"overrides": {"Canvas.widht": 20}})).await;
    assert_eq!(e["code"], "invalid_override", "{e}");
    assert!(fake.inference_bodies().is_empty(), "nothing billed");
    let r = s.ok("submit_request", json!({"overrides": {"Canvas.width": 20}, "wait": true})).await;
    let rid = r["request_id"].as_str().unwrap().to_owned();
    assert_eq!(r["status"]["status"], "completed", "{r}");
    assert_eq!(r["result"]["status"], "succeeded");
    let url = r["result"]["output_urls"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&fake.cdn_url()) && r["result"]["output_urls"][0]["expires_at"].is_number(),
        "{r}"
    );
    let st = s.ok("get_request_status", json!({"request_id": rid})).await;
    let instance = st["instance_id"].as_str().unwrap().to_owned();
    let res = s.ok("get_request_result", json!({"request_id": rid})).await;
    assert_eq!(res["output_urls"], r["result"]["output_urls"]);
    let c = s.ok("cancel_request", json!({"request_id": rid})).await;
    assert_eq!(c["outcome"], "not_cancellable", "{c}");
    let p = s.ok("instance_proxy", json!({"instance_id": instance, "path": "object_info"})).await;
    assert!(p["response"]["KSampler"].is_object());
    let e = s.err("instance_proxy", json!({"instance_id": instance, "path": "api/free"})).await;
    assert_eq!(e["field"], "path", "{e}");
    let p = s.ok("instance_proxy", json!({"instance_id": instance, "path": "api/free", "body": {"unload_models": true}, "allow_write": true})).await;
    assert!(p["response"].is_null(), "{p}");
}

#[tokio::test]
async fn generic_tools_run_on_the_deployment_and_queue_shows_in_flight_requests() {
    let (fake, s) = session().await;
    fake.engine().hold();
    let a = s.ok("submit_workflow", json!({"workflow": image_workflow("rc_mcp_a"), "wait": false})).await;
    let b = s.ok("submit_workflow", json!({"workflow": image_workflow("rc_mcp_b"), "wait": false})).await;
    let q = s.ok("get_queue", json!({})).await;
    let pending: Vec<&str> =
        q["pending"].as_array().unwrap().iter().map(|e| e["job_id"].as_str().unwrap()).collect();
    assert_eq!(pending, [a["job_id"].as_str().unwrap(), b["job_id"].as_str().unwrap()], "{q}");
    assert_eq!(q["pending"][1]["number"], 2.0, "RunComfy's queue position: {q}");
    fake.engine().release();
    s.ok("wait_for_job", json!({"job_id": b["job_id"]})).await;
    let out = s.ok("get_output", json!({"job_id": b["job_id"]})).await;
    let o = &out["outputs"][0];
    assert!(o["url"].as_str().unwrap().starts_with(&fake.cdn_url()), "the output's hosted URL: {out}");
    assert!(
        o["expires_at"].as_i64().unwrap() > o["created_at"].as_i64().unwrap() + 6 * 24 * 3600 * 1000,
        "{out}"
    );
    let info = s.ok("get_server_info", json!({})).await;
    assert_eq!(
        (info["kind"].as_str(), info["auth"].as_str()),
        (Some("runcomfy"), Some("accepted")),
        "{info}"
    );
    assert!(!info.to_string().contains(TOKEN));
    assert_eq!(s.ok("get_billing_status", json!({})).await["balance_usd"], 12.5);
    let e = s.err("list_saved_workflows", json!({})).await;
    assert_eq!(e["code"], "not_supported", "{e}");
    let e = s.err("list_models", json!({"folder": "checkpoints"})).await;
    assert_eq!(e["code"], "not_supported", "{e}");
    assert!(e["message"].as_str().unwrap().contains("RunComfy"), "{e}");
}

#[tokio::test]
async fn a_submitted_request_is_a_job_for_every_job_tool_and_publishes_without_the_token() {
    let web = tempfile::tempdir().unwrap();
    let dir = web.path().to_path_buf();
    let (fake, s) = session_with(|st| st.publish_dir = Some(dir)).await;
    let r = s
        .ok(
            "submit_request",
            json!({"overrides": {"Canvas.width": 20, "Canvas.batch_size": 2}, "wait": true}),
        )
        .await;
    let rid = r["request_id"].as_str().unwrap().to_owned();
    assert_eq!(
        (r["job_id"].as_str(), r["result"]["status"].as_str()),
        (Some(rid.as_str()), Some("succeeded")),
        "{r}"
    );
    // The job tools know it.
    let st = s.ok("get_job_status", json!({"job_id": rid})).await;
    assert_eq!(st["status"], "succeeded", "{st}");
    let out = s.ok("get_output", json!({"job_id": rid})).await;
    let outputs = out["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2, "{out}");
    let mut urls: Vec<&str> = outputs.iter().map(|o| o["url"].as_str().unwrap()).collect();
    let mut result_urls: Vec<&str> =
        r["result"]["output_urls"].as_array().unwrap().iter().map(|o| o["url"].as_str().unwrap()).collect();
    urls.sort();
    result_urls.sort();
    assert_eq!(urls, result_urls, "the same URLs as the request's result");
    let assets = s.ok("list_assets", json!({"job_id": rid})).await;
    assert_eq!(assets["assets"].as_array().map(Vec::len), Some(2), "{assets}");
    let asset = outputs[0]["asset_id"].as_str().unwrap().to_owned();
    let v = s.ok("view_image", json!({"asset_id": asset})).await;
    assert_eq!((v["original_width"].as_u64(), v["original_height"].as_u64()), (Some(20), Some(8)), "{v}");
    // The request tools answer from the same record.
    let res = s.ok("get_request_result", json!({"request_id": rid})).await;
    assert_eq!(res["output_urls"], r["result"]["output_urls"], "{res}");
    assert_eq!(s.ok("cancel_job", json!({"job_id": rid})).await["outcome"], "already_finished");
    // Its output chains into the next request, and it regenerates with a changed input.
    let prev = s.ok("use_previous_output", json!({"asset_id": asset})).await;
    assert_eq!(prev["source_job_id"], rid.as_str(), "{prev}");
    let g = s.ok("regenerate", json!({"asset_id": asset, "overrides": {"1.width": 12}})).await;
    assert_eq!(g["status"], "succeeded", "{g}");
    let again = s.ok("view_image", json!({"asset_id": g["outputs"][0]["asset_id"]})).await;
    assert_eq!(again["original_width"], 12, "{again}");
    // Published to the web directory from its hosted URL, the token never sent to the CDN.
    let p = s.ok("publish_asset", json!({"asset_id": asset, "target_filename": "rc.png"})).await;
    assert_eq!(p["relative_path"], "rc.png", "{p}");
    let written = std::fs::read(web.path().join("rc.png")).unwrap();
    assert_eq!(&written[..4], b"\x89PNG");
    let named = s.ok("publish_asset", json!({"asset_id": outputs[1]["asset_id"]})).await;
    let name = named["relative_path"].as_str().unwrap();
    assert!(name.ends_with(".png") && web.path().join(name).is_file(), "named after its URL: {named}");
    let cdn = fake.cdn_requests();
    assert!(cdn.iter().any(|c| c.path.starts_with("/output/")), "{cdn:?}");
    for c in &cdn {
        assert!(
            !c.refused && !c.headers.iter().any(|h| h == "authorization"),
            "the token reached the CDN: {c:?}"
        );
    }
}

#[tokio::test]
async fn a_request_on_another_deployment_is_followed_and_regenerated_there() {
    let (fake, s) = session().await;
    let c = s
        .ok("create_deployment", json!({"name": "second", "workflow_id": "w", "workflow_version": "v1"}))
        .await;
    let other = c["deployment"]["id"].as_str().unwrap().to_owned();
    let r = s.ok("submit_request", json!({"deployment_id": other, "overrides": {"Canvas.width": 14}})).await;
    let rid = r["job_id"].as_str().unwrap().to_owned();
    assert_eq!(r["deployment_id"], other.as_str(), "{r}");
    let w = s.ok("wait_for_job", json!({"job_id": rid})).await;
    assert_eq!(w["status"], "succeeded", "{w}");
    // Found on its own deployment without being told which.
    let st = s.ok("get_request_status", json!({"request_id": rid})).await;
    assert_eq!(st["finished"], true, "{st}");
    let asset = s.ok("get_output", json!({"job_id": rid})).await["outputs"][0]["asset_id"].clone();
    let before = fake.calls().iter().filter(|c| c.contains(&other) && c.ends_with("/inference")).count();
    let g = s.ok("regenerate", json!({"asset_id": asset, "overrides": {"1.width": 10}})).await;
    assert_eq!(g["status"], "succeeded", "{g}");
    let after = fake.calls().iter().filter(|c| c.contains(&other) && c.ends_with("/inference")).count();
    assert_eq!(after, before + 1, "regenerated on the deployment the output came from");
    let v = s.ok("view_image", json!({"asset_id": g["outputs"][0]["asset_id"]})).await;
    assert_eq!(v["original_width"], 10, "{v}");
}

#[tokio::test]
async fn without_the_opt_in_the_deployments_object_info_url_on_loopback_is_refused() {
    let (fake, s) = session_with(|st| st.allow_private_urls = false).await;
    let e = s.err("submit_workflow", json!({"workflow": image_workflow("rc_guard"), "wait": true})).await;
    assert_eq!((e["code"].as_str(), e["retryable"].as_bool()), (Some("url_not_allowed"), Some(false)), "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("loopback") && message.contains("allow_private_urls"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
    assert!(fake.cdn_requests().is_empty(), "nothing was fetched: {:?}", fake.cdn_requests());
}
