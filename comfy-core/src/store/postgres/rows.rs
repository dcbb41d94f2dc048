//! Rows of the PostgreSQL store: encoding records into column values and decoding rows back,
//! every decoding failure naming the table, the row id and the column (never a panic).

use std::fmt;

use serde::Serialize;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use super::super::columns::Columns;
use super::super::{Asset, BatchRecord, JobRecord, Millis, Provenance};
use crate::error::{Error, Result};
use crate::job::{JobId, MediaKind};

pub(super) const JOB_COLUMNS: &str = "id, backend, request, workflow_hash, template, params, owner, \
                                      status, status_name, outputs, created_at, updated_at, handle";
pub(super) const ASSET_COLUMNS: &str = "id, job_id, backend, node_id, key, idx, template, params, \
                                        owner, workflow_hash, file, url, text, media, mime_type, \
                                        byte_size, width, height, sha256, created_at, expires_at";

pub(super) fn to_json<T: Serialize + ?Sized>(
    operation: &'static str,
    what: &str,
    value: &T,
) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::store(operation, format!("cannot encode {what}: {e}")))
}

fn optional_json<T: Serialize>(
    operation: &'static str,
    what: &str,
    value: Option<&T>,
) -> Result<Option<String>> {
    value.map(|v| to_json(operation, what, v)).transpose()
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn opt_bytes(s: Option<&String>) -> Option<Vec<u8>> {
    s.map(|s| bytes(s))
}

/// A job, encoded for its row.
pub(super) struct JobRow {
    pub id: Vec<u8>,
    pub backend: Vec<u8>,
    pub request: String,
    pub workflow_hash: Vec<u8>,
    pub template: Option<Vec<u8>>,
    pub params: Option<String>,
    pub owner: Option<Vec<u8>>,
    pub status: String,
    pub status_name: &'static str,
    pub outputs: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub handle: Option<String>,
}

impl JobRow {
    pub fn encode(job: &JobRecord) -> Result<JobRow> {
        const OP: &str = "put_job";
        Ok(JobRow {
            id: bytes(&job.id.0),
            backend: bytes(&job.backend),
            request: to_json(OP, "request", &job.request)?,
            workflow_hash: bytes(&job.workflow_hash),
            template: opt_bytes(job.provenance.template.as_ref()),
            params: optional_json(OP, "params", job.provenance.params.as_ref())?,
            owner: opt_bytes(job.provenance.owner.as_ref()),
            status: to_json(OP, "status", &job.status)?,
            status_name: job.status.name(),
            outputs: to_json(OP, "outputs", &job.outputs)?,
            created_at: job.created_at,
            updated_at: job.updated_at,
            handle: optional_json(OP, "handle", job.handle.as_ref())?,
        })
    }
}

/// An asset, encoded for its row.
pub(super) struct AssetRow {
    pub id: Vec<u8>,
    pub job_id: Vec<u8>,
    pub backend: Vec<u8>,
    pub node_id: Vec<u8>,
    pub key: Vec<u8>,
    pub index: i64,
    pub template: Option<Vec<u8>>,
    pub params: Option<String>,
    pub owner: Option<Vec<u8>>,
    pub workflow_hash: Vec<u8>,
    pub file: Option<String>,
    pub url: Option<Vec<u8>>,
    pub text: Option<Vec<u8>>,
    pub media: String,
    pub mime_type: Vec<u8>,
    pub byte_size: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub sha256: Option<Vec<u8>>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

/// A size as stored (BIGINT).
pub(super) fn byte_size_to_sql(operation: &'static str, size: u64) -> Result<i64> {
    i64::try_from(size)
        .map_err(|_| Error::store(operation, format!("byte size {size} is too large to store")))
}

/// `media` as stored: its serialized name (`image`, `video`, ...).
fn media_name(operation: &'static str, media: MediaKind) -> Result<String> {
    match serde_json::to_value(media) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        other => Err(Error::store(operation, format!("cannot encode media kind {media:?}: {other:?}"))),
    }
}

impl AssetRow {
    pub fn encode(asset: &Asset) -> Result<AssetRow> {
        const OP: &str = "put_assets";
        Ok(AssetRow {
            id: bytes(&asset.id.0),
            job_id: bytes(&asset.job_id.0),
            backend: bytes(&asset.backend),
            node_id: bytes(&asset.node_id),
            key: bytes(&asset.key),
            index: i64::from(asset.index),
            template: opt_bytes(asset.provenance.template.as_ref()),
            params: optional_json(OP, "params", asset.provenance.params.as_ref())?,
            owner: opt_bytes(asset.provenance.owner.as_ref()),
            workflow_hash: bytes(&asset.workflow_hash),
            file: optional_json(OP, "file", asset.file.as_ref())?,
            url: opt_bytes(asset.url.as_ref()),
            text: opt_bytes(asset.text.as_ref()),
            media: media_name(OP, asset.media)?,
            mime_type: bytes(&asset.mime_type),
            byte_size: asset.byte_size.map(|s| byte_size_to_sql(OP, s)).transpose()?,
            width: asset.width.map(i64::from),
            height: asset.height.map(i64::from),
            sha256: opt_bytes(asset.sha256.as_ref()),
            created_at: asset.created_at,
            expires_at: asset.expires_at,
        })
    }
}

/// Reads one row's columns.
struct Reader<'r> {
    row: &'r Row,
    table: &'static str,
    operation: &'static str,
    id: String,
}

impl<'r> Reader<'r> {
    fn new(row: &'r Row, table: &'static str, operation: &'static str) -> Self {
        let id = match row.try_get::<_, Vec<u8>>("id") {
            Ok(id) => String::from_utf8_lossy(&id).into_owned(),
            Err(_) => "?".to_owned(),
        };
        Reader { row, table, operation, id }
    }

    fn corrupt(&self, column: &str, problem: impl fmt::Display) -> Error {
        Error::store(
            self.operation,
            format!("corrupt row in table `{}` (id {:?}), column `{column}`: {problem}", self.table, self.id),
        )
    }

    fn get<'a, T: FromSql<'a>>(&'a self, column: &'static str) -> Result<T> {
        self.row.try_get(column).map_err(|e| self.corrupt(column, e))
    }

    fn string(&self, column: &'static str) -> Result<String> {
        let raw: Vec<u8> = self.get(column)?;
        String::from_utf8(raw).map_err(|e| self.corrupt(column, format_args!("not UTF-8: {e}")))
    }

    fn string_opt(&self, column: &'static str) -> Result<Option<String>> {
        let raw: Option<Vec<u8>> = self.get(column)?;
        raw.map(|r| String::from_utf8(r).map_err(|e| self.corrupt(column, format_args!("not UTF-8: {e}"))))
            .transpose()
    }
}

impl Columns for Reader<'_> {
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

pub(super) fn decode_job(row: &Row, operation: &'static str) -> Result<JobRecord> {
    let r = Reader::new(row, "jobs", operation);
    Ok(JobRecord {
        id: JobId(r.string("id")?),
        backend: r.string("backend")?,
        handle: r.json_opt("handle")?,
        request: r.json("request")?,
        workflow_hash: r.string("workflow_hash")?,
        provenance: Provenance {
            template: r.string_opt("template")?,
            params: r.json_opt("params")?,
            owner: r.string_opt("owner")?,
        },
        status: r.json("status")?,
        outputs: r.json("outputs")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

pub(super) fn decode_asset(row: &Row, operation: &'static str) -> Result<Asset> {
    use super::super::AssetId;
    let r = Reader::new(row, "assets", operation);
    Ok(Asset {
        id: AssetId(r.string("id")?),
        job_id: JobId(r.string("job_id")?),
        backend: r.string("backend")?,
        node_id: r.string("node_id")?,
        key: r.string("key")?,
        index: r.int("idx")?,
        provenance: Provenance {
            template: r.string_opt("template")?,
            params: r.json_opt("params")?,
            owner: r.string_opt("owner")?,
        },
        workflow_hash: r.string("workflow_hash")?,
        file: r.json_opt("file")?,
        url: r.string_opt("url")?,
        text: r.string_opt("text")?,
        media: r.media("media")?,
        mime_type: r.string("mime_type")?,
        byte_size: r.int_opt("byte_size")?,
        width: r.int_opt("width")?,
        height: r.int_opt("height")?,
        sha256: r.string_opt("sha256")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
    })
}

pub(super) fn decode_batch(row: &Row, operation: &'static str) -> Result<BatchRecord> {
    Reader::new(row, "batches", operation).json("record")
}
