//! [`plan`]: the next step.

use super::{Claim, Holder, Inputs, Observation, Owner, Reason, Step, Target, Wait};
use crate::{
    api::{BillingMode, ManagementPolicy, NatGatewaySpec, OrderAction, OrderPhase, OrderStatus, Renewal},
    cloud::{Capacity, GatewayState, Observed, OrderState, Profile, RenewalChange},
};

/// The order the spec asks for, if any: billing first (clouds convert billing before they resize).
/// A yearly/monthly gateway declared pay-per-use is no order: it turns so at expiry
/// ([`wanted_renewal`]), and keeps its size meanwhile as declared.
fn wanted_change(spec: &NatGatewaySpec, kind: &Profile, observed: &Observed) -> Option<Target> {
    let back_at_expiry = observed.billing == BillingMode::Prepaid && spec.billing_mode() == BillingMode::PayPerUse;
    if observed.billing != spec.billing_mode() && !back_at_expiry {
        return Some(Target::Billing(spec.billing_mode()));
    }
    match kind.capacity_for(spec.size) {
        Some(c) if c != observed.capacity => Some(Target::Size(spec.size)),
        _ => None,
    }
}

/// What the spec says should happen at a yearly/monthly gateway's expiry: pay-per-use when it
/// declares pay-per-use, else renewal as `autoRenew` says.
pub(super) fn declared_renewal(spec: &NatGatewaySpec) -> Renewal {
    match spec.billing.as_ref().filter(|b| b.mode == BillingMode::Prepaid) {
        None => Renewal::PayPerUseAtExpiry,
        Some(b) if b.prepaid.as_ref().is_some_and(|p| p.auto_renew) => Renewal::Auto,
        Some(_) => Renewal::Manual,
    }
}

/// The next call that brings the gateway's renewal to what the spec declares, for clouds that
/// report it. Auto-renewal and pay-per-use at expiry exclude each other at the cloud, so going
/// from one to the other first returns to `Manual`: two calls, each a step of its own.
fn wanted_renewal(spec: &NatGatewaySpec, kind: &Profile, observed: &Observed) -> Option<RenewalChange> {
    let now = observed.subscription.filter(|_| kind.renewal && observed.billing == BillingMode::Prepaid)?.renewal;
    match (now, declared_renewal(spec)) {
        (now, want) if now == want => None,
        (Renewal::Auto, _) => Some(RenewalChange::DisableAutoRenew),
        (Renewal::PayPerUseAtExpiry, _) => Some(RenewalChange::KeepAtExpiry),
        (Renewal::Manual, Renewal::Auto) => Some(RenewalChange::EnableAutoRenew),
        (Renewal::Manual, _) => Some(RenewalChange::PayPerUseAtExpiry),
    }
}

/// Whether the spec still asks for what `order` is for: an unpaid order it no longer wants is
/// cancelled rather than left for someone to pay. A record no target reads from is kept.
fn still_wanted(spec: &NatGatewaySpec, order: &OrderStatus) -> bool {
    match Target::of(order) {
        Some(Target::Billing(mode)) => spec.billing_mode() == mode,
        Some(Target::Size(size)) => spec.size == size,
        None => true,
    }
}

/// Whether the gateway already shows what an order towards `target` asked for.
fn reached(kind: &Profile, observed: &Observed, target: Target) -> bool {
    match target {
        Target::Billing(b) => observed.billing == b,
        Target::Size(s) => kind.size_of(&observed.capacity) == Some(s),
    }
}

/// A spec the cloud can never satisfy from here, checked before anything is ordered so that a
/// billing change is not bought for a size that cannot follow.
fn impossible(spec: &NatGatewaySpec, kind: &Profile, observed: &Observed) -> Option<Step> {
    let cloud = kind.name;
    // Sizes and billing modes the cloud lacks are refused at admission (src/cloud/admission.rs),
    // with the same words; objects admitted before still get here.
    let Some(wanted) = kind.capacity_for(spec.size) else {
        return Some(Step::Stall {
            reason: Reason::UnsupportedSize,
            message: kind.size_refusal(&spec.size.to_string()),
        });
    };
    let want = spec.billing_mode();
    if !kind.supports_billing(observed.billing, want) {
        let message = if kind.billing_modes.contains(&want) {
            format!(
                "{cloud} has no API to change a NAT gateway's billing mode to {want}; remove spec.billing or set spec.billing.mode to {}",
                observed.billing
            )
        } else {
            // A mode no gateway of this cloud has: the words admission refuses it with.
            kind.billing_refusal(&want.to_string())
        };
        return Some(Step::Stall { reason: Reason::UnsupportedChange, message });
    }
    if let Some(advice) = kind.refused_resize(&observed.capacity, &wanted) {
        let from = size_words(kind, &observed.capacity);
        return Some(Step::Stall {
            reason: Reason::UnsupportedChange,
            message: advice.replace("{from}", &from).replace("{to}", &spec.size.to_string()),
        });
    }
    None
}

/// Decides the next step, in this order: a missing gateway; an open order of ours (followed to
/// its end, never doubled); a spec the cloud can never satisfy; a gateway that is changing or
/// unusable; in sync; `Observe` (report only); this change already failed at this generation;
/// otherwise the next change, billing before size, unless another resource owns the gateway.
///
/// Before any of that: a paused resource does nothing, and a pass that has not read the cloud
/// reads it first.
pub fn plan(input: Inputs<'_>) -> Step {
    if input.paused {
        return Step::Paused;
    }
    let Observation::Read { observed, order_state } = input.observation else {
        return Step::Read;
    };
    let step = decide(input, observed, order_state);
    // What follows only concerns a change, or what the status says at rest; an order already
    // running is followed to its end whoever claims the gateway now.
    if !matches!(step, Step::InSync | Step::Submit { .. } | Step::Renew { .. }) {
        return step;
    }
    // A resource that does not own the gateway says so at once, in sync or not.
    if let Some(owner) = input.owner {
        return Step::Stall { reason: Reason::GatewayClaimed, message: claimed_message(input.spec, owner) };
    }
    // Observe never claims, and never stalls on another's claim: it orders nothing anyway.
    if input.spec.management_policy == ManagementPolicy::Observe {
        return step;
    }
    match (input.claim, &step) {
        (Claim::Theirs(holder), _) => {
            Step::Stall { reason: Reason::ClaimedElsewhere, message: claimed_elsewhere_message(input.spec, holder) }
        }
        (Claim::Free, _) => Step::Claim { in_sync: step == Step::InSync },
        (Claim::Ours { confirmed: false }, Step::Submit { .. } | Step::Renew { .. }) => Step::ConfirmClaim,
        _ => step,
    }
}

fn claimed_elsewhere_message(spec: &NatGatewaySpec, holder: Holder<'_>) -> String {
    let gateway = &spec.gateway_id;
    let key = crate::cloud::claim::TAG_KEY;
    match holder {
        Holder::Cluster { cluster, name } => {
            let who = match name {
                Some(name) => format!("NatGateway {name} of cluster {cluster}"),
                None => format!("a NatGateway of cluster {cluster}"),
            };
            format!(
                "the cloud gateway {gateway} is claimed by {who} (its tag {key}), so this one orders nothing; to hand it over, delete that NatGateway in its cluster (which removes the tag), or, if that cluster is gone, run `natgw-operator claims release --cluster-id {cluster}` or annotate this NatGateway {}={cluster}",
                crate::api::TAKEOVER_ANNOTATION
            )
        }
        Holder::Unknown => format!(
            "the cloud gateway {gateway} carries a tag {key} that no natgw-operator wrote, so this one orders nothing; remove the tag in the cloud console if the gateway is free"
        ),
    }
}

fn claimed_message(spec: &NatGatewaySpec, owner: Owner<'_>) -> String {
    let fix =
        "delete one of them, or set spec.managementPolicy: Observe on this one to watch the gateway without ordering";
    match owner {
        Owner::SameNamespace(name) => format!(
            "the cloud gateway {} is already managed by NatGateway {name} (the older claim), so this one orders nothing; {fix}",
            spec.gateway_id
        ),
        Owner::OtherNamespace => format!(
            "the cloud gateway {} is already managed by a NatGateway of another namespace (the older claim), so this one orders nothing; {fix}, or ask the cluster admin, who finds the other one with `kubectl get natgw -A` (column Gateway) or in the operator's log",
            spec.gateway_id
        ),
    }
}

fn decide(input: Inputs<'_>, observed: Option<&Observed>, order_state: Option<&OrderState>) -> Step {
    let Some(observed) = observed else {
        return Step::Stall {
            reason: Reason::GatewayNotFound,
            message: format!(
                "the cloud has no NAT gateway {} in this account and region; check spec.gatewayId and the region",
                input.spec.gateway_id
            ),
        };
    };

    if let Some(order) = input.order.filter(|o| {
        matches!(
            o.phase,
            OrderPhase::Submitting | OrderPhase::InProgress | OrderPhase::AwaitingPayment | OrderPhase::Cancelling
        )
    }) {
        return follow_order(input, observed, order, order_state);
    }

    // A spec the cloud can never satisfy is reported at once: waiting for the gateway to settle
    // would not make it possible.
    if let Some(stall) = impossible(input.spec, input.kind, observed) {
        return stall;
    }
    match observed.state {
        GatewayState::Transitioning => return Step::Wait(Wait::GatewayTransitioning),
        GatewayState::Unavailable => {
            return Step::Stall {
                reason: Reason::GatewayUnavailable,
                message: format!(
                    "the gateway is {} and cannot be used or changed; resolve it in the cloud console (e.g. settle arrears), the operator checks again on its own",
                    observed.raw_state
                ),
            };
        }
        GatewayState::Ready => {}
    }

    let renewal = wanted_renewal(input.spec, input.kind, observed);
    let change = wanted_change(input.spec, input.kind, observed);
    if renewal.is_none() && change.is_none() {
        return Step::InSync;
    }
    if input.spec.management_policy == ManagementPolicy::Observe {
        let renews = match (observed.subscription, renewal) {
            (Some(s), Some(_)) => format!(", renewal {} instead of {}", s.renewal, declared_renewal(input.spec)),
            _ => String::new(),
        };
        return Step::Drift {
            message: format!(
                "the gateway is {}{renews} but the spec asks for {} / {}; managementPolicy is Observe, so nothing is changed: set spec.managementPolicy to Manage to correct it, or change the spec to match",
                describe(input.kind, observed),
                input.spec.size,
                input.spec.billing_mode()
            ),
        };
    }
    // A renewal setting is no order and moves no money: it comes before a resize.
    if let Some(change) = renewal {
        return Step::Renew { change };
    }
    let Some(target) = change else {
        return Step::InSync;
    };
    // A failed order for this very change stays failed until the user changes the spec: a retry
    // would be a second order for one change.
    let action = target.action();
    let last_for_target = input.last_order.filter(|l| Target::of(l) == Some(target));
    if let Some(last) = last_for_target
        && last.phase == OrderPhase::Failed
        && last.generation == Some(input.generation)
    {
        return Step::Stall {
            reason: Reason::OrderFailed,
            message: format!(
                "the {action} order to {target} failed: {}; fix the cause, then change the spec to try again",
                last.message.as_deref().unwrap_or("the cloud gave no reason")
            ),
        };
    }
    let attempt = last_for_target.map_or(1, |l| l.attempt + 1);
    Step::Submit { target, attempt }
}

/// The next step while an order of ours is open.
fn follow_order(input: Inputs<'_>, observed: &Observed, order: &OrderStatus, state: Option<&OrderState>) -> Step {
    let at_target = Target::of(order).is_some_and(|t| reached(input.kind, observed, t));
    if let (Some(id), OrderPhase::Cancelling) = (order.id.as_deref(), order.phase) {
        return cancelling(observed, at_target, order, id, state);
    }
    if let Some(id) = order.id.as_deref()
        && state == Some(&OrderState::AwaitingPayment)
        && !still_wanted(input.spec, order)
        && input.spec.management_policy == ManagementPolicy::Manage
    {
        return Step::CancelOrder { id: id.to_owned() };
    }
    if order.id.is_some() {
        // A pollable order: the cloud's order status decides, then the gateway must settle.
        return match state {
            // Not polled this time: the order exists at the cloud, so never guess, never resubmit.
            None | Some(OrderState::InProgress) => Step::Wait(Wait::OrderInProgress),
            Some(OrderState::AwaitingPayment) => Step::Wait(Wait::AwaitingPayment),
            Some(OrderState::Failed { reason }) => Step::Finish {
                phase: OrderPhase::Failed,
                message: format!("the cloud reports the order failed: {reason}"),
            },
            Some(OrderState::Cancelled) => Step::Finish {
                phase: OrderPhase::Failed,
                message: "the order was cancelled in the cloud (by someone, or because it was not paid in time)"
                    .to_owned(),
            },
            Some(OrderState::Succeeded) => settle(observed, at_target, order),
        };
    }
    // No pollable id (a cloud API without order ids, a post-paid resize, or an intent whose call
    // may or may not have landed): the gateway itself tells.
    match observed.state {
        GatewayState::Transitioning => Step::Wait(Wait::GatewayTransitioning),
        _ if at_target => Step::Finish { phase: OrderPhase::Succeeded, message: succeeded(order) },
        GatewayState::Unavailable => Step::Finish {
            phase: OrderPhase::Failed,
            message: format!("the gateway went to {} instead of reaching {}", observed.raw_state, order.target),
        },
        GatewayState::Ready if order.phase == OrderPhase::Submitting => unanswered(input, observed, order),
        GatewayState::Ready => Step::Finish {
            phase: OrderPhase::Failed,
            message: format!(
                "the cloud accepted the change but the gateway is still {}",
                describe(input.kind, observed)
            ),
        },
    }
}

/// A recorded intent without an answer or an order id, and a steady gateway that shows no
/// change: the call never reached the cloud (an accepted resize shows as a transition at once, and
/// the controller has already asked the cloud for an order placed by the lost call, see
/// [`Inputs::order`]). Send it again, but only if the spec still asks for it and may order.
fn unanswered(input: Inputs<'_>, observed: &Observed, order: &OrderStatus) -> Step {
    let what = format!("{} to {}", order.action, order.target);
    if input.spec.management_policy == ManagementPolicy::Observe {
        return Step::DropIntent {
            message: format!(
                "{what} got no answer and the cloud shows no sign of it; managementPolicy is now Observe, so it is not sent again"
            ),
        };
    }
    let wanted = if impossible(input.spec, input.kind, observed).is_some() {
        None
    } else {
        wanted_change(input.spec, input.kind, observed)
    };
    let Some(target) = wanted.filter(|t| Target::of(order) == Some(*t)) else {
        return Step::DropIntent {
            message: format!(
                "{what} got no answer, the cloud shows no sign of it and the spec no longer asks for it; nothing was ordered, planning afresh"
            ),
        };
    };
    Step::Submit { target, attempt: order.attempt + 1 }
}

/// An unpaid order being cancelled: the cloud's order status tells whether the cancellation
/// took, still has to be sent (its answer was lost, or the operator stopped before sending it),
/// or came too late because someone paid the order meanwhile, which is then followed to its end.
fn cancelling(observed: &Observed, at_target: bool, order: &OrderStatus, id: &str, state: Option<&OrderState>) -> Step {
    match state {
        Some(OrderState::Cancelled) => Step::Finish {
            phase: OrderPhase::Cancelled,
            message: format!(
                "the unpaid {} order to {} ({id}) was cancelled: the spec no longer asks for it",
                order.action, order.target
            ),
        },
        Some(OrderState::AwaitingPayment) => Step::CancelOrder { id: id.to_owned() },
        Some(OrderState::Failed { reason }) => {
            Step::Finish { phase: OrderPhase::Failed, message: format!("the cloud reports the order failed: {reason}") }
        }
        Some(OrderState::Succeeded) => settle(observed, at_target, order),
        None | Some(OrderState::InProgress) => Step::Wait(Wait::OrderInProgress),
    }
}

/// A completed order: done once the gateway is back to a steady state.
fn settle(observed: &Observed, at_target: bool, order: &OrderStatus) -> Step {
    match observed.state {
        GatewayState::Transitioning => Step::Wait(Wait::GatewayTransitioning),
        _ if at_target => Step::Finish { phase: OrderPhase::Succeeded, message: succeeded(order) },
        // Paid and complete, but the gateway has not caught up yet (billing_info lags the order).
        _ => Step::Wait(Wait::OrderInProgress),
    }
}

fn succeeded(order: &OrderStatus) -> String {
    match order.action {
        OrderAction::Resize => format!("the gateway was resized to {}", order.target),
        OrderAction::ChangeBilling => format!("the gateway's billing is now {}", order.target),
    }
}

/// A cloud value in words: the size it maps to, else the raw value.
fn size_words(kind: &Profile, capacity: &Capacity) -> String {
    match (kind.size_of(capacity), capacity) {
        (Some(s), _) => s.to_string(),
        (None, Capacity::Connections(n)) => format!("{n} connections"),
        (None, Capacity::Spec(s)) => format!("spec {s}"),
    }
}

fn describe(kind: &Profile, observed: &Observed) -> String {
    format!("{} / {}", size_words(kind, &observed.capacity), observed.billing)
}
