//! [`copy_store`]: copies every job, asset and batch of one store into another (for example an
//! SQLite data directory into a shared PostgreSQL database). Idempotent: a record the target
//! already holds unchanged is not written again.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{AssetContent, AssetId, AssetQuery, BatchQuery, JobQuery, Store};
use crate::error::Result;
use crate::job::JobId;

/// How many assets one write carries.
const ASSET_CHUNK: usize = 500;

/// What happened to one kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CopyCounts {
    /// Records the target did not have.
    pub copied: u64,
    /// Records the target had in an older state (a job or batch updated later in the source;
    /// an asset whose fetched content the target did not know yet).
    pub updated: u64,
    /// Records the target already had as they are (or newer).
    pub unchanged: u64,
}

/// What [`copy_store`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CopyReport {
    /// Job records.
    pub jobs: CopyCounts,
    /// Assets.
    pub assets: CopyCounts,
    /// Batches.
    pub batches: CopyCounts,
}

/// Copies every job, asset and batch of `from` into `to`.
///
/// A record missing from `to` is copied; a job or batch that `to` holds with an older
/// `updated_at` is replaced; anything else is left as `to` has it, so running it again copies
/// nothing twice. Both stores' records are read into memory (a store of a few hundred thousand
/// jobs needs a few hundred MB); writes go one record (assets: up to 500) at a time, each
/// durable when written, so an interrupted copy is simply run again.
pub async fn copy_store(from: &dyn Store, to: &dyn Store) -> Result<CopyReport> {
    let mut report = CopyReport::default();

    let all_jobs = JobQuery { limit: usize::MAX, ..Default::default() };
    let existing: HashMap<JobId, _> =
        to.list_jobs(&all_jobs).await?.into_iter().map(|j| (j.id.clone(), j)).collect();
    for job in from.list_jobs(&all_jobs).await? {
        match existing.get(&job.id) {
            None => {
                to.put_job(&job).await?;
                report.jobs.copied += 1;
            }
            Some(have) if *have != job && job.updated_at > have.updated_at => {
                to.put_job(&job).await?;
                report.jobs.updated += 1;
            }
            Some(_) => report.jobs.unchanged += 1,
        }
    }

    let all_assets = AssetQuery { limit: usize::MAX, ..Default::default() };
    let existing: HashMap<AssetId, _> =
        to.list_assets(&all_assets).await?.into_iter().map(|a| (a.id.clone(), a)).collect();
    let mut missing = Vec::new();
    let mut queued = HashSet::new();
    for asset in from.list_assets(&all_assets).await? {
        match existing.get(&asset.id) {
            None if queued.insert(asset.id.clone()) => missing.push(asset),
            None => report.assets.unchanged += 1,
            Some(have) => match (&have.sha256, &asset.sha256, asset.byte_size) {
                (None, Some(sha256), Some(byte_size)) => {
                    let content = AssetContent {
                        sha256: sha256.clone(),
                        byte_size,
                        width: asset.width,
                        height: asset.height,
                        mime_type: Some(asset.mime_type.clone()),
                    };
                    to.set_asset_content(&asset.id, &content).await?;
                    report.assets.updated += 1;
                }
                _ => report.assets.unchanged += 1,
            },
        }
    }
    for chunk in missing.chunks(ASSET_CHUNK) {
        to.put_assets(chunk).await?;
        report.assets.copied += chunk.len() as u64;
    }

    let all_batches = BatchQuery { limit: usize::MAX, ..Default::default() };
    let existing: HashMap<String, _> =
        to.list_batches(&all_batches).await?.into_iter().map(|b| (b.id.clone(), b)).collect();
    for batch in from.list_batches(&all_batches).await? {
        match existing.get(&batch.id) {
            None => {
                to.put_batch(&batch).await?;
                report.batches.copied += 1;
            }
            Some(have) if *have != batch && batch.updated_at > have.updated_at => {
                to.put_batch(&batch).await?;
                report.batches.updated += 1;
            }
            Some(_) => report.batches.unchanged += 1,
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobOutput, JobStatus, OutputItem};
    use crate::store::{Asset, BatchRecord, JobRecord, MemoryStore, Provenance};

    fn job(id: &str, updated_at: i64) -> JobRecord {
        JobRecord {
            id: JobId::from(id),
            backend: "local".into(),
            handle: None,
            request: serde_json::json!({"n": id}),
            workflow_hash: "h".into(),
            provenance: Provenance::default(),
            status: JobStatus::Succeeded,
            outputs: Vec::new(),
            created_at: 1,
            updated_at,
        }
    }

    #[tokio::test]
    async fn store_copy_is_idempotent_and_keeps_newer_targets() {
        let (from, to) = (MemoryStore::new(), MemoryStore::new());
        let a = job("a", 5);
        from.put_job(&a).await.unwrap();
        from.put_job(&job("b", 5)).await.unwrap();
        to.put_job(&job("b", 9)).await.unwrap(); // newer in the target: kept
        let out = JobOutput {
            node_id: "9".into(),
            key: "text".into(),
            index: 0,
            item: OutputItem::Text { text: "t".into() },
        };
        let mut asset = Asset::from_output(&a, &out, 3);
        from.put_assets(std::slice::from_ref(&asset)).await.unwrap();
        let batch = BatchRecord {
            id: "b_1".into(),
            backend: "local".into(),
            items: vec![],
            created_at: 1,
            updated_at: 1,
        };
        from.put_batch(&batch).await.unwrap();

        let first = copy_store(&from, &to).await.unwrap();
        assert_eq!(first.jobs, CopyCounts { copied: 1, updated: 0, unchanged: 1 });
        assert_eq!(first.assets, CopyCounts { copied: 1, updated: 0, unchanged: 0 });
        assert_eq!(first.batches, CopyCounts { copied: 1, updated: 0, unchanged: 0 });
        assert_eq!(to.get_job(&JobId::from("b")).await.unwrap().unwrap().updated_at, 9);

        // The source learns an asset's content and a job changes: only those are written.
        asset.sha256 = Some("ab".repeat(32));
        asset.byte_size = Some(10);
        let content = AssetContent {
            sha256: "ab".repeat(32),
            byte_size: 10,
            width: None,
            height: None,
            mime_type: None,
        };
        from.set_asset_content(&asset.id, &content).await.unwrap();
        from.put_job(&JobRecord { status: JobStatus::Cancelled, ..job("a", 6) }).await.unwrap();
        let second = copy_store(&from, &to).await.unwrap();
        assert_eq!(second.jobs, CopyCounts { copied: 0, updated: 1, unchanged: 1 });
        assert_eq!(second.assets, CopyCounts { copied: 0, updated: 1, unchanged: 0 });
        assert_eq!(to.get_asset(&asset.id).await.unwrap(), Some(asset));

        let third = copy_store(&from, &to).await.unwrap();
        assert_eq!(third.jobs, CopyCounts { copied: 0, updated: 0, unchanged: 2 });
        assert_eq!(third.assets, CopyCounts { copied: 0, updated: 0, unchanged: 1 });
        assert_eq!(third.batches, CopyCounts { copied: 0, updated: 0, unchanged: 1 });
    }
}
