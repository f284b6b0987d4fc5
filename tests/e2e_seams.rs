//! Money at the seams between actors: two resources naming one gateway, a leader paused or cut
//! off while its order calls wait in the rate limiter, a resource deleted while its order waits
//! for payment (and one created again for the same gateway), and a control-plane outage. The
//! real operator binary (two replicas where leadership matters), a real API server and both
//! simulators. Every scenario runs even when an earlier one fails; the test prints one row per
//! scenario (orders placed against changes asked for, time to converge) and then fails if any
//! scenario did.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use futures::FutureExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use natgw_operator::api::{NatGateway, OrderPhase};
use natgw_sim::tencent::SimGateway;
use natgw_testkit::{Cluster, Partition, World, condition, free_port, huawei_gateway, natgw, ready, tencent_keys};
use serde_json::json;

const TC_ID: &str = "AKIDseams";
const TC_KEY: &str = "tc-seams-secret-value";
const HW_AK: &str = "HWAKSEAMS";
const HW_SK: &str = "hw-seams-secret-value";
const PROJECT: &str = "proj-seams";
const WAIT: Duration = Duration::from_secs(60);
const LEASE_SECS: u64 = 4;

struct Row {
    scenario: &'static str,
    orders: usize,
    changes: usize,
    converged: Option<Duration>,
    failure: Option<String>,
}

/// Runs one scenario, turning a panic into a failed row so that the others still run.
async fn scenario(rows: &mut Vec<Row>, name: &'static str, run: impl Future<Output = (usize, usize, Duration)>) {
    let row = match std::panic::AssertUnwindSafe(run).catch_unwind().await {
        Ok((orders, changes, converged)) => {
            let failure = (orders != changes).then(|| format!("{orders} orders for {changes} changes"));
            Row { scenario: name, orders, changes, converged: Some(converged), failure }
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Row { scenario: name, orders: 0, changes: 0, converged: None, failure: Some(message) }
        }
    };
    println!("[seams] {name}: {:?}", row.failure);
    rows.push(row);
}

/// Two NatGateways (in two namespaces, different sizes) name one Tencent gateway: the older one
/// manages it, the newer one is Stalled naming it and orders nothing; once the owner is deleted
/// the other takes over.
async fn two_resources_one_gateway(w: &World) -> (usize, usize, Duration) {
    let _operator = w.single("claims", &[]);
    w.clouds.tencent.seed_gateway(SimGateway::new("nat-shared", "vpc-1", 1_000_000));
    let other_ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "seams-other"}})).unwrap();
    Api::<Namespace>::all(w.cluster.client.clone()).create(&PostParams::default(), &other_ns).await.unwrap();
    let other: Api<NatGateway> = Api::namespaced(w.cluster.client.clone(), "seams-other");
    let secrets = Api::namespaced(w.cluster.client.clone(), "seams-other");
    secrets
        .create(&PostParams::default(), &natgw_testkit::secret("tencent", tencent_keys(TC_ID, TC_KEY)))
        .await
        .unwrap();

    w.cluster.create_natgw("first", w.tencent_spec("nat-shared", "V3", "Medium")).await;
    // Creation times have whole seconds: make the claims' order unambiguous.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    other.create(&PostParams::default(), &natgw("second", w.tencent_spec("nat-shared", "V3", "Large"))).await.unwrap();

    w.cluster.wait_for("first", WAIT, ready).await;
    let start = Instant::now();
    let second = loop {
        let o = other.get("second").await.unwrap();
        if condition(&o, "Stalled").is_some_and(|c| c.0 == "True" && c.1 == "GatewayClaimed") {
            break o;
        }
        assert!(start.elapsed() < WAIT, "second never stalled as GatewayClaimed: {:#?}", o.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let message = second.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Stalled").unwrap().message;
    // The owner is in another namespace: its tenant's object names stay there.
    assert!(
        message.contains("another namespace") && !message.contains("first"),
        "no name across namespaces: {message}"
    );
    // Several drift intervals: the owner stays Ready, the other orders nothing.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(w.clouds.orders("nat-shared"), 1, "only the owner ordered");
    assert!(ready(&w.cluster.natgws().get("first").await.unwrap()));

    let deleted = Instant::now();
    w.cluster.natgws().delete("first", &DeleteParams::default()).await.unwrap();
    let start = Instant::now();
    loop {
        let o = other.get("second").await.unwrap();
        if ready(&o)
            && o.status
                .as_ref()
                .and_then(|s| s.observed.as_ref())
                .and_then(|x| x.size)
                .is_some_and(|s| s.to_string() == "Large")
        {
            break;
        }
        assert!(start.elapsed() < WAIT, "second did not take over: {:#?}", o.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (w.clouds.orders("nat-shared"), 2, deleted.elapsed())
}

/// Two replicas; the leader has written three intents whose calls wait in its rate limiter (one
/// call per 10 s) when it is paused (SIGSTOP) or cut off from the API server (`cut`). The
/// standby takes over and places the orders; the old leader, woken or reconnected, must drop
/// its queued calls. Counted: every mutating request the cloud received, whatever its outcome.
async fn leader_loses_with_calls_queued(w: &World, huawei: bool, cut: bool, tag: &str) -> (usize, usize, Duration) {
    let action = if huawei { "UpdateNatGatewayToPeriod" } else { "ResetNatGatewayConnection" };
    let limit = format!("{action}=0.1");
    let lease = format!("{LEASE_SECS}s");
    let metrics = |port: u16| format!("127.0.0.1:{port}");
    let (ma, mb) = (metrics(free_port()), metrics(free_port()));
    let namespace = w.cluster.namespace.clone();
    let flags = |m: &str| -> Vec<String> {
        [
            "--leader-election",
            "--lease-namespace",
            &namespace,
            "--lease-duration",
            &lease,
            "--rate-limit",
            &limit,
            "--metrics-addr",
            m,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let partition = Partition::start(&w.cluster.env, &format!("kubeconfig-{tag}")).await;
    let (fa, fb) = (flags(&ma), flags(&mb));
    let (fa, fb): (Vec<&str>, Vec<&str>) =
        (fa.iter().map(String::as_str).collect(), fb.iter().map(String::as_str).collect());
    let (name_a, name_b) = (format!("{tag}-a"), format!("{tag}-b"));
    let mut a = w.operator(&name_a, Some(&partition.kubeconfig), &fa, &[("POD_NAME", &name_a)]);
    w.wait_holder(&name_a, Duration::from_secs(30)).await;
    let _b = w.operator(&name_b, None, &fb, &[("POD_NAME", &name_b)]);
    // Let the standby see the lease held before anything happens.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let before = w.requests(action);
    // Tencent ids are `nat-` ids (the simulator refuses others as malformed).
    let ids: Vec<String> =
        (1..=3).map(|i| if huawei { format!("{tag}-{i}") } else { format!("nat-{tag}-{i}") }).collect();
    for id in &ids {
        if huawei {
            w.clouds.huawei.seed_gateway(huawei_gateway(id, PROJECT, "1"));
            w.cluster.create_natgw(id, w.huawei_spec(id, "Small", true)).await;
        } else {
            w.clouds.tencent.seed_gateway(SimGateway::new(id, "vpc-1", 1_000_000));
            w.cluster.create_natgw(id, w.tencent_spec(id, "V3", "Medium")).await;
        }
    }
    for id in &ids {
        w.cluster
            .wait_for(id, WAIT, |o| o.status.as_ref().is_some_and(|s| s.order.is_some() || s.last_order.is_some()))
            .await;
    }
    let lost = Instant::now();
    if cut {
        partition.set_cut(true);
    } else {
        a.pause(true);
    }
    w.wait_holder(&name_b, Duration::from_secs(LEASE_SECS + 6)).await;
    for id in &ids {
        w.cluster.wait_for(id, WAIT, ready).await;
    }
    let converged = lost.elapsed();
    // Past the moment the leader's second queued call was due (10 s after the first).
    tokio::time::sleep((lost + Duration::from_secs(12)).saturating_duration_since(Instant::now())).await;
    if cut {
        partition.set_cut(false);
    } else {
        a.pause(false);
    }
    // Past the leader's third queued call (20 s after the first), had it survived.
    tokio::time::sleep((lost + Duration::from_secs(22)).saturating_duration_since(Instant::now())).await;
    let sent = w.requests(action) - before;
    let orders: usize = ids.iter().map(|id| w.clouds.orders(id)).sum();
    assert_eq!(orders, 3, "one order per gateway");
    let exit = a.wait_exit(Duration::from_secs(5)).await;
    assert!(exit.is_some(), "the replica that lost the lease exits");
    (sent, 3, converged)
}

/// A Huawei billing change to be paid by hand: the resource is deleted while the order waits for
/// payment (it is kept, says why, and a newer resource for the gateway waits for it); then a
/// resource whose finalizer was removed by hand is created again and adopts the open order.
async fn deleted_while_unpaid(w: &World) -> (usize, usize, Duration) {
    let _operator = w.single("unpaid", &[]);
    w.clouds.huawei.seed_gateway(huawei_gateway("hw-del", PROJECT, "1"));
    w.cluster.create_natgw("del-a", w.huawei_spec("hw-del", "Small", false)).await;
    let waiting = w.phase("del-a", OrderPhase::AwaitingPayment).await;
    let order_id = waiting.status.unwrap().order.unwrap().id.unwrap();
    assert!(waiting.metadata.finalizers.unwrap_or_default().iter().any(|f| f == "natgw.io/unpaid-order"));

    w.cluster.natgws().delete("del-a", &DeleteParams::default()).await.unwrap();
    let kept = w
        .cluster
        .wait_for("del-a", WAIT, |o| condition(o, "Ready").is_some_and(|c| c.1 == "DeletionWaitsForOrder"))
        .await;
    assert!(kept.metadata.deletion_timestamp.is_some());
    assert_eq!(w.events("del-a", "DeletionWaitsForOrder").await.0, 1, "an Event says why it is kept");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.cluster.create_natgw("del-b", w.huawei_spec("hw-del", "Small", false)).await;
    w.stalled("del-b", "GatewayClaimed").await;
    let paid = Instant::now();
    w.clouds.huawei.pay_order(&order_id).unwrap();
    w.cluster.wait_for("del-b", WAIT, ready).await;
    let converged = paid.elapsed();
    assert!(w.cluster.natgws().get_opt("del-a").await.unwrap().is_none(), "del-a is gone once paid");

    // Finalizer removed by hand while unpaid: the order is orphaned; the resource created again
    // for the gateway adopts it rather than ordering again (or retrying without end).
    w.clouds.huawei.seed_gateway(huawei_gateway("hw-del2", PROJECT, "1"));
    w.cluster.create_natgw("re", w.huawei_spec("hw-del2", "Small", false)).await;
    let waiting = w.phase("re", OrderPhase::AwaitingPayment).await;
    let orphan = waiting.status.unwrap().order.unwrap().id.unwrap();
    w.cluster.natgws().delete("re", &DeleteParams::default()).await.unwrap();
    let remove = json!([{"op": "remove", "path": "/metadata/finalizers"}]);
    w.cluster
        .natgws()
        .patch("re", &PatchParams::default(), &Patch::<()>::Json(serde_json::from_value(remove).unwrap()))
        .await
        .unwrap();
    let start = Instant::now();
    while w.cluster.natgws().get_opt("re").await.unwrap().is_some() {
        assert!(start.elapsed() < WAIT, "re is not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = w.requests("UpdateNatGatewayToPeriod");
    w.cluster.create_natgw("re", w.huawei_spec("hw-del2", "Small", false)).await;
    let adopted = w.phase("re", OrderPhase::AwaitingPayment).await;
    assert_eq!(adopted.status.unwrap().order.unwrap().id.as_deref(), Some(orphan.as_str()), "adopted the open order");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let retried = w.requests("UpdateNatGatewayToPeriod") - calls;
    assert!(retried <= 2, "{retried} change_to_period calls while the order waited");
    w.clouds.huawei.pay_order(&orphan).unwrap();
    w.cluster.wait_for("re", WAIT, ready).await;
    (w.clouds.orders("hw-del") + w.clouds.orders("hw-del2"), 2, converged)
}

/// Ten Tencent resizes in flight when etcd and the API server go down for 10 s: afterwards no
/// retry storm (no conflicting re-plans once a backoff cap has passed, cloud reads back to the
/// drift-check rate), one OrderSucceeded Event with no repeats and one count per order.
async fn control_plane_outage(w: &mut World) -> (usize, usize, Duration) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _operator = w.operator(
        "outage",
        None,
        &["--leader-election=false", "--metrics-addr", &addr],
        &[("NATGW_MAX_BACKOFF", "10s")],
    );
    w.clouds.tencent.set_change_time(Duration::from_secs(6));
    let ids: Vec<String> = (1..=10).map(|i| format!("nat-outage-{i}")).collect();
    for id in &ids {
        w.clouds.tencent.seed_gateway(SimGateway::new(id, "vpc-1", 1_000_000));
        w.cluster.create_natgw(id, w.tencent_spec(id, "V3", "Medium")).await;
    }
    for id in &ids {
        w.phase(id, OrderPhase::InProgress).await;
    }
    w.cluster.env.restart_control_plane(Duration::from_secs(10)).await.unwrap();
    let back = Instant::now();
    for id in &ids {
        w.cluster.wait_for(id, WAIT, ready).await;
    }
    let converged = back.elapsed();
    w.clouds.tencent.set_change_time(Duration::from_millis(1500));
    // One backoff cap after the API server is back, then a 10 s window.
    tokio::time::sleep((back + Duration::from_secs(10)).saturating_duration_since(Instant::now())).await;
    let scrape = || async {
        let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
        let stale = natgw_testkit::sample(&text, "natgw_reconciles_total{outcome=\"stale\"}");
        let reads = natgw_testkit::sample(
            &text,
            "natgw_cloud_calls_total{provider=\"tencent/V3\",action=\"describe\",outcome=\"ok\"}",
        );
        (stale, reads, text)
    };
    let (stale0, reads0, _) = scrape().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (stale1, reads1, _) = scrape().await;
    assert_eq!(stale1 - stale0, 0.0, "no conflicting re-plans a backoff cap after the outage");
    // The baseline: the busiest of three 10 s windows once everything has long settled (drift
    // checks only). One window alone sometimes sees half the usual reads, which would make a
    // normal rate after the outage look like a storm; a storm is several times the usual rate.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (_, mut previous, _) = scrape().await;
    let mut baseline = 0.0_f64;
    let mut text = String::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (_, reads, scraped) = scrape().await;
        baseline = baseline.max(reads - previous);
        (previous, text) = (reads, scraped);
    }
    let after = reads1 - reads0;
    println!("[seams] cloud reads in 10 s: {after} one backoff cap after the outage, {baseline} at rest");
    assert!(after <= baseline * 1.5 + 5.0, "{after} cloud reads in 10 s after the outage, {baseline} at rest");
    for id in &ids {
        let (events, series) = w.events(id, "OrderSucceeded").await;
        assert_eq!((events, series), (1, 1), "{id}: one OrderSucceeded Event, counted once");
    }
    let counted = |phase: &str| {
        natgw_testkit::sample(
            &text,
            &format!("natgw_orders_total{{provider=\"tencent/V3\",action=\"resize\",phase=\"{phase}\"}}"),
        )
    };
    assert_eq!((counted("submitted"), counted("succeeded")), (10.0, 10.0), "each order counted once");
    let orders = ids.iter().map(|id| w.clouds.orders(id)).sum();
    (orders, 10, converged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_at_the_seams() {
    let cluster = Cluster::start_own("seams").await; // an outage stops the control plane
    let mut w = World::start(cluster, (TC_ID, TC_KEY), (HW_AK, HW_SK), PROJECT).await;
    let mut rows = Vec::new();
    scenario(&mut rows, "two resources on one gateway (Tencent V3)", two_resources_one_gateway(&w)).await;
    for (name, huawei, cut, tag) in [
        ("leader paused with calls queued (Tencent V3)", false, false, "pause-tc"),
        ("leader paused with calls queued (Huawei billing)", true, false, "pause-hw"),
        ("leader partitioned with calls queued (Tencent V3)", false, true, "cut-tc"),
        ("leader partitioned with calls queued (Huawei billing)", true, true, "cut-hw"),
    ] {
        scenario(&mut rows, name, leader_loses_with_calls_queued(&w, huawei, cut, tag)).await;
    }
    scenario(&mut rows, "deleted while unpaid, then re-created (Huawei)", deleted_while_unpaid(&w)).await;
    scenario(&mut rows, "control-plane outage (etcd + API server, 10 s)", control_plane_outage(&mut w)).await;

    println!("\n{:<56} {:>6} {:>7} {:>10}  failure", "scenario", "orders", "changes", "converged");
    for r in &rows {
        let converged = r.converged.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "-".into());
        println!(
            "{:<56} {:>6} {:>7} {:>10}  {}",
            r.scenario,
            r.orders,
            r.changes,
            converged,
            r.failure.as_deref().unwrap_or("")
        );
    }
    let failed: Vec<&str> = rows.iter().filter(|r| r.failure.is_some()).map(|r| r.scenario).collect();
    assert!(failed.is_empty(), "scenarios failed: {failed:?}");
}
