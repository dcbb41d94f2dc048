//! HTTP answers of the fake against the captured responses of a real ComfyUI 0.3.64.

mod common;

use common::*;
use serde_json::{Value, json};

/// Every captured POST /prompt: the same verdict, error type, nodes, error types and texts.
#[tokio::test]
async fn prompt_verdicts_and_errors_match_every_capture() {
    let fake = start().await;
    let http = Http::new(&fake);
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("prompts"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".request.json").map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() >= 30);
    // The input folder as it was when the captures were made.
    for file in fixture("http/internal_files_input_after_uploads.json").as_array().unwrap() {
        let name = file.as_str().unwrap();
        let bytes =
            if name == "corrupt.png" { b"this is not a png".to_vec() } else { png(32, 32, [9, 9, 9, 255]) };
        assert_eq!(http.upload(name, bytes, &[]).await.status, 200);
    }
    for name in &names {
        let expected = fixture(&format!("http/{name}.json"));
        let (status, got) = http.prompt(&request(name)).await;
        let Some(error) = expected.get("error") else {
            assert_eq!(status, 200, "{name}: {got:#}");
            assert_same_shape(&got, &expected, &["$.node_errors"]);
            let keys = |v: &Value| v["node_errors"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&got), keys(&expected), "{name}");
            continue;
        };
        assert_eq!(status, 400, "{name}: {got:#}");
        match error["type"].as_str().unwrap() {
            "prompt_outputs_failed_validation" => {
                assert_eq!(got["error"]["type"], error["type"], "{name}");
                assert_eq!(got["error"]["details"], error["details"], "{name}");
                let (g, e) =
                    (got["node_errors"].as_object().unwrap(), expected["node_errors"].as_object().unwrap());
                assert_eq!(g.keys().collect::<Vec<_>>(), e.keys().collect::<Vec<_>>(), "{name}");
                for (node, e) in e {
                    let g = &g[node];
                    assert_eq!(g["class_type"], e["class_type"], "{name} {node}");
                    assert_eq!(g["dependent_outputs"], e["dependent_outputs"], "{name} {node}");
                    let (ge, ee) = (g["errors"].as_array().unwrap(), e["errors"].as_array().unwrap());
                    assert_eq!(ge.len(), ee.len(), "{name} {node}");
                    for (ge, ee) in ge.iter().zip(ee) {
                        assert_same_shape(ge, ee, &[]);
                        for key in ["type", "message", "details"] {
                            assert_eq!(ge[key], ee[key], "{name} {node} {key}");
                        }
                        let mut gi = ge["extra_info"].clone();
                        let mut ei = ee["extra_info"].clone();
                        for info in [&mut gi, &mut ei] {
                            if let Some(m) = info.as_object_mut() {
                                m.remove("traceback");
                            }
                        }
                        assert_eq!(gi, ei, "{name} {node} extra_info");
                    }
                }
            }
            // invalid_prompt, prompt_no_outputs, no_prompt: the whole body.
            _ => assert_eq!(got, expected, "{name}"),
        }
    }
}

#[tokio::test]
async fn body_errors_match_aiohttp() {
    let fake = start().await;
    let http = Http::new(&fake);
    let r = http.post_raw("/prompt", "not json").await;
    assert_eq!((r.status, r.content_type.as_str()), (500, "text/plain; charset=utf-8"));
    assert_eq!(r.text(), "500 Internal Server Error\n\nServer got itself in trouble");
    let r = http.post("/api/prompt", &request("prompt_error_no_prompt_key")).await;
    assert_eq!((r.status, r.json()), (400, fixture("http/prompt_error_no_prompt_key.json")));
    // Numbers: every POST without one takes the counter, even a rejected one.
    let (_, a) = http.prompt(&body_for("prompt_post_success", None)).await;
    let (_, b) = http.prompt(&json!({"prompt": {"1": {"class_type": "Nope", "inputs": {}}}})).await;
    let (_, c) = http.prompt(&body_for("prompt_post_success", None)).await;
    assert_eq!(
        (a["number"].clone(), b["error"]["type"].clone(), c["number"].clone()),
        (json!(1), json!("invalid_prompt"), json!(3))
    );
    let (_, d) = http
        .prompt(
            &json!({"prompt": request("prompt_post_success")["prompt"], "number": 5, "prompt_id": "mine"}),
        )
        .await;
    assert_eq!(d.to_string(), r#"{"prompt_id":"mine","number":5.0,"node_errors":{}}"#);
}

#[tokio::test]
async fn queue_and_history_follow_the_captured_shapes() {
    let fake = start().await;
    let http = Http::new(&fake);
    assert_eq!(http.get("/queue").await.json(), fixture("http/queue_empty.json"));
    assert_eq!(http.get("/prompt").await.json(), fixture("http/prompt_get_queue_info.json"));
    assert_eq!(http.get("/history").await.json(), fixture("http/history_empty.json"));
    assert_eq!(
        http.history("00000000-0000-0000-0000-000000000000").await,
        fixture("http/history_prompt_unknown_id.json")
    );

    let mut ids = Vec::new();
    for color in [1, 2, 3] {
        let mut body = body_for("prompt_post_success", Some("h"));
        body["prompt"]["1"]["inputs"]["color"] = json!(color);
        ids.push(http.queue(&body).await);
        assert!(fake.wait_until_idle(TIMEOUT).await);
    }
    let all = http.get("/history").await.json();
    assert_eq!(all.as_object().unwrap().keys().collect::<Vec<_>>(), ids.iter().collect::<Vec<_>>());
    for (id, entry) in all.as_object().unwrap() {
        let ours = json!({ id: entry });
        assert_same_shape(
            &ours,
            &fixture("http/history_prompt_success.json"),
            &["$", "$.*.outputs", "$.*.meta"],
        );
    }
    let last2 = http.get("/history?max_items=2").await.json();
    assert_eq!(last2.as_object().unwrap().keys().collect::<Vec<_>>(), [&ids[1], &ids[2]]);
    let first = http.get("/api/history?max_items=1&offset=0").await.json();
    assert_eq!(first.as_object().unwrap().keys().collect::<Vec<_>>(), [&ids[0]]);
    assert_eq!(http.get("/history?max_items=x").await.status, 500);

    let r = http.post("/history", &json!({"delete": [ids[0]]})).await;
    assert_eq!((r.status, r.bytes.len()), (200, 0));
    assert_eq!(http.history(&ids[0]).await, fixture("http/history_after_delete_item.json"));
    http.post("/history", &json!({"clear": true})).await;
    assert_eq!(http.get("/history").await.json(), fixture("http/history_after_clear.json"));
    assert_eq!(http.get("/queue").await.json(), fixture("http/queue_idle_end.json"));
}

#[tokio::test]
async fn info_routes_match_the_captures() {
    let fake = start().await;
    let http = Http::new(&fake);
    for (path, file) in [
        ("/system_stats", "system_stats"),
        ("/api/system_stats", "system_stats"),
        ("/features", "features"),
        ("/api/features", "api_features"),
        ("/object_info/KSampler", "object_info_KSampler"),
        ("/api/object_info/SaveVideo", "object_info_SaveVideo"),
        ("/object_info/NoSuchNode", "object_info_unknown_class"),
        ("/models", "models"),
        ("/models/checkpoints", "models_checkpoints"),
        ("/api/models/loras", "models_loras"),
        ("/embeddings", "embeddings"),
    ] {
        let r = http.get(path).await;
        assert_eq!((r.status, r.content_type.as_str()), (200, "application/json; charset=utf-8"), "{path}");
        assert_eq!(r.json(), fixture(&format!("http/{file}.json")), "{path}");
    }
    assert_eq!(http.get("/object_info").await.json(), fixture("http/object_info_full.json"));
    let r = http.get("/models/not_a_folder").await;
    assert_eq!((r.status, r.bytes.len()), (404, 0));
    let r = http.get("/api/ws").await;
    assert_eq!(
        (r.status, r.text()),
        (400, "No WebSocket UPGRADE hdr: None\n Can \"Upgrade\" only to \"WebSocket\".".to_string())
    );

    let evil = http
        .client
        .get(format!("{}/system_stats", http.base))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    let same = http
        .client
        .get(format!("{}/system_stats", http.base))
        .header("Origin", http.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(same.status().as_u16(), 200);
    let options =
        http.client.request(reqwest::Method::OPTIONS, format!("{}/prompt", http.base)).send().await.unwrap();
    assert_eq!(options.status().as_u16(), 200);
}

fn png(w: u32, h: u32, rgba: [u8; 4]) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba(rgba));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn uploads_follow_comfyui() {
    let fake = start().await;
    let http = Http::new(&fake);
    let (red, green, blue) =
        (png(32, 32, [255, 0, 0, 255]), png(32, 32, [0, 255, 0, 255]), png(32, 32, [0, 0, 255, 255]));
    let r = http.upload("fixture_upload.png", red.clone(), &[]).await;
    assert_eq!(r.json(), fixture("http/upload_image_new.json"));
    let r = http.upload("fixture_upload.png", red.clone(), &[]).await;
    assert_eq!(r.json(), fixture("http/upload_image_duplicate_same_content.json"));
    let r = http.upload("fixture_upload.png", green.clone(), &[]).await;
    assert_eq!(r.json(), fixture("http/upload_image_name_collision_renamed.json"));
    let r = http.upload("fixture_upload.png", blue.clone(), &[("overwrite", "true")]).await;
    assert_eq!(r.json(), fixture("http/upload_image_overwrite_true.json"));
    assert_eq!(fake.file("input", "", "fixture_upload.png"), Some(blue));
    let r = http.upload("in_sub.png", red.clone(), &[("subfolder", "fixtures/sub"), ("type", "input")]).await;
    assert_eq!(r.json(), fixture("http/upload_image_subfolder.json"));
    let r = http.upload("temp_upload.png", red.clone(), &[("type", "temp")]).await;
    assert_eq!(r.json(), fixture("http/upload_image_type_temp.json"));
    let r =
        http.upload("output_upload.png", red.clone(), &[("type", "output"), ("subfolder", "uploads")]).await;
    assert_eq!(r.json(), fixture("http/upload_image_type_output.json"));

    // Errors: no file field, escaping sub-folder, unknown type.
    let no_file = reqwest::multipart::Form::new().text("type", "input");
    let r = http.post_form("/upload/image", no_file).await;
    assert_eq!((r.status, r.bytes.len()), (400, 0));
    assert_eq!(http.upload("x.png", red.clone(), &[("subfolder", "../..")]).await.status, 400);
    let r = http.upload("x.png", red.clone(), &[("type", "bogus")]).await;
    assert_eq!(
        (r.status, r.text()),
        (500, "500 Internal Server Error\n\nServer got itself in trouble".to_string())
    );

    // A 0-byte upload is stored as an empty file, like ComfyUI (content is never checked).
    let r = http.upload("empty.png", Vec::new(), &[]).await;
    assert_eq!(r.json(), json!({"name": "empty.png", "subfolder": "", "type": "input"}));
    let v = http.get("/view?filename=empty.png&type=input").await;
    assert_eq!((v.status, v.bytes.len()), (200, 0));

    // Mask: the original's pixels with the mask's alpha; a missing original writes nothing.
    let mut half = image::RgbaImage::from_pixel(32, 32, image::Rgba([0, 0, 0, 0]));
    for (x, _, p) in half.enumerate_pixels_mut() {
        if x < 16 {
            p.0[3] = 255;
        }
    }
    let mut mask = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(half).write_to(&mut mask, image::ImageFormat::Png).unwrap();
    let form = |name: &str, original: &str| {
        reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(mask.get_ref().clone()).file_name(name.to_string()),
            )
            .text("original_ref", format!(r#"{{"filename":"{original}","subfolder":"","type":"input"}}"#))
            .text("type", "input")
            .text("subfolder", "clipspace")
    };
    let r = http.post_form("/upload/mask", form("clipspace-mask-1.png", "fixture_upload.png")).await;
    assert_eq!(r.json(), fixture("http/upload_mask.json"));
    let masked = fake.file("input", "clipspace", "clipspace-mask-1.png").unwrap();
    let img = image::load_from_memory(&masked).unwrap().to_rgba8();
    assert_eq!((img.get_pixel(0, 0).0, img.get_pixel(31, 0).0), ([0, 0, 255, 255], [0, 0, 255, 0]));
    let r = http.post_form("/upload/mask", form("mask_for_missing.png", "does_not_exist.png")).await;
    assert_eq!(r.json()["name"], "mask_for_missing.png");
    assert_eq!(fake.file("input", "clipspace", "mask_for_missing.png"), None);
    assert_eq!(fake.uploads().len(), 10);

    // An uploaded file is a valid LoadImage value and shows up in /object_info.
    let prompt = json!({"prompt": {
        "1": {"class_type": "LoadImage", "inputs": {"image": "fixture_upload (1).png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}});
    assert_eq!(http.prompt(&prompt).await.0, 200);
    let info = http.get("/object_info/LoadImage").await.json();
    assert!(
        info["LoadImage"]["input"]["required"]["image"][0]
            .as_array()
            .unwrap()
            .contains(&json!("fixture_upload (1).png"))
    );
}

#[tokio::test]
async fn view_answers_match_every_captured_view_request() {
    let fake = start().await;
    let http = Http::new(&fake);
    let rgba = png(32, 32, [1, 2, 3, 128]);
    http.upload("fixture_upload.png", rgba.clone(), &[]).await;
    http.upload("in_sub.png", rgba.clone(), &[("subfolder", "fixtures/sub")]).await;
    http.upload("clipspace-mask-1.png", rgba.clone(), &[("subfolder", "clipspace")]).await;
    http.upload("temp_upload.png", rgba.clone(), &[("type", "temp")]).await;
    http.upload("basic_00006_.png", rgba.clone(), &[("type", "output"), ("subfolder", "fixture")]).await;
    for name in ["prompt_post_audio_outputs", "prompt_post_video_outputs"] {
        http.queue(&body_for(name, None)).await;
    }
    assert!(fake.wait_until_idle(TIMEOUT).await);

    let index = fixture("index.json");
    let mut checked = 0;
    for (name, entry) in index.as_object().unwrap() {
        let path = entry["request"]["path"].as_str().unwrap_or("");
        let is_view = path.starts_with("/view?") || path.starts_with("/api/view?") || path == "/view";
        // `preview=` re-encoding is not implemented (the original file is served).
        if !is_view || path.contains("preview=") {
            continue;
        }
        let r = http.get(path).await;
        assert_eq!(r.status, entry["status"].as_u64().unwrap() as u16, "{name} {path}");
        if let Some(ct) = entry["headers"]["Content-Type"].as_str() {
            assert_eq!(r.content_type, ct, "{name}");
        }
        if r.status != 200 {
            assert!(r.bytes.is_empty(), "{name}");
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
    let r = http
        .client
        .get(format!("{}/view?filename=fixture_upload.png&type=input", http.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-disposition"], "filename=\"fixture_upload.png\"");
    // channel=a: alpha kept, colour dropped.
    let a = http.get("/view?filename=fixture_upload.png&type=input&channel=a").await;
    let img = image::load_from_memory(&a.bytes).unwrap().to_rgba8();
    assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0, 128]);
}
