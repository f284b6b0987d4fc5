//! The replay guard of API 2.0: the nonces seen within the timestamp window.

use std::time::Duration;

/// How far a request's timestamp may be from the simulator's clock (both APIs).
pub(super) const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// The `Nonce`s of authenticated API 2.0 requests, per SecretId: a request that repeats one is a
/// replay. Timestamps may be off either way by the window, so a nonce is kept twice as long.
pub(super) type Nonces = crate::nonces::Nonces<(String, u64)>;

pub(super) fn nonces() -> Nonces {
    Nonces::new(Duration::from_secs(TIMESTAMP_WINDOW_SECS as u64 * 2))
}
