//! A restarted operator re-reads its fleet at the cost of one sweep and writes nothing for
//! objects that did not change.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use kube::{ResourceExt, api::ListParams};
use natgw_operator::{cloud::connect::CloudConnector, controller};
use natgw_sim::{
    ledger::now_unix_ms,
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};

use natgw_testkit::{Cluster, ready, sim_credentials, tencent_keys, tencent_spec};

const GATEWAYS: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_the_fleet_in_one_sweep_and_writes_nothing() {
    let cluster = Cluster::start("restart").await;
    let ids: Vec<String> = (0..GATEWAYS).map(|i| format!("nat-r{i:03}")).collect();
    let sim = TencentSim::start(TencentSimConfig {
        credentials: sim_credentials("AKIDrestart", "restart-key"),
        https_port: None,
        gateways: ids.iter().map(|id| SimGateway::new(id, "vpc-1", 1_000_000)).collect(),
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    // As `natgw-operator run` builds it: sweeps up to 3/4 of the drift interval old.
    let drift = Duration::from_secs(30);
    let operator = || {
        let connector = CloudConnector::new(reqwest::Client::new())
            .with_endpoint_policy(natgw_testkit::allow_endpoints(&[&sim.http_url]))
            .with_sweeps(drift.mul_f64(0.75));
        let config = controller::Config {
            drift_interval: drift,
            concurrency: 64,
            claim_settle: natgw_testkit::CLAIM_SETTLE,
            ..Default::default()
        };
        cluster.run_controller_with(Arc::new(connector), config)
    };
    cluster.create_secret("creds", tencent_keys("AKIDrestart", "restart-key")).await;
    let first = operator();
    for (i, id) in ids.iter().enumerate() {
        cluster
            .create_natgw(&format!("gw-{i:03}"), tencent_spec(id, None, "Small", "creds", Some(&sim.http_url)))
            .await;
    }
    let versions = || async {
        let list = cluster.natgws().list(&ListParams::default()).await.unwrap();
        assert!(list.items.iter().all(ready), "every object is Ready");
        list.items.iter().map(|o| (o.name_any(), o.resource_version().unwrap())).collect::<BTreeMap<_, _>>()
    };
    for i in 0..GATEWAYS {
        cluster.wait_for(&format!("gw-{i:03}"), Duration::from_secs(60), ready).await;
    }
    // And claimed: a claim at rest may come a little after Ready (the Tag API's rate limit), and
    // a claim still to write reads its gateway afresh, which this test does not count.
    let claimed = || async {
        ids.iter().all(|id| sim.tags(id).contains_key(natgw_operator::cloud::claim::TAG_KEY)).then_some(())
    };
    natgw_testkit::eventually(Duration::from_secs(60), "every gateway is claimed", claimed).await;
    first.stop().await;
    // Past half the drift interval: a restart that rewrote every `checkedAt` older than that
    // would write them all.
    tokio::time::sleep(drift / 2 + Duration::from_secs(1)).await;
    let before = versions().await;

    let restarted_ms = now_unix_ms();
    let second = operator();
    let all_read_again = async {
        loop {
            let seen = sim.last_seen();
            if ids.iter().all(|id| seen.get(id).is_some_and(|at| *at >= restarted_ms)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all_read_again).await.expect("every gateway is read again");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let describes: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.at_unix_ms >= restarted_ms && r.action == "DescribeNatGateways")
        .map(|r| (r.at_unix_ms - restarted_ms, r.outcome))
        .collect();
    assert_eq!(
        describes.len(),
        GATEWAYS.div_ceil(100),
        "one sweep of 100 ids per call reads the whole fleet; calls (ms after the restart, outcome): {describes:?}"
    );
    let after = versions().await;
    let written = before.iter().filter(|(name, version)| after.get(*name) != Some(version)).count();
    assert_eq!(written, 0, "nothing changed, so nothing was written");
    second.stop().await;
}
