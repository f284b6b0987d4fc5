//! Two real operator processes with leader election: only the leader acts; when it is killed
//! mid-order the standby takes over within the lease duration, finishes the order without
//! ordering again, and on SIGTERM releases the lease.

mod support;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Secret};
use kube::{Api, api::PostParams};
use natgw_operator::{
    api::{NatGateway, OrderPhase},
    leader::LEASE_NAME,
    sim::{
        core::SimCredential,
        tencent::{SimGateway, TencentSim, TencentSimConfig},
    },
};
use support::Cluster;

const ID: &str = "AKIDe2eleader";
const KEY: &str = "e2e-leader-secret-key";
const LEASE_SECS: u64 = 4;
/// Longer than the lease, so the order is still running when the standby takes over.
const CHANGE_TIME: Duration = Duration::from_secs(10);

/// One operator replica. Unlike `support::Operator` it can be sent SIGTERM; dropping it
/// SIGKILLs it.
struct Replica {
    name: &'static str,
    child: Child,
    metrics: String,
}

impl Replica {
    fn start(cluster: &Cluster, name: &'static str, log: &Path) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_natgw-operator"))
            .args(["run", "--leader-election", "--poll-interval", "500ms"])
            .args(["--lease-namespace", &cluster.namespace, "--lease-duration", &format!("{LEASE_SECS}s")])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .env("KUBECONFIG", &cluster.env.kubeconfig)
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,natgw_operator=debug")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Replica { name, child, metrics: format!("http://127.0.0.1:{port}") }
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let r = reqwest::get(format!("{}{path}", self.metrics)).await.ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    }

    /// A sample of this replica's /metrics; 0 when absent.
    async fn sample(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics").await.expect("/metrics answers");
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get_opt(LEASE_NAME).await.ok()??.spec?.holder_identity
}

/// Polls until `check` returns `Some`, or panics with `what` after `limit`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_a_running_order_without_ordering_again() {
    let cluster = Cluster::start("leader").await;
    let sim = TencentSim::start(TencentSimConfig {
        credentials: vec![SimCredential { key_id: ID.into(), secret: KEY.into(), token: None }],
        change_time: CHANGE_TIME,
        https_port: None,
        gateways: vec![SimGateway::new("nat-leader", "vpc-1", 1_000_000)],
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    let dir = cluster.env.kubeconfig.parent().unwrap().to_owned();
    let mut replicas = vec![
        Replica::start(&cluster, "replica-a", &dir.join("replica-a.log")),
        Replica::start(&cluster, "replica-b", &dir.join("replica-b.log")),
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

    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "tencent"}, "stringData": {"secretId": ID, "secretKey": KEY}
    }))
    .unwrap();
    Api::<Secret>::namespaced(cluster.client.clone(), &cluster.namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let natgw: NatGateway = serde_json::from_value(serde_json::json!({
        "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway", "metadata": {"name": "egress"},
        "spec": {
            "gatewayId": "nat-leader",
            "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-1", "api": "V2"}},
            "size": "Medium",
            "credentialsSecretRef": {"name": "tencent"},
            "endpoint": sim.http_url,
        }
    }))
    .unwrap();
    cluster.natgws().create(&PostParams::default(), &natgw).await.unwrap();
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
    standby.signal(libc::SIGTERM);
    let exit = eventually(Duration::from_secs(20), "the leader exits on SIGTERM", || {
        let status = standby.child.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert!(exit.success(), "{exit}");
    assert_eq!(holder(&leases).await, None, "the lease was released on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_the_lease_stops_and_exits() {
    let cluster = Cluster::start("leader-lost").await;
    let log = cluster.env.kubeconfig.with_file_name("replica.log");
    let mut replica = Replica::start(&cluster, "replica-a", &log);
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
    let exit = eventually(Duration::from_secs(LEASE_SECS + 5), "the replica exits", || {
        let status = replica.child.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert!(!exit.success(), "losing the lease is a failure exit so Kubernetes restarts the pod: {exit}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("lost the leader Lease"), "{text}");
    assert_eq!(holder(&leases).await.as_deref(), Some("intruder"), "the replica did not take the lease back");
}
