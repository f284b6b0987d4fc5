//! Replay protection shared by the simulators: which (key, nonce) pairs were used within a
//! window. Expired entries are dropped when the map reaches a threshold, which then doubles what
//! is left (at least 4,096), so pruning costs O(1) per request, amortised, even for a benchmark's
//! millions of calls.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug)]
pub struct Nonces<K> {
    window: Duration,
    seen: Mutex<Seen<K>>,
}

#[derive(Debug)]
struct Seen<K> {
    at: HashMap<K, Instant>,
    prune_at: usize,
}

impl<K: Hash + Eq> Nonces<K> {
    /// A nonce counts once per `window`.
    pub fn new(window: Duration) -> Nonces<K> {
        Nonces { window, seen: Mutex::new(Seen { at: HashMap::new(), prune_at: 0 }) }
    }

    /// Records `key`; `false` when it was seen within the window.
    pub fn first_use(&self, key: K) -> bool {
        let now = Instant::now();
        let window = self.window;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.at.len() >= seen.prune_at {
            seen.at.retain(|_, at| now.duration_since(*at) < window);
            seen.prune_at = (seen.at.len() * 2).max(4096);
        }
        match seen.at.get(&key) {
            Some(at) if now.duration_since(*at) < window => false,
            _ => {
                seen.at.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_counts_once_per_key_within_the_window() {
        let n = Nonces::new(Duration::from_secs(60));
        assert!(n.first_use(("AKID1", 7)));
        assert!(!n.first_use(("AKID1", 7)));
        assert!(n.first_use(("AKID2", 7)));
        assert!(n.first_use(("AKID1", 8)));
        let brief = Nonces::new(Duration::ZERO);
        assert!(brief.first_use(1) && brief.first_use(1));
    }
}
