//! submit_feedback and report_session_summary: consent, scrubbing, and the POST to a feedback
//! URL (no prompt, no credential of the backend).

mod common;

use std::sync::Arc;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::store::MemoryStore;
use comfy_mcp::AppState;
use common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn feedback_needs_consent_and_reaches_the_feedback_url_without_credentials() {
    let fake = fake().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/fb"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let backend = LocalComfyUi::builder(&fake.url())
        .comfy_api_key("comfyui-partner-secret")
        .retries(0)
        .build()
        .unwrap();
    let url = format!("{}/fb", server.uri());
    let settings = settings(&fake.url(), |s| s.feedback_url = Some(url));
    let state = AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings).unwrap();
    let (client, _recorder) = connect(state).await;

    let e = err(&client, "submit_feedback", json!({"message": "nice"})).await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("consent")), "{e}");
    let e = err(&client, "submit_feedback", json!({"consent": true, "message": "see /home/me/a.png"})).await;
    assert!(e["message"].as_str().is_some_and(|m| m.contains("message")), "{e}");
    let e = err(&client, "report_session_summary", json!({"consent": false})).await;
    assert_eq!(e["code"], "invalid_argument", "{e}");

    let r =
        ok(&client, "submit_feedback", json!({"consent": true, "rating": 4, "message": "quick and clear"}))
            .await;
    assert_eq!(r["posted"], true, "{r}");
    assert_eq!(r["stored"], "memory");
    let r = ok(&client, "report_session_summary", json!({"consent": true})).await;
    assert_eq!(r["posted"], true, "{r}");
    assert!(r["record"]["summary"]["error_codes"].is_object(), "{r}");

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("comfyui-partner-secret") && !body.contains("prompt"), "{body}");
        assert!(r.headers.get("x-api-key").is_none() && r.headers.get("authorization").is_none());
    }
}

#[tokio::test]
async fn an_unreachable_feedback_url_keeps_the_record() {
    let fake = fake().await;
    let state = state_for(&fake.url(), |s| s.feedback_url = Some("http://127.0.0.1:9/fb".into()));
    let (client, _recorder) = connect(state).await;
    let r = ok(&client, "submit_feedback", json!({"consent": true, "message": "works"})).await;
    assert_eq!(r["posted"], false, "{r}");
    assert!(r["reason"].is_string(), "{r}");
}
