//! Huawei orders on a real API server with the real operator binary and the Huawei simulator
//! over HTTPS (issue 11, findings 3 and 4): an open order found after a crash is adopted only
//! when it is the resource's own gateway's, and a prepaid resize with `autoPay: false` waits for
//! someone to pay it.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use natgw_operator::{
    api::ProviderSpec,
    api::{BillingMode, NatGateway, OrderPhase, OrderStatus, PeriodUnit, Prepaid, Size},
    cloud::{
        Credentials, GatewayRef, Provider, SecretValue,
        huawei::{HuaweiClient, HuaweiProvider},
    },
};
use natgw_testkit::{Cluster, Operator, World, huawei_gateway, huawei_pay_order, ready};

const AK: &str = "HWAKORDERS";
const SK: &str = "hw-orders-secret-value";
/// The Tencent simulator of the [`World`] is not used here.
const TC_ID: &str = "AKIDorders";
const TC_KEY: &str = "tc-orders-secret-value";
const PROJECT: &str = "proj-orders";
const WAIT: Duration = Duration::from_secs(60);

/// The orders scenarios' [`World`] (`w.` reads through to it).
struct Orders(World);

impl std::ops::Deref for Orders {
    type Target = World;

    fn deref(&self) -> &World {
        &self.0
    }
}

impl Orders {
    async fn start(namespace: &str) -> Orders {
        Orders(World::start(Cluster::start(namespace).await, (TC_ID, TC_KEY), (AK, SK), PROJECT).await)
    }

    fn operator(&self, crash_at: Option<&str>) -> Operator {
        let env: Vec<(&str, &str)> = crash_at.map(|p| ("NATGW_CRASH_AT", p)).into_iter().collect();
        self.0.operator("operator", None, &["--leader-election=false", "--metrics-addr", "127.0.0.1:0"], &env)
    }

    /// The simulator's ledger: order ids placed for `gateway`.
    fn orders(&self, gateway: &str) -> Vec<String> {
        self.clouds
            .huawei
            .core()
            .ledger
            .orders()
            .into_iter()
            .filter(|o| o.gateway_id == gateway)
            .map(|o| o.order_id)
            .collect()
    }

    /// Places an unpaid pay-per-use -> monthly order for `gateway` as another client of the same
    /// account would (another tool, another resource), and returns its id.
    async fn order_elsewhere(&self, gateway: &str) -> String {
        let other = HuaweiClient::new(
            natgw_operator::cloud::http::client(None).unwrap(),
            Some(&self.clouds.huawei.http_url),
            None,
            "cn-north-4",
            Credentials { key_id: AK.into(), secret: SecretValue::new(SK), session_token: None, domain_id: None },
        )
        .unwrap();
        let place = ProviderSpec::Huawei(Box::new(HuaweiProvider {
            region: "cn-north-4".into(),
            project_id: Some(PROJECT.into()),
            bss_endpoint: None,
        }));
        let gateway = GatewayRef { id: gateway.into(), place };
        let terms = Prepaid { period_unit: PeriodUnit::Month, periods: 1, auto_renew: false, auto_pay: false };
        other.change_billing(&gateway, &terms).await.unwrap().order_id.unwrap()
    }

    /// Runs the operator with `NATGW_CRASH_AT=point` until it kills itself there.
    async fn crash_at(&self, point: &str) {
        let mut crashing = self.operator(Some(point));
        let status = crashing.wait_exit(WAIT).await.expect("the operator reaches the crash point");
        assert_eq!(status.signal(), Some(libc::SIGKILL), "killed at {point}; log:\n{}", self.log_tail("operator"));
    }

    async fn order_in(&self, name: &str, phase: OrderPhase) -> OrderStatus {
        let obj = self.cluster.wait_for(name, WAIT, |o| order(o).is_some_and(|o| o.phase == phase)).await;
        order(&obj).unwrap()
    }
}

fn order(o: &NatGateway) -> Option<OrderStatus> {
    o.status.as_ref()?.order.as_deref().cloned()
}

/// Finding 3: A's billing change was accepted but the operator died before recording the order
/// id; meanwhile gateway B of the same account got a newer open conversion order of its own. After
/// the restart A follows its own gateway's order, never B's, and orders nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecorded_order_is_matched_to_its_own_gateway() {
    let w = Orders::start("hw-adopt").await;
    for id in ["gw-a", "gw-b"] {
        w.clouds.huawei.seed_gateway(huawei_gateway(id, PROJECT, "1"));
    }

    w.cluster.create_natgw("a", w.huawei_spec("gw-a", "Small", false)).await;
    w.crash_at("after-accept").await;
    let intent = order(&w.cluster.natgws().get("a").await.unwrap()).expect("the intent is in status");
    assert_eq!((intent.phase, intent.id.as_deref()), (OrderPhase::Submitting, None), "{intent:?}");
    let a_orders = w.orders("gw-a");
    assert_eq!(a_orders.len(), 1, "the call was accepted before the crash");

    // Gateway B's own conversion order, unpaid, placed through another client after A's.
    let b_order = w.order_elsewhere("gw-b").await;

    let _restarted = w.operator(None);
    let adopted = w.order_in("a", OrderPhase::AwaitingPayment).await;
    assert_eq!(adopted.id.as_deref(), Some(a_orders[0].as_str()), "A follows gw-a's order, not gw-b's {b_order}");
    // It stays on its own order: a few polls later nothing changed and nothing was ordered again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(order(&w.cluster.natgws().get("a").await.unwrap()).and_then(|o| o.id), Some(a_orders[0].clone()));

    huawei_pay_order(&w.clouds.huawei.http_url, AK, SK, &a_orders[0]).await;
    let done = w.cluster.wait_for("a", WAIT, ready).await;
    let observed = done.status.unwrap().observed.unwrap();
    assert_eq!(observed.billing_mode, Some(BillingMode::Prepaid));
    assert_eq!((w.orders("gw-a"), w.orders("gw-b")), (a_orders, vec![b_order.clone()]), "one order per gateway");
    assert!(w.clouds.huawei.orders().iter().any(|o| o.order_id == b_order && o.status == 6), "B's order is untouched");
}

/// Finding 3 as reported: the operator died after recording A's intent but before calling the
/// cloud, while gateway B's conversion order was open. After the restart A orders for its own
/// gateway (once) instead of adopting B's order and waiting on it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_never_sent_orders_for_its_own_gateway() {
    let w = Orders::start("hw-intent").await;
    for id in ["gw-a", "gw-b"] {
        w.clouds.huawei.seed_gateway(huawei_gateway(id, PROJECT, "1"));
    }
    let b_order = w.order_elsewhere("gw-b").await;

    w.cluster.create_natgw("a", w.huawei_spec("gw-a", "Small", false)).await;
    w.crash_at("after-intent").await;
    assert_eq!(w.orders("gw-a"), Vec::<String>::new(), "nothing was sent before the crash");

    let _restarted = w.operator(None);
    let waiting = w.order_in("a", OrderPhase::AwaitingPayment).await;
    assert_ne!(waiting.id.as_deref(), Some(b_order.as_str()), "A must not adopt gw-b's order");
    let a_orders = w.orders("gw-a");
    assert_eq!(a_orders.len(), 1, "A ordered once for its own gateway");
    assert_eq!(waiting.id.as_deref(), Some(a_orders[0].as_str()));
    assert_eq!(w.orders("gw-b"), vec![b_order]);
}

/// Finding 4: a prepaid gateway resized with `autoPay: false` shows AwaitingPayment with the
/// order id, is not paid by the operator, and becomes Ready once the order is paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepaid_resize_without_auto_pay_waits_for_payment() {
    let w = Orders::start("hw-autopay").await;
    let mut seed = huawei_gateway("gw-pre", PROJECT, "1");
    seed.billing = BillingMode::Prepaid;
    w.clouds.huawei.seed_gateway(seed);

    let _operator = w.operator(None);
    w.cluster.create_natgw("pre", w.huawei_spec("gw-pre", "Medium", false)).await;
    let waiting = w.order_in("pre", OrderPhase::AwaitingPayment).await;
    let id = waiting.id.clone().expect("the order id is shown");
    // Give the operator a few polls: it must not pay (nor re-order) by itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sim_order = w.clouds.huawei.orders().into_iter().find(|o| o.order_id == id).expect("the order exists");
    assert_eq!((sim_order.status, sim_order.paid_at.as_deref()), (6, None), "unpaid: {sim_order:?}");
    assert_eq!(
        order(&w.cluster.natgws().get("pre").await.unwrap()).map(|o| o.phase),
        Some(OrderPhase::AwaitingPayment)
    );

    huawei_pay_order(&w.clouds.huawei.http_url, AK, SK, &id).await;
    let done = w.cluster.wait_for("pre", WAIT, ready).await;
    assert_eq!(done.status.unwrap().observed.unwrap().size, Some(Size::Medium));
    assert_eq!(w.orders("gw-pre"), vec![id], "exactly one order");
}
