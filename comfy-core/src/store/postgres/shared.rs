//! [`SharedState`] on PostgreSQL: leases, claims and rate budgets are rows (schema step 5),
//! each operation one statement; signals are `NOTIFY`s (see `listen`).
//!
//! Every time comparison uses the database's clock (`NOW_MS`), so the servers' clocks need not
//! agree. Concurrent servers are kept apart by row locks: an `UPDATE` or `ON CONFLICT DO UPDATE`
//! re-checks its `WHERE` on the row another transaction just changed (READ COMMITTED), so two
//! servers taking the same orphan or claim cannot both win.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{OnceCell, broadcast};

use super::Inner;
use super::errors::pg_error;
use super::listen::Listener;
use crate::error::{Error, Result};
use crate::job::JobId;
use crate::store::columns::UNFINISHED_STATES;
use crate::store::shared::{SharedClaim, SharedState, Signal, SignalBody, Subject};

/// The database's clock in milliseconds since the Unix epoch.
const NOW_MS: &str = "(extract(epoch from now()) * 1000)::bigint";
/// `NOTIFY` payloads must be shorter than 8,000 bytes.
const MAX_SIGNAL: usize = 7_900;
/// Server rows silent for this long (and holding nothing) are deleted.
const FORGET_SERVERS_AFTER: Duration = Duration::from_secs(24 * 3600);

/// This process's part in the shared state of one database.
pub(super) struct PgShared {
    inner: Arc<Inner>,
    server_id: String,
    /// The first heartbeat (written before this server's first lease or claim, so that no
    /// other server takes it for dead meanwhile).
    announced: OnceCell<()>,
    listener: Listener,
}

impl std::fmt::Debug for PgShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgShared").field("server_id", &self.server_id).finish_non_exhaustive()
    }
}

impl PgShared {
    pub(super) fn new(inner: Arc<Inner>) -> Arc<PgShared> {
        let listener = Listener::new(inner.config.clone());
        Arc::new(PgShared {
            inner,
            server_id: uuid::Uuid::new_v4().simple().to_string(),
            announced: OnceCell::new(),
            listener,
        })
    }

    fn me(&self) -> Vec<u8> {
        self.server_id.as_bytes().to_vec()
    }

    /// Heartbeats once if this server never has.
    async fn announce(&self) -> Result<()> {
        self.announced.get_or_try_init(|| self.beat()).await.map(|_| ())
    }

    async fn beat(&self) -> Result<()> {
        const OP: &str = "heartbeat";
        let me = self.me();
        self.inner
            .run(OP, move |client| {
                Box::pin(async move {
                    let sql = format!(
                        "INSERT INTO comfy_servers (id, heartbeat_at, retired) VALUES ($1, {NOW_MS}, FALSE) \
                         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, retired = FALSE"
                    );
                    client.execute(&sql, &[&me]).await.map_err(|e| pg_error(OP, &e))?;
                    Ok(())
                })
            })
            .await
    }

    /// Runs one statement with `args` and returns the first column of every row as bytes.
    async fn keys(&self, op: &'static str, sql: String, args: Args) -> Result<Vec<Vec<u8>>> {
        self.inner
            .run(op, move |client| {
                Box::pin(async move {
                    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
                        .iter()
                        .map(|a| a.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                        .collect();
                    let rows = client.query(&sql, &refs).await.map_err(|e| pg_error(op, &e))?;
                    rows.iter().map(|r| r.try_get::<_, Vec<u8>>(0).map_err(|e| pg_error(op, &e))).collect()
                })
            })
            .await
    }
}

type Args = Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>>;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn unfinished() -> Vec<String> {
    UNFINISHED_STATES.iter().map(|s| (*s).to_owned()).collect()
}

/// The subjects named by stored keys (keys of other kinds are skipped).
fn subjects(keys: Vec<Vec<u8>>) -> Vec<Subject> {
    keys.iter().filter_map(|k| std::str::from_utf8(k).ok().and_then(Subject::from_key)).collect()
}

/// `alive(server)`: the server said it is alive within `$n` ms and did not retire.
fn alive(server: &str, n: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM comfy_servers s WHERE s.id = {server} AND NOT s.retired \
         AND s.heartbeat_at > {NOW_MS} - ${n})"
    )
}

/// The `NOTIFY` payloads carrying `bodies` in order: JSON arrays of signals, each under
/// [`MAX_SIGNAL`] bytes. A signal too large on its own (large outputs) is skipped: receivers
/// reconcile from the backend instead.
fn pack(from: &str, bodies: &[SignalBody]) -> Result<Vec<String>> {
    let mut payloads = Vec::new();
    let mut current = String::from("[");
    for body in bodies {
        let signal = Signal { from: from.to_owned(), body: body.clone() };
        let text = serde_json::to_string(&signal)
            .map_err(|e| Error::store("publish", format!("cannot encode a signal: {e}")))?;
        if text.len() + 2 > MAX_SIGNAL {
            tracing::debug!(bytes = text.len(), "signal too large to relay; skipped");
            continue;
        }
        if current.len() + text.len() + 2 > MAX_SIGNAL {
            current.push(']');
            payloads.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&text);
    }
    if current.len() > 1 {
        current.push(']');
        payloads.push(current);
    }
    Ok(payloads)
}

#[async_trait]
impl SharedState for PgShared {
    fn server_id(&self) -> &str {
        &self.server_id
    }

    async fn heartbeat(&self) -> Result<()> {
        self.beat().await?;
        let _ = self.announced.set(());
        Ok(())
    }

    async fn retire(&self) -> Result<()> {
        let sql = "UPDATE comfy_servers SET retired = TRUE WHERE id = $1".to_owned();
        self.keys("retire", sql, vec![Box::new(self.me())]).await.map(|_| ())
    }

    async fn take(&self, subjects_wanted: &[Subject], dead_after: Duration) -> Result<Vec<Subject>> {
        if subjects_wanted.is_empty() {
            return Ok(Vec::new());
        }
        self.announce().await?;
        let wanted: Vec<Vec<u8>> = subjects_wanted.iter().map(|s| s.key().into_bytes()).collect();
        let sql = format!(
            "INSERT INTO comfy_leases (subject, server, taken_at) \
             SELECT s, $1, {NOW_MS} FROM unnest($2::bytea[]) AS s \
             ON CONFLICT (subject) DO UPDATE SET server = excluded.server, taken_at = excluded.taken_at \
             WHERE comfy_leases.server = excluded.server OR NOT {} \
             RETURNING subject",
            alive("comfy_leases.server", 3)
        );
        let args: Args = vec![Box::new(self.me()), Box::new(wanted), Box::new(millis(dead_after))];
        Ok(subjects(self.keys("take", sql, args).await?))
    }

    async fn take_orphans(&self, dead_after: Duration) -> Result<Vec<Subject>> {
        self.announce().await?;
        let me = self.me();
        let dead = millis(dead_after);
        // Subjects of silent or retired servers.
        let sql = format!(
            "UPDATE comfy_leases SET server = $1, taken_at = {NOW_MS} \
             WHERE server <> $1 AND NOT {} RETURNING subject",
            alive("comfy_leases.server", 2)
        );
        let mut taken = self.keys("take_orphans", sql, vec![Box::new(me.clone()), Box::new(dead)]).await?;
        // Unfinished work nobody leases: its server died between recording it and taking it.
        let sql = format!(
            "INSERT INTO comfy_leases (subject, server, taken_at) \
             SELECT k, $1, {NOW_MS} FROM ( \
               SELECT 'job:'::bytea || id AS k FROM jobs \
                 WHERE status_name = ANY($3) AND updated_at < {NOW_MS} - $2 \
               UNION ALL \
               SELECT 'batch:'::bytea || id FROM batches \
                 WHERE unsubmitted > 0 AND updated_at < {NOW_MS} - $2 \
             ) AS w WHERE NOT EXISTS (SELECT 1 FROM comfy_leases l WHERE l.subject = w.k) \
             ON CONFLICT (subject) DO NOTHING RETURNING subject"
        );
        let args: Args = vec![Box::new(me), Box::new(dead), Box::new(unfinished())];
        taken.extend(self.keys("take_orphans", sql, args).await?);
        let sql = format!(
            "DELETE FROM comfy_servers s WHERE s.heartbeat_at < {NOW_MS} - $1 \
             AND NOT EXISTS (SELECT 1 FROM comfy_leases l WHERE l.server = s.id) RETURNING id"
        );
        self.keys("take_orphans", sql, vec![Box::new(millis(FORGET_SERVERS_AFTER))]).await?;
        Ok(subjects(taken))
    }

    async fn release(&self, subject: &Subject) -> Result<()> {
        let sql = "DELETE FROM comfy_leases WHERE subject = $1 AND server = $2 RETURNING subject".to_owned();
        let args: Args = vec![Box::new(subject.key().into_bytes()), Box::new(self.me())];
        self.keys("release", sql, args).await.map(|_| ())
    }

    async fn claim(&self, key: &str, ttl: Duration, dead_after: Duration) -> Result<SharedClaim> {
        self.announce().await?;
        let sql = format!(
            "INSERT INTO comfy_claims (key, job_id, server, claimed_at) VALUES ($1, NULL, $2, {NOW_MS}) \
             ON CONFLICT (key) DO UPDATE SET job_id = NULL, server = excluded.server, \
               claimed_at = excluded.claimed_at \
             WHERE (comfy_claims.job_id IS NULL AND (comfy_claims.claimed_at < {NOW_MS} - $3 \
                    OR NOT {})) \
                OR (comfy_claims.job_id IS NOT NULL AND EXISTS (SELECT 1 FROM jobs j \
                    WHERE j.id = comfy_claims.job_id AND NOT (j.status_name = ANY($5)))) \
                OR (comfy_claims.job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs j \
                    WHERE j.id = comfy_claims.job_id) AND (comfy_claims.claimed_at < {NOW_MS} - $3 \
                    OR NOT {})) \
             RETURNING server",
            alive("comfy_claims.server", 4),
            alive("comfy_claims.server", 4)
        );
        for _ in 0..3 {
            let args: Args = vec![
                Box::new(key.as_bytes().to_vec()),
                Box::new(self.me()),
                Box::new(millis(ttl)),
                Box::new(millis(dead_after)),
                Box::new(unfinished()),
            ];
            if !self.keys("claim", sql.clone(), args).await?.is_empty() {
                return Ok(SharedClaim::Mine);
            }
            let sql = "SELECT COALESCE(job_id, ''::bytea) FROM comfy_claims WHERE key = $1".to_owned();
            let held = self.keys("claim", sql, vec![Box::new(key.as_bytes().to_vec())]).await?;
            // Gone between the two statements (its job finished): claim again.
            let Some(job) = held.into_iter().next() else { continue };
            let job =
                String::from_utf8(job).map_err(|_| Error::store("claim", "a claim's job id is not UTF-8"))?;
            return Ok(SharedClaim::Held((!job.is_empty()).then_some(JobId(job))));
        }
        Err(Error::Store {
            operation: "claim",
            message: format!("the claim {key:?} kept changing hands"),
            retryable: true,
        })
    }

    async fn settle_claim(&self, key: &str, job: &JobId) -> Result<()> {
        let sql =
            "UPDATE comfy_claims SET job_id = $2 WHERE key = $1 AND server = $3 RETURNING key".to_owned();
        let args: Args =
            vec![Box::new(key.as_bytes().to_vec()), Box::new(job.0.as_bytes().to_vec()), Box::new(self.me())];
        self.keys("settle_claim", sql, args).await.map(|_| ())
    }

    async fn drop_claim(&self, key: &str, job: Option<&JobId>) -> Result<()> {
        let sql = "DELETE FROM comfy_claims WHERE key = $1 AND ((job_id IS NULL AND server = $2) \
                   OR job_id = $3) RETURNING key"
            .to_owned();
        let job = job.map(|j| j.0.as_bytes().to_vec());
        let args: Args = vec![Box::new(key.as_bytes().to_vec()), Box::new(self.me()), Box::new(job)];
        self.keys("drop_claim", sql, args).await.map(|_| ())
    }

    async fn release_claims_of(&self, job: &JobId) -> Result<()> {
        let sql = "DELETE FROM comfy_claims WHERE job_id = $1 RETURNING key".to_owned();
        self.keys("release_claims", sql, vec![Box::new(job.0.as_bytes().to_vec())]).await.map(|_| ())
    }

    async fn take_token(&self, key: &str, per_minute: u32) -> Result<bool> {
        let refill = format!(
            "LEAST($2::float8, comfy_rate_budgets.tokens + ({NOW_MS} - comfy_rate_budgets.updated_at) * $2::float8 / 60000.0)"
        );
        let sql = format!(
            "INSERT INTO comfy_rate_budgets (key, tokens, updated_at) VALUES ($1, $2::float8 - 1, {NOW_MS}) \
             ON CONFLICT (key) DO UPDATE SET tokens = {refill} - 1, updated_at = excluded.updated_at \
             WHERE {refill} >= 1 RETURNING key"
        );
        let args: Args = vec![Box::new(key.as_bytes().to_vec()), Box::new(f64::from(per_minute.max(1)))];
        Ok(!self.keys("take_token", sql, args).await?.is_empty())
    }

    async fn set_param_defaults(&self, values: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
        const OP: &str = "set_param_defaults";
        let mut rows: Vec<(Vec<u8>, Option<String>)> = Vec::with_capacity(values.len());
        for (name, value) in values {
            rows.push((name.as_bytes().to_vec(), (!value.is_null()).then(|| value.to_string())));
        }
        self.inner
            .run(OP, move |mut client| {
                Box::pin(async move {
                    let err = |e: tokio_postgres::Error| pg_error(OP, &e);
                    let tx = client.transaction().await.map_err(err)?;
                    for (name, value) in &rows {
                        match value {
                            Some(v) => tx
                                .execute(
                                    "INSERT INTO comfy_param_defaults (name, value) VALUES ($1, $2)                                      ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                                    &[name, v],
                                )
                                .await
                                .map_err(err)?,
                            None => tx
                                .execute("DELETE FROM comfy_param_defaults WHERE name = $1", &[name])
                                .await
                                .map_err(err)?,
                        };
                    }
                    tx.commit().await.map_err(err)
                })
            })
            .await
    }

    async fn param_defaults(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        const OP: &str = "param_defaults";
        self.inner
            .run(OP, move |client| {
                Box::pin(async move {
                    let rows = client
                        .query("SELECT name, value FROM comfy_param_defaults", &[])
                        .await
                        .map_err(|e| pg_error(OP, &e))?;
                    let mut out = serde_json::Map::new();
                    for row in rows {
                        let name: Vec<u8> = row.try_get(0).map_err(|e| pg_error(OP, &e))?;
                        let value: String = row.try_get(1).map_err(|e| pg_error(OP, &e))?;
                        let name = String::from_utf8(name)
                            .map_err(|_| Error::store(OP, "a default's name is not UTF-8"))?;
                        let value = serde_json::from_str(&value).map_err(|e| {
                            Error::store(OP, format!("the default {name:?} is not JSON: {e}"))
                        })?;
                        out.insert(name, value);
                    }
                    Ok(out)
                })
            })
            .await
    }

    async fn publish(&self, body: &SignalBody) -> Result<()> {
        self.publish_many(std::slice::from_ref(body)).await
    }

    async fn publish_many(&self, bodies: &[SignalBody]) -> Result<()> {
        let payloads = pack(&self.server_id, bodies)?;
        if payloads.is_empty() {
            return Ok(());
        }
        let channel = self.listener.channel(&self.inner).await?;
        self.inner
            .run("publish", move |client| {
                Box::pin(async move {
                    for payload in &payloads {
                        client
                            .execute("SELECT pg_notify($1, $2)", &[&channel, payload])
                            .await
                            .map_err(|e| pg_error("publish", &e))?;
                    }
                    Ok(())
                })
            })
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.listener.subscribe(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_packed_in_order_into_payloads_under_the_limit() {
        let bodies: Vec<SignalBody> = (0..200)
            .map(|i| SignalBody::Finished { job_id: JobId(format!("job-{i:04}-{}", "x".repeat(40))) })
            .collect();
        let payloads = pack("srv", &bodies).unwrap();
        assert!(payloads.len() > 1, "200 signals do not fit one payload");
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() <= MAX_SIGNAL, "{}", p.len());
            let signals: Vec<Signal> = serde_json::from_str(p).unwrap();
            back.extend(signals.into_iter().map(|s| s.body));
        }
        assert_eq!(back, bodies);
        let huge = SignalBody::Finished { job_id: JobId("y".repeat(MAX_SIGNAL)) };
        assert!(pack("srv", &[huge]).unwrap().is_empty(), "too large alone: skipped");
    }
}
