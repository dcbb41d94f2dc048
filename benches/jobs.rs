//! Job benchmarks against the in-process fake ComfyUI:
//! - the event path: a WebSocket message sent by the server → the `Job` event a subscriber sees;
//! - 1,000 concurrent jobs through `Comfy` (submit, live tracking, outputs, assets) next to the
//!   same 1,000 prompts sent with plain HTTP and a `/queue` poll, to isolate our overhead.
//!
//! `cargo bench --bench jobs`

use std::sync::Arc;
use std::time::{Duration, Instant};

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::{JobEvent, JobRequest};
use comfy_core::{Comfy, Workflow};
use comfy_fake::FakeComfyUi;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn workflow() -> Workflow {
    Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}}
    }))
    .expect("workflow")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

async fn client(url: &str) -> Comfy {
    let backend = LocalComfyUi::builder(url).build().expect("backend");
    let comfy = Comfy::builder(Arc::new(backend)).build().expect("client");
    while !comfy.backend().events_connected() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    comfy
}

fn event_path(c: &mut Criterion) {
    let rt = runtime();
    let (fake, _comfy, job, mut events) = rt.block_on(async {
        let fake = FakeComfyUi::builder().start().await.expect("fake");
        let comfy = client(&fake.url()).await;
        fake.hold(); // the job stays queued: only our injected messages reach it
        let job = comfy.submit(JobRequest::new(workflow())).await.expect("submit");
        let mut events = job.subscribe();
        events.next().await; // the initial status
        (fake, comfy, job, events)
    });
    c.bench_function("event_path/ws_progress_to_job_event", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let msg = json!({"type": "progress", "data": {"value": i % 1000, "max": 1000, "prompt_id": job.id().as_str(), "node": "1"}});
                    fake.send_raw_text(&msg.to_string());
                    loop {
                        match events.next().await {
                            Some(JobEvent::Progress { .. }) => break,
                            Some(_) => continue,
                            None => panic!("event stream ended"),
                        }
                    }
                }
                start.elapsed()
            })
        })
    });
    fake.release();
}

const JOBS: usize = 1000;

fn thousand_jobs(c: &mut Criterion) {
    let rt = runtime();
    let fake = rt.block_on(FakeComfyUi::builder().start()).expect("fake");
    let url = fake.url();
    let mut group = c.benchmark_group("jobs_1000_concurrent");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("comfy_client_submit_track_collect", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let comfy = client(&url).await;
                    let start = Instant::now();
                    let jobs = futures::future::join_all(
                        (0..JOBS).map(|_| comfy.submit(JobRequest::new(workflow()))),
                    )
                    .await;
                    for job in jobs {
                        let job = job.expect("submit");
                        let r = job.result().await.expect("result");
                        assert!(r.status.is_terminal() && !r.assets.is_empty());
                    }
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.bench_function("plain_http_post_then_poll_queue", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let http = reqwest::Client::new();
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let body = json!({"prompt": workflow().to_value(), "client_id": "bench"});
                    futures::future::join_all((0..JOBS).map(|_| {
                        let http = http.clone();
                        let body = body.clone();
                        let url = format!("{url}/api/prompt");
                        async move { http.post(url).json(&body).send().await.expect("post").bytes().await }
                    }))
                    .await;
                    loop {
                        let q: serde_json::Value = http
                            .get(format!("{url}/api/queue"))
                            .send()
                            .await
                            .expect("queue")
                            .json()
                            .await
                            .expect("json");
                        let busy = q["queue_running"].as_array().map_or(0, Vec::len)
                            + q["queue_pending"].as_array().map_or(0, Vec::len);
                        if busy == 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, event_path, thousand_jobs);
criterion_main!(benches);
