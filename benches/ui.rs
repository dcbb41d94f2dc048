//! UI (editor "save" format) → API conversion over the official workflow template corpus.
//!
//! `COMFY_TEMPLATES_DIR="$(scripts/templates-corpus.sh)" cargo bench --bench ui` converts every
//! template (~640, including the ones that stop at a missing node class) per iteration. Without
//! `COMFY_TEMPLATES_DIR` only the six golden pairs of `../shared/fixtures/comfyui/ui_to_api/` are
//! converted, and the bench says so.

use std::hint::black_box;
use std::path::PathBuf;

use comfy_core::ui::{UiOptions, to_api_with, to_ui};
use comfy_core::{Catalog, Error};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

fn shared(path: &str) -> PathBuf {
    PathBuf::from(format!("{}/../shared/fixtures/comfyui/{path}", env!("CARGO_MANIFEST_DIR")))
}

fn read(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The workflows to convert, and what they are.
fn corpus() -> (Vec<Value>, String) {
    if let Some(dir) = std::env::var_os("COMFY_TEMPLATES_DIR") {
        let dir = PathBuf::from(dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("COMFY_TEMPLATES_DIR {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("index")))
            .collect();
        files.sort();
        let workflows: Vec<Value> = files
            .iter()
            .map(|p| read(p))
            .filter(|v| {
                matches!(
                    comfy_core::workflow::detect_format(v),
                    comfy_core::workflow::WorkflowFormat::Ui { .. }
                )
            })
            .collect();
        let label = format!("{} official templates from {}", workflows.len(), dir.display());
        (workflows, label)
    } else {
        let cases = [
            "basic_image",
            "primitive_reroute_note",
            "mute_and_bypass",
            "widgets_control_upload_dynamic",
            "subgraph",
            "default_graph",
        ];
        let workflows =
            cases.iter().map(|c| read(&shared(&format!("ui_to_api/{c}.workflow.json")))).collect();
        (
            workflows,
            "COMFY_TEMPLATES_DIR is not set: only the 6 golden pairs (see scripts/templates-corpus.sh)"
                .into(),
        )
    }
}

fn ui_conversion(c: &mut Criterion) {
    let catalog = Catalog::from_json_str(
        &std::fs::read_to_string(shared("http/object_info_full.json")).expect("catalogue"),
    )
    .expect("catalogue parses");
    let (workflows, label) = corpus();
    let options = UiOptions { seed: Some(1), now_unix: Some(1_700_000_000), ..UiOptions::default() };
    let mut converted = Vec::new();
    let mut missing = 0usize;
    for w in &workflows {
        match to_api_with(w, &catalog, &options) {
            Ok(c) => converted.push(c.workflow),
            Err(Error::UnknownNodeClasses { .. }) => missing += 1,
            Err(e) => panic!("conversion failed: {e}"),
        }
    }
    eprintln!("ui bench: {label}; {} convert, {missing} stop at missing node classes", converted.len());

    let mut group = c.benchmark_group("ui");
    group.throughput(Throughput::Elements(workflows.len() as u64));
    group.sample_size(20);
    group.bench_function("to_api_corpus", |b| {
        b.iter(|| {
            workflows
                .iter()
                .map(|w| to_api_with(black_box(w), &catalog, &options).map(|c| c.workflow.len()).unwrap_or(0))
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Elements(converted.len() as u64));
    group.bench_function("to_ui_converted", |b| {
        b.iter(|| {
            converted
                .iter()
                .map(|w| to_ui(black_box(w), &catalog).map(|u| u.to_string().len()).unwrap_or(0))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, ui_conversion);
criterion_main!(benches);
