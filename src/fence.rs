//! The leader fence: proof, checked right before a cloud call that can place an order, that this
//! replica holds the leader Lease and will keep holding it until the call is over.
//!
//! A replica that was paused or cut off from the API server may still believe it leads while a
//! standby has taken over and ordered; its queued call must then be dropped, not sent. The
//! elector ([`crate::leader`]) records how long the lease is surely ours (measured from before
//! the renewal request was sent, on the monotonic clock, which keeps running while the process is
//! stopped); the cloud clients wrap every call made inside [`Fence::scope`] in [`check`].

use std::{sync::Arc, time::Duration};

use parking_lot::Mutex;

use tokio::time::Instant;

/// A fenced call needs at least this much of the lease left to be sent at all.
pub const MIN_CALL: Duration = Duration::from_secs(1);

/// Shared between the elector and the controller. [`Fence::unfenced`] (a single replica without
/// leader election) always permits.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    held_until: Option<Arc<Mutex<Option<Instant>>>>,
}

impl Fence {
    /// No election: every call may be sent.
    pub fn unfenced() -> Fence {
        Fence { held_until: None }
    }

    /// A fence that permits nothing until [`Fence::held_until`] is first called.
    pub fn elected() -> Fence {
        Fence { held_until: Some(Arc::default()) }
    }

    /// The elector renewed the lease: it is ours until `until` (already less the safety margin).
    pub fn held_until(&self, until: Instant) {
        if let Some(h) = &self.held_until {
            *h.lock() = Some(until);
        }
    }

    /// The elector lost or released the lease.
    pub fn revoke(&self) {
        if let Some(h) = &self.held_until {
            *h.lock() = None;
        }
    }

    /// How long this replica surely still leads; `None` when it may not act. Unfenced: forever.
    pub fn remaining(&self) -> Option<Duration> {
        let Some(h) = &self.held_until else {
            return Some(Duration::MAX);
        };
        let until = (*h.lock())?;
        until.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())
    }

    /// Runs `call` with this fence in force for every cloud call it makes (see [`check`]).
    pub async fn scope<T>(&self, call: impl Future<Output = T>) -> T {
        FENCE.scope(self.clone(), call).await
    }
}

tokio::task_local! {
    static FENCE: Fence;
}

/// Inside [`Fence::scope`]: the time a call may take, or `None` when it must not be sent because
/// less than [`MIN_CALL`] of the lease is surely left. Outside any scope (reads): no limit.
pub fn check() -> Option<Option<Duration>> {
    FENCE.try_with(|f| f.remaining().filter(|left| *left >= MIN_CALL)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_fenced_call_needs_the_lease_to_outlast_it() {
        let fence = Fence::elected();
        assert_eq!(fence.scope(async { check() }).await, Some(None), "nothing before the first renewal");
        fence.held_until(Instant::now() + Duration::from_secs(10));
        assert_eq!(fence.scope(async { check() }).await, Some(Some(Duration::from_secs(10))));
        tokio::time::advance(Duration::from_millis(9_500)).await;
        assert_eq!(fence.scope(async { check() }).await, Some(None), "half a second left is too little");
        fence.held_until(Instant::now() + Duration::from_secs(10));
        fence.revoke();
        assert_eq!(fence.scope(async { check() }).await, Some(None), "revoked");
    }

    #[tokio::test(start_paused = true)]
    async fn reads_outside_a_scope_and_unfenced_replicas_are_not_limited() {
        assert_eq!(check(), None);
        assert_eq!(Fence::unfenced().scope(async { check() }).await, Some(Some(Duration::MAX)));
    }
}
