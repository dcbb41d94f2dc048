//! The ownership rule on a [`Comfy`] handle: which [`Caller`] it acts for, and the one place
//! each kind of record (job, asset, batch) is checked against it.

use super::{Comfy, Job, lock};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::job::JobId;
use crate::store::{Asset, BatchRecord};

impl Comfy {
    /// The same client (backend, store, jobs, templates) acting for `caller`: what it submits
    /// is recorded as the caller's, and it sees only what the caller may see ([`Caller`]).
    /// Cheap: servers make one per request.
    pub fn acting_for(&self, caller: Caller) -> Comfy {
        Comfy { caller, ..self.clone() }
    }

    /// Who this handle acts for.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// [`job`](Comfy::job) for a caller that does not see everything: a job tracked here or
    /// recorded with the caller as owner; anything else is not found, without asking the backend.
    pub(super) async fn owned_job(&self, id: &JobId) -> Result<Job> {
        let tracked = lock(&self.inner.jobs).get(id).cloned();
        let visible = match tracked {
            Some(shared) => {
                let owner = lock(&shared.record).provenance.owner.clone();
                if self.caller.may_see(owner.as_deref()) {
                    return Ok(self.job_handle(shared));
                }
                false
            }
            None => self
                .inner
                .store
                .get_job(id)
                .await?
                .is_some_and(|r| self.caller.may_see_provenance(&r.provenance)),
        };
        if visible {
            return self.find_job(id).await;
        }
        Err(self.job_not_found(id))
    }

    pub(super) fn job_not_found(&self, id: &JobId) -> Error {
        Error::JobNotFound { backend: self.inner.backend.name().to_owned(), job_id: id.0.clone() }
    }

    /// `asset` if the caller may see it, else [`Error::AssetNotFound`] (as for a missing id).
    pub(super) fn visible_asset(&self, asset: Asset) -> Result<Asset> {
        if self.caller.may_see_provenance(&asset.provenance) {
            Ok(asset)
        } else {
            Err(Error::AssetNotFound { asset_id: asset.id.0 })
        }
    }

    /// Whether the caller may see a batch: its items carry its owner.
    pub(super) fn sees_batch(&self, batch: &BatchRecord) -> bool {
        self.caller.sees_all()
            || (!batch.items.is_empty()
                && batch.items.iter().all(|i| self.caller.may_see_provenance(&i.provenance)))
    }
}
