//! The controller: watch `NatGateway`s, read the Secret, describe the gateway, [`plan`], act,
//! write status. Shaped like kube-rs's controller-rs (reconcile / error_policy / Context).

mod conditions;
mod credentials;
pub mod events;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use rand::Rng;
use tracing::{info, warn};

pub use conditions::Health;
pub use credentials::keys as credential_keys;
use events::{EventType, Recorder};

use crate::{
    api::{NatGateway, NatGatewayStatus, ObservedStatus, OrderAction, OrderPhase, OrderStatus, Size},
    cloud::instrumented::InstrumentedProvider,
    cloud::{CloudError, Connector, ErrorKind, GatewayRef, GatewayState, Observed, Provider, ProviderKind},
    failpoint::{self, Point},
    health::Readiness,
    metrics::{Metrics, OrderTransition, Outcome},
    plan::{self, Step},
};

/// Field manager for status writes.
const MANAGER: &str = "natgw-operator";

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
    // --- telemetry (src/metrics.rs, src/health.rs) ---
    /// Where reconciles, cloud calls and orders are counted.
    pub metrics: Arc<Metrics>,
    /// Marked synced once the NatGateway cache is filled.
    pub readiness: Readiness,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            drift_interval: Duration::from_secs(600),
            poll_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            namespace: None,
            concurrency: 16,
            metrics: Arc::default(),
            readiness: Readiness::default(),
        }
    }
}

/// Shared state of all reconciles.
pub struct Context {
    pub client: Client,
    pub connector: Arc<dyn Connector>,
    pub recorder: Recorder,
    credentials: credentials::Cache,
    pub config: Config,
    /// Consecutive failed reconciles per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<NatGateway>, u32>>,
}

impl Context {
    pub fn new(client: Client, connector: Arc<dyn Connector>, config: Config) -> Arc<Context> {
        Arc::new(Context {
            recorder: Recorder::new(client.clone(), MANAGER, std::env::var("POD_NAME").ok()),
            // A Secret change the watch missed is seen within a drift interval.
            credentials: credentials::Cache::new(config.drift_interval),
            client,
            connector,
            config,
            failures: Mutex::default(),
        })
    }

    /// Exponential backoff with full jitter, capped; grows with consecutive failures.
    fn backoff(&self, obj: &NatGateway, at_least: Option<Duration>) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(ObjectRef::from(obj)).or_insert(0);
        *n = (*n + 1).min(16);
        let ceiling = self.config.poll_interval.saturating_mul(1 << (*n - 1).min(10)).min(self.config.max_backoff);
        let jittered = ceiling.mul_f64(rand::rng().random_range(0.5..=1.0));
        jittered.max(at_least.unwrap_or_default())
    }

    fn succeeded(&self, obj: &NatGateway) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&ObjectRef::from(obj));
    }
}

/// Things that stop a reconcile and are retried by [`error_policy`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status of {name} failed: {source}")]
    StatusWrite { name: String, source: kube::Error },
    #[error("reading the credentials Secret failed: {0}")]
    SecretRead(String),
    #[error("recording an event failed: {0}")]
    Event(kube::Error),
}

/// Errors at start-up that a person has to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "the NatGateway CRD is not installed in this cluster ({0}); install it with `natgw-operator crd | kubectl apply -f -` or `kubectl apply -f crds/natgateway.yaml`"
    )]
    CrdMissing(kube::Error),
    #[error(
        "the operator may not list NatGateways ({0}); apply the RBAC in deploy/ (ClusterRole, or a Role with --namespace for a namespaced install)"
    )]
    Forbidden(kube::Error),
    #[error("cannot reach the Kubernetes API: {0}")]
    Api(kube::Error),
}

/// Runs the controller until `shutdown` resolves (SIGTERM/SIGINT in production).
pub async fn run(
    client: Client,
    connector: Arc<dyn Connector>,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), StartError> {
    // Secrets through metadata-only requests: see the watch below.
    let (natgws, secrets): (Api<NatGateway>, Api<kube::core::PartialObjectMeta<Secret>>) = match &config.namespace {
        Some(ns) => (Api::namespaced(client.clone(), ns), Api::namespaced(client.clone(), ns)),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    natgws.list(&kube::api::ListParams::default().limit(1)).await.map_err(|e| match &e {
        kube::Error::Api(s) if s.code == 404 => StartError::CrdMissing(e),
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => StartError::Forbidden(e),
        _ => StartError::Api(e),
    })?;
    let concurrency = config.concurrency;
    let ctx = Context::new(client, connector, config);
    // --- telemetry: the reflector is built here rather than by Controller::new so that /readyz
    // turns ready when the initial list is in the cache. (Store::wait_until_ready cannot tell us:
    // its one-shot wakes only the last of its waiters, and the controller itself waits on it.)
    let (reader, writer) = reflector::store();
    let readiness = ctx.config.readiness.clone();
    let natgw_events = reflector::reflector(
        writer,
        // managedFields (one entry per field manager, status writes included) and annotations
        // (kubectl's last-applied-configuration copies the whole object) are never read:
        // dropping them keeps the cache of every NatGateway small.
        watcher::watcher(natgws, watcher::Config::default().any_semantic()).modify(|g| {
            g.managed_fields_mut().clear();
            g.annotations_mut().clear();
        }),
    )
    .inspect(move |event| {
        if let Ok(watcher::Event::InitDone) = event {
            readiness.synced();
        }
    })
    .applied_objects()
    // Only spec changes (and first sight) trigger a reconcile: our own status writes must not,
    // or every drift check would schedule another. Orders are followed by explicit requeues.
    .predicate_filter(kube::runtime::predicates::generation, Default::default());
    let controller = Controller::for_stream(natgw_events, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency));
    let store = controller.store();
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
        .touched_objects();
    let controller = controller.watches_stream(secret_events, move |secret: kube::core::PartialObjectMeta<Secret>| {
        let (ns, name) = (secret.namespace(), secret.name_any());
        store
            .state()
            .into_iter()
            .filter(|g| g.namespace() == ns && g.spec.credentials_secret_ref.name == name)
            .map(|g| ObjectRef::from(g.as_ref()))
            .collect::<Vec<_>>()
    });
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

fn error_policy(obj: Arc<NatGateway>, error: &Error, ctx: Arc<Context>) -> Action {
    let wait = ctx.backoff(&obj, None);
    warn!(name = %obj.name_any(), error = %error, retry_in = ?wait, "reconcile error");
    Action::requeue(wait)
}

/// One pass for one resource.
pub async fn reconcile(obj: Arc<NatGateway>, ctx: Arc<Context>) -> Result<Action, Error> {
    if obj.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let started = Instant::now();
    let mut pass = Pass::new(&obj, &ctx);
    let result = match pass.run().await {
        // We acted on a cached copy older than our own last write: nothing was ordered (the
        // intent write is what failed), so look again once the cache has caught up.
        Err(Error::StatusWrite { source: kube::Error::Api(status), .. }) if status.code == 409 => {
            tracing::debug!(name = %obj.name_any(), "stale object, replanning");
            pass.outcome = Some(Outcome::Stale);
            Ok(Action::requeue(Duration::from_millis(300)))
        }
        other => other,
    };
    ctx.config.metrics.reconciled(pass.outcome, result.as_ref().err(), started.elapsed());
    result
}

/// The state of one reconcile: the object, the status being built, and the cloud.
struct Pass<'a> {
    obj: &'a NatGateway,
    ctx: &'a Context,
    kind: ProviderKind,
    gateway: GatewayRef,
    generation: i64,
    /// The version our writes are conditional on, so that a decision made on a stale copy can
    /// never be written (or acted upon).
    resource_version: Option<String>,
    /// The gateway's state in this pass, once described.
    gateway_state: Option<GatewayState>,
    previous: NatGatewayStatus,
    status: NatGatewayStatus,
    /// What the last status write said, for `natgw_reconciles_total{outcome}`.
    outcome: Option<Outcome>,
}

impl<'a> Pass<'a> {
    fn new(obj: &'a NatGateway, ctx: &'a Context) -> Self {
        let kind = ProviderKind::of(&obj.spec);
        let previous = obj.status.clone().unwrap_or_default();
        let mut status = previous.clone();
        status.provider = Some(kind.label().to_owned());
        status.region = Some(GatewayRef::of(&obj.spec).region);
        Pass {
            obj,
            ctx,
            kind,
            gateway: GatewayRef::of(&obj.spec),
            generation: obj.meta().generation.unwrap_or_default(),
            resource_version: obj.resource_version(),
            gateway_state: None,
            previous,
            status,
            outcome: None,
        }
    }

    async fn run(&mut self) -> Result<Action, Error> {
        let namespace = self.obj.namespace().unwrap_or_default();
        let secret_name = &self.obj.spec.credentials_secret_ref.name;
        let credentials = match self.ctx.credentials.read(&self.ctx.client, &namespace, secret_name, self.kind).await {
            Ok(c) => c,
            Err(e @ credentials::CredentialsError::Missing { .. }) => {
                // The Secret watch brings us back when it appears.
                return self.stall("SecretNotFound", e.to_string(), Action::await_change()).await;
            }
            Err(e @ credentials::CredentialsError::Invalid { .. }) => {
                return self.stall("CredentialsInvalid", e.to_string(), Action::await_change()).await;
            }
            Err(e @ credentials::CredentialsError::Kube { .. }) => return Err(Error::SecretRead(e.to_string())),
        };
        let provider = match self.ctx.connector.connect(&self.obj.spec, credentials) {
            Ok(p) => InstrumentedProvider::wrap(p, self.ctx.config.metrics.clone()),
            Err(e) => return self.cloud_error(e).await,
        };

        let observed = match provider.describe(&self.gateway).await {
            Ok(o) => Some(o),
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(e) => return self.cloud_error(e).await,
        };
        if let Some(o) = &observed {
            self.gateway_state = Some(o.state);
            self.status.observed = Some(self.observed_status(o));
        }
        let mut open = self
            .status
            .order
            .as_deref()
            .cloned()
            .filter(|o| !matches!(o.phase, OrderPhase::Succeeded | OrderPhase::Failed));
        // An intent without an order id: the call may have landed before we could record its
        // answer. Where the cloud can list orders, adopt the one it holds instead of ordering twice.
        if let Some(order) = open.as_mut().filter(|o| o.phase == OrderPhase::Submitting && o.id.is_none())
            && observed.is_some()
        {
            match provider.find_open_order(&self.gateway, order.action).await {
                Ok(Some(id)) => {
                    info!(name = %self.obj.name_any(), order = %id, "adopting an order the cloud already holds");
                    order.id = Some(id);
                    order.phase = OrderPhase::InProgress;
                    self.status.order = Some(Box::new(order.clone()));
                }
                Ok(None) => {}
                Err(e) => return self.cloud_error(e).await,
            }
        }
        let order_state = match open.as_ref().and_then(|o| o.id.as_deref()) {
            Some(id) if observed.is_some() => match provider.order_status(&self.gateway, id).await {
                Ok(s) => Some(s),
                Err(e) => return self.cloud_error(e).await,
            },
            _ => None,
        };

        let step = plan::plan(plan::Inputs {
            spec: &self.obj.spec,
            generation: self.generation,
            kind: self.kind,
            observed: observed.as_ref(),
            order: open.as_ref(),
            order_state: order_state.as_ref(),
            last_order: self.status.last_order.as_deref(),
        });
        tracing::debug!(name = %self.obj.name_any(), ?step, "planned");
        self.act(step, provider.as_ref(), open).await
    }

    async fn act(&mut self, step: Step, provider: &dyn Provider, open: Option<OrderStatus>) -> Result<Action, Error> {
        let poll = self.ctx.config.poll_interval;
        match step {
            Step::InSync => {
                let size = self.obj.spec.size;
                let message = format!("the gateway is {size} and {}", self.obj.spec.billing_mode());
                self.write(Health::Ready { message }).await?;
                Ok(Action::requeue(self.ctx.config.drift_interval))
            }
            Step::Drift { message } => {
                self.write(Health::Drift { message }).await?;
                Ok(Action::requeue(self.ctx.config.drift_interval))
            }
            Step::Wait(wait) => {
                failpoint::crash_at(Point::WhilePolling);
                if let Some(order) = self.status.order.as_mut() {
                    order.phase = match wait {
                        plan::Wait::AwaitingPayment => OrderPhase::AwaitingPayment,
                        _ => OrderPhase::InProgress,
                    };
                }
                let message = self.wait_message(wait, open.as_ref());
                if wait == plan::Wait::AwaitingPayment
                    && open.as_ref().is_some_and(|o| o.phase != OrderPhase::AwaitingPayment)
                {
                    self.event(EventType::Warning, "AwaitingPayment", &message).await;
                    if let Some(o) = &open {
                        self.ctx.config.metrics.order(self.kind, o.action, OrderTransition::AwaitingPayment);
                    }
                }
                self.write(Health::Progressing { reason: wait.reason().to_owned(), message }).await?;
                // Nobody pays an order within seconds: poll those gently.
                let after = if wait == plan::Wait::AwaitingPayment { poll.saturating_mul(6) } else { poll };
                Ok(Action::requeue(after))
            }
            // An intent that never reached the cloud and is no longer wanted: nothing was ordered,
            // so there is nothing to report as failed; drop it and plan afresh.
            Step::Finish { phase: OrderPhase::Failed, message }
                if open.as_ref().is_some_and(|o| o.phase == OrderPhase::Submitting && o.id.is_none())
                    && self.gateway_state == Some(GatewayState::Ready) =>
            {
                self.status.order = None;
                self.event(EventType::Normal, "IntentDropped", &message).await;
                self.write(Health::Progressing { reason: "Replanning".into(), message }).await?;
                Ok(Action::requeue(Duration::from_millis(200)))
            }
            Step::Finish { phase, message } => {
                if let Some(mut order) = self.status.order.take() {
                    order.phase = phase;
                    order.finished_at = Some(Time(Timestamp::now()));
                    order.message = Some(message.clone());
                    let (type_, reason) = match phase {
                        OrderPhase::Succeeded => (EventType::Normal, "OrderSucceeded"),
                        _ => (EventType::Warning, "OrderFailed"),
                    };
                    self.event(type_, reason, &message).await;
                    let transition = if phase == OrderPhase::Succeeded {
                        OrderTransition::Succeeded
                    } else {
                        OrderTransition::Failed
                    };
                    self.ctx.config.metrics.order(self.kind, order.action, transition);
                    self.status.last_order = Some(order);
                }
                let health = match phase {
                    OrderPhase::Succeeded => Health::Progressing { reason: "OrderSucceeded".into(), message },
                    _ => Health::Stalled { reason: "OrderFailed".into(), message },
                };
                self.write(health).await?;
                failpoint::crash_at(Point::AfterCompletion);
                // Plan again right away: there may be a second change (billing, then size).
                Ok(Action::requeue(Duration::from_millis(200)))
            }
            Step::Stall { reason, message } => {
                // Causes the spec alone can fix wait for a change; the others are re-read slowly.
                let after = match reason {
                    plan::StallReason::UnsupportedSize => Action::await_change(),
                    _ => Action::requeue(self.ctx.config.drift_interval),
                };
                self.stall(reason.reason(), message, after).await
            }
            Step::Submit { action, target, attempt } => self.submit(provider, action, target, attempt).await,
        }
    }

    /// Records the intent, then makes exactly one cloud call for it.
    async fn submit(
        &mut self,
        provider: &dyn Provider,
        action: OrderAction,
        target: String,
        attempt: u32,
    ) -> Result<Action, Error> {
        let intent = OrderStatus {
            action,
            target: target.clone(),
            attempt,
            id: None,
            request_id: None,
            generation: Some(self.generation),
            phase: OrderPhase::Submitting,
            submitted_at: Time(Timestamp::now()),
            finished_at: None,
            message: None,
        };
        failpoint::crash_at(Point::BeforeIntent);
        self.status.order = Some(Box::new(intent));
        let what = format!("{action} to {target}");
        // If this write fails nothing was ordered; the retry plans afresh.
        self.write(Health::Progressing { reason: "OrderSubmitting".into(), message: format!("submitting {what}") })
            .await?;
        failpoint::crash_at(Point::AfterIntent);

        let result = match action {
            OrderAction::Resize => {
                // plan only resizes to sizes the cloud has.
                let capacity = Size::ALL
                    .into_iter()
                    .find(|s| s.to_string() == target)
                    .and_then(|s| self.kind.capacity_for(s))
                    .ok_or_else(|| {
                        CloudError::new(ErrorKind::InvalidRequest, format!("no cloud value for size {target}"))
                    });
                match capacity {
                    Ok(c) => provider.resize(&self.gateway, &c, crate::cloud::auto_pay(&self.obj.spec)).await,
                    Err(e) => Err(e),
                }
            }
            OrderAction::ChangeBilling => match self.obj.spec.billing.as_ref().and_then(|b| b.prepaid.as_ref()) {
                Some(prepaid) => provider.change_billing(&self.gateway, prepaid).await,
                None => Err(CloudError::new(ErrorKind::InvalidRequest, "spec.billing.prepaid is missing")),
            },
        };
        match result {
            Ok(ticket) => {
                failpoint::crash_at(Point::AfterAccept);
                let shown_id = ticket.order_id.clone().or(ticket.request_id.clone()).unwrap_or_default();
                if let Some(order) = self.status.order.as_mut() {
                    order.id = ticket.order_id;
                    order.request_id = ticket.request_id;
                    order.phase = OrderPhase::InProgress;
                }
                let message = format!("{what} submitted (order {shown_id})");
                self.event(EventType::Normal, "OrderSubmitted", &message).await;
                self.ctx.config.metrics.order(self.kind, action, OrderTransition::Submitted);
                self.write(Health::Progressing { reason: "OrderInProgress".into(), message }).await?;
                self.ctx.succeeded(self.obj);
                Ok(Action::requeue(self.ctx.config.poll_interval))
            }
            Err(e) if e.kind.outcome_unknown() => {
                // The cloud may have applied it: keep the intent, the next pass checks the gateway.
                if let Some(order) = self.status.order.as_mut() {
                    order.message = Some(format!("outcome unknown: {e}"));
                }
                let message =
                    format!("{what}: the cloud's answer was lost ({e}); checking the gateway before anything else");
                self.event(EventType::Warning, "OrderOutcomeUnknown", &message).await;
                self.write(Health::Retrying { reason: "CloudUnavailable".into(), message }).await?;
                Ok(Action::requeue(self.ctx.backoff(self.obj, e.retry_after)))
            }
            Err(e) => {
                // A definite refusal: nothing was ordered.
                let mut order = self.status.order.take();
                if e.kind.is_terminal()
                    && let Some(o) = order.as_mut()
                {
                    o.phase = OrderPhase::Failed;
                    self.ctx.config.metrics.order(self.kind, action, OrderTransition::Failed);
                    o.finished_at = Some(Time(Timestamp::now()));
                    o.message = Some(e.to_string());
                    self.status.last_order = order;
                }
                self.cloud_error(e).await
            }
        }
    }

    fn wait_message(&self, wait: plan::Wait, open: Option<&OrderStatus>) -> String {
        let order = open.map(|o| {
            let id = o.id.as_deref().or(o.request_id.as_deref()).map(|id| format!(" (order {id})")).unwrap_or_default();
            format!("{} to {}{id}", o.action, o.target)
        });
        match (wait, order) {
            (plan::Wait::AwaitingPayment, Some(o)) => {
                format!(
                    "{o} is waiting for payment; pay it in the cloud console's billing center and the operator continues"
                )
            }
            (plan::Wait::OrderInProgress, Some(o)) => format!("{o} is in progress"),
            (plan::Wait::GatewayTransitioning, Some(o)) => format!("{o}: the gateway is applying the change"),
            (_, None) => {
                "the gateway is changing (a change made outside the operator); waiting for it to settle".to_owned()
            }
        }
    }

    fn observed_status(&self, o: &Observed) -> ObservedStatus {
        use crate::cloud::Capacity;
        let (connections, spec) = match &o.capacity {
            Capacity::Connections(n) => (Some(*n), None),
            Capacity::Spec(s) => (None, Some(s.clone())),
        };
        ObservedStatus {
            size: self.kind.size_of(&o.capacity),
            max_concurrent_connections: connections,
            spec,
            billing_mode: Some(o.billing),
            state: o.raw_state.clone(),
            checked_at: Time(Timestamp::now()),
        }
    }

    /// Turns a cloud error into conditions, an Event and a requeue.
    async fn cloud_error(&mut self, e: CloudError) -> Result<Action, Error> {
        let reason = match e.kind {
            ErrorKind::Throttled => "Throttled",
            ErrorKind::Transient => "CloudUnavailable",
            ErrorKind::Busy => "GatewayBusy",
            ErrorKind::NotFound => "GatewayNotFound",
            ErrorKind::Auth => "CredentialsInvalid",
            ErrorKind::InvalidRequest => "InvalidRequest",
            ErrorKind::Unsupported => "UnsupportedChange",
            ErrorKind::InsufficientFunds => "InsufficientFunds",
        };
        let secret = &self.obj.spec.credentials_secret_ref.name;
        let advice = match e.kind {
            ErrorKind::Auth => format!("; check the credentials in Secret {secret} and their permissions"),
            ErrorKind::InsufficientFunds => {
                "; top up the cloud account, then change the spec or the Secret to retry".to_owned()
            }
            ErrorKind::InvalidRequest | ErrorKind::Unsupported | ErrorKind::NotFound => "; fix the spec".to_owned(),
            _ => "; retrying with backoff".to_owned(),
        };
        let message = format!("{e}{advice}");
        if e.kind.is_terminal() {
            // Only a spec or Secret change can help, and both re-trigger us.
            self.stall(reason, message, Action::await_change()).await
        } else {
            let wait = self.ctx.backoff(self.obj, e.retry_after);
            self.write(Health::Retrying { reason: reason.to_owned(), message }).await?;
            Ok(Action::requeue(wait))
        }
    }

    async fn stall(&mut self, reason: &str, message: String, then: Action) -> Result<Action, Error> {
        let previous = self.previous.conditions.iter().find(|c| c.type_ == "Stalled");
        if previous.is_none_or(|c| c.status != "True" || c.reason != reason || c.message != message) {
            self.event(EventType::Warning, reason, &message).await;
        }
        self.write(Health::Stalled { reason: reason.to_owned(), message }).await?;
        Ok(then)
    }

    async fn event(&self, type_: EventType, reason: &str, note: &str) {
        // An Event is best effort: failing to record one must not stop an order.
        if let Err(e) = self.ctx.recorder.publish(&self.obj.object_ref(&()), type_, reason, note).await {
            warn!(name = %self.obj.name_any(), error = %Error::Event(e), "could not record event");
        }
    }

    /// True when the new status differs from the one read only by a `checkedAt` that is still
    /// fresh (younger than half the drift interval).
    fn only_checked_at_moved(&self) -> bool {
        let (Some(new), Some(old)) = (&self.status.observed, &self.previous.observed) else {
            return self.status == self.previous;
        };
        let age = Timestamp::now().duration_since(old.checked_at.0).unsigned_abs();
        let fresh = age < self.ctx.config.drift_interval / 2;
        let mut same = self.status.clone();
        same.observed = Some(ObservedStatus { checked_at: old.checked_at.clone(), ..new.clone() });
        fresh && same == self.previous
    }

    /// Writes the whole status with server-side apply on the status subresource.
    async fn write(&mut self, health: Health) -> Result<(), Error> {
        self.ctx.config.metrics.health_written(&health);
        self.outcome = Some(Outcome::of(&health));
        let retrying = matches!(health, Health::Retrying { .. });
        self.status.observed_generation = Some(self.generation);
        self.status.conditions =
            conditions::conditions(&self.status.conditions, &health, self.generation, Timestamp::now());
        if self.only_checked_at_moved() {
            // Nothing a reader could act on changed: spare the API server the write.
            if !retrying {
                self.ctx.succeeded(self.obj);
            }
            return Ok(());
        }
        let api: Api<NatGateway> = Api::namespaced(self.ctx.client.clone(), &self.obj.namespace().unwrap_or_default());
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
        if !retrying {
            self.ctx.succeeded(self.obj);
        }
        Ok(())
    }
}
