//! The URL guard through the tools on Comfy Cloud: outputs are downloaded from the storage URL
//! the Cloud redirects to; when that storage is on loopback (the fake's) the download is refused
//! with `url_not_allowed` unless the operator opted in (`allow_private_urls`).

mod common;

use std::sync::Arc;

use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::store::MemoryStore;
use comfy_fake::FakeComfyCloud;
use comfy_mcp::AppState;
use common::*;
use rmcp::model::ReadResourceRequestParams;
use serde_json::json;

const KEY: &str = "comfyui-mcp-guard-test";

async fn cloud_session(allow_private: bool) -> (FakeComfyCloud, Session) {
    let fake = FakeComfyCloud::builder().api_key(KEY).start().await.unwrap();
    let settings = settings(&fake.url(), |s| s.allow_private_urls = allow_private);
    let backend = ComfyCloud::builder(&fake.url())
        .api_key(KEY)
        .url_policy(settings.backend_config().url_policy())
        .build()
        .unwrap();
    let state = AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings).unwrap();
    let (client, recorder) = connect(state.clone()).await;
    (fake, Session { state, client, recorder })
}

#[tokio::test]
async fn cloud_storage_on_loopback_is_refused_by_default_and_read_with_the_opt_in() {
    let (fake, s) = cloud_session(false).await;
    let r = s.ok("submit_workflow", json!({"workflow": image_workflow("guard_mcp"), "wait": true})).await;
    let out = s.ok("get_output", json!({"job_id": r["job_id"]})).await;
    let asset = out["outputs"][0]["asset_id"].clone();
    let e = s.err("view_image", json!({"asset_id": asset})).await;
    assert_eq!((e["code"].as_str(), e["retryable"].as_bool()), (Some("url_not_allowed"), Some(false)), "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains(&fake.storage_url()) && message.contains("allow_private_urls"), "{message}");
    assert!(!message.contains("Signature") && !message.contains(KEY), "no secret in it: {message}");
    // The asset resource answers a JSON-RPC error carrying the same code.
    let uri = out["outputs"][0]["uri"].as_str().unwrap().to_owned();
    let e = s.client.read_resource(ReadResourceRequestParams::new(uri)).await.unwrap_err();
    assert!(format!("{e:?}").contains("url_not_allowed"), "{e:?}");
    assert!(fake.storage_requests().is_empty(), "{:?}", fake.storage_requests());

    let (fake, s) = cloud_session(true).await;
    let r =
        s.ok("submit_workflow", json!({"workflow": image_workflow("guard_mcp_open"), "wait": true})).await;
    let out = s.ok("get_output", json!({"job_id": r["job_id"]})).await;
    let v = s.ok("view_image", json!({"asset_id": out["outputs"][0]["asset_id"]})).await;
    assert!(v["original_width"].as_u64().is_some(), "{v}");
    assert!(!fake.storage_requests().is_empty());
}

#[test]
fn the_opt_in_is_read_from_the_flag_and_the_file() {
    use comfy_mcp::cli::ServerArgs;
    use comfy_mcp::config::{FileConfig, Settings};
    let off = Settings::merge(&ServerArgs::default(), FileConfig::default()).unwrap();
    assert!(!off.allow_private_urls && !off.backend_config().url_policy().allow_private);
    let flag = ServerArgs { allow_private_urls: true, ..Default::default() };
    assert!(Settings::merge(&flag, FileConfig::default()).unwrap().backend_config().allow_private_urls);
    let file: FileConfig =
        toml::from_str("allow_private_urls = true\nallowed_url_hosts = [\"minio.internal:9000\"]\n").unwrap();
    let merged = Settings::merge(&ServerArgs::default(), file).unwrap();
    let policy = merged.backend_config().url_policy();
    assert!(policy.allow_private);
    assert_eq!(policy.allowed_hosts, ["minio.internal:9000"]);
    assert!(merged.to_toml().contains("allow_private_urls = true"), "{}", merged.to_toml());
}
