//! Conformance of the Alibaba Cloud simulator with Alibaba Cloud's official Python SDKs
//! (alibabacloud-vpc20160428, -bssopenapi20171214, -sts20150401, -credentials on
//! alibabacloud-tea-openapi): the simulator accepts both signatures they send (V3
//! ACS3-HMAC-SHA256 by default, RPC HMAC-SHA1 with `signature_algorithm='v2'`), they parse what
//! it answers, its documented error codes reach them as their exceptions' codes, an upgrade
//! order lives its life through BSS, and RRSA's `AssumeRoleWithOIDC` is verified against the
//! identity provider's keys. Needs the SDKs of tests/conformance/requirements.txt (see
//! tests/conformance/python.rs).

use std::time::Duration;

use base64::Engine as _;
use natgw_sim::{
    alibaba::{AlibabaSim, AlibabaSimConfig, Charge, SeedGateway},
    core::SimCredential,
    federation::{FederationConfig, TrustRule},
    issuer::TestIssuer,
    server::SimTls,
};
use serde_json::{Value, json};

use crate::federation_conformance;

const KEY: (&str, &str) = ("LTAIconformance", "conformance-secret");
const TOKEN_KEY: (&str, &str, &str) = ("STS.conformance", "temporary-secret", "security-token");
const PROVIDER_ARN: &str = "acs:ram::1234567890:oidc-provider/natgw-cluster";
const ROLE_ARN: &str = "acs:ram::1234567890:role/natgw-operator";
const SUBJECT: &str = "system:serviceaccount:team-a:natgw";
const AUDIENCE: &str = "sts.aliyuncs.com";
/// Temporary credentials live at most this long, to watch them expire.
const LIFETIME: Duration = Duration::from_secs(4);

fn seed(id: &str, region: &str, spec: &str, charge: Charge) -> SeedGateway {
    SeedGateway {
        id: id.into(),
        region_id: region.into(),
        vpc_id: "vpc-1".into(),
        spec: spec.into(),
        charge,
        expires_in_days: 30,
        auto_pay: false,
        tags: None,
    }
}

async fn start(federation: FederationConfig) -> AlibabaSim {
    let mut gateways = Vec::new();
    for (style, region) in [("v3", "cn-hangzhou"), ("rpc", "cn-beijing")] {
        gateways.push(seed(&format!("ngw-{style}-post"), region, "Small", Charge::PostPaid));
        gateways.push(seed(&format!("ngw-{style}-pre"), region, "Small", Charge::PrePaid));
        gateways.push(seed(&format!("ngw-{style}-large"), region, "Large", Charge::PostPaid));
    }
    AlibabaSim::start(AlibabaSimConfig {
        tls: Some(SimTls::generate(None).expect("CA")),
        credentials: vec![
            SimCredential { key_id: KEY.0.into(), secret: KEY.1.into(), token: None },
            SimCredential { key_id: TOKEN_KEY.0.into(), secret: TOKEN_KEY.1.into(), token: Some(TOKEN_KEY.2.into()) },
        ],
        change_time: Duration::from_secs(1),
        gateways,
        federation,
        ..AlibabaSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Runs `script command` against `sim`'s HTTPS side with `env`; returns its JSON output.
async fn sdk(script: &str, command: &str, sim: &AlibabaSim, env: &[(&str, &str)]) -> Value {
    let host = sim.https_url.as_deref().unwrap().trim_start_matches("https://");
    let ca = sim.ca_pem_path().unwrap().to_str().unwrap();
    let mut env = env.to_vec();
    env.extend([("SIM_HOST", host), ("SIM_CONTROL", sim.http_url.as_str()), ("SSL_CERT_FILE", ca)]);
    federation_conformance::sdk(script, command, &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpc_and_bss_with_the_official_sdks_in_both_signatures() {
    let sim = start(FederationConfig::default()).await;
    let out = sdk(
        "alibaba_sdk.py",
        "scenario",
        &sim,
        &[
            ("ACCESS_KEY_ID", KEY.0),
            ("ACCESS_KEY_SECRET", KEY.1),
            ("TOKEN_KEY_ID", TOKEN_KEY.0),
            ("TOKEN_KEY_SECRET", TOKEN_KEY.1),
            ("SECURITY_TOKEN", TOKEN_KEY.2),
            ("CHANGE_SECONDS", "1"),
        ],
    )
    .await;
    for style in ["v3", "rpc"] {
        let o = &out[style];
        let r = |check: &str| o[check].clone();
        assert_eq!(r("pages"), json!([3, 2, 1]), "{style}: {o}");
        assert_eq!(r("prepaid"), json!(["Small", "PrePaid", "Available", true, false]), "{style}");
        assert_eq!(r("postpaid"), json!(["PostPaid", ""]), "{style}");
        assert_eq!(r("same_spec"), "NATGW_MODIFY_SPEC_SAME", "{style}");
        assert_eq!(r("unknown_spec"), "InvalidParameter.Spec.ValueNotSupported", "{style}");
        assert_eq!(r("unknown_gateway"), "InvalidNatGatewayId.NotFound", "{style}");
        assert_eq!(r("postpaid_downgrade"), "ok", "{style}: pay-by-spec gateways resize either way");
        assert_eq!(r("bad_secret"), "SignatureDoesNotMatch", "{style}");
        assert_eq!(r("unknown_key"), "InvalidAccessKeyId.NotFound", "{style}");
        // Pay-by-specification: in place, Modifying then Available.
        assert_eq!(r("postpaid_status_after_modify"), "Modifying", "{style}");
        assert_eq!(r("postpaid_busy"), "IncorrectStatus.NatGateway", "{style}");
        assert_eq!(r("postpaid_resized"), json!(["Middle", ["Available", "Modifying"]]), "{style}");
        // Subscription: an order, one per ClientToken, waiting unpaid, completing once paid.
        assert_eq!(r("client_token_same_answer"), true, "{style}");
        assert_eq!(r("client_token_other_params"), "IdempotentParameterMismatch", "{style}");
        assert_eq!(r("unpaid_orders"), 1, "{style}: a ClientToken retry places no second order");
        assert_eq!(r("order_detail"), json!(["Upgrade", "Unpaid", "Spec:Small", "Spec:Middle", o["order_detail"][4]]));
        assert_eq!(r("unpaid_waits"), json!(["Small", "Available"]), "{style}");
        assert_eq!(r("second_upgrade_while_unpaid"), "IncorrectStatus.NatGateway", "{style}");
        assert_eq!(r("pay"), json!([true, "Paid"]), "{style}");
        assert_eq!(r("pay_again"), "ORDER.STATUS_ERROR", "{style}");
        assert_eq!(r("prepaid_upgraded"), json!(["Middle", ["Available", "Modifying"]]), "{style}");
        assert_eq!(r("downgrade"), "OperationUnsupported.SpecDowngrade", "{style}");
        assert_eq!(r("autopay_upgraded")[0], "Large", "{style}: AutoPay pays at once");
        assert_eq!(r("orders_of_prepaid"), json!(["Paid", "Paid"]), "{style}");
        assert_eq!(r("cancel"), json!([true, "Cancelled", "Large"]), "{style}");
        assert_eq!(r("unknown_order"), "InvalidParameter.OrderId", "{style}");
        // Renewal.
        assert_eq!(r("renewal_before"), json!([1, format!("ngw-{style}-pre"), "Subscription", "ManualRenewal", true]));
        assert_eq!(r("set_renewal"), true, "{style}");
        assert_eq!(r("renewal_after")[3], "AutoRenewal", "{style}");
        assert_eq!(r("set_renewal_bad_status"), "InvalidParameter.RenewalStatus", "{style}");
        // Claims by tags.
        let claim = format!("natgw.io/claim=team-a/{style}");
        assert_eq!(r("tags_of_pre"), json!(["managed-by=natgw-operator-sim", claim]), "{style}");
        let claimed = json!([format!("ngw-{style}-post"), format!("ngw-{style}-pre")]);
        assert_eq!((r("claimed"), r("claimed_described")), (claimed.clone(), claimed), "{style}");
        assert_eq!(r("tags_in_describe"), json!(["managed-by", "natgw.io/claim"]), "{style}");
        assert_eq!(r("after_untag"), json!([format!("ngw-{style}-pre")]), "{style}");
        assert_eq!(r("tag_unknown_resource"), "InvalidResourceId.NotFound", "{style}");
        // A key with a session token: only with it.
        let token = json!(["ok", "MissingSecurityToken", "InvalidSecurityToken.MismatchWithAccessKey"]);
        assert_eq!(r("token_key"), token, "{style}");
    }
    // Both signatures reached both products.
    let apis = out["apis"].as_array().unwrap();
    for api in ["alibaba/vpc/v3", "alibaba/vpc/rpc", "alibaba/bss/v3", "alibaba/bss/rpc"] {
        assert!(apis.contains(&json!(api)), "{api} not seen: {apis:?}");
    }
    // The ledger holds each change once: two resizes and three orders (two paid, one
    // cancelled) per style, the ClientToken retry none.
    assert_eq!(sim.core().ledger.orders().len(), 2 * (2 + 3));
    assert_eq!(sim.orders().len(), 2 * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rrsa_assume_role_with_oidc_with_the_official_sdks() {
    let issuer = TestIssuer::start().await.unwrap();
    let sim = start(FederationConfig {
        oidc: Some(issuer.config()),
        trust_rules: vec![TrustRule {
            provider_id: PROVIDER_ARN.into(),
            role_arn: Some(ROLE_ARN.into()),
            audience: AUDIENCE.into(),
            subjects: vec![SUBJECT.into()],
        }],
        max_credential_lifetime: Some(LIFETIME),
    })
    .await;
    let hour = Duration::from_secs(3600);
    let workload = issuer.token(SUBJECT, AUDIENCE, hour);
    // The same claims as a valid token, expired long before the leeway.
    let payload = workload.split('.').nth(1).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let now = natgw_sim::oidc::unix_now();
    claims["iat"] = json!(now - 7200);
    claims["nbf"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &workload).unwrap();
    let lifetime = LIFETIME.as_secs().to_string();
    let out = sdk(
        "alibaba_rrsa.py",
        "exchange",
        &sim,
        &[
            ("PROVIDER_ARN", PROVIDER_ARN),
            ("ROLE_ARN", ROLE_ARN),
            ("TOKEN_FILE", token_file.to_str().unwrap()),
            ("OTHER_TOKEN", &issuer.token("system:serviceaccount:team-b:natgw", AUDIENCE, hour)),
            ("WRONG_AUDIENCE_TOKEN", &issuer.token(SUBJECT, "someone-else", hour)),
            ("EXPIRED_TOKEN", &issuer.sign(&claims)),
            ("LIFETIME", &lifetime),
        ],
    )
    .await;
    assert_eq!(out["provider"], json!([true, true, true, "oidc_role_arn"]), "{out}");
    assert_eq!((out["vpc_v3"].clone(), out["vpc_rpc"].clone()), (json!(3), json!(3)), "{out}");
    assert_eq!(out["sts"], json!([true, true, SUBJECT]));
    assert_eq!(out["lifetime_capped"], true);
    assert_eq!(out["temporary_without_token"], "MissingSecurityToken");
    assert_eq!(out["other_subject"], "AuthenticationFail.NoPermission");
    assert_eq!(out["wrong_audience"], "AuthenticationFail.OIDCToken.AudienceNotMatch");
    assert_eq!(out["expired_token"], "AuthenticationFail.OIDCToken.Expired");
    assert_eq!(out["not_a_jwt"], "AuthenticationFail.OIDCToken.Invalid");
    assert_eq!(out["unknown_role"], "EntityNotExist.Role");
    assert_eq!(out["temporary_expired"], "InvalidSecurityToken.Expired");
    assert_eq!(out["provider_after_expiry"], 3);
    // Every exchange went unsigned to STS, and the temporary keys belong to the role's account.
    let requests = sim.core().ledger.requests();
    assert!(requests.iter().any(|r| r.api == "alibaba/sts/anonymous" && r.outcome == "ok"));
    let issued = requests.iter().filter_map(|r| r.key_id.clone()).find(|k| k.starts_with("STS.") && k != TOKEN_KEY.0);
    assert_eq!(sim.core().principal(&issued.unwrap()).account, "1234567890");
}

/// Only STS takes unsigned calls: VPC answers 400 `IncompleteSignature` in Alibaba's error shape.
#[tokio::test]
async fn unsigned_vpc_calls_are_refused_in_alibabas_shape() {
    let sim = start(FederationConfig::default()).await;
    let answer = reqwest::Client::new()
        .post(format!("{}/?Action=DescribeNatGateways&Version=2016-04-28&RegionId=cn-hangzhou", sim.http_url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["Code"], "IncompleteSignature");
    for field in ["RequestId", "HostId", "Message", "Recommend"] {
        assert!(body[field].is_string(), "{field} missing: {body}");
    }
    let unknown = reqwest::Client::new()
        .get(format!("{}/?Action=DeleteNatGateway&Version=2016-04-28", sim.http_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400, "unsigned: refused before the action is looked up");
}
