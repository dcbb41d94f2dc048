//! Periodic health checks: a member that answers is routed to, one that does not is not; a
//! member back after losing jobs that ran again elsewhere has its old copies cancelled.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Fleet;

/// Checks every member each `interval` until the fleet is dropped.
pub(super) fn spawn(fleet: &Arc<Fleet>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(Arc::downgrade(fleet), interval))
}

async fn run(fleet: Weak<Fleet>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: members start healthy, so wait one interval.
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(fleet) = fleet.upgrade() else { return };
        fleet.check_health(interval.min(Duration::from_secs(5))).await;
    }
}

impl Fleet {
    /// Asks every member for its health now (each gets `timeout`) and routes accordingly.
    pub async fn check_health(&self, timeout: Duration) {
        let checks = self.members.iter().map(|m| async move {
            let answer = tokio::time::timeout(timeout, m.spec.backend.health()).await;
            match answer {
                Ok(Ok(_)) => m.set_health(true, None),
                Ok(Err(e)) => m.set_health(false, Some(e.to_string())),
                Err(_) => {
                    m.set_health(false, Some(format!("no health answer within {} ms", timeout.as_millis())))
                }
            }
        });
        futures::future::join_all(checks).await;
        self.cancel_abandoned().await;
    }
}
