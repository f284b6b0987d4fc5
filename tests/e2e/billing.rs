//! The billing mode's whole life on a real API server, with the real operator binary and the
//! Huawei simulator over HTTPS (its BSS subscriptions on a clock the test moves): yearly/monthly
//! back to pay-per-use at expiry and back again, auto-renewal kept as declared, unpaid orders
//! cancelled when the spec changes its mind, expiry Events once each, and the faults at those
//! seams. Prints a table of orders placed vs changes (`cargo test --test e2e billing --
//! --nocapture`).

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams};
use natgw_operator::{
    api::ProviderSpec,
    api::{BillingMode, NatGateway, OrderPhase, Renewal},
    cloud::{
        Credentials, GatewayRef, Provider, RenewalChange, SecretValue,
        huawei::{HuaweiClient, HuaweiProvider},
    },
};
use natgw_sim::{
    faults::{Fault, FaultKind},
    huawei::{SeedGateway, SeedTerms},
};
use natgw_testkit::{Cluster, Operator, World, condition, huawei_gateway, ready};
use serde_json::{Value, json};

const AK: &str = "HWAKBILLING";
const SK: &str = "hw-billing-secret-value";
/// The Tencent simulator of the [`World`] is not used here.
const TC_ID: &str = "AKIDbilling";
const TC_KEY: &str = "tc-billing-secret-value";
const PROJECT: &str = "proj-billing";
const WAIT: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

struct Row {
    scenario: &'static str,
    orders: usize,
    changes: usize,
    cancels: usize,
    outcome: String,
}

/// The billing scenarios' [`World`] (`w.` reads through to it), the operator's metrics port and the
/// rows recorded.
struct Billing {
    world: World,
    metrics_port: u16,
    rows: Vec<Row>,
}

impl std::ops::Deref for Billing {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

impl Billing {
    async fn start() -> Billing {
        let world = World::start(Cluster::start("billing").await, (TC_ID, TC_KEY), (AK, SK), PROJECT).await;
        Billing { world, metrics_port: natgw_testkit::free_port(), rows: Vec::new() }
    }

    fn operator(&self, crash_at: Option<&str>) -> Operator {
        let metrics = format!("127.0.0.1:{}", self.metrics_port);
        let env: Vec<(&str, &str)> = crash_at.map(|p| ("NATGW_CRASH_AT", p)).into_iter().collect();
        self.world.operator("operator", None, &["--leader-election=false", "--metrics-addr", &metrics], &env)
    }

    fn log_tail(&self) -> String {
        self.world.log_tail("operator")
    }

    /// A yearly/monthly gateway of spec `spec` that expires in `days`, renewing as `renewal` says.
    fn seed_prepaid(&self, id: &str, spec: &str, days: u32, renewal: Renewal) {
        let seed = SeedGateway { billing: BillingMode::Prepaid, ..huawei_gateway(id, PROJECT, spec) };
        self.clouds.huawei.seed_gateway_with(seed, SeedTerms { expires_in_days: days, renewal });
    }

    fn seed_pay_per_use(&self, id: &str) {
        self.clouds.huawei.seed_gateway(huawei_gateway(id, PROJECT, "1"));
    }

    /// A spec for gateway `id`; `billing` is `spec.billing` (null: none, pay-per-use).
    fn spec(&self, id: &str, size: &str, billing: Value) -> Value {
        let mut spec = json!({
            "gatewayId": id,
            "provider": {"huawei": {"region": "cn-north-4", "projectId": PROJECT}},
            "size": size,
            "credentialsSecretRef": {"name": "huawei"},
            "endpoint": self.clouds.huawei.https_url.as_deref().unwrap(),
        });
        if !billing.is_null() {
            spec["billing"] = billing;
        }
        spec
    }

    async fn patch_spec(&self, name: &str, patch: Value) {
        let patch = json!({"spec": patch});
        self.cluster.natgws().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }

    /// Orders the simulator's ledger holds for `gateway`.
    fn orders(&self, gateway: &str) -> usize {
        self.clouds.huawei.core().ledger.orders().into_iter().filter(|o| o.gateway_id == gateway).count()
    }

    /// Calls of `action` BSS took (answered `ok`), all gateways.
    fn calls(&self, action: &str) -> usize {
        self.clouds.huawei.core().ledger.requests().iter().filter(|r| r.action == action && r.outcome == "ok").count()
    }

    fn renewal(&self, gateway: &str) -> Option<Renewal> {
        self.clouds.huawei.subscription(gateway).map(|s| s.renewal)
    }

    async fn ready(&self, name: &str) -> NatGateway {
        self.cluster.wait_for(name, WAIT, ready).await
    }

    async fn phase(&self, name: &str, phase: OrderPhase) -> NatGateway {
        self.cluster.wait_for(name, WAIT, |o| open_order(o).is_some_and(|(p, _)| p == phase)).await
    }

    /// Another client of the same account (the console, another tool).
    fn outsider(&self) -> HuaweiClient {
        HuaweiClient::new(
            natgw_operator::cloud::http::client(None).unwrap(),
            Some(&self.clouds.huawei.http_url),
            None,
            "cn-north-4",
            Credentials { key_id: AK.into(), secret: SecretValue::new(SK), session_token: None, domain_id: None },
        )
        .unwrap()
    }

    async fn set_renewal_outside(&self, gateway: &str, change: RenewalChange) {
        let place = ProviderSpec::Huawei(Box::new(HuaweiProvider {
            region: "cn-north-4".into(),
            project_id: Some(PROJECT.into()),
            bss_endpoint: None,
        }));
        let gateway = GatewayRef { id: gateway.into(), place };
        self.outsider().set_renewal(&gateway, change).await.unwrap();
    }

    /// Events about `name` with `reason`, counting a series as its count.
    async fn events(&self, name: &str, reason: &str) -> i32 {
        let events: kube::Api<Event> = kube::Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        let list = events.list(&ListParams::default()).await.unwrap().items;
        list.iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| e.series.as_ref().map_or(1, |s| s.count))
            .sum()
    }

    fn record(&mut self, scenario: &'static str, gateway: &str, changes: usize, cancels: usize, outcome: String) {
        let orders = self.orders(gateway);
        println!("[billing] {scenario}: {outcome}; orders {orders} for {changes} changes, {cancels} cancelled");
        self.rows.push(Row { scenario, orders, changes, cancels, outcome });
    }
}

fn open_order(o: &NatGateway) -> Option<(OrderPhase, String)> {
    let order = o.status.as_ref()?.order.as_deref()?;
    Some((order.phase, order.id.clone().unwrap_or_default()))
}

fn ready_message(o: &NatGateway) -> String {
    let conditions = o.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.message.clone()).unwrap_or_default()
}

fn last_phase(o: &NatGateway) -> Option<OrderPhase> {
    o.status.as_ref()?.last_order.as_ref().map(|l| l.phase)
}

fn monthly(auto_renew: bool, auto_pay: bool) -> Value {
    json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1, "autoRenew": auto_renew, "autoPay": auto_pay}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_both_ways_for_its_whole_life() {
    let mut w = Billing::start().await;
    let operator = w.operator(None);

    // Yearly/monthly declared pay-per-use: set to turn so at expiry, no order, Ready says when.
    w.seed_prepaid("hw-ppu", "2", 40, Renewal::Manual);
    w.cluster.create_natgw("ppu", w.spec("hw-ppu", "Medium", Value::Null)).await;
    let obj = w.cluster.wait_for("ppu", WAIT, |o| ready(o) && ready_message(o).contains("then pay-per-use")).await;
    assert_eq!(w.renewal("hw-ppu"), Some(Renewal::PayPerUseAtExpiry));
    let observed = obj.status.as_ref().unwrap().observed.clone().unwrap();
    assert_eq!(
        (observed.billing_mode, observed.renewal),
        (Some(BillingMode::Prepaid), Some(Renewal::PayPerUseAtExpiry))
    );
    let expires = observed.expires_at.expect("expiresAt").0;
    let wide = w.cluster.kubectl(&["get", "natgw", "ppu", "-o", "wide"]);
    assert!(wide.contains("EXPIRES") && wide.contains("RENEWAL"), "{wide}");
    assert!(wide.contains("PayPerUseAtExpiry") && wide.contains(&expires.strftime("%Y-%m-%d").to_string()), "{wide}");
    let status = crate::kstatus::kstatus(&w.cluster, "ppu");
    assert_eq!(status.status, "Current", "{}", status.message);
    w.record("yearly/monthly declared pay-per-use (set for expiry)", "hw-ppu", 0, 0, ready_message(&obj));

    // Back to Prepaid with autoRenew: the pay-per-use setting is cancelled, auto-renewal turned on.
    w.patch_spec("ppu", json!({"billing": monthly(true, true)})).await;
    let obj = w.cluster.wait_for("ppu", WAIT, |o| ready(o) && ready_message(o).contains("renewed automatically")).await;
    assert_eq!(w.renewal("hw-ppu"), Some(Renewal::Auto));
    w.record("pay-per-use at expiry -> Prepaid, autoRenew: true", "hw-ppu", 0, 0, ready_message(&obj));

    // Auto-renewal turned off in the console: turned on again at the next drift check.
    let renews = w.calls("AutoRenewalResources");
    w.set_renewal_outside("hw-ppu", RenewalChange::DisableAutoRenew).await;
    let off = std::time::Instant::now();
    assert_eq!(w.renewal("hw-ppu"), Some(Renewal::Manual));
    for _ in 0..200 {
        if w.renewal("hw-ppu") == Some(Renewal::Auto) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.renewal("hw-ppu"), Some(Renewal::Auto), "auto-renewal was not turned on again");
    assert_eq!(w.calls("AutoRenewalResources"), renews + 1, "one call corrects it");
    let took = off.elapsed();
    w.record("auto-renewal turned off outside (drift 3 s)", "hw-ppu", 0, 0, format!("corrected in {took:.1?}"));

    // Observe reports the renewal drift and changes nothing.
    w.patch_spec("ppu", json!({"managementPolicy": "Observe"})).await;
    w.set_renewal_outside("hw-ppu", RenewalChange::DisableAutoRenew).await;
    let obj = w.cluster.wait_for("ppu", WAIT, |o| condition(o, "Ready").is_some_and(|c| c.1 == "DriftDetected")).await;
    assert!(ready_message(&obj).contains("renewal Manual instead of Auto"), "{}", ready_message(&obj));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(w.renewal("hw-ppu"), Some(Renewal::Manual));
    w.record("Observe: renewal drift reported", "hw-ppu", 0, 0, ready_message(&obj));

    // Change of mind: an unpaid conversion order is cancelled when the spec drops it.
    w.seed_pay_per_use("hw-revert");
    w.cluster.create_natgw("revert", w.spec("hw-revert", "Small", monthly(false, false))).await;
    let (_, order) = open_order(&w.phase("revert", OrderPhase::AwaitingPayment).await).unwrap();
    let cancels = w.calls("CancelCustomerOrder");
    w.patch_spec("revert", json!({"billing": null})).await;
    let obj = w.cluster.wait_for("revert", WAIT, |o| ready(o) && last_phase(o) == Some(OrderPhase::Cancelled)).await;
    // No order left to pay: only the claim's finalizer stays.
    let finalizers = obj.metadata.finalizers.clone().unwrap_or_default();
    assert_eq!(finalizers, [natgw_operator::controller::CLAIM_FINALIZER], "{finalizers:?}");
    let sim_order = w.clouds.huawei.orders().into_iter().find(|o| o.order_id == order).unwrap();
    assert_eq!(sim_order.status, 4, "cancelled at BSS");
    assert_eq!(w.calls("CancelCustomerOrder"), cancels + 1);
    assert_eq!(w.events("revert", "OrderCancelled").await, 1);
    w.record("unpaid billing order, spec reverted", "hw-revert", 1, 1, ready_message(&obj));

    // A superseded unpaid resize: cancelled, then the new size ordered and paid.
    w.seed_prepaid("hw-supersede", "1", 40, Renewal::Manual);
    w.cluster.create_natgw("supersede", w.spec("hw-supersede", "Medium", monthly(false, false))).await;
    let (_, medium) = open_order(&w.phase("supersede", OrderPhase::AwaitingPayment).await).unwrap();
    let cancels = w.calls("CancelCustomerOrder");
    w.patch_spec("supersede", json!({"size": "Large"})).await;
    let obj = w
        .cluster
        .wait_for("supersede", WAIT, |o| {
            open_order(o).is_some_and(|(p, id)| p == OrderPhase::AwaitingPayment && id != medium)
        })
        .await;
    w.clouds.huawei.pay_order(&open_order(&obj).unwrap().1).unwrap();
    let obj = w.cluster.wait_for("supersede", WAIT, |o| ready(o) && ready_message(o).contains("Large")).await;
    assert_eq!(w.calls("CancelCustomerOrder"), cancels + 1);
    w.record("unpaid resize superseded (Medium -> Large)", "hw-supersede", 2, 1, ready_message(&obj));

    // Paid while the operator cancels it: the cancellation comes too late (the simulator holds it
    // 1.5 s), the paid order is followed, then pay-per-use is set for expiry: no second order.
    w.seed_pay_per_use("hw-race");
    w.cluster.create_natgw("race", w.spec("hw-race", "Small", monthly(false, false))).await;
    let (_, order) = open_order(&w.phase("race", OrderPhase::AwaitingPayment).await).unwrap();
    w.clouds.huawei.inject(Fault {
        action: Some("CancelCustomerOrder".into()),
        times: 1,
        kind: FaultKind::Latency { millis: 1500 },
    });
    w.patch_spec("race", json!({"billing": null})).await;
    w.phase("race", OrderPhase::Cancelling).await;
    w.clouds.huawei.pay_order(&order).unwrap();
    let obj = w.cluster.wait_for("race", WAIT, |o| ready(o) && ready_message(o).contains("then pay-per-use")).await;
    assert_eq!(last_phase(&obj), Some(OrderPhase::Succeeded));
    assert_eq!(w.events("race", "CancelTooLate").await, 1);
    w.record("paid while being cancelled (pay and revert race)", "hw-race", 1, 0, ready_message(&obj));

    // Expiry while a resize order runs: the subscription turns pay-per-use under it.
    w.seed_prepaid("hw-expiring", "1", 1, Renewal::PayPerUseAtExpiry);
    w.cluster.create_natgw("expiring", w.spec("hw-expiring", "Medium", Value::Null)).await;
    w.phase("expiring", OrderPhase::InProgress).await;
    w.clouds.huawei.advance(2 * DAY);
    let obj = w
        .cluster
        .wait_for("expiring", WAIT, |o| {
            ready(o)
                && o.status.as_ref().and_then(|s| s.observed.as_ref()).and_then(|x| x.billing_mode)
                    == Some(BillingMode::PayPerUse)
        })
        .await;
    w.record("expiry while a resize order runs", "hw-expiring", 1, 0, ready_message(&obj));

    // Expiry notices: 30, 7 and 1 days before, and at expiry, each once; the gauge and its alert.
    w.seed_prepaid("hw-notice", "1", 40, Renewal::Manual);
    w.cluster.create_natgw("notice", w.spec("hw-notice", "Small", monthly(false, true))).await;
    w.ready("notice").await;
    let metrics =
        reqwest::get(format!("http://127.0.0.1:{}/metrics", w.metrics_port)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("natgw_subscription_expiry_timestamp_seconds{")
            && l.contains("natgateway=\"notice\"")
            && l.contains("renewal=\"Manual\"")),
        "{metrics}"
    );
    for (advance, reason, count) in [
        (11 * DAY, "SubscriptionExpiring", 1),
        (23 * DAY, "SubscriptionExpiring", 2),
        (DAY * 11 / 2, "SubscriptionExpiring", 3),
        (DAY, "SubscriptionExpired", 1),
    ] {
        w.clouds.huawei.advance(advance);
        for _ in 0..100 {
            if w.events("notice", reason).await >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(w.events("notice", reason).await, count, "{reason} after {advance:?}; log:\n{}", w.log_tail());
    }
    tokio::time::sleep(Duration::from_secs(7)).await; // two more drift checks: nothing sent again
    let (expiring, expired) =
        (w.events("notice", "SubscriptionExpiring").await, w.events("notice", "SubscriptionExpired").await);
    assert_eq!((expiring, expired), (3, 1));
    w.record(
        "expiry notices (30 d, 7 d, 1 d, expired)",
        "hw-notice",
        0,
        0,
        format!("{expiring} expiring + {expired} expired Events"),
    );
    drop(operator);

    // SIGKILL between recording the cancellation and sending it: the restarted operator sends it.
    w.seed_pay_per_use("hw-kill-cancel");
    let placing = w.operator(None);
    w.cluster.create_natgw("kill-cancel", w.spec("hw-kill-cancel", "Small", monthly(false, false))).await;
    let (_, order) = open_order(&w.phase("kill-cancel", OrderPhase::AwaitingPayment).await).unwrap();
    drop(placing);
    let mut crashing = w.operator(Some("after-cancel-intent"));
    w.patch_spec("kill-cancel", json!({"billing": null})).await;
    let status = crashing.wait_exit(WAIT).await.expect("the operator reaches the crash point");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "log:\n{}", w.log_tail());
    let obj = w.cluster.natgws().get("kill-cancel").await.unwrap();
    assert_eq!(open_order(&obj).map(|o| o.0), Some(OrderPhase::Cancelling));
    assert_eq!(w.clouds.huawei.orders().into_iter().find(|o| o.order_id == order).unwrap().status, 6, "not sent yet");
    let cancels = w.calls("CancelCustomerOrder");
    let restarted = w.operator(None);
    let obj =
        w.cluster.wait_for("kill-cancel", WAIT, |o| ready(o) && last_phase(o) == Some(OrderPhase::Cancelled)).await;
    assert_eq!(w.calls("CancelCustomerOrder"), cancels + 1);
    w.record("SIGKILL after the cancel intent", "hw-kill-cancel", 1, 1, ready_message(&obj));

    // The cancellation's answer is lost (BSS cancelled it): the order's status ends it.
    w.seed_pay_per_use("hw-lost-cancel");
    w.cluster.create_natgw("lost-cancel", w.spec("hw-lost-cancel", "Small", monthly(false, false))).await;
    w.phase("lost-cancel", OrderPhase::AwaitingPayment).await;
    w.clouds.huawei.inject(Fault {
        action: Some("CancelCustomerOrder".into()),
        times: 1,
        kind: FaultKind::DropResponse,
    });
    w.patch_spec("lost-cancel", json!({"billing": null})).await;
    let obj =
        w.cluster.wait_for("lost-cancel", WAIT, |o| ready(o) && last_phase(o) == Some(OrderPhase::Cancelled)).await;
    w.record("cancel answer lost", "hw-lost-cancel", 1, 1, ready_message(&obj));

    // An auto-renewal change whose answer is lost: read again, in sync, never an order.
    w.seed_prepaid("hw-lost-renew", "1", 40, Renewal::Manual);
    w.clouds.huawei.inject(Fault {
        action: Some("AutoRenewalResources".into()),
        times: 1,
        kind: FaultKind::DropResponse,
    });
    w.cluster.create_natgw("lost-renew", w.spec("hw-lost-renew", "Small", monthly(true, true))).await;
    let obj = w
        .cluster
        .wait_for("lost-renew", WAIT, |o| ready(o) && ready_message(o).contains("renewed automatically"))
        .await;
    assert_eq!(w.renewal("hw-lost-renew"), Some(Renewal::Auto));
    w.record("auto-renewal answer lost", "hw-lost-renew", 0, 0, ready_message(&obj));
    drop(restarted);

    println!("\n{:<52} {:>6} {:>7} {:>9}  outcome", "scenario", "orders", "changes", "cancelled");
    for r in &w.rows {
        println!("{:<52} {:>6} {:>7} {:>9}  {}", r.scenario, r.orders, r.changes, r.cancels, r.outcome);
    }
    let wrong: Vec<&str> = w.rows.iter().filter(|r| r.orders != r.changes).map(|r| r.scenario).collect();
    assert!(wrong.is_empty(), "orders differ from changes: {wrong:?}");
}
