//! Decoding a stored row's columns into typed values, shared by the SQLite and PostgreSQL
//! stores: each reader says how to read a raw integer or text and how to name a corrupt
//! column; range checks, JSON and media kinds are decoded here once.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::job::MediaKind;

/// The `status_name`s of a job that has not finished.
pub(super) const UNFINISHED_STATES: [&str; 3] = ["pending", "queued", "running"];

/// The condition of a job upsert's `DO UPDATE`: a finished job is never put back to an
/// unfinished state. A late write of an earlier state (a "running" update racing the final
/// one, or another server still reconciling the job) must not undo a result.
pub(super) const KEEP_FINISHED: &str = " WHERE jobs.status_name IN ('pending', 'queued', 'running') \
     OR excluded.status_name NOT IN ('pending', 'queued', 'running')";

/// A row being read; the provided methods decode its columns.
pub(super) trait Columns {
    /// The error for a column whose value cannot be used (names table, id and column).
    fn corrupt(&self, column: &str, problem: &dyn fmt::Display) -> Error;
    /// A non-null integer column.
    fn raw_int(&self, column: &'static str) -> Result<i64>;
    /// A nullable integer column.
    fn raw_int_opt(&self, column: &'static str) -> Result<Option<i64>>;
    /// A non-null text column.
    fn raw_text(&self, column: &'static str) -> Result<String>;
    /// A nullable text column.
    fn raw_text_opt(&self, column: &'static str) -> Result<Option<String>>;

    /// An integer column that must fit `T`.
    fn int<T: TryFrom<i64>>(&self, column: &'static str) -> Result<T> {
        let value = self.raw_int(column)?;
        T::try_from(value).map_err(|_| self.corrupt(column, &format_args!("{value} is out of range")))
    }

    /// A nullable integer column that must fit `T`.
    fn int_opt<T: TryFrom<i64>>(&self, column: &'static str) -> Result<Option<T>> {
        let value = self.raw_int_opt(column)?;
        value
            .map(|v| T::try_from(v).map_err(|_| self.corrupt(column, &format_args!("{v} is out of range"))))
            .transpose()
    }

    /// A JSON text column.
    fn json<T: DeserializeOwned>(&self, column: &'static str) -> Result<T> {
        let text = self.raw_text(column)?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(column, &format_args!("invalid JSON: {e}")))
    }

    /// A nullable JSON text column.
    fn json_opt<T: DeserializeOwned>(&self, column: &'static str) -> Result<Option<T>> {
        let text = self.raw_text_opt(column)?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| self.corrupt(column, &format_args!("invalid JSON: {e}")))
        })
        .transpose()
    }

    /// A media kind stored by name.
    fn media(&self, column: &'static str) -> Result<MediaKind> {
        let name = self.raw_text(column)?;
        serde_json::from_value(serde_json::Value::String(name))
            .map_err(|e| self.corrupt(column, &format_args!("unknown media kind: {e}")))
    }
}
