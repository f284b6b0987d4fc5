//! The replay guard of API 2.0: the nonces seen within the timestamp window.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How far a request's timestamp may be from the simulator's clock (both APIs).
pub(super) const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// The `Nonce`s of authenticated API 2.0 requests within the timestamp window, per SecretId: a
/// request that repeats one is a replay.
#[derive(Debug, Default)]
pub(super) struct Nonces {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    at: HashMap<(String, u64), Instant>,
    /// Expired nonces are dropped when the map reaches this size, which then doubles what is
    /// left (at least 4,096): pruning costs O(1) per request, amortised.
    prune_at: usize,
}

impl Nonces {
    /// Records `nonce` for `secret_id`; `false` when it was seen within the window.
    pub fn first_use(&self, secret_id: &str, nonce: u64) -> bool {
        let window = Duration::from_secs(TIMESTAMP_WINDOW_SECS as u64 * 2);
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Timestamps may be off either way by the window, so a nonce is kept twice as long.
        if seen.at.len() >= seen.prune_at {
            seen.at.retain(|_, at| now.duration_since(*at) < window);
            seen.prune_at = (seen.at.len() * 2).max(4096);
        }
        match seen.at.get(&(secret_id.to_owned(), nonce)) {
            Some(at) if now.duration_since(*at) < window => false,
            _ => {
                seen.at.insert((secret_id.to_owned(), nonce), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_counts_once_per_secret_id() {
        let n = Nonces::default();
        assert!(n.first_use("AKID1", 7));
        assert!(!n.first_use("AKID1", 7));
        assert!(n.first_use("AKID2", 7));
        assert!(n.first_use("AKID1", 8));
    }
}
