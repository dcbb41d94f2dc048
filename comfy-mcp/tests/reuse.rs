//! Result reuse through the tools: an identical submission while the first is unfinished
//! attaches to it (`reused_from.kind = in_flight`), `reuse: true` answers a succeeded graph from
//! the store (`cached`), `dedup: false` runs again.

mod common;

use common::{image_workflow, start};
use serde_json::json;

#[tokio::test]
async fn identical_submissions_attach_and_reuse_returns_the_earlier_result() {
    let h = start().await;
    h.fake.hold();
    let wf = image_workflow("reuse");
    let first = h.ok("submit_workflow", json!({"workflow": wf})).await;
    assert!(first.get("reused_from").is_none(), "{first}");
    let job_id = first["job_id"].as_str().unwrap().to_owned();
    let second = h.ok("submit_workflow", json!({"workflow": wf})).await;
    assert_eq!(second["job_id"], job_id.as_str(), "{second}");
    assert_eq!(second["reused_from"], json!({"job_id": job_id, "kind": "in_flight"}));
    let apart = h.ok("submit_workflow", json!({"workflow": wf, "dedup": false})).await;
    assert_ne!(apart["job_id"], job_id.as_str());
    assert!(apart.get("reused_from").is_none());
    h.fake.release();
    let done = h.ok("wait_for_job", json!({"job_id": job_id})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let other = h.ok("wait_for_job", json!({"job_id": apart["job_id"]})).await;
    assert_eq!(other["status"], "succeeded", "{other}");
    assert_eq!(h.fake.received_prompts().len(), 2, "three submissions, two executions");

    // Succeeded: `reuse` answers with that job's outputs at once; without it, it runs again.
    let cached = h.ok("submit_workflow", json!({"workflow": wf, "reuse": true, "wait": true})).await;
    assert_eq!(cached["status"], "succeeded", "{cached}");
    let source = cached["reused_from"]["job_id"].as_str().unwrap();
    assert!(source == job_id || source == apart["job_id"], "{cached}");
    assert_eq!(cached["reused_from"]["kind"], "cached");
    assert_eq!(cached["outputs"].as_array().map(Vec::len), Some(1), "{cached}");
    assert_eq!(h.fake.received_prompts().len(), 2, "no new execution");
    let fresh = h.ok("submit_workflow", json!({"workflow": wf, "wait": true})).await;
    assert!(fresh.get("reused_from").is_none(), "{fresh}");
    assert_eq!(h.fake.received_prompts().len(), 3);

    // A wrong type is named.
    let e = h.err("submit_workflow", json!({"workflow": wf, "reuse": "yes"})).await;
    assert!(e.to_string().contains("reuse"), "{e}");
}
