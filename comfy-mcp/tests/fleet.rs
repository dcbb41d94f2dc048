//! `[[backends]]` end to end through the server: the config file builds a fleet of two fake
//! ComfyUIs, get_server_info lists them, the job tools take and honour a `backend` argument, and
//! a bad entry is refused naming the entry and the field.

mod common;

use comfy_mcp::AppState;
use comfy_mcp::cli::ServerArgs;
use comfy_mcp::config::{FileConfig, Settings};
use common::*;
use serde_json::json;

fn fleet_settings(a: &str, b: &str) -> Settings {
    let text = format!(
        r#"
        store = "memory"
        [[backends]]
        name = "a"
        kind = "local"
        url = "{a}"
        [[backends]]
        name = "b"
        kind = "local"
        url = "{b}"
        priority = 1
        comfy_api_key = "b-partner-secret"
        [routing]
        overflow_queue = 2
        "#
    );
    Settings::merge(&ServerArgs::default(), FileConfig::parse(&text).unwrap()).unwrap()
}

#[tokio::test]
async fn the_job_tools_route_by_backend_name() {
    let (a, b) = (fake().await, fake().await);
    let settings = fleet_settings(&a.url(), &b.url());
    let printed = settings.to_toml();
    assert!(printed.contains("[[backends]]") && !printed.contains("b-partner-secret"), "{printed}");
    let state = AppState::from_settings(settings).unwrap();
    let (client, _recorder) = connect(state).await;

    let info = ok(&client, "get_server_info", json!({})).await;
    let names: Vec<&str> =
        info["backends"].as_array().unwrap().iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["a", "b"], "{info}");
    assert_eq!(info["backends"][1]["priority"], 1);

    // With several backends the argument is listed.
    let tools = client.list_all_tools().await.unwrap();
    let submit = tools.iter().find(|t| t.name == "submit_workflow").unwrap();
    assert!(submit.input_schema["properties"].get("backend").is_some(), "{:?}", submit.input_schema);

    let template = tools.iter().find(|t| t.name == "generate_image").unwrap();
    assert!(template.input_schema["properties"].get("backend").is_some(), "template tools too");
    let by_template = ok(
        &client,
        "generate_image",
        json!({"prompt": "a cat", "ckpt_name": CKPT, "steps": 1, "backend": "b", "resubmit_if_lost": false}),
    )
    .await;
    assert_eq!(by_template["status"], "succeeded", "{by_template}");
    let id = by_template["job_id"].as_str().unwrap();
    assert!(b.received_prompts().iter().any(|p| p.to_string().contains(id)), "ran on b");
    assert!(!a.received_prompts().iter().any(|p| p.to_string().contains(id)), "not on a");
    let e = err(&client, "generate_image", json!({"prompt": "x", "ckpt_name": CKPT, "backend": 3})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("invalid_argument"), Some("backend")), "{e}");

    // Pinned to b (priority 1, which routing alone would not pick while a has room).
    let done = ok(
        &client,
        "submit_workflow",
        json!({"workflow": image_workflow("pin"), "wait": true, "backend": "b"}),
    )
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let job_id = done["job_id"].as_str().unwrap().to_owned();
    let on_b = ok(&client, "get_job_status", json!({"job_id": job_id, "backend": "b"})).await;
    assert_eq!(on_b["status"], "succeeded");
    let e = err(&client, "get_output", json!({"job_id": job_id, "backend": "a"})).await;
    assert_eq!(e["code"], "job_not_found", "{e}");
    let e = err(&client, "get_job_status", json!({"job_id": job_id, "backend": "gpu9"})).await;
    assert_eq!(e["code"], "unknown_backend", "{e}");
    let e =
        err(&client, "submit_workflow", json!({"workflow": image_workflow("x"), "backend": "gpu9"})).await;
    assert_eq!(e["code"], "unknown_backend", "{e}");
    let e =
        err(&client, "submit_batch", json!({"workflow": image_workflow("x"), "count": 2, "backend": "gpu9"}))
            .await;
    assert_eq!(e["code"], "unknown_backend", "{e}");
    let batch =
        ok(&client, "submit_batch", json!({"workflow": image_workflow("bb"), "overrides": [{"1.width": 32}, {"1.width": 40}], "backend": "b", "resubmit_if_lost": true}))
            .await;
    let batch = ok(&client, "wait_for_batch", json!({"batch_id": batch["batch_id"]})).await;
    assert_eq!(batch["items"].as_array().map(Vec::len), Some(2), "{batch}");
    for item in batch["items"].as_array().unwrap() {
        let id = item["job_id"].as_str().unwrap();
        ok(&client, "get_job_status", json!({"job_id": id, "backend": "b"})).await;
    }

    // Unpinned: priority 0 (a) takes it.
    let done =
        ok(&client, "submit_workflow", json!({"workflow": image_workflow("free"), "wait": true})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let job_id = done["job_id"].as_str().unwrap();
    ok(&client, "get_output", json!({"job_id": job_id, "backend": "a"})).await;
}

#[tokio::test]
async fn one_backend_does_not_list_the_argument_but_takes_its_kind() {
    let h = start().await;
    let tools = h.client.list_all_tools().await.unwrap();
    let submit = tools.iter().find(|t| t.name == "submit_workflow").unwrap();
    assert!(submit.input_schema["properties"].get("backend").is_none());
    assert!(submit.input_schema["properties"].get("resubmit_if_lost").is_none());
    let done = h
        .ok("submit_workflow", json!({"workflow": image_workflow("one"), "wait": true, "backend": "local"}))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let e = h.err("submit_workflow", json!({"workflow": image_workflow("one"), "backend": "cloud"})).await;
    assert_eq!(e["code"], "unknown_backend", "{e}");
    let info = h.ok("get_server_info", json!({})).await;
    assert_eq!(info["backends"][0]["name"], "local", "{info}");
}

#[test]
fn a_bad_entry_is_refused_naming_the_entry_and_the_field() {
    let cases = [
        (
            "[[backends]]\nname = \"a\"\nkind = \"local\"\nurl = \"http://h:1\"\n[[backends]]\nname = \"a\"\nkind = \"local\"\nurl = \"http://h:2\"",
            "backends[1] (\"a\").name",
        ),
        ("[[backends]]\nname = \"x\"\nkind = \"runpod\"\nurl = \"http://h:1\"", "backends[0] (\"x\").kind"),
        ("[[backends]]\nname = \"x\"\nkind = \"local\"", "backends[0] (\"x\").url"),
        (
            "[[backends]]\nname = \"c\"\nkind = \"comfy-cloud\"\napi_key_env = \"COMFY_FLEET_TEST_UNSET_VAR\"",
            "COMFY_FLEET_TEST_UNSET_VAR",
        ),
    ];
    for (text, expected) in cases {
        let e = Settings::merge(&ServerArgs::default(), FileConfig::parse(text).unwrap()).unwrap_err();
        assert!(e.to_string().contains(expected), "{text}: {e}");
    }
}

#[tokio::test]
async fn a_job_lost_with_its_backend_fails_or_runs_elsewhere_as_the_caller_said() {
    let (a, b) = (fake().await, fake().await);
    let text = format!(
        r#"
        store = "memory"
        [[backends]]
        name = "a"
        kind = "local"
        url = "{}"
        [[backends]]
        name = "b"
        kind = "local"
        url = "{}"
        [routing]
        unreachable_after_ms = 300
        "#,
        a.url(),
        b.url()
    );
    let settings = Settings::merge(&ServerArgs::default(), FileConfig::parse(&text).unwrap()).unwrap();
    let (client, _recorder) = connect(AppState::from_settings(settings).unwrap()).await;
    let tools = client.list_all_tools().await.unwrap();
    for name in ["submit_workflow", "run_workflow", "run_saved_workflow"] {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        assert!(tool.input_schema["properties"].get("resubmit_if_lost").is_some(), "{name}");
    }
    // One job waits on b, so both next ones go to a (ties go to the first), where they wait.
    a.hold();
    b.hold();
    let blocker =
        ok(&client, "submit_workflow", json!({"workflow": image_workflow("b"), "backend": "b"})).await;
    let kept = ok(&client, "submit_workflow", json!({"workflow": image_workflow("kept")})).await;
    let moved = ok(
        &client,
        "submit_workflow",
        json!({"workflow": image_workflow("moved"), "resubmit_if_lost": true}),
    )
    .await;
    for job in [&kept, &moved] {
        ok(&client, "get_job_status", json!({"job_id": job["job_id"], "backend": "a"})).await;
    }
    a.shutdown();
    b.release();
    let failed = ok(&client, "wait_for_job", json!({"job_id": kept["job_id"], "timeout": 60})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "backend_lost", "{failed}");
    let message = failed["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("backend a") && message.contains("resubmit_if_lost"), "{message}");
    let done = ok(&client, "wait_for_job", json!({"job_id": moved["job_id"], "timeout": 60})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    ok(&client, "get_job_status", json!({"job_id": moved["job_id"], "backend": "b"})).await;
    let e = err(&client, "get_job_status", json!({"job_id": moved["job_id"], "backend": "a"})).await;
    assert_eq!(e["code"], "job_not_found", "the record names b only: {e}");
    ok(&client, "wait_for_job", json!({"job_id": blocker["job_id"], "timeout": 60})).await;
    assert_eq!(b.received_prompts().len(), 2, "b ran the blocker and the moved job, once each");
}
