//! PostgreSQL and pool errors as [`Error::Store`]: transient faults (the server unreachable or
//! restarting, a connection lost, no free connection in time, serialization failures and
//! deadlocks) are retryable; constraint violations, corrupt data and bad SQL are not.

use std::error::Error as _;
use std::time::Duration;

use deadpool_postgres::PoolError;

use crate::error::Error;

/// Whether an SQLSTATE names a transient fault.
pub(super) fn retryable_state(code: &str) -> bool {
    code.starts_with("08")           // connection exception
        || code.starts_with("53")    // insufficient resources (too many connections, disk full)
        || matches!(
            code,
            "40001"   // serialization_failure
            | "40P01" // deadlock_detected
            | "55P03" // lock_not_available
            | "57P01" // admin_shutdown
            | "57P02" // crash_shutdown
            | "57P03" // cannot_connect_now (starting up)
        )
}

/// Maps a driver error to [`Error::Store`].
pub(super) fn pg_error(operation: &'static str, err: &tokio_postgres::Error) -> Error {
    if let Some(db) = err.as_db_error() {
        let mut message = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            message.push_str(&format!("; {detail}"));
        }
        return Error::Store { operation, message, retryable: retryable_state(db.code().code()) };
    }
    // No SQLSTATE: the connection failed or closed (retryable), or a value did not convert.
    let io = err.source().is_some_and(|s| s.is::<std::io::Error>());
    let retryable = err.is_closed() || io || err.code().is_some_and(|c| retryable_state(c.code()));
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    Error::Store { operation, message, retryable }
}

/// Maps a connection-pool error to [`Error::Store`].
pub(super) fn pool_error(operation: &'static str, err: &PoolError) -> Error {
    match err {
        PoolError::Backend(e) => {
            let mut e = pg_error(operation, e);
            if let Error::Store { message, .. } = &mut e {
                *message = format!("cannot connect to the database: {message}");
            }
            e
        }
        PoolError::Timeout(kind) => Error::Store {
            operation,
            message: format!("no database connection became available in time ({kind:?})"),
            retryable: true,
        },
        other => Error::Store { operation, message: format!("database pool: {other}"), retryable: false },
    }
}

/// The error for a call that did not finish within `limit`.
pub(super) fn timeout_error(operation: &'static str, limit: Duration) -> Error {
    Error::Store {
        operation,
        message: format!("the database did not answer within {} s", limit.as_secs()),
        retryable: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_states_are_retryable_and_others_not() {
        for code in ["08006", "08001", "53300", "40001", "40P01", "57P01", "57P03"] {
            assert!(retryable_state(code), "{code}");
        }
        for code in ["23505", "23502", "XX001", "42P01", "22P02"] {
            assert!(!retryable_state(code), "{code}");
        }
        let e = timeout_error("put_job", Duration::from_secs(30));
        assert!(e.is_retryable());
        assert_eq!(e.code(), "store_error");
    }
}
