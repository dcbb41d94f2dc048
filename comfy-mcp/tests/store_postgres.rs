//! Two comfy-mcp servers on one PostgreSQL store: a job submitted through one is followed,
//! and its outputs and assets read, through the other.
//!
//! Needs `COMFY_TEST_POSTGRES_URL` and FAILS without it; scripts/test.sh starts a throwaway
//! server and runs `cargo test -p comfy-mcp --features postgres-tests --test store_postgres`.

mod common;

use std::sync::Arc;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::store::PostgresStore;
use comfy_mcp::AppState;
use serde_json::{Value, json};

async fn fresh_schema_url() -> String {
    let base = match std::env::var("COMFY_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!("COMFY_TEST_POSTGRES_URL is not set: start a server with scripts/postgres/start.sh DIR"),
    };
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let schema = format!("t_mcp_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

async fn server(fake_url: &str, store_url: &str) -> common::Session {
    let backend = LocalComfyUi::builder(fake_url).retries(0).build().unwrap();
    let store = PostgresStore::open(store_url).await.unwrap();
    let state: Arc<AppState> =
        AppState::new(Arc::new(backend), Arc::new(store), common::settings(fake_url, |_| {})).unwrap();
    let (client, recorder) = common::connect(state.clone()).await;
    common::Session { state, client, recorder }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_submitted_through_one_server_is_read_through_another() {
    let fake = common::fake().await;
    let url = fresh_schema_url().await;
    let a = server(&fake.url(), &url).await;
    let b = server(&fake.url(), &url).await;

    let s = a.ok("submit_workflow", json!({"workflow": common::basic_workflow(), "wait": true})).await;
    assert_eq!(s["status"], "succeeded", "{s}");
    let job_id = s["job_id"].as_str().unwrap().to_owned();

    let status = b.ok("get_job_status", json!({"job_id": job_id})).await;
    assert_eq!(status["status"], "succeeded", "{status}");
    let out = b.ok("get_output", json!({"job_id": job_id})).await;
    assert_eq!(out["outputs"], s["outputs"]);
    let listed = b.ok("list_assets", json!({"job_id": job_id})).await;
    assert_eq!(listed["assets"].as_array().unwrap().len(), s["outputs"].as_array().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_submissions_through_two_servers_run_once() {
    let fake = common::fake().await;
    let url = fresh_schema_url().await;
    let a = server(&fake.url(), &url).await;
    let b = server(&fake.url(), &url).await;
    fake.hold();
    let wf = common::image_workflow("shared-dedup");
    let first = a.ok("submit_workflow", json!({"workflow": wf})).await;
    let job_id = first["job_id"].as_str().unwrap().to_owned();
    let second = b.ok("submit_workflow", json!({"workflow": wf})).await;
    assert_eq!(second["reused_from"], json!({"job_id": job_id, "kind": "in_flight"}), "{second}");
    fake.release();
    let done = b.ok("wait_for_job", json!({"job_id": job_id})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(fake.received_prompts().len(), 1, "two servers, one execution");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_is_counted_once_for_every_server() {
    use comfy_mcp::http::limits::RateLimiter;
    let url = fresh_schema_url().await;
    let (sa, sb) = (PostgresStore::open(&url).await.unwrap(), PostgresStore::open(&url).await.unwrap());
    let a = RateLimiter::new(2).shared(comfy_core::store::Store::shared(&sa));
    let b = RateLimiter::new(2).shared(comfy_core::store::Store::shared(&sb));
    assert!(a.check("alice").await.is_ok());
    assert!(b.check("alice").await.is_ok());
    assert!(a.check("alice").await.is_err(), "2 a minute across both servers");
    assert!(b.check("bob").await.is_ok(), "every token has its own budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_submitted_through_one_server_is_cancelled_and_regenerated_through_another() {
    let fake = common::fake().await;
    let url = fresh_schema_url().await;
    let a = server(&fake.url(), &url).await;
    let b = server(&fake.url(), &url).await;

    let done = a.ok("submit_workflow", json!({"workflow": common::image_workflow("x1"), "wait": true})).await;
    let asset_id = done["outputs"][0]["asset_id"].as_str().unwrap().to_owned();
    fake.hold();
    let queued = a.ok("submit_workflow", json!({"workflow": common::image_workflow("x2")})).await;
    let cancelled = b.ok("cancel_job", json!({"job_id": queued["job_id"]})).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(fake.queue_deletes(), vec![queued["job_id"].as_str().unwrap().to_owned()]);
    // A hears that B finished it (a signal through the store) and says so too.
    let mut seen_by_a = Value::Null;
    for _ in 0..200 {
        seen_by_a = a.ok("get_job_status", json!({"job_id": queued["job_id"]})).await;
        if seen_by_a["status"] == "cancelled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen_by_a["status"], "cancelled", "{seen_by_a}");
    fake.release();

    let again = b.ok("regenerate", json!({"asset_id": asset_id, "wait": true})).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_ne!(again["job_id"], done["job_id"]);
}
