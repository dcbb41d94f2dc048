//! partner_generate through an in-process MCP client: quotes, spending consent on the fake
//! Comfy Cloud (its catalogue has price badges), the partner key on a local ComfyUI.

mod common;

use std::sync::Arc;

use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::store::MemoryStore;
use comfy_fake::FakeComfyCloud;
use comfy_mcp::state::AppState;
use common::*;
use serde_json::json;

#[tokio::test]
async fn on_comfy_cloud_a_price_needs_max_credits_and_then_runs() {
    let fake = FakeComfyCloud::builder().start().await.unwrap();
    let backend = ComfyCloud::builder(&fake.url()).api_key(fake.api_key()).build().unwrap();
    let state =
        AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings(&fake.url(), |_| {}))
            .unwrap();
    let (client, _recorder) = connect(state).await;
    let base =
        json!({"type": "image", "model": "flux-ultra", "prompt": "a lighthouse", "aspect_ratio": "1:1"});

    let mut dry = base.clone();
    dry["dry_run"] = json!(true);
    let q = ok(&client, "partner_generate", dry).await;
    assert_eq!(q["quote"]["class_type"], "FluxProUltraImageNode", "{q}");
    assert_eq!(
        q["quote"]["price"],
        json!({"kind": "known", "min_usd": 0.06, "max_usd": 0.06, "min_credits": 12.66, "max_credits": 12.66})
    );
    assert_eq!(q["quote"]["consent"], false);
    assert_eq!(q["quote"]["workflow"]["1"]["inputs"]["aspect_ratio"], "1:1");
    assert!(q.get("job").is_none(), "{q}");

    let e = err(&client, "partner_generate", base.clone()).await;
    assert_eq!(e["code"], "spending_consent_required", "{e}");
    assert_eq!(e["retryable"], false, "{e}");
    let mut low = base.clone();
    low["max_credits"] = json!(5);
    let e = err(&client, "partner_generate", low).await;
    assert_eq!(e["code"], "price_above_max_credits", "{e}");

    let mut enough = base.clone();
    enough["max_credits"] = json!(20);
    enough["wait"] = json!(true);
    let r = ok(&client, "partner_generate", enough).await;
    assert_eq!(r["quote"]["consent"], true);
    assert_eq!(r["job"]["status"], "succeeded", "{r}");
    assert_eq!(r["job"]["outputs"].as_array().map(Vec::len), Some(1), "{r}");

    let e = err(&client, "partner_generate", json!({"type": "image", "model": "flux-ultar", "prompt": "x"}))
        .await;
    assert_eq!(e["code"], "unknown_partner_model", "{e}");
    let e = err(&client, "partner_generate", json!({"type": "gif", "model": "x"})).await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
}

#[tokio::test]
async fn on_a_local_comfyui_the_partner_key_is_needed_before_anything_is_submitted() {
    let fake = comfy_fake::FakeComfyUi::builder().start().await.unwrap();
    let no_key = state_for(&fake.url(), |s| s.allow_partner_spend = true);
    let (client, _r) = connect(no_key).await;
    // Without a partner key the tool is not listed (nor callable) on a local ComfyUI.
    let names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(!names.iter().any(|n| n == "partner_generate"), "{names:?}");
    let args = json!({"type": "video", "model": "T2V-01", "prompt": "waves"});
    let call = rmcp::model::CallToolRequestParams::new("partner_generate")
        .with_arguments(args.as_object().unwrap().clone());
    assert!(client.call_tool(call).await.is_err(), "an unknown tool is a protocol error");

    let backend = LocalComfyUi::builder(&fake.url()).comfy_api_key("comfyui-test-key").build().unwrap();
    let mut settings = settings(&fake.url(), |_| {});
    settings.allow_partner_spend = true;
    let state = AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings).unwrap();
    let (client, _r) = connect(state).await;
    let r = ok(
        &client,
        "partner_generate",
        json!({"type": "video", "model": "T2V-01", "prompt": "waves", "wait": true}),
    )
    .await;
    assert_eq!(r["quote"]["price"]["kind"], "unknown", "ComfyUI 0.3.75 has no price badges: {r}");
    assert_eq!(r["job"]["status"], "succeeded", "{r}");
}
