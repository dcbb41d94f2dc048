//! End to end: one client with two real ComfyUI instances (same install, two ports) as a fleet,
//! started by `scripts/test.sh`, which sets `COMFYUI_E2E_URL`, `COMFYUI_E2E_URL_2` and the
//! second one's pid `COMFYUI_E2E_PID_2` (this test kills it). Built only with `--features e2e`.
//!
//! Jobs spread over both; then the second is killed mid-run: jobs it had not accepted go to the
//! first, jobs it had accepted fail naming it, or run on the first when the caller allowed it;
//! nothing is lost or run twice (checked against each instance's `/history`).

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::fleet::{Fleet, FleetMember};
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::backend::{Backend, CancelOutcome, JobRequest};
use comfy_core::connect::RoutingConfig;
use comfy_core::job::JobStatus;
use comfy_core::{ClientOptions, Comfy, Job, JobResult, Waited};
use serde_json::Value;
use support::{txt2img, unique};

/// Bounds a hung test only.
const LONG: Duration = Duration::from_secs(300);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this test through scripts/test.sh, which starts two real ComfyUIs")
    })
}

fn member(name: &str, url: &str) -> FleetMember {
    let backend: Arc<dyn Backend> = Arc::new(
        LocalComfyUi::builder(url)
            .max_reconnect_delay(Duration::from_millis(500))
            .request_timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    );
    FleetMember::new(name, backend)
}

async fn finished(job: &Job) -> JobResult {
    match job.wait(LONG).await.unwrap() {
        Waited::Finished(r) => r,
        Waited::StillRunning(j) => panic!("job {} still running after {LONG:?}: {:?}", j.id(), j.status()),
    }
}

async fn until(job: &Job, pred: impl Fn(&JobStatus) -> bool, what: &str) {
    let waited = async {
        while !pred(&job.status()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(LONG, waited).await.unwrap_or_else(|_| panic!("{what}: {:?}", job.status()));
}

async fn get(url: &str, path: &str) -> Value {
    reqwest::get(format!("{url}{path}")).await.unwrap().json().await.unwrap()
}

/// The prompt ids in an instance's history.
async fn history(url: &str) -> HashSet<String> {
    get(url, "/history?max_items=10000")
        .await
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The prompt ids in an instance's queue (running and pending).
async fn queued(url: &str) -> HashSet<String> {
    let q = get(url, "/queue").await;
    let mut ids = HashSet::new();
    for key in ["queue_running", "queue_pending"] {
        for entry in q[key].as_array().cloned().unwrap_or_default() {
            ids.extend(entry[1].as_str().map(str::to_owned));
        }
    }
    ids
}

fn pinned(mut r: JobRequest, backend: &str) -> JobRequest {
    r.backend = Some(backend.into());
    r
}

fn failure_code(result: &JobResult) -> Option<String> {
    match &result.status {
        JobStatus::Failed(f) => f.code.clone(),
        _ => None,
    }
}

#[tokio::test]
async fn jobs_spread_over_two_real_comfyuis_and_survive_one_being_killed() {
    let (one_url, two_url) = (env("COMFYUI_E2E_URL"), env("COMFYUI_E2E_URL_2"));
    let two_pid: u32 = env("COMFYUI_E2E_PID_2").parse().expect("COMFYUI_E2E_PID_2 is a pid");
    // "two" first: ties go to it. Health checks only when a submission fails (the test drives).
    let routing = RoutingConfig { health_interval_ms: 3_600_000, ..Default::default() };
    let fleet: Arc<dyn Backend> =
        Fleet::new(vec![member("two", &two_url), member("one", &one_url)], routing).unwrap();
    let options = ClientOptions {
        poll_interval: Duration::from_millis(200),
        unreachable_after: Duration::from_secs(3),
        ..Default::default()
    };
    let comfy = Comfy::builder(fleet).options(options).build().unwrap();

    // 1. Several text-to-image jobs spread over both, each run where its record says.
    let mut spread = Vec::new();
    for seed in 0..6 {
        spread.push(comfy.submit(JobRequest::new(txt2img(&unique("fleet/spread"), 3, seed))).await.unwrap());
    }
    for job in &spread {
        assert_eq!(finished(job).await.status, JobStatus::Succeeded, "{}", job.id());
    }
    let (h_one, h_two) = (history(&one_url).await, history(&two_url).await);
    let mut ran = [0, 0];
    for job in &spread {
        let (on, other, slot) =
            if job.record().backend == "one" { (&h_one, &h_two, 0) } else { (&h_two, &h_one, 1) };
        assert!(on.contains(&job.id().0) && !other.contains(&job.id().0), "{} ran where recorded", job.id());
        ran[slot] += 1;
    }
    assert!(ran[0] > 0 && ran[1] > 0, "both ran jobs: {ran:?}");

    // 2. Load both, then kill two mid-run. one is busy with a long job (cancelled later); two
    // runs a long job (no opt-in) and holds two queued ones: one pinned (no opt-in), one that
    // may move (unpinned: it went to two on the tie).
    let busy_one =
        comfy.submit(pinned(JobRequest::new(txt2img(&unique("fleet/busy"), 5000, 1)), "one")).await.unwrap();
    let running_two =
        comfy.submit(pinned(JobRequest::new(txt2img(&unique("fleet/run2"), 5000, 2)), "two")).await.unwrap();
    until(&busy_one, |s| matches!(s, JobStatus::Running(_)), "one runs its long job").await;
    until(&running_two, |s| matches!(s, JobStatus::Running(_)), "two runs its long job").await;
    let mut may_move = JobRequest::new(txt2img(&unique("fleet/move"), 3, 4));
    may_move.resubmit_if_lost = true;
    let moved = comfy.submit(may_move).await.unwrap();
    assert_eq!(moved.record().backend, "two", "the tie goes to two");
    let queued_two =
        comfy.submit(pinned(JobRequest::new(txt2img(&unique("fleet/q2"), 3, 3)), "two")).await.unwrap();
    let accepted = queued(&two_url).await;
    for job in [&running_two, &queued_two, &moved] {
        assert!(accepted.contains(&job.id().0), "two accepted {}", job.id());
    }
    let killed = std::process::Command::new("kill").args(["-KILL", &two_pid.to_string()]).status().unwrap();
    assert!(killed.success(), "kill -KILL {two_pid}");

    // 3. New jobs: two does not take them (a refused submission fails over to one).
    let mut after = Vec::new();
    for seed in 10..12 {
        after.push(comfy.submit(JobRequest::new(txt2img(&unique("fleet/after"), 3, seed))).await.unwrap());
    }
    assert!(after.iter().all(|j| j.record().backend == "one"), "jobs two never accepted go to one");
    assert_eq!(busy_one.cancel().await.unwrap(), CancelOutcome::Interrupted);

    // 4. Accepted by two: failed, naming it, unless allowed to move.
    for job in [&running_two, &queued_two] {
        let result = finished(job).await;
        assert_eq!(
            failure_code(&result).as_deref(),
            Some("backend_lost"),
            "{}: {:?}",
            job.id(),
            result.status
        );
        let JobStatus::Failed(f) = &result.status else { unreachable!() };
        assert!(f.message.contains("backend two"), "{}", f.message);
    }
    let result = finished(&moved).await;
    assert_eq!(result.status, JobStatus::Succeeded, "{:?}", result.status);
    let record = moved.record();
    assert_eq!(record.backend, "one", "the record names the backend that ran it");
    assert_eq!(record.request["resubmitted"][0]["backend"], "two", "{}", record.request);
    assert!(!result.assets.is_empty());
    for job in &after {
        assert_eq!(finished(job).await.status, JobStatus::Succeeded);
    }

    // 5. Nothing lost, nothing run twice: one's history has exactly what it was given.
    let h_one = history(&one_url).await;
    for job in after.iter().chain([&moved]) {
        assert!(h_one.contains(&job.id().0), "{} ran on one", job.id());
    }
    for job in [&running_two, &queued_two] {
        assert!(!h_one.contains(&job.id().0), "{} never ran on one", job.id());
    }
    for job in spread.iter().filter(|j| j.record().backend == "two") {
        assert!(!h_one.contains(&job.id().0), "{} ran on two only", job.id());
    }
    for job in spread.iter().chain(&after).chain([&busy_one, &running_two, &queued_two, &moved]) {
        assert!(job.status().is_terminal(), "{} finished: {:?}", job.id(), job.status());
    }
}
