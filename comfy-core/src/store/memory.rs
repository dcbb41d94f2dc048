//! [`MemoryStore`]: everything in process memory, for tests and embedding.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::{
    Asset, AssetContent, AssetId, AssetQuery, BatchQuery, BatchRecord, JobQuery, JobRecord, Millis, Store,
    effective_limit,
};
use crate::error::Result;
use crate::job::JobId;

/// A [`Store`] that keeps jobs and assets in memory; nothing survives the process.
///
/// Ordering, filters and idempotency are the same as the SQLite store's.
/// The lock is a `std` [`RwLock`] that is never held across an `.await`, so every method
/// completes without yielding.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: HashMap<JobId, JobRecord>,
    assets: HashMap<AssetId, Asset>,
    batches: HashMap<String, BatchRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while the lock is held cannot leave the maps half-updated (every mutation is a
    // single insert, remove or field assignment), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the newest-first order sorts by: `created_at`, then id (byte-wise, like SQLite).
trait Ordered: Clone {
    fn order_key(&self) -> (Millis, &str);
}

impl Ordered for JobRecord {
    fn order_key(&self) -> (Millis, &str) {
        (self.created_at, self.id.as_str())
    }
}

impl Ordered for BatchRecord {
    fn order_key(&self) -> (Millis, &str) {
        (self.created_at, self.id.as_str())
    }
}

impl Ordered for Asset {
    fn order_key(&self) -> (Millis, &str) {
        (self.created_at, self.id.as_str())
    }
}

/// The `limit` newest items passing `keep`, newest first.
fn newest<'a, T: Ordered + 'a>(
    items: impl Iterator<Item = &'a T>,
    keep: impl Fn(&T) -> bool,
    limit: usize,
) -> Vec<T> {
    let mut kept: Vec<&T> = items.filter(|item| keep(item)).collect();
    kept.sort_unstable_by(|a, b| b.order_key().cmp(&a.order_key()));
    kept.into_iter().take(limit).cloned().collect()
}

#[async_trait]
impl Store for MemoryStore {
    async fn put_job(&self, job: &JobRecord) -> Result<()> {
        let mut inner = self.write();
        // As the SQL stores: a finished job is never put back to an unfinished state.
        let keep =
            inner.jobs.get(&job.id).is_some_and(|old| old.status.is_terminal() && !job.status.is_terminal());
        if !keep {
            inner.jobs.insert(job.id.clone(), job.clone());
        }
        Ok(())
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobRecord>> {
        Ok(self.read().jobs.get(id).cloned())
    }

    async fn list_jobs(&self, query: &JobQuery) -> Result<Vec<JobRecord>> {
        let inner = self.read();
        Ok(newest(
            inner.jobs.values(),
            |job| {
                (!query.unfinished_only || !job.status.is_terminal())
                    && query.backend.as_ref().is_none_or(|b| *b == job.backend)
                    && query.owner.as_ref().is_none_or(|o| job.provenance.owner.as_ref() == Some(o))
                    && query.workflow_hash.as_ref().is_none_or(|h| *h == job.workflow_hash)
            },
            effective_limit(query.limit),
        ))
    }

    async fn put_assets(&self, assets: &[Asset]) -> Result<()> {
        let mut inner = self.write();
        for asset in assets {
            if let Entry::Vacant(slot) = inner.assets.entry(asset.id.clone()) {
                slot.insert(asset.clone());
            }
        }
        Ok(())
    }

    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>> {
        Ok(self.read().assets.get(id).cloned())
    }

    async fn list_assets(&self, query: &AssetQuery) -> Result<Vec<Asset>> {
        let inner = self.read();
        Ok(newest(
            inner.assets.values(),
            |asset| {
                query.job_id.as_ref().is_none_or(|j| *j == asset.job_id)
                    && query.template.as_ref().is_none_or(|t| asset.provenance.template.as_ref() == Some(t))
                    && query.since.is_none_or(|since| asset.created_at >= since)
                    && query.owner.as_ref().is_none_or(|o| asset.provenance.owner.as_ref() == Some(o))
            },
            effective_limit(query.limit),
        ))
    }

    async fn set_asset_content(&self, id: &AssetId, content: &AssetContent) -> Result<()> {
        if let Some(asset) = self.write().assets.get_mut(id) {
            asset.sha256 = Some(content.sha256.clone());
            asset.byte_size = Some(content.byte_size);
            asset.width = content.width;
            asset.height = content.height;
            if let Some(mime) = &content.mime_type {
                asset.mime_type = mime.clone();
            }
        }
        Ok(())
    }

    async fn purge_expired(&self, now: Millis) -> Result<u64> {
        let mut inner = self.write();
        let before = inner.assets.len();
        inner.assets.retain(|_, asset| asset.expires_at.is_none_or(|at| at >= now));
        Ok((before - inner.assets.len()) as u64)
    }

    async fn put_batch(&self, batch: &BatchRecord) -> Result<()> {
        self.write().batches.insert(batch.id.clone(), batch.clone());
        Ok(())
    }

    async fn get_batch(&self, id: &str) -> Result<Option<BatchRecord>> {
        Ok(self.read().batches.get(id).cloned())
    }

    async fn list_batches(&self, query: &BatchQuery) -> Result<Vec<BatchRecord>> {
        let inner = self.read();
        Ok(newest(
            inner.batches.values(),
            |b| {
                (!query.unsubmitted_only || b.unsubmitted() > 0)
                    && query.backend.as_ref().is_none_or(|x| *x == b.backend)
            },
            effective_limit(query.limit),
        ))
    }
}
