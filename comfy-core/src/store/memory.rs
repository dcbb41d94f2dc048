//! In-memory store (interim; replaced by the full implementation).
use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;

/// Keeps jobs and assets in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    jobs: Mutex<HashMap<JobId, JobRecord>>,
    assets: Mutex<Vec<Asset>>,
}

#[async_trait]
impl Store for MemoryStore {
    async fn put_job(&self, job: &JobRecord) -> Result<()> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(job.id.clone(), job.clone());
        Ok(())
    }
    async fn get_job(&self, id: &JobId) -> Result<Option<JobRecord>> {
        Ok(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned())
    }
    async fn list_jobs(&self, q: &JobQuery) -> Result<Vec<JobRecord>> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<JobRecord> = jobs
            .values()
            .filter(|j| !q.unfinished_only || !j.status.is_terminal())
            .filter(|j| q.backend.as_ref().is_none_or(|b| &j.backend == b))
            .cloned()
            .collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        v.truncate(if q.limit == 0 { 100 } else { q.limit });
        Ok(v)
    }
    async fn put_assets(&self, assets: &[Asset]) -> Result<()> {
        let mut all = self.assets.lock().unwrap_or_else(|e| e.into_inner());
        for a in assets {
            if !all.iter().any(|x| x.id == a.id) {
                all.push(a.clone());
            }
        }
        Ok(())
    }
    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>> {
        Ok(self.assets.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|a| &a.id == id).cloned())
    }
    async fn list_assets(&self, q: &AssetQuery) -> Result<Vec<Asset>> {
        let all = self.assets.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<Asset> =
            all.iter().filter(|a| q.job_id.as_ref().is_none_or(|j| &a.job_id == j)).cloned().collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(v)
    }
    async fn set_asset_content(&self, id: &AssetId, c: &AssetContent) -> Result<()> {
        let mut all = self.assets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = all.iter_mut().find(|a| &a.id == id) {
            a.sha256 = Some(c.sha256.clone());
            a.byte_size = Some(c.byte_size);
            a.width = c.width;
            a.height = c.height;
        }
        Ok(())
    }
    async fn purge_expired(&self, now: Millis) -> Result<u64> {
        let mut all = self.assets.lock().unwrap_or_else(|e| e.into_inner());
        let before = all.len();
        all.retain(|a| a.expires_at.is_none_or(|e| e >= now));
        Ok((before - all.len()) as u64)
    }
}
