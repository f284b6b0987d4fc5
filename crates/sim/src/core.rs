//! The state every simulator has besides its gateways: accepted credentials (long-lived, and the
//! temporary ones its STS issued, with their expiry), rate limits, faults, the ledger and the
//! federation settings, the account each key belongs to and the gateways' tags ([`TagStore`]),
//! plus the `/_sim/...` control routes over them.

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post, put},
};
use serde::{Deserialize, Serialize};

use super::{
    faults::{Fault, Faults},
    federation::Federation,
    ledger::{Ledger, Order, RequestRecord},
    ratelimit::RateLimits,
    tags::TagStore,
};

/// The account (a Tencent uin) a key belongs to unless told otherwise.
pub const DEFAULT_ACCOUNT: &str = "100000000001";

/// Who a key is: its account and, for temporary keys from a role, the role and session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPrincipal {
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<AssumedRole>,
}

/// A role a temporary key was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssumedRole {
    pub role_arn: String,
    pub session_name: String,
}

/// One access key pair the simulator accepts.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimCredential {
    pub key_id: String,
    pub secret: String,
    /// When set, requests must carry this session token.
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for SimCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCredential").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SimCredential {
    /// Parses `ID:KEY` or `ID:KEY:TOKEN`, as the command line takes it.
    pub fn parse(s: &str) -> Result<SimCredential, String> {
        let mut parts = s.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(key), token) if !id.is_empty() && !key.is_empty() => {
                Ok(SimCredential { key_id: id.to_owned(), secret: key.to_owned(), token: token.map(str::to_owned) })
            }
            _ => Err("expected ID:KEY or ID:KEY:TOKEN".to_owned()),
        }
    }
}

#[derive(Debug, Default)]
pub struct SimCore {
    credentials: Mutex<HashMap<String, SimCredential>>,
    /// Unix seconds after which a temporary credential (by key id) is refused.
    expiries: Mutex<HashMap<String, u64>>,
    pub limits: RateLimits,
    pub faults: Faults,
    pub ledger: Ledger,
    /// Shared with its control routes ([`crate::federation::control_routes`]).
    pub federation: Arc<Federation>,
    /// Key id -> who it is; a key not listed belongs to [`DEFAULT_ACCOUNT`]. Kept beside the
    /// credentials rather than in [`SimCredential`], whose literal constructions live in other
    /// crates.
    principals: Mutex<HashMap<String, SimPrincipal>>,
    /// Every simulated resource's tags, with the eventual consistency of tag writes; shared with
    /// their control routes ([`crate::tags::control_routes`]).
    pub tags: Arc<TagStore>,
}

impl SimCore {
    pub fn new(credentials: Vec<SimCredential>, limits: HashMap<String, u32>) -> SimCore {
        let core = SimCore { limits: RateLimits::new(limits), ..SimCore::default() };
        for c in credentials {
            core.add_credential(c);
        }
        core
    }

    pub fn add_credential(&self, credential: SimCredential) {
        self.lock_expiries().remove(&credential.key_id);
        self.lock_credentials().insert(credential.key_id.clone(), credential);
    }

    /// A credential the simulator's STS issued, accepted until `expires_at` (unix seconds).
    pub fn add_temporary_credential(&self, credential: SimCredential, expires_at: u64) {
        let issued = [Some(&credential.key_id), Some(&credential.secret), credential.token.as_ref()];
        for value in issued.into_iter().flatten() {
            self.federation.remember(value);
        }
        self.lock_expiries().insert(credential.key_id.clone(), expires_at);
        self.lock_credentials().insert(credential.key_id.clone(), credential);
    }

    /// Whether `key_id` is a temporary credential past its expiry.
    pub fn expired(&self, key_id: &str) -> bool {
        self.lock_expiries().get(key_id).is_some_and(|at| crate::oidc::unix_now() >= *at)
    }

    fn lock_expiries(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.expiries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the account `key_id` belongs to (a long-lived key: no role).
    pub fn set_account(&self, key_id: &str, account: &str) {
        self.set_principal(key_id, SimPrincipal { account: account.to_owned(), role: None });
    }

    pub fn set_principal(&self, key_id: &str, principal: SimPrincipal) {
        self.principals.lock().unwrap_or_else(|e| e.into_inner()).insert(key_id.to_owned(), principal);
    }

    /// Who `key_id` is: [`DEFAULT_ACCOUNT`] unless set.
    pub fn principal(&self, key_id: &str) -> SimPrincipal {
        self.principals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key_id)
            .cloned()
            .unwrap_or_else(|| SimPrincipal { account: DEFAULT_ACCOUNT.to_owned(), role: None })
    }

    pub fn credential(&self, key_id: &str) -> Option<SimCredential> {
        self.lock_credentials().get(key_id).cloned()
    }

    fn lock_credentials(&self) -> std::sync::MutexGuard<'_, HashMap<String, SimCredential>> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Routes shared by all simulators (JSON):
/// - `POST /_sim/faults` (a [`Fault`]), `GET /_sim/faults`, `DELETE /_sim/faults`
/// - `GET /_sim/ledger` (orders), `GET /_sim/requests`, `GET /_sim/first-seen` (gateway id ->
///   unix ms of the first call naming it), `DELETE /_sim/ledger` (all three)
/// - `GET|PUT /_sim/ratelimits` (`{"Action": perSecond}`, 0 lifts a limit)
/// - `POST /_sim/credentials` (`{"keyId","secret","token"?,"account"?}`; the account, a uin,
///   defaults to [`DEFAULT_ACCOUNT`])
/// - `GET|PUT /_sim/tag-delay` (`{"millis": N}`): how long a tag write takes to become visible
///   ([`TagStore`])
/// - the federation routes of [`crate::federation::control_routes`]
pub fn control_routes(core: Arc<SimCore>) -> Router {
    Router::new()
        .route("/_sim/faults", post(inject_fault).get(list_faults).delete(clear_faults))
        .route("/_sim/ledger", get(orders).delete(clear_ledger))
        .route("/_sim/requests", get(requests))
        .route("/_sim/first-seen", get(first_seen))
        .route("/_sim/ratelimits", put(set_limits).get(get_limits))
        .route("/_sim/credentials", post(add_credential))
        .route("/_sim/tag-delay", put(set_tag_delay).get(get_tag_delay))
        .with_state(core.clone())
        .merge(crate::federation::control_routes(core.federation.clone()))
}

async fn inject_fault(State(core): State<Arc<SimCore>>, Json(fault): Json<Fault>) -> StatusCode {
    core.faults.inject(fault);
    StatusCode::NO_CONTENT
}

async fn list_faults(State(core): State<Arc<SimCore>>) -> Json<Vec<Fault>> {
    Json(core.faults.pending())
}

async fn clear_faults(State(core): State<Arc<SimCore>>) -> StatusCode {
    core.faults.clear();
    StatusCode::NO_CONTENT
}

async fn orders(State(core): State<Arc<SimCore>>) -> Json<Vec<Order>> {
    Json(core.ledger.orders())
}

async fn requests(State(core): State<Arc<SimCore>>) -> Json<Vec<RequestRecord>> {
    Json(core.ledger.requests())
}

async fn first_seen(State(core): State<Arc<SimCore>>) -> Json<HashMap<String, u64>> {
    Json(core.ledger.first_seen())
}

async fn clear_ledger(State(core): State<Arc<SimCore>>) -> StatusCode {
    core.ledger.clear();
    StatusCode::NO_CONTENT
}

async fn set_limits(State(core): State<Arc<SimCore>>, Json(limits): Json<HashMap<String, u32>>) -> StatusCode {
    for (action, per_second) in limits {
        core.limits.set(&action, per_second);
    }
    StatusCode::NO_CONTENT
}

async fn get_limits(State(core): State<Arc<SimCore>>) -> Json<HashMap<String, u32>> {
    Json(core.limits.limits())
}

/// `POST /_sim/credentials`: a credential and, optionally, its account.
#[derive(Deserialize)]
struct NewCredential {
    #[serde(flatten)]
    credential: SimCredential,
    #[serde(default)]
    account: Option<String>,
}

async fn add_credential(State(core): State<Arc<SimCore>>, Json(new): Json<NewCredential>) -> StatusCode {
    if let Some(account) = &new.account {
        core.set_account(&new.credential.key_id, account);
    }
    core.add_credential(new.credential);
    StatusCode::NO_CONTENT
}

#[derive(Serialize, Deserialize)]
struct TagDelay {
    millis: u64,
}

async fn set_tag_delay(State(core): State<Arc<SimCore>>, Json(delay): Json<TagDelay>) -> StatusCode {
    core.tags.set_delay(std::time::Duration::from_millis(delay.millis));
    StatusCode::NO_CONTENT
}

async fn get_tag_delay(State(core): State<Arc<SimCore>>) -> Json<TagDelay> {
    Json(TagDelay { millis: core.tags.delay().as_millis() as u64 })
}
