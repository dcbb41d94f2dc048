//! The backend conformance suite (tests/support/backend_suite.rs) against every backend's fake;
//! `backend_conformance_real.rs` runs it against a real ComfyUI.

#[path = "support/backend_suite.rs"]
mod backend_suite;

use backend_suite::{Target, conforms};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_conforms() {
    conforms(Target::local().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comfy_cloud_backend_conforms() {
    conforms(Target::cloud().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runcomfy_backend_conforms() {
    conforms(Target::runcomfy().await).await;
}
