//! What every API's handlers share: the simulator's state, a call's error and reply, and what
//! happens to an authenticated call (rate limits, injected faults) before and after it is handled.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, response::Response};
use serde_json::Value;

use super::{model, model::SimGateway, nonces::Nonces};
use crate::{
    core::SimCore,
    faults::{FaultKind, broken_response},
    ledger::{Order, RequestRecord, now_unix_ms},
};

/// Shared state of one simulator.
pub(super) struct Sim {
    pub(super) core: Arc<SimCore>,
    pub(super) model: Mutex<model::Model>,
    pub(super) nonces: Nonces,
}

impl Sim {
    pub(super) fn model(&self) -> std::sync::MutexGuard<'_, model::Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seeds a gateway; a new one starts with `tags`, or the default tag when none are given.
    pub(super) fn seed(&self, gateway: SimGateway, tags: Option<BTreeMap<String, String>>) {
        let id = gateway.id.clone();
        self.model().seed(gateway);
        match tags {
            Some(tags) => self.core.tags.replace(&id, tags),
            None if !self.core.tags.knows(&id) => self.core.tags.replace(&id, default_tags()),
            None => {}
        }
    }

    pub(super) fn record_order(&self, gateway_id: &str, action: &str, order_id: &str, target: u64, key_id: &str) {
        self.core.ledger.record_order(Order {
            gateway_id: gateway_id.to_owned(),
            action: action.to_owned(),
            order_id: order_id.to_owned(),
            target: target.to_string(),
            key_id: key_id.to_owned(),
            at_unix_ms: now_unix_ms(),
        });
    }

    /// Whether a `failOrder` fault is queued for this action (consumes it).
    pub(super) fn order_should_fail(&self, action: &str) -> bool {
        self.core.faults.take(action, |k| *k == FaultKind::FailOrder).is_some()
    }
}

/// The tag a gateway seeded without tags carries.
pub const DEFAULT_TAG: (&str, &str) = ("managed-by", "natgw-operator-sim");

pub(super) fn default_tags() -> BTreeMap<String, String> {
    BTreeMap::from([(DEFAULT_TAG.0.to_owned(), DEFAULT_TAG.1.to_owned())])
}

/// A failed call in API 3.0 terms; API 2.0 renders it with its numeric code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CallError {
    pub(super) code: String,
    pub(super) message: String,
}

impl CallError {
    pub(super) fn new(code: &str, message: impl Into<String>) -> CallError {
        CallError { code: code.to_owned(), message: message.into() }
    }
}

/// What to send back once a call is authenticated.
pub(super) enum Reply {
    Done(Result<Value, CallError>),
    /// The call was handled but its answer is lost.
    Dropped,
}

/// Rate limit, injected faults, then the action itself.
pub(super) async fn after_auth(
    sim: &Sim,
    action: &str,
    key_id: &str,
    handle: impl FnOnce(&Sim) -> Result<Value, CallError>,
) -> Reply {
    if let Err(wait) = sim.core.limits.check(key_id, action) {
        return Reply::Done(Err(CallError::new(
            "RequestLimitExceeded",
            format!(
                "Your current request times equals to the limit for {action}; try again in {} ms.",
                wait.as_millis().max(1)
            ),
        )));
    }
    match sim.core.faults.take(action, |k| *k != FaultKind::FailOrder) {
        Some(FaultKind::Error { code, message }) => {
            let message = message.unwrap_or_else(|| format!("injected fault {code}"));
            Reply::Done(Err(CallError { code, message }))
        }
        Some(FaultKind::Latency { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Reply::Done(handle(sim))
        }
        Some(FaultKind::Timeout { millis, apply }) => {
            let result =
                if apply { handle(sim) } else { Err(CallError::new("InternalError", "the request timed out")) };
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Reply::Done(result)
        }
        Some(FaultKind::DropResponse) => {
            // Only the effect matters; the answer is never sent.
            let _ = handle(sim);
            Reply::Dropped
        }
        Some(FaultKind::FailOrder) | None => Reply::Done(handle(sim)),
    }
}

pub(super) fn record_request(sim: &Sim, api: &str, action: &str, key_id: Option<&str>, outcome: &str) {
    sim.core.ledger.record_request(RequestRecord {
        api: api.to_owned(),
        action: action.to_owned(),
        key_id: key_id.map(str::to_owned),
        outcome: outcome.to_owned(),
        at_unix_ms: now_unix_ms(),
    });
}

pub(super) fn now_unix() -> i64 {
    (now_unix_ms() / 1000) as i64
}

/// A random id shaped like Tencent's request ids (a UUID).
pub(super) fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Whether the gateway can take a change now, in API 3.0 terms.
pub(super) fn check_changeable(g: &SimGateway) -> Result<(), CallError> {
    match g.state.as_str() {
        "AVAILABLE" => Ok(()),
        "UPDATING" | "PENDING" => Err(CallError::new(
            "UnsupportedOperation.NatGatewayIsBusy",
            format!("The NAT gateway {} is being changed; try again when it is AVAILABLE.", g.id),
        )),
        other => Err(CallError::new(
            "UnsupportedOperation",
            format!("The NAT gateway {} is {other} and cannot be changed.", g.id),
        )),
    }
}

pub(super) fn check_size(value: u64) -> Result<(), CallError> {
    if model::SIZES.contains(&value) {
        Ok(())
    } else {
        Err(CallError::new(
            "InvalidParameterValue.Range",
            format!("The maximum concurrent connections {value} is not one of 1000000, 3000000, 10000000."),
        ))
    }
}

/// Turns a reply into the HTTP answer; both APIs answer errors with HTTP 200 and an envelope.
pub(super) fn respond(reply: Reply, render: impl FnOnce(Result<Value, CallError>) -> Value) -> Response {
    use axum::response::IntoResponse as _;
    match reply {
        Reply::Done(result) => Json(render(result)).into_response(),
        Reply::Dropped => broken_response(),
    }
}
