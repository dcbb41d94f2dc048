//! Arbitrary bytes into the workflow parser: it must return an error, never panic, and
//! anything it accepts must round-trip byte-identically.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(wf) = comfy_core::Workflow::from_json_str(text) {
        let out = wf.to_json_string();
        let again = comfy_core::Workflow::from_json_str(&out).expect("our own output must parse");
        assert_eq!(again.to_json_string(), out);
        assert_eq!(again.canonical_hash(), wf.canonical_hash());
        let _ = wf.topological_order();
        let _ = wf.find_cycle();
        let _ = wf.dangling_links();
    }
});
