//! Quiet at rest: drift checks that find the gateway as recorded write nothing (the object's
//! resourceVersion stays, so no watcher wakes), and a resource's own `spec.driftInterval` sets how
//! often its gateway is read, beside resources on the operator's default.

use std::time::Duration;

use kube::ResourceExt;
use natgw_sim::{
    ledger::now_unix_ms,
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};
use natgw_testkit::{Cluster, ready, sim_credentials, tencent_keys, tencent_spec};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sync_resources_write_nothing_and_are_read_at_their_own_interval() {
    let cluster = Cluster::start("at-rest").await;
    let mut credentials = sim_credentials("AKIDfast", "fast-key");
    credentials.extend(sim_credentials("AKIDslow", "slow-key"));
    let sim = TencentSim::start(TencentSimConfig {
        credentials,
        https_port: None,
        gateways: ["nat-fast", "nat-slow"].map(|id| SimGateway::new(id, "vpc-1", 1_000_000)).to_vec(),
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    // One account per resource, so that the simulator's request log tells their reads apart.
    cluster.create_secret("fast", tencent_keys("AKIDfast", "fast-key")).await;
    cluster.create_secret("slow", tencent_keys("AKIDslow", "slow-key")).await;
    let mut fast = tencent_spec("nat-fast", Some("V3"), "Small", "fast", Some(&sim.http_url));
    fast["driftInterval"] = "10s".into();
    cluster.create_natgw("fast", fast).await;
    cluster.create_natgw("slow", tencent_spec("nat-slow", Some("V3"), "Small", "slow", Some(&sim.http_url))).await;

    let log = cluster.path("operator.log");
    let args = [
        "--poll-interval",
        "300ms",
        "--drift-interval",
        "1h",
        "--leader-election=false",
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    let _operator = cluster.operator(&args, &[("NATGW_ALLOWED_ENDPOINTS", &sim.http_url)], &log);
    let _log = natgw_testkit::LogOnPanic(&log);
    let mut versions = Vec::new();
    for name in ["fast", "slow"] {
        versions.push(cluster.wait_for(name, WAIT, ready).await.resource_version());
    }
    // Past the first pass's own writes, then three of the fast resource's intervals.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let since = now_unix_ms();
    tokio::time::sleep(Duration::from_secs(32)).await;
    let reads = |key: &str| {
        let requests = sim.requests();
        let of = |r: &&natgw_sim::ledger::RequestRecord| {
            r.at_unix_ms >= since && r.action == "DescribeNatGateways" && r.key_id.as_deref() == Some(key)
        };
        requests.iter().filter(of).count()
    };
    let (fast_reads, slow_reads) = (reads("AKIDfast"), reads("AKIDslow"));
    println!("[at rest] in 32 s: {fast_reads} reads of the 10s gateway, {slow_reads} of the default (1h) one");
    assert!((3..=4).contains(&fast_reads), "driftInterval 10s: 3 reads in 32 s, got {fast_reads}");
    assert_eq!(slow_reads, 0, "the operator's 1h default: no read in 32 s");
    for (name, before) in ["fast", "slow"].into_iter().zip(versions) {
        let now = cluster.natgws().get(name).await.unwrap();
        assert!(ready(&now));
        assert_eq!(now.resource_version(), before, "{name}: drift checks that found nothing new wrote nothing");
    }
    assert!(sim.orders().is_empty());
}
