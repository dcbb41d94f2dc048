//! SQLite-specific behaviour: persistence, migrations, concurrency, corrupt rows.

use std::path::Path;
use std::sync::Arc;

use comfy_core::Error;
use comfy_core::job::{FileRef, FolderType, JobId, JobOutput, JobStatus, MediaKind, OutputItem};
use comfy_core::store::{
    Asset, AssetContent, AssetQuery, JobQuery, JobRecord, Provenance, SqliteStore, Store,
};
use rusqlite::Connection;
use serde_json::json;

fn job(id: &str, created_at: i64) -> JobRecord {
    JobRecord {
        id: JobId::from(id),
        handle: None,
        backend: "local".into(),
        request: json!({"prompt": {"1": {"class_type": "EmptyImage", "inputs": {}}}}),
        workflow_hash: "h".into(),
        provenance: Provenance {
            template: Some("t".into()),
            params: Some(json!({"seed": 1})),
            owner: Some("o".into()),
        },
        status: JobStatus::Running(Default::default()),
        outputs: vec![],
        created_at,
        updated_at: created_at,
    }
}

fn output(node: &str, index: u32) -> JobOutput {
    JobOutput {
        node_id: node.into(),
        key: "images".into(),
        index,
        item: OutputItem::File {
            file: FileRef {
                filename: format!("{node}_{index}.png"),
                subfolder: String::new(),
                folder: FolderType::Output,
            },
            media: MediaKind::Image,
            animated: false,
        },
    }
}

fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    conn
}

fn user_version(conn: &Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/comfy.sqlite3");
    let mut j = job("j1", 1_000);
    let store = SqliteStore::open(&path).unwrap();
    assert!(path.exists(), "open creates the parent directories and the file");
    store.put_job(&j).await.unwrap();
    store.put_job(&job("j2", 2_000)).await.unwrap();
    j.status = JobStatus::Succeeded;
    j.outputs = vec![output("9", 0), output("9", 1)];
    store.put_job(&j).await.unwrap();
    let assets: Vec<Asset> = j.outputs.iter().map(|o| Asset::from_output(&j, o, 1_500)).collect();
    store.put_assets(&assets).await.unwrap();
    let content = AssetContent {
        sha256: "00".repeat(32),
        byte_size: 10,
        width: Some(1),
        height: Some(2),
        mime_type: None,
    };
    store.set_asset_content(&assets[0].id, &content).await.unwrap();

    let all_jobs = JobQuery::default();
    let all_assets = AssetQuery::default();
    let jobs_before = store.list_jobs(&all_jobs).await.unwrap();
    let assets_before = store.list_assets(&all_assets).await.unwrap();
    assert_eq!(jobs_before.len(), 2);
    assert_eq!(assets_before.len(), 2);
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.list_jobs(&all_jobs).await.unwrap(), jobs_before);
    assert_eq!(store.list_assets(&all_assets).await.unwrap(), assets_before);
    assert_eq!(store.get_job(&j.id).await.unwrap(), Some(j));
    assert_eq!(store.get_asset(&assets[0].id).await.unwrap().unwrap().sha256, Some(content.sha256));
    let unfinished = JobQuery { unfinished_only: true, ..Default::default() };
    assert_eq!(store.list_jobs(&unfinished).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_fresh_database_is_at_the_latest_schema_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.sqlite3");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.path(), path);
    let conn = raw(&path);
    assert_eq!(user_version(&conn), SqliteStore::SCHEMA_VERSION);
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let indexes: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for wanted in
        ["assets_created_at", "assets_job_id", "assets_owner", "assets_template", "jobs_status_name"]
    {
        assert!(indexes.iter().any(|i| i == wanted), "missing index {wanted} in {indexes:?}");
    }
    drop(conn);
    drop(store);
    // Reopening an up-to-date database keeps its version.
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(user_version(&raw(&path)), SqliteStore::SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused_and_the_file_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite3");
    {
        let conn = raw(&path);
        conn.execute_batch("CREATE TABLE jobs (id TEXT PRIMARY KEY, future_column BLOB); INSERT INTO jobs VALUES ('x', x'00');")
            .unwrap();
        conn.pragma_update(None, "user_version", SqliteStore::SCHEMA_VERSION + 1).unwrap();
    }
    let bytes_before = std::fs::read(&path).unwrap();
    let listing_before = dir_listing(dir.path());

    let err = SqliteStore::open(&path).unwrap_err();
    match &err {
        Error::StoreSchemaTooNew { path: p, found, supported } => {
            assert_eq!(p, &path);
            assert_eq!(*found, SqliteStore::SCHEMA_VERSION + 1);
            assert_eq!(*supported, SqliteStore::SCHEMA_VERSION);
        }
        other => panic!("expected StoreSchemaTooNew, got {other:?}"),
    }
    assert_eq!(err.code(), "store_schema_too_new");
    assert!(!err.is_retryable());
    assert!(std::fs::read(&path).unwrap() == bytes_before, "the database file changed");
    assert_eq!(dir_listing(dir.path()), listing_before, "files were created or removed");
}

#[test]
fn a_file_that_is_not_a_database_is_a_store_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.sqlite3");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert_eq!(err.code(), "store_error", "{err}");
    assert!(err.to_string().contains("garbage.sqlite3"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("concurrent.sqlite3")).unwrap());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let j = job(&format!("job-{t}"), t);
            store.put_job(&j).await.unwrap();
            for i in 0..100u32 {
                let a = Asset::from_output(&j, &output("9", i), i64::from(i));
                // Mix single inserts, duplicates and reads to interleave the tasks' transactions.
                store.put_assets(&[a.clone(), a.clone()]).await.unwrap();
                if i % 10 == 0 {
                    assert_eq!(store.get_asset(&a.id).await.unwrap(), Some(a));
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let all = store.list_assets(&AssetQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 800);
    let mut ids: Vec<_> = all.iter().map(|a| a.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 800);
    for t in 0..8 {
        let q = AssetQuery { job_id: Some(JobId(format!("job-{t}"))), limit: 1_000, ..Default::default() };
        assert_eq!(store.list_assets(&q).await.unwrap().len(), 100, "job-{t}");
    }
}

/// Asserts that `err` is a store error pointing at `table`, `id` and `column`.
fn assert_corrupt(err: &Error, table: &str, id: &str, column: &str) {
    assert!(matches!(err, Error::Store { retryable: false, .. }), "{err:?}");
    assert_eq!(err.code(), "store_error");
    let text = err.to_string();
    for needle in [format!("`{table}`"), format!("{id:?}"), format!("`{column}`")] {
        assert!(text.contains(&needle), "{needle} not in: {text}");
    }
}

#[tokio::test]
async fn corrupt_rows_are_typed_errors_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.sqlite3");
    let store = SqliteStore::open(&path).unwrap();
    let j = job("victim", 1);
    store.put_job(&j).await.unwrap();
    store.put_job(&job("bystander", 2)).await.unwrap();
    let a = Asset::from_output(&j, &output("9", 0), 1);
    store.put_assets(std::slice::from_ref(&a)).await.unwrap();

    // Someone edits the database behind the store's back, through another connection.
    let conn = raw(&path);
    conn.execute("UPDATE jobs SET status = '{\"state\": \"runn' WHERE id = 'victim'", []).unwrap();
    let err = store.get_job(&j.id).await.unwrap_err();
    assert_corrupt(&err, "jobs", "victim", "status");
    assert!(err.to_string().contains("get_job"), "{err}");
    // Listing fails the same way instead of silently skipping the row.
    assert_corrupt(&store.list_jobs(&JobQuery::default()).await.unwrap_err(), "jobs", "victim", "status");
    // Other rows still read.
    assert!(store.get_job(&JobId::from("bystander")).await.unwrap().is_some());

    conn.execute("UPDATE jobs SET status = '{\"state\": \"exploded\"}' WHERE id = 'victim'", []).unwrap();
    assert_corrupt(&store.get_job(&j.id).await.unwrap_err(), "jobs", "victim", "status");
    conn.execute("UPDATE jobs SET status = '\"succeeded\"', outputs = 42 WHERE id = 'victim'", []).unwrap();
    let err = store.get_job(&j.id).await.unwrap_err();
    // `status` is not an object with a `state` tag either; whichever column is read first is named.
    assert_corrupt(&err, "jobs", "victim", "status");
    conn.execute("UPDATE jobs SET status = '{\"state\": \"succeeded\"}' WHERE id = 'victim'", []).unwrap();
    assert_corrupt(&store.get_job(&j.id).await.unwrap_err(), "jobs", "victim", "outputs");
    conn.execute("UPDATE jobs SET outputs = '[]', params = 'not json' WHERE id = 'victim'", []).unwrap();
    assert_corrupt(&store.get_job(&j.id).await.unwrap_err(), "jobs", "victim", "params");

    let aid = a.id.as_str();
    conn.execute("UPDATE assets SET file = '[' WHERE id = ?1", [aid]).unwrap();
    assert_corrupt(&store.get_asset(&a.id).await.unwrap_err(), "assets", aid, "file");
    conn.execute("UPDATE assets SET file = NULL, media = 'hologram' WHERE id = ?1", [aid]).unwrap();
    assert_corrupt(&store.get_asset(&a.id).await.unwrap_err(), "assets", aid, "media");
    conn.execute("UPDATE assets SET media = 'image', idx = -1 WHERE id = ?1", [aid]).unwrap();
    assert_corrupt(&store.get_asset(&a.id).await.unwrap_err(), "assets", aid, "idx");
    conn.execute("UPDATE assets SET idx = 0, byte_size = 'lots' WHERE id = ?1", [aid]).unwrap();
    assert_corrupt(&store.list_assets(&AssetQuery::default()).await.unwrap_err(), "assets", aid, "byte_size");
    conn.execute("UPDATE assets SET byte_size = NULL, mime_type = x'ff00' WHERE id = ?1", [aid]).unwrap();
    assert_corrupt(&store.get_asset(&a.id).await.unwrap_err(), "assets", aid, "mime_type");

    // Repaired by hand, the row reads again.
    conn.execute("UPDATE assets SET mime_type = 'image/png' WHERE id = ?1", [aid]).unwrap();
    let mut repaired = a.clone();
    repaired.file = None;
    assert_eq!(store.get_asset(&a.id).await.unwrap(), Some(repaired));
}
