//! get_server_info and get_billing_status against the fake ComfyUI and the fake Comfy Cloud.

mod common;

use std::sync::Arc;

use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::store::MemoryStore;
use comfy_fake::FakeComfyCloud;
use comfy_mcp::AppState;
use common::*;
use serde_json::json;

const KEY: &str = "comfyui-mcp-account-test";

#[tokio::test]
async fn on_a_local_comfyui_server_info_answers_and_billing_is_not_listed() {
    let fake = fake().await;
    let backend = LocalComfyUi::builder(&fake.url())
        .comfy_api_key("comfyui-partner-secret")
        .retries(0)
        .build()
        .unwrap();
    let state =
        AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings(&fake.url(), |_| {}))
            .unwrap();
    let (client, _recorder) = connect(state).await;
    let s = ok(&client, "get_server_info", json!({})).await;
    assert_eq!(s["kind"], "local", "{s}");
    assert_eq!(s["reachable"], true);
    assert_eq!(s["auth"], "not_configured");
    assert_eq!(s["partner_nodes_key"], true);
    assert_eq!(s["capabilities"]["cancel_running"], "job");
    assert!(s["client_version"].is_string() && s["server_version"].is_string(), "{s}");
    assert!(!s.to_string().contains("comfyui-partner-secret"));
    // A local ComfyUI has no account: the billing tool is not listed, and not callable.
    let names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(!names.iter().any(|n| n == "get_billing_status"), "{names:?}");
    assert!(names.iter().any(|n| n == "partner_generate"), "the partner key is configured: {names:?}");
    let unknown =
        client.call_tool(rmcp::model::CallToolRequestParams::new("get_billing_status")).await.unwrap_err();
    assert!(unknown.to_string().contains("get_billing_status"), "{unknown}");
    let e = err(&client, "get_server_info", json!({"verbose": true})).await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
}

#[tokio::test]
async fn on_comfy_cloud_the_account_and_balance_are_reported_without_the_key() {
    let fake = FakeComfyCloud::builder().api_key(KEY).start().await.unwrap();
    let backend = ComfyCloud::builder(&fake.url()).api_key(KEY).build().unwrap();
    let state =
        AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings(&fake.url(), |_| {}))
            .unwrap();
    let (client, _recorder) = connect(state).await;
    let s = ok(&client, "get_server_info", json!({})).await;
    assert_eq!(s["kind"], "comfy_cloud", "{s}");
    assert_eq!(s["auth"], "accepted");
    assert_eq!(s["account_status"], "active");
    assert!(!s.to_string().contains(KEY), "{s}");
    let names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.iter().any(|n| n == "get_billing_status") && names.iter().any(|n| n == "partner_generate"));
    let b = ok(&client, "get_billing_status", json!({})).await;
    assert_eq!(b["balance_usd"], 12.5, "{b}");
    assert_eq!(b["balance_credits"], 2637.5);
    assert_eq!(b["subscription"]["is_active"], true);
}
