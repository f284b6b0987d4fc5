//! The fault matrix: the real operator binary, a real API server and both cloud simulators.
//! Each scenario injects one fault and asserts the resource's final state AND the number of
//! orders in the simulator's ledger (always the number of desired changes). The suite prints a
//! table of what it tried, and finally checks that no secret value leaked into the operator's
//! logs, Events or status.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use kube::api::{Patch, PatchParams, PostParams};
use natgw_operator::api::{NatGateway, OrderPhase};
use natgw_sim::faults::{Fault, FaultKind};
use natgw_testkit::{Cluster, Operator, World, condition, ready as is_ready, secret, tencent_keys};
use serde_json::{Value, json};

const TC_ID: &str = "AKIDfaultmatrix";
const TC_KEY: &str = "tc-fault-matrix-secret-value";
const TC_WRONG_KEY: &str = "tc-rotated-away-secret-value";
const HW_AK: &str = "HWAKFAULTS";
const HW_SK: &str = "hw-fault-matrix-secret-value";
const PROJECT: &str = "proj-faults";
const SECRETS: [&str; 3] = [TC_KEY, TC_WRONG_KEY, HW_SK];
const WAIT: Duration = Duration::from_secs(60);

struct Row {
    fault: String,
    outcome: String,
    orders: usize,
    expected_orders: usize,
}

/// The matrix's [`World`] (`w.` reads through to it) and the rows it has recorded.
struct Matrix {
    world: World,
    rows: Vec<Row>,
}

impl std::ops::Deref for Matrix {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

impl Matrix {
    async fn start() -> Matrix {
        let cluster = Cluster::start_own("faults").await; // the matrix restarts kube-apiserver
        Matrix { world: World::start(cluster, (TC_ID, TC_KEY), (HW_AK, HW_SK), PROJECT).await, rows: Vec::new() }
    }

    fn operator(&self, crash_at: Option<&str>) -> Operator {
        let env: Vec<(&str, &str)> = crash_at.map(|p| ("NATGW_CRASH_AT", p)).into_iter().collect();
        self.world.operator("operator", None, &["--leader-election=false", "--metrics-addr", "127.0.0.1:0"], &env)
    }

    fn log_tail(&self) -> String {
        self.world.log_tail("operator")
    }

    async fn create(&self, name: &str, spec: Value) {
        self.cluster.create_natgw(name, spec).await;
    }

    /// Waits for Ready=True at the current generation, failing if it ever shows Stalled.
    async fn ready(&self, name: &str) -> String {
        let obj = self
            .cluster
            .wait_for(name, WAIT, |o| {
                assert!(condition(o, "Stalled").is_none_or(|c| c.0 != "True"), "{name} stalled: {:#?}", o.status);
                is_ready(o)
            })
            .await;
        describe(&obj)
    }

    /// Waits for Ready=True at the current generation after an expected stall.
    async fn recovered(&self, name: &str) -> String {
        describe(&self.cluster.wait_for(name, WAIT, is_ready).await)
    }

    async fn stalled(&self, name: &str, reason: &str) -> String {
        describe(&self.world.stalled(name, reason).await)
    }

    fn record(&mut self, fault: &str, gateway: &str, expected_orders: usize, outcome: String) {
        let orders = self.clouds.orders(gateway);
        println!("[fault matrix] {fault}: {outcome}; orders {orders} (expected {expected_orders})");
        self.rows.push(Row { fault: fault.to_owned(), outcome, orders, expected_orders });
    }
}

fn describe(o: &NatGateway) -> String {
    let status = o.status.clone().unwrap_or_default();
    let observed = status.observed.map(|x| format!("{:?}/{:?}", x.size, x.billing_mode)).unwrap_or_default();
    let cond = |t: &str| condition(o, t).map(|c| format!("{t}={}({})", c.0, c.1)).unwrap_or_default();
    format!("{} {} {observed}", cond("Ready"), cond("Stalled"))
}

fn fault(action: Option<&str>, times: u32, kind: FaultKind) -> Fault {
    Fault { action: action.map(str::to_owned), times, kind }
}

fn error(code: &str) -> FaultKind {
    FaultKind::Error { code: code.into(), message: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let mut w = Matrix::start().await;

    // 1. SIGKILL at each step of the order flow, then a restart: exactly one order, converges.
    for point in ["before-intent", "after-intent", "after-accept", "while-polling", "after-completion"] {
        for (api, id) in [("V3", format!("nat-kill-{point}-v3")), ("V2", format!("nat-kill-{point}-v2"))] {
            w.seed_tencent(&id, 1_000_000);
            let mut crashing = w.operator(Some(point));
            w.create(&id, w.tencent_spec(&id, api, "Medium")).await;
            let status = crashing.wait_exit(WAIT).await.expect("the operator reaches the crash point");
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{point}: killed, not exited; log:\n{}", w.log_tail());
            let _restarted = w.operator(None);
            let outcome = w.ready(&id).await;
            w.record(&format!("SIGKILL {point} (Tencent {api})"), &id, 1, outcome);
        }
    }
    // 2. Cloud faults with one operator running throughout.
    let operator = w.operator(None);
    let tencent_cases: Vec<(&str, &str, Fault)> = vec![
        ("response dropped after apply", "V3", fault(Some("ResetNatGatewayConnection"), 1, FaultKind::DropResponse)),
        ("response dropped after apply", "V2", fault(Some("UpgradeNatGateway"), 1, FaultKind::DropResponse)),
        (
            "timeout, change not applied",
            "V3",
            fault(Some("ResetNatGatewayConnection"), 1, FaultKind::Timeout { millis: 4000, apply: false }),
        ),
        (
            "timeout, change applied",
            "V3",
            fault(Some("ResetNatGatewayConnection"), 1, FaultKind::Timeout { millis: 4000, apply: true }),
        ),
        ("5xx burst on every call", "V3", fault(None, 4, error("InternalError"))),
        ("5xx burst on every call", "V2", fault(None, 4, error("6000"))),
        ("throttling burst", "V3", fault(Some("ResetNatGatewayConnection"), 4, error("RequestLimitExceeded"))),
        ("throttling burst", "V2", fault(Some("UpgradeNatGateway"), 4, error("4400"))),
        (
            "gateway busy",
            "V3",
            fault(Some("ResetNatGatewayConnection"), 3, error("UnsupportedOperation.NatGatewayIsBusy")),
        ),
    ];
    for (i, (name, api, f)) in tencent_cases.into_iter().enumerate() {
        let id = format!("nat-fault-{i}");
        w.seed_tencent(&id, 1_000_000);
        w.clouds.tencent.inject(f);
        w.create(&id, w.tencent_spec(&id, api, "Large")).await;
        let outcome = w.ready(&id).await;
        w.clouds.tencent.clear_faults();
        w.record(&format!("{name} (Tencent {api})"), &id, 1, outcome);
    }
    for (name, f) in [
        ("throttling burst (Huawei NAT, APIG.0308)", fault(Some("UpdateNatGatewayToPeriod"), 3, error("APIG.0308"))),
        ("throttling burst (Huawei BSS, APIG.0308)", fault(Some("ShowCustomerOrderDetails"), 3, error("APIG.0308"))),
        ("5xx burst (Huawei)", fault(Some("ShowNatGateway"), 3, error("NAT.0007"))),
        ("response dropped after apply (Huawei spec)", fault(Some("UpdateNatGateway"), 1, FaultKind::DropResponse)),
    ] {
        let id = format!("hw-{}", w.rows.len());
        w.seed_huawei(&id, "1");
        w.clouds.huawei.inject(f);
        w.create(&id, w.huawei_spec(&id, "Large", true)).await;
        let outcome = w.ready(&id).await;
        w.record(name, &id, 2, outcome);
    }

    // Orders that end badly stall, and are not placed again.
    w.seed_tencent("nat-bill-fails", 1_000_000);
    w.clouds.tencent.inject(fault(Some("UpgradeNatGateway"), 1, FaultKind::FailOrder));
    w.create("nat-bill-fails", w.tencent_spec("nat-bill-fails", "V2", "Medium")).await;
    let outcome = w.stalled("nat-bill-fails", "OrderFailed").await;
    tokio::time::sleep(Duration::from_secs(4)).await; // past a drift check: still one order
    w.record("order failed (Tencent V2 bill)", "nat-bill-fails", 1, outcome);

    w.seed_huawei("hw-cancelled", "1");
    w.create("hw-cancelled", w.huawei_spec("hw-cancelled", "Small", false)).await;
    let waiting = w.phase("hw-cancelled", OrderPhase::AwaitingPayment).await;
    let order_id = waiting.status.unwrap().order.unwrap().id.unwrap();
    w.clouds.huawei.cancel_order(&order_id).unwrap();
    let outcome = w.stalled("hw-cancelled", "OrderFailed").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    w.record("order cancelled (Huawei BSS)", "hw-cancelled", 1, outcome);

    w.seed_huawei("hw-paid-late", "1");
    w.create("hw-paid-late", w.huawei_spec("hw-paid-late", "Medium", false)).await;
    let waiting = w.phase("hw-paid-late", OrderPhase::AwaitingPayment).await;
    tokio::time::sleep(Duration::from_secs(4)).await; // waiting is not a timeout
    let billing = waiting.status.unwrap().order.unwrap().id.unwrap();
    w.clouds.huawei.pay_order(&billing).unwrap();
    // Then the resize of the now prepaid gateway: with autoPay false its order waits too.
    let resize = w
        .cluster
        .wait_for("hw-paid-late", WAIT, |o| {
            let order = o.status.as_ref().and_then(|s| s.order.as_ref());
            order
                .is_some_and(|o| o.phase == OrderPhase::AwaitingPayment && o.id.as_ref().is_some_and(|i| *i != billing))
        })
        .await;
    w.clouds.huawei.pay_order(&resize.status.unwrap().order.unwrap().id.unwrap()).unwrap();
    let outcome = w.ready("hw-paid-late").await;
    w.record("pending payment, then paid (Huawei)", "hw-paid-late", 2, outcome);

    // 3. The API server: restarted mid-order, and status writes that conflict.
    w.seed_tencent("nat-apiserver", 1_000_000);
    w.clouds.tencent.set_change_time(Duration::from_secs(4));
    w.create("nat-apiserver", w.tencent_spec("nat-apiserver", "V3", "Medium")).await;
    w.phase("nat-apiserver", OrderPhase::InProgress).await;
    w.world.cluster.env.restart_apiserver().await.unwrap();
    let outcome = w.ready("nat-apiserver").await;
    w.record("API server restarted mid-order", "nat-apiserver", 1, outcome);

    w.seed_tencent("nat-conflict", 1_000_000);
    w.create("nat-conflict", w.tencent_spec("nat-conflict", "V3", "Medium")).await;
    for i in 0..20 {
        // Every metadata write moves the resourceVersion under the operator's feet.
        let patch = json!({"metadata": {"annotations": {"test/touch": i.to_string()}}});
        w.cluster.natgws().patch("nat-conflict", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let outcome = w.ready("nat-conflict").await;
    w.record("status update conflicts during the order", "nat-conflict", 1, outcome);
    w.clouds.tencent.set_change_time(Duration::from_millis(1500));

    // 4. Credentials.
    w.seed_tencent("nat-late-secret", 1_000_000);
    let mut spec = w.tencent_spec("nat-late-secret", "V3", "Medium");
    spec["credentialsSecretRef"]["name"] = "late".into();
    w.create("nat-late-secret", spec).await;
    let stalled = w.stalled("nat-late-secret", "SecretNotFound").await;
    assert_eq!(w.clouds.orders("nat-late-secret"), 0);
    w.cluster.create_secret("late", tencent_keys(TC_ID, TC_KEY)).await;
    let outcome = w.recovered("nat-late-secret").await;
    w.record("Secret missing, then created", "nat-late-secret", 1, format!("{stalled} -> {outcome}"));

    w.seed_tencent("nat-wrong-keys", 1_000_000);
    w.cluster.create_secret("wrong-keys", json!({"accessKey": TC_ID, "secret": TC_KEY})).await;
    let mut spec = w.tencent_spec("nat-wrong-keys", "V3", "Medium");
    spec["credentialsSecretRef"]["name"] = "wrong-keys".into();
    w.create("nat-wrong-keys", spec).await;
    let outcome = w.stalled("nat-wrong-keys", "CredentialsInvalid").await;
    w.record("Secret with wrong keys", "nat-wrong-keys", 0, outcome);

    w.seed_tencent("nat-rotated", 1_000_000);
    w.cluster.create_secret("rotating", tencent_keys(TC_ID, TC_WRONG_KEY)).await;
    let mut spec = w.tencent_spec("nat-rotated", "V3", "Medium");
    spec["credentialsSecretRef"]["name"] = "rotating".into();
    w.create("nat-rotated", spec).await;
    let stalled = w.stalled("nat-rotated", "CredentialsInvalid").await;
    w.cluster
        .secrets()
        .replace("rotating", &PostParams::default(), &secret("rotating", tencent_keys(TC_ID, TC_KEY)))
        .await
        .unwrap();
    let outcome = w.recovered("nat-rotated").await;
    w.record("Secret rotated to a working one", "nat-rotated", 1, format!("{stalled} -> {outcome}"));

    // 5. Problems only the cloud side can tell: stalled with the right reason, nothing ordered.
    // A size or billing mode the cloud lacks is refused at admission; what an older CRD (without
    // those rules) admitted still stalls.
    w.seed_tencent("nat-too-big", 1_000_000);
    let too_big = w.tencent_spec("nat-too-big", "V3", "ExtraLarge");
    w.seed_tencent("nat-prepaid", 1_000_000);
    let mut prepaid = w.tencent_spec("nat-prepaid", "V3", "Medium");
    prepaid["billing"] = json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1}});
    for (name, spec, words) in
        [("nat-too-big", &too_big, "no size ExtraLarge"), ("nat-prepaid", &prepaid, "to Prepaid")]
    {
        let obj =
            json!({"apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway", "metadata": {"name": name}, "spec": spec});
        let refused = w.cluster.create_raw(&obj).await.expect_err("refused at admission");
        assert!(refused.contains(words), "{name}: {refused}");
    }
    natgw_testkit::apply_crd_without(&w.cluster, |rule| {
        rule.contains("self.size in") || rule.contains("self.billing.mode in")
    });
    natgw_testkit::create_once_admitted(&w.cluster, "nat-too-big", &too_big).await;
    let outcome = w.stalled("nat-too-big", "UnsupportedSize").await;
    w.record("size the provider cannot take (Tencent ExtraLarge, older CRD)", "nat-too-big", 0, outcome);

    natgw_testkit::create_once_admitted(&w.cluster, "nat-prepaid", &prepaid).await;
    let outcome = w.stalled("nat-prepaid", "UnsupportedChange").await;
    w.record("unsupported billing change (Tencent Prepaid, older CRD)", "nat-prepaid", 0, outcome);
    // The current CRD back: objects it would refuse are still changed (annotated) and their status
    // written, as validation ratchets on what did not change.
    let crd = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/natgateway.yaml");
    let out = w.cluster.env.kubectl(&["apply", "-f", crd]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pause = json!({"metadata": {"annotations": {"natgw.io/paused": "true"}}});
    w.cluster.natgws().patch("nat-too-big", &PatchParams::default(), &Patch::Merge(&pause)).await.unwrap();
    let paused =
        w.cluster.wait_for("nat-too-big", WAIT, |o| condition(o, "Reconciling").is_some_and(|c| c.1 == "Paused")).await;
    assert_eq!(condition(&paused, "Stalled").unwrap().0, "True");

    w.seed_tencent("nat-downsize", 10_000_000);
    w.create("nat-downsize", w.tencent_spec("nat-downsize", "V2", "Small")).await;
    let outcome = w.stalled("nat-downsize", "UnsupportedChange").await;
    w.record("downsize on Tencent API 2.0", "nat-downsize", 0, outcome);

    w.create("nat-missing", w.tencent_spec("nat-does-not-exist", "V3", "Small")).await;
    let outcome = w.stalled("nat-missing", "GatewayNotFound").await;
    w.record("gateway does not exist", "nat-does-not-exist", 0, outcome);

    // 6. Out-of-band changes: Observe reports drift, Manage corrects it.
    w.seed_tencent("nat-observe", 1_000_000);
    let mut spec = w.tencent_spec("nat-observe", "V3", "Medium");
    spec["managementPolicy"] = "Observe".into();
    w.create("nat-observe", spec).await;
    let obj = w
        .cluster
        .wait_for("nat-observe", WAIT, |o| condition(o, "Ready").is_some_and(|c| c.1 == "DriftDetected"))
        .await;
    w.record("Observe policy with drift", "nat-observe", 0, describe(&obj));

    w.seed_tencent("nat-console", 1_000_000);
    w.create("nat-console", w.tencent_spec("nat-console", "V3", "Medium")).await;
    w.ready("nat-console").await;
    w.seed_tencent("nat-console", 1_000_000); // someone resizes it back in the console
    w.cluster
        .wait_for("nat-console", WAIT, |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_order.as_ref())
                .is_some_and(|l| l.attempt == 1 && w.clouds.orders("nat-console") == 2)
        })
        .await;
    let outcome = w.ready("nat-console").await;
    w.record("resized in the console (Manage corrects it)", "nat-console", 2, outcome);

    // Huawei's billing order is only visible on BSS: killed after the cloud took it, the
    // restarted operator must not buy a second subscription.
    // One operator at a time, or the healthy one would take the order first.
    drop(operator);
    w.seed_huawei("hw-kill-accept", "1");
    let mut crashing = w.operator(Some("after-accept"));
    w.create("hw-kill-accept", w.huawei_spec("hw-kill-accept", "Medium", true)).await;
    let status = crashing.wait_exit(WAIT).await.expect("the operator reaches the crash point");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed at the crash point; log:\n{}", w.log_tail());
    let restarted = w.operator(None);
    let outcome = w.ready("hw-kill-accept").await;
    w.record("SIGKILL after-accept (Huawei billing, then size)", "hw-kill-accept", 2, outcome);
    drop(restarted);

    // No secret value anywhere: operator logs, Events, status.
    let logs = std::fs::read_to_string(w.log("operator")).unwrap();
    let events = w.cluster.kubectl(&["get", "events", "-o", "yaml"]);
    let objects = w.cluster.kubectl(&["get", "natgw", "-o", "yaml"]);
    for secret in SECRETS {
        for (what, text) in [("operator logs", &logs), ("events", &events), ("status", &objects)] {
            assert!(!text.contains(secret), "a secret value leaked into the {what}");
        }
    }
    assert!(logs.len() > 1000 && events.contains("OrderSubmitted"), "the leak check read real output");

    println!("\n{:<58} {:>6} {:>8}  outcome", "fault", "orders", "expected");
    for r in &w.rows {
        println!("{:<58} {:>6} {:>8}  {}", r.fault, r.orders, r.expected_orders, r.outcome);
    }
    let wrong: Vec<&Row> = w.rows.iter().filter(|r| r.orders != r.expected_orders).collect();
    assert!(
        wrong.is_empty(),
        "order counts differ from desired changes: {:?}",
        wrong.iter().map(|r| &r.fault).collect::<Vec<_>>()
    );
}
