//! A partner node's price: its catalogue `price_badge` (`{engine: "jsonata", depends_on, expr}`)
//! evaluated against the widget values the workflow sends, in US dollars and Comfy credits.
//!
//! The expression sees what the ComfyUI frontend gives it (`useNodePricing.ts`): `widgets`
//! (every literal input by name, normalized by its declared type: numbers for INT/FLOAT,
//! booleans for BOOLEAN, trimmed lower-case strings for combos and text), `inputs`
//! (`{name: {connected: bool}}` for link inputs) and `inputGroups` (connected inputs per
//! group). It answers `{"type": "usd", "usd": N}`, `{"type": "range_usd", "min_usd",
//! "max_usd"}` or `{"type": "list_usd", "usd": [..]}`; anything else — or an expression the
//! evaluator cannot run — is an unknown price with the reason, never a guess.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::catalog::NodeDef;

use crate::backend::CREDITS_PER_USD;

/// What one run of a partner workflow costs, as its price badge says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Price {
    /// A known price (a range when the badge gives one; `min == max` otherwise).
    Known {
        /// Lowest price in US dollars.
        min_usd: f64,
        /// Highest price in US dollars (what consent is checked against).
        max_usd: f64,
        /// Lowest price in credits.
        min_credits: f64,
        /// Highest price in credits (what `max_credits` is compared with).
        max_credits: f64,
    },
    /// The price cannot be told.
    Unknown {
        /// Why (no badge, an engine or expression this library cannot evaluate, an answer it
        /// does not understand).
        reason: String,
    },
}

impl Price {
    /// A known price between two dollar amounts.
    pub fn usd(min_usd: f64, max_usd: f64) -> Price {
        let (min_usd, max_usd) = (min_usd.min(max_usd), max_usd.max(min_usd));
        Price::Known { min_usd, max_usd, min_credits: credits(min_usd), max_credits: credits(max_usd) }
    }

    /// The highest price in credits, when known.
    pub fn max_credits(&self) -> Option<f64> {
        match self {
            Price::Known { max_credits, .. } => Some(*max_credits),
            Price::Unknown { .. } => None,
        }
    }

    /// Whether running costs nothing (a known price of zero).
    pub fn is_free(&self) -> bool {
        self.max_credits() == Some(0.0)
    }

    /// `"$0.06 (12.66 credits)"`, `"$0.10–$0.50 (…)"` or `"unknown (reason)"`.
    pub fn describe(&self) -> String {
        match self {
            Price::Known { min_usd, max_usd, min_credits, max_credits } if min_usd == max_usd => {
                let _ = min_credits;
                format!("${} ({} credits)", fmt_num(*max_usd), fmt_num(*max_credits))
            }
            Price::Known { min_usd, max_usd, min_credits, max_credits } => format!(
                "${}–${} ({}–{} credits)",
                fmt_num(*min_usd),
                fmt_num(*max_usd),
                fmt_num(*min_credits),
                fmt_num(*max_credits)
            ),
            Price::Unknown { reason } => format!("unknown ({reason})"),
        }
    }
}

/// Dollars to credits, to 1/100 credit.
fn credits(usd: f64) -> f64 {
    (usd * CREDITS_PER_USD * 100.0).round() / 100.0
}

/// A number without trailing zeros (`0.06`, `12.66`, `5`).
pub(crate) fn fmt_num(n: f64) -> String {
    let s = format!("{:.4}", n);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" { "0".into() } else { s.to_owned() }
}

/// The price of running `node` with these `inputs` (the node's API-format inputs: literals and
/// `[node, slot]` links).
pub fn price_of(node: &NodeDef, inputs: &Map<String, Value>) -> Price {
    let raw = node.raw();
    let Some(badge) = raw.get("price_badge").filter(|b| !b.is_null()) else {
        return Price::Unknown {
            reason: format!("{} has no price_badge in this server's catalogue", node.name),
        };
    };
    let engine = badge.get("engine").and_then(Value::as_str).unwrap_or("jsonata");
    if engine != "jsonata" {
        return Price::Unknown { reason: format!("price_badge engine {engine:?} is not supported") };
    }
    let Some(expr) = badge.get("expr").and_then(Value::as_str) else {
        return Price::Unknown { reason: "price_badge has no expr".into() };
    };
    let context = badge_context(node, inputs, badge.get("depends_on"));
    match evaluate(expr, &context) {
        Ok(answer) => interpret(&answer),
        Err(reason) => Price::Unknown { reason },
    }
}

/// The object the expression is evaluated against.
fn badge_context(node: &NodeDef, inputs: &Map<String, Value>, depends_on: Option<&Value>) -> Value {
    let mut widgets = Map::new();
    let mut links = Map::new();
    let is_link = |v: &Value| crate::workflow::Input::from_json(v.clone()).as_link().is_some();
    for (name, value) in inputs {
        if is_link(value) {
            links.insert(name.clone(), json!({"connected": true}));
        } else {
            let declared = node.input(name).map(|d| d.kind.type_name()).unwrap_or("");
            widgets.insert(name.clone(), normalize(value, declared));
        }
    }
    // Link inputs the node declares but the workflow leaves unconnected.
    for def in &node.inputs {
        if !def.kind.takes_literal() && !links.contains_key(&def.name) {
            links.insert(def.name.clone(), json!({"connected": false}));
        }
    }
    let mut groups = Map::new();
    for group in
        depends_on.and_then(|d| d.get("input_groups")).and_then(Value::as_array).into_iter().flatten()
    {
        let Some(group) = group.as_str() else { continue };
        let prefix = format!("{group}.");
        let n = inputs.iter().filter(|(k, v)| k.starts_with(&prefix) && is_link(v)).count();
        groups.insert(group.to_owned(), json!(n));
    }
    json!({"widgets": widgets, "inputs": links, "inputGroups": groups})
}

/// A widget value as the ComfyUI frontend hands it to the expression: INT/FLOAT a number (or
/// null), BOOLEAN a boolean (or null), COMBO numbers and booleans as they are, every other
/// value a trimmed, lower-cased string.
fn normalize(value: &Value, declared: &str) -> Value {
    let text = |v: &Value| match v {
        Value::String(s) => s.trim().to_lowercase(),
        other => other.to_string().to_lowercase(),
    };
    match (declared, value) {
        (_, Value::Null) => Value::Null,
        ("INT" | "FLOAT", Value::Number(_)) => value.clone(),
        ("INT" | "FLOAT", Value::String(s)) => {
            s.trim().parse::<f64>().ok().filter(|n| n.is_finite()).map_or(Value::Null, |n| json!(n))
        }
        ("INT" | "FLOAT", _) => Value::Null,
        ("BOOLEAN", Value::Bool(_)) => value.clone(),
        ("BOOLEAN", Value::String(s)) => match s.trim().to_lowercase().as_str() {
            "true" => json!(true),
            "false" => json!(false),
            _ => Value::Null,
        },
        ("BOOLEAN", _) => Value::Null,
        ("COMBO", Value::Number(_) | Value::Bool(_)) => value.clone(),
        _ => Value::String(text(value)),
    }
}

/// Runs a JSONata expression; a parse or evaluation failure (or a panic inside the evaluator,
/// which is third-party code fed with text from the server) is the reason.
fn evaluate(expr: &str, context: &Value) -> Result<Value, String> {
    let input = context.to_string();
    let expr = expr.to_owned();
    let run = move || -> Result<Value, String> {
        let arena = bumpalo::Bump::new();
        let jsonata = jsonata_rs::JsonAta::new(&expr, &arena)
            .map_err(|e| format!("the price expression does not parse here: {e}"))?;
        let result = jsonata
            .evaluate_timeboxed(Some(&input), Some(200), Some(1000))
            .map_err(|e| format!("the price expression cannot be evaluated here: {e}"))?;
        if result.is_undefined() {
            return Err("the price expression gave no value for these settings".into());
        }
        serde_json::from_str(&result.serialize(false))
            .map_err(|e| format!("the price expression gave a non-JSON answer: {e}"))
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .unwrap_or_else(|_| Err("the JSONata evaluator failed on the price expression".into()))
}

/// The badge's answer as a price.
fn interpret(answer: &Value) -> Price {
    let num = |k: &str| answer.get(k).and_then(Value::as_f64).filter(|n| n.is_finite() && *n >= 0.0);
    // The legacy form `{usd: N}` has no type.
    let kind = answer.get("type").and_then(Value::as_str).unwrap_or(if answer.get("usd").is_some() {
        "usd"
    } else {
        ""
    });
    match kind {
        "usd" => match num("usd") {
            Some(usd) => Price::usd(usd, usd),
            None => unknown_answer(answer),
        },
        "range_usd" => match (num("min_usd"), num("max_usd")) {
            (Some(lo), Some(hi)) => Price::usd(lo, hi),
            _ => unknown_answer(answer),
        },
        "list_usd" => {
            let list: Vec<f64> = answer
                .get("usd")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_f64).filter(|n| n.is_finite() && *n >= 0.0).collect())
                .unwrap_or_default();
            match (list.iter().copied().reduce(f64::min), list.iter().copied().reduce(f64::max)) {
                (Some(lo), Some(hi)) => Price::usd(lo, hi),
                _ => unknown_answer(answer),
            }
        }
        "text" => Price::Unknown {
            reason: format!(
                "the price badge gives text only: {}",
                answer.get("text").and_then(Value::as_str).unwrap_or("")
            ),
        },
        _ => unknown_answer(answer),
    }
}

fn unknown_answer(answer: &Value) -> Price {
    Price::Unknown { reason: format!("the price badge answered {}", crate::json::preview(answer)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(badge: Value) -> NodeDef {
        NodeDef::from_value(
            "Paid",
            &json!({
                "input": {"required": {"prompt": ["STRING", {}], "duration": ["INT", {"default": 5}],
                                        "quality": [["low", "high"], {}]},
                          "optional": {"image": ["IMAGE", {}]}},
                "output": ["VIDEO"], "api_node": true, "category": "api node/video/Test",
                "price_badge": badge
            }),
        )
        .unwrap()
    }

    fn inputs(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_fixed_price_converts_to_credits() {
        let p = price_of(
            &node(json!({"engine": "jsonata", "expr": "{\"type\":\"usd\",\"usd\":0.06}"})),
            &Map::new(),
        );
        assert_eq!(p, Price::usd(0.06, 0.06));
        assert_eq!(p.max_credits(), Some(12.66));
        assert_eq!(p.describe(), "$0.06 (12.66 credits)");
    }

    #[test]
    fn a_price_follows_the_widgets_and_links() {
        let n = node(json!({
            "engine": "jsonata",
            "depends_on": {"widgets": ["duration", "quality"], "inputs": ["image"], "input_groups": []},
            "expr": "{\"type\":\"usd\",\"usd\": widgets.duration * (widgets.quality = \"high\" ? 0.1 : 0.05) + (inputs.image.connected ? 0.01 : 0)}"
        }));
        let five_low = price_of(&n, &inputs(json!({"duration": 5, "quality": "low"})));
        assert_eq!(five_low.max_credits(), Some(credits(0.25)));
        let ten_high_linked =
            price_of(&n, &inputs(json!({"duration": 10, "quality": "high", "image": ["2", 0]})));
        assert_eq!(ten_high_linked, Price::usd(1.01, 1.01));
    }

    #[test]
    fn widgets_are_normalized_like_the_frontend_does() {
        // Combo and string values lower-cased and trimmed, numbers parsed, booleans kept.
        let n = node(json!({
            "engine": "jsonata",
            "expr": "{\"type\":\"usd\",\"usd\": (widgets.quality = \"high\" and widgets.prompt = \"a fox\" ? 1 : 2) * widgets.duration}"
        }));
        let p = price_of(&n, &inputs(json!({"quality": "High", "prompt": "  A Fox ", "duration": "3"})));
        assert_eq!(p, Price::usd(3.0, 3.0));
        assert_eq!(normalize(&json!("x"), "BOOLEAN"), Value::Null);
        assert_eq!(normalize(&json!("TRUE"), "BOOLEAN"), json!(true));
        assert_eq!(normalize(&json!(5), "COMBO"), json!(5));
        // The legacy answer without a type.
        let legacy = price_of(&node(json!({"engine": "jsonata", "expr": "{\"usd\": 0.5}"})), &Map::new());
        assert_eq!(legacy, Price::usd(0.5, 0.5));
    }

    #[test]
    fn ranges_and_lists_keep_both_ends() {
        let r = price_of(
            &node(
                json!({"engine": "jsonata", "expr": "{\"type\":\"range_usd\",\"min_usd\":0.2,\"max_usd\":0.1}"}),
            ),
            &Map::new(),
        );
        assert_eq!(r, Price::usd(0.1, 0.2));
        assert!(r.describe().contains("–"), "{}", r.describe());
        let l = price_of(
            &node(json!({"engine": "jsonata", "expr": "{\"type\":\"list_usd\",\"usd\":[0.3, 0.1, 0.2]}"})),
            &Map::new(),
        );
        assert_eq!(l, Price::usd(0.1, 0.3));
    }

    #[test]
    fn what_cannot_be_evaluated_is_unknown_with_the_reason() {
        let unknown = |badge: Value| match price_of(&node(badge), &Map::new()) {
            Price::Unknown { reason } => reason,
            known => panic!("expected unknown, got {known:?}"),
        };
        assert!(unknown(Value::Null).contains("no price_badge"));
        assert!(unknown(json!({"engine": "python", "expr": "1"})).contains("\"python\""));
        assert!(unknown(json!({"engine": "jsonata", "expr": "{\"type\": "})).contains("does not parse"));
        assert!(
            unknown(json!({"engine": "jsonata", "expr": "$notAFunction(1)"})).contains("cannot be evaluated")
        );
        assert!(
            unknown(json!({"engine": "jsonata", "expr": "{\"type\":\"text\",\"text\":\"varies\"}"}))
                .contains("varies")
        );
        assert!(
            unknown(json!({"engine": "jsonata", "expr": "{\"type\":\"usd\",\"usd\":\"a lot\"}"}))
                .contains("answered")
        );
        assert!(unknown(json!({"engine": "jsonata", "expr": "widgets.nothing"})).contains("no value"));
    }

    #[test]
    fn zero_is_free() {
        assert!(Price::usd(0.0, 0.0).is_free());
        assert!(!Price::usd(0.0, 0.1).is_free());
        assert!(!Price::Unknown { reason: "x".into() }.is_free());
    }
}
