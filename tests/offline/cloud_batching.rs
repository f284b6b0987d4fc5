//! Batched reads and the per-account rate limiter, through the real clients and the simulators
//! (counting calls in the simulators' request logs).

use std::{collections::HashMap, sync::Arc, time::Duration};

use natgw_operator::{
    api::{BillingMode, NatGatewaySpec, ProviderSpec},
    cloud::{
        Capacity, Connector, Credentials, ErrorKind, GatewayRef, Provider, SecretValue,
        connect::CloudConnector,
        endpoints::EndpointPolicy,
        huawei::HuaweiProvider,
        tencent::{TencentApi, TencentProvider},
    },
};
use natgw_sim::{
    core::SimCredential,
    huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway},
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};
use serde_json::json;

fn creds(id: &str, key: &str) -> Credentials {
    Credentials { key_id: id.into(), secret: SecretValue::new(key), session_token: None, domain_id: None }
}

/// A connector that may reach the simulator at `url` (plain HTTP on loopback, API 2.0 included).
fn connector(url: &str) -> CloudConnector {
    let allowed = EndpointPolicy::new(&[url.to_owned()], true, true).unwrap().with_http_credentials(true);
    CloudConnector::new(reqwest::Client::new()).with_endpoint_policy(allowed)
}

fn spec(value: serde_json::Value) -> NatGatewaySpec {
    serde_json::from_value(value).unwrap()
}

/// A Tencent gateway, or with a project a Huawei one.
fn gw(id: String, project: Option<&str>) -> GatewayRef {
    let place = match project {
        None => ProviderSpec::Tencent(TencentProvider {
            region: "r".into(),
            vpc_id: Some("vpc-1".into()),
            api: TencentApi::V3,
        }),
        Some(p) => ProviderSpec::Huawei(Box::new(HuaweiProvider {
            region: "r".into(),
            project_id: Some(p.to_owned()),
            bss_endpoint: None,
        })),
    };
    GatewayRef { id, place }
}

async fn describe_all(provider: Arc<dyn Provider>, ids: Vec<GatewayRef>) -> Vec<Result<Capacity, ErrorKind>> {
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|g| {
            let p = provider.clone();
            tokio::spawn(async move { p.describe(&g).await.map(|o| o.capacity).map_err(|e| e.kind) })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn tencent(api: &str, n: usize) -> (natgw_sim::tencent::TencentSimHandle, Arc<dyn Provider>) {
    let sim = TencentSim::start(TencentSimConfig {
        https_port: None,
        credentials: vec![SimCredential { key_id: "AKIDb".into(), secret: "kb".into(), token: None }],
        gateways: (0..n).map(|i| SimGateway::new(&format!("nat-{i:04}"), "vpc-1", 1_000_000)).collect(),
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    let spec = spec(json!({
        "gatewayId": "nat-0000",
        "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-1", "api": api}},
        "size": "Small",
        "credentialsSecretRef": {"name": "c"},
        "endpoint": sim.http_url,
    }));
    let provider = connector(&sim.http_url).connect(&spec, creds("AKIDb", "kb")).unwrap();
    (sim, provider)
}

fn calls(sim: &natgw_sim::tencent::TencentSimHandle, action: &str) -> usize {
    sim.requests().iter().filter(|r| r.action == action).count()
}

#[tokio::test]
async fn concurrent_v3_describes_take_ceil_n_over_100_calls() {
    let (sim, provider) = tencent("V3", 250).await;
    let mut ids: Vec<GatewayRef> = (0..250).map(|i| gw(format!("nat-{i:04}"), None)).collect();
    ids.push(gw("nat-missing".into(), None));
    let answers = describe_all(provider, ids).await;
    assert!(answers[..250].iter().all(|a| *a == Ok(Capacity::Connections(1_000_000))));
    assert_eq!(answers[250], Err(ErrorKind::NotFound));
    // 251 distinct ids: ceil(251 / 100) = 3.
    assert_eq!(calls(&sim, "DescribeNatGateways"), 3, "{:?}", sim.requests());
    assert!(sim.requests().iter().all(|r| r.outcome == "ok"));
}

#[tokio::test]
async fn concurrent_v2_describes_page_through_the_region() {
    let (sim, provider) = tencent("V2", 120).await;
    let ids: Vec<GatewayRef> = (0..120).step_by(2).map(|i| gw(format!("nat-{i:04}"), None)).collect();
    let answers = describe_all(provider.clone(), ids).await;
    assert!(answers.iter().all(Result::is_ok));
    // 60 wanted among 120: three pages of 50, not 60 calls.
    assert_eq!(calls(&sim, "DescribeNatGateway"), 3, "{:?}", sim.requests());
    // A lone read asks by id.
    describe_all(provider, vec![gw("nat-0001".into(), None)]).await;
    assert_eq!(calls(&sim, "DescribeNatGateway"), 4);
}

/// A Huawei simulator that knows key `key_id` (secret `kb`) and ACTIVE gateways `hw-000`, ... in
/// the given projects, with billing; and a spec of `hw-000` in project `p1` to connect with.
async fn huawei(
    key_id: &str,
    gateways: impl Iterator<Item = (&'static str, BillingMode)>,
) -> (HuaweiSim, NatGatewaySpec) {
    let sim = HuaweiSim::start(HuaweiSimConfig {
        credentials: vec![SimCredential { key_id: key_id.into(), secret: "kb".into(), token: None }],
        ..HuaweiSimConfig::default()
    })
    .await
    .unwrap();
    for (i, (project, billing)) in gateways.enumerate() {
        let (id, project_id, spec) = (format!("hw-{i:03}"), project.into(), "2".into());
        sim.seed_gateway(SeedGateway { id, project_id, spec, status: "ACTIVE".into(), billing, admin_state_up: true });
    }
    let spec = spec(json!({
        "gatewayId": "hw-000",
        "provider": {"huawei": {"region": "cn-north-4", "projectId": "p1"}},
        "size": "Medium",
        "credentialsSecretRef": {"name": "c"},
        "endpoint": sim.http_url,
    }));
    (sim, spec)
}

#[tokio::test]
async fn concurrent_huawei_describes_share_one_list_call() {
    let projects = (0..80).map(|i| (if i < 60 { "p1" } else { "p2" }, BillingMode::PayPerUse));
    let (sim, spec) = huawei("HWB", projects).await;
    let provider = connector(&sim.http_url).connect(&spec, creds("HWB", "kb")).unwrap();
    let mut ids: Vec<GatewayRef> = (0..60).map(|i| gw(format!("hw-{i:03}"), Some("p1"))).collect();
    ids.push(gw("hw-070".into(), Some("p1"))); // in another project: not found in p1
    ids.extend((60..80).map(|i| gw(format!("hw-{i:03}"), Some("p2"))));
    let answers = describe_all(provider, ids).await;
    assert!(answers[..60].iter().all(|a| *a == Ok(Capacity::Spec("2".into()))));
    assert_eq!(answers[60], Err(ErrorKind::NotFound));
    assert!(answers[61..].iter().all(Result::is_ok));
    let requests = sim.core().ledger.requests();
    let by = |a: &str| requests.iter().filter(|r| r.action == a).count();
    assert_eq!((by("ListNatGateways"), by("ShowNatGateway")), (2, 0), "{requests:?}");
    assert!(requests.iter().all(|r| r.outcome == "ok"), "{requests:?}");
}

#[tokio::test]
async fn resizes_wait_for_the_limiter_instead_of_being_throttled() {
    let (sim, _) = tencent("V3", 0).await;
    for i in 0..45 {
        sim.seed_gateway(SimGateway::new(&format!("nat-r{i:02}"), "vpc-1", 1_000_000));
    }
    // A connector with a lower limit than the cloud's (20/s): nothing may be refused.
    let spec = spec(json!({
        "gatewayId": "nat-r00",
        "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-1", "api": "V3"}},
        "size": "Small",
        "credentialsSecretRef": {"name": "c"},
        "endpoint": sim.http_url,
    }));
    let connector =
        connector(&sim.http_url).with_rate_limits(HashMap::from([("ResetNatGatewayConnection".to_owned(), 15.0)]));
    // Two clients of one account (two regions) share its limiter.
    let a = connector.connect(&spec, creds("AKIDb", "kb")).unwrap();
    let mut other = spec.clone();
    if let natgw_operator::api::ProviderSpec::Tencent(t) = &mut other.provider {
        t.region = "ap-shanghai".into();
    }
    let b = connector.connect(&other, creds("AKIDb", "kb")).unwrap();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..45)
        .map(|i| {
            let p = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                p.resize(&gw(format!("nat-r{i:02}"), None), &Capacity::Connections(3_000_000), true).await.map(|_| ())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let resets: Vec<_> = sim.requests().into_iter().filter(|r| r.action == "ResetNatGatewayConnection").collect();
    assert_eq!(resets.len(), 45);
    assert!(resets.iter().all(|r| r.outcome == "ok"), "{resets:?}");
    // 45 calls at 15/s after a burst of 3 cannot finish in under 2.8 s (a lower bound only).
    assert!(started.elapsed() >= Duration::from_millis(2700), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_describes_all_complete() {
    let (sim, provider) = tencent("V3", 1000).await;
    let tasks: Vec<_> = (0..1500)
        .map(|t| {
            let p = provider.clone();
            tokio::spawn(async move {
                for round in 0..5 {
                    let id = format!("nat-{:04}", (t * 7 + round * 13) % 1000);
                    p.describe(&gw(id, None)).await.unwrap();
                    tokio::time::sleep(Duration::from_millis((t % 17) as u64)).await;
                }
            })
        })
        .collect();
    let all = futures::future::join_all(tasks);
    tokio::time::timeout(Duration::from_secs(120), all).await.expect("every describe completes");
    let calls = sim.requests().iter().filter(|r| r.action == "DescribeNatGateways").count();
    assert!(calls < 7500 / 10, "{calls} calls for 7500 describes");
}

/// A Huawei sweep at rest reads the NAT pages and one more page: the claims and the
/// yearly/monthly subscriptions in turn, each taken over from the last sweep in between. The
/// first sweep reads both, and a read that a change is decided on reads everything anew.
#[tokio::test]
async fn huawei_sweeps_at_rest_read_claims_and_subscriptions_in_turn() {
    let billing = |i| if i % 3 == 0 { BillingMode::Prepaid } else { BillingMode::PayPerUse };
    let (sim, spec) = huawei("HWS", (0..30).map(|i| ("p1", billing(i)))).await;
    const KEY: &str = natgw_operator::cloud::claim::TAG_KEY;
    let claim = |id: &str, value: Option<&str>| sim.edit_tags(id, vec![(KEY.to_owned(), value.map(str::to_owned))]);
    claim("hw-001", Some("blue_team-a_gw-1"));
    let max_age = Duration::from_millis(400);
    let provider = connector(&sim.http_url).with_sweeps(max_age).connect(&spec, creds("HWS", "kb")).unwrap();
    let ids: Vec<GatewayRef> = (0..30).map(|i| gw(format!("hw-{i:03}"), Some("p1"))).collect();
    // The requests since the last look.
    let seen = std::cell::Cell::new(0);
    let since = || {
        let all = sim.core().ledger.requests();
        all[seen.replace(all.len())..].iter().map(|r| r.action.clone()).collect::<Vec<_>>()
    };
    let sweep = || async {
        let tasks = ids.iter().cloned().map(|g| {
            let p = provider.clone();
            tokio::spawn(async move { p.describe(&g).await.unwrap() })
        });
        let observed = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect::<Vec<_>>();
        let requests = since();
        let by = |a: &str| requests.iter().filter(|r| *r == a).count();
        let calls = [by("ListNatGateways"), by("ListPayPerUseCustomerResources"), by("ListNatGatewayByTag")];
        (observed, calls)
    };
    let held = |o: &natgw_operator::cloud::Observed| format!("{:?}", o.claim);
    let (first, calls) = sweep().await;
    assert_eq!(calls, [1, 1, 1], "the first sweep reads every fact");
    assert!(first[0].subscription.is_some() && first[1].subscription.is_none());
    assert!(held(&first[1]).contains("blue_team-a_gw-1"), "{}", held(&first[1]));

    // The claim changes in the console; two sweeps at rest, each past the sweep's age.
    claim("hw-001", None);
    let mut slow = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(max_age).await;
        let (observed, calls) = sweep().await;
        assert_eq!(calls[0], 1, "the NAT page every sweep");
        assert_eq!(calls[1] + calls[2], 1, "and one more page: {calls:?}");
        assert!(observed.iter().zip(&first).all(|(o, f)| o.subscription == f.subscription));
        slow.push((calls[2] == 1, held(&observed[1])));
    }
    // The claims were read by one of the two sweeps: the other took the last answer over.
    slow.sort();
    assert_eq!(slow[0], (false, held(&first[1])), "taken over: {slow:?}");
    assert_eq!(slow[1], (true, "Free".to_owned()), "read: {slow:?}");

    // Before a change: everything read anew, whatever the last sweep knew.
    claim("hw-000", Some("green_team-b_gw-2"));
    let fresh = provider.describe_fresh(&ids[0]).await.unwrap();
    assert!(held(&fresh).contains("green_team-b_gw-2"), "{}", held(&fresh));
    let mut actions = since();
    actions.sort();
    assert_eq!(actions, ["ListPayPerUseCustomerResources", "ShowNatGateway", "ShowNatGatewayTag"]);
}
