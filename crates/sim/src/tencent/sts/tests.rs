//! STS through the whole simulator ([`crate::tencent::TencentSim`]), which serves this module: in
//! a file of its own, so that the simulator depends on STS and not back.

use super::*;
use crate::{
    federation::{FederationConfig, TrustRule},
    issuer::TestIssuer,
    tencent::{TencentSim, TencentSimConfig},
};

const SUBJECT: &str = "system:serviceaccount:team-a:natgw";
const ROLE: &str = "qcs::cam::uin/1:roleName/natgw";

#[tokio::test]
async fn a_trusted_subject_gets_credentials_that_expire_and_others_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let sim = TencentSim::start(TencentSimConfig {
        https_port: None,
        federation: FederationConfig {
            oidc: Some(issuer.config()),
            trust_rules: vec![TrustRule {
                provider_id: "k8s".into(),
                role_arn: Some(ROLE.into()),
                audience: "sts".into(),
                subjects: vec![SUBJECT.into()],
            }],
            max_credential_lifetime: Some(Duration::from_secs(1)),
        },
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    let assume = |token: String| {
        let body = json!({"ProviderId": "k8s", "WebIdentityToken": token, "RoleArn": ROLE,
                          "RoleSessionName": "natgw-test", "DurationSeconds": 7200});
        let request = reqwest::Client::new()
            .post(&sim.http_url)
            .header("Authorization", "SKIP")
            .header("Content-Type", "application/json")
            .header("X-TC-Action", ACTION)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", crate::oidc::unix_now().to_string())
            .body(body.to_string());
        async move { request.send().await.unwrap().json::<Value>().await.unwrap()["Response"].clone() }
    };
    let lifetime = Duration::from_secs(600);
    let granted = assume(issuer.token(SUBJECT, "sts", lifetime)).await;
    let id = granted["Credentials"]["TmpSecretId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("AKID"), "{granted}");
    assert!(granted["Expiration"].as_str().unwrap().ends_with('Z'));
    // Capped at the configured second, whatever DurationSeconds asked for.
    assert!(granted["ExpiredTime"].as_u64().unwrap() <= crate::oidc::unix_now() + 1);
    let issued = sim.sim.core.credential(&id).unwrap();
    assert_eq!(sim.sim.core.principal(&id).account, "1");
    assert_eq!(sim.sim.core.principal(&id).role.map(|r| r.session_name).as_deref(), Some("natgw-test"));
    assert_eq!(issued.token.as_deref(), granted["Credentials"]["Token"].as_str());
    assert!(!sim.sim.core.expired(&id));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(sim.sim.core.expired(&id));

    let refused = assume(issuer.token("system:serviceaccount:team-b:natgw", "sts", lifetime)).await;
    assert_eq!(refused["Error"]["Code"], "UnauthorizedOperation");
    let refused = assume(issuer.token(SUBJECT, "other", lifetime)).await;
    assert_eq!(refused["Error"]["Code"], "InvalidParameter.WebIdentityTokenError");
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

fn body(duration: Option<i64>, session: &str) -> Vec<u8> {
    let mut b = json!({"ProviderId": "k8s", "WebIdentityToken": "t", "RoleArn": "qcs::cam::uin/1:roleName/r",
                       "RoleSessionName": session});
    if let Some(d) = duration {
        b["DurationSeconds"] = json!(d);
    }
    b.to_string().into_bytes()
}

#[test]
fn only_the_unsigned_form_is_read() {
    let now = crate::oidc::unix_now().to_string();
    let ok = [("authorization", "SKIP"), ("x-tc-version", VERSION), ("x-tc-timestamp", now.as_str())];
    let code = |h: &[(&'static str, &str)], b: &[u8]| read(&Method::POST, &headers(h), "", b).err().map(|e| e.code);
    assert_eq!(code(&ok, &body(None, "natgw-1")), None);
    let signed = [("authorization", "TC3-HMAC-SHA256 Credential=x"), ok[1], ok[2]];
    assert_eq!(code(&signed, &body(None, "natgw-1")).as_deref(), Some("AuthFailure.InvalidAuthorization"));
    let with_token = [ok[0], ok[1], ok[2], ("x-tc-token", "t")];
    assert_eq!(code(&with_token, &body(None, "natgw-1")).as_deref(), Some("AuthFailure.InvalidAuthorization"));
    let old = [ok[0], ("x-tc-version", "2017-03-12"), ok[2]];
    assert_eq!(code(&old, &body(None, "natgw-1")).as_deref(), Some("NoSuchVersion"));
    assert_eq!(code(&ok, &body(Some(43201), "natgw-1")).as_deref(), Some("InvalidParameter.ParamError"));
    assert_eq!(code(&ok, &body(Some(0), "natgw-1")).as_deref(), Some("InvalidParameter.ParamError"));
    assert_eq!(code(&ok, &body(None, "a b")).as_deref(), Some("InvalidParameter.ParamError"));
    assert_eq!(code(&ok, br#"{"ProviderId":"k8s"}"#).as_deref(), Some("MissingParameter"));
}

#[test]
fn a_roles_keys_belong_to_the_roles_account() {
    assert_eq!(role_account("qcs::cam::uin/200000000002:roleName/natgw"), "200000000002");
    assert_eq!(role_account("not-an-arn"), DEFAULT_ACCOUNT);
    let role = AssumedRole { role_arn: ROLE.into(), session_name: "natgw-test".into() };
    let who = caller_identity(&SimPrincipal { account: "1".into(), role: Some(role) });
    let id = role_id(ROLE);
    assert_eq!(id.len(), 19);
    assert_eq!(who["Type"], "CAMRole");
    assert_eq!(who["UserId"], format!("{id}:natgw-test"));
    assert_eq!(who["Arn"], format!("qcs::sts:1:assumed-role/{id}"));
    assert_eq!((who["AccountId"].as_str(), who["PrincipalId"].as_str()), (Some("1"), Some("1")));
    let params = json!({"Bogus": 1}).as_object().unwrap().clone();
    let who = SimPrincipal { account: "1".into(), role: None };
    assert_eq!(dispatch("GetCallerIdentity", params, &who).unwrap_err().code, "UnknownParameter");
}

#[test]
fn refusals_use_the_documented_codes_and_never_echo_the_token() {
    let p = Params {
        provider_id: "k8s".into(),
        web_identity_token: "eyJsecret".into(),
        role_arn: "qcs::cam::uin/1:roleName/r".into(),
        role_session_name: "s1".into(),
        duration_seconds: None,
    };
    let cases = [
        (Refused::UnknownProvider, "InvalidParameter.ParamError"),
        (Refused::UnknownRole, "InternalError.GetRoleError"),
        (Refused::Token(Rejected::Expired), "InvalidParameter.WebIdentityTokenError"),
        (Refused::Token(Rejected::WrongAudience("sts".into())), "InvalidParameter.WebIdentityTokenError"),
        (Refused::Token(Rejected::Unreachable("down".into())), "InternalError.SystemError"),
        (Refused::SubjectNotTrusted("system:serviceaccount:b:w".into()), "UnauthorizedOperation"),
    ];
    for (refused, code) in cases {
        let e = refusal(refused, &p);
        assert_eq!(e.code, code);
        assert!(!e.message.contains("eyJ"), "{}", e.message);
    }
}
