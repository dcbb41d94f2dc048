//! The editor's text rewriting when it queues: JavaScript number/string formatting, dynamic
//! prompts (`formatUtil.ts` `processDynamicPrompt`), `%Node.widget%` and `%date:…%` replacements
//! (`searchAndReplace.ts` `applyTextReplacements`, `formatDate`).

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{Number, Value};

/// A JSON number as JavaScript's `String(n)` prints it (`8`, `0.5`, `1e+21`, `1e-7`).
pub(crate) fn js_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    js_f64(f)
}

fn js_f64(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // Shortest round-trip digits and exponent, then JavaScript's layout rules.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    let n = exp + 1;
    let sign = if f < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 { format!("+{e}") } else { e.to_string() };
        if k == 1 { format!("{digits}e{e}") } else { format!("{}.{}e{e}", &digits[..1], &digits[1..]) }
    };
    format!("{sign}{body}")
}

/// JavaScript's `(value ?? '') + ''`.
pub(crate) fn js_to_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| if i.is_null() { String::new() } else { js_to_string(i) })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// Strips C-style comments like the editor's regex `/\/\*[\s\S]*?\*\/|\/\/.*/g`.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        let start = match (block, line) {
            (None, None) => break,
            (Some(b), None) => b,
            (None, Some(l)) => l,
            (Some(b), Some(l)) => b.min(l),
        };
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(body) = tail.strip_prefix("/*") {
            match body.find("*/") {
                Some(end) => rest = &tail[2 + end + 2..],
                // An unterminated block comment is not a match; the `//` alternative is tried
                // at this position next (a `/*` never starts `//`), so keep the slash.
                None => {
                    out.push('/');
                    rest = &tail[1..];
                }
            }
        } else {
            // `.` does not match line terminators.
            let end = tail.find(['\n', '\r', '\u{2028}', '\u{2029}']).unwrap_or(tail.len());
            rest = &tail[end..];
        }
    }
    out.push_str(rest);
    out
}

/// A parsed dynamic prompt: literal text and `{a|b}` groups (by index into the group arena, so
/// that no recursive type has to be built or dropped). Escapes stay as written (`\\{`).
enum Item {
    Text(String),
    Group(usize),
}

fn push_text(items: &mut Vec<Item>, s: &str) {
    match items.last_mut() {
        Some(Item::Text(t)) => t.push_str(s),
        _ => items.push(Item::Text(s.to_owned())),
    }
}

/// Parses `{a|b|{c|d}}` groups in one pass with an explicit stack. Inside a group `|` separates
/// options and `}` closes it; at the top level both are plain text; a group left open runs to the
/// end; `\\` keeps the next character (or `undefined` at the very end, as JavaScript does).
/// Returns the top-level items and the options of every group.
fn parse_choices(text: &str) -> (Vec<Item>, Vec<Vec<Vec<Item>>>) {
    let mut arena: Vec<Vec<Vec<Item>>> = Vec::new();
    // Open groups: arena index and the option being read.
    let mut open: Vec<(usize, Vec<Item>)> = Vec::new();
    let mut top: Vec<Item> = Vec::new();
    let close = |open: &mut Vec<(usize, Vec<Item>)>, arena: &mut Vec<Vec<Vec<Item>>>, top: &mut Vec<Item>| {
        if let Some((index, option)) = open.pop() {
            arena[index].push(option);
            let parent = match open.last_mut() {
                Some((_, o)) => o,
                None => top,
            };
            parent.push(Item::Group(index));
        }
    };
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                arena.push(Vec::new());
                open.push((arena.len() - 1, Vec::new()));
            }
            '|' if !open.is_empty() => {
                if let Some((index, option)) = open.last_mut() {
                    arena[*index].push(std::mem::take(option));
                }
            }
            '}' if !open.is_empty() => close(&mut open, &mut arena, &mut top),
            other => {
                let current = match open.last_mut() {
                    Some((_, option)) => option,
                    None => &mut top,
                };
                if other == '\\' {
                    let next = chars.next().map(String::from).unwrap_or_else(|| "undefined".into());
                    push_text(current, &format!("\\{next}"));
                } else {
                    let mut buf = [0u8; 4];
                    push_text(current, other.encode_utf8(&mut buf));
                }
            }
        }
    }
    // Groups left open end with the text.
    while !open.is_empty() {
        close(&mut open, &mut arena, &mut top);
    }
    (top, arena)
}

fn unescape_braces(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && matches!(n, '{' | '}' | '|')
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// The editor's `processDynamicPrompt`: comments stripped, each `{a|b|c}` replaced by one option
/// picked at random (nested groups too), `\\{`, `\\}`, `\\|` unescaped (once per nesting level,
/// as the editor's recursion does). Returns the text and whether any choice was made. Linear in
/// the text, whatever the nesting.
pub(crate) fn dynamic_prompt(text: &str, rng: &mut impl Rng) -> (String, bool) {
    let (items, arena) = parse_choices(&strip_comments(text));
    let mut chose = false;
    // Frames: the items still to write and the text written so far.
    let mut stack: Vec<(std::slice::Iter<'_, Item>, String)> = vec![(items.iter(), String::new())];
    loop {
        let Some((iter, _)) = stack.last_mut() else { return (String::new(), chose) };
        match iter.next() {
            Some(Item::Text(t)) => {
                if let Some((_, out)) = stack.last_mut() {
                    out.push_str(t);
                }
            }
            Some(Item::Group(index)) => {
                let options = &arena[*index];
                chose |= options.len() > 1;
                let pick = rng.random_range(0..options.len());
                stack.push((options[pick].iter(), String::new()));
            }
            None => {
                let done = stack.pop().map(|(_, out)| unescape_braces(&out)).unwrap_or_default();
                match stack.last_mut() {
                    Some((_, parent)) => parent.push_str(&done),
                    None => return (done, chose),
                }
            }
        }
    }
}

/// A node the `%Name.widget%` replacement can find.
pub(crate) struct Named<'a> {
    /// `properties["Node name for S&R"]`.
    pub sr_name: Option<&'a str>,
    pub title: String,
    /// `(widget name, current value)`.
    pub widgets: Vec<(&'a str, &'a Value)>,
}

/// The calendar date and time, UTC (the editor uses the browser's local time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Clock {
    pub fn now() -> Clock {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        Clock::from_unix(secs)
    }

    pub fn from_unix(secs: i64) -> Clock {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Clock {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }
}

/// The editor's `formatDate`: `yyyy`, `yy`, `M`/`MM`, `d`/`dd`, `h`/`hh`, `m`/`mm`, `s`/`ss`.
pub(crate) fn format_date(pattern: &str, clock: &Clock) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let part = match c {
            'd' => Some(clock.day),
            'M' => Some(clock.month),
            'h' => Some(clock.hour),
            'm' => Some(clock.minute),
            's' => Some(clock.second),
            _ => None,
        };
        if let Some(p) = part {
            let len = if chars.get(i + 1) == Some(&c) { 2 } else { 1 };
            out.push_str(&format!("{p:0len$}"));
            i += len;
            continue;
        }
        if c == 'y' && chars.get(i + 1) == Some(&'y') {
            let mut len = 2;
            while len < 4 && chars.get(i + len) == Some(&'y') {
                len += 1;
            }
            let year = clock.year.to_string();
            match len {
                2 => out.push_str(year.get(2..).unwrap_or("")),
                4 => out.push_str(&year),
                _ => out.extend(&chars[i..i + len]),
            }
            i += len;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The editor's `applyTextReplacements`: `%Name.widget%` becomes that widget's value (node found
/// by its "Node name for S&R" property, else by title; path characters replaced by `_`),
/// `%date:…%` the formatted date; anything else stays. Returns the text and whether a date was
/// used.
pub(crate) fn text_replacements(value: &str, nodes: &[Named<'_>], clock: &Clock) -> (String, bool) {
    let mut out = String::with_capacity(value.len());
    let mut used_date = false;
    let mut rest = value;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('%').filter(|&e| e > 0) else {
            // `%%` or no closing `%`: the regex needs at least one character in between.
            let skip = if after.starts_with('%') { 1 } else { after.len() + 1 };
            out.push_str(&rest[..start + skip.min(rest.len() - start)]);
            rest = &rest[(start + skip).min(rest.len())..];
            continue;
        };
        out.push_str(&rest[..start]);
        let text = &after[..end];
        let whole = &rest[start..start + end + 2];
        rest = &after[end + 1..];
        let split: Vec<&str> = text.split('.').collect();
        if split.len() != 2 {
            if let Some(pattern) = split[0].strip_prefix("date:") {
                out.push_str(&format_date(pattern, clock));
                used_date = true;
            } else {
                out.push_str(whole);
            }
            continue;
        }
        let mut found = nodes.iter().filter(|n| n.sr_name == Some(split[0])).peekable();
        let node = match found.peek() {
            Some(_) => found.next(),
            None => nodes.iter().find(|n| n.title == split[0]),
        };
        let widget = node.and_then(|n| n.widgets.iter().find(|(name, _)| *name == split[1]));
        match widget {
            Some((_, v)) => {
                let s = js_to_string(v);
                out.extend(s.chars().map(|c| {
                    if matches!(c, '/' | '?' | '<' | '>' | '\\' | ':' | '*' | '|' | '"')
                        || (c as u32) < 0x20
                        || c == '\u{7f}'
                    {
                        '_'
                    } else {
                        c
                    }
                }));
            }
            None => out.push_str(whole),
        }
    }
    out.push_str(rest);
    (out, used_date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    #[test]
    fn numbers_print_like_javascript() {
        for (v, s) in [
            (json!(8), "8"),
            (json!(8.0), "8"),
            (json!(0.5), "0.5"),
            (json!(-1.25), "-1.25"),
            (json!(1e21), "1e+21"),
            (json!(123456789012345680000.0), "123456789012345680000"),
            (json!(1e-7), "1e-7"),
            (json!(0.000001), "0.000001"),
            (json!(2.5e-8), "2.5e-8"),
            (json!(0.1), "0.1"),
        ] {
            assert_eq!(js_to_string(&v), s, "{v}");
        }
        assert_eq!(js_to_string(&json!([1, "a", null])), "1,a,");
        assert_eq!(js_to_string(&json!({"a": 1})), "[object Object]");
        assert_eq!(js_to_string(&json!(true)), "true");
    }

    #[test]
    fn dynamic_prompts_strip_comments_and_choose() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (out, chose) = dynamic_prompt("a {cat|cat} /* block */ photo // line comment", &mut rng);
        assert_eq!(out, "a cat  photo ");
        assert!(chose);
        let (out, chose) = dynamic_prompt("plain \\{kept\\} text", &mut rng);
        assert_eq!(out, "plain {kept} text");
        assert!(!chose);
        for _ in 0..20 {
            let (out, _) = dynamic_prompt("{a|{b|c}}-{x}", &mut rng);
            assert!(["a-x", "b-x", "c-x"].contains(&out.as_str()), "{out}");
        }
        let (out, _) = dynamic_prompt("trailing \\", &mut rng);
        assert_eq!(out, "trailing \\undefined");
        let (out, _) = dynamic_prompt("open {a|b", &mut rng);
        assert!(out == "open a" || out == "open b", "{out}");
        let (out, _) = dynamic_prompt("/* never closed", &mut rng);
        assert_eq!(out, "/* never closed");
        let deep = format!("{}x{}", "{".repeat(100_000), "}".repeat(100_000));
        assert_eq!(dynamic_prompt(&deep, &mut rng).0, "x");
    }

    #[test]
    fn replacements_follow_the_editor() {
        let h = json!(8);
        let w = json!("a/b");
        let nodes = vec![
            Named {
                sr_name: Some("EmptyImage"),
                title: "EmptyImage".into(),
                widgets: vec![("height", &h), ("width", &w)],
            },
            Named { sr_name: None, title: "My Title".into(), widgets: vec![("height", &h)] },
        ];
        let clock = Clock::from_unix(1_700_000_000); // 2023-11-14 22:13:20 UTC
        let (out, dated) = text_replacements(
            "golden/%EmptyImage.height%_%Empty Image.width%_%EmptyImage.width%_%My Title.height%",
            &nodes,
            &clock,
        );
        assert_eq!(out, "golden/8_%Empty Image.width%_a_b_8");
        assert!(!dated);
        let (out, dated) =
            text_replacements("%date:yyyy-MM-dd hh:mm:ss yy d%/%width%_%%_50%", &nodes, &clock);
        assert_eq!(out, "2023-11-14 22:13:20 23 14/%width%_%%_50%");
        assert!(dated);
    }

    #[test]
    fn clock_is_the_civil_calendar() {
        let c = Clock::from_unix(0);
        assert_eq!((c.year, c.month, c.day), (1970, 1, 1));
        let c = Clock::from_unix(951_782_400); // 2000-02-29
        assert_eq!((c.year, c.month, c.day), (2000, 2, 29));
    }
}
