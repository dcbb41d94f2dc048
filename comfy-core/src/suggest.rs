//! "Did you mean" suggestions for unknown classes, inputs, combo values and template names.

/// Longest text (in bytes) suggestions are looked for. Names, inputs, combo values and
/// template names are far shorter; comparing a text of megabytes (a hostile or broken
/// argument) with every candidate would take minutes of CPU for an answer nobody wants.
const MAX_WANTED: usize = 256;

/// Up to `max` candidates close to `wanted`, best first. Case-insensitive; a candidate that
/// contains the wanted text (or the reverse) counts as close. None for an empty text or one
/// longer than 256 bytes.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>, max: usize) -> Vec<String> {
    if wanted.len() > MAX_WANTED {
        return Vec::new();
    }
    let w = wanted.to_lowercase();
    if w.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let lc = c.to_lowercase();
            let mut score = strsim::jaro_winkler(&w, &lc);
            if lc == w {
                score = 2.0;
            } else if w.len() >= 3 && (lc.contains(&w) || w.contains(&lc)) && lc.len() >= 3 {
                score = score.max(0.9);
            }
            (score >= 0.84).then_some((score, c))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(max).map(|(_, c)| c.to_owned()).collect()
}

/// `"; did you mean a, b?"`, or nothing when there are no suggestions: the suffix every error
/// message with suggestions ends with.
pub fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() { String::new() } else { format!("; did you mean {}?", suggestions.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn finds_typos_and_case_slips() {
        let names = ["KSampler", "KSamplerAdvanced", "SaveImage", "LoadImage"];
        assert_eq!(closest("KSampelr", names, 3)[0], "KSampler");
        assert_eq!(closest("saveimage", names, 3)[0], "SaveImage");
        assert!(closest("Zebra", names, 3).is_empty());
        assert!(closest("", names, 3).is_empty());
    }

    #[test]
    fn an_enormous_text_gets_no_suggestion() {
        let names = ["KSampler", "SaveImage"];
        let long = format!("{}KSampler", "x".repeat(300));
        assert!(closest(&long, names, 3).is_empty());
        assert!(closest(&"KSampler ".repeat(1_000_000), names, 3).is_empty());
        assert_eq!(closest(&format!("{}KSampler", "x".repeat(40)), names, 3), ["KSampler"]);
    }

    #[test]
    fn finds_combo_values() {
        let opts = ["euler", "euler_ancestral", "dpmpp_2m", "ddim"];
        assert_eq!(closest("eulr", opts, 2)[0], "euler");
        assert_eq!(closest("dpmpp2m", opts, 2)[0], "dpmpp_2m");
    }
}
