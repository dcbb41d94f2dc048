//! The official workflow templates index (`/templates/index.json`, package
//! `comfyui-workflow-templates`), with ranked search.
//!
//! The index is a list of categories (`{title, type?, templates: [...]}`); each template has a
//! `name` (its file stem), `title`, `description`, `tags`, `models` and more. Search ranks by
//! where the words of the query occur: title and name first, then tags and models, then the
//! description; ties go to the more used template.
//!
//! ```
//! use comfy_core::gallery::{TemplateIndex, TemplateQuery};
//! use serde_json::json;
//!
//! let index = TemplateIndex::from_value(&json!([
//!   {"title": "Image", "type": "image", "templates": [
//!     {"name": "flux_t2i", "title": "Flux Text to Image", "description": "Fast images.",
//!      "tags": ["Text to Image"], "models": ["Flux"], "usage": 10},
//!     {"name": "sd15_inpaint", "title": "SD1.5 Inpaint", "description": "Fill a masked area.",
//!      "tags": ["Inpaint"], "models": ["SD1.5"]}]},
//!   {"title": "Video", "type": "video", "templates": [
//!     {"name": "wan_t2v", "title": "Wan Text to Video", "description": "Video from text.",
//!      "tags": ["Text to Video"], "models": ["Wan"]}]}
//! ]))?;
//! let hits = index.search(&TemplateQuery { text: Some("text to"), media_type: Some("image"), ..Default::default() });
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].entry.name, "flux_t2i");
//! # Ok::<(), comfy_core::Error>(())
//! ```

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// One template of the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TemplateEntry {
    /// File stem, used to fetch it (`/templates/<name>.json`).
    pub name: String,
    /// Display title.
    pub title: String,
    /// What it does.
    pub description: String,
    /// Tags (`"Text to Image"`, `"API"`, ...).
    pub tags: Vec<String>,
    /// Model display names.
    pub models: Vec<String>,
    /// What it makes: the category's `type` (`image`, `video`, `audio`, `3d`, `llm`), else the
    /// entry's thumbnail `mediaType`.
    pub media_type: String,
    /// The category title (`"Image"`, `"Video"`, ...).
    pub category: String,
    /// How often it is used (popularity), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    /// Whether it needs paid partner API nodes (name `api_…` or tag `API`).
    pub api: bool,
}

/// A parsed templates index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateIndex {
    /// Every template, in index order.
    pub entries: Vec<TemplateEntry>,
}

/// What to look for; every given field must match.
#[derive(Debug, Clone, Default)]
pub struct TemplateQuery<'a> {
    /// Words to rank by (name, title, tags, models, description).
    pub text: Option<&'a str>,
    /// A tag or category title, case-insensitive (`"Text to Image"`, `"Video"`).
    pub tag: Option<&'a str>,
    /// `image`, `video`, `audio`, `3d`, ... (the category type or the entry's media type).
    pub media_type: Option<&'a str>,
    /// Part of a model name, case-insensitive (`"flux"`).
    pub model: Option<&'a str>,
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateHit<'a> {
    /// The template.
    pub entry: &'a TemplateEntry,
    /// Relevance (higher first; 0 when no text was given).
    pub score: f64,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

impl TemplateIndex {
    /// Parses `index.json`: a list of categories with `templates`. Entries without a `name`
    /// are skipped; anything else of the wrong shape is an error naming where.
    pub fn from_value(value: &Value) -> Result<TemplateIndex> {
        let bad = |message: String| Error::InvalidArgument { argument: "template index".into(), message };
        let Value::Array(categories) = value else {
            return Err(bad(format!("expected a list of categories, got {}", crate::json::type_name(value))));
        };
        let mut entries = Vec::new();
        for (i, category) in categories.iter().enumerate() {
            let Some(Value::Array(templates)) = category.get("templates") else {
                return Err(bad(format!("category {i} has no \"templates\" list")));
            };
            let category_title = text(category, "title");
            let category_type = text(category, "type");
            for t in templates {
                let name = text(t, "name");
                if name.is_empty() {
                    continue;
                }
                let tags = strings(t.get("tags"));
                let media_type =
                    if category_type.is_empty() { text(t, "mediaType") } else { category_type.clone() };
                entries.push(TemplateEntry {
                    api: name.starts_with("api_") || tags.iter().any(|t| t.eq_ignore_ascii_case("api")),
                    title: match text(t, "title") {
                        s if s.is_empty() => name.clone(),
                        s => s,
                    },
                    name,
                    description: text(t, "description"),
                    tags,
                    models: strings(t.get("models")),
                    media_type,
                    category: category_title.clone(),
                    usage: t.get("usage").and_then(Value::as_u64),
                });
            }
        }
        Ok(TemplateIndex { entries })
    }

    /// A template by name.
    pub fn get(&self, name: &str) -> Option<&TemplateEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Close names, for "did you mean".
    pub fn suggest(&self, name: &str) -> Vec<String> {
        crate::suggest::closest(name, self.entries.iter().map(|e| e.name.as_str()), 3)
    }

    /// The templates matching `query`, best first.
    pub fn search(&self, query: &TemplateQuery<'_>) -> Vec<TemplateHit<'_>> {
        let lower = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
        let (tag, media, model) = (lower(query.tag), lower(query.media_type), lower(query.model));
        let words: Vec<String> = query
            .text
            .unwrap_or("")
            .split(|c: char| !c.is_alphanumeric() && c != '.')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut hits: Vec<TemplateHit<'_>> = self
            .entries
            .iter()
            .filter(|e| {
                tag.as_ref().is_none_or(|t| {
                    e.category.to_lowercase() == *t || e.tags.iter().any(|g| g.to_lowercase() == *t)
                })
            })
            .filter(|e| media.as_ref().is_none_or(|m| e.media_type.to_lowercase() == *m))
            .filter(|e| {
                model.as_ref().is_none_or(|m| e.models.iter().any(|x| x.to_lowercase().contains(m.as_str())))
            })
            .filter_map(|e| {
                let score = score(e, &words)?;
                Some(TemplateHit { entry: e, score })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| b.entry.usage.unwrap_or(0).cmp(&a.entry.usage.unwrap_or(0)))
                .then_with(|| a.entry.name.cmp(&b.entry.name))
        });
        hits
    }
}

/// Every word must occur somewhere; the score weighs where. `None` when a word is missing.
fn score(e: &TemplateEntry, words: &[String]) -> Option<f64> {
    let title = e.title.to_lowercase();
    let name = e.name.to_lowercase().replace(['_', '-'], " ");
    let description = e.description.to_lowercase();
    let tags: Vec<String> = e.tags.iter().map(|t| t.to_lowercase()).collect();
    let models: Vec<String> = e.models.iter().map(|t| t.to_lowercase()).collect();
    let mut total = 0.0;
    for w in words {
        let mut s: f64 = 0.0;
        if title.split_whitespace().any(|t| t == w) {
            s += 5.0;
        } else if title.contains(w.as_str()) {
            s += 3.0;
        }
        if name.split_whitespace().any(|t| t == w) {
            s += 3.0;
        } else if name.contains(w.as_str()) {
            s += 1.5;
        }
        if tags.iter().any(|t| t.split_whitespace().any(|x| x == w)) {
            s += 3.0;
        }
        if models.iter().any(|m| m.contains(w.as_str())) {
            s += 3.0;
        }
        if description.contains(w.as_str()) {
            s += 1.0;
        }
        if s == 0.0 {
            return None;
        }
        total += s;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn index() -> TemplateIndex {
        TemplateIndex::from_value(&json!([
          {"title": "Image", "type": "image", "templates": [
            {"name": "api_flux_pro", "title": "Flux Pro", "description": "Partner API text to image.",
             "tags": ["Text to Image", "API"], "models": ["Flux"], "usage": 900},
            {"name": "flux_dev_t2i", "title": "Flux Dev Text to Image", "description": "Open weights.",
             "tags": ["Text to Image"], "models": ["Flux"], "usage": 100},
            {"name": "sd15_upscale", "title": "Upscale", "description": "Make an image bigger with flux-free models.",
             "tags": ["Upscale"], "models": ["ESRGAN"]},
            {"title": "no name is skipped"}]},
          {"title": "Audio", "type": "audio", "templates": [
            {"name": "ace_step", "title": "Music", "description": "Songs from text.", "tags": ["Text to Audio"],
             "models": ["ACE-Step"], "mediaType": "image"}]}
        ]))
        .unwrap()
    }

    #[test]
    fn parses_categories_and_flags() {
        let i = index();
        assert_eq!(i.entries.len(), 4);
        assert!(i.get("api_flux_pro").unwrap().api);
        assert!(!i.get("flux_dev_t2i").unwrap().api);
        assert_eq!(i.get("ace_step").unwrap().media_type, "audio");
        assert_eq!(i.suggest("flux_dev"), vec!["flux_dev_t2i".to_string()]);
        assert!(TemplateIndex::from_value(&json!({"a": 1})).is_err());
        let e = TemplateIndex::from_value(&json!([{"title": "x"}])).unwrap_err();
        assert!(e.to_string().contains("category 0"), "{e}");
    }

    #[test]
    fn ranks_title_over_description_and_filters() {
        let i = index();
        let names =
            |q: TemplateQuery<'_>| i.search(&q).iter().map(|h| h.entry.name.clone()).collect::<Vec<_>>();
        // Title word beats a description mention; usage breaks the tie between the two Flux titles.
        assert_eq!(
            names(TemplateQuery { text: Some("flux"), ..Default::default() }),
            ["api_flux_pro", "flux_dev_t2i", "sd15_upscale"]
        );
        // Every word must match.
        assert_eq!(names(TemplateQuery { text: Some("flux dev"), ..Default::default() }), ["flux_dev_t2i"]);
        assert_eq!(names(TemplateQuery { tag: Some("text to audio"), ..Default::default() }), ["ace_step"]);
        assert_eq!(names(TemplateQuery { tag: Some("audio"), ..Default::default() }), ["ace_step"]);
        assert_eq!(names(TemplateQuery { media_type: Some("audio"), ..Default::default() }), ["ace_step"]);
        assert_eq!(names(TemplateQuery { model: Some("esr"), ..Default::default() }), ["sd15_upscale"]);
        assert!(names(TemplateQuery { text: Some("zebra"), ..Default::default() }).is_empty());
    }
}
