//! Store throughput, SQLite vs PostgreSQL: insert 1,000 jobs, complete each (a second write,
//! as a finished job is), then list them all; prints the wall time of each phase.
//!
//! ```sh
//! URL="$(scripts/postgres/start.sh /tmp/pg)"
//! cargo run --release -p comfy-core --features postgres --example store_throughput -- "$URL"
//! scripts/postgres/stop.sh /tmp/pg
//! ```
//!
//! Without a URL only SQLite is measured. Jobs are written one at a time, sequentially (as
//! one client does), and then by 16 concurrent writers.

use std::sync::Arc;
use std::time::Instant;

use comfy_core::job::{JobId, JobStatus};
use comfy_core::store::{JobQuery, JobRecord, PostgresStore, Provenance, SqliteStore, Store};
use serde_json::json;

const JOBS: usize = 1_000;
const WRITERS: usize = 16;

fn job(run: &str, i: usize) -> JobRecord {
    JobRecord {
        id: JobId::from(format!("{run}-{i:05}").as_str()),
        backend: "local".into(),
        handle: None,
        request: json!({"prompt": {"3": {"class_type": "KSampler", "inputs": {"seed": i, "steps": 20}}}}),
        workflow_hash: format!("{i:064x}"),
        provenance: Provenance {
            template: Some("generate_image".into()),
            params: Some(json!({"seed": i})),
            owner: None,
        },
        status: JobStatus::Queued { position: None },
        outputs: Vec::new(),
        created_at: i as i64,
        updated_at: i as i64,
    }
}

async fn measure(name: &str, store: Arc<dyn Store>, run: &str) {
    let start = Instant::now();
    for i in 0..JOBS {
        store.put_job(&job(run, i)).await.expect("insert");
    }
    let inserted = start.elapsed();
    let start = Instant::now();
    for i in 0..JOBS {
        let mut j = job(run, i);
        j.status = JobStatus::Succeeded;
        j.updated_at += 1;
        store.put_job(&j).await.expect("complete");
    }
    let completed = start.elapsed();
    let start = Instant::now();
    let all = store.list_jobs(&JobQuery { limit: 100_000, ..Default::default() }).await.expect("list");
    let listed = start.elapsed();
    assert!(all.len() >= JOBS);

    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let run = format!("{run}-c{w}");
            tokio::spawn(async move {
                for i in 0..JOBS / WRITERS {
                    store.put_job(&job(&run, i)).await.expect("concurrent insert");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    let concurrent = start.elapsed();
    let per_s = |d: std::time::Duration| JOBS as f64 / d.as_secs_f64();
    println!(
        "{name:<10} insert {JOBS}: {:>7.1} ms ({:>6.0}/s)  complete {JOBS}: {:>7.1} ms ({:>6.0}/s)  \
         list {}: {:>6.1} ms  insert {} by {WRITERS} writers: {:>7.1} ms ({:>6.0}/s)",
        inserted.as_secs_f64() * 1e3,
        per_s(inserted),
        completed.as_secs_f64() * 1e3,
        per_s(completed),
        all.len(),
        listed.as_secs_f64() * 1e3,
        JOBS / WRITERS * WRITERS,
        concurrent.as_secs_f64() * 1e3,
        per_s(concurrent),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let run = format!("r{}", comfy_core::store::now_millis());
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteStore::open(dir.path().join("bench.sqlite3")).expect("sqlite");
    measure("sqlite", Arc::new(sqlite), &run).await;
    if let Some(url) = std::env::args().nth(1) {
        let pg = PostgresStore::open(&url).await.expect("postgres");
        measure("postgres", Arc::new(pg), &run).await;
    }
}
