//! What a simulator saw: every accepted mutating call (an order) and every request's outcome.
//! Holds ids and codes only, never a secret.

use std::{collections::HashMap, sync::Mutex, time::SystemTime};

use serde::{Deserialize, Serialize};

/// One accepted mutating call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub gateway_id: String,
    pub action: String,
    /// The cloud's order id, or the request id when the cloud has no order.
    pub order_id: String,
    /// What was asked for, e.g. `3000000`.
    pub target: String,
    /// Access key id (not secret) that made the call.
    pub key_id: String,
    pub at_unix_ms: u64,
}

/// One request, whatever its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// The protocol, e.g. `tencent/v2`.
    pub api: String,
    pub action: String,
    pub key_id: Option<String>,
    /// `ok` or the cloud's error code.
    pub outcome: String,
    pub at_unix_ms: u64,
}

#[derive(Debug, Default)]
pub struct Ledger {
    orders: Mutex<Vec<Order>>,
    requests: Mutex<Vec<RequestRecord>>,
    /// When each gateway was first and last named by an accepted call (its id in the request, or
    /// in the answer of a list), in unix milliseconds: one entry per gateway, however many calls.
    seen: Mutex<HashMap<String, (u64, u64)>>,
}

impl Ledger {
    pub fn record_order(&self, order: Order) {
        lock(&self.orders).push(order);
    }

    pub fn record_request(&self, record: RequestRecord) {
        lock(&self.requests).push(record);
    }

    /// Notes that an accepted call named these gateways.
    pub fn saw<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let now = now_unix_ms();
        let mut seen = lock(&self.seen);
        for id in ids {
            match seen.get_mut(id) {
                Some((_, last)) => *last = now,
                None => {
                    seen.insert(id.to_owned(), (now, now));
                }
            }
        }
    }

    /// Gateway id -> unix milliseconds of the first accepted call that named it.
    pub fn first_seen(&self) -> HashMap<String, u64> {
        lock(&self.seen).iter().map(|(id, (first, _))| (id.clone(), *first)).collect()
    }

    /// Gateway id -> unix milliseconds of the latest accepted call that named it.
    pub fn last_seen(&self) -> HashMap<String, u64> {
        lock(&self.seen).iter().map(|(id, (_, last))| (id.clone(), *last)).collect()
    }

    pub fn orders(&self) -> Vec<Order> {
        lock(&self.orders).clone()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.requests).clone()
    }

    pub fn clear(&self) {
        lock(&self.orders).clear();
        lock(&self.requests).clear();
        lock(&self.seen).clear();
    }
}

pub fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
