//! Input files on RunComfy. The Serverless API has no upload endpoint: a file is placed
//! directly in the node input as a public URL or a Base64 data URI. So that tool results and
//! job records never carry megabytes, [`Backend::upload`](crate::backend::Backend::upload)
//! keeps the bytes here and answers a short reference (`runcomfy-input/<id>_<name>`); a
//! previous output is referenced by its hosted URL the same way. At submit every input whose
//! value is a reference is expanded (data URI or URL). References live as long as the backend
//! (an upload from an earlier run of the program must be made again: the error says so).

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::Value;

use crate::error::{Error, Result};

/// The folder part of every reference.
pub const REFERENCE_FOLDER: &str = "runcomfy-input";

/// What a reference stands for.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Bytes sent inline as a data URI.
    Inline {
        /// MIME type.
        mime: &'static str,
        /// The file.
        data: Bytes,
    },
    /// A URL sent as is (a hosted output, a public file).
    Url(String),
}

/// The references made by one backend.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    refs: Mutex<HashMap<String, Source>>,
}

impl Inputs {
    /// Records a source; answers the short name (`<id>_<filename>`).
    pub(crate) fn add(&self, filename: &str, source: Source) -> String {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let name = format!("{id}_{filename}");
        let key = format!("{REFERENCE_FOLDER}/{name}");
        self.refs.lock().unwrap_or_else(|e| e.into_inner()).insert(key, source);
        name
    }

    fn get(&self, key: &str) -> Option<Source> {
        self.refs.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    /// Expands every reference among the literal inputs of an API-format workflow (as JSON).
    pub(crate) fn expand(&self, workflow: &mut Value) -> Result<()> {
        let Some(nodes) = workflow.as_object_mut() else { return Ok(()) };
        for (node_id, node) in nodes.iter_mut() {
            let Some(inputs) = node.get_mut("inputs").and_then(Value::as_object_mut) else { continue };
            for (name, value) in inputs.iter_mut() {
                let Some(text) = value.as_str() else { continue };
                let key = text.trim_end_matches(" [input]");
                if !key.starts_with(&format!("{REFERENCE_FOLDER}/")) {
                    continue;
                }
                let source = self.get(key).ok_or_else(|| Error::InvalidArgument {
                    argument: format!("node {node_id} input {name}"),
                    message: format!(
                        "{text:?} is an input reference this server does not hold (made before a restart?): \
                         upload the file again, or give a public URL"
                    ),
                })?;
                *value = Value::String(match source {
                    Source::Url(url) => url,
                    Source::Inline { mime, data } => data_uri(mime, &data),
                });
            }
        }
        Ok(())
    }
}

/// `data:<mime>;base64,<data>`.
pub fn data_uri(mime: &str, data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4 + mime.len() + 13);
    out.push_str("data:");
    out.push_str(mime);
    out.push_str(";base64,");
    base64_into(data, &mut out);
    out
}

/// Standard Base64 with padding.
fn base64_into(data: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { ALPHABET[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { ALPHABET[n as usize & 63] as char } else { '=' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(data_uri("text/plain", b"Man"), "data:text/plain;base64,TWFu");
        assert_eq!(data_uri("x/y", b"Ma"), "data:x/y;base64,TWE=");
        assert_eq!(data_uri("x/y", b"M"), "data:x/y;base64,TQ==");
        assert_eq!(data_uri("x/y", b""), "data:x/y;base64,");
    }

    #[test]
    fn references_expand_and_unknown_ones_are_refused() {
        let inputs = Inputs::default();
        let a = inputs.add("a.png", Source::Inline { mime: "image/png", data: Bytes::from_static(b"Man") });
        let b = inputs.add("b.png", Source::Url("https://cdn.example/b.png".into()));
        assert!(a.len() < 30 && a.ends_with("_a.png"), "{a}");
        let mut wf = json!({
            "1": {"class_type": "LoadImage", "inputs": {"image": format!("{REFERENCE_FOLDER}/{a}")}},
            "2": {"class_type": "LoadImage", "inputs": {"image": format!("{REFERENCE_FOLDER}/{b} [input]")}},
            "3": {"class_type": "X", "inputs": {"text": "plain", "n": 3}}
        });
        inputs.expand(&mut wf).unwrap();
        assert_eq!(wf["1"]["inputs"]["image"], "data:image/png;base64,TWFu");
        assert_eq!(wf["2"]["inputs"]["image"], "https://cdn.example/b.png");
        assert_eq!(wf["3"]["inputs"]["text"], "plain");
        let mut stale = json!({"1": {"inputs": {"image": format!("{REFERENCE_FOLDER}/gone_x.png")}}});
        let e = inputs.expand(&mut stale).unwrap_err();
        assert!(e.to_string().contains("upload the file again"), "{e}");
    }
}
