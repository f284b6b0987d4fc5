//! The cloud simulators as tests start them, and what tests ask of them.

use std::{sync::Arc, time::Duration};

use natgw_operator::cloud::endpoints::EndpointPolicy;
use natgw_sim::{
    core::SimCredential,
    huawei::{HuaweiSim, HuaweiSimConfig, SimProject},
    server::SimTls,
    tencent::{SimGateway, TencentSim, TencentSimConfig, TencentSimHandle},
};
use serde_json::json;

use crate::{cluster::Cluster, objects::tencent_keys};

/// The simulators' credential list for one key pair.
pub fn sim_credentials(key_id: &str, secret: &str) -> Vec<SimCredential> {
    vec![SimCredential { key_id: key_id.into(), secret: secret.into(), token: None }]
}

/// A Tencent simulator over plain HTTP that accepts `key_id`/`secret`, takes `change_time` per
/// change and holds one Small gateway (1,000,000 connections) `gateway` in vpc-1.
pub async fn tencent_sim(key_id: &str, secret: &str, change_time: Duration, gateway: &str) -> TencentSimHandle {
    TencentSim::start(TencentSimConfig {
        credentials: sim_credentials(key_id, secret),
        change_time,
        https_port: None,
        gateways: vec![SimGateway::new(gateway, "vpc-1", 1_000_000)],
        ..TencentSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A Tencent simulator's configuration with HTTP and HTTPS (any port, certificates from `tls`),
/// accepting `key_id`/`secret` and taking `change_time` per change; no gateways yet.
pub fn tencent_https_config(key_id: &str, secret: &str, change_time: Duration, tls: &Arc<SimTls>) -> TencentSimConfig {
    TencentSimConfig {
        credentials: sim_credentials(key_id, secret),
        change_time,
        https_port: Some(0),
        tls: Some(tls.clone()),
        ..TencentSimConfig::default()
    }
}

/// A Huawei simulator's configuration over HTTPS (certificates from `tls`), accepting `ak`/`sk`,
/// with project `project` for region cn-north-4; changes and orders take `change_time` each.
pub fn huawei_https_config(
    ak: &str,
    sk: &str,
    project: &str,
    change_time: Duration,
    tls: &Arc<SimTls>,
) -> HuaweiSimConfig {
    HuaweiSimConfig {
        credentials: sim_credentials(ak, sk),
        projects: vec![SimProject { id: project.into(), name: "cn-north-4".into() }],
        change_time,
        order_time: change_time,
        tls: Some(tls.clone()),
        ..HuaweiSimConfig::default()
    }
}

/// The installer's endpoint allow-list in tests: exactly `urls` (simulators, on loopback over HTTP
/// or HTTPS) on top of the clouds' documented endpoints, tokens and API 2.0 allowed over HTTP too
/// (`--allow-http-credentials`). For the binary, pass the same list as `NATGW_ALLOWED_ENDPOINTS`
/// (comma-separated) to [`Operator::start`].
pub fn allow_endpoints(urls: &[&str]) -> EndpointPolicy {
    let urls: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
    EndpointPolicy::new(&urls, true, true).expect("simulator URLs are valid endpoints").with_http_credentials(true)
}

/// Both simulators over HTTPS (one generated CA), changes and orders taking 1.5 s, and the
/// Secrets `tencent` and `huawei` with their keys in the cluster's namespace.
pub struct Clouds {
    pub tls: Arc<SimTls>,
    pub tencent: TencentSimHandle,
    pub huawei: HuaweiSim,
}

impl Clouds {
    /// `tencent` and `huawei` are (key id, secret) pairs; Huawei's project `project` is in
    /// cn-north-4.
    pub async fn start(cluster: &Cluster, tencent: (&str, &str), huawei: (&str, &str), project: &str) -> Clouds {
        let tls = SimTls::generate(None).unwrap();
        let change_time = Duration::from_millis(1500);
        let tc = TencentSim::start(tencent_https_config(tencent.0, tencent.1, change_time, &tls)).await.unwrap();
        let hw = HuaweiSim::start(huawei_https_config(huawei.0, huawei.1, project, change_time, &tls)).await.unwrap();
        Clouds::create_secrets(cluster, tencent, huawei).await;
        Clouds { tls, tencent: tc, huawei: hw }
    }

    /// The Secrets `tencent` and `huawei` with these keys in `cluster`'s namespace (for a second
    /// cluster that reaches the same clouds).
    pub async fn create_secrets(cluster: &Cluster, tencent: (&str, &str), huawei: (&str, &str)) {
        cluster.create_secret("tencent", tencent_keys(tencent.0, tencent.1)).await;
        cluster.create_secret("huawei", json!({"accessKey": huawei.0, "secretKey": huawei.1})).await;
    }

    /// Both simulators' URLs, as `NATGW_ALLOWED_ENDPOINTS` takes them.
    pub fn allowed_endpoints(&self) -> String {
        let urls =
            [&self.tencent.http_url, self.tencent.https_url.as_ref().unwrap(), self.huawei.https_url.as_ref().unwrap()];
        urls.map(String::as_str).join(",")
    }

    /// Orders either simulator's ledger holds for `gateway`.
    pub fn orders(&self, gateway: &str) -> usize {
        let tc = self.tencent.orders().into_iter().filter(|o| o.gateway_id == gateway).count();
        let hw = self.huawei.core().ledger.orders().into_iter().filter(|o| o.gateway_id == gateway).count();
        tc + hw
    }
}

/// Pays Huawei order `order_id` as its owner would: a `PayOrders` call (BSS, signed with
/// `ak`/`sk`) to the simulator at `endpoint`; panics unless BSS answers 204.
pub async fn huawei_pay_order(endpoint: &str, ak: &str, sk: &str, order_id: &str) {
    use natgw_operator::cloud::huawei::sign;
    let url = reqwest::Url::parse(&format!("{endpoint}/v3/orders/customer-orders/pay")).unwrap();
    let body = json!({"order_id": order_id, "use_coupon": "NO", "use_discount": "NO"}).to_string();
    let headers = vec![
        ("Host".to_owned(), format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())),
        ("X-Sdk-Date".to_owned(), sign::format_date(k8s_openapi::jiff::Timestamp::now())),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let request =
        sign::SignedRequest { method: "POST", path: url.path(), query: &[], headers: &headers, body: body.as_bytes() };
    let mut call = reqwest::Client::new()
        .post(url.clone())
        .header("Authorization", sign::authorization(&request, ak, sk).unwrap());
    for (name, value) in headers.iter().filter(|(n, _)| n != "Host") {
        call = call.header(name, value);
    }
    let response = call.body(body).send().await.expect("PayOrders is answered");
    assert_eq!(response.status(), 204, "PayOrders {order_id}: {}", response.text().await.unwrap_or_default());
}
