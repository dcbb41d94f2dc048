//! One behavioural suite, run against every `Backend` implementation through the `Comfy`
//! client: the local ComfyUI backend on the fake ComfyUI and on a real ComfyUI
//! (`backend_conformance_real.rs`), `ComfyCloud` on the fake Comfy Cloud and `RunComfy` on the
//! fake RunComfy (same execution engine, each its own protocol). Checks of live events
//! (progress, previews) apply to backends that push events. Each check submits, follows,
//! fetches, uploads, cancels and reattaches exactly as an application would.
#![allow(dead_code)] // each test target uses its own part of the suite

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::runcomfy::RunComfy;
use comfy_core::backend::{Backend, CancelOutcome, JobEvent, JobRequest, Upload};
use comfy_core::job::{JobId, JobStatus};
use comfy_core::store::{JobRecord, MemoryStore, Store};
use comfy_core::{ClientOptions, Comfy, Job, JobResult, Waited, Workflow};
use comfy_fake::{FakeComfyCloud, FakeComfyUi, FakeRunComfy};
use serde_json::json;

const LONG: Duration = Duration::from_secs(30);

/// A backend under test: how to make a client of it, and the fake engine behind it.
pub struct Target {
    name: &'static str,
    url: String,
    cloud_key: Option<String>,
    local: Option<FakeComfyUi>,
    cloud: Option<FakeComfyCloud>,
    runcomfy: Option<FakeRunComfy>,
    real: Option<RealComfyUi>,
}

/// A real ComfyUI (`COMFYUI_E2E_URL`, started by scripts/test.sh): the engine can't be
/// scripted, so holding the queue is a long job submitted ahead of the test's own, and a
/// failure is one ComfyUI raises by itself.
struct RealComfyUi {
    http: reqwest::Client,
    blocker: std::sync::Mutex<Option<String>>,
}

/// What a failing job must report.
struct ExpectedFailure {
    node_id: &'static str,
    class_type: &'static str,
    exception_type: &'static str,
    message: &'static str,
}

impl Target {
    pub async fn local() -> Target {
        let fake = engine(FakeComfyUi::builder()).start().await.unwrap();
        Target {
            name: "local",
            url: fake.url(),
            cloud_key: None,
            local: Some(fake),
            cloud: None,
            runcomfy: None,
            real: None,
        }
    }

    pub async fn cloud() -> Target {
        let fake =
            FakeComfyCloud::builder().api_key("comfyui-conformance").engine(engine).start().await.unwrap();
        Target {
            name: "cloud",
            url: fake.url(),
            cloud_key: Some(fake.api_key().to_owned()),
            local: None,
            cloud: Some(fake),
            runcomfy: None,
            real: None,
        }
    }

    pub async fn runcomfy() -> Target {
        let fake = FakeRunComfy::builder().token("rc-conformance").engine(engine).start().await.unwrap();
        Target {
            name: "runcomfy",
            url: fake.url(),
            cloud_key: None,
            local: None,
            cloud: None,
            runcomfy: Some(fake),
            real: None,
        }
    }

    /// The real ComfyUI the test script started; fails loudly without one.
    pub async fn real() -> Target {
        let url = std::env::var("COMFYUI_E2E_URL")
            .expect("COMFYUI_E2E_URL: start a real ComfyUI (scripts/real-comfyui/start.sh) first");
        Target {
            name: "real",
            url: url.trim_end_matches('/').to_owned(),
            cloud_key: None,
            local: None,
            cloud: None,
            runcomfy: None,
            real: Some(RealComfyUi { http: reqwest::Client::new(), blocker: Default::default() }),
        }
    }

    /// The checkpoint the engine has.
    fn checkpoint(&self) -> &'static str {
        if self.real.is_some() { "tiny_sd15.safetensors" } else { "m.safetensors" }
    }

    /// Keeps the engine from starting the next job until [`release`](Self::release).
    async fn hold(&self) {
        let Some(real) = &self.real else { return self.engine().hold() };
        let blocker = stepped(self.checkpoint(), 10_000, "conformance_blocker");
        let answer: serde_json::Value = real
            .http
            .post(format!("{}/prompt", self.url))
            .json(&json!({"prompt": blocker.to_value(), "client_id": "conformance-blocker"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id =
            answer["prompt_id"].as_str().unwrap_or_else(|| panic!("blocker refused: {answer}")).to_owned();
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let queue: serde_json::Value =
                real.http.get(format!("{}/queue", self.url)).send().await.unwrap().json().await.unwrap();
            let running =
                queue["queue_running"].as_array().into_iter().flatten().any(|item| item[1] == json!(id));
            if running {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the blocker never ran: {queue}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        *real.blocker.lock().unwrap() = Some(id);
    }

    /// Lets held jobs run.
    async fn release(&self) {
        let Some(real) = &self.real else { return self.engine().release() };
        let id = real.blocker.lock().unwrap().take().expect("release without hold");
        let status = real
            .http
            .post(format!("{}/interrupt", self.url))
            .json(&json!({"prompt_id": id}))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "interrupt: {status}");
    }

    /// The bytes of an output file as the engine wrote it.
    async fn output_file(&self, folder: &str, subfolder: &str, filename: &str) -> Option<Vec<u8>> {
        let Some(real) = &self.real else { return self.engine().file(folder, subfolder, filename) };
        let url = reqwest::Url::parse_with_params(
            &format!("{}/view", self.url),
            &[("filename", filename), ("subfolder", subfolder), ("type", folder)],
        )
        .unwrap();
        let response = real.http.get(url).send().await.unwrap();
        if !response.status().is_success() {
            return None;
        }
        Some(response.bytes().await.unwrap().to_vec())
    }

    /// A job that fails while running, and what the failure must say. The fakes fail a scripted
    /// node; a real ComfyUI refuses to save outside its output folder.
    fn failing(&self, prefix: &str) -> (Workflow, ExpectedFailure) {
        if self.real.is_some() {
            let mut wf = basic(prefix, 5).to_value();
            wf["3"]["inputs"]["filename_prefix"] = json!(format!("../{prefix}_escape"));
            let expected = ExpectedFailure {
                node_id: "3",
                class_type: "SaveImage",
                exception_type: "Exception",
                message: "outside the output folder",
            };
            return (Workflow::from_value(wf).unwrap(), expected);
        }
        self.engine().fail_node_class("ImageInvert", "RuntimeError", "boom at invert");
        let expected = ExpectedFailure {
            node_id: "2",
            class_type: "ImageInvert",
            exception_type: "RuntimeError",
            message: "boom at invert",
        };
        (basic(prefix, 5), expected)
    }

    /// Undoes [`failing`](Self::failing)'s scripting.
    fn clear_failures(&self) {
        if self.real.is_none() {
            self.engine().clear_node_scripts();
        }
    }

    fn engine(&self) -> &FakeComfyUi {
        match (&self.local, &self.cloud, &self.runcomfy) {
            (Some(l), _, _) => l,
            (_, Some(c), _) => c.engine(),
            (_, _, Some(r)) => r.engine(),
            _ => unreachable!("the real ComfyUI has no scriptable engine"),
        }
    }

    fn backend(&self) -> Arc<dyn Backend> {
        if let Some(rc) = &self.runcomfy {
            return Arc::new(
                RunComfy::builder(&self.url)
                    .token(rc.token())
                    .deployment(rc.deployment_id())
                    // The fake's CDN listens on loopback: allowed explicitly (refused by default).
                    .url_policy(
                        comfy_core::net::UrlPolicy::default().with_allowed_host(host_port(&rc.cdn_url())),
                    )
                    .poll_interval(Duration::from_millis(50))
                    .retry_backoff(Duration::from_millis(5))
                    .request_timeout(Duration::from_secs(5))
                    .build()
                    .unwrap(),
            );
        }
        match &self.cloud_key {
            None => Arc::new(
                LocalComfyUi::builder(&self.url)
                    .max_reconnect_delay(Duration::from_millis(200))
                    .retry_backoff(Duration::from_millis(5))
                    .request_timeout(Duration::from_secs(5))
                    .build()
                    .unwrap(),
            ),
            Some(key) => Arc::new(
                ComfyCloud::builder(&self.url)
                    .api_key(key)
                    .url_policy(cloud_storage_policy(self.cloud.as_ref()))
                    .poll_interval(Duration::from_millis(100))
                    .not_found_grace(Duration::from_secs(5))
                    .max_reconnect_delay(Duration::from_millis(200))
                    .retry_backoff(Duration::from_millis(5))
                    .request_timeout(Duration::from_secs(5))
                    .build()
                    .unwrap(),
            ),
        }
    }

    /// A new client (its own backend, socket and client id) over `store`.
    fn client(&self, store: Arc<dyn Store>) -> Comfy {
        let options = ClientOptions {
            poll_interval: Duration::from_millis(100),
            lost_after: Duration::from_millis(500),
            cancel_confirm_timeout: Duration::from_secs(10),
            ..Default::default()
        };
        Comfy::builder(self.backend()).store(store).options(options).build().unwrap()
    }
}

fn engine(b: comfy_fake::FakeComfyUiBuilder) -> comfy_fake::FakeComfyUiBuilder {
    b.model_files("checkpoints", &["m.safetensors"]).step_delay(Duration::from_millis(5)).previews(true)
}

fn basic(prefix: &str, color: u32) -> Workflow {
    Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 2, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}
    }))
    .unwrap()
}

fn stepped(checkpoint: &str, steps: u32, prefix: &str) -> Workflow {
    Workflow::from_value(json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": prefix, "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
              "latent_image": ["3", 0], "seed": 1, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": prefix}}
    }))
    .unwrap()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30]))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

async fn finished(job: &Job) -> JobResult {
    match job.wait(LONG).await.unwrap() {
        Waited::Finished(r) => r,
        Waited::StillRunning(j) => panic!("job {} still {:?}", j.id(), j.status()),
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for the event channel of a backend that has one.
async fn connected(comfy: &Comfy) {
    if comfy.backend().capabilities().events {
        until("the event channel", || comfy.backend().events_connected()).await;
    }
}

// ---- the checks ----

/// Submit, live progress (steps and previews, a fraction that never goes back), every output
/// as an asset whose bytes are the engine's file.
async fn submit_progress_outputs(t: &Target) {
    let comfy = t.client(Arc::new(MemoryStore::default()));
    connected(&comfy).await;
    t.hold().await;
    let job = comfy
        .submit(JobRequest::new(stepped(t.checkpoint(), 6, &format!("{}_progress", t.name))))
        .await
        .unwrap();
    let mut events = job.subscribe();
    t.release().await;
    let (mut steps, mut previews, mut last) = (0, 0, 0.0f64);
    while let Some(e) = events.next().await {
        match e {
            JobEvent::Progress { value, max, .. } => {
                assert!(value <= max);
                steps += 1;
            }
            JobEvent::Preview { .. } => previews += 1,
            _ => {}
        }
        if let JobStatus::Running(p) = job.status() {
            assert!(p.fraction + 1e-9 >= last, "{}: fraction went back", t.name);
            last = p.fraction;
        }
    }
    let r = finished(&job).await;
    assert_eq!(r.status, JobStatus::Succeeded, "{}", t.name);
    if comfy.backend().capabilities().events {
        assert!(steps >= 6, "{}: {steps} progress events", t.name);
        assert!(previews >= 1, "{}: no previews", t.name);
    }
    assert_eq!(r.assets.len(), 1, "{}: {:?}", t.name, r.outputs);
    let fetched = comfy.fetch_asset(&r.assets[0]).await.unwrap();
    // A file on the backend, or a hosted URL whose bytes are the engine's output file.
    let (folder, subfolder, filename) = match (&fetched.asset.file, &fetched.asset.url) {
        (Some(f), _) => (f.folder.as_str().to_owned(), f.subfolder.clone(), f.filename.clone()),
        (None, Some(url)) => ("output".to_owned(), String::new(), url.rsplit('/').next().unwrap().to_owned()),
        (None, None) => panic!("{}: an output that is neither a file nor a URL", t.name),
    };
    assert_eq!(
        t.output_file(&folder, &subfolder, &filename).await,
        Some(fetched.data.to_vec()),
        "{}",
        t.name
    );
    assert_eq!(
        (fetched.asset.width, fetched.asset.height),
        (Some(64), Some(64)),
        "an empty latent of 64 px decodes to 64 px"
    );
    match comfy.asset_url(&r.assets[0]).await {
        Ok(url) => assert!(url.expires_at.is_some(), "{}: {url:?}", t.name),
        Err(e) => assert_eq!(e.code(), "not_supported", "{}: {e}", t.name),
    }
}

/// An uploaded image is usable as an input at once.
async fn upload_then_use(t: &Target) {
    let comfy = t.client(Arc::new(MemoryStore::default()));
    let name = format!("{}_upload.png", t.name);
    let uploaded = comfy.upload(Upload::file(name.clone(), png(12, 7))).await.unwrap();
    let wf = Workflow::from_value(json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": uploaded.input_value()}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": format!("{}_up", t.name)}}
    }))
    .unwrap();
    let r = finished(&comfy.submit(JobRequest::new(wf)).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded, "{}", t.name);
    let fetched = comfy.fetch_asset(&r.assets[0]).await.unwrap();
    assert_eq!((fetched.asset.width, fetched.asset.height), (Some(12), Some(7)), "{}", t.name);
}

/// A pending job leaves the queue; a running one is stopped; neither touches other jobs.
async fn cancel_pending_and_running(t: &Target) {
    let comfy = t.client(Arc::new(MemoryStore::default()));
    connected(&comfy).await;
    let running = comfy
        .submit(JobRequest::new(stepped(t.checkpoint(), 400, &format!("{}_long", t.name))))
        .await
        .unwrap();
    until("the long job to run", || matches!(running.status(), JobStatus::Running(_))).await;
    let pending = comfy.submit(JobRequest::new(basic(&format!("{}_pending", t.name), 3))).await.unwrap();
    let other = comfy.submit(JobRequest::new(basic(&format!("{}_other", t.name), 4))).await.unwrap();
    assert_eq!(pending.cancel().await.unwrap(), CancelOutcome::RemovedFromQueue, "{}", t.name);
    assert_eq!(pending.status(), JobStatus::Cancelled);
    assert_eq!(running.cancel().await.unwrap(), CancelOutcome::Interrupted, "{}", t.name);
    assert_eq!(finished(&running).await.status, JobStatus::Cancelled);
    assert_eq!(finished(&other).await.status, JobStatus::Succeeded, "{}: the other job ran", t.name);
    assert_eq!(pending.cancel().await.unwrap(), CancelOutcome::AlreadyFinished);
}

/// A node failure carries the node, its class, the exception and the traceback.
async fn failure_with_node_details(t: &Target) {
    let comfy = t.client(Arc::new(MemoryStore::default()));
    let (workflow, expected) = t.failing(&format!("{}_fail", t.name));
    let r = finished(&comfy.submit(JobRequest::new(workflow)).await.unwrap()).await;
    t.clear_failures();
    let JobStatus::Failed(f) = r.status else { panic!("{}: {:?}", t.name, r.status) };
    assert_eq!(f.node_id.as_deref(), Some(expected.node_id), "{}", t.name);
    assert_eq!(f.class_type.as_deref(), Some(expected.class_type));
    assert_eq!(f.exception_type.as_deref(), Some(expected.exception_type));
    assert!(f.message.contains(expected.message), "{}: {}", t.name, f.message);
    assert!(!f.traceback.is_empty());
}

/// A new client over the same store picks up an unfinished job and finishes it.
async fn reattach(t: &Target) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    t.hold().await;
    let id = {
        let comfy = t.client(store.clone());
        comfy
            .submit(JobRequest::new(stepped(t.checkpoint(), 5, &format!("{}_reattach", t.name))))
            .await
            .unwrap()
            .id()
            .clone()
    };
    t.release().await;
    let comfy = t.client(store.clone());
    let jobs = comfy.reattach().await.unwrap();
    assert_eq!(jobs.len(), 1, "{}", t.name);
    assert_eq!(jobs[0].id(), &id);
    let r = finished(&jobs[0]).await;
    assert_eq!(r.status, JobStatus::Succeeded, "{}", t.name);
    assert_eq!(store.get_job(&id).await.unwrap().unwrap().status, JobStatus::Succeeded);
    assert_eq!(r.assets.len(), 1);
}

/// A job recorded by another backend is reported as recorded, never reconciled or cancelled here.
async fn jobs_belong_to_their_backend(t: &Target) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let record = JobRecord {
        id: JobId::from("ran-elsewhere"),
        backend: "local:http://elsewhere:8188".into(),
        handle: None,
        request: json!({}),
        workflow_hash: String::new(),
        provenance: Default::default(),
        status: JobStatus::Running(Default::default()),
        outputs: Vec::new(),
        created_at: 1,
        updated_at: 1,
    };
    store.put_job(&record).await.unwrap();
    let comfy = t.client(store.clone());
    let job = comfy.job(&record.id).await.unwrap();
    assert!(matches!(job.status(), JobStatus::Running(_)), "{}", t.name);
    assert_eq!(comfy.jobs_in_memory(), 0, "{}: not tracked here", t.name);
    let e = job.cancel().await.unwrap_err();
    assert_eq!(e.code(), "invalid_argument", "{}: {e}", t.name);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(store.get_job(&record.id).await.unwrap().unwrap(), record, "{}: left as recorded", t.name);
}

/// Every check, in order.
pub async fn conforms(t: Target) {
    submit_progress_outputs(&t).await;
    upload_then_use(&t).await;
    cancel_pending_and_running(&t).await;
    failure_with_node_details(&t).await;
    reattach(&t).await;
    jobs_belong_to_their_backend(&t).await;
}

/// `host:port` of a fake's second listener URL (`http://127.0.0.1:PORT`).
fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// The fake Cloud's storage listener (loopback) allowed explicitly; a real Cloud's storage is
/// public and needs nothing.
fn cloud_storage_policy(fake: Option<&FakeComfyCloud>) -> comfy_core::net::UrlPolicy {
    match fake {
        Some(f) => comfy_core::net::UrlPolicy::default().with_allowed_host(host_port(&f.storage_url())),
        None => comfy_core::net::UrlPolicy::default(),
    }
}
