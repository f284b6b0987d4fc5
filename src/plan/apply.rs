//! The other half of the state machine: a step, or the cloud's answer to the call a step asked
//! for, applied to the status. Each function updates the status in place and returns what the
//! controller must do around the write: the health to write, the finalizer, when to look again,
//! and the Events and order counts to report once the write succeeded.

use std::time::Duration;

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

use super::{Health, Reason, Step, Target, Wait};
use crate::{
    api::{
        BillingMode, CredentialSource, NatGatewaySpec, NatGatewayStatus, ObservedStatus, OrderAction, OrderPhase,
        OrderStatus, PAUSED_ANNOTATION, Renewal,
    },
    cloud::{CloudError, ErrorKind, OrderTicket, RenewalChange},
    metrics::OrderTransition,
};

/// The finalizer that keeps a deleted resource while an order someone must pay is open.
pub const FINALIZER: &str = "natgw.io/unpaid-order";

/// What the controller knows about the resource besides the step.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub spec: &'a NatGatewaySpec,
    pub generation: i64,
    /// The cloud's label, for order counts.
    pub provider: &'static str,
    /// The resource is being deleted (and kept by [`FINALIZER`]).
    pub deleting: bool,
    /// The status as read at the start of the pass.
    pub previous: &'a NatGatewayStatus,
    pub now: Timestamp,
}

/// Normal or Warning, as `kubectl describe` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

/// Something to report once the status that records it is written: a repeat of a pass whose
/// write failed must not count an order or an Event twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Event(EventType, Reason, String),
    Order { provider: &'static str, action: OrderAction, transition: OrderTransition },
}

/// [`FINALIZER`] work around the status write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalizer {
    /// Add it before the write: the order about to be recorded may need someone to pay it.
    Keep,
    /// Remove it after the write: no open order needs it any more.
    Release,
}

/// When to look at the resource again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// In sync, drifting or stalled on a cause that may clear: the drift-check interval.
    DriftCheck,
    /// An order or a transition runs: the poll interval.
    Poll,
    /// Nobody pays an order within seconds: six poll intervals.
    PaymentPoll,
    /// An order ended: plan again right away (billing, then size).
    Replan,
    /// Only a change to the resource helps.
    AwaitChange,
    /// When the resource's claim has settled (the controller knows since when it holds it).
    ClaimSettle,
    /// A refusal or a failure: the resource's growing backoff, at least `retry_after`.
    Backoff { retry_after: Option<Duration> },
    /// The credentials are at fault: when the Secret changes, or a re-check when no watch tells.
    CredentialsChange { forbidden: bool },
    /// This replica no longer surely leads: end the pass without writing; the leader resumes.
    NotLeader,
}

/// The cloud call a step asks for, made after the status write that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// The change towards this target: one call, one order; its intent is written first.
    Order(Target),
    /// A renewal setting: no order, nothing written first (sending it twice changes nothing).
    Renewal(RenewalChange),
    /// Cancel this unpaid order; that it is being cancelled is written first.
    Cancel(String),
}

/// What to do for one step or answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The health to write with the status; `None`: write nothing.
    pub health: Option<Health>,
    pub finalizer: Option<Finalizer>,
    pub next: Next,
    /// The write ends a run of refusals (in sync, or an order finished).
    pub reset_backoff: bool,
    /// After the write, make this cloud call, then apply its answer ([`answer`],
    /// [`renewal_answer`], [`cancel_answer`]).
    pub call: Option<Call>,
    pub effects: Vec<Effect>,
}

impl Applied {
    fn write(health: Health, next: Next) -> Applied {
        Applied { health: Some(health), ..Applied::write_none(next) }
    }

    fn write_none(next: Next) -> Applied {
        Applied { health: None, finalizer: None, next, reset_backoff: false, call: None, effects: Vec::new() }
    }

    fn event(mut self, type_: EventType, reason: Reason, message: &str) -> Applied {
        self.effects.push(Effect::Event(type_, reason, message.to_owned()));
        self
    }

    fn order(mut self, provider: &'static str, action: OrderAction, transition: OrderTransition) -> Applied {
        self.effects.push(Effect::Order { provider, action, transition });
        self
    }
}

/// The cloud's answer to the call of a [`Step::Submit`].
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Accepted(OrderTicket),
    /// Refused, or lost on the way. `open_order`: the open order of this kind the cloud holds for
    /// the gateway, when [`looks_for_open_order`] asked the controller to look.
    Failed {
        error: CloudError,
        open_order: Option<String>,
    },
}

/// Whether the controller should ask the cloud for an open order after this refusal: a busy
/// gateway may be busy with an order of ours whose record was lost (the resource was deleted and
/// created again), to be followed rather than waited for blindly.
pub fn looks_for_open_order(error: &CloudError) -> bool {
    error.kind == ErrorKind::Busy
}

/// An order of ours that has not finished.
pub fn is_open(order: &OrderStatus) -> bool {
    !matches!(order.phase, OrderPhase::Succeeded | OrderPhase::Failed | OrderPhase::Cancelled)
}

/// The action of a recorded intent whose answer was lost (no order id): the controller asks the
/// cloud for an order that call may have placed, and [`adopt`]s it.
pub fn lost_intent(status: &NatGatewayStatus) -> Option<OrderAction> {
    status.order.as_deref().filter(|o| o.phase == OrderPhase::Submitting && o.id.is_none()).map(|o| o.action)
}

/// Follows the order `id` the cloud holds for a lost intent instead of ordering again.
pub fn adopt(status: &mut NatGatewayStatus, id: String) {
    if let Some(order) = status.order.as_mut() {
        order.id = Some(id);
        order.phase = OrderPhase::InProgress;
    }
}

/// Applies `step` to `status`.
pub fn apply(step: Step, facts: &Facts<'_>, status: &mut NatGatewayStatus) -> Applied {
    let open = status.order.as_deref().filter(|o| is_open(o)).cloned();
    // A resource being deleted only follows its open order to the end (or keeps it while paused);
    // with none left, it lets go at once.
    let keeps = match step {
        Step::Wait(_) | Step::Finish { .. } | Step::DropIntent { .. } | Step::CancelOrder { .. } => true,
        Step::Paused => open.is_some(),
        _ => false,
    };
    if facts.deleting && !keeps {
        return Applied { finalizer: Some(Finalizer::Release), ..Applied::write_none(Next::AwaitChange) };
    }
    match step {
        // The controller reads the cloud and plans again before it applies anything.
        Step::Read => Applied::write_none(Next::Replan),
        Step::Paused => paused(open.as_ref(), facts),
        // At rest, a claim needs no settling: the status says in sync at once.
        Step::InSync | Step::Claim { in_sync: true } => {
            let message = format!("the gateway is {} and {}", facts.spec.size, billing_words(facts.spec, status));
            Applied { reset_backoff: true, ..Applied::write(Health::Ready { message }, Next::DriftCheck) }
        }
        // The controller tags the gateway and looks again once the tag settled; a tag is no order,
        // so nothing is recorded first, and the next pass reads what it did.
        Step::Claim { in_sync: false } | Step::ConfirmClaim => Applied::write_none(Next::ClaimSettle),
        // Nothing to record before the call: the next pass reads what it changed.
        Step::Renew { change } => Applied { call: Some(Call::Renewal(change)), ..Applied::write_none(Next::Replan) },
        Step::CancelOrder { id } => {
            let Some(order) = status.order.as_mut() else {
                return Applied::write_none(Next::Replan);
            };
            order.phase = OrderPhase::Cancelling;
            let message = format!(
                "the spec no longer asks for the unpaid {} order to {} ({id}): cancelling it at the cloud, then planning what the spec asks for",
                order.action, order.target
            );
            let applied = Applied::write(
                Health::Progressing { reason: Reason::CancellingOrder, message: message.clone() },
                Next::Poll,
            )
            .event(EventType::Normal, Reason::CancellingOrder, &message);
            Applied { call: Some(Call::Cancel(id)), finalizer: Some(Finalizer::Keep), ..applied }
        }
        Step::Drift { message } => {
            Applied { reset_backoff: true, ..Applied::write(Health::Drift { message }, Next::DriftCheck) }
        }
        Step::Wait(wait) => waiting(wait, open.as_ref(), facts, status),
        Step::DropIntent { message } => {
            status.order = None;
            let applied = Applied::write(
                Health::Progressing { reason: Reason::Replanning, message: message.clone() },
                after_order(facts),
            )
            .event(EventType::Normal, Reason::IntentDropped, &message);
            Applied { finalizer: Some(Finalizer::Release), ..applied }
        }
        Step::Finish { phase, message } => {
            let health = match phase {
                OrderPhase::Succeeded => {
                    Health::Progressing { reason: Reason::OrderSucceeded, message: message.clone() }
                }
                OrderPhase::Cancelled => {
                    Health::Progressing { reason: Reason::OrderCancelled, message: message.clone() }
                }
                _ => Health::Stalled { reason: Reason::OrderFailed, message: message.clone() },
            };
            let mut applied = Applied {
                finalizer: Some(Finalizer::Release),
                reset_backoff: true,
                ..Applied::write(health, after_order(facts))
            };
            if phase == OrderPhase::Succeeded {
                applied.effects.extend(too_late(open.as_ref()));
            }
            if let Some(mut order) = status.order.take() {
                order.phase = phase;
                order.finished_at = Some(Time(facts.now));
                order.message = Some(message.clone());
                let (type_, reason, transition) = match phase {
                    OrderPhase::Succeeded => (EventType::Normal, Reason::OrderSucceeded, OrderTransition::Succeeded),
                    OrderPhase::Cancelled => (EventType::Normal, Reason::OrderCancelled, OrderTransition::Cancelled),
                    _ => (EventType::Warning, Reason::OrderFailed, OrderTransition::Failed),
                };
                applied = applied.event(type_, reason, &message).order(facts.provider, order.action, transition);
                status.last_order = Some(order);
            }
            applied
        }
        Step::Stall { reason, message } => {
            // Causes the spec alone can fix wait for a change; the others are re-read slowly.
            let next = if reason == Reason::UnsupportedSize { Next::AwaitChange } else { Next::DriftCheck };
            stall(reason, message, next, facts)
        }
        Step::Submit { target, attempt } => {
            let intent = OrderStatus {
                action: target.action(),
                target: target.into(),
                attempt,
                id: None,
                request_id: None,
                generation: Some(facts.generation),
                phase: OrderPhase::Submitting,
                submitted_at: Time(facts.now),
                finished_at: None,
                message: None,
            };
            status.order = Some(Box::new(intent));
            let message = format!("submitting {} to {target}", target.action());
            // If this write fails nothing was ordered; the retry plans afresh.
            Applied {
                // An order someone must pay by hand can outlive a deletion: keep the resource until then.
                finalizer: (!crate::cloud::auto_pay(facts.spec)).then_some(Finalizer::Keep),
                call: Some(Call::Order(target)),
                ..Applied::write(Health::Progressing { reason: Reason::OrderSubmitting, message }, Next::Poll)
            }
        }
    }
}

/// The billing of an in-sync gateway in words: the declared mode, or for a yearly/monthly
/// gateway its period's end and what happens then (`Prepaid until 2027-01-07, then pay-per-use`).
fn billing_words(spec: &NatGatewaySpec, status: &NatGatewayStatus) -> String {
    let observed = status.observed.as_ref().filter(|o| o.billing_mode == Some(BillingMode::Prepaid));
    let Some(ObservedStatus { expires_at, renewal, .. }) = observed else {
        return spec.billing_mode().to_string();
    };
    let until = expires_at.as_ref().map(|t| format!(" until {}", t.0.strftime("%Y-%m-%d"))).unwrap_or_default();
    let then = match renewal {
        Some(Renewal::Auto) => ", renewed automatically",
        Some(Renewal::Manual) => ", not renewed automatically",
        Some(Renewal::PayPerUseAtExpiry) => ", then pay-per-use",
        None => "",
    };
    format!("Prepaid{until}{then}")
}

/// After an order ended (or an unsent intent was dropped): a deleted resource goes, others plan
/// again right away.
fn after_order(facts: &Facts<'_>) -> Next {
    if facts.deleting { Next::AwaitChange } else { Next::Replan }
}

fn waiting(wait: Wait, open: Option<&OrderStatus>, facts: &Facts<'_>, status: &mut NatGatewayStatus) -> Applied {
    if let Some(order) = status.order.as_mut() {
        order.phase = match wait {
            Wait::AwaitingPayment => OrderPhase::AwaitingPayment,
            _ => OrderPhase::InProgress,
        };
    }
    let mut message = wait_message(wait, open);
    let mut effects = Vec::new();
    let mut finalizer = None;
    if wait == Wait::AwaitingPayment {
        // An order someone must pay outlives a deletion: keep the resource until then.
        finalizer = Some(Finalizer::Keep);
        if let Some(o) = open.filter(|o| o.phase != OrderPhase::AwaitingPayment) {
            effects.push(Effect::Event(EventType::Warning, Reason::AwaitingPayment, message.clone()));
            effects.push(Effect::Order {
                provider: facts.provider,
                action: o.action,
                transition: OrderTransition::AwaitingPayment,
            });
        }
    }
    if wait != Wait::AwaitingPayment {
        effects.extend(too_late(open));
    }
    let mut reason = wait.reason();
    if facts.deleting && open.is_some() {
        reason = Reason::DeletionWaitsForOrder;
        message = format!(
            "{message}; the NatGateway was deleted and is kept (finalizer {FINALIZER}) until this order is paid or cancelled in the cloud; remove the finalizer to let it go now and leave the order to the billing center"
        );
        if previous_reason(facts.previous, "Ready") != Some(reason.as_str()) {
            effects.push(Effect::Event(EventType::Warning, reason, message.clone()));
        }
    }
    let next = if wait == Wait::AwaitingPayment { Next::PaymentPoll } else { Next::Poll };
    Applied { finalizer, effects, ..Applied::write(Health::Progressing { reason, message }, next) }
}

/// The Event of an order someone paid while the operator was cancelling it (it is followed to its
/// end instead), when `open` is that order.
fn too_late(open: Option<&OrderStatus>) -> Option<Effect> {
    let o = open.filter(|o| o.phase == OrderPhase::Cancelling)?;
    let message = format!(
        "{} was paid before it could be cancelled; it is followed to its end, then what the spec asks for is planned from the gateway as it is then",
        order_words(o)
    );
    Some(Effect::Event(EventType::Warning, Reason::CancelTooLate, message))
}

/// A paused resource: nothing is read, ordered or polled until the annotation goes; an open order
/// stays in status to be followed afterwards. Woken only by a change to the resource.
fn paused(open: Option<&OrderStatus>, facts: &Facts<'_>) -> Applied {
    let annotation = format!("{PAUSED_ANNOTATION}: \"true\"");
    let mut message = match open {
        Some(o) => format!(
            "paused by the annotation {annotation} while {} is open: the order is not polled and stays in status.order; remove the annotation to follow it again (it is never placed twice)",
            order_words(o)
        ),
        None => format!(
            "paused by the annotation {annotation}: no cloud call (no read, change or order poll) until it is removed"
        ),
    };
    if facts.deleting {
        message = format!(
            "{message}; the NatGateway was deleted and is kept (finalizer {FINALIZER}) until the annotation is removed and the order ends, or remove the finalizer to let it go now and leave the order to the billing center"
        );
    }
    // Ready still holds when the gateway was as declared at this very spec and nothing is open.
    let ready = open.is_none()
        && facts
            .previous
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True" && c.observed_generation == Some(facts.generation));
    Applied::write(Health::Paused { message, ready }, Next::AwaitChange)
}

/// The Event of a pause that starts or ends with this write: `before` are the conditions it
/// replaces, `health` what it writes.
pub fn pause_event(before: &[Condition], health: &Health) -> Option<Effect> {
    let was = before.iter().any(|c| c.type_ == "Reconciling" && c.reason == Reason::Paused.as_str());
    match (was, matches!(health, Health::Paused { .. })) {
        (false, true) => Some(Effect::Event(EventType::Normal, Reason::Paused, health.message().to_owned())),
        (true, false) => Some(Effect::Event(
            EventType::Normal,
            Reason::Resumed,
            format!("the annotation {PAUSED_ANNOTATION} is gone: the operator calls the cloud again"),
        )),
        _ => None,
    }
}

/// `Resize to Medium (order 123)`.
fn order_words(o: &OrderStatus) -> String {
    let id = o.id.as_deref().or(o.request_id.as_deref()).map(|id| format!(" (order {id})")).unwrap_or_default();
    format!("{} to {}{id}", o.action, o.target)
}

fn wait_message(wait: Wait, open: Option<&OrderStatus>) -> String {
    let order = open.map(order_words);
    match (wait, order) {
        (Wait::AwaitingPayment, Some(o)) => {
            format!(
                "{o} is waiting for payment; pay it in the cloud console's billing center and the operator continues"
            )
        }
        (Wait::OrderInProgress, Some(o)) => format!("{o} is in progress"),
        (Wait::GatewayTransitioning, Some(o)) => format!("{o}: the gateway is applying the change"),
        (_, None) => {
            "the gateway is changing (a change made outside the operator); waiting for it to settle".to_owned()
        }
    }
}

/// Applies the cloud's answer to the call of a [`Step::Submit`] (whose intent is in `status`).
pub fn answer(answer: Answer, facts: &Facts<'_>, status: &mut NatGatewayStatus) -> Applied {
    let Some(intent) = status.order.as_deref() else {
        return Applied::write_none(Next::Poll);
    };
    let (action, what) = (intent.action, format!("{} to {}", intent.action, intent.target));
    let (error, open_order) = match answer {
        Answer::Accepted(ticket) => {
            let shown_id = ticket.order_id.clone().or(ticket.request_id.clone()).unwrap_or_default();
            if let Some(order) = status.order.as_mut() {
                order.id = ticket.order_id;
                order.request_id = ticket.request_id;
                order.phase = OrderPhase::InProgress;
            }
            let message = format!("{what} submitted (order {shown_id})");
            return Applied::write(
                Health::Progressing { reason: Reason::OrderInProgress, message: message.clone() },
                Next::Poll,
            )
            .event(EventType::Normal, Reason::OrderSubmitted, &message)
            .order(facts.provider, action, OrderTransition::Submitted);
        }
        Answer::Failed { error, open_order } => (error, open_order),
    };
    // Nothing was sent; the intent stays for the replica that leads now to resolve.
    if error.kind == ErrorKind::NotLeader {
        return Applied::write_none(Next::NotLeader);
    }
    if error.kind.outcome_unknown() {
        // The cloud may have applied it: keep the intent, the next pass checks the gateway.
        if let Some(order) = status.order.as_mut() {
            order.message = Some(format!("outcome unknown: {error}"));
        }
        let message =
            format!("{what}: the cloud's answer was lost ({error}); checking the gateway before anything else");
        let next = Next::Backoff { retry_after: error.retry_after };
        return Applied::write(Health::Retrying { reason: Reason::CloudUnavailable, message: message.clone() }, next)
            .event(EventType::Warning, Reason::OrderOutcomeUnknown, &message);
    }
    // A definite refusal: nothing was ordered by this call.
    if let Some(id) = open_order
        && let Some(order) = status.order.as_mut()
    {
        order.id = Some(id.clone());
        order.phase = OrderPhase::InProgress;
        let message = format!(
            "{what}: the cloud already holds an open order {id} of this kind for this gateway; following it instead of ordering again"
        );
        return Applied::write(
            Health::Progressing { reason: Reason::OrderInProgress, message: message.clone() },
            Next::Poll,
        )
        .event(EventType::Normal, Reason::OrderAdopted, &message);
    }
    let mut order = status.order.take();
    let mut failed = None;
    if error.kind.is_terminal()
        && let Some(o) = order.as_mut()
    {
        o.phase = OrderPhase::Failed;
        o.finished_at = Some(Time(facts.now));
        o.message = Some(error.to_string());
        status.last_order = order;
        failed = Some(action);
    }
    let applied = cloud_error(error, facts);
    match failed {
        Some(action) => Applied {
            effects: [Effect::Order { provider: facts.provider, action, transition: OrderTransition::Failed }]
                .into_iter()
                .chain(applied.effects)
                .collect(),
            ..applied
        },
        None => applied,
    }
}

/// Applies the answer to a [`Call::Renewal`]. Accepted: recorded with an Event, and the next
/// pass reads the gateway again (the change is confirmed by what the cloud then reports).
pub fn renewal_answer(change: RenewalChange, result: Result<(), CloudError>, facts: &Facts<'_>) -> Applied {
    if let Err(e) = result {
        return cloud_error(e, facts);
    }
    let message = match change {
        RenewalChange::EnableAutoRenew => "auto-renewal turned on, as spec.billing.prepaid.autoRenew declares",
        RenewalChange::DisableAutoRenew => "auto-renewal turned off, as spec.billing declares",
        RenewalChange::PayPerUseAtExpiry => {
            "set to become pay-per-use at expiry, as spec.billing declares: no order, the period already paid is used up"
        }
        RenewalChange::KeepAtExpiry => {
            "no longer becomes pay-per-use at expiry, as spec.billing.mode: Prepaid declares"
        }
    };
    Applied::write(Health::Progressing { reason: Reason::RenewalChanged, message: message.to_owned() }, Next::Replan)
        .event(EventType::Normal, Reason::RenewalChanged, message)
}

/// Applies the answer to a [`Call::Cancel`]. Whatever it is (but a lost lease or refused
/// credentials), the order's own status decides next: cancelled, still unpaid (cancelled again),
/// or paid meanwhile (followed). A refusal is shown and the look is backed off.
pub fn cancel_answer(result: Result<(), CloudError>, facts: &Facts<'_>, status: &NatGatewayStatus) -> Applied {
    let e = match result {
        Ok(()) => return Applied::write_none(Next::Replan),
        Err(e) if matches!(e.kind, ErrorKind::NotLeader | ErrorKind::Auth) => return cloud_error(e, facts),
        Err(e) => e,
    };
    let what = status.order.as_deref().map(order_words).unwrap_or_else(|| "the order".to_owned());
    let message = format!("cancelling {what} failed ({e}); checking the order's status before trying again");
    Applied::write(
        Health::Retrying { reason: Reason::of_cloud_error(&e), message },
        Next::Backoff { retry_after: e.retry_after },
    )
}

/// A failed cloud call (or a spec refused before any call): stalled when only a change to the
/// spec or the Secret can help, else retried with backoff.
pub fn cloud_error(e: CloudError, facts: &Facts<'_>) -> Applied {
    if e.kind == ErrorKind::NotLeader {
        return Applied::write_none(Next::NotLeader);
    }
    let reason = Reason::of_cloud_error(&e);
    let advice = match e.kind {
        ErrorKind::Auth => match facts.spec.credential_source() {
            Ok(CredentialSource::Secret(secret)) => {
                format!("; check the credentials in Secret {} and their permissions", secret.name)
            }
            Ok(CredentialSource::WorkloadIdentity(identity)) => format!(
                "; check the permissions of the cloud role that ServiceAccount {} assumes",
                identity.service_account_name
            ),
            Err(_) => "; check the credentials".to_owned(),
        },
        ErrorKind::InsufficientFunds => {
            "; top up the cloud account, then change the spec or the Secret to retry".to_owned()
        }
        ErrorKind::InvalidRequest | ErrorKind::Unsupported | ErrorKind::NotFound => "; fix the spec".to_owned(),
        _ => "; retrying with backoff".to_owned(),
    };
    let message = format!("{e}{advice}");
    if e.kind.is_terminal() {
        // Only a spec or Secret change can help; both re-trigger us where Secrets are watched.
        let next =
            if e.kind == ErrorKind::Auth { Next::CredentialsChange { forbidden: false } } else { Next::AwaitChange };
        stall(reason, message, next, facts)
    } else {
        Applied::write(Health::Retrying { reason, message }, Next::Backoff { retry_after: e.retry_after })
    }
}

/// `Stalled` with `reason`; an Event only when the stall is new or says something new.
pub fn stall(reason: Reason, mut message: String, next: Next, facts: &Facts<'_>) -> Applied {
    if facts.deleting && facts.previous.order.as_deref().is_some_and(is_open) {
        message = format!(
            "{message}; the NatGateway is being deleted and is kept (finalizer {FINALIZER}) while its order is open: remove the finalizer to let it go now"
        );
    }
    let previous = facts.previous.conditions.iter().find(|c| c.type_ == "Stalled");
    let news = previous.is_none_or(|c| c.status != "True" || c.reason != reason.as_str() || c.message != message);
    let applied = Applied::write(Health::Stalled { reason, message: message.clone() }, next);
    if news { applied.event(EventType::Warning, reason, &message) } else { applied }
}

/// The reason of the condition `type_` as last written.
fn previous_reason<'a>(previous: &'a NatGatewayStatus, type_: &str) -> Option<&'a str> {
    previous.conditions.iter().find(|c| c.type_ == type_).map(|c| c.reason.as_str())
}
