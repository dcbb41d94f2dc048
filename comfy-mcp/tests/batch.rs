//! The batch tools through an in-process rmcp client, against the fake ComfyUI.

mod common;

use std::time::Duration;

use common::*;
use rmcp::model::{CallToolRequestParams, ClientRequest, Request};
use rmcp::service::PeerRequestOptions;
use serde_json::json;

#[tokio::test]
async fn batch_tools_run_seeds_of_a_template_under_the_cap_with_progress_and_link_every_output() {
    let h = start_with(|s| s.limits.max_running_jobs = 1).await;
    let params = json!({"prompt": "a lighthouse", "ckpt_name": CKPT, "steps": 3, "width": 64, "height": 64});
    let s = h
        .ok("submit_batch", json!({"template": "generate_image", "params": params, "seeds": [5, 6, 7]}))
        .await;
    let batch_id = s["batch_id"].as_str().unwrap().to_owned();
    assert!(batch_id.starts_with("b_"), "{s}");
    assert_eq!(s["total"], 3);
    assert_eq!(s["items"].as_array().unwrap().len(), 3);
    assert!(s["counts"]["waiting"].as_u64().unwrap() >= 1 || s["counts"]["succeeded"].as_u64().unwrap() >= 1);

    // wait_for_batch with a progress token: notifications, then the finished batch.
    let args = json!({"batch_id": batch_id});
    let request = ClientRequest::CallToolRequest(Request::new(
        CallToolRequestParams::new("wait_for_batch").with_arguments(args.as_object().cloned().unwrap()),
    ));
    let handle = h.client.send_cancellable_request(request, PeerRequestOptions::no_options()).await.unwrap();
    let response = handle.await_response().await.unwrap();
    let rmcp::model::ServerResult::CallToolResult(r) = response else { panic!("{response:?}") };
    let s = r.structured_content.unwrap();
    assert_eq!(s["state"], "succeeded", "{s}");
    assert_eq!(s["counts"]["succeeded"], 3);
    assert_eq!(s["fraction"], 1.0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let progress = h.recorder.progress.lock().unwrap().clone();
    assert!(!progress.is_empty(), "progress was notified");
    assert!(strictly_increasing(&progress), "monotonic: {progress:?}");
    assert!(progress.iter().any(|p| p.message.as_deref() == Some("3/3 done (3 succeeded)")), "{progress:?}");

    // Outputs: per item in order, with URIs and resource links, never bytes.
    let r = h.call("get_batch_output", json!({"batch_id": batch_id})).await;
    assert_ne!(r.is_error, Some(true));
    let s = r.structured_content.clone().unwrap();
    let items = s["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let mut outputs = 0;
    for (i, (item, seed)) in items.iter().zip([5, 6, 7]).enumerate() {
        assert_eq!(item["index"], i);
        let out = item["outputs"].as_array().unwrap();
        assert!(!out.is_empty(), "item {i}: {item}");
        assert!(out.iter().all(|a| a["uri"].as_str().unwrap().starts_with("comfy://assets/")));
        outputs += out.len();
        let job = h.ok("get_job_status", json!({"job_id": item["job_id"]})).await;
        assert_eq!(job["params"]["seed"], seed, "item {i} ran with its seed: {job}");
    }
    let links = r.content.iter().filter(|c| c.as_resource_link().is_some()).count();
    assert_eq!(links, outputs, "one resource link per output");
    assert!(r.content.iter().all(|c| c.as_image().is_none()), "no inlined bytes");

    let s = h.ok("get_batch_status", json!({"batch_id": batch_id})).await;
    assert_eq!(s["state"], "succeeded");
    assert!(
        s["items"].as_array().unwrap().iter().all(|i| i["state"] == "succeeded" && i["job_id"].is_string())
    );
}

#[tokio::test]
async fn batch_tools_refuse_bad_items_and_unknown_batches_clearly() {
    let h = start().await;
    let workflow = image_workflow("batch");
    let e = h
        .err("submit_batch", json!({"workflow": workflow, "overrides": [{"1.width": 16}, {"1.widht": 16}]}))
        .await;
    assert_eq!(e["code"], "invalid_override", "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("batch item 1: "), "{e}");
    assert_eq!(e["field"], "items[1].overrides.1.widht", "{e}");
    assert_eq!(h.ok("get_queue", json!({})).await["ours_active"], 0, "nothing was submitted");

    let e = h.err("submit_batch", json!({"workflow": workflow, "seeds": [1], "count": 2})).await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    assert_eq!(e["field"], "items");
    let e = h.err("submit_batch", json!({"workflow": workflow, "seeds": [1]})).await;
    assert_eq!(e["code"], "invalid_argument", "a workflow without a seed input: {e}");
    assert_eq!(e["field"], "items[0].seeds", "{e}");
    let e = h.err("get_batch_status", json!({"batch_id": "b_nope"})).await;
    assert_eq!(e["code"], "batch_not_found", "{e}");
    assert_eq!(e["field"], "batch_id");

    // Overrides on a raw workflow run, and a finished batch answers a wait at once.
    let s = h
        .ok("submit_batch", json!({"workflow": workflow, "overrides": [{"1.width": 16}, {"1.width": 24}]}))
        .await;
    let s = h.ok("wait_for_batch", json!({"batch_id": s["batch_id"], "timeout": 20})).await;
    assert_eq!(s["state"], "succeeded", "{s}");
    assert_eq!(s["hint"], "finished; get_batch_output lists the outputs");
}
