//! Shared helpers of the end-to-end tests (a real ComfyUI started by `scripts/test.sh`).
#![allow(dead_code)]

pub mod proxy;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::store::Store;
use comfy_core::{ClientOptions, Comfy, Workflow};
use serde_json::{Value, json};

/// The real ComfyUI's base URL.
pub fn base_url() -> String {
    std::env::var("COMFYUI_E2E_URL").expect(
        "COMFYUI_E2E_URL is not set: run these tests through scripts/test.sh, which starts a real ComfyUI",
    )
}

/// The real ComfyUI's data folder (its `output/`, `input/`, ...).
pub fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var("COMFYUI_E2E_DATA").expect("COMFYUI_E2E_DATA is set by scripts/test.sh"))
}

/// Options tuned for tests: quick polling, short confirmation waits.
pub fn options() -> ClientOptions {
    ClientOptions {
        poll_interval: Duration::from_millis(200),
        cancel_confirm_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

/// A client of `url` with its own backend (own client id and socket) and the given store.
pub fn client_at(url: &str, store: Option<Arc<dyn Store>>) -> Comfy {
    let backend = LocalComfyUi::builder(url).max_reconnect_delay(Duration::from_millis(500)).build().unwrap();
    let mut b = Comfy::builder(Arc::new(backend)).options(options());
    if let Some(s) = store {
        b = b.store(s);
    }
    b.build().unwrap()
}

/// A client of the real ComfyUI with an in-memory store.
pub fn client() -> Comfy {
    client_at(&base_url(), None)
}

/// A unique tag, so tests never collide in ComfyUI's cache or output folder.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid_like())
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:04x}", n, rand_u16())
}

fn rand_u16() -> u16 {
    (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(std::thread::current().name().map_or(0, |n| n.len() as u16))
}

/// EmptyImage → ImageInvert → SaveImage (+ PreviewImage), model-free.
pub fn model_free(prefix: &str, width: u32, batch: u32, color: u32) -> Workflow {
    Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": 32, "batch_size": batch, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    }))
    .unwrap()
}

/// The tiny random-weight SD1.5 text-to-image pipeline (64×64), `steps` sampler steps.
pub fn txt2img(prefix: &str, steps: u32, seed: u64) -> Workflow {
    let v: Value = json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_sd15.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
              "latent_image": ["4", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}}
    });
    Workflow::from_value(v).unwrap()
}
