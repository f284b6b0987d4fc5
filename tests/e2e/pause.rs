//! `natgw.io/paused: "true"` on a real API server, with the real operator binary and the
//! simulators over HTTPS: a paused resource makes no cloud call at all (the simulators' request
//! ledgers stay as they are), says so in its conditions and an Event, reads as Failed or Current
//! in kstatus (never InProgress for ever), and resumes where it stopped once the annotation goes,
//! in the middle of an order too, with one order per change.

use crate::kstatus::kstatus;

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams},
};
use natgw_operator::api::{BillingMode, NatGateway, OrderPhase, OrderStatus, PAUSED_ANNOTATION, Size};
use natgw_sim::{huawei::HuaweiSim, tencent::SimGateway};
use natgw_testkit::{Cluster, Operator, World, condition, huawei_gateway, huawei_pay_order, ready, tencent_spec};
use serde_json::{Value, json};

const TC_ID: &str = "AKIDpause";
const TC_KEY: &str = "pause-secret-key";
const HW_AK: &str = "HWAKPAUSE";
const HW_SK: &str = "hw-pause-secret-value";
const PROJECT: &str = "proj-pause";
const WAIT: Duration = Duration::from_secs(60);
/// How long a paused resource is watched for calls: several poll intervals (300 ms), payment
/// polls (1.8 s) and drift checks (3 s) of the operator's flags.
const QUIET: Duration = Duration::from_secs(4);

/// The pause scenarios' [`World`] (`w.` reads through to it).
struct Pause(World);

impl std::ops::Deref for Pause {
    type Target = World;

    fn deref(&self) -> &World {
        &self.0
    }
}

impl Pause {
    async fn start(namespace: &str) -> Pause {
        Pause(World::start(Cluster::start(namespace).await, (TC_ID, TC_KEY), (HW_AK, HW_SK), PROJECT).await)
    }

    fn operator(&self) -> Operator {
        self.0.single("operator", &["--metrics-addr", "127.0.0.1:0"])
    }

    /// The Huawei simulator with a prepaid Small gateway, the operator, and NatGateway `name`
    /// resizing it to Medium with `autoPay: false`, once its order waits for payment.
    async fn awaiting_payment(&self, name: &str) -> (&HuaweiSim, Operator, Box<OrderStatus>) {
        let sim = &self.clouds.huawei;
        let gateway = format!("gw-{name}");
        let mut seed = huawei_gateway(&gateway, PROJECT, "1");
        seed.billing = BillingMode::Prepaid;
        sim.seed_gateway(seed);
        let operator = self.operator();
        self.cluster.create_natgw(name, self.huawei_spec(&gateway, "Medium", false)).await;
        let waiting = self
            .cluster
            .wait_for(name, WAIT, |o| {
                o.status.as_ref().and_then(|s| s.order.as_ref()).is_some_and(|o| o.phase == OrderPhase::AwaitingPayment)
            })
            .await;
        let order = waiting.status.and_then(|s| s.order).expect("the order is in status");
        (sim, operator, order)
    }

    /// Sets (`Some("true")`) or removes (`None`) the pause annotation, as `kubectl annotate` does.
    async fn pause(&self, name: &str, value: Option<&str>) {
        let annotations: serde_json::Map<String, Value> =
            [(PAUSED_ANNOTATION.to_owned(), json!(value))].into_iter().collect();
        let patch = json!({"metadata": {"annotations": annotations}});
        self.cluster.natgws().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }

    /// Waits until the operator has written the pause into the conditions.
    async fn paused(&self, name: &str) -> NatGateway {
        self.cluster
            .wait_for(name, WAIT, |o| {
                o.status.as_ref().is_some_and(|s| s.observed_generation == o.metadata.generation)
                    && condition(o, "Reconciling").is_some_and(|c| c.1 == "Paused")
            })
            .await
    }

    /// The operator's Event reasons about `name`, oldest first.
    async fn event_reasons(&self, name: &str) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        let mut list = events.list(&ListParams::default()).await.unwrap().items;
        list.retain(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name));
        list.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
        list.into_iter().filter_map(|e| e.reason).collect()
    }
}

fn ready_condition(o: &NatGateway) -> (String, String, String) {
    let c = o.status.as_ref().unwrap().conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// Paused before the operator ever saw it: no call at all, Stalled/Paused (kstatus Failed) and a
/// `Paused` Event; unpaused, it orders once and is Ready; paused again while in sync, Ready stays
/// True (kstatus Current) and not even the drift checks call the cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_paused_from_the_start_calls_nothing_until_resumed() {
    let w = Pause::start("pause-start").await;
    let sim = &w.clouds.tencent;
    sim.seed_gateway(SimGateway::new("nat-pause", "vpc-1", 1_000_000));
    let endpoint = sim.https_url.clone().unwrap();
    let _operator = w.operator();

    let mut obj = natgw_testkit::natgw("egress", tencent_spec("nat-pause", None, "Medium", "tencent", Some(&endpoint)));
    obj.metadata.annotations = Some([(PAUSED_ANNOTATION.to_owned(), "true".to_owned())].into());
    w.cluster.natgws().create(&Default::default(), &obj).await.unwrap();

    let paused = w.paused("egress").await;
    assert_eq!(condition(&paused, "Stalled"), Some(("True".into(), "Paused".into())));
    let (status, _, message) = ready_condition(&paused);
    assert_eq!(status, "False");
    assert!(message.contains("natgw.io/paused") && message.contains("no cloud call"), "{message}");
    let read = kstatus(&w.cluster, "egress");
    assert_eq!((read.status.as_str(), read.message.as_str()), ("Failed", message.as_str()));
    assert_eq!(w.event_reasons("egress").await, ["Paused"]);
    tokio::time::sleep(QUIET).await;
    assert_eq!(sim.requests().len(), 0, "a paused resource calls nothing: {:?}", sim.requests());

    // Resumed: one order, Ready, and the Event says so.
    w.pause("egress", None).await;
    let done = w.cluster.wait_for("egress", WAIT, ready).await;
    assert_eq!(done.status.as_ref().unwrap().observed.as_ref().unwrap().size, Some(Size::Medium));
    assert_eq!(sim.orders().len(), 1, "{:?}", sim.orders());
    // Its first look after the pause claims the gateway (a tag, no order), the next writes Resumed.
    let reasons = w.event_reasons("egress").await;
    assert_eq!(&reasons[..3], ["Paused", "Claimed", "Resumed"], "{reasons:?}");

    // Paused in sync: Ready stays True (kstatus Current), Argo CD's Suspended comes from the
    // reason; the drift checks (every 3 s) stop too.
    w.pause("egress", Some("true")).await;
    let paused = w.paused("egress").await;
    let (status, reason, _) = ready_condition(&paused);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Paused"));
    assert_eq!(condition(&paused, "Stalled").unwrap().0, "False");
    assert_eq!(kstatus(&w.cluster, "egress").status, "Current");
    let calls = sim.requests().len();
    tokio::time::sleep(QUIET).await;
    assert_eq!(sim.requests().len(), calls, "no drift check while paused");

    // A spec change while paused is seen (observedGeneration) but not applied.
    let patch = json!({"spec": {"size": "Large"}});
    w.cluster.natgws().patch("egress", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let changed = w.paused("egress").await;
    assert_eq!(ready_condition(&changed).0, "False", "Ready no longer holds for the new spec");
    assert_eq!(kstatus(&w.cluster, "egress").status, "Failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((sim.requests().len(), sim.orders().len()), (calls, 1));
}

/// Paused while a Huawei order waits for payment: no order poll (nor any other call) while
/// paused, the order stays in status; paid meanwhile and resumed, the operator follows that same
/// order to its end: one order, Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_in_the_middle_of_an_order_resumes_it_without_a_second_order() {
    let w = Pause::start("pause-order").await;
    let (sim, _operator, order) = w.awaiting_payment("pre").await;
    let id = order.id.clone().expect("the order id is shown");

    w.pause("pre", Some("true")).await;
    let paused = w.paused("pre").await;
    assert_eq!(paused.status.as_ref().unwrap().order.as_deref(), Some(order.as_ref()), "the order stays as it was");
    let (_, _, message) = ready_condition(&paused);
    assert!(message.contains(&id) && message.contains("never placed twice"), "{message}");
    let read = kstatus(&w.cluster, "pre");
    assert_eq!((read.status.as_str(), read.message.as_str()), ("Failed", message.as_str()));

    let requests = || sim.core().ledger.requests().len();
    let before = requests();
    tokio::time::sleep(QUIET).await;
    assert_eq!(requests(), before, "no poll while paused");
    // Someone pays meanwhile (a call of theirs, not the operator's); still no poll.
    huawei_pay_order(&sim.http_url, HW_AK, HW_SK, &id).await;
    let before = requests();
    tokio::time::sleep(QUIET).await;
    assert_eq!(requests(), before, "no poll while paused");

    w.pause("pre", None).await;
    let done = w.cluster.wait_for("pre", WAIT, ready).await;
    let status = done.status.unwrap();
    assert_eq!(status.observed.unwrap().size, Some(Size::Medium));
    assert_eq!(status.last_order.and_then(|o| o.id), Some(id.clone()), "the same order, followed to its end");
    let orders: Vec<String> = sim.core().ledger.orders().into_iter().map(|o| o.order_id).collect();
    assert_eq!(orders, [id], "exactly one order");
    assert_eq!(w.event_reasons("pre").await.iter().filter(|r| *r == "Resumed").count(), 1);
}

/// Deleted while paused with an order someone must pay: the resource stays (finalizer), says why,
/// and calls nothing; paid and resumed, the operator follows that order to its end and lets the
/// resource go: one order, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_resource_deleted_with_an_unpaid_order_waits_for_the_resume() {
    let w = Pause::start("pause-delete").await;
    let log = w.log("operator");
    let _log = natgw_testkit::LogOnPanic(&log);
    let (sim, _operator, order) = w.awaiting_payment("leave").await;
    let id = order.id.expect("the order id is shown");
    w.pause("leave", Some("true")).await;
    w.paused("leave").await;

    w.cluster.natgws().delete("leave", &Default::default()).await.unwrap();
    let kept = w
        .cluster
        .wait_for("leave", WAIT, |o| {
            o.metadata.deletion_timestamp.is_some() && ready_condition(o).2.contains("deleted")
        })
        .await;
    let (_, reason, message) = ready_condition(&kept);
    assert_eq!(reason, "Paused");
    assert!(message.contains("natgw.io/unpaid-order") && message.contains(&id), "{message}");
    let requests = || sim.core().ledger.requests().len();
    let before = requests();
    tokio::time::sleep(QUIET).await;
    assert_eq!(requests(), before, "no call while paused, deleted or not");
    let still = w.cluster.natgws().get("leave").await.unwrap();
    let claim = natgw_operator::controller::CLAIM_FINALIZER.to_owned();
    assert_eq!(still.metadata.finalizers, Some(vec![claim, natgw_operator::plan::FINALIZER.to_owned()]));

    huawei_pay_order(&sim.http_url, HW_AK, HW_SK, &id).await;
    w.pause("leave", None).await;
    let start = std::time::Instant::now();
    while w.cluster.natgws().get_opt("leave").await.unwrap().is_some() {
        assert!(start.elapsed() < WAIT, "the resource was not let go after its order ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let orders: Vec<String> = sim.core().ledger.orders().into_iter().map(|o| o.order_id).collect();
    assert_eq!(orders, [id], "exactly one order");
}
