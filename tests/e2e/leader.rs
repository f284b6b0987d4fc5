//! Two real operator processes with leader election: only the leader acts; when it is killed
//! mid-order the standby takes over within the lease duration, finishes the order without
//! ordering again, and on SIGTERM releases the lease.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use natgw_operator::{api::OrderPhase, leader::LEASE_NAME};
use natgw_testkit::{Cluster, Operator, eventually, free_port, tencent_keys, tencent_sim, tencent_spec};

const ID: &str = "AKIDe2eleader";
const KEY: &str = "e2e-leader-secret-key";
const LEASE_SECS: u64 = 4;
/// Longer than the lease, so the order is still running when the standby takes over.
const CHANGE_TIME: Duration = Duration::from_secs(10);

/// One operator replica with leader election and its own /metrics; dropping it SIGKILLs it.
struct Replica {
    name: &'static str,
    operator: Operator,
    metrics: String,
}

impl Replica {
    fn start(cluster: &Cluster, name: &'static str, log: &Path, allowed: &str) -> Replica {
        let addr = format!("127.0.0.1:{}", free_port());
        let lease_duration = format!("{LEASE_SECS}s");
        let args = [
            "--leader-election",
            "--poll-interval",
            "500ms",
            "--lease-namespace",
            &cluster.namespace,
            "--lease-duration",
            &lease_duration,
            "--metrics-addr",
            &addr,
        ];
        let env = [("POD_NAME", name), ("NATGW_ALLOWED_ENDPOINTS", allowed)];
        let operator = cluster.operator(&args, &env, log);
        Replica { name, operator, metrics: format!("http://{addr}") }
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let r = reqwest::get(format!("{}{path}", self.metrics)).await.ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    }

    /// A sample of this replica's /metrics; 0 when absent.
    async fn sample(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics").await.expect("/metrics answers");
        natgw_testkit::sample(&text, series)
    }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get_opt(LEASE_NAME).await.ok()??.spec?.holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_a_running_order_without_ordering_again() {
    let cluster = Cluster::start("leader").await;
    let sim = tencent_sim(ID, KEY, CHANGE_TIME, "nat-leader").await;
    let mut replicas = vec![
        Replica::start(&cluster, "replica-a", &cluster.path("replica-a.log"), &sim.http_url),
        Replica::start(&cluster, "replica-b", &cluster.path("replica-b.log"), &sim.http_url),
    ];
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &cluster.namespace);

    // One of them leads and is ready once its cache is synced; the other is a ready standby.
    let leader_name = eventually(Duration::from_secs(30), "a replica takes the lease", || holder(&leases)).await;
    let leader_at = replicas.iter().position(|r| r.name == leader_name).expect("the holder is one of ours");
    let standby_name = replicas[1 - leader_at].name;
    for r in &replicas {
        eventually(Duration::from_secs(30), "both replicas are ready", || async {
            (r.get("/readyz").await?.0 == 200).then_some(())
        })
        .await;
    }
    assert_eq!(replicas[leader_at].sample("natgw_leader").await, 1.0);
    assert_eq!(replicas[1 - leader_at].sample("natgw_leader").await, 0.0);

    cluster.create_secret("tencent", tencent_keys(ID, KEY)).await;
    cluster
        .create_natgw("egress", tencent_spec("nat-leader", Some("V2"), "Medium", "tencent", Some(&sim.http_url)))
        .await;
    cluster
        .wait_for("egress", Duration::from_secs(30), |o| {
            o.status.as_ref().and_then(|s| s.order.as_ref()).is_some_and(|o| o.phase == OrderPhase::InProgress)
        })
        .await;
    assert_eq!(
        replicas[1 - leader_at]
            .sample("natgw_cloud_calls_total{provider=\"tencent/V2\",action=\"describe\",outcome=\"ok\"}")
            .await,
        0.0,
        "the standby never calls the cloud"
    );

    // SIGKILL: no chance to release the lease, which must expire.
    let killed = Instant::now();
    drop(replicas.remove(leader_at));
    let standby = replicas.pop().unwrap();
    eventually(Duration::from_secs(LEASE_SECS + 10), "the standby takes the lease", || async {
        (holder(&leases).await.as_deref() == Some(standby_name)).then_some(())
    })
    .await;
    let takeover = killed.elapsed();
    println!("takeover after {takeover:?}");
    assert!(takeover <= Duration::from_secs(LEASE_SECS + 3), "takeover took {takeover:?}");

    let done = cluster
        .wait_for("egress", Duration::from_secs(60), |o| {
            o.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .await;
    let status = done.status.unwrap();
    assert_eq!(status.last_order.unwrap().phase, OrderPhase::Succeeded);
    assert_eq!(sim.orders().len(), 1, "exactly one order across both replicas: {:?}", sim.orders());
    // The new leader polled the old leader's order to its end and submitted nothing itself.
    let orders =
        |phase: &str| format!("natgw_orders_total{{provider=\"tencent/V2\",action=\"resize\",phase=\"{phase}\"}}");
    assert_eq!(standby.sample(&orders("submitted")).await, 0.0);
    assert_eq!(standby.sample(&orders("succeeded")).await, 1.0);
    assert_eq!(standby.sample("natgw_leader").await, 1.0);

    // SIGTERM: the controller stops, then the lease is released for the next replica.
    let mut standby = standby;
    standby.operator.terminate();
    let limit = Duration::from_secs(20);
    let exit = standby
        .operator
        .wait_exit(limit)
        .await
        .unwrap_or_else(|| panic!("the leader exits on SIGTERM within {limit:?}"));
    assert!(exit.success(), "{exit}");
    assert_eq!(holder(&leases).await, None, "the lease was released on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_the_lease_stops_and_exits() {
    let cluster = Cluster::start("leader-lost").await;
    let log = cluster.path("replica.log");
    let mut replica = Replica::start(&cluster, "replica-a", &log, "");
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    eventually(Duration::from_secs(30), "the replica takes the lease", || async {
        (holder(&leases).await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;

    // Someone else holds it now (as after a partition that outlasted the lease).
    let patch = serde_json::json!({"spec": {
        "holderIdentity": "intruder",
        "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(k8s_openapi::jiff::Timestamp::now()),
        "leaseDurationSeconds": 60,
    }});
    leases.patch(LEASE_NAME, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    let limit = Duration::from_secs(LEASE_SECS + 5);
    let exit = replica.operator.wait_exit(limit).await.unwrap_or_else(|| panic!("the replica exits within {limit:?}"));
    assert!(!exit.success(), "losing the lease is a failure exit so Kubernetes restarts the pod: {exit}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("lost the leader Lease"), "{text}");
    assert_eq!(holder(&leases).await.as_deref(), Some("intruder"), "the replica did not take the lease back");
}
