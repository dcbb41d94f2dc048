//! Values in messages: short, bounded renderings and type names. Depends on nothing in the
//! crate, so the plain data types (node ids, validation problems) and the error type can use it.

use serde_json::Value;

/// A short, bounded rendering of a value for error messages (never a huge string).
pub fn preview(v: &Value) -> String {
    const MAX: usize = 80;
    let s = v.to_string();
    if s.chars().count() <= MAX {
        s
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}… ({} bytes)", s.len())
    }
}

/// The JSON type name of a value, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
