//! Turning a caller's value into the typed value a parameter takes, and checking it.
//!
//! Coercion is deliberately small and predictable: `"7"` → 7 for integers, `"1.5"` → 1.5 for
//! numbers, `"true"`/`"false"`/`1`/`0` → booleans, numbers → their text for strings. Anything
//! else of the wrong type is an error saying what would be valid.

use serde_json::{Number, Value};

use super::{ParamSpec, ParamType};
use crate::json::{Num, preview, type_name};

/// Largest integer a JSON number can carry exactly in every client (2^53 − 1).
pub(crate) const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Coerces `value` to the parameter's type and checks choices, bounds and (for integers) step.
/// The error says what is wrong and what would be valid, without the parameter's name.
pub(crate) fn check_value(spec: &ParamSpec, value: &Value) -> Result<Value, String> {
    let typed = coerce(spec.ty, value).map_err(|why| format!("{why}; expected {}", spec.describe_valid()))?;
    if let Some(options) = &spec.enum_values
        && !options.iter().any(|o| same(o, &typed))
    {
        let mut message = format!(
            "{} is not one of the allowed values; expected {}",
            preview(&typed),
            spec.describe_valid()
        );
        let close = typed
            .as_str()
            .map(|s| super::suggest(s, options.iter().filter_map(Value::as_str)))
            .unwrap_or_default();
        message.push_str(&crate::suggest::did_you_mean(&close));
        return Err(message);
    }
    if let Some(n) = Num::from_value(&typed) {
        let out_of_range =
            spec.minimum.is_some_and(|lo| n.partial_cmp(Num::Float(lo)) == Some(std::cmp::Ordering::Less))
                || spec
                    .maximum
                    .is_some_and(|hi| n.partial_cmp(Num::Float(hi)) == Some(std::cmp::Ordering::Greater));
        if out_of_range {
            return Err(format!("{n} is out of range; expected {}", spec.describe_valid()));
        }
        if let (Some(step), Num::Int(i)) = (spec.multiple_of(), n) {
            // `multiple_of` guarantees an integral step below 2^53, so this is exact.
            let step = step as i128;
            if i % step != 0 {
                let below = i - i.rem_euclid(step);
                return Err(format!(
                    "{i} is not a multiple of {step}; expected {} (e.g. {below} or {})",
                    spec.describe_valid(),
                    below + step
                ));
            }
        }
    }
    Ok(typed)
}

/// Numbers compare by value (`5` equals `5.0`); everything else by JSON equality.
fn same(option: &Value, value: &Value) -> bool {
    match (Num::from_value(option), Num::from_value(value)) {
        (Some(a), Some(b)) => a.partial_cmp(b) == Some(std::cmp::Ordering::Equal),
        _ => option == value,
    }
}

fn coerce(ty: ParamType, value: &Value) -> Result<Value, String> {
    let got = || format!("got {} {}", type_name(value), preview(value));
    match ty {
        ParamType::Integer => match value {
            Value::Number(n) => {
                integer_from_number(n).ok_or_else(|| format!("{} is not a whole number in range", n))
            }
            Value::String(s) => {
                integer_from_str(s).ok_or_else(|| format!("cannot read {} as an integer", preview(value)))
            }
            _ => Err(got()),
        },
        ParamType::Number => match value {
            Value::Number(_) => Ok(value.clone()),
            Value::String(s) => {
                let t = s.trim();
                if let Some(i) = integer_from_str(t) {
                    return Ok(i);
                }
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("cannot read {} as a number", preview(value)))
            }
            _ => Err(got()),
        },
        ParamType::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(1.0) => Ok(Value::Bool(true)),
                Some(0.0) => Ok(Value::Bool(false)),
                _ => Err(format!("the number {n} is not a boolean (use true/false or 1/0)")),
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(format!("cannot read {} as a boolean (use true/false or 1/0)", preview(value))),
            },
            _ => Err(got()),
        },
        ParamType::String => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            _ => Err(got()),
        },
    }
}

/// An exact integer in `i64::MIN..=u64::MAX`, from an integer or a whole float.
fn integer_from_number(n: &Number) -> Option<Value> {
    match Num::from_number(n) {
        Num::Int(_) => Some(Value::Number(n.clone())),
        Num::Float(f) => {
            let in_range = f.is_finite() && f.fract() == 0.0 && f >= i64::MIN as f64 && f <= u64::MAX as f64;
            // Floats at the top of the range round up past u64::MAX; `to_value` then refuses them.
            in_range.then(|| Num::Int(f as i128).to_value()).filter(|v| !v.is_null() && !v.is_f64())
        }
    }
}

/// `"7"`, `" -3 "`, `"+4"` and `"7.0"` read as integers; anything else does not.
fn integer_from_str(s: &str) -> Option<Value> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i128>() {
        let fits = i >= i128::from(i64::MIN) && i <= i128::from(u64::MAX);
        return fits.then(|| Num::Int(i).to_value());
    }
    let f = t.parse::<f64>().ok()?;
    integer_from_number(&Number::from_f64(f)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(ty: ParamType) -> ParamSpec {
        ParamSpec::new("p", ty)
    }

    #[test]
    fn integers() {
        let s = spec(ParamType::Integer);
        for (input, want) in [
            (json!(7), json!(7)),
            (json!("7"), json!(7)),
            (json!(" +7 "), json!(7)),
            (json!("7.0"), json!(7)),
            (json!(7.0), json!(7)),
            (json!(-3), json!(-3)),
            (json!("18446744073709551615"), json!(18446744073709551615u64)),
        ] {
            assert_eq!(check_value(&s, &input).unwrap(), want, "{input}");
        }
        for bad in [
            json!(7.5),
            json!("7.5"),
            json!("seven"),
            json!(true),
            json!([7]),
            json!({}),
            json!(1e300),
            json!("1e30"),
        ] {
            let err = check_value(&s, &bad).unwrap_err();
            assert!(err.contains("expected an integer"), "{bad}: {err}");
        }
    }

    #[test]
    fn numbers_booleans_strings() {
        assert_eq!(check_value(&spec(ParamType::Number), &json!("1.5")).unwrap(), json!(1.5));
        assert_eq!(check_value(&spec(ParamType::Number), &json!("2")).unwrap(), json!(2));
        assert!(check_value(&spec(ParamType::Number), &json!("nan")).is_err());
        assert!(check_value(&spec(ParamType::Number), &json!("inf")).is_err());
        let b = spec(ParamType::Boolean);
        for (input, want) in [
            (json!("true"), true),
            (json!(" FALSE "), false),
            (json!(1), true),
            (json!(0.0), false),
            (json!("0"), false),
        ] {
            assert_eq!(check_value(&b, &input).unwrap(), json!(want), "{input}");
        }
        assert!(check_value(&b, &json!(2)).is_err());
        assert!(check_value(&b, &json!("yes")).is_err());
        let s = spec(ParamType::String);
        assert_eq!(check_value(&s, &json!(5)).unwrap(), json!("5"));
        assert_eq!(check_value(&s, &json!(1.5)).unwrap(), json!("1.5"));
        assert!(check_value(&s, &json!(true)).is_err());
        assert!(check_value(&s, &json!(null)).is_err());
    }

    #[test]
    fn bounds_enum_and_step() {
        let mut s = spec(ParamType::Integer);
        s.minimum = Some(16.0);
        s.maximum = Some(64.0);
        s.step = Some(8.0);
        assert_eq!(check_value(&s, &json!(24)).unwrap(), json!(24));
        assert!(
            check_value(&s, &json!(8))
                .unwrap_err()
                .contains("out of range; expected an integer from 16 to 64")
        );
        assert!(check_value(&s, &json!(65)).is_err());
        let err = check_value(&s, &json!(30)).unwrap_err();
        assert!(err.contains("not a multiple of 8") && err.contains("24 or 32"), "{err}");
        let mut e = spec(ParamType::String);
        e.enum_values = Some(vec![json!("euler"), json!("ddim")]);
        let err = check_value(&e, &json!("eulr")).unwrap_err();
        assert!(err.contains("did you mean euler?"), "{err}");
        let mut n = spec(ParamType::Number);
        n.enum_values = Some(vec![json!(1.0), json!(2)]);
        assert!(check_value(&n, &json!(1)).is_ok());
        assert!(check_value(&n, &json!("2.0")).is_ok());
    }

    #[test]
    fn extremes_do_not_panic() {
        let mut s = spec(ParamType::Integer);
        s.minimum = Some(0.0);
        s.maximum = Some(u64::MAX as f64);
        for v in [
            json!(f64::MAX),
            json!(f64::MIN),
            json!(f64::MIN_POSITIVE),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(-0.0),
        ] {
            let _ = check_value(&s, &v);
            let _ = check_value(&spec(ParamType::Number), &v);
            let _ = check_value(&spec(ParamType::Boolean), &v);
            let _ = check_value(&spec(ParamType::String), &v);
        }
        assert!(check_value(&s, &json!(u64::MAX)).is_ok());
    }
}
