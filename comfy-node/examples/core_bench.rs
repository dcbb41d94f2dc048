//! The Rust side of `bench/bench.mjs`: the same calls on a `comfy_core::Comfy` client, so the
//! benchmark can report what the Node binding adds. Prints one JSON object per measurement.
//!
//! ```sh
//! cargo run --release -p comfy-node --example core_bench -- http://127.0.0.1:PORT
//! ```

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::store::AssetId;
use comfy_core::{ClientOptions, Comfy, Source, Waited};
use serde_json::{Value, json};

fn workflow(prefix: &str) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}
    })
}

/// Prints `{"name", "n", "p50_us", "p99_us", "mean_us"}`.
fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| us(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    println!(
        "{}",
        json!({"name": name, "n": samples.len(), "p50_us": at(0.5), "p99_us": at(0.99), "mean_us": mean})
    );
}

async fn time<F, T>(n: usize, mut f: impl FnMut(usize) -> F) -> Result<Vec<Duration>, Box<dyn Error>>
where
    F: std::future::Future<Output = comfy_core::Result<T>>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        f(i).await?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args().nth(1).ok_or("usage: core_bench URL [calls] [jobs]")?;
    let calls: usize = std::env::args().nth(2).map_or(Ok(2000), |s| s.parse())?;
    let jobs: usize = std::env::args().nth(3).map_or(Ok(200), |s| s.parse())?;
    let options = ClientOptions { max_running_jobs: 10_000, ..ClientOptions::default() };
    let comfy = Comfy::builder(Arc::new(LocalComfyUi::builder(&url).build()?)).options(options).build()?;
    let wf = workflow("bench_rust");

    comfy.check(Source::Json(wf.clone())).await?;
    report("validate", time(calls, |_| comfy.check(Source::Json(wf.clone()))).await?);

    let asset = match comfy.run(Source::Json(wf.clone()), Some(Duration::from_secs(30))).await? {
        Waited::Finished(r) => r.assets.first().cloned().ok_or("no output")?,
        Waited::StillRunning(_) => return Err("the warm-up job did not finish".into()),
    };
    let id = AssetId(asset.0);
    report("asset", time(calls, |_| comfy.asset(&id)).await?);

    let run = |_| comfy.run(Source::Json(wf.clone()), Some(Duration::from_secs(30)));
    report("run", time(jobs, run).await?);
    Ok(())
}
