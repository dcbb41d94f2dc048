//! Strict JSON reading and number helpers shared by the workflow, catalogue and template code.
//!
//! `serde_json` silently keeps the last of two duplicate keys. For a workflow that would
//! silently drop a node or an input, so everything user-supplied is read through
//! [`parse_strict`], which rejects duplicate keys with their position.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

pub use crate::describe::{preview, type_name};
use crate::error::{Error, Result};

/// Parses JSON text into a [`Value`], rejecting duplicate object keys.
///
/// `what` names the document in the error ("workflow", a file name, ...).
pub fn parse_strict(text: &str, what: &str) -> Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue.deserialize(&mut de).map_err(|e| Error::json(what, &e))?;
    de.end().map_err(|e| Error::json(what, &e))?;
    Ok(value)
}

/// A `DeserializeSeed` that builds a `serde_json::Value` and fails on duplicate keys.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("NaN and infinite numbers are not valid JSON"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictValue.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(StrictValue)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A JSON number widened so that every value ComfyUI uses (seeds up to `u64::MAX`,
/// negative bounds, floats) compares correctly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// An integer, exactly.
    Int(i128),
    /// A finite float.
    Float(f64),
}

impl Num {
    /// Reads a JSON number.
    pub fn from_number(n: &Number) -> Num {
        if let Some(i) = n.as_i64() {
            Num::Int(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Num::Int(i128::from(u))
        } else {
            Num::Float(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    /// Reads a JSON value if it is a number.
    pub fn from_value(v: &Value) -> Option<Num> {
        v.as_number().map(Num::from_number)
    }

    /// The value as `f64` (lossy for huge integers).
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// Compares two numbers, exactly when both are integers.
    pub fn partial_cmp(self, other: Num) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    /// Converts back to a JSON value (integers that fit stay integers).
    pub fn to_value(self) -> Value {
        match self {
            Num::Int(i) => {
                if let Ok(v) = i64::try_from(i) {
                    Value::from(v)
                } else if let Ok(v) = u64::try_from(i) {
                    Value::from(v)
                } else {
                    Number::from_f64(i as f64).map_or(Value::Null, Value::Number)
                }
            }
            Num::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// `value` as a JSON value, for the bindings that hand core results to their language; a value
/// that cannot be represented (a map with non-string keys) is an [`Error::Json`] naming `what`.
pub fn to_value<T: serde::Serialize>(value: &T, what: &str) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Json {
        what: what.to_owned(),
        line: 0,
        column: 0,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicate_keys_with_position() {
        let err = parse_strict("{\"a\": 1,\n \"a\": 2}", "wf").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("duplicate key \"a\""), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn rejects_nested_duplicates_and_trailing_garbage() {
        assert!(parse_strict("{\"n\": {\"x\": {\"k\":1, \"k\":1}}}", "wf").is_err());
        assert!(parse_strict("{} {}", "wf").is_err());
    }

    #[test]
    fn rejects_nan_and_infinity() {
        for text in ["NaN", "{\"a\": Infinity}", "[-Infinity]", "1e999"] {
            assert!(parse_strict(text, "wf").is_err(), "{text}");
        }
    }

    #[test]
    fn keeps_key_order_and_big_integers() {
        let v = parse_strict(r#"{"z": 18446744073709551615, "a": -5, "m": 1.5}"#, "x").unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(Num::from_value(&v["z"]), Some(Num::Int(u64::MAX as i128)));
        assert_eq!(Num::from_value(&v["a"]), Some(Num::Int(-5)));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        assert!(parse_strict(&text, "wf").is_err());
    }

    #[test]
    fn num_ordering_is_exact_for_integers() {
        let big = Num::Int(u64::MAX as i128);
        let smaller = Num::Int(u64::MAX as i128 - 1);
        assert_eq!(big.partial_cmp(smaller), Some(std::cmp::Ordering::Greater));
        assert_eq!(Num::Float(1.5).partial_cmp(Num::Int(1)), Some(std::cmp::Ordering::Greater));
    }

    #[test]
    fn preview_is_bounded() {
        let huge = Value::String("x".repeat(1_000_000));
        assert!(preview(&huge).len() < 200);
    }
}
