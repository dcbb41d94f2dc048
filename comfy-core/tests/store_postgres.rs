//! The PostgreSQL store against a real server: the conformance suite, two pools on one
//! database, concurrent and from-scratch migrations, error mapping, and SQLite → PostgreSQL
//! migration.
//!
//! Needs `COMFY_TEST_POSTGRES_URL` (a database the tests may create schemas in) and FAILS
//! without it: `scripts/test.sh` starts a throwaway server (scripts/postgres/start.sh) and runs
//! `cargo test -p comfy-core --features postgres-tests --test store_postgres`. Each test works in
//! a schema of its own, so tests never see each other's records.

#[path = "support/pg.rs"]
mod pg;
#[path = "support/store_suite.rs"]
mod store_suite;

use comfy_core::StoreConfig;
use comfy_core::job::{JobId, JobStatus};
use comfy_core::store::{
    Asset, AssetQuery, BatchQuery, CopyCounts, JobQuery, PoolOptions, PostgresStore, SqliteStore, Store,
};
use pg::{base_url, count, fresh_schema, raw, with_search_path};
use store_suite::{asset, batch, conformance, job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let store = PostgresStore::open(&fresh_schema("conf").await).await.unwrap();
    conformance(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms_over_a_unix_socket() {
    let base = base_url();
    let client = raw(&base).await;
    let dirs: String = client.query_one("SHOW unix_socket_directories", &[]).await.unwrap().get(0);
    let port: String = client.query_one("SHOW port", &[]).await.unwrap().get(0);
    let dir = dirs.split(',').next().unwrap().trim().to_owned();
    assert!(dir.starts_with('/'), "the server has no unix socket directory: {dirs:?}");
    let config: tokio_postgres::Config = base.parse().unwrap();
    let user = config.get_user().unwrap();
    let db = config.get_dbname().unwrap();
    let schema = format!("t_unix_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let encoded_dir = dir.replace('/', "%2F");
    let url = with_search_path(&format!("postgres://{user}@{encoded_dir}:{port}/{db}"), &schema);
    let store = PostgresStore::open(&url).await.unwrap();
    conformance(&store).await;
    let via_tcp = PostgresStore::open(&with_search_path(&base, &schema)).await.unwrap();
    assert_eq!(via_tcp.list_jobs(&JobQuery::default()).await.unwrap().len(), 100, "same database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_on_one_database_share_records_and_migrate_once() {
    let url = fresh_schema("two").await;
    // Eight stores open the new database at once: each step is applied exactly once.
    let opens = (0..8).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PostgresStore::open(&url).await })
    });
    let mut stores = Vec::new();
    for open in futures::future::join_all(opens).await {
        stores.push(open.unwrap().expect("a concurrent open succeeds"));
    }
    assert_eq!(
        count(&url, "SELECT count(*) FROM comfy_schema_migrations").await,
        PostgresStore::SCHEMA_VERSION
    );
    let (a, b) = (stores.swap_remove(0), stores.swap_remove(0));
    assert_eq!(b.schema_version().await.unwrap(), PostgresStore::SCHEMA_VERSION);

    // A job submitted through one server is seen (and updated) through the other.
    let mut j = job("shared-1", "local", Some("alice"), 1_000, JobStatus::Queued { position: Some(1) });
    a.put_job(&j).await.unwrap();
    assert_eq!(b.get_job(&j.id).await.unwrap().as_ref(), Some(&j));
    let unfinished = JobQuery { unfinished_only: true, ..Default::default() };
    assert_eq!(b.list_jobs(&unfinished).await.unwrap(), [j.clone()]);
    j.status = JobStatus::Succeeded;
    j.updated_at = 2_000;
    b.put_job(&j).await.unwrap();
    assert_eq!(a.get_job(&j.id).await.unwrap(), Some(j.clone()));
    assert!(a.list_jobs(&unfinished).await.unwrap().is_empty());

    // Assets written by both at once are stored once each.
    let assets: Vec<Asset> =
        (0..20).map(|i| asset(&j, "9", i, None, Some("alice"), 3_000 + i64::from(i), None)).collect();
    let (ra, rb) = tokio::join!(a.put_assets(&assets), b.put_assets(&assets));
    ra.unwrap();
    rb.unwrap();
    let listed =
        a.list_assets(&AssetQuery { job_id: Some(j.id.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 20);

    // Batches too.
    let bt = batch("b_shared", "local", 4_000, &[Some("shared-1"), None]);
    b.put_batch(&bt).await.unwrap();
    let waiting = BatchQuery { unsubmitted_only: true, ..Default::default() };
    assert_eq!(a.list_batches(&waiting).await.unwrap(), [bt]);

    // Many concurrent writers through both pools lose nothing.
    let writes = (0..200).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store.put_job(&job(&format!("w-{i:03}"), "many", None, 10_000 + i, JobStatus::Pending)).await
        })
    });
    for w in futures::future::join_all(writes).await {
        w.unwrap().unwrap();
    }
    let many = JobQuery { backend: Some("many".into()), limit: 1_000, ..Default::default() };
    assert_eq!(a.list_jobs(&many).await.unwrap().len(), 200);
    assert_eq!(b.list_jobs(&many).await.unwrap().len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_from_scratch_creates_the_schema_once() {
    let url = fresh_schema("scratch").await;
    let lazy = PostgresStore::lazy(&url, PoolOptions::default()).unwrap();
    assert_eq!(lazy.schema_version().await.unwrap(), 0, "nothing is created before the first call");
    assert_eq!(
        count(&url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")
            .await,
        0
    );

    // The first call migrates.
    assert!(lazy.list_jobs(&JobQuery::default()).await.unwrap().is_empty());
    assert_eq!(lazy.schema_version().await.unwrap(), PostgresStore::SCHEMA_VERSION);
    assert_eq!(PostgresStore::SCHEMA_VERSION, SqliteStore::SCHEMA_VERSION, "schema versions match SQLite's");
    let client = raw(&url).await;
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected = [
        "assets",
        "batches",
        "comfy_claims",
        "comfy_leases",
        "comfy_param_defaults",
        "comfy_rate_budgets",
        "comfy_schema_migrations",
        "comfy_servers",
        "jobs",
    ];
    assert_eq!(tables, expected, "jobs, assets, batches and the state servers share");
    let handle_column = count(
        &url,
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() \
         AND table_name = 'jobs' AND column_name = 'handle'",
    )
    .await;
    assert_eq!(handle_column, 1);

    // Opening again applies nothing.
    let again = PostgresStore::open(&url).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), PostgresStore::SCHEMA_VERSION);
    assert_eq!(
        count(&url, "SELECT count(*) FROM comfy_schema_migrations").await,
        PostgresStore::SCHEMA_VERSION
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_and_left_untouched() {
    let url = fresh_schema("newer").await;
    PostgresStore::open(&url).await.unwrap();
    raw(&url)
        .await
        .batch_execute("INSERT INTO comfy_schema_migrations (version, applied_at) VALUES (99, 0)")
        .await
        .unwrap();
    let e = PostgresStore::open(&url).await.unwrap_err();
    assert_eq!(e.code(), "store_schema_too_new");
    assert!(!e.is_retryable());
    assert_eq!(count(&url, "SELECT max(version) FROM comfy_schema_migrations").await, 99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_rows_and_unreachable_servers_are_store_errors() {
    let url = fresh_schema("errors").await;
    let store = PostgresStore::open(&url).await.unwrap();
    raw(&url)
        .await
        .batch_execute(
            "INSERT INTO jobs (id, backend, request, workflow_hash, status, status_name, outputs, \
             created_at, updated_at) VALUES ('\\x626164'::bytea, 'b', 'not json', 'h', '{}', 'queued', '[]', 1, 1)",
        )
        .await
        .unwrap();
    let e = store.get_job(&JobId::from("bad")).await.unwrap_err();
    assert_eq!(e.code(), "store_error");
    assert!(!e.is_retryable(), "a corrupt row is not transient");
    let text = e.to_string();
    assert!(text.contains("jobs") && text.contains("\"bad\"") && text.contains("request"), "{text}");

    // Nothing listens on port 1: retryable, and the password never shows.
    let down = PostgresStore::lazy("postgres://comfy:hunter2@127.0.0.1:1/x", PoolOptions::default()).unwrap();
    assert!(!format!("{down:?}").contains("hunter2"));
    let e = down.put_job(&job("j", "b", None, 1, JobStatus::Pending)).await.unwrap_err();
    assert_eq!(e.code(), "store_error");
    assert!(e.is_retryable(), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");

    let e = PostgresStore::lazy("postgres://h:notaport/db", PoolOptions::default()).unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_url_opens_postgres_through_store_config() {
    let url = fresh_schema("config").await;
    let config = StoreConfig::parse(&url).unwrap();
    assert_eq!(config, StoreConfig::Url(url.clone()));
    let store = config.open().unwrap();
    store.put_job(&job("via-config", "local", None, 1, JobStatus::Pending)).await.unwrap();
    let direct = PostgresStore::open(&url).await.unwrap();
    assert!(direct.get_job(&JobId::from("via-config")).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_data_dir_migrates_into_postgres_once() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("comfy.sqlite3")).unwrap();
    let mut jobs = Vec::new();
    for i in 0..150 {
        let status = if i % 3 == 0 { JobStatus::Running(Default::default()) } else { JobStatus::Succeeded };
        let j = job(
            &format!("m-{i:03}"),
            if i % 2 == 0 { "local" } else { "cloud" },
            Some("ann"),
            1_000 + i,
            status,
        );
        sqlite.put_job(&j).await.unwrap();
        jobs.push(j);
    }
    let assets: Vec<Asset> = jobs
        .iter()
        .take(40)
        .enumerate()
        .map(|(i, j)| asset(j, "9", 0, Some("t"), Some("ann"), 5_000 + i as i64, None))
        .collect();
    sqlite.put_assets(&assets).await.unwrap();
    for i in 0..3 {
        sqlite
            .put_batch(&batch(&format!("b_{i}"), "local", 9_000 + i, &[Some("m-000"), None]))
            .await
            .unwrap();
    }
    drop(sqlite);

    let url = fresh_schema("migrate").await;
    let from = StoreConfig::Dir(dir.path().to_path_buf());
    let to = StoreConfig::parse(&url).unwrap();
    let first = from.migrate_to(&to).await.unwrap();
    assert_eq!(first.jobs, CopyCounts { copied: 150, updated: 0, unchanged: 0 });
    assert_eq!(first.assets, CopyCounts { copied: 40, updated: 0, unchanged: 0 });
    assert_eq!(first.batches, CopyCounts { copied: 3, updated: 0, unchanged: 0 });

    let again = from.migrate_to(&to).await.unwrap();
    assert_eq!(again.jobs, CopyCounts { copied: 0, updated: 0, unchanged: 150 });
    assert_eq!(again.assets, CopyCounts { copied: 0, updated: 0, unchanged: 40 });
    assert_eq!(again.batches, CopyCounts { copied: 0, updated: 0, unchanged: 3 });

    let pg = PostgresStore::open(&url).await.unwrap();
    let sqlite = SqliteStore::open(dir.path().join("comfy.sqlite3")).unwrap();
    let all = JobQuery { limit: 1_000, ..Default::default() };
    assert_eq!(pg.list_jobs(&all).await.unwrap(), sqlite.list_jobs(&all).await.unwrap());
    let all = AssetQuery { limit: 1_000, ..Default::default() };
    assert_eq!(pg.list_assets(&all).await.unwrap(), sqlite.list_assets(&all).await.unwrap());
    let all = BatchQuery { limit: 1_000, ..Default::default() };
    assert_eq!(pg.list_batches(&all).await.unwrap(), sqlite.list_batches(&all).await.unwrap());
    assert_eq!(count(&url, "SELECT count(*) FROM jobs").await, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_by_the_server_are_replaced_and_nothing_is_lost() {
    let app = format!("comfy-kill-{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}&application_name={app}", fresh_schema("kill").await);
    let store = PostgresStore::open(&url).await.unwrap();
    let first = job("before-kill", "local", None, 1, JobStatus::Pending);
    store.put_job(&first).await.unwrap();

    // The server ends every connection of this store (as a restart or a failover would).
    let killed: i64 = raw(&base_url())
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the store's connections were found");

    // A call may fail once (a connection lost mid-call), and then only as a retryable error;
    // the pool replaces the dead connections and the next attempts succeed.
    let second = job("after-kill", "local", None, 2, JobStatus::Pending);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match store.put_job(&second).await {
            Ok(()) => break,
            Err(e) => {
                assert!(e.is_retryable(), "a lost connection is retryable: {e}");
                assert!(attempts < 3, "still failing after {attempts} attempts: {e}");
            }
        }
    }
    assert_eq!(store.get_job(&first.id).await.unwrap(), Some(first));
    assert_eq!(store.get_job(&second.id).await.unwrap(), Some(second));
}
