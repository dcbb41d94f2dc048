//! The audit log of submissions that spend money, against the fake Comfy Cloud, the fake
//! RunComfy and the fake ComfyUI: one line per paid submission (hosted backend, partner nodes),
//! none for a free local run, never a credential or the prompt.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use comfy_core::audit::AuditEntry;
use comfy_core::backend::JobRequest;
use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::runcomfy::RunComfy;
use comfy_core::net::UrlPolicy;
use comfy_core::{Caller, ClientOptions, Comfy, MediaType, PartnerRequest, Waited, Workflow};
use comfy_fake::{FakeComfyCloud, FakeComfyUi, FakeRunComfy};
use serde_json::json;

const PROMPT: &str = "a lighthouse made of secret-prompt-words";
const RC_TOKEN: &str = "rc-audit-token";

fn options(log: &Path) -> ClientOptions {
    ClientOptions {
        poll_interval: Duration::from_millis(50),
        lost_after: Duration::from_millis(500),
        audit_log: Some(log.to_owned()),
        ..Default::default()
    }
}

fn image(text: &str) -> Workflow {
    Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 7}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": text}}
    }))
    .unwrap()
}

fn lines(path: &Path) -> Vec<AuditEntry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn finish(job: &comfy_core::Job) {
    match job.wait(Duration::from_secs(30)).await.unwrap() {
        Waited::Finished(r) => assert!(r.status.is_terminal()),
        Waited::StillRunning(j) => panic!("job {} still running", j.id()),
    }
}

#[tokio::test]
async fn comfy_cloud_submissions_and_partner_nodes_are_audited_without_secrets() {
    let fake = FakeComfyCloud::builder().start().await.unwrap();
    let storage = UrlPolicy::default().with_allowed_host(fake.storage_url().trim_start_matches("http://"));
    let backend = ComfyCloud::builder(&fake.url())
        .api_key(fake.api_key())
        .url_policy(storage)
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let comfy = Comfy::builder(Arc::new(backend)).options(options(&log)).build().unwrap();
    let alice = comfy.acting_for(Caller::user("alice"));

    let plain = alice.submit(JobRequest::new(image("plain-prefix"))).await.unwrap();
    finish(&plain).await;
    let mut partner = PartnerRequest::new(MediaType::Image, "flux-ultra", PROMPT);
    partner.max_credits = Some(20.0);
    let generated = alice.partner_generate(partner).await.unwrap();
    let paid = generated.job.expect("submitted");
    finish(&paid).await;

    let entries = lines(&log);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let first = &entries[0];
    assert_eq!(first.reasons, vec!["hosted_backend"]);
    assert_eq!(first.kind, "comfy-cloud");
    assert_eq!(first.backend, comfy.backend().name());
    assert_eq!(first.owner.as_deref(), Some("alice"));
    assert_eq!(first.job_id, plain.id().0);
    assert_eq!(first.request_id, plain.id().0, "Comfy Cloud's prompt id is the job id");
    assert_eq!(first.workflow_hash, image("plain-prefix").canonical_hash());
    assert!(first.partner_nodes.is_empty() && first.estimate.is_none(), "{first:?}");
    assert!(first.at.ends_with('Z') && first.at_ms > 0, "{first:?}");

    let second = &entries[1];
    assert_eq!(second.reasons, vec!["hosted_backend", "partner_nodes"]);
    assert_eq!(second.job_id, paid.id().0);
    assert_eq!(second.partner_nodes, vec!["FluxProUltraImageNode"]);
    let estimate = second.estimate.expect("the badge prices it");
    assert_eq!((estimate.max_usd, estimate.max_credits), (0.06, 12.66), "{estimate:?}");

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("secret-prompt-words"), "no prompt text: {text}");
    assert!(!text.contains(fake.api_key()), "no credential: {text}");
    assert!(!text.contains("plain-prefix"), "no input values: {text}");
}

#[tokio::test]
async fn runcomfy_submissions_are_audited_with_runcomfys_request_id() {
    let fake = FakeRunComfy::builder()
        .token(RC_TOKEN)
        .engine(|e| e.step_delay(Duration::from_millis(2)))
        .start()
        .await
        .unwrap();
    let cdn = UrlPolicy::default().with_allowed_host(fake.cdn_url().trim_start_matches("http://"));
    let backend = RunComfy::builder(&fake.url())
        .token(RC_TOKEN)
        .url_policy(cdn)
        .deployment(fake.deployment_id())
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let comfy = Comfy::builder(Arc::new(backend)).options(options(&log)).build().unwrap();
    let job = comfy.submit(JobRequest::new(image("rc"))).await.unwrap();
    finish(&job).await;
    let entries = lines(&log);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e.reasons, vec!["hosted_backend"]);
    assert_eq!(e.kind, "runcomfy");
    assert_eq!(e.job_id, job.id().0);
    let recorded = comfy.store().get_job(job.id()).await.unwrap().unwrap();
    let request_id = recorded.handle.as_ref().and_then(|h| h["request_id"].as_str()).unwrap().to_owned();
    assert_eq!(e.request_id, request_id);
    assert_eq!(e.owner, None, "the single local user");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(RC_TOKEN), "{text}");
}

#[tokio::test]
async fn a_free_local_run_is_not_audited_and_an_unwritable_log_refuses_to_start() {
    let fake = FakeComfyUi::builder().object_info_fixture().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let backend = Arc::new(LocalComfyUi::builder(&fake.url()).build().unwrap());
    let comfy = Comfy::builder(backend.clone()).options(options(&log)).build().unwrap();
    let job = comfy.submit(JobRequest::new(image("local"))).await.unwrap();
    finish(&job).await;
    assert!(lines(&log).is_empty(), "a local run without partner nodes spends nothing");

    let bad = dir.path().join("missing-dir").join("audit.jsonl");
    let e = Comfy::builder(backend).options(options(&bad)).build().unwrap_err();
    assert_eq!(e.code(), "io_error");
    assert!(e.to_string().contains("audit log") && e.to_string().contains("missing-dir"), "{e}");
}
