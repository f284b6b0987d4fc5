//! Fault injection: a queue of faults, each for the next N calls of one action (or of any).
//! Each simulator decides how a fault looks in its own protocol.

use std::sync::Mutex;

use axum::{body::Body, response::Response};
use serde::{Deserialize, Serialize};

/// One injected fault, as the control API takes it, e.g.
/// `{"action":"ResetNatGatewayConnection","times":2,"kind":"error","code":"InternalError"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// The API action it applies to; any action when absent.
    #[serde(default)]
    pub action: Option<String>,
    /// How many matching calls it applies to.
    #[serde(default = "one")]
    pub times: u32,
    #[serde(flatten)]
    pub kind: FaultKind,
}

fn one() -> u32 {
    1
}

fn long() -> u64 {
    // Longer than the operator's 15 s call timeout.
    20_000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FaultKind {
    /// Answer with this cloud error code (and message) instead of handling the call.
    Error {
        code: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// Wait this long, then handle the call normally.
    #[serde(rename_all = "camelCase")]
    Latency { millis: u64 },
    /// Wait longer than the client does. With `apply`, the call is handled first (so a mutating
    /// call takes effect and the client never learns it); without, nothing changes.
    #[serde(rename_all = "camelCase")]
    Timeout {
        #[serde(default = "long")]
        millis: u64,
        #[serde(default)]
        apply: bool,
    },
    /// Handle the call, then break the connection instead of answering.
    DropResponse,
    /// The next order accepted for the action is created, runs, and ends failed.
    FailOrder,
}

/// The queue of pending faults.
#[derive(Debug, Default)]
pub struct Faults {
    queue: Mutex<Vec<Fault>>,
}

impl Faults {
    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.lock().push(fault);
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn pending(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// Takes one use of the first fault for `action` that `wanted` accepts.
    pub fn take(&self, action: &str, wanted: impl Fn(&FaultKind) -> bool) -> Option<FaultKind> {
        let mut queue = self.lock();
        let i = queue.iter().position(|f| f.action.as_deref().is_none_or(|a| a == action) && wanted(&f.kind))?;
        let kind = queue[i].kind.clone();
        queue[i].times -= 1;
        if queue[i].times == 0 {
            queue.remove(i);
        }
        Some(kind)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A response whose body fails before any byte is sent: the client sees the connection break
/// after the headers, as when a reply is lost.
pub fn broken_response() -> Response {
    let body = Body::from_stream(futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("response dropped by fault injection"))
    }));
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_to_their_action_the_given_number_of_times() {
        let faults = Faults::default();
        let f: Fault = serde_json::from_str(r#"{"action":"A","times":2,"kind":"error","code":"X"}"#).unwrap();
        faults.inject(f);
        faults.inject(serde_json::from_str(r#"{"kind":"failOrder"}"#).unwrap());
        assert_eq!(faults.take("B", |k| matches!(k, FaultKind::Error { .. })), None);
        assert!(faults.take("A", |_| true).is_some());
        assert!(faults.take("A", |k| matches!(k, FaultKind::Error { .. })).is_some());
        assert_eq!(faults.take("A", |k| matches!(k, FaultKind::Error { .. })), None);
        assert_eq!(faults.take("B", |k| *k == FaultKind::FailOrder), Some(FaultKind::FailOrder));
        assert!(faults.pending().is_empty());
    }
}
