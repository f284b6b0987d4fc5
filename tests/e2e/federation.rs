//! The simulated STS (Tencent `AssumeRoleWithWebIdentity`) and IAM federation (Huawei
//! `CreateTokenWithIdToken` + `CreateTemporaryAccessKeyByToken`) driven by the clouds' official
//! SDKs with real ServiceAccount tokens of this API server (TokenRequest, via `kubectl create
//! token --audience`). The simulators verify them against the API server's own OIDC discovery and
//! key set, map the subject through a trust rule, and then accept the temporary credentials on
//! VPC / NAT / BSS / IAM calls only with their token header and only until they expire.
//! Needs the SDKs of tests/conformance/requirements.txt (see tests/conformance/python.rs).

#[path = "../conformance/python.rs"]
mod python;

use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use natgw_sim::{
    federation::{FederationConfig, TrustRule},
    huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway, SimProject},
    oidc::OidcConfig,
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};
use serde_json::{Value, json};

use crate::support::Cluster;

const TENCENT_AUDIENCE: &str = "sts.tencentcloudapi.com";
const HUAWEI_AUDIENCE: &str = "iam.myhuaweicloud.com";
const PROVIDER_ID: &str = "natgw-e2e-cluster";
const ROLE_ARN: &str = "qcs::cam::uin/100000000001:roleName/natgw-federation";
const IDP_ID: &str = "natgw-e2e-idp";
/// Temporary credentials live this long, whatever the SDKs ask for: long enough for the calls
/// made with them, short enough to watch them expire.
const LIFETIME: Duration = Duration::from_secs(8);

/// How the simulators read this API server's discovery: its own address, CA and admin token,
/// from the kubeconfig the test environment wrote.
fn discovery(cluster: &Cluster) -> OidcConfig {
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

fn subject(cluster: &Cluster, name: &str) -> String {
    format!("system:serviceaccount:{}:{name}", cluster.namespace)
}

/// Creates ServiceAccount `name` in the test's namespace.
async fn service_account(cluster: &Cluster, name: &str) {
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<ServiceAccount>::namespaced(cluster.client.clone(), &cluster.namespace)
        .create(&PostParams::default(), &sa)
        .await
        .expect("service account created");
}

/// A token of ServiceAccount `name` for `audience`, from the TokenRequest API.
fn token(cluster: &Cluster, name: &str, audience: &str) -> String {
    cluster.kubectl(&["create", "token", name, "--audience", audience, "--duration", "10m"]).trim().to_owned()
}

/// Runs `script exchange` with `env`; returns its JSON output.
async fn sdk(script: &str, env: &[(&str, &str)]) -> Value {
    let output = tokio::process::Command::new(python::interpreter())
        .arg(python::script(script))
        .arg("exchange")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("python runs");
    let stderr = python::assert_ran(&output, "official cloud", script);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_sts_exchanges_a_service_account_token_with_the_official_sdk() {
    let cluster = Cluster::start("federation-tencent").await;
    for name in ["workload", "other"] {
        service_account(&cluster, name).await;
    }
    let sim = TencentSim::start(TencentSimConfig {
        gateways: vec![SimGateway::new("nat-1", "vpc-1", 1_000_000)],
        federation: FederationConfig {
            oidc: Some(discovery(&cluster)),
            trust_rules: vec![TrustRule {
                provider_id: PROVIDER_ID.into(),
                role_arn: Some(ROLE_ARN.into()),
                audience: TENCENT_AUDIENCE.into(),
                subjects: vec![subject(&cluster, "workload")],
            }],
            max_credential_lifetime: Some(LIFETIME),
        },
        ..TencentSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let host = sim.https_url.as_deref().unwrap().trim_start_matches("https://").to_owned();
    let ca = sim.ca_pem_path().unwrap().to_str().unwrap().to_owned();
    let (workload, other, wrong_audience) = (
        token(&cluster, "workload", TENCENT_AUDIENCE),
        token(&cluster, "other", TENCENT_AUDIENCE),
        token(&cluster, "workload", "someone-else"),
    );
    let out = sdk(
        "tencent_sts.py",
        &[
            ("SIM_HOST", &host),
            ("SIM_CA", &ca),
            ("SSL_CERT_FILE", &ca),
            ("PROVIDER_ID", PROVIDER_ID),
            ("ROLE_ARN", ROLE_ARN),
            ("TOKEN", &workload),
            ("OTHER_TOKEN", &other),
            ("WRONG_AUDIENCE_TOKEN", &wrong_audience),
        ],
    )
    .await;

    // The exchange, through the SDK's OIDC provider (unsigned, Authorization SKIP).
    let exchange = &out["exchange"];
    assert_eq!(exchange["secretIdIsApiKey"], true, "{out}");
    assert_eq!((exchange["hasKey"].as_bool(), exchange["hasToken"].as_bool()), (Some(true), Some(true)));
    let lifetime = exchange["lifetime"].as_i64().unwrap();
    assert!((1..=LIFETIME.as_secs() as i64).contains(&lifetime), "capped lifetime: {lifetime}");
    // VPC accepts the temporary credentials with their token, and only so (API 3.0 and 2.0).
    assert_eq!(out["vpc_with_provider"], 1);
    assert_eq!(out["vpc_v3"], 1);
    assert_eq!(out["vpc_v3_without_token"], "AuthFailure.TokenFailure");
    assert_eq!(out["vpc_v3_wrong_token"], "AuthFailure.TokenFailure");
    assert_eq!(out["vpc_v2"], 0);
    assert_eq!(out["vpc_v2_without_token"], 4105);
    // Refusals, with the action's documented codes.
    assert_eq!(out["other_subject"], "UnauthorizedOperation", "another ServiceAccount's token");
    assert_eq!(out["wrong_audience"], "InvalidParameter.WebIdentityTokenError");
    assert_eq!(out["unknown_role"], "InternalError.GetRoleError");
    assert_eq!(out["not_a_jwt"], "InvalidParameter.WebIdentityTokenError");
    assert_eq!(out["unsigned_vpc"], "AuthFailure.InvalidAuthorization", "only STS is called unsigned");
    // Expired: refused; the SDK's provider exchanges again and goes on.
    assert_eq!(out["vpc_v3_expired"], "AuthFailure.TokenFailure");
    assert_eq!(out["vpc_v2_expired"], 4105);
    assert_eq!(out["vpc_with_provider_after_expiry"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_iam_federates_a_service_account_token_with_the_official_sdk() {
    let cluster = Cluster::start("federation-huawei").await;
    for name in ["workload", "other"] {
        service_account(&cluster, name).await;
    }
    let sim = HuaweiSim::start(HuaweiSimConfig {
        projects: vec![SimProject { id: "proj-fed".into(), name: "cn-north-4".into() }],
        domain_id: Some("dom-fed".into()),
        gateways: vec![SeedGateway::parse("gw-fed:proj-fed:1").unwrap()],
        federation: FederationConfig {
            oidc: Some(discovery(&cluster)),
            trust_rules: vec![TrustRule {
                provider_id: IDP_ID.into(),
                role_arn: None,
                audience: HUAWEI_AUDIENCE.into(),
                subjects: vec![subject(&cluster, "workload")],
            }],
            max_credential_lifetime: Some(LIFETIME),
        },
        ..HuaweiSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().unwrap();
    let (workload, other) = (dir.path().join("workload.jwt"), dir.path().join("other.jwt"));
    std::fs::write(&workload, token(&cluster, "workload", HUAWEI_AUDIENCE)).unwrap();
    std::fs::write(&other, token(&cluster, "other", HUAWEI_AUDIENCE)).unwrap();
    let out = sdk(
        "huawei_federation.py",
        &[
            ("HW_ENDPOINT", &sim.http_url),
            ("IDP_ID", IDP_ID),
            ("HW_PROJECT", "proj-fed"),
            ("HW_DOMAIN", "dom-fed"),
            ("HW_REGION", "cn-north-4"),
            ("TOKEN_FILE", workload.to_str().unwrap()),
            ("OTHER_TOKEN_FILE", other.to_str().unwrap()),
        ],
    )
    .await;

    let fed = &out["token"];
    assert_eq!(fed["has_subject_token"], true, "{out}");
    assert_eq!((fed["project"].as_str(), fed["idp"].as_str()), (Some("proj-fed"), Some(IDP_ID)));
    assert_eq!(fed["user"], subject(&cluster, "workload"));
    let keys = &out["keys"];
    assert_eq!((keys["has_access"].as_bool(), keys["has_security_token"].as_bool()), (Some(true), Some(true)));
    let lifetime = keys["lifetime"].as_i64().unwrap();
    assert!((1..=LIFETIME.as_secs() as i64).contains(&lifetime), "capped lifetime: {lifetime}");
    // NAT, BSS and IAM accept the temporary AK/SK with X-Security-Token, and only so.
    assert_eq!(out["nat"], 1);
    assert!(out["bss"].is_i64(), "{out}");
    assert_eq!(out["iam"], json!(["proj-fed"]));
    assert_eq!(out["nat_without_security_token"], json!({"status": 401, "code": "APIG.0301"}));
    assert_eq!(out["nat_wrong_security_token"], json!({"status": 401, "code": "APIG.0301"}));
    assert_eq!(out["nat_with_idp_credentials"], 1, "the core SDK's own id-token path");
    // Refusals.
    assert_eq!(out["other_subject"], json!({"status": 403, "code": "IAM.0002"}), "another ServiceAccount's token");
    assert_eq!(out["unknown_idp"], json!({"status": 404, "code": "IAM.0004"}));
    assert_eq!(out["not_a_jwt"], json!({"status": 401, "code": "IAM.0001"}));
    assert_eq!(out["unknown_token"], json!({"status": 401, "code": "IAM.0001"}));
    assert_eq!(out["duration_too_short"], json!({"status": 400, "code": "IAM.0007"}));
    // Expired: refused; the core SDK federates again and goes on.
    assert_eq!(out["nat_expired"], json!({"status": 401, "code": "APIG.0307"}));
    assert_eq!(out["nat_with_idp_credentials_after_expiry"], 1);
}
