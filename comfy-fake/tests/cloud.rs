//! The fake Comfy Cloud's protocol, at the HTTP and WebSocket level: auth, status vocabularies,
//! the Cloud queue tuple order, `/api/view` → storage, error bodies, the account-wide socket,
//! and the binary's `--cloud` mode.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use comfy_fake::{FakeComfyCloud, Rejection, Vocabulary};
use futures_util::StreamExt;
use serde_json::{Value, json};

const KEY: &str = "comfyui-fake-test";

async fn cloud() -> FakeComfyCloud {
    FakeComfyCloud::builder().api_key(KEY).api_key("comfyui-other").start().await.unwrap()
}

fn prompt(color: u32) -> Value {
    json!({
        "prompt": {
            "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "c"}}
        },
        "client_id": "ignored-by-cloud",
        "prompt_id": "client-chosen"
    })
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: &'static str,
}

impl Api {
    fn new(c: &FakeComfyCloud, key: &'static str) -> Api {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Api { http, base: c.url(), key }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.base)).header("X-API-Key", self.key).send().await.unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(self.key).json(body).send().await.unwrap()
    }

    async fn submit(&self, color: u32) -> String {
        let r = self.post("/api/prompt", &prompt(color)).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["prompt_id"].as_str().unwrap().to_owned()
    }

    async fn status(&self, path: &str) -> String {
        self.get(path).await.json::<Value>().await.unwrap()["status"].as_str().unwrap_or("").to_owned()
    }
}

#[tokio::test]
async fn every_route_needs_the_key_except_the_public_ones() {
    let c = cloud().await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/api/queue", c.url())).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    let r =
        http.get(format!("{}/api/queue", c.url())).header("X-API-Key", "comfyui-wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(http.get(format!("{}/api/system_stats", c.url())).send().await.unwrap().status(), 200);
    assert_eq!(Api::new(&c, KEY).get("/api/queue").await.status(), 200);
    let ws = tokio_tungstenite::connect_async(format!(
        "{}/ws?clientId=x&token=wrong",
        c.url().replace("http", "ws")
    ))
    .await;
    assert!(ws.is_err(), "a socket without a valid token is refused");
}

#[tokio::test]
async fn ids_vocabularies_and_history() {
    let c = cloud().await;
    let api = Api::new(&c, KEY);
    c.engine().hold();
    let id = api.submit(1).await;
    assert_ne!(id, "client-chosen", "Cloud assigns prompt ids");
    assert_eq!(api.status(&format!("/api/jobs/{id}")).await, "pending");
    assert_eq!(api.status(&format!("/api/job/{id}/status")).await, "submitted");
    c.engine().release();
    assert!(c.engine().wait_until_idle(Duration::from_secs(10)).await);
    let detail: Value = api.get(&format!("/api/jobs/{id}")).await.json().await.unwrap();
    assert_eq!(detail["status"], "completed");
    assert!(detail["outputs"]["2"]["images"][0]["filename"].is_string(), "{detail}");
    assert!(detail["create_time"].as_u64().unwrap() < 10_000_000_000, "seconds, as the spec says");
    assert_eq!(api.status(&format!("/api/job/{id}/status")).await, "success");
    c.set_vocabulary(Vocabulary::Raw);
    assert_eq!(api.status(&format!("/api/jobs/{id}")).await, "success");
    c.set_omit_outputs(true);
    let detail: Value = api.get(&format!("/api/jobs/{id}")).await.json().await.unwrap();
    assert!(detail.get("outputs").is_none());
    let history: Value = api.get(&format!("/api/history_v2/{id}")).await.json().await.unwrap();
    assert!(history[&id]["outputs"]["2"].is_object());
    c.set_jobs_route(false);
    assert_eq!(api.get(&format!("/api/jobs/{id}")).await.status(), 404);
    // Another account's job: 403; an unknown one: 404.
    assert_eq!(Api::new(&c, "comfyui-other").get(&format!("/api/job/{id}/status")).await.status(), 403);
    assert_eq!(api.get("/api/job/nope/status").await.status(), 404);
}

#[tokio::test]
async fn a_new_job_is_listed_only_after_the_lag() {
    let c =
        FakeComfyCloud::builder().api_key(KEY).listing_lag(Duration::from_millis(300)).start().await.unwrap();
    let api = Api::new(&c, KEY);
    let id = api.submit(2).await;
    assert_eq!(api.get(&format!("/api/jobs/{id}")).await.status(), 404);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(api.get(&format!("/api/jobs/{id}")).await.status(), 200);
}

#[tokio::test]
async fn queue_tuples_deletes_cancel_and_interrupt() {
    let c = cloud().await;
    let api = Api::new(&c, KEY);
    c.engine().hold();
    let first = api.submit(3).await;
    let second = api.submit(4).await;
    let q: Value = api.get("/api/queue").await.json().await.unwrap();
    let item = &q["queue_pending"][0];
    assert_eq!(item[0], 1, "1-based number");
    assert_eq!(item[1], first.as_str());
    assert!(item[2]["1"].is_object(), "the workflow third");
    assert_eq!(item[3], json!(["2"]), "output node ids fourth");
    assert!(item[4]["create_time"].as_u64().unwrap() > 1_000_000_000_000, "create_time in ms fifth");
    let other: Value = Api::new(&c, "comfyui-other").get("/api/queue").await.json().await.unwrap();
    assert_eq!(other["queue_pending"], json!([]), "each account sees its own queue");
    let deleted: Value = api.post("/api/queue", &json!({"delete": [first]})).await.json().await.unwrap();
    assert_eq!(deleted, json!({"deleted": [first], "cleared": false}));
    assert_eq!(api.status(&format!("/api/jobs/{first}")).await, "cancelled");
    let cancelled: Value =
        api.post(&format!("/api/jobs/{second}/cancel"), &json!({})).await.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    c.set_cancel_route(false);
    assert_eq!(api.post(&format!("/api/jobs/{second}/cancel"), &json!({})).await.status(), 404);
    assert_eq!(api.post("/api/interrupt", &json!({})).await.status(), 200);
    assert_eq!(c.account_interrupts(), 1);
}

#[tokio::test]
async fn view_redirects_to_storage_that_refuses_credentials() {
    let c = cloud().await;
    let api = Api::new(&c, KEY);
    let id = api.submit(5).await;
    assert!(c.engine().wait_until_idle(Duration::from_secs(10)).await);
    let detail: Value = api.get(&format!("/api/jobs/{id}")).await.json().await.unwrap();
    let file = &detail["outputs"]["2"]["images"][0];
    let path = format!("/api/view?filename={}&subfolder=&type=output", file["filename"].as_str().unwrap());
    let r = api.get(&path).await;
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&c.storage_url()) && location.contains("X-Goog-Signature="), "{location}");
    assert!(location.contains("X-Goog-Expires=21600"));
    let plain = reqwest::get(&location).await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["content-type"], "image/png");
    let leaked = reqwest::Client::new().get(&location).header("X-API-Key", KEY).send().await.unwrap();
    assert_eq!(leaked.status(), 403);
    let log = c.storage_requests();
    assert_eq!(log.iter().map(|s| s.refused).collect::<Vec<_>>(), [false, true]);
    // A forged signature is refused; `channel` is served directly.
    let forged = location.replace("X-Goog-Signature=", "X-Goog-Signature=0");
    assert_eq!(reqwest::get(&forged).await.unwrap().status(), 403);
    assert_eq!(api.get(&format!("{path}&channel=rgb")).await.status(), 200);
    assert_eq!(api.get("/api/view?filename=missing.png&type=output").await.status(), 404);
}

#[tokio::test]
async fn scripted_errors_have_clouds_bodies_and_headers() {
    let c = cloud().await;
    let api = Api::new(&c, KEY);
    let cases = [
        (Rejection::InsufficientCredits, 402, None),
        (Rejection::SubscriptionInactive, 429, None),
        (Rejection::RateLimited { retry_after_secs: 9 }, 429, Some("9")),
        (Rejection::QueueFull, 429, None),
        (Rejection::Unavailable { retry_after_secs: 2 }, 503, Some("2")),
        (Rejection::Forbidden, 403, None),
    ];
    for (rejection, status, retry_after) in cases {
        c.reject("/api/prompt", rejection.clone(), 1);
        let r = api.post("/api/prompt", &prompt(6)).await;
        assert_eq!(r.status().as_u16(), status, "{rejection:?}");
        assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().unwrap()), retry_after);
        let body: Value = r.json().await.unwrap();
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    c.reject("/api/prompt", Rejection::SubscriptionInactive, 1);
    let body: Value = api.post("/api/prompt", &prompt(6)).await.json().await.unwrap();
    assert_eq!(body["message"], "User has not paid");
    // A 400 keeps ComfyUI's native shape.
    let r =
        api.post("/api/prompt", &json!({"prompt": {"1": {"class_type": "SaveImage", "inputs": {}}}})).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["type"].is_string() && body["node_errors"].is_object(), "{body}");
}

#[tokio::test]
async fn every_socket_receives_every_jobs_messages() {
    let c = cloud().await;
    let api = Api::new(&c, KEY);
    let ws_url = |id: &str| format!("{}/ws?clientId={id}&token={KEY}", c.url().replace("http", "ws"));
    let (mut a, _) = tokio_tungstenite::connect_async(ws_url("a")).await.unwrap();
    let (mut b, _) = tokio_tungstenite::connect_async(ws_url("b")).await.unwrap();
    let id = api.submit(7).await;
    for ws in [&mut a, &mut b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut saw_success = false;
        while !saw_success && Instant::now() < deadline {
            let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await else {
                break;
            };
            if let Ok(text) = msg.to_text()
                && let Ok(v) = serde_json::from_str::<Value>(text)
            {
                saw_success |= v["type"] == "execution_success" && v["data"]["prompt_id"] == id.as_str();
            }
        }
        assert!(saw_success, "each connection sees the job finish, whatever its client id");
    }
}

#[test]
fn the_binary_serves_a_cloud_with_cloud() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_comfy-fake"))
        .args(["--cloud", "--api-key", KEY, "--exit-on-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (open, keyed) = rt.block_on(async {
        let http = reqwest::Client::new();
        let open = http.get(format!("{url}/api/queue")).send().await.unwrap().status();
        let keyed =
            http.get(format!("{url}/api/queue")).header("X-API-Key", KEY).send().await.unwrap().status();
        (open, keyed)
    });
    assert_eq!((open.as_u16(), keyed.as_u16()), (401, 200));
    drop(child.stdin.take());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}
