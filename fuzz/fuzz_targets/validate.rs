//! Arbitrary JSON workflows validated against the real 0.3.64 node catalogue: never a panic.
#![no_main]

use std::sync::OnceLock;

use comfy_core::Catalog;
use comfy_core::validate::{ValidateOptions, validate_value};
use libfuzzer_sys::fuzz_target;

static CATALOG: OnceLock<Catalog> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let catalog = CATALOG.get_or_init(|| {
        let text = include_str!("../../../shared/fixtures/comfyui/http/object_info_core_subset.json");
        Catalog::from_json_str(text).expect("fixture catalogue parses")
    });
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = comfy_core::json::parse_strict(text, "fuzz") else { return };
    let report = validate_value(&value, catalog, &ValidateOptions::default());
    let _ = report.summary();
});
