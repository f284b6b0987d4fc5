//! The order state machine, pure: [`plan`] decides the single next step from what the user
//! wants, what the cloud shows and what the operator already started; [`apply`] turns a step, or
//! the cloud's answer to its call, into the status to write and the effects to perform. No I/O
//! happens here, so all of it is unit-tested; the controller only gathers inputs, calls these and
//! does the I/O they ask for.

mod apply;
mod decide;
mod expiry;
mod health;
mod pass;
mod reason;
mod target;

pub use apply::{
    Answer, Applied, Call, Effect, EventType, FINALIZER, Facts, Finalizer, Next, adopt, answer, apply, cancel_answer,
    cloud_error, is_open, looks_for_open_order, lost_intent, pause_event, renewal_answer, stall,
};
pub use decide::plan;
pub use expiry::expiry_notice;
pub use health::Health;
pub use pass::{Read, unchanged};
pub use reason::Reason;
pub use target::Target;

use crate::{
    api::{NatGatewaySpec, OrderPhase, OrderStatus},
    cloud::{
        Observed, OrderState, Profile, RenewalChange,
        claim::{ClaimTag, Claimant},
    },
};

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub spec: &'a NatGatewaySpec,
    pub generation: i64,
    /// What the cloud can do.
    pub kind: &'static Profile,
    /// What this pass read from the cloud, if anything yet.
    pub observation: Observation<'a>,
    /// The order the operator started and has not finished (`status.order`). For an intent
    /// whose answer was lost (`Submitting`, no id) the controller first asks the cloud for the
    /// order that call may have placed (`Provider::find_open_order`) and passes the id it finds:
    /// a billing change may leave the gateway as it was until paid, so without that id an
    /// unchanged gateway would be taken as "never sent" and ordered again.
    pub order: Option<&'a OrderStatus>,
    /// The most recent finished order (`status.lastOrder`).
    pub last_order: Option<&'a OrderStatus>,
    /// The older `Manage` resource that owns the same cloud gateway, if any: this one must then
    /// order nothing, and says so on every pass.
    pub owner: Option<Owner<'a>>,
    /// The gateway's claim tag against this cluster's ([`Claim`]).
    pub claim: Claim<'a>,
    /// The resource carries [`PAUSED_ANNOTATION`](crate::api::PAUSED_ANNOTATION): no cloud call
    /// at all, not even a read or an order poll.
    pub paused: bool,
}

/// Who holds the claim on a gateway, as a resource's condition may name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// A resource of the same namespace, by name.
    SameNamespace(&'a str),
    /// A resource of another namespace, whose name this tenant must not learn.
    OtherNamespace,
}

/// The claim on the gateway that lives with it, in the cloud (src/cloud/claim.rs): across
/// clusters, one NatGateway orders for a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// The cloud keeps no claims, or nothing was read yet.
    NotKept,
    /// Nobody's: the gateway carries no claim, a claim of this cluster for another NatGateway
    /// (the older-resource rule inside the cluster has already made this one the owner), or the
    /// claim the takeover annotation names.
    Free,
    /// This resource's own claim; `confirmed` once this process has seen it (or written it) at
    /// least the clouds' settle delay ago and reads it still: a claim another cluster wrote at the
    /// same moment would show by then, and the last writer holds it.
    Ours { confirmed: bool },
    /// Another cluster's claim.
    Theirs(Holder<'a>),
}

/// Who holds a claim of another cluster, as much as this tenant may learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder<'a> {
    /// A NatGateway of `cluster`; its name only when it is of this resource's namespace.
    Cluster { cluster: &'a str, name: Option<&'a str> },
    /// A tag value no operator writes (set by hand).
    Unknown,
}

impl<'a> Claim<'a> {
    /// The claim a read's tag makes for `me`: `takeover` is the cluster id the user's
    /// [`TAKEOVER_ANNOTATION`](crate::api::TAKEOVER_ANNOTATION) names, `confirmed` whether this is
    /// the read after the pass's own write.
    pub fn of(tag: &'a ClaimTag, me: &Claimant, takeover: Option<&str>, confirmed: bool, kind: &Profile) -> Claim<'a> {
        match tag {
            _ if !kind.claims => Claim::NotKept,
            ClaimTag::Unread | ClaimTag::Free => Claim::Free,
            ClaimTag::Held(c) if c == me => Claim::Ours { confirmed },
            ClaimTag::Held(c) if c.cluster() == me.cluster() || takeover == Some(c.cluster()) => Claim::Free,
            ClaimTag::Held(c) => Claim::Theirs(Holder::Cluster {
                cluster: c.cluster(),
                name: (c.namespace() == me.namespace()).then_some(c.name()),
            }),
            ClaimTag::Unreadable => Claim::Theirs(Holder::Unknown),
        }
    }
}

/// What a pass has read from the cloud.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// Nothing yet: [`plan`] says whether the cloud may be called at all ([`Step::Read`]).
    Unread,
    Read {
        /// The gateway as the cloud shows it; `None` when the cloud says it does not exist.
        observed: Option<&'a Observed>,
        /// The cloud's word on the open order, when it has a pollable id and was polled.
        order_state: Option<&'a OrderState>,
    },
}

/// The single next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read the gateway (and poll the open order), then plan again with what the cloud said.
    Read,
    /// Paused by the user: no cloud call until the annotation goes; an open order stays recorded.
    Paused,
    /// The gateway matches the spec.
    InSync,
    /// Nothing to do until the cloud moves on.
    Wait(Wait),
    /// Claim the gateway in the cloud (its tag): a `Manage` resource claims what it manages at
    /// first sight, so that another cluster's resource stalls before it ever orders. `in_sync`:
    /// the gateway is as declared, which the status says at once; otherwise the change waits for
    /// the claim to settle ([`Step::ConfirmClaim`]).
    Claim { in_sync: bool },
    /// A change waits until this resource's claim is confirmed ([`Claim::Ours`]): two clusters
    /// that claimed at the same moment never both order.
    ConfirmClaim,
    /// Record the intent, then make this change (one cloud call, one order).
    Submit { target: Target, attempt: u32 },
    /// Change what happens at a yearly/monthly gateway's expiry: one call, no order, safe to
    /// send again, so no intent is recorded first.
    Renew { change: RenewalChange },
    /// The open order `id` waits for payment and the spec no longer asks for its target: record
    /// that it is being cancelled, then cancel it.
    CancelOrder { id: String },
    /// The running order is over; record it as finished with this outcome.
    Finish { phase: OrderPhase, message: String },
    /// A recorded intent that never reached the cloud and is no longer wanted: nothing was
    /// ordered, so nothing finished; forget it and plan afresh.
    DropIntent { message: String },
    /// `Observe` policy: the gateway differs from the spec and the operator may not fix it.
    Drift { message: String },
    /// Only a change to the spec (or the cloud, outside the operator) can help.
    Stall { reason: Reason, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// An order runs at the cloud.
    OrderInProgress,
    /// An order waits for someone to pay it.
    AwaitingPayment,
    /// The gateway is changing (ours or someone else's change).
    GatewayTransitioning,
}

impl Wait {
    pub fn reason(self) -> Reason {
        match self {
            Wait::OrderInProgress => Reason::OrderInProgress,
            Wait::AwaitingPayment => Reason::AwaitingPayment,
            Wait::GatewayTransitioning => Reason::GatewayTransitioning,
        }
    }
}

#[cfg(test)]
mod tests;
