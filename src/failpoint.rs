//! Crash points for the fault-matrix tests: built with the `failpoints` feature (only tests
//! enable it) and `NATGW_CRASH_AT=<point>` in its environment, the operator kills itself with
//! SIGKILL the first time it reaches that point, exactly as a node failure would. Without the
//! feature `crash_at` is empty, so a release binary carries no crash point.

/// Where in the order flow a crash can be requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// A change was planned; nothing written yet.
    BeforeIntent,
    /// The intent is in status; the cloud was not called.
    AfterIntent,
    /// The cloud accepted the change; its id is not yet in status.
    AfterAccept,
    /// An order is being polled.
    WhilePolling,
    /// The order was recorded as finished.
    AfterCompletion,
    /// That an unpaid order is being cancelled is in status; the cloud was not called.
    AfterCancelIntent,
    /// The cloud took the cancellation; nothing recorded since.
    AfterCancel,
    /// The claim tag is written; it was not read back yet.
    AfterClaim,
}

impl Point {
    #[cfg(feature = "failpoints")]
    fn name(self) -> &'static str {
        match self {
            Point::BeforeIntent => "before-intent",
            Point::AfterIntent => "after-intent",
            Point::AfterAccept => "after-accept",
            Point::WhilePolling => "while-polling",
            Point::AfterCompletion => "after-completion",
            Point::AfterCancelIntent => "after-cancel-intent",
            Point::AfterCancel => "after-cancel",
            Point::AfterClaim => "after-claim",
        }
    }
}

/// Kills the process if `NATGW_CRASH_AT` names `point`.
#[cfg(feature = "failpoints")]
pub fn crash_at(point: Point) {
    use std::sync::OnceLock;
    static WANTED: OnceLock<Option<String>> = OnceLock::new();
    if WANTED.get_or_init(|| std::env::var("NATGW_CRASH_AT").ok()).as_deref() == Some(point.name()) {
        tracing::warn!(point = point.name(), "NATGW_CRASH_AT: killing the operator");
        // SAFETY: kill(2) on our own pid.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn crash_at(_: Point) {}
