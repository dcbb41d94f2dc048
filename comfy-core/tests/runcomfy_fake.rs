//! The RunComfy backend against the fake RunComfy: what only RunComfy has — deployments,
//! node-keyed overrides checked before billing, polling with RunComfy's vocabulary (a failure
//! hidden behind `completed`, both spellings of cancelled), every output channel as a hosted
//! URL with its 7-day expiry, downloads that never carry the token, inputs as data URIs or
//! URLs, both cancel shapes, the instance proxy, queue versions.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::runcomfy::{
    DeploymentSpec, DeploymentUpdate, QueueVersion, REFERENCE_FOLDER, RequestSpec, RunComfy,
};
use comfy_core::backend::{Backend, CancelOutcome, JobRequest, Upload};
use comfy_core::job::{JobStatus, MediaKind, OutputItem};
use comfy_core::net::UrlPolicy;
use comfy_core::store::{MemoryStore, now_millis};
use comfy_core::{ClientOptions, Comfy, Job, JobResult, Waited, Workflow};
use comfy_fake::FakeRunComfy;
use comfy_fake::runcomfy::{CancelShape, ErrorShape};
use serde_json::{Map, Value, json};

const LONG: Duration = Duration::from_secs(30);
const TOKEN: &str = "rc-test-token";
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

async fn fake() -> FakeRunComfy {
    FakeRunComfy::builder()
        .token(TOKEN)
        .token("rc-someone-else")
        .engine(|e| e.model_files("checkpoints", &["m.safetensors"]).step_delay(Duration::from_millis(5)))
        .start()
        .await
        .unwrap()
}

/// The fake's CDN and `object_info_url` host listen on loopback, which the default URL policy
/// refuses: these tests allow that one host explicitly.
fn fake_cdn(fake: &FakeRunComfy) -> UrlPolicy {
    UrlPolicy::default().with_allowed_host(fake.cdn_url().trim_start_matches("http://"))
}

fn backend(fake: &FakeRunComfy, version: QueueVersion) -> RunComfy {
    RunComfy::builder(&fake.url())
        .token(TOKEN)
        .url_policy(fake_cdn(fake))
        .deployment(fake.deployment_id())
        .queue_version(version)
        .poll_interval(Duration::from_millis(50))
        .retry_backoff(Duration::from_millis(5))
        .build()
        .unwrap()
}

fn client(backend: RunComfy) -> Comfy {
    let options = ClientOptions {
        poll_interval: Duration::from_millis(50),
        lost_after: Duration::from_millis(500),
        cancel_confirm_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    Comfy::builder(Arc::new(backend))
        .store(Arc::new(MemoryStore::default()))
        .options(options)
        .build()
        .unwrap()
}

async fn finished(job: &Job) -> JobResult {
    match job.wait(LONG).await.unwrap() {
        Waited::Finished(r) => r,
        Waited::StillRunning(j) => panic!("job {} still {:?}", j.id(), j.status()),
    }
}

fn workflow(value: Value) -> Workflow {
    Workflow::from_value(value).unwrap()
}

fn image(prefix: &str, color: u32) -> Workflow {
    workflow(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}
    }))
}

fn stepped(steps: u32, prefix: &str) -> Workflow {
    workflow(json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": prefix, "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
              "latent_image": ["3", 0], "seed": 1, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": prefix}}
    }))
}

fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn every_output_channel_is_a_hosted_url_and_the_cdn_never_sees_the_token() {
    let fake = fake().await;
    let comfy = client(backend(&fake, QueueVersion::V1));
    let wf = workflow(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 2, "color": 7}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "rc_img"}},
        "3": {"class_type": "EmptyAudio", "inputs": {"duration": 0.5, "sample_rate": 8000, "channels": 1}},
        "4": {"class_type": "SaveAudio", "inputs": {"audio": ["3", 0], "filename_prefix": "rc_audio"}},
        "5": {"class_type": "PrimitiveString", "inputs": {"value": "hello runcomfy"}},
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
        "7": {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["1", 0], "filename_prefix": "rc_anim",
              "fps": 6.0, "lossless": true, "quality": 80, "method": "default"}}
    }));
    let before = now_millis();
    let r = finished(&comfy.submit(JobRequest::new(wf)).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    let urls: Vec<_> = r
        .outputs
        .iter()
        .filter_map(|o| match &o.item {
            OutputItem::Url { url, media, expires_at, .. } => {
                Some((o.node_id.clone(), url.clone(), *media, *expires_at))
            }
            _ => None,
        })
        .collect();
    assert_eq!(urls.iter().filter(|u| u.0 == "2").count(), 2, "both images: {urls:?}");
    assert!(urls.iter().any(|u| u.0 == "4" && u.2 == MediaKind::Audio), "{urls:?}");
    assert!(urls.iter().any(|u| u.0 == "7"), "{urls:?}");
    for (_, url, _, expires) in &urls {
        assert!(url.starts_with(&fake.cdn_url()), "{url}");
        let expires = expires.expect("every hosted URL has an expiry");
        assert!(
            expires >= before + WEEK_MS - 60_000 && expires <= now_millis() + WEEK_MS + 60_000,
            "{expires}"
        );
    }
    assert!(
        r.outputs.iter().any(|o| o.item == OutputItem::Text { text: "hello runcomfy".into() }),
        "{:?}",
        r.outputs
    );
    for id in &r.assets {
        let asset = comfy.asset(id).await.unwrap();
        if let Some(url) = asset.url {
            let fetched = comfy.fetch_asset(id).await.unwrap();
            assert!(!fetched.data.is_empty());
            assert_eq!(comfy.asset_url(id).await.unwrap().url, url);
        }
    }
    let cdn = fake.cdn_requests();
    assert!(cdn.iter().filter(|c| c.path.starts_with("/output/")).count() >= 4, "{cdn:?}");
    assert!(cdn.iter().any(|c| c.path.starts_with("/object_info/")) || cdn.iter().all(|c| !c.refused));
    for c in &cdn {
        assert!(
            !c.refused && !c.headers.iter().any(|h| h == "authorization"),
            "the token reached the CDN: {c:?}"
        );
    }
}

#[tokio::test]
async fn uploads_and_previous_outputs_become_inputs_without_megabytes_in_the_reference() {
    let fake = fake().await;
    let comfy = client(backend(&fake, QueueVersion::V2));
    // First an output...
    let first = finished(&comfy.submit(JobRequest::new(image("rc_first", 11))).await.unwrap()).await;
    let reused = comfy.reuse_output(&first.assets[0], None, 1 << 20).await.unwrap();
    let reference = reused.uploaded.input_value();
    assert!(reference.starts_with(REFERENCE_FOLDER) && reference.len() < 80, "{reference}");
    // ...chained into the next request: RunComfy gets the hosted URL, not bytes.
    let chained = workflow(json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": reference}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "rc_chained"}}
    }));
    let r = finished(&comfy.submit(JobRequest::new(chained)).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded, "{:?}", r.status);
    let sent = fake.inference_bodies().last().cloned().unwrap();
    let value = sent.pointer("/workflow_api_json/1/inputs/image").and_then(Value::as_str).unwrap();
    assert!(value.starts_with(&fake.cdn_url()), "the previous output goes as its URL: {value}");
    let fetched = comfy.fetch_asset(&r.assets[0]).await.unwrap();
    assert_eq!((fetched.asset.width, fetched.asset.height), (Some(16), Some(8)));
    // An upload goes as a data URI; above the limit it is refused with a clear error.
    let mut png = Vec::new();
    image::RgbImage::from_pixel(5, 3, image::Rgb([1, 2, 3]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let up = comfy.upload(Upload::file("in.png", png)).await.unwrap();
    let wf = workflow(json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": up.input_value()}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "rc_up"}}
    }));
    let r = finished(&comfy.submit(JobRequest::new(wf)).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded, "{:?}", r.status);
    let sent = fake.inference_bodies().last().cloned().unwrap();
    assert!(
        sent.pointer("/workflow_api_json/1/inputs/image")
            .and_then(Value::as_str)
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    let small = RunComfy::builder(&fake.url())
        .token(TOKEN)
        .deployment(fake.deployment_id())
        .max_inline_bytes(10)
        .build()
        .unwrap();
    let e = small.upload(Upload::file("big.png", vec![1u8; 11])).await.unwrap_err();
    assert_eq!(e.code(), "too_large");
    assert!(e.to_string().contains("public URL"), "{e}");
}

#[tokio::test]
async fn overrides_are_checked_before_anything_is_billed() {
    let fake = fake().await;
    let rc = backend(&fake, QueueVersion::V1);
    let spec = RequestSpec {
        overrides: Some(map(json!({"Canvas.width": 24, "1": {"inputs": {"color": 9}}}))),
        ..Default::default()
    };
    let handle = rc.submit_request(&spec).await.unwrap();
    let sent = fake.inference_bodies().pop().unwrap();
    assert_eq!(sent["overrides"], json!({"1": {"inputs": {"width": 24, "color": 9}}}));
    let status = loop {
        let s = rc.request_status(None, &handle.request_id).await.unwrap();
        if s.finished {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.status, "completed");
    assert!(status.instance_id.is_some());
    let result = rc.request_result(None, &handle.request_id).await.unwrap();
    assert_eq!(result.status, "succeeded");
    assert_eq!(result.output_urls.len(), 1);
    assert_eq!(result.output_urls[0].channel, "images");
    // Unknown input (a typo), unknown node, a bad value: refused locally, nothing sent.
    let count = fake.inference_bodies().len();
    for overrides in
        [json!({"Canvas.widht": 3}), json!({"Canvass.width": 3}), json!({"1": {"inputs": {"width": "wide"}}})]
    {
        let spec = RequestSpec { overrides: Some(map(overrides.clone())), ..Default::default() };
        let e = rc.submit_request(&spec).await.unwrap_err();
        assert!(matches!(e.code(), "invalid_override" | "node_not_found"), "{overrides}: {e}");
    }
    let spec = RequestSpec { overrides: Some(map(json!({"Canvas.widht": 3}))), ..Default::default() };
    assert!(rc.submit_request(&spec).await.unwrap_err().to_string().contains("width"));
    assert_eq!(fake.inference_bodies().len(), count, "nothing was billed");
    // Without a node schema, the workflow's own inputs are still checked.
    fake.set_object_info_url(fake.deployment_id(), false);
    let spec =
        RequestSpec { overrides: Some(map(json!({"Save.filename_prefx": "x"}))), ..Default::default() };
    assert_eq!(rc.submit_request(&spec).await.unwrap_err().code(), "invalid_override");
    // Both modes at once are refused; the server's 422001 keeps its detail.
    let both = RequestSpec {
        overrides: Some(map(json!({"1": {"inputs": {"width": 2}}}))),
        workflow_api_json: Some(json!({})),
        ..Default::default()
    };
    assert_eq!(rc.submit_request(&both).await.unwrap_err().code(), "invalid_argument");
    // Webhooks go as query parameters; extra_data is passed through.
    let spec = RequestSpec {
        overrides: Some(Map::new()),
        extra_data: Some(map(json!({"api_key_comfy_org": "comfyui-partner"}))),
        webhook_url: Some("https://hooks.example/rc".into()),
        webhook_intermediate_status: Some(true),
        ..Default::default()
    };
    rc.submit_request(&spec).await.unwrap();
    let q = fake.inference_queries().pop().unwrap();
    assert_eq!(q, "webhook=https%3A%2F%2Fhooks.example%2Frc&webhook_intermediate_status=true");
    let sent = fake.inference_bodies().pop().unwrap();
    assert_eq!(
        (sent["overrides"].clone(), sent["extra_data"]["api_key_comfy_org"].clone()),
        (json!({}), json!("comfyui-partner"))
    );
}

#[tokio::test]
async fn failures_hidden_behind_completed_carry_the_best_message_in_both_shapes() {
    let fake = fake().await;
    let comfy = client(backend(&fake, QueueVersion::V1));
    fake.engine().fail_node_class("ImageInvert", "RuntimeError", "boom at invert");
    let r = finished(&comfy.submit(JobRequest::new(image("rc_fail_obj", 1))).await.unwrap()).await;
    let JobStatus::Failed(f) = r.status else { panic!("{:?}", r.status) };
    assert_eq!((f.node_id.as_deref(), f.exception_type.as_deref()), (Some("2"), Some("RuntimeError")));
    assert!(f.message.contains("boom at invert"));
    fake.set_error_shape(ErrorShape::Array);
    fake.set_failed_on_status(true);
    let r = finished(&comfy.submit(JobRequest::new(image("rc_fail_arr", 2))).await.unwrap()).await;
    let JobStatus::Failed(f) = r.status else { panic!("{:?}", r.status) };
    assert!(f.message.contains("boom at invert") && f.message.contains("500"), "{}", f.message);
    assert!(!f.traceback.is_empty());
}

#[tokio::test]
async fn cancel_in_every_outcome_and_both_shapes() {
    let fake = fake().await;
    let comfy = client(backend(&fake, QueueVersion::V1));
    // Documented shape: a running request is cancelled, a queued one removed.
    let running = comfy.submit(JobRequest::new(stepped(400, "rc_long"))).await.unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    while !matches!(running.status(), JobStatus::Running(_)) {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let queued = comfy.submit(JobRequest::new(image("rc_queued", 3))).await.unwrap();
    let q = comfy.queue().await.unwrap();
    assert_eq!(q.running.len(), 1);
    assert_eq!(q.position(queued.id()), Some(0), "{q:?}");
    assert_eq!(queued.cancel().await.unwrap(), CancelOutcome::RemovedFromQueue);
    assert_eq!(running.cancel().await.unwrap(), CancelOutcome::Interrupted);
    assert_eq!(finished(&running).await.status, JobStatus::Cancelled);
    // Finished: nothing to cancel.
    assert_eq!(running.cancel().await.unwrap(), CancelOutcome::AlreadyFinished);
    let rc = comfy.runcomfy().unwrap();
    assert_eq!(rc.cancel_request(None, running.id().as_str()).await.unwrap().outcome, "not_cancellable");
    // The earlier shape: only requested, then polled to the end (spelled `canceled`).
    fake.set_cancel_shape(CancelShape::Requested);
    fake.set_canceled_spelling(true);
    let job = comfy.submit(JobRequest::new(stepped(400, "rc_long2"))).await.unwrap();
    while !matches!(job.status(), JobStatus::Running(_)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The backend reports what RunComfy said...
    assert_eq!(comfy.backend().cancel(job.id()).await.unwrap(), CancelOutcome::CancelRequested);
    assert_eq!(finished(&job).await.status, JobStatus::Cancelled);
    // ...and the client polls a requested cancel to its end.
    let polled = comfy.submit(JobRequest::new(stepped(400, "rc_long3"))).await.unwrap();
    while !matches!(polled.status(), JobStatus::Running(_)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(polled.cancel().await.unwrap(), CancelOutcome::Interrupted);
    assert_eq!(polled.status(), JobStatus::Cancelled);
    let answer = rc.cancel_request(None, job.id().as_str()).await.unwrap();
    assert_eq!(
        (answer.outcome, answer.answer["status"].as_str()),
        ("not_cancellable", Some("not_cancellable"))
    );
}

#[tokio::test]
async fn deployments_crud_with_the_checks_runcomfy_makes() {
    let fake = fake().await;
    let rc = backend(&fake, QueueVersion::V1);
    let list = rc.list_deployments(&[], false, false).await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].payload.is_none());
    let d = rc.get_deployment(None, true, true).await.unwrap();
    let summary = d.payload_summary().unwrap();
    assert!(summary.has_object_info_url);
    assert!(summary.nodes.iter().any(|n| n.title.as_deref() == Some("Canvas")));
    assert!(d.readme.is_some());
    let spec: DeploymentSpec =
        serde_json::from_value(json!({"name": "mine", "workflow_id": "w-1", "workflow_version": "v2"}))
            .unwrap();
    let bad = DeploymentSpec { hardware: "A100".into(), ..spec.clone() };
    assert_eq!(rc.create_deployment(&bad).await.unwrap_err().code(), "invalid_argument");
    let created = rc.create_deployment(&spec).await.unwrap();
    assert_eq!(
        (created.hardware.clone(), created.status.as_deref()),
        (vec!["AMPERE_48".to_owned()], Some("standby"))
    );
    let only = rc.list_deployments(std::slice::from_ref(&created.id), false, false).await.unwrap();
    assert_eq!(only.len(), 1);
    // PATCH resends the current name (RunComfy refuses a PATCH without it).
    let updated = rc
        .update_deployment(
            Some(&created.id),
            &DeploymentUpdate { max_instances: Some(3), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!((updated.name.as_deref(), updated.max_instances), (Some("mine"), Some(3)));
    rc.delete_deployment(&created.id).await.unwrap();
    let spec = RequestSpec {
        deployment_id: Some(created.id.clone()),
        workflow_api_json: Some(image("x", 1).to_value()),
        ..Default::default()
    };
    let e = rc.submit_request(&spec).await.unwrap_err();
    assert!(e.to_string().contains("DeletedDeployment"), "{e}");
    // Another account's deployment, a bad token.
    let other = RunComfy::builder(&fake.url()).token("rc-someone-else").build().unwrap();
    assert_eq!(
        other.get_deployment(Some(fake.deployment_id()), false, false).await.unwrap_err().code(),
        "backend_http_error"
    );
    let bad = RunComfy::builder(&fake.url()).token("wrong").build().unwrap();
    assert_eq!(bad.list_deployments(&[], false, false).await.unwrap_err().code(), "unauthorized");
    assert_eq!(bad.identity().await.auth, comfy_core::backend::AuthState::Rejected);
    assert_eq!(rc.billing().await.unwrap().balance_usd, Some(12.5));
}

#[tokio::test]
async fn the_instance_proxy_reaches_the_running_comfyui() {
    let fake = fake().await;
    fake.set_object_info_url(fake.deployment_id(), false);
    let comfy = client(backend(&fake, QueueVersion::V2));
    let rc = comfy.runcomfy().unwrap();
    // No schema URL, no instance yet: the catalogue is not available, and says why.
    let e = comfy.backend().catalog(true).await.unwrap_err();
    assert_eq!(e.code(), "not_supported");
    let r = finished(&comfy.submit(JobRequest::new(image("rc_proxy", 4))).await.unwrap()).await;
    let status = rc.request_status(None, r.job_id.as_str()).await.unwrap();
    let instance = status.instance_id.unwrap();
    assert_eq!(
        rc.instance_proxy(None, &instance, "/api/free", Some(&json!({"unload_models": true}))).await.unwrap(),
        Value::Null
    );
    let info = rc.instance_proxy(None, &instance, "object_info", None).await.unwrap();
    assert!(info.get("KSampler").is_some());
    // Now the catalogue comes from the instance.
    assert!(comfy.backend().catalog(true).await.unwrap().node("KSampler").is_some());
    assert!(rc.instance_proxy(None, "inst-gone", "object_info", None).await.is_err());
}

#[tokio::test]
async fn a_submit_is_never_retried_reads_are_and_http_200_errors_are_errors() {
    let fake = fake().await;
    let rc = backend(&fake, QueueVersion::V2);
    let inference = |calls: &[String]| calls.iter().filter(|c| c.ends_with("/inference")).count();
    // A 500 on the submit: it may have reached RunComfy, so it is not sent again.
    fake.fail_next("/inference", 500, 1);
    let spec = RequestSpec { overrides: Some(Map::new()), ..Default::default() };
    let e = rc.submit_request(&spec).await.unwrap_err();
    assert_eq!(e.code(), "backend_http_error", "{e}");
    assert_eq!(inference(&fake.calls()), 1, "billable submits are never retried");
    let comfy = client(backend(&fake, QueueVersion::V2));
    fake.fail_next("/inference", 503, 1);
    assert!(comfy.submit(JobRequest::new(image("rc_no_retry", 5))).await.is_err());
    assert_eq!(inference(&fake.calls()), 2);
    // A failed status read is retried.
    let handle = rc.submit_request(&spec).await.unwrap();
    fake.fail_next("/status", 500, 2);
    let status = rc.request_status(None, &handle.request_id).await.unwrap();
    assert_eq!(status.request_id, handle.request_id);
    let reads =
        fake.calls().iter().filter(|c| c.contains(&handle.request_id) && c.ends_with("/status")).count();
    assert_eq!(reads, 3, "two failures, then the answer");
    // A disabled deployment answers HTTP 200 with an error_code: still an error, with its message.
    rc.update_deployment(None, &DeploymentUpdate { is_enabled: Some(false), ..Default::default() })
        .await
        .unwrap();
    let e = rc.submit_request(&spec).await.unwrap_err();
    assert!(e.to_string().contains("DisabledDeployment"), "{e}");
}

#[tokio::test]
async fn keep_outputs_copies_hosted_outputs_without_the_token() {
    let fake = fake().await;
    let kept = tempfile::tempdir().unwrap();
    let options = ClientOptions {
        poll_interval: Duration::from_millis(50),
        keep_outputs: Some(kept.path().to_path_buf()),
        ..Default::default()
    };
    let comfy = Comfy::builder(Arc::new(backend(&fake, QueueVersion::V1)))
        .store(Arc::new(MemoryStore::default()))
        .options(options)
        .build()
        .unwrap();
    let r = finished(&comfy.submit(JobRequest::new(image("rc_kept", 6))).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    let copy = kept.path().join(r.assets[0].as_str());
    let deadline = tokio::time::Instant::now() + LONG;
    while !copy.exists() {
        assert!(tokio::time::Instant::now() < deadline, "no copy at {}", copy.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(&std::fs::read(&copy).unwrap()[..4], b"\x89PNG");
    assert!(fake.cdn_requests().iter().all(|c| !c.refused), "{:?}", fake.cdn_requests());
}

#[tokio::test]
async fn a_submitted_request_is_a_job_on_any_deployment_and_survives_a_restart() {
    use comfy_core::store::{SqliteStore, Store};
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.sqlite");
    let open = |store: Arc<dyn Store>| {
        Comfy::builder(Arc::new(backend(&fake, QueueVersion::V2)))
            .store(store)
            .options(ClientOptions { poll_interval: Duration::from_millis(50), ..Default::default() })
            .build()
            .unwrap()
    };
    let comfy = open(Arc::new(SqliteStore::open(&path).unwrap()));
    // Another deployment than the configured one.
    let spec: DeploymentSpec =
        serde_json::from_value(json!({"name": "second", "workflow_id": "w-2", "workflow_version": "v1"}))
            .unwrap();
    let other = comfy.runcomfy().unwrap().create_deployment(&spec).await.unwrap();
    // A typo is refused before anything is billed, and no job is recorded.
    let bad = RequestSpec {
        deployment_id: Some(other.id.clone()),
        overrides: Some(map(json!({"Canvas.widht": 20}))),
        ..Default::default()
    };
    assert_eq!(comfy.submit_request(&bad).await.unwrap_err().code(), "invalid_override");
    assert!(fake.inference_bodies().is_empty());
    let all = comfy_core::store::JobQuery { limit: 100, ..Default::default() };
    assert!(comfy.jobs(&all).await.unwrap().is_empty());
    let spec = RequestSpec {
        deployment_id: Some(other.id.clone()),
        overrides: Some(map(json!({"Canvas.width": 20}))),
        extra_data: Some(map(json!({"api_key_comfy_org": "comfyui-secret-key"}))),
        ..Default::default()
    };
    let job = comfy.submit_request(&spec).await.unwrap();
    let sent = fake.inference_bodies().pop().unwrap();
    assert_eq!(sent["overrides"], json!({"1": {"inputs": {"width": 20}}}));
    assert!(
        fake.calls().iter().any(|c| c.contains(&other.id) && c.ends_with("/inference")),
        "on its deployment"
    );
    let record = job.record();
    assert_eq!(record.handle.as_ref().unwrap()["deployment_id"], other.id.as_str());
    assert_eq!(record.request["workflow"]["1"]["inputs"]["width"], 20, "the graph that runs is recorded");
    assert!(!record.request.to_string().contains("comfyui-secret-key"), "{}", record.request);
    // The request id is the job id; the job finishes with its outputs recorded as assets.
    let r = finished(&job).await;
    assert_eq!(r.status, JobStatus::Succeeded, "{:?}", r.status);
    let asset = comfy.asset(&r.assets[0]).await.unwrap();
    let url = asset.url.clone().unwrap();
    assert!(url.starts_with(&fake.cdn_url()) && asset.expires_at.is_some(), "{asset:?}");
    assert_eq!(comfy.fetch_asset(&r.assets[0]).await.unwrap().asset.width, Some(20));
    // The request tools find it on its own deployment without being told.
    let id = job.id().as_str().to_owned();
    let result = comfy.request_result(None, &id).await.unwrap();
    assert_eq!((result.status.as_str(), result.output_urls[0].url.as_str()), ("succeeded", url.as_str()));
    assert!(comfy.request_status(None, &id).await.unwrap().finished);
    assert_eq!(comfy.cancel_request(None, &id).await.unwrap().outcome, "not_cancellable");
    // The backend alone, on the default deployment, does not know it.
    assert_eq!(
        comfy.runcomfy().unwrap().request_status(None, &id).await.unwrap_err().code(),
        "job_not_found"
    );
    // A long request, then a restart: reattached from the store, followed to its end.
    fake.engine().hold();
    let held = comfy
        .submit_request(&RequestSpec { deployment_id: Some(other.id.clone()), ..Default::default() })
        .await
        .unwrap();
    let held_id = held.id().clone();
    drop((held, job, comfy));
    let comfy = open(Arc::new(SqliteStore::open(&path).unwrap()));
    let jobs = comfy.reattach().await.unwrap();
    let ids: Vec<_> = jobs.iter().map(|j| j.id()).collect();
    assert_eq!(ids, [&held_id]);
    assert!(!comfy.request_status(None, held_id.as_str()).await.unwrap().finished);
    fake.engine().release();
    let r = finished(&jobs[0]).await;
    assert_eq!(r.status, JobStatus::Succeeded, "{:?}", r.status);
    let result = comfy.request_result(None, held_id.as_str()).await.unwrap();
    assert_eq!(result.output_urls.len(), 1);
    assert_eq!(
        comfy.asset(&r.assets[0]).await.unwrap().url.as_deref(),
        Some(result.output_urls[0].url.as_str())
    );
    // A request this client never recorded is asked of RunComfy directly.
    let foreign = comfy.runcomfy().unwrap().submit_request(&RequestSpec::default()).await.unwrap();
    let direct = loop {
        let s = comfy.request_status(None, &foreign.request_id).await.unwrap();
        if s.finished {
            break comfy.request_result(None, &foreign.request_id).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((direct.status.as_str(), direct.output_urls.len()), ("succeeded", 1));
    // Not on another backend.
    let local = comfy_core::backend::local::LocalComfyUi::builder("http://127.0.0.1:9").build().unwrap();
    let lc = Comfy::builder(Arc::new(local)).build().unwrap();
    assert_eq!(lc.submit_request(&RequestSpec::default()).await.unwrap_err().code(), "not_supported");
}

#[tokio::test]
async fn a_submitted_request_is_cancelled_through_its_record() {
    let fake = fake().await;
    let comfy = client(backend(&fake, QueueVersion::V1));
    fake.engine().hold();
    let job = comfy.submit_request(&RequestSpec::default()).await.unwrap();
    let c = comfy.cancel_request(None, job.id().as_str()).await.unwrap();
    assert_eq!(c.outcome, "cancelled", "{c:?}");
    assert_eq!(finished(&job).await.status, JobStatus::Cancelled);
    assert_eq!(comfy.request_result(None, job.id().as_str()).await.unwrap().status, "cancelled");
    fake.engine().release();
}
