//! IAM's federation calls through the whole simulator ([`crate::huawei::HuaweiSim`]), which
//! serves this module: in a file of its own, so that the simulator depends on it and not back.

use super::*;
use crate::{
    huawei::{HuaweiSim, HuaweiSimConfig},
    issuer::TestIssuer,
};

const SUBJECT: &str = "system:serviceaccount:team-a:natgw";

#[tokio::test]
async fn a_trusted_subject_federates_into_keys_that_expire() {
    let issuer = TestIssuer::start().await.unwrap();
    let sim = HuaweiSim::start(HuaweiSimConfig::default()).await.unwrap();
    // Configured through the control API, as a test or `natgw-dev sim` user would.
    let http = reqwest::Client::new();
    let oidc = issuer.config();
    let control = [
        (
            "PUT",
            "/_sim/oidc",
            json!({"discoveryUrl": oidc.discovery_url, "caPem": oidc.ca_pem,
                                    "bearerToken": oidc.bearer_token}),
        ),
        ("POST", "/_sim/trust-rules", json!({"providerId": "idp", "audience": "iam", "subjects": [SUBJECT]})),
        ("PUT", "/_sim/credential-lifetime", json!({"maxSeconds": 1})),
    ];
    for (method, path, body) in control {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = http.request(method, format!("{}{path}", sim.http_url)).json(&body).send().await.unwrap();
        assert_eq!(answer.status(), 204, "{path}");
    }
    let rules: Value =
        http.get(format!("{}/_sim/trust-rules", sim.http_url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(rules[0]["subjects"], json!([SUBJECT]));
    let federate = |token: String| {
        http.post(format!("{}/v3.0/OS-AUTH/id-token/tokens", sim.http_url))
            .header("X-Idp-Id", "idp")
            .json(&json!({"auth": {"id_token": {"id": token}}}))
            .send()
    };
    let lifetime = Duration::from_secs(600);
    let answer = federate(issuer.token(SUBJECT, "iam", lifetime)).await.unwrap();
    assert_eq!(answer.status(), 201);
    let subject_token = answer.headers()["X-Subject-Token"].to_str().unwrap().to_owned();
    let body: Value = answer.json().await.unwrap();
    assert!(body["token"]["expires_at"].as_str().unwrap().ends_with(".000000Z"), "{body}");

    // The federated token in X-Auth-Token, the duration in the body.
    let keys = http
        .post(format!("{}/v3.0/OS-CREDENTIAL/securitytokens", sim.http_url))
        .header("X-Auth-Token", &subject_token)
        .json(&json!({"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 201);
    let keys: Value = keys.json().await.unwrap();
    let access = keys["credential"]["access"].as_str().unwrap();
    let issued = sim.core().credential(access).unwrap();
    assert_eq!(issued.token.as_deref(), keys["credential"]["securitytoken"].as_str());
    assert!(!sim.core().expired(access));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(sim.core().expired(access));

    let refused = federate(issuer.token("system:serviceaccount:team-b:natgw", "iam", lifetime)).await.unwrap();
    assert_eq!(refused.status(), 403);
}

#[test]
fn refusals_carry_iam_codes_and_never_the_token() {
    let cases = [
        (Refused::UnknownProvider, 404, "IAM.0004"),
        (Refused::Token(Rejected::BadSignature), 401, "IAM.0001"),
        (Refused::Token(Rejected::Unreachable("down".into())), 500, "IAM.0006"),
        (Refused::SubjectNotTrusted("system:serviceaccount:b:w".into()), 403, "IAM.0002"),
    ];
    for (refused, status, code) in cases {
        let f = refusal(refused, "idp-k8s");
        assert_eq!((f.status.as_u16(), f.code.as_str()), (status, code));
        assert!(!f.message.contains("eyJ"));
    }
}
