//! Which partner node class a request's `model` means, from the live catalogue: a class name,
//! a value of the class's `model` combo (case-insensitive), a display name, or one of the
//! well-known aliases — an alias only counts when its class is in the catalogue.

use serde_json::Value;

use super::MediaType;
use crate::catalog::{Catalog, InputKind, NodeDef};
use crate::error::{Error, Result};

/// The comfy-cli aliases (`comfy generate`) and the obvious provider names, with the class they
/// stand for and the `model` combo value they pick (if that class has the value).
const ALIASES: &[(&str, &str, Option<&str>)] = &[
    ("nano-banana", "GeminiImageNode", Some("gemini-2.5-flash-image")),
    ("seedance", "ByteDanceImageToVideoNode", None),
    ("flux-2", "Flux2ProImageNode", None),
    ("flux-ultra", "FluxProUltraImageNode", None),
    ("kling-i2v", "KlingImage2VideoNode", None),
    ("gpt-image-1", "OpenAIGPTImage1", None),
    ("dall-e-3", "OpenAIDalle3", None),
    ("ideogram", "IdeogramV3", None),
    ("grok", "GrokImageNode", None),
    ("seedream", "ByteDanceSeedreamNode", None),
    ("sora", "OpenAIVideoSora2", None),
    ("veo", "Veo3VideoGenerationNode", None),
    ("stable-audio", "StabilityTextToAudio", None),
];

/// The class a model name resolved to.
#[derive(Debug, Clone)]
pub(crate) struct Picked<'a> {
    /// The partner node class.
    pub node: &'a NodeDef,
    /// The value to put in its `model` combo (the catalogue's spelling), when the name was one.
    pub model_value: Option<(String, Value)>,
}

/// The partner node classes of one media type: `api_node` classes in `api node/<media>/...`.
pub(crate) fn partner_classes(catalog: &Catalog, media: MediaType) -> Vec<&NodeDef> {
    let prefix = format!("api node/{}/", media.as_str());
    let mut classes: Vec<&NodeDef> = catalog
        .nodes()
        .filter(|n| n.api_node && !n.deprecated && n.category.to_lowercase().starts_with(&prefix))
        .collect();
    classes.sort_by(|a, b| a.name.cmp(&b.name));
    classes
}

/// Resolves `model` among the partner classes of `media`. `media_count` (reference media given)
/// breaks ties between classes sharing a model value: with media, a class that takes an input
/// link is preferred; without, one that needs none.
pub(crate) fn pick<'a>(
    catalog: &'a Catalog,
    media: MediaType,
    model: &str,
    media_count: usize,
) -> Result<Picked<'a>> {
    let wanted = model.trim();
    let classes = partner_classes(catalog, media);
    if classes.is_empty() {
        return Err(Error::UnknownPartnerModel {
            media: media.as_str(),
            model: wanted.to_owned(),
            message: format!("this server's catalogue has no partner (API) nodes for {}", media.as_str()),
            suggestions: Vec::new(),
        });
    }
    let lc = wanted.to_lowercase();
    if let Some(node) = classes.iter().find(|n| n.name.to_lowercase() == lc) {
        return Ok(Picked { node, model_value: None });
    }
    if let Some((_, class, value)) = ALIASES.iter().find(|(alias, _, _)| *alias == lc)
        && let Some(node) = classes.iter().find(|n| n.name == *class)
    {
        let model_value = value.and_then(|v| model_option(node, v));
        return Ok(Picked { node, model_value });
    }
    let mut by_value: Vec<Picked<'a>> = classes
        .iter()
        .filter_map(|node| model_option(node, wanted).map(|mv| Picked { node, model_value: Some(mv) }))
        .collect();
    if !by_value.is_empty() {
        by_value.sort_by_key(|p| {
            let takes_media = p.node.inputs.iter().any(|i| is_media_link(&i.kind));
            let needs_media = p.node.inputs.iter().any(|i| i.is_required() && is_media_link(&i.kind));
            match (media_count > 0, takes_media, needs_media) {
                (true, _, true) => 0,
                (true, true, false) => 1,
                (false, _, false) => 0,
                _ => 2,
            }
        });
        return Ok(by_value.swap_remove(0));
    }
    if let Some(node) =
        classes.iter().find(|n| n.display_name.as_deref().is_some_and(|d| d.to_lowercase() == lc))
    {
        return Ok(Picked { node, model_value: None });
    }
    let mut names: Vec<&str> = classes.iter().map(|n| n.name.as_str()).collect();
    names.extend(ALIASES.iter().filter(|(_, c, _)| classes.iter().any(|n| n.name == *c)).map(|(a, _, _)| *a));
    for node in &classes {
        if let Some(InputKind::Combo { options, .. }) = node.input("model").map(|i| &i.kind) {
            names.extend(options.iter().filter_map(Value::as_str));
        }
    }
    let mut suggestions = crate::suggest::closest(wanted, names.iter().copied(), 6);
    let message = if suggestions.is_empty() {
        suggestions = classes.iter().take(12).map(|n| n.name.clone()).collect();
        format!(
            "no {} partner node matches; {} of {} classes listed (search_nodes with category \"api node/{}\" lists them all)",
            media.as_str(),
            suggestions.len(),
            classes.len(),
            media.as_str()
        )
    } else {
        format!("no {} partner node matches", media.as_str())
    };
    Err(Error::UnknownPartnerModel { media: media.as_str(), model: wanted.to_owned(), message, suggestions })
}

/// The `model` combo option equal to `wanted` (case-insensitive), with the input's name.
fn model_option(node: &NodeDef, wanted: &str) -> Option<(String, Value)> {
    let input = node.input("model")?;
    let InputKind::Combo { options, .. } = &input.kind else { return None };
    let lc = wanted.to_lowercase();
    options
        .iter()
        .find(|o| o.as_str().is_some_and(|s| s.to_lowercase() == lc))
        .map(|o| (input.name.clone(), o.clone()))
}

/// A link input that reference media can fill.
pub(crate) fn is_media_link(kind: &InputKind) -> bool {
    matches!(kind, InputKind::Connection { type_name } if ["IMAGE", "VIDEO", "AUDIO"].contains(&type_name.as_str()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn catalog() -> Catalog {
        Catalog::from_value(&json!({
            "FluxProUltraImageNode": {"input": {"required": {"prompt": ["STRING", {}]}}, "output": ["IMAGE"],
                "api_node": true, "category": "api node/image/BFL", "display_name": "Flux 1.1 [pro] Ultra Image"},
            "MinimaxTextToVideoNode": {"input": {"required": {"prompt_text": ["STRING", {}],
                "model": ["COMBO", {"options": ["T2V-01", "T2V-01-Director"]}]}}, "output": ["VIDEO"],
                "api_node": true, "category": "api node/video/MiniMax"},
            "MinimaxImageToVideoNode": {"input": {"required": {"image": ["IMAGE"], "prompt_text": ["STRING", {}],
                "model": ["COMBO", {"options": ["I2V-01", "T2V-01"]}]}}, "output": ["VIDEO"],
                "api_node": true, "category": "api node/video/MiniMax"},
            "RecraftControls": {"input": {}, "output": ["RECRAFT_CONTROLS"], "category": "api node/image/Recraft"},
            "SaveImage": {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_node": true}
        }))
        .unwrap()
    }

    #[test]
    fn a_class_name_alias_model_value_or_display_name_resolves() {
        let c = catalog();
        assert_eq!(
            pick(&c, MediaType::Image, "fluxproultraimagenode", 0).unwrap().node.name,
            "FluxProUltraImageNode"
        );
        assert_eq!(pick(&c, MediaType::Image, "flux-ultra", 0).unwrap().node.name, "FluxProUltraImageNode");
        assert_eq!(
            pick(&c, MediaType::Image, "Flux 1.1 [pro] Ultra Image", 0).unwrap().node.name,
            "FluxProUltraImageNode"
        );
        let p = pick(&c, MediaType::Video, "t2v-01-director", 0).unwrap();
        assert_eq!(p.node.name, "MinimaxTextToVideoNode");
        assert_eq!(p.model_value, Some(("model".into(), json!("T2V-01-Director"))));
    }

    #[test]
    fn a_shared_model_value_prefers_the_class_that_fits_the_media() {
        let c = catalog();
        assert_eq!(pick(&c, MediaType::Video, "T2V-01", 0).unwrap().node.name, "MinimaxTextToVideoNode");
        assert_eq!(pick(&c, MediaType::Video, "T2V-01", 1).unwrap().node.name, "MinimaxImageToVideoNode");
    }

    #[test]
    fn unknown_models_list_close_candidates_of_that_type_only() {
        let c = catalog();
        let e = pick(&c, MediaType::Video, "T2V-1-Director", 0).unwrap_err();
        assert_eq!(e.code(), "unknown_partner_model");
        assert!(e.to_string().contains("T2V-01-Director"), "{e}");
        // An image class is no video model; an alias whose class is missing is not offered.
        let e = pick(&c, MediaType::Video, "flux-ultra", 0).unwrap_err();
        assert!(!e.to_string().contains("FluxProUltra"), "{e}");
        let e = pick(&c, MediaType::Image, "nano-banana", 0).unwrap_err();
        assert!(e.to_string().contains("FluxProUltraImageNode"), "{e}");
        assert!(!e.to_string().contains("RecraftControls"), "config nodes are no models: {e}");
        let e = pick(&c, MediaType::Audio, "anything", 0).unwrap_err();
        assert!(e.to_string().contains("no partner (API) nodes for audio"), "{e}");
    }
}
