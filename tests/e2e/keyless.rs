//! Keyless end to end: NatGateways whose only credentials are a ServiceAccount of their own
//! namespace, exchanged at the simulated Tencent STS, which verifies the token against this API
//! server's OIDC discovery and keys and maps the subject to the role only through its trust rule.
//! The operator binary runs as a process of its own, so its log and /metrics are what a user's
//! would be: neither may show a token or a temporary credential.

use crate::federation::discovery;

use std::{path::Path, time::Duration};

use natgw_operator::api::Size;
use natgw_sim::{
    federation::{Federation, FederationConfig, TrustRule},
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};
use natgw_testkit::{Cluster, Operator, condition, free_port, ready, sample};
use serde_json::json;

const ROLE: &str = "qcs::cam::uin/100000000001:roleName/natgw";
const SA: &str = "natgw-cloud";
/// How long the simulated STS lets temporary credentials live: a few seconds, so they expire
/// between two changes of one test.
const LIFETIME: Duration = Duration::from_secs(8);

/// The operator binary for `cluster`'s namespace, reaching only `sim_url`, polling every 300 ms,
/// logging to `log`; and the base URL of its /metrics.
fn operator(cluster: &Cluster, sim_url: &str, log: &Path) -> (Operator, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let args = ["--metrics-addr", &addr, "--leader-election=false", "--poll-interval", "300ms"];
    let operator = cluster.operator(&args, &[("NATGW_ALLOWED_ENDPOINTS", sim_url)], log);
    (operator, format!("http://{addr}"))
}

async fn scrape(base: &str) -> String {
    reqwest::get(format!("{base}/metrics")).await.expect("/metrics answers").text().await.expect("metrics text")
}

/// `natgw_cloud_calls_total` of one exchange call.
fn exchange_calls(metrics: &str, provider: &str, action: &str, outcome: &str) -> f64 {
    sample(
        metrics,
        &format!("natgw_cloud_calls_total{{provider=\"{provider}\",action=\"{action}\",outcome=\"{outcome}\"}}"),
    )
}

/// What must never show: every token the simulated STS / IAM was shown (the ServiceAccount
/// JWTs) and each of their parts, and every federated token, temporary key id, secret and
/// session token it issued.
fn secrets_of(federation: &Federation) -> Vec<String> {
    let secrets = federation.secrets();
    assert!(secrets.len() >= 4, "a token shown and a key id, secret and token issued at least");
    let parts = secrets.iter().filter(|s| s.contains('.')).flat_map(|jwt| jwt.split('.')).filter(|p| p.len() >= 8);
    secrets.iter().map(String::as_str).chain(parts).map(str::to_owned).collect()
}

/// Fails, naming `place` and the line, when `text` holds any of `secrets` or anything that looks
/// like a JWT.
fn assert_no_secret(place: &str, text: &str, secrets: &[String]) {
    for line in text.lines() {
        assert!(!line.contains("eyJ"), "something like a JWT in {place}: {line}");
        for secret in secrets {
            assert!(!line.contains(secret.as_str()), "a secret of the exchange in {place}: {line}");
        }
    }
}

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
    let logs = [a.path("operator.log"), b.path("operator.log")];
    let (_operator_a, metrics_a) = operator(&a, &url, &logs[0]);
    let (_operator_b, metrics_b) = operator(&b, &url, &logs[1]);
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

    // Every exchange is counted: A's three (the first, after expiry, after the ServiceAccount came
    // back), and B's refused by the trust rule.
    let (text_a, text_b) = (scrape(&metrics_a).await, scrape(&metrics_b).await);
    let sts = |text: &str, outcome: &str| exchange_calls(text, "tencent/sts", "assume_role_with_web_identity", outcome);
    assert!(sts(&text_a, "ok") >= 3.0, "{text_a}");
    assert_eq!((sts(&text_b, "ok"), sts(&text_b, "auth") >= 1.0), (0.0, true), "{text_b}");

    // No ServiceAccount token, temporary key or session token in status, Events, logs or metrics.
    let secrets = secrets_of(sim.federation());
    for order in &both {
        assert!(secrets.contains(&order.key_id), "the simulator kept the key ids it issued");
    }
    for (cluster, status, log, metrics) in [
        (&a, serde_json::to_string(&done.status).unwrap(), &logs[0], text_a),
        (&b, serde_json::to_string(&stalled.status).unwrap(), &logs[1], text_b),
    ] {
        let log = std::fs::read_to_string(log).expect("operator log");
        assert!(log.contains("AssumeRoleWithWebIdentity"), "the log covers the exchange (debug level)");
        let events = cluster.kubectl(&["get", "events", "-o", "json"]);
        for (place, text) in
            [("status", &status), ("Events", &events), ("the operator log", &log), ("/metrics", &metrics)]
        {
            assert_no_secret(place, text, &secrets);
        }
    }
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
    sim.seed_gateway(natgw_testkit::huawei_gateway("hw-keyless", "proj-keyless", "1"));
    let url = sim.http_url.clone();
    let log = cluster.path("operator.log");
    let (_operator, metrics) = operator(&cluster, &url, &log);
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
    let observed = done.status.clone().unwrap().observed.unwrap();
    assert_eq!(
        (observed.size, observed.billing_mode),
        (Some(Size::Medium), Some(natgw_operator::api::BillingMode::Prepaid))
    );
    let orders: Vec<String> = sim.core().ledger.orders().into_iter().map(|o| o.action).collect();
    assert_eq!(orders.len(), 2, "one billing order and one resize: {orders:?}");

    // Both calls of the federation counted; no JWT, federated token or temporary AK/SK/security
    // token in status, Events, the log or the metrics.
    let text = scrape(&metrics).await;
    for action in ["create_token_with_id_token", "create_temporary_access_key_by_token"] {
        assert!(exchange_calls(&text, "huawei/iam", action, "ok") >= 1.0, "{action}:\n{text}");
    }
    let secrets = secrets_of(sim.federation());
    let status = serde_json::to_string(&done.status).unwrap();
    let events = cluster.kubectl(&["get", "events", "-o", "json"]);
    let log = std::fs::read_to_string(&log).expect("operator log");
    for (place, text) in [("status", &status), ("Events", &events), ("the operator log", &log), ("/metrics", &text)] {
        assert_no_secret(place, text, &secrets);
    }
}
