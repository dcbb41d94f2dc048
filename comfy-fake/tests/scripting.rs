//! The scripting hooks tests use to steer the fake, and its introspection.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test]
async fn hold_and_release_build_a_queue_deterministically() {
    let fake = start().await;
    let http = Http::new(&fake);
    fake.hold();
    let mut ids = Vec::new();
    for color in [7, 8, 9] {
        let mut body = body_for("prompt_post_success", None);
        body["prompt"]["1"]["inputs"]["color"] = json!(color);
        ids.push(http.queue(&body).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let queue = http.get("/queue").await.json();
    assert_eq!(
        (queue["queue_running"].as_array().unwrap().len(), queue["queue_pending"].as_array().unwrap().len()),
        (0, 3)
    );
    assert!(!fake.wait_until_idle(Duration::from_millis(20)).await);
    fake.release();
    assert!(fake.wait_until_idle(TIMEOUT).await);
    let history = http.get("/history").await.json();
    assert_eq!(history.as_object().unwrap().keys().collect::<Vec<_>>(), ids.iter().collect::<Vec<_>>());
    assert_eq!(fake.received_prompts().len(), 3);
    assert_eq!(fake.received_prompts()[2]["prompt"]["1"]["inputs"]["color"], 9);
}

#[tokio::test]
async fn websockets_can_be_refused_and_dropped() {
    let fake = start().await;
    let http = Http::new(&fake);
    fake.refuse_websockets(true);
    let url = format!("{}?clientId=x", fake.ws_url());
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        other => panic!("expected a 503, got {:?}", other.map(|_| ())),
    }
    // Polling still works.
    assert_eq!(http.get("/api/prompt").await.json(), json!({"exec_info": {"queue_remaining": 0}}));
    fake.refuse_websockets(false);

    let mut a = Ws::connect(&fake, "a", false).await;
    let mut b = Ws::connect(&fake, "b", false).await;
    assert_eq!(fake.ws_clients(), ["a", "b"]);
    fake.drop_sockets();
    assert!(a.next().await.is_none(), "closed without a close frame");
    assert!(b.next().await.is_none());
    assert!(fake.ws_clients().is_empty());
    let _again = Ws::connect(&fake, "a", false).await;
    assert!(fake.wait_for_ws_client("a", TIMEOUT).await);
}

#[tokio::test]
async fn unknown_messages_can_be_sent_to_every_socket() {
    let fake = start().await;
    let mut a = Ws::connect(&fake, "a", false).await;
    let mut b = Ws::connect(&fake, "b", true).await;
    fake.send_raw_text(r#"{"type":"mystery","data":{"x":1}}"#);
    fake.send_raw_binary(&[0, 0, 0, 9, 1, 2, 3]);
    for ws in [&mut a, &mut b] {
        let text = ws.next().await.unwrap();
        assert_eq!(text.kind(), "mystery");
        match ws.next().await.unwrap() {
            Msg::Binary(bytes) => assert_eq!(bytes, [0, 0, 0, 9, 1, 2, 3]),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn routes_can_be_slowed_failed_and_turned_to_html() {
    let fake = start().await;
    let http = Http::new(&fake);

    fake.route_delay("/queue", Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(http.get("/api/queue").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));

    fake.fail_route("/history*", 502, "<html><body>Bad Gateway</body></html>");
    let r = http.get("/api/history/abc").await;
    assert_eq!((r.status, r.content_type.as_str()), (502, "text/html; charset=utf-8"));
    assert!(r.text().contains("Bad Gateway"));

    fake.fail_route_times("/prompt", 2, 503, r#"{"error": "busy"}"#);
    let body = body_for("prompt_post_success", None);
    assert_eq!(http.prompt(&body).await, (503, json!({"error": "busy"})));
    assert_eq!(http.prompt(&body).await.0, 503);
    assert_eq!(http.prompt(&body).await.0, 200, "then back to normal");

    fake.answer_html("/object_info");
    let r = http.get("/object_info").await;
    assert_eq!((r.status, r.content_type.as_str()), (200, "text/html; charset=utf-8"));
    assert!(r.text().starts_with("<!doctype html>"));

    fake.clear_route_scripts();
    assert_eq!(http.get("/history/abc").await.json(), json!({}));
    assert_eq!(http.get("/object_info/SaveImage").await.json(), fixture("http/object_info_SaveImage.json"));
}

#[tokio::test]
async fn core_catalogue_and_custom_classes_work_without_fixtures_files() {
    let fake = comfy_fake::FakeComfyUi::builder()
        .node_class(
            "EchoNode",
            json!({"input": {"required": {"text": ["STRING", {}], "count": ["INT", {"min": 0, "max": 9}]}},
                   "output": [], "output_node": true, "name": "EchoNode", "category": "test"}),
        )
        .model_files("checkpoints", &["sd15.safetensors"])
        .start()
        .await
        .unwrap();
    let http = Http::new(&fake);
    let info = http.get("/object_info").await.json();
    // 30 core classes, 5 partner classes, the custom one.
    assert_eq!(info.as_object().unwrap().len(), 36);
    assert_eq!(http.get("/models/checkpoints").await.json(), json!(["sd15.safetensors"]));
    let mut ws = Ws::connect(&fake, "c", false).await;
    let id = http
        .queue(&json!({"client_id": "c", "prompt": {"1": {"class_type": "EchoNode", "inputs": {"text": "hi", "count": 2}}}}))
        .await;
    let msgs = ws.until_done(&id).await;
    let executed = msgs.iter().find(|m| m.is("executed")).unwrap();
    assert_eq!(
        executed.data()["output"],
        json!({"text": ["hi"], "count": [2]}),
        "custom output nodes echo their inputs"
    );
    let (status, reply) = http
        .prompt(&json!({"prompt": {"1": {"class_type": "EchoNode", "inputs": {"text": "x", "count": 10}}}}))
        .await;
    assert_eq!(
        (status, reply["node_errors"]["1"]["errors"][0]["type"].clone()),
        (400, json!("value_bigger_than_max"))
    );
}

#[tokio::test]
async fn load_image_accepts_any_recognised_image_and_fails_on_garbage() {
    let fake = start().await;
    let http = Http::new(&fake);
    let jpeg_magic = vec![0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    http.upload("photo.jpg", jpeg_magic, &[]).await;
    http.upload("empty.png", Vec::new(), &[]).await;
    for (file, ok) in [("photo.jpg", true), ("empty.png", false)] {
        let id = http
            .queue(&json!({"prompt": {
                "1": {"class_type": "LoadImage", "inputs": {"image": file}},
                "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}}))
            .await;
        assert!(fake.wait_until_idle(TIMEOUT).await);
        assert_eq!(http.history(&id).await[&id]["status"]["completed"], ok, "{file}");
    }
}
