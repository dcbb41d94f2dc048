//! The core's user intentions end to end against the fake ComfyUI: prepare (any form, template
//! parameters blamed), run with a wait, report, follow, the running-jobs cap, and files this
//! client uploaded (or another client uploaded since the catalogue was fetched) being valid
//! inputs at once.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::Upload;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::job::JobStatus;
use comfy_core::template::Template;
use comfy_core::{ClientOptions, Comfy, JobState, Source, Update, Waited, Workflow};
use comfy_fake::FakeComfyUi;
use serde_json::{Map, Value, json};

const LONG: Duration = Duration::from_secs(30);

async fn fake() -> FakeComfyUi {
    FakeComfyUi::builder().object_info_fixture().step_delay(Duration::from_millis(2)).start().await.unwrap()
}

fn client(url: &str, options: ClientOptions) -> Comfy {
    let backend = LocalComfyUi::builder(url).request_timeout(Duration::from_secs(5)).build().unwrap();
    Comfy::builder(Arc::new(backend)).options(options).build().unwrap()
}

fn fast() -> ClientOptions {
    ClientOptions { poll_interval: Duration::from_millis(100), ..Default::default() }
}

fn basic(color: u32) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 2, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "app"}}
    })
}

fn stepped(steps: u32) -> Value {
    json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny.safetensors"}},
        "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a", "clip": ["1", 1]}},
        "4": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["3", 0], "negative": ["3", 0],
              "latent_image": ["2", 0], "seed": 1, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "stepped"}}
    })
}

async fn stepped_fake(delay_ms: u64) -> FakeComfyUi {
    FakeComfyUi::builder()
        .object_info_fixture()
        .model_files("checkpoints", &["tiny.safetensors"])
        .step_delay(Duration::from_millis(delay_ms))
        .start()
        .await
        .unwrap()
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn load_image(name: &str) -> Value {
    json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loaded"}}
    })
}

#[tokio::test]
async fn prepare_reports_every_problem_and_runs_what_passes() {
    let fake = fake().await;
    let comfy = client(&fake.url(), fast());
    // Every problem at once, with node, input and code.
    let bad = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImagez", "inputs": {"images": ["1", 0]}}
    });
    let checked = comfy.check(Source::Json(bad.clone())).await.unwrap();
    assert!(!checked.valid);
    assert_eq!(checked.errors, 2, "{checked:?}");
    assert!(checked.problems.iter().any(|p| p.input.as_deref() == Some("width")));
    match comfy.prepare(Source::Json(bad)).await {
        Err(comfy_core::Error::Validation(report)) => assert_eq!(report.errors().count(), 2),
        other => panic!("expected validation_failed, got {other:?}"),
    }
    // A good one runs; waiting returns every output.
    let done = comfy.run(Source::Json(basic(3)), Some(LONG)).await.unwrap();
    let Waited::Finished(result) = done else { panic!("still running") };
    assert_eq!(result.status, JobStatus::Succeeded);
    assert_eq!(result.assets.len(), 2, "both images of the batch");
    let job = comfy.job(&result.job_id).await.unwrap();
    let report = comfy.report(&job).await.unwrap();
    assert_eq!(report.status, JobState::Succeeded);
    let outputs = report.outputs.unwrap();
    assert_eq!(outputs.len(), 2);
    assert!(outputs.iter().all(|a| a.node_id == "2" && a.mime_type == "image/png"));
    // No wait: the live handle.
    let Waited::StillRunning(job) = comfy.run(Source::Json(basic(4)), None).await.unwrap() else {
        panic!("no wait asked")
    };
    assert!(matches!(job.wait(LONG).await.unwrap(), Waited::Finished(_)));
}

#[tokio::test]
async fn template_problems_name_the_parameter_and_overrides_apply_before_validation() {
    let fake = fake().await;
    let comfy = client(&fake.url(), fast());
    // LoadImage's file list is an upload combo: rendering cannot check it, validation can.
    let template = Template::from_json_str(
        "load",
        &json!({
            "__metadata__": {"name": "load", "parameters": {"picture": {"type": "string"}}},
            "1": {"class_type": "LoadImage", "inputs": {"image": "{{picture}}"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}}
        })
        .to_string(),
    )
    .unwrap();
    let mut params = Map::new();
    params.insert("picture".into(), json!("missing.png"));
    let source = Source::Template { template: Arc::new(template), params };
    let Err(comfy_core::Error::Validation(report)) = comfy.prepare(source.clone()).await else {
        panic!("a file that is not there is refused")
    };
    let p = report.errors().next().unwrap();
    assert_eq!((p.node_id.as_ref().map(|n| n.as_str()), p.input.as_deref()), (Some("1"), Some("image")));
    assert_eq!(p.param.as_deref(), Some("picture"), "{p:?}");
    assert!(p.expected.is_some(), "what the parameter accepts: {p:?}");
    let checked = comfy.check(source).await.unwrap();
    assert_eq!(checked.problems[0].param.as_deref(), Some("picture"));

    // Overrides by title or id, checked against the catalogue, before validation.
    let mut overrides = Map::new();
    overrides.insert("1.width".into(), json!(24));
    let prepared = comfy.prepare(Source::Json(basic(1)).with_overrides(overrides)).await.unwrap();
    assert_eq!(prepared.workflow.node("1").unwrap().inputs["width"].as_value(), Some(&json!(24)));
    let mut bad = Map::new();
    bad.insert("1.widht".into(), json!(24));
    let e = comfy.prepare(Source::Json(basic(1)).with_overrides(bad)).await.unwrap_err();
    assert_eq!(e.code(), "invalid_override", "{e}");
}

#[tokio::test]
async fn follow_reports_node_class_steps_and_a_fraction_that_never_goes_back() {
    let fake = stepped_fake(5).await;
    let comfy = client(&fake.url(), fast());
    let job =
        comfy.submit(comfy.prepare(Source::Json(stepped(12))).await.unwrap().into_request()).await.unwrap();
    let mut updates = job.follow();
    let mut last = 0.0;
    let mut saw_sampler_step = false;
    let mut kinds = Vec::new();
    let finished = tokio::time::timeout(LONG, async {
        while let Some(u) = updates.next().await {
            kinds.push(u.kind());
            match u {
                Update::Running(p) => {
                    assert!(p.fraction >= last, "fraction went back: {} < {last}", p.fraction);
                    last = p.fraction;
                    if p.class_type.as_deref() == Some("KSampler") && p.step.is_some() {
                        assert_eq!(p.node_id.as_deref(), Some("4"));
                        assert_eq!(p.max_steps, Some(12));
                        saw_sampler_step = true;
                    }
                }
                Update::Finished(r) => return r,
                _ => {}
            }
        }
        panic!("the stream ended without Finished")
    })
    .await
    .unwrap();
    assert_eq!(finished.status, JobStatus::Succeeded);
    assert!(saw_sampler_step, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"finished"));
    assert!(updates.next().await.is_none(), "nothing after Finished");
    // A late follower of a finished job gets Finished at once.
    let mut late = job.follow();
    assert!(matches!(late.next().await, Some(Update::Finished(_))));
}

#[tokio::test]
async fn the_running_jobs_cap_refuses_with_a_retryable_error() {
    let fake = stepped_fake(50).await;
    let comfy = client(&fake.url(), ClientOptions { max_running_jobs: 1, ..fast() });
    let first =
        comfy.submit(comfy.prepare(Source::Json(stepped(200))).await.unwrap().into_request()).await.unwrap();
    assert_eq!(comfy.running_jobs(), 1);
    let e = comfy.run(Source::Json(basic(1)), None).await.unwrap_err();
    assert_eq!(e.code(), "too_many_jobs");
    assert!(e.is_retryable());
    first.cancel().await.unwrap();
    assert!(matches!(first.wait(LONG).await.unwrap(), Waited::Finished(_)));
    assert_eq!(comfy.running_jobs(), 0);
    assert!(comfy.run(Source::Json(basic(1)), Some(LONG)).await.is_ok(), "a slot is free again");
}

#[tokio::test]
async fn uploaded_files_are_valid_inputs_although_the_catalogue_is_older() {
    let fake = fake().await;
    let comfy = client(&fake.url(), fast());
    let other = client(&fake.url(), fast());
    // Warm catalogues: both clients fetched /object_info before any upload.
    comfy.catalog().await.unwrap();
    other.catalog().await.unwrap();
    // This client's own upload is valid at once.
    let uploaded = comfy.upload(Upload::file("mine.png", png())).await.unwrap();
    let name = uploaded.input_value();
    let Waited::Finished(r) = comfy.run(Source::Json(load_image(&name)), Some(LONG)).await.unwrap() else {
        panic!("still running")
    };
    assert_eq!(r.status, JobStatus::Succeeded, "{name}");
    // A file another client uploaded after this one's catalogue was fetched: the miss on an
    // upload input re-checks a fresh catalogue before refusing.
    let theirs = comfy.upload(Upload::file("theirs.png", png())).await.unwrap().input_value();
    let prepared = other.prepare(Source::Json(load_image(&theirs))).await;
    assert!(prepared.is_ok(), "{prepared:?}");
    // A file nobody uploaded is still refused, with the input named.
    let Err(comfy_core::Error::Validation(report)) =
        other.prepare(Source::Json(load_image("nobody.png"))).await
    else {
        panic!("refused")
    };
    assert_eq!(report.errors().next().unwrap().input.as_deref(), Some("image"));
}

#[tokio::test]
async fn templates_by_name_render_over_the_client_defaults() {
    let fake = stepped_fake(1).await;
    let comfy = client(&fake.url(), fast());
    let t = comfy.template("generate_image").await.unwrap();
    assert!(comfy.templates().has_catalog(), "fetching a template enriches the set first");
    assert!(t.params.contains_key("prompt"));
    comfy.update_param_defaults(|d| {
        d.runtime.insert("steps".into(), json!(3));
    });
    let mut params = Map::new();
    params.insert("prompt".into(), json!("a cat"));
    params.insert("ckpt_name".into(), json!("tiny.safetensors"));
    let prepared = comfy.prepare(Source::named("generate_image", params)).await.unwrap();
    assert_eq!(prepared.params().unwrap()["steps"], 3, "the runtime default applies");
    assert_eq!(prepared.provenance.template.as_deref(), Some("generate_image"));
    assert!(prepared.random_seeds.contains(&"seed".to_owned()));
    let workflow: &Workflow = &prepared.workflow;
    assert!(workflow.nodes().any(|(_, n)| n.class_type == "KSampler"));
    let e = comfy.prepare(Source::named("nope", Map::new())).await.unwrap_err();
    assert_eq!(e.code(), "template_not_found");
}

#[tokio::test]
async fn saved_assets_land_in_missing_directories_with_the_bytes_of_view() {
    let fake = fake().await;
    let comfy = client(&fake.url(), fast());
    let Waited::Finished(result) = comfy.run(Source::Json(basic(5)), Some(LONG)).await.unwrap() else {
        panic!("still running")
    };
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out/nested/first.png");
    let fetched = comfy.save_asset(&result.assets[0], &target).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), fetched.data.to_vec());
    let written = comfy.save_assets(&result.assets, dir.path().join("all")).await.unwrap();
    assert_eq!(written.len(), 2);
    assert!(written.iter().all(|p| p.is_file()), "{written:?}");
}
