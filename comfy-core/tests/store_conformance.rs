//! One behavioural suite (tests/support/store_suite.rs), run against every embedded `Store`
//! implementation; store_postgres.rs runs it against PostgreSQL.

#[path = "support/store_suite.rs"]
mod store_suite;

use comfy_core::store::{MemoryStore, SqliteStore};
use store_suite::conformance;

#[tokio::test]
async fn memory_store_conforms() {
    conformance(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_in_memory_store_conforms() {
    conformance(&SqliteStore::open_in_memory().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("conformance.sqlite3")).unwrap();
    conformance(&store).await;
}
