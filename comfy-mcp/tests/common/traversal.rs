//! Path traversal values and the tool calls they go into, shared by the HTTP and stdio abuse
//! suites (`tests/abuse.rs`, `tests/abuse_stdio.rs`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::basic_workflow;

/// Values that try to leave the server's directories, in every spelling we refuse.
pub const TRAVERSALS: &[&str] = &[
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "%2e%2e/%2e%2e/etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "sub/../../outside/secret.txt",
    "ok.png\u{0}../../etc/passwd",
    "\\\\server\\share\\x",
    "../data/comfy.sqlite3",
];

/// Every path-like argument of every tool, with each traversal value and `outside` (an
/// absolute path outside the data directory); `asset` is a real asset id to publish.
pub fn cases(asset: &str, outside: &str) -> Vec<(&'static str, Value)> {
    let mut cases = Vec::new();
    for bad in TRAVERSALS.iter().copied().chain([outside]) {
        cases.push(("upload_file", json!({"filename": "x.png", "path": bad})));
        cases.push(("upload_file", json!({"filename": bad, "data": "aGk="})));
        cases.push(("upload_file", json!({"filename": "x.png", "data": "aGk=", "subfolder": bad})));
        cases.push(("publish_asset", json!({"asset_id": asset, "target_filename": bad})));
        cases.push(("save_workflow", json!({"name": bad, "workflow": basic_workflow()})));
        cases.push(("get_saved_workflow", json!({"name": bad})));
        cases.push(("run_saved_workflow", json!({"name": bad})));
        cases.push(("run_workflow", json!({"name": bad, "params": {}})));
        cases.push(("get_template", json!({"name": bad})));
        cases.push(("get_asset_metadata", json!({"asset_id": bad})));
        cases.push(("view_image", json!({"asset_id": bad})));
        cases.push(("get_job_status", json!({"job_id": bad})));
        cases.push(("list_models", json!({"folder": bad})));
    }
    cases
}

/// Every file under `dir`, recursively: where the server wrote while it was attacked.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}
