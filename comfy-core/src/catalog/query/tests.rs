//! CQL over the real `/object_info` capture (ComfyUI 0.3.x with partner nodes) and a small
//! hand-made catalogue: answers, orders, paths and the errors of bad queries.

use serde_json::json;

use super::QueryResult;
use crate::catalog::Catalog;
use crate::error::Error;

fn real() -> Catalog {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/comfyui/http/object_info_full.json");
    let text = std::fs::read_to_string(path).expect("the object_info fixture (../shared/fixtures/comfyui)");
    Catalog::from_json_str(&text).expect("the fixture parses")
}

fn run(c: &Catalog, q: &str) -> QueryResult {
    c.query(q).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn names(r: &QueryResult) -> Vec<&str> {
    r.classes.iter().map(|h| h.class_type.as_str()).collect()
}

#[test]
fn class_queries_over_the_real_catalogue() {
    let c = real();
    // (query, total, a class that must be listed or "", a class that must not be or "")
    let table: &[(&str, usize, &str, &str)] = &[
        ("produces IMAGE", 80, "VAEDecode", "KSampler"),
        ("PRODUCES image", 80, "VAEDecode", ""),
        ("accepts IMAGE", 152, "SaveImage", "CheckpointLoaderSimple"),
        ("(produces VIDEO OR produces LATENT) AND NOT api", 78, "KSampler", "MinimaxTextToVideoNode"),
        ("produces IMAGE | api", 36, "OpenAIDalle3", "VAEDecode"),
        ("produces IMAGE AND NOT api", 44, "VAEDecode", "OpenAIDalle3"),
        ("produces IMAGE | NOT api", 44, "VAEDecode", "IdeogramV3"),
        ("all | deprecated", 4, "CheckpointLoader", "CheckpointLoaderSimple"),
        ("category image/upscaling", 5, "ImageUpscaleWithModel", "ImageInvert"),
        ("category \"image/upscaling/\" AND name scaleby", 1, "ImageScaleBy", "ImageScale"),
        ("upstream KSampler", 198, "CheckpointLoaderSimple", "SaveImage"),
        ("downstream VAEDecode", 152, "SaveImage", "KSampler"),
    ];
    for &(q, total, present, absent) in table {
        let r = c.query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(r.total, total, "{q}: {:?}", names(&r));
        assert_eq!(r.classes.len(), total.min(50), "{q}: 50 listed without a limit");
        if !present.is_empty() {
            let r = run(&c, &format!("{q} | limit 500"));
            assert!(names(&r).contains(&present), "{q}: {present} missing");
            if !absent.is_empty() {
                assert!(!names(&r).contains(&absent), "{q}: {absent} listed");
            }
        }
    }
}

#[test]
fn directives_sort_limit_and_report_links() {
    let c = real();
    let r = run(&c, "downstream VAEDecode | output | limit 500");
    assert!(names(&r).contains(&"SaveImage") && names(&r).contains(&"PreviewImage"), "{:?}", names(&r));
    assert!(r.classes.iter().all(|h| c.node(&h.class_type).is_some_and(|n| n.output_node)));
    let r = run(&c, "produces IMAGE | NOT deprecated | sort connections | limit 10");
    assert_eq!((r.total, r.classes.len()), (80, 10));
    let conns: Vec<usize> = r.classes.iter().map(|h| h.connections).collect();
    assert!(conns.windows(2).all(|w| w[0] >= w[1]), "largest first: {conns:?}");
    let asc = run(&c, "produces IMAGE | sort connections asc | limit 3");
    assert!(asc.classes[0].connections <= asc.classes[2].connections);
    let r = run(&c, "category image/upscaling | sort name");
    assert_eq!(
        names(&r),
        [
            "ImageScale",
            "ImageScaleBy",
            "ImageScaleToMaxDimension",
            "ImageScaleToTotalPixels",
            "ImageUpscaleWithModel"
        ]
    );
    let r = run(&c, "category image/upscaling | sort name desc | limit 1");
    assert_eq!(names(&r), ["ImageUpscaleWithModel"]);
    let r = run(&c, "upstream KSampler | name CheckpointLoaderSimple");
    let hit = &r.classes[0];
    assert_eq!(hit.via, ["MODEL"]);
    assert!(hit.produces.contains(&"MODEL".to_owned()) && hit.produces.contains(&"VAE".to_owned()));
    let ks = &run(&c, "name ksampler | NOT name advanced | limit 1").classes[0];
    assert_eq!(ks.class_type, "KSampler");
    assert_eq!(ks.accepts, ["MODEL", "CONDITIONING", "LATENT"]);
    // A filter after a limit works on what the limit left.
    let r = run(&c, "produces IMAGE | sort name | limit 5 | api");
    assert!(r.classes.iter().all(|h| h.api_node));
}

#[test]
fn typed_paths_are_shortest_first_and_every_step_is_satisfiable() {
    let c = real();
    let r = run(&c, "path MODEL -> IMAGE");
    assert!(!r.paths.is_empty());
    assert_eq!(r.paths[0].length, 2, "{:?}", r.paths[0]);
    assert!(r.paths.windows(2).all(|w| w[0].length <= w[1].length));
    let via_ksampler = r.paths.iter().find(|p| {
        p.steps.iter().map(|s| s.class_type.as_str()).collect::<Vec<_>>() == ["KSampler", "VAEDecode"]
    });
    let p = via_ksampler.expect("MODEL → KSampler → LATENT → VAEDecode → IMAGE");
    assert_eq!((p.steps[0].input.as_str(), p.steps[0].output.as_str()), ("model", "LATENT"));
    assert_eq!((p.steps[1].input.as_str(), p.steps[1].from.as_str()), ("samples", "LATENT"));
    for p in &r.paths {
        assert_eq!(p.steps.first().unwrap().from, "MODEL");
        assert_eq!(p.steps.last().unwrap().output, "IMAGE");
        assert!(p.steps.windows(2).all(|w| w[0].output == w[1].from), "{p:?}");
    }
    let r = run(&c, "path model to image depth 2 | NOT name KSampler | limit 3");
    assert!(r.paths.len() <= 3 && r.paths.iter().all(|p| p.length <= 2));
    assert!(r.paths.iter().all(|p| p.steps.iter().all(|s| !s.class_type.contains("KSampler"))));
    assert!(run(&c, "path MODEL -> IMAGE depth 1").paths.is_empty());
    // The widest search there is stays bounded and says when it stopped early.
    let started = std::time::Instant::now();
    let wide = run(&c, "path CONDITIONING -> IMAGE depth 6 | limit 3");
    assert_eq!(wide.paths.len(), 3);
    assert!(wide.paths[0].length <= 2, "{:?}", wide.paths[0]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn a_step_whose_other_required_input_nobody_produces_is_not_taken() {
    let node = |name: &str, inputs: serde_json::Value, optional: serde_json::Value, output: &str| {
        json!({"input": {"required": inputs, "optional": optional}, "output": [output], "name": name,
               "category": "t", "description": "", "python_module": "nodes", "output_node": false})
    };
    let c = Catalog::from_value(&json!({
        "Stuck": node("Stuck", json!({"a": ["A"], "ghost": ["GHOST"]}), json!({}), "B"),
        "Works": node("Works", json!({"a": ["A"]}), json!({"ghost": ["GHOST"]}), "B"),
        "Source": node("Source", json!({}), json!({}), "A"),
        "Wild": node("Wild", json!({"any": ["*"]}), json!({}), "B"),
    }))
    .unwrap();
    let r = run(&c, "path A -> B");
    let firsts: Vec<&str> = r.paths.iter().map(|p| p.steps[0].class_type.as_str()).collect();
    assert_eq!(firsts, ["Works"], "{r:?}");
    // `*` links connect nothing: Wild is no one's downstream.
    assert!(!names(&run(&c, "downstream Source")).contains(&"Wild"));
}

#[test]
fn bad_queries_say_where_and_what_was_expected() {
    let c = real();
    // (query, column, part of what was expected)
    let table: &[(&str, usize, &str)] = &[
        ("", 1, "a query"),
        ("   ", 4, "a query"),
        ("produces", 9, "a type"),
        ("produces IMAGEE", 10, "did you mean IMAGE"),
        ("produces IMAGE |", 17, "produces"),
        ("produces IMAGE | limit 0", 24, "from 1 to 500"),
        ("produces IMAGE | limit many", 24, "a number"),
        ("produces IMAGE | limit 99999999999999999999999", 24, "small enough"),
        ("produces IMAGE | sort size", 23, "a sort key"),
        ("(produces IMAGE", 16, "')'"),
        ("produces IMAGE limit 3", 16, "'|', AND, OR"),
        ("path MODEL IMAGE", 12, "'->'"),
        ("path MODEL -> IMAGE depth 9", 27, "from 1 to 6"),
        ("path MODEL -> IMAGE | sort connections", 28, "length"),
        ("produces IMAGE | sort length", 23, "name, category or connections"),
        ("upstream KSampelr", 10, "did you mean KSampler"),
        ("produces IMAGE | path MODEL -> IMAGE", 18, "only at the start"),
        ("name \"unterminated", 6, "closing"),
        ("produces IMAGE & api", 16, "a word"),
        ("NOT", 4, "produces"),
        ("accepts IMAGE AND OR api", 19, "produces"),
    ];
    for &(q, column, expected) in table {
        match c.query(q) {
            Err(e @ Error::InvalidQuery { .. }) => {
                let Error::InvalidQuery { column: col, expected: exp, found } = &e else { unreachable!() };
                assert_eq!(*col, column, "{q}: {e}");
                assert!(exp.contains(expected), "{q}: expected {exp:?} to mention {expected:?}");
                assert!(!found.is_empty(), "{q}");
                assert_eq!(e.code(), "invalid_query");
                assert!(!e.is_retryable());
            }
            other => panic!("{q}: {other:?}"),
        }
    }
}
