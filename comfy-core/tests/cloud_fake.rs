//! The Comfy Cloud backend against the fake Comfy Cloud: what only a hosted backend has —
//! server-assigned ids, partner credentials, both status vocabularies, eventual consistency,
//! signed-URL downloads that never carry the key, account errors, Retry-After, cancel
//! fallbacks, the account-wide socket, the Cloud workflow store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::backend::{Backend, CancelOutcome, JobRequest};
use comfy_core::job::{JobId, JobStatus};
use comfy_core::net::UrlPolicy;
use comfy_core::store::now_millis;
use comfy_core::{ClientOptions, Comfy, Job, JobResult, Waited, Workflow};
use comfy_fake::{FakeComfyCloud, Rejection, Vocabulary};
use serde_json::json;

const LONG: Duration = Duration::from_secs(30);
const KEY: &str = "comfyui-cloud-test";

async fn fake() -> FakeComfyCloud {
    FakeComfyCloud::builder()
        .api_key(KEY)
        .api_key("comfyui-someone-else")
        .engine(|e| e.model_files("checkpoints", &["m.safetensors"]).step_delay(Duration::from_millis(5)))
        .start()
        .await
        .unwrap()
}

/// The fake's storage listener is on loopback, which the default URL policy refuses: these
/// tests allow that one host explicitly.
fn fake_storage(fake: &FakeComfyCloud) -> UrlPolicy {
    UrlPolicy::default().with_allowed_host(fake.storage_url().trim_start_matches("http://"))
}

fn backend(fake: &FakeComfyCloud, key: &str) -> ComfyCloud {
    ComfyCloud::builder(&fake.url())
        .api_key(key)
        .url_policy(fake_storage(fake))
        .poll_interval(Duration::from_millis(50))
        .retry_backoff(Duration::from_millis(5))
        .max_reconnect_delay(Duration::from_millis(200))
        .build()
        .unwrap()
}

fn client(backend: ComfyCloud) -> Comfy {
    let options = ClientOptions {
        poll_interval: Duration::from_millis(50),
        lost_after: Duration::from_millis(200),
        cancel_confirm_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    Comfy::builder(Arc::new(backend)).options(options).build().unwrap()
}

/// A model-free workflow; the colour differs per prefix so the engine's cache never skips it.
fn basic(prefix: &str) -> Workflow {
    let color: u32 = prefix.bytes().map(u32::from).sum();
    Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}
    }))
    .unwrap()
}

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

#[tokio::test]
async fn ids_are_the_clouds_and_partner_credentials_ride_in_extra_data() {
    let fake = fake().await;
    let comfy = client(backend(&fake, KEY));
    let mut request = JobRequest::new(basic("ids"));
    request.job_id = Some(JobId::from("client-chosen"));
    request.extra_data.insert("api_key_comfy_org".into(), json!("injected"));
    let job = comfy.submit(request).await.unwrap();
    assert_ne!(job.id().as_str(), "client-chosen", "Cloud assigns the id; the client re-keys");
    assert_eq!(finished(&job).await.status, JobStatus::Succeeded);
    let sent = fake.engine().received_prompts();
    assert_eq!(sent[0]["extra_data"]["api_key_comfy_org"], KEY, "our key, never the request's");
    assert_eq!(
        comfy.jobs(&Default::default()).await.unwrap()[0].id,
        *job.id(),
        "recorded under the Cloud id"
    );

    // A bearer token goes to auth_token_comfy_org instead.
    let token = ComfyCloud::builder(&fake.url()).bearer_token(KEY).websocket(false).build().unwrap();
    token.submit(&JobRequest::new(basic("token"))).await.unwrap();
    let sent = fake.engine().received_prompts();
    assert_eq!(sent[1]["extra_data"]["auth_token_comfy_org"], KEY);
    assert!(sent[1]["extra_data"].get("api_key_comfy_org").is_none());
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_unauthorized() {
    let fake = fake().await;
    let wrong = ComfyCloud::builder(&fake.url()).api_key("comfyui-wrong").websocket(false).build().unwrap();
    let e = wrong.queue().await.unwrap_err();
    assert_eq!(e.code(), "unauthorized", "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("invalid API key"), "{e}");
    let e = wrong.submit(&JobRequest::new(basic("x"))).await.unwrap_err();
    assert_eq!(e.code(), "unauthorized");
    // Its socket is refused too, so it never reports connected.
    let with_socket = backend(&fake, "comfyui-wrong");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!with_socket.events_connected());
}

#[tokio::test]
async fn raw_vocabulary_missing_routes_and_outputs_only_in_history_still_finish() {
    let fake = fake().await;
    fake.set_vocabulary(Vocabulary::Raw);
    fake.set_omit_outputs(true);
    let comfy = client(backend(&fake, KEY));
    let r = finished(&comfy.submit(JobRequest::new(basic("raw"))).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(r.outputs.len(), 1, "outputs from /api/history_v2");
    // Without /api/jobs/{id} at all: the raw status route, outputs from history.
    fake.set_jobs_route(false);
    let comfy = client(
        ComfyCloud::builder(&fake.url())
            .api_key(KEY)
            .websocket(false)
            .poll_interval(Duration::from_millis(50))
            .build()
            .unwrap(),
    );
    let r = finished(&comfy.submit(JobRequest::new(basic("noroute"))).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(r.outputs.len(), 1);
    fake.engine().fail_node_class("ImageInvert", "RuntimeError", "raw failure");
    let r = finished(&comfy.submit(JobRequest::new(basic("rawfail"))).await.unwrap()).await;
    let JobStatus::Failed(f) = r.status else { panic!("{:?}", r.status) };
    assert_eq!(
        f.exception_type.as_deref(),
        Some("RuntimeError"),
        "details from the JSON-encoded error_message"
    );
    assert!(f.message.contains("raw failure"));
}

#[tokio::test]
async fn a_job_not_listed_yet_is_not_lost() {
    let fake = FakeComfyCloud::builder()
        .api_key(KEY)
        .listing_lag(Duration::from_millis(1500))
        .start()
        .await
        .unwrap();
    // The client would call a job lost after 200 ms; the backend's grace wins.
    let b = ComfyCloud::builder(&fake.url())
        .api_key(KEY)
        .websocket(false)
        .poll_interval(Duration::from_millis(50))
        .not_found_grace(Duration::from_secs(10))
        .build()
        .unwrap();
    let comfy = client(b);
    let started = Instant::now();
    let r = finished(&comfy.submit(JobRequest::new(basic("lag"))).await.unwrap()).await;
    assert_eq!(r.status, JobStatus::Succeeded);
    assert!(started.elapsed() >= Duration::from_millis(1400), "it was unlisted for 1.5 s");
}

#[tokio::test]
async fn downloads_follow_the_signed_url_without_the_key_and_urls_carry_their_expiry() {
    let fake = fake().await;
    let comfy = client(backend(&fake, KEY));
    let r = finished(&comfy.submit(JobRequest::new(basic("signed"))).await.unwrap()).await;
    let fetched = comfy.fetch_asset(&r.assets[0]).await.unwrap();
    assert_eq!((fetched.asset.width, fetched.asset.height), (Some(16), Some(8)));
    let log = fake.storage_requests();
    assert!(!log.is_empty(), "the bytes came from storage");
    assert!(log.iter().all(|s| !s.refused && !s.headers.contains(&"x-api-key".to_owned())), "{log:?}");

    let url = comfy.asset_url(&r.assets[0]).await.unwrap();
    assert!(url.url.starts_with(&fake.storage_url()) && url.url.contains("X-Goog-Signature="), "{url:?}");
    let expires = url.expires_at.unwrap();
    let six_hours = 6 * 3600 * 1000;
    assert!((expires - now_millis() - six_hours).abs() < 120_000, "expires in about 6 h: {expires}");
    // Anyone can fetch it without credentials; with the key, storage refuses.
    let plain = reqwest::get(&url.url).await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.bytes().await.unwrap(), fetched.data);
    let leaked = reqwest::Client::new().get(&url.url).header("X-API-Key", KEY).send().await.unwrap();
    assert_eq!(leaked.status(), 403);
}

#[tokio::test]
async fn account_errors_are_typed_and_retry_after_is_honoured() {
    let fake = fake().await;
    let b = ComfyCloud::builder(&fake.url())
        .api_key(KEY)
        .websocket(false)
        .retry_backoff(Duration::from_millis(5))
        .build()
        .unwrap();
    let request = JobRequest::new(basic("err"));
    let submit = || b.submit(&request);
    fake.reject("/api/prompt", Rejection::InsufficientCredits, 1);
    let e = submit().await.unwrap_err();
    assert_eq!((e.code(), e.is_retryable()), ("insufficient_credits", false));
    fake.reject("/api/prompt", Rejection::SubscriptionInactive, 1);
    let e = submit().await.unwrap_err();
    assert_eq!((e.code(), e.is_retryable()), ("subscription_inactive", false));
    fake.reject("/api/prompt", Rejection::RateLimited { retry_after_secs: 7 }, 1);
    let e = submit().await.unwrap_err();
    assert_eq!((e.code(), e.retry_after()), ("rate_limited", Some(Duration::from_secs(7))));
    fake.reject("/api/prompt", Rejection::QueueFull, 1);
    assert_eq!(submit().await.unwrap_err().code(), "queue_full");
    fake.reject("/api/prompt", Rejection::Forbidden, 1);
    assert_eq!(submit().await.unwrap_err().code(), "backend_http_error");
    // A validation failure is Cloud's 400 in ComfyUI's shape.
    let bad = Workflow::from_value(json!({"1": {"class_type": "SaveImage", "inputs": {}}})).unwrap();
    let e = b.submit(&JobRequest::new(bad)).await.unwrap_err();
    assert_eq!(e.code(), "prompt_rejected", "{e}");
    // Reads wait out a 503's Retry-After and succeed.
    fake.reject("/api/queue", Rejection::Unavailable { retry_after_secs: 1 }, 1);
    let started = Instant::now();
    b.queue().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
    // A full queue (the limit) is queue_full too.
    let small = FakeComfyCloud::builder().api_key(KEY).queue_limit(1).start().await.unwrap();
    small.engine().hold();
    let b = ComfyCloud::builder(&small.url()).api_key(KEY).websocket(false).build().unwrap();
    b.submit(&JobRequest::new(basic("q1"))).await.unwrap();
    let e = b.submit(&JobRequest::new(basic("q2"))).await.unwrap_err();
    assert_eq!((e.code(), e.is_retryable()), ("queue_full", true));
}

#[tokio::test]
async fn another_accounts_job_is_refused() {
    let fake = fake().await;
    let mine = backend(&fake, KEY);
    let theirs =
        ComfyCloud::builder(&fake.url()).api_key("comfyui-someone-else").websocket(false).build().unwrap();
    let id = mine.submit(&JobRequest::new(basic("mine"))).await.unwrap().job_id;
    let e = theirs.status(&id).await.unwrap_err();
    assert_eq!(e.code(), "backend_http_error");
    assert!(e.to_string().contains("403"), "{e}");
    assert!(theirs.queue().await.unwrap().pending.iter().all(|q| q.job_id != id), "the queue is per account");
}

#[tokio::test]
async fn cancel_falls_back_to_the_queue_and_interrupts_the_account_only_when_allowed() {
    let fake = fake().await;
    fake.set_cancel_route(false);
    let comfy = client(backend(&fake, KEY));
    let running = comfy.submit(JobRequest::new(stepped(400))).await.unwrap();
    until("running", || matches!(running.status(), JobStatus::Running(_))).await;
    let pending = comfy.submit(JobRequest::new(basic("fallback"))).await.unwrap();
    let queue = comfy.queue().await.unwrap();
    assert!(queue.pending.iter().any(|e| &e.job_id == pending.id() && e.ours), "{queue:?}");
    assert_eq!(pending.cancel().await.unwrap(), CancelOutcome::RemovedFromQueue);
    assert_eq!(fake.engine().queue_deletes(), vec![pending.id().0.clone()]);
    assert_eq!(running.cancel().await.unwrap(), CancelOutcome::NotCancellable);
    assert_eq!(fake.account_interrupts(), 0, "never the account-wide interrupt without opt-in");

    let allowed = ComfyCloud::builder(&fake.url())
        .api_key(KEY)
        .allow_account_interrupt(true)
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let comfy = client(allowed);
    let job = comfy.job(running.id()).await.unwrap();
    assert_eq!(job.cancel().await.unwrap(), CancelOutcome::Interrupted);
    assert_eq!(fake.account_interrupts(), 1);
    assert_eq!(fake.cancel_calls().len(), 3, "the per-job route was tried first each time");
}

#[tokio::test]
async fn every_socket_sees_every_job_but_each_backend_keeps_its_own() {
    let fake = fake().await;
    let a = client(backend(&fake, KEY));
    let b = client(backend(&fake, KEY));
    until("two sockets", || a.backend().events_connected() && b.backend().events_connected()).await;
    let mut from_b = b.backend().events();
    fake.engine().hold();
    let job = a.submit(JobRequest::new(stepped(5))).await.unwrap();
    let mut events = job.subscribe();
    fake.engine().release();
    let mut progressed = false;
    while let Some(e) = events.next().await {
        progressed |= matches!(e, comfy_core::backend::JobEvent::Progress { .. });
    }
    assert!(progressed, "A follows its job live");
    assert_eq!(finished(&job).await.status, JobStatus::Succeeded);
    // B's socket received the same messages, but B does not know the job: none reach it.
    while let Ok(e) = from_b.try_recv() {
        if let comfy_core::backend::BackendEvent::Job { job_id, .. } = e {
            panic!("B forwarded an event of A's job {job_id}");
        }
    }
}

#[tokio::test]
async fn catalogue_models_uploads_and_both_workflow_stores() {
    let fake = fake().await;
    let b = backend(&fake, KEY);
    assert!(b.catalog(false).await.unwrap().node("KSampler").is_some());
    assert!(b.model_folders().await.unwrap().contains(&"checkpoints".to_owned()));
    assert_eq!(b.models("checkpoints").await.unwrap(), ["m.safetensors"]);
    assert_eq!(b.models("nope").await.unwrap_err().code(), "invalid_argument");
    assert_eq!(b.health().await.unwrap().version.as_deref(), Some("0.3.64"));

    let saved = b.save_workflow("team/a", &json!({"nodes": [], "links": []}), false).await.unwrap();
    assert_eq!(saved.name, "team/a.json");
    assert_eq!(b.list_saved_workflows().await.unwrap().len(), 1);
    assert_eq!(b.save_workflow("team/a", &json!({}), false).await.unwrap_err().code(), "already_exists");

    let created = b.create_cloud_workflow("portrait", &json!({"nodes": [1]}), Some("d")).await.unwrap();
    let listed = b.cloud_workflows(Some("port"), 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].description.as_deref(), Some("d"));
    assert!(listed[0].created_at.is_some());
    assert_eq!(b.cloud_workflow_content(&created.id).await.unwrap(), json!({"nodes": [1]}));
    b.delete_cloud_workflow(&created.id).await.unwrap();
    assert_eq!(b.cloud_workflow_content(&created.id).await.unwrap_err().code(), "saved_workflow_not_found");
}

#[tokio::test]
async fn server_info_and_billing_describe_the_account_and_never_the_key() {
    use comfy_core::backend::{AuthState, BackendKind};
    let fake = fake().await;
    let comfy = client(backend(&fake, KEY));
    let info = comfy.server_info().await.unwrap();
    assert_eq!(info.kind, BackendKind::ComfyCloud);
    assert!(info.reachable, "{info:?}");
    assert_eq!(info.auth, AuthState::Accepted);
    assert_eq!(info.account_status.as_deref(), Some("active"));
    assert!(info.partner_nodes_key);
    assert!(info.capabilities.upload && !info.capabilities.client_job_ids);
    let text = serde_json::to_string(&info).unwrap();
    assert!(!text.contains(KEY), "{text}");

    let billing = comfy.billing_status().await.unwrap();
    assert_eq!(billing.balance_usd, Some(12.5), "the present zero is skipped");
    assert_eq!(billing.balance_credits, Some(2637.5));
    assert_eq!(billing.subscription["subscription_tier"], "STANDARD");
    assert!(!billing.subscription.contains_key("plan"), "nested values are left out");

    // What the Cloud does not have answers not_supported with the reason.
    let e = comfy.template_index().await.unwrap_err();
    assert_eq!(e.code(), "not_supported");
    assert!(e.to_string().contains("Comfy Cloud has no official template gallery"), "{e}");

    // A key the Cloud does not know: reported as rejected, and billing is unauthorized.
    let stranger = client(backend(&fake, "comfyui-unknown"));
    let info = stranger.server_info().await.unwrap();
    assert_eq!(info.auth, AuthState::Rejected);
    assert!(info.reachable, "system_stats is public");
    let e = stranger.billing_status().await.unwrap_err();
    assert_eq!(e.code(), "unauthorized");
}

#[tokio::test]
async fn a_local_comfyui_has_no_billing_and_an_unreachable_one_is_reported_not_raised() {
    use comfy_core::backend::local::LocalComfyUi;
    use comfy_core::backend::{AuthState, BackendKind};
    let engine = comfy_fake::FakeComfyUi::builder().start().await.unwrap();
    let local =
        LocalComfyUi::builder(&engine.url()).comfy_api_key("comfyui-partner").retries(0).build().unwrap();
    let comfy = Comfy::builder(Arc::new(local)).build().unwrap();
    let info = comfy.server_info().await.unwrap();
    assert_eq!((info.kind, info.auth), (BackendKind::Local, AuthState::NotConfigured));
    assert!(info.reachable && info.server_version.is_some(), "{info:?}");
    assert!(info.partner_nodes_key);
    assert!(!serde_json::to_string(&info).unwrap().contains("comfyui-partner"));
    let e = comfy.billing_status().await.unwrap_err();
    assert_eq!(e.code(), "not_supported");
    assert!(e.to_string().contains("a local ComfyUI has no account or credit balance"), "{e}");

    let down = LocalComfyUi::builder("http://user:pw@127.0.0.1:9/").retries(0).build().unwrap();
    let comfy = Comfy::builder(Arc::new(down)).build().unwrap();
    let info = comfy.server_info().await.unwrap();
    assert!(!info.reachable && info.unreachable.is_some(), "{info:?}");
    let text = serde_json::to_string(&info).unwrap();
    assert!(!text.contains("pw@") && !text.contains("user:"), "{text}");
}

#[tokio::test]
async fn kept_outputs_are_copied_on_completion_and_served_from_the_copy() {
    let fake = fake().await;
    let keep = tempfile::tempdir().unwrap();
    let options = ClientOptions {
        poll_interval: Duration::from_millis(50),
        keep_outputs: Some(keep.path().join("outputs")),
        ..Default::default()
    };
    let comfy = Comfy::builder(Arc::new(backend(&fake, KEY))).options(options).build().unwrap();
    let r = finished(&comfy.submit(JobRequest::new(basic("kept"))).await.unwrap()).await;
    assert_eq!(r.assets.len(), 1);
    let id = &r.assets[0];
    let copy = keep.path().join("outputs").join(&id.0);
    let kept = std::fs::read(&copy).expect("a copy is kept when the job finishes");
    assert_eq!(&kept[..4], b"\x89PNG");
    let downloads = fake.storage_requests().len();
    assert!(downloads >= 1, "the copy was downloaded from storage");

    // Served from the copy: storage (where signed URLs expire) is not asked again.
    let fetched = comfy.fetch_asset(id).await.unwrap();
    assert_eq!(fetched.data.as_ref(), &kept[..]);
    assert_eq!((fetched.asset.width, fetched.asset.height), (Some(16), Some(8)));
    assert_eq!(fake.storage_requests().len(), downloads);

    // Without the copy it comes from the Cloud again.
    std::fs::remove_file(&copy).unwrap();
    assert_eq!(comfy.fetch_asset(id).await.unwrap().data.as_ref(), &kept[..]);
    assert_eq!(fake.storage_requests().len(), downloads + 1);
}
