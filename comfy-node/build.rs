//! Links the module the way Node.js loads it (napi-rs).
fn main() {
    napi_build::setup();
}
