//! Literal conversion exactly as ComfyUI performs it when a prompt is queued
//! (`execution.py` `validate_inputs`: `int(v)`, `float(v)`, `str(v)`, `bool(v)`).
//!
//! ComfyUI coerces rather than type-checks, so `"7"` is a valid INT. We accept what it accepts,
//! fail what it fails with its own wording, and also say when a conversion is probably a mistake
//! (`bool("false")` is `True` in Python).

use serde_json::Value;

use crate::json::Num;

/// The outcome of converting a literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Coerced {
    /// The value ComfyUI would use.
    pub value: Value,
    /// Set when the conversion changed the value in a way the user may not expect.
    pub note: Option<String>,
}

fn ok(value: Value) -> Result<Coerced, String> {
    Ok(Coerced { value, note: None })
}

fn noted(value: Value, note: String) -> Result<Coerced, String> {
    Ok(Coerced { value, note: Some(note) })
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python's `int(str)` for base 10: surrounding whitespace, a sign, digits, single underscores
/// between digits.
fn parse_python_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i128 = clean.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// `int(v)`.
pub(crate) fn to_int(v: &Value) -> Result<Coerced, String> {
    match v {
        Value::Bool(b) => {
            noted(Value::from(i64::from(*b)), format!("boolean {b} is used as the integer {}", i64::from(*b)))
        }
        Value::Number(n) => match Num::from_number(n) {
            Num::Int(_) => ok(v.clone()),
            Num::Float(f) => {
                let t = f.trunc();
                let value = Num::Int(t as i128).to_value();
                if f.fract() == 0.0 { ok(value) } else { noted(value, format!("{f} is truncated to {t}")) }
            }
        },
        Value::String(s) => match parse_python_int(s) {
            Some(i) => {
                noted(Num::Int(i).to_value(), format!("the string {s:?} is converted to the integer {i}"))
            }
            None => Err(format!("invalid literal for int() with base 10: {}", python_repr(s))),
        },
        other => Err(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            python_type(other)
        )),
    }
}

/// `float(v)`; non-finite results are refused (ComfyUI would pass NaN through its bounds check).
pub(crate) fn to_float(v: &Value) -> Result<Coerced, String> {
    match v {
        Value::Bool(b) => {
            noted(Value::from(f64::from(u8::from(*b))), format!("boolean {b} is used as a number"))
        }
        Value::Number(_) => ok(v.clone()),
        Value::String(s) => {
            let clean: String = s.trim().chars().filter(|c| *c != '_').collect();
            match clean.parse::<f64>() {
                Ok(f) if f.is_finite() => noted(
                    Num::Float(f).to_value(),
                    format!("the string {s:?} is converted to the number {f}"),
                ),
                Ok(_) => Err(format!("{} is not a finite number", python_repr(s))),
                Err(_) => Err(format!("could not convert string to float: {}", python_repr(s))),
            }
        }
        other => {
            Err(format!("float() argument must be a string or a real number, not '{}'", python_type(other)))
        }
    }
}

/// `str(v)`: never fails, but anything but a string is probably a mistake.
pub(crate) fn to_string(v: &Value) -> Result<Coerced, String> {
    match v {
        Value::String(_) => ok(v.clone()),
        other => noted(
            Value::String(python_str(other)),
            format!(
                "{} {} is turned into the text {:?}",
                crate::json::type_name(other),
                crate::json::preview(other),
                python_str(other)
            ),
        ),
    }
}

/// `bool(v)`: never fails; strings are true when non-empty, so `"false"` is true.
pub(crate) fn to_bool(v: &Value) -> Result<Coerced, String> {
    let truthy = match v {
        Value::Bool(_) => return ok(v.clone()),
        Value::Null => false,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    };
    noted(
        Value::Bool(truthy),
        format!(
            "{} {} counts as {truthy}; send a JSON true or false",
            crate::json::type_name(v),
            crate::json::preview(v)
        ),
    )
}

fn python_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "\\'"))
    }
}

fn python_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn int_follows_python() {
        assert_eq!(to_int(&json!(5)).unwrap().value, json!(5));
        assert_eq!(to_int(&json!("7")).unwrap().value, json!(7));
        assert_eq!(to_int(&json!(" -1_000 ")).unwrap().value, json!(-1000));
        assert_eq!(to_int(&json!(5.9)).unwrap().value, json!(5));
        assert!(to_int(&json!(5.9)).unwrap().note.is_some());
        assert_eq!(to_int(&json!(true)).unwrap().value, json!(1));
        assert_eq!(
            to_int(&json!("sixty-four")).unwrap_err(),
            "invalid literal for int() with base 10: 'sixty-four'"
        );
        assert!(to_int(&json!("1.5")).is_err());
        assert!(to_int(&json!("1__0")).is_err());
        assert!(to_int(&json!(null)).unwrap_err().contains("NoneType"));
        assert!(to_int(&json!({})).unwrap_err().contains("dict"));
        assert_eq!(to_int(&json!(18446744073709551615u64)).unwrap().value, json!(18446744073709551615u64));
    }

    #[test]
    fn float_follows_python_but_refuses_nan() {
        assert_eq!(to_float(&json!("1.5")).unwrap().value, json!(1.5));
        assert!(to_float(&json!("nan")).is_err());
        assert!(to_float(&json!("inf")).is_err());
        assert!(to_float(&json!("abc")).unwrap_err().starts_with("could not convert"));
        assert!(to_float(&json!([1])).is_err());
    }

    #[test]
    fn bool_and_string_never_fail_but_say_why() {
        let b = to_bool(&json!("false")).unwrap();
        assert_eq!(b.value, json!(true));
        assert!(b.note.unwrap().contains("send a JSON true or false"));
        assert!(to_bool(&json!(false)).unwrap().note.is_none());
        let s = to_string(&json!(5)).unwrap();
        assert_eq!(s.value, json!("5"));
        assert!(s.note.is_some());
    }
}
