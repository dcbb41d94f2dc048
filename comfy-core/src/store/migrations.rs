//! Versioned schema migrations for [`SqliteStore`](super::SqliteStore).
//!
//! The schema version is SQLite's `PRAGMA user_version` (0 for a new database). Migration `i`
//! (0-based) takes the schema from version `i` to `i + 1`; each runs in its own `IMMEDIATE`
//! transaction together with the bump of `user_version`, so a crash leaves the database at
//! one version or the next, never in between. Released steps are never edited: a change to
//! the schema is a new step appended to [`MIGRATIONS`].

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::sqlite::sql_error;
use crate::error::{Error, Result};

/// The ordered migration steps; step `i` upgrades version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: jobs and assets.
    r#"
    CREATE TABLE jobs (
        id            TEXT    NOT NULL PRIMARY KEY,
        backend       TEXT    NOT NULL,
        request       TEXT    NOT NULL,  -- JSON
        workflow_hash TEXT    NOT NULL,
        template      TEXT,
        params        TEXT,              -- JSON
        owner         TEXT,
        status        TEXT    NOT NULL,  -- JSON (JobStatus)
        status_name   TEXT    NOT NULL,  -- JobStatus::name(), for unfinished-job queries
        outputs       TEXT    NOT NULL,  -- JSON (array of JobOutput)
        created_at    INTEGER NOT NULL,  -- ms since the Unix epoch
        updated_at    INTEGER NOT NULL
    );
    CREATE INDEX jobs_status_name ON jobs (status_name);
    CREATE INDEX jobs_created_at ON jobs (created_at, id);
    CREATE INDEX jobs_owner ON jobs (owner);

    CREATE TABLE assets (
        id            TEXT    NOT NULL PRIMARY KEY,
        job_id        TEXT    NOT NULL,
        backend       TEXT    NOT NULL,
        node_id       TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        idx           INTEGER NOT NULL,
        template      TEXT,
        params        TEXT,              -- JSON
        owner         TEXT,
        workflow_hash TEXT    NOT NULL,
        file          TEXT,              -- JSON (FileRef)
        url           TEXT,
        text          TEXT,
        media         TEXT    NOT NULL,  -- MediaKind as serialized (`image`, `video`, ...)
        mime_type     TEXT    NOT NULL,
        byte_size     INTEGER,
        width         INTEGER,
        height        INTEGER,
        sha256        TEXT,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER
    );
    CREATE INDEX assets_job_id ON assets (job_id);
    CREATE INDEX assets_template ON assets (template);
    CREATE INDEX assets_created_at ON assets (created_at, id);
    CREATE INDEX assets_owner ON assets (owner);
    CREATE INDEX assets_expires_at ON assets (expires_at) WHERE expires_at IS NOT NULL;
    "#,
    // 2: the backend's opaque job handle (hosted backends: status/cancel URLs, deployment ids).
    r#"
    ALTER TABLE jobs ADD COLUMN handle TEXT;  -- JSON, NULL when the backend gave none
    "#,
    // 3: batches (items with their prepared requests and jobs), continued after a restart.
    r#"
    CREATE TABLE batches (
        id            TEXT    NOT NULL PRIMARY KEY,
        backend       TEXT    NOT NULL,
        record        TEXT    NOT NULL,  -- JSON (BatchRecord)
        unsubmitted   INTEGER NOT NULL,  -- items neither submitted nor refused
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE INDEX batches_unsubmitted ON batches (unsubmitted) WHERE unsubmitted > 0;
    CREATE INDEX batches_created_at ON batches (created_at, id);
    "#,
    // 4: jobs by workflow hash (result reuse looks up an earlier identical job).
    r#"
    CREATE INDEX jobs_workflow_hash ON jobs (workflow_hash);
    "#,
    // 5: PostgreSQL's tables of state shared by several servers (`store::shared`); an embedded
    // store has one process and keeps that state in memory. Kept so versions match step by step.
    "-- nothing to do for SQLite",
];

/// The schema version a fully migrated database has.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// The database's schema version (`PRAGMA user_version`).
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Fails with [`Error::StoreSchemaTooNew`] when `found` is newer than this build knows.
pub(crate) fn check_not_too_new(found: i64, path: &Path) -> Result<()> {
    if found > LATEST {
        return Err(Error::StoreSchemaTooNew { path: path.to_path_buf(), found, supported: LATEST });
    }
    Ok(())
}

/// Brings the database up to [`LATEST`], one transaction per step.
///
/// The version is re-read inside each step's write transaction, so two processes opening the
/// same new database at once never apply a step twice.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error("migrate", &e))?;
        let current = version(&tx).map_err(|e| sql_error("migrate", &e))?;
        check_not_too_new(current, path)?;
        if current < 0 {
            return Err(Error::store(
                "migrate",
                format!("invalid schema version {current} in {}", path.display()),
            ));
        }
        if current == LATEST {
            return Ok(());
        }
        // `current` is in 0..LATEST here, so it indexes MIGRATIONS.
        let step = MIGRATIONS[current as usize];
        tx.execute_batch(step).map_err(|e| {
            Error::store("migrate", format!("migration to schema version {} failed: {e}", current + 1))
        })?;
        tx.pragma_update(None, "user_version", current + 1).map_err(|e| sql_error("migrate", &e))?;
        tx.commit().map_err(|e| sql_error("migrate", &e))?;
        tracing::debug!(path = %path.display(), version = current + 1, "migrated store schema");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_migrations_apply_in_order_and_stop_at_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(version(&conn).unwrap(), 0);
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(version(&conn).unwrap(), LATEST);
        // Idempotent: a second run changes nothing.
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(version(&conn).unwrap(), LATEST);
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(tables, ["assets", "batches", "jobs"]);
    }

    #[test]
    fn store_migration_2_keeps_version_1_jobs_and_adds_the_handle() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO jobs (id, backend, request, workflow_hash, status, status_name, outputs, \
             created_at, updated_at) VALUES ('j', 'b', '{}', 'h', '{}', 'queued', '[]', 1, 1)",
            [],
        )
        .unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(version(&conn).unwrap(), LATEST);
        let handle: Option<String> =
            conn.query_row("SELECT handle FROM jobs WHERE id = 'j'", [], |r| r.get(0)).unwrap();
        assert_eq!(handle, None);
    }

    #[test]
    fn store_migrations_refuse_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST + 1).unwrap();
        let err = migrate(&mut conn, Path::new("x.sqlite3")).unwrap_err();
        assert_eq!(err.code(), "store_schema_too_new");
        assert_eq!(version(&conn).unwrap(), LATEST + 1);
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 0);
    }
}
