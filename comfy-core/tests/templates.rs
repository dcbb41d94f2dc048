//! Templates end to end: placeholder styles, sidecars, enrichment from a real ComfyUI catalogue,
//! JSON Schema, layered rendering, refusal of leftovers, built-ins, discovery and hot reload.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use comfy_core::template::{ParamDefaults, ParamType, RenderRequest, Template, TemplateLibrary, ValueSource};
use comfy_core::validate::{ProblemCode, validate};
use comfy_core::{Catalog, Error};
use serde_json::{Map, Value, json};

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/comfyui/http/object_info_full.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Catalog::from_json_str(&text).unwrap()
    })
}

fn values(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn render(t: &Template, v: Value) -> comfy_core::Result<comfy_core::template::Rendered> {
    t.render(&RenderRequest::new(values(v)))
}

fn input(r: &comfy_core::template::Rendered, node: &str, input: &str) -> Value {
    r.workflow.node(node).unwrap().inputs[input].to_json()
}

/// A KSampler graph whose inputs mix every placeholder style.
fn mixed() -> Template {
    Template::from_value(
        "Mixed Styles",
        json!({
            "__metadata__": {"description": "all styles", "parameters": {
                "subject": {"description": "what to draw"},
                "style": {"type": "string", "enum": ["photo", "painting"], "default": "photo"}
            }},
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "PARAM_STR_CKPT"}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": "PARAM_INT_SIZE", "height": "PARAM_INT_SIZE", "batch_size": 1}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a {{ style }} of {{subject}}", "clip": ["4", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "PARAM_NEGATIVE", "clip": ["4", 1]}},
            "3": {"class_type": "KSampler", "inputs": {
                "seed": "{{seed}}", "steps": "{{steps}}", "cfg": "PARAM_FLOAT_CFG", "sampler_name": "{{sampler}}",
                "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                "latent_image": ["5", 0]
            }},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
            "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "out/{{subject}}", "images": ["8", 0]}}
        }),
    )
    .unwrap()
}

#[test]
fn every_placeholder_style_becomes_a_parameter() {
    let t = mixed();
    assert_eq!(t.name, "mixed_styles");
    let names: Vec<&str> = t.params.keys().map(String::as_str).collect();
    assert_eq!(names, ["subject", "style", "ckpt", "size", "negative", "seed", "steps", "cfg", "sampler"]);
    let ty = |n: &str| t.param(n).unwrap().ty;
    assert_eq!(ty("size"), ParamType::Integer);
    assert_eq!(ty("cfg"), ParamType::Number);
    assert_eq!(ty("negative"), ParamType::String);
    assert_eq!(ty("seed"), ParamType::Integer);
    let size = t.param("size").unwrap();
    assert_eq!(size.bindings.len(), 2, "one parameter, two bindings");
    let subject = t.param("subject").unwrap();
    assert_eq!(subject.description.as_deref(), Some("what to draw"));
    assert!(subject.bindings.iter().all(|b| !b.whole));

    let r = render(
        &t.enriched(catalog()),
        json!({"subject": "a cat", "ckpt": "m.safetensors", "size": "768", "negative": "blurry",
               "cfg": "6.5", "sampler": "euler", "seed": 5}),
    )
    .unwrap();
    assert_eq!(input(&r, "6", "text"), json!("a photo of a cat"));
    assert_eq!(input(&r, "9", "filename_prefix"), json!("out/a cat"));
    assert_eq!(input(&r, "5", "width"), json!(768));
    assert_eq!(input(&r, "5", "height"), json!(768));
    assert_eq!(input(&r, "3", "cfg"), json!(6.5));
    assert_eq!(input(&r, "3", "steps"), json!(20), "catalogue default");
    assert_eq!(input(&r, "7", "text"), json!("blurry"));
    assert_eq!(input(&r, "4", "ckpt_name"), json!("m.safetensors"));
    assert!(r.random_seeds.is_empty());
    assert_eq!(r.template, "mixed_styles");
}

#[test]
fn a_sidecar_overrides_metadata_which_overrides_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("My Sampler.json");
    std::fs::write(
        &file,
        json!({
            "__metadata__": {"description": "from metadata", "parameters": {
                "steps": {"default": 25, "max": 100, "description": "metadata steps"},
                "sampler": {"description": "metadata sampler"}
            }},
            "3": {"class_type": "KSampler", "inputs": {"steps": "{{steps}}", "sampler_name": "{{sampler}}", "cfg": "{{cfg}}"}}
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("My Sampler.meta.json"),
        json!({
            "name": "sampler_tool",
            "defaults": {"steps": 30, "sampler": "ddim"},
            "constraints": {"steps": {"min": 10}, "sampler": {"enum": ["euler", "ddim"]}},
            "descriptions": {"steps": "sidecar steps"},
            "override_mappings": {"ignored": [["3", "steps"]]}
        })
        .to_string(),
    )
    .unwrap();
    let t = Template::from_file(&file).unwrap();
    assert_eq!(t.name, "sampler_tool");
    assert_eq!(t.description, "from metadata");
    assert_eq!(t.source.as_deref(), Some(file.as_path()));
    let t = t.enriched(catalog());
    let steps = t.param("steps").unwrap();
    assert_eq!(steps.default, Some(json!(30)), "sidecar default");
    assert_eq!(steps.minimum, Some(10.0), "sidecar constraint");
    assert_eq!(steps.maximum, Some(100.0), "metadata constraint");
    assert_eq!(steps.description.as_deref(), Some("sidecar steps"));
    let sampler = t.param("sampler").unwrap();
    assert_eq!(
        sampler.enum_values,
        Some(vec![json!("euler"), json!("ddim")]),
        "sidecar enum beats the catalogue"
    );
    assert_eq!(sampler.description.as_deref(), Some("metadata sampler"));
    let cfg = t.param("cfg").unwrap();
    assert_eq!((cfg.ty, cfg.default.clone()), (ParamType::Number, Some(json!(8.0))), "catalogue");
    assert!(cfg.description.as_deref().unwrap().contains("Classifier-Free Guidance"), "tooltip fallback");
    let r = render(&t, json!({})).unwrap();
    assert_eq!(input(&r, "3", "steps"), json!(30));
    assert_eq!(input(&r, "3", "sampler_name"), json!("ddim"));

    // A sidecar constraint naming no parameter is an error with a suggestion.
    std::fs::write(dir.path().join("My Sampler.meta.json"), r#"{"defaults": {"stesp": 3}}"#).unwrap();
    let e = Template::from_file(&file).unwrap_err().to_string();
    assert!(e.contains("\"stesp\"") && e.contains("did you mean steps?"), "{e}");
}

#[test]
fn enrichment_from_the_real_catalogue() {
    let t = Template::from_value(
        "k",
        json!({"3": {"class_type": "KSampler", "inputs": {
            "steps": "{{steps}}", "sampler_name": "{{sampler}}", "seed": "{{noise}}", "denoise": "{{denoise}}"
        }}}),
    )
    .unwrap()
    .enriched(catalog());
    let steps = t.param("steps").unwrap();
    assert_eq!(steps.ty, ParamType::Integer);
    assert_eq!((steps.minimum, steps.maximum), (Some(1.0), Some(10000.0)));
    assert_eq!(steps.default, Some(json!(20)));
    assert!(!steps.required);
    let sampler = t.param("sampler").unwrap();
    let options = sampler.enum_values.as_ref().unwrap();
    assert!(options.contains(&json!("euler")) && options.contains(&json!("dpmpp_2m")), "{options:?}");
    assert!(options.len() > 10);
    let noise = t.param("noise").unwrap();
    assert!(noise.is_seed, "control_after_generate makes a seed whatever its name");
    assert_eq!(noise.maximum, Some(u64::MAX as f64));
    let denoise = t.param("denoise").unwrap();
    assert_eq!((denoise.ty, denoise.step), (ParamType::Number, Some(0.01)));
}

#[test]
fn json_schema_is_a_ready_tool_input_schema() {
    let t = TemplateLibrary::builtin().get("generate_image").unwrap().enriched(catalog());
    let s = t.json_schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["type"], "object");
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(s["required"], json!(["prompt", "ckpt_name"]));
    let props = s["properties"].as_object().unwrap();
    assert_eq!(props.len(), t.params.len());
    let width = &props["width"];
    assert_eq!(width["type"], "integer");
    assert_eq!((width["minimum"].clone(), width["maximum"].clone()), (json!(16), json!(16384)));
    assert_eq!(width["multipleOf"], 8);
    assert_eq!(width["default"], 512);
    assert_eq!(props["cfg"]["type"], "number");
    assert!(props["cfg"].get("multipleOf").is_none(), "float steps are not published");
    assert!(props["sampler_name"]["enum"].as_array().unwrap().contains(&json!("euler")));
    assert_eq!(props["negative_prompt"]["default"], "text, watermark");
    assert!(props["ckpt_name"].get("enum").is_none(), "the fixture server has no checkpoints");
    assert!(props["seed"].get("default").is_none());
    for (name, p) in props {
        assert!(p["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}");
        assert!(["string", "integer", "number", "boolean"].contains(&p["type"].as_str().unwrap()), "{name}");
    }
}

#[test]
fn layers_are_peeled_off_one_by_one() {
    let t = Template::from_value(
        "layers",
        json!({
            "__metadata__": {"parameters": {"steps": {"type": "integer", "default": 1}}},
            "3": {"class_type": "KSampler", "inputs": {"steps": "{{steps}}"}}
        }),
    )
    .unwrap();
    let mut defaults =
        ParamDefaults::from_env_iter([("COMFY_DEFAULT_STEPS", "4"), ("COMFY_DEFAULT_OTHER", "x")]);
    defaults.config.insert("steps".into(), json!(3));
    defaults.runtime.insert("steps".into(), json!("2"));
    defaults.runtime.insert("not_mine".into(), json!(true));
    let mut call = values(json!({"steps": 5}));
    let expected = [
        (5, ValueSource::Call),
        (2, ValueSource::Runtime),
        (3, ValueSource::Config),
        (4, ValueSource::Env),
        (1, ValueSource::Template),
    ];
    for (step, (want, source)) in expected.into_iter().enumerate() {
        let r = t.render(&RenderRequest::new(call.clone()).with_defaults(&defaults)).unwrap();
        assert_eq!(r.params["steps"], json!(want), "step {step}");
        assert_eq!(r.sources["steps"], source, "step {step}");
        assert_eq!(input(&r, "3", "steps"), json!(want));
        match step {
            0 => call.clear(),
            1 => defaults.runtime.clear(),
            2 => defaults.config.clear(),
            3 => defaults.env.clear(),
            _ => {}
        }
    }
}

#[test]
fn values_are_coerced_to_the_parameter_type() {
    let t = mixed().enriched(catalog());
    let base = json!({"subject": "s", "ckpt": "c", "negative": "n", "sampler": "euler", "seed": 1});
    let mut v = base.clone();
    v["steps"] = json!("7");
    v["size"] = json!(" 512 ");
    v["cfg"] = json!(7);
    let r = render(&t, v).unwrap();
    assert_eq!(input(&r, "3", "steps"), json!(7));
    assert_eq!(r.params["steps"], json!(7));
    assert_eq!(input(&r, "5", "width"), json!(512));
    // A number for a string parameter becomes its text.
    let mut v = base;
    v["subject"] = json!(42);
    v["size"] = json!(64);
    let r = render(&t, v).unwrap();
    assert_eq!(input(&r, "6", "text"), json!("a photo of 42"));
}

fn param_error(result: comfy_core::Result<comfy_core::template::Rendered>) -> (String, String) {
    match result {
        Err(Error::InvalidParameter { template, param, message }) => {
            assert!(!template.is_empty());
            (param, message)
        }
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn out_of_range_and_not_in_enum_name_the_parameter() {
    let t = TemplateLibrary::builtin().get("generate_image").unwrap().enriched(catalog());
    let ok = json!({"prompt": "p", "ckpt_name": "c"});
    let mut v = ok.clone();
    v["steps"] = json!(0);
    let (param, message) = param_error(render(&t, v));
    assert_eq!(param, "steps");
    assert!(message.contains("out of range") && message.contains("from 1 to 10000"), "{message}");
    let mut v = ok.clone();
    v["sampler_name"] = json!("eulr");
    let (param, message) = param_error(render(&t, v));
    assert_eq!(param, "sampler_name");
    assert!(message.contains("did you mean euler"), "{message}");
    let mut v = ok.clone();
    v["width"] = json!(500);
    let (param, message) = param_error(render(&t, v));
    assert_eq!(param, "width");
    assert!(message.contains("multiple of 8"), "{message}");
    let mut v = ok;
    v["cfg"] = json!("lots");
    let (param, message) = param_error(render(&t, v));
    assert_eq!(param, "cfg");
    assert!(message.contains("expected a number"), "{message}");
    // A bad value from a lower layer names that layer.
    let defaults = ParamDefaults::from_env_iter([("COMFY_DEFAULT_STEPS", "many")]);
    let request =
        RenderRequest::new(values(json!({"prompt": "p", "ckpt_name": "c"}))).with_defaults(&defaults);
    let (param, message) = param_error(t.render(&request));
    assert_eq!(param, "steps");
    assert!(message.contains("COMFY_DEFAULT_STEPS"), "{message}");
}

#[test]
fn missing_required_and_unknown_names_are_refused() {
    let t = TemplateLibrary::builtin().get("generate_image").unwrap();
    let (param, message) = param_error(render(&t, json!({"ckpt_name": "c"})));
    assert_eq!(param, "prompt");
    assert!(message.contains("required"), "{message}");
    let (param, message) = param_error(render(&t, json!({"prompt": "p", "ckpt_name": "c", "stpes": 3})));
    assert_eq!(param, "stpes");
    assert!(message.contains("did you mean steps?"), "{message}");
    assert!(message.contains("valid parameters: prompt, negative_prompt"), "{message}");
    // Names in the shared layers that this template does not have are fine.
    let mut defaults = ParamDefaults::new();
    defaults.runtime.insert("lyrics_strength".into(), json!(1));
    let request =
        RenderRequest::new(values(json!({"prompt": "p", "ckpt_name": "c"}))).with_defaults(&defaults);
    assert!(t.render(&request).is_ok());
}

#[test]
fn unset_seeds_are_random_reported_and_in_bounds() {
    let t = TemplateLibrary::builtin().get("generate_image").unwrap().enriched(catalog());
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let r = render(&t, json!({"prompt": "p", "ckpt_name": "c"})).unwrap();
        assert_eq!(r.random_seeds, ["seed"]);
        assert_eq!(r.sources["seed"], ValueSource::Random);
        let seed = r.params["seed"].as_u64().unwrap();
        assert!(seed < (1u64 << 53), "{seed} is not a safe JSON integer");
        assert_eq!(input(&r, "3", "seed"), json!(seed));
        seen.insert(seed);
    }
    assert!(seen.len() > 1, "seeds should vary");
    // A given seed is not random.
    let r = render(&t, json!({"prompt": "p", "ckpt_name": "c", "seed": "123"})).unwrap();
    assert!(r.random_seeds.is_empty());
    assert_eq!(input(&r, "3", "seed"), json!(123));
    // Declared bounds are honoured.
    let small = Template::from_value(
        "s",
        json!({"__metadata__": {"parameters": {"seed": {"min": 10, "max": 12}}},
               "1": {"class_type": "X", "inputs": {"seed": "{{seed}}"}}}),
    )
    .unwrap();
    for _ in 0..20 {
        let r = render(&small, json!({})).unwrap();
        let s = r.params["seed"].as_u64().unwrap();
        assert!((10..=12).contains(&s), "{s}");
    }
}

#[test]
fn leftover_placeholders_are_refused() {
    let t = TemplateLibrary::builtin().get("generate_image").unwrap();
    // A JN-style default copied into the config file verbatim.
    let mut defaults = ParamDefaults::new();
    defaults.config.insert("negative_prompt".into(), json!("PARAM_NEGATIVE"));
    let request =
        RenderRequest::new(values(json!({"prompt": "p", "ckpt_name": "c"}))).with_defaults(&defaults);
    match t.render(&request) {
        Err(Error::UnresolvedPlaceholder { template, node_id, input, placeholder }) => {
            assert_eq!(template, "generate_image");
            assert_eq!((node_id.as_str(), input.as_str()), ("7", "text"));
            assert_eq!(placeholder, "PARAM_NEGATIVE");
        }
        other => panic!("expected UnresolvedPlaceholder, got {other:?}"),
    }
    // A value is never expanded again: `{{seed}}` inside a prompt stays text and is refused.
    let e = render(&t, json!({"prompt": "a {{ seed }} here", "ckpt_name": "c"})).unwrap_err();
    assert_eq!(e.code(), "unresolved_placeholder");
    assert!(e.to_string().contains("{{ seed }}") && e.to_string().contains("node \"6\""), "{e}");
    // A graph edited after parsing with a placeholder no parameter covers.
    let mut edited = (*t).clone();
    edited
        .workflow
        .node_mut("9")
        .unwrap()
        .inputs
        .insert("filename_prefix".into(), json!("x/{{run_id}}").into());
    let e = render(&edited, json!({"prompt": "p", "ckpt_name": "c"})).unwrap_err();
    assert!(
        matches!(e, Error::UnresolvedPlaceholder { ref placeholder, .. } if placeholder == "{{run_id}}"),
        "{e}"
    );
}

#[test]
fn builtins_check_clean_and_render_with_only_required_params() {
    let lib = TemplateLibrary::builtin();
    assert!(lib.errors().is_empty());
    let required_values = json!({"prompt": "a lighthouse", "ckpt_name": "v1-5-pruned-emaonly.safetensors", "image": "example.png"});
    for t in lib.list() {
        let report = t.check(catalog());
        assert!(report.is_ok(), "{}: {}", t.name, report.summary());
        assert_eq!(report.warnings().count(), 0, "{}: {:?}", t.name, report.problems);
        let t = t.enriched(catalog());
        let mut v = Map::new();
        for name in t.required_params() {
            v.insert(name.to_owned(), required_values[name].clone());
        }
        let r = t.render(&RenderRequest::new(v)).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert!(!r.workflow.to_json_string().contains("{{"), "{}", t.name);
        // The rendered graph is valid for the server, except for the checkpoint it does not have.
        let report = validate(&r.workflow, catalog());
        for p in report.errors() {
            assert!(
                p.code == ProblemCode::ValueNotInList && p.input.as_deref() == Some("ckpt_name"),
                "{}: {p}",
                t.name
            );
        }
    }
    let names: Vec<String> = lib.list().iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, ["generate_image", "image_to_image", "inpaint", "upscale"]);
    let upscale = lib.get("upscale").unwrap();
    assert_eq!(upscale.required_params().collect::<Vec<_>>(), ["image"]);
    let i2i = lib.get("image_to_image").unwrap();
    assert_eq!(i2i.param("denoise").unwrap().default, Some(json!(0.75)));
    let inpaint = lib.get("inpaint").unwrap().enriched(catalog());
    let grow = inpaint.param("grow_mask_by").unwrap();
    assert_eq!((grow.minimum, grow.maximum, grow.default.clone()), (Some(0.0), Some(64.0), Some(json!(6))));
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const SIMPLE: &str = r#"{"1": {"class_type": "SaveImage", "inputs": {"filename_prefix": "{{prefix}}"}}}"#;

#[test]
fn library_discovery_isolates_bad_files_and_deduplicates_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "Alpha Flow.json", SIMPLE);
    write(d, "alpha-flow.json", SIMPLE);
    write(d, "broken.json", "{\"1\": {");
    write(d, "ui.json", r#"{"nodes": [{"id": 1}], "links": [], "version": 0.4}"#);
    write(
        d,
        "generate_image.json",
        r#"{"__metadata__": {"description": "my own"}, "1": {"class_type": "SaveImage", "inputs": {}}}"#,
    );
    write(
        d,
        "named.json",
        r#"{"__metadata__": {"name": "upscale_2"}, "1": {"class_type": "SaveImage", "inputs": {}}}"#,
    );
    write(
        d,
        "second_upscale.json",
        r#"{"__metadata__": {"name": "upscale"}, "1": {"class_type": "SaveImage", "inputs": {}}}"#,
    );
    write(
        d,
        "third_upscale.json",
        r#"{"__metadata__": {"name": "upscale"}, "1": {"class_type": "SaveImage", "inputs": {}}}"#,
    );
    write(d, "orphan.meta.json", "{}");
    write(d, "notes.txt", "not a template");
    write(d, ".hidden.json", "{ broken");
    let lib = TemplateLibrary::load(d).unwrap();

    let names: Vec<&str> = lib.names().collect();
    assert_eq!(
        names,
        [
            "generate_image",
            "image_to_image",
            "inpaint",
            "upscale",
            "alpha_flow",
            "alpha_flow_2",
            "upscale_2",
            "upscale_3"
        ]
    );
    // The user's generate_image replaced the built-in; the first "upscale" file did too.
    assert_eq!(lib.get("generate_image").unwrap().description, "my own");
    assert_eq!(lib.get("upscale").unwrap().source.as_deref(), Some(d.join("second_upscale.json").as_path()));
    assert_eq!(lib.get("upscale_3").unwrap().source.as_deref(), Some(d.join("third_upscale.json").as_path()));
    assert_eq!(lib.get("alpha_flow_2").unwrap().name, "alpha_flow_2");

    let errors: Vec<(String, &str)> = lib
        .errors()
        .iter()
        .map(|(p, e)| (p.file_name().unwrap().to_string_lossy().into_owned(), e.code()))
        .collect();
    assert_eq!(
        errors,
        [
            ("broken.json".to_string(), "invalid_json"),
            ("ui.json".to_string(), "invalid_template"),
            ("orphan.meta.json".to_string(), "invalid_template"),
        ]
    );
    let ui = &lib.errors()[1].1.to_string();
    assert!(ui.contains("UI") && ui.contains("once the node catalogue is known"), "{ui}");

    let e = lib.get("alpha_flw").unwrap_err();
    assert_eq!(e.code(), "template_not_found");
    assert!(e.to_string().contains("did you mean alpha_flow"), "{e}");
    assert!(TemplateLibrary::load(d.join("missing")).is_err());
}

fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_follows_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let watched = TemplateLibrary::watch(&d).unwrap();
    assert_eq!(watched.dir(), d.as_path());
    assert!(watched.get("fresh").is_err());
    let mut changes = watched.subscribe();

    write(&d, "fresh.json", SIMPLE);
    let w = &watched;
    tokio::task::block_in_place(|| wait_for("fresh to appear", || w.get("fresh").is_ok()));
    assert!(changes.has_changed().unwrap());
    changes.mark_unchanged();

    write(
        &d,
        "fresh.json",
        r#"{"__metadata__": {"description": "v2"}, "1": {"class_type": "SaveImage", "inputs": {}}}"#,
    );
    tokio::task::block_in_place(|| {
        wait_for("fresh to change", || w.get("fresh").is_ok_and(|t| t.description == "v2"))
    });

    std::fs::remove_file(d.join("fresh.json")).unwrap();
    tokio::task::block_in_place(|| wait_for("fresh to go", || w.get("fresh").is_err()));
    assert!(watched.version() >= 3);
    assert!(watched.get("generate_image").is_ok(), "built-ins stay");

    // An explicit reload works too, and a snapshot taken earlier stays consistent.
    let before = watched.snapshot();
    write(&d, "manual.json", SIMPLE);
    watched.reload_async().await.unwrap();
    assert!(watched.get("manual").is_ok());
    assert!(before.get("manual").is_err());
    watched.set_catalog(Some(std::sync::Arc::new(catalog().clone()))).unwrap();
    let steps = watched.get("generate_image").unwrap();
    assert!(steps.param("sampler_name").unwrap().enum_values.is_some(), "reloads enrich");
}

#[test]
fn watching_outside_a_runtime_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let e = TemplateLibrary::watch(dir.path()).unwrap_err();
    assert_eq!(e.code(), "io_error");
    assert!(e.to_string().contains("Tokio runtime"), "{e}");
}

#[test]
fn hostile_values_never_panic() {
    let lib = TemplateLibrary::builtin();
    let huge = "x".repeat(1024 * 1024);
    // Deeper than serde_json's parser allows (128), shallower than what serde_json's own recursive
    // clone/drop survive on a test thread's stack.
    let mut nested = json!("deep");
    for _ in 0..400 {
        nested = json!({"k": [nested]});
    }
    let hostile = [
        json!(huge),
        nested,
        json!(f64::MAX),
        json!(f64::MIN),
        json!(-f64::MIN_POSITIVE),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e-320),
        json!([]),
        json!({}),
        json!(null),
        json!(true),
        json!("{{prompt}}"),
        json!("PARAM_INT_SEED"),
        json!("\u{0}\u{FFFF}🦀"),
        json!("-0"),
        json!("1e400"),
    ];
    for t in lib.list() {
        let t = t.enriched(catalog());
        for name in t.params.keys() {
            for value in &hostile {
                let mut v = values(json!({"prompt": "p", "ckpt_name": "c", "image": "example.png"}));
                v.retain(|k, _| t.params.contains_key(k));
                v.insert(name.clone(), value.clone());
                if let Err(e) = t.render(&RenderRequest::new(v)) {
                    assert!(e.to_string().len() < 4096, "error messages stay short: {}", e.to_string().len());
                }
            }
        }
        let mut v = Map::new();
        v.insert(huge.clone(), json!(1));
        let e = t.render(&RenderRequest::new(v)).unwrap_err();
        assert!(e.to_string().len() < 4096);
    }
}
