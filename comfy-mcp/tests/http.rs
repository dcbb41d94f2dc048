//! Streamable HTTP: tokens (Bearer and X-API-Key), scopes, rate limits, body and host limits,
//! probes; and a full rmcp client session over HTTP.

mod common;

use std::sync::Arc;

use comfy_mcp::config::{Settings, TokenConfig};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Server {
    base: String,
    state: Arc<comfy_mcp::AppState>,
    _fake: comfy_fake::FakeComfyUi,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn serve_with(backend_url: Option<String>, tweak: impl FnOnce(&mut Settings)) -> Server {
    let fake = common::fake().await;
    let url = backend_url.unwrap_or_else(|| fake.url());
    let state = common::state_for(&url, |s| {
        s.http.tokens = vec![
            TokenConfig {
                name: Some("admin".into()),
                token: "admin-secret".into(),
                tools: None,
                admin: true,
                team: None,
            },
            TokenConfig {
                name: Some("reader".into()),
                token: "reader-secret".into(),
                tools: Some(vec!["get_*".into(), "list_workflows".into()]),
                admin: false,
                team: None,
            },
            // Sees every owner's jobs (ownership), within a one-tool scope.
            TokenConfig {
                name: Some("status".into()),
                token: "status-secret".into(),
                tools: Some(vec!["get_job_status".into()]),
                admin: true,
                team: None,
            },
        ];
        tweak(s);
    });
    let (base, shutdown) = common::serve_http(state.clone()).await;
    Server { base, state, _fake: fake, shutdown }
}

async fn serve() -> Server {
    serve_with(None, |_| {}).await
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

async fn post(base: &str, headers: &[(&str, &str)], body: &Value) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let s = serve().await;
    let r = post(&s.base, &[], &initialize()).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer"));
    let body = r.text().await.unwrap();
    assert!(!body.contains("secret"), "{body}");
    assert_eq!(post(&s.base, &[("authorization", "Bearer wrong")], &initialize()).await.status(), 401);
    assert_eq!(post(&s.base, &[("authorization", "Bearer admin-secre")], &initialize()).await.status(), 401);
    assert_eq!(post(&s.base, &[("x-api-key", "nope")], &initialize()).await.status(), 401);
    assert_eq!(post(&s.base, &[("authorization", "Bearer admin-secret")], &initialize()).await.status(), 200);
    assert_eq!(post(&s.base, &[("x-api-key", "reader-secret")], &initialize()).await.status(), 200);
}

#[tokio::test]
async fn scopes_forbid_tools_outside_them() {
    let s = serve().await;
    let call = |name: &str| json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": {}}});
    let r = post(&s.base, &[("x-api-key", "reader-secret")], &call("submit_workflow")).await;
    assert_eq!(r.status(), 403);
    let batch = json!([call("get_queue"), call("cancel_job")]);
    assert_eq!(post(&s.base, &[("x-api-key", "reader-secret")], &batch).await.status(), 403);
    // In scope: not refused by the guard (rmcp then wants a session; anything but 401/403/429).
    let r = post(&s.base, &[("x-api-key", "reader-secret")], &call("get_queue")).await;
    assert!(![401, 403, 429].contains(&r.status().as_u16()), "{}", r.status());

    // Through a real client, the reader only sees and calls its tools.
    let reader = client(&s.base, "reader-secret").await;
    let names: Vec<String> =
        reader.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.iter().all(|n| n.starts_with("get_") || n == "list_workflows"), "{names:?}");
    assert!(names.contains(&"get_queue".to_string()));
    let r = reader.call_tool(CallToolRequestParams::new("get_queue")).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{:?}", r.structured_content);
    let _ = reader.cancel().await;
}

async fn client(base: &str, token: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let t = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(token.to_owned()),
    );
    ().serve(t).await.expect("HTTP client connects")
}

#[tokio::test]
async fn a_full_session_over_http() {
    let s = serve().await;
    let admin = client(&s.base, "admin-secret").await;
    let tools = admin.list_all_tools().await.unwrap();
    assert!(tools.len() >= 18);
    let args = json!({"workflow": common::image_workflow("http"), "wait": true});
    let r = admin
        .call_tool(
            CallToolRequestParams::new("submit_workflow").with_arguments(args.as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    let out = r.structured_content.unwrap();
    assert_eq!(out["status"], "succeeded", "{out}");
    let e = admin
        .call_tool(
            CallToolRequestParams::new("get_job_status")
                .with_arguments(json!({"job_id": 5}).as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(e.is_error, Some(true));
    let _ = admin.cancel().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let s = serve_with(None, |s| s.limits.rate_limit_per_minute = 3).await;
    for _ in 0..3 {
        assert_eq!(post(&s.base, &[("x-api-key", "admin-secret")], &initialize()).await.status(), 200);
    }
    let r = post(&s.base, &[("x-api-key", "admin-secret")], &initialize()).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    // Per token: another token still passes.
    assert_eq!(post(&s.base, &[("x-api-key", "reader-secret")], &initialize()).await.status(), 200);
}

#[tokio::test]
async fn body_and_host_limits() {
    let s = serve_with(None, |s| s.limits.max_body_bytes = 4096).await;
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "validate_workflow",
        "arguments": {"workflow": {"1": {"class_type": "X", "inputs": {"t": "x".repeat(10_000)}}}}}});
    assert_eq!(post(&s.base, &[("x-api-key", "admin-secret")], &big).await.status(), 413);
    let r = post(&s.base, &[("x-api-key", "admin-secret"), ("host", "evil.example")], &initialize()).await;
    assert!(r.status().is_client_error(), "a foreign Host is refused: {}", r.status());
    let s2 = serve_with(None, |s| s.http.allowed_origins = vec!["https://app.example:443".into()]).await;
    let r =
        post(&s2.base, &[("x-api-key", "admin-secret"), ("origin", "https://evil.example")], &initialize())
            .await;
    assert!(r.status().is_client_error(), "a foreign Origin is refused: {}", r.status());
    let r =
        post(&s2.base, &[("x-api-key", "admin-secret"), ("origin", "https://app.example")], &initialize())
            .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn probes_need_no_token_and_say_little() {
    let s = serve().await;
    let r = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let r = reqwest::get(format!("{}/readyz", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "ready", "ready": true, "draining": false, "backends": [{"kind": "local", "ready": true}]}),
        "without a token: no backend name or URL"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let down = serve_with(Some(dead.clone()), |_| {}).await;
    let r = reqwest::get(format!("{}/readyz", down.base)).await.unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(!body.contains(&dead) && !body.contains("127.0.0.1"), "{body}");
    assert_eq!(reqwest::get(format!("{}/healthz", down.base)).await.unwrap().status(), 200);
    let _ = Arc::new(());
}

#[tokio::test]
async fn the_stateless_2026_07_28_protocol_works_with_scopes() {
    use rmcp::model::ProtocolVersion;
    use rmcp::{ClientLifecycleMode, ClientServiceExt};
    let s = serve().await;
    let connect = |token: &str| {
        let t = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", s.base))
                .auth_header(token.to_owned()),
        );
        ().serve_with_lifecycle(
            t,
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        )
    };
    let admin = connect("admin-secret").await.expect("modern client connects");
    let args = json!({"workflow": common::image_workflow("modern"), "wait": true});
    let r = admin
        .call_tool(
            CallToolRequestParams::new("submit_workflow").with_arguments(args.as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["status"], "succeeded");
    let reader = connect("reader-secret").await.unwrap();
    let names: Vec<String> =
        reader.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(
        !names.contains(&"submit_workflow".to_string()) && names.contains(&"get_queue".to_string()),
        "{names:?}"
    );
    let _ = admin.cancel().await;
    let _ = reader.cancel().await;
}

#[tokio::test]
async fn x_api_key_is_checked_beside_a_non_bearer_authorization() {
    let s = serve().await;
    // A proxy's Basic credentials do not hide the API key.
    let basic = ("authorization", "Basic dXNlcjpwYXNz");
    assert_eq!(post(&s.base, &[basic, ("x-api-key", "admin-secret")], &initialize()).await.status(), 200);
    assert_eq!(post(&s.base, &[basic, ("x-api-key", "wrong")], &initialize()).await.status(), 401);
    assert_eq!(post(&s.base, &[basic], &initialize()).await.status(), 401);
    // A Bearer token is what counts when one is sent.
    let bearer = ("authorization", "Bearer wrong");
    assert_eq!(post(&s.base, &[bearer, ("x-api-key", "admin-secret")], &initialize()).await.status(), 401);
}

/// A client that declares the tasks extension (tasks/get and tasks/cancel need it).
async fn task_client(
    base: &str,
    token: &str,
) -> rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig> {
    use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
    let t = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(token.to_owned()),
    );
    let config = ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::new("t", "0"),
    );
    config.serve(t).await.expect("HTTP client connects")
}

fn forbidden(e: rmcp::ServiceError) -> bool {
    matches!(&e, rmcp::ServiceError::McpError(d) if d.data.as_ref().is_some_and(|v| v["code"] == "forbidden"))
}

#[tokio::test]
#[allow(deprecated)]
async fn scopes_hold_on_resources_prompts_and_tasks() {
    use rmcp::model::{
        CancelTaskParams, GetPromptRequestParams, GetTaskParams, ReadResourceRequestParams,
        SubscribeRequestParams,
    };
    let s = serve().await;
    let admin = client(&s.base, "admin-secret").await;
    let status = client(&s.base, "status-secret").await;

    // An asset and a job made by the admin.
    let args = json!({"workflow": common::image_workflow("scoped"), "wait": true});
    let r = admin
        .call_tool(
            CallToolRequestParams::new("submit_workflow").with_arguments(args.as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    let done = r.structured_content.unwrap();
    let job_uri = format!("comfy://jobs/{}", done["job_id"].as_str().unwrap());
    let asset_uri = done["outputs"][0]["uri"].as_str().expect("an asset URI").to_owned();
    assert!(asset_uri.starts_with("comfy://assets/"), "{asset_uri}");
    let read = |uri: &str| ReadResourceRequestParams::new(uri.to_owned());
    admin.read_resource(read(&asset_uri)).await.expect("the admin reads the bytes");

    // The status token reads the job, not the asset's bytes.
    status.read_resource(read(&job_uri)).await.expect("job status is in scope");
    assert!(forbidden(status.read_resource(read(&asset_uri)).await.unwrap_err()));
    assert!(forbidden(status.read_resource(read("comfy://workflows/txt2img")).await.unwrap_err()));
    assert!(forbidden(status.read_resource(read("comfy://models/checkpoints")).await.unwrap_err()));
    assert!(forbidden(status.subscribe(SubscribeRequestParams::new(asset_uri.clone())).await.unwrap_err()));
    status.subscribe(SubscribeRequestParams::new(job_uri.clone())).await.expect("job subscription in scope");

    // Lists show only what the token may use.
    let templates = status.list_all_resource_templates().await.unwrap();
    let uris: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert_eq!(uris, ["comfy://jobs/{job_id}", "comfy://jobs/{job_id}/preview"]);
    assert_eq!(admin.list_all_resource_templates().await.unwrap().len(), 5);
    assert!(status.list_all_resources().await.unwrap().is_empty());
    assert!(!admin.list_all_resources().await.unwrap().is_empty());
    assert!(status.list_all_prompts().await.unwrap().is_empty());
    assert_eq!(admin.list_all_prompts().await.unwrap().len(), 3);
    let prompt = GetPromptRequestParams::new("find_model")
        .with_arguments(json!({"query": "v1"}).as_object().cloned().unwrap());
    assert!(forbidden(status.get_prompt(prompt.clone()).await.unwrap_err()));
    admin.get_prompt(prompt).await.expect("the admin gets the prompt");

    // A task runs a tool: outside the scope it can be neither read nor cancelled.
    let ct = CancellationToken::new();
    let waiting = ct.clone();
    let task = s.state.tasks.spawn(
        "submit_workflow",
        &comfy_core::Caller::local(),
        ct,
        Box::pin(async move {
            waiting.cancelled().await;
            rmcp::model::CallToolResult::success(vec![])
        }),
    );
    let id = task.task_id.clone();
    let (admin_t, status_t) =
        (task_client(&s.base, "admin-secret").await, task_client(&s.base, "status-secret").await);
    assert!(forbidden(status_t.get_task(GetTaskParams::new(id.clone())).await.unwrap_err()));
    assert!(forbidden(status_t.cancel_task(CancelTaskParams::new(id.clone())).await.unwrap_err()));
    admin_t.get_task(GetTaskParams::new(id.clone())).await.expect("the admin reads the task");
    admin_t.cancel_task(CancelTaskParams::new(id)).await.expect("the admin cancels the task");
    let _ = admin_t.cancel().await;
    let _ = status_t.cancel().await;
    let _ = admin.cancel().await;
    let _ = status.cancel().await;
}
