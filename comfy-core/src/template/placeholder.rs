//! Recognising placeholders in strings: `{{name}}` (typed or interpolated) and JN-style
//! `PARAM_[<TYPE>_]<NAME>` (whole values only).

use std::ops::Range;

use super::ParamType;

/// One `{{ name }}` found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Curly<'a> {
    /// Byte range of the whole placeholder, braces included.
    pub range: Range<usize>,
    /// The parameter name.
    pub name: &'a str,
}

/// Every `{{ name }}` in `s`, left to right. Names are `[A-Za-z_][A-Za-z0-9_]*`; ASCII
/// whitespace is allowed inside the braces. Anything else between `{{` and `}}` is plain text.
pub(crate) fn find_curly(s: &str) -> Vec<Curly<'_>> {
    let bytes = s.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'{'
            && bytes[i + 1] == b'{'
            && let Some((name_range, end)) = curly_at(bytes, i + 2)
        {
            found.push(Curly { range: i..end, name: &s[name_range] });
            i = end;
            continue;
        }
        i += 1;
    }
    found
}

/// Parses `ws* name ws* }}` starting at `start`; returns the name's range and the end offset.
fn curly_at(bytes: &[u8], start: usize) -> Option<(Range<usize>, usize)> {
    let mut j = start;
    while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
        j += 1;
    }
    let name_start = j;
    match bytes.get(j) {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => j += 1,
        _ => return None,
    }
    while bytes.get(j).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        j += 1;
    }
    let name_end = j;
    while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
        j += 1;
    }
    (bytes.get(j) == Some(&b'}') && bytes.get(j + 1) == Some(&b'}')).then_some((name_start..name_end, j + 2))
}

/// The name, when the whole string is exactly one `{{ name }}` placeholder.
pub(crate) fn whole_curly(s: &str) -> Option<&str> {
    match find_curly(s).as_slice() {
        [only] if only.range == (0..s.len()) => Some(only.name),
        _ => None,
    }
}

/// A JN-style placeholder: the whole string is `PARAM_[<TYPE>_]<NAME>` with no whitespace.
/// Returns the declared type (`None` when untyped) and the normalised name.
pub(crate) fn parse_param(s: &str) -> Option<(Option<ParamType>, String)> {
    let rest = s.strip_prefix("PARAM_")?;
    if rest.is_empty() || rest.chars().any(char::is_whitespace) {
        return None;
    }
    const TYPED: [(&str, ParamType); 6] = [
        ("STRING_", ParamType::String),
        ("STR_", ParamType::String),
        ("TEXT_", ParamType::String),
        ("INT_", ParamType::Integer),
        ("FLOAT_", ParamType::Number),
        ("BOOL_", ParamType::Boolean),
    ];
    for (prefix, ty) in TYPED {
        if let Some(name) = rest.strip_prefix(prefix).filter(|n| !n.is_empty()) {
            return Some((Some(ty), normalize_name(name)));
        }
    }
    Some((None, normalize_name(rest)))
}

/// A whole-value placeholder of either style: `(name, type declared in the graph)`.
pub(crate) fn whole_placeholder(s: &str) -> Option<(String, Option<ParamType>)> {
    if let Some(name) = whole_curly(s) {
        return Some((name.to_owned(), None));
    }
    parse_param(s).map(|(ty, name)| (name, ty))
}

/// The first placeholder-looking text in `s`, if any: a `{{ name }}` anywhere, or a whole
/// `PARAM_...` value. Used to refuse rendered graphs that still carry placeholders.
pub(crate) fn residue(s: &str) -> Option<&str> {
    if let Some(first) = find_curly(s).into_iter().next() {
        return Some(&s[first.range]);
    }
    parse_param(s).map(|_| s)
}

/// Normalises a name the JN way: lower-case, every character that is not an ASCII letter or
/// digit becomes `_`. Used for `PARAM_` names and for template names taken from file names.
pub fn normalize_name(raw: &str) -> String {
    raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_curly_placeholders_with_whitespace() {
        let s = "a {{x}} b {{ long_Name2 }} c {{\ty\n}}";
        let names: Vec<&str> = find_curly(s).iter().map(|c| c.name).collect();
        assert_eq!(names, ["x", "long_Name2", "y"]);
        assert_eq!(&s[find_curly(s)[0].range.clone()], "{{x}}");
    }

    #[test]
    fn ignores_braces_that_are_not_placeholders() {
        for s in ["{{}}", "{{ 9a }}", "{{a b}}", "{{a-b}}", "{ {a}}", "{{a}", "{{", "}}", "{{é}}"] {
            assert!(find_curly(s).is_empty(), "{s}");
        }
        // Triple braces: the inner pair is the placeholder.
        assert_eq!(find_curly("{{{a}}}")[0].name, "a");
        assert_eq!(find_curly("{{{a}}}")[0].range, 1..6);
    }

    #[test]
    fn whole_means_the_entire_string() {
        assert_eq!(whole_curly("{{ seed }}"), Some("seed"));
        assert_eq!(whole_curly(" {{seed}}"), None);
        assert_eq!(whole_curly("{{a}}{{b}}"), None);
        assert_eq!(whole_curly("x"), None);
    }

    #[test]
    fn parses_param_placeholders_like_jn() {
        assert_eq!(parse_param("PARAM_INT_SEED"), Some((Some(ParamType::Integer), "seed".into())));
        assert_eq!(parse_param("PARAM_FLOAT_CFG"), Some((Some(ParamType::Number), "cfg".into())));
        assert_eq!(parse_param("PARAM_BOOL_TILED"), Some((Some(ParamType::Boolean), "tiled".into())));
        for s in ["PARAM_STR_X", "PARAM_STRING_X", "PARAM_TEXT_X"] {
            assert_eq!(parse_param(s), Some((Some(ParamType::String), "x".into())), "{s}");
        }
        assert_eq!(parse_param("PARAM_PROMPT"), Some((None, "prompt".into())));
        assert_eq!(parse_param("PARAM_Neg-Prompt.v2"), Some((None, "neg_prompt_v2".into())));
        assert_eq!(parse_param("PARAM_INT"), Some((None, "int".into())));
        assert_eq!(parse_param("PARAM_"), None);
        assert_eq!(parse_param("PARAM_ is text"), None);
        assert_eq!(parse_param("param_int_x"), None);
        assert_eq!(parse_param("a PARAM_X"), None);
    }

    #[test]
    fn residue_finds_either_style() {
        assert_eq!(residue("hello {{ who }}!"), Some("{{ who }}"));
        assert_eq!(residue("PARAM_INT_SEED"), Some("PARAM_INT_SEED"));
        assert_eq!(residue("a PARAM_X in prose"), None);
        assert_eq!(residue("{ not } {{ 1 }}"), None);
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("My Flow (v2)"), "my_flow__v2_");
        assert_eq!(normalize_name("Ünïcode"), "_n_code");
    }
}
