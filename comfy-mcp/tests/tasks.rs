//! The Tasks extension: a client that declares it gets a task for job-running calls, polls it
//! to the result, and cancelling the task cancels the job.

mod common;

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, ClientConfig,
    GetTaskParams, Implementation,
};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct TaskClient;

impl ClientHandler for TaskClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_tasks().build(),
            Implementation::new("tasks-test", "0"),
        )
    }
}

async fn poll(
    client: &rmcp::service::RunningService<rmcp::RoleClient, TaskClient>,
    id: &str,
    until: &str,
) -> Value {
    for _ in 0..400 {
        let r = client.get_task(GetTaskParams::new(id)).await.unwrap();
        let v = serde_json::to_value(&r).unwrap();
        if v["status"] == until {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("task {id} never reached {until}");
}

#[tokio::test]
async fn job_calls_become_tasks_for_clients_that_support_them() {
    let fake = common::fake().await;
    let state = common::state_for(&fake.url(), |s| s.limits.wait_budget_secs = 1);
    let server = comfy_mcp::ComfyMcp::new(state);
    let (s, c) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(r) = server.serve(s).await {
            let _ = r.waiting().await;
        }
    });
    let client = TaskClient.serve(c).await.unwrap();

    // A task runs past the wait budget and completes with the outputs.
    fake.hold();
    let args = json!({"workflow": common::image_workflow("task"), "wait": true});
    let p = CallToolRequestParams::new("submit_workflow").with_arguments(args.as_object().cloned().unwrap());
    let CallToolResponse::Task(created) = client.call_tool_once(p).await.unwrap() else {
        panic!("expected a task")
    };
    let id = created.task.task_id.clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let working = serde_json::to_value(client.get_task(GetTaskParams::new(&id)).await.unwrap()).unwrap();
    assert_eq!(working["status"], "working", "{working}");
    assert!(working["pollIntervalMs"].is_u64());
    fake.release();
    let done = poll(&client, &id, "completed").await;
    let sc = &done["result"]["structuredContent"];
    assert_eq!(sc["status"], "succeeded", "{done}");
    assert!(!sc["outputs"].as_array().unwrap().is_empty());

    // Cancelling the task cancels the job.
    fake.hold();
    let p = CallToolRequestParams::new("generate_image")
        .with_arguments(json!({"prompt": "x", "ckpt_name": common::CKPT}).as_object().cloned().unwrap());
    let CallToolResponse::Task(created) = client.call_tool_once(p).await.unwrap() else {
        panic!("expected a task")
    };
    for _ in 0..200 {
        if fake.received_prompts().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.cancel_task(CancelTaskParams::new(&created.task.task_id)).await.unwrap();
    poll(&client, &created.task.task_id, "cancelled").await;
    for _ in 0..200 {
        if !fake.queue_deletes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.queue_deletes().len(), 1, "the job left the queue");
    fake.release();

    // Read-only tools stay synchronous; unknown tasks are errors.
    let r = client.call_tool_once(CallToolRequestParams::new("get_queue")).await.unwrap();
    assert!(matches!(r, CallToolResponse::Complete(_)));
    assert!(client.get_task(GetTaskParams::new("task-nope")).await.is_err());
}
