//! HTTP behaviour of the local backend against canned answers (wiremock): faults, retries,
//! typed errors that keep ComfyUI's own message. Live protocol tests run against the fake
//! ComfyUI (`comfy-fake`) and a real one (`tests/e2e_real_comfyui.rs`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;
use crate::Workflow;
use crate::job::FolderType;

fn fixture(name: &str) -> Value {
    let p = format!("{}/../../shared/fixtures/comfyui/http/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

async fn backend(server: &MockServer) -> LocalComfyUi {
    LocalComfyUi::builder(&server.uri())
        .websocket(false)
        .retries(2)
        .retry_backoff(Duration::from_millis(5))
        .request_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn workflow() -> Workflow {
    Workflow::from_value(fixture_request("prompt_post_success")["prompt"].clone()).unwrap()
}

fn fixture_request(name: &str) -> Value {
    let p =
        format!("{}/../../shared/fixtures/comfyui/prompts/{name}.request.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[tokio::test]
async fn submit_sends_client_id_prompt_id_and_the_api_key_only_in_extra_data() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/prompt"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            ResponseTemplate::new(200)
                .set_body_json(json!({"prompt_id": body["prompt_id"], "number": 3, "node_errors": {}}))
        })
        .mount(&server)
        .await;
    let b = LocalComfyUi::builder(&server.uri())
        .websocket(false)
        .comfy_api_key("comfyui-secret")
        .build()
        .unwrap();
    let mut req = JobRequest::new(workflow());
    req.job_id = Some(JobId::from("my-id"));
    req.extra_data.insert("api_key_comfy_org".into(), json!("caller-tried-to-inject"));
    let sub = b.submit(&req).await.unwrap();
    assert_eq!(sub.job_id.as_str(), "my-id");
    assert_eq!(sub.number, Some(3.0));
    let sent: Value = serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["client_id"], json!(b.config().client_id));
    assert_eq!(sent["prompt_id"], "my-id");
    assert_eq!(sent["extra_data"]["api_key_comfy_org"], "comfyui-secret");
    assert!(!format!("{b:?}").contains("comfyui-secret"), "the key must never appear in Debug output");
}

#[tokio::test]
async fn a_rejected_prompt_keeps_comfyuis_node_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/prompt"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(fixture("prompt_error_value_not_in_list.json")),
        )
        .expect(1) // a 400 is never retried
        .mount(&server)
        .await;
    let err = backend(&server).await.submit(&JobRequest::new(workflow())).await.unwrap_err();
    assert_eq!(err.code(), "prompt_rejected");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("prompt_outputs_failed_validation"), "{text}");
    assert!(text.contains("node \"4\" (ImageScale)"), "{text}");
    assert!(text.contains("super-resolution"), "{text}");
}

#[tokio::test]
async fn reads_retry_5xx_then_fail_with_the_servers_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/queue"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string("500 Internal Server Error\n\nServer got itself in trouble"),
        )
        .expect(3) // first try + 2 retries
        .mount(&server)
        .await;
    let err = backend(&server).await.queue().await.unwrap_err();
    assert_eq!(err.code(), "backend_http_error");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("Server got itself in trouble"), "{err}");
}

#[tokio::test]
async fn writes_are_not_retried_after_reaching_the_server() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/prompt"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let err = backend(&server).await.submit(&JobRequest::new(workflow())).await.unwrap_err();
    assert_eq!(err.code(), "backend_http_error");
}

#[tokio::test]
async fn html_truncated_json_and_slow_answers_are_typed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/system_stats"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("<!doctype html><title>Login</title>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/models"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[\"checkpoints\", \"lor", "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/queue"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let b = backend(&server).await;
    let e = b.health().await.unwrap_err();
    assert_eq!(e.code(), "unexpected_response");
    assert!(e.to_string().contains("HTML page"), "{e}");
    let e = b.model_folders().await.unwrap_err();
    assert!(e.to_string().contains("truncated JSON"), "{e}");
    let started = Instant::now();
    let e = b.queue().await.unwrap_err();
    assert_eq!(e.code(), "timeout");
    assert!(started.elapsed() < Duration::from_secs(4), "bounded retries: {:?}", started.elapsed());
}

#[tokio::test]
async fn redirect_loops_and_refused_connections_are_typed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/system_stats"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "/api/system_stats"))
        .mount(&server)
        .await;
    let e = backend(&server).await.health().await.unwrap_err();
    assert!(e.to_string().contains("redirect"), "{e}");

    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let b = LocalComfyUi::builder(&format!("http://127.0.0.1:{port}"))
        .websocket(false)
        .retries(1)
        .retry_backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    let e = b.health().await.unwrap_err();
    assert_eq!(e.code(), "backend_unreachable");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn status_reads_history_then_queue_then_says_not_found() {
    let server = MockServer::start().await;
    let done = fixture("history_prompt_success.json");
    let done_id = done.as_object().unwrap().keys().next().unwrap().clone();
    Mock::given(method("GET"))
        .and(path(format!("/api/history/{done_id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(done.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/history/queued"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/history/ghost"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/queue"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "queue_running": [],
            "queue_pending": [[5, "other", {}, {}, []], [2, "queued", {}, {"client_id": "x"}, []]]
        })))
        .mount(&server)
        .await;
    let b = backend(&server).await;
    let r = b.status(&JobId(done_id)).await.unwrap();
    assert_eq!(r.status, crate::job::JobStatus::Succeeded);
    assert!(!r.outputs.is_empty());
    let r = b.status(&JobId::from("queued")).await.unwrap();
    assert_eq!(r.status, crate::job::JobStatus::Queued { position: Some(0) });
    let e = b.status(&JobId::from("ghost")).await.unwrap_err();
    assert_eq!(e.code(), "job_not_found");
}

#[tokio::test]
async fn cancel_deletes_pending_and_interrupts_running_by_id_only() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/queue"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "queue_running": [[1, "running-one", {}, {}, []]],
            "queue_pending": []
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/interrupt"))
        .and(body_partial_json(json!({"prompt_id": "running-one"})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let b = backend(&server).await;
    assert_eq!(b.cancel(&JobId::from("running-one")).await.unwrap(), CancelOutcome::InterruptRequested);
    // Every interrupt we sent named its prompt: no global interrupt, ever.
    for r in server.received_requests().await.unwrap() {
        if r.url.path() == "/api/interrupt" {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["prompt_id"], "running-one");
        }
    }
}

#[tokio::test]
async fn uploads_are_checked_and_sent_as_multipart() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/upload/image"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "cat (1).png", "subfolder": "x", "type": "input"})),
        )
        .mount(&server)
        .await;
    let b = backend(&server).await;
    let e = b.upload(Upload::file("empty.png", Vec::<u8>::new())).await.unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    assert!(e.to_string().contains("0 bytes"));
    let e = b.upload(Upload::file("../evil.png", vec![1u8])).await.unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    let mut up = Upload::file("cat.png", vec![1u8, 2, 3]);
    up.subfolder = "x".into();
    let done = b.upload(up).await.unwrap();
    assert_eq!(done.input_value(), "x/cat (1).png");
    let req = &server.received_requests().await.unwrap()[0];
    let body = String::from_utf8_lossy(&req.body);
    assert!(body.contains("name=\"image\"; filename=\"cat.png\""), "{body}");
    assert!(body.contains("name=\"overwrite\"\r\n\r\nfalse"), "{body}");
}

#[tokio::test]
async fn downloads_stream_with_their_content_type() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/view"))
        .and(query_param("filename", "a b.png"))
        .and(query_param("type", "output"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(vec![7u8; 1000], "image/png"))
        .mount(&server)
        .await;
    let b = backend(&server).await;
    let file = FileRef { filename: "a b.png".into(), subfolder: String::new(), folder: FolderType::Output };
    let d = b.download(&file).await.unwrap();
    assert_eq!(d.content_type.as_deref(), Some("image/png"));
    assert_eq!(d.bytes(10_000).await.unwrap().len(), 1000);
    let d = b.download(&file).await.unwrap();
    assert_eq!(d.bytes(10).await.unwrap_err().code(), "too_large");
}

#[tokio::test]
async fn catalog_is_cached_until_refreshed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/object_info"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("object_info_core_subset.json")))
        .expect(2)
        .mount(&server)
        .await;
    let b = backend(&server).await;
    let a = b.catalog(false).await.unwrap();
    let again = b.catalog(false).await.unwrap();
    assert!(Arc::ptr_eq(&a, &again));
    b.catalog(true).await.unwrap();
}

#[test]
fn build_outside_a_runtime_is_an_error_not_a_panic() {
    let e = LocalComfyUi::builder("http://127.0.0.1:1").build().unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    assert!(LocalComfyUi::builder("not a url").websocket(false).build().is_err());
}

#[tokio::test]
async fn credentials_reach_the_configured_host_only_never_a_redirect_target() {
    let api = MockServer::start().await;
    let storage = MockServer::start().await;
    let signed = format!("{}/bucket/out.png?X-Goog-Signature=abc", storage.uri());
    Mock::given(method("GET"))
        .and(path("/api/view"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", signed.as_str()))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/bucket/out.png"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(vec![1u8, 2, 3], "image/png"))
        .mount(&storage)
        .await;
    let build = |policy: crate::net::UrlPolicy| {
        LocalComfyUi::builder(&api.uri())
            .websocket(false)
            .auth_header("X-API-Key", "comfyui-secret")
            .url_policy(policy)
            .build()
            .unwrap()
    };
    let file = FileRef { filename: "out.png".into(), subfolder: String::new(), folder: FolderType::Output };
    // The mock storage is on loopback: the redirect hop is refused unless allowed.
    let refused = build(Default::default()).download(&file).await.err().unwrap();
    assert_eq!(refused.code(), "url_not_allowed", "{refused}");
    assert!(storage.received_requests().await.unwrap().is_empty());
    let b = build(crate::net::UrlPolicy::default().with_allowed_host(storage.address().to_string()));
    let data = b.download(&file).await.unwrap().bytes(100).await.unwrap();
    assert_eq!(&data[..], &[1, 2, 3]);
    let to_api = &api.received_requests().await.unwrap()[1];
    assert_eq!(to_api.headers.get("x-api-key").map(|v| v.to_str().unwrap()), Some("comfyui-secret"));
    let to_storage = &storage.received_requests().await.unwrap()[0];
    assert!(
        to_storage.headers.get("x-api-key").is_none(),
        "the key leaked to storage: {:?}",
        to_storage.headers
    );
    assert!(to_storage.headers.get("authorization").is_none());
    assert_eq!(to_storage.url.query(), Some("X-Goog-Signature=abc"), "the signed query is kept verbatim");
}

/// A token that is replaced once the server rejects it.
#[derive(Debug, Default)]
struct Rotating {
    refreshed: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl crate::backend::CredentialProvider for Rotating {
    async fn credential(&self) -> Result<crate::backend::Credential> {
        let n = self.refreshed.load(std::sync::atomic::Ordering::SeqCst);
        Ok(crate::backend::Credential::bearer(if n == 0 { "old" } else { "new" }))
    }

    async fn refresh(&self, rejected: &crate::backend::Credential) -> Result<bool> {
        assert_eq!(rejected.secret().expose(), "old");
        self.refreshed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(true)
    }
}

#[tokio::test]
async fn a_rejected_credential_is_refreshed_once_then_the_request_is_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/system_stats"))
        .and(wiremock::matchers::header("authorization", "Bearer new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("system_stats.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/system_stats"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "token expired"})))
        .mount(&server)
        .await;
    let provider = Arc::new(Rotating::default());
    let b =
        LocalComfyUi::builder(&server.uri()).websocket(false).credentials(provider.clone()).build().unwrap();
    assert!(b.health().await.is_ok());
    assert_eq!(provider.refreshed.load(std::sync::atomic::Ordering::SeqCst), 1);

    // A provider that cannot refresh: the 401 is a typed, non-retryable error.
    let fixed = LocalComfyUi::builder(&server.uri())
        .websocket(false)
        .auth_header("Authorization", "Bearer bad")
        .build()
        .unwrap();
    let e = fixed.health().await.unwrap_err();
    assert_eq!(e.code(), "unauthorized");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("token expired"), "{e}");
}

#[tokio::test]
async fn reads_wait_for_retry_after_on_429_and_503() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/queue"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/queue"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"queue_running": [], "queue_pending": []})),
        )
        .mount(&server)
        .await;
    let b = backend(&server).await;
    let started = Instant::now();
    assert!(b.queue().await.is_ok());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
    // A submit is never retried: the 429 comes back with its Retry-After.
    Mock::given(method("POST"))
        .and(path("/api/prompt"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(json!({"message": "Rate limit exceeded. Please try again later."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = b.submit(&JobRequest::new(workflow())).await.unwrap_err();
    assert_eq!(e.code(), "rate_limited");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
}
