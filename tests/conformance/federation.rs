//! The simulated STS (Tencent `AssumeRoleWithWebIdentity`) and IAM federation (Huawei
//! `CreateTokenWithIdToken` + `CreateTemporaryAccessKeyByToken`) driven by the clouds' official
//! SDKs: the simulators verify the tokens against the identity provider's OIDC discovery and key
//! set, map the subject through a trust rule, and then accept the temporary credentials on VPC /
//! NAT / BSS / IAM calls only with their token header and only until they expire.
//!
//! Shared by two test binaries: `offline` (tokens from [`natgw_sim::issuer::TestIssuer`]) and
//! `e2e` (real ServiceAccount tokens of the test API server). Both include it next to
//! `python` (tests/conformance/python.rs). Needs the SDKs of tests/conformance/requirements.txt.

use std::time::Duration;

use natgw_sim::{
    federation::{FederationConfig, TrustRule},
    huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway, SimProject},
    oidc::OidcConfig,
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};
use serde_json::{Value, json};

use crate::python;

pub const TENCENT_AUDIENCE: &str = "sts.tencentcloudapi.com";
pub const HUAWEI_AUDIENCE: &str = "iam.myhuaweicloud.com";
const PROVIDER_ID: &str = "natgw-cluster";
const ROLE_ARN: &str = "qcs::cam::uin/100000000001:roleName/natgw-federation";
const IDP_ID: &str = "natgw-idp";
/// Temporary credentials live this long, whatever the SDKs ask for: long enough for the calls
/// made with them, short enough to watch them expire.
const LIFETIME: Duration = Duration::from_secs(8);

/// Tokens of the identity provider for one audience.
pub struct Tokens {
    /// The subject the trust rule allows.
    pub workload: String,
    /// Another subject.
    pub other: String,
    /// The allowed subject, for another audience.
    pub wrong_audience: String,
}

/// Runs `script command` with `env`; returns its JSON output.
pub async fn sdk(script: &str, command: &str, env: &[(&str, &str)]) -> Value {
    let output = tokio::process::Command::new(python::interpreter())
        .arg(python::script(script))
        .arg(command)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("python runs");
    let stderr = python::assert_ran(&output, "official cloud", script);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stderr}"))
}

fn federation(
    oidc: OidcConfig,
    provider_id: &str,
    role_arn: Option<&str>,
    audience: &str,
    subject: &str,
) -> FederationConfig {
    FederationConfig {
        oidc: Some(oidc),
        trust_rules: vec![TrustRule {
            provider_id: provider_id.into(),
            role_arn: role_arn.map(str::to_owned),
            audience: audience.into(),
            subjects: vec![subject.to_owned()],
        }],
        max_credential_lifetime: Some(LIFETIME),
    }
}

/// Tencent: the SDK's OIDC credential provider against the simulated STS, then VPC (API 3.0
/// and 2.0) with the temporary credentials; `subject` is the workload's.
pub async fn tencent_sts(oidc: OidcConfig, subject: &str, tokens: Tokens) {
    let sim = TencentSim::start(TencentSimConfig {
        gateways: vec![SimGateway::new("nat-1", "vpc-1", 1_000_000)],
        federation: federation(oidc, PROVIDER_ID, Some(ROLE_ARN), TENCENT_AUDIENCE, subject),
        ..TencentSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let host = sim.https_url.as_deref().unwrap().trim_start_matches("https://").to_owned();
    let ca = sim.ca_pem_path().unwrap().to_str().unwrap().to_owned();
    let out = sdk(
        "tencent_sts.py",
        "exchange",
        &[
            ("SIM_HOST", &host),
            ("SIM_CA", &ca),
            ("SSL_CERT_FILE", &ca),
            ("PROVIDER_ID", PROVIDER_ID),
            ("ROLE_ARN", ROLE_ARN),
            ("TOKEN", &tokens.workload),
            ("OTHER_TOKEN", &tokens.other),
            ("WRONG_AUDIENCE_TOKEN", &tokens.wrong_audience),
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

/// Huawei: IAM's federation calls with huaweicloudsdkiam and the core SDK's id-token
/// credentials against the simulator, then NAT, BSS and IAM with the temporary AK/SK; `subject`
/// is the workload's.
pub async fn huawei_federation(oidc: OidcConfig, subject: &str, tokens: Tokens) {
    let sim = HuaweiSim::start(HuaweiSimConfig {
        projects: vec![SimProject { id: "proj-fed".into(), name: "cn-north-4".into() }],
        domain_id: Some("dom-fed".into()),
        gateways: vec![SeedGateway::parse("gw-fed:proj-fed:1").unwrap()],
        federation: federation(oidc, IDP_ID, None, HUAWEI_AUDIENCE, subject),
        ..HuaweiSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, token: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, token).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let workload = file("workload.jwt", &tokens.workload);
    let other = file("other.jwt", &tokens.other);
    let wrong_audience = file("wrong-audience.jwt", &tokens.wrong_audience);
    let out = sdk(
        "huawei_federation.py",
        "exchange",
        &[
            ("HW_ENDPOINT", &sim.http_url),
            ("IDP_ID", IDP_ID),
            ("HW_PROJECT", "proj-fed"),
            ("HW_DOMAIN", "dom-fed"),
            ("HW_REGION", "cn-north-4"),
            ("TOKEN_FILE", &workload),
            ("OTHER_TOKEN_FILE", &other),
            ("WRONG_AUDIENCE_TOKEN_FILE", &wrong_audience),
        ],
    )
    .await;

    let fed = &out["token"];
    assert_eq!(fed["has_subject_token"], true, "{out}");
    assert_eq!((fed["project"].as_str(), fed["idp"].as_str()), (Some("proj-fed"), Some(IDP_ID)));
    assert_eq!(fed["user"], subject);
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
    assert_eq!(out["wrong_audience"], json!({"status": 401, "code": "IAM.0001"}));
    assert_eq!(out["unknown_idp"], json!({"status": 404, "code": "IAM.0004"}));
    assert_eq!(out["not_a_jwt"], json!({"status": 401, "code": "IAM.0001"}));
    assert_eq!(out["unknown_token"], json!({"status": 401, "code": "IAM.0001"}));
    assert_eq!(out["duration_too_short"], json!({"status": 400, "code": "IAM.0007"}));
    // Expired: refused; the core SDK federates again and goes on.
    assert_eq!(out["nat_expired"], json!({"status": 401, "code": "APIG.0307"}));
    assert_eq!(out["nat_with_idp_credentials_after_expiry"], 1);
}
