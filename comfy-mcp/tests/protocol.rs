//! Protocol features beyond tools: `logging/setLevel` with `notifications/message`,
//! `resources/subscribe` with `notifications/resources/updated`, and the HTTP transport's
//! socket options.
#![allow(deprecated)] // logging and resources/subscribe are legacy (2025-11-25) features.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use comfy_mcp::ComfyMcp;
use rmcp::model::{
    LoggingLevel, LoggingMessageNotificationParam, ResourceUpdatedNotificationParam, SetLevelRequestParams,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Notes {
    updated: Arc<Mutex<Vec<String>>>,
    messages: Arc<Mutex<Vec<LoggingMessageNotificationParam>>>,
}

impl ClientHandler for Notes {
    async fn on_resource_updated(
        &self,
        p: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.updated.lock().unwrap().push(p.uri);
    }
    async fn on_logging_message(
        &self,
        p: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.messages.lock().unwrap().push(p);
    }
}

async fn connect(state: Arc<comfy_mcp::AppState>) -> (RunningService<RoleClient, Notes>, Notes) {
    let server = ComfyMcp::new(state);
    let (s, c) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(s).await {
            let _ = running.waiting().await;
        }
    });
    let notes = Notes::default();
    let client = notes.clone().serve(c).await.expect("client connects");
    (client, notes)
}

/// Waits (up to 20 s) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..2000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

#[tokio::test]
async fn capabilities_advertise_logging_and_subscriptions() {
    let h = common::start().await;
    let caps = h.client.peer_info().unwrap().capabilities.clone();
    assert!(caps.logging.is_some());
    assert_eq!(caps.resources.unwrap().subscribe, Some(true));
}

#[tokio::test]
async fn a_subscribed_job_notifies_as_it_progresses() {
    let fake = comfy_fake::FakeComfyUi::builder()
        .object_info_fixture()
        .step_delay(Duration::from_millis(40))
        .previews(true)
        .model_files("checkpoints", &[common::CKPT])
        .start()
        .await
        .unwrap();
    let state = common::state_for(&fake.url(), |_| {});
    let (client, notes) = connect(state).await;
    // Unknown URIs are accepted, and never notified.
    client.subscribe(SubscribeRequestParams::new("test://watched-resource")).await.unwrap();
    client.subscribe(SubscribeRequestParams::new("comfy://jobs/no-such-job")).await.unwrap();

    let args = json!({"name": "generate_image", "params": {"prompt": "p", "ckpt_name": common::CKPT, "steps": 20}, "wait": false});
    let queued = Caller(&client).call("run_workflow", args).await;
    let job_id = queued.structured_content.unwrap()["job_id"].as_str().unwrap().to_owned();
    let job_uri = format!("comfy://jobs/{job_id}");
    let preview_uri = format!("{job_uri}/preview");
    client.subscribe(SubscribeRequestParams::new(job_uri.clone())).await.unwrap();
    client.subscribe(SubscribeRequestParams::new(preview_uri.clone())).await.unwrap();
    let seen = |uri: &str| notes.updated.lock().unwrap().iter().filter(|u| *u == uri).count();
    assert!(until(|| seen(&job_uri) >= 2).await, "job updates: {:?}", notes.updated.lock().unwrap());
    assert!(until(|| seen(&preview_uri) >= 1).await, "preview updates: {:?}", notes.updated.lock().unwrap());
    // Unsubscribed: no more updates once the job is done.
    client.unsubscribe(UnsubscribeRequestParams::new(job_uri.clone())).await.unwrap();
    let all = notes.updated.lock().unwrap().clone();
    assert!(all.iter().all(|u| u == &job_uri || u == &preview_uri), "{all:?}");
}

/// Calls tools on a client with the [`Notes`] handler (the common helpers take another one).
struct Caller<'a>(&'a RunningService<RoleClient, Notes>);

mod caller {
    use super::*;
    use rmcp::model::{CallToolRequestParams, CallToolResult};

    impl Caller<'_> {
        pub async fn call(&self, tool: &str, args: serde_json::Value) -> CallToolResult {
            let p = CallToolRequestParams::new(tool.to_owned())
                .with_arguments(args.as_object().cloned().unwrap());
            self.0.call_tool(p).await.unwrap()
        }
    }
}

#[tokio::test]
async fn server_warnings_reach_the_client_at_its_level() {
    comfy_mcp::init_logging(comfy_mcp::cli::LogFormat::Text, "off");
    // Nothing listens there: the background start-up warns that ComfyUI is not ready.
    let state = common::state_for("http://127.0.0.1:9", |_| {});
    let (quiet, quiet_notes) = connect(state.clone()).await;
    quiet.set_level(SetLevelRequestParams::new(LoggingLevel::Error)).await.expect("logging/setLevel");
    let (client, notes) = connect(state.clone()).await;
    client.set_level(SetLevelRequestParams::new(LoggingLevel::Warning)).await.expect("logging/setLevel");
    state.start_background();
    let got = until(|| {
        notes.messages.lock().unwrap().iter().any(|m| {
            m.level == LoggingLevel::Warning
                && m.logger.as_deref() == Some("comfy_mcp::state")
                && m.data["message"].as_str().is_some_and(|s| s.contains("ComfyUI not ready"))
        })
    })
    .await;
    assert!(got, "{:?}", notes.messages.lock().unwrap());
    assert!(quiet_notes.messages.lock().unwrap().iter().all(|m| m.level != LoggingLevel::Warning));
}

/// Every socket the HTTP server accepts has TCP_NODELAY: an answer written in several pieces
/// must not wait for the client's delayed ACK (~40 ms per call for keep-alive clients).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn accepted_http_sockets_have_tcp_nodelay() {
    use std::io::{Read, Write};
    use std::os::fd::BorrowedFd;
    let h = common::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(comfy_mcp::http::serve_listener(h.state.clone(), listener, shutdown.clone()));
    let local = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
        (c.local_addr().unwrap(), c)
    })
    .await
    .unwrap();
    // The server's end of that connection is a socket of this process whose peer is the client.
    let mut found = None;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(fd) = entry.unwrap().file_name().to_string_lossy().parse::<i32>() else { continue };
        // SAFETY: the descriptor is only borrowed for two getsockopt calls while `local.1`
        // keeps the connection (and so the server's socket) open; a descriptor closed meanwhile
        // makes the calls fail, which is skipped.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&fd);
        if sock.peer_addr().ok().and_then(|a| a.as_socket()) == Some(local.0) {
            found = Some(sock.tcp_nodelay().unwrap());
        }
    }
    assert_eq!(found, Some(true), "the accepted socket must have TCP_NODELAY");
    shutdown.cancel();
}
