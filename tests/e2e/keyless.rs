//! Keyless end to end: NatGateways whose only credentials are a ServiceAccount of their own
//! namespace, exchanged at the simulated Tencent STS, which verifies the token against this API
//! server's OIDC discovery and keys and maps the subject to the role only through its trust rule.

use crate::{federation::discovery, support};

use std::{sync::Arc, time::Duration};

use natgw_operator::{api::Size, cloud::connect::CloudConnector};
use natgw_sim::{
    federation::{FederationConfig, TrustRule},
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};
use serde_json::json;
use support::{Cluster, allow_endpoints, condition, ready};

const ROLE: &str = "qcs::cam::uin/100000000001:roleName/natgw";
const SA: &str = "natgw-cloud";
/// How long the simulated STS lets temporary credentials live: a few seconds, so they expire
/// between two changes of one test.
const LIFETIME: Duration = Duration::from_secs(8);

fn keyless_spec(gateway: &str, size: &str, endpoint: &str) -> serde_json::Value {
    json!({
        "gatewayId": gateway, "size": size, "endpoint": endpoint,
        "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-1"}},
        "workloadIdentity": {"serviceAccountName": SA, "tencent": {"providerId": "k8s-oidc", "roleArn": ROLE}},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_acts_with_its_own_role_only_and_expired_credentials_are_refreshed() {
    let a = Cluster::start("keyless-a").await;
    let b = Cluster::start("keyless-b").await;
    // Only team A's ServiceAccount may take the role, and only with the operator's audience.
    let sim = TencentSim::start(TencentSimConfig {
        https_port: None,
        change_time: Duration::from_millis(1500),
        gateways: ["nat-keyless-a", "nat-keyless-b"].map(|id| SimGateway::new(id, "vpc-1", 1_000_000)).into(),
        federation: FederationConfig {
            oidc: Some(discovery(&a)),
            trust_rules: vec![TrustRule {
                provider_id: "k8s-oidc".into(),
                role_arn: Some(ROLE.into()),
                audience: "natgw-operator".into(),
                subjects: vec![format!("system:serviceaccount:{}:{SA}", a.namespace)],
            }],
            max_credential_lifetime: Some(LIFETIME),
        },
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    let url = sim.http_url.clone();
    let connector =
        Arc::new(CloudConnector::new(reqwest::Client::new()).with_endpoint_policy(allow_endpoints(&[&url])));
    let controller_a = a.run_controller(connector.clone(), Duration::from_millis(300));
    let controller_b = b.run_controller(connector, Duration::from_millis(300));
    a.kubectl(&["create", "serviceaccount", SA]);
    b.kubectl(&["create", "serviceaccount", SA]);

    // Namespace A: Small -> Medium with temporary credentials, one order.
    a.create_natgw("gw", keyless_spec("nat-keyless-a", "Medium", &url)).await;
    let done = a.wait_for("gw", Duration::from_secs(60), ready).await;
    assert_eq!(done.status.unwrap().observed.unwrap().size, Some(Size::Medium));
    let orders = |id: &str| sim.orders().into_iter().filter(|o| o.gateway_id == id).collect::<Vec<_>>();
    let first = orders("nat-keyless-a");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].key_id.starts_with("AKID"), "ordered with the temporary key id, not a stored one");

    // Namespace B names A's role: the STS's trust rule refuses B's subject; no order.
    b.create_natgw("gw", keyless_spec("nat-keyless-b", "Medium", &url)).await;
    let stalled = b
        .wait_for("gw", Duration::from_secs(60), |o| {
            condition(o, "Stalled").is_some_and(|(s, r)| s == "True" && r == "IdentityNotTrusted")
        })
        .await;
    assert!(orders("nat-keyless-b").is_empty(), "no order for a namespace the role does not trust");

    // A's credentials expire; the next change is made with refreshed ones, and no call failed.
    tokio::time::sleep(LIFETIME + Duration::from_secs(1)).await;
    a.natgws()
        .patch("gw", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(json!({"spec": {"size": "Large"}})))
        .await
        .unwrap();
    let done = a.wait_for("gw", Duration::from_secs(60), |o| ready(o) && o.metadata.generation == Some(2)).await;
    assert_eq!(done.status.as_ref().unwrap().observed.as_ref().unwrap().size, Some(Size::Large));
    let both = orders("nat-keyless-a");
    assert_eq!(both.len(), 2, "{both:?}");
    assert_ne!(both[0].key_id, both[1].key_id, "the second order used refreshed credentials");
    let failed: Vec<_> =
        sim.requests().into_iter().filter(|r| r.action != "AssumeRoleWithWebIdentity" && r.outcome != "ok").collect();
    assert!(failed.is_empty(), "calls failed around the refresh: {failed:?}");

    // The ServiceAccount deleted: once its credentials expire, the next change stalls with the
    // reason and orders nothing; created again, the change goes through.
    a.kubectl(&["delete", "serviceaccount", SA]);
    tokio::time::sleep(LIFETIME + Duration::from_secs(1)).await;
    let small = json!({"spec": {"size": "Small"}});
    a.natgws().patch("gw", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(small)).await.unwrap();
    a.wait_for("gw", Duration::from_secs(60), |o| {
        condition(o, "Stalled").is_some_and(|(s, r)| s == "True" && r == "ServiceAccountNotFound")
    })
    .await;
    assert_eq!(orders("nat-keyless-a").len(), 2, "no order without credentials");
    a.kubectl(&["create", "serviceaccount", SA]);
    a.wait_for("gw", Duration::from_secs(60), |o| ready(o) && o.metadata.generation == Some(3)).await;
    assert_eq!(orders("nat-keyless-a").len(), 3);

    // No ServiceAccount token, temporary key or session token in status or Events.
    for (cluster, status) in
        [(&a, serde_json::to_string(&done.status).unwrap()), (&b, serde_json::to_string(&stalled.status).unwrap())]
    {
        let events = cluster.kubectl(&["get", "events", "-o", "json"]);
        for text in [status, events] {
            assert!(!text.contains("eyJ"), "a JWT leaked: {text}");
            for order in &both {
                assert!(!text.contains(&order.key_id), "a temporary key id leaked: {text}");
            }
        }
    }
    controller_a.stop().await;
    controller_b.stop().await;
}

/// Huawei: the ServiceAccount token federated at the simulated IAM (`X-Idp-Id`), temporary
/// AK/SK and security token for the project lookup, the billing order at BSS and the resize.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_federation_takes_a_gateway_to_prepaid_and_medium() {
    use natgw_sim::huawei::{HuaweiSim, HuaweiSimConfig, SimProject};
    let cluster = Cluster::start("keyless-hw").await;
    let sim = HuaweiSim::start(HuaweiSimConfig {
        projects: vec![SimProject { id: "proj-keyless".into(), name: "cn-north-4".into() }],
        change_time: Duration::from_millis(1500),
        order_time: Duration::from_millis(1500),
        federation: FederationConfig {
            oidc: Some(discovery(&cluster)),
            trust_rules: vec![TrustRule {
                provider_id: "k8s-idp".into(),
                role_arn: None,
                audience: "natgw-operator".into(),
                subjects: vec![format!("system:serviceaccount:{}:{SA}", cluster.namespace)],
            }],
            max_credential_lifetime: None,
        },
        ..HuaweiSimConfig::default()
    })
    .await
    .unwrap();
    sim.seed_gateway(support::huawei_gateway("hw-keyless", "proj-keyless", "1"));
    let url = sim.http_url.clone();
    let connector =
        Arc::new(CloudConnector::new(reqwest::Client::new()).with_endpoint_policy(allow_endpoints(&[&url])));
    let controller = cluster.run_controller(connector, Duration::from_millis(300));
    cluster.kubectl(&["create", "serviceaccount", SA]);
    cluster
        .create_natgw(
            "gw",
            json!({
                "gatewayId": "hw-keyless", "size": "Medium", "endpoint": url,
                "provider": {"huawei": {"region": "cn-north-4"}},
                "billing": {"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1, "autoPay": true}},
                "workloadIdentity": {"serviceAccountName": SA, "huawei": {"identityProviderId": "k8s-idp"}},
            }),
        )
        .await;
    let done = cluster.wait_for("gw", Duration::from_secs(60), ready).await;
    let observed = done.status.unwrap().observed.unwrap();
    assert_eq!(
        (observed.size, observed.billing_mode),
        (Some(Size::Medium), Some(natgw_operator::api::BillingMode::Prepaid))
    );
    let orders: Vec<String> = sim.core().ledger.orders().into_iter().map(|o| o.action).collect();
    assert_eq!(orders.len(), 2, "one billing order and one resize: {orders:?}");
    controller.stop().await;
}
