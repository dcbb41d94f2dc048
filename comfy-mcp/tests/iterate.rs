//! The iteration, input, publish and defaults tools through an in-process rmcp client against
//! comfy-fake: regenerate, view_image, upload_file, use_previous_output, publish_asset,
//! get_publish_info, get_defaults, set_defaults — happy paths and bad input.

mod common;

use std::path::Path;

use base64::Engine;
use comfy_core::job::{FileRef, FolderType, JobId, MediaKind};
use comfy_core::store::{Asset, AssetId, Provenance};
use common::{Harness, image_workflow, start, start_with};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

fn noise_png(w: u32, h: u32) -> Vec<u8> {
    let mut x = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let b = x.to_le_bytes();
        image::Rgb([b[0], b[1], b[2]])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// Runs EmptyImage(w×h) → SaveImage and returns the job's structured result and first asset id.
async fn make_image(h: &Harness, w: u32, hgt: u32) -> (Value, String) {
    let mut wf = image_workflow("iter");
    wf["1"]["inputs"]["width"] = json!(w);
    wf["1"]["inputs"]["height"] = json!(hgt);
    let s = h.ok("submit_workflow", json!({"workflow": wf, "wait": true})).await;
    assert_eq!(s["status"], "succeeded", "{s}");
    let id = s["outputs"][0]["asset_id"].as_str().unwrap().to_owned();
    (s, id)
}

/// Records an asset directly in the store (for shapes a real job cannot produce here).
async fn insert_asset(h: &Harness, id: &str, file: Option<FileRef>, media: MediaKind, prov: Provenance) {
    let asset = Asset {
        id: AssetId(id.into()),
        job_id: JobId(format!("job-{id}")),
        backend: "test".into(),
        node_id: "9".into(),
        key: "images".into(),
        index: 0,
        provenance: prov,
        workflow_hash: String::new(),
        text: if file.is_none() { Some("hello".into()) } else { None },
        file,
        url: None,
        media,
        mime_type: if media == MediaKind::Image { "image/png".into() } else { "text/plain".into() },
        byte_size: None,
        width: None,
        height: None,
        sha256: None,
        created_at: 1,
        expires_at: None,
    };
    h.state.comfy.store().put_assets(&[asset]).await.unwrap();
}

fn image_block(r: &rmcp::model::CallToolResult) -> (String, String) {
    let img = r.content.iter().find_map(|c| c.as_image()).expect("an image content block");
    (img.data.clone(), img.mime_type.clone())
}

#[tokio::test]
async fn view_image_returns_a_bounded_preview() {
    let h = start().await;
    let (_, small) = make_image(&h, 40, 24).await;
    let r = h.call("view_image", json!({"asset_id": small})).await;
    assert_ne!(r.is_error, Some(true), "{:?}", r.structured_content);
    let s = r.structured_content.clone().unwrap();
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(40), Some(24)), "never enlarged: {s}");
    let (data, mime) = image_block(&r);
    assert_eq!(mime, "image/jpeg");
    assert_eq!(data.len() as u64, s["base64_chars"].as_u64().unwrap());
    let bytes = base64::engine::general_purpose::STANDARD.decode(&data).unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (40, 24));

    let (_, big) = make_image(&h, 1600, 1000).await;
    let r = h.call("view_image", json!({"asset_id": big, "max_dim": 256})).await;
    let s = r.structured_content.clone().unwrap();
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(256), Some(160)), "{s}");
    assert_eq!((s["original_width"].as_u64(), s["original_height"].as_u64()), (Some(1600), Some(1000)));
    let r = h.call("view_image", json!({"asset_id": big})).await;
    let (data, _) = image_block(&r);
    assert!(data.len() <= 100_000);
    assert_eq!(r.structured_content.unwrap()["width"], 512, "default 512");

    // Bad input.
    let e = h.err("view_image", json!({"asset_id": "a_000000000000000000000000"})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("asset_not_found"), Some("asset_id")));
    let e = h.err("view_image", json!({"asset_id": small, "max_dim": 5000})).await;
    assert_eq!(e["code"], "invalid_argument");
    let e = h.err("view_image", json!({"asset_id": 42})).await;
    assert_eq!(e["code"], "invalid_argument");
    insert_asset(&h, "a_text", None, MediaKind::Text, Provenance::default()).await;
    let e = h.err("view_image", json!({"asset_id": "a_text"})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("invalid_argument"), Some("asset_id")));
    assert!(e["message"].as_str().unwrap().contains("not an image"), "{e}");
    // Bytes that are not an image, served by ComfyUI as one.
    let up = h
        .ok("upload_file", json!({"filename": "broken.png", "data": b64(b"this is not a png at all")}))
        .await;
    let file = FileRef {
        filename: up["name"].as_str().unwrap().into(),
        subfolder: String::new(),
        folder: FolderType::Input,
    };
    insert_asset(&h, "a_broken", Some(file), MediaKind::Image, Provenance::default()).await;
    let e = h.err("view_image", json!({"asset_id": "a_broken"})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("invalid_image"), Some("asset_id")), "{e}");
}

#[tokio::test]
async fn upload_file_from_data_or_allowed_paths_with_limits() {
    let uploads = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let dir = uploads.path().to_path_buf();
    let h = start_with(|s| {
        s.upload_dirs = vec![dir.clone()];
        s.limits.max_upload_bytes = 4000;
    })
    .await;
    let image = png(8, 8);
    let s = h.ok("upload_file", json!({"filename": "a.png", "data": b64(&image)})).await;
    assert_eq!((s["input_name"].as_str(), s["type"].as_str()), (Some("a.png"), Some("input")), "{s}");
    assert_eq!(s["byte_size"].as_u64(), Some(image.len() as u64));
    let uri = format!("data:image/png;base64,{}", b64(&image));
    let s = h
        .ok("upload_file", json!({"filename": "b.png", "data": uri, "subfolder": "refs", "overwrite": true}))
        .await;
    assert_eq!(s["input_name"], "refs/b.png");
    // A file inside the upload dir, by relative and absolute path.
    std::fs::write(uploads.path().join("c.png"), &image).unwrap();
    let s = h.ok("upload_file", json!({"filename": "c.png", "path": "c.png"})).await;
    assert_eq!(s["input_name"], "c.png");
    let abs = uploads.path().join("c.png");
    h.ok("upload_file", json!({"filename": "c2.png", "path": abs.to_str().unwrap()})).await;
    // A mask for it.
    let s = h
        .ok(
            "upload_file",
            json!({"filename": "m.png", "data": b64(&image), "kind": "mask", "original": "c.png"}),
        )
        .await;
    assert!(s["input_name"].as_str().unwrap().ends_with(".png"), "{s}");

    // Bad input.
    let e = h.err("upload_file", json!({"filename": "e.png", "data": ""})).await;
    assert_eq!((e["field"].as_str(), e["code"].as_str()), (Some("data"), Some("invalid_argument")));
    assert!(e["message"].as_str().unwrap().contains("0 bytes"), "{e}");
    std::fs::write(uploads.path().join("empty.png"), b"").unwrap();
    let e = h.err("upload_file", json!({"filename": "e.png", "path": "empty.png"})).await;
    assert_eq!(e["field"], "path");
    let e = h.err("upload_file", json!({"filename": "big.png", "data": b64(&vec![7u8; 5000])})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("too_large"), Some("data")), "{e}");
    std::fs::write(uploads.path().join("big.png"), vec![1u8; 5000]).unwrap();
    let e = h.err("upload_file", json!({"filename": "big.png", "path": "big.png"})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("too_large"), Some("path")));
    let e = h.err("upload_file", json!({"filename": "x.png", "path": "../x.png"})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("path_not_allowed"), Some("path")));
    std::fs::write(outside.path().join("secret.png"), &image).unwrap();
    let e = h
        .err(
            "upload_file",
            json!({"filename": "x.png", "path": outside.path().join("secret.png").to_str().unwrap()}),
        )
        .await;
    assert_eq!(e["code"], "path_not_allowed");
    assert!(
        !e["message"].as_str().unwrap().contains(outside.path().to_str().unwrap()),
        "no server path: {e}"
    );
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path().join("secret.png"), uploads.path().join("link.png"))
            .unwrap();
        let e = h.err("upload_file", json!({"filename": "x.png", "path": "link.png"})).await;
        assert_eq!(e["code"], "path_not_allowed", "a symlink out of the upload dir");
    }
    let e = h.err("upload_file", json!({"filename": "../x.png", "data": b64(&image)})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("path_not_allowed"), Some("filename")));
    let e = h.err("upload_file", json!({"filename": "x.png", "data": "%%% not base64"})).await;
    assert_eq!(e["field"], "data");
    let e = h.err("upload_file", json!({"filename": "x.png"})).await;
    assert_eq!(e["field"], "data");
    let e = h.err("upload_file", json!({"filename": "x.png", "data": b64(&image), "path": "c.png"})).await;
    assert_eq!(e["code"], "invalid_argument");
    let e = h.err("upload_file", json!({"filename": "x.png", "data": b64(&image), "kind": "mask"})).await;
    assert_eq!(e["field"], "original");
    let e = h.err("upload_file", json!({"filename": "x.png", "data": b64(&image), "kind": "video"})).await;
    assert_eq!(e["code"], "invalid_argument");
    let e = h.err("upload_file", json!({"filename": 3, "data": "aGk="})).await;
    assert_eq!(e["code"], "invalid_argument");

    // Without upload dirs, paths are refused.
    let h2 = start().await;
    let e = h2.err("upload_file", json!({"filename": "c.png", "path": abs.to_str().unwrap()})).await;
    assert_eq!(e["code"], "path_not_allowed");
    assert!(e["message"].as_str().unwrap().contains("--upload-dir"), "{e}");
}

#[tokio::test]
async fn use_previous_output_feeds_load_image() {
    let h = start().await;
    let (_, id) = make_image(&h, 64, 32).await;
    let s = h.ok("use_previous_output", json!({"asset_id": id, "subfolder": "chain"})).await;
    let input = s["input_name"].as_str().unwrap().to_owned();
    assert!(input.starts_with("chain/") && input.ends_with(".png"), "{s}");
    assert_eq!(s["source_asset_id"], id.as_str());
    assert!(s["source_job_id"].is_string());
    let wf = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": input}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "width": 32, "height": 16, "crop": "disabled"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "chained"}}
    });
    let out = h.ok("submit_workflow", json!({"workflow": wf, "wait": true})).await;
    assert_eq!(out["status"], "succeeded", "{out}");
    let next = out["outputs"][0]["asset_id"].as_str().unwrap();
    let v = h.ok("view_image", json!({"asset_id": next})).await;
    assert_eq!((v["original_width"].as_u64(), v["original_height"].as_u64()), (Some(32), Some(16)));

    let e = h.err("use_previous_output", json!({"asset_id": "a_nope"})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("asset_not_found"), Some("asset_id")));
    insert_asset(&h, "a_text2", None, MediaKind::Text, Provenance::default()).await;
    let e = h.err("use_previous_output", json!({"asset_id": "a_text2"})).await;
    assert_eq!(e["field"], "asset_id");
    let e = h.err("use_previous_output", json!({"asset_id": id, "subfolder": "../up"})).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_argument"), Some("subfolder")),
        "{e}"
    );
}

fn square_template(dir: &Path) {
    let template = json!({
        "__metadata__": {"description": "A solid square image.", "parameters": {
            "size": {"type": "integer", "min": 8, "max": 256, "default": 32}}},
        "1": {"class_type": "EmptyImage", "inputs": {"width": "{{size}}", "height": "{{size}}", "batch_size": 1, "color": "{{color}}"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "square"}}
    });
    std::fs::write(dir.join("solid_square.json"), template.to_string()).unwrap();
}

#[tokio::test]
async fn regenerate_rerenders_templates_and_overrides_raw_workflows() {
    let dir = tempfile::tempdir().unwrap();
    square_template(dir.path());
    let d = dir.path().to_path_buf();
    let h = start_with(|s| s.workflows_dir = Some(d)).await;

    // A template output: stored parameters + overrides.
    let first =
        h.ok("run_workflow", json!({"name": "solid_square", "params": {"size": 16, "color": 255}})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let id = first["outputs"][0]["asset_id"].as_str().unwrap().to_owned();
    let again = h.ok("regenerate", json!({"asset_id": id, "overrides": {"size": 24}})).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!((again["params"]["size"].as_u64(), again["params"]["color"].as_u64()), (Some(24), Some(255)));
    assert_eq!(
        (again["template"].as_str(), again["source_asset_id"].as_str()),
        (Some("solid_square"), Some(id.as_str()))
    );
    assert_ne!(again["job_id"], first["job_id"]);
    let new_id = again["outputs"][0]["asset_id"].as_str().unwrap();
    let meta = h.ok("get_asset_metadata", json!({"asset_id": new_id})).await;
    assert_eq!(meta["provenance"]["params"]["size"], 24, "provenance recorded: {meta}");
    let v = h.ok("view_image", json!({"asset_id": new_id})).await;
    assert_eq!(v["original_width"], 24);
    // Without waiting: the job handle.
    let queued = h.ok("regenerate", json!({"asset_id": id, "wait": false})).await;
    assert!(queued["job_id"].is_string() && queued["hint"].is_string(), "{queued}");

    let e = h.err("regenerate", json!({"asset_id": id, "overrides": {"sise": 20}})).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_parameter"), Some("overrides.sise")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("did you mean size"), "{e}");
    let e = h.err("regenerate", json!({"asset_id": id, "overrides": {"size": 9999}})).await;
    assert_eq!(e["field"], "overrides.size", "{e}");
    let e = h.err("regenerate", json!({"asset_id": id, "seed": 5})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("invalid_argument"), Some("seed")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("no seed parameter"), "{e}");
    let e = h.err("regenerate", json!({"asset_id": id, "seed": -1})).await;
    assert_eq!(e["code"], "invalid_argument");
    let e = h.err("regenerate", json!({"asset_id": "a_missing"})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("asset_not_found"), Some("asset_id")));

    // The template is gone, or its schema no longer accepts a stored value.
    let gone = Provenance { template: Some("vanished".into()), params: Some(json!({"x": 1})), owner: None };
    insert_asset(&h, "a_gone", None, MediaKind::Image, gone).await;
    let e = h.err("regenerate", json!({"asset_id": "a_gone"})).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("template_not_found"), Some("asset_id")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("no longer exists"), "{e}");
    let stale = Provenance {
        template: Some("solid_square".into()),
        params: Some(json!({"size": 999, "color": 0})),
        owner: None,
    };
    insert_asset(&h, "a_stale", None, MediaKind::Image, stale).await;
    let e = h.err("regenerate", json!({"asset_id": "a_stale"})).await;
    assert_eq!(e["field"], "overrides.size", "{e}");
    assert!(e["message"].as_str().unwrap().contains("stored value is no longer valid"), "{e}");
    let renamed = Provenance {
        template: Some("solid_square".into()),
        params: Some(json!({"side": 9, "color": 0})),
        owner: None,
    };
    insert_asset(&h, "a_renamed", None, MediaKind::Image, renamed).await;
    let e = h.err("regenerate", json!({"asset_id": "a_renamed"})).await;
    assert!(e["message"].as_str().unwrap().contains("no longer has it"), "{e}");

    // A raw workflow: node_id.input overrides, type-checked.
    let (_, raw) = make_image(&h, 32, 32).await;
    let s = h.ok("regenerate", json!({"asset_id": raw, "overrides": {"1.width": 48}})).await;
    assert_eq!(s["status"], "succeeded", "{s}");
    assert!(s.get("template").is_none());
    let v = h.ok("view_image", json!({"asset_id": s["outputs"][0]["asset_id"]})).await;
    assert_eq!((v["original_width"].as_u64(), v["original_height"].as_u64()), (Some(48), Some(32)));
    let e = h.err("regenerate", json!({"asset_id": raw, "overrides": {"1.widht": 48}})).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_argument"), Some("overrides.1.widht"))
    );
    assert!(e["message"].as_str().unwrap().contains("did you mean width"), "{e}");
    let e = h.err("regenerate", json!({"asset_id": raw, "overrides": {"7.width": 48}})).await;
    assert!(e["message"].as_str().unwrap().contains("no node \"7\""), "{e}");
    let e = h.err("regenerate", json!({"asset_id": raw, "overrides": {"1.width": "wide"}})).await;
    assert_eq!(e["field"], "overrides.1.width", "{e}");
    let e = h.err("regenerate", json!({"asset_id": raw, "overrides": {"width": 48}})).await;
    assert_eq!(e["field"], "overrides.width");
    let e = h.err("regenerate", json!({"asset_id": raw, "seed": 1})).await;
    assert_eq!(e["field"], "seed");
    let e = h.err("regenerate", json!({"asset_id": raw, "overrides": "1.width=3"})).await;
    assert_eq!(e["code"], "invalid_argument");
}

#[tokio::test]
async fn publish_asset_writes_file_manifest_and_log() {
    let web = tempfile::tempdir().unwrap();
    let gen_dir = web.path().join("gen");
    std::fs::create_dir(&gen_dir).unwrap();
    let g = gen_dir.clone();
    let h = start_with(|s| s.publish_dir = Some(g)).await;
    let info = h.ok("get_publish_info", json!({})).await;
    assert_eq!(
        (info["available"].as_bool(), info["publish_dir"].as_str()),
        (Some(true), Some("gen")),
        "{info}"
    );
    assert_eq!((info["auto_detected"].as_bool(), info["manifest_entries"].as_u64()), (Some(false), Some(0)));
    assert!(!info.to_string().contains(web.path().to_str().unwrap()), "no absolute path: {info}");

    let (_, id) = make_image(&h, 64, 64).await;
    let p = h
        .ok(
            "publish_asset",
            json!({"asset_id": id, "target_filename": "hero.png", "manifest_key": "home/hero"}),
        )
        .await;
    assert_eq!(
        (p["relative_path"].as_str(), p["manifest_key"].as_str()),
        (Some("hero.png"), Some("home/hero")),
        "{p}"
    );
    assert!(!p.to_string().contains(web.path().to_str().unwrap()), "no absolute path: {p}");
    let written = std::fs::read(gen_dir.join("hero.png")).unwrap();
    assert_eq!(&written[..4], b"\x89PNG");
    assert_eq!(written.len() as u64, p["byte_size"].as_u64().unwrap());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(gen_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["home/hero"], "hero.png");
    let e = h.err("publish_asset", json!({"asset_id": id, "target_filename": "hero.png"})).await;
    assert_eq!(e["field"], "target_filename");
    assert!(e["message"].as_str().unwrap().contains("overwrite"), "{e}");
    let p = h
        .ok("publish_asset", json!({"asset_id": id, "target_filename": "hero.png", "overwrite": true}))
        .await;
    assert_eq!(p["replaced"], true);

    // WebP under a budget (lossless, then lossy, scaled down until it fits).
    let (_, big) = make_image(&h, 900, 600).await;
    let p = h
        .ok(
            "publish_asset",
            json!({"asset_id": big, "web_optimize": true, "max_bytes": 20000, "target_filename": "big.png"}),
        )
        .await;
    assert_eq!(
        (p["filename"].as_str(), p["mime_type"].as_str()),
        (Some("big.webp"), Some("image/webp")),
        "{p}"
    );
    assert!(p["byte_size"].as_u64().unwrap() <= 20000);
    let webp = std::fs::read(gen_dir.join("big.webp")).unwrap();
    assert_eq!(&webp[..4], b"RIFF");
    let decoded = image::load_from_memory(&webp).unwrap();
    assert_eq!(decoded.width() as u64, p["width"].as_u64().unwrap());
    let log = std::fs::read_to_string(gen_dir.join("publish_log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 3);
    assert!(log.lines().all(|l| serde_json::from_str::<Value>(l).unwrap()["asset_id"].is_string()));
    let info = h.ok("get_publish_info", json!({})).await;
    assert_eq!(info["manifest_entries"], 3, "home/hero, hero (the default key), big");
    assert_eq!(log.lines().count(), 3);

    // Bad input.
    for bad in ["../escape.png", "/etc/x.png", "a/b.png", "manifest.json", ".hidden"] {
        let e = h.err("publish_asset", json!({"asset_id": id, "target_filename": bad})).await;
        assert_eq!(
            (e["code"].as_str(), e["field"].as_str()),
            (Some("path_not_allowed"), Some("target_filename")),
            "{bad}: {e}"
        );
    }
    assert!(!web.path().join("escape.png").exists());
    #[cfg(unix)]
    {
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("t.png"), gen_dir.join("link.png")).unwrap();
        let e = h
            .err("publish_asset", json!({"asset_id": id, "target_filename": "link.png", "overwrite": true}))
            .await;
        assert_eq!(e["code"], "path_not_allowed");
        assert!(!outside.path().join("t.png").exists());
    }
    // A noisy image: lossless it would be far over these budgets; lossy WebP keeps it at full
    // size under 200 KB, and tighter budgets scale it down too.
    let up = h.ok("upload_file", json!({"filename": "noise.png", "data": b64(&noise_png(600, 400))})).await;
    let file = FileRef {
        filename: up["name"].as_str().unwrap().into(),
        subfolder: String::new(),
        folder: FolderType::Input,
    };
    insert_asset(&h, "a_noise", Some(file), MediaKind::Image, Provenance::default()).await;
    let p = h
        .ok("publish_asset", json!({"asset_id": "a_noise", "web_optimize": true, "max_bytes": 200000}))
        .await;
    assert!(p["byte_size"].as_u64().unwrap() <= 200_000, "{p}");
    assert_eq!(p["width"], 600, "lossy at full size: {p}");
    let p = h
        .ok(
            "publish_asset",
            json!({"asset_id": "a_noise", "web_optimize": true, "max_bytes": 15000, "overwrite": true}),
        )
        .await;
    assert!(p["byte_size"].as_u64().unwrap() <= 15_000, "{p}");
    assert!(p["width"].as_u64().unwrap() < 600, "scaled down: {p}");
    let e = h.err("publish_asset", json!({"asset_id": "a_noise", "max_bytes": 2000})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("too_large"), Some("max_bytes")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("web_optimize"), "{e}");
    // Even the smallest budget the schema allows is met, lossy and scaled down (a budget no
    // step meets is `too_large`: comfy-core's preview tests cover that).
    let p = h
        .ok(
            "publish_asset",
            json!({"asset_id": "a_noise", "web_optimize": true, "max_bytes": 1024, "overwrite": true}),
        )
        .await;
    assert!(p["byte_size"].as_u64().unwrap() <= 1024 && p["width"].as_u64().unwrap() < 600, "{p}");
    let e = h.err("publish_asset", json!({"asset_id": "a_nope"})).await;
    assert_eq!(e["code"], "asset_not_found");
    let e = h.err("publish_asset", json!({"asset_id": id, "max_bytes": 5})).await;
    assert_eq!(e["code"], "invalid_argument", "schema bound");
    insert_asset(&h, "a_txt", None, MediaKind::Text, Provenance::default()).await;
    let e = h.err("publish_asset", json!({"asset_id": "a_txt"})).await;
    assert_eq!(e["field"], "asset_id");

    // No publish dir configured (and none to detect in the test's working directory).
    let h2 = start().await;
    let info = h2.ok("get_publish_info", json!({})).await;
    assert_eq!(info["available"], false);
    assert!(info["hint"].as_str().unwrap().contains("public/gen"), "{info}");
    let (_, id2) = make_image(&h2, 8, 8).await;
    let e = h2.err("publish_asset", json!({"asset_id": id2})).await;
    assert_eq!(e["code"], "not_configured");
}

#[tokio::test]
async fn defaults_are_layered_validated_and_persisted() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("comfy.toml");
    std::fs::write(&cfg, "# keep me\nlog_level = \"info\"\n\n[defaults]\ncfg = 6.5\n").unwrap();
    let c = cfg.clone();
    let h = start_with(move |s| {
        s.config_file = Some(c);
        s.defaults.insert("cfg".into(), json!(6.5));
    })
    .await;
    let find = |v: &Value, n: &str| {
        v["defaults"].as_array().unwrap().iter().find(|d| d["name"] == n).cloned().unwrap()
    };
    let g = h.ok("get_defaults", json!({})).await;
    assert_eq!(g["config_file"], true);
    assert_eq!(find(&g, "cfg")["source"], "config");
    assert_eq!(find(&g, "steps")["source"], "template", "{g}");
    assert!(find(&g, "prompt").get("value").is_none(), "required: no default");

    let s = h.ok("set_defaults", json!({"values": {"steps": 33, "future_param": "x"}})).await;
    assert_eq!(
        (find(&s, "steps")["value"].as_u64(), find(&s, "steps")["source"].as_str()),
        (Some(33), Some("runtime"))
    );
    assert_eq!(s["unused"], json!(["future_param"]));
    assert_eq!(s["persisted"], false);
    let run = h
        .ok(
            "run_workflow",
            json!({"name": "generate_image", "params": {"prompt": "p", "ckpt_name": common::CKPT}}),
        )
        .await;
    assert_eq!(run["params"]["steps"], 33, "the runtime default is used");

    let e = h.err("set_defaults", json!({"values": {"steps": "many"}})).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_parameter"), Some("values.steps")),
        "{e}"
    );
    let e = h.err("set_defaults", json!({"values": {"steps": 0}})).await;
    assert_eq!(e["field"], "values.steps", "catalogue bounds: {e}");
    let e = h.err("set_defaults", json!({"values": {"bad name!": 1}})).await;
    assert_eq!(e["code"], "invalid_argument");
    let e = h.err("set_defaults", json!({"values": {}})).await;
    assert_eq!(e["code"], "invalid_argument");

    let s = h.ok("set_defaults", json!({"values": {"steps": 12, "cfg": null}, "persist": true})).await;
    assert_eq!(s["persisted"], true);
    assert_eq!(find(&s, "steps")["source"], "config");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with("# keep me\nlog_level = \"info\"\n"), "{text}");
    let parsed = comfy_mcp::config::FileConfig::parse(&text).unwrap();
    assert_eq!(parsed.defaults["steps"], 12);
    assert!(!parsed.defaults.contains_key("cfg"));

    let h2 = start().await;
    let e = h2.err("set_defaults", json!({"values": {"steps": 10}, "persist": true})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("no_config_file"), Some("persist")));
    let g = h2.ok("get_defaults", json!({})).await;
    assert_eq!(find(&g, "steps")["source"], "template", "nothing was applied: {g}");
}

#[tokio::test]
async fn the_asset_byte_cap_bounds_what_is_read() {
    let h = start_with(|s| s.limits.max_asset_bytes = 100).await;
    let (_, id) = make_image(&h, 64, 64).await;
    let e = h.err("view_image", json!({"asset_id": id})).await;
    assert_eq!(e["code"], "too_large", "{e}");
    assert!(e["message"].as_str().unwrap().contains("max_asset_bytes"), "{e}");
    let e = h.err("use_previous_output", json!({"asset_id": id})).await;
    assert_eq!(e["code"], "too_large", "{e}");
}
