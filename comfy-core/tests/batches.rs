//! Batches end to end against the fake ComfyUI: the running-jobs cap, item validation, outputs
//! in item order, and a restart that continues a batch from the SQLite store.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::Backend;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::store::{BatchQuery, JobQuery, SqliteStore, Store};
use comfy_core::{BatchItemState, BatchItems, BatchRequest, BatchState, ClientOptions, Comfy, Source};
use comfy_fake::FakeComfyUi;
use serde_json::{Map, Value, json};

const LONG: Duration = Duration::from_secs(30);

async fn fake() -> FakeComfyUi {
    FakeComfyUi::builder()
        .model_files("checkpoints", &["m.safetensors"])
        .step_delay(Duration::from_millis(5))
        .start()
        .await
        .unwrap()
}

fn client(fake: &FakeComfyUi, store: Arc<dyn Store>, cap: usize) -> Comfy {
    let backend: Arc<dyn Backend> = Arc::new(
        LocalComfyUi::builder(&fake.url())
            .max_reconnect_delay(Duration::from_millis(200))
            .request_timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let options = ClientOptions {
        poll_interval: Duration::from_millis(50),
        lost_after: Duration::from_millis(500),
        max_running_jobs: cap,
        ..Default::default()
    };
    Comfy::builder(backend).store(store).options(options).build().unwrap()
}

fn stepped(steps: u32) -> Value {
    json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
              "latent_image": ["3", 0], "seed": 1, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "batch"}}
    })
}

/// How many prompts the fake has run or queued.
async fn history(fake: &FakeComfyUi) -> usize {
    let h: Value = reqwest::get(format!("{}/history", fake.url())).await.unwrap().json().await.unwrap();
    let q: Value = reqwest::get(format!("{}/queue", fake.url())).await.unwrap().json().await.unwrap();
    let queued = |k: &str| q[k].as_array().map_or(0, Vec::len);
    h.as_object().map_or(0, |m| m.len()) + queued("queue_running") + queued("queue_pending")
}

fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn seed_of(comfy: &Comfy, job_id: &str) -> Value {
    let job = comfy.job(&comfy_core::job::JobId(job_id.into())).await.unwrap();
    job.record().request["workflow"]["4"]["inputs"]["seed"].clone()
}

#[tokio::test]
async fn batch_of_seeds_waits_for_the_cap_and_finishes_in_item_order() {
    let fake = fake().await;
    let comfy = client(&fake, Arc::new(comfy_core::store::MemoryStore::new()), 1);
    let request =
        BatchRequest { source: Source::Json(stepped(40)), items: BatchItems::Seeds(vec![11, 22, 33]) };
    let submitted = comfy.submit_batch(request).await.unwrap();
    assert_eq!(submitted.total, 3);
    assert_eq!(submitted.state, BatchState::Running);
    assert!(submitted.counts.waiting >= 1, "the cap of 1 keeps items waiting: {submitted:?}");
    assert!(comfy.running_jobs() <= 1);
    assert_eq!(submitted.items[2].state, BatchItemState::Waiting);

    let mut updates = 0;
    let done = comfy.wait_batch_with(&submitted.batch_id, LONG, |_| updates += 1).await.unwrap();
    assert_eq!(done.state, BatchState::Succeeded, "{}", done.describe());
    assert_eq!(done.counts.succeeded, 3);
    assert_eq!(done.fraction, 1.0);
    assert!(updates >= 2, "progress was reported ({updates} updates)");
    assert_eq!(done.describe(), "3/3 done (3 succeeded)");

    let outputs = comfy.batch_outputs(&submitted.batch_id).await.unwrap();
    assert_eq!(outputs.items.len(), 3);
    for (i, (item, seed)) in outputs.items.iter().zip([11, 22, 33]).enumerate() {
        assert_eq!(item.index, i);
        assert!(!item.outputs.is_empty(), "item {i} has outputs");
        let job_id = item.job_id.clone().unwrap();
        assert!(item.outputs.iter().all(|a| a.job_id == job_id));
        assert_eq!(seed_of(&comfy, &job_id).await, json!(seed), "item {i} ran with its seed");
    }
}

#[tokio::test]
async fn a_bad_item_fails_the_whole_batch_and_submits_nothing() {
    let fake = fake().await;
    let store = Arc::new(comfy_core::store::MemoryStore::new());
    let comfy = client(&fake, store.clone(), 8);
    let request = BatchRequest {
        source: Source::Json(stepped(2)),
        items: BatchItems::Overrides(vec![map(json!({"4.steps": 3})), map(json!({"4.stepz": 3}))]),
    };
    let err = comfy.submit_batch(request).await.unwrap_err();
    assert!(err.to_string().starts_with("batch item 1: "), "{err}");
    assert!(err.to_string().contains("stepz"), "{err}");
    assert_eq!(err.code(), "invalid_override");
    assert!(store.list_jobs(&JobQuery::default()).await.unwrap().is_empty());
    assert!(store.list_batches(&BatchQuery::default()).await.unwrap().is_empty());
    assert!(history(&fake).await == 0, "nothing reached the backend");

    let params =
        BatchRequest { source: Source::Json(stepped(2)), items: BatchItems::Params(vec![Map::new()]) };
    let err = comfy.submit_batch(params).await.unwrap_err();
    assert_eq!(err.code(), "invalid_argument");
    assert!(err.to_string().starts_with("batch item 0: "), "{err}");

    let none = BatchRequest { source: Source::Json(stepped(2)), items: BatchItems::RandomSeeds(0) };
    assert_eq!(comfy.submit_batch(none).await.unwrap_err().code(), "invalid_argument");
    assert_eq!(comfy.batch_status("b_nope").await.unwrap_err().code(), "batch_not_found");
}

#[tokio::test]
async fn a_batch_survives_a_restart_and_finishes() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let batch_id = {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let comfy = client(&fake, store, 1);
        let request = BatchRequest { source: Source::Json(stepped(30)), items: BatchItems::RandomSeeds(3) };
        let status = comfy.submit_batch(request).await.unwrap();
        assert!(status.counts.waiting >= 1, "{status:?}");
        status.batch_id
        // The client is dropped here, with items still waiting.
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let recorded = store.get_batch(&batch_id).await.unwrap().expect("the batch is recorded");
    assert_eq!(recorded.items.len(), 3);
    assert!(recorded.unsubmitted() >= 1);
    let comfy = client(&fake, store.clone(), 1);
    comfy.reattach().await.unwrap();
    let done = comfy.wait_batch(&batch_id, LONG).await.unwrap();
    assert_eq!(done.state, BatchState::Succeeded, "{}", done.describe());
    let mut jobs: Vec<String> = done.items.iter().filter_map(|i| i.job_id.clone()).collect();
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs.len(), 3, "every item ran once");
    assert_eq!(history(&fake).await, 3, "no item was submitted twice");
    let outputs = comfy.batch_outputs(&batch_id).await.unwrap();
    assert!(outputs.items.iter().all(|i| !i.outputs.is_empty()));
}
