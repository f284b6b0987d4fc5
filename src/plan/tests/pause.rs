//! `natgw.io/paused` in [`plan`] and [`apply`]: it wins over every other input, read or not, keeps
//! an open order as it is, and picks the conditions kstatus and Argo CD read. The reconcile model
//! of the parent module pauses and resumes at random on top (`Op::Pause`).

use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Every kind of open order: an intent, a pollable order running, one waiting for payment.
fn open_orders() -> [Option<OrderStatus>; 4] {
    [
        None,
        Some(order(OrderAction::Resize, "Medium", OrderPhase::Submitting, None, 1, GEN)),
        Some(order(OrderAction::Resize, "Medium", OrderPhase::InProgress, Some("o-1"), 1, GEN)),
        Some(order(OrderAction::ChangeBilling, "Prepaid", OrderPhase::AwaitingPayment, Some("o-2"), 1, GEN)),
    ]
}

fn condition(type_: &str, status: &str, reason: &str, generation: i64) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: Some(generation),
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
    }
}

/// Table: provider x policy x open order x what was read (nothing, no gateway, each state) x owner.
/// Paused: always `Paused`. Not paused and not read yet: always `Read`, whatever else holds.
#[test]
fn paused_wins_over_everything_and_unread_passes_read_first() {
    let states = [GatewayState::Ready, GatewayState::Transitioning, GatewayState::Unavailable];
    for kind in KINDS {
        for policy in POLICIES {
            for open in open_orders() {
                for owner in [None, Some(Owner::SameNamespace("egress")), Some(Owner::OtherNamespace)] {
                    let mut observations: Vec<Option<Observed>> =
                        states.iter().map(|s| Some(gateway(kind, Seen::Size(Size::Small), PayPerUse, *s))).collect();
                    observations.push(None);
                    for observed in observations {
                        let mut case = Case::new(spec(kind, Size::Medium, PayPerUse, policy), kind, observed);
                        case.order = open.clone();
                        case.order_state = open.as_ref().and(Some(OrderState::Succeeded));
                        case.owner = owner;
                        let context = format!("{kind:?} {policy:?} {open:?} {:?}", case.observed);
                        assert_eq!(case.plan_with(Observation::Unread), Step::Read, "{context}");
                        case.paused = true;
                        assert_eq!(case.plan_with(Observation::Unread), Step::Paused, "{context}");
                        assert_eq!(case.plan(), Step::Paused, "{context}");
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// (g) Paused: whatever the inputs, the step is `Paused`, and applying it calls nothing, keeps
    /// any order as it is and looks again only when the resource changes.
    #[test]
    fn a_paused_resource_calls_nothing(mut case in any_case(), deleting in any::<bool>(), read in any::<bool>()) {
        case.paused = true;
        let step = if read { case.plan() } else { case.plan_with(Observation::Unread) };
        prop_assert_eq!(&step, &Step::Paused);
        let mut status = NatGatewayStatus { order: case.order.clone().map(Box::new), ..Default::default() };
        let previous = status.clone();
        let applied = apply(step, &facts(&case.spec, &previous, deleting), &mut status);
        prop_assert_eq!(applied.call, None);
        prop_assert_eq!(&status, &previous);
        let open = case.order.as_ref().is_some_and(is_open);
        // Never lose an open order: a deleted resource keeps its finalizer while one is open.
        prop_assert_eq!(applied.finalizer, (deleting && !open).then_some(Finalizer::Release));
        prop_assert_eq!(applied.next, Next::AwaitChange);
    }
}

/// Which conditions a pause writes: Ready stays True only if the gateway was Ready at this very
/// generation and nothing is open (kstatus: Current); else Stalled (kstatus: Failed, never
/// InProgress for ever).
#[test]
fn the_pause_keeps_ready_only_when_nothing_is_pending() {
    let want = manage(TENCENT_V3, Size::Medium, PayPerUse);
    let ready_at = |generation| NatGatewayStatus {
        conditions: vec![condition("Ready", "True", "InSync", generation)],
        ..Default::default()
    };
    let awaiting = order(OrderAction::ChangeBilling, "Prepaid", OrderPhase::AwaitingPayment, Some("CS-9"), 1, GEN);
    let rows: [(NatGatewayStatus, bool); 4] = [
        (ready_at(GEN), true),
        (ready_at(GEN - 1), false),           // the spec changed since it was Ready
        (NatGatewayStatus::default(), false), // paused before the first reconcile
        (NatGatewayStatus { order: Some(Box::new(awaiting)), ..ready_at(GEN) }, false),
    ];
    for (previous, ready) in rows {
        let mut status = previous.clone();
        let applied = apply(Step::Paused, &facts(&want, &previous, false), &mut status);
        let Some(Health::Paused { message, ready: got }) = applied.health else {
            panic!("not paused: {applied:?}");
        };
        assert_eq!(got, ready, "{previous:?}");
        assert!(message.contains("natgw.io/paused"), "{message}");
        if let Some(o) = &previous.order {
            assert!(message.contains("(order CS-9)") && message.contains("never placed twice"), "{message}");
            assert_eq!(status.order.as_deref(), Some(o.as_ref()), "the order stays as it was");
        } else {
            assert!(message.contains("no cloud call"), "{message}");
        }
    }
}

/// Deleted while paused: an open order keeps the resource (and says how to let it go); with none,
/// it goes at once without a cloud call.
#[test]
fn a_deleted_paused_resource_waits_only_for_an_open_order() {
    let want = manage(HUAWEI, Size::Medium, PrepaidMode);
    let awaiting = order(OrderAction::Resize, "Medium", OrderPhase::AwaitingPayment, Some("CS-9"), 1, GEN);
    let previous = NatGatewayStatus { order: Some(Box::new(awaiting)), ..Default::default() };
    let mut status = previous.clone();
    let applied = apply(Step::Paused, &facts(&want, &previous, true), &mut status);
    assert_eq!(applied.finalizer, None, "kept");
    let message = applied.health.as_ref().map(|h| h.message().to_owned()).unwrap_or_default();
    assert!(message.contains("deleted") && message.contains("remove the finalizer"), "{message}");
    assert_eq!(status, previous);

    let previous = NatGatewayStatus::default();
    let mut status = previous.clone();
    let applied = apply(Step::Paused, &facts(&want, &previous, true), &mut status);
    assert_eq!((applied.finalizer, applied.health), (Some(Finalizer::Release), None));
}

/// One Event when a pause starts and one when it ends; none while it lasts or when there is none.
#[test]
fn pause_events_mark_the_start_and_the_end() {
    let paused = vec![condition("Reconciling", "False", "Paused", GEN)];
    let working = vec![condition("Reconciling", "True", "OrderInProgress", GEN)];
    let pause = Health::Paused { message: "paused by the annotation".into(), ready: false };
    let progress = Health::Progressing { reason: Reason::OrderInProgress, message: "m".into() };
    let reason = |e: Option<Effect>| {
        e.map(|e| match e {
            Effect::Event(EventType::Normal, reason, _) => reason,
            other => panic!("{other:?}"),
        })
    };
    assert_eq!(reason(pause_event(&working, &pause)), Some(Reason::Paused));
    assert_eq!(reason(pause_event(&[], &pause)), Some(Reason::Paused));
    assert_eq!(reason(pause_event(&paused, &progress)), Some(Reason::Resumed));
    assert_eq!(pause_event(&paused, &pause), None);
    assert_eq!(pause_event(&working, &progress), None);
}
