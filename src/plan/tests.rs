//! [`plan`] under test: tables over every input that matters, explicit rows for the cases people
//! rely on, and properties over arbitrary inputs. Whole reconcile sequences against a simulated
//! cloud run the real pass: tests/offline/pass.rs.

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use proptest::prelude::*;

use super::*;
use crate::cloud::claim::{ClaimTag, Claimant};
use crate::{
    api::{
        Billing, BillingMode, ManagementPolicy, NatGatewayStatus, OrderAction, PeriodUnit, Prepaid, ProviderSpec,
        Renewal, SecretRef, Size,
    },
    cloud::{
        Capacity, CloudError, GatewayState,
        huawei::HuaweiProvider,
        tencent::{TencentApi, TencentProvider},
    },
};

use BillingMode::{PayPerUse, Prepaid as PrepaidMode};

mod pause;
// The real clouds' profiles are the test data: the rules they declare drive the decision.
const TENCENT_V2: &Profile = &crate::cloud::tencent::V2;
const TENCENT_V3: &Profile = &crate::cloud::tencent::V3;
const HUAWEI: &Profile = &crate::cloud::huawei::PROFILE;
const KINDS: [&Profile; 3] = [TENCENT_V2, TENCENT_V3, HUAWEI];
const BILLINGS: [BillingMode; 2] = [PayPerUse, PrepaidMode];
const POLICIES: [ManagementPolicy; 2] = [ManagementPolicy::Manage, ManagementPolicy::Observe];
/// The resource's current `metadata.generation` in every table row.
const GEN: i64 = 7;
const GATEWAY: &str = "nat-et8e970y";

// ---------------------------------------------------------------------------------------------
// Builders

fn spec(kind: &'static Profile, size: Size, billing: BillingMode, policy: ManagementPolicy) -> NatGatewaySpec {
    let tencent = |api| {
        ProviderSpec::Tencent(TencentProvider { region: "ap-guangzhou".into(), vpc_id: Some("vpc-1".into()), api })
    };
    let provider = if kind == HUAWEI {
        ProviderSpec::Huawei(Box::new(HuaweiProvider {
            region: "cn-north-4".into(),
            project_id: None,
            bss_endpoint: None,
        }))
    } else if kind == TENCENT_V2 {
        tencent(TencentApi::V2)
    } else {
        tencent(TencentApi::V3)
    };
    let billing = (billing == PrepaidMode).then_some(Billing {
        mode: PrepaidMode,
        prepaid: Some(Prepaid { period_unit: PeriodUnit::Month, periods: 1, auto_renew: false, auto_pay: true }),
    });
    NatGatewaySpec {
        gateway_id: GATEWAY.into(),
        provider,
        size,
        billing,
        credentials_secret_ref: Some(SecretRef { name: "creds".into() }),
        workload_identity: None,
        endpoint: None,
        management_policy: policy,
        drift_interval: None,
    }
}

/// A size the gateway shows: one the provider maps, or a cloud value that maps to none.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Size(Size),
    /// Tencent 2,000,000 connections (between Small and Medium); Huawei spec "9".
    Unknown,
}

fn seen_sizes(kind: &'static Profile) -> Vec<Seen> {
    let mut all: Vec<Seen> =
        Size::ALL.into_iter().filter(|s| kind.capacity_for(*s).is_some()).map(Seen::Size).collect();
    all.push(Seen::Unknown);
    all
}

fn capacity(kind: &'static Profile, seen: Seen) -> Capacity {
    match seen {
        Seen::Size(s) => kind.capacity_for(s).expect("a size this provider maps"),
        Seen::Unknown if kind == HUAWEI => Capacity::Spec("9".into()),
        Seen::Unknown => Capacity::Connections(2_000_000),
    }
}

fn gateway(kind: &'static Profile, seen: Seen, billing: BillingMode, state: GatewayState) -> Observed {
    let raw_state = match state {
        GatewayState::Ready => "AVAILABLE",
        GatewayState::Transitioning => "UPDATING",
        GatewayState::Unavailable => "PENDFAILURE",
    };
    Observed {
        capacity: capacity(kind, seen),
        billing,
        state,
        raw_state: raw_state.into(),
        subscription: subscription(kind, billing),
        claim: Default::default(),
    }
}

/// A yearly/monthly gateway of a cloud that reports renewal renews by hand, as a spec without
/// `autoRenew` declares.
fn subscription(kind: &Profile, billing: BillingMode) -> Option<crate::cloud::Subscription> {
    (kind.renewal && billing == PrepaidMode)
        .then_some(crate::cloud::Subscription { expires_at: None, renewal: crate::api::Renewal::Manual })
}

fn order(
    action: OrderAction,
    target: &str,
    phase: OrderPhase,
    id: Option<&str>,
    attempt: u32,
    generation: i64,
) -> OrderStatus {
    OrderStatus {
        action,
        target: target.into(),
        attempt,
        id: id.map(str::to_owned),
        request_id: Some("req-1".into()),
        generation: Some(generation),
        phase,
        // Long ago: nothing may depend on how long an order has been open.
        submitted_at: Time(Timestamp::UNIX_EPOCH),
        finished_at: None,
        message: Some("InsufficientBalance: the account balance is too low".into()),
    }
}

/// What [`apply`] knows besides the step, at generation [`GEN`].
fn facts<'a>(spec: &'a NatGatewaySpec, previous: &'a NatGatewayStatus, deleting: bool) -> Facts<'a> {
    Facts { spec, generation: GEN, provider: "model", deleting, previous, now: Timestamp::UNIX_EPOCH }
}

/// One set of inputs, owned, so tables and strategies can build it and `plan` can borrow it.
#[derive(Debug, Clone)]
struct Case {
    spec: NatGatewaySpec,
    generation: i64,
    kind: &'static Profile,
    observed: Option<Observed>,
    order: Option<OrderStatus>,
    order_state: Option<OrderState>,
    last_order: Option<OrderStatus>,
    owner: Option<Owner<'static>>,
    claim: Claim<'static>,
    paused: bool,
}

impl Case {
    fn new(spec: NatGatewaySpec, kind: &'static Profile, observed: Option<Observed>) -> Case {
        Case {
            spec,
            generation: GEN,
            kind,
            observed,
            order: None,
            order_state: None,
            last_order: None,
            owner: None,
            claim: Claim::NotKept,
            paused: false,
        }
    }

    fn with_order(mut self, order: OrderStatus, state: Option<OrderState>) -> Case {
        self.order = Some(order);
        self.order_state = state;
        self
    }

    fn with_last(mut self, last: OrderStatus) -> Case {
        self.last_order = Some(last);
        self
    }

    /// The plan once the cloud was read.
    fn plan(&self) -> Step {
        self.plan_with(Observation::Read { observed: self.observed.as_ref(), order_state: self.order_state.as_ref() })
    }

    fn plan_with(&self, observation: Observation<'_>) -> Step {
        plan(Inputs {
            spec: &self.spec,
            generation: self.generation,
            kind: self.kind,
            observation,
            order: self.order.as_ref(),
            last_order: self.last_order.as_ref(),
            owner: self.owner,
            claim: self.claim,
            paused: self.paused,
        })
    }
}

/// A step without its message, for tables.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Read,
    Paused,
    InSync,
    Wait(Wait),
    Submit(OrderAction, String, u32),
    Renew(RenewalChange),
    Cancel,
    Finish(OrderPhase),
    DropIntent,
    Drift,
    Claim,
    ConfirmClaim,
    Stall(Reason),
}

fn shape(step: &Step) -> Shape {
    match step {
        Step::Read => Shape::Read,
        Step::Paused => Shape::Paused,
        Step::InSync => Shape::InSync,
        Step::Wait(w) => Shape::Wait(*w),
        Step::Submit { target, attempt } => Shape::Submit(target.action(), target.to_string(), *attempt),
        Step::Renew { change } => Shape::Renew(*change),
        Step::CancelOrder { .. } => Shape::Cancel,
        Step::Finish { phase, .. } => Shape::Finish(*phase),
        Step::DropIntent { .. } => Shape::DropIntent,
        Step::Drift { .. } => Shape::Drift,
        Step::Claim { .. } => Shape::Claim,
        Step::ConfirmClaim => Shape::ConfirmClaim,
        Step::Stall { reason, .. } => Shape::Stall(*reason),
    }
}

/// Every message must tell a person what happened and what to do about it.
fn assert_actionable(step: &Step, context: &str) {
    let (needles, message): (&[&str], &str) = match step {
        Step::Stall { reason, message } => (
            match reason {
                Reason::GatewayNotFound => &["no NAT gateway", GATEWAY, "check spec.gatewayId"],
                Reason::GatewayUnavailable => &["resolve it in the cloud console"],
                Reason::UnsupportedSize => &["set spec.size to one of"],
                Reason::UnsupportedChange => &["set spec."],
                Reason::OrderFailed => &["failed", "change the spec to try again"],
                other => panic!("plan stalls with {other}, which has no expected advice here"),
            },
            message,
        ),
        Step::Drift { message } => (&["managementPolicy is Observe", "nothing is changed", "Manage"], message),
        Step::Finish { message, .. } => (&[] as &[&str], message),
        _ => return,
    };
    assert!(!message.is_empty(), "{context}: empty message in {step:?}");
    for needle in needles {
        assert!(message.contains(needle), "{context}: {message:?} lacks {needle:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Table 1: no order open. Every provider x desired size x observed size x desired billing x
// observed billing x gateway state x policy x last order.

/// What `status.lastOrder` holds, relative to the change the row needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Last {
    None,
    /// This very change failed at this generation: no second order.
    FailedHere,
    /// This change failed at an older generation: the user changed the spec since, so try again.
    FailedBefore,
    /// Another change failed at this generation: does not block this one.
    FailedOther,
    /// This change succeeded before and the gateway drifted back: correct it again.
    SucceededHere,
}

/// The order a row needs (billing first), whether or not it can be made. Yearly/monthly to
/// pay-per-use is no order (a renewal setting): the size is next.
fn change_of(want_size: Size, want_bill: BillingMode, seen_bill: BillingMode) -> (OrderAction, String) {
    if want_bill != seen_bill && !(seen_bill == PrepaidMode && want_bill == PayPerUse) {
        (OrderAction::ChangeBilling, want_bill.to_string())
    } else {
        (OrderAction::Resize, want_size.to_string())
    }
}

fn last_order(last: Last, change: &(OrderAction, String)) -> Option<OrderStatus> {
    let (action, target) = (change.0, change.1.as_str());
    match last {
        Last::None => None,
        Last::FailedHere => Some(order(action, target, OrderPhase::Failed, Some("o-1"), 2, GEN)),
        Last::FailedBefore => Some(order(action, target, OrderPhase::Failed, Some("o-1"), 2, GEN - 1)),
        Last::FailedOther => Some(order(OrderAction::Resize, "Huge", OrderPhase::Failed, Some("o-1"), 2, GEN)),
        Last::SucceededHere => Some(order(action, target, OrderPhase::Succeeded, Some("o-1"), 2, GEN - 1)),
    }
}

/// The rule the table checks, stated without the provider helpers `plan` uses:
/// 1. no gateway -> GatewayNotFound;
/// 2. Tencent has no ExtraLarge/Enterprise -> UnsupportedSize, before anything else is considered;
/// 3. a billing change on Tencent -> UnsupportedChange (Huawei changes both ways);
/// 4. Tencent API 2.0 never shrinks (2,000,000 connections is above Small) -> UnsupportedChange;
/// 5. a changing gateway -> wait; an unusable one -> GatewayUnavailable;
/// 6. billing first, then size; nothing differs -> InSync; a Huawei yearly/monthly gateway (renewed
///    by hand in every row) declared pay-per-use is not in sync until it turns so at expiry;
/// 7. Observe -> Drift; that renewal setting before anything else; this change failed at this
///    generation -> OrderFailed;
/// 8. else Submit, attempt 1 or one more than the last order for the same change.
#[allow(clippy::too_many_arguments)]
fn expected_without_order(
    kind: &'static Profile,
    want_size: Size,
    seen: Seen,
    want_bill: BillingMode,
    seen_bill: BillingMode,
    state: Option<GatewayState>,
    policy: ManagementPolicy,
    last: Last,
) -> Shape {
    let Some(state) = state else { return Shape::Stall(Reason::GatewayNotFound) };
    let tencent = kind != HUAWEI;
    if tencent && matches!(want_size, Size::ExtraLarge | Size::Enterprise) {
        return Shape::Stall(Reason::UnsupportedSize);
    }
    if want_bill != seen_bill && kind != HUAWEI {
        return Shape::Stall(Reason::UnsupportedChange);
    }
    let shrinks = match seen {
        Seen::Size(s) => want_size < s,
        Seen::Unknown => want_size == Size::Small,
    };
    if kind == TENCENT_V2 && shrinks {
        return Shape::Stall(Reason::UnsupportedChange);
    }
    match state {
        GatewayState::Transitioning => return Shape::Wait(Wait::GatewayTransitioning),
        GatewayState::Unavailable => return Shape::Stall(Reason::GatewayUnavailable),
        GatewayState::Ready => {}
    }
    let at_expiry = kind == HUAWEI && seen_bill == PrepaidMode && want_bill == PayPerUse;
    if want_bill == seen_bill && seen == Seen::Size(want_size) {
        return Shape::InSync;
    }
    if policy == ManagementPolicy::Observe {
        return Shape::Drift;
    }
    if at_expiry {
        return Shape::Renew(RenewalChange::PayPerUseAtExpiry);
    }
    let (action, target) = change_of(want_size, want_bill, seen_bill);
    match last {
        Last::FailedHere => Shape::Stall(Reason::OrderFailed),
        Last::FailedBefore | Last::SucceededHere => Shape::Submit(action, target, 3),
        Last::None | Last::FailedOther => Shape::Submit(action, target, 1),
    }
}

#[test]
fn table_without_an_open_order() {
    let states = [Some(GatewayState::Ready), Some(GatewayState::Transitioning), Some(GatewayState::Unavailable), None];
    let lasts = [Last::None, Last::FailedHere, Last::FailedBefore, Last::FailedOther, Last::SucceededHere];
    let mut rows = 0;
    for kind in KINDS {
        for want_size in Size::ALL {
            for seen in seen_sizes(kind) {
                for want_bill in BILLINGS {
                    for seen_bill in BILLINGS {
                        for state in states {
                            for policy in POLICIES {
                                for last in lasts {
                                    let observed = state.map(|s| gateway(kind, seen, seen_bill, s));
                                    let mut case = Case::new(spec(kind, want_size, want_bill, policy), kind, observed);
                                    case.last_order = last_order(last, &change_of(want_size, want_bill, seen_bill));
                                    let step = case.plan();
                                    let want = expected_without_order(
                                        kind, want_size, seen, want_bill, seen_bill, state, policy, last,
                                    );
                                    let context = format!(
                                        "{kind:?} want {want_size}/{want_bill} seen {seen:?}/{seen_bill} {state:?} {policy:?} last {last:?}"
                                    );
                                    assert_eq!(shape(&step), want, "{context}: {step:?}");
                                    assert_actionable(&step, &context);
                                    rows += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    // 3 Tencent sizes + unknown for each Tencent API, 5 + unknown for Huawei.
    assert_eq!(rows, (4 + 4 + 6) * 5 * 2 * 2 * 4 * 2 * 5);
}

// ---------------------------------------------------------------------------------------------
// Table 2: an order of ours is open.

/// A change in flight: the spec, the gateway before and after it, and the order for it.
struct Scenario {
    name: &'static str,
    kind: &'static Profile,
    spec_size: Size,
    spec_billing: BillingMode,
    action: OrderAction,
    target: &'static str,
    before: (Seen, BillingMode),
    after: (Seen, BillingMode),
}

fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    for kind in KINDS {
        all.push(Scenario {
            name: "resize",
            kind,
            spec_size: Size::Medium,
            spec_billing: PayPerUse,
            action: OrderAction::Resize,
            target: "Medium",
            before: (Seen::Size(Size::Small), PayPerUse),
            after: (Seen::Size(Size::Medium), PayPerUse),
        });
        // The user changed the spec (Medium -> Large) after the intent to go to Medium was written.
        all.push(Scenario {
            name: "superseded resize",
            kind,
            spec_size: Size::Large,
            spec_billing: PayPerUse,
            action: OrderAction::Resize,
            target: "Medium",
            before: (Seen::Size(Size::Small), PayPerUse),
            after: (Seen::Size(Size::Medium), PayPerUse),
        });
    }
    all.push(Scenario {
        name: "billing",
        kind: HUAWEI,
        spec_size: Size::Small,
        spec_billing: PrepaidMode,
        action: OrderAction::ChangeBilling,
        target: "Prepaid",
        before: (Seen::Size(Size::Small), PayPerUse),
        after: (Seen::Size(Size::Small), PrepaidMode),
    });
    all
}

/// The rule for open orders:
/// - no gateway -> GatewayNotFound;
/// - a pollable id: the order state decides (not polled or in progress -> wait; awaiting payment
///   -> wait for payment, or cancel it when the spec no longer asks for its target and the policy
///   is Manage; failed/cancelled -> finish failed; succeeded -> wait until the gateway
///   is steady and at the target, then finish succeeded);
/// - no id: a changing gateway -> wait (adopt); at the target -> succeeded; unusable -> failed;
///   an accepted call (InProgress/AwaitingPayment) with a steady, unchanged gateway -> failed;
///   an unanswered intent (Submitting; the controller found no order for it at the cloud) with a
///   steady, unchanged gateway -> submit the same change again, unless the policy is Observe or
///   the spec no longer asks for it: then drop it, nothing ordered.
fn expected_with_order(
    sc: &Scenario,
    phase: OrderPhase,
    id: bool,
    order_state: Option<&OrderState>,
    state: Option<GatewayState>,
    at_target: bool,
    policy: ManagementPolicy,
) -> Shape {
    let Some(state) = state else { return Shape::Stall(Reason::GatewayNotFound) };
    if id {
        return match order_state {
            None | Some(OrderState::InProgress) => Shape::Wait(Wait::OrderInProgress),
            // An unpaid order the spec no longer asks for is cancelled, not left to be paid.
            Some(OrderState::AwaitingPayment)
                if sc.name == "superseded resize" && policy == ManagementPolicy::Manage =>
            {
                Shape::Cancel
            }
            Some(OrderState::AwaitingPayment) => Shape::Wait(Wait::AwaitingPayment),
            Some(OrderState::Failed { .. } | OrderState::Cancelled) => Shape::Finish(OrderPhase::Failed),
            Some(OrderState::Succeeded) => match state {
                GatewayState::Transitioning => Shape::Wait(Wait::GatewayTransitioning),
                _ if at_target => Shape::Finish(OrderPhase::Succeeded),
                _ => Shape::Wait(Wait::OrderInProgress),
            },
        };
    }
    match state {
        GatewayState::Transitioning => Shape::Wait(Wait::GatewayTransitioning),
        _ if at_target => Shape::Finish(OrderPhase::Succeeded),
        GatewayState::Unavailable => Shape::Finish(OrderPhase::Failed),
        GatewayState::Ready if phase != OrderPhase::Submitting => Shape::Finish(OrderPhase::Failed),
        GatewayState::Ready if policy == ManagementPolicy::Observe || sc.name == "superseded resize" => {
            Shape::DropIntent
        }
        GatewayState::Ready => Shape::Submit(sc.action, sc.target.to_owned(), 2),
    }
}

fn order_states() -> [Option<OrderState>; 6] {
    [
        None,
        Some(OrderState::InProgress),
        Some(OrderState::AwaitingPayment),
        Some(OrderState::Succeeded),
        Some(OrderState::Failed { reason: "InsufficientBalance".into() }),
        Some(OrderState::Cancelled),
    ]
}

#[test]
fn table_with_an_open_order() {
    let phases = [OrderPhase::Submitting, OrderPhase::InProgress, OrderPhase::AwaitingPayment];
    let states = [Some(GatewayState::Ready), Some(GatewayState::Transitioning), Some(GatewayState::Unavailable), None];
    let mut rows = 0;
    for sc in scenarios() {
        for phase in phases {
            for id in [false, true] {
                for order_state in order_states() {
                    for state in states {
                        for at_target in [false, true] {
                            for policy in POLICIES {
                                for last in [None, Some(OrderPhase::Failed)] {
                                    let (seen, billing) = if at_target { sc.after } else { sc.before };
                                    let observed = state.map(|s| gateway(sc.kind, seen, billing, s));
                                    let spec = spec(sc.kind, sc.spec_size, sc.spec_billing, policy);
                                    let open = order(sc.action, sc.target, phase, id.then_some("o-2"), 1, GEN);
                                    let mut case =
                                        Case::new(spec, sc.kind, observed).with_order(open, order_state.clone());
                                    // An earlier failure of the same change must not change how an
                                    // open order is followed.
                                    case.last_order = last.map(|p| order(sc.action, sc.target, p, Some("o-1"), 1, GEN));
                                    let step = case.plan();
                                    let want = expected_with_order(
                                        &sc,
                                        phase,
                                        id,
                                        order_state.as_ref(),
                                        state,
                                        at_target,
                                        policy,
                                    );
                                    let context = format!(
                                        "{} {:?} {phase:?} id={id} {order_state:?} {state:?} at_target={at_target} {policy:?} last={last:?}",
                                        sc.name, sc.kind
                                    );
                                    assert_eq!(shape(&step), want, "{context}: {step:?}");
                                    assert_actionable(&step, &context);
                                    rows += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(rows, 7 * 3 * 2 * 6 * 4 * 2 * 2 * 2);
}

/// A finished order left in `status.order` (an older operator wrote it) is not followed.
#[test]
fn finished_orders_are_not_followed() {
    for kind in KINDS {
        for phase in [OrderPhase::Succeeded, OrderPhase::Failed] {
            let observed = gateway(kind, Seen::Size(Size::Small), PayPerUse, GatewayState::Ready);
            let case = Case::new(spec(kind, Size::Medium, PayPerUse, ManagementPolicy::Manage), kind, Some(observed))
                .with_order(
                    order(OrderAction::Resize, "Large", phase, Some("o-1"), 1, GEN),
                    Some(OrderState::InProgress),
                );
            assert_eq!(
                shape(&case.plan()),
                Shape::Submit(OrderAction::Resize, "Medium".into(), 1),
                "{kind:?} {phase:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Explicit rows: the cases users and the controller rely on, with their messages.

fn ready(kind: &'static Profile, size: Size, billing: BillingMode) -> Option<Observed> {
    Some(gateway(kind, Seen::Size(size), billing, GatewayState::Ready))
}

fn manage(kind: &'static Profile, size: Size, billing: BillingMode) -> NatGatewaySpec {
    spec(kind, size, billing, ManagementPolicy::Manage)
}

fn stall_message(step: Step, reason: Reason) -> String {
    match step {
        Step::Stall { reason: r, message } if r == reason => message,
        other => panic!("expected Stall {reason:?}, got {other:?}"),
    }
}

#[test]
fn huawei_changes_billing_first_then_resizes() {
    let want = manage(HUAWEI, Size::Medium, PrepaidMode);
    let first = Case::new(want.clone(), HUAWEI, ready(HUAWEI, Size::Small, PayPerUse));
    assert_eq!(first.plan(), Step::Submit { target: Target::Billing(BillingMode::Prepaid), attempt: 1 });
    // Billing done (recorded as the last order): now the size.
    let second = Case::new(want, HUAWEI, ready(HUAWEI, Size::Small, PrepaidMode)).with_last(order(
        OrderAction::ChangeBilling,
        "Prepaid",
        OrderPhase::Succeeded,
        Some("o-1"),
        1,
        GEN,
    ));
    assert_eq!(second.plan(), Step::Submit { target: Target::Size(Size::Medium), attempt: 1 });
}

/// A Huawei gateway observed yearly/monthly, renewing as `renewal` says.
fn subscribed(size: Size, renewal: Renewal) -> Option<Observed> {
    let mut observed = ready(HUAWEI, size, PrepaidMode)?;
    observed.subscription = Some(crate::cloud::Subscription { expires_at: None, renewal });
    Some(observed)
}

fn auto_renewing(size: Size) -> NatGatewaySpec {
    let mut spec = manage(HUAWEI, size, PrepaidMode);
    spec.billing.as_mut().unwrap().prepaid.as_mut().unwrap().auto_renew = true;
    spec
}

/// Every renewal the cloud can be in against every one a spec can declare: one call at a time
/// towards it, never an order; auto-renewal and pay-per-use at expiry go through Manual.
#[test]
fn huawei_renewal_is_declared_state_both_ways() {
    use Renewal::{Auto, Manual, PayPerUseAtExpiry as AtExpiry};
    use RenewalChange::*;
    let declared = [
        (manage(HUAWEI, Size::Small, PayPerUse), AtExpiry),
        (manage(HUAWEI, Size::Small, PrepaidMode), Manual),
        (auto_renewing(Size::Small), Auto),
    ];
    let table = [
        (Auto, Auto, None),
        (Auto, Manual, Some(DisableAutoRenew)),
        (Auto, AtExpiry, Some(DisableAutoRenew)),
        (Manual, Auto, Some(EnableAutoRenew)),
        (Manual, Manual, None),
        (Manual, AtExpiry, Some(PayPerUseAtExpiry)),
        (AtExpiry, Auto, Some(KeepAtExpiry)),
        (AtExpiry, Manual, Some(KeepAtExpiry)),
        (AtExpiry, AtExpiry, None),
    ];
    for (now, want, change) in table {
        let spec = declared.iter().find(|(_, r)| *r == want).unwrap().0.clone();
        let case = Case::new(spec.clone(), HUAWEI, subscribed(Size::Small, now));
        let expected = change.map_or(Step::InSync, |change| Step::Renew { change });
        assert_eq!(case.plan(), expected, "{now:?} -> {want:?}");
        // Observe reports it; another resource's gateway is not touched.
        let observe = Case::new(
            NatGatewaySpec { management_policy: ManagementPolicy::Observe, ..spec },
            HUAWEI,
            case.observed.clone(),
        );
        if change.is_some() {
            let Step::Drift { message } = observe.plan() else { panic!("drift for {now:?} -> {want:?}") };
            assert!(message.contains(&format!("renewal {now} instead of {want}")), "{message}");
            let claimed = Case { owner: Some(Owner::SameNamespace("older")), ..case };
            assert_eq!(shape(&claimed.plan()), Shape::Stall(Reason::GatewayClaimed));
        } else {
            assert_eq!(observe.plan(), Step::InSync);
        }
    }
}

/// Every claim state against every kind of step: a Manage resource claims at first sight, a
/// change is made only on this resource's confirmed claim, another cluster's claim stalls a change
/// and shows at rest too, an order already running is followed whoever claims, Observe never
/// claims, and the in-cluster owner comes first.
#[test]
fn claims_across_clusters() {
    use ClaimTag::{Free as Untagged, Held, Unreadable};
    let me = Claimant::parse("green_ns_gw").unwrap();
    let of = |cluster: &str, namespace: &str, name: &str| {
        Held(Claimant::parse(&format!("{cluster}_{namespace}_{name}")).unwrap())
    };
    let submit = Case::new(manage(HUAWEI, Size::Large, PayPerUse), HUAWEI, ready(HUAWEI, Size::Small, PayPerUse));
    let renew = Case::new(auto_renewing(Size::Small), HUAWEI, subscribed(Size::Small, Renewal::Manual));
    let in_sync = Case::new(manage(HUAWEI, Size::Small, PayPerUse), HUAWEI, ready(HUAWEI, Size::Small, PayPerUse));
    let waiting = submit.clone().with_order(
        order(OrderAction::Resize, "Large", OrderPhase::InProgress, Some("o-1"), 1, GEN),
        Some(OrderState::InProgress),
    );
    let theirs = Shape::Stall(Reason::ClaimedElsewhere);
    let on = Shape::Submit(OrderAction::Resize, "Large".into(), 1);
    let renews = Shape::Renew(RenewalChange::EnableAutoRenew);
    // (tag, takeover annotation, confirmed) -> (submit, renew, in sync)
    let table = [
        // A Manage resource claims what it manages at first sight, in sync or not.
        (Untagged, None, false, Shape::Claim, Shape::Claim, Shape::Claim),
        (Untagged, None, true, Shape::Claim, Shape::Claim, Shape::Claim),
        (of("green", "ns", "gw"), None, false, Shape::ConfirmClaim, Shape::ConfirmClaim, Shape::InSync),
        (of("green", "ns", "gw"), None, true, on.clone(), renews.clone(), Shape::InSync),
        // This cluster's claim for another resource: the in-cluster rule already made this one the owner.
        (of("green", "other", "gw2"), None, false, Shape::Claim, Shape::Claim, Shape::Claim),
        (of("blue", "ns", "gw"), None, true, theirs.clone(), theirs.clone(), theirs.clone()),
        (of("blue", "ns", "gw"), Some("red"), true, theirs.clone(), theirs.clone(), theirs.clone()),
        (of("blue", "ns", "gw"), Some("blue"), false, Shape::Claim, Shape::Claim, Shape::Claim),
        (Unreadable, Some("blue"), true, theirs.clone(), theirs.clone(), theirs.clone()),
    ];
    for (tag, takeover, confirmed, want_submit, want_renew, want_in_sync) in table {
        let claim = Claim::of(&tag, &me, takeover, confirmed, HUAWEI);
        let claim: Claim<'static> = match claim {
            // Static copies for the table's cases (the holder borrows the tag).
            Claim::Theirs(Holder::Cluster { .. }) => {
                Claim::Theirs(Holder::Cluster { cluster: "blue", name: Some("gw") })
            }
            Claim::Theirs(Holder::Unknown) => Claim::Theirs(Holder::Unknown),
            Claim::NotKept => Claim::NotKept,
            Claim::Free => Claim::Free,
            Claim::Ours { confirmed } => Claim::Ours { confirmed },
        };
        let context = format!("{tag:?} takeover {takeover:?} confirmed {confirmed}");
        for (case, want) in [(&submit, want_submit), (&renew, want_renew), (&in_sync, want_in_sync)] {
            let step = Case { claim, ..case.clone() }.plan();
            assert_eq!(shape(&step), want, "{context}");
            if let Step::Stall { message, .. } = step {
                assert!(message.contains("orders nothing"), "{message}");
            }
            // Observe neither claims nor stalls on a claim.
            let observe = Case {
                claim,
                spec: NatGatewaySpec { management_policy: ManagementPolicy::Observe, ..case.spec.clone() },
                ..case.clone()
            };
            let watched = shape(&observe.plan());
            assert!(!matches!(watched, Shape::Claim | Shape::ConfirmClaim | Shape::Stall(_)), "{context}: {watched:?}");
            // The in-cluster owner comes first; a running order is followed whoever claims.
            let duplicate = Case { claim, owner: Some(Owner::SameNamespace("older")), ..case.clone() };
            assert_eq!(shape(&duplicate.plan()), Shape::Stall(Reason::GatewayClaimed), "{context}");
            assert_eq!(shape(&Case { claim, ..waiting.clone() }.plan()), Shape::Wait(Wait::OrderInProgress));
        }
    }
    // Clouds that keep no claims read none, and change as before.
    let v2 =
        Case::new(manage(TENCENT_V2, Size::Large, PayPerUse), TENCENT_V2, ready(TENCENT_V2, Size::Small, PayPerUse));
    let claim = Claim::of(&Untagged, &me, None, false, TENCENT_V2);
    assert_eq!(claim, Claim::NotKept);
    assert_eq!(shape(&Case { claim, ..v2 }.plan()), on);
}

/// Another cluster's claim is named by cluster id; its resource's name only to the same namespace.
#[test]
fn a_claim_elsewhere_names_the_cluster_and_how_to_hand_over() {
    let case = Case::new(manage(HUAWEI, Size::Large, PayPerUse), HUAWEI, ready(HUAWEI, Size::Small, PayPerUse));
    let named = Case { claim: Claim::Theirs(Holder::Cluster { cluster: "blue", name: Some("edge") }), ..case.clone() };
    let message = stall_message(named.plan(), Reason::ClaimedElsewhere);
    for needle in [
        "NatGateway edge of cluster blue",
        "delete that NatGateway",
        "claims release --cluster-id blue",
        "natgw.io/take-over-claim-from=blue",
    ] {
        assert!(message.contains(needle), "{message} lacks {needle}");
    }
    let unnamed = Case { claim: Claim::Theirs(Holder::Cluster { cluster: "blue", name: None }), ..case.clone() };
    let message = stall_message(unnamed.plan(), Reason::ClaimedElsewhere);
    assert!(message.contains("a NatGateway of cluster blue") && !message.contains("edge"), "{message}");
    let unknown = Case { claim: Claim::Theirs(Holder::Unknown), ..case };
    assert!(stall_message(unknown.plan(), Reason::ClaimedElsewhere).contains("remove the tag"));
}

#[test]
fn huawei_prepaid_to_pay_per_use_is_set_for_expiry_before_any_resize() {
    let case = Case::new(manage(HUAWEI, Size::Large, PayPerUse), HUAWEI, subscribed(Size::Small, Renewal::Manual));
    assert_eq!(case.plan(), Step::Renew { change: RenewalChange::PayPerUseAtExpiry });
    // Set: the gateway stays yearly/monthly until expiry, and is resized meanwhile as declared.
    let set =
        Case::new(manage(HUAWEI, Size::Large, PayPerUse), HUAWEI, subscribed(Size::Small, Renewal::PayPerUseAtExpiry));
    assert_eq!(set.plan(), Step::Submit { target: Target::Size(Size::Large), attempt: 1 });
    let done =
        Case::new(manage(HUAWEI, Size::Large, PayPerUse), HUAWEI, subscribed(Size::Large, Renewal::PayPerUseAtExpiry));
    assert_eq!(done.plan(), Step::InSync);
}

/// Its status says what happens and when, and kstatus reads it as Current (Ready=True).
#[test]
fn a_prepaid_gateway_in_sync_says_until_when_and_what_then() {
    let spec = manage(HUAWEI, Size::Small, PayPerUse);
    for (renewal, words) in [
        (Renewal::PayPerUseAtExpiry, "Prepaid until 2027-01-07, then pay-per-use"),
        (Renewal::Auto, "Prepaid until 2027-01-07, renewed automatically"),
        (Renewal::Manual, "Prepaid until 2027-01-07, not renewed automatically"),
    ] {
        let observed: crate::api::ObservedStatus = serde_json::from_value(serde_json::json!({
            "size": "Small", "spec": "1", "billingMode": "Prepaid", "expiresAt": "2027-01-07T03:00:00Z",
            "renewal": renewal, "state": "ACTIVE", "checkedAt": "2026-12-07T00:00:00Z",
        }))
        .unwrap();
        let mut status = NatGatewayStatus { observed: Some(observed), ..Default::default() };
        let previous = NatGatewayStatus::default();
        let applied = apply(Step::InSync, &facts(&spec, &previous, false), &mut status);
        let Some(Health::Ready { message }) = applied.health else { panic!("Ready: {applied:?}") };
        assert_eq!(message, format!("the gateway is Small and {words}"));
    }
}

/// A renewal setting is one call with nothing written before it; its answer is recorded with an
/// Event and the gateway is read again.
#[test]
fn a_renewal_change_is_called_then_recorded() {
    let spec = manage(HUAWEI, Size::Small, PayPerUse);
    let previous = NatGatewayStatus::default();
    let mut status = NatGatewayStatus::default();
    let change = RenewalChange::PayPerUseAtExpiry;
    let applied = apply(Step::Renew { change }, &facts(&spec, &previous, false), &mut status);
    assert_eq!((applied.health, applied.call, applied.next), (None, Some(Call::Renewal(change)), Next::Replan));
    let done = renewal_answer(change, Ok(()), &facts(&spec, &previous, false));
    assert_eq!(done.next, Next::Replan);
    assert!(
        matches!(done.effects.as_slice(), [Effect::Event(EventType::Normal, Reason::RenewalChanged, m)] if m.contains("no order"))
    );
    let refused = CloudError::new(crate::cloud::ErrorKind::Auth, "CBC.0151: access denied");
    let failed = renewal_answer(change, Err(refused), &facts(&spec, &previous, false));
    assert!(matches!(failed.health, Some(Health::Stalled { reason: Reason::CredentialsInvalid, .. })), "{failed:?}");
    // A resource being deleted does not change the gateway on its way out.
    let applied = apply(Step::Renew { change }, &facts(&spec, &previous, true), &mut status);
    assert_eq!((applied.call, applied.finalizer), (None, Some(Finalizer::Release)));
}

/// Pay-per-use -> prepaid with autoPay false, then the user reverts: the unpaid order is
/// cancelled (that it is being cancelled is recorded first), and the cancellation confirmed by
/// the order's status ends it as Cancelled; paid meanwhile, it is followed to its end.
#[test]
fn an_unpaid_order_the_spec_no_longer_wants_is_cancelled() {
    let unpaid = order(OrderAction::ChangeBilling, "Prepaid", OrderPhase::AwaitingPayment, Some("CS1"), 1, GEN);
    let reverted = manage(HUAWEI, Size::Small, PayPerUse);
    let case = Case::new(reverted.clone(), HUAWEI, ready(HUAWEI, Size::Small, PayPerUse))
        .with_order(unpaid.clone(), Some(OrderState::AwaitingPayment));
    assert_eq!(case.plan(), Step::CancelOrder { id: "CS1".into() });
    // Still wanted, or Observe: it waits for payment.
    let wanted = Case { spec: manage(HUAWEI, Size::Small, PrepaidMode), ..case.clone() };
    assert_eq!(wanted.plan(), Step::Wait(Wait::AwaitingPayment));
    let observe = Case {
        spec: NatGatewaySpec { management_policy: ManagementPolicy::Observe, ..reverted.clone() },
        ..case.clone()
    };
    assert_eq!(observe.plan(), Step::Wait(Wait::AwaitingPayment));

    let previous = NatGatewayStatus { order: Some(Box::new(unpaid.clone())), ..Default::default() };
    let mut status = previous.clone();
    let applied = apply(case.plan(), &facts(&reverted, &previous, false), &mut status);
    assert_eq!(applied.call, Some(Call::Cancel("CS1".into())));
    assert_eq!(status.order.as_ref().unwrap().phase, OrderPhase::Cancelling);
    assert!(matches!(applied.health, Some(Health::Progressing { reason: Reason::CancellingOrder, .. })));

    let cancelling = OrderStatus { phase: OrderPhase::Cancelling, ..unpaid };
    let follow = |state: OrderState, seen: BillingMode| {
        Case::new(reverted.clone(), HUAWEI, ready(HUAWEI, Size::Small, seen))
            .with_order(cancelling.clone(), Some(state))
            .plan()
    };
    // The answer was lost (or never sent): the order still waits, so it is cancelled again.
    assert_eq!(follow(OrderState::AwaitingPayment, PayPerUse), Step::CancelOrder { id: "CS1".into() });
    assert_eq!(shape(&follow(OrderState::Cancelled, PayPerUse)), Shape::Finish(OrderPhase::Cancelled));
    // Someone paid it first: followed to its end, never a second order meanwhile.
    assert_eq!(follow(OrderState::InProgress, PayPerUse), Step::Wait(Wait::OrderInProgress));
    assert_eq!(shape(&follow(OrderState::Succeeded, PrepaidMode)), Shape::Finish(OrderPhase::Succeeded));

    let mut status = NatGatewayStatus { order: Some(Box::new(cancelling.clone())), ..Default::default() };
    let before = status.clone();
    let applied = apply(follow(OrderState::Cancelled, PayPerUse), &facts(&reverted, &before, false), &mut status);
    assert_eq!(status.order, None);
    assert_eq!(status.last_order.as_ref().map(|o| o.phase), Some(OrderPhase::Cancelled));
    assert_eq!((applied.next, applied.finalizer), (Next::Replan, Some(Finalizer::Release)));
    assert!(applied.effects.contains(&Effect::Order {
        provider: "model",
        action: OrderAction::ChangeBilling,
        transition: crate::metrics::OrderTransition::Cancelled
    }));
    // Paid first: the Event says so once, as the phase leaves Cancelling.
    let mut status = NatGatewayStatus { order: Some(Box::new(cancelling.clone())), ..Default::default() };
    let applied = apply(Step::Wait(Wait::OrderInProgress), &facts(&reverted, &before, false), &mut status);
    assert!(applied.effects.iter().any(|e| matches!(e, Effect::Event(_, Reason::CancelTooLate, _))));
    assert_eq!(status.order.as_ref().unwrap().phase, OrderPhase::InProgress);
    // Or it had already completed when the operator looked again: said at its end.
    let mut status = NatGatewayStatus { order: Some(Box::new(cancelling.clone())), ..Default::default() };
    let done = follow(OrderState::Succeeded, PrepaidMode);
    let applied = apply(done, &facts(&reverted, &before, false), &mut status);
    assert!(applied.effects.iter().any(|e| matches!(e, Effect::Event(_, Reason::CancelTooLate, _))));
    assert_eq!(status.last_order.as_ref().map(|o| o.phase), Some(OrderPhase::Succeeded));
}

/// A superseded unpaid resize: cancelled, then the new size is ordered (after the cancellation
/// is confirmed, so never two open orders).
#[test]
fn a_superseded_unpaid_resize_is_cancelled_then_the_new_size_ordered() {
    let unpaid = order(OrderAction::Resize, "Medium", OrderPhase::AwaitingPayment, Some("CS2"), 1, GEN - 1);
    let spec = manage(HUAWEI, Size::Large, PrepaidMode);
    let case = Case::new(spec.clone(), HUAWEI, ready(HUAWEI, Size::Small, PrepaidMode))
        .with_order(unpaid.clone(), Some(OrderState::AwaitingPayment));
    assert_eq!(case.plan(), Step::CancelOrder { id: "CS2".into() });
    let cancelled = order(OrderAction::Resize, "Medium", OrderPhase::Cancelled, Some("CS2"), 1, GEN - 1);
    let next = Case::new(spec, HUAWEI, ready(HUAWEI, Size::Small, PrepaidMode)).with_last(cancelled);
    assert_eq!(next.plan(), Step::Submit { target: Target::Size(Size::Large), attempt: 1 });
}

/// Any refusal of a cancellation but lost leadership or credentials: retried after the order's
/// status was looked at again, with backoff, and shown.
#[test]
fn a_refused_cancellation_looks_at_the_order_again() {
    let spec = manage(HUAWEI, Size::Small, PayPerUse);
    let previous = NatGatewayStatus::default();
    let refused =
        CloudError::new(crate::cloud::ErrorKind::InvalidRequest, "CBC.99005010: the order cannot be cancelled");
    let applied = cancel_answer(Err(refused), &facts(&spec, &previous, false), &previous);
    assert!(matches!(applied.next, Next::Backoff { .. }), "{applied:?}");
    assert!(
        matches!(&applied.health, Some(Health::Retrying { message, .. }) if message.contains("checking the order's status"))
    );
    assert_eq!(cancel_answer(Ok(()), &facts(&spec, &previous, false), &previous).next, Next::Replan);
    let leader = CloudError::new(crate::cloud::ErrorKind::NotLeader, "lease lost");
    assert_eq!(cancel_answer(Err(leader), &facts(&spec, &previous, false), &previous).next, Next::NotLeader);
}

#[test]
fn tencent_has_no_prepaid() {
    for kind in [TENCENT_V2, TENCENT_V3] {
        for size in [Size::Small, Size::Medium, Size::Large] {
            let case = Case::new(manage(kind, size, PrepaidMode), kind, ready(kind, Size::Small, PayPerUse));
            let message = stall_message(case.plan(), Reason::UnsupportedChange);
            assert!(message.contains("Tencent Cloud has no API"), "{message}");
            assert!(message.contains("remove spec.billing or set spec.billing.mode to PayPerUse"), "{message}");
        }
    }
}

#[test]
fn tencent_api_2_never_downsizes_but_api_3_does() {
    let v2 =
        Case::new(manage(TENCENT_V2, Size::Small, PayPerUse), TENCENT_V2, ready(TENCENT_V2, Size::Large, PayPerUse));
    let message = stall_message(v2.plan(), Reason::UnsupportedChange);
    assert!(message.contains("only upgrades"), "{message}");
    assert!(message.contains("from Large to Small"), "{message}");
    assert!(message.contains("set spec.size to Large or larger"), "{message}");
    assert!(message.contains("api: V3"), "{message}");

    let v3 =
        Case::new(manage(TENCENT_V3, Size::Small, PayPerUse), TENCENT_V3, ready(TENCENT_V3, Size::Large, PayPerUse));
    assert_eq!(v3.plan(), Step::Submit { target: Target::Size(Size::Small), attempt: 1 });
    // Upgrades work on both.
    let up =
        Case::new(manage(TENCENT_V2, Size::Large, PayPerUse), TENCENT_V2, ready(TENCENT_V2, Size::Small, PayPerUse));
    assert_eq!(up.plan(), Step::Submit { target: Target::Size(Size::Large), attempt: 1 });
}

/// A gateway set in the console to a value no size maps to: API 2.0 still never orders a shrink.
#[test]
fn tencent_api_2_refuses_a_shrink_from_an_unmapped_capacity() {
    let observed = gateway(TENCENT_V2, Seen::Unknown, PayPerUse, GatewayState::Ready);
    let down = Case::new(manage(TENCENT_V2, Size::Small, PayPerUse), TENCENT_V2, Some(observed.clone()));
    let message = stall_message(down.plan(), Reason::UnsupportedChange);
    assert!(message.contains("from 2000000 connections to Small"), "{message}");
    let up = Case::new(manage(TENCENT_V2, Size::Medium, PayPerUse), TENCENT_V2, Some(observed));
    assert_eq!(up.plan(), Step::Submit { target: Target::Size(Size::Medium), attempt: 1 });
}

#[test]
fn tencent_has_no_extra_large_or_enterprise_even_with_a_billing_change() {
    for kind in [TENCENT_V2, TENCENT_V3] {
        for size in [Size::ExtraLarge, Size::Enterprise] {
            for billing in BILLINGS {
                for state in [GatewayState::Ready, GatewayState::Transitioning, GatewayState::Unavailable] {
                    let observed = gateway(kind, Seen::Size(Size::Small), PayPerUse, state);
                    let case = Case::new(manage(kind, size, billing), kind, Some(observed));
                    let message = stall_message(case.plan(), Reason::UnsupportedSize);
                    assert!(message.contains(&format!("no size {size}")), "{message}");
                    assert!(message.contains("set spec.size to one of Small, Medium, Large"), "{message}");
                }
            }
        }
    }
}

#[test]
fn a_missing_gateway_stalls_whatever_else_is_going_on() {
    for kind in KINDS {
        let open = order(OrderAction::Resize, "Medium", OrderPhase::InProgress, Some("o-1"), 1, GEN);
        for case in [
            Case::new(manage(kind, Size::Medium, PayPerUse), kind, None),
            Case::new(manage(kind, Size::Medium, PayPerUse), kind, None).with_order(open, Some(OrderState::Succeeded)),
        ] {
            let message = stall_message(case.plan(), Reason::GatewayNotFound);
            assert!(message.contains(GATEWAY) && message.contains("check spec.gatewayId and the region"), "{message}");
        }
    }
}

#[test]
fn observe_reports_drift_and_never_orders() {
    let observe = spec(HUAWEI, Size::Large, PrepaidMode, ManagementPolicy::Observe);
    let case = Case::new(observe, HUAWEI, ready(HUAWEI, Size::Small, PayPerUse));
    let Step::Drift { message } = case.plan() else { panic!("expected drift") };
    assert!(message.contains("the gateway is Small / PayPerUse"), "{message}");
    assert!(message.contains("asks for Large / Prepaid"), "{message}");
    assert!(message.contains("set spec.managementPolicy to Manage"), "{message}");

    // In sync is in sync under Observe too.
    let observe = spec(HUAWEI, Size::Small, PayPerUse, ManagementPolicy::Observe);
    assert_eq!(Case::new(observe, HUAWEI, ready(HUAWEI, Size::Small, PayPerUse)).plan(), Step::InSync);
}

#[test]
fn a_failed_order_is_not_retried_for_the_same_generation() {
    let failed = order(OrderAction::Resize, "Medium", OrderPhase::Failed, Some("o-1"), 1, GEN);
    let case =
        Case::new(manage(TENCENT_V2, Size::Medium, PayPerUse), TENCENT_V2, ready(TENCENT_V2, Size::Small, PayPerUse))
            .with_last(failed.clone());
    let message = stall_message(case.plan(), Reason::OrderFailed);
    assert!(message.contains("the Resize order to Medium failed: InsufficientBalance"), "{message}");
    assert!(message.contains("change the spec to try again"), "{message}");

    let mut newer = case.clone();
    newer.generation = GEN + 1;
    assert_eq!(newer.plan(), Step::Submit { target: Target::Size(Size::Medium), attempt: 2 });
}

#[test]
fn a_succeeded_order_waits_for_the_gateway_to_settle() {
    for kind in KINDS {
        let open = order(OrderAction::Resize, "Medium", OrderPhase::InProgress, Some("o-1"), 1, GEN);
        let spec = manage(kind, Size::Medium, PayPerUse);
        let changing = gateway(kind, Seen::Size(Size::Small), PayPerUse, GatewayState::Transitioning);
        let case = Case::new(spec.clone(), kind, Some(changing)).with_order(open.clone(), Some(OrderState::Succeeded));
        assert_eq!(case.plan(), Step::Wait(Wait::GatewayTransitioning), "{kind:?}");

        let done =
            Case::new(spec, kind, ready(kind, Size::Medium, PayPerUse)).with_order(open, Some(OrderState::Succeeded));
        assert_eq!(
            done.plan(),
            Step::Finish { phase: OrderPhase::Succeeded, message: "the gateway was resized to Medium".into() }
        );
    }
    // Huawei's billing_info lags the paid order: keep waiting, do not finish or reorder.
    let billing = order(OrderAction::ChangeBilling, "Prepaid", OrderPhase::InProgress, Some("o-1"), 1, GEN);
    let lagging = Case::new(manage(HUAWEI, Size::Small, PrepaidMode), HUAWEI, ready(HUAWEI, Size::Small, PayPerUse))
        .with_order(billing, Some(OrderState::Succeeded));
    assert_eq!(lagging.plan(), Step::Wait(Wait::OrderInProgress));
}

#[test]
fn an_unanswered_intent_is_adopted_finished_or_sent_again() {
    for kind in KINDS {
        let spec = manage(kind, Size::Medium, PayPerUse);
        let intent = order(OrderAction::Resize, "Medium", OrderPhase::Submitting, None, 1, GEN);
        let changing = gateway(kind, Seen::Size(Size::Small), PayPerUse, GatewayState::Transitioning);
        let adopt = Case::new(spec.clone(), kind, Some(changing)).with_order(intent.clone(), None);
        assert_eq!(adopt.plan(), Step::Wait(Wait::GatewayTransitioning), "{kind:?}");

        let landed =
            Case::new(spec.clone(), kind, ready(kind, Size::Medium, PayPerUse)).with_order(intent.clone(), None);
        assert_eq!(shape(&landed.plan()), Shape::Finish(OrderPhase::Succeeded), "{kind:?}");

        let lost = Case::new(spec, kind, ready(kind, Size::Small, PayPerUse)).with_order(intent, None);
        assert_eq!(lost.plan(), Step::Submit { target: Target::Size(Size::Medium), attempt: 2 });
    }
}

/// Huawei's change_to_period opens an order and leaves the gateway as it was until the order is
/// paid, so an unanswered billing change is settled by the order the controller finds for it at
/// the cloud (its id filled in), never by the unchanged gateway: no second order while it runs.
#[test]
fn an_unanswered_billing_change_follows_the_order_found_for_it() {
    let found = order(OrderAction::ChangeBilling, "Prepaid", OrderPhase::Submitting, Some("CS9"), 1, GEN);
    let spec = manage(HUAWEI, Size::Medium, PrepaidMode);
    let unchanged = ready(HUAWEI, Size::Small, PayPerUse);
    let follow = |state: OrderState, observed: Option<Observed>| {
        Case::new(spec.clone(), HUAWEI, observed).with_order(found.clone(), Some(state)).plan()
    };
    assert_eq!(follow(OrderState::InProgress, unchanged.clone()), Step::Wait(Wait::OrderInProgress));
    assert_eq!(follow(OrderState::AwaitingPayment, unchanged.clone()), Step::Wait(Wait::AwaitingPayment));
    // Paid, but billing_info has not caught up: still no second order.
    assert_eq!(follow(OrderState::Succeeded, unchanged.clone()), Step::Wait(Wait::OrderInProgress));
    assert_eq!(
        follow(OrderState::Succeeded, ready(HUAWEI, Size::Small, PrepaidMode)),
        Step::Finish { phase: OrderPhase::Succeeded, message: "the gateway's billing is now Prepaid".into() }
    );
    assert_eq!(shape(&follow(OrderState::Cancelled, unchanged.clone())), Shape::Finish(OrderPhase::Failed));

    // No order at the cloud and no change: the call never landed, so it is sent again.
    let lost = Case::new(spec, HUAWEI, unchanged).with_order(OrderStatus { id: None, ..found }, None);
    assert_eq!(lost.plan(), Step::Submit { target: Target::Billing(BillingMode::Prepaid), attempt: 2 });
}

#[test]
fn an_unsent_intent_is_dropped_when_no_longer_wanted() {
    let intent = order(OrderAction::Resize, "Medium", OrderPhase::Submitting, None, 1, GEN - 1);
    // The user moved on to Observe.
    let observe = Case::new(
        spec(TENCENT_V3, Size::Medium, PayPerUse, ManagementPolicy::Observe),
        TENCENT_V3,
        ready(TENCENT_V3, Size::Small, PayPerUse),
    )
    .with_order(intent.clone(), None);
    let Step::DropIntent { message } = observe.plan() else { panic!("expected the intent dropped") };
    assert!(message.contains("no sign of it") && message.contains("Observe, so it is not sent again"), "{message}");
    // ... or to another size.
    let moved =
        Case::new(manage(TENCENT_V3, Size::Large, PayPerUse), TENCENT_V3, ready(TENCENT_V3, Size::Small, PayPerUse))
            .with_order(intent.clone(), None);
    let step = moved.plan();
    let Step::DropIntent { message } = step.clone() else { panic!("expected the intent dropped") };
    assert!(message.contains("no longer asks for it") && message.contains("nothing was ordered"), "{message}");
    // Nothing was ordered, so nothing finished: the intent goes, no order is recorded or counted.
    let mut status = NatGatewayStatus { order: Some(Box::new(intent.clone())), ..Default::default() };
    let previous = status.clone();
    let applied = apply(step, &facts(&moved.spec, &previous, false), &mut status);
    assert_eq!((status.order, status.last_order), (None, None));
    assert_eq!(applied.health.map(|h| h.reason()), Some(Reason::Replanning));
    assert_eq!(applied.effects, vec![Effect::Event(EventType::Normal, Reason::IntentDropped, message)]);
    assert_eq!((applied.next, applied.finalizer), (Next::Replan, Some(Finalizer::Release)));
    // ... or to a size the old API cannot shrink to since someone upgraded the gateway.
    let refused =
        Case::new(manage(TENCENT_V2, Size::Medium, PayPerUse), TENCENT_V2, ready(TENCENT_V2, Size::Large, PayPerUse))
            .with_order(intent, None);
    assert_eq!(shape(&refused.plan()), Shape::DropIntent);
}

#[test]
fn awaiting_payment_waits_however_long_it_takes() {
    for gateway_state in [GatewayState::Ready, GatewayState::Transitioning, GatewayState::Unavailable] {
        for phase in [OrderPhase::InProgress, OrderPhase::AwaitingPayment, OrderPhase::Submitting] {
            // Submitted at the epoch: decades unpaid is still just unpaid.
            let open = order(OrderAction::ChangeBilling, "Prepaid", phase, Some("CS123"), 1, GEN - 3);
            let observed = gateway(HUAWEI, Seen::Size(Size::Small), PayPerUse, gateway_state);
            let case = Case::new(manage(HUAWEI, Size::Large, PrepaidMode), HUAWEI, Some(observed))
                .with_order(open, Some(OrderState::AwaitingPayment));
            assert_eq!(case.plan(), Step::Wait(Wait::AwaitingPayment), "{gateway_state:?} {phase:?}");
        }
    }
}

#[test]
fn a_cancelled_or_failed_order_finishes_failed() {
    let open = order(OrderAction::Resize, "Large", OrderPhase::InProgress, Some("CS123"), 1, GEN);
    let case = Case::new(manage(HUAWEI, Size::Large, PrepaidMode), HUAWEI, ready(HUAWEI, Size::Small, PrepaidMode));
    let cancelled = case.clone().with_order(open.clone(), Some(OrderState::Cancelled));
    let Step::Finish { phase: OrderPhase::Failed, message } = cancelled.plan() else { panic!("expected finish") };
    assert!(message.contains("cancelled"), "{message}");
    let failed = case.with_order(open, Some(OrderState::Failed { reason: "CBC.0150 balance too low".into() }));
    let Step::Finish { phase: OrderPhase::Failed, message } = failed.plan() else { panic!("expected finish") };
    assert!(message.contains("CBC.0150 balance too low"), "{message}");
}

#[test]
fn an_unusable_gateway_stalls_with_its_state() {
    let observed = gateway(TENCENT_V3, Seen::Size(Size::Small), PayPerUse, GatewayState::Unavailable);
    let case = Case::new(manage(TENCENT_V3, Size::Medium, PayPerUse), TENCENT_V3, Some(observed));
    let message = stall_message(case.plan(), Reason::GatewayUnavailable);
    assert!(message.contains("PENDFAILURE") && message.contains("settle arrears"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Properties over arbitrary inputs.

fn any_kind() -> impl Strategy<Value = &'static Profile> {
    prop::sample::select(KINDS.to_vec())
}

fn any_size() -> impl Strategy<Value = Size> {
    prop::sample::select(Size::ALL.to_vec())
}

fn any_billing() -> impl Strategy<Value = BillingMode> {
    prop::sample::select(BILLINGS.to_vec())
}

fn any_capacity() -> impl Strategy<Value = Capacity> {
    prop_oneof![
        prop::sample::select(vec![1_000_000u64, 2_000_000, 3_000_000, 10_000_000, 0]).prop_map(Capacity::Connections),
        prop::sample::select(vec!["1", "2", "3", "4", "5", "9", ""]).prop_map(|s| Capacity::Spec(s.into())),
    ]
}

fn any_state() -> impl Strategy<Value = GatewayState> {
    prop::sample::select(vec![GatewayState::Ready, GatewayState::Transitioning, GatewayState::Unavailable])
}

fn any_order() -> impl Strategy<Value = OrderStatus> {
    let targets = vec!["Small", "Medium", "Large", "ExtraLarge", "Enterprise", "PayPerUse", "Prepaid", "Huge"];
    let phases = vec![
        OrderPhase::Submitting,
        OrderPhase::InProgress,
        OrderPhase::AwaitingPayment,
        OrderPhase::Succeeded,
        OrderPhase::Failed,
    ];
    (
        prop::sample::select(vec![OrderAction::Resize, OrderAction::ChangeBilling]),
        prop::sample::select(targets),
        prop::sample::select(phases),
        prop::option::of(Just("o-1")),
        1u32..4,
        GEN - 2..=GEN + 1,
    )
        .prop_map(|(action, target, phase, id, attempt, generation)| {
            order(action, target, phase, id, attempt, generation)
        })
}

fn any_order_state() -> impl Strategy<Value = OrderState> {
    prop_oneof![
        Just(OrderState::InProgress),
        Just(OrderState::AwaitingPayment),
        Just(OrderState::Succeeded),
        Just(OrderState::Failed { reason: "refused".into() }),
        Just(OrderState::Cancelled),
    ]
}

fn any_case() -> impl Strategy<Value = Case> {
    (
        (any_kind(), any_size(), any_billing(), prop::sample::select(POLICIES.to_vec())),
        prop::option::weighted(0.9, (any_capacity(), any_billing(), any_state())),
        prop::option::of(any_order()),
        prop::option::of(any_order_state()),
        prop::option::of(any_order()),
        GEN - 1..=GEN + 1,
    )
        .prop_map(|((kind, size, billing, policy), observed, order, order_state, last_order, generation)| Case {
            spec: spec(kind, size, billing, policy),
            generation,
            kind,
            observed: observed.map(|(capacity, billing, state)| Observed {
                capacity,
                billing,
                state,
                raw_state: format!("{state:?}"),
                subscription: subscription(kind, billing),
                claim: Default::default(),
            }),
            order,
            order_state,
            last_order,
            owner: None,
            claim: Claim::NotKept,
            paused: false,
        })
}

fn open(order: &OrderStatus) -> bool {
    matches!(order.phase, OrderPhase::Submitting | OrderPhase::InProgress | OrderPhase::AwaitingPayment)
}

/// Whether the gateway shows what an order asked for, by the test's own reading.
fn shows(kind: &'static Profile, observed: &Observed, action: OrderAction, target: &str) -> bool {
    match action {
        OrderAction::ChangeBilling => observed.billing.to_string() == target,
        OrderAction::Resize => Size::ALL
            .iter()
            .any(|s| s.to_string() == target && kind.capacity_for(*s).as_ref() == Some(&observed.capacity)),
    }
}

fn any_claim() -> impl Strategy<Value = Claim<'static>> {
    prop_oneof![
        Just(Claim::NotKept),
        Just(Claim::Free),
        any::<bool>().prop_map(|confirmed| Claim::Ours { confirmed }),
        Just(Claim::Theirs(Holder::Cluster { cluster: "blue", name: None })),
        Just(Claim::Theirs(Holder::Unknown)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// (claims) A change is made only where no claim is kept or this resource's claim is
    /// confirmed; where another cluster claims, nothing changes and the status never says in sync;
    /// the claim changes nothing about following an order already open.
    #[test]
    fn only_a_confirmed_claim_changes_the_gateway(case in any_case(), claim in any_claim()) {
        let unclaimed = case.plan();
        let step = Case { claim, ..case.clone() }.plan();
        if matches!(step, Step::Submit { .. } | Step::Renew { .. }) {
            prop_assert!(matches!(claim, Claim::NotKept | Claim::Ours { confirmed: true }), "{claim:?}: {step:?}");
        }
        if matches!(claim, Claim::Theirs(_)) && case.spec.management_policy == ManagementPolicy::Manage {
            prop_assert!(!matches!(step, Step::InSync | Step::Claim { .. }), "{step:?}");
        }
        if !matches!(unclaimed, Step::InSync | Step::Submit { .. } | Step::Renew { .. }) {
            prop_assert_eq!(step, unclaimed);
        }
    }

    /// (a) An open order is never ordered again, except an unanswered intent (no order id, so
    /// the controller found no order for it) whose gateway is steady and shows no change: the call
    /// never reached the cloud.
    #[test]
    fn no_second_order_while_one_is_open(case in any_case()) {
        let step = case.plan();
        if let (Step::Submit { target, attempt }, Some(order)) = (&step, case.order.as_ref().filter(|o| open(o))) {
            let observed = case.observed.as_ref().expect("a submit needs a gateway");
            prop_assert_eq!(order.phase, OrderPhase::Submitting);
            prop_assert!(order.id.is_none());
            prop_assert_eq!(observed.state, GatewayState::Ready);
            prop_assert!(!shows(case.kind, observed, order.action, &order.target.to_string()));
            prop_assert_eq!((target.action(), target.to_string(), *attempt), (order.action, order.target.to_string(), order.attempt + 1));
        }
    }

    /// (b) A changing gateway is never ordered against.
    #[test]
    fn no_order_while_the_gateway_changes(case in any_case()) {
        if case.observed.as_ref().is_some_and(|o| o.state != GatewayState::Ready) {
            prop_assert!(!matches!(case.plan(), Step::Submit { .. }), "{:?}", case.plan());
        }
    }

    /// (c) Observe never orders.
    #[test]
    fn observe_never_orders(mut case in any_case()) {
        case.spec.management_policy = ManagementPolicy::Observe;
        prop_assert!(!matches!(case.plan(), Step::Submit { .. }), "{:?}", case.plan());
    }

    /// (d) Orders only go where the cloud can go, and only towards the spec.
    #[test]
    fn orders_only_what_the_cloud_supports(case in any_case()) {
        if let Step::Submit { target, attempt } = case.plan() {
            let observed = case.observed.as_ref().expect("a submit needs a gateway");
            prop_assert!(attempt >= 1);
            match target {
                Target::Size(size) => {
                    prop_assert_eq!(size, case.spec.size);
                    prop_assert!(case.kind.capacity_for(case.spec.size).is_some());
                    // Billing first, but a yearly/monthly gateway declared pay-per-use turns so only at
                    // expiry: it is resized meanwhile.
                    let at_expiry = observed.billing == PrepaidMode && case.spec.billing_mode() == PayPerUse;
                    prop_assert!(observed.billing == case.spec.billing_mode() || at_expiry, "billing first");
                    if let (true, Capacity::Connections(now), Some(Capacity::Connections(want))) =
                        (case.kind == TENCENT_V2, &observed.capacity, case.kind.capacity_for(case.spec.size))
                    {
                        prop_assert!(want >= *now, "API 2.0 cannot shrink {} -> {}", now, want);
                    }
                }
                Target::Billing(billing) => {
                    prop_assert_eq!(case.kind, HUAWEI);
                    prop_assert_eq!(observed.billing, PayPerUse);
                    prop_assert_eq!(billing, PrepaidMode);
                    prop_assert_eq!(case.spec.billing_mode(), PrepaidMode);
                    prop_assert!(case.kind.capacity_for(case.spec.size).is_some(), "size checked before billing");
                }
            }
        }
    }

    /// (f) Same input, same output; and every message says something.
    #[test]
    fn plan_is_deterministic(case in any_case()) {
        let first = case.plan();
        prop_assert_eq!(&first, &case.clone().plan());
        if let Step::Finish { message, .. } | Step::Drift { message } | Step::Stall { message, .. } = &first {
            prop_assert!(!message.is_empty());
        }
    }
}

/// Another resource owning the gateway stops orders and shows at once, in sync or not; an open
/// order is still followed to its end. Another namespace's owner is never named.
#[test]
fn a_claimed_gateway_is_never_ordered_against() {
    let mut case =
        Case::new(manage(TENCENT_V3, Size::Medium, PayPerUse), TENCENT_V3, ready(TENCENT_V3, Size::Small, PayPerUse));
    case.owner = Some(Owner::SameNamespace("egress"));
    let message = stall_message(case.plan(), Reason::GatewayClaimed);
    assert!(message.contains("NatGateway egress") && message.contains("Observe"), "{message}");
    let open = order(OrderAction::Resize, "Medium", OrderPhase::InProgress, Some("o-1"), 1, GEN);
    assert_eq!(case.clone().with_order(open, None).plan(), Step::Wait(Wait::OrderInProgress));
    // A duplicate that asks for the owner's size is no less a duplicate.
    let mut same =
        Case::new(manage(TENCENT_V3, Size::Small, PayPerUse), TENCENT_V3, ready(TENCENT_V3, Size::Small, PayPerUse));
    assert_eq!(same.plan(), Step::InSync);
    same.owner = Some(Owner::OtherNamespace);
    let message = stall_message(same.plan(), Reason::GatewayClaimed);
    assert!(message.contains("another namespace") && !message.contains("egress"), "{message}");
}
