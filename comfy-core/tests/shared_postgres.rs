//! Several servers on one PostgreSQL store behave as one: leases on unfinished work move from a
//! stopped server to a live one, dedup claims and rate budgets are shared, job events cross
//! servers (LISTEN/NOTIFY), and a server's job is followed to its end by another when it stops.
//!
//! Each "server" is its own `PostgresStore` (its own pool and server id) on one schema, like two
//! processes. Needs `COMFY_TEST_POSTGRES_URL` and FAILS without it (scripts/test.sh starts a
//! throwaway PostgreSQL and runs `--features postgres-tests --test shared_postgres`).

#[path = "support/pg.rs"]
mod pg;
#[path = "support/store_suite.rs"]
mod store_suite;

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::{Backend, JobEvent, JobRequest};
use comfy_core::job::{JobId, JobStatus, Progress};
use comfy_core::store::{
    PostgresStore, SharedClaim, SharedState, Signal, SignalBody, Store, Subject, now_millis,
};
use comfy_core::{
    BatchItems, BatchRequest, BatchState, ClientOptions, Comfy, DefaultsLayer, Source, SubmitOptions,
    Workflow,
};
use comfy_fake::FakeComfyUi;
use pg::fresh_schema;
use serde_json::{Value, json};

/// Bounds a hung test only; nothing here takes more than a few seconds.
const LONG: Duration = Duration::from_secs(60);
const MINUTE: Duration = Duration::from_secs(60);

async fn server(url: &str) -> (PostgresStore, Arc<dyn SharedState>) {
    let store = PostgresStore::open(url).await.unwrap();
    let shared = store.shared().expect("a PostgreSQL store is shared");
    (store, shared)
}

fn job(id: &str) -> Subject {
    Subject::Job(JobId::from(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_belongs_to_one_live_server_and_moves_when_it_stops() {
    let url = fresh_schema("lease").await;
    let ((_, a), (_, b)) = (server(&url).await, server(&url).await);
    assert_ne!(a.server_id(), b.server_id());

    assert_eq!(a.take(&[job("1"), job("2")], MINUTE).await.unwrap(), vec![job("1"), job("2")]);
    assert_eq!(b.take(&[job("1"), job("3")], MINUTE).await.unwrap(), vec![job("3")], "A is alive");
    assert_eq!(a.take(&[job("1")], MINUTE).await.unwrap(), vec![job("1")], "its own lease again");
    assert!(b.take_orphans(MINUTE).await.unwrap().is_empty(), "nothing is orphaned");

    a.release(&job("2")).await.unwrap();
    b.release(&job("1")).await.unwrap(); // not B's: nothing happens
    assert_eq!(b.take(&[job("2")], MINUTE).await.unwrap(), vec![job("2")], "released, free");

    a.retire().await.unwrap();
    let mut taken = b.take_orphans(MINUTE).await.unwrap();
    taken.sort();
    assert_eq!(taken, vec![job("1")], "a retired server's leases are taken at once");
    assert!(a.take(&[job("1")], MINUTE).await.unwrap().is_empty(), "B holds it now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_taken_for_dead_and_unleased_work_is_adopted() {
    let url = fresh_schema("silent").await;
    let ((store, a), (_, b)) = (server(&url).await, server(&url).await);
    a.take(&[job("held")], MINUTE).await.unwrap();
    // An unfinished job nobody leases (its server died right after recording it), and a
    // finished one (never adopted).
    let old = now_millis() - 10_000;
    store
        .put_job(&store_suite::job("lone", "local", None, old, JobStatus::Queued { position: None }))
        .await
        .unwrap();
    store.put_job(&store_suite::job("done", "local", None, old, JobStatus::Succeeded)).await.unwrap();

    assert!(b.take_orphans(MINUTE).await.unwrap().iter().all(|s| *s != job("held")), "A beat recently");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    b.heartbeat().await.unwrap();
    let mut taken = b.take_orphans(Duration::from_secs(1)).await.unwrap();
    taken.sort();
    assert_eq!(taken, vec![job("held"), job("lone")], "A said nothing for 1.5 s");
    assert!(b.take_orphans(Duration::from_secs(1)).await.unwrap().is_empty(), "taken once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_held_by_one_server_until_its_job_is_over() {
    let url = fresh_schema("claim").await;
    let ((store, a), (_, b)) = (server(&url).await, server(&url).await);
    let ttl = Duration::from_secs(120);
    assert_eq!(a.claim("k", ttl, MINUTE).await.unwrap(), SharedClaim::Mine);
    assert_eq!(b.claim("k", ttl, MINUTE).await.unwrap(), SharedClaim::Held(None), "A is submitting");

    let running = JobStatus::Running(Progress::default());
    store.put_job(&store_suite::job("j1", "local", None, now_millis(), running)).await.unwrap();
    a.settle_claim("k", &JobId::from("j1")).await.unwrap();
    assert_eq!(b.claim("k", ttl, MINUTE).await.unwrap(), SharedClaim::Held(Some(JobId::from("j1"))));
    assert_eq!(b.claim("other", ttl, MINUTE).await.unwrap(), SharedClaim::Mine, "keys are separate");

    store.put_job(&store_suite::job("j1", "local", None, now_millis(), JobStatus::Succeeded)).await.unwrap();
    assert_eq!(b.claim("k", ttl, MINUTE).await.unwrap(), SharedClaim::Mine, "its job is over");

    // Settled on a job not recorded yet (the claimant is between settling and recording it):
    // held while its claimant lives, taken over once it is gone (it never reached a backend).
    assert_eq!(a.claim("pre", ttl, MINUTE).await.unwrap(), SharedClaim::Mine);
    a.settle_claim("pre", &JobId::from("unrecorded")).await.unwrap();
    assert_eq!(
        b.claim("pre", ttl, MINUTE).await.unwrap(),
        SharedClaim::Held(Some(JobId::from("unrecorded")))
    );

    // A claimant that gives up (its submission failed) frees the key; one that retired too.
    b.drop_claim("k", None).await.unwrap();
    assert_eq!(a.claim("k", ttl, MINUTE).await.unwrap(), SharedClaim::Mine);
    a.retire().await.unwrap();
    assert_eq!(b.claim("k", ttl, MINUTE).await.unwrap(), SharedClaim::Mine, "A stopped while submitting");
    assert_eq!(b.claim("pre", ttl, MINUTE).await.unwrap(), SharedClaim::Mine, "A stopped before recording");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_budget_is_counted_once_for_every_server() {
    let url = fresh_schema("rate").await;
    let ((_, a), (_, b)) = (server(&url).await, server(&url).await);
    let mut answers = Vec::new();
    for s in [&a, &b, &a, &b] {
        answers.push(s.take_token("token:alice", 3).await.unwrap());
    }
    assert_eq!(answers, vec![true, true, true, false], "3 a minute, whichever server counts");
    assert!(b.take_token("token:bob", 3).await.unwrap(), "another key has its own budget");
}

/// Publishes pings from `from` until `to` hears one (the listener connects in the background).
async fn until_listening(from: &Arc<dyn SharedState>, to: &mut tokio::sync::broadcast::Receiver<Signal>) {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        from.publish(&SignalBody::DefaultsChanged).await.unwrap();
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), to.recv()).await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never heard a signal");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_reach_every_server_of_the_schema_and_no_other() {
    let url = fresh_schema("signal").await;
    let ((_, a), (_, b)) = (server(&url).await, server(&url).await);
    let (_, other) = server(&fresh_schema("signal2").await).await;
    let mut heard_by_b = b.subscribe();
    let mut heard_by_other = other.subscribe();
    until_listening(&a, &mut heard_by_b).await;
    until_listening(&other, &mut heard_by_other).await;
    while heard_by_b.try_recv().is_ok() {}

    let body = SignalBody::Job {
        job_id: JobId::from("j"),
        event: JobEvent::Progress { node_id: Some("3".into()), value: 4, max: 20 },
    };
    a.publish(&body).await.unwrap();
    let signal = tokio::time::timeout(LONG, heard_by_b.recv()).await.unwrap().unwrap();
    assert_eq!(signal, Signal { from: a.server_id().to_owned(), body });

    // The other schema's listener hears its own ping next, and nothing of A's before it
    // (notifications arrive in commit order).
    other.publish(&SignalBody::DefaultsChanged).await.unwrap();
    let next = tokio::time::timeout(LONG, heard_by_other.recv()).await.unwrap().unwrap();
    assert_eq!(next.from, other.server_id());
}

// --- clients on one store, in front of one fake ComfyUI ---------------------------------------

async fn fake() -> FakeComfyUi {
    FakeComfyUi::builder()
        .model_files("checkpoints", &["m.safetensors"])
        .step_delay(Duration::from_millis(60))
        .start()
        .await
        .unwrap()
}

fn local(url: &str) -> Arc<dyn Backend> {
    Arc::new(LocalComfyUi::builder(url).max_reconnect_delay(Duration::from_millis(100)).build().unwrap())
}

async fn client(fake: &FakeComfyUi, url: &str) -> Comfy {
    client_with_cap(fake, url, usize::MAX).await
}

async fn client_with_cap(fake: &FakeComfyUi, url: &str, max_running_jobs: usize) -> Comfy {
    let store = PostgresStore::open(url).await.unwrap();
    let options =
        ClientOptions { dead_server_after: Duration::from_secs(1), max_running_jobs, ..Default::default() };
    Comfy::builder(local(&fake.url())).store(Arc::new(store)).options(options).build().unwrap()
}

fn request(steps: u32, seed: u64) -> JobRequest {
    let workflow = Workflow::from_value(json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
              "latent_image": ["3", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "shared"}}
    }))
    .unwrap();
    JobRequest::new(workflow)
}

/// The prompt ids the fake has run or queued.
async fn ran(fake: &FakeComfyUi) -> Vec<String> {
    let h: Value = reqwest::get(format!("{}/history", fake.url())).await.unwrap().json().await.unwrap();
    let q: Value = reqwest::get(format!("{}/queue", fake.url())).await.unwrap().json().await.unwrap();
    let mut ids: Vec<String> = h.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    for key in ["queue_running", "queue_pending"] {
        for entry in q[key].as_array().cloned().unwrap_or_default() {
            ids.extend(entry[1].as_str().map(str::to_owned));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_through_one_server_shows_live_progress_through_another() {
    let fake = fake().await;
    let url = fresh_schema("live").await;
    let (a, b) = (client(&fake, &url).await, client(&fake, &url).await);
    // B hears A's signals before A's job starts.
    let (probe_a, mut probe_b) = (a.store().shared().unwrap(), b.store().shared().unwrap().subscribe());
    until_listening(&probe_a, &mut probe_b).await;

    let job = a.submit(request(25, 1)).await.unwrap();
    let followed = b.job(job.id()).await.unwrap();
    let mut events = followed.subscribe();
    let mut progress = 0;
    while let Some(event) = tokio::time::timeout(LONG, events.next()).await.unwrap() {
        match event {
            JobEvent::Progress { .. } => progress += 1,
            JobEvent::Status(s) if s.is_terminal() => break,
            _ => {}
        }
    }
    // Step events go only to A's socket (as in ComfyUI): B saw them relayed through the store.
    assert!(progress >= 5, "B saw {progress} progress events of A's 25-step job");
    assert_eq!(followed.result().await.unwrap().status, JobStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_submissions_through_two_servers_run_once() {
    let fake = fake().await;
    let url = fresh_schema("dedup").await;
    let (a, b) = (client(&fake, &url).await, client(&fake, &url).await);
    let first = a.submit_with(request(20, 7), SubmitOptions::default()).await.unwrap();
    let second = b.submit_with(request(20, 7), SubmitOptions::default()).await.unwrap();
    assert!(first.is_new());
    let reused = second.reused_from.expect("B attached to A's job");
    assert_eq!(reused.job_id, first.job.id().0);
    assert_eq!(second.job.result().await.unwrap().status, JobStatus::Succeeded);

    // Once it is over, the same graph runs again (no `reuse` asked).
    let third = b.submit_with(request(20, 7), SubmitOptions::default()).await.unwrap();
    assert!(third.is_new());
    third.job.result().await.unwrap();
    assert_eq!(ran(&fake).await.len(), 2, "A's run and B's later one, nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_servers_job_is_taken_over_and_recorded_by_another() {
    let fake = fake().await;
    let url = fresh_schema("handover").await;
    let a = client(&fake, &url).await;
    let id = a.submit(request(30, 3)).await.unwrap().id().clone();
    let b = client(&fake, &url).await;
    assert!(b.reattach().await.unwrap().is_empty(), "A is alive and follows its own job");

    drop(a); // killed: no retire, its heartbeats stop
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        if b.take_over_orphans().await.unwrap().contains(&Subject::Job(id.clone())) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "B never took A's job over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let result = tokio::time::timeout(LONG, b.job(&id).await.unwrap().result()).await.unwrap().unwrap();
    assert_eq!(result.status, JobStatus::Succeeded);
    let record = b.store().get_job(&id).await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Succeeded, "recorded by B");
    assert!(!record.outputs.is_empty());
    assert_eq!(ran(&fake).await, vec![id.0], "run once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_default_set_through_one_server_is_used_by_another() {
    let fake = fake().await;
    let url = fresh_schema("defaults").await;
    let (a, b) = (client(&fake, &url).await, client(&fake, &url).await);
    let (probe_a, mut probe_b) = (a.store().shared().unwrap(), b.store().shared().unwrap().subscribe());
    until_listening(&probe_a, &mut probe_b).await;

    let set = |v: Value| serde_json::from_value::<serde_json::Map<String, Value>>(v).unwrap();
    a.set_param_defaults(&set(json!({"steps": 12})), DefaultsLayer::Runtime).await.unwrap();
    let seen = eventually(|| b.param_defaults().runtime.get("steps") == Some(&json!(12))).await;
    assert!(seen, "B uses the default set through A: {:?}", b.param_defaults().runtime);

    // A bad value is refused before anything is shared.
    assert!(a.set_param_defaults(&set(json!({"steps": "many"})), DefaultsLayer::Runtime).await.is_err());
    a.set_param_defaults(&set(json!({"steps": null})), DefaultsLayer::Runtime).await.unwrap();
    let gone = eventually(|| !b.param_defaults().runtime.contains_key("steps")).await;
    assert!(gone, "removed for B too");
    // A server started later reads the shared layer at once.
    a.set_param_defaults(&set(json!({"steps": 9})), DefaultsLayer::Runtime).await.unwrap();
    let c = client(&fake, &url).await;
    assert!(eventually(|| c.param_defaults().runtime.get("steps") == Some(&json!(9))).await);
}

/// Polls `check` for up to [`LONG`].
async fn eventually(check: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + LONG;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_servers_batch_is_continued_by_another_and_no_item_runs_twice() {
    let fake = fake().await;
    let url = fresh_schema("batch").await;
    let a = client_with_cap(&fake, &url, 1).await;
    let workflow = request(20, 0).workflow.to_value();
    let batch = BatchRequest { source: Source::Json(workflow), items: BatchItems::Seeds(vec![1, 2, 3]) };
    let submitted = a.submit_batch(batch).await.unwrap();
    assert!(submitted.counts.waiting >= 1, "the cap of 1 keeps items waiting");
    let b = client(&fake, &url).await;
    let seen = b.batch_status(&submitted.batch_id).await.unwrap();
    assert!(seen.counts.waiting >= 1, "A is alive and pumps its own batch: B submits nothing");

    drop(a);
    let deadline = tokio::time::Instant::now() + LONG;
    let batch_subject = Subject::Batch(submitted.batch_id.clone());
    while !b.take_over_orphans().await.unwrap().contains(&batch_subject) {
        assert!(tokio::time::Instant::now() < deadline, "B never took A's batch over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done = b.wait_batch_with(&submitted.batch_id, LONG, |_| {}).await.unwrap();
    assert_eq!(done.state, BatchState::Succeeded, "{}", done.describe());
    assert_eq!(done.counts.succeeded, 3);
    assert_eq!(ran(&fake).await.len(), 3, "every item ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_on_record_before_the_backend_sees_it_and_a_refused_one_is_recorded_failed() {
    let fake = fake().await;
    let url = fresh_schema("prewrite").await;
    let a = client(&fake, &url).await;
    let mut bad = request(5, 1);
    bad.workflow = Workflow::from_value(json!({
        "1": {"class_type": "NoSuchNode", "inputs": {}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}
    }))
    .unwrap();
    let id = JobId::from("refused-1");
    bad.job_id = Some(id.clone());
    assert!(a.submit(bad).await.is_err(), "the fake refuses an unknown class");
    let record = a.store().get_job(&id).await.unwrap().expect("recorded before the backend saw it");
    match &record.status {
        JobStatus::Failed(f) => assert!(f.message.contains("refused"), "{f:?}"),
        other => panic!("a refused submission is recorded failed, not {other:?}"),
    }
}
