//! Several backends behind one client, against two fake ComfyUIs: jobs spread over both, a
//! pinned job goes where pinned, a job whose checkpoint only one has goes there, a stopped
//! backend's submissions go to the other (and a health check puts it back), and every later
//! call on a job (status, outputs, cancel) goes to the backend its record names. A job lost
//! with its backend (stopped, cut off, or restarted mid-job) fails naming it, or runs again on
//! the other backend when its request allowed it, and never finishes twice.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::fleet::{Fleet, FleetMember};
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::{Backend, JobRequest};
use comfy_core::connect::RoutingConfig;
use comfy_core::job::JobStatus;
use comfy_core::store::{MemoryStore, Store};
use comfy_core::{ClientOptions, Comfy, Job, Workflow};
use comfy_fake::FakeComfyUi;
use serde_json::{Value, json};

/// Generous: a job of the fake takes milliseconds; this only bounds a hung test.
const LONG: Duration = Duration::from_secs(30);

async fn fake(checkpoints: &[&str]) -> FakeComfyUi {
    fake_at(checkpoints, "127.0.0.1:0").await
}

/// A fake on `addr`; a fake just shut down there frees it when its aborted tasks are dropped,
/// so binding is retried (bounded by [`LONG`]).
async fn fake_at(checkpoints: &[&str], addr: &str) -> FakeComfyUi {
    let start = || {
        FakeComfyUi::builder()
            .model_files("checkpoints", checkpoints)
            .step_delay(Duration::from_millis(20))
            .listen(addr.parse().unwrap())
            .start()
    };
    let bound = async {
        loop {
            match start().await {
                Ok(fake) => return fake,
                Err(comfy_fake::Error::Io(e)) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("fake on {addr}: {e}"),
            }
        }
    };
    tokio::time::timeout(LONG, bound).await.expect("the address is freed")
}

fn local(url: &str) -> Arc<dyn Backend> {
    Arc::new(
        LocalComfyUi::builder(url)
            .max_reconnect_delay(Duration::from_millis(100))
            .request_timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
    )
}

fn client(members: Vec<FleetMember>, overflow_queue: usize) -> Comfy {
    client_on(members, overflow_queue, Arc::new(MemoryStore::new()))
}

fn client_on(members: Vec<FleetMember>, overflow_queue: usize, store: Arc<dyn Store>) -> Comfy {
    // Health checks run when a test asks (`check_health`), not on a clock.
    let routing = RoutingConfig { overflow_queue, health_interval_ms: 3_600_000, ..Default::default() };
    let fleet: Arc<dyn Backend> = Fleet::new(members, routing).unwrap();
    let options = ClientOptions {
        poll_interval: Duration::from_millis(50),
        lost_after: Duration::from_millis(500),
        unreachable_after: Duration::from_millis(300),
        ..Default::default()
    };
    Comfy::builder(fleet).store(store).options(options).build().unwrap()
}

fn two(a: &FakeComfyUi, b: &FakeComfyUi) -> Comfy {
    client(vec![FleetMember::new("a", local(&a.url())), FleetMember::new("b", local(&b.url()))], 100)
}

fn request(ckpt: &str, steps: u32, seed: u64) -> JobRequest {
    let workflow = Workflow::from_value(json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
              "latent_image": ["3", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "fleet"}}
    }))
    .unwrap();
    JobRequest::new(workflow)
}

fn pinned(mut r: JobRequest, backend: &str) -> JobRequest {
    r.backend = Some(backend.into());
    r
}

/// The prompt ids a fake has run or queued.
async fn ran_on(fake: &FakeComfyUi) -> Vec<String> {
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

async fn succeeded(job: &Job) -> comfy_core::JobResult {
    let result = tokio::time::timeout(LONG, job.result()).await.unwrap().unwrap();
    assert_eq!(result.status, JobStatus::Succeeded, "{:?}", result.status);
    result
}

#[tokio::test]
async fn jobs_spread_over_both_and_every_later_call_goes_where_the_job_runs() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    let mut jobs = Vec::new();
    for seed in 0..6 {
        jobs.push(comfy.submit(request("m.safetensors", 30, seed)).await.unwrap());
    }
    let names: Vec<String> = jobs.iter().map(|j| j.record().backend).collect();
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 3, "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "b").count(), 3, "{names:?}");
    let mut results = Vec::new();
    for job in &jobs {
        results.push(succeeded(job).await);
    }
    let (on_a, on_b) = (ran_on(&a).await, ran_on(&b).await);
    for (job, result) in jobs.iter().zip(&results) {
        let id = &job.id().0;
        let expected = if job.record().backend == "a" { &on_a } else { &on_b };
        let other = if job.record().backend == "a" { &on_b } else { &on_a };
        assert!(expected.contains(id) && !other.contains(id), "{id} ran on the backend its record names");
        // Outputs come from that backend too (a file another backend never made).
        let asset = result.assets.first().cloned().expect("an output");
        let fetched = comfy.fetch_asset(&asset).await.unwrap();
        assert!(!fetched.data.is_empty());
    }
    // The store has the member's name, and reads through it again after the job left memory.
    let record = comfy.store().get_job(jobs[1].id()).await.unwrap().unwrap();
    assert_eq!(record.backend, names[1]);
}

#[tokio::test]
async fn a_pinned_job_goes_where_pinned_and_an_unknown_name_is_refused() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    for seed in 0..3 {
        let job = comfy.submit(pinned(request("m.safetensors", 2, seed), "b")).await.unwrap();
        assert_eq!(job.record().backend, "b");
        succeeded(&job).await;
        assert!(ran_on(&b).await.contains(&job.id().0));
    }
    assert!(ran_on(&a).await.is_empty(), "nothing pinned to b ran on a");
    let e = comfy.submit(pinned(request("m.safetensors", 2, 9), "gpu9")).await.unwrap_err();
    assert_eq!(e.code(), "unknown_backend");
    assert!(e.to_string().contains("gpu9") && e.to_string().contains("a, b"), "{e}");
    let listed: Vec<String> = comfy.backends().into_iter().map(|m| m.name).collect();
    assert_eq!(listed, ["a", "b"]);
    // Operating: each member is checked and measured under its own name.
    let ready = comfy.readiness(Duration::from_secs(5)).await;
    let checked: Vec<&str> = ready.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(checked, ["a", "b"]);
    assert!(ready.ready && ready.backends.iter().all(|b| b.ready));
    let metrics = comfy.render_metrics().await;
    let submitted_to_b = metrics
        .lines()
        .find(|l| l.starts_with("comfy_jobs_submitted_total") && l.contains(r#"backend="b""#))
        .unwrap_or_default();
    assert!(submitted_to_b.ends_with(" 3"), "{metrics}");
}

#[tokio::test]
async fn a_job_whose_checkpoint_only_one_backend_has_goes_there() {
    let a = fake(&["m.safetensors"]).await;
    let b = fake(&["m.safetensors", "rare.safetensors"]).await;
    let comfy = two(&a, &b);
    // Keep b busy with other work first: the rare checkpoint still goes to b.
    let busy = comfy.submit(pinned(request("m.safetensors", 30, 1), "b")).await.unwrap();
    for seed in 0..3 {
        let job = comfy.submit(request("rare.safetensors", 2, seed)).await.unwrap();
        assert_eq!(job.record().backend, "b");
        succeeded(&job).await;
    }
    succeeded(&busy).await;
    // A checkpoint nobody has is refused before any backend sees it, naming what is missing.
    let e = comfy.submit(request("nowhere.safetensors", 2, 1)).await.unwrap_err();
    assert_eq!(e.code(), "no_backend_available");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("nowhere.safetensors"), "{e}");
}

#[tokio::test]
async fn a_stopped_backend_is_skipped_and_put_back_by_a_health_check() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let a_addr = a.addr().to_string();
    let comfy = two(&a, &b);
    // a wins every tie, so the first submission tries it, fails to reach it, takes it out of
    // routing and goes to b; the next ones go straight to b.
    a.shutdown();
    for seed in 0..4 {
        let job = comfy.submit(request("m.safetensors", 2, seed)).await.unwrap();
        assert_eq!(job.record().backend, "b", "a is down");
        succeeded(&job).await;
    }
    let a_state = comfy.backends().into_iter().find(|m| m.name == "a").unwrap();
    assert!(!a_state.healthy && a_state.last_error.is_some(), "{a_state:?}");
    // A health check while a is still down keeps it out.
    let fleet = comfy.fleet().expect("a fleet");
    fleet.check_health(Duration::from_secs(2)).await;
    assert!(!comfy.backends()[0].healthy);
    // a comes back on the same address: the next health check puts it back in the rotation.
    let a = fake_at(&["m.safetensors"], &a_addr).await;
    fleet.check_health(Duration::from_secs(2)).await;
    assert!(comfy.backends()[0].healthy);
    let job = comfy.submit(request("m.safetensors", 2, 10)).await.unwrap();
    assert_eq!(job.record().backend, "a", "a takes work again");
    succeeded(&job).await;
    assert!(ran_on(&a).await.contains(&job.id().0));
}

#[tokio::test]
async fn the_next_priority_takes_only_the_overflow() {
    let (local_box, cloudish) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = client(
        vec![
            FleetMember::new("box", local(&local_box.url())),
            FleetMember::new("overflow", local(&cloudish.url())).priority(1),
        ],
        1,
    );
    // Long jobs: the box takes two (loads 0 and 1 are within N = 1), the third overflows.
    let mut jobs = Vec::new();
    for seed in 0..3 {
        jobs.push(comfy.submit(request("m.safetensors", 200, seed)).await.unwrap());
    }
    let names: Vec<String> = jobs.iter().map(|j| j.record().backend).collect();
    assert_eq!(names, ["box", "box", "overflow"]);
    for job in &jobs {
        job.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn one_backend_answers_to_its_kind_and_nothing_else() {
    let a = fake(&["m.safetensors"]).await;
    let comfy = Comfy::builder(local(&a.url())).build().unwrap();
    let job = comfy.submit(pinned(request("m.safetensors", 2, 1), "local")).await.unwrap();
    assert!(job.record().backend.starts_with("local:"), "recorded as before: {}", job.record().backend);
    succeeded(&job).await;
    let e = comfy.submit(pinned(request("m.safetensors", 2, 2), "cloud")).await.unwrap_err();
    assert_eq!(e.code(), "unknown_backend");
    assert_eq!(comfy.backends()[0].name, "local");
}

#[tokio::test]
async fn a_restarted_client_reattaches_each_job_to_the_backend_that_runs_it() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let members = || vec![FleetMember::new("a", local(&a.url())), FleetMember::new("b", local(&b.url()))];
    let first = client_on(members(), 100, store.clone());
    let on_b = first.submit(pinned(request("m.safetensors", 40, 1), "b")).await.unwrap();
    let id = on_b.id().clone();
    drop(on_b);
    drop(first);
    // A new client (a restarted server) over the same store: the job is followed on b.
    let second = client_on(members(), 100, store.clone());
    let jobs = second.reattach().await.unwrap();
    let job = jobs.into_iter().find(|j| j.id() == &id).expect("reattached");
    assert_eq!(job.record().backend, "b");
    succeeded(&job).await;
    assert!(ran_on(&b).await.contains(&id.0) && !ran_on(&a).await.contains(&id.0));
    assert_eq!(store.get_job(&id).await.unwrap().unwrap().status, JobStatus::Succeeded);
}

#[tokio::test]
async fn a_workflow_the_backend_rejects_is_not_sent_elsewhere() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    // Below KSampler's minimum: the backend refuses it (not a fault of the backend).
    let e = comfy.submit(request("m.safetensors", 0, 1)).await.unwrap_err();
    assert_eq!(e.code(), "prompt_rejected", "{e}");
    assert!(ran_on(&b).await.is_empty() && b.received_prompts().is_empty(), "not retried on b");
    assert_eq!(a.received_prompts().len(), 1);
    assert!(comfy.backends().iter().all(|m| m.healthy), "a stays in routing");
}

#[tokio::test]
async fn a_pinned_batch_runs_every_item_there() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    let workflow = request("m.safetensors", 2, 1).workflow.to_value();
    let batch = comfy_core::BatchRequest {
        source: comfy_core::Source::Json(workflow),
        items: comfy_core::BatchItems::Seeds(vec![1, 2, 3]),
    };
    let e = comfy.submit_batch_on(batch.clone(), Some("gpu9".into())).await.unwrap_err();
    assert_eq!(e.code(), "unknown_backend");
    let submitted = comfy.submit_batch_on(batch, Some("b".into())).await.unwrap();
    let done = comfy.wait_batch(&submitted.batch_id, LONG).await.unwrap();
    assert!(done.is_finished(), "{}", done.describe());
    for item in &done.items {
        let id = comfy_core::job::JobId(item.job_id.clone().expect("submitted"));
        assert_eq!(comfy.job(&id).await.unwrap().record().backend, "b");
        assert!(ran_on(&b).await.contains(&id.0));
    }
    assert!(ran_on(&a).await.is_empty());
}

fn resubmittable(mut r: JobRequest) -> JobRequest {
    r.resubmit_if_lost = true;
    r
}

/// Waits (bounded by [`LONG`]) until `job` runs.
async fn until_running(job: &Job) {
    let running = async {
        while !matches!(job.status(), JobStatus::Running(_)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(LONG, running).await.expect("the job starts");
}

/// Cuts `fake` off without stopping it: every request answers 503 and sockets are refused, while
/// its queue is kept (a network partition, or a proxy in front of a live server).
fn cut_off(fake: &FakeComfyUi) {
    fake.refuse_websockets(true);
    fake.fail_route("/*", 503, "<html>503 Service Unavailable</html>");
    fake.drop_sockets();
}

fn heal(fake: &FakeComfyUi) {
    fake.clear_route_scripts();
    fake.refuse_websockets(false);
}

async fn failure_of(job: &Job) -> comfy_core::job::JobFailure {
    let result = tokio::time::timeout(LONG, job.result()).await.unwrap().unwrap();
    match result.status {
        JobStatus::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_job_whose_backend_stops_mid_run_fails_naming_it() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    // Long enough to be stopped while it runs; a wins the tie.
    let job = comfy.submit(request("m.safetensors", 500, 1)).await.unwrap();
    assert_eq!(job.record().backend, "a");
    until_running(&job).await;
    a.shutdown();
    let failure = failure_of(&job).await;
    assert_eq!(failure.code.as_deref(), Some("backend_lost"), "{failure:?}");
    assert!(failure.message.contains("backend a has not answered"), "{}", failure.message);
    assert!(
        failure.message.contains("resubmit_if_lost"),
        "says how to allow a second run: {}",
        failure.message
    );
    assert!(
        ran_on(&b).await.is_empty() && b.received_prompts().is_empty(),
        "not run on b without the opt-in"
    );
    let stored = comfy.store().get_job(job.id()).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Failed(failure));
    assert_eq!(stored.backend, "a");
}

#[tokio::test]
async fn a_job_the_caller_allowed_to_move_runs_on_the_other_backend_when_its_backend_stops() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    let job = comfy.submit(resubmittable(request("m.safetensors", 500, 1))).await.unwrap();
    assert_eq!(job.record().backend, "a");
    until_running(&job).await;
    b.set_step_delay(Duration::from_millis(1));
    a.shutdown();
    let result = succeeded(&job).await;
    let record = job.record();
    assert_eq!(record.backend, "b", "the record names the backend that finally ran it");
    assert_eq!(record.id, *job.id(), "the job keeps its id");
    let moved = record.request["resubmitted"].as_array().cloned().unwrap_or_default();
    assert_eq!(moved.len(), 1, "{}", record.request);
    assert_eq!(moved[0]["backend"], "a");
    assert_eq!(moved[0]["to"], "b");
    assert!(moved[0]["reason"].as_str().unwrap_or_default().contains("backend a has not answered"));
    assert!(ran_on(&b).await.contains(&job.id().0));
    assert_eq!(b.received_prompts().len(), 1, "submitted to b once");
    // Its outputs are b's and readable through b.
    let asset = result.assets.first().cloned().expect("an output");
    assert!(!comfy.fetch_asset(&asset).await.unwrap().data.is_empty());
    let stored = comfy.store().get_job(job.id()).await.unwrap().unwrap();
    assert_eq!((stored.backend.as_str(), &stored.status), ("b", &JobStatus::Succeeded));
    assert!(!comfy.backends()[0].healthy, "a is out of routing");
}

#[tokio::test]
async fn a_batch_item_the_caller_allowed_to_move_runs_on_the_other_backend_when_its_backend_stops() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    let batch = comfy_core::BatchRequest {
        source: comfy_core::Source::Json(request("m.safetensors", 500, 1).workflow.to_value()),
        items: comfy_core::BatchItems::Seeds(vec![7]),
    };
    let place = comfy_core::Placement { backend: None, resubmit_if_lost: true };
    let submitted = comfy.submit_batch_placed(batch, place).await.unwrap();
    let id = comfy_core::job::JobId(submitted.items[0].job_id.clone().expect("submitted at once"));
    let job = comfy.job(&id).await.unwrap();
    assert_eq!(job.record().backend, "a");
    assert_eq!(job.record().request["resubmit_if_lost"], true, "the item's request carries the opt-in");
    until_running(&job).await;
    b.set_step_delay(Duration::from_millis(1));
    a.shutdown();
    succeeded(&job).await;
    assert_eq!(job.record().backend, "b", "the item ran again on b under its id");
    let done = comfy.wait_batch(&submitted.batch_id, LONG).await.unwrap();
    assert_eq!(done.counts.succeeded, 1, "{}", done.describe());
}

#[tokio::test]
async fn a_cut_off_backend_that_comes_back_never_finishes_the_moved_job_a_second_time() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    // The job waits in a's queue (accepted), then a is cut off but keeps it.
    a.hold();
    let job = comfy.submit(resubmittable(request("m.safetensors", 2, 1))).await.unwrap();
    assert_eq!(job.record().backend, "a");
    cut_off(&a);
    succeeded(&job).await;
    assert_eq!(job.record().backend, "b");
    let finished = comfy.store().get_job(job.id()).await.unwrap().unwrap();
    // a comes back and runs its old copy: its events must not touch the finished job.
    heal(&a);
    a.release();
    assert!(a.wait_until_idle(LONG).await);
    assert!(ran_on(&a).await.contains(&job.id().0), "a did run its copy (nobody could cancel it)");
    // Let the old copy's events (a's socket reconnects) and a reconciliation pass.
    let fleet = comfy.fleet().expect("a fleet");
    fleet.check_health(Duration::from_secs(2)).await;
    let later = comfy.submit(request("m.safetensors", 2, 2)).await.unwrap();
    succeeded(&later).await;
    let record = comfy.store().get_job(job.id()).await.unwrap().unwrap();
    assert_eq!(record, finished, "first terminal write wins");
    assert_eq!(job.record().backend, "b");
}

#[tokio::test]
async fn a_moved_job_is_cancelled_on_its_old_backend_when_that_comes_back() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let comfy = two(&a, &b);
    a.hold();
    let job = comfy.submit(resubmittable(request("m.safetensors", 2, 1))).await.unwrap();
    cut_off(&a);
    succeeded(&job).await;
    heal(&a);
    // The health check that puts a back cancels the copy still in its queue.
    comfy.fleet().expect("a fleet").check_health(Duration::from_secs(2)).await;
    assert!(comfy.backends()[0].healthy);
    assert_eq!(a.queue_deletes(), vec![job.id().0.clone()]);
    a.release();
    assert!(a.wait_until_idle(LONG).await);
    assert!(!ran_on(&a).await.contains(&job.id().0), "never run twice");
    assert!(ran_on(&b).await.contains(&job.id().0));
}

#[tokio::test]
async fn a_job_its_restarted_backend_forgot_runs_elsewhere_only_when_allowed() {
    let (a, b) = (fake(&["m.safetensors"]).await, fake(&["m.safetensors"]).await);
    let a_addr = a.addr().to_string();
    let comfy = two(&a, &b);
    a.hold();
    b.hold();
    // One job waits on b, so both next ones go to a (ties go to a).
    let blocker = comfy.submit(pinned(request("m.safetensors", 2, 1), "b")).await.unwrap();
    let kept = comfy.submit(request("m.safetensors", 2, 2)).await.unwrap();
    let moved = comfy.submit(resubmittable(request("m.safetensors", 2, 3))).await.unwrap();
    assert_eq!((kept.record().backend.as_str(), moved.record().backend.as_str()), ("a", "a"));
    // a restarts empty on the same address: it answers, but knows neither job.
    a.shutdown();
    let a = fake_at(&["m.safetensors"], &a_addr).await;
    let failure = failure_of(&kept).await;
    assert_eq!(failure.code.as_deref(), Some("job_lost"), "{failure:?}");
    assert!(failure.message.contains("backend a no longer knows this job"), "{}", failure.message);
    b.release();
    succeeded(&blocker).await;
    succeeded(&moved).await;
    assert_eq!(moved.record().backend, "b");
    assert_eq!(moved.record().request["resubmitted"][0]["backend"], "a");
    assert!(ran_on(&a).await.is_empty(), "nothing ran on the restarted a");
    assert!(comfy.backends()[0].healthy, "a answers: it stays in routing");
}
