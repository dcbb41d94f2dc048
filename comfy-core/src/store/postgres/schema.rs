//! Versioned schema migrations for [`PostgresStore`](super::PostgresStore).
//!
//! The applied versions are rows of `comfy_schema_migrations`. Every server that opens the
//! database runs [`migrate`] once: in ONE transaction that first takes a transaction-level
//! advisory lock, so two servers opening the same new database at once apply each step exactly
//! once (the second waits for the first, then finds nothing to do). PostgreSQL DDL is
//! transactional: a failure leaves the database at the version it had. Released steps are never
//! edited; a change is a new step appended to [`MIGRATIONS`]. The versions match the SQLite
//! store's (`SqliteStore::SCHEMA_VERSION`), step for step.
//!
//! Every free-form string (ids, backend and owner names, templates, URLs, text outputs) is a
//! `BYTEA` holding its UTF-8 bytes: PostgreSQL `TEXT` cannot hold U+0000, which the other stores
//! accept, and `BYTEA` orders byte-wise (the other stores' tie-break order) whatever the
//! database's collation. JSON-valued columns are `TEXT` holding the JSON as written (JSON
//! escapes U+0000), so key order and number spelling survive exactly.

use deadpool_postgres::Object;

use super::errors::pg_error;
use crate::error::{Error, Result};

/// The ordered migration steps; step `i` upgrades version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: jobs and assets.
    r#"
    CREATE TABLE jobs (
        id            BYTEA   NOT NULL PRIMARY KEY,
        backend       BYTEA   NOT NULL,
        request       TEXT    NOT NULL,  -- JSON
        workflow_hash BYTEA   NOT NULL,
        template      BYTEA,
        params        TEXT,              -- JSON
        owner         BYTEA,
        status        TEXT    NOT NULL,  -- JSON (JobStatus)
        status_name   TEXT    NOT NULL,  -- JobStatus::name(), for unfinished-job queries
        outputs       TEXT    NOT NULL,  -- JSON (array of JobOutput)
        created_at    BIGINT  NOT NULL,  -- ms since the Unix epoch
        updated_at    BIGINT  NOT NULL
    );
    CREATE INDEX jobs_status_name ON jobs (status_name);
    CREATE INDEX jobs_created_at ON jobs (created_at, id);
    CREATE INDEX jobs_owner ON jobs (owner);

    CREATE TABLE assets (
        id            BYTEA   NOT NULL PRIMARY KEY,
        job_id        BYTEA   NOT NULL,
        backend       BYTEA   NOT NULL,
        node_id       BYTEA   NOT NULL,
        key           BYTEA   NOT NULL,
        idx           BIGINT  NOT NULL,
        template      BYTEA,
        params        TEXT,              -- JSON
        owner         BYTEA,
        workflow_hash BYTEA   NOT NULL,
        file          TEXT,              -- JSON (FileRef)
        url           BYTEA,
        text          BYTEA,
        media         TEXT    NOT NULL,  -- MediaKind as serialized (`image`, `video`, ...)
        mime_type     BYTEA   NOT NULL,
        byte_size     BIGINT,
        width         BIGINT,
        height        BIGINT,
        sha256        BYTEA,
        created_at    BIGINT  NOT NULL,
        expires_at    BIGINT
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
        id            BYTEA   NOT NULL PRIMARY KEY,
        backend       BYTEA   NOT NULL,
        record        TEXT    NOT NULL,  -- JSON (BatchRecord)
        unsubmitted   BIGINT  NOT NULL,  -- items neither submitted nor refused
        created_at    BIGINT  NOT NULL,
        updated_at    BIGINT  NOT NULL
    );
    CREATE INDEX batches_unsubmitted ON batches (unsubmitted) WHERE unsubmitted > 0;
    CREATE INDEX batches_created_at ON batches (created_at, id);
    "#,
    // 4: jobs by workflow hash (result reuse looks up an earlier identical job).
    r#"
    CREATE INDEX jobs_workflow_hash ON jobs (workflow_hash);
    "#,
    // 5: what several servers share (see `store::shared`): who is alive, who follows which
    // unfinished job or batch, in-flight dedup claims and per-token rate budgets. Times are
    // the database's clock (ms), so servers' clocks need not agree.
    r#"
    CREATE TABLE comfy_servers (
        id            BYTEA   NOT NULL PRIMARY KEY,
        heartbeat_at  BIGINT  NOT NULL,
        retired       BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE comfy_leases (
        subject       BYTEA   NOT NULL PRIMARY KEY,  -- `job:<id>` or `batch:<id>`
        server        BYTEA   NOT NULL,
        taken_at      BIGINT  NOT NULL
    );
    CREATE INDEX comfy_leases_server ON comfy_leases (server);
    CREATE TABLE comfy_claims (
        key           BYTEA   NOT NULL PRIMARY KEY,
        job_id        BYTEA,                         -- NULL while the claimant submits
        server        BYTEA   NOT NULL,
        claimed_at    BIGINT  NOT NULL
    );
    CREATE INDEX comfy_claims_job_id ON comfy_claims (job_id);
    CREATE TABLE comfy_rate_budgets (
        key           BYTEA   NOT NULL PRIMARY KEY,
        tokens        DOUBLE PRECISION NOT NULL,
        updated_at    BIGINT  NOT NULL
    );
    CREATE TABLE comfy_param_defaults (
        name          BYTEA   NOT NULL PRIMARY KEY,
        value         TEXT    NOT NULL               -- JSON
    );
    "#,
];

/// The schema version a fully migrated database has.
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

/// The advisory-lock key that serializes migrations across servers (`comfy-rs` in ASCII).
const MIGRATION_LOCK: i64 = 0x636f_6d66_792d_7273;

const CREATE_VERSIONS: &str = "CREATE TABLE IF NOT EXISTS comfy_schema_migrations (\
     version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// The database's schema version: the highest applied step (0 for a new database).
pub(super) async fn version(client: &Object) -> Result<i64> {
    const OP: &str = "schema_version";
    let exists: bool = client
        .query_one("SELECT to_regclass('comfy_schema_migrations') IS NOT NULL", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| pg_error(OP, &e))?;
    if !exists {
        return Ok(0);
    }
    client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM comfy_schema_migrations", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| pg_error(OP, &e))
}

/// Brings the database up to [`LATEST`] in one transaction under the migration lock; refuses
/// (and leaves untouched) a database whose schema is newer than this build knows.
pub(super) async fn migrate(client: &mut Object, url: &str) -> Result<()> {
    const OP: &str = "migrate";
    let err = |e: tokio_postgres::Error| pg_error(OP, &e);
    let tx = client.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(err)?;
    tx.batch_execute(CREATE_VERSIONS).await.map_err(err)?;
    let current: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM comfy_schema_migrations", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(err)?;
    if current > LATEST {
        return Err(Error::StoreSchemaTooNew { path: url.into(), found: current, supported: LATEST });
    }
    if current < 0 {
        return Err(Error::store(OP, format!("invalid schema version {current} in {url}")));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let to = i as i64 + 1;
        tx.batch_execute(step).await.map_err(|e| {
            let mut e = pg_error(OP, &e);
            if let Error::Store { message, .. } = &mut e {
                *message = format!("migration to schema version {to} failed: {message}");
            }
            e
        })?;
        tx.execute(
            "INSERT INTO comfy_schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&to, &super::super::now_millis()],
        )
        .await
        .map_err(err)?;
        tracing::debug!(url, version = to, "migrated store schema");
    }
    tx.commit().await.map_err(err)
}
