//! The operator against the cloud simulators on a real API server: the real clients, real
//! signatures, TLS with the simulators' CA, asynchronous orders — and exactly one order per change.

use std::{sync::Arc, time::Duration};

use natgw_operator::{
    api::{BillingMode, NatGateway, OrderAction, OrderPhase, Size},
    cloud::{self, connect::CloudConnector},
};
use natgw_sim::{
    huawei::{HuaweiSim, HuaweiSimConfig},
    server::SimTls,
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};
use natgw_testkit::{
    Cluster, huawei_gateway, huawei_https_config, ready, tencent_https_config, tencent_keys, tencent_spec,
};
use serde_json::json;

const TC_ID: &str = "AKIDe2etencent";
const TC_KEY: &str = "e2e-tencent-secret-key";
const HW_AK: &str = "HWAKE2E";
const HW_SK: &str = "e2e-huawei-secret-key";

fn order_phase(o: &NatGateway) -> Option<(OrderAction, OrderPhase, Option<String>)> {
    o.status.as_ref()?.order.as_ref().map(|o| (o.action, o.phase, o.id.clone().or(o.request_id.clone())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cloud_converges_with_one_order_per_change() {
    let cluster = Cluster::start("clouds").await;
    let tls = SimTls::generate(None).unwrap();
    let tencent = TencentSim::start(TencentSimConfig {
        gateways: vec![SimGateway::new("nat-v3", "vpc-1", 1_000_000), SimGateway::new("nat-v2", "vpc-1", 1_000_000)],
        ..tencent_https_config(TC_ID, TC_KEY, Duration::from_secs(2), &tls)
    })
    .await
    .unwrap();
    let huawei = HuaweiSim::start(HuaweiSimConfig {
        domain_id: Some("dom-e2e".into()),
        ..huawei_https_config(HW_AK, HW_SK, "proj-e2e", Duration::from_secs(2), &tls)
    })
    .await
    .unwrap();
    for id in ["hw-auto", "hw-manual"] {
        huawei.seed_gateway(huawei_gateway(id, "proj-e2e", "1"));
    }

    // The operator trusts the simulators' CA, as it would a private endpoint's.
    let http = cloud::http::client(Some(tls.ca_pem_path())).unwrap();
    let allowed =
        [tencent.http_url.as_str(), tencent.https_url.as_deref().unwrap(), huawei.https_url.as_deref().unwrap()];
    let connector = CloudConnector::new(http).with_endpoint_policy(natgw_testkit::allow_endpoints(&allowed));
    let operator = cluster.run_controller(Arc::new(connector), Duration::from_millis(400));

    cluster.create_secret("tencent", tencent_keys(TC_ID, TC_KEY)).await;
    cluster.create_secret("huawei", json!({"accessKey": HW_AK, "secretKey": HW_SK, "domainId": "dom-e2e"})).await;

    // Tencent API 3.0 over HTTP and API 2.0 over HTTPS, Small -> Medium.
    let tencent_https = tencent.https_url.clone().unwrap();
    for (name, id, api, endpoint) in
        [("tc-v3", "nat-v3", "V3", tencent.http_url.clone()), ("tc-v2", "nat-v2", "V2", tencent_https)]
    {
        cluster.create_natgw(name, tencent_spec(id, Some(api), "Medium", "tencent", Some(&endpoint))).await;
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
        json!({
            "gatewayId": id,
            "provider": {"huawei": {"region": "cn-north-4"}},
            "size": "Medium",
            "billing": {"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1, "autoPay": auto_pay}},
            "credentialsSecretRef": {"name": "huawei"},
            "endpoint": huawei.https_url.clone().unwrap(),
        })
    };
    cluster.create_natgw("hw-auto", huawei_spec("hw-auto", true)).await;
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
    cluster.create_natgw("hw-manual", huawei_spec("hw-manual", false)).await;
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
    // Then the resize of the now prepaid gateway: with autoPay false its order waits too.
    let resize = cluster
        .wait_for("hw-manual", Duration::from_secs(30), |o| {
            order_phase(o)
                .is_some_and(|(_, p, id)| p == OrderPhase::AwaitingPayment && id.is_some_and(|i| i != order_id))
        })
        .await;
    huawei.pay_order(&resize.status.unwrap().order.unwrap().id.unwrap()).unwrap();
    cluster.wait_for("hw-manual", Duration::from_secs(60), ready).await;
    let manual: Vec<_> = huawei.core().ledger.orders().into_iter().filter(|o| o.gateway_id == "hw-manual").collect();
    assert_eq!(manual.len(), 2, "one billing order (paid late) and one spec change: {manual:?}");

    operator.stop().await;
}
