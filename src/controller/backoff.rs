//! Per-object retry delays: exponential with full jitter, capped. Refusals, failures and
//! conflicting writes each grow the delay; only a finished order, a gateway in sync or a new
//! generation (a spec change) starts it over. An intent write or a polled order does not: a cloud
//! that keeps refusing the same change must see fewer calls over time, not a steady stream.

use std::{collections::HashMap, hash::Hash, time::Duration};

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use parking_lot::Mutex;

struct Run {
    generation: i64,
    delays: ExponentialBackoff,
}

pub struct Backoffs<K> {
    max: Duration,
    runs: Mutex<HashMap<K, Run>>,
}

impl<K: Eq + Hash> Backoffs<K> {
    pub fn new(max: Duration) -> Backoffs<K> {
        Backoffs { max, runs: Mutex::default() }
    }

    /// The delay before the next attempt for `key` at `generation`: the run's first `base`
    /// doubled for each earlier failure of this run, capped at the maximum, then jittered down by
    /// up to half; at least `at_least` (a cloud's retry hint).
    pub fn next(&self, key: K, generation: i64, base: Duration, at_least: Option<Duration>) -> Duration {
        let mut runs = self.runs.lock();
        let run = runs.entry(key).or_insert_with(|| self.run(generation, base));
        if run.generation != generation {
            *run = self.run(generation, base);
        }
        // The builder has no attempt limit, so the iterator never ends.
        let delay = run.delays.next().unwrap_or(self.max);
        delay.max(at_least.unwrap_or_default())
    }

    /// backon jitters up by less than 100%: starting and capping at half gives delays in
    /// [ceiling/2, ceiling], the "full jitter down to half" the cloud and the API server see.
    fn run(&self, generation: i64, base: Duration) -> Run {
        let delays = ExponentialBuilder::new()
            .with_min_delay(base / 2)
            .with_max_delay(self.max / 2)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build();
        Run { generation, delays }
    }

    /// The run of failures for `key` is over.
    pub fn reset(&self, key: &K) {
        self.runs.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(300);

    fn ceiling(b: &Backoffs<&str>, generation: i64) -> Duration {
        // Jitter takes off at most half: twice the delay bounds the ceiling from above.
        let d = b.next("obj", generation, BASE, None);
        assert!(d <= b.max);
        d
    }

    #[test]
    fn refusals_double_the_delay_up_to_the_cap() {
        let b = Backoffs::new(Duration::from_secs(10));
        let delays: Vec<Duration> = (0..10).map(|_| ceiling(&b, 1)).collect();
        for (i, d) in delays.iter().enumerate() {
            let full = BASE.saturating_mul(1 << i).min(Duration::from_secs(10));
            assert!(*d >= full / 2 && *d <= full, "attempt {i}: {d:?} not within [{:?}, {full:?}]", full / 2);
        }
        assert!(delays[9] >= Duration::from_secs(5), "capped at 10 s, jittered: {:?}", delays[9]);
    }

    #[test]
    fn only_a_reset_or_a_new_generation_starts_over() {
        let b = Backoffs::new(Duration::from_secs(300));
        for _ in 0..6 {
            ceiling(&b, 1);
        }
        assert!(ceiling(&b, 1) >= BASE * 32, "the seventh refusal waits at least 32 bases");
        assert!(ceiling(&b, 2) <= BASE, "a new generation starts over");
        ceiling(&b, 2);
        b.reset(&"obj");
        assert!(ceiling(&b, 2) <= BASE, "a finished order starts over");
    }

    #[test]
    fn a_retry_hint_is_a_floor() {
        let b = Backoffs::new(Duration::from_secs(300));
        assert_eq!(b.next("obj", 1, BASE, Some(Duration::from_secs(7))), Duration::from_secs(7));
    }
}
