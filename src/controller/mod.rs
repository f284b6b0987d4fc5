//! The controller: watch `NatGateway`s, read the Secret, describe the gateway, [`plan`], act,
//! write status. Shaped like kube-rs's controller-rs (reconcile / error_policy / Context).

mod admission;
mod backoff;
mod conditions;
mod credentials;
mod drift;
pub mod events;
mod gauges;
mod identity;
mod ownership;
mod roster;
mod watch;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::{
    api::{
        core::v1::Secret,
        rbac::v1::{Role, RoleBinding},
    },
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use tracing::{info, warn};

pub use credentials::{CredentialsError, SecretAccess, read_secret};
use events::{EventType, Recorder};
pub use watch::{StartError, Watch, start as watch};

use crate::{
    api::{CredentialSource, NatGateway, NatGatewayStatus, ObservedStatus, OrderStatus, WorkloadIdentity},
    cloud::instrumented::InstrumentedProvider,
    cloud::{
        CloudError, Connector, Credentials, ErrorKind, GatewayRef, Observed, OrderState, OrderTicket, Profile,
        Provider, Refusal, Selected,
        claim::{ClaimTag, Claimant, ClusterId},
    },
    failpoint::{self, Point},
    fence::Fence,
    health::Readiness,
    metrics::{Metrics, Outcome},
    plan::{self, Effect, FINALIZER, Health, Reason, Step, Target},
};

/// Field manager for status writes.
const MANAGER: &str = "natgw-operator";
/// Field manager for [`FINALIZER`] (apart from status, so that each apply owns only its part).
const FINALIZER_MANAGER: &str = "natgw-operator-finalizer";
/// Keeps a deleted resource until its claim tag is removed from the gateway.
pub const CLAIM_FINALIZER: &str = "natgw.io/cloud-claim";
/// Field manager for [`CLAIM_FINALIZER`].
const CLAIM_FINALIZER_MANAGER: &str = "natgw-operator-claim";

/// Knobs of the control loop.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often an in-sync gateway is re-read to catch out-of-band changes.
    pub drift_interval: Duration,
    /// How often a running order or a changing gateway is polled.
    pub poll_interval: Duration,
    /// Longest wait between retries after cloud errors.
    pub max_backoff: Duration,
    /// Watch only this namespace (a namespaced install); all namespaces when `None`.
    pub namespace: Option<String>,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Watch Secrets (`Cluster`) or only get the ones namespaces granted (`Granted`).
    pub secret_access: SecretAccess,
    /// The audience of the ServiceAccount tokens exchanged for workload identities.
    pub workload_identity_audience: String,
    // --- telemetry (src/metrics.rs, src/health.rs) ---
    /// Where reconciles, cloud calls and orders are counted.
    pub metrics: Arc<Metrics>,
    /// Marked synced once the NatGateway cache is filled.
    pub readiness: Readiness,
    /// Closed while this replica does not surely hold the leader lease (src/fence.rs).
    pub fence: Fence,
    // --- claims across clusters (src/cloud/claim.rs) ---
    /// The cluster this operator's claims name (`run --cluster-id`).
    pub cluster: ClusterId,
    /// How long after writing a claim tag the pass reads it back: longer than twice the clouds'
    /// delay before a tag write shows to every read, so that of two clusters claiming at once
    /// both see the last writer (`run --claim-settle`).
    pub claim_settle: Duration,
    /// Claims at rest (of gateways already as declared) written per second, process-wide: a
    /// fleet's first looks go first, and its claims follow without crowding the API server
    /// (`run --claim-rate`). A change claims at once, at the cloud's rate limit.
    pub claim_rate: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            drift_interval: Duration::from_secs(600),
            poll_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            namespace: None,
            concurrency: 16,
            secret_access: SecretAccess::Cluster,
            workload_identity_audience: DEFAULT_AUDIENCE.to_owned(),
            metrics: Arc::default(),
            readiness: Readiness::default(),
            fence: Fence::unfenced(),
            cluster: ClusterId::new("local").expect("a DNS label"),
            claim_settle: DEFAULT_CLAIM_SETTLE,
            claim_rate: DEFAULT_CLAIM_RATE,
        }
    }
}

/// When a claim held back by the rate limit is tried again, if the limiter gives no time.
const DEFAULT_CLAIM_RETRY: Duration = Duration::from_secs(1);

/// `run --claim-rate` unless the installer picks another.
pub const DEFAULT_CLAIM_RATE: f64 = 50.0;

/// The [`Context::claims_at_rest`] pacer's one action.
const CLAIM_AT_REST: &str = "claim at rest";

/// `run --claim-settle` unless the installer picks another.
pub const DEFAULT_CLAIM_SETTLE: Duration = Duration::from_secs(5);

/// The audience of workload identity tokens unless the installer picks another: the client id
/// the cloud's identity provider is set up to accept.
pub const DEFAULT_AUDIENCE: &str = "natgw-operator";

/// Shared state of all reconciles.
pub struct Context {
    pub client: Client,
    pub connector: Arc<dyn Connector>,
    pub recorder: Recorder,
    credentials: credentials::Cache,
    identities: identity::Identities,
    pub config: Config,
    /// Every NatGateway the controller sees, to find the one resource that owns a gateway.
    natgws: Store<NatGateway>,
    /// Retry delays per object (see [`backoff`]).
    backoffs: backoff::Backoffs<ObjectRef<NatGateway>>,
    /// Since when this process has seen each resource's own claim on its gateway (written it, or
    /// read it in every read since), by a hash of gateway and claim: a claim seen for the settle
    /// delay is confirmed ([`plan::Claim::Ours`]).
    claims_seen: parking_lot::Mutex<std::collections::HashMap<u64, Instant>>,
    /// Paces claims at rest ([`Config::claim_rate`]).
    claims_at_rest: crate::cloud::ratelimit::RateLimiter,
    /// Orders the watch's triggers ([`admission`]).
    admission: Arc<admission::Admission>,
    /// When each resource at rest is next checked ([`drift`]), and its due checks handed to kube
    /// as passes start (a fleet's checks coming due at once would otherwise each wait for a
    /// reconcile slot as a pass of their own, ~400 bytes apiece).
    drift: Arc<drift::DriftSchedule>,
    checks: Arc<admission::Admission>,
    /// The reconcile slots (`run --concurrency`), taken in the order passes come due.
    slots: tokio::sync::Semaphore,
    /// A few more, for passes the watch's triggers start ([`admission::Admission::waiting`]).
    change_slots: tokio::sync::Semaphore,
}

/// First delay after a status write lost to a newer version of the object.
const CONFLICT_BACKOFF: Duration = Duration::from_millis(250);

impl Context {
    pub fn new(
        client: Client,
        connector: Arc<dyn Connector>,
        config: Config,
        natgws: Store<NatGateway>,
    ) -> Arc<Context> {
        Arc::new(Context {
            recorder: Recorder::new(client.clone(), MANAGER, std::env::var("POD_NAME").ok()),
            // A Secret change the watch missed is seen within a drift interval.
            credentials: credentials::Cache::new(
                config.drift_interval,
                config.secret_access,
                config.poll_interval.saturating_mul(12).min(config.max_backoff),
            ),
            identities: identity::Identities::new(config.workload_identity_audience.clone()),
            client,
            connector,
            backoffs: backoff::Backoffs::new(config.max_backoff),
            claims_seen: Default::default(),
            claims_at_rest: crate::cloud::ratelimit::RateLimiter::documented(&[(CLAIM_AT_REST, config.claim_rate)]),
            admission: admission::Admission::new(usize::from(config.concurrency) * 3 / 2),
            drift: drift::DriftSchedule::new(),
            checks: admission::Admission::new(usize::from(config.concurrency) * 3 / 2),
            slots: tokio::sync::Semaphore::new(usize::from(config.concurrency)),
            change_slots: tokio::sync::Semaphore::new(usize::from(config.concurrency).div_ceil(8)),
            natgws,
            config,
        })
    }

    fn claim_key(gateway: &GatewayRef, claimant: &Claimant) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one((gateway, claimant.tag_value()))
    }

    /// How long `claimant`'s claim has been seen on the gateway, after a read that shows it
    /// (`held`) or not; `written`: this process is about to write it.
    fn claim_seen(&self, gateway: &GatewayRef, claimant: &Claimant, held: bool, written: bool) -> Duration {
        let key = Context::claim_key(gateway, claimant);
        let mut seen = self.claims_seen.lock();
        if written {
            seen.insert(key, Instant::now());
        }
        if !held && !written {
            seen.remove(&key);
            return Duration::ZERO;
        }
        seen.entry(key).or_insert_with(Instant::now).elapsed()
    }

    /// The delay before the next attempt for `obj`: grows with each refusal or failure (see
    /// [`backoff`]).
    fn backoff(&self, obj: &NatGateway, base: Duration, at_least: Option<Duration>) -> Duration {
        self.backoffs.next(ObjectRef::from(obj), obj.meta().generation.unwrap_or_default(), base, at_least)
    }

    /// An order finished or the gateway is as wanted: the next refusal starts from the base again.
    fn reset_backoff(&self, obj: &NatGateway) {
        self.backoffs.reset(&ObjectRef::from(obj));
    }
}

/// Things that stop a reconcile and are retried by [`error_policy`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status of {name} failed: {source}")]
    StatusWrite { name: String, source: kube::Error },
    #[error("reading the credentials Secret failed: {0}")]
    SecretRead(String),
    #[error("{0}")]
    TokenRequest(String),
    #[error("updating the finalizer of {name} failed: {source}")]
    Finalizer { name: String, source: kube::Error },
    #[error("this replica no longer surely holds the leader lease; the change was not sent")]
    NotLeader,
}

impl Error {
    /// For `natgw_reconcile_errors_total`.
    fn reason(&self) -> Reason {
        match self {
            Error::StatusWrite { .. } => Reason::StatusWriteFailed,
            Error::SecretRead(_) => Reason::SecretReadFailed,
            Error::TokenRequest(_) => Reason::TokenRequestFailed,
            Error::Finalizer { .. } => Reason::FinalizerUpdateFailed,
            Error::NotLeader => Reason::NotLeader,
        }
    }

    /// The write was made on a copy older than the stored object (HTTP 409).
    fn is_conflict(&self) -> bool {
        matches!(self, Error::StatusWrite { source: kube::Error::Api(s), .. } | Error::Finalizer { source: kube::Error::Api(s), .. } if s.code == 409)
    }
}

/// Runs the controller until `shutdown` resolves (SIGTERM/SIGINT in production), watching as
/// `config` says.
pub async fn run(
    client: Client,
    connector: Arc<dyn Connector>,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), StartError> {
    let watch =
        watch::start(client.clone(), config.namespace.as_deref(), connector.clone(), config.readiness.clone()).await?;
    run_watched(watch, client, connector, config, shutdown).await
}

/// Runs the controller on a [`Watch`] started earlier (a standby's: its cache is already full
/// when it becomes the leader) until `shutdown` resolves.
pub async fn run_watched(
    watch: Watch,
    client: Client,
    connector: Arc<dyn Connector>,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), StartError> {
    let secrets: Api<kube::core::PartialObjectMeta<Secret>> = match &config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (client_for_grants, config_namespace) = (client.clone(), config.namespace.clone());
    let reader = watch.store.clone();
    // How the resources stand (natgw_resources, ...) is read from this cache at each scrape.
    config.metrics.collect_from(gauges::CacheGauges::new(reader.clone()));
    let ctx = Context::new(client, connector, config, reader.clone());
    let store = reader.clone();
    // A Secret created or rotated re-triggers every resource that references it, and drops its
    // cached credentials. Metadata only (`PartialObjectMeta`): Secret data never passes through
    // the watch, so the operator holds the keys of referenced Secrets only.
    let cache = ctx.clone();
    let secret_events = watcher::watcher(secrets, watcher::Config::default())
        .inspect(move |event| {
            let (secret, version) = match event {
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => (s, s.resource_version()),
                Ok(watcher::Event::Delete(s)) => (s, None),
                _ => return,
            };
            cache.credentials.saw(&secret.namespace().unwrap_or_default(), &secret.name_any(), version.as_deref());
        })
        .backoff(watch::Reconnect::default())
        // Only a new version (created, rotated, deleted) is worth a reconcile of the resources
        // that name it: a re-list after a watch outage repeats every Secret unchanged, and the
        // first list is no change at all (the controller looks at every resource when it starts;
        // queueing them all again is a burst of memory at a takeover).
        .filter({
            let mut first_list = true;
            let mut versions: std::collections::HashMap<(String, String), Option<String>> = Default::default();
            move |event| {
                let keep = match event {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                        let key = (s.namespace().unwrap_or_default(), s.name_any());
                        let new = versions.insert(key, s.resource_version()) != Some(s.resource_version());
                        new && !(first_list && matches!(event, Ok(watcher::Event::InitApply(_))))
                    }
                    Ok(watcher::Event::Delete(s)) => {
                        versions.remove(&(s.namespace().unwrap_or_default(), s.name_any()));
                        true
                    }
                    Ok(watcher::Event::InitDone) => {
                        first_list = false;
                        false
                    }
                    Ok(watcher::Event::Init) => false,
                    Err(_) => true,
                };
                std::future::ready(keep)
            }
        })
        .touched_objects();
    // (A namespaced install reads its own namespace's Secrets by its own Role: no grants to watch.)
    // Watch errors are retried by each watcher's backoff; only changes become triggers.
    let credential_changes: futures::stream::BoxStream<'static, ObjectRef<NatGateway>> =
        if ctx.config.secret_access == SecretAccess::Granted && config_namespace.is_none() {
            // Granted mode may not list Secrets: credentials are read with GETs (credentials.rs).
            // What grants them is watched instead: a RoleBinding or Role changed in a namespace
            // drops its cached credentials and looks at its resources again, so a revoked grant
            // shows within seconds at rest, for no call at all while nothing changes.
            let rolebindings = grant_changes::<RoleBinding>(&client_for_grants)
                .filter_map(|e| std::future::ready(e.ok()))
                .flat_map(in_turn(grant_mapper(ctx.clone(), store.clone())));
            let roles = grant_changes::<Role>(&client_for_grants)
                .filter_map(|e| std::future::ready(e.ok()))
                .flat_map(in_turn(grant_mapper(ctx.clone(), store)));
            futures::stream::select(rolebindings, roles).boxed()
        } else {
            secret_events
                .filter_map(|e| std::future::ready(e.ok()))
                .flat_map(in_turn(move |secret: kube::core::PartialObjectMeta<Secret>| {
                    let (ns, name) = (secret.namespace(), secret.name_any());
                    let named = store.state().into_iter().filter(|g| {
                        g.namespace() == ns && g.spec.credentials_secret_ref.as_ref().is_some_and(|r| r.name == name)
                    });
                    named.map(|g| watch::trigger(&g)).collect()
                }))
                .boxed()
        };
    let (triggers, _running) = watch.open();
    // Every change reaches the controller as a trigger, through the same ordered gate: the
    // watch's, and the credentials' (a rotated Secret, a revoked grant); its own stream stays
    // empty. Due drift checks come through a gate of their own.
    let controller = Controller::for_stream(futures::stream::pending::<Result<NatGateway, watcher::Error>>(), reader)
        .with_config(kube::runtime::controller::Config::default())
        .reconcile_on(futures::stream::select(
            ctx.admission.clone().gate(futures::stream::select(triggers, credential_changes)),
            ctx.checks.clone().gate(ctx.drift.clone().fired(ctx.natgws.clone())),
        ));
    info!("natgw-operator controller started");
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            // error_policy already logged reconcile errors; the rest are watch hiccups.
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller stream error");
            }
        })
        .await;
    info!("natgw-operator controller stopped");
    Ok(())
}

/// `map`'s triggers for each changed object, one after another.
fn in_turn<T>(
    map: impl Fn(T) -> Vec<ObjectRef<NatGateway>>,
) -> impl FnMut(T) -> futures::stream::Iter<std::vec::IntoIter<ObjectRef<NatGateway>>> {
    move |changed| futures::stream::iter(map(changed))
}

/// Changes (not the initial list: the controller looks at every resource when it starts anyway)
/// of the RBAC objects of kind `K` that may grant the operator a namespace's Secrets. Metadata
/// only, and no cache: the watch costs no memory per object.
fn grant_changes<K>(
    client: &Client,
) -> impl futures::Stream<Item = Result<kube::core::PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Send
        + 'static,
    K: serde::de::DeserializeOwned,
{
    let api: Api<kube::core::PartialObjectMeta<K>> = Api::all(client.clone());
    watcher::watcher(api, watcher::Config::default()).backoff(watch::Reconnect::default()).filter_map(|event| {
        std::future::ready(match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => Some(Ok(o)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    })
}

/// The resources to look at again when a grant of their namespace changed: those that read a
/// Secret, after the namespace's cached credentials are dropped.
fn grant_mapper<K: Resource>(
    ctx: Arc<Context>,
    store: Store<NatGateway>,
) -> impl Fn(kube::core::PartialObjectMeta<K>) -> Vec<ObjectRef<NatGateway>> + Send + Sync + 'static {
    move |changed| {
        let ns = changed.namespace();
        ctx.credentials.forget_namespace(ns.as_deref().unwrap_or_default());
        store
            .state()
            .into_iter()
            .filter(|g| g.namespace() == ns && g.spec.credentials_secret_ref.is_some())
            .map(|g| watch::trigger(&g))
            .collect()
    }
}

fn error_policy(obj: Arc<NatGateway>, error: &Error, ctx: Arc<Context>) -> Action {
    let wait = ctx.backoff(&obj, ctx.config.poll_interval, None);
    warn!(name = %obj.name_any(), error = %error, retry_in = ?wait, "reconcile error");
    Action::requeue(wait)
}

/// One pass for one resource.
pub async fn reconcile(obj: Arc<NatGateway>, ctx: Arc<Context>) -> Result<Action, Error> {
    // kube runs every due pass at once; they take the reconcile slots first come, first served
    // (its own limit would keep the waiting ones in a hash set: [`admission`]). The pass itself
    // is boxed, so that a waiting one is small.
    let trigger = watch::trigger(&obj);
    // A change the watch saw may also take a slot kept for changes: a wave of drift checks
    // coming due never holds up a new resource or a new spec.
    let slot = match ctx.admission.waiting(&trigger) {
        true => tokio::select! { s = ctx.slots.acquire() => s, s = ctx.change_slots.acquire() => s },
        false => ctx.slots.acquire().await,
    };
    let Ok(_slot) = slot else {
        return Ok(Action::await_change());
    };
    ctx.admission.started(&trigger);
    ctx.checks.started(&trigger);
    ctx.drift.cancel(&trigger);
    // The resource as it is now, not as it was when the pass was queued.
    let Some(obj) = ctx.natgws.get(&trigger) else {
        return Ok(Action::await_change());
    };
    Box::pin(reconcile_now(obj, ctx.clone())).await
}

async fn reconcile_now(obj: Arc<NatGateway>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let mut pass = Pass::new(&obj, &ctx);
    let mut result = pass.run().await;
    let mut outcome = pass.outcome;
    if result.as_ref().is_err_and(Error::is_conflict) {
        // We acted on a cached copy older than the stored object (our own last write has not come
        // back through the watch yet, or the watch is reconnecting). Nothing was ordered: the
        // intent write is what failed. Plan once more on a fresh read; if that is stale too,
        // back off rather than replan in a loop.
        let api: Api<NatGateway> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
        if let Ok(fresh) = api.get(&obj.name_any()).await
            && fresh.resource_version() != obj.resource_version()
        {
            let mut again = Pass::new(&fresh, &ctx);
            result = again.run().await;
            outcome = again.outcome;
        }
        if result.as_ref().is_err_and(Error::is_conflict) {
            tracing::debug!(name = %obj.name_any(), "stale object, replanning later");
            outcome = Some(Outcome::Stale);
            result = Ok(Action::requeue(ctx.backoff(&obj, CONFLICT_BACKOFF, None)));
        }
    }
    let error = result.as_ref().err().map(|e| e.reason().as_str());
    ctx.config.metrics.reconciled(outcome, error, started.elapsed());
    result
}

/// The state of one reconcile: the object, the status being built and the version it is
/// written against.
struct Pass<'a> {
    obj: &'a NatGateway,
    ctx: &'a Context,
    generation: i64,
    /// The version our writes are conditional on, so that a decision made on a stale copy can
    /// never be written (or acted upon).
    resource_version: Option<String>,
    previous: NatGatewayStatus,
    status: NatGatewayStatus,
    /// What the last status write said, for `natgw_reconciles_total{outcome}`.
    outcome: Option<Outcome>,
    /// The resource is being deleted and kept by our finalizer.
    deleting: bool,
    /// The cloud's label once the spec's cloud is known, for order counts.
    provider: &'static str,
    /// How often this resource's gateway is read for drift.
    drift_interval: Duration,
    /// The claim this resource writes on its gateway.
    me: Claimant,
    /// How long until this resource's claim is confirmed (when a change waits for it).
    claim_settles_in: Duration,
}

impl<'a> Pass<'a> {
    fn new(obj: &'a NatGateway, ctx: &'a Context) -> Self {
        let previous = obj.status.clone().unwrap_or_default();
        let status = previous.clone();
        Pass {
            obj,
            ctx,
            generation: obj.meta().generation.unwrap_or_default(),
            resource_version: obj.resource_version(),
            previous,
            status,
            outcome: None,
            deleting: obj.meta().deletion_timestamp.is_some(),
            provider: "",
            drift_interval: obj.spec.drift_interval.and_then(|d| d.get()).unwrap_or(ctx.config.drift_interval),
            me: Claimant::new(&ctx.config.cluster, &obj.namespace().unwrap_or_default(), &obj.name_any()),
            claim_settles_in: ctx.config.claim_settle,
        }
    }

    fn has_claim_finalizer(&self) -> bool {
        self.obj.finalizers().iter().any(|f| f == CLAIM_FINALIZER)
    }

    fn has_finalizer(&self) -> bool {
        self.obj.finalizers().iter().any(|f| f == FINALIZER)
    }

    /// Gathers what the plan needs, lets it decide, and performs the step it decided.
    async fn run(&mut self) -> Result<Action, Error> {
        if self.deleting && !self.has_finalizer() {
            // An open order first (its finalizer); then the claim.
            return match self.has_claim_finalizer() {
                true => self.release_claim().await,
                false => Ok(Action::await_change()),
            };
        }
        let selected = match self.select() {
            Ok(s) => s,
            Err(e) => return self.failed(e).await,
        };
        // Whether the cloud may be called at all: not while the resource is paused.
        let open = self.open_order();
        let first = plan::plan(self.inputs(selected.profile, plan::Observation::Unread, open.as_ref(), false));
        if first != Step::Read {
            let applied = plan::apply(first, &facts(self.obj, &self.previous, self.provider), &mut self.status);
            return self.perform(applied, None).await;
        }
        // Once per pass, before any cloud call: every call of this pass uses these credentials,
        // an order's too unless they changed since (below).
        let credentials = match self.credentials(&selected, false).await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let mut provider = match self.connect(credentials.clone()) {
            Ok(p) => p,
            Err(e) => return self.failed(e).await,
        };
        // The first read of an account takes every resource of that account along.
        let (natgws, clouds) = (&self.ctx.natgws, self.ctx.connector.as_ref());
        provider
            .expect(&|| roster::roster(self.obj, &selected, natgws.state().iter().map(|g| g.as_ref()), clouds))
            .await;
        let (step, mut claim_later) = match self.decide(&selected, provider.as_ref()).await {
            Ok(decided) => decided,
            Err(done) => return done,
        };
        if let Step::Claim { in_sync } = step
            && claim_later.is_none()
        {
            match self.claim(&selected, &mut provider, &credentials, !in_sync).await {
                Ok(later) => claim_later = later,
                Err(done) => return done,
            }
        }
        if step.needs_fresh_credentials()
            && let Err(done) = self.reconnect_fresh(&selected, &mut provider, &credentials).await
        {
            return done;
        }
        tracing::debug!(name = %self.obj.name_any(), ?step, "planned");
        let action = self.execute(step, &selected, provider.as_ref()).await?;
        Ok(claim_later.map_or(action, Action::requeue))
    }

    /// The cloud the spec names; what the status says of it.
    fn select(&mut self) -> Result<Selected, CloudError> {
        let selected = self.ctx.connector.select(&self.obj.spec)?;
        self.provider = selected.profile.label;
        self.status.provider = Some(selected.profile.label.to_owned());
        self.status.region = Some(selected.gateway.region().to_owned());
        // Admitted under an older CRD: refused as admission refuses it now.
        if self.obj.spec.drift_interval.is_some_and(|d| d.get().is_none()) {
            let refused = CloudError::new(ErrorKind::InvalidRequest, crate::api::DRIFT_INTERVAL_MESSAGE);
            return Err(refused.with_refusal(Refusal::InvalidSpec));
        }
        Ok(selected)
    }

    fn open_order(&self) -> Option<OrderStatus> {
        self.status.order.as_deref().filter(|o| plan::is_open(o)).cloned()
    }

    /// Reads the gateway as the plan asks and plans on what the cloud said: again on a fresh
    /// read, or with the gateway's owner, where the step needs it. With the step comes when to
    /// come back instead, for a claim at rest that waits for its turn.
    async fn decide(
        &mut self,
        selected: &Selected,
        provider: &dyn Provider,
    ) -> Result<(Step, Option<Duration>), Result<Action, Error>> {
        let mut read = plan::Read::first(&self.previous, self.generation);
        let mut claim_later = None;
        let mut paced = false;
        loop {
            let (observed, order_state) = match self.observe(selected, provider, read).await {
                Ok(o) => o,
                Err(e) => return Err(self.failed(e).await),
            };
            let confirmed = self.claim_confirmed(&selected.gateway, observed.as_ref());
            let open = self.open_order();
            let observation =
                plan::Observation::Read { observed: observed.as_ref(), order_state: order_state.as_ref() };
            let inputs = self.inputs(selected.profile, observation, open.as_ref(), confirmed);
            let step = plan::plan(inputs);
            // A claim at rest may come later: it waits for its turn (taken once a pass) without
            // a read, or a reconcile slot.
            if step == (Step::Claim { in_sync: true }) && !paced {
                paced = true;
                claim_later = self.ctx.claims_at_rest.try_now(CLAIM_AT_REST).err();
            }
            if step.needs_fresh_read() && read == plan::Read::Swept && claim_later.is_none() {
                read = plan::Read::Fresh;
                continue;
            }
            let step = match step.needs_owner() {
                true => self.with_owner(inputs).unwrap_or(step),
                false => step,
            };
            // A claim at rest does not wait for the account's rate limit (a fleet claims 20
            // gateways a second per account at most): with no token left it says in sync now and
            // claims later. (A step that is no claim after all, a duplicate's stall, keeps its own
            // next look.)
            let claim_later = claim_later.filter(|_| matches!(step, Step::Claim { .. }));
            return Ok((step, claim_later));
        }
    }

    /// One read of the gateway (recorded in the status) and of its open order.
    async fn observe(
        &mut self,
        selected: &Selected,
        provider: &dyn Provider,
        read: plan::Read,
    ) -> Result<(Option<Observed>, Option<OrderState>), CloudError> {
        let gateway = &selected.gateway;
        let observed = match read {
            plan::Read::Fresh => provider.describe_fresh(gateway).await,
            plan::Read::Swept => {
                provider.describe_within(gateway, crate::cloud::batch::sweep_age(self.drift_interval)).await
            }
        };
        let observed = match observed {
            Ok(o) => o,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok((None, None)),
            Err(e) => return Err(e),
        };
        self.status.observed = Some(observed_status(selected.profile, &observed));
        // The call of an intent may have landed before its answer was recorded: where the cloud
        // can list orders, the plan follows the one it holds instead of ordering twice.
        if let Some(action) = plan::lost_intent(&self.status)
            && let Some(id) = provider.find_open_order(gateway, action).await?
        {
            info!(name = %self.obj.name_any(), order = %id, "adopting an order the cloud already holds");
            plan::adopt(&mut self.status, id);
        }
        let order_state = match self.open_order().and_then(|o| o.id) {
            Some(id) => Some(provider.order_status(gateway, &id).await?),
            None => None,
        };
        Ok((Some(observed), order_state))
    }

    /// Whether this resource's claim, if the read shows it, has been seen for the settle delay
    /// (in this pass or earlier).
    fn claim_confirmed(&mut self, gateway: &GatewayRef, observed: Option<&Observed>) -> bool {
        let held = observed.is_some_and(|o| matches!(&o.claim, ClaimTag::Held(c) if *c == self.me));
        let held_for = self.ctx.claim_seen(gateway, &self.me, held, false);
        self.claim_settles_in = self.ctx.config.claim_settle.saturating_sub(held_for);
        held && self.claim_settles_in.is_zero()
    }

    /// The step when an older resource of this cluster owns the gateway; `None` when none does.
    fn with_owner(&self, inputs: plan::Inputs<'_>) -> Option<Step> {
        let natgws = self.ctx.natgws.state();
        let owner = ownership::other_owner(self.obj, natgws.iter().map(|g| g.as_ref()), self.ctx.connector.as_ref())?;
        // The admin's way to the owner, which the condition may not name across namespaces:
        // logged when the resource first stalls on it.
        let claimed = Reason::GatewayClaimed.as_str();
        if !self.previous.conditions.iter().any(|c| c.type_ == "Stalled" && c.reason == claimed) {
            info!(
                name = %self.obj.name_any(), namespace = ?self.obj.namespace(), owner = %owner.name_any(),
                owner_namespace = ?owner.namespace(), gateway = %self.obj.spec.gateway_id,
                "gateway claimed by an older NatGateway; this one orders nothing"
            );
        }
        Some(plan::plan(plan::Inputs { owner: Some(ownership::owner_for(self.obj, owner)), ..inputs }))
    }

    /// Performs `step`: its status, and its one cloud call (inside the fence) with the status of
    /// the answer.
    async fn execute(&mut self, step: Step, selected: &Selected, provider: &dyn Provider) -> Result<Action, Error> {
        let crash_after_write = match step {
            Step::Wait(_) => {
                failpoint::crash_at(Point::WhilePolling);
                None
            }
            Step::Finish { .. } => Some(Point::AfterCompletion),
            _ => None,
        };
        let applied = plan::apply(step, &facts(self.obj, &self.previous, self.provider), &mut self.status);
        let Some(call) = applied.call.clone() else {
            return self.perform(applied, crash_after_write).await;
        };
        // Only the leader records an intent or changes the gateway: no one else may send it.
        let fence = self.ctx.config.fence.clone();
        if fence.remaining().is_none() {
            return Err(Error::NotLeader);
        }
        let gateway = &selected.gateway;
        let target = match call {
            plan::Call::Order(target) => target,
            plan::Call::Renewal(change) => {
                let result = fence.scope(provider.set_renewal(gateway, change)).await;
                let applied = plan::renewal_answer(change, result, &facts(self.obj, &self.previous, self.provider));
                return self.perform(applied, None).await;
            }
            plan::Call::Cancel(order_id) => {
                self.perform(applied, None).await?;
                failpoint::crash_at(Point::AfterCancelIntent);
                let result = fence.scope(provider.cancel_order(gateway, &order_id)).await;
                failpoint::crash_at(Point::AfterCancel);
                let facts = facts(self.obj, &self.previous, self.provider);
                let applied = plan::cancel_answer(result, &facts, &self.status);
                return self.perform(applied, None).await;
            }
        };
        failpoint::crash_at(Point::BeforeIntent);
        self.perform(applied, None).await?;
        failpoint::crash_at(Point::AfterIntent);
        let answer = match fence.scope(self.call(selected, provider, target)).await {
            Ok(ticket) => {
                failpoint::crash_at(Point::AfterAccept);
                plan::Answer::Accepted(ticket)
            }
            Err(error) => {
                let open_order = match plan::looks_for_open_order(&error) {
                    true => provider.find_open_order(gateway, target.action()).await.ok().flatten(),
                    false => None,
                };
                plan::Answer::Failed { error, open_order }
            }
        };
        let applied = plan::answer(answer, &facts(self.obj, &self.previous, self.provider), &mut self.status);
        self.perform(applied, None).await
    }

    fn connect(&self, credentials: Credentials) -> Result<Arc<dyn Provider>, CloudError> {
        let provider = self.ctx.connector.connect(&self.obj.spec, credentials)?;
        Ok(InstrumentedProvider::wrap(provider, self.ctx.config.metrics.clone()))
    }

    /// Before a call that changes the gateway, its billing or its claim: credentials read anew,
    /// and a client for them if they changed since the pass's first read.
    async fn reconnect_fresh(
        &mut self,
        selected: &Selected,
        provider: &mut Arc<dyn Provider>,
        credentials: &Credentials,
    ) -> Result<(), Result<Action, Error>> {
        let fresh = self.credentials(selected, true).await?;
        if fresh != *credentials {
            *provider = match self.connect(fresh) {
                Ok(p) => p,
                Err(e) => return Err(self.failed(e).await),
            };
        }
        Ok(())
    }

    /// Writes this resource's claim on the gateway (kept by [`CLAIM_FINALIZER`] from before the
    /// write); the pass after the settle delay reads it back. Only the leader claims, inside the
    /// fence like an order. Without `wait`, a claim the account's rate limit (or the cloud's
    /// throttling) holds back is not sent: `Ok(Some(when))` says when to try again.
    async fn claim(
        &mut self,
        selected: &Selected,
        provider: &mut Arc<dyn Provider>,
        credentials: &Credentials,
        wait: bool,
    ) -> Result<Option<Duration>, Result<Action, Error>> {
        let fence = self.ctx.config.fence.clone();
        if fence.remaining().is_none() {
            return Err(Err(Error::NotLeader));
        }
        // Before a change, as for the change itself: credentials read anew (a tag is no order,
        // so a claim at rest goes with the pass's).
        if wait {
            self.reconnect_fresh(selected, provider, credentials).await?;
        }
        if !self.has_claim_finalizer()
            && let Err(e) = self.apply_finalizers(CLAIM_FINALIZER_MANAGER, serde_json::json!([CLAIM_FINALIZER])).await
        {
            return Err(Err(e));
        }
        // Seen from before the write: a read after it sees the tag at the earliest when it is sent.
        self.ctx.claim_seen(&selected.gateway, &self.me, false, true);
        match fence.scope(provider.write_claim(&selected.gateway, &self.me, wait)).await {
            Ok(()) => {}
            Err(e) if !wait && e.kind == ErrorKind::Throttled => {
                // Not sent: seen as unclaimed again; the limiter spreads the retries.
                self.ctx.claim_seen(&selected.gateway, &self.me, false, false);
                return Ok(Some(e.retry_after.unwrap_or(DEFAULT_CLAIM_RETRY)));
            }
            // Keys that read the gateway but may not tag it: the fix is a permission granted in
            // the cloud, which no Secret change here announces, so look again each drift interval.
            Err(e) if e.kind == ErrorKind::Auth => {
                let message = format!(
                    "the cloud refused to tag gateway {} with this NatGateway's claim ({e}), so it orders nothing; allow these credentials to tag NAT gateways ({}); the operator tries again every drift interval",
                    self.obj.spec.gateway_id, selected.profile.claim_permissions
                );
                let facts = facts(self.obj, &self.previous, self.provider);
                let applied = plan::stall(Reason::CredentialsInvalid, message, plan::Next::DriftCheck, &facts);
                return Err(self.perform(applied, None).await);
            }
            Err(e) => return Err(self.failed(e).await),
        }
        self.claim_settles_in = self.ctx.config.claim_settle;
        failpoint::crash_at(Point::AfterClaim);
        let settle = self.claim_settles_in;
        let note = format!(
            "tagged gateway {} {}={}: this NatGateway alone orders for it; a change waits {settle:?} for tags to settle",
            self.obj.spec.gateway_id,
            crate::cloud::claim::TAG_KEY,
            self.me.tag_value()
        );
        // Told where it matters (before a change, or a hand-over from another cluster), not at
        // a fleet's first sight: 10,000 Events then would be noise in etcd.
        let handed_over = self.previous.conditions.iter().any(|c| c.reason == Reason::ClaimedElsewhere.as_str());
        if wait || handed_over {
            self.event(EventType::Normal, Reason::Claimed, &note).await;
        }
        Ok(None)
    }

    /// A deleted resource's last step: remove its claim tag from the gateway (if the gateway
    /// still carries this resource's claim), then let [`CLAIM_FINALIZER`] go. A cloud that cannot
    /// be reached keeps the resource, with a condition that says so, until it can or the user
    /// sets [`ABANDON_CLAIM_ANNOTATION`](crate::api::ABANDON_CLAIM_ANNOTATION).
    async fn release_claim(&mut self) -> Result<Action, Error> {
        if self.obj.abandons_claim() {
            let why = format!("{} is set", crate::api::ABANDON_CLAIM_ANNOTATION);
            return self.abandon_claim(&why).await;
        }
        let selected = match self.ctx.connector.select(&self.obj.spec) {
            Ok(s) => s,
            Err(e) => return self.release_failed(e).await,
        };
        self.provider = selected.profile.label;
        let credentials = match self.credentials(&selected, true).await {
            Ok(c) => c,
            // No credentials any more (deleted with the namespace, a revoked grant): nothing can
            // reach the cloud, and waiting would hold the namespace's deletion forever.
            Err(Ok(_)) => return self.abandon_claim("its credentials are gone").await,
            Err(Err(e)) => return Err(e),
        };
        let provider = match self.connect(credentials) {
            Ok(p) => p,
            Err(e) => return self.release_failed(e).await,
        };
        let gateway = &selected.gateway;
        let held = match provider.describe_fresh(gateway).await {
            Ok(o) => matches!(&o.claim, ClaimTag::Held(c) if *c == self.me),
            Err(e) if e.kind == ErrorKind::NotFound => false,
            Err(e) => return self.release_failed(e).await,
        };
        if held {
            let fence = self.ctx.config.fence.clone();
            if fence.remaining().is_none() {
                return Err(Error::NotLeader);
            }
            if let Err(e) = fence.scope(provider.remove_claim(gateway)).await {
                return self.release_failed(e).await;
            }
            self.ctx.claim_seen(gateway, &self.me, false, false);
            let note = format!("removed the claim tag from gateway {}: another cluster may claim it now", gateway.id);
            self.event(EventType::Normal, Reason::ClaimReleased, &note).await;
        }
        self.apply_finalizers(CLAIM_FINALIZER_MANAGER, serde_json::json!([])).await?;
        Ok(Action::await_change())
    }

    /// Lets the deleted resource go and leaves its claim tag, saying so.
    async fn abandon_claim(&mut self, why: &str) -> Result<Action, Error> {
        let note = format!(
            "the claim tag on gateway {} was left in the cloud ({why}); release it with `natgw-operator claims release --cluster-id {}`, or a NatGateway of this cluster claims it anew",
            self.obj.spec.gateway_id,
            self.me.cluster()
        );
        self.event(EventType::Warning, Reason::ClaimAbandoned, &note).await;
        self.apply_finalizers(CLAIM_FINALIZER_MANAGER, serde_json::json!([])).await?;
        Ok(Action::await_change())
    }

    async fn release_failed(&mut self, e: CloudError) -> Result<Action, Error> {
        let message = format!(
            "the NatGateway is deleted but its claim tag could not be removed from gateway {}: {e}; the operator retries, or set the annotation {}=true to let it go and leave the tag (then `natgw-operator claims release --cluster-id {}`)",
            self.obj.spec.gateway_id,
            crate::api::ABANDON_CLAIM_ANNOTATION,
            self.me.cluster()
        );
        let retry_after = e.retry_after;
        let facts = facts(self.obj, &self.previous, self.provider);
        let applied = plan::stall(Reason::ClaimNotReleased, message, plan::Next::Backoff { retry_after }, &facts);
        self.perform(applied, None).await
    }

    /// What the plan decides on. `confirmed`: this resource's claim, if the read shows it, was
    /// read back after the settle delay (in this pass or earlier).
    fn inputs<'b>(
        &'b self,
        kind: &'static Profile,
        observation: plan::Observation<'b>,
        order: Option<&'b OrderStatus>,
        confirmed: bool,
    ) -> plan::Inputs<'b> {
        let claim = match observation {
            plan::Observation::Read { observed: Some(o), .. } => {
                plan::Claim::of(&o.claim, &self.me, self.obj.takeover(), confirmed, kind)
            }
            _ => plan::Claim::NotKept,
        };
        plan::Inputs {
            claim,
            spec: &self.obj.spec,
            generation: self.generation,
            kind,
            observation,
            order,
            last_order: self.status.last_order.as_deref(),
            owner: None,
            paused: self.obj.paused(),
        }
    }

    /// The resource's cloud credentials, from its Secret or its workload identity; `fresh` reads
    /// them anew whatever is cached. `Err` holds the pass's outcome when there are none.
    async fn credentials(&mut self, selected: &Selected, fresh: bool) -> Result<Credentials, Result<Action, Error>> {
        let obj = self.obj;
        match obj.spec.credential_source() {
            Ok(CredentialSource::Secret(secret)) => self.secret_credentials(&secret.name, selected, fresh).await,
            Ok(CredentialSource::WorkloadIdentity(identity)) => self.identity_credentials(identity, fresh).await,
            Err(problem) => {
                let refused = CloudError::new(ErrorKind::InvalidRequest, problem).with_refusal(Refusal::InvalidSpec);
                Err(self.failed(refused).await)
            }
        }
    }

    /// The credentials in the resource's Secret; `Err` holds the pass's outcome when there are
    /// none.
    async fn secret_credentials(
        &mut self,
        secret_name: &str,
        selected: &Selected,
        fresh: bool,
    ) -> Result<Credentials, Result<Action, Error>> {
        let namespace = self.obj.namespace().unwrap_or_default();
        let keys = selected.profile.secret_keys;
        match self.ctx.credentials.read(&self.ctx.client, &namespace, secret_name, keys, fresh).await {
            Ok(c) => Ok(c),
            Err(e) => match e.stall_reason() {
                Some(reason) => {
                    let forbidden = matches!(e, credentials::CredentialsError::Forbidden { .. });
                    let next = plan::Next::CredentialsChange { forbidden };
                    let applied =
                        plan::stall(reason, e.to_string(), next, &facts(self.obj, &self.previous, self.provider));
                    Err(self.perform(applied, None).await)
                }
                None => Err(Err(Error::SecretRead(e.to_string()))),
            },
        }
    }

    /// Temporary credentials of the resource's workload identity; `Err` holds the pass's outcome
    /// when there are none.
    async fn identity_credentials(
        &mut self,
        identity: &WorkloadIdentity,
        fresh: bool,
    ) -> Result<Credentials, Result<Action, Error>> {
        let namespace = self.obj.namespace().unwrap_or_default();
        let (connector, metrics) = (self.ctx.connector.as_ref(), &self.ctx.config.metrics);
        let result = self
            .ctx
            .identities
            .credentials(&self.ctx.client, connector, &namespace, &self.obj.spec, identity, metrics, fresh)
            .await;
        match result {
            Ok(c) => Ok(c),
            Err(identity::IdentityError::Cloud(e)) => Err(self.failed(e).await),
            Err(e) => match e.stall_reason() {
                Some(reason) => {
                    // No watch tells of a ServiceAccount or the cloud's trust changing: look again
                    // after a while, as for a missing Secret grant.
                    let next = plan::Next::CredentialsChange { forbidden: true };
                    let applied =
                        plan::stall(reason, e.to_string(), next, &facts(self.obj, &self.previous, self.provider));
                    Err(self.perform(applied, None).await)
                }
                None => Err(Err(Error::TokenRequest(e.to_string()))),
            },
        }
    }

    /// The one cloud call of an order; every call inside the fence's scope is sent only while
    /// this replica surely leads.
    async fn call(
        &self,
        selected: &Selected,
        provider: &dyn Provider,
        target: Target,
    ) -> Result<OrderTicket, CloudError> {
        let gateway = &selected.gateway;
        match target {
            Target::Size(size) => {
                // plan only resizes to sizes the cloud has.
                let capacity = selected.profile.capacity_for(size).ok_or_else(|| {
                    CloudError::new(ErrorKind::InvalidRequest, format!("no cloud value for size {size}"))
                })?;
                provider.resize(gateway, &capacity, crate::cloud::auto_pay(&self.obj.spec)).await
            }
            // plan only changes billing towards a subscription.
            Target::Billing(_) => match self.obj.spec.billing.as_ref().and_then(|b| b.prepaid.as_ref()) {
                Some(prepaid) => provider.change_billing(gateway, prepaid).await,
                None => Err(CloudError::new(ErrorKind::InvalidRequest, "spec.billing.prepaid is missing")),
            },
        }
    }

    async fn failed(&mut self, e: CloudError) -> Result<Action, Error> {
        let applied = plan::cloud_error(e, &facts(self.obj, &self.previous, self.provider));
        self.perform(applied, None).await
    }

    /// Does what the plan asked: the finalizer, the status write, the Events and counts it
    /// records, and the requeue. `crash_after_write`: a crash point between the write and the
    /// finalizer's release.
    async fn perform(&mut self, applied: plan::Applied, crash_after_write: Option<Point>) -> Result<Action, Error> {
        let poll = self.ctx.config.poll_interval;
        let action = match applied.next {
            plan::Next::NotLeader => return Err(Error::NotLeader),
            plan::Next::DriftCheck => {
                let namespace = self.obj.namespace().unwrap_or_default();
                self.ctx.drift.schedule(&namespace, &self.obj.name_any(), self.drift_interval);
                Action::await_change()
            }
            plan::Next::Poll => Action::requeue(poll),
            plan::Next::PaymentPoll => Action::requeue(poll.saturating_mul(6)),
            plan::Next::Replan => Action::requeue(Duration::from_millis(200)),
            plan::Next::AwaitChange => Action::await_change(),
            // A little after, so that the next pass finds it settled.
            plan::Next::ClaimSettle => Action::requeue(self.claim_settles_in + Duration::from_millis(50)),
            plan::Next::Backoff { retry_after } => Action::requeue(self.ctx.backoff(self.obj, poll, retry_after)),
            plan::Next::CredentialsChange { forbidden } => self.ctx.credentials.after_stall(forbidden),
        };
        if applied.finalizer == Some(plan::Finalizer::Keep) && !self.has_finalizer() && !self.deleting {
            self.apply_finalizer(serde_json::json!([FINALIZER])).await?;
        }
        if let Some(health) = applied.health {
            self.write(health, applied.reset_backoff, applied.effects).await?;
        }
        if let Some(point) = crash_after_write {
            failpoint::crash_at(point);
        }
        if applied.finalizer == Some(plan::Finalizer::Release) && self.has_finalizer() {
            self.apply_finalizer(serde_json::json!([])).await?;
            // Deleted: the claim's finalizer is next, and no watch event asks for it (a
            // finalizer's removal changes nothing the watch passes on).
            if self.deleting && self.has_claim_finalizer() {
                return Ok(Action::requeue(Duration::from_millis(100)));
            }
        }
        Ok(action)
    }

    async fn event(&self, type_: EventType, reason: Reason, note: &str) {
        // An Event is best effort: failing to record one must not stop an order.
        if let Err(e) = self.ctx.recorder.publish(&self.obj.object_ref(&()), type_, reason.as_str(), note).await {
            warn!(name = %self.obj.name_any(), error = %e, "could not record event");
        }
    }

    /// Server-side apply of our finalizer list under a field manager of its own, so that other
    /// controllers' finalizers (and the user's fields) are left alone.
    async fn apply_finalizer(&mut self, finalizers: serde_json::Value) -> Result<(), Error> {
        self.apply_finalizers(FINALIZER_MANAGER, finalizers).await
    }

    /// Applies `finalizers` as `manager`'s whole list of them.
    async fn apply_finalizers(&mut self, manager: &str, finalizers: serde_json::Value) -> Result<(), Error> {
        let api: Api<NatGateway> = Api::namespaced(self.ctx.client.clone(), &self.obj.namespace().unwrap_or_default());
        let patch = serde_json::json!({
            "apiVersion": "natgw.io/v1alpha1",
            "kind": "NatGateway",
            "metadata": {"resourceVersion": self.resource_version, "finalizers": finalizers},
        });
        let params = PatchParams::apply(manager).force();
        match api.patch(&self.obj.name_any(), &params, &Patch::Apply(&patch)).await {
            Ok(written) => {
                self.resource_version = written.resource_version();
                Ok(())
            }
            // Already gone: the finalizer was the last thing keeping it.
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(source) => Err(Error::Finalizer { name: self.obj.name_any(), source }),
        }
    }

    /// Writes the whole status with server-side apply on the status subresource, then reports
    /// what the written status records (Events, order counts).
    async fn write(&mut self, health: Health, reset_backoff: bool, mut effects: Vec<Effect>) -> Result<(), Error> {
        if let Some(reason) = health.error_reason() {
            self.ctx.config.metrics.reconcile_error(reason.as_str());
        }
        self.outcome = Some(health.outcome());
        effects.extend(plan::pause_event(&self.status.conditions, &health));
        effects.extend(plan::expiry_notice(&mut self.status, &self.previous, Timestamp::now()));
        self.status.observed_generation = Some(self.generation);
        self.status.conditions =
            conditions::conditions(&self.status.conditions, &health, self.generation, Timestamp::now());
        if !plan::unchanged(&self.status, &self.previous) {
            let api: Api<NatGateway> =
                Api::namespaced(self.ctx.client.clone(), &self.obj.namespace().unwrap_or_default());
            let patch = serde_json::json!({
                "apiVersion": "natgw.io/v1alpha1",
                "kind": "NatGateway",
                "metadata": {"resourceVersion": self.resource_version},
                "status": self.status,
            });
            let written = api
                .patch_status(&self.obj.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch))
                .await
                .map_err(|source| Error::StatusWrite { name: self.obj.name_any(), source })?;
            self.resource_version = written.resource_version();
        }
        if reset_backoff {
            self.ctx.reset_backoff(self.obj);
        }
        for effect in effects {
            match effect {
                Effect::Event(type_, reason, note) => self.event(type_, reason, &note).await,
                Effect::Order { provider, action, transition } => {
                    self.ctx.config.metrics.order(provider, action, transition)
                }
            }
        }
        Ok(())
    }
}

/// What the plan knows of the resource besides its inputs.
fn facts<'p>(obj: &'p NatGateway, previous: &'p NatGatewayStatus, provider: &'static str) -> plan::Facts<'p> {
    plan::Facts {
        spec: &obj.spec,
        generation: obj.meta().generation.unwrap_or_default(),
        provider,
        deleting: obj.meta().deletion_timestamp.is_some(),
        previous,
        now: Timestamp::now(),
    }
}

/// What the status shows of one read of the gateway.
fn observed_status(profile: &Profile, o: &Observed) -> ObservedStatus {
    use crate::cloud::Capacity;
    let (connections, spec) = match &o.capacity {
        Capacity::Connections(n) => (Some(*n), None),
        Capacity::Spec(s) => (None, Some(s.clone())),
    };
    ObservedStatus {
        size: profile.size_of(&o.capacity),
        max_concurrent_connections: connections,
        spec,
        billing_mode: Some(o.billing),
        expires_at: o.subscription.and_then(|s| s.expires_at).map(Time),
        renewal: o.subscription.map(|s| s.renewal),
        // Carried over from the last status by plan::expiry_notice.
        expiry_notice: None,
        state: o.raw_state.clone(),
        checked_at: Time(Timestamp::now()),
    }
}
