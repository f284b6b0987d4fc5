//! A simulator of Alibaba Cloud's VPC (2016-04-28), BSS OpenAPI (2017-12-14) and STS
//! (2015-04-01) for NAT gateways, all on one port at `/`, the product chosen by the action:
//! - VPC ([`vpc`]): `DescribeNatGateways`, `ModifyNatGatewaySpec` (with `ClientToken`
//!   idempotency), `TagResources`, `UnTagResources`, `ListTagResources`;
//! - BSS ([`bss`]): `QueryOrders`, `GetOrderDetail`, `PayOrder`, `CancelOrder`,
//!   `QueryAvailableInstances`, `SetRenewal`;
//! - STS ([`sts`]): `AssumeRoleWithOIDC` (RRSA), whose temporary credentials every other action
//!   then accepts with their token until they expire.
//!
//! Every call but `AssumeRoleWithOIDC` must be signed, RPC-style (HMAC-SHA1) or V3
//! (`ACS3-HMAC-SHA256`), checked as [`auth`] says; answers and errors have Alibaba's JSON shape
//! ([`answer`]). An unknown action answers 404 `InvalidAction.NotFound`, a version that is not
//! the action's product's 400 `InvalidVersion`. Throttling answers 400 `Throttling.User`; BSS
//! actions start limited to [`bss::LIMIT_PER_SECOND`] per key, others unlimited (overridable).
//!
//! A `ModifyNatGatewaySpec` that changes a gateway is an order in the ledger: the BSS order id
//! for a subscription upgrade, the request id for a pay-by-specification resize. A retry with
//! the same `ClientToken` (same account, same parameters) answers the first answer again and
//! changes nothing; different parameters answer 400 `IdempotentParameterMismatch`. Faults apply
//! as in [`crate::faults`]; with `failOrder` the change runs (`Modifying`, its order paid as
//! usual) and the gateway ends back on the spec it had.
//!
//! `/_sim/requests` names each call's product and signature: `alibaba/vpc/v3`,
//! `alibaba/bss/rpc`, `alibaba/sts/anonymous`, `alibaba/unknown/refused`.
//!
//! Control routes besides the shared ones of [`crate::core`]: `POST|GET /_sim/gateways` (a
//! [`SeedGateway`]), `GET /_sim/orders` ([`SimOrder`]s), `POST /_sim/orders/{id}/pay`,
//! `POST /_sim/orders/{id}/cancel` (someone in the console), `PUT /_sim/timing`
//! (`{"changeMillis"}`), and the tag routes of [`crate::tags`].

mod answer;
mod auth;
mod bss;
mod params;
mod sign;
mod state;
mod sts;
mod vpc;
mod world;

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
    routing::{any, post, put},
};
use serde::Deserialize;
use serde_json::Value;

pub use world::{Charge, SeedGateway, SimOrder};

use super::{
    SimError,
    core::{SimCore, SimCredential, control_routes},
    faults::{FaultKind, broken_response},
    federation::{Federation, FederationConfig},
    ledger::{RequestRecord, now_unix_ms},
    server::{Endpoints, Served, SimTls, serve_both},
};
use answer::ApiError;
use state::Sim;
use world::World;

pub struct AlibabaSimConfig {
    pub bind: IpAddr,
    /// Ports for HTTP and HTTPS (with `tls`); 0 picks a free one.
    pub http_port: u16,
    pub https_port: u16,
    /// Serve HTTPS too, with this CA (shared with other simulators).
    pub tls: Option<Arc<SimTls>>,
    pub credentials: Vec<SimCredential>,
    /// How long a spec change keeps a gateway `Modifying`.
    pub change_time: Duration,
    /// Calls per second by action, over the defaults (0 lifts one).
    pub rate_limits: HashMap<String, u32>,
    pub gateways: Vec<SeedGateway>,
    /// The identity provider and trust rules of `AssumeRoleWithOIDC`; a rule's `providerId` is
    /// the `OIDCProviderArn`, its `roleArn` the `RoleArn`.
    pub federation: FederationConfig,
    /// How long a tag write takes to become visible to reads.
    pub tag_delay: Duration,
}

impl Default for AlibabaSimConfig {
    fn default() -> Self {
        AlibabaSimConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 0,
            https_port: 0,
            tls: None,
            credentials: Vec::new(),
            change_time: Duration::from_secs(2),
            rate_limits: HashMap::new(),
            gateways: Vec::new(),
            federation: FederationConfig::default(),
            tag_delay: Duration::ZERO,
        }
    }
}

/// The products served, by the actions they own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Product {
    Vpc,
    Bss,
    Sts,
}

impl Product {
    fn of(action: &str) -> Option<Product> {
        if vpc::ACTIONS.contains(&action) {
            Some(Product::Vpc)
        } else if bss::ACTIONS.contains(&action) {
            Some(Product::Bss)
        } else {
            (action == sts::ACTION).then_some(Product::Sts)
        }
    }

    fn version(self) -> &'static str {
        match self {
            Product::Vpc => vpc::VERSION,
            Product::Bss => bss::VERSION,
            Product::Sts => sts::VERSION,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Product::Vpc => "vpc",
            Product::Bss => "bss",
            Product::Sts => "sts",
        }
    }
}

/// What to send back once a call is read.
enum Reply {
    Done(Result<Value, ApiError>),
    /// The call was handled but its answer is lost.
    Dropped,
}

/// Rate limit, injected faults, then the action itself.
async fn after_auth(
    sim: &Sim,
    action: &str,
    bucket: &str,
    handle: impl FnOnce(&Sim) -> Result<Value, ApiError>,
) -> Reply {
    if sim.core.limits.check(bucket, action).is_err() {
        return Reply::Done(Err(ApiError::bad("Throttling.User", "Request was denied due to user flow control.")));
    }
    match sim.core.faults.take(action, |k| *k != FaultKind::FailOrder) {
        Some(FaultKind::Error { code, message }) => {
            let status = match code.as_str() {
                "InternalError" => StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceUnavailable" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            let message = message.unwrap_or_else(|| format!("injected fault {code}"));
            Reply::Done(Err(ApiError::new(status, &code, message)))
        }
        Some(FaultKind::Latency { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Reply::Done(handle(sim))
        }
        Some(FaultKind::Timeout { millis, apply }) => {
            let result = if apply {
                handle(sim)
            } else {
                Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The request timed out."))
            };
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

async fn handle(State(sim): State<Arc<Sim>>, method: Method, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    let request_id = answer::request_id();
    let request = auth::Request {
        method: &method,
        path: uri.path(),
        headers: &headers,
        query: uri.query().unwrap_or(""),
        body: &body,
    };
    let call = auth::read(&sim.core, &sim.nonces, &request, |action| action == sts::ACTION);
    let (action, key_id, signed) = match &call {
        Ok(c) => (c.action.clone(), c.key_id.clone(), c.signed.name()),
        Err(_) => (String::new(), None, "refused"),
    };
    let product = Product::of(&action);
    let reply = match (call, product) {
        (Err(e), _) => Reply::Done(Err(e)),
        (Ok(call), None) => Reply::Done(Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            format!("Specified api {:?} is not found, please check your url and method.", call.action),
        ))),
        (Ok(call), Some(p)) if call.version != p.version() => Reply::Done(Err(ApiError::bad(
            "InvalidVersion",
            format!(
                "Specified parameter Version {:?} is not valid for {}: use {}.",
                call.version,
                p.name(),
                p.version()
            ),
        ))),
        (Ok(call), Some(Product::Sts)) => exchange(&sim, &call.params).await,
        (Ok(call), Some(p)) => {
            // `auth::read` lets only STS through unsigned.
            let key = call.key_id.clone().unwrap_or_default();
            after_auth(&sim, &call.action, &key, |sim| match p {
                Product::Bss => bss::dispatch(sim, &call.action, &call.params),
                _ => vpc::dispatch(sim, &call.action, &call.params, &key, &request_id),
            })
            .await
        }
    };
    let outcome = match &reply {
        Reply::Done(Ok(_)) => "ok".to_owned(),
        Reply::Done(Err(e)) => e.code.clone(),
        Reply::Dropped => "dropped".to_owned(),
    };
    sim.core.ledger.record_request(RequestRecord {
        api: format!("alibaba/{}/{signed}", product.map_or("unknown", Product::name)),
        action,
        key_id,
        outcome,
        at_unix_ms: now_unix_ms(),
    });
    match reply {
        Reply::Done(result) => {
            let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            answer::render(result, &request_id, host)
        }
        Reply::Dropped => broken_response(),
    }
}

/// `AssumeRoleWithOIDC`: verified first (the JWKS may be read over the network), throttled per
/// identity provider since the caller has no key yet.
async fn exchange(sim: &Sim, params: &params::Params) -> Reply {
    let x = match sts::read(params) {
        Ok(x) => x,
        Err(e) => return Reply::Done(Err(e)),
    };
    let verified = sts::authorize(sim, &x).await;
    let bucket = format!("sts:{}", x.provider());
    after_auth(sim, sts::ACTION, &bucket, |sim| Ok(sts::issue(sim, &x, &verified?))).await
}

fn router(sim: Arc<Sim>) -> Router {
    let exists_in = sim.clone();
    let exists: crate::tags::Exists = Arc::new(move |id: &str| exists_in.world().gateways().iter().any(|g| g.id == id));
    Router::new()
        .route("/", any(handle))
        .route("/_sim/gateways", post(seed_gateway).get(list_gateways))
        .route("/_sim/orders", axum::routing::get(list_orders))
        .route("/_sim/orders/{id}/pay", post(pay_order))
        .route("/_sim/orders/{id}/cancel", post(cancel_order))
        .route("/_sim/timing", put(set_timing))
        .with_state(sim.clone())
        .merge(crate::tags::control_routes(sim.core.tags.clone(), exists))
        .merge(control_routes(sim.core.clone()))
}

async fn seed_gateway(State(sim): State<Arc<Sim>>, Json(seed): Json<SeedGateway>) -> StatusCode {
    sim.seed(&seed);
    StatusCode::NO_CONTENT
}

/// As `DescribeNatGateways` shows them, every region.
async fn list_gateways(State(sim): State<Arc<Sim>>) -> Json<Vec<Value>> {
    let mut world = sim.world();
    Json(world.gateways().iter().map(|g| vpc::gateway_json(&sim, g)).collect())
}

async fn list_orders(State(sim): State<Arc<Sim>>) -> Json<Vec<SimOrder>> {
    Json(sim.world().orders().to_vec())
}

fn outcome(result: Result<(), world::Refusal>) -> (StatusCode, String) {
    match result {
        Ok(()) => (StatusCode::NO_CONTENT, String::new()),
        Err(e) => (StatusCode::CONFLICT, format!("{e:?}")),
    }
}

async fn pay_order(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> (StatusCode, String) {
    outcome(sim.world().pay(&id))
}

async fn cancel_order(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> (StatusCode, String) {
    outcome(sim.world().cancel(&id))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Timing {
    change_millis: u64,
}

async fn set_timing(State(sim): State<Arc<Sim>>, Json(timing): Json<Timing>) -> StatusCode {
    sim.world().change_time = Duration::from_millis(timing.change_millis);
    StatusCode::NO_CONTENT
}

/// BSS's documented limits; VPC and STS publish none per action.
fn default_rate_limits() -> HashMap<String, u32> {
    bss::ACTIONS.iter().map(|a| ((*a).to_owned(), bss::LIMIT_PER_SECOND)).collect()
}

/// A running simulator, for tests and `natgw-dev sim`; stops when dropped.
pub struct AlibabaSim {
    /// e.g. `http://127.0.0.1:41234`
    pub http_url: String,
    /// e.g. `https://localhost:41235`, when HTTPS is served.
    pub https_url: Option<String>,
    sim: Arc<Sim>,
    tls: Option<Arc<SimTls>>,
    _servers: Vec<Served>,
}

impl AlibabaSim {
    /// Serves `config` on loopback (HTTP, and HTTPS when `config.tls` is set).
    pub async fn start(config: AlibabaSimConfig) -> Result<AlibabaSim, SimError> {
        let mut limits = default_rate_limits();
        limits.extend(config.rate_limits);
        limits.retain(|_, n| *n > 0);
        let core = Arc::new(SimCore::new(config.credentials, limits));
        core.federation.configure(config.federation)?;
        core.tags.set_delay(config.tag_delay);
        let sim = Arc::new(Sim {
            core,
            world: Mutex::new(World::new(config.change_time)),
            nonces: auth::nonces(),
            client_tokens: Mutex::default(),
        });
        for seed in &config.gateways {
            sim.seed(seed);
        }
        let app = router(sim.clone());
        let served = serve_both(app, config.bind, config.http_port, config.https_port, config.tls.as_deref()).await?;
        let Endpoints { http_url, https_url, servers } = served;
        Ok(AlibabaSim { http_url, https_url, sim, tls: config.tls, _servers: servers })
    }

    pub fn ca_pem_path(&self) -> Option<&std::path::Path> {
        self.tls.as_deref().map(SimTls::ca_pem_path)
    }

    pub fn seed_gateway(&self, seed: SeedGateway) {
        self.sim.seed(&seed);
    }

    pub fn orders(&self) -> Vec<SimOrder> {
        self.sim.world().orders().to_vec()
    }

    /// Credentials, rate limits, faults and the ledger.
    pub fn core(&self) -> &SimCore {
        &self.sim.core
    }

    /// The identity provider and trust rules `AssumeRoleWithOIDC` works with.
    pub fn federation(&self) -> &Federation {
        &self.sim.core.federation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: (&str, &str) = ("LTAItest", "test-secret");

    async fn sim() -> AlibabaSim {
        AlibabaSim::start(AlibabaSimConfig {
            credentials: vec![SimCredential { key_id: KEY.0.into(), secret: KEY.1.into(), token: None }],
            gateways: vec![SeedGateway::parse("ngw-1:cn-hangzhou:Small").unwrap()],
            ..AlibabaSimConfig::default()
        })
        .await
        .unwrap()
    }

    /// RPC parameters for DescribeNatGateways, signed for `method`.
    fn rpc_params(method: &str, nonce: &str) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("Action", "DescribeNatGateways"),
            ("Version", vpc::VERSION),
            ("Format", "JSON"),
            ("RegionId", "cn-hangzhou"),
            ("AccessKeyId", KEY.0),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce),
            ("Timestamp", &world::bss_time(k8s_openapi::jiff::Timestamp::now())),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let sts = sign::rpc_string_to_sign(method, params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        params.push(("Signature".into(), sign::rpc_signature(KEY.1, &sts)));
        params
    }

    async fn code(response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        let code = body["Code"].as_str().map_or_else(|| body["TotalCount"].to_string(), str::to_owned);
        (status, code)
    }

    /// The SDKs send RPC as POST with the parameters in the query; the documentation also
    /// allows GET and a POST form, and a nonce only once.
    #[tokio::test]
    async fn rpc_is_accepted_by_get_and_post_form_once_per_nonce() {
        let sim = sim().await;
        let client = reqwest::Client::new();
        let get = client.get(&sim.http_url).query(&rpc_params("GET", "n1")).send().await.unwrap();
        assert_eq!(code(get).await, (200, "1".to_owned()));
        let form = client.post(&sim.http_url).form(&rpc_params("POST", "n2")).send().await.unwrap();
        assert_eq!(code(form).await, (200, "1".to_owned()));
        let replay = client.post(&sim.http_url).form(&rpc_params("POST", "n2")).send().await.unwrap();
        assert_eq!(code(replay).await, (400, "SignatureNonceUsed".to_owned()));
        let as_get = client.post(&sim.http_url).form(&rpc_params("GET", "n3")).send().await.unwrap();
        assert_eq!(code(as_get).await, (400, "SignatureDoesNotMatch".to_owned()));
    }

    /// Over the limit: 400 `Throttling.User`, per key and action.
    #[tokio::test]
    async fn throttled_calls_answer_throttling_user() {
        let sim = sim().await;
        sim.core().limits.set("DescribeNatGateways", 1);
        let client = reqwest::Client::new();
        let first = client.get(&sim.http_url).query(&rpc_params("GET", "t1")).send().await.unwrap();
        assert_eq!(code(first).await.0, 200);
        let second = client.get(&sim.http_url).query(&rpc_params("GET", "t2")).send().await.unwrap();
        assert_eq!(code(second).await, (400, "Throttling.User".to_owned()));
        assert_eq!(default_rate_limits().get("QueryOrders"), Some(&bss::LIMIT_PER_SECOND));
    }

    /// V3 with the parameters in a form body, signed over the body's digest.
    #[tokio::test]
    async fn v3_signs_a_form_body_by_its_digest() {
        let sim = sim().await;
        let host = sim.http_url.trim_start_matches("http://").to_owned();
        let body = "RegionId=cn-hangzhou&NatGatewayId=ngw-1";
        let send = |digest: String| {
            let date = world::bss_time(k8s_openapi::jiff::Timestamp::now());
            let headers: Vec<(String, String)> = [
                ("host", host.as_str()),
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-acs-action", "DescribeNatGateways"),
                ("x-acs-version", vpc::VERSION),
                ("x-acs-date", date.as_str()),
                ("x-acs-signature-nonce", &answer::request_id()),
                ("x-acs-content-sha256", digest.as_str()),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            let canonical = sign::v3_canonical_request("POST", "/", [], &headers, &digest);
            let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            let authorization = format!(
                "{} Credential={},SignedHeaders={},Signature={}",
                sign::ACS3,
                KEY.0,
                sorted.join(";"),
                sign::v3_signature(KEY.1, &canonical)
            );
            let mut request =
                reqwest::Client::new().post(&sim.http_url).body(body).header("authorization", authorization);
            for (name, value) in headers.into_iter().filter(|(n, _)| n != "host") {
                request = request.header(name, value);
            }
            request.send()
        };
        assert_eq!(code(send(sign::sha256_hex(body.as_bytes())).await.unwrap()).await, (200, "1".to_owned()));
        assert_eq!(code(send(sign::sha256_hex(b"")).await.unwrap()).await, (400, "SignatureDoesNotMatch".to_owned()));
    }
}
