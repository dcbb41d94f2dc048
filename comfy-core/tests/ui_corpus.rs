//! Every official workflow template (PyPI `comfyui-workflow-templates-json`, MIT) converted from
//! the editor format to the API format and validated against the real 0.3.64 node catalogue.
//!
//! Needs the templates on disk: `COMFY_TEMPLATES_DIR="$(scripts/templates-corpus.sh)" cargo test
//! -p comfy-core --features corpus --test ui_corpus -- --nocapture`.
//!
//! Verdicts:
//! - templates using node classes the catalogue does not have (newer nodes, partner API nodes,
//!   custom nodes) must fail with exactly `Error::UnknownNodeClasses`; they are counted and the
//!   missing classes listed;
//! - every other template must convert and validate with no error, except one kind the fixture
//!   server cannot know about: `value_not_in_list` for a file the fixture server does not have —
//!   a file-picker combo (model loaders, image/video/audio loaders) whose options are empty or all
//!   file names (or a `*_name` model-folder input), given a value that is a file name. Those files are the template's downloads and
//!   example inputs, not conversion results. Any other validation error is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use comfy_core::catalog::InputKind;
use comfy_core::ui::{UiOptions, to_api_with, to_ui_with_ids};
use comfy_core::validate::{Problem, ProblemCode, validate};
use comfy_core::{Catalog, Error};
use serde_json::Value;

/// Templates that cannot pass against the 0.3.64 catalogue however well they are converted: they
/// were made for a newer ComfyUI whose nodes offer choices or outputs 0.3.64 does not have. Each
/// entry gives the reason; the test still fails if such a template shows any other kind of error.
const KNOWN_IMPOSSIBLE: &[(&str, &str)] = &[
    (
        "api_bytedance_seedance1_5_flf2v",
        "model \"seedance-1-5-pro-251215\" is newer than the 0.3.64 ByteDance node",
    ),
    (
        "api_bytedance_seedance1_5_image_to_video",
        "model \"seedance-1-5-pro-251215\" is newer than the 0.3.64 node",
    ),
    (
        "api_bytedance_seedance1_5_text_to_video",
        "model \"seedance-1-5-pro-251215\" is newer than the 0.3.64 node",
    ),
    ("api_kling_v3_t2i", "model \"kling-v3\" is newer than the 0.3.64 Kling node"),
    (
        "api_tripo3_0_text_to_model",
        "Tripo v3.0 model and the 4-output Tripo node are newer than 0.3.64 (2 outputs)",
    ),
    ("api_tripo3_1_multiview_to_model", "Tripo v3.1 model and the 4-output Tripo node are newer than 0.3.64"),
    ("api_tripo_image_to_model", "links to outputs 2 and 3 of the newer 4-output Tripo node (0.3.64 has 2)"),
    (
        "api_tripo_multiview_to_model",
        "links to outputs 2 and 3 of the newer 4-output Tripo node (0.3.64 has 2)",
    ),
    ("api_tripo_text_to_model", "links to outputs 2 and 3 of the newer 4-output Tripo node (0.3.64 has 2)"),
    ("api_wan2_6_i2v", "model \"wan2.6-i2v\" is newer than the 0.3.64 Wan API node"),
    ("api_wan2_6_t2v", "model \"wan2.6-t2v\" is newer than the 0.3.64 Wan API node"),
    (
        "image-qwen_image_edit_2511_lora_inflation",
        "reference_latents_method \"index_timestep_zero\" is newer than 0.3.64",
    ),
    ("image_kandinsky5_t2i", "DualCLIPLoader type \"kandinsky5_image\" is newer than 0.3.64"),
    ("image_newbieimage_exp0_1-t2i", "DualCLIPLoader type \"newbie\" is newer than 0.3.64"),
    ("image_ovis_text_to_image", "CLIPLoader type \"ovis\" is newer than 0.3.64"),
    (
        "templates-photo_to_product_vid",
        "model \"seedream-4-5-251128\" is newer than the 0.3.64 Seedream node",
    ),
];

/// The only errors a known-impossible template may show: choices and outputs of newer nodes.
const VERSION_SKEW: &[ProblemCode] = &[ProblemCode::ValueNotInList, ProblemCode::LinkBadOutputIndex];

const FILE_EXTENSIONS: &[&str] = &[
    "safetensors",
    "ckpt",
    "pt",
    "pth",
    "bin",
    "gguf",
    "sft",
    "onnx",
    "pkl",
    "yaml",
    "json",
    "png",
    "jpg",
    "jpeg",
    "webp",
    "gif",
    "bmp",
    "tif",
    "tiff",
    "mp4",
    "webm",
    "mov",
    "mkv",
    "avi",
    "mp3",
    "wav",
    "flac",
    "ogg",
    "m4a",
    "opus",
    "aac",
    "glb",
    "gltf",
    "obj",
    "fbx",
    "stl",
    "ply",
    "svg",
    "txt",
    "npz",
    "latent",
];

fn looks_like_file(v: &Value) -> bool {
    v.as_str().and_then(|s| s.rsplit_once('.')).is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && FILE_EXTENSIONS.contains(&ext.trim_end_matches(" [output]").to_lowercase().as_str())
    })
}

/// A `value_not_in_list` for a file this fixture server does not have.
fn unavailable_file(problem: &Problem, workflow: &comfy_core::Workflow, catalog: &Catalog) -> bool {
    if problem.code != ProblemCode::ValueNotInList {
        return false;
    }
    let (Some(id), Some(input)) = (&problem.node_id, &problem.input) else { return false };
    let Some(node) = workflow.node(id.as_str()) else { return false };
    let Some(def) = catalog.node(&node.class_type).and_then(|d| d.input(input)) else { return false };
    let InputKind::Combo { options, .. } = &def.kind else { return false };
    let value = node.inputs.get(input.as_str()).map(|v| v.to_json()).unwrap_or(Value::Null);
    // A file picker: no files on this server, a list of files, a model folder (`*_name`, e.g.
    // VAELoader's ["pixel_space"] when no VAE is installed) or an upload combo.
    let file_picker = options.is_empty()
        || options.iter().any(looks_like_file)
        || input.ends_with("_name")
        || def.options.upload.is_some();
    file_picker && looks_like_file(&value)
}

/// API → UI → API gives the same workflow, node ids mapped, literal inputs the catalogue does not
/// declare (an editor-only extra such as `audioUI`, or a newer node's input) left out of both.
fn round_trip(a1: &comfy_core::Workflow, catalog: &Catalog, options: &UiOptions) -> Result<(), String> {
    let (ui, ids) = to_ui_with_ids(a1, catalog).map_err(|e| e.to_string())?;
    let a2 = to_api_with(&ui, catalog, options).map_err(|e| e.to_string())?.workflow;
    let strip = |wf: &comfy_core::Workflow, map: bool| -> Value {
        let mut out = serde_json::Map::new();
        for (id, node) in wf.nodes() {
            let mut node = node.clone();
            let def = catalog.node(&node.class_type);
            node.inputs
                .retain(|name, v| v.as_link().is_some() || def.is_some_and(|d| d.input(name).is_some()));
            for v in node.inputs.values_mut() {
                if let (true, comfy_core::Input::Link(l)) = (map, v) {
                    l.node = comfy_core::NodeId(ids[&l.node].to_string());
                }
            }
            let key = if map { ids[id].to_string() } else { id.to_string() };
            out.insert(key, serde_json::to_value(&node).unwrap());
        }
        Value::Object(out)
    };
    let (before, after) = (strip(a1, true), strip(&a2, false));
    if before == after { Ok(()) } else { Err(format!("before {before}\n      after  {after}")) }
}

fn template_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list COMFY_TEMPLATES_DIR {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("index")))
        .collect();
    files.sort();
    files
}

/// Templates in the pinned corpus (`scripts/templates-corpus.sh`, json 0.1.123): 644 workflows.
const FLOOR_TEMPLATES: usize = 644;
/// Templates whose classes are all in the catalogue fixture, so they convert: 121.
const FLOOR_CONVERTED: usize = 121;
/// Of those, converted and valid (files the fixture server lacks accepted): 105.
const FLOOR_VALID: usize = 105;
/// API → UI → API stable: 121.
const FLOOR_ROUND_TRIPS: usize = 121;

#[test]
fn every_official_template_converts_and_validates() {
    let Some(dir) = std::env::var_os("COMFY_TEMPLATES_DIR") else {
        panic!(
            "COMFY_TEMPLATES_DIR is not set: this test needs the official workflow templates. Run\n  \
             COMFY_TEMPLATES_DIR=\"$(scripts/templates-corpus.sh)\" cargo test -p comfy-core --features corpus \
             --test ui_corpus -- --nocapture"
        )
    };
    let dir = PathBuf::from(dir);
    let catalog_path =
        format!("{}/../../shared/fixtures/comfyui/http/object_info_full.json", env!("CARGO_MANIFEST_DIR"));
    let catalog = Catalog::from_json_str(&std::fs::read_to_string(&catalog_path).unwrap()).unwrap();
    let options = UiOptions { seed: Some(1), now_unix: Some(1_700_000_000), ..UiOptions::default() };

    let mut total = 0usize;
    let mut valid = 0usize;
    let mut not_workflows = Vec::new();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut missing_templates = 0usize;
    let mut failures: Vec<(String, String)> = Vec::new();
    // Templates whose only errors are version skew (see KNOWN_IMPOSSIBLE).
    let mut skew_only: BTreeSet<String> = BTreeSet::new();
    let mut unavailable_files = 0usize;
    let mut warnings = 0usize;
    let mut round_trips = 0usize;
    let mut nodes = 0usize;
    for path in template_files(&dir) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = match comfy_core::json::parse_strict(&text, &name) {
            Ok(v) => v,
            Err(e) => {
                failures.push((name, format!("not JSON: {e}")));
                continue;
            }
        };
        if !matches!(
            comfy_core::workflow::detect_format(&value),
            comfy_core::workflow::WorkflowFormat::Ui { .. }
        ) {
            not_workflows.push(name);
            continue;
        }
        total += 1;
        match to_api_with(&value, &catalog, &options) {
            Err(Error::UnknownNodeClasses { classes, .. }) => {
                missing_templates += 1;
                for class in classes {
                    missing.entry(class).or_default().push(name.clone());
                }
            }
            Err(e) => failures.push((name, format!("conversion failed: {e}"))),
            Ok(conversion) => {
                warnings += conversion.warnings.len();
                for w in &conversion.warnings {
                    println!("  warning {name}: {w}");
                }
                nodes += conversion.workflow.len();
                // The prompt survives API → UI → API (node ids mapped; inputs the catalogue does
                // not declare cannot be shown in the editor and are compared without).
                match round_trip(&conversion.workflow, &catalog, &options) {
                    Ok(()) => round_trips += 1,
                    Err(why) => failures.push((name.clone(), format!("round trip: {why}"))),
                }
                let report = validate(&conversion.workflow, &catalog);
                let mut errors = Vec::new();
                let mut only_skew = true;
                for p in report.errors() {
                    if unavailable_file(p, &conversion.workflow, &catalog) {
                        unavailable_files += 1;
                    } else {
                        only_skew &= VERSION_SKEW.contains(&p.code);
                        errors.push(p.to_string());
                    }
                }
                if only_skew && !errors.is_empty() {
                    skew_only.insert(name.clone());
                }
                if errors.is_empty() {
                    valid += 1;
                } else {
                    failures
                        .push((name, format!("{} validation errors: {}", errors.len(), errors.join(" | "))));
                }
            }
        }
    }

    println!("\n== official templates: {}", dir.display());
    println!("workflows:                {total} (skipped, not a workflow: {})", not_workflows.join(", "));
    println!("converted + valid:        {valid} ({nodes} API nodes, {warnings} warnings)");
    println!("   (value_not_in_list for files the fixture server lacks, accepted: {unavailable_files})");
    println!("API → UI → API stable:    {round_trips}");
    println!("missing node classes:     {missing_templates} templates, {} classes", missing.len());
    println!("failures:                 {}", failures.len());
    let mut by_count: Vec<(&String, &Vec<String>)> = missing.iter().collect();
    by_count.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    println!("missing classes (templates using them):");
    for (class, templates) in by_count {
        println!("  {class}: {}", templates.len());
    }
    let mut unexpected = Vec::new();
    for (name, why) in &failures {
        let reason = KNOWN_IMPOSSIBLE.iter().find(|(n, _)| n == name).map(|(_, r)| *r);
        match reason {
            Some(reason) if skew_only.contains(name) => {
                println!("  known impossible {name}: {reason}\n      {why}")
            }
            _ => {
                println!("  FAILURE {name}: {why}");
                unexpected.push(name.clone());
            }
        }
    }
    println!(
        "known impossible (needs a newer ComfyUI than the 0.3.64 fixture): {}",
        failures.len() - unexpected.len()
    );
    assert_eq!(total, valid + missing_templates + failures.len());
    assert!(total >= FLOOR_TEMPLATES, "only {total} templates found in {}", dir.display());
    // Floors (measured on the pinned corpus with the 0.3.64 catalogue fixture): a change that
    // converts, validates or round-trips fewer templates fails here, even if no single
    // template's failure is "unexpected" (e.g. one now reported as missing classes).
    let converted = total - missing_templates;
    assert!(converted >= FLOOR_CONVERTED, "only {converted} templates convert (floor {FLOOR_CONVERTED})");
    assert!(valid >= FLOOR_VALID, "only {valid} templates convert and validate (floor {FLOOR_VALID})");
    assert!(round_trips >= FLOOR_ROUND_TRIPS, "only {round_trips} round trips (floor {FLOOR_ROUND_TRIPS})");
    assert!(unexpected.is_empty(), "{} templates failed: {}", unexpected.len(), unexpected.join(", "));
}
