//! `POST /upload/image`, `POST /upload/mask` and `GET /view` (`server.py` `image_upload`,
//! `upload_mask`, `view_image`).

use std::sync::Arc;

use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::files::{FileKey, Folder, annotated, content_type, encode, normalize_rel, split_path};
use crate::router::{QueryMap, empty, json_ok, server_error};
use crate::scripting::UploadRecord;
use crate::state::Shared;

/// The multipart fields ComfyUI reads.
#[derive(Default)]
struct Form {
    image: Option<(String, Vec<u8>)>,
    image_is_text: bool,
    overwrite: Option<String>,
    kind: Option<String>,
    subfolder: Option<String>,
    original_ref: Option<String>,
}

async fn read_form(mut mp: Multipart) -> Result<Form, Response> {
    let mut form = Form::default();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err(empty(StatusCode::BAD_REQUEST)),
        };
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_owned);
        let Ok(bytes) = field.bytes().await else { return Err(empty(StatusCode::BAD_REQUEST)) };
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "image" => match file_name {
                Some(f) => form.image = Some((f, bytes.to_vec())),
                None => form.image_is_text = true,
            },
            "overwrite" => form.overwrite = Some(text()),
            "type" => form.kind = Some(text()),
            "subfolder" => form.subfolder = Some(text()),
            "original_ref" => form.original_ref = Some(text()),
            _ => {}
        }
    }
    Ok(form)
}

/// `os.path.splitext` of a file name: the extension starts at the last dot that is not leading.
fn splitext(name: &str) -> (&str, &str) {
    let base_start = name.rfind('/').map_or(0, |i| i + 1);
    match name[base_start..].rfind('.') {
        Some(dot) if name[base_start..][..dot].chars().any(|c| c != '.') => name.split_at(base_start + dot),
        _ => (name, ""),
    }
}

fn key_for(folder: Folder, subfolder: &str, filename: &str) -> Option<FileKey> {
    let joined = if subfolder.is_empty() { filename.to_string() } else { format!("{subfolder}/{filename}") };
    let full = normalize_rel(&joined)?;
    let (subfolder, filename) = split_path(&full);
    Some(FileKey { folder, subfolder, filename })
}

/// `POST /upload/image`.
pub(crate) async fn upload_image(State(shared): State<Arc<Shared>>, mp: Multipart) -> Response {
    match read_form(mp).await {
        Ok(form) => store_upload(&shared, form, false),
        Err(r) => r,
    }
}

/// `POST /upload/mask`: the original's pixels with the uploaded image's alpha channel.
pub(crate) async fn upload_mask(State(shared): State<Arc<Shared>>, mp: Multipart) -> Response {
    match read_form(mp).await {
        Ok(form) => store_upload(&shared, form, true),
        Err(r) => r,
    }
}

/// `image_upload`: `name (1).ext` renaming, same-bytes duplicates kept, 0-byte files accepted
/// (ComfyUI does not look at the content).
fn store_upload(shared: &Shared, form: Form, mask: bool) -> Response {
    let folder = match form.kind.as_deref() {
        None => Folder::Input,
        // Any other type hits an UnboundLocalError in get_dir_by_type.
        Some(t) => match Folder::parse(t) {
            Some(f) => f,
            None => return server_error(),
        },
    };
    if form.image_is_text && form.image.is_none() {
        return server_error();
    }
    let Some((filename, bytes)) = form.image else { return empty(StatusCode::BAD_REQUEST) };
    if filename.is_empty() {
        return empty(StatusCode::BAD_REQUEST);
    }
    let subfolder = form.subfolder.unwrap_or_default();
    let Some(sub) = normalize_rel(&subfolder) else { return empty(StatusCode::BAD_REQUEST) };
    let Some(mut key) = key_for(folder, &sub, &filename) else { return empty(StatusCode::BAD_REQUEST) };
    let overwrite = matches!(form.overwrite.as_deref(), Some("true") | Some("1"));

    let mut st = shared.lock();
    let mut name = filename.clone();
    let mut duplicate = false;
    if !overwrite {
        let (stem, ext) = splitext(&filename);
        let mut i = 1;
        while let Some(existing) = st.files.get(&key) {
            if *existing == bytes {
                duplicate = true;
                break;
            }
            name = format!("{stem} ({i}){ext}");
            let Some(next) = key_for(folder, &sub, &name) else { return empty(StatusCode::BAD_REQUEST) };
            key = next;
            i += 1;
        }
    }
    if !duplicate {
        let content = if mask {
            match masked(&st.files, form.original_ref.as_deref(), &bytes) {
                Ok(Some(png)) => Some(png),
                // Nothing written, but ComfyUI still answers 200 with a name.
                Ok(None) => None,
                Err(()) => return server_error(),
            }
        } else {
            Some(bytes.clone())
        };
        if let Some(content) = content {
            st.files.put(key, content);
            if folder == Folder::Input {
                st.input_generation += 1;
            }
        }
    }
    st.uploads.push(UploadRecord {
        route: if mask { "mask" } else { "image" },
        name: name.clone(),
        subfolder: subfolder.clone(),
        folder: folder.as_str(),
        size: bytes.len(),
        duplicate,
    });
    json_ok(&json!({"name": name, "subfolder": subfolder, "type": folder.as_str()}))
}

/// The mask's save function: `Ok(None)` when ComfyUI would silently write nothing, `Err` where
/// it would raise (500).
fn masked(
    files: &crate::files::FileStore,
    original_ref: Option<&str>,
    mask: &[u8],
) -> Result<Option<Vec<u8>>, ()> {
    let original_ref: Value = serde_json::from_str(original_ref.ok_or(())?).map_err(|_| ())?;
    let filename = original_ref.get("filename").and_then(Value::as_str).ok_or(())?;
    let (filename, ann) = annotated(filename);
    if filename.is_empty() || filename.starts_with('/') || filename.contains("..") {
        return Ok(None);
    }
    let folder = match ann {
        Some(f) => f,
        None => match Folder::parse(original_ref.get("type").and_then(Value::as_str).unwrap_or("output")) {
            Some(f) => f,
            None => return Ok(None),
        },
    };
    let sub = original_ref.get("subfolder").and_then(Value::as_str).unwrap_or("");
    let Some(key) = key_for(folder, sub, filename) else { return Ok(None) };
    let Some(original) = files.get(&key) else { return Ok(None) };
    let mut original = image::load_from_memory(original).map_err(|_| ())?.to_rgba8();
    let mask = image::load_from_memory(mask).map_err(|_| ())?.to_rgba8();
    if mask.dimensions() != original.dimensions() {
        return Err(());
    }
    for (o, m) in original.pixels_mut().zip(mask.pixels()) {
        o.0[3] = m.0[3];
    }
    Ok(Some(encode(&image::DynamicImage::ImageRgba8(original))))
}

/// `GET /view?filename=&subfolder=&type=&channel=`.
pub(crate) async fn view(State(shared): State<Arc<Shared>>, query: QueryMap) -> Response {
    let Some(filename) = query.get("filename") else { return empty(StatusCode::NOT_FOUND) };
    let (filename, ann) = annotated(filename);
    if filename.is_empty() || filename.starts_with('/') || filename.contains("..") {
        return empty(StatusCode::BAD_REQUEST);
    }
    let folder = match ann {
        Some(f) => f,
        None => match Folder::parse(query.get("type").map_or("output", String::as_str)) {
            Some(f) => f,
            None => return empty(StatusCode::BAD_REQUEST),
        },
    };
    let subfolder = match query.get("subfolder") {
        Some(s) => match normalize_rel(s) {
            Some(s) => s,
            None => return empty(StatusCode::FORBIDDEN),
        },
        None => String::new(),
    };
    let basename = filename.rsplit('/').next().unwrap_or(filename).to_string();
    let key = FileKey { folder, subfolder, filename: basename.clone() };
    let Some(bytes) = shared.lock().files.get(&key).cloned() else { return empty(StatusCode::NOT_FOUND) };
    let disposition = format!("filename=\"{basename}\"");
    let (bytes, ctype) = match query.get("channel").map(String::as_str) {
        Some("rgb") => {
            let Ok(img) = image::load_from_memory(&bytes) else { return server_error() };
            (encode(&image::DynamicImage::ImageRgb8(img.to_rgb8())), "image/png")
        }
        Some("a") => {
            let Ok(img) = image::load_from_memory(&bytes) else { return server_error() };
            let has_alpha = img.color().has_alpha();
            let rgba = img.to_rgba8();
            let alpha = image::RgbaImage::from_fn(rgba.width(), rgba.height(), |x, y| {
                image::Rgba([0, 0, 0, if has_alpha { rgba.get_pixel(x, y).0[3] } else { 255 }])
            });
            (encode(&image::DynamicImage::ImageRgba8(alpha)), "image/png")
        }
        _ => (bytes, content_type(&basename)),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, ctype.to_string()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::splitext;

    #[test]
    fn splitext_like_python() {
        assert_eq!(splitext("a.png"), ("a", ".png"));
        assert_eq!(splitext("a.tar.gz"), ("a.tar", ".gz"));
        assert_eq!(splitext(".hidden"), (".hidden", ""));
        assert_eq!(splitext("noext"), ("noext", ""));
        assert_eq!(splitext("dir.x/file"), ("dir.x/file", ""));
    }
}
