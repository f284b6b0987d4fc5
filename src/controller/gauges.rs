//! Gauges of how the NatGateways stand now, computed from the controller's cache at each scrape:
//! they keep no state of their own, so memory does not grow with the number of resources, and
//! they say what `kubectl get natgw` says. Only a leader has the cache; a standby exports none of
//! them (alerts take `max by` over replicas).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `natgw_resources` | `condition`, `status` | NatGateways by the status (`True`, `False`, `Unknown`: also when absent) of each condition (`Ready`, `Reconciling`, `Stalled`) |
//! | `natgw_stalled_resources` | `reason` | NatGateways with `Stalled=True`, by its reason (one of [`Reason`], else `Other`); reasons with none are left out |
//! | `natgw_order_started_timestamp_seconds` | `natgateway_namespace`, `natgateway`, `provider`, `action`, `phase` | each open order's `submittedAt` (Unix seconds): one series per order in flight |
//! | `natgw_subscription_expiry_timestamp_seconds` | `natgateway_namespace`, `natgateway`, `provider`, `renewal` | each yearly/monthly gateway's `status.observed.expiresAt` (Unix seconds), with what happens then (`Auto`, `Manual`, `PayPerUseAtExpiry`) |
//!
//! The resource's labels are not `namespace` and `name`: a scrape's own `namespace` target label
//! (the operator's namespace) would rename them.

use std::{collections::BTreeMap, fmt};

use kube::runtime::reflector::Store;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, gauge::ConstGauge},
    registry::Unit,
};

use crate::{
    api::{NatGateway, OrderPhase, Renewal},
    metrics::order_action_label,
    plan::{self, Reason},
};

const CONDITIONS: [&str; 3] = ["Ready", "Reconciling", "Stalled"];
const STATUSES: [&str; 3] = ["True", "False", "Unknown"];
/// The `reason` label of a Stalled condition with a reason the operator never writes (a status
/// written by someone else): the label set stays bounded.
const OTHER_REASON: &str = "Other";

/// The gauges over the controller's cache of NatGateways.
pub struct CacheGauges {
    natgws: Store<NatGateway>,
}

impl CacheGauges {
    pub fn new(natgws: Store<NatGateway>) -> CacheGauges {
        CacheGauges { natgws }
    }
}

impl fmt::Debug for CacheGauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the cache's objects.
        f.debug_struct("CacheGauges").finish_non_exhaustive()
    }
}

impl Collector for CacheGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let natgws = self.natgws.state();
        Tally::of(natgws.iter().map(AsRef::as_ref)).encode(&mut encoder)
    }
}

/// One scrape's counts, borrowed from the cache's objects.
#[derive(Debug, Default)]
struct Tally<'a> {
    /// `[condition][status]`, indexed as [`CONDITIONS`] and [`STATUSES`].
    conditions: [[i64; 3]; 3],
    stalled: BTreeMap<&'static str, i64>,
    orders: Vec<OpenOrder<'a>>,
    expiries: Vec<Expiry<'a>>,
}

#[derive(Debug)]
struct Expiry<'a> {
    namespace: &'a str,
    name: &'a str,
    provider: &'a str,
    renewal: &'static str,
    expires_at: i64,
}

#[derive(Debug)]
struct OpenOrder<'a> {
    namespace: &'a str,
    name: &'a str,
    provider: &'a str,
    action: &'static str,
    phase: &'static str,
    submitted_at: i64,
}

impl<'a> Tally<'a> {
    fn of(natgws: impl Iterator<Item = &'a NatGateway>) -> Tally<'a> {
        let mut tally = Tally::default();
        for g in natgws {
            let conditions = g.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
            for (i, type_) in CONDITIONS.iter().enumerate() {
                let condition = conditions.iter().find(|c| c.type_ == *type_);
                let status = condition.and_then(|c| STATUSES.iter().position(|s| *s == c.status)).unwrap_or(2);
                tally.conditions[i][status] += 1;
                if *type_ == "Stalled" && status == 0 {
                    let reason = condition.map(|c| c.reason.as_str()).unwrap_or_default();
                    let known = Reason::ALL.iter().map(|r| r.as_str()).find(|r| *r == reason);
                    *tally.stalled.entry(known.unwrap_or(OTHER_REASON)).or_default() += 1;
                }
            }
            let status = g.status.as_ref();
            if let Some(order) = status.and_then(|s| s.order.as_deref()).filter(|o| plan::is_open(o)) {
                tally.orders.push(OpenOrder {
                    namespace: g.metadata.namespace.as_deref().unwrap_or_default(),
                    name: g.metadata.name.as_deref().unwrap_or_default(),
                    provider: status.and_then(|s| s.provider.as_deref()).unwrap_or_default(),
                    action: order_action_label(order.action),
                    phase: phase_label(order.phase),
                    submitted_at: order.submitted_at.0.as_second(),
                });
            }
            let observed = status.and_then(|s| s.observed.as_ref());
            if let Some((expires_at, observed)) = observed.and_then(|o| Some((o.expires_at.as_ref()?, o))) {
                tally.expiries.push(Expiry {
                    namespace: g.metadata.namespace.as_deref().unwrap_or_default(),
                    name: g.metadata.name.as_deref().unwrap_or_default(),
                    provider: status.and_then(|s| s.provider.as_deref()).unwrap_or_default(),
                    renewal: observed.renewal.map_or("Unknown", renewal_label),
                    expires_at: expires_at.0.as_second(),
                });
            }
        }
        tally
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut resources = encoder.encode_descriptor(
            "resources",
            "NatGateways by the status of each condition (Unknown also when the condition is absent)",
            None,
            MetricType::Gauge,
        )?;
        for (condition, counts) in CONDITIONS.iter().zip(&self.conditions) {
            for (status, count) in STATUSES.iter().zip(counts) {
                let labels = [("condition", *condition), ("status", *status)];
                ConstGauge::new(*count).encode(resources.encode_family(&labels)?)?;
            }
        }
        let mut stalled = encoder.encode_descriptor(
            "stalled_resources",
            "NatGateways with Stalled=True by the condition's reason",
            None,
            MetricType::Gauge,
        )?;
        for (reason, count) in &self.stalled {
            ConstGauge::new(*count).encode(stalled.encode_family(&[("reason", *reason)])?)?;
        }
        let seconds = Unit::Seconds;
        let mut orders = encoder.encode_descriptor(
            "order_started_timestamp",
            "When each open order was submitted (status.order.submittedAt), one series per order in flight",
            Some(&seconds),
            MetricType::Gauge,
        )?;
        for o in &self.orders {
            let labels = [
                ("natgateway_namespace", o.namespace),
                ("natgateway", o.name),
                ("provider", o.provider),
                ("action", o.action),
                ("phase", o.phase),
            ];
            ConstGauge::new(o.submitted_at).encode(orders.encode_family(&labels)?)?;
        }
        let mut expiries = encoder.encode_descriptor(
            "subscription_expiry_timestamp",
            "When each yearly/monthly gateway's period ends (status.observed.expiresAt), and what happens then",
            Some(&seconds),
            MetricType::Gauge,
        )?;
        for e in &self.expiries {
            let labels = [
                ("natgateway_namespace", e.namespace),
                ("natgateway", e.name),
                ("provider", e.provider),
                ("renewal", e.renewal),
            ];
            ConstGauge::new(e.expires_at).encode(expiries.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn renewal_label(renewal: Renewal) -> &'static str {
    match renewal {
        Renewal::Auto => "Auto",
        Renewal::Manual => "Manual",
        Renewal::PayPerUseAtExpiry => "PayPerUseAtExpiry",
    }
}

fn phase_label(phase: OrderPhase) -> &'static str {
    match phase {
        OrderPhase::Submitting => "submitting",
        OrderPhase::InProgress => "in_progress",
        OrderPhase::AwaitingPayment => "awaiting_payment",
        OrderPhase::Cancelling => "cancelling",
        OrderPhase::Succeeded => "succeeded",
        OrderPhase::Failed => "failed",
        OrderPhase::Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kube::runtime::{reflector, watcher};
    use serde_json::{Value, json};

    use super::*;
    use crate::{
        metrics::Metrics,
        testing::{natgw, tencent_spec},
    };

    fn condition(type_: &str, status: &str, reason: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"})
    }

    /// A Medium Tencent NatGateway in namespace `team` with `status`.
    fn with_status(name: &str, status: Value) -> Arc<NatGateway> {
        let mut spec = tencent_spec("nat-1", "ap-guangzhou", "creds");
        spec["size"] = "Medium".into();
        let mut g = natgw("team", name, spec);
        g.status = serde_json::from_value(status).unwrap();
        Arc::new(g)
    }

    fn ready(name: &str) -> Arc<NatGateway> {
        let conditions = [
            condition("Ready", "True", "InSync"),
            condition("Reconciling", "False", ""),
            condition("Stalled", "False", ""),
        ];
        with_status(name, json!({"conditions": conditions}))
    }

    fn stalled(name: &str, reason: &str) -> Arc<NatGateway> {
        let conditions = [
            condition("Ready", "False", reason),
            condition("Reconciling", "False", reason),
            condition("Stalled", "True", reason),
        ];
        with_status(name, json!({"conditions": conditions}))
    }

    fn ordering(name: &str, action: &str, phase: &str, submitted_at: &str) -> Arc<NatGateway> {
        let conditions = [
            condition("Ready", "False", "OrderInProgress"),
            condition("Reconciling", "True", "OrderInProgress"),
            condition("Stalled", "False", "OrderInProgress"),
        ];
        let order =
            json!({"action": action, "target": "Medium", "attempt": 1, "phase": phase, "submittedAt": submitted_at});
        with_status(name, json!({"conditions": conditions, "provider": "huawei", "order": order}))
    }

    fn subscribed(name: &str, renewal: &str, expires_at: &str) -> Arc<NatGateway> {
        let observed = json!({
            "billingMode": "Prepaid", "expiresAt": expires_at, "renewal": renewal,
            "state": "ACTIVE", "checkedAt": "2026-01-01T00:00:00Z",
        });
        let mut g = ready(name).as_ref().clone();
        let status = g.status.as_mut().unwrap();
        status.provider = Some("huawei".into());
        status.observed = Some(serde_json::from_value(observed).unwrap());
        Arc::new(g)
    }

    /// A registry whose collector reads a cache holding `objects`.
    fn scrape(objects: &[Arc<NatGateway>]) -> String {
        let (reader, mut writer) = reflector::store();
        for g in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(g.as_ref().clone()));
        }
        let metrics = Metrics::new();
        metrics.collect_from(CacheGauges::new(reader));
        metrics.encode()
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counts_conditions_stall_reasons_and_open_orders() {
        let text = scrape(&[
            ready("a"),
            ready("b"),
            stalled("c", "SecretNotFound"),
            stalled("d", "SecretNotFound"),
            stalled("e", "InsufficientFunds"),
            stalled("f", "SomethingSomeoneWrote"),
            ordering("g", "ChangeBilling", "AwaitingPayment", "2026-01-02T03:04:05Z"),
            ordering("h", "Resize", "InProgress", "2026-01-02T00:00:00Z"),
            ordering("i", "Resize", "Succeeded", "2026-01-01T00:00:00Z"),
            with_status("new", json!(null)),
            subscribed("j", "Manual", "2026-02-01T00:00:00Z"),
            with_status(
                "k",
                json!({"observed": {"billingMode": "PayPerUse", "state": "ACTIVE", "checkedAt": "2026-01-01T00:00:00Z"}}),
            ),
        ]);
        let expect = [
            ("natgw_resources{condition=\"Ready\",status=\"True\"}", 3.0),
            ("natgw_resources{condition=\"Ready\",status=\"False\"}", 7.0),
            ("natgw_resources{condition=\"Ready\",status=\"Unknown\"}", 2.0),
            ("natgw_resources{condition=\"Reconciling\",status=\"True\"}", 3.0),
            ("natgw_resources{condition=\"Stalled\",status=\"True\"}", 4.0),
            ("natgw_resources{condition=\"Stalled\",status=\"False\"}", 6.0),
            ("natgw_resources{condition=\"Stalled\",status=\"Unknown\"}", 2.0),
            ("natgw_stalled_resources{reason=\"SecretNotFound\"}", 2.0),
            ("natgw_stalled_resources{reason=\"InsufficientFunds\"}", 1.0),
            ("natgw_stalled_resources{reason=\"Other\"}", 1.0),
            (
                "natgw_order_started_timestamp_seconds{natgateway_namespace=\"team\",natgateway=\"g\",provider=\"huawei\",action=\"change_billing\",phase=\"awaiting_payment\"}",
                1_767_323_045.0,
            ),
            (
                "natgw_order_started_timestamp_seconds{natgateway_namespace=\"team\",natgateway=\"h\",provider=\"huawei\",action=\"resize\",phase=\"in_progress\"}",
                1_767_312_000.0,
            ),
            (
                "natgw_subscription_expiry_timestamp_seconds{natgateway_namespace=\"team\",natgateway=\"j\",provider=\"huawei\",renewal=\"Manual\"}",
                1_769_904_000.0,
            ),
        ];
        for (series, v) in expect {
            assert_eq!(value(&text, series), Some(v), "{series} in\n{text}");
        }
        assert_eq!(text.matches("\nnatgw_resources{").count(), 9, "3 conditions x 3 statuses:\n{text}");
        assert_eq!(text.matches("\nnatgw_stalled_resources{").count(), 3, "only reasons with a resource:\n{text}");
        assert_eq!(text.matches("\nnatgw_order_started_timestamp_seconds{").count(), 2, "open orders only:\n{text}");
        assert_eq!(
            text.matches("\nnatgw_subscription_expiry_timestamp_seconds{").count(),
            1,
            "yearly/monthly gateways only:\n{text}"
        );
        assert!(text.contains("# TYPE natgw_order_started_timestamp_seconds gauge\n# UNIT"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// A standby has no cache: it exports the families of neither kind, so `max by` over
    /// replicas reads the leader's.
    #[test]
    fn without_a_cache_no_gauges_are_exported() {
        let text = Metrics::new().encode();
        for family in [
            "natgw_resources",
            "natgw_stalled_resources",
            "natgw_order_started_timestamp_seconds",
            "natgw_subscription_expiry_timestamp_seconds",
        ] {
            assert!(!text.contains(family), "{family} in\n{text}");
        }
        assert!(text.contains("natgw_leader 0"), "{text}");
    }

    /// Label sets stay bounded by conditions, reasons and orders in flight, however many
    /// resources the cache holds; the scrape reads the cache and keeps nothing.
    #[test]
    fn series_stay_bounded_at_ten_thousand_resources() {
        let mut objects: Vec<_> = (0..10_000)
            .map(|i| match i % 100 {
                0 => ordering(&format!("g{i}"), "Resize", "InProgress", "2026-01-02T00:00:00Z"),
                1..=4 => stalled(&format!("g{i}"), ["SecretForbidden", "GatewayClaimed"][i % 2]),
                _ => ready(&format!("g{i}")),
            })
            .collect();
        objects.push(stalled("odd", "NotAReason"));
        let text = scrape(&objects);
        let families = ["natgw_resources{", "natgw_stalled_resources{", "natgw_order_started_timestamp_seconds{"];
        let samples = text.lines().filter(|l| families.iter().any(|f| l.starts_with(f))).count();
        assert_eq!(samples, 9 + 3 + 100, "9 condition series, 3 reasons, 100 open orders:\n{text}");
        assert_eq!(value(&text, "natgw_resources{condition=\"Ready\",status=\"True\"}"), Some(9_500.0));
        assert_eq!(value(&text, "natgw_stalled_resources{reason=\"SecretForbidden\"}"), Some(200.0));
        assert_eq!(value(&text, "natgw_stalled_resources{reason=\"Other\"}"), Some(1.0));
    }
}
