//! A fleet of three kinds against their fakes: a local ComfyUI, Comfy Cloud and RunComfy. Work
//! overflows by priority from the local box to Cloud to RunComfy, a pinned job goes where
//! pinned, every job's outputs are read through the backend that made them, and each member's
//! credential reaches that member only (checked on every request each fake received).

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::backend::fleet::{Fleet, FleetMember};
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::runcomfy::RunComfy;
use comfy_core::backend::{Backend, JobRequest};
use comfy_core::connect::RoutingConfig;
use comfy_core::job::JobStatus;
use comfy_core::net::UrlPolicy;
use comfy_core::{ClientOptions, Comfy, Job, Workflow};
use comfy_fake::{FakeComfyCloud, FakeComfyUi, FakeRunComfy};
use serde_json::json;

/// Bounds a hung test only.
const LONG: Duration = Duration::from_secs(30);
const BOX_PARTNER_KEY: &str = "box-partner-secret";
const CLOUD_KEY: &str = "comfyui-cloud-fleet-secret";
const RC_TOKEN: &str = "rc-fleet-secret";

struct Fakes {
    local: FakeComfyUi,
    cloud: FakeComfyCloud,
    rc: FakeRunComfy,
}

async fn fakes() -> Fakes {
    let local = FakeComfyUi::builder().step_delay(Duration::from_millis(2)).start().await.unwrap();
    let cloud = FakeComfyCloud::builder()
        .api_key(CLOUD_KEY)
        .engine(|e| e.step_delay(Duration::from_millis(2)))
        .start()
        .await
        .unwrap();
    let rc = FakeRunComfy::builder()
        .token(RC_TOKEN)
        .engine(|e| e.step_delay(Duration::from_millis(2)))
        .start()
        .await
        .unwrap();
    Fakes { local, cloud, rc }
}

/// Local first, then Cloud, then RunComfy; a backend has room while it holds no job.
fn client(f: &Fakes) -> Comfy {
    client_with(f, ClientOptions { poll_interval: Duration::from_millis(50), ..Default::default() })
}

fn client_with(f: &Fakes, options: ClientOptions) -> Comfy {
    let local: Arc<dyn Backend> = Arc::new(
        LocalComfyUi::builder(&f.local.url())
            .comfy_api_key(BOX_PARTNER_KEY)
            .max_reconnect_delay(Duration::from_millis(100))
            .build()
            .unwrap(),
    );
    let storage = f.cloud.storage_url();
    let cloud: Arc<dyn Backend> = Arc::new(
        ComfyCloud::builder(&f.cloud.url())
            .api_key(CLOUD_KEY)
            .url_policy(UrlPolicy::default().with_allowed_host(storage.trim_start_matches("http://")))
            .poll_interval(Duration::from_millis(50))
            .retry_backoff(Duration::from_millis(5))
            .max_reconnect_delay(Duration::from_millis(200))
            .build()
            .unwrap(),
    );
    let cdn = f.rc.cdn_url();
    let rc: Arc<dyn Backend> = Arc::new(
        RunComfy::builder(&f.rc.url())
            .token(RC_TOKEN)
            .url_policy(UrlPolicy::default().with_allowed_host(cdn.trim_start_matches("http://")))
            .deployment(f.rc.deployment_id())
            .poll_interval(Duration::from_millis(50))
            .retry_backoff(Duration::from_millis(5))
            .build()
            .unwrap(),
    );
    let members = vec![
        FleetMember::new("box", local),
        FleetMember::new("cloud", cloud).priority(1),
        FleetMember::new("rc", rc).priority(2),
    ];
    let routing = RoutingConfig { overflow_queue: 0, health_interval_ms: 3_600_000, ..Default::default() };
    let fleet: Arc<dyn Backend> = Fleet::new(members, routing).unwrap();
    Comfy::builder(fleet).options(options).build().unwrap()
}

/// A model-free workflow; the colour differs per seed so no engine cache skips it.
fn basic(prefix: &str, seed: u32) -> JobRequest {
    JobRequest::new(
        Workflow::from_value(json!({
            "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": seed}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}
        }))
        .unwrap(),
    )
}

async fn succeeded(comfy: &Comfy, job: &Job) {
    let result = tokio::time::timeout(LONG, job.result()).await.unwrap().unwrap();
    assert_eq!(result.status, JobStatus::Succeeded, "{}: {:?}", job.id(), result.status);
    let asset = result.assets.first().cloned().expect("an output");
    let fetched = comfy.fetch_asset(&asset).await.unwrap();
    assert!(!fetched.data.is_empty(), "{}: its output is read through {}", job.id(), job.record().backend);
}

#[tokio::test]
async fn work_overflows_local_to_cloud_to_runcomfy_and_each_credential_stays_with_its_backend() {
    let f = fakes().await;
    let comfy = client(&f);
    // Every engine holds its queue: a job stays where it went, so loads are what routing saw.
    f.local.hold();
    f.cloud.engine().hold();
    f.rc.engine().hold();
    let mut jobs = Vec::new();
    for seed in 1..=3 {
        jobs.push(comfy.submit(basic("overflow", seed)).await.unwrap());
    }
    let mut pin = basic("pinned", 4);
    pin.backend = Some("cloud".into());
    jobs.push(comfy.submit(pin).await.unwrap());
    let names: Vec<String> = jobs.iter().map(|j| j.record().backend).collect();
    assert_eq!(names, ["box", "cloud", "rc", "cloud"], "overflow by priority, then the pin");
    f.local.release();
    f.cloud.engine().release();
    f.rc.engine().release();
    for job in &jobs {
        succeeded(&comfy, job).await;
    }

    // The local box saw no API key header; its prompts carry its own partner key only.
    assert!(f.local.credentials_seen().is_empty(), "{:?}", f.local.credentials_seen());
    let prompts = f.local.received_prompts();
    assert_eq!(prompts.len(), 1);
    for p in &prompts {
        assert_eq!(p["extra_data"]["api_key_comfy_org"], BOX_PARTNER_KEY, "{p}");
    }
    // Cloud saw its key only, RunComfy its token only.
    let keys = f.cloud.keys_seen();
    assert!(!keys.is_empty() && keys.iter().all(|k| k == CLOUD_KEY), "{keys:?}");
    let tokens = f.rc.tokens_seen();
    assert!(!tokens.is_empty() && tokens.iter().all(|t| t == RC_TOKEN), "{tokens:?}");
    // Nothing any engine received carries another member's secret, and no signed download
    // carried a credential.
    let everything_sent = |v: &[serde_json::Value]| serde_json::to_string(v).unwrap_or_default();
    let cloud_prompts = everything_sent(&f.cloud.engine().received_prompts());
    let rc_prompts = everything_sent(&f.rc.engine().received_prompts());
    let rc_bodies = everything_sent(&f.rc.inference_bodies());
    for secret in [BOX_PARTNER_KEY, RC_TOKEN] {
        assert!(!cloud_prompts.contains(secret), "{secret} reached Cloud");
    }
    for secret in [BOX_PARTNER_KEY, CLOUD_KEY] {
        assert!(!rc_prompts.contains(secret) && !rc_bodies.contains(secret), "{secret} reached RunComfy");
    }
    assert!(f.cloud.engine().credentials_seen().is_empty() && f.rc.engine().credentials_seen().is_empty());
    assert!(f.cloud.storage_requests().iter().all(|r| !r.refused), "{:?}", f.cloud.storage_requests());
    assert!(f.rc.cdn_requests().iter().all(|r| !r.refused), "{:?}", f.rc.cdn_requests());
}

#[tokio::test]
async fn a_job_lost_with_the_local_box_runs_on_cloud_under_its_id_when_allowed() {
    let f = fakes().await;
    let options = ClientOptions {
        poll_interval: Duration::from_millis(50),
        lost_after: Duration::from_millis(500),
        unreachable_after: Duration::from_millis(300),
        ..Default::default()
    };
    let comfy = client_with(&f, options);
    // The box accepts the job and holds it in its queue; then it goes away.
    f.local.hold();
    let mut request = basic("moved", 9);
    request.resubmit_if_lost = true;
    let job = comfy.submit(request).await.unwrap();
    assert_eq!(job.record().backend, "box");
    let Fakes { local, cloud, rc: _rc } = f;
    local.shutdown();
    let result = tokio::time::timeout(LONG, job.result()).await.unwrap().unwrap();
    assert_eq!(result.status, JobStatus::Succeeded, "{:?}", result.status);
    let record = job.record();
    assert_eq!(record.backend, "cloud", "Cloud (priority 1) took it over");
    assert_eq!(&record.id, job.id(), "the caller's job keeps its id, though Cloud chose its own");
    assert_eq!(cloud.engine().received_prompts().len(), 1, "submitted to Cloud once");
    let asset = result.assets.first().cloned().expect("an output");
    assert!(!comfy.fetch_asset(&asset).await.unwrap().data.is_empty(), "read through Cloud");
    // Every later call on the job reaches Cloud under Cloud's own id.
    assert_eq!(comfy.job(job.id()).await.unwrap().status(), JobStatus::Succeeded);
}
