//! The Rust side of `comfy-py/bench/bench.py`: the calls the Python benchmark makes, made
//! through comfy-core directly, so the difference is what the binding costs.
//!
//! ```sh
//! cargo run --release -p comfy-py --example bench_baseline -- http://127.0.0.1:PORT 2000 50
//! ```
//!
//! Prints one JSON object: microseconds per call for `check` (validate), the template listing,
//! `queue` (one HTTP round trip), `wait` on a finished job (a call that is ready at once), and
//! the median milliseconds of a sequential tiny job (submit → finished).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::{Comfy, Source, Waited};
use serde_json::{Value, json};

/// The workflow bench.py validates and runs (`color` varies per job so none is cached).
fn workflow(color: u64) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench"}},
    })
}

fn per_call_us(start: Instant, n: usize) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: bench_baseline URL [CALLS] [JOBS]")?;
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let jobs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(50);
    let comfy = Comfy::builder(Arc::new(LocalComfyUi::builder(&url).build()?)).build()?;
    let wf = workflow(0);
    comfy.check(Source::Json(wf.clone())).await?;

    let t = Instant::now();
    for _ in 0..n {
        black_box(comfy.check(Source::Json(wf.clone())).await?);
    }
    let validate = per_call_us(t, n);

    let t = Instant::now();
    for _ in 0..n {
        black_box(comfy.templates().snapshot().list().iter().map(|t| t.info()).collect::<Vec<_>>());
    }
    let list_templates = per_call_us(t, n);

    let calls = (n / 10).max(1);
    let t = Instant::now();
    for _ in 0..calls {
        black_box(comfy.queue().await?);
    }
    let queue = per_call_us(t, calls);

    let job = match comfy.run(Source::Json(workflow(1)), Some(Duration::from_secs(60))).await? {
        Waited::Finished(r) => comfy.job(&r.job_id).await?,
        Waited::StillRunning(_) => return Err("the warm-up job did not finish".into()),
    };
    let t = Instant::now();
    for _ in 0..n {
        black_box(job.wait(Duration::ZERO).await?);
    }
    let ready_wait = per_call_us(t, n);

    let mut times = Vec::with_capacity(jobs);
    for i in 0..jobs {
        let color = (1000 + i as u64 + u64::from(std::process::id()) * 10_000) % 16_777_216;
        let t = Instant::now();
        match comfy.run(Source::Json(workflow(color)), Some(Duration::from_secs(60))).await? {
            Waited::Finished(_) => times.push(t.elapsed().as_secs_f64() * 1e3),
            Waited::StillRunning(_) => return Err("a job did not finish in 60 s".into()),
        }
    }
    times.sort_by(f64::total_cmp);
    let job_ms = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);

    println!(
        "{}",
        json!({"validate_us": validate, "list_templates_us": list_templates, "queue_us": queue,
               "ready_wait_us": ready_wait, "sequential_job_ms": job_ms})
    );
    Ok(())
}
