//! cql through an in-process rmcp client, against the fake ComfyUI's real object_info capture.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn cql_answers_class_and_path_queries_and_explains_bad_ones() {
    let h = start().await;
    let s =
        h.ok("cql", json!({"query": "produces IMAGE | NOT deprecated | sort connections | limit 3"})).await;
    assert_eq!(s["classes"].as_array().unwrap().len(), 3, "{s}");
    assert!(s["total"].as_u64().unwrap() > 3, "{s}");
    let first = &s["classes"][0];
    assert!(first["produces"].as_array().unwrap().contains(&json!("IMAGE")), "{s}");
    assert!(first["connections"].as_u64().unwrap() >= s["classes"][2]["connections"].as_u64().unwrap());

    let s = h.ok("cql", json!({"query": "path MODEL -> IMAGE depth 2 | limit 5"})).await;
    let path = &s["paths"][0];
    assert_eq!(path["length"], 2, "{s}");
    assert_eq!(path["steps"][0]["from"], "MODEL");
    assert_eq!(path["steps"][1]["output"], "IMAGE");
    assert!(s.get("classes").is_none());

    let e = h.err("cql", json!({"query": "produces IMAGEE | limit 3"})).await;
    assert_eq!(e["code"], "invalid_query", "{e}");
    assert_eq!(e["field"], "query");
    assert!(e["expected"].as_str().unwrap().contains("IMAGE"), "{e}");
    assert!(e["message"].as_str().unwrap().contains("column 10"), "{e}");
    let e = h.err("cql", json!({"query": ""})).await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
}
