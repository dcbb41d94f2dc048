//! The `Comfy` client and the local backend against the protocol-faithful fake ComfyUI:
//! live events, every output, queue positions, scoped cancel, faults and recovery.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::{CancelOutcome, JobEvent, JobRequest};
use comfy_core::job::{JobId, JobStatus};
use comfy_core::store::{AssetQuery, MemoryStore, Store};
use comfy_core::{ClientOptions, Comfy, Job, JobResult, Waited, Workflow};
use comfy_fake::FakeComfyUi;
use serde_json::json;

const LONG: Duration = Duration::from_secs(30);

async fn fake() -> FakeComfyUi {
    FakeComfyUi::builder().object_info_fixture().step_delay(Duration::from_millis(2)).start().await.unwrap()
}

fn client(url: &str) -> Comfy {
    client_with(url, Arc::new(MemoryStore::default()))
}

fn client_with(url: &str, store: Arc<dyn Store>) -> Comfy {
    let backend = LocalComfyUi::builder(url)
        .max_reconnect_delay(Duration::from_millis(200))
        .retry_backoff(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let options = ClientOptions {
        poll_interval: Duration::from_millis(100),
        lost_after: Duration::from_millis(500),
        ..Default::default()
    };
    Comfy::builder(Arc::new(backend)).store(store).options(options).build().unwrap()
}

async fn connected(comfy: &Comfy) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !comfy.backend().events_connected() {
        assert!(tokio::time::Instant::now() < deadline, "socket never connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn basic(prefix: &str, color: u32) -> Workflow {
    Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 3, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    }))
    .unwrap()
}

/// A sampler-like node (a `steps` input) that reports progress and can be interrupted per step.
fn stepped(steps: u32) -> Workflow {
    Workflow::from_value(json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
              "latent_image": ["3", 0], "seed": 1, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "stepped"}}
    }))
    .unwrap()
}

async fn stepped_fake() -> FakeComfyUi {
    FakeComfyUi::builder()
        .object_info_fixture()
        .model_files("checkpoints", &["m.safetensors"])
        .step_delay(Duration::from_millis(5))
        .previews(true)
        .start()
        .await
        .unwrap()
}

async fn finished(job: &Job) -> JobResult {
    match job.wait(LONG).await.unwrap() {
        Waited::Finished(r) => r,
        Waited::StillRunning(j) => panic!("job {} still {:?}", j.id(), j.status()),
    }
}

#[tokio::test]
async fn every_output_of_every_node_becomes_an_asset() {
    let fake = fake().await;
    let comfy = client(&fake.url());
    connected(&comfy).await;
    let job = comfy.submit(JobRequest::new(basic("batch", 1))).await.unwrap();
    let r = finished(&job).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(r.outputs.len(), 6, "3 saved + 3 previews: {:#?}", r.outputs);
    let assets =
        comfy.assets(&AssetQuery { job_id: Some(job.id().clone()), ..Default::default() }).await.unwrap();
    assert_eq!(assets.len(), 6);
    let fetched = comfy.fetch_asset(&r.assets[0]).await.unwrap();
    assert_eq!((fetched.asset.width, fetched.asset.height), (Some(16), Some(8)));
    let file = fetched.asset.file.clone().unwrap();
    assert_eq!(
        fake.file(file.folder.as_str(), &file.subfolder, &file.filename).unwrap(),
        fetched.data.to_vec()
    );
    // Submitted with our client id and our prompt id.
    let sent = fake.received_prompts();
    assert_eq!(sent[0]["prompt_id"], json!(job.id().as_str()));
}

#[tokio::test]
async fn template_provenance_is_recorded_on_every_asset() {
    let fake = FakeComfyUi::builder()
        .object_info_fixture()
        .model_files("checkpoints", &["m.safetensors"])
        .start()
        .await
        .unwrap();
    let comfy = client(&fake.url());
    let library = comfy_core::template::TemplateLibrary::builtin();
    let template = library.get("generate_image").unwrap();
    let mut values = serde_json::Map::new();
    values.insert("prompt".into(), json!("a lighthouse"));
    values.insert("ckpt_name".into(), json!("m.safetensors"));
    let defaults = comfy_core::template::ParamDefaults::default();
    let rendered =
        template.render(&comfy_core::template::RenderRequest { values, defaults: &defaults }).unwrap();
    let seed = rendered.params["seed"].clone();
    let hash = rendered.workflow.canonical_hash();
    let job = comfy.submit(JobRequest::from_rendered(rendered)).await.unwrap();
    let r = finished(&job).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(r.assets.len(), 1);
    for id in &r.assets {
        let a = comfy.asset(id).await.unwrap();
        assert_eq!(a.provenance.template.as_deref(), Some("generate_image"));
        let params = a.provenance.params.as_ref().unwrap();
        assert_eq!(params["prompt"], "a lighthouse");
        assert_eq!(params["seed"], seed, "the drawn seed is recorded");
        assert_eq!(a.workflow_hash, hash);
        assert_eq!(a.job_id, *job.id());
        assert_eq!(a.node_id, "9");
    }
    let by_template = comfy
        .assets(&AssetQuery { template: Some("generate_image".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_template.len(), 1);
}

#[tokio::test]
async fn step_progress_previews_and_monotonic_fraction() {
    let fake = stepped_fake().await;
    let comfy = client(&fake.url());
    connected(&comfy).await;
    let job = comfy.submit(JobRequest::new(stepped(8))).await.unwrap();
    let mut events = job.subscribe();
    let (mut steps, mut previews, mut last) = (0, 0, 0.0f64);
    while let Some(e) = events.next().await {
        match e {
            JobEvent::Progress { value, max, .. } => {
                assert!(value <= max);
                steps += 1;
            }
            JobEvent::Preview { node_id, .. } => {
                assert_eq!(node_id.as_deref(), Some("4"), "previews carry their node (metadata format)");
                previews += 1;
            }
            _ => {}
        }
        if let JobStatus::Running(p) = job.status() {
            assert!(p.fraction + 1e-9 >= last, "fraction went back from {last} to {}", p.fraction);
            last = p.fraction;
        }
    }
    assert_eq!(job.status(), JobStatus::Succeeded);
    assert!(steps >= 8, "{steps} progress events");
    assert!(previews >= 1);
    // The newest frame stays readable after the job finished, numbered and placed in the run.
    let frame = job.latest_preview().expect("the last preview frame is kept");
    assert_eq!(frame.sequence, previews as u64, "one sequence number per frame");
    assert_eq!(frame.node_id.as_deref(), Some("4"));
    assert!(frame.mime == "image/jpeg" || frame.mime == "image/png", "{}", frame.mime);
    assert!(image::load_from_memory(&frame.data).is_ok(), "the frame is a decodable image");
    assert!(frame.step.is_some_and(|s| s >= 1) && frame.max_steps == Some(8), "{frame:?}");
    let again = comfy.job(job.id()).await.unwrap();
    assert_eq!(again.latest_preview(), Some(frame), "the client's own handle shares the live state");
}

#[tokio::test]
async fn finished_jobs_leave_memory_but_not_the_store() {
    let fake = fake().await;
    let backend = LocalComfyUi::builder(&fake.url()).build().unwrap();
    let options = ClientOptions { finished_jobs_in_memory: 2, ..Default::default() };
    let comfy = Comfy::builder(Arc::new(backend)).options(options).build().unwrap();
    connected(&comfy).await;
    let mut results = Vec::new();
    for i in 0..4 {
        let job = comfy.submit(JobRequest::new(basic(&format!("evict{i}"), i))).await.unwrap();
        results.push(finished(&job).await);
    }
    assert_eq!(comfy.jobs_in_memory(), 2, "only the newest finished jobs stay in memory");
    // The oldest two were dropped from memory; all four still answer, from the store.
    for r in &results {
        let job = comfy.job(&r.job_id).await.unwrap();
        assert_eq!(job.status(), JobStatus::Succeeded);
        assert_eq!(job.snapshot().assets, r.assets, "{}", r.job_id);
    }
    assert_eq!(comfy.jobs_in_memory(), 2, "looking up a finished job does not bring it back");
}

#[tokio::test]
async fn queue_positions_then_scoped_cancel() {
    let fake = stepped_fake().await;
    let ours = client(&fake.url());
    let theirs = client(&fake.url());
    connected(&ours).await;
    connected(&theirs).await;
    let running = ours.submit(JobRequest::new(stepped(400))).await.unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    while !matches!(running.status(), JobStatus::Running(_)) {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let other = theirs.submit(JobRequest::new(basic("other", 2))).await.unwrap();
    let pending = ours.submit(JobRequest::new(basic("pending", 3))).await.unwrap();
    // Positions arrive with the queue updates.
    let deadline = tokio::time::Instant::now() + LONG;
    while pending.status() != (JobStatus::Queued { position: Some(1) }) {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", pending.status());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(pending.cancel().await.unwrap(), CancelOutcome::RemovedFromQueue);
    assert_eq!(fake.queue_deletes(), vec![pending.id().0.clone()]);
    assert_eq!(running.cancel().await.unwrap(), CancelOutcome::Interrupted);
    // Only targeted interrupts were sent.
    let calls = fake.interrupt_calls();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|c| c.prompt_id.as_deref() == Some(running.id().as_str())), "{calls:?}");
    assert_eq!(finished(&other).await.status, JobStatus::Succeeded);
    assert_eq!(pending.status(), JobStatus::Cancelled);
}

#[tokio::test]
async fn node_failures_carry_comfyuis_details() {
    let fake = fake().await;
    fake.fail_node_class("ImageInvert", "RuntimeError", "boom at invert");
    let comfy = client(&fake.url());
    let r = finished(&comfy.submit(JobRequest::new(basic("fail", 4))).await.unwrap()).await;
    let JobStatus::Failed(f) = r.status else { panic!("{:?}", r.status) };
    assert_eq!(f.node_id.as_deref(), Some("2"));
    assert_eq!(f.class_type.as_deref(), Some("ImageInvert"));
    assert_eq!(f.exception_type.as_deref(), Some("RuntimeError"));
    assert!(f.message.contains("boom at invert"));
    assert!(!f.traceback.is_empty());
}

#[tokio::test]
async fn garbage_and_unknown_frames_do_not_disturb_jobs() {
    let fake = stepped_fake().await;
    let comfy = client(&fake.url());
    connected(&comfy).await;
    let job = comfy.submit(JobRequest::new(stepped(30))).await.unwrap();
    for _ in 0..20 {
        fake.send_raw_text("{\"type\": \"crystools.monitor\", \"data\": {\"cpu\": 3}}");
        fake.send_raw_text("this is not json");
        fake.send_raw_binary(&[0, 0, 0, 9, 1, 2, 3]);
        fake.send_raw_binary(&[1]);
        fake.send_raw_text(&format!(
            "{{\"type\": \"progress\", \"data\": {{\"prompt_id\": \"{}\", \"value\": \"x\"}}}}",
            job.id()
        ));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(finished(&job).await.status, JobStatus::Succeeded);
    assert!(comfy.backend().events_connected(), "the socket survived the garbage");
}

#[tokio::test]
async fn dropped_sockets_and_refused_sockets_lose_nothing() {
    let fake = stepped_fake().await;
    let comfy = client(&fake.url());
    connected(&comfy).await;
    let job = comfy.submit(JobRequest::new(stepped(60))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    fake.refuse_websockets(true);
    fake.drop_sockets();
    // The job finishes while no socket can be had: polling must see it.
    let r = finished(&job).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(r.outputs.len(), 1);
    fake.refuse_websockets(false);
    connected(&comfy).await;
    let second = comfy.submit(JobRequest::new(basic("after", 5))).await.unwrap();
    assert_eq!(finished(&second).await.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn slow_and_failing_routes_are_retried_within_bounds() {
    let fake = fake().await;
    let comfy = client(&fake.url());
    fake.fail_route_times("/history/*", 2, 502, "<html>bad gateway</html>");
    let r = finished(&comfy.submit(JobRequest::new(basic("retry", 6))).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded);

    // Submitting while the server answers 500: a typed error, nothing recorded.
    fake.fail_route("/prompt", 500, "500 Internal Server Error\n\nServer got itself in trouble");
    let e = comfy.submit(JobRequest::new(basic("down", 7))).await.unwrap_err();
    assert_eq!(e.code(), "backend_http_error");
    assert!(e.to_string().contains("Server got itself in trouble"));
    fake.clear_route_scripts();
    let jobs = comfy.jobs(&Default::default()).await.unwrap();
    assert_eq!(jobs.len(), 1, "the failed submit left no record");
}

#[tokio::test]
async fn unknown_job_ids_are_typed_errors() {
    let fake = fake().await;
    let comfy = client(&fake.url());
    let e = comfy.job(&JobId::from("no-such-job")).await.unwrap_err();
    assert_eq!(e.code(), "job_not_found");
    let e = comfy.backend().cancel(&JobId::from("no-such-job")).await.unwrap_err();
    assert_eq!(e.code(), "job_not_found");
    let e = comfy.asset(&comfy_core::store::AssetId("a_nope".into())).await.unwrap_err();
    assert_eq!(e.code(), "asset_not_found");
}

#[tokio::test]
async fn a_cached_rerun_yields_the_same_files() {
    let fake = fake().await;
    let comfy = client(&fake.url());
    let a = finished(&comfy.submit(JobRequest::new(basic("cache", 8))).await.unwrap()).await;
    let b = finished(&comfy.submit(JobRequest::new(basic("cache", 8))).await.unwrap()).await;
    let files = |r: &JobResult| {
        let mut f = r.outputs.iter().filter_map(|o| o.file().cloned()).collect::<Vec<_>>();
        f.sort_by(|x, y| x.filename.cmp(&y.filename));
        f
    };
    assert_eq!(b.status, JobStatus::Succeeded);
    assert_eq!(files(&a), files(&b));
    assert!(!files(&b).is_empty());
}

#[tokio::test]
async fn reattach_after_restart_finishes_unfinished_jobs() {
    let fake = stepped_fake().await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    fake.hold();
    let id = {
        let comfy = client_with(&fake.url(), store.clone());
        comfy.submit(JobRequest::new(stepped(5))).await.unwrap().id().clone()
    };
    fake.release();
    let comfy = client_with(&fake.url(), store.clone());
    let jobs = comfy.reattach().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id(), &id);
    let r = finished(&jobs[0]).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(store.get_job(&id).await.unwrap().unwrap().status, JobStatus::Succeeded);
    assert_eq!(
        store.list_assets(&AssetQuery { job_id: Some(id), ..Default::default() }).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_late_subscriber_first_learns_the_current_state() {
    let fake = fake().await;
    let comfy = client(&fake.url());
    let job = comfy.submit(JobRequest::new(basic("late", 9))).await.unwrap();
    finished(&job).await;
    let mut events = job.subscribe();
    assert_eq!(events.next().await, Some(JobEvent::Status(JobStatus::Succeeded)));
    assert_eq!(events.next().await, None, "a finished job's stream ends after its status");
    let Waited::Finished(r) = job.wait(Duration::from_millis(1)).await.unwrap() else { panic!() };
    assert_eq!(r.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn wait_hands_back_a_running_job() {
    let fake = stepped_fake().await;
    let comfy = client(&fake.url());
    let job = comfy.submit(JobRequest::new(stepped(200))).await.unwrap();
    match job.wait(Duration::from_millis(50)).await.unwrap() {
        Waited::StillRunning(j) => {
            assert_eq!(j.id(), job.id());
            assert!(!j.status().is_terminal());
            assert_eq!(finished(&j).await.status, JobStatus::Succeeded);
        }
        Waited::Finished(r) => panic!("finished too early: {r:?}"),
    }
}

#[tokio::test]
async fn many_concurrent_jobs_all_finish_with_their_own_outputs() {
    let fake = FakeComfyUi::builder().object_info_fixture().step_delay(Duration::ZERO).start().await.unwrap();
    let comfy = client(&fake.url());
    connected(&comfy).await;
    let jobs = futures::future::join_all(
        (0..60).map(|i| comfy.submit(JobRequest::new(basic(&format!("many{i}"), i)))),
    )
    .await;
    let jobs: Vec<Job> = jobs.into_iter().map(Result::unwrap).collect();
    for (i, job) in jobs.iter().enumerate() {
        let r = finished(job).await;
        assert_eq!(r.status, JobStatus::Succeeded);
        assert!(
            r.outputs
                .iter()
                .filter_map(|o| o.file())
                .all(|f| f.filename.starts_with(&format!("many{i}_"))
                    || f.filename.starts_with("ComfyUI_temp"))
        );
    }
}
