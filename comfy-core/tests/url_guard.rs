//! The URL guard through the backends: a hosted output URL, a storage redirect or a
//! deployment's `object_info_url` that points at loopback, a private network, cloud metadata or
//! another scheme is refused unless the operator allowed it; the configured backend URL itself
//! (a local ComfyUI on 127.0.0.1) is always reachable.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::runcomfy::RunComfy;
use comfy_core::backend::{Backend, JobRequest};
use comfy_core::net::UrlPolicy;
use comfy_core::store::MemoryStore;
use comfy_core::{ClientOptions, Comfy, JobResult, Waited, Workflow};
use comfy_fake::{FakeComfyCloud, FakeComfyUi, FakeRunComfy};
use serde_json::json;

const LONG: Duration = Duration::from_secs(30);

fn image(prefix: &str) -> Workflow {
    let color: u32 = prefix.bytes().map(u32::from).sum();
    Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}
    }))
    .unwrap()
}

fn client(backend: Arc<dyn Backend>) -> Comfy {
    let options = ClientOptions {
        poll_interval: Duration::from_millis(50),
        lost_after: Duration::from_millis(500),
        ..Default::default()
    };
    Comfy::builder(backend).store(Arc::new(MemoryStore::default())).options(options).build().unwrap()
}

async fn run(comfy: &Comfy, prefix: &str) -> JobResult {
    let job = comfy.submit(JobRequest::new(image(prefix))).await.unwrap();
    match job.wait(LONG).await.unwrap() {
        Waited::Finished(r) => r,
        Waited::StillRunning(j) => panic!("job {} still {:?}", j.id(), j.status()),
    }
}

fn runcomfy(fake: &FakeRunComfy, policy: Option<UrlPolicy>) -> RunComfy {
    let mut b = RunComfy::builder(&fake.url())
        .token("rc-guard")
        .deployment(fake.deployment_id())
        .poll_interval(Duration::from_millis(50))
        .retry_backoff(Duration::from_millis(5));
    if let Some(p) = policy {
        b = b.url_policy(p);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn a_hosted_output_on_loopback_is_refused_by_default_and_fetched_when_allowed() {
    let fake = FakeRunComfy::builder().token("rc-guard").start().await.unwrap();
    let comfy = client(Arc::new(runcomfy(&fake, None)));
    let r = run(&comfy, "guard_rc").await;
    let e = comfy.fetch_asset(&r.assets[0]).await.unwrap_err();
    assert_eq!((e.code(), e.is_retryable()), ("url_not_allowed", false), "{e}");
    let text = e.to_string();
    assert!(text.contains(&fake.cdn_url()) && text.contains("loopback"), "{text}");
    assert!(text.contains("allow_private_urls"), "names the opt-in: {text}");
    assert!(fake.cdn_requests().is_empty(), "nothing reached the CDN: {:?}", fake.cdn_requests());

    // The same output with the operator's opt-in.
    let open = client(Arc::new(runcomfy(&fake, Some(UrlPolicy::allow_private()))));
    let r = run(&open, "guard_rc_open").await;
    assert!(open.fetch_asset(&r.assets[0]).await.unwrap().data.starts_with(b"\x89PNG"));
    assert!(!fake.cdn_requests().is_empty());
}

#[tokio::test]
async fn metadata_private_and_other_scheme_urls_are_never_fetched() {
    let fake = FakeRunComfy::builder().token("rc-guard").start().await.unwrap();
    let backend = runcomfy(&fake, None);
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal.invalid@169.254.169.254/computeMetadata/v1/",
        "http://10.0.0.1/internal",
        "http://[::ffff:127.0.0.1]:8188/api/queue",
        "http://localhost:8188/api/queue",
        "file:///etc/passwd",
        "ftp://example.com/x",
    ] {
        let e = backend.download_url(url).await.err().unwrap_or_else(|| panic!("{url} was fetched"));
        assert_eq!(e.code(), "url_not_allowed", "{url}: {e}");
    }
    // Allowing private targets never allows another scheme.
    let open = runcomfy(&fake, Some(UrlPolicy::allow_private()));
    assert_eq!(open.download_url("file:///etc/passwd").await.err().unwrap().code(), "url_not_allowed");
}

#[tokio::test]
async fn a_deployments_object_info_url_is_guarded_too() {
    let fake = FakeRunComfy::builder().token("rc-guard").start().await.unwrap();
    let guarded = runcomfy(&fake, None);
    let deployment = guarded.get_deployment(None, true, false).await.unwrap();
    assert!(deployment.object_info_url().is_some());
    let e = guarded.deployment_catalog(&deployment).await.unwrap_err();
    assert_eq!(e.code(), "url_not_allowed", "{e}");
    let cdn = fake.cdn_url();
    let listed =
        runcomfy(&fake, Some(UrlPolicy::default().with_allowed_host(cdn.trim_start_matches("http://"))));
    assert!(listed.deployment_catalog(&deployment).await.is_ok());
}

#[tokio::test]
async fn a_redirect_to_storage_on_loopback_is_refused_at_the_hop() {
    let fake = FakeComfyCloud::builder().api_key("comfyui-guard").start().await.unwrap();
    let build = |policy: UrlPolicy| {
        ComfyCloud::builder(&fake.url())
            .api_key("comfyui-guard")
            .poll_interval(Duration::from_millis(50))
            .retry_backoff(Duration::from_millis(5))
            .url_policy(policy)
            .build()
            .unwrap()
    };
    let comfy = client(Arc::new(build(UrlPolicy::default())));
    let r = run(&comfy, "guard_cloud").await;
    let e = comfy.fetch_asset(&r.assets[0]).await.unwrap_err();
    assert_eq!(e.code(), "url_not_allowed", "{e}");
    assert!(e.to_string().contains(&fake.storage_url()), "{e}");
    assert!(!e.to_string().contains("X-Goog-Signature"), "no signature in the message: {e}");
    assert!(fake.storage_requests().is_empty(), "{:?}", fake.storage_requests());

    let listed = UrlPolicy::default().with_allowed_host(fake.storage_url().trim_start_matches("http://"));
    let open = client(Arc::new(build(listed)));
    let r = run(&open, "guard_cloud_open").await;
    assert!(open.fetch_asset(&r.assets[0]).await.is_ok());
}

#[tokio::test]
async fn the_configured_local_comfyui_on_loopback_needs_no_opt_in() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let local = LocalComfyUi::builder(&fake.url()).build().unwrap();
    let comfy = client(Arc::new(local));
    let r = run(&comfy, "guard_local").await;
    assert!(comfy.fetch_asset(&r.assets[0]).await.unwrap().data.starts_with(b"\x89PNG"));
}
