//! Feedback and session summaries against the fake ComfyUI: consent, counting, the local
//! `feedback.jsonl`, and the POST to a feedback URL (no prompt, no credentials; a failed post
//! keeps the record).

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::Backend;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::{ClientOptions, Comfy, Feedback, Source};
use comfy_fake::FakeComfyUi;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn client(options: ClientOptions) -> (FakeComfyUi, Comfy) {
    let fake = FakeComfyUi::builder().model_files("checkpoints", &["m.safetensors"]).start().await.unwrap();
    let backend: Arc<dyn Backend> = Arc::new(LocalComfyUi::builder(&fake.url()).build().unwrap());
    let options = ClientOptions { poll_interval: Duration::from_millis(50), ..options };
    let comfy = Comfy::builder(backend).options(options).build().unwrap();
    (fake, comfy)
}

fn workflow() -> Value {
    json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a secret prompt", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
              "latent_image": ["3", 0], "seed": 1, "steps": 2, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "fb"}}
    })
}

#[tokio::test]
async fn summary_counts_jobs_and_is_posted_without_prompts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/fb"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (_fake, comfy) = client(ClientOptions {
        feedback_dir: Some(dir.path().to_owned()),
        feedback_url: Some(format!("{}/fb", server.uri())),
        ..Default::default()
    })
    .await;
    let job =
        comfy.submit(comfy.prepare(Source::Json(workflow())).await.unwrap().into_request()).await.unwrap();
    job.wait(Duration::from_secs(30)).await.unwrap();
    let s = comfy.session_summary();
    assert_eq!((s.jobs_submitted, s.jobs_succeeded, s.jobs_failed), (1, 1, 0), "{s:?}");

    let e = comfy.report_session_summary(false).await.unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    assert!(e.to_string().contains("consent"), "{e}");

    let receipt = comfy.report_session_summary(true).await.unwrap();
    assert!(receipt.posted, "{receipt:?}");
    assert_eq!(receipt.stored, "file");
    let fb =
        Feedback { consent: true, rating: Some(5), category: Some("praise".into()), message: "fast".into() };
    assert!(comfy.submit_feedback(fb).await.unwrap().posted);

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("secret prompt") && !body.contains(&job.id().0), "{body}");
        assert!(r.headers.get("authorization").is_none() && r.headers.get("x-api-key").is_none());
    }
    let lines = std::fs::read_to_string(dir.path().join("feedback.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
    assert!(lines.contains("\"jobs_succeeded\":1") && lines.contains("\"message\":\"fast\""), "{lines}");
}

#[tokio::test]
async fn a_failed_post_keeps_the_record_in_memory() {
    let (_fake, comfy) =
        client(ClientOptions { feedback_url: Some("http://127.0.0.1:9/fb".into()), ..Default::default() })
            .await;
    let fb = Feedback { consent: true, message: "the queue view is handy".into(), ..Default::default() };
    let receipt = comfy.submit_feedback(fb).await.unwrap();
    assert!(!receipt.posted);
    assert_eq!(receipt.stored, "memory");
    assert!(receipt.reason.is_some());
    assert_eq!(comfy.feedback_in_memory().len(), 1);
    let bad = Feedback { consent: true, message: "broke at /home/me/x.png".into(), ..Default::default() };
    assert!(comfy.submit_feedback(bad).await.unwrap_err().to_string().contains("message"));
    assert_eq!(comfy.feedback_in_memory().len(), 1);
}
