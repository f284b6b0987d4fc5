//! The operator against the cloud simulators on a real API server: the real clients, real
//! signatures, TLS with the simulators' CA, asynchronous orders — and exactly one order per change.

mod support;

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use natgw_operator::{
    api::{BillingMode, NatGateway, OrderAction, OrderPhase, Size},
    cloud::{self, connect::CloudConnector},
    controller,
    sim::{
        core::SimCredential,
        huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway, SimProject},
        server::SimTls,
        tencent::{SimGateway, TencentSim, TencentSimConfig},
    },
};
use support::Cluster;

const TC_ID: &str = "AKIDe2etencent";
const TC_KEY: &str = "e2e-tencent-secret-key";
const HW_AK: &str = "HWAKE2E";
const HW_SK: &str = "e2e-huawei-secret-key";

fn secret(name: &str, data: serde_json::Value) -> Secret {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "stringData": data})).unwrap()
}

fn natgw(name: &str, spec: serde_json::Value) -> NatGateway {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway", "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

fn ready(o: &NatGateway) -> bool {
    o.status.as_ref().is_some_and(|s| {
        s.observed_generation == o.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn order_phase(o: &NatGateway) -> Option<(OrderAction, OrderPhase, Option<String>)> {
    o.status.as_ref()?.order.as_ref().map(|o| (o.action, o.phase, o.id.clone().or(o.request_id.clone())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cloud_converges_with_one_order_per_change() {
    let cluster = Cluster::start("clouds").await;
    let tls = SimTls::generate(None).unwrap();
    let tencent = TencentSim::start(TencentSimConfig {
        credentials: vec![SimCredential { key_id: TC_ID.into(), secret: TC_KEY.into(), token: None }],
        change_time: Duration::from_secs(2),
        https_port: Some(0),
        tls: Some(tls.clone()),
        gateways: vec![SimGateway::new("nat-v3", "vpc-1", 1_000_000), SimGateway::new("nat-v2", "vpc-1", 1_000_000)],
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    let huawei = HuaweiSim::start(HuaweiSimConfig {
        credentials: vec![SimCredential { key_id: HW_AK.into(), secret: HW_SK.into(), token: None }],
        projects: vec![SimProject { id: "proj-e2e".into(), name: "cn-north-4".into() }],
        domain_id: Some("dom-e2e".into()),
        change_time: Duration::from_secs(2),
        order_time: Duration::from_secs(2),
        tls: Some(tls.clone()),
        ..HuaweiSimConfig::default()
    })
    .await
    .unwrap();
    for id in ["hw-auto", "hw-manual"] {
        huawei.seed_gateway(SeedGateway {
            id: id.into(),
            project_id: "proj-e2e".into(),
            spec: "1".into(),
            status: "ACTIVE".into(),
            billing: BillingMode::PayPerUse,
            admin_state_up: true,
        });
    }

    // The operator trusts the simulators' CA, as it would a private endpoint's.
    let http = cloud::http::client(Some(tls.ca_pem_path())).unwrap();
    let config = controller::Config { poll_interval: Duration::from_millis(400), ..Default::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator =
        tokio::spawn(controller::run(cluster.client.clone(), Arc::new(CloudConnector::new(http)), config, async {
            let _ = stopped.await;
        }));

    let secrets = kube::Api::<Secret>::namespaced(cluster.client.clone(), &cluster.namespace);
    let pp = PostParams::default();
    secrets.create(&pp, &secret("tencent", serde_json::json!({"secretId": TC_ID, "secretKey": TC_KEY}))).await.unwrap();
    secrets
        .create(
            &pp,
            &secret("huawei", serde_json::json!({"accessKey": HW_AK, "secretKey": HW_SK, "domainId": "dom-e2e"})),
        )
        .await
        .unwrap();

    // Tencent API 3.0 over HTTP and API 2.0 over HTTPS, Small -> Medium.
    let tencent_https = tencent.https_url.clone().unwrap();
    for (name, id, api, endpoint) in
        [("tc-v3", "nat-v3", "V3", tencent.http_url.clone()), ("tc-v2", "nat-v2", "V2", tencent_https)]
    {
        let spec = serde_json::json!({
            "gatewayId": id,
            "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-1", "api": api}},
            "size": "Medium",
            "credentialsSecretRef": {"name": "tencent"},
            "endpoint": endpoint,
        });
        cluster.natgws().create(&pp, &natgw(name, spec)).await.unwrap();
        let running = cluster
            .wait_for(name, Duration::from_secs(30), |o| {
                order_phase(o).is_some_and(|(_, p, id)| p == OrderPhase::InProgress && id.is_some())
            })
            .await;
        println!("{name}: order while running: {:?}", running.status.unwrap().order);
        let done = cluster.wait_for(name, Duration::from_secs(60), ready).await;
        let status = done.status.unwrap();
        assert_eq!(status.observed.unwrap().size, Some(Size::Medium), "{name}");
        assert_eq!(status.last_order.unwrap().phase, OrderPhase::Succeeded, "{name}");
        let orders: Vec<_> = tencent.orders().into_iter().filter(|o| o.gateway_id == id).collect();
        assert_eq!(orders.len(), 1, "{name}: exactly one order: {orders:?}");
    }
    // API 2.0's order is the billId, polled with QueryNatGatewayProductionStatus.
    assert!(tencent.requests().iter().any(|r| r.action == "QueryNatGatewayProductionStatus"));

    // Huawei: PayPerUse + Small -> Prepaid 1 month + Medium, billing first; the project id is
    // looked up from the region.
    let huawei_spec = |id: &str, auto_pay: bool| {
        serde_json::json!({
            "gatewayId": id,
            "provider": {"huawei": {"region": "cn-north-4"}},
            "size": "Medium",
            "billing": {"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1, "autoPay": auto_pay}},
            "credentialsSecretRef": {"name": "huawei"},
            "endpoint": huawei.https_url.clone().unwrap(),
        })
    };
    cluster.natgws().create(&pp, &natgw("hw-auto", huawei_spec("hw-auto", true))).await.unwrap();
    let billing = cluster
        .wait_for("hw-auto", Duration::from_secs(30), |o| {
            order_phase(o).is_some_and(|(a, p, id)| {
                a == OrderAction::ChangeBilling && p == OrderPhase::InProgress && id.is_some()
            })
        })
        .await;
    println!("hw-auto: billing order while running: {:?}", billing.status.unwrap().order);
    let done = cluster.wait_for("hw-auto", Duration::from_secs(60), ready).await;
    let observed = done.status.unwrap().observed.unwrap();
    assert_eq!((observed.size, observed.billing_mode), (Some(Size::Medium), Some(BillingMode::Prepaid)));
    let actions: Vec<String> =
        huawei.core().ledger.orders().into_iter().filter(|o| o.gateway_id == "hw-auto").map(|o| o.action).collect();
    assert_eq!(actions.len(), 2, "one billing order, then one spec change: {actions:?}");
    assert!(actions[0].contains("Period"), "billing first: {actions:?}");
    assert!(actions[1].contains("UpdateNatGateway"), "then the spec: {actions:?}");

    // autoPay: false stops at AwaitingPayment with the order id, and goes on once paid.
    cluster.natgws().create(&pp, &natgw("hw-manual", huawei_spec("hw-manual", false))).await.unwrap();
    let waiting = cluster
        .wait_for("hw-manual", Duration::from_secs(30), |o| {
            order_phase(o).is_some_and(|(_, p, id)| p == OrderPhase::AwaitingPayment && id.is_some())
        })
        .await;
    let order_id = waiting.status.as_ref().unwrap().order.as_ref().unwrap().id.clone().unwrap();
    let reconciling = waiting.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Reconciling").unwrap();
    assert_eq!((reconciling.status.as_str(), reconciling.reason.as_str()), ("True", "AwaitingPayment"));
    assert!(reconciling.message.contains(&order_id), "{}", reconciling.message);
    let table = cluster.kubectl(&["get", "natgw", "hw-manual"]);
    assert!(table.contains("AwaitingPayment"), "{table}");
    // It keeps waiting (no timeout, no second order) until someone pays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(huawei.core().ledger.orders().iter().filter(|o| o.gateway_id == "hw-manual").count(), 1);
    huawei.pay_order(&order_id).unwrap();
    cluster.wait_for("hw-manual", Duration::from_secs(60), ready).await;
    let manual: Vec<_> = huawei.core().ledger.orders().into_iter().filter(|o| o.gateway_id == "hw-manual").collect();
    assert_eq!(manual.len(), 2, "one billing order (paid late) and one spec change: {manual:?}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), operator).await.expect("the controller stops").unwrap().unwrap();
}
