//! Outputs of a job: every file, text and value every node produced.
//!
//! ComfyUI reports them per node as a "UI output dict" (`executed.output` on the socket,
//! `outputs[node]` in `/history`): `images` (also videos and animated images, flagged by
//! `animated`), `audio`, `3d`, `text`, `result` (Preview3D), and any key custom nodes invent
//! (`gifs`, ...). Every item of every key is kept, in order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which ComfyUI folder a file lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum FolderType {
    /// `output/`: saved results.
    Output,
    /// `temp/`: previews, wiped on restart.
    Temp,
    /// `input/`: uploads.
    Input,
}

impl FolderType {
    /// The value ComfyUI uses in `type=`.
    pub fn as_str(self) -> &'static str {
        match self {
            FolderType::Output => "output",
            FolderType::Temp => "temp",
            FolderType::Input => "input",
        }
    }

    /// Parses ComfyUI's `type` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "output" => Some(FolderType::Output),
            "temp" => Some(FolderType::Temp),
            "input" => Some(FolderType::Input),
            _ => None,
        }
    }
}

/// A file on the backend, addressed the way `/view` wants it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FileRef {
    /// File name.
    pub filename: String,
    /// Sub-folder ("" for none).
    #[serde(default)]
    pub subfolder: String,
    /// Folder.
    #[serde(rename = "type")]
    pub folder: FolderType,
}

/// What kind of media an output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// Still image.
    Image,
    /// Video or animated image.
    Video,
    /// Audio.
    Audio,
    /// 3D model.
    Model3d,
    /// Text.
    Text,
    /// Anything else.
    Other,
}

impl MediaKind {
    /// Guesses from a file name's extension.
    pub fn from_filename(name: &str) -> MediaKind {
        let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "png" | "jpg" | "jpeg" | "bmp" | "tif" | "tiff" => MediaKind::Image,
            "webp" | "gif" | "apng" => MediaKind::Image,
            "mp4" | "webm" | "mov" | "mkv" | "avi" => MediaKind::Video,
            "flac" | "mp3" | "opus" | "ogg" | "wav" | "m4a" => MediaKind::Audio,
            "glb" | "gltf" | "obj" | "fbx" | "stl" | "ply" => MediaKind::Model3d,
            "txt" | "json" => MediaKind::Text,
            _ => MediaKind::Other,
        }
    }

    /// The MIME type for a file name (by extension).
    pub fn mime_for(name: &str) -> &'static str {
        let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "webp" => "image/webp",
            "gif" => "image/gif",
            "bmp" => "image/bmp",
            "tif" | "tiff" => "image/tiff",
            "apng" => "image/apng",
            "mp4" => "video/mp4",
            "webm" => "video/webm",
            "mov" => "video/quicktime",
            "mkv" => "video/x-matroska",
            "flac" => "audio/flac",
            "mp3" => "audio/mpeg",
            "opus" => "audio/opus",
            "ogg" => "audio/ogg",
            "wav" => "audio/wav",
            "m4a" => "audio/mp4",
            "glb" => "model/gltf-binary",
            "gltf" => "model/gltf+json",
            "obj" => "model/obj",
            "stl" => "model/stl",
            "txt" => "text/plain",
            "json" => "application/json",
            _ => "application/octet-stream",
        }
    }
}

/// One item a node produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutputItem {
    /// A file on the backend.
    File {
        /// Where it is.
        file: FileRef,
        /// What it is.
        media: MediaKind,
        /// Reported under `animated: [true]` (videos and animated images).
        #[serde(default)]
        animated: bool,
    },
    /// A file at a URL (hosted backends).
    Url {
        /// The URL.
        url: String,
        /// File name, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        /// What it is.
        media: MediaKind,
        /// When the URL stops working (milliseconds since the Unix epoch), when the backend
        /// said or the URL carries it: the asset expires with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
    },
    /// Text (PreviewAny, text previews).
    Text {
        /// The text.
        text: String,
    },
    /// Any other value, kept as sent (e.g. Preview3D's `result`, custom keys).
    Value {
        /// The value.
        value: Value,
    },
}

/// One output of a job: which node, under which key, at which position, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutput {
    /// The node that produced it.
    pub node_id: String,
    /// The UI-output key (`images`, `audio`, `3d`, `text`, `gifs`, ...).
    pub key: String,
    /// Position under that key.
    pub index: u32,
    /// The item.
    pub item: OutputItem,
}

impl JobOutput {
    /// The file, if this output is one.
    pub fn file(&self) -> Option<&FileRef> {
        match &self.item {
            OutputItem::File { file, .. } => Some(file),
            _ => None,
        }
    }
}

/// Parses one node's UI output dict, keeping every item of every key.
pub fn parse_node_output(node_id: &str, output: &Value) -> Vec<JobOutput> {
    let Some(map) = output.as_object() else {
        return Vec::new();
    };
    let animated = map
        .get("animated")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_bool() == Some(true)));
    let mut out = Vec::new();
    for (key, value) in map {
        if key == "animated" {
            continue;
        }
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for (i, item) in items.into_iter().enumerate() {
            let parsed = parse_item(key, item, animated);
            out.push(JobOutput {
                node_id: node_id.to_owned(),
                key: key.clone(),
                index: i as u32,
                item: parsed,
            });
        }
    }
    out
}

fn parse_item(key: &str, item: &Value, animated: bool) -> OutputItem {
    if let Some(file) = as_file_ref(item) {
        let mut media = MediaKind::from_filename(&file.filename);
        if key == "audio" {
            media = MediaKind::Audio;
        } else if key == "3d" {
            media = MediaKind::Model3d;
        } else if animated && media == MediaKind::Image && !file.filename.ends_with(".png") {
            media = MediaKind::Video;
        }
        return OutputItem::File { file, media, animated };
    }
    match (key, item) {
        ("text", Value::String(s)) => OutputItem::Text { text: s.clone() },
        _ => OutputItem::Value { value: item.clone() },
    }
}

fn as_file_ref(item: &Value) -> Option<FileRef> {
    let obj = item.as_object()?;
    let filename = obj.get("filename")?.as_str()?.to_owned();
    let folder = FolderType::parse(obj.get("type").and_then(Value::as_str).unwrap_or("output"))?;
    let subfolder = obj.get("subfolder").and_then(Value::as_str).unwrap_or("").to_owned();
    Some(FileRef { filename, subfolder, folder })
}

/// Parses the `outputs` object of a `/history` entry (node id → UI output dict).
pub fn parse_history_outputs(outputs: &Value) -> Vec<JobOutput> {
    outputs
        .as_object()
        .map(|m| m.iter().flat_map(|(node, o)| parse_node_output(node, o)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../shared/fixtures/comfyui/http/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn first_entry(v: &Value) -> &Value {
        v.as_object().unwrap().values().next().unwrap()
    }

    #[test]
    fn images_batches_and_several_save_nodes_are_all_kept() {
        let out = parse_node_output(
            "9",
            &json!({"images": [
                {"filename": "a_00001_.png", "subfolder": "", "type": "output"},
                {"filename": "a_00002_.png", "subfolder": "x", "type": "output"}]}),
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].index, 1);
        assert_eq!(out[1].file().unwrap().subfolder, "x");
    }

    #[test]
    fn every_kind_in_the_fixtures_is_parsed() {
        let audio = parse_history_outputs(&first_entry(&fixture("history_outputs_audio.json"))["outputs"]);
        assert!(!audio.is_empty());
        assert!(audio.iter().all(|o| matches!(o.item, OutputItem::File { media: MediaKind::Audio, .. })));

        let video = parse_history_outputs(
            &first_entry(&fixture("history_outputs_video_and_animated.json"))["outputs"],
        );
        assert!(
            video
                .iter()
                .any(|o| matches!(o.item, OutputItem::File { media: MediaKind::Video, animated: true, .. }))
        );

        let mixed = parse_history_outputs(
            &first_entry(&fixture("history_outputs_mask_3d_text_loadimage.json"))["outputs"],
        );
        assert!(mixed.iter().any(|o| matches!(o.item, OutputItem::Text { .. })), "{mixed:#?}");
        assert!(mixed.iter().any(|o| o.key == "result"), "{mixed:#?}");
        assert!(mixed.iter().any(|o| o.file().is_some()));
    }

    #[test]
    fn mime_and_media_from_names() {
        assert_eq!(MediaKind::mime_for("x.PNG"), "image/png");
        assert_eq!(MediaKind::from_filename("clip.webm"), MediaKind::Video);
        assert_eq!(MediaKind::from_filename("song.flac"), MediaKind::Audio);
        assert_eq!(MediaKind::mime_for("noext"), "application/octet-stream");
    }

    #[test]
    fn odd_shapes_are_kept_not_dropped() {
        let out = parse_node_output(
            "1",
            &json!({"gifs": [{"filename": "a.gif", "type": "output", "subfolder": ""}], "weird": 5}),
        );
        assert_eq!(out.len(), 2);
        assert!(matches!(out[1].item, OutputItem::Value { .. }));
        assert!(parse_node_output("1", &json!(null)).is_empty());
    }
}
