//! `partner_generate` against the fakes: a local ComfyUI with and without a Comfy API key, and
//! the fake Comfy Cloud, whose catalogue carries price badges (spending consent).

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::Upload;
use comfy_core::backend::cloud::ComfyCloud;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::job::JobStatus;
use comfy_core::{ClientOptions, Comfy, MediaType, PartnerRequest, Price, Waited};
use comfy_fake::{FakeComfyCloud, FakeComfyUi};

const LONG: Duration = Duration::from_secs(30);

fn options(allow_partner_spend: bool) -> ClientOptions {
    ClientOptions { poll_interval: Duration::from_millis(50), allow_partner_spend, ..Default::default() }
}

fn local(fake: &FakeComfyUi, key: Option<&str>, allow: bool) -> Comfy {
    let mut b = LocalComfyUi::builder(&fake.url());
    if let Some(key) = key {
        b = b.comfy_api_key(key);
    }
    Comfy::builder(Arc::new(b.build().unwrap())).options(options(allow)).build().unwrap()
}

async fn cloud() -> (FakeComfyCloud, Comfy) {
    let fake = FakeComfyCloud::builder().start().await.unwrap();
    let backend = ComfyCloud::builder(&fake.url())
        .api_key(fake.api_key())
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let comfy = Comfy::builder(Arc::new(backend)).options(options(false)).build().unwrap();
    (fake, comfy)
}

async fn succeeded(comfy: &Comfy, request: PartnerRequest) -> comfy_core::JobResult {
    let generated = comfy.partner_generate(request).await.unwrap();
    let job = generated.job.expect("a job was submitted");
    match job.wait(LONG).await.unwrap() {
        Waited::Finished(r) => {
            assert_eq!(r.status, JobStatus::Succeeded, "{:?}", r.status);
            r
        }
        Waited::StillRunning(_) => panic!("the partner job did not finish"),
    }
}

#[tokio::test]
async fn local_with_a_key_runs_image_video_and_audio_to_saved_outputs() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    // No price badge in a ComfyUI 0.3.75 catalogue: the switch allows the unknown price.
    let comfy = local(&fake, Some("comfyui-partner-key"), true);
    let image = succeeded(&comfy, PartnerRequest::new(MediaType::Image, "flux-ultra", "a red fox")).await;
    let out = &image.outputs[0];
    assert!(out.file().is_some_and(|f| f.filename.ends_with(".png")), "{out:?}");

    let mut video = PartnerRequest::new(MediaType::Video, "T2V-01-Director", "waves");
    video.seed = Some(3);
    let v = succeeded(&comfy, video).await;
    assert!(
        v.outputs.iter().any(|o| o.file().is_some_and(|f| f.filename.ends_with(".mp4"))),
        "{:?}",
        v.outputs
    );

    let mut audio = PartnerRequest::new(MediaType::Audio, "stable-audio-2.5", "rain");
    audio.duration = Some(12.0);
    let a = succeeded(&comfy, audio).await;
    assert!(
        a.outputs.iter().any(|o| o.file().is_some_and(|f| f.filename.ends_with(".flac"))),
        "{:?}",
        a.outputs
    );

    // Reference media from an upload goes through a LoadImage node.
    let mut png = Vec::new();
    image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let uploaded = comfy.upload(Upload::file("ref.png", png)).await.unwrap();
    let mut edit = PartnerRequest::new(MediaType::Image, "OpenAIGPTImage1", "make it blue");
    edit.media = vec![uploaded.input_value()];
    let generated = comfy.partner_generate(edit).await.unwrap();
    let w = &generated.quote.workflow;
    assert_eq!(w["2"]["class_type"], "LoadImage", "{w}");
    assert_eq!(w["1"]["inputs"]["image"], serde_json::json!(["2", 0]));
    match generated.job.unwrap().wait(LONG).await.unwrap() {
        Waited::Finished(r) => assert_eq!(r.status, JobStatus::Succeeded),
        Waited::StillRunning(_) => panic!("not finished"),
    }
}

#[tokio::test]
async fn local_without_a_key_is_refused_before_submitting() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let comfy = local(&fake, None, true);
    let e =
        comfy.partner_generate(PartnerRequest::new(MediaType::Image, "flux-ultra", "x")).await.unwrap_err();
    assert_eq!(e.code(), "partner_key_missing");
    assert!(e.to_string().contains("COMFY_API_KEY"), "{e}");
    assert!(comfy.queue().await.unwrap().running.is_empty());
    assert_eq!(comfy.running_jobs(), 0);
    // A dry run still quotes (nothing is spent): the price is unknown here, the workflow complete.
    let mut dry = PartnerRequest::new(MediaType::Image, "flux-ultra", "x");
    dry.dry_run = true;
    let quote = comfy.partner_generate(dry).await.unwrap();
    assert!(quote.job.is_none());
    assert!(matches!(quote.quote.price, Price::Unknown { .. }), "{:?}", quote.quote.price);
    assert_eq!(quote.quote.save_node.as_deref(), Some("SaveImage"));
}

#[tokio::test]
async fn the_real_nodes_fail_without_a_credential_in_extra_data() {
    // What the fake does when a client sends a partner workflow without any key.
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let comfy = local(&fake, None, true);
    let mut dry = PartnerRequest::new(MediaType::Image, "flux-ultra", "x");
    dry.dry_run = true;
    let quote = comfy.partner_generate(dry).await.unwrap().quote;
    let workflow = comfy_core::Workflow::from_value(quote.workflow).unwrap();
    let job = comfy.submit(comfy_core::backend::JobRequest::new(workflow)).await.unwrap();
    let r = job.result().await.unwrap();
    match r.status {
        JobStatus::Failed(f) => assert!(f.message.contains("Please login first"), "{f:?}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn cloud_prices_from_the_badge_and_needs_consent() {
    let (_fake, comfy) = cloud().await;
    let request = || PartnerRequest::new(MediaType::Image, "FluxProUltraImageNode", "a lighthouse");

    let e = comfy.partner_generate(request()).await.unwrap_err();
    assert_eq!(e.code(), "spending_consent_required");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("$0.06 (12.66 credits)"), "{e}");

    let mut low = request();
    low.max_credits = Some(10.0);
    let e = comfy.partner_generate(low).await.unwrap_err();
    assert_eq!(e.code(), "price_above_max_credits");
    assert!(e.to_string().contains("12.66") && e.to_string().contains("max_credits 10"), "{e}");
    assert_eq!(comfy.running_jobs(), 0, "nothing was submitted");

    let mut enough = request();
    enough.max_credits = Some(13.0);
    let r = succeeded(&comfy, enough).await;
    assert_eq!(r.outputs.len(), 1);

    // A price that follows a widget: 0.2 + 0.01 × duration.
    let mut audio = PartnerRequest::new(MediaType::Audio, "StabilityTextToAudio", "rain");
    audio.duration = Some(30.0);
    audio.dry_run = true;
    let quote = comfy.partner_generate(audio).await.unwrap().quote;
    assert_eq!(quote.price, Price::usd(0.5, 0.5));
    assert!(!quote.consent);
    assert_eq!(quote.workflow["1"]["inputs"]["duration"], 30);
}

#[tokio::test]
async fn unknown_models_name_candidates_of_the_type() {
    let (_fake, comfy) = cloud().await;
    let e = comfy
        .partner_generate(PartnerRequest::new(MediaType::Video, "T2V-01-Directer", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_partner_model");
    assert!(e.to_string().contains("T2V-01-Director"), "{e}");
}

/// Every partner class of the captured ComfyUI catalogue: a quote (built, validated workflow) or
/// a clear refusal — media it needs, or an output no save node takes.
#[tokio::test]
async fn every_captured_partner_class_quotes_or_says_why_not() {
    let fake = FakeComfyUi::builder().object_info_fixture().start().await.unwrap();
    let comfy = local(&fake, Some("k"), false);
    let catalog = comfy.catalog().await.unwrap();
    let mut png = Vec::new();
    image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let image = comfy.upload(Upload::file("ref.png", png)).await.unwrap().input_value();
    let (mut quoted, mut refused) = (0, Vec::new());
    for node in catalog.nodes().filter(|n| n.api_node) {
        let Some(media_type) = node.category.split('/').nth(1).and_then(|t| t.parse::<MediaType>().ok())
        else {
            continue;
        };
        let mut request = PartnerRequest::new(media_type, node.name.clone(), "a fox");
        request.dry_run = true;
        match comfy.partner_generate(request.clone()).await {
            Ok(_) => quoted += 1,
            Err(e) if e.code() == "invalid_argument" && e.to_string().contains("media") => {
                request.media = vec![image.clone()];
                match comfy.partner_generate(request).await {
                    Ok(_) => quoted += 1,
                    Err(e) => refused.push(format!("{}: {} {e}", node.name, e.code())),
                }
            }
            Err(e) => refused.push(format!("{}: {} {e}", node.name, e.code())),
        }
    }
    eprintln!("quoted {quoted}; refused {}:\n{}", refused.len(), refused.join("\n"));
    // What is built always validates: a refusal is about what the request lacks (media of a
    // kind, a link partner_generate cannot make) or an output no save node takes.
    assert!(
        refused.iter().all(|r| r.contains(": invalid_argument ") || r.contains(": not_supported ")),
        "{refused:#?}"
    );
    // Measured on the ComfyUI 0.3.75 capture: 69 of 98 image/video/audio/3d partner classes.
    assert!(quoted >= 60, "{quoted}");
}
