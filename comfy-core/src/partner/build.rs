//! The one-node-plus-save workflow around a partner node: the request's prompt, aspect ratio,
//! seed and duration in the inputs that take them, every other widget at its catalogue default,
//! reference media through loader nodes, and the save node partner nodes lack.

use serde_json::{Map, Value, json};

use super::pick::{Picked, is_media_link};
use super::{MediaType, PartnerRequest};
use crate::catalog::{Catalog, InputDef, InputKind, NodeDef, Section};
use crate::error::{Error, Result};

/// Input names that take the request's prompt, in order of preference.
const PROMPT_INPUTS: &[&str] = &["prompt", "prompt_text", "text", "positive_prompt"];
/// Input names that take the seed.
const SEED_INPUTS: &[&str] = &["seed", "noise_seed"];
/// Input names that take the duration (seconds).
const DURATION_INPUTS: &[&str] = &["duration", "duration_seconds", "seconds"];
/// Input names that take the aspect ratio.
const ASPECT_INPUTS: &[&str] = &["aspect_ratio", "ratio"];

/// The built workflow (API format), its partner node's inputs, and what was ignored.
#[derive(Debug)]
pub(crate) struct Built {
    /// The workflow.
    pub workflow: Value,
    /// The partner node's inputs (for the price).
    pub inputs: Map<String, Value>,
    /// The save node appended, if any (a partner node that saves by itself needs none).
    pub save_class: Option<String>,
    /// Request fields the class has no input for, and similar notes.
    pub warnings: Vec<String>,
}

/// Builds the workflow: node `"1"` is the partner node, loaders follow, the save node is last.
pub(crate) fn build(catalog: &Catalog, picked: &Picked<'_>, request: &PartnerRequest) -> Result<Built> {
    let node = picked.node;
    let mut warnings = Vec::new();
    let mut inputs = Map::new();
    let mut nodes = Map::new();
    let widget = |names: &[&str]| -> Option<&InputDef> {
        names.iter().find_map(|n| {
            node.inputs.iter().find(|i| {
                i.section != Section::Hidden && i.kind.takes_literal() && i.name.eq_ignore_ascii_case(n)
            })
        })
    };
    let prompt_input = widget(PROMPT_INPUTS).map(|i| i.name.clone());
    let seed_input = widget(SEED_INPUTS).map(|i| i.name.clone());
    let duration_input = widget(DURATION_INPUTS).map(|i| i.name.clone());
    let aspect_input = widget(ASPECT_INPUTS).map(|i| i.name.clone());
    for (given, input, field) in [
        (request.prompt.is_some(), &prompt_input, "prompt"),
        (request.seed.is_some(), &seed_input, "seed"),
        (request.duration.is_some(), &duration_input, "duration"),
        (request.aspect_ratio.is_some(), &aspect_input, "aspect_ratio"),
    ] {
        if given && input.is_none() {
            warnings.push(format!("{field} ignored: {} has no {field} input", node.name));
        }
    }
    let mut media: Vec<(MediaType, &str)> = Vec::new();
    for m in &request.media {
        media.push((media_kind(m)?, m.as_str()));
    }
    let mut next_id = 2u32;
    for def in node.inputs.iter().filter(|i| i.section != Section::Hidden) {
        let name = def.name.as_str();
        if !def.kind.takes_literal() {
            let InputKind::Connection { type_name } = &def.kind else { continue };
            if !is_media_link(&def.kind) {
                if def.is_required() {
                    return Err(Error::InvalidArgument {
                        argument: "model".into(),
                        message: format!(
                            "{} needs a link of type {type_name} (input `{name}`) that partner_generate cannot supply; build the workflow yourself",
                            node.name
                        ),
                    });
                }
                continue;
            }
            let Some(pos) = media.iter().position(|(k, _)| k.link_type() == type_name) else {
                if def.is_required() {
                    return Err(Error::InvalidArgument {
                        argument: "media".into(),
                        message: format!(
                            "{} needs media of type {type_name} for its `{name}` input: pass one more in media (an uploaded input name)",
                            node.name
                        ),
                    });
                }
                continue;
            };
            let (kind, value) = media.remove(pos);
            let (loader, slot, loader_inputs) = loader_for(catalog, kind, value)?;
            let id = next_id.to_string();
            next_id += 1;
            nodes.insert(id.clone(), json!({"class_type": loader, "inputs": loader_inputs}));
            inputs.insert(name.to_owned(), json!([id, slot]));
            continue;
        }
        let given: Option<Value> = if Some(&def.name) == prompt_input.as_ref() {
            request.prompt.clone().map(Value::String)
        } else if Some(&def.name) == seed_input.as_ref() {
            request.seed.map(|s| json!(s))
        } else if Some(&def.name) == duration_input.as_ref() {
            request.duration.map(|d| fit_duration(node, def, d)).transpose()?
        } else if Some(&def.name) == aspect_input.as_ref() {
            request.aspect_ratio.as_deref().map(|a| fit_combo(node, def, a, "aspect_ratio")).transpose()?
        } else if picked.model_value.as_ref().is_some_and(|(n, _)| n == name) {
            picked.model_value.as_ref().map(|(_, v)| v.clone())
        } else {
            None
        };
        if let Some(v) = given.or_else(|| default_of(def)) {
            inputs.insert(name.to_owned(), v);
        } else if def.is_required() && Some(&def.name) == prompt_input.as_ref() {
            return Err(Error::InvalidArgument {
                argument: "prompt".into(),
                message: format!("{} needs a prompt (its `{name}` input)", node.name),
            });
        }
    }
    if let Some((_, unused)) = media.first() {
        return Err(Error::InvalidArgument {
            argument: "media".into(),
            message: format!(
                "{} has no free input for {unused:?}; it takes {}",
                node.name,
                describe_media_inputs(node)
            ),
        });
    }
    nodes.insert("1".into(), json!({"class_type": node.name, "inputs": inputs.clone()}));
    let save_class = match saver_for(catalog, node) {
        Some((save, slot, input, save_inputs)) => {
            let mut save_inputs = save_inputs;
            save_inputs.insert(input, json!(["1", slot]));
            nodes.insert(next_id.to_string(), json!({"class_type": save, "inputs": save_inputs}));
            Some(save)
        }
        None if node.output_node => None,
        None => {
            let types: Vec<&str> = node.outputs.iter().map(|o| o.type_name.as_str()).collect();
            return Err(Error::NotSupported {
                backend: "catalogue".into(),
                operation: "saving a partner node's output",
                reason: format!(
                    "no save node in this server's catalogue takes {} (the outputs of {}); build the workflow yourself",
                    types.join(", "),
                    node.name
                ),
            });
        }
    };
    Ok(Built { workflow: Value::Object(nodes), inputs, save_class, warnings })
}

/// What a media value is, by its extension.
fn media_kind(value: &str) -> Result<MediaType> {
    let name = value.trim_end_matches(" [input]").trim_end_matches(" [output]").trim_end_matches(" [temp]");
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" | "webp" | "gif" | "bmp" | "tif" | "tiff" => Ok(MediaType::Image),
        "mp4" | "webm" | "mov" | "mkv" | "avi" | "m4v" => Ok(MediaType::Video),
        "wav" | "mp3" | "flac" | "ogg" | "opus" | "m4a" | "aac" => Ok(MediaType::Audio),
        _ => Err(Error::InvalidArgument {
            argument: "media".into(),
            message: format!(
                "{value:?} is not an image, video or audio file name (upload the file first; media takes the \
                 input name the upload returns)"
            ),
        }),
    }
}

/// The node's media link inputs, for an error message.
fn describe_media_inputs(node: &NodeDef) -> String {
    let list: Vec<String> = node
        .inputs
        .iter()
        .filter(|i| is_media_link(&i.kind))
        .map(|i| format!("{} ({})", i.name, i.kind.type_name()))
        .collect();
    if list.is_empty() { "no media".into() } else { list.join(", ") }
}

/// The catalogue default of a widget, else its first combo option, else nothing.
fn default_of(def: &InputDef) -> Option<Value> {
    // A combo default that is not one of its options (the catalogue has some) is not used.
    let usable = |d: &Value| match &def.kind {
        InputKind::Combo { options, .. } if !options.is_empty() => options.contains(d),
        _ => true,
    };
    if let Some(d) = def.options.default.clone().filter(|d| !d.is_null() && usable(d)) {
        return Some(d);
    }
    match &def.kind {
        InputKind::Combo { options, multiselect: false, .. } if def.options.upload.is_none() => {
            options.first().cloned()
        }
        InputKind::Combo { .. } => None,
        _ if !def.is_required() => None,
        InputKind::Int => Some(json!(def.options.min.unwrap_or(0.0).max(0.0).ceil() as i64)),
        InputKind::Float => Some(json!(def.options.min.unwrap_or(0.0).max(0.0))),
        InputKind::String => Some(json!("")),
        InputKind::Boolean => Some(json!(false)),
        InputKind::Connection { .. } => None,
    }
}

/// The aspect ratio as the input takes it: a combo option (case-insensitive), or the text.
fn fit_combo(node: &NodeDef, def: &InputDef, wanted: &str, field: &str) -> Result<Value> {
    match &def.kind {
        InputKind::Combo { options, .. } => options
            .iter()
            .find(|o| o.as_str().is_some_and(|s| s.eq_ignore_ascii_case(wanted.trim())))
            .cloned()
            .ok_or_else(|| Error::InvalidArgument {
                argument: field.into(),
                message: format!("{} takes {} as one of {}", node.name, def.name, list(options)),
            }),
        _ => Ok(json!(wanted)),
    }
}

/// The duration as the input takes it: a number (rounded for INT), or the combo option that
/// means that many seconds (`"5"`, `5`, `"5s"`).
fn fit_duration(node: &NodeDef, def: &InputDef, seconds: f64) -> Result<Value> {
    match &def.kind {
        InputKind::Int => Ok(json!(seconds.round() as i64)),
        InputKind::Float => Ok(json!(seconds)),
        InputKind::String => Ok(json!(super::price::fmt_num(seconds))),
        InputKind::Combo { options, .. } => options
            .iter()
            .find(|o| {
                let n = match o {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().trim_end_matches('s').trim().parse::<f64>().ok(),
                    _ => None,
                };
                n.is_some_and(|n| (n - seconds).abs() < 1e-9)
            })
            .cloned()
            .ok_or_else(|| Error::InvalidArgument {
                argument: "duration".into(),
                message: format!("{} takes {} as one of {}", node.name, def.name, list(options)),
            }),
        _ => Ok(json!(seconds)),
    }
}

fn list(options: &[Value]) -> String {
    let shown: Vec<String> = options.iter().take(20).map(|o| o.to_string()).collect();
    shown.join(", ")
}

/// A loader for a media value: a class whose one required input is an upload combo of that
/// kind and which outputs the link type (`LoadImage`, `LoadVideo`, `LoadAudio`).
fn loader_for(catalog: &Catalog, kind: MediaType, value: &str) -> Result<(String, u32, Value)> {
    let link = kind.link_type();
    let upload = format!("{}_upload", kind.as_str());
    let preferred = match kind {
        MediaType::Image => "LoadImage",
        MediaType::Video => "LoadVideo",
        _ => "LoadAudio",
    };
    let fits = |n: &NodeDef| -> Option<(String, u32, Value)> {
        let slot = n.outputs.iter().position(|o| o.type_name == link)?;
        let mut required = n.inputs_in(Section::Required);
        let input = required.next()?;
        if required.next().is_some() || input.options.upload.as_deref() != Some(upload.as_str()) {
            return None;
        }
        Some((n.name.clone(), slot as u32, json!({ input.name.clone(): value })))
    };
    catalog
        .node(preferred)
        .and_then(fits)
        .or_else(|| catalog.nodes().filter(|n| !n.api_node).find_map(fits))
        .ok_or_else(|| Error::NotSupported {
            backend: "catalogue".into(),
            operation: "loading reference media",
            reason: format!("no node in this server's catalogue loads a {link} from an uploaded file"),
        })
}

/// The save node for the partner node's first savable output: `(class, output slot, its link
/// input, its other inputs at their defaults)`.
fn saver_for(catalog: &Catalog, node: &NodeDef) -> Option<(String, u32, String, Map<String, Value>)> {
    for (slot, out) in node.outputs.iter().enumerate() {
        let t = out.type_name.as_str();
        let preferred = match t {
            "IMAGE" => "SaveImage",
            "VIDEO" => "SaveVideo",
            "AUDIO" => "SaveAudio",
            "MESH" => "SaveGLB",
            _ => "",
        };
        let fits = |n: &NodeDef| -> Option<(String, u32, String, Map<String, Value>)> {
            if !n.output_node || n.api_node {
                return None;
            }
            let links: Vec<&InputDef> =
                n.inputs_in(Section::Required).filter(|i| !i.kind.takes_literal()).collect();
            let [link] = links.as_slice() else { return None };
            if link.kind.type_name() != t {
                return None;
            }
            let mut rest = Map::new();
            for i in n.inputs_in(Section::Required).filter(|i| i.kind.takes_literal()) {
                rest.insert(i.name.clone(), default_of(i)?);
            }
            Some((n.name.clone(), slot as u32, link.name.clone(), rest))
        };
        let found = catalog.node(preferred).and_then(fits).or_else(|| {
            // Another saver of that type ("Save…" before "Preview…").
            let mut others: Vec<&NodeDef> = catalog.nodes().filter(|n| n.name.starts_with("Save")).collect();
            others.sort_by(|a, b| a.name.cmp(&b.name));
            others.into_iter().find_map(fits)
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::pick::pick;

    fn catalog() -> Catalog {
        Catalog::from_value(&json!({
            "KlingI2V": {"input": {"required": {"start_frame": ["IMAGE"], "prompt": ["STRING", {"multiline": true}],
                    "duration": ["COMBO", {"options": ["5", "10"]}],
                    "aspect_ratio": ["COMBO", {"options": ["16:9", "9:16", "1:1"], "default": "16:9"}],
                    "mode": [["std", "pro"], {}], "cfg_scale": ["FLOAT", {"default": 0.8}],
                    "frames": ["INT", {"min": 3}]},
                "optional": {"seed": ["INT", {"default": 0}], "end_frame": ["IMAGE"], "watermark": ["BOOLEAN", {"default": false}],
                    "steps": ["INT", {"min": 2}]},
                "hidden": {"api_key_comfy_org": ["API_KEY_COMFY_ORG"]}},
                "output": ["VIDEO"], "api_node": true, "category": "api node/video/Kling"},
            "Tripo": {"input": {"required": {"prompt": ["STRING", {}]}}, "output": ["STRING"], "output_node": true,
                "api_node": true, "category": "api node/3d/Tripo"},
            "Rodin": {"input": {"required": {"Images": ["IMAGE"]}}, "output": ["STRING"],
                "api_node": true, "category": "api node/3d/Rodin"},
            "LoadImage": {"input": {"required": {"image": [["a.png"], {"image_upload": true}]}}, "output": ["IMAGE", "MASK"]},
            "SaveVideo": {"input": {"required": {"video": ["VIDEO"], "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
                "format": [["auto", "mp4"], {"default": "auto"}]}}, "output": [], "output_node": true}
        }))
        .unwrap()
    }

    fn request(media: MediaType, model: &str) -> PartnerRequest {
        PartnerRequest {
            media_type: media,
            model: model.into(),
            prompt: Some("a fox".into()),
            aspect_ratio: None,
            seed: None,
            duration: None,
            media: Vec::new(),
            max_credits: None,
            dry_run: false,
        }
    }

    #[test]
    fn fills_given_values_defaults_media_and_the_save_node() {
        let c = catalog();
        let mut r = request(MediaType::Video, "KlingI2V");
        r.media = vec!["fox.png".into()];
        r.duration = Some(10.0);
        r.aspect_ratio = Some("1:1".into());
        r.seed = Some(7);
        let picked = pick(&c, r.media_type, &r.model, 1).unwrap();
        let b = build(&c, &picked, &r).unwrap();
        let w = &b.workflow;
        assert_eq!(w["1"]["class_type"], "KlingI2V");
        let i = &w["1"]["inputs"];
        assert_eq!(
            (&i["prompt"], &i["duration"], &i["aspect_ratio"], &i["seed"]),
            (&json!("a fox"), &json!("10"), &json!("1:1"), &json!(7))
        );
        assert_eq!(
            (&i["mode"], &i["cfg_scale"], &i["watermark"]),
            (&json!("std"), &json!(0.8), &json!(false))
        );
        assert_eq!(i["frames"], json!(3), "a required widget without a default takes its minimum");
        assert!(i.get("steps").is_none(), "an optional widget without a default is left out: {i}");
        assert_eq!(i["start_frame"], json!(["2", 0]));
        assert!(i.get("end_frame").is_none() && i.get("api_key_comfy_org").is_none(), "{i}");
        assert_eq!(w["2"], json!({"class_type": "LoadImage", "inputs": {"image": "fox.png"}}));
        assert_eq!(w["3"]["class_type"], "SaveVideo");
        assert_eq!(w["3"]["inputs"]["video"], json!(["1", 0]));
        assert_eq!(b.save_class.as_deref(), Some("SaveVideo"));
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    }

    #[test]
    fn bad_values_and_missing_media_are_named() {
        let c = catalog();
        let picked = pick(&c, MediaType::Video, "KlingI2V", 0).unwrap();
        let e = build(&c, &picked, &request(MediaType::Video, "KlingI2V")).unwrap_err();
        assert!(e.to_string().contains("start_frame") && e.to_string().contains("media"), "{e}");
        let mut r = request(MediaType::Video, "KlingI2V");
        r.media = vec!["fox.png".into()];
        r.duration = Some(7.0);
        let e = build(&c, &picked, &r).unwrap_err();
        assert!(e.to_string().contains("\"5\", \"10\""), "{e}");
        r.duration = None;
        r.media = vec!["fox.png".into(), "clip.mp4".into()];
        let e = build(&c, &picked, &r).unwrap_err();
        assert!(e.to_string().contains("clip.mp4"), "{e}");
        r.media = vec!["notes.txt".into()];
        assert!(build(&c, &picked, &r).unwrap_err().to_string().contains("not an image"));
    }

    #[test]
    fn an_output_node_needs_no_saver_and_an_unsavable_output_is_refused() {
        let c = catalog();
        let mut r = request(MediaType::ThreeD, "Tripo");
        r.duration = Some(5.0);
        let b = build(&c, &pick(&c, MediaType::ThreeD, "Tripo", 0).unwrap(), &r).unwrap();
        assert_eq!(b.save_class, None);
        assert_eq!(b.workflow.as_object().unwrap().len(), 1);
        assert!(b.warnings[0].contains("duration ignored"), "{:?}", b.warnings);
        let mut r = request(MediaType::ThreeD, "Rodin");
        r.media = vec!["a.png".into()];
        let e = build(&c, &pick(&c, MediaType::ThreeD, "Rodin", 1).unwrap(), &r).unwrap_err();
        assert_eq!(e.code(), "not_supported");
        assert!(e.to_string().contains("STRING"), "{e}");
    }
}
