//! A simulator of Huawei Cloud NAT v2, BSS and IAM, all on one port, for the calls the operator
//! makes: `ListNatGateways` (`limit` 0-2000, `marker`), `ShowNatGateway`, `UpdateNatGateway`, `UpdateNatGatewayToPeriod`,
//! `ShowCustomerOrderDetails`, `ListCustomerOrders`, `ListPayPerUseCustomerResources`, `PayOrders`,
//! `AutoRenewalResources`, `CancelAutoRenewalResources`, `UpdatePeriodToOnDemand`,
//! `CancelCustomerOrder` and `KeystoneListProjects`, and the NAT v3 tag calls of [`tags`]
//! (`BatchCreateDeleteNatGatewayTag`, `CreateNatGatewayTag`, `DeleteNatGatewayTag`,
//! `ShowNatGatewayTag`, `ListNatGatewayTag`, `ListNatGatewayByTag`). The ledger records calls that change a
//! gateway through an order or a spec change (an update to the spec it already has is none);
//! renewal settings, order cancellations and tag writes place no order and are only in
//! `/_sim/requests`. Tag writes become visible after `tag_delay` ([`crate::tags`]).
//!
//! A yearly/monthly gateway has a subscription ([`subscription`]): seeded ones end
//! `expiresInDays` from now, a completed `change_to_period` order starts one. As time passes
//! ([`world`]; `POST /_sim/clock` lets days pass at once), auto-renew (policy 3) renews seven days
//! before expiry (a completed order of type 2 in `/_sim/orders`, not in the ledger), policy 1
//! turns the gateway pay-per-use at expiry, and the others expire (BSS status 5) while the gateway
//! stays `ACTIVE`.
//!
//! Every API call is checked as API Gateway would: the signature (SDK-HMAC-SHA256, or any other
//! algorithm the official SDKs offer, see `verify`) is recomputed over the headers the request
//! says it signed (with the client's own canonicalisation code),
//! `X-Sdk-Date` must be within 15 minutes, and a credential with a token requires
//! `X-Security-Token` (a temporary one past its expiry: 401 `APIG.0307`). Failures answer 401
//! `APIG.0301` (`APIG.0303` when the signature's date is too far off). Rate limits
//! (BSS: 10/s per AK by default) answer 429 `APIG.0308`. Unknown paths answer 404 `APIG.0101`.
//! A missing gateway answers 404 with the NAT API's `NeutronError` body.
//!
//! Control API (JSON) besides the shared `/_sim/...` routes of [`crate::core`]:
//! - `POST /_sim/gateways` (a [`SeedGateway`] and, for a prepaid one, the fields of
//!   [`SeedTerms`]: `expiresInDays`, default 30, `renewal` `Auto`|`Manual`|`PayPerUseAtExpiry`,
//!   default `Manual`), `GET /_sim/gateways`
//! - `GET /_sim/subscriptions` ([`SimSubscription`]s)
//! - `POST /_sim/clock` (`{"advanceSeconds": N}`) lets N seconds pass at once: every period, order
//!   time and pending change moves N seconds into the past, so clients, which compare BSS times
//!   with their own clock, see expiry come N seconds closer; answers `{"now":
//!   "yyyy-MM-ddTHH:mm:ssZ"}` (the host's clock), which `GET /_sim/clock` reads.
//! - `GET /_sim/orders`, `POST /_sim/orders/{id}/pay`, `POST /_sim/orders/{id}/cancel`
//! - `POST /_sim/projects` (`{"id","name"}`)
//! - the tag routes of [`crate::tags`]: `GET|PUT /_sim/gateways/{id}/tags`,
//!   `DELETE /_sim/gateways/{id}/tags/{key}` (a person editing tags in the console), and the
//!   shared `PUT /_sim/tag-delay`
//! - the federation routes (`/_sim/oidc`, `/_sim/trust-rules`, `/_sim/credential-lifetime`) of
//!   [`crate::federation`]; a trust rule's `providerId` is the identity provider id of `X-Idp-Id`

mod answer;
mod api;
mod config;
mod federation;
mod state;
pub mod subscription;
mod tags;
mod verify;
pub mod world;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;

pub use config::{BSS_LIMIT_PER_SECOND, HuaweiSimConfig, SimProject};
pub use state::SimState;
pub use subscription::{SeedTerms, SimSubscription};
pub use world::{SeedGateway, SimOrder};

use super::{
    SimError,
    core::{SimCore, control_routes},
    faults::Fault,
    federation::Federation,
    recorder::RecordedRequest,
    server::{Endpoints, Served, SimTls, serve_both},
};

/// The router: the three APIs (matched by path, so that unknown paths get API Gateway's
/// answer) and the control routes.
pub fn router(state: Arc<SimState>) -> Router {
    let exists_in = state.clone();
    let exists: crate::tags::Exists = Arc::new(move |id: &str| exists_in.world().gateways().iter().any(|g| g.id == id));
    Router::new()
        .route("/_sim/gateways", post(seed_gateway).get(list_gateways))
        .route("/_sim/subscriptions", get(list_subscriptions))
        .route("/_sim/clock", post(advance_clock).get(read_clock))
        .route("/_sim/orders", get(list_orders))
        .route("/_sim/orders/{id}/pay", post(pay_order))
        .route("/_sim/orders/{id}/cancel", post(cancel_order))
        .route("/_sim/projects", post(add_project))
        .fallback(api::handle)
        .with_state(state.clone())
        .merge(crate::tags::control_routes(state.core.tags.clone(), exists))
        .merge(control_routes(state.core.clone()))
}

/// `POST /_sim/gateways`: a gateway and, flattened into the same object, its terms.
#[derive(Deserialize)]
struct SeedRequest {
    #[serde(flatten)]
    gateway: SeedGateway,
    #[serde(flatten)]
    terms: SeedTerms,
}

async fn seed_gateway(State(state): State<Arc<SimState>>, Json(seed): Json<SeedRequest>) -> StatusCode {
    state.world().seed(seed.gateway, seed.terms);
    StatusCode::NO_CONTENT
}

async fn list_subscriptions(State(state): State<Arc<SimState>>) -> Json<Vec<SimSubscription>> {
    Json(state.world().subscriptions())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Advance {
    advance_seconds: u64,
}

async fn advance_clock(State(state): State<Arc<SimState>>, Json(by): Json<Advance>) -> Json<serde_json::Value> {
    let now = state.world().advance(Duration::from_secs(by.advance_seconds));
    Json(serde_json::json!({ "now": subscription::bss_time(now) }))
}

async fn read_clock(State(state): State<Arc<SimState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "now": subscription::bss_time(state.world().now()) }))
}

async fn list_gateways(
    State(state): State<Arc<SimState>>,
) -> Json<Vec<natgw_operator::cloud::huawei::wire::NatGateway>> {
    Json(state.world().gateways())
}

async fn list_orders(State(state): State<Arc<SimState>>) -> Json<Vec<SimOrder>> {
    Json(state.world().orders())
}

fn outcome(result: Result<(), String>) -> (StatusCode, String) {
    match result {
        Ok(()) => (StatusCode::NO_CONTENT, String::new()),
        Err(e) => (StatusCode::CONFLICT, e),
    }
}

async fn pay_order(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> (StatusCode, String) {
    outcome(state.world().pay(&id))
}

async fn cancel_order(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> (StatusCode, String) {
    outcome(state.world().cancel(&id))
}

async fn add_project(State(state): State<Arc<SimState>>, Json(project): Json<SimProject>) -> StatusCode {
    state.projects().push(project);
    StatusCode::NO_CONTENT
}

/// A running simulator for tests; stops when dropped.
pub struct HuaweiSim {
    pub http_url: String,
    pub https_url: Option<String>,
    state: Arc<SimState>,
    tls: Option<Arc<SimTls>>,
    _servers: Vec<Served>,
}

impl HuaweiSim {
    /// Serves `config` on loopback (HTTP, and HTTPS when `config.tls` is set).
    pub async fn start(config: HuaweiSimConfig) -> Result<HuaweiSim, SimError> {
        let state = SimState::new(&config);
        state.core.federation.configure(config.federation.clone())?;
        let app = router(state.clone());
        let served = serve_both(app, config.bind, config.http_port, config.https_port, config.tls.as_deref()).await?;
        let Endpoints { http_url, https_url, servers } = served;
        Ok(HuaweiSim { http_url, https_url, state, tls: config.tls, _servers: servers })
    }

    pub fn ca_pem_path(&self) -> Option<&std::path::Path> {
        self.tls.as_deref().map(SimTls::ca_pem_path)
    }

    /// A gateway; a prepaid one with the default terms (30 days left, renewed by hand).
    pub fn seed_gateway(&self, seed: SeedGateway) {
        self.state.world().seed(seed, SeedTerms::default());
    }

    /// A gateway with `terms` when prepaid.
    pub fn seed_gateway_with(&self, seed: SeedGateway, terms: SeedTerms) {
        self.state.world().seed(seed, terms);
    }

    /// Lets `by` pass at once (see [`world`]): periods, orders and pending changes move that much
    /// into the past; returns the time.
    pub fn advance(&self, by: Duration) -> k8s_openapi::jiff::Timestamp {
        self.state.world().advance(by)
    }

    /// The world's time.
    pub fn now(&self) -> k8s_openapi::jiff::Timestamp {
        self.state.world().now()
    }

    pub fn subscription(&self, gateway_id: &str) -> Option<SimSubscription> {
        self.state.world().subscriptions().into_iter().find(|s| s.gateway_id == gateway_id)
    }

    /// The NAT, BSS and IAM requests received since the last call, oldest first (session tokens
    /// left out); empty unless [`HuaweiSimConfig::keep_requests`].
    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        self.state
            .kept
            .as_ref()
            .map(|k| std::mem::take(&mut *k.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    }

    pub fn gateway(&self, id: &str) -> Option<natgw_operator::cloud::huawei::wire::NatGateway> {
        self.state.world().gateways().into_iter().find(|g| g.id == id)
    }

    pub fn orders(&self) -> Vec<SimOrder> {
        self.state.world().orders()
    }

    pub fn pay_order(&self, id: &str) -> Result<(), String> {
        self.state.world().pay(id)
    }

    pub fn cancel_order(&self, id: &str) -> Result<(), String> {
        self.state.world().cancel(id)
    }

    pub fn inject(&self, fault: Fault) {
        self.state.core.faults.inject(fault);
    }

    /// The tags reads see now.
    pub fn tags(&self, gateway_id: &str) -> std::collections::BTreeMap<String, String> {
        self.state.core.tags.visible(gateway_id)
    }

    /// Sets or removes (`None`) tags at once, as a person in the console would.
    pub fn edit_tags(&self, gateway_id: &str, changes: Vec<(String, Option<String>)>) {
        self.state.core.tags.edit_now(gateway_id, changes);
    }

    /// How long tag writes accepted from now on take to become visible.
    pub fn set_tag_delay(&self, delay: Duration) {
        self.state.core.tags.set_delay(delay);
    }

    /// Credentials, rate limits, faults and the ledger (orders accepted, every request's outcome).
    pub fn core(&self) -> &SimCore {
        &self.state.core
    }

    /// The identity provider, trust rules and credential lifetimes of IAM's federation calls.
    pub fn federation(&self) -> &Federation {
        &self.state.core.federation
    }
}
