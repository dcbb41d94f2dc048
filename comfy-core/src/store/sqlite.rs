//! [`SqliteStore`]: jobs and assets in an embedded SQLite database.
//!
//! One connection, behind a mutex, used only from Tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]), so no call ever blocks the async runtime. The database
//! runs in WAL mode with `synchronous=FULL`: once a write method returns, the data is on disk
//! and survives the process being killed (or the machine losing power). JSON-valued fields are
//! stored as JSON text; a row that no longer decodes (someone edited the file) is reported as an
//! [`Error::Store`] naming the table, the row id and the column, never a panic.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{FromSql, Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, Row, TransactionBehavior, params, params_from_iter};
use serde::Serialize;

use super::columns::{Columns, KEEP_FINISHED, UNFINISHED_STATES};
use super::migrations;
use super::{
    Asset, AssetContent, AssetId, AssetQuery, BatchQuery, BatchRecord, JobQuery, JobRecord, Millis,
    Provenance, Store, effective_limit,
};
use crate::error::{Error, Result};
use crate::job::{JobId, MediaKind};

/// Environment variable naming the directory that holds the default database
/// (`$COMFY_DATA_DIR/comfy.sqlite3`); see [`SqliteStore::default_path`].
pub const DATA_DIR_ENV: &str = "COMFY_DATA_DIR";

/// File name of the default database.
const DB_FILE_NAME: &str = "comfy.sqlite3";
/// Sub-directory of the user's data directory for the default database.
const APP_DIR_NAME: &str = "comfy-rs";
/// How long a write waits for another process's lock before failing with a retryable error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const JOB_COLUMNS: &str = "id, backend, request, workflow_hash, template, params, owner, status, \
                           status_name, outputs, created_at, updated_at, handle";
const ASSET_COLUMNS: &str = "id, job_id, backend, node_id, key, idx, template, params, owner, \
                             workflow_hash, file, url, text, media, mime_type, byte_size, width, \
                             height, sha256, created_at, expires_at";

/// A [`Store`] in an SQLite database file (or in memory), with versioned migrations.
///
/// Cloning is cheap and shares the connection. Every method must be called from within a Tokio
/// runtime (the work runs on its blocking pool). If a call's future is dropped after the work
/// has started, the write still completes.
///
/// ```no_run
/// # async fn demo() -> comfy_core::Result<()> {
/// use comfy_core::store::{JobQuery, SqliteStore, Store};
///
/// let store = SqliteStore::open_default()?;
/// let unfinished = store.list_jobs(&JobQuery { unfinished_only: true, ..Default::default() }).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The schema version this build creates and understands (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: i64 = migrations::LATEST;

    /// Opens (creating it and its parent directories if needed) the database at `path`, and
    /// migrates it to [`SCHEMA_VERSION`](Self::SCHEMA_VERSION).
    ///
    /// A database whose schema is newer than this build knows is refused with
    /// [`Error::StoreSchemaTooNew`] and left byte-for-byte untouched. This does a little
    /// blocking file I/O; from async code, call it once at start-up or inside
    /// [`tokio::task::spawn_blocking`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        let conn = Connection::open(path).map_err(|e| open_error(path, &e))?;
        Self::setup(conn, path.to_path_buf())
    }

    /// Opens the default database, at [`default_path`](Self::default_path).
    pub fn open_default() -> Result<Self> {
        Self::open(Self::default_path()?)
    }

    /// A private, empty database in memory (gone when the last clone is dropped).
    pub fn open_in_memory() -> Result<Self> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| open_error(&path, &e))?;
        Self::setup(conn, path)
    }

    /// Where [`open_default`](Self::open_default) keeps the database:
    /// `$COMFY_DATA_DIR/comfy.sqlite3` when that variable is set and not empty, otherwise
    /// `<user data dir>/comfy-rs/comfy.sqlite3` (e.g. `~/.local/share/comfy-rs/comfy.sqlite3`
    /// on Linux, `~/Library/Application Support/comfy-rs/comfy.sqlite3` on macOS).
    pub fn default_path() -> Result<PathBuf> {
        default_path_from(std::env::var_os(DATA_DIR_ENV), dirs::data_dir())
    }

    /// The database file (`:memory:` for an in-memory database).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn setup(mut conn: Connection, path: PathBuf) -> Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| open_error(&path, &e))?;
        // Refuse a too-new schema before anything (such as switching to WAL) writes to the file.
        let found = migrations::version(&conn).map_err(|e| open_error(&path, &e))?;
        migrations::check_not_too_new(found, &path)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| open_error(&path, &e))?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            tracing::warn!(path = %path.display(), %mode, "SQLite refused WAL mode; using its journal mode instead");
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| open_error(&path, &e))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| open_error(&path, &e))?;
        migrations::migrate(&mut conn, &path)?;
        Ok(SqliteStore { inner: Arc::new(Inner { conn: Mutex::new(conn), path }) })
    }

    /// Runs `work` with the connection on Tokio's blocking pool.
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while the lock was held rolled its transaction back (Transaction's Drop),
            // so the connection is still consistent.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(|e| Error::store(operation, format!("the database task did not complete: {e}")))?
    }
}

/// The default database path, from the `COMFY_DATA_DIR` value and the user's data directory.
fn default_path_from(env_dir: Option<OsString>, data_dir: Option<PathBuf>) -> Result<PathBuf> {
    match env_dir {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(DB_FILE_NAME)),
        _ => data_dir.map(|dir| dir.join(APP_DIR_NAME).join(DB_FILE_NAME)).ok_or_else(|| {
            Error::store("open", format!("this system has no user data directory; set {DATA_DIR_ENV}"))
        }),
    }
}

/// Maps an SQLite error to [`Error::Store`]; busy and locked databases are retryable.
pub(crate) fn sql_error(operation: &'static str, err: &rusqlite::Error) -> Error {
    let retryable =
        matches!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked));
    Error::Store { operation, message: err.to_string(), retryable }
}

fn open_error(path: &Path, err: &rusqlite::Error) -> Error {
    let mut e = sql_error("open", err);
    if let Error::Store { message, .. } = &mut e {
        *message = format!("{}: {message}", path.display());
    }
    e
}

fn to_json<T: Serialize + ?Sized>(operation: &'static str, what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::store(operation, format!("cannot encode {what}: {e}")))
}

fn optional_json<T: Serialize>(
    operation: &'static str,
    what: &str,
    value: Option<&T>,
) -> Result<Option<String>> {
    value.map(|v| to_json(operation, what, v)).transpose()
}

/// `media` as stored: its serialized name (`image`, `video`, ...).
fn media_name(operation: &'static str, media: MediaKind) -> Result<String> {
    match serde_json::to_value(media) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        other => Err(Error::store(operation, format!("cannot encode media kind {media:?}: {other:?}"))),
    }
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(effective_limit(limit)).unwrap_or(i64::MAX)
}

/// Reads one row's columns, turning every decoding failure into an error that names the
/// table, the row id and the column.
struct RowReader<'r, 's> {
    row: &'r Row<'s>,
    table: &'static str,
    operation: &'static str,
    id: String,
}

impl<'r, 's> RowReader<'r, 's> {
    fn new(row: &'r Row<'s>, table: &'static str, operation: &'static str) -> Self {
        let id = match row.get_ref("id") {
            Ok(ValueRef::Text(text)) => String::from_utf8_lossy(text).into_owned(),
            Ok(other) => format!("{other:?}"),
            Err(_) => "?".to_owned(),
        };
        RowReader { row, table, operation, id }
    }

    fn corrupt(&self, column: &str, problem: impl fmt::Display) -> Error {
        Error::store(
            self.operation,
            format!("corrupt row in table `{}` (id {:?}), column `{column}`: {problem}", self.table, self.id),
        )
    }

    fn get<T: FromSql>(&self, column: &'static str) -> Result<T> {
        self.row.get(column).map_err(|e| self.corrupt(column, e))
    }
}

impl Columns for RowReader<'_, '_> {
    fn corrupt(&self, column: &str, problem: &dyn fmt::Display) -> Error {
        Self::corrupt(self, column, problem)
    }

    fn raw_int(&self, column: &'static str) -> Result<i64> {
        self.get(column)
    }

    fn raw_int_opt(&self, column: &'static str) -> Result<Option<i64>> {
        self.get(column)
    }

    fn raw_text(&self, column: &'static str) -> Result<String> {
        self.get(column)
    }

    fn raw_text_opt(&self, column: &'static str) -> Result<Option<String>> {
        self.get(column)
    }
}

/// A job, encoded for its row.
struct JobRow {
    id: String,
    backend: String,
    request: String,
    workflow_hash: String,
    template: Option<String>,
    params: Option<String>,
    owner: Option<String>,
    status: String,
    status_name: &'static str,
    outputs: String,
    created_at: Millis,
    updated_at: Millis,
    handle: Option<String>,
}

impl JobRow {
    fn encode(job: &JobRecord) -> Result<JobRow> {
        const OP: &str = "put_job";
        Ok(JobRow {
            id: job.id.0.clone(),
            backend: job.backend.clone(),
            request: to_json(OP, "request", &job.request)?,
            workflow_hash: job.workflow_hash.clone(),
            template: job.provenance.template.clone(),
            params: optional_json(OP, "params", job.provenance.params.as_ref())?,
            owner: job.provenance.owner.clone(),
            status: to_json(OP, "status", &job.status)?,
            status_name: job.status.name(),
            outputs: to_json(OP, "outputs", &job.outputs)?,
            created_at: job.created_at,
            updated_at: job.updated_at,
            handle: optional_json(OP, "handle", job.handle.as_ref())?,
        })
    }
}

fn decode_job(row: &Row<'_>, operation: &'static str) -> Result<JobRecord> {
    let r = RowReader::new(row, "jobs", operation);
    Ok(JobRecord {
        id: JobId(r.get("id")?),
        backend: r.get("backend")?,
        handle: r.json_opt("handle")?,
        request: r.json("request")?,
        workflow_hash: r.get("workflow_hash")?,
        provenance: Provenance {
            template: r.get("template")?,
            params: r.json_opt("params")?,
            owner: r.get("owner")?,
        },
        status: r.json("status")?,
        outputs: r.json("outputs")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// An asset, encoded for its row.
struct AssetRow {
    id: String,
    job_id: String,
    backend: String,
    node_id: String,
    key: String,
    index: i64,
    template: Option<String>,
    params: Option<String>,
    owner: Option<String>,
    workflow_hash: String,
    file: Option<String>,
    url: Option<String>,
    text: Option<String>,
    media: String,
    mime_type: String,
    byte_size: Option<i64>,
    width: Option<i64>,
    height: Option<i64>,
    sha256: Option<String>,
    created_at: Millis,
    expires_at: Option<Millis>,
}

fn byte_size_to_sql(operation: &'static str, size: u64) -> Result<i64> {
    i64::try_from(size)
        .map_err(|_| Error::store(operation, format!("byte size {size} is too large to store")))
}

impl AssetRow {
    fn encode(asset: &Asset) -> Result<AssetRow> {
        const OP: &str = "put_assets";
        Ok(AssetRow {
            id: asset.id.0.clone(),
            job_id: asset.job_id.0.clone(),
            backend: asset.backend.clone(),
            node_id: asset.node_id.clone(),
            key: asset.key.clone(),
            index: i64::from(asset.index),
            template: asset.provenance.template.clone(),
            params: optional_json(OP, "params", asset.provenance.params.as_ref())?,
            owner: asset.provenance.owner.clone(),
            workflow_hash: asset.workflow_hash.clone(),
            file: optional_json(OP, "file", asset.file.as_ref())?,
            url: asset.url.clone(),
            text: asset.text.clone(),
            media: media_name(OP, asset.media)?,
            mime_type: asset.mime_type.clone(),
            byte_size: asset.byte_size.map(|s| byte_size_to_sql(OP, s)).transpose()?,
            width: asset.width.map(i64::from),
            height: asset.height.map(i64::from),
            sha256: asset.sha256.clone(),
            created_at: asset.created_at,
            expires_at: asset.expires_at,
        })
    }
}

fn decode_asset(row: &Row<'_>, operation: &'static str) -> Result<Asset> {
    let r = RowReader::new(row, "assets", operation);
    Ok(Asset {
        id: AssetId(r.get("id")?),
        job_id: JobId(r.get("job_id")?),
        backend: r.get("backend")?,
        node_id: r.get("node_id")?,
        key: r.get("key")?,
        index: r.int("idx")?,
        provenance: Provenance {
            template: r.get("template")?,
            params: r.json_opt("params")?,
            owner: r.get("owner")?,
        },
        workflow_hash: r.get("workflow_hash")?,
        file: r.json_opt("file")?,
        url: r.get("url")?,
        text: r.get("text")?,
        media: r.media("media")?,
        mime_type: r.get("mime_type")?,
        byte_size: r.int_opt("byte_size")?,
        width: r.int_opt("width")?,
        height: r.int_opt("height")?,
        sha256: r.get("sha256")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
    })
}

fn decode_batch(row: &Row<'_>, operation: &'static str) -> Result<BatchRecord> {
    RowReader::new(row, "batches", operation).json("record")
}

/// Runs a query and decodes every row it returns.
fn query_all<T>(
    conn: &Connection,
    operation: &'static str,
    sql: &str,
    args: Vec<SqlValue>,
    decode: fn(&Row<'_>, &'static str) -> Result<T>,
) -> Result<Vec<T>> {
    let err = |e: rusqlite::Error| sql_error(operation, &e);
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(params_from_iter(args)).map_err(err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        out.push(decode(row, operation)?);
    }
    Ok(out)
}

/// `sql` followed by ` WHERE c1 AND c2 ...` (nothing when there are no conditions).
fn with_conditions(mut sql: String, conditions: &[String]) -> String {
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql
}

/// Inserts or replaces one job row (inside the caller's transaction).
fn write_job(tx: &rusqlite::Transaction<'_>, row: &JobRow) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO jobs (id, backend, request, workflow_hash, template, params, owner, status, \
         status_name, outputs, created_at, updated_at, handle) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
         ON CONFLICT (id) DO UPDATE SET backend = excluded.backend, request = excluded.request, \
         workflow_hash = excluded.workflow_hash, template = excluded.template, \
         params = excluded.params, owner = excluded.owner, status = excluded.status, \
         status_name = excluded.status_name, outputs = excluded.outputs, \
         created_at = excluded.created_at, updated_at = excluded.updated_at, \
         handle = excluded.handle{KEEP_FINISHED}",
    ))?
    .execute(params![
        row.id,
        row.backend,
        row.request,
        row.workflow_hash,
        row.template,
        row.params,
        row.owner,
        row.status,
        row.status_name,
        row.outputs,
        row.created_at,
        row.updated_at,
        row.handle,
    ])?;
    Ok(())
}

/// Inserts asset rows, leaving ids already stored as they are (inside the caller's transaction).
fn write_assets(tx: &rusqlite::Transaction<'_>, rows: &[AssetRow]) -> rusqlite::Result<()> {
    // ON CONFLICT (id) DO NOTHING rather than INSERT OR IGNORE: only an existing id is
    // skipped; any other constraint violation is still an error.
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO assets ({ASSET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
         ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21) \
         ON CONFLICT (id) DO NOTHING"
    ))?;
    for row in rows {
        stmt.execute(params![
            row.id,
            row.job_id,
            row.backend,
            row.node_id,
            row.key,
            row.index,
            row.template,
            row.params,
            row.owner,
            row.workflow_hash,
            row.file,
            row.url,
            row.text,
            row.media,
            row.mime_type,
            row.byte_size,
            row.width,
            row.height,
            row.sha256,
            row.created_at,
            row.expires_at,
        ])?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_job(&self, job: &JobRecord) -> Result<()> {
        const OP: &str = "put_job";
        let row = JobRow::encode(job)?;
        self.run(OP, move |conn| {
            let err = |e: rusqlite::Error| sql_error(OP, &e);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            write_job(&tx, &row).map_err(err)?;
            tx.commit().map_err(err)
        })
        .await
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobRecord>> {
        const OP: &str = "get_job";
        let id = id.0.clone();
        self.run(OP, move |conn| {
            let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
            Ok(query_all(conn, OP, &sql, vec![SqlValue::Text(id)], decode_job)?.pop())
        })
        .await
    }

    async fn list_jobs(&self, query: &JobQuery) -> Result<Vec<JobRecord>> {
        const OP: &str = "list_jobs";
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if query.unfinished_only {
            conditions.push(format!("status_name IN ({})", ["?"; UNFINISHED_STATES.len()].join(", ")));
            args.extend(UNFINISHED_STATES.iter().map(|s| SqlValue::Text((*s).to_owned())));
        }
        if let Some(backend) = &query.backend {
            conditions.push("backend = ?".to_owned());
            args.push(SqlValue::Text(backend.clone()));
        }
        if let Some(owner) = &query.owner {
            conditions.push("owner = ?".to_owned());
            args.push(SqlValue::Text(owner.clone()));
        }
        if let Some(hash) = &query.workflow_hash {
            conditions.push("workflow_hash = ?".to_owned());
            args.push(SqlValue::Text(hash.clone()));
        }
        let mut sql = with_conditions(format!("SELECT {JOB_COLUMNS} FROM jobs"), &conditions);
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        args.push(SqlValue::Integer(sql_limit(query.limit)));
        self.run(OP, move |conn| query_all(conn, OP, &sql, args, decode_job)).await
    }

    async fn put_assets(&self, assets: &[Asset]) -> Result<()> {
        const OP: &str = "put_assets";
        if assets.is_empty() {
            return Ok(());
        }
        let rows = assets.iter().map(AssetRow::encode).collect::<Result<Vec<_>>>()?;
        self.run(OP, move |conn| {
            let err = |e: rusqlite::Error| sql_error(OP, &e);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            write_assets(&tx, &rows).map_err(err)?;
            tx.commit().map_err(err)
        })
        .await
    }

    /// One transaction, so one commit (one WAL sync) for a finished job and all its assets.
    async fn put_job_with_assets(&self, job: &JobRecord, assets: &[Asset]) -> Result<()> {
        const OP: &str = "put_job_with_assets";
        let row = JobRow::encode(job)?;
        let rows = assets.iter().map(AssetRow::encode).collect::<Result<Vec<_>>>()?;
        self.run(OP, move |conn| {
            let err = |e: rusqlite::Error| sql_error(OP, &e);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            write_job(&tx, &row).map_err(err)?;
            write_assets(&tx, &rows).map_err(err)?;
            tx.commit().map_err(err)
        })
        .await
    }

    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>> {
        const OP: &str = "get_asset";
        let id = id.0.clone();
        self.run(OP, move |conn| {
            let sql = format!("SELECT {ASSET_COLUMNS} FROM assets WHERE id = ?");
            Ok(query_all(conn, OP, &sql, vec![SqlValue::Text(id)], decode_asset)?.pop())
        })
        .await
    }

    async fn list_assets(&self, query: &AssetQuery) -> Result<Vec<Asset>> {
        const OP: &str = "list_assets";
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(job_id) = &query.job_id {
            conditions.push("job_id = ?".to_owned());
            args.push(SqlValue::Text(job_id.0.clone()));
        }
        if let Some(template) = &query.template {
            conditions.push("template = ?".to_owned());
            args.push(SqlValue::Text(template.clone()));
        }
        if let Some(since) = query.since {
            conditions.push("created_at >= ?".to_owned());
            args.push(SqlValue::Integer(since));
        }
        if let Some(owner) = &query.owner {
            conditions.push("owner = ?".to_owned());
            args.push(SqlValue::Text(owner.clone()));
        }
        let mut sql = with_conditions(format!("SELECT {ASSET_COLUMNS} FROM assets"), &conditions);
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        args.push(SqlValue::Integer(sql_limit(query.limit)));
        self.run(OP, move |conn| query_all(conn, OP, &sql, args, decode_asset)).await
    }

    async fn set_asset_content(&self, id: &AssetId, content: &AssetContent) -> Result<()> {
        const OP: &str = "set_asset_content";
        let id = id.0.clone();
        let content = content.clone();
        let byte_size = byte_size_to_sql(OP, content.byte_size)?;
        self.run(OP, move |conn| {
            let err = |e: rusqlite::Error| sql_error(OP, &e);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            tx.prepare_cached(
                "UPDATE assets SET sha256 = ?2, byte_size = ?3, width = ?4, height = ?5, \
                 mime_type = COALESCE(?6, mime_type) WHERE id = ?1",
            )
            .map_err(err)?
            .execute(params![id, content.sha256, byte_size, content.width, content.height, content.mime_type])
            .map_err(err)?;
            tx.commit().map_err(err)
        })
        .await
    }

    async fn purge_expired(&self, now: Millis) -> Result<u64> {
        const OP: &str = "purge_expired";
        self.run(OP, move |conn| {
            let err = |e: rusqlite::Error| sql_error(OP, &e);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            let deleted = tx
                .prepare_cached("DELETE FROM assets WHERE expires_at IS NOT NULL AND expires_at < ?1")
                .map_err(err)?
                .execute(params![now])
                .map_err(err)?;
            tx.commit().map_err(err)?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn put_batch(&self, batch: &BatchRecord) -> Result<()> {
        const OP: &str = "put_batch";
        let record = to_json(OP, "batch", batch)?;
        let (id, backend) = (batch.id.clone(), batch.backend.clone());
        let unsubmitted = i64::try_from(batch.unsubmitted()).unwrap_or(i64::MAX);
        let (created_at, updated_at) = (batch.created_at, batch.updated_at);
        self.run(OP, move |conn| {
            let err = |e: rusqlite::Error| sql_error(OP, &e);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            tx.prepare_cached(
                "INSERT INTO batches (id, backend, record, unsubmitted, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (id) DO UPDATE SET backend = excluded.backend, record = excluded.record, \
                 unsubmitted = excluded.unsubmitted, created_at = excluded.created_at, \
                 updated_at = excluded.updated_at",
            )
            .map_err(err)?
            .execute(params![id, backend, record, unsubmitted, created_at, updated_at])
            .map_err(err)?;
            tx.commit().map_err(err)
        })
        .await
    }

    async fn get_batch(&self, id: &str) -> Result<Option<BatchRecord>> {
        const OP: &str = "get_batch";
        let id = id.to_owned();
        self.run(OP, move |conn| {
            Ok(query_all(
                conn,
                OP,
                "SELECT record FROM batches WHERE id = ?",
                vec![SqlValue::Text(id)],
                decode_batch,
            )?
            .pop())
        })
        .await
    }

    async fn list_batches(&self, query: &BatchQuery) -> Result<Vec<BatchRecord>> {
        const OP: &str = "list_batches";
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if query.unsubmitted_only {
            conditions.push("unsubmitted > 0".to_owned());
        }
        if let Some(backend) = &query.backend {
            conditions.push("backend = ?".to_owned());
            args.push(SqlValue::Text(backend.clone()));
        }
        let mut sql = with_conditions("SELECT record FROM batches".to_owned(), &conditions);
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        args.push(SqlValue::Integer(sql_limit(query.limit)));
        self.run(OP, move |conn| query_all(conn, OP, &sql, args, decode_batch)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobFailure, JobStatus, Progress};

    #[test]
    fn store_unfinished_states_match_status() {
        let all = [
            JobStatus::Pending,
            JobStatus::Queued { position: None },
            JobStatus::Running(Progress::default()),
            JobStatus::Succeeded,
            JobStatus::Failed(JobFailure::default()),
            JobStatus::Cancelled,
        ];
        for status in all {
            assert_eq!(UNFINISHED_STATES.contains(&status.name()), !status.is_terminal(), "{status:?}");
        }
    }

    #[test]
    fn store_default_path_prefers_the_env_override() {
        let data = Some(PathBuf::from("/home/u/.local/share"));
        assert_eq!(
            default_path_from(Some("/srv/comfy".into()), data.clone()).unwrap(),
            Path::new("/srv/comfy/comfy.sqlite3")
        );
        assert_eq!(
            default_path_from(Some("".into()), data.clone()).unwrap(),
            Path::new("/home/u/.local/share/comfy-rs/comfy.sqlite3")
        );
        assert_eq!(
            default_path_from(None, data).unwrap(),
            Path::new("/home/u/.local/share/comfy-rs/comfy.sqlite3")
        );
        let err = default_path_from(None, None).unwrap_err();
        assert_eq!(err.code(), "store_error");
        assert!(err.to_string().contains(DATA_DIR_ENV));
    }

    #[test]
    fn store_busy_and_locked_are_retryable() {
        let busy =
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
        let locked =
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_LOCKED), None);
        let full =
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        assert!(sql_error("put_job", &busy).is_retryable());
        assert!(sql_error("put_job", &locked).is_retryable());
        assert!(!sql_error("put_job", &full).is_retryable());
        assert_eq!(sql_error("put_job", &full).code(), "store_error");
    }

    #[test]
    fn store_media_names_round_trip() {
        for media in [
            MediaKind::Image,
            MediaKind::Video,
            MediaKind::Audio,
            MediaKind::Model3d,
            MediaKind::Text,
            MediaKind::Other,
        ] {
            let name = media_name("test", media).unwrap();
            assert_eq!(serde_json::from_value::<MediaKind>(serde_json::Value::String(name)).unwrap(), media);
        }
    }

    #[tokio::test]
    async fn store_file_connection_is_crash_safe() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("pragmas.sqlite3")).unwrap();
        let (mode, synchronous, foreign_keys, busy) = store
            .run("test", |conn| {
                let get = |name: &str| {
                    conn.pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
                };
                Ok((
                    get("journal_mode").unwrap(),
                    get("synchronous").unwrap(),
                    get("foreign_keys").unwrap(),
                    get("busy_timeout").unwrap(),
                ))
            })
            .await
            .unwrap();
        use rusqlite::types::Value as V;
        assert_eq!(mode, V::Text("wal".into()));
        assert_eq!(synchronous, V::Integer(2), "synchronous=FULL");
        assert_eq!(foreign_keys, V::Integer(1));
        assert_eq!(busy, V::Integer(BUSY_TIMEOUT.as_millis() as i64));
    }

    #[tokio::test]
    async fn store_in_memory_sqlite_reports_its_schema_version() {
        let store = SqliteStore::open_in_memory().unwrap();
        assert_eq!(store.path(), Path::new(":memory:"));
        let version = store.run("test", |conn| Ok(migrations::version(conn).unwrap())).await.unwrap();
        assert_eq!(version, SqliteStore::SCHEMA_VERSION);
        assert!(format!("{store:?}").contains(":memory:"));
    }
}
