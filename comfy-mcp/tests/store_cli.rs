//! `comfy-mcp store migrate` and the `--store` / `COMFY_STORE_URL` setting through the binary
//! (SQLite to SQLite here; SQLite to PostgreSQL is tested in comfy-core's store_postgres).

use std::process::Output;

use comfy_core::job::{JobId, JobStatus};
use comfy_core::store::{JobQuery, JobRecord, Provenance, SqliteStore, Store};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_comfy-mcp");

fn base() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).kill_on_drop(true);
    c
}

async fn run(mut c: Command) -> Output {
    tokio::time::timeout(std::time::Duration::from_secs(120), c.output()).await.expect("finishes").unwrap()
}

fn job(i: usize) -> JobRecord {
    JobRecord {
        id: JobId::from(format!("j-{i}").as_str()),
        backend: "local".into(),
        handle: None,
        request: serde_json::json!({"i": i}),
        workflow_hash: "h".into(),
        provenance: Provenance::default(),
        status: JobStatus::Succeeded,
        outputs: Vec::new(),
        created_at: i as i64,
        updated_at: i as i64,
    }
}

#[tokio::test]
async fn store_migrate_copies_a_data_dir_once_and_reports_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let source = SqliteStore::open(data.join("comfy.sqlite3")).unwrap();
    for i in 0..7 {
        source.put_job(&job(i)).await.unwrap();
    }
    drop(source);
    let target = dir.path().join("copy.sqlite3");
    let migrate = || {
        let mut c = base();
        c.args(["store", "migrate", "--from"])
            .arg(&data)
            .arg("--to")
            .arg(format!("sqlite://{}", target.display()));
        c
    };
    let out = run(migrate()).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["jobs"], serde_json::json!({"copied": 7, "updated": 0, "unchanged": 0}));
    assert_eq!(report["assets"]["copied"], 0);

    let out = run(migrate()).await;
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["jobs"], serde_json::json!({"copied": 0, "updated": 0, "unchanged": 7}));

    let copy = SqliteStore::open(&target).unwrap();
    assert_eq!(copy.list_jobs(&JobQuery::default()).await.unwrap().len(), 7);

    // A source that does not exist is bad input, and nothing is created there.
    let mut c = base();
    c.args(["store", "migrate", "--from"]).arg(dir.path().join("missing")).arg("--to").arg(&target);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!dir.path().join("missing").exists());
}

#[tokio::test]
async fn the_store_url_comes_from_the_environment_and_prints_masked() {
    let mut c = base();
    c.env("COMFY_STORE_URL", "postgres://comfy:pg-very-secret@db.internal:5432/comfy").arg("--print-config");
    let out = run(c).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("store = \"postgres://comfy:***@db.internal:5432/comfy\""), "{printed}");
    assert!(!printed.contains("pg-very-secret"));

    let mut c = base();
    c.args(["--store", "mysql://db/x", "--print-config"]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("store"));
}
