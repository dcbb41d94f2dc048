//! User data and the official templates against the captured answers of a real ComfyUI.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn userdata_routes_follow_the_captures() {
    let fake = start().await;
    let http = Http::new(&fake);
    let missing = http.get("/userdata?dir=nonexistent_dir").await;
    assert_eq!((missing.status, missing.text().as_str()), (404, "Directory not found"));
    assert!(missing.content_type.starts_with("text/plain"));
    assert_eq!(http.get("/userdata").await.status, 400);
    assert_eq!(http.get("/userdata?dir=../x").await.status, 403);

    let document = fixture("http/userdata_get_file.json");
    let body = serde_json::to_string(&document).unwrap();
    let url = format!("{}/userdata/workflows%2Ffixture.json?overwrite=true&full_info=true", http.base);
    let resp = http.client.post(url).body(body.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let info: Value = resp.json().await.unwrap();
    assert_same_shape(&info, &fixture("http/userdata_post_workflow_full_info.json"), &[]);
    assert_eq!(info["path"], "workflows/fixture.json");
    assert_eq!(info["size"], body.len());

    let url = format!("{}/userdata/workflows%2Ffixture.json?overwrite=false", http.base);
    let resp = http.client.post(url).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.text().await.unwrap(), "File already exists");

    assert_eq!(
        http.get("/userdata?dir=workflows").await.json(),
        fixture("http/userdata_list_workflows.json")
    );
    assert_eq!(http.get("/api/userdata?dir=workflows").await.json(), json!(["fixture.json"]));
    let full = http.get("/userdata?dir=workflows&recurse=true&full_info=true").await.json();
    assert_same_shape(&full, &fixture("http/userdata_list_workflows_full_info.json"), &[]);
    assert_eq!(
        http.get("/userdata?dir=workflows&split=true").await.json(),
        fixture("http/userdata_list_workflows_split.json")
    );

    let file = http.get("/userdata/workflows%2Ffixture.json").await;
    assert_eq!((file.status, file.content_type.as_str()), (200, "application/json"));
    assert_eq!(file.json(), document);
    assert_eq!(http.get("/userdata/workflows%2Fnope.json").await.status, 404);
    assert_eq!(http.get("/userdata/..%2Fsecret.json").await.status, 403);

    let moved =
        http.post("/userdata/workflows%2Ffixture.json/move/workflows%2Ffixture_moved.json", &json!({})).await;
    assert_eq!(moved.json(), fixture("http/userdata_move.json"));
    assert_eq!(
        http.post("/userdata/workflows%2Ffixture.json/move/workflows%2Fx.json", &json!({})).await.status,
        404
    );

    let url = format!("{}/userdata/workflows%2Ffixture_moved.json", http.base);
    assert_eq!(http.client.delete(&url).send().await.unwrap().status(), 204);
    assert_eq!(http.client.delete(&url).send().await.unwrap().status(), 404);
    assert_eq!(http.get("/userdata?dir=workflows").await.json(), json!([]), "the folder stays");
}

#[tokio::test]
async fn official_templates_are_static_files() {
    let fake = start().await;
    let http = Http::new(&fake);
    let index = http.get("/templates/index.json").await.json();
    let names: Vec<&str> =
        index[0]["templates"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["image_sdxl_simple", "sd3.5_simple_example"]);
    for name in names {
        let t = http.get(&format!("/templates/{name}.json")).await.json();
        assert!(t["nodes"].is_array() && t["links"].is_array(), "{name}");
    }
    assert_eq!(http.get("/templates/nope.json").await.status, 404);
    assert_eq!(http.get("/api/templates/index.json").await.status, 404, "static routes are not aliased");

    let off = comfy_fake::FakeComfyUi::builder().official_templates(false).start().await.unwrap();
    assert_eq!(Http::new(&off).get("/templates/index.json").await.status, 404);
}
