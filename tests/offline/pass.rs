//! The real reconcile pass under faults: `controller::reconcile`, as kube's Controller calls it,
//! against an in-memory Kubernetes API (a map of one object with resourceVersions, server-side
//! apply of status and finalizers, conflicts on a stale version) and an in-memory cloud (orders
//! that take time, account-wide reads that lag, answers that get lost), with the process killed
//! at any request (before or after the other side acted on it) and restarted, a watch cache
//! that lags, pauses, leadership lost and won, and a second resource naming the same gateway.
//!
//! Invariant: the cloud takes one order per change the spec needs, never while the resource is
//! paused, this replica does not lead or another resource owns the gateway; and the gateway ends
//! as declared.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    task::{Context as TaskContext, Poll},
    time::Duration,
};

use async_trait::async_trait;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use kube::{
    Client,
    client::Body,
    runtime::{reflector, watcher},
};
use proptest::prelude::*;
use serde_json::{Value, json};

use natgw_operator::{
    api::{BillingMode, NatGateway, OrderAction, Prepaid, Renewal, Size},
    cloud::{
        Capacity, CloudError, Connector, Credentials, ErrorKind, GatewayRef, GatewayState, Observed, OrderState,
        OrderTicket, Profile, Provider, RenewalChange, SecretValue, Selected, Subscription,
        claim::{ClaimTag, Claimant},
        identity::{ExchangeError, Temporary},
    },
    controller::{self, Config, Context},
    fence::Fence,
    metrics::Metrics,
};

const NAMESPACE: &str = "team";
const NAME: &str = "egress";
const GATEWAY: &str = "nat-et8e970y";
const TENCENT_V2: &Profile = &natgw_operator::cloud::tencent::V2;
const TENCENT_V3: &Profile = &natgw_operator::cloud::tencent::V3;
const HUAWEI: &Profile = &natgw_operator::cloud::huawei::PROFILE;

// ---------------------------------------------------------------------------------------------
// Crashes: every request to either side is a point where the process may die.

/// Where the next crash happens: at the `at`-th request from now, before or after the other side
/// acted on it.
#[derive(Debug, Clone, Copy)]
struct CrashAt {
    at: u8,
    after: bool,
}

#[derive(Default)]
struct Io {
    state: Mutex<IoState>,
    crashed: tokio::sync::Notify,
}

#[derive(Default)]
struct IoState {
    requests: u32,
    crash: Option<CrashAt>,
}

/// What one request may do.
#[derive(Debug, PartialEq)]
enum Fate {
    Go,
    /// The process dies: the request never reaches the other side.
    DieBefore,
    /// The other side acts on it; the process dies before it learns the answer.
    DieAfter,
}

impl Io {
    fn next(&self) -> Fate {
        let mut s = self.state.lock().unwrap();
        s.requests += 1;
        match s.crash {
            Some(CrashAt { at: 0, after }) => {
                s.crash = None;
                self.crashed.notify_one();
                if after { Fate::DieAfter } else { Fate::DieBefore }
            }
            Some(ref mut c) => {
                c.at -= 1;
                Fate::Go
            }
            None => Fate::Go,
        }
    }

    /// A request whose process died: its answer never comes.
    async fn dead<T>() -> T {
        std::future::pending().await
    }
}

// ---------------------------------------------------------------------------------------------
// The Kubernetes API: one NatGateway, its creds Secret, Events.

struct Objects {
    natgw: Value,
    version: u64,
    /// Finalizers by field manager (server-side apply: each manager owns its own list).
    finalizers: BTreeMap<String, Vec<String>>,
    events: usize,
    /// Requests this API does not serve: the pass made a call the test does not expect.
    unexpected: Vec<String>,
}

#[derive(Clone)]
struct Kube {
    objects: Arc<Mutex<Objects>>,
    io: Arc<Io>,
    secret: Value,
}

impl Kube {
    fn new(natgw: Value, secret: Value, io: Arc<Io>) -> Kube {
        let objects = Objects { natgw, version: 1, finalizers: BTreeMap::new(), events: 0, unexpected: Vec::new() };
        let kube = Kube { objects: Arc::new(Mutex::new(objects)), io, secret };
        kube.edit(|_| {});
        kube
    }

    /// The stored object.
    fn object(&self) -> NatGateway {
        serde_json::from_value(self.objects.lock().unwrap().natgw.clone()).expect("a NatGateway")
    }

    /// A change by someone else (the user): a new resourceVersion.
    fn edit(&self, change: impl FnOnce(&mut Value)) {
        let mut o = self.objects.lock().unwrap();
        change(&mut o.natgw);
        o.version += 1;
        let finalizers: Vec<String> = o.finalizers.values().flatten().cloned().collect();
        o.natgw["metadata"]["resourceVersion"] = json!(o.version.to_string());
        o.natgw["metadata"]["finalizers"] = json!(finalizers);
    }

    fn respond(code: StatusCode, body: &Value) -> Response<Body> {
        Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap()
    }

    fn status(code: StatusCode, reason: &str) -> Response<Body> {
        let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": reason,
            "reason": reason, "code": code.as_u16()});
        Kube::respond(code, &body)
    }

    async fn serve(self, req: Request<Body>) -> Response<Body> {
        let fate = self.io.next();
        if fate == Fate::DieBefore {
            return Io::dead().await;
        }
        let (parts, body) = req.into_parts();
        let body = body.collect_bytes().await.unwrap_or_default();
        let path = parts.uri.path().to_owned();
        let natgw = format!("/apis/natgw.io/v1alpha1/namespaces/{NAMESPACE}/natgateways/{NAME}");
        let response = match (&parts.method, path.as_str()) {
            (&Method::GET, p) if p == format!("/api/v1/namespaces/{NAMESPACE}/secrets/creds") => {
                Kube::respond(StatusCode::OK, &self.secret)
            }
            (&Method::POST | &Method::PATCH, p) if p.starts_with("/apis/events.k8s.io/v1/") => {
                self.objects.lock().unwrap().events += 1;
                let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                Kube::respond(StatusCode::CREATED, &event)
            }
            (&Method::GET, p) if p == natgw => Kube::respond(StatusCode::OK, &self.objects.lock().unwrap().natgw),
            (&Method::PATCH, p) if p == natgw || p == format!("{natgw}/status") => {
                let manager = parts
                    .uri
                    .query()
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("fieldManager=")))
                    .unwrap_or_default()
                    .to_owned();
                let patch: Value = serde_json::from_slice(&body).expect("an apply patch");
                self.apply(&manager, patch, p.ends_with("/status"))
            }
            (method, p) => {
                self.objects.lock().unwrap().unexpected.push(format!("{method} {p}"));
                Kube::status(StatusCode::NOT_FOUND, "NotFound")
            }
        };
        match fate {
            Fate::DieAfter => Io::dead().await,
            _ => response,
        }
    }

    /// Server-side apply by `manager`, conditional on the patch's resourceVersion.
    fn apply(&self, manager: &str, patch: Value, status: bool) -> Response<Body> {
        let current = self.objects.lock().unwrap().version.to_string();
        if let Some(version) = patch["metadata"]["resourceVersion"].as_str()
            && version != current
        {
            return Kube::status(StatusCode::CONFLICT, "Conflict");
        }
        let manager = manager.to_owned();
        self.edit(|natgw| {
            if status {
                natgw["status"] = patch["status"].clone();
            }
        });
        if !status {
            let list = patch["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
            let list = list.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect();
            self.objects.lock().unwrap().finalizers.insert(manager, list);
            self.edit(|_| {});
        }
        Kube::respond(StatusCode::OK, &self.objects.lock().unwrap().natgw)
    }
}

impl tower::Service<Request<Body>> for Kube {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.serve(req).await) })
    }
}

// ---------------------------------------------------------------------------------------------
// The cloud: one gateway whose changes take ticks, orders where the cloud has them.

/// One change the cloud is carrying out.
#[derive(Debug, Clone)]
struct Job {
    action: OrderAction,
    target: String,
    id: Option<String>,
    /// Ticks until the order (if any) reports success.
    order_in: u8,
    /// Ticks until the gateway shows the change and is steady again.
    lands_in: u8,
}

/// What the resource and this replica are when a change reaches the cloud.
#[derive(Debug, Clone, Copy, Default)]
struct World {
    paused: bool,
    leading: bool,
    rival: bool,
}

struct CloudState {
    kind: &'static Profile,
    /// Every state the gateway was in; account-wide reads may answer any of the last `lag`.
    history: Vec<Observed>,
    job: Option<Job>,
    orders: Vec<(String, OrderAction, OrderState)>,
    /// Every accepted change.
    ledger: Vec<(OrderAction, String)>,
    /// Changes accepted while the resource was paused, not led or not the owner.
    forbidden: Vec<(OrderAction, String, World)>,
    world: World,
    order_time: u8,
    lag_time: u8,
    /// How far behind account-wide reads are in the next pass.
    lag: u8,
    /// The next change's answer is lost (a timeout) after the cloud took it or not.
    lose: Option<bool>,
    renewals: usize,
}

#[derive(Clone)]
struct Cloud {
    state: Arc<Mutex<CloudState>>,
    io: Arc<Io>,
}

impl CloudState {
    fn now(&self) -> Observed {
        self.history.last().cloned().expect("a gateway")
    }

    fn push(&mut self, observed: Observed) {
        self.history.push(observed);
    }

    fn accept(&mut self, action: OrderAction, target: String) -> Option<String> {
        let mut now = self.now();
        let id = if self.kind == TENCENT_V3 {
            None
        } else if self.kind == TENCENT_V2 {
            Some(format!("bill-{}", self.ledger.len()))
        } else if action == OrderAction::Resize && now.billing == BillingMode::PayPerUse {
            // Huawei bills a prepaid gateway's resize and every billing change through BSS.
            None
        } else {
            Some(format!("CS{}", self.ledger.len()))
        };
        if action == OrderAction::Resize {
            // Resizes show at once; a billing change waits for its order.
            now.state = GatewayState::Transitioning;
        }
        self.push(now);
        if let Some(id) = &id {
            self.orders.push((id.clone(), action, OrderState::InProgress));
        }
        if self.world.paused || !self.world.leading || self.world.rival {
            self.forbidden.push((action, target.clone(), self.world));
        }
        self.ledger.push((action, target.clone()));
        let (order_in, lands_in) = (self.order_time, self.order_time + self.lag_time);
        self.job = Some(Job { action, target, id: id.clone(), order_in, lands_in });
        id
    }

    fn tick(&mut self) {
        let Some(job) = self.job.as_mut() else { return };
        job.order_in = job.order_in.saturating_sub(1);
        job.lands_in = job.lands_in.saturating_sub(1);
        if job.order_in == 0
            && let Some(id) = &job.id
            && let Some(entry) = self.orders.iter_mut().find(|(o, _, _)| o == id)
        {
            entry.2 = OrderState::Succeeded;
        }
        if job.lands_in == 0 {
            let job = self.job.take().expect("a job");
            let mut now = self.now();
            match job.action {
                OrderAction::Resize => {
                    let size = Size::ALL.into_iter().find(|s| s.to_string() == job.target).expect("a size");
                    now.capacity = self.kind.capacity_for(size).expect("a supported size");
                }
                OrderAction::ChangeBilling => {
                    now.billing = BillingMode::Prepaid;
                    now.subscription = subscription(self.kind, BillingMode::Prepaid);
                }
            }
            now.state = GatewayState::Ready;
            self.push(now);
        }
    }
}

fn subscription(kind: &Profile, billing: BillingMode) -> Option<Subscription> {
    (kind.renewal && billing == BillingMode::Prepaid)
        .then_some(Subscription { expires_at: None, renewal: Renewal::Manual })
}

impl Cloud {
    /// One request: `act` runs unless the process dies before it; its answer is lost if the
    /// process dies after.
    async fn request<T>(&self, act: impl FnOnce(&mut CloudState) -> T) -> T {
        let fate = self.io.next();
        if fate == Fate::DieBefore {
            return Io::dead().await;
        }
        let answer = act(&mut self.state.lock().unwrap());
        match fate {
            Fate::DieAfter => Io::dead().await,
            _ => answer,
        }
    }

    /// A change: taken or not, its answer may be lost.
    async fn change(&self, action: OrderAction, target: String) -> Result<OrderTicket, CloudError> {
        self.request(|s| {
            let lose = s.lose.take();
            let id = match lose {
                Some(false) => None,
                _ => s.accept(action, target),
            };
            match lose {
                Some(_) => Err(CloudError::new(ErrorKind::Transient, "timed out")),
                None => Ok(OrderTicket { order_id: id, request_id: None }),
            }
        })
        .await
    }
}

#[async_trait]
impl Provider for Cloud {
    fn profile(&self) -> &'static Profile {
        self.state.lock().unwrap().kind
    }

    async fn describe(&self, _: &GatewayRef) -> Result<Observed, CloudError> {
        Ok(self.request(|s| s.now()).await)
    }

    /// An account-wide read: up to `lag` states old, whatever this process saw before.
    async fn describe_within(&self, _: &GatewayRef, _: Duration) -> Result<Observed, CloudError> {
        Ok(self.request(|s| s.history[s.history.len() - 1 - usize::from(s.lag).min(s.history.len() - 1)].clone()).await)
    }

    async fn resize(&self, _: &GatewayRef, capacity: &Capacity, _: bool) -> Result<OrderTicket, CloudError> {
        let kind = self.profile();
        let size = Size::ALL.into_iter().find(|s| kind.capacity_for(*s).as_ref() == Some(capacity)).expect("a size");
        self.change(OrderAction::Resize, size.to_string()).await
    }

    async fn change_billing(&self, _: &GatewayRef, _: &Prepaid) -> Result<OrderTicket, CloudError> {
        self.change(OrderAction::ChangeBilling, BillingMode::Prepaid.to_string()).await
    }

    async fn order_status(&self, _: &GatewayRef, order_id: &str) -> Result<OrderState, CloudError> {
        let state =
            self.request(|s| s.orders.iter().find(|(o, _, _)| o == order_id).map(|(_, _, st)| st.clone())).await;
        state.ok_or_else(|| CloudError::new(ErrorKind::NotFound, format!("no order {order_id}")))
    }

    async fn set_renewal(&self, _: &GatewayRef, change: RenewalChange) -> Result<(), CloudError> {
        self.request(|s| {
            let renewal = match change {
                RenewalChange::EnableAutoRenew => Renewal::Auto,
                RenewalChange::DisableAutoRenew | RenewalChange::KeepAtExpiry => Renewal::Manual,
                RenewalChange::PayPerUseAtExpiry => Renewal::PayPerUseAtExpiry,
            };
            let mut now = s.now();
            now.subscription = now.subscription.map(|sub| Subscription { renewal, ..sub });
            s.push(now);
            s.renewals += 1;
        })
        .await;
        Ok(())
    }

    /// Huawei lists orders; the other clouds show an accepted change on the gateway at once.
    async fn find_open_order(&self, _: &GatewayRef, action: OrderAction) -> Result<Option<String>, CloudError> {
        Ok(self
            .request(|s| {
                (s.kind == HUAWEI)
                    .then(|| {
                        let open = |(_, a, st): &&(String, OrderAction, OrderState)| {
                            *a == action && *st == OrderState::InProgress
                        };
                        s.orders.iter().rev().find(open).map(|(id, _, _)| id.clone())
                    })
                    .flatten()
            })
            .await)
    }

    async fn write_claim(&self, _: &GatewayRef, claimant: &Claimant, _: bool) -> Result<(), CloudError> {
        self.request(|s| {
            let mut now = s.now();
            now.claim = ClaimTag::Held(claimant.clone());
            s.push(now);
        })
        .await;
        Ok(())
    }
}

struct Clouds(Cloud);

impl Connector for Clouds {
    fn select(&self, spec: &natgw_operator::api::NatGatewaySpec) -> Result<Selected, CloudError> {
        let kind = self.0.profile();
        let gateway = GatewayRef { id: GATEWAY.into(), place: spec.provider.clone() };
        Ok(Selected { profile: kind, gateway, endpoint: None, other_endpoints: Vec::new() })
    }

    fn connect(
        &self,
        _: &natgw_operator::api::NatGatewaySpec,
        _: Credentials,
    ) -> Result<Arc<dyn Provider>, CloudError> {
        Ok(Arc::new(self.0.clone()))
    }

    fn exchange<'a>(
        &'a self,
        _: &'a natgw_operator::api::NatGatewaySpec,
        _: &'a SecretValue,
        _: &'a str,
        _: &'a Metrics,
    ) -> BoxFuture<'a, Result<Temporary, ExchangeError>> {
        Box::pin(async { Err(ExchangeError::Call(CloudError::new(ErrorKind::Unsupported, "no workload identity"))) })
    }
}

// ---------------------------------------------------------------------------------------------
// The operator: a process that runs passes until it is killed, and the harness around it.

struct Process {
    ctx: Arc<Context>,
    store: reflector::store::Writer<NatGateway>,
}

struct Harness {
    kube: Kube,
    cloud: Cloud,
    io: Arc<Io>,
    fence: Fence,
    process: Process,
    /// An older resource naming the same gateway, in the watch cache.
    rival: Option<NatGateway>,
    restarts: usize,
}

impl Harness {
    fn start(kube: &Kube, cloud: &Cloud, fence: &Fence) -> Process {
        let client = Client::new(kube.clone(), NAMESPACE);
        let (reader, mut store) = reflector::store::<NatGateway>();
        store.apply_watcher_event(&watcher::Event::Apply(kube.object()));
        let config = Config { fence: fence.clone(), claim_settle: Duration::ZERO, ..Config::default() };
        let ctx = Context::new(client, Arc::new(Clouds(cloud.clone())), config, reader);
        Process { ctx, store }
    }

    /// The watch delivers the stored object (and the rival, if any) to the cache.
    fn deliver(&mut self) {
        self.process.store.apply_watcher_event(&watcher::Event::Apply(self.kube.object()));
    }

    fn set_rival(&mut self, present: bool) {
        let rival = present.then(|| {
            let mut rival = self.kube.object();
            rival.metadata.name = Some("older".into());
            rival.metadata.uid = Some("older-uid".into());
            rival.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2020-01-01T00:00:00Z".parse().unwrap()));
            rival.metadata.annotations = None;
            rival.status = None;
            rival
        });
        match (&self.rival, &rival) {
            (Some(old), None) => self.process.store.apply_watcher_event(&watcher::Event::Delete(old.clone())),
            (_, Some(new)) => self.process.store.apply_watcher_event(&watcher::Event::Apply(new.clone())),
            (None, None) => {}
        }
        self.rival = rival;
        self.cloud.state.lock().unwrap().world.rival = present;
    }

    /// One pass of the real controller; a crash kills the process, which starts again with
    /// nothing but what the API server and the cloud hold.
    async fn pass(&mut self, crash: Option<CrashAt>) {
        self.io.state.lock().unwrap().crash = crash;
        let obj = Arc::new(self.kube.object());
        let ctx = self.process.ctx.clone();
        let crashed = tokio::select! {
            _ = controller::reconcile(obj, ctx) => false,
            _ = self.io.crashed.notified() => true,
        };
        self.io.state.lock().unwrap().crash = None;
        if crashed {
            self.restarts += 1;
            self.process = Harness::start(&self.kube, &self.cloud, &self.fence);
            if let Some(rival) = &self.rival {
                self.process.store.apply_watcher_event(&watcher::Event::Apply(rival.clone()));
            }
        }
    }

    fn set_paused(&self, paused: bool) {
        self.kube.edit(|natgw| {
            natgw["metadata"]["annotations"] = match paused {
                true => json!({"natgw.io/paused": "true"}),
                false => json!({}),
            };
        });
        self.cloud.state.lock().unwrap().world.paused = paused;
    }

    fn set_leading(&self, leading: bool) {
        match leading {
            true => self.fence.held_until(tokio::time::Instant::now() + Duration::from_secs(3600)),
            false => self.fence.revoke(),
        }
        self.cloud.state.lock().unwrap().world.leading = leading;
    }
}

// ---------------------------------------------------------------------------------------------
// The property.

#[derive(Debug, Clone)]
enum Op {
    Tick,
    Pass {
        /// How many states behind account-wide reads are.
        lag: u8,
        /// The answer to a change is lost (a timeout) after the cloud took it (`true`) or not.
        lose: Option<bool>,
        crash: Option<CrashAt>,
    },
    /// The watch delivers the latest object; until then passes start from an older copy.
    Deliver,
    Pause(bool),
    Lead(bool),
    Rival(bool),
}

fn any_op() -> impl Strategy<Value = Op> {
    let crash = prop::option::weighted(0.25, (0u8..12, any::<bool>()).prop_map(|(at, after)| CrashAt { at, after }));
    let lose = prop::option::weighted(0.2, any::<bool>());
    prop_oneof![
        3 => Just(Op::Tick),
        5 => (0u8..4, lose, crash).prop_map(|(lag, lose, crash)| Op::Pass { lag, lose, crash }),
        3 => Just(Op::Deliver),
        1 => any::<bool>().prop_map(Op::Pause),
        1 => any::<bool>().prop_map(Op::Lead),
        1 => any::<bool>().prop_map(Op::Rival),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    kind: &'static Profile,
    from: (Size, BillingMode),
    to: (Size, BillingMode),
    order_time: u8,
    lag_time: u8,
    ops: Vec<Op>,
}

fn any_case() -> impl Strategy<Value = Case> {
    let size = prop::sample::select(Size::ALL.to_vec());
    let billing = prop::sample::select(BillingMode::ALL.to_vec());
    (
        prop::sample::select(vec![TENCENT_V2, TENCENT_V3, HUAWEI]),
        (size.clone(), billing.clone()),
        (size, billing),
        prop::bool::weighted(0.85),
        (1u8..4, 0u8..3),
        prop::collection::vec(any_op(), 0..40),
    )
        .prop_map(|(kind, from, to, within_tencent, (order_time, lag_time), ops)| {
            // A gateway the cloud can have: Tencent is pay-per-use, Small..Large; and mostly a
            // change Tencent can make.
            let tencent = (kind != HUAWEI).then_some((Size::Large, BillingMode::PayPerUse));
            let from = tencent.map_or(from, |(max, mode)| (from.0.min(max), mode));
            let to = tencent.filter(|_| within_tencent).map_or(to, |(max, mode)| (to.0.min(max), mode));
            Case { kind, from, to, order_time, lag_time, ops }
        })
}

fn natgw(kind: &Profile, (size, billing): (Size, BillingMode)) -> Value {
    let provider = match kind {
        k if k == HUAWEI => json!({"huawei": {"region": "cn-north-4", "projectId": "p1"}}),
        k if k == TENCENT_V2 => json!({"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-1", "api": "V2"}}),
        _ => json!({"tencent": {"region": "ap-guangzhou", "api": "V3"}}),
    };
    let mut spec =
        json!({"gatewayId": GATEWAY, "provider": provider, "size": size, "credentialsSecretRef": {"name": "creds"}});
    if billing == BillingMode::Prepaid {
        spec["billing"] = json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1}});
    }
    json!({
        "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "uid": "uid-1", "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": spec,
    })
}

fn secret(kind: &Profile) -> Value {
    use base64::Engine as _;
    let keys = kind.secret_keys;
    let value = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let mut data = json!({keys.key_id: value("AKIDEXAMPLE"), keys.secret: value("secret")});
    if let Some(domain) = keys.domain_id {
        data[domain] = json!(value("domain-1"));
    }
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": NAMESPACE,
        "resourceVersion": "1"}, "data": data})
}

/// Whether the cloud can make the change, the orders it needs (in the order the cloud must take
/// them), and whether a renewal setting makes the rest.
fn needed(case: &Case) -> (bool, Vec<(OrderAction, String)>, bool) {
    let (kind, (from, from_bill), (to, to_bill)) = (case.kind, case.from, case.to);
    let possible = kind.capacity_for(to).is_some()
        && (from_bill == to_bill || kind == HUAWEI)
        && !(kind == TENCENT_V2 && to < from);
    // Yearly/monthly back to pay-per-use is a renewal setting, no order.
    let at_expiry = from_bill == BillingMode::Prepaid && to_bill == BillingMode::PayPerUse;
    let mut needed = Vec::new();
    if possible && from_bill != to_bill && !at_expiry {
        needed.push((OrderAction::ChangeBilling, to_bill.to_string()));
    }
    if possible && from != to {
        needed.push((OrderAction::Resize, to.to_string()));
    }
    (possible, needed, possible && at_expiry)
}

async fn run(case: Case) -> Result<(), TestCaseError> {
    let io = Arc::new(Io::default());
    let kube = Kube::new(natgw(case.kind, case.to), secret(case.kind), io.clone());
    let (from, from_bill) = case.from;
    let cloud = Cloud {
        state: Arc::new(Mutex::new(CloudState {
            kind: case.kind,
            history: vec![Observed {
                capacity: case.kind.capacity_for(from).expect("a size the cloud has"),
                billing: from_bill,
                state: GatewayState::Ready,
                raw_state: "ACTIVE".into(),
                subscription: subscription(case.kind, from_bill),
                claim: ClaimTag::Free,
            }],
            job: None,
            orders: Vec::new(),
            ledger: Vec::new(),
            forbidden: Vec::new(),
            world: World { leading: true, ..World::default() },
            order_time: case.order_time,
            lag_time: case.lag_time,
            lag: 0,
            lose: None,
            renewals: 0,
        })),
        io: io.clone(),
    };
    let fence = Fence::elected();
    let process = Harness::start(&kube, &cloud, &fence);
    let mut h = Harness { kube, cloud, io, fence, process, rival: None, restarts: 0 };
    h.set_leading(true);
    for op in case.ops.clone() {
        match op {
            Op::Tick => h.cloud.state.lock().unwrap().tick(),
            Op::Pass { lag, lose, crash } => {
                {
                    let mut s = h.cloud.state.lock().unwrap();
                    (s.lag, s.lose) = (lag, lose);
                }
                h.pass(crash).await;
                h.cloud.state.lock().unwrap().lose = None;
            }
            Op::Deliver => h.deliver(),
            Op::Pause(on) => h.set_paused(on),
            Op::Lead(on) => h.set_leading(on),
            Op::Rival(on) => h.set_rival(on),
        }
    }
    // Then the world calms down: unpaused, leading, alone, the watch keeping up.
    h.set_paused(false);
    h.set_leading(true);
    h.set_rival(false);
    h.cloud.state.lock().unwrap().lag = 0;
    for _ in 0..60 {
        h.cloud.state.lock().unwrap().tick();
        h.deliver();
        h.pass(None).await;
    }

    let (possible, needed, at_expiry) = needed(&case);
    let ev = h.kube.objects.lock().unwrap().events;
    eprintln!(
        "STAT kind={} possible={possible} needed={} ledger={} restarts={} events={ev}",
        case.kind.label,
        needed.len(),
        h.cloud.state.lock().unwrap().ledger.len(),
        h.restarts
    );
    let cloud = h.cloud.state.lock().unwrap();
    prop_assert!(
        cloud.forbidden.is_empty(),
        "changes while paused, not leading or not the owner: {:?}",
        cloud.forbidden
    );
    let unexpected = h.kube.objects.lock().unwrap().unexpected.clone();
    prop_assert!(unexpected.is_empty(), "requests the pass should not make: {:?}", unexpected);
    let status = h.kube.object().status.unwrap_or_default();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").map(|c| (c.status.clone(), c.reason.clone()));
    if possible {
        prop_assert_eq!(&cloud.ledger, &needed, "restarts {}", h.restarts);
        prop_assert_eq!(ready, Some(("True".to_owned(), "InSync".to_owned())));
        prop_assert!(status.order.is_none());
        prop_assert!(!at_expiry || cloud.renewals >= 1, "pay-per-use at expiry was never set");
    } else {
        prop_assert!(cloud.ledger.is_empty(), "ordered {:?}", cloud.ledger);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_real_pass_places_one_order_per_change(case in any_case()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(case))?;
    }
}
