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
    let fake = FakeRunComfy::builder()
        .token(TOKEN)
        .engine(|e| e.step_delay(Duration::from_millis(2)))
        .start()
        .await
        .unwrap();
    let backend = RunComfy::builder(&fake.url())
        .token(TOKEN)
        .deployment(fake.deployment_id())
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let state =
        AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings(&fake.url(), |_| {}))
            .unwrap();
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
    assert_eq!(delete.annotations.as_ref().and_then(|a| a.destructive_hint), Some(true));
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
