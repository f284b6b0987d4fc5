//! The rules a pass follows around [`plan`](super::plan): how fresh its read of the gateway must
//! be, which steps are planned again on a fresh read or with the gateway's owner, which calls
//! need credentials read anew, and whether a status is worth writing. The controller performs
//! them.

use super::{Reason, Step};
use crate::api::NatGatewayStatus;

/// How a pass reads the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// From the cloud, now.
    Fresh,
    /// An account-wide sweep's answer may do, if recent enough (a drift check).
    Swept,
}

impl Read {
    /// The pass's first read, given the status it starts from. An open order is followed fresh,
    /// and a new spec is read fresh at once: it is about to be acted on. So is a gateway another
    /// cluster claims: its release is seen within a drift interval.
    pub fn first(previous: &NatGatewayStatus, generation: i64) -> Read {
        let claimed_elsewhere = previous.conditions.iter().any(|c| c.reason == Reason::ClaimedElsewhere.as_str());
        match previous.order.as_deref().is_some_and(super::is_open)
            || previous.observed_generation != Some(generation)
            || claimed_elsewhere
        {
            true => Read::Fresh,
            false => Read::Swept,
        }
    }
}

impl Step {
    /// A change, a renewal or a claim is decided on a fresh read only: a sweep's answer may
    /// predate a change another actor made (an earlier leader, an order just paid), and ordering
    /// on it would buy twice.
    pub fn needs_fresh_read(&self) -> bool {
        matches!(self, Step::Submit { .. } | Step::Renew { .. } | Step::Claim { .. } | Step::ConfirmClaim)
    }

    /// Who owns the gateway in this cluster matters to a change and to what the status says at
    /// rest (a duplicate is never shown in sync); an order already running is followed
    /// regardless.
    pub fn needs_owner(&self) -> bool {
        *self == Step::InSync || self.needs_fresh_read()
    }

    /// A call that changes the gateway or its billing is made only with credentials read for it:
    /// a grant revoked since the cached read (a deleted RoleBinding, an identity the cloud no
    /// longer trusts) stops it, with nothing sent.
    pub fn needs_fresh_credentials(&self) -> bool {
        matches!(self, Step::Submit { .. } | Step::Renew { .. } | Step::CancelOrder { .. })
    }
}

/// Whether the status `new` says nothing `previous` did not: only `checkedAt` moved (a drift
/// check found the gateway as recorded, or a pass came early: a restart, a Secret's new version,
/// a sibling's deletion). Such a status is not written, so that an in-sync fleet writes nothing
/// at rest and wakes no watcher (Argo CD, Flux, kstatus clients).
pub fn unchanged(new: &NatGatewayStatus, previous: &NatGatewayStatus) -> bool {
    let mut same = new.clone();
    if let (Some(new), Some(old)) = (same.observed.as_mut(), &previous.observed) {
        new.checked_at = old.checked_at.clone();
    }
    same == *previous
}
