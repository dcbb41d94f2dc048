//! Ranked text search over the node catalogue.

use indexmap::IndexMap;
use serde::Serialize;

use super::{InputKind, NodeDef, Section};

/// A search request. Every word of `text` must match somewhere; filters must all hold.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery<'a> {
    /// Free text, e.g. `"upscale image"`. Empty matches everything (filters still apply).
    pub text: &'a str,
    /// Only classes with an input accepting this type (`IMAGE`, `LATENT`, ...).
    pub input_type: Option<&'a str>,
    /// Only classes with an output of this type.
    pub output_type: Option<&'a str>,
    /// Only classes whose category starts with this (case-insensitive).
    pub category: Option<&'a str>,
    /// At most this many hits (0 = 20).
    pub limit: usize,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SearchHit {
    /// Class name (`class_type`).
    #[serde(rename = "class_type")]
    pub name: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Category.
    pub category: String,
    /// Relevance, higher is better.
    pub score: u32,
}

/// Lower-cased search fields, computed once per catalogue.
#[derive(Debug, Clone, Default)]
struct Entry {
    name: String,
    display: String,
    category: String,
    description: String,
    input_types: Vec<String>,
    output_types: Vec<String>,
}

/// The precomputed search index of a catalogue.
#[derive(Debug, Clone, Default)]
pub struct NodeSearch {
    entries: Vec<Entry>,
}

impl NodeSearch {
    pub(crate) fn build<'a>(nodes: impl Iterator<Item = &'a NodeDef>) -> Self {
        let entries = nodes
            .map(|n| Entry {
                name: n.name.to_lowercase(),
                display: n.display_name.clone().unwrap_or_default().to_lowercase(),
                category: n.category.to_lowercase(),
                description: n.description.to_lowercase(),
                input_types: n
                    .inputs
                    .iter()
                    .filter(|i| i.section != Section::Hidden)
                    .map(|i| match &i.kind {
                        InputKind::Connection { type_name } => type_name.to_lowercase(),
                        other => other.type_name().to_lowercase(),
                    })
                    .collect(),
                output_types: n.outputs.iter().map(|o| o.type_name.to_lowercase()).collect(),
            })
            .collect();
        NodeSearch { entries }
    }

    pub(crate) fn run(&self, nodes: &IndexMap<String, NodeDef>, q: &SearchQuery<'_>) -> Vec<SearchHit> {
        let terms: Vec<String> = q.text.split_whitespace().map(str::to_lowercase).collect();
        let input_type = q.input_type.map(str::to_lowercase);
        let output_type = q.output_type.map(str::to_lowercase);
        let category = q.category.map(str::to_lowercase);
        let mut hits: Vec<(u32, usize)> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(t) = &input_type
                && !e.input_types.iter().any(|it| super::types_compatible(t, it) && it != "*")
            {
                continue;
            }
            if let Some(t) = &output_type
                && !e.output_types.iter().any(|ot| super::types_compatible(ot, t) && ot != "*")
            {
                continue;
            }
            if let Some(c) = &category
                && !e.category.starts_with(c.as_str())
            {
                continue;
            }
            let mut score = 1u32;
            let mut all_match = true;
            for term in &terms {
                let s = score_term(e, term);
                if s == 0 {
                    all_match = false;
                    break;
                }
                score += s;
            }
            if all_match {
                hits.push((score, i));
            }
        }
        hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| self.entries[a.1].name.cmp(&self.entries[b.1].name)));
        let limit = if q.limit == 0 { 20 } else { q.limit };
        hits.into_iter()
            .take(limit)
            .filter_map(|(score, i)| nodes.get_index(i).map(|(_, n)| (score, n)))
            .map(|(score, n)| SearchHit {
                name: n.name.clone(),
                display_name: n.display_name.clone(),
                category: n.category.clone(),
                score,
            })
            .collect()
    }
}

/// How well one term matches one class: name beats display name beats category beats types
/// beats description.
fn score_term(e: &Entry, term: &str) -> u32 {
    let mut s = 0;
    if e.name == term {
        s += 100;
    } else if e.name.starts_with(term) {
        s += 40;
    } else if e.name.contains(term) {
        s += 25;
    }
    if e.display == term {
        s += 60;
    } else if e.display.split_whitespace().any(|w| w == term) {
        s += 30;
    } else if e.display.contains(term) {
        s += 15;
    }
    if e.category.split('/').any(|c| c == term) {
        s += 12;
    } else if e.category.contains(term) {
        s += 6;
    }
    if e.input_types.iter().any(|t| t == term) || e.output_types.iter().any(|t| t == term) {
        s += 8;
    }
    if e.description.contains(term) {
        s += 3;
    }
    s
}
