//! [`PostgresStore`]: jobs, assets and batches in a PostgreSQL database that several servers
//! share (the `postgres` feature).
//!
//! A pool of connections (tokio-postgres, deadpool) with a bounded wait, a connect timeout and
//! a timeout on every call; the schema is migrated once per process before the first call, under
//! an advisory lock (see `schema`). Semantics are the SQLite store's, method for method; every
//! write is one statement or one transaction and is durable when it returns (it is also completed
//! when the caller stops waiting, like the SQLite store's). Errors are [`Error::Store`]:
//! retryable when the database is unreachable, restarting or busy, not for a constraint or a
//! corrupt row. Plain TCP and unix sockets are supported; TLS is not (yet): a URL that requires
//! it (`sslmode=require`) fails to connect with a clear error.

mod errors;
mod listen;
mod rows;
mod schema;
mod shared;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures::future::BoxFuture;
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use self::errors::{pg_error, pool_error, timeout_error};
use self::rows::{ASSET_COLUMNS, AssetRow, JOB_COLUMNS, JobRow, decode_asset, decode_batch, decode_job};
use super::columns::{KEEP_FINISHED, UNFINISHED_STATES};
use super::{
    Asset, AssetContent, AssetId, AssetQuery, BatchQuery, BatchRecord, JobQuery, JobRecord, Millis, Store,
    effective_limit, redact_url,
};
use crate::error::{Error, Result};
use crate::job::JobId;

/// How long one store call may take, waiting for a connection included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening one connection may take (unless the URL sets `connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call waits for a free pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// Connections per process by default ([`PoolOptions::max_size`]).
const DEFAULT_POOL_SIZE: usize = 16;

type Param = Box<dyn ToSql + Sync + Send>;

/// Tunables of a [`PostgresStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// At most this many connections (default 16).
    pub max_size: usize,
    /// Every call's time limit (default [`CALL_TIMEOUT`]).
    pub call_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions { max_size: DEFAULT_POOL_SIZE, call_timeout: CALL_TIMEOUT }
    }
}

/// A [`Store`] in a PostgreSQL database (`postgres://user:password@host:port/db`, or a unix
/// socket: `postgres://user@%2Frun%2Fpostgresql/db` or `?host=/run/postgresql`).
///
/// Several processes may use one database at once: they see each other's jobs, assets and
/// batches. Cloning is cheap and shares the pool. `Debug` never shows the password.
///
/// ```no_run
/// # async fn demo() -> comfy_core::Result<()> {
/// use comfy_core::store::{JobQuery, PostgresStore, Store};
///
/// let store = PostgresStore::open("postgres://comfy:secret@db.internal/comfy").await?;
/// let unfinished = store.list_jobs(&JobQuery { unfinished_only: true, ..Default::default() }).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
    /// Leases, claims, rate budgets and signals of this process ([`Store::shared`]).
    shared: Arc<shared::PgShared>,
}

struct Inner {
    /// How to open a connection of its own (the signal listener's).
    config: tokio_postgres::Config,
    pool: Pool,
    /// The URL with its password masked.
    url: String,
    call_timeout: Duration,
    migrated: OnceCell<()>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").field("url", &self.inner.url).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// The schema version this build creates and understands (the SQLite store's too).
    pub const SCHEMA_VERSION: i64 = schema::LATEST;

    /// Connects to `url` and migrates the database to [`SCHEMA_VERSION`](Self::SCHEMA_VERSION).
    ///
    /// A database whose schema is newer than this build knows is refused with
    /// [`Error::StoreSchemaTooNew`] and left untouched.
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::lazy(url, PoolOptions::default())?;
        store.ensure_migrated().await?;
        Ok(store)
    }

    /// A store for `url` that connects (and migrates) on its first call: nothing is contacted
    /// here, so a database that is down is not an error yet. Fails only on a malformed URL.
    pub fn lazy(url: &str, options: PoolOptions) -> Result<Self> {
        let redacted = redact_url(url);
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| Error::InvalidArgument {
            argument: "store".into(),
            message: format!("{redacted} is not a PostgreSQL URL: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("comfy-rs");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::store("open", format!("cannot build the connection pool: {e}")))?;
        let inner = Arc::new(Inner {
            config,
            pool,
            url: redacted,
            call_timeout: options.call_timeout,
            migrated: OnceCell::new(),
        });
        Ok(PostgresStore { shared: shared::PgShared::new(inner.clone()), inner })
    }

    /// The database URL, password masked.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The database's schema version (0 for a database never opened by comfy-rs).
    pub async fn schema_version(&self) -> Result<i64> {
        let inner = Arc::clone(&self.inner);
        self.bounded("schema_version", async move {
            let client = inner.pool.get().await.map_err(|e| pool_error("schema_version", &e))?;
            schema::version(&client).await
        })
        .await
    }

    /// Migrates the database if this process has not done so yet.
    async fn ensure_migrated(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        self.bounded("migrate", async move { inner.migrate_once().await }).await
    }

    /// Runs `work` within the call timeout, on a task of its own (see [`Inner::bounded`]).
    async fn bounded<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.inner.bounded(operation, work).await
    }

    /// Runs `work` with a pooled connection (see [`Inner::run`]).
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> BoxFuture<'static, Result<T>> + Send + 'static,
    {
        self.inner.run(operation, work).await
    }
}

impl Inner {
    /// Runs `work` within the call timeout, on a task of its own (so it completes even when
    /// the caller's future is dropped).
    async fn bounded<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let limit = self.call_timeout;
        tokio::spawn(async move {
            tokio::time::timeout(limit, work).await.map_err(|_| timeout_error(operation, limit))?
        })
        .await
        .map_err(|e| Error::store(operation, format!("the database task did not complete: {e}")))?
    }

    /// Runs `work` with a pooled connection (after the schema is migrated).
    async fn run<T, F>(self: &Arc<Self>, operation: &'static str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> BoxFuture<'static, Result<T>> + Send + 'static,
    {
        let inner = Arc::clone(self);
        self.bounded(operation, async move {
            inner.migrate_once().await?;
            let client = inner.pool.get().await.map_err(|e| pool_error(operation, &e))?;
            work(client).await
        })
        .await
    }

    async fn migrate_once(&self) -> Result<()> {
        self.migrated
            .get_or_try_init(|| async {
                let mut client = self.pool.get().await.map_err(|e| pool_error("migrate", &e))?;
                schema::migrate(&mut client, &self.url).await
            })
            .await
            .map(|_| ())
    }
}

/// Runs a query whose parameters were built at run time and decodes every row.
async fn query_all<T>(
    client: &Object,
    operation: &'static str,
    sql: &str,
    args: &[Param],
    decode: fn(&tokio_postgres::Row, &'static str) -> Result<T>,
) -> Result<Vec<T>> {
    let stmt = client.prepare_cached(sql).await.map_err(|e| pg_error(operation, &e))?;
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect();
    let rows = client.query(&stmt, &refs).await.map_err(|e| pg_error(operation, &e))?;
    rows.iter().map(|row| decode(row, operation)).collect()
}

/// `sql` with `WHERE` and the conditions joined by `AND`, then the newest-first order and the
/// limit (the next placeholder).
fn listing(mut sql: String, conditions: &[String], args: &mut Vec<Param>, limit: usize) -> String {
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    args.push(Box::new(i64::try_from(effective_limit(limit)).unwrap_or(i64::MAX)));
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${}", args.len()));
    sql
}

/// Adds `column = $n` for a string filter.
fn filter(conditions: &mut Vec<String>, args: &mut Vec<Param>, column: &str, value: &str) {
    args.push(Box::new(value.as_bytes().to_vec()));
    conditions.push(format!("{column} = ${}", args.len()));
}

#[async_trait]
impl Store for PostgresStore {
    async fn put_job(&self, job: &JobRecord) -> Result<()> {
        const OP: &str = "put_job";
        let row = JobRow::encode(job)?;
        self.run(OP, move |client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(&format!(
                        "INSERT INTO jobs (id, backend, request, workflow_hash, template, params, owner, \
                         status, status_name, outputs, created_at, updated_at, handle) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                         ON CONFLICT (id) DO UPDATE SET backend = excluded.backend, \
                         request = excluded.request, workflow_hash = excluded.workflow_hash, \
                         template = excluded.template, params = excluded.params, owner = excluded.owner, \
                         status = excluded.status, status_name = excluded.status_name, \
                         outputs = excluded.outputs, created_at = excluded.created_at, \
                         updated_at = excluded.updated_at, handle = excluded.handle{KEEP_FINISHED}",
                    ))
                    .await
                    .map_err(|e| pg_error(OP, &e))?;
                client
                    .execute(
                        &stmt,
                        &[
                            &row.id,
                            &row.backend,
                            &row.request,
                            &row.workflow_hash,
                            &row.template,
                            &row.params,
                            &row.owner,
                            &row.status,
                            &row.status_name,
                            &row.outputs,
                            &row.created_at,
                            &row.updated_at,
                            &row.handle,
                        ],
                    )
                    .await
                    .map_err(|e| pg_error(OP, &e))?;
                Ok(())
            })
        })
        .await
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobRecord>> {
        const OP: &str = "get_job";
        let args: Vec<Param> = vec![Box::new(id.0.as_bytes().to_vec())];
        self.run(OP, move |client| {
            Box::pin(async move {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
                Ok(query_all(&client, OP, &sql, &args, decode_job).await?.pop())
            })
        })
        .await
    }

    async fn list_jobs(&self, query: &JobQuery) -> Result<Vec<JobRecord>> {
        const OP: &str = "list_jobs";
        let mut conditions = Vec::new();
        let mut args: Vec<Param> = Vec::new();
        if query.unfinished_only {
            args.push(Box::new(UNFINISHED_STATES.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>()));
            conditions.push(format!("status_name = ANY(${})", args.len()));
        }
        if let Some(backend) = &query.backend {
            filter(&mut conditions, &mut args, "backend", backend);
        }
        if let Some(owner) = &query.owner {
            filter(&mut conditions, &mut args, "owner", owner);
        }
        if let Some(hash) = &query.workflow_hash {
            filter(&mut conditions, &mut args, "workflow_hash", hash);
        }
        let sql = listing(format!("SELECT {JOB_COLUMNS} FROM jobs"), &conditions, &mut args, query.limit);
        self.run(OP, move |client| {
            Box::pin(async move { query_all(&client, OP, &sql, &args, decode_job).await })
        })
        .await
    }

    async fn put_assets(&self, assets: &[Asset]) -> Result<()> {
        const OP: &str = "put_assets";
        if assets.is_empty() {
            return Ok(());
        }
        let rows = assets.iter().map(AssetRow::encode).collect::<Result<Vec<_>>>()?;
        self.run(OP, move |mut client| {
            Box::pin(async move {
                let err = |e: tokio_postgres::Error| pg_error(OP, &e);
                let tx = client.transaction().await.map_err(err)?;
                // ON CONFLICT (id) DO NOTHING: only an existing id is skipped (the first of a
                // batch wins); any other constraint violation is still an error.
                let stmt = tx
                    .prepare_cached(&format!(
                        "INSERT INTO assets ({ASSET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                         $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
                         ON CONFLICT (id) DO NOTHING"
                    ))
                    .await
                    .map_err(err)?;
                for row in &rows {
                    tx.execute(
                        &stmt,
                        &[
                            &row.id,
                            &row.job_id,
                            &row.backend,
                            &row.node_id,
                            &row.key,
                            &row.index,
                            &row.template,
                            &row.params,
                            &row.owner,
                            &row.workflow_hash,
                            &row.file,
                            &row.url,
                            &row.text,
                            &row.media,
                            &row.mime_type,
                            &row.byte_size,
                            &row.width,
                            &row.height,
                            &row.sha256,
                            &row.created_at,
                            &row.expires_at,
                        ],
                    )
                    .await
                    .map_err(err)?;
                }
                tx.commit().await.map_err(err)
            })
        })
        .await
    }

    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>> {
        const OP: &str = "get_asset";
        let args: Vec<Param> = vec![Box::new(id.0.as_bytes().to_vec())];
        self.run(OP, move |client| {
            Box::pin(async move {
                let sql = format!("SELECT {ASSET_COLUMNS} FROM assets WHERE id = $1");
                Ok(query_all(&client, OP, &sql, &args, decode_asset).await?.pop())
            })
        })
        .await
    }

    async fn list_assets(&self, query: &AssetQuery) -> Result<Vec<Asset>> {
        const OP: &str = "list_assets";
        let mut conditions = Vec::new();
        let mut args: Vec<Param> = Vec::new();
        if let Some(job_id) = &query.job_id {
            filter(&mut conditions, &mut args, "job_id", &job_id.0);
        }
        if let Some(template) = &query.template {
            filter(&mut conditions, &mut args, "template", template);
        }
        if let Some(since) = query.since {
            args.push(Box::new(since));
            conditions.push(format!("created_at >= ${}", args.len()));
        }
        if let Some(owner) = &query.owner {
            filter(&mut conditions, &mut args, "owner", owner);
        }
        let sql = listing(format!("SELECT {ASSET_COLUMNS} FROM assets"), &conditions, &mut args, query.limit);
        self.run(OP, move |client| {
            Box::pin(async move { query_all(&client, OP, &sql, &args, decode_asset).await })
        })
        .await
    }

    async fn set_asset_content(&self, id: &AssetId, content: &AssetContent) -> Result<()> {
        const OP: &str = "set_asset_content";
        let id = id.0.as_bytes().to_vec();
        let byte_size = rows::byte_size_to_sql(OP, content.byte_size)?;
        let sha256 = content.sha256.as_bytes().to_vec();
        let (width, height) = (content.width.map(i64::from), content.height.map(i64::from));
        let mime = content.mime_type.as_ref().map(|m| m.as_bytes().to_vec());
        self.run(OP, move |client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(
                        "UPDATE assets SET sha256 = $2, byte_size = $3, width = $4, height = $5, \
                         mime_type = COALESCE($6, mime_type) WHERE id = $1",
                    )
                    .await
                    .map_err(|e| pg_error(OP, &e))?;
                client
                    .execute(&stmt, &[&id, &sha256, &byte_size, &width, &height, &mime])
                    .await
                    .map_err(|e| pg_error(OP, &e))?;
                Ok(())
            })
        })
        .await
    }

    async fn purge_expired(&self, now: Millis) -> Result<u64> {
        const OP: &str = "purge_expired";
        self.run(OP, move |client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached("DELETE FROM assets WHERE expires_at IS NOT NULL AND expires_at < $1")
                    .await
                    .map_err(|e| pg_error(OP, &e))?;
                client.execute(&stmt, &[&now]).await.map_err(|e| pg_error(OP, &e))
            })
        })
        .await
    }

    async fn put_batch(&self, batch: &BatchRecord) -> Result<()> {
        const OP: &str = "put_batch";
        let record = rows::to_json(OP, "batch", batch)?;
        let (id, backend) = (batch.id.as_bytes().to_vec(), batch.backend.as_bytes().to_vec());
        let unsubmitted = i64::try_from(batch.unsubmitted()).unwrap_or(i64::MAX);
        let (created_at, updated_at) = (batch.created_at, batch.updated_at);
        self.run(OP, move |client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(
                        "INSERT INTO batches (id, backend, record, unsubmitted, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (id) DO UPDATE SET backend = excluded.backend, \
                         record = excluded.record, unsubmitted = excluded.unsubmitted, \
                         created_at = excluded.created_at, updated_at = excluded.updated_at",
                    )
                    .await
                    .map_err(|e| pg_error(OP, &e))?;
                client
                    .execute(&stmt, &[&id, &backend, &record, &unsubmitted, &created_at, &updated_at])
                    .await
                    .map_err(|e| pg_error(OP, &e))?;
                Ok(())
            })
        })
        .await
    }

    async fn get_batch(&self, id: &str) -> Result<Option<BatchRecord>> {
        const OP: &str = "get_batch";
        let args: Vec<Param> = vec![Box::new(id.as_bytes().to_vec())];
        self.run(OP, move |client| {
            Box::pin(async move {
                let sql = "SELECT id, record FROM batches WHERE id = $1";
                Ok(query_all(&client, OP, sql, &args, decode_batch).await?.pop())
            })
        })
        .await
    }

    async fn list_batches(&self, query: &BatchQuery) -> Result<Vec<BatchRecord>> {
        const OP: &str = "list_batches";
        let mut conditions = Vec::new();
        let mut args: Vec<Param> = Vec::new();
        if query.unsubmitted_only {
            conditions.push("unsubmitted > 0".to_owned());
        }
        if let Some(backend) = &query.backend {
            filter(&mut conditions, &mut args, "backend", backend);
        }
        let sql = listing("SELECT id, record FROM batches".to_owned(), &conditions, &mut args, query.limit);
        self.run(OP, move |client| {
            Box::pin(async move { query_all(&client, OP, &sql, &args, decode_batch).await })
        })
        .await
    }

    fn shared(&self) -> Option<Arc<dyn super::SharedState>> {
        Some(self.shared.clone())
    }
}
