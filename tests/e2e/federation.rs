//! The simulated STS and IAM federation with the official SDKs (tests/conformance/federation.rs)
//! and real ServiceAccount tokens of this API server, from the TokenRequest API (`kubectl create
//! token --audience`); the simulators read the API server's own OIDC discovery and key set.

use base64::Engine as _;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use natgw_sim::oidc::OidcConfig;
use natgw_testkit::Cluster;
use serde_json::{Value, json};

use crate::federation_conformance::{self as conformance, HUAWEI_AUDIENCE, TENCENT_AUDIENCE, Tokens};

/// How the simulators read this API server's discovery: its own address, CA and admin token,
/// from the kubeconfig the test environment wrote.
pub(crate) fn discovery(cluster: &Cluster) -> OidcConfig {
    let text = std::fs::read_to_string(&cluster.env.kubeconfig).expect("kubeconfig readable");
    let kubeconfig: Value = serde_yaml::from_str(&text).expect("kubeconfig is YAML");
    let ca = kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"].as_str().expect("CA in kubeconfig");
    let ca = base64::engine::general_purpose::STANDARD.decode(ca).expect("CA is base64");
    OidcConfig {
        discovery_url: cluster.env.server.clone(),
        ca_pem: Some(String::from_utf8(ca).expect("CA is PEM")),
        bearer_token: kubeconfig["users"][0]["user"]["token"].as_str().map(str::to_owned),
    }
}

/// Creates ServiceAccounts `workload` and `other` in the test's namespace; returns their tokens
/// for `audience` (and `workload`'s for another audience) and `workload`'s subject.
async fn tokens(cluster: &Cluster, audience: &str) -> (Tokens, String) {
    let accounts = Api::<ServiceAccount>::namespaced(cluster.client.clone(), &cluster.namespace);
    for name in ["workload", "other"] {
        let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        accounts.create(&PostParams::default(), &sa).await.expect("service account created");
    }
    let token = |name: &str, audience: &str| {
        cluster.kubectl(&["create", "token", name, "--audience", audience, "--duration", "10m"]).trim().to_owned()
    };
    let tokens = Tokens {
        workload: token("workload", audience),
        other: token("other", audience),
        wrong_audience: token("workload", "someone-else"),
    };
    (tokens, format!("system:serviceaccount:{}:workload", cluster.namespace))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_sts_exchanges_a_service_account_token_with_the_official_sdk() {
    let cluster = Cluster::start("federation-tencent").await;
    let (tokens, subject) = tokens(&cluster, TENCENT_AUDIENCE).await;
    conformance::tencent_sts(discovery(&cluster), &subject, tokens).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_iam_federates_a_service_account_token_with_the_official_sdk() {
    let cluster = Cluster::start("federation-huawei").await;
    let (tokens, subject) = tokens(&cluster, HUAWEI_AUDIENCE).await;
    conformance::huawei_federation(discovery(&cluster), &subject, tokens).await;
}
