//! Queue ordering, deletion, clearing and interrupts, against the captured queue states.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn wait_running(http: &Http, prompt_id: &str) {
    for _ in 0..1000 {
        let q = http.get("/queue").await.json();
        if q["queue_running"].get(0).is_some_and(|i| i[1] == prompt_id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{prompt_id} never ran");
}

fn numbers(items: &Value) -> Vec<Value> {
    items.as_array().unwrap().iter().map(|i| i[0].clone()).collect()
}

#[tokio::test]
async fn front_number_and_delete_shape_the_pending_queue_like_queue_busy() {
    let fake = start().await;
    fake.slow_node_class("ImageBlur", Duration::from_millis(1000));
    let http = Http::new(&fake);
    let p1 = http.queue(&request("queue_busy_p1_slow")).await;
    wait_running(&http, &p1).await;
    fake.hold();

    let mut ids = vec![p1.clone()];
    for (name, path) in [
        ("queue_busy_p2_api_prefix", "/api/prompt"),
        ("queue_busy_p3_front", "/prompt"),
        ("queue_busy_p4_client_prompt_id_and_number", "/prompt"),
        ("queue_busy_p5_extra_data", "/prompt"),
        ("queue_busy_p6_no_client_id", "/prompt"),
    ] {
        let reply = http.post(path, &request(name)).await.json();
        assert_same_shape(&reply, &fixture(&format!("http/{name}.json")), &[]);
        ids.push(reply["prompt_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids[3], "11111111-2222-4333-8444-555555555555");

    // The raw heap list, in the same order as the capture ([-26, 25, 1000.5, 27, 28] there).
    let queue = http.get("/queue").await.json();
    assert_same_shape(&queue, &fixture("http/queue_busy.json"), &[]);
    assert_eq!(numbers(&queue["queue_pending"]), [json!(-2), json!(1), json!(1000.5), json!(3), json!(4)]);
    assert_eq!(numbers(&queue["queue_running"]), [json!(0)]);
    assert_eq!(
        queue["queue_pending"][3][3]["api_key_comfy_org"], "dummy-key-for-fixture",
        "visible while pending"
    );
    assert_eq!(http.get("/prompt").await.json(), fixture("http/prompt_get_queue_info_busy.json"));

    let r = http.post("/queue", &json!({"delete": [ids[3]]})).await;
    assert_eq!((r.status, r.bytes.len()), (200, 0));
    let queue = http.get("/queue").await.json();
    assert_same_shape(&queue, &fixture("http/queue_busy_after_delete.json"), &[]);
    assert_eq!(numbers(&queue["queue_pending"]), [json!(-2), json!(1), json!(3), json!(4)]);
    assert_eq!(fake.queue_deletes(), [ids[3].clone()]);

    fake.clear_node_scripts();
    fake.release();
    assert!(fake.wait_until_idle(TIMEOUT).await);
    let history = http.get("/history").await.json();
    let order: Vec<&String> = history.as_object().unwrap().keys().collect();
    assert_eq!(order, [&ids[0], &ids[2], &ids[1], &ids[4], &ids[5]], "front first, then by number");
    assert_same_shape(
        &http.history(&ids[2]).await,
        &fixture("http/history_prompt_front.json"),
        &["$", "$.*.outputs", "$.*.meta"],
    );
    let stripped = fixture("http/history_prompt_extra_data_sensitive_key_stripped.json");
    let expected_extra = &stripped.as_object().unwrap().values().next().unwrap()["prompt"][3];
    assert_eq!(&http.history(&ids[4]).await[&ids[4]]["prompt"][3], expected_extra);
    assert_eq!(http.get("/queue").await.json(), fixture("http/queue_idle_end.json"));
}

#[tokio::test]
async fn clear_wipes_pending_items_only() {
    let fake = start().await;
    fake.slow_node_class("ImageBlur", Duration::from_millis(600));
    let http = Http::new(&fake);
    let blocker = http.queue(&request("queue_clear_blocker")).await;
    wait_running(&http, &blocker).await;
    fake.hold();
    http.queue(&request("queue_clear_pending_a")).await;
    http.queue(&request("queue_clear_pending_b")).await;
    assert_same_shape(&http.get("/queue").await.json(), &fixture("http/queue_before_clear.json"), &[]);
    let r = http.post("/queue", &json!({"clear": true})).await;
    assert_eq!((r.status, r.bytes.len()), (200, 0));
    let after = http.get("/queue").await.json();
    assert_same_shape(&after, &fixture("http/queue_after_clear.json"), &[]);
    assert_eq!(after["queue_pending"], json!([]));
    fake.release();
    assert!(fake.wait_until_idle(TIMEOUT).await);
    let history = http.get("/history").await.json();
    assert_eq!(history.as_object().unwrap().keys().collect::<Vec<_>>(), [&blocker]);
    assert_eq!(history[&blocker]["status"]["status_str"], "success", "the running item continues");
}

#[tokio::test]
async fn targeted_interrupt_leaves_other_prompts_alone() {
    let fake = start().await;
    fake.slow_node_class("ImageBlur", Duration::from_millis(600));
    let http = Http::new(&fake);
    let mut ws = Ws::connect(&fake, "a", false).await;
    let a = http.queue(&body_for("prompt_post_slow_for_interrupt", Some("a"))).await;
    ws.until(|m| m.is("executing") && m.data()["node"] == "10").await;
    let b = http.queue(&body_for("prompt_post_success", Some("b"))).await;

    // Naming the pending prompt interrupts nothing: A goes on to its next node.
    assert_eq!(http.post("/interrupt", &json!({"prompt_id": b})).await.status, 200);
    ws.until(|m| m.is("executing") && m.data()["node"] == "11").await;
    assert_eq!(http.post("/api/interrupt", &json!({"prompt_id": a})).await.status, 200);
    let tail = ws.until_done(&a).await;
    let interrupted = tail.iter().find(|m| m.is("execution_interrupted")).unwrap();
    assert_eq!(interrupted.data()["node_id"], "12");

    assert!(fake.wait_until_idle(TIMEOUT).await);
    assert_eq!(http.history(&a).await[&a]["status"]["messages"][2][0], "execution_interrupted");
    assert_eq!(http.history(&b).await[&b]["status"]["status_str"], "success");
    let calls = fake.interrupt_calls();
    assert_eq!(
        calls,
        [
            comfy_fake::InterruptCall { prompt_id: Some(b), took_effect: false },
            comfy_fake::InterruptCall { prompt_id: Some(a), took_effect: true },
        ]
    );
}

#[tokio::test]
async fn global_interrupt_stops_whatever_runs_and_is_lost_when_idle() {
    let fake = start().await;
    let http = Http::new(&fake);
    // While idle the flag is set, then reset when the next prompt starts.
    assert_eq!(http.post_raw("/interrupt", "").await.status, 200);
    let id = http.queue(&body_for("prompt_post_success", None)).await;
    assert!(fake.wait_until_idle(TIMEOUT).await);
    assert_eq!(http.history(&id).await[&id]["status"]["status_str"], "success");

    fake.slow_node_class("ImageBlur", Duration::from_millis(300));
    let slow = http.queue(&body_for("prompt_post_slow_for_interrupt", None)).await;
    wait_running(&http, &slow).await;
    assert_eq!(http.post_raw("/interrupt", "").await.status, 200);
    assert!(fake.wait_until_idle(TIMEOUT).await);
    let entry = &http.history(&slow).await[&slow];
    assert_eq!(entry["status"]["completed"], false);
    assert_eq!(entry["status"]["messages"][2][0], "execution_interrupted");
    assert_eq!(fake.interrupt_calls().iter().filter(|c| c.prompt_id.is_none()).count(), 2);
}
