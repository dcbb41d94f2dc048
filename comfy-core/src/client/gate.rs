//! The running-jobs cap: at most [`ClientOptions::max_running_jobs`](super::ClientOptions)
//! jobs submitted through one client are unfinished at once.

use std::sync::{Arc, Mutex, PoisonError};

use super::job::JobShared;
use crate::error::{Error, Result};

/// Counts the unfinished jobs of one client against its cap.
#[derive(Debug)]
pub(crate) struct JobGate {
    max: usize,
    inner: Mutex<GateInner>,
}

#[derive(Debug, Default)]
struct GateInner {
    active: Vec<Arc<JobShared>>,
    reserved: usize,
}

/// A reserved slot: [`Permit::track`] it with the submitted job, or drop it to free the slot.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    gate: &'a JobGate,
    used: bool,
}

impl JobGate {
    pub(crate) fn new(max: usize) -> JobGate {
        JobGate { max, inner: Mutex::new(GateInner::default()) }
    }

    /// Unfinished jobs counted now.
    pub(crate) fn running(&self) -> usize {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.active.retain(|j| !j.is_terminal());
        g.active.len()
    }

    /// Reserves a slot, or refuses with the retryable [`Error::TooManyJobs`].
    pub(crate) fn admit(&self) -> Result<Permit<'_>> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.active.retain(|j| !j.is_terminal());
        let running = g.active.len() + g.reserved;
        if running >= self.max {
            return Err(Error::TooManyJobs { running, limit: self.max });
        }
        g.reserved += 1;
        Ok(Permit { gate: self, used: false })
    }
}

impl Permit<'_> {
    /// Counts `job` against the cap until it finishes.
    pub(crate) fn track(mut self, job: Arc<JobShared>) {
        let mut g = self.gate.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.reserved = g.reserved.saturating_sub(1);
        g.active.push(job);
        self.used = true;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.used {
            let mut g = self.gate.inner.lock().unwrap_or_else(PoisonError::into_inner);
            g.reserved = g.reserved.saturating_sub(1);
        }
    }
}
