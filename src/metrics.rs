//! Prometheus metrics, in one [`Registry`] served as OpenMetrics text on `/metrics`.
//!
//! Every metric is prefixed `natgw_`:
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `natgw_reconciles_total` | `outcome` | finished reconciles, by how the resource stood afterwards |
//! | `natgw_reconcile_duration_seconds` | | time per reconcile (histogram) |
//! | `natgw_reconcile_errors_total` | `reason` | condition reasons of Retrying/Stalled passes, and failed reconciles |
//! | `natgw_cloud_calls_total` | `provider`, `action`, `outcome` | cloud API calls, workload identity exchanges included (`tencent/sts`, `huawei/iam`); `outcome` is `ok` or the error kind |
//! | `natgw_cloud_call_duration_seconds` | `provider`, `action` | cloud API latency (histogram) |
//! | `natgw_cloud_throttled_total` | `provider` | calls the cloud refused with its rate limit (0 from a provider's first call) |
//! | `natgw_orders_total` | `provider`, `action`, `phase` | order transitions: `submitted`, `awaiting_payment`, `succeeded`, `failed` |
//! | `natgw_leader` | | 1 while this replica runs the controller |
//!
//! and, computed at scrape time from the controller's cache of NatGateways (only a leader has
//! one; see `controller::gauges`), `natgw_resources`, `natgw_stalled_resources` and
//! `natgw_order_started_timestamp_seconds`.

use std::{sync::Arc, time::Duration};

use parking_lot::RwLock;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

use crate::api::OrderAction;

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How a reconcile ended: the kind of health it wrote last, or why it wrote none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    Progressing,
    Retrying,
    Drift,
    Stalled,
    /// Paused by the user's annotation: no cloud call.
    Paused,
    /// The cached copy was older than our own last write; replanned without acting.
    Stale,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ready => "ready",
            Outcome::Progressing => "progressing",
            Outcome::Retrying => "retrying",
            Outcome::Drift => "drift",
            Outcome::Stalled => "stalled",
            Outcome::Paused => "paused",
            Outcome::Stale => "stale",
        }
    }
}

/// A [`crate::cloud::Provider`] method, or a call of a workload identity exchange, for the
/// `action` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudAction {
    Describe,
    Resize,
    ChangeBilling,
    OrderStatus,
    FindOpenOrder,
    List,
    SetRenewal,
    CancelOrder,
    WriteClaim,
    RemoveClaim,
    /// A call to the cloud's STS / IAM, by its label (e.g. `assume_role_with_web_identity`).
    Exchange(&'static str),
}

impl CloudAction {
    fn label(self) -> &'static str {
        match self {
            CloudAction::Describe => "describe",
            CloudAction::Resize => "resize",
            CloudAction::ChangeBilling => "change_billing",
            CloudAction::FindOpenOrder => "find_open_order",
            CloudAction::OrderStatus => "order_status",
            CloudAction::List => "list",
            CloudAction::SetRenewal => "set_renewal",
            CloudAction::CancelOrder => "cancel_order",
            CloudAction::WriteClaim => "write_claim",
            CloudAction::RemoveClaim => "remove_claim",
            CloudAction::Exchange(label) => label,
        }
    }
}

/// A step in an order's life, for `natgw_orders_total{phase}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderTransition {
    /// The cloud accepted the change.
    Submitted,
    /// The order now waits for someone to pay it.
    AwaitingPayment,
    Succeeded,
    /// The order failed, or the cloud refused it for good.
    Failed,
    /// Cancelled unpaid by the operator: the spec no longer asked for it.
    Cancelled,
}

impl OrderTransition {
    fn label(self) -> &'static str {
        match self {
            OrderTransition::Submitted => "submitted",
            OrderTransition::AwaitingPayment => "awaiting_payment",
            OrderTransition::Succeeded => "succeeded",
            OrderTransition::Failed => "failed",
            OrderTransition::Cancelled => "cancelled",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudCallLabels {
    provider: &'static str,
    action: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudLatencyLabels {
    provider: &'static str,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrderLabels {
    provider: &'static str,
    action: &'static str,
    phase: &'static str,
}

/// All metrics of one operator process. Callers pass labels (a cloud's label, a reason's name), so
/// telemetry depends on nothing it measures. Shared as `Arc<Metrics>`; recording is lock-free
/// except for the first use of a label set.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<OutcomeLabels, Counter>,
    reconcile_duration: Histogram,
    errors: Family<ReasonLabels, Counter>,
    cloud_calls: Family<CloudCallLabels, Counter>,
    cloud_call_duration: Family<CloudLatencyLabels, Histogram>,
    throttled: Family<ProviderLabels, Counter>,
    orders: Family<OrderLabels, Counter>,
    leader: Gauge,
    cluster: Family<ClusterLabels, Gauge>,
    cache: LateCollector,
}

/// A collector installed after start-up, by the controller once its cache exists; until then
/// (a standby never has one) it encodes nothing.
#[derive(Debug, Clone, Default)]
struct LateCollector(Arc<RwLock<Option<Box<dyn Collector>>>>);

impl Collector for LateCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        match &*self.0.read() {
            Some(collector) => collector.encode(encoder),
            None => Ok(()),
        }
    }
}

/// The `action` label of an order, in `natgw_orders_total` and the cache's order gauge alike.
pub fn order_action_label(action: OrderAction) -> &'static str {
    match action {
        OrderAction::Resize => "resize",
        OrderAction::ChangeBilling => "change_billing",
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The registry's contents are for /metrics, not for logs of the Config.
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("natgw");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        registry.register("reconciles", "Finished reconciles by how the resource stood afterwards", reconciles.clone());
        // 5 ms .. ~20 s: a pass is a Secret read, one or two cloud calls and a status write.
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 13));
        registry.register_with_unit(
            "reconcile_duration",
            "Time spent in one reconcile",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let errors = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that ended Retrying or Stalled (by condition reason) or failed (StatusWriteFailed, SecretReadFailed)",
            errors.clone(),
        );
        let cloud_calls = Family::<CloudCallLabels, Counter>::default();
        registry.register(
            "cloud_calls",
            "Cloud API calls by provider, action and outcome (ok or the error kind)",
            cloud_calls.clone(),
        );
        // 10 ms .. ~40 s: cloud APIs answer in tens of milliseconds, timeouts take tens of seconds.
        let cloud_call_duration = Family::<CloudLatencyLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.01, 2.0, 13))) as fn() -> Histogram,
        );
        registry.register_with_unit(
            "cloud_call_duration",
            "Cloud API call latency by provider and action",
            Unit::Seconds,
            cloud_call_duration.clone(),
        );
        let throttled = Family::<ProviderLabels, Counter>::default();
        registry.register("cloud_throttled", "Cloud API calls refused by the cloud's rate limit", throttled.clone());
        let orders = Family::<OrderLabels, Counter>::default();
        registry.register(
            "orders",
            "Order transitions: submitted, awaiting_payment, succeeded, failed",
            orders.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease and runs the controller",
            leader.clone(),
        );
        let cluster = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "cluster",
            "1, labelled with the cluster id this operator's claims on cloud gateways name (run --cluster-id)",
            cluster.clone(),
        );
        let cache = LateCollector::default();
        registry.register_collector(Box::new(cache.clone()));
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            errors,
            cloud_calls,
            cloud_call_duration,
            throttled,
            orders,
            leader,
            cluster,
            cache,
        }
    }

    /// Shows the cluster id in `natgw_cluster{cluster_id}`.
    pub fn cluster_id(&self, id: &str) {
        self.cluster.get_or_create(&ClusterLabels { cluster_id: id.to_owned() }).set(1);
    }

    /// Adds the gauges `collector` computes at each scrape (the controller's cache), replacing
    /// any it added before.
    pub fn collect_from(&self, collector: impl Collector) {
        *self.cache.0.write() = Some(Box::new(collector));
    }

    /// The whole registry as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("metrics encode into a String");
        text
    }

    /// Records a finished reconcile: `outcome` is what its last status write said (`None` if it
    /// wrote none), `error` the reason of what stopped it, if anything.
    pub fn reconciled(&self, outcome: Option<Outcome>, error: Option<&str>, elapsed: Duration) {
        self.reconcile_duration.observe(elapsed.as_secs_f64());
        let label = match (error, outcome) {
            (Some(reason), _) => {
                self.reconcile_error(reason);
                "error"
            }
            (None, Some(o)) => o.label(),
            (None, None) => "none",
        };
        self.reconciles.get_or_create(&OutcomeLabels { outcome: label }).inc();
    }

    /// Counts the reason of a Retrying or Stalled status, or of a failed reconcile.
    pub fn reconcile_error(&self, reason: &str) {
        self.errors.get_or_create(&ReasonLabels { reason: reason.to_owned() }).inc();
    }

    /// Records one cloud call of the cloud labelled `provider`; `error` is the label of its
    /// failure's kind, `None` when it succeeded.
    pub fn cloud_call(
        &self,
        provider: &'static str,
        action: CloudAction,
        error: Option<&'static str>,
        elapsed: Duration,
    ) {
        let action = action.label();
        let outcome = error.unwrap_or("ok");
        self.cloud_calls.get_or_create(&CloudCallLabels { provider, action, outcome }).inc();
        self.cloud_call_duration.get_or_create(&CloudLatencyLabels { provider, action }).observe(elapsed.as_secs_f64());
        // At 0 from the provider's first call on, so that rate() (alerts) counts the first
        // throttled call, and a throttling ratio has a series to divide.
        drop(self.throttled.get_or_create(&ProviderLabels { provider }));
    }

    /// Counts a call the cloud refused with its rate limit.
    pub fn throttled(&self, provider: &'static str) {
        self.throttled.get_or_create(&ProviderLabels { provider }).inc();
    }

    pub fn order(&self, provider: &'static str, action: OrderAction, transition: OrderTransition) {
        let action = order_action_label(action);
        self.orders.get_or_create(&OrderLabels { provider, action, phase: transition.label() }).inc();
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line that starts with `prefix` (name and labels).
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(prefix)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_and_labels_encode_as_openmetrics() {
        let m = Metrics::new();
        m.reconciled(Some(Outcome::Progressing), None, Duration::from_millis(30));
        m.reconciled(Some(Outcome::Ready), None, Duration::from_millis(20));
        m.reconciled(None, Some("SecretReadFailed"), Duration::from_millis(5));
        m.reconcile_error("Throttled");
        m.cloud_call("tencent/V2", CloudAction::Resize, None, Duration::from_millis(40));
        m.cloud_call("huawei", CloudAction::Describe, Some("throttled"), Duration::ZERO);
        m.throttled("huawei");
        m.order("huawei", OrderAction::ChangeBilling, OrderTransition::AwaitingPayment);
        m.set_leader(true);

        let text = m.encode();
        assert!(text.ends_with("# EOF\n"), "{text}");
        let expect = [
            ("natgw_reconciles_total{outcome=\"progressing\"}", 1.0),
            ("natgw_reconciles_total{outcome=\"ready\"}", 1.0),
            ("natgw_reconciles_total{outcome=\"error\"}", 1.0),
            ("natgw_reconcile_duration_seconds_count", 3.0),
            ("natgw_reconcile_errors_total{reason=\"SecretReadFailed\"}", 1.0),
            ("natgw_reconcile_errors_total{reason=\"Throttled\"}", 1.0),
            ("natgw_cloud_calls_total{provider=\"tencent/V2\",action=\"resize\",outcome=\"ok\"}", 1.0),
            ("natgw_cloud_calls_total{provider=\"huawei\",action=\"describe\",outcome=\"throttled\"}", 1.0),
            ("natgw_cloud_call_duration_seconds_count{provider=\"tencent/V2\",action=\"resize\"}", 1.0),
            ("natgw_cloud_throttled_total{provider=\"huawei\"}", 1.0),
            ("natgw_cloud_throttled_total{provider=\"tencent/V2\"}", 0.0),
            ("natgw_orders_total{provider=\"huawei\",action=\"change_billing\",phase=\"awaiting_payment\"}", 1.0),
            ("natgw_leader", 1.0),
        ];
        for (prefix, value) in expect {
            assert_eq!(sample(&text, prefix), Some(value), "{prefix} in\n{text}");
        }
        assert_eq!(text.matches("natgw_reconcile_errors_total{").count(), 2, "{text}");
        m.set_leader(false);
        assert_eq!(sample(&m.encode(), "natgw_leader"), Some(0.0));
    }
}
