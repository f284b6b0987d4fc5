//! Per-action, per-access-key token buckets, refilled continuously, holding one second of calls.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct RateLimits {
    /// Calls per second by action; actions without an entry are not limited.
    limits: Mutex<HashMap<String, u32>>,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl RateLimits {
    pub fn new(limits: HashMap<String, u32>) -> Self {
        RateLimits { limits: Mutex::new(limits), buckets: Mutex::default() }
    }

    /// Sets an action's limit; 0 removes it.
    pub fn set(&self, action: &str, per_second: u32) {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if per_second == 0 {
            limits.remove(action);
        } else {
            limits.insert(action.to_owned(), per_second);
        }
        // Start the changed action afresh rather than with a bucket sized for the old limit.
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).retain(|(_, a), _| a != action);
    }

    pub fn limits(&self) -> HashMap<String, u32> {
        self.limits.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes a token, or says how long until one is available.
    pub fn check(&self, key_id: &str, action: &str) -> Result<(), Duration> {
        let Some(rate) = self.limits.lock().unwrap_or_else(|e| e.into_inner()).get(action).copied() else {
            return Ok(());
        };
        let rate = f64::from(rate);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry((key_id.to_owned(), action.to_owned())).or_insert(Bucket { tokens: rate, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(rate);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_per_key_and_action() {
        let limits = RateLimits::new(HashMap::from([("A".to_owned(), 3)]));
        for _ in 0..3 {
            assert!(limits.check("k1", "A").is_ok());
        }
        let wait = limits.check("k1", "A").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(334), "{wait:?}");
        assert!(limits.check("k2", "A").is_ok());
        assert!(limits.check("k1", "B").is_ok());
        limits.set("A", 0);
        assert!(limits.check("k1", "A").is_ok());
    }
}
