//! The controller on a real API server with the in-memory cloud: a resize goes through, status
//! and conditions read right in kubectl, and a missing Secret stalls without ordering.

use std::{sync::Arc, time::Duration};

use natgw_operator::{
    api::{OrderPhase, Size},
    cloud::{Capacity, Registry, connect::CloudConnector},
};
use natgw_testkit::memory::MemoryCloud;
use natgw_testkit::{Cluster, condition, tencent_keys, tencent_spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_reaches_ready_and_kubectl_reads_it() {
    let cluster = Cluster::start("controller").await;
    let cloud = MemoryCloud::new(Duration::from_secs(2));
    cloud.seed("nat-small", Capacity::Connections(1_000_000), Default::default());
    cloud.seed("nat-orphan", Capacity::Connections(1_000_000), Default::default());
    // The in-memory cloud is registered like a built-in one, and claims every spec.
    let connector = CloudConnector::new(reqwest::Client::new()).with_registry(Registry::empty().with(cloud.clone()));
    let operator = cluster.run_controller(Arc::new(connector), Duration::from_millis(500));

    let keys = tencent_keys("AKIDmemory", "memory-secret-key");
    cluster.create_secret("creds", keys.clone()).await;
    cluster.create_natgw("egress", tencent_spec("nat-small", None, "Medium", "creds", None)).await;

    // The order is visible while it runs...
    let running = cluster
        .wait_for("egress", Duration::from_secs(30), |o| {
            o.status.as_ref().and_then(|s| s.order.as_ref()).is_some_and(|o| o.phase == OrderPhase::InProgress)
        })
        .await;
    let order = running.status.unwrap().order.unwrap();
    assert_eq!(order.target.to_string(), "Medium");
    assert!(order.id.is_some(), "the order id is in status while it runs");

    // ...and kubectl wait sees Ready once it completes.
    let out = cluster.kubectl(&["wait", "--for=condition=Ready", "natgw/egress", "--timeout=60s"]);
    assert!(out.contains("condition met"), "{out}");
    let done = cluster.natgws().get("egress").await.unwrap();
    let status = done.status.clone().unwrap();
    assert_eq!(status.observed.as_ref().unwrap().size, Some(Size::Medium));
    assert_eq!(status.observed.as_ref().unwrap().max_concurrent_connections, Some(3_000_000));
    assert_eq!(status.observed_generation, done.metadata.generation);
    assert_eq!(condition(&done, "Reconciling").unwrap().0, "False");
    assert_eq!(condition(&done, "Stalled").unwrap().0, "False");
    assert_eq!(status.order, None, "no order stays open");
    assert_eq!(status.last_order.as_ref().unwrap().phase, OrderPhase::Succeeded);
    assert_eq!(cloud.ledger().len(), 1, "exactly one order: {:?}", cloud.ledger());

    // kubectl get shows the printer columns; -o wide adds region and the message.
    let table = cluster.kubectl(&["get", "natgw"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PROVIDER", "GATEWAY", "SIZE", "OBSERVED", "BILLING", "READY", "REASON", "ORDER", "AGE"],
        "{table}"
    );
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..8],
        ["egress", "memory", "nat-small", "Medium", "Medium", "PayPerUse", "True", "InSync"],
        "{table}"
    );
    let wide = cluster.kubectl(&["get", "natgateways.natgw.io", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().contains("REGION"), "{wide}");
    assert!(wide.contains("ap-guangzhou") && wide.contains("the gateway is Medium"), "{wide}");
    // The category and short name work too.
    assert!(cluster.kubectl(&["get", "cloud"]).contains("egress"));

    let describe = cluster.kubectl(&["describe", "natgw", "egress"]);
    for reason in ["OrderSubmitted", "OrderSucceeded"] {
        assert!(describe.contains(reason), "describe lacks the {reason} event:\n{describe}");
    }

    // A resource whose Secret is missing stalls with the fix, orders nothing, and recovers
    // when the Secret appears.
    cluster.create_natgw("orphan", tencent_spec("nat-orphan", None, "Large", "later", None)).await;
    let stalled = cluster
        .wait_for("orphan", Duration::from_secs(30), |o| condition(o, "Stalled").is_some_and(|c| c.0 == "True"))
        .await;
    assert_eq!(condition(&stalled, "Stalled").unwrap().1, "SecretNotFound");
    let message = &stalled.status.as_ref().unwrap().conditions.iter().find(|c| c.type_ == "Ready").unwrap().message;
    assert!(message.contains("Secret controller/later does not exist"), "{message}");
    assert_eq!(cloud.ledger().len(), 1);
    cluster.create_secret("later", keys).await;
    cluster.wait_for("orphan", Duration::from_secs(60), |o| condition(o, "Ready").is_some_and(|c| c.0 == "True")).await;
    assert_eq!(cloud.ledger().len(), 2, "one more order for the second change");

    // Credentials are cached, but not past their Secret: once it is deleted, the next change
    // stalls again instead of ordering with the old keys.
    cluster.secrets().delete("later", &Default::default()).await.unwrap();
    let patch = serde_json::json!({"spec": {"size": "Medium"}});
    cluster
        .natgws()
        .patch("orphan", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .unwrap();
    let stalled = cluster
        .wait_for("orphan", Duration::from_secs(30), |o| condition(o, "Stalled").is_some_and(|c| c.0 == "True"))
        .await;
    assert_eq!(condition(&stalled, "Stalled").unwrap().1, "SecretNotFound");
    assert_eq!(cloud.ledger().len(), 2, "no order without a Secret");

    operator.stop().await;
}

/// A drift read answered by a stale account-wide sweep (one taken before a change an earlier
/// leader made, or before an order was paid) never places an order: an order is decided on a
/// fresh read only. The sweep says Small and pay-per-use; the cloud, asked afresh, says what the
/// specs ask for, so nothing is ordered and status shows the truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_order_on_a_stale_sweep() {
    use natgw_operator::{
        api::BillingMode,
        cloud::{GatewayState, Observed},
    };
    let cluster = Cluster::start("stale-sweep").await;
    let cloud = MemoryCloud::new(Duration::from_secs(1));
    cloud.seed("nat-resized", Capacity::Connections(3_000_000), BillingMode::PayPerUse);
    cloud.seed("nat-paid", Capacity::Connections(1_000_000), BillingMode::Prepaid);
    let connector = CloudConnector::new(reqwest::Client::new()).with_registry(Registry::empty().with(cloud.clone()));
    let operator = cluster.run_controller(Arc::new(connector), Duration::from_millis(300));
    let keys = tencent_keys("AKIDmemory", "memory-secret-key");
    cluster.create_secret("creds", keys).await;
    cluster.create_natgw("resized", tencent_spec("nat-resized", None, "Medium", "creds", None)).await;
    // The in-memory cloud claims every spec; a Huawei one, since admission refuses Tencent prepaid.
    let paid = serde_json::json!({
        "gatewayId": "nat-paid", "provider": {"huawei": {"region": "cn-north-4"}}, "size": "Small",
        "billing": {"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1}},
        "credentialsSecretRef": {"name": "creds"},
    });
    cluster.create_natgw("paid", paid).await;
    let ready = |o: &natgw_operator::api::NatGateway| condition(o, "Ready").is_some_and(|c| c.0 == "True");
    for name in ["resized", "paid"] {
        cluster.wait_for(name, Duration::from_secs(30), ready).await;
    }
    assert_eq!(cloud.ledger(), [], "both were in sync from the start");

    let stale = Observed {
        capacity: Capacity::Connections(1_000_000),
        billing: BillingMode::PayPerUse,
        state: GatewayState::Ready,
        raw_state: "AVAILABLE".into(),
        subscription: None,
        claim: Default::default(),
    };
    cloud.serve_stale("nat-resized", stale.clone());
    cloud.serve_stale("nat-paid", stale);
    // A rotated Secret re-checks every resource that names it, with drift reads.
    let rotated = tencent_keys("AKIDmemory2", "memory-secret-key-2");
    let patch = serde_json::json!({"stringData": rotated});
    for _ in 0..3 {
        cluster
            .secrets()
            .patch("creds", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(cloud.ledger(), [], "a stale sweep ordered a change the cloud already had");
    for (name, connections, billing) in
        [("resized", 3_000_000, BillingMode::PayPerUse), ("paid", 1_000_000, BillingMode::Prepaid)]
    {
        let o = cluster.wait_for(name, Duration::from_secs(10), ready).await;
        let observed = o.status.unwrap().observed.unwrap();
        assert_eq!((observed.max_concurrent_connections, observed.billing_mode), (Some(connections), Some(billing)));
    }
    operator.stop().await;
}
