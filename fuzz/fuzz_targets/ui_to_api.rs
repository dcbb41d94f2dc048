//! Arbitrary editor (UI format) workflows converted against the real 0.3.64 node catalogue:
//! never a panic or a stack overflow; whatever converts also converts back to the editor format
//! and again to the API format.
#![no_main]

use std::sync::OnceLock;

use comfy_core::Catalog;
use comfy_core::ui::{UiOptions, to_api_with, to_ui};
use libfuzzer_sys::fuzz_target;

static CATALOG: OnceLock<Catalog> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let catalog = CATALOG.get_or_init(|| {
        let text = include_str!("../../../shared/fixtures/comfyui/http/object_info_full.json");
        Catalog::from_json_str(text).expect("fixture catalogue parses")
    });
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = comfy_core::json::parse_strict(text, "fuzz") else { return };
    let options = UiOptions { seed: Some(0), now_unix: Some(0), ..UiOptions::default() };
    let strict = UiOptions { strict_widgets: true, ..options.clone() };
    let _ = to_api_with(&value, catalog, &strict);
    if let Ok(converted) = to_api_with(&value, catalog, &options) {
        let _ = converted.workflow.to_json_string();
        let ui =
            to_ui(&converted.workflow, catalog).expect("a converted workflow goes back to the editor format");
        to_api_with(&ui, catalog, &options).expect("our own editor output converts");
    }
});
