//! The backend conformance suite (tests/support/backend_suite.rs) against a real ComfyUI:
//! scripts/test.sh starts one and runs this with `--features e2e-tests`; without
//! `COMFYUI_E2E_URL` it fails.

#[path = "support/backend_suite.rs"]
mod backend_suite;

use backend_suite::{Target, conforms};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_conforms_on_a_real_comfyui() {
    conforms(Target::real().await).await;
}
