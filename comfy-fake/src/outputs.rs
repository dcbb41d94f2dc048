//! What nodes "compute": a tiny evaluator for image sizes and simple values, and the UI output
//! dict (`executed.output`, `history.outputs[node]`) each output class produces, with the files
//! it writes.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use comfy_core::{Catalog, Input, Node, NodeId, Workflow};
use serde_json::{Map, Value, json};

use crate::files::{FileKey, FileStore, Folder, image_size, normalize_rel, placeholder, png, split_path};
use crate::graph::input_file_key;
use crate::pyfmt::py_str;
use crate::state::State;

/// A node output value, as far as the fake tracks it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Image {
        w: u32,
        h: u32,
        batch: u32,
        rgb: [u8; 3],
    },
    Mask {
        w: u32,
        h: u32,
    },
    /// A latent, by the pixel size it decodes to (ComfyUI's latent is 1/8 of that).
    Latent {
        w: u32,
        h: u32,
        batch: u32,
    },
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// Anything else (latents, models, audio, ...), by type name.
    Other(String),
}

const DEFAULT_IMAGE: Val = Val::Image { w: 512, h: 512, batch: 1, rgb: [128, 128, 128] };

impl Val {
    fn from_json(v: &Value) -> Val {
        match v {
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) if n.is_i64() || n.is_u64() => Val::Int(n.as_i64().unwrap_or(i64::MAX)),
            Value::Number(n) => Val::Float(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => Val::Str(s.clone()),
            other => Val::Other(other.to_string()),
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Float(f) => Some(f.trunc() as i64),
            Val::Bool(b) => Some(i64::from(*b)),
            Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// `PreviewAny`'s text: `str()` of scalars, a tensor-like placeholder for the rest.
    pub fn preview_text(&self) -> String {
        match self {
            Val::Int(i) => i.to_string(),
            Val::Float(f) => py_str(&json!(f)),
            Val::Str(s) => s.clone(),
            Val::Bool(b) => if *b { "True" } else { "False" }.into(),
            Val::Image { w, h, batch, .. } => format!("tensor(<IMAGE {batch}x{h}x{w}x3>)"),
            Val::Mask { w, h } => format!("tensor(<MASK 1x{h}x{w}>)"),
            Val::Latent { .. } => "<LATENT>".into(),
            Val::Other(t) => format!("<{t}>"),
        }
    }

    /// Width, height and batch of an image or mask.
    pub fn dims(&self) -> Option<(u32, u32, u32)> {
        match self {
            Val::Image { w, h, batch, .. } => Some((*w, *h, *batch)),
            Val::Mask { w, h } => Some((*w, *h, 1)),
            _ => None,
        }
    }
}

/// Output values per node and slot.
pub(crate) type Values = HashMap<String, Vec<Val>>;

/// A node's inputs, resolved against the values computed so far.
pub(crate) struct Inputs<'a> {
    pub node: &'a Node,
    pub values: &'a Values,
}

impl Inputs<'_> {
    /// The literal JSON value of an input (`{"__value__": [...]}` unwrapped).
    pub fn literal(&self, name: &str) -> Option<&Value> {
        match self.node.inputs.get(name)? {
            Input::Value(Value::Object(m)) if m.len() == 1 && m.contains_key("__value__") => {
                m.get("__value__")
            }
            Input::Value(v) => Some(v),
            Input::Link(_) => None,
        }
    }

    /// The value of an input, linked or literal.
    pub fn val(&self, name: &str) -> Option<Val> {
        match self.node.inputs.get(name)? {
            Input::Link(l) => self.values.get(l.node.as_str())?.get(l.output as usize).cloned(),
            Input::Value(_) => self.literal(name).map(Val::from_json),
        }
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.val(name).and_then(|v| v.as_i64()).unwrap_or(default)
    }

    fn string(&self, name: &str, default: &str) -> String {
        match self.val(name) {
            Some(Val::Str(s)) => s,
            Some(v @ (Val::Int(_) | Val::Float(_) | Val::Bool(_))) => v.preview_text(),
            _ => default.to_string(),
        }
    }

    /// The first image among the inputs.
    pub fn image(&self) -> Val {
        for name in ["images", "image", "pixels"] {
            if let Some(v @ Val::Image { .. }) = self.val(name) {
                return v;
            }
        }
        self.node
            .inputs
            .keys()
            .filter_map(|k| self.val(k))
            .find(|v| matches!(v, Val::Image { .. }))
            .unwrap_or(DEFAULT_IMAGE)
    }

    fn mask(&self) -> Val {
        self.node
            .inputs
            .keys()
            .filter_map(|k| self.val(k))
            .find(|v| matches!(v, Val::Mask { .. }))
            .unwrap_or(Val::Mask { w: 512, h: 512 })
    }
}

fn clamp_dim(v: i64) -> u32 {
    v.clamp(1, 16_384) as u32
}

/// Computes output values for `order` (a topological order of the nodes that run).
pub(crate) fn evaluate(wf: &Workflow, catalog: &Catalog, files: &FileStore, order: &[NodeId]) -> Values {
    let mut values = Values::new();
    for id in order {
        let Some(node) = wf.node(id.as_str()) else { continue };
        let out = eval_node(node, catalog, files, &values);
        values.insert(id.0.clone(), out);
    }
    values
}

fn eval_node(node: &Node, catalog: &Catalog, files: &FileStore, values: &Values) -> Vec<Val> {
    let inp = Inputs { node, values };
    let image_of = |w: i64, h: i64, batch: u32, rgb: [u8; 3]| Val::Image {
        w: clamp_dim(w),
        h: clamp_dim(h),
        batch,
        rgb,
    };
    match node.class_type.as_str() {
        "EmptyImage" => {
            let c = inp.int("color", 0);
            let rgb = [(c >> 16 & 255) as u8, (c >> 8 & 255) as u8, (c & 255) as u8];
            let batch = inp.int("batch_size", 1).clamp(1, 4096) as u32;
            vec![image_of(inp.int("width", 512), inp.int("height", 512), batch, rgb)]
        }
        "LoadImage" | "LoadImageMask" => {
            let (w, h) = inp
                .literal("image")
                .and_then(Value::as_str)
                .and_then(input_file_key)
                .and_then(|k| files.get(&k))
                .and_then(|b| image_size(b))
                .unwrap_or((512, 512));
            let mask = Val::Mask { w, h };
            if node.class_type == "LoadImage" {
                vec![Val::Image { w, h, batch: 1, rgb: [128, 128, 128] }, mask]
            } else {
                vec![mask]
            }
        }
        "EmptyLatentImage" => {
            let batch = inp.int("batch_size", 1).clamp(1, 4096) as u32;
            vec![Val::Latent {
                w: clamp_dim(inp.int("width", 512)),
                h: clamp_dim(inp.int("height", 512)),
                batch,
            }]
        }
        // Sampling keeps the latent's size; decoding gives an image of that size.
        "KSampler" | "KSamplerAdvanced" => match inp.val("latent_image") {
            Some(latent @ Val::Latent { .. }) => vec![latent],
            _ => vec![Val::Other("LATENT".into())],
        },
        "VAEDecode" => match inp.val("samples") {
            Some(Val::Latent { w, h, batch }) => vec![Val::Image { w, h, batch, rgb: [128, 128, 128] }],
            _ => vec![DEFAULT_IMAGE],
        },
        "SolidMask" => {
            vec![Val::Mask { w: clamp_dim(inp.int("width", 512)), h: clamp_dim(inp.int("height", 512)) }]
        }
        "MaskToImage" => match inp.mask() {
            Val::Mask { w, h } => vec![Val::Image { w, h, batch: 1, rgb: [128, 128, 128] }],
            _ => vec![DEFAULT_IMAGE],
        },
        "ImageInvert" => match inp.image() {
            Val::Image { w, h, batch, rgb } => vec![Val::Image { w, h, batch, rgb: rgb.map(|c| 255 - c) }],
            other => vec![other],
        },
        "ImageScale" => match inp.image() {
            Val::Image { w, h, batch, rgb } => {
                let (nw, nh) = (inp.int("width", w as i64), inp.int("height", h as i64));
                let nw = if nw == 0 { w as i64 * nh / h.max(1) as i64 } else { nw };
                let nh = if nh == 0 { h as i64 * nw / w.max(1) as i64 } else { nh };
                vec![image_of(nw, nh, batch, rgb)]
            }
            other => vec![other],
        },
        "ImageScaleBy" => match inp.image() {
            Val::Image { w, h, batch, rgb } => {
                let s = inp.val("scale_by").and_then(|v| v.as_f64()).unwrap_or(1.0);
                vec![image_of((w as f64 * s).round() as i64, (h as f64 * s).round() as i64, batch, rgb)]
            }
            other => vec![other],
        },
        "GetImageSize" => {
            let (w, h, b) = inp.image().dims().unwrap_or((512, 512, 1));
            vec![Val::Int(w.into()), Val::Int(h.into()), Val::Int(b.into())]
        }
        "PrimitiveInt"
        | "PrimitiveFloat"
        | "PrimitiveString"
        | "PrimitiveStringMultiline"
        | "PrimitiveBoolean" => {
            vec![inp.val("value").unwrap_or(Val::Other("None".into()))]
        }
        "StringConcatenate" => {
            let s = format!(
                "{}{}{}",
                inp.string("string_a", ""),
                inp.string("delimiter", ""),
                inp.string("string_b", "")
            );
            vec![Val::Str(s)]
        }
        class => {
            let types: Vec<String> = catalog
                .node(class)
                .map(|d| d.outputs.iter().map(|o| o.type_name.clone()).collect())
                .unwrap_or_default();
            types
                .iter()
                .map(|t| match t.as_str() {
                    "IMAGE" => inp.image(),
                    "MASK" => inp.mask(),
                    other => Val::Other(other.to_string()),
                })
                .collect()
        }
    }
}

/// A node failure while running (an exception in ComfyUI terms).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub exception_type: String,
    pub message: String,
    pub traceback: Vec<String>,
}

/// UTC civil date and time from the clock (ComfyUI uses local time; the fake has no zone data).
fn now_parts() -> [String; 6] {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    [
        year.to_string(),
        format!("{month:02}"),
        format!("{day:02}"),
        format!("{:02}", rem / 3600),
        format!("{:02}", rem % 3600 / 60),
        format!("{:02}", rem % 60),
    ]
}

/// `folder_paths.get_save_image_path`: expands `%width%`, `%height%`, `%year%`..., splits the
/// prefix into sub-folder and file name, refuses to leave the folder, and finds the counter.
fn save_path(
    st: &State,
    folder: Folder,
    prefix: &str,
    w: u32,
    h: u32,
) -> Result<(String, String, u64), Failure> {
    let mut prefix = prefix.to_string();
    if prefix.contains('%') {
        let [year, month, day, hour, minute, second] = now_parts();
        for (k, v) in [
            ("%width%", w.to_string()),
            ("%height%", h.to_string()),
            ("%year%", year),
            ("%month%", month),
            ("%day%", day),
            ("%hour%", hour),
            ("%minute%", minute),
            ("%second%", second),
        ] {
            prefix = prefix.replace(k, &v);
        }
    }
    let Some(norm) = normalize_rel(&prefix) else {
        return Err(Failure {
            exception_type: "Exception".into(),
            message: format!(
                "**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: {prefix}\n         output_dir: <COMFYUI_ROOT>/{}",
                folder.as_str()
            ),
            traceback: vec![
                "  File \"<COMFYUI_ROOT>/folder_paths.py\", line 438, in get_save_image_path\n    raise Exception(err)\n".into(),
            ],
        });
    };
    let (subfolder, filename) = split_path(&norm);
    let counter = st.files.next_counter(folder, &subfolder, &filename);
    Ok((subfolder, filename, counter))
}

fn file_ref(name: String, subfolder: &str, folder: Folder) -> Value {
    json!({"filename": name, "subfolder": subfolder, "type": folder.as_str()})
}

/// Writes one file per image of the batch (`SaveImage`, `PreviewImage`, audio saves).
fn save_each(
    st: &mut State,
    folder: Folder,
    prefix: &str,
    image: &Val,
    count: u32,
    ext: &str,
) -> Result<Vec<Value>, Failure> {
    let (w, h, _) = image.dims().unwrap_or((512, 512, 1));
    let rgb = match image {
        Val::Image { rgb, .. } => *rgb,
        _ => [255, 255, 255],
    };
    let (subfolder, filename, mut counter) = save_path(st, folder, prefix, w, h)?;
    let bytes = if ext == "png" { png(w, h, rgb) } else { placeholder(ext) };
    let mut refs = Vec::new();
    for batch_number in 0..count.clamp(1, 64) {
        let name =
            format!("{}_{counter:05}_.{ext}", filename.replace("%batch_num%", &batch_number.to_string()));
        st.files.put(FileKey { folder, subfolder: subfolder.clone(), filename: name.clone() }, bytes.clone());
        refs.push(file_ref(name, &subfolder, folder));
        counter += 1;
    }
    Ok(refs)
}

/// A `ComfyUI_temp_xxxxx` prefix, one random suffix per preview node id (kept across runs).
fn temp_prefix(st: &mut State, node_id: &str) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstupvxyz";
    let suffix = st
        .temp_suffixes
        .entry(node_id.to_string())
        .or_insert_with(|| (0..5).map(|_| LETTERS[rand::random_range(0..LETTERS.len())] as char).collect())
        .clone();
    format!("ComfyUI_temp_{suffix}")
}

/// Runs an output node: writes its files and returns its UI output dict (`None`: no UI output,
/// so no `executed` message).
pub(crate) fn run_output_node(
    st: &mut State,
    node_id: &str,
    inp: &Inputs<'_>,
) -> Result<Option<Value>, Failure> {
    let class = inp.node.class_type.as_str();
    let prefix = || inp.string("filename_prefix", "ComfyUI");
    let ui = match class {
        "SaveImage" => {
            let image = inp.image();
            let batch = image.dims().map_or(1, |d| d.2);
            json!({"images": save_each(st, Folder::Output, &prefix(), &image, batch, "png")?})
        }
        "PreviewImage" | "MaskPreview" => {
            let image = if class == "MaskPreview" { inp.mask() } else { inp.image() };
            let batch = image.dims().map_or(1, |d| d.2);
            let p = temp_prefix(st, node_id);
            json!({"images": save_each(st, Folder::Temp, &p, &image, batch, "png")?})
        }
        "SaveAnimatedWEBP" | "SaveAnimatedPNG" | "SaveWEBM" | "SaveVideo" => {
            let ext = match class {
                "SaveAnimatedWEBP" => "webp",
                "SaveAnimatedPNG" => "png",
                "SaveWEBM" => "webm",
                _ => "mp4",
            };
            let image = inp.image();
            json!({"images": save_each(st, Folder::Output, &prefix(), &image, 1, ext)?, "animated": [true]})
        }
        "SaveAudio" | "SaveAudioMP3" | "SaveAudioOpus" => {
            let ext = match class {
                "SaveAudioMP3" => "mp3",
                "SaveAudioOpus" => "opus",
                _ => "flac",
            };
            json!({"audio": save_each(st, Folder::Output, &prefix(), &Val::Other("AUDIO".into()), 1, ext)?})
        }
        "PreviewAudio" => {
            let p = temp_prefix(st, node_id);
            json!({"audio": save_each(st, Folder::Temp, &p, &Val::Other("AUDIO".into()), 1, "flac")?})
        }
        "SaveGLB" => {
            json!({"3d": save_each(st, Folder::Output, &prefix(), &Val::Other("MESH".into()), 1, "glb")?})
        }
        "SaveLatent" => {
            json!({"latents": save_each(st, Folder::Output, &prefix(), &Val::Other("LATENT".into()), 1, "latent")?})
        }
        "Preview3D" | "Preview3DAnimation" => {
            let model = inp.literal("model_file").cloned().unwrap_or(Value::Null);
            let camera = inp.literal("camera_info").cloned().unwrap_or(Value::Null);
            json!({"result": [model, camera]})
        }
        "PreviewAny" => {
            let text = inp.val("source").map_or_else(|| "None".to_string(), |v| v.preview_text());
            json!({"text": [text]})
        }
        // Sends its images over the socket only.
        "SaveImageWebsocket" => return Ok(None),
        // Any other output node echoes its literal inputs, each as a one-item list.
        _ => {
            let mut out = Map::new();
            for name in inp.node.inputs.keys() {
                if let Some(v) = inp.literal(name) {
                    out.insert(name.clone(), json!([v]));
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
    };
    Ok(Some(ui))
}
