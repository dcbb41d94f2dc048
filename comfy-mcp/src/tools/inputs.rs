//! upload_file: send an input file (image or mask) to ComfyUI, from base64 bytes or from a file
//! inside the configured upload directories.

use base64::Engine;
use bytes::Bytes;
use comfy_core::backend::{Upload, UploadKind};
use comfy_core::job::{FileRef, FolderType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::shared::{InputView, too_large, upload_error};
use super::{CallCtx, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::write(
            "upload_file",
            "Upload file",
            "Upload an input image or mask; returns its input_name.",
        ),
        upload_file,
    );
}

/// What is uploaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadKindArg {
    /// An image (or other input file) for LoadImage-style nodes.
    #[default]
    Image,
    /// A mask whose alpha is applied to the image named by `original`.
    Mask,
}

/// Arguments of upload_file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadArgs {
    /// Stored file name.
    #[schemars(length(min = 1, max = 200))]
    pub filename: String,
    /// Base64 or a data URI.
    #[serde(default)]
    pub data: Option<String>,
    /// Or a file in the server's upload dirs.
    #[serde(default)]
    #[schemars(length(min = 1, max = 4096))]
    pub path: Option<String>,
    /// In the input folder.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub subfolder: Option<String>,
    /// Replace a file of the same name (default false: ComfyUI picks a free name).
    #[serde(default)]
    pub overwrite: bool,
    /// `image` or `mask`.
    #[serde(default)]
    pub kind: UploadKindArg,
    /// For a mask: its image's input_name.
    #[serde(default)]
    #[schemars(length(min = 1, max = 400))]
    pub original: Option<String>,
}

/// Decodes base64 or a base64 data URI.
pub fn decode_data(data: &str) -> Result<Vec<u8>, ToolError> {
    let payload = match data.strip_prefix("data:") {
        Some(rest) => match rest.split_once(',') {
            Some((meta, payload)) if meta.ends_with(";base64") => payload,
            _ => {
                return Err(ToolError::invalid(
                    "data",
                    "a data URI must be base64: data:<mime>;base64,<data>",
                ));
            }
        },
        None => data,
    };
    let clean: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean.as_bytes()).map_err(|e| {
        ToolError::invalid("data", format!("not valid base64: {e}")).with_expected("base64 or a data URI")
    })
}

/// Parses an input name (`sub/name.png`, optionally ` [input]`) into a file reference.
fn input_ref(name: &str) -> Result<FileRef, ToolError> {
    let (path, folder) = match name.rsplit_once(" [") {
        Some((p, f)) => {
            let f = f.strip_suffix(']').and_then(FolderType::parse).ok_or_else(|| {
                ToolError::invalid("original", "the folder suffix must be [input], [output] or [temp]")
            })?;
            (p, f)
        }
        None => (name, FolderType::Input),
    };
    let (subfolder, filename) = path.rsplit_once('/').unwrap_or(("", path));
    comfy_core::paths::check_file_name(filename, "original")?;
    Ok(FileRef { filename: filename.to_owned(), subfolder: subfolder.to_owned(), folder })
}

async fn read_allowed(ctx: &CallCtx, path: String, limit: u64) -> Result<Vec<u8>, ToolError> {
    let dirs = ctx.state.settings.upload_dirs.clone();
    let file = tokio::task::spawn_blocking(move || comfy_core::paths::allowed_file(&dirs, &path, "path"))
        .await
        .map_err(|e| ToolError::new("internal_error", e.to_string()))??;
    let size = tokio::fs::metadata(&file)
        .await
        .map_err(|e| comfy_core::Error::Io { action: "reading", path: file.clone(), source: e })?
        .len();
    if size > limit {
        return Err(too_large("path", size, limit));
    }
    Ok(tokio::fs::read(&file).await.map_err(|e| comfy_core::Error::Io {
        action: "reading",
        path: file,
        source: e,
    })?)
}

async fn upload_file(ctx: CallCtx, args: UploadArgs) -> ToolResult<InputView> {
    comfy_core::paths::check_file_name(&args.filename, "filename")?;
    let limit = ctx.state.settings.limits.max_upload_bytes;
    let (bytes, field) = match (args.data, args.path) {
        (Some(_), Some(_)) => return Err(ToolError::invalid("path", "give either data or path, not both")),
        (None, None) => return Err(ToolError::invalid("data", "give the bytes in data (base64) or a path")),
        (Some(data), None) => {
            // 4 base64 characters carry 3 bytes: refuse before decoding what cannot fit.
            if (data.len() as u64 / 4).saturating_mul(3) > limit.saturating_add(3) {
                return Err(too_large("data", data.len() as u64 / 4 * 3, limit));
            }
            (decode_data(&data)?, "data")
        }
        (None, Some(path)) => (read_allowed(&ctx, path, limit).await?, "path"),
    };
    if bytes.is_empty() {
        return Err(ToolError::invalid(field, "the file is empty (0 bytes)"));
    }
    if bytes.len() as u64 > limit {
        return Err(too_large(field, bytes.len() as u64, limit));
    }
    let size = bytes.len() as u64;
    let mut upload = Upload::file(args.filename, Bytes::from(bytes));
    upload.subfolder = args.subfolder.unwrap_or_default();
    upload.overwrite = args.overwrite;
    if args.kind == UploadKindArg::Mask {
        let original = args.original.as_deref().ok_or_else(|| {
            ToolError::invalid("original", "a mask needs the input name of its image in original")
        })?;
        upload.kind = UploadKind::Mask { original: input_ref(original)? };
    }
    let uploaded = ctx.state.comfy.upload(upload).await.map_err(|e| upload_error(e, "subfolder"))?;
    Ok(InputView::uploaded(uploaded, size).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_and_plain_base64_decode() {
        assert_eq!(decode_data("aGk=").unwrap(), b"hi");
        assert_eq!(decode_data("data:image/png;base64,aG\nk=").unwrap(), b"hi");
        assert_eq!(decode_data("data:text/plain,hi").unwrap_err().field.as_deref(), Some("data"));
        assert_eq!(decode_data("***").unwrap_err().code, "invalid_argument");
    }

    #[test]
    fn input_names_parse() {
        let r = input_ref("sub/a.png").unwrap();
        assert_eq!(
            (r.subfolder.as_str(), r.filename.as_str(), r.folder),
            ("sub", "a.png", FolderType::Input)
        );
        assert_eq!(input_ref("a.png [output]").unwrap().folder, FolderType::Output);
        assert!(input_ref("a.png [nowhere]").is_err());
        assert!(input_ref("sub/..").is_err());
    }
}
