//! End-to-end: jobs, outputs, assets, cancel, errors, caching, socket faults and restarts,
//! against a real ComfyUI started by `scripts/test.sh` (built only with `--features e2e`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::{Backend, CancelOutcome, JobEvent, JobRequest, Upload};
use comfy_core::job::{JobStatus, MediaKind};
use comfy_core::store::{AssetQuery, SqliteStore, Store};
use comfy_core::{Comfy, Job, JobResult, Waited, Workflow};
use serde_json::json;
use support::proxy::TcpProxy;
use support::*;

const LONG: Duration = Duration::from_secs(120);

async fn finished(job: &Job) -> JobResult {
    match job.wait(LONG).await.unwrap() {
        Waited::Finished(r) => r,
        Waited::StillRunning(j) => panic!("job {} still running after {LONG:?}: {:?}", j.id(), j.status()),
    }
}

async fn wait_status(job: &Job, pred: impl Fn(&JobStatus) -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !pred(&job.status()) {
        assert!(tokio::time::Instant::now() < deadline, "{what}: job {} is {:?}", job.id(), job.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn model_free_job_reports_progress_and_every_output() {
    let comfy = client();
    // The event stream is what this test checks: submit once the socket is up (a fresh client
    // still connecting would be polled instead, and see fewer events).
    let deadline = tokio::time::Instant::now() + LONG;
    while !comfy.backend().events_connected() {
        assert!(tokio::time::Instant::now() < deadline, "the socket never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let prefix = unique("e2e/modelfree");
    let job = comfy.submit(JobRequest::new(model_free(&prefix, 48, 2, 0x123456))).await.unwrap();
    let mut events = job.subscribe();
    let mut seen = Vec::new();
    while let Some(e) = events.next().await {
        seen.push(e);
    }
    let Some(JobEvent::Status(first)) = seen.first() else {
        panic!("a subscriber first gets the status: {seen:?}")
    };
    // The job may have started before we subscribed; then the first status says so.
    assert!(
        matches!(first, JobStatus::Running(_)) || seen.iter().any(|e| matches!(e, JobEvent::Started)),
        "{seen:?}"
    );
    assert!(seen.iter().any(|e| matches!(e, JobEvent::Executing { .. })), "{seen:?}");
    assert!(seen.iter().any(|e| matches!(e, JobEvent::Outputs(_))), "{seen:?}");
    assert_eq!(seen.last(), Some(&JobEvent::Status(JobStatus::Succeeded)));

    let r = finished(&job).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    // Two saved images and two previews: every item of every node.
    let saved: Vec<_> = r.outputs.iter().filter(|o| o.node_id == "3").collect();
    let previews: Vec<_> = r.outputs.iter().filter(|o| o.node_id == "4").collect();
    assert_eq!((saved.len(), previews.len()), (2, 2), "{:#?}", r.outputs);
    assert_eq!(r.assets.len(), 4);
    let stored =
        comfy.assets(&AssetQuery { job_id: Some(job.id().clone()), ..Default::default() }).await.unwrap();
    assert_eq!(stored.len(), 4);
    let fetched = comfy.fetch_asset(&r.assets[0]).await.unwrap();
    assert_eq!((fetched.asset.width, fetched.asset.height), (Some(48), Some(32)));
    assert_eq!(fetched.asset.byte_size, Some(fetched.data.len() as u64));
    assert!(fetched.asset.sha256.as_ref().is_some_and(|h| h.len() == 64));
    let again = comfy.asset(&r.assets[0]).await.unwrap();
    assert_eq!(again.sha256, fetched.asset.sha256, "the hash is recorded in the store");
}

#[tokio::test]
async fn upload_scale_and_download_is_byte_exact() {
    let comfy = client();
    let mut png = Vec::new();
    let img = image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, 77]));
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let name = format!("{}.png", unique("e2e_upload"));
    let uploaded = comfy.backend().upload(Upload::file(name.clone(), png.clone())).await.unwrap();
    assert_eq!(uploaded.name, name);
    let prefix = unique("e2e/scaled");
    let wf = Workflow::from_value(json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": uploaded.input_value()}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "width": 64, "height": 48, "crop": "disabled"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}
    }))
    .unwrap();
    let r = finished(&comfy.submit(JobRequest::new(wf)).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    let out = r.outputs.iter().find(|o| o.node_id == "3").unwrap().file().unwrap().clone();
    let fetched = comfy.fetch_asset(&r.assets[0]).await.unwrap();
    let on_disk = std::fs::read(data_dir().join("output").join(&out.subfolder).join(&out.filename)).unwrap();
    assert_eq!(fetched.data.as_ref(), on_disk.as_slice(), "downloaded bytes equal what ComfyUI wrote");
    assert_eq!((fetched.asset.width, fetched.asset.height), (Some(64), Some(48)));

    // Uploads ComfyUI cannot use fail with its own details, at run time, on the right node.
    let bad = comfy
        .backend()
        .upload(Upload::file(format!("{}.png", unique("corrupt")), b"not a png".to_vec()))
        .await
        .unwrap();
    let wf = Workflow::from_value(json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": bad.input_value()}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    }))
    .unwrap();
    let r = finished(&comfy.submit(JobRequest::new(wf)).await.unwrap()).await;
    let JobStatus::Failed(f) = r.status else { panic!("expected a failure: {:?}", r.status) };
    assert_eq!(f.node_id.as_deref(), Some("1"));
    assert_eq!(f.class_type.as_deref(), Some("LoadImage"));
    assert!(f.exception_type.is_some() && !f.message.is_empty() && !f.traceback.is_empty(), "{f:?}");
    // Empty uploads never leave the client.
    let e = comfy.backend().upload(Upload::file("empty.png", Vec::<u8>::new())).await.unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
}

#[tokio::test]
async fn sampler_steps_and_previews_stream_live() {
    let comfy = client();
    let job = comfy.submit(JobRequest::new(txt2img(&unique("e2e/txt2img"), 6, 7))).await.unwrap();
    let mut events = job.subscribe();
    let (mut steps, mut previews, mut fractions) = (Vec::new(), 0, Vec::new());
    while let Some(e) = events.next().await {
        match e {
            JobEvent::Progress { value, max, .. } => steps.push((value, max)),
            JobEvent::Preview { mime, data, .. } => {
                previews += 1;
                assert!(mime.starts_with("image/") && !data.is_empty());
            }
            _ => {}
        }
        if let JobStatus::Running(p) = job.status() {
            fractions.push(p.fraction);
        }
    }
    assert_eq!(job.status(), JobStatus::Succeeded);
    assert!(steps.contains(&(6, 6)), "{steps:?}");
    assert!(previews >= 1, "previews are sent with --preview-method auto");
    assert!(fractions.windows(2).all(|w| w[0] <= w[1] + 1e-9), "progress never goes back: {fractions:?}");
}

#[tokio::test]
async fn cancel_is_scoped_to_one_job_and_spares_another_clients() {
    let ours = client();
    let theirs = client();
    // Long-running: thousands of sampler steps (interrupt lands at the next step).
    let running = ours.submit(JobRequest::new(txt2img(&unique("e2e/long"), 5000, 11))).await.unwrap();
    wait_status(&running, |s| matches!(s, JobStatus::Running(_)), "start").await;
    let other =
        theirs.submit(JobRequest::new(model_free(&unique("e2e/other"), 16, 1, 0xabcdef))).await.unwrap();
    let pending =
        ours.submit(JobRequest::new(model_free(&unique("e2e/pending"), 24, 1, 0x00ff00))).await.unwrap();
    wait_status(&pending, |s| matches!(s, JobStatus::Queued { .. }), "queued").await;

    assert_eq!(pending.cancel().await.unwrap(), CancelOutcome::RemovedFromQueue);
    assert_eq!(pending.status(), JobStatus::Cancelled);
    let q = ours.queue().await.unwrap();
    assert!(q.position(pending.id()).is_none());
    assert!(q.position(other.id()).is_some(), "the other client's job is still queued");
    assert!(q.is_running(running.id()), "the running job was not touched");

    assert_eq!(running.cancel().await.unwrap(), CancelOutcome::Interrupted);
    assert_eq!(running.status(), JobStatus::Cancelled);
    // The other client's job then runs to completion.
    assert_eq!(finished(&other).await.status, JobStatus::Succeeded);
    assert_eq!(pending.cancel().await.unwrap(), CancelOutcome::AlreadyFinished);
}

#[tokio::test]
async fn a_rejected_workflow_names_its_node() {
    let comfy = client();
    let wf = Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}
    }))
    .unwrap();
    let e = comfy.submit(JobRequest::new(wf)).await.unwrap_err();
    assert_eq!(e.code(), "prompt_rejected");
    let text = e.to_string();
    assert!(text.contains("node \"1\" (EmptyImage)"), "{text}");
    assert!(text.contains("width"), "{text}");
}

#[tokio::test]
async fn a_fully_cached_rerun_still_yields_its_outputs() {
    let comfy = client();
    let wf = model_free(&unique("e2e/cached"), 40, 1, 0x445566);
    let first = finished(&comfy.submit(JobRequest::new(wf.clone())).await.unwrap()).await;
    let second = finished(&comfy.submit(JobRequest::new(wf)).await.unwrap()).await;
    assert_eq!(second.status, JobStatus::Succeeded);
    // ComfyUI runs independent output nodes in no fixed order: compare as sets.
    let files = |r: &JobResult| {
        let mut f = r.outputs.iter().filter_map(|o| o.file().cloned()).collect::<Vec<_>>();
        f.sort_by(|a, b| (&a.subfolder, &a.filename).cmp(&(&b.subfolder, &b.filename)));
        f
    };
    assert!(!files(&second).is_empty());
    assert_eq!(files(&first), files(&second), "a cache hit reports the same files");
    assert_ne!(first.assets, second.assets, "but they are the second job's assets");
}

#[tokio::test]
async fn a_dropped_socket_is_reconciled_from_history() {
    let proxy = TcpProxy::start(&base_url()).await;
    let comfy = client_at(&proxy.url(), None);
    // Let the socket connect first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = comfy.submit(JobRequest::new(txt2img(&unique("e2e/drop"), 40, 3))).await.unwrap();
    wait_status(&job, |s| matches!(s, JobStatus::Running(_)), "start").await;
    // Cut everything and keep it cut until ComfyUI has finished: every event is lost.
    proxy.block_all(true);
    proxy.sever_all();
    let direct =
        comfy_core::backend::local::LocalComfyUi::builder(&base_url()).websocket(false).build().unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    while !direct.status(job.id()).await.unwrap().status.is_terminal() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!job.status().is_terminal(), "we could not have seen it finish");
    proxy.block_all(false);
    let r = finished(&job).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(r.outputs.len(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !comfy.backend().events_connected() {
        assert!(tokio::time::Instant::now() < deadline, "the socket must come back by itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And live events flow again on the reconnected socket.
    let next =
        comfy.submit(JobRequest::new(model_free(&unique("e2e/after"), 16, 1, 0x010203))).await.unwrap();
    let mut events = next.subscribe();
    let mut live = false;
    while let Some(e) = events.next().await {
        live |= matches!(e, JobEvent::Started | JobEvent::Executing { .. });
    }
    assert!(live, "events arrive over the new socket");
}

#[tokio::test]
async fn without_a_socket_jobs_are_polled_to_completion() {
    let proxy = TcpProxy::start(&base_url()).await;
    proxy.block_websockets(true);
    let comfy = client_at(&proxy.url(), None);
    let job = comfy.submit(JobRequest::new(model_free(&unique("e2e/poll"), 20, 1, 0x0f0f0f))).await.unwrap();
    let r = finished(&job).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert!(!comfy.backend().events_connected());
    assert_eq!(r.outputs.len(), 2);
}

#[tokio::test]
async fn a_restarted_client_reattaches_and_finishes_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("comfy.sqlite3");
    let id = {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
        let comfy = client_at(&base_url(), Some(store));
        let job = comfy.submit(JobRequest::new(txt2img(&unique("e2e/restart"), 60, 5))).await.unwrap();
        job.id().clone()
        // The client, its socket and its router are dropped here, mid-job.
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let comfy: Comfy = client_at(&base_url(), Some(store.clone()));
    let jobs = comfy.reattach().await.unwrap();
    let job = jobs.iter().find(|j| j.id() == &id).expect("the unfinished job is reattached");
    let r = finished(job).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    let assets =
        store.list_assets(&AssetQuery { job_id: Some(id.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(assets.len(), 1);
    assert_eq!(assets[0].media, MediaKind::Image);
    let record = store.get_job(&id).await.unwrap().unwrap();
    assert_eq!(record.status, JobStatus::Succeeded);
    assert!(comfy.fetch_asset(&assets[0].id).await.unwrap().data.starts_with(b"\x89PNG"));
}
