//! Core benchmarks: parsing the full node catalogue, validating and rendering a 50-node template.
//!
//! `cargo bench --bench core` (numbers go in the closing notes, never into test assertions).

use comfy_core::validate::validate;
use comfy_core::{Catalog, Workflow};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use std::hint::black_box;

fn fixture(name: &str) -> String {
    let path = format!("{}/../shared/fixtures/comfyui/http/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A 50-node model-free chain (EmptyImage → 48 image operations → SaveImage) with
/// `{{placeholders}}` on a dozen inputs.
pub fn fifty_node_template() -> Value {
    let mut nodes = Map::new();
    nodes.insert(
        "1".into(),
        json!({"class_type": "EmptyImage", "inputs": {"width": "{{width}}", "height": "{{height}}", "batch_size": 1, "color": "{{color}}"}}),
    );
    for i in 2..50 {
        let prev = json!([(i - 1).to_string(), 0]);
        let node = match i % 3 {
            0 => json!({"class_type": "ImageInvert", "inputs": {"image": prev}}),
            1 => {
                json!({"class_type": "ImageBlur", "inputs": {"image": prev, "blur_radius": format!("{{{{blur_{i}}}}}"), "sigma": 1.0}})
            }
            _ => {
                json!({"class_type": "ImageScaleBy", "inputs": {"image": prev, "upscale_method": "{{method}}", "scale_by": 1.0}})
            }
        };
        nodes.insert(i.to_string(), node);
    }
    nodes.insert(
        "50".into(),
        json!({"class_type": "SaveImage", "inputs": {"images": ["49", 0], "filename_prefix": "bench/{{name}}_{{width}}"}}),
    );
    Value::Object(nodes)
}

fn parse_catalog(c: &mut Criterion) {
    let text = fixture("object_info_full.json");
    let mut group = c.benchmark_group("catalog");
    group.throughput(criterion::Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_object_info_full", |b| {
        b.iter(|| Catalog::from_json_str(black_box(&text)).map(|c| c.len()))
    });
    group.finish();
}

fn validate_and_render(c: &mut Criterion) {
    let catalog = Catalog::from_json_str(&fixture("object_info_full.json")).expect("catalogue");
    let template_json = fifty_node_template();
    let template =
        comfy_core::template::Template::from_value("bench", template_json.clone()).expect("template");
    let mut values = Map::new();
    values.insert("width".into(), json!(64));
    values.insert("height".into(), json!("64"));
    values.insert("color".into(), json!(0));
    values.insert("method".into(), json!("lanczos"));
    values.insert("name".into(), json!("run"));
    for i in (2..50).filter(|i| i % 3 == 1) {
        values.insert(format!("blur_{i}"), json!(2));
    }
    let defaults = comfy_core::template::ParamDefaults::default();
    let request = comfy_core::template::RenderRequest { values: values.clone(), defaults: &defaults };
    let rendered: Workflow = template.render(&request).expect("render").workflow;
    assert_eq!(rendered.len(), 50);
    assert!(validate(&rendered, &catalog).is_ok());

    let mut group = c.benchmark_group("template_50_nodes");
    group.bench_function("render", |b| {
        b.iter(|| template.render(black_box(&request)).map(|r| r.workflow.len()))
    });
    group.bench_function("validate", |b| b.iter(|| validate(black_box(&rendered), &catalog).problems.len()));
    group.bench_function("render_and_validate", |b| {
        b.iter(|| {
            let r = template.render(black_box(&request)).expect("render");
            validate(&r.workflow, &catalog).is_ok()
        })
    });
    group.bench_function("parse_template", |b| {
        let text = template_json.to_string();
        b.iter(|| {
            comfy_core::template::Template::from_json_str("bench", black_box(&text)).map(|t| t.params.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse_catalog, validate_and_render);
criterion_main!(benches);
