//! Property tests: lossless round trip, hash stability, and no panics on arbitrary input.

use comfy_core::validate::{ValidateOptions, validate_value};
use comfy_core::{Catalog, Workflow};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Arbitrary JSON leaves and small nested values (finite numbers only: JSON has no NaN).
fn literal() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-zA-Z0-9 _{}.\\-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"__value__": v})),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn input(ids: Vec<String>) -> impl Strategy<Value = Value> {
    prop_oneof![literal(), (prop::sample::select(ids), 0u32..4).prop_map(|(id, slot)| json!([id, slot])),]
}

/// A random API-format workflow as JSON, with titles and unknown fields.
fn workflow_json() -> impl Strategy<Value = Value> {
    prop::collection::vec("[0-9]{1,3}(:[0-9]{1,2})?", 1..12)
        .prop_flat_map(|mut ids| {
            ids.sort();
            ids.dedup();
            let n = ids.len();
            let node = (
                "[A-Z][A-Za-z]{0,10}",
                prop::collection::vec(("[a-z_]{1,8}", input(ids.clone())), 0..5),
                prop::option::of("[ -~]{0,10}"),
                prop::option::of(literal()),
                any::<bool>(),
            );
            (Just(ids), prop::collection::vec(node, n))
        })
        .prop_map(|(ids, nodes)| {
            let mut map = Map::new();
            for (id, (class, inputs, title, extra, class_first)) in ids.into_iter().zip(nodes) {
                let mut inputs_map = Map::new();
                for (k, v) in inputs {
                    inputs_map.insert(k, v);
                }
                let mut node = Map::new();
                if class_first {
                    node.insert("class_type".into(), json!(class));
                    node.insert("inputs".into(), Value::Object(inputs_map));
                } else {
                    node.insert("inputs".into(), Value::Object(inputs_map));
                    node.insert("class_type".into(), json!(class));
                }
                if let Some(t) = title {
                    node.insert("_meta".into(), json!({"title": t}));
                }
                if let Some(e) = extra {
                    node.insert("x-extra".into(), e);
                }
                map.insert(id, Value::Object(node));
            }
            Value::Object(map)
        })
}

/// The same document with node order and every object's key order reversed.
fn reorder(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().rev().map(|(k, v)| (k.clone(), reorder(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(reorder).collect()),
        other => other.clone(),
    }
}

fn strip_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        for node in m.values_mut() {
            if let Value::Object(n) = node {
                n.remove("_meta");
            }
        }
    }
    v
}

fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/comfyui/http/object_info_full.json");
        Catalog::from_json_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip_is_lossless(doc in workflow_json()) {
        let text = serde_json::to_string(&doc).unwrap();
        let wf = Workflow::from_json_str(&text).unwrap();
        // Byte-identical: node order, key order, _meta and unknown fields all kept.
        prop_assert_eq!(wf.to_json_string(), text);
        prop_assert_eq!(Workflow::from_value(wf.to_value()).unwrap(), wf);
    }

    #[test]
    fn hash_ignores_key_order_and_meta(doc in workflow_json()) {
        let a = Workflow::from_value(doc.clone()).unwrap();
        let b = Workflow::from_value(reorder(&doc)).unwrap();
        let c = Workflow::from_value(strip_meta(&doc)).unwrap();
        prop_assert_eq!(a.canonical_hash(), b.canonical_hash());
        prop_assert_eq!(a.canonical_hash(), c.canonical_hash());
    }

    #[test]
    fn hash_sees_every_value_change(doc in workflow_json(), new in literal()) {
        let wf = Workflow::from_value(doc).unwrap();
        let target = wf.nodes().find_map(|(id, n)| n.inputs.first().map(|(k, v)| (id.clone(), k.clone(), v.to_json())));
        if let Some((id, input, old)) = target {
            let same_number = matches!((old.as_f64(), new.as_f64()), (Some(a), Some(b)) if a == b);
            prop_assume!(old != new && !same_number);
            let mut changed = wf.clone();
            changed.node_mut(id.as_str()).unwrap().inputs.insert(input, new.into());
            prop_assert_ne!(wf.canonical_hash(), changed.canonical_hash());
        }
    }

    #[test]
    fn parsing_arbitrary_json_never_panics(v in literal()) {
        let _ = Workflow::from_value(v.clone());
        let _ = Workflow::from_json_str(&v.to_string());
        let _ = Catalog::from_value(&v);
    }

    #[test]
    fn validation_never_panics(doc in workflow_json(), swap in 0usize..6) {
        // Give some nodes real class names so the deeper checks run.
        let classes = ["KSampler", "SaveImage", "EmptyImage", "ImageScale", "PrimitiveInt", "LoadImage"];
        let mut doc = doc;
        if let Value::Object(m) = &mut doc {
            for (i, node) in m.values_mut().enumerate() {
                if (i + swap) % 2 == 0 {
                    node["class_type"] = json!(classes[(i + swap) % classes.len()]);
                }
            }
        }
        let report = validate_value(&doc, catalog(), &ValidateOptions::default());
        // Every error names a node unless it is about the workflow as a whole.
        for p in report.errors() {
            prop_assert!(p.node_id.is_some() || p.code.as_str() == "no_output_node", "{:?}", p);
        }
    }
}
