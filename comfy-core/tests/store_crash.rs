//! Crash safety for real: a child process writes to the SQLite store and reports every write
//! that returned; the parent kills it with SIGKILL mid-stream and checks that every reported
//! write is in the database and that the database is intact. Repeated over several rounds on
//! the same file, so later rounds also recover from the previous round's kill.
//!
//! The child is this test binary itself, re-executed with `CRASH_WRITER_DB` set, running only
//! `crash_writer_child` (which does nothing when that variable is absent).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use comfy_core::job::{FileRef, FolderType, JobId, JobOutput, JobStatus, MediaKind, OutputItem};
use comfy_core::store::{Asset, AssetQuery, JobQuery, JobRecord, Provenance, SqliteStore, Store};
use serde_json::json;

const DB_ENV: &str = "CRASH_WRITER_DB";
const ROUND_ENV: &str = "CRASH_WRITER_ROUND";
/// Acknowledgements to wait for before each kill.
const ACKS_PER_ROUND: usize = 200;
const ROUNDS: usize = 3;

fn record(round: usize, i: usize) -> (JobRecord, Asset) {
    let job = JobRecord {
        id: JobId(format!("r{round}-job-{i:06}")),
        handle: None,
        backend: "local".into(),
        request: json!({"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": i}}}, "pad": "x".repeat(2_000)}),
        workflow_hash: format!("hash-{i}"),
        provenance: Provenance { template: Some("crash".into()), params: Some(json!({"i": i})), owner: None },
        status: JobStatus::Succeeded,
        outputs: vec![],
        created_at: i as i64,
        updated_at: i as i64,
    };
    let output = JobOutput {
        node_id: "9".into(),
        key: "images".into(),
        index: 0,
        item: OutputItem::File {
            file: FileRef {
                filename: format!("{i}.png"),
                subfolder: String::new(),
                folder: FolderType::Output,
            },
            media: MediaKind::Image,
            animated: false,
        },
    };
    let asset = Asset::from_output(&job, &output, i as i64);
    (job, asset)
}

/// The writer. Not a real test: it only runs when the parent sets `CRASH_WRITER_DB`.
#[tokio::test]
async fn crash_writer_child() {
    let Some(db) = std::env::var_os(DB_ENV) else { return };
    let round: usize = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let store = SqliteStore::open(&db).unwrap();
    let mut stdout = std::io::stdout();
    // Keep writing until killed; the cap only guards against a parent that never kills.
    for i in 0..1_000_000 {
        let (mut job, asset) = record(round, i);
        job.status = JobStatus::Running(Default::default());
        store.put_job(&job).await.unwrap();
        store.put_assets(std::slice::from_ref(&asset)).await.unwrap();
        job.status = JobStatus::Succeeded;
        store.put_job(&job).await.unwrap();
        writeln!(stdout, "ACK {}", job.id).unwrap();
        stdout.flush().unwrap();
    }
}

/// Runs one child until it has acknowledged `ACKS_PER_ROUND` writes, then SIGKILLs it.
/// Returns the acknowledged job ids.
fn run_and_kill(db: &Path, round: usize) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "crash_writer_child", "--nocapture", "--test-threads=1"])
        .env(DB_ENV, db)
        .env(ROUND_ENV, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ACK ")
                && tx.send(id.to_owned()).is_err()
            {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut acked = Vec::new();
    while acked.len() < ACKS_PER_ROUND {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(id) => acked.push(id),
            Err(e) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "round {round}: the writer stopped after {} acknowledgements ({e:?}); stderr:\n{}",
                    acked.len(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    // On Unix, `kill` sends SIGKILL: no destructors, no flush, no checkpoint.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the writer must have been killed, not have exited: {status:?}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
    }
    // Acknowledgements that were in the pipe when the child died count too.
    acked.extend(rx.try_iter());
    acked
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    if std::env::var_os(DB_ENV).is_some() {
        return; // we are a child
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite3");
    let started = Instant::now();
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        let acked = run_and_kill(&db, round);
        assert!(acked.len() >= ACKS_PER_ROUND);

        let conn = rusqlite::Connection::open(&db).unwrap();
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(integrity, "ok", "round {round}");
        drop(conn);

        let store = SqliteStore::open(&db).unwrap();
        for id in &acked {
            let job = store.get_job(&JobId(id.clone())).await.unwrap();
            let job = job.unwrap_or_else(|| panic!("round {round}: acknowledged job {id} is missing"));
            assert_eq!(job.status, JobStatus::Succeeded, "round {round}: {id} lost its last update");
            let i: usize = id.rsplit('-').next().unwrap().parse().unwrap();
            let (expected_job, expected_asset) = record(round, i);
            assert_eq!(job, expected_job);
            assert_eq!(store.get_asset(&expected_asset.id).await.unwrap(), Some(expected_asset));
        }
        total_acked += acked.len();
        // Everything from earlier rounds is still there, and every stored row decodes.
        let jobs = store.list_jobs(&JobQuery { limit: 1_000_000, ..Default::default() }).await.unwrap();
        assert!(jobs.len() >= total_acked, "round {round}: {} jobs < {total_acked} acknowledged", jobs.len());
        let assets = store.list_assets(&AssetQuery { limit: 1_000_000, ..Default::default() }).await.unwrap();
        assert!(assets.len() >= total_acked);
    }
    eprintln!("{ROUNDS} kill rounds, {total_acked} acknowledged writes checked in {:?}", started.elapsed());
}
