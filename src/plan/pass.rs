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

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        apimachinery::pkg::apis::meta::v1::{Condition, Time},
        jiff::Timestamp,
    };

    use super::*;
    use crate::api::{ObservedStatus, OrderAction, OrderPhase, OrderStatus};

    const GEN: i64 = 3;

    fn status() -> NatGatewayStatus {
        let observed = ObservedStatus {
            size: None,
            max_concurrent_connections: None,
            spec: None,
            billing_mode: None,
            expires_at: None,
            renewal: None,
            expiry_notice: None,
            state: "ACTIVE".into(),
            checked_at: Time(Timestamp::UNIX_EPOCH),
        };
        NatGatewayStatus { observed_generation: Some(GEN), observed: Some(observed), ..Default::default() }
    }

    fn with_order(phase: OrderPhase) -> NatGatewayStatus {
        let order = OrderStatus {
            action: OrderAction::Resize,
            target: "Medium".into(),
            attempt: 1,
            id: None,
            request_id: None,
            generation: Some(GEN),
            phase,
            submitted_at: Time(Timestamp::UNIX_EPOCH),
            finished_at: None,
            message: None,
        };
        NatGatewayStatus { order: Some(Box::new(order)), ..status() }
    }

    #[test]
    fn a_pass_reads_fresh_what_it_may_act_on() {
        assert_eq!(Read::first(&status(), GEN), Read::Swept, "a drift check");
        assert_eq!(Read::first(&status(), GEN + 1), Read::Fresh, "a new spec");
        assert_eq!(Read::first(&NatGatewayStatus::default(), GEN), Read::Fresh, "first sight");
        assert_eq!(Read::first(&with_order(OrderPhase::InProgress), GEN), Read::Fresh, "an open order");
        assert_eq!(Read::first(&with_order(OrderPhase::Succeeded), GEN), Read::Swept, "a finished order");
        let elsewhere = Condition {
            type_: "Stalled".into(),
            status: "True".into(),
            reason: Reason::ClaimedElsewhere.as_str().into(),
            message: String::new(),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
            observed_generation: Some(GEN),
        };
        let claimed = NatGatewayStatus { conditions: vec![elsewhere], ..status() };
        assert_eq!(Read::first(&claimed, GEN), Read::Fresh, "another cluster's claim");
    }

    #[test]
    fn only_a_status_that_says_something_new_is_written() {
        let previous = status();
        let mut checked = previous.clone();
        checked.observed.as_mut().unwrap().checked_at = Time(Timestamp::now());
        assert!(unchanged(&checked, &previous), "only checkedAt moved");
        let mut resized = checked.clone();
        resized.observed.as_mut().unwrap().max_concurrent_connections = Some(1_000_000);
        assert!(!unchanged(&resized, &previous));
        let newer = NatGatewayStatus { observed_generation: Some(GEN + 1), ..checked.clone() };
        assert!(!unchanged(&newer, &previous));
        let unread = NatGatewayStatus { observed: None, ..previous.clone() };
        assert!(!unchanged(&checked, &unread), "a first read is news");
    }
}
