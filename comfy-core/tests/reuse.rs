//! Result reuse against the fake ComfyUI ([`Comfy::submit_with`]): identical submissions of one
//! owner while the first runs execute once; another owner's never attach; a succeeded graph is
//! answered from the store only with `reuse`.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::{Backend, JobRequest};
use comfy_core::store::MemoryStore;
use comfy_core::workflow::Workflow;
use comfy_core::{Caller, ClientOptions, Comfy, JobResult, ReuseKind, SubmitOptions};
use comfy_fake::FakeComfyUi;
use serde_json::json;

const LONG: Duration = Duration::from_secs(30);

fn client(fake: &FakeComfyUi) -> Comfy {
    let backend: Arc<dyn Backend> = Arc::new(LocalComfyUi::builder(&fake.url()).build().unwrap());
    let options = ClientOptions { poll_interval: Duration::from_millis(50), ..Default::default() };
    Comfy::builder(backend).store(Arc::new(MemoryStore::default())).options(options).build().unwrap()
}

fn request(seed: u64) -> JobRequest {
    let graph = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": seed}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "reuse"}}
    });
    JobRequest::new(Workflow::from_value(graph).unwrap())
}

async fn finished(job: &comfy_core::Job) -> JobResult {
    tokio::time::timeout(LONG, job.result()).await.expect("finished in time").unwrap()
}

#[tokio::test]
async fn identical_submissions_of_one_owner_run_once_while_the_first_is_unfinished() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let comfy = client(&fake);
    let a = comfy.acting_for(Caller::user("a"));
    fake.hold();
    let first = a.submit_with(request(1), SubmitOptions::default()).await.unwrap();
    let second = a.submit_with(request(1), SubmitOptions::default()).await.unwrap();
    assert!(first.is_new());
    let reused = second.reused_from.clone().expect("the second attaches");
    assert_eq!(reused.job_id, first.job.id().0);
    assert_eq!(reused.kind, ReuseKind::InFlight);
    assert_eq!(second.job.id(), first.job.id());
    // Another owner, and the same owner with dedup off, run their own.
    let b = comfy.acting_for(Caller::user("b"));
    let theirs = b.submit_with(request(1), SubmitOptions::default()).await.unwrap();
    assert!(theirs.is_new() && theirs.job.id() != first.job.id(), "reuse never crosses owners");
    let apart = a.submit_with(request(1), SubmitOptions { dedup: false, reuse: false }).await.unwrap();
    assert!(apart.is_new() && apart.job.id() != first.job.id());
    // A different graph (another seed) is not identical.
    let other = a.submit_with(request(2), SubmitOptions::default()).await.unwrap();
    assert!(other.is_new());
    fake.release();
    let (r1, r2) = (finished(&first.job).await, finished(&second.job).await);
    assert_eq!(r1.assets, r2.assets, "both handles see the same outputs");
    assert_eq!(r1.assets.len(), 1);
    for job in [&theirs.job, &apart.job, &other.job] {
        finished(job).await;
    }
    assert_eq!(fake.received_prompts().len(), 4, "a: one run for two submissions; b, dedup off, other seed");

    // Finished: a new identical submission runs again (dedup is for unfinished jobs only).
    let again = a.submit_with(request(1), SubmitOptions::default()).await.unwrap();
    assert!(again.is_new() && again.job.id() != first.job.id());
    finished(&again.job).await;
    assert_eq!(fake.received_prompts().len(), 5);
}

#[tokio::test]
async fn with_reuse_a_succeeded_identical_graph_answers_at_once() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let comfy = client(&fake);
    let a = comfy.acting_for(Caller::user("a"));
    let reuse = SubmitOptions { reuse: true, ..Default::default() };
    let source = a.submit_with(request(7), reuse).await.unwrap();
    assert!(source.is_new(), "nothing to reuse yet");
    let done = finished(&source.job).await;
    assert_eq!(fake.received_prompts().len(), 1);

    let cached = a.submit_with(request(7), reuse).await.unwrap();
    let from = cached.reused_from.clone().expect("answered from the earlier job");
    assert_eq!((from.job_id.as_str(), from.kind), (source.job.id().0.as_str(), ReuseKind::Cached));
    assert_eq!(finished(&cached.job).await.assets, done.assets);
    assert_eq!(fake.received_prompts().len(), 1, "no new execution");

    // Another owner does not get a's result; without reuse the graph runs again.
    let b = comfy.acting_for(Caller::user("b"));
    let theirs = b.submit_with(request(7), reuse).await.unwrap();
    assert!(theirs.is_new());
    finished(&theirs.job).await;
    let fresh = a.submit_with(request(7), SubmitOptions::default()).await.unwrap();
    assert!(fresh.is_new() && fresh.job.id() != source.job.id());
    let fresh_done = finished(&fresh.job).await;
    assert_ne!(fresh_done.assets, done.assets, "a new run records new assets");
    assert_eq!(fake.received_prompts().len(), 3);
}

#[tokio::test]
async fn a_failed_job_is_not_reused() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let comfy = client(&fake);
    fake.fail_node_class("EmptyImage", "RuntimeError", "boom");
    let reuse = SubmitOptions { reuse: true, ..Default::default() };
    let failed = comfy.submit_with(request(3), reuse).await.unwrap();
    assert_eq!(finished(&failed.job).await.status.name(), "failed");
    fake.clear_node_scripts();
    let retried = comfy.submit_with(request(3), reuse).await.unwrap();
    assert!(retried.is_new(), "only a success is reused");
    assert_eq!(finished(&retried.job).await.status.name(), "succeeded");
    assert_eq!(fake.received_prompts().len(), 2);
}
