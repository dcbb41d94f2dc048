//! The fake's WebSocket traffic against the captured transcripts of a real ComfyUI 0.3.64.

mod common;

use std::time::Duration;

use comfy_fake::FakeComfyUi;
use common::*;
use serde_json::{Value, json};

/// Every text message has the shape of the transcript's message at the same position.
fn assert_shapes(actual: &[Msg], transcript_name: &str) {
    let expected = transcript(transcript_name);
    assert_eq!(actual.len(), expected.len(), "{transcript_name}: {:?}", kinds(actual));
    for (a, e) in actual.iter().zip(&expected) {
        if let Msg::Text(v) = a {
            assert_same_shape(v, e, &["$.data.nodes"]);
        }
    }
}

fn executing_order(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m.is("executing") && m.data()["display_node"].is_string())
        .map(|m| m.data()["node"].as_str().unwrap().to_string())
        .collect()
}

fn executed(msgs: &[Msg]) -> Vec<(String, Value)> {
    msgs.iter()
        .filter(|m| m.is("executed"))
        .map(|m| (m.data()["node"].as_str().unwrap().to_string(), m.data()["output"].clone()))
        .collect()
}

fn transcript_msgs(name: &str) -> Vec<Msg> {
    transcript(name).into_iter().filter(|m| m.get("binary").is_none()).map(Msg::Text).collect()
}

#[tokio::test]
async fn basic_run_matches_ws_01() {
    let fake = start().await;
    let http = Http::new(&fake);
    let mut ws = Ws::connect(&fake, "client-01", false).await;
    let (status, reply) = http.prompt(&body_for("prompt_post_success", Some("client-01"))).await;
    assert_eq!(status, 200);
    assert_same_shape(&reply, &fixture("http/prompt_post_success.json"), &[]);
    let id = reply["prompt_id"].as_str().unwrap().to_string();
    ws.until_done(&id).await;

    assert_eq!(kinds(&ws.log), transcript_kinds("ws_01_basic_success"));
    assert_shapes(&ws.log, "ws_01_basic_success");
    assert_eq!(executing_order(&ws.log), executing_order(&transcript_msgs("ws_01_basic_success")));
    let outputs = executed(&ws.log);
    assert_eq!(
        outputs[1],
        (
            "3".to_string(),
            json!({"images": [{"filename": "basic_00001_.png", "subfolder": "fixture", "type": "output"}]})
        )
    );
    let temp = outputs[0].1["images"][0]["filename"].as_str().unwrap();
    assert!(temp.starts_with("ComfyUI_temp_") && temp.ends_with("_00001_.png") && temp.len() == 29, "{temp}");

    // History: the shape of the captured entry; the prompt tuple as submitted.
    let history = http.history(&id).await;
    assert_same_shape(
        &history,
        &fixture("http/history_prompt_success.json"),
        &["$", "$.*.outputs", "$.*.meta"],
    );
    let entry = &history[&id];
    assert_eq!(entry["prompt"][0], json!(0));
    assert_eq!(entry["prompt"][2], request("prompt_post_success")["prompt"]);
    assert_eq!(entry["prompt"][3], json!({"client_id": "client-01"}));
    assert_eq!(entry["prompt"][4], json!(["3", "4"]));
    assert_eq!(entry["status"]["status_str"], "success");

    // The saved file is a real 64x64 PNG.
    let view = http.get("/view?filename=basic_00001_.png&subfolder=fixture&type=output").await;
    assert_eq!((view.status, view.content_type.as_str()), (200, "image/png"));
    assert_eq!(&view.bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&view.bytes[16..24], &[0, 0, 0, 64, 0, 0, 0, 64]);
}

#[tokio::test]
async fn cached_and_partially_cached_reruns_match_ws_02_and_ws_03() {
    let fake = start().await;
    let http = Http::new(&fake);
    let mut first = Ws::connect(&fake, "first", false).await;
    let id = http.queue(&body_for("prompt_post_success", Some("first"))).await;
    first.until_done(&id).await;
    let first_outputs = http.history(&id).await[&id]["outputs"].clone();

    let mut rerun = Ws::connect(&fake, "rerun", false).await;
    let id2 = http.queue(&body_for("prompt_post_success_cached_rerun", Some("rerun"))).await;
    rerun.until_done(&id2).await;
    assert_eq!(kinds(&rerun.log), transcript_kinds("ws_02_cached_rerun"));
    assert_shapes(&rerun.log, "ws_02_cached_rerun");
    let cached = rerun.log.iter().find(|m| m.is("execution_cached")).unwrap();
    assert_eq!(cached.data()["nodes"], json!(["1", "2", "3", "4"]));
    let history = http.history(&id2).await;
    assert_same_shape(
        &history,
        &fixture("http/history_prompt_cached_rerun.json"),
        &["$", "$.*.outputs", "$.*.meta"],
    );
    assert_eq!(history[&id2]["outputs"], first_outputs, "a cached save node re-reports the same file");

    let mut partial = Ws::connect(&fake, "partial", false).await;
    let id3 = http.queue(&body_for("prompt_post_success_partially_cached", Some("partial"))).await;
    partial.until_done(&id3).await;
    assert_eq!(kinds(&partial.log), transcript_kinds("ws_03_partially_cached_rerun"));
    let cached = partial.log.iter().find(|m| m.is("execution_cached")).unwrap();
    assert_eq!(cached.data()["nodes"], json!(["1", "2", "4"]));
    assert_eq!(executed(&partial.log)[0].1["images"][0]["filename"], "basic_changed_00001_.png");
}

#[tokio::test]
async fn preview_formats_follow_feature_flags_like_ws_04_and_ws_05() {
    let fake = start().await;
    let http = Http::new(&fake);

    let mut modern = Ws::connect(&fake, "modern", true).await;
    let id = http.queue(&body_for("prompt_post_ws_images_with_feature_flags", Some("modern"))).await;
    modern.until_done(&id).await;
    assert_eq!(kinds(&modern.log), transcript_kinds("ws_04_feature_flags_preview_metadata_binary"));
    assert_eq!(
        modern.log[1].data(),
        &json!({"supports_preview_metadata": true, "max_upload_size": 104857600})
    );
    let expected_meta = transcript("ws_04_feature_flags_preview_metadata_binary")
        .into_iter()
        .find(|m| m["event_type"] == 4)
        .unwrap()["metadata"]
        .clone();
    for m in &modern.log {
        let Msg::Binary(b) = m else { continue };
        match b[3] {
            4 => {
                let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
                let mut meta: Value = serde_json::from_slice(&b[8..8 + len]).unwrap();
                assert_eq!(meta["prompt_id"], id.as_str());
                meta["prompt_id"] = expected_meta["prompt_id"].clone();
                assert_eq!(meta, expected_meta);
                let png = &b[8 + len..];
                assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
                assert_eq!(&png[16..24], &[0, 0, 0, 48, 0, 0, 0, 32], "48x32 like the EmptyImage");
            }
            3 => {
                assert_eq!(&b[4..8], &[0, 0, 0, 1]);
                assert_eq!(&b[8..9], b"3");
                assert_eq!(&b[9..], b"width: 48, height: 32\n batch size: 2");
            }
            other => panic!("unexpected binary event {other}"),
        }
    }
    assert_eq!(executed(&modern.log), vec![("4".to_string(), json!({"text": ["48"]}))]);
    let progress: Vec<&Value> = modern.log.iter().filter(|m| m.is("progress")).map(|m| m.data()).collect();
    assert_eq!(progress[0], &json!({"value": 0, "max": 2, "prompt_id": id, "node": "2"}));
    assert_eq!(http.history(&id).await[&id]["outputs"], json!({"4": {"text": ["48"]}}));

    let mut legacy = Ws::connect(&fake, "legacy", false).await;
    let id = http.queue(&body_for("prompt_post_ws_images_legacy_client", Some("legacy"))).await;
    legacy.until_done(&id).await;
    assert_eq!(kinds(&legacy.log), transcript_kinds("ws_05_legacy_binary_preview_and_text"));
    for m in &legacy.log {
        if let Msg::Binary(b) = m
            && b[3] == 1
        {
            assert_eq!(&b[4..8], &[0, 0, 0, 2], "image format 2 = PNG");
            assert_eq!(&b[8..16], b"\x89PNG\r\n\x1a\n");
        }
    }
}

#[tokio::test]
async fn runtime_error_matches_ws_06() {
    let fake = start().await;
    let http = Http::new(&fake);
    let up = http.upload("corrupt.png", b"this is not a png".to_vec(), &[]).await;
    assert_eq!(up.json(), fixture("http/upload_image_corrupt_png.json"));
    let mut ws = Ws::connect(&fake, "err", false).await;
    let id = http.queue(&body_for("prompt_post_runtime_error", Some("err"))).await;
    ws.until_done(&id).await;
    assert_eq!(kinds(&ws.log), transcript_kinds("ws_06_execution_error"));
    assert_shapes(&ws.log, "ws_06_execution_error");
    let err = ws.log.iter().find(|m| m.is("execution_error")).unwrap().data();
    assert_eq!(err["exception_type"], "PIL.UnidentifiedImageError");
    assert_eq!(err["exception_message"], "cannot identify image file '<COMFYUI_ROOT>/input/corrupt.png'\n");
    assert_eq!((err["node_id"].as_str(), err["node_type"].as_str()), (Some("1"), Some("LoadImage")));
    assert_eq!(err["current_inputs"], json!({"image": ["corrupt.png"]}));
    let history = http.history(&id).await;
    assert_same_shape(&history, &fixture("http/history_prompt_execution_error.json"), &["$"]);
    assert_eq!(history[&id]["status"]["completed"], false);
}

#[tokio::test]
async fn scripted_node_failure_reports_execution_error() {
    let fake = start().await;
    fake.fail_node_class("ImageInvert", "RuntimeError", "CUDA out of memory");
    let http = Http::new(&fake);
    let mut ws = Ws::connect(&fake, "fail", false).await;
    let id = http.queue(&body_for("prompt_post_success", Some("fail"))).await;
    let msgs = ws.until_done(&id).await;
    let err = msgs.iter().find(|m| m.is("execution_error")).unwrap().data();
    let captured =
        transcript("ws_06_execution_error").into_iter().find(|m| m["type"] == "execution_error").unwrap();
    assert_same_shape(err, &captured["data"], &[]);
    assert_eq!(err["exception_type"], "RuntimeError");
    assert_eq!(err["exception_message"], "CUDA out of memory\n");
    assert_eq!(err["node_id"], "2");
    assert_eq!(err["executed"], json!(["1", "4"]));
    assert!(err["traceback"].as_array().unwrap().len() >= 2);
    assert!(!msgs.iter().any(|m| m.is("execution_success")));
    let entry = &http.history(&id).await[&id];
    assert_eq!(entry["status"]["status_str"], "error");
    assert_eq!(entry["status"]["messages"][2][0], "execution_error");
    // The preview that ran before the failure is still in the outputs, as in ComfyUI.
    assert_eq!(entry["outputs"].as_object().unwrap().keys().collect::<Vec<_>>(), ["4"]);
}

#[tokio::test]
async fn interrupt_lands_at_the_next_node_like_ws_07() {
    let fake = start().await;
    fake.slow_node_class("ImageBlur", Duration::from_millis(800));
    let http = Http::new(&fake);
    let mut original = Ws::connect(&fake, "slow-client", false).await;
    let id = http.queue(&body_for("prompt_post_slow_for_interrupt", Some("slow-client"))).await;
    original.until(|m| m.is("executing") && m.data()["node"] == "10").await;

    // A second socket with the same clientId takes over; it gets the reconnect replay.
    let mut reconnected = Ws::connect(&fake, "slow-client", false).await;
    reconnected.until(|m| m.is("executing")).await;
    let r = http.post("/interrupt", &json!({"prompt_id": id})).await;
    assert_eq!((r.status, r.bytes.len()), (200, 0));
    reconnected.until_done(&id).await;

    assert_eq!(kinds(&original.log), transcript_kinds("ws_07a_interrupt_original_socket"));
    assert!(original.silent_for(Duration::from_millis(100)).await, "the replaced socket receives nothing");
    assert_eq!(kinds(&reconnected.log), transcript_kinds("ws_07b_interrupt_reconnected_same_client_id"));
    assert_eq!(reconnected.log[1].data(), &json!({"node": "10"}));
    let interrupted = reconnected.log.iter().find(|m| m.is("execution_interrupted")).unwrap().data();
    assert_eq!(
        (interrupted["node_id"].as_str(), interrupted["node_type"].as_str()),
        (Some("11"), Some("ImageBlur"))
    );
    assert_eq!(interrupted["executed"], json!(["1", "10"]));
    let history = http.history(&id).await;
    assert_same_shape(&history, &fixture("http/history_prompt_interrupted.json"), &["$"]);
    assert_eq!(
        fake.interrupt_calls(),
        vec![comfy_fake::InterruptCall { prompt_id: Some(id), took_effect: true }]
    );
}

#[tokio::test]
async fn partial_execution_targets_match_ws_13() {
    let fake = start().await;
    let http = Http::new(&fake);
    let mut ws = Ws::connect(&fake, "partial", false).await;
    let id = http.queue(&body_for("prompt_post_partial_execution_targets", Some("partial"))).await;
    ws.until_done(&id).await;
    assert_eq!(kinds(&ws.log), transcript_kinds("ws_13_partial_execution_targets"));
    assert_eq!(executing_order(&ws.log), ["1", "4"]);
    let history = http.history(&id).await;
    assert_same_shape(
        &history,
        &fixture("http/history_prompt_partial_execution_targets.json"),
        &["$", "$.*.outputs", "$.*.meta"],
    );
    assert_eq!(history[&id]["prompt"][4], json!(["4"]));
}

#[tokio::test]
async fn v3_combo_values_fail_at_run_time_like_ws_14() {
    let fake = start().await;
    let http = Http::new(&fake);
    let mut ws = Ws::connect(&fake, "v3", false).await;
    let (status, reply) = http.prompt(&body_for("prompt_v3_combo_value_not_validated", Some("v3"))).await;
    assert_eq!((status, &reply["node_errors"]), (200, &json!({})));
    let id = reply["prompt_id"].as_str().unwrap();
    ws.until_done(id).await;
    assert_eq!(kinds(&ws.log), transcript_kinds("ws_14_v3_combo_runtime_keyerror"));
    let err = ws.log.iter().find(|m| m.is("execution_error")).unwrap().data();
    assert_eq!(
        (err["exception_type"].as_str(), err["exception_message"].as_str()),
        (Some("KeyError"), Some("'mpeg2'\n"))
    );
    assert_eq!(err["executed"], json!(["1"]));
}

#[tokio::test]
async fn prompts_without_client_id_only_broadcast_progress_like_ws_08() {
    let fake = start().await;
    let http = Http::new(&fake);
    let mut observer = Ws::connect(&fake, "observer", false).await;
    let mut owner = Ws::connect(&fake, "owner", false).await;

    // Another client's prompt: the observer sees only the status broadcasts.
    let id = http.queue(&body_for("prompt_post_success", Some("owner"))).await;
    owner.until_done(&id).await;
    let seen =
        observer.until(|m| m.is("status") && m.data()["status"]["exec_info"]["queue_remaining"] == 0).await;
    assert_eq!(kinds(&seen), ["status", "status", "status"]);

    // No client_id: progress_state is broadcast, nothing else prompt-specific is sent.
    owner.log.clear();
    http.queue(&body_for("queue_busy_p6_no_client_id", None)).await;
    let seen =
        observer.until(|m| m.is("status") && m.data()["status"]["exec_info"]["queue_remaining"] == 0).await;
    let tail: Vec<String> = transcript_kinds("ws_08_observer_other_client_with_logs")
        .into_iter()
        .filter(|k| k != "logs")
        .skip_while(|k| k == "status")
        .collect();
    let mut expected = vec!["status".to_string(), "status".to_string()];
    expected.extend(tail);
    assert_eq!(kinds(&seen), expected);
    let owner_seen =
        owner.until(|m| m.is("status") && m.data()["status"]["exec_info"]["queue_remaining"] == 0).await;
    assert_eq!(kinds(&owner_seen), expected, "every socket gets the same broadcasts");
}

#[tokio::test]
async fn steps_inputs_send_progress_and_previews_in_both_formats() {
    let fake = FakeComfyUi::builder()
        .object_info_fixture()
        .step_delay(Duration::from_millis(1))
        .previews(true)
        .start()
        .await
        .unwrap();
    let http = Http::new(&fake);
    for (client, flags, frame, rho) in [("legacy", false, "bin1", 7.0), ("modern", true, "bin4", 6.0)] {
        let prompt = json!({
            "1": {"class_type": "KarrasScheduler", "inputs": {"steps": 3, "sigma_max": 14.6, "sigma_min": 0.03, "rho": rho}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}
        });
        let mut ws = Ws::connect(&fake, client, flags).await;
        let id = http.queue(&json!({"prompt": prompt, "client_id": client})).await;
        let msgs = ws.until_done(&id).await;
        let node1: Vec<String> = kinds(&msgs)
            .into_iter()
            .skip_while(|k| k != "executing")
            .skip(1)
            .take_while(|k| k != "executing")
            .collect();
        let step =
            if flags { ["progress_state", frame, "progress"] } else { ["progress_state", "progress", frame] };
        let mut expected: Vec<&str> = step.iter().chain(&step).chain(&step).copied().collect();
        expected.extend(["progress_state", "progress_state"]);
        assert_eq!(node1, expected, "{client}");
        let values: Vec<&Value> =
            msgs.iter().filter(|m| m.is("progress")).map(|m| &m.data()["value"]).collect();
        assert_eq!(values, [&json!(1), &json!(2), &json!(3)]);
        let last_state = msgs.iter().rev().find(|m| m.is("progress_state")).unwrap();
        assert_eq!(last_state.data()["nodes"]["1"]["value"], json!(3));
    }
}

#[tokio::test]
async fn audio_video_and_text_outputs_match_ws_10_to_ws_12() {
    let fake = start().await;
    let http = Http::new(&fake);

    let mut ws = Ws::connect(&fake, "audio", false).await;
    let id = http.queue(&body_for("prompt_post_audio_outputs", Some("audio"))).await;
    ws.until_done(&id).await;
    assert_eq!(kinds(&ws.log), transcript_kinds("ws_10_audio_outputs"));
    let ours = executed(&ws.log);
    let theirs = executed(&transcript_msgs("ws_10_audio_outputs"));
    assert_eq!((&ours[0], &ours[2]), (&theirs[0], &theirs[2]), "output files are named like ComfyUI's");
    assert_same_shape(&ours[1].1, &theirs[1].1, &[]);
    let flac = http.get("/api/view?filename=fixture_00001_.flac&subfolder=audio&type=output").await;
    assert_eq!((flac.status, flac.content_type.as_str()), (200, "audio/flac"));

    let mut ws = Ws::connect(&fake, "video", false).await;
    let id = http.queue(&body_for("prompt_post_video_outputs", Some("video"))).await;
    ws.until_done(&id).await;
    let mut ours = executed(&ws.log);
    let mut theirs = executed(&transcript_msgs("ws_11_video_and_animated_outputs"));
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    theirs.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(ours, theirs);
    let mut k = kinds(&ws.log);
    let mut expected = transcript_kinds("ws_11_video_and_animated_outputs");
    k.sort();
    expected.sort();
    assert_eq!(k, expected);
    let mp4 = http.get("/view?filename=fixture_00001_.mp4&subfolder=video&type=output").await;
    assert_eq!((mp4.status, mp4.content_type.as_str()), (200, "video/mp4"));
    let webp = http.get("/view?filename=fixture_anim_00001_.webp&subfolder=&type=output").await;
    assert_eq!((webp.status, webp.content_type.as_str()), (200, "image/webp"));

    let png32 = comfy_png(32, 32);
    http.upload("fixture_upload.png", png32.clone(), &[]).await;
    http.upload("clipspace-mask-1.png", png32, &[("subfolder", "clipspace")]).await;
    let mut ws = Ws::connect(&fake, "mixed", false).await;
    let id = http.queue(&body_for("prompt_post_mask_3d_text_loadimage_outputs", Some("mixed"))).await;
    ws.until_done(&id).await;
    let ours: std::collections::BTreeMap<String, Value> = executed(&ws.log).into_iter().collect();
    let theirs: std::collections::BTreeMap<String, Value> =
        executed(&transcript_msgs("ws_12_mask_3d_text_loadimage_outputs")).into_iter().collect();
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>());
    for node in ["5", "6", "9"] {
        assert_eq!(ours[node], theirs[node], "node {node}");
    }
    assert_eq!(ours["12"]["images"][0]["filename"], "loadimage_16x16_00001_.png");
    let year = ours["12"]["images"][0]["subfolder"].as_str().unwrap();
    assert!(year.len() == 4 && year.starts_with("20"), "%year% expands: {year}");
    assert_same_shape(&ours["2"], &theirs["2"], &[]);
}

/// A small real PNG made with the image crate (independent of the fake's encoder).
fn comfy_png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 0, 0]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}
