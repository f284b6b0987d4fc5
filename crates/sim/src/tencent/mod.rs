//! A simulator of Tencent Cloud API 2.0 (`/v2/index.php`, GET or POST form, HmacSHA1 or
//! HmacSHA256, `Nonce` replay protection) and API 3.0 (`/`: POST JSON or GET signed with
//! TC3-HMAC-SHA256, POST form or GET signed with HmacSHA1/HmacSHA256) for NAT gateways. Every
//! request's signature is verified with the operator's own signing code
//! ([`natgw_operator::cloud::tencent::sign`]), recomputed from the request as received; parameters are
//! checked as the documented error codes say (malformed ids, ranges, unknown or missing
//! parameters), and calls that would change nothing are answered but not recorded as orders.
//!
//! Implemented: API 2.0 `UpgradeNatGateway`, `QueryNatGatewayProductionStatus`,
//! `DescribeNatGateway`; API 3.0 `ResetNatGatewayConnection`, `DescribeNatGateways` (with each
//! gateway's `TagSet`); STS `AssumeRoleWithWebIdentity` ([`sts`]), whose temporary credentials
//! every other action then accepts with their token until they expire, and `GetCallerIdentity`;
//! the Tag API's `TagResources`, `UnTagResources` and `GetResources` ([`tag`]). Every service is
//! served on the one port: a TC3 request's credential scope names its service (`vpc`, `tag`,
//! `sts`), and each answers its own version (2017-03-12 for vpc, 2018-08-13 for tag and sts).
//! Not implemented: creating or deleting gateways, EIPs, rules, `DescribeVpcTaskResult`.
//!
//! Each key belongs to an account uin ([`crate::core::SimPrincipal`]; `accounts` in the config,
//! `account` in `POST /_sim/credentials`, [`crate::core::DEFAULT_ACCOUNT`] otherwise; a role's
//! temporary keys belong to the role's account). Tags live in [`crate::tags`]: a seeded gateway
//! starts with `managed-by: natgw-operator-sim` unless seeded with `tags`; tag writes become
//! visible after `tag_delay`. A tag write is not an order: it is only in `/_sim/requests`.
//!
//! The ledger also keeps, per gateway, when an accepted call first named it (`first_seen`, for
//! the benchmark's apply -> first cloud call latency).
//!
//! Rate limits (per action, per SecretId), overridable: `ResetNatGatewayConnection` 20/s and
//! `DescribeNatGateways` 100/s as documented; API 2.0 has no published per-action numbers, so
//! its actions take those of their API 3.0 counterparts (`UpgradeNatGateway` and
//! `QueryNatGatewayProductionStatus` 20/s, `DescribeNatGateway` 100/s). `TagResources`,
//! `UnTagResources`, `GetResources` and `GetCallerIdentity` 20/s, as documented.
//!
//! Control routes besides the shared ones of [`crate::core`]: `POST|GET /_sim/gateways` (a
//! [`SimGateway`], optionally with `tags: {key: value}`), `PUT /_sim/timing`
//! (`{"changeMillis"?, "tagDelayMillis"?}`), and the tag routes of [`crate::tags`]
//! (`GET|PUT /_sim/gateways/{id}/tags`, `DELETE /_sim/gateways/{id}/tags/{key}`).

mod auth;
mod call;
mod model;
mod nonces;
mod params;
mod sts;
mod tag;
mod v2;
mod v3;
mod v3_gateway;

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{any, get, post, put},
};
use serde::Deserialize;

pub use call::DEFAULT_TAG;
pub use model::SimGateway;

use call::Sim;

use super::{
    SimError,
    core::{SimCore, SimCredential, control_routes},
    faults::Fault,
    federation::{Federation, FederationConfig},
    ledger::{Order, RequestRecord},
    server::{Served, SimTls, serve},
};

pub struct TencentSimConfig {
    pub bind: IpAddr,
    /// Plain HTTP port; 0 picks a free one.
    pub http_port: u16,
    /// HTTPS port (0 picks one); no HTTPS when `None`.
    pub https_port: Option<u16>,
    /// A CA to serve HTTPS with (shared with other simulators); generated when absent.
    pub tls: Option<Arc<SimTls>>,
    /// Where a generated CA is written; a temporary file when absent.
    pub ca_out: Option<PathBuf>,
    pub credentials: Vec<SimCredential>,
    /// How long a resize (and its bill) runs.
    pub change_time: Duration,
    /// Calls per second by action, over the defaults.
    pub rate_limits: HashMap<String, u32>,
    pub gateways: Vec<SimGateway>,
    /// The identity provider, trust rules and credential lifetimes of `AssumeRoleWithWebIdentity`.
    pub federation: FederationConfig,
    /// Key id -> the account uin it belongs to; keys not listed belong to
    /// [`crate::core::DEFAULT_ACCOUNT`].
    pub accounts: HashMap<String, String>,
    /// How long a tag write takes to become visible to reads.
    pub tag_delay: Duration,
}

impl Default for TencentSimConfig {
    fn default() -> Self {
        TencentSimConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 0,
            https_port: Some(0),
            tls: None,
            ca_out: None,
            credentials: Vec::new(),
            change_time: Duration::from_secs(2),
            rate_limits: HashMap::new(),
            gateways: Vec::new(),
            federation: FederationConfig::default(),
            accounts: HashMap::new(),
            tag_delay: Duration::ZERO,
        }
    }
}

pub fn default_rate_limits() -> HashMap<String, u32> {
    [
        ("ResetNatGatewayConnection", 20),
        ("DescribeNatGateways", 100),
        ("UpgradeNatGateway", 20),
        ("QueryNatGatewayProductionStatus", 20),
        ("DescribeNatGateway", 100),
        ("TagResources", 20),
        ("UnTagResources", 20),
        ("GetResources", 20),
        ("GetCallerIdentity", 20),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_owned(), n))
    .collect()
}

fn router(sim: Arc<Sim>) -> Router {
    let gateways = Router::new()
        .route("/_sim/gateways", post(seed_gateway).get(list_gateways))
        .route("/_sim/timing", put(set_timing))
        .with_state(sim.clone());
    let exists_in = sim.clone();
    let exists: crate::tags::Exists = Arc::new(move |id: &str| exists_in.model().get(id).is_some());
    Router::new()
        .route("/v2/index.php", get(v2::handle).post(v2::handle))
        // Every verb, so that the gateway answers the ones it refuses with its own code.
        .route("/", any(v3::handle))
        .with_state(sim.clone())
        .merge(gateways)
        .merge(crate::tags::control_routes(sim.core.tags.clone(), exists))
        .merge(control_routes(sim.core.clone()))
}

/// `POST /_sim/gateways`: a gateway and, optionally, its tags.
#[derive(Deserialize)]
struct SeedRequest {
    #[serde(flatten)]
    gateway: SimGateway,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

async fn seed_gateway(State(sim): State<Arc<Sim>>, Json(seed): Json<SeedRequest>) -> StatusCode {
    sim.seed(seed.gateway, seed.tags);
    StatusCode::NO_CONTENT
}

async fn list_gateways(State(sim): State<Arc<Sim>>) -> Json<Vec<SimGateway>> {
    Json(sim.model().gateways())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Timing {
    #[serde(default)]
    change_millis: Option<u64>,
    #[serde(default)]
    tag_delay_millis: Option<u64>,
}

async fn set_timing(State(sim): State<Arc<Sim>>, Json(timing): Json<Timing>) -> StatusCode {
    if let Some(millis) = timing.change_millis {
        sim.model().change_time = Duration::from_millis(millis);
    }
    if let Some(millis) = timing.tag_delay_millis {
        sim.core.tags.set_delay(Duration::from_millis(millis));
    }
    StatusCode::NO_CONTENT
}

/// Starts simulators: see [`TencentSim::start`].
pub struct TencentSim;

impl TencentSim {
    /// Serves the simulator on loopback; it stops when the handle is dropped.
    pub async fn start(config: TencentSimConfig) -> Result<TencentSimHandle, SimError> {
        let mut limits = default_rate_limits();
        limits.extend(config.rate_limits);
        let core = Arc::new(SimCore::new(config.credentials, limits));
        core.federation.configure(config.federation)?;
        core.tags.set_delay(config.tag_delay);
        for (key_id, account) in &config.accounts {
            core.set_account(key_id, account);
        }
        let model = model::Model::new(config.change_time);
        let sim = Arc::new(Sim { core, model: Mutex::new(model), nonces: nonces::nonces() });
        for g in config.gateways {
            sim.seed(g, None);
        }
        let app = router(sim.clone());

        let http = serve(app.clone(), SocketAddr::new(config.bind, config.http_port), None).await?;
        let (https, tls) = match config.https_port {
            Some(port) => {
                let tls = match config.tls {
                    Some(tls) => tls,
                    None => SimTls::generate(config.ca_out.as_deref())?,
                };
                (Some(serve(app, SocketAddr::new(config.bind, port), Some(&tls)).await?), Some(tls))
            }
            None => (None, None),
        };
        Ok(TencentSimHandle {
            http_url: format!("http://{}", http.addr),
            https_url: https.as_ref().map(|s| format!("https://{}", s.addr)),
            sim,
            _servers: [Some(http), https].into_iter().flatten().collect(),
            tls,
        })
    }
}

/// A running simulator, for tests and `natgw-dev sim`. Stops when dropped.
pub struct TencentSimHandle {
    /// e.g. `http://127.0.0.1:41234`
    pub http_url: String,
    /// e.g. `https://127.0.0.1:41235`, when HTTPS is served.
    pub https_url: Option<String>,
    sim: Arc<Sim>,
    tls: Option<Arc<SimTls>>,
    _servers: Vec<Served>,
}

impl TencentSimHandle {
    /// The PEM file of the CA that signed the HTTPS certificate.
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.tls.as_deref().map(SimTls::ca_pem_path)
    }

    /// Seeds a gateway; a new one carries [`DEFAULT_TAG`].
    pub fn seed_gateway(&self, gateway: SimGateway) {
        self.sim.seed(gateway, None);
    }

    /// Seeds a gateway with exactly these tags.
    pub fn seed_gateway_with_tags(&self, gateway: SimGateway, tags: BTreeMap<String, String>) {
        self.sim.seed(gateway, Some(tags));
    }

    /// The tags reads see now.
    pub fn tags(&self, gateway_id: &str) -> BTreeMap<String, String> {
        self.sim.core.tags.visible(gateway_id)
    }

    /// Sets or removes (`None`) tags at once, as a person in the console would.
    pub fn edit_tags(&self, gateway_id: &str, changes: Vec<(String, Option<String>)>) {
        self.sim.core.tags.edit_now(gateway_id, changes);
    }

    /// How long tag writes accepted from now on take to become visible.
    pub fn set_tag_delay(&self, delay: Duration) {
        self.sim.core.tags.set_delay(delay);
    }

    /// Sets the account uin `key_id` belongs to.
    pub fn set_account(&self, key_id: &str, account: &str) {
        self.sim.core.set_account(key_id, account);
    }

    pub fn gateway(&self, id: &str) -> Option<SimGateway> {
        self.sim.model().get(id)
    }

    /// How long resizes (and their bills) take from now on.
    pub fn set_change_time(&self, change_time: Duration) {
        self.sim.model().change_time = change_time;
    }

    pub fn add_credential(&self, credential: SimCredential) {
        self.sim.core.add_credential(credential);
    }

    /// The identity provider, trust rules and credential lifetimes STS works with.
    pub fn federation(&self) -> &Federation {
        &self.sim.core.federation
    }

    pub fn set_rate_limit(&self, action: &str, per_second: u32) {
        self.sim.core.limits.set(action, per_second);
    }

    pub fn inject(&self, fault: Fault) {
        self.sim.core.faults.inject(fault);
    }

    pub fn clear_faults(&self) {
        self.sim.core.faults.clear();
    }

    /// Every accepted mutating call so far.
    pub fn orders(&self) -> Vec<Order> {
        self.sim.core.ledger.orders()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.sim.core.ledger.requests()
    }

    /// Gateway id -> unix ms of the first accepted call that named it.
    pub fn first_seen(&self) -> HashMap<String, u64> {
        self.sim.core.ledger.first_seen()
    }

    /// Gateway id -> unix ms of the latest accepted call that named it.
    pub fn last_seen(&self) -> HashMap<String, u64> {
        self.sim.core.ledger.last_seen()
    }
}
