//! Per-token rate limiting: a token bucket per principal, refilled continuously. On a store
//! several servers share (PostgreSQL), the bucket is in the store: a token's budget is counted
//! once for every server behind a load balancer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use comfy_core::store::SharedState;

/// Requests per minute per key, with bursts up to the per-minute count.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    shared: Option<Arc<dyn SharedState>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Most keys remembered; idle ones are dropped first when there are more.
const MAX_KEYS: usize = 10_000;

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per minute per key.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts budgets in the shared store when there is one.
    pub fn shared(mut self, shared: Option<Arc<dyn SharedState>>) -> RateLimiter {
        self.shared = shared;
        self
    }

    /// Takes one request from `key`'s bucket, or says how long to wait. With a shared store
    /// that cannot be reached, this server's own bucket counts meanwhile.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        if let Some(shared) = &self.shared {
            match shared.take_token(&format!("mcp:{key}"), self.per_minute as u32).await {
                Ok(true) => return Ok(()),
                Ok(false) => return Err(Duration::from_secs_f64(60.0 / self.per_minute)),
                Err(e) => {
                    tracing::warn!(error = %e, "shared rate budget unavailable; counting on this server")
                }
            }
        }
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let rate = self.per_minute / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let full = self.per_minute;
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < full);
        }
        let b = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: self.per_minute, at: now });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(self.per_minute);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(((1.0 - b.tokens) / rate).max(0.001)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let l = RateLimiter::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.check_at("a", t0).unwrap();
        }
        let wait = l.check_at("a", t0).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        l.check_at("b", t0).unwrap();
        l.check_at("a", t0 + Duration::from_secs(20)).unwrap();
    }
}
