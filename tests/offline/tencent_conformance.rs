//! Conformance with Tencent Cloud's official Python SDKs: the simulator accepts what they sign
//! (API 2.0 over HTTPS via qcloudapi-sdk-python, API 3.0 via tencentcloud-sdk-python-vpc), they
//! parse what it answers, and the operator's signer produces the SDKs' exact signatures.
//! Needs the SDKs of tests/conformance/requirements.txt (see tests/conformance/python.rs).

use crate::python;

use std::{io::Write as _, process::Stdio, time::Duration};

use natgw_operator::cloud::tencent::sign;
use natgw_sim::{
    core::SimCredential,
    tencent::{SimGateway, TencentSim, TencentSimConfig, TencentSimHandle},
};
use serde_json::{Value, json};

const ID: &str = "AKIDconformance";
const KEY: &str = "conformance-secret-key";
/// A temporary credential: its requests must carry the token.
const TOKEN: (&str, &str, &str) = ("AKIDtemporary", "temporary-secret-key", "session-token");

async fn start() -> TencentSimHandle {
    TencentSim::start(TencentSimConfig {
        credentials: vec![
            SimCredential { key_id: ID.into(), secret: KEY.into(), token: None },
            SimCredential { key_id: TOKEN.0.into(), secret: TOKEN.1.into(), token: Some(TOKEN.2.into()) },
        ],
        change_time: Duration::from_secs(1),
        gateways: vec![SimGateway::new("nat-1", "vpc-1", 1_000_000), SimGateway::new("nat-2", "vpc-1", 1_000_000)],
        ..TencentSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Fails loudly when the SDKs are missing or the script fails; returns its JSON output.
fn parse(script: &str, output: std::process::Output) -> Value {
    let stderr = python::assert_ran(&output, "Tencent Cloud", script);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stderr}"))
}

/// Runs `script sign` with `case` on stdin.
fn sdk_sign(script: &str, case: &Value) -> Value {
    let mut child = std::process::Command::new(python::interpreter())
        .arg(python::script(script))
        .arg("sign")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(case.to_string().as_bytes()).unwrap();
    parse(script, child.wait_with_output().unwrap())
}

/// Runs `script scenario` against the simulator; async so the in-process simulator keeps serving.
async fn sdk_scenario(script: &str, sim: &TencentSimHandle, host: &str) -> Value {
    sdk_run(script, "scenario", sim, host).await
}

/// Runs `script command` against the simulator at `host` (`127.0.0.1:PORT`).
async fn sdk_run(script: &str, command: &str, sim: &TencentSimHandle, host: &str) -> Value {
    let mut cmd = tokio::process::Command::new(python::interpreter());
    cmd.arg(python::script(script))
        .arg(command)
        .env("SIM_HOST", host)
        .env("SIM_CONTROL", &sim.http_url)
        .env("SECRET_ID", ID)
        .env("SECRET_KEY", KEY)
        .env("TOKEN_ID", TOKEN.0)
        .env("TOKEN_KEY", TOKEN.1)
        .env("TOKEN", TOKEN.2)
        .env("CHANGE_SECONDS", "1");
    if let Some(ca) = sim.ca_pem_path() {
        cmd.env("SSL_CERT_FILE", ca);
    }
    parse(script, cmd.output().await.expect("python runs"))
}

#[test]
fn v2_signatures_equal_the_sdk() {
    let host = "127.0.0.1:9443";
    let params = [
        ("Action", "DescribeNatGateway"),
        ("Nonce", "1290303896666895346"),
        ("Timestamp", "1512393162"),
        ("SecretId", ID),
        ("Region", "ap-guangzhou"),
        ("natId", "nat-et8e970y"),
        ("RequestClient", "SDK_PYTHON_2.0.15"),
    ];
    let case = json!({ "id": ID, "key": KEY, "host": host, "params": params.iter().copied().collect::<std::collections::BTreeMap<_, _>>() });
    let sdk = sdk_sign("tencent_v2.py", &case);
    for http in ["GET", "POST"] {
        for method in [sign::V2Method::HmacSha1, sign::V2Method::HmacSha256] {
            let all = params.iter().copied().chain([("SignatureMethod", method.param())]);
            let ours = sign::v2_signature(KEY, method, &sign::v2_string_to_sign(http, host, sign::V2_PATH, all));
            assert_eq!(sdk[format!("{http}/{}", method.param())], ours, "{http} {method:?}");
        }
    }
}

#[test]
fn tc3_signature_equals_the_sdk() {
    let (host, ts) = ("127.0.0.1:9080", 1_700_000_000_i64);
    let case = json!({ "id": ID, "key": KEY, "host": host, "timestamp": ts, "action": "ResetNatGatewayConnection",
        "params": { "NatGatewayId": "nat-1", "MaxConcurrentConnection": 3000000 } });
    let sdk = sdk_sign("tencent_v3.py", &case);
    let content_type = sdk["contentType"].as_str().unwrap();
    let body = sdk["body"].as_str().unwrap();
    let canonical = sign::tc3_canonical_request(
        "POST",
        "/",
        "",
        &[("content-type", content_type), ("host", host)],
        "content-type;host",
        body.as_bytes(),
    );
    let ours =
        sign::tc3_authorization(ID, "vpc", ts, "content-type;host", &sign::tc3_signature(KEY, "vpc", ts, &canonical));
    assert_eq!(sdk["authorization"], ours);
}

#[tokio::test]
async fn qcloudapi_sdk_talks_to_the_v2_simulator_over_https() {
    let sim = start().await;
    let host = sim.https_url.as_deref().unwrap().trim_start_matches("https://").to_owned();
    let out = sdk_scenario("tencent_v2.py", &sim, &host).await;

    assert_eq!(out["describe"]["totalCount"], 1);
    let g = &out["describe"]["gateway"];
    assert_eq!(
        (g["natId"].as_str(), g["maxConcurrent"].as_u64(), g["state"].as_u64(), g["productionStatus"].as_u64()),
        (Some("nat-2"), Some(1_000_000), Some(0), Some(1))
    );
    assert_eq!(out["describe_get_sha1"], 1_000_000);
    assert_eq!(out["upgrade"]["code"], "0");
    assert_eq!(out["upgrade"]["billId"].as_str().map(str::len), Some(32));
    assert_eq!(out["bill_running"], 2);
    assert_eq!(out["during"], 3);
    assert_eq!(out["busy"]["code"], 5100);
    assert_eq!(out["not_found"]["code"], 5000);
    assert_eq!(out["not_found"]["codeDesc"], "InvalidNatGatewayId.NotFound");
    assert_eq!(out["bad_signature"]["code"], 4100);
    assert_eq!(out["unknown_id"]["code"], 4104);
    assert_eq!(out["throttled"]["code"], 4400);
    assert_eq!(out["bill_done"], 0);
    assert_eq!(
        (out["after"]["maxConcurrent"].as_u64(), out["after"]["productionStatus"].as_u64()),
        (Some(3_000_000), Some(1))
    );

    let orders = sim.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (orders[0].gateway_id.as_str(), orders[0].order_id.as_str()),
        ("nat-2", out["upgrade"]["billId"].as_str().unwrap())
    );
}

#[tokio::test]
async fn tencentcloud_sdk_talks_to_the_v3_simulator() {
    let sim = start().await;
    let host = sim.http_url.trim_start_matches("http://").to_owned();
    let out = sdk_scenario("tencent_v3.py", &sim, &host).await;

    let d = &out["describe"];
    assert_eq!(
        (d["total"].as_u64(), d["id"].as_str(), d["state"].as_str(), d["max"].as_u64()),
        (Some(1), Some("nat-1"), Some("AVAILABLE"), Some(1_000_000))
    );
    assert!(d["requestId"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(out["during"], "UPDATING");
    assert_eq!(out["busy"]["code"], "UnsupportedOperation.NatGatewayIsBusy");
    assert!(out["busy"]["requestId"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(out["not_found"]["code"], "ResourceNotFound");
    assert_eq!(out["bad_signature"]["code"], "AuthFailure.SignatureFailure");
    assert_eq!(out["unknown_id"]["code"], "AuthFailure.SecretIdNotFound");
    assert_eq!(out["too_many_ids"]["code"], "InvalidParameterValue.Range");
    assert_eq!(out["throttled"]["code"], "RequestLimitExceeded");
    assert_eq!(out["after"], json!({ "state": "AVAILABLE", "max": 3_000_000 }));

    let orders = sim.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (orders[0].action.as_str(), orders[0].order_id.as_str()),
        ("ResetNatGatewayConnection", out["resize"].as_str().unwrap())
    );
}

#[tokio::test]
async fn tencentcloud_sdk_is_served_in_every_verb_and_signature_method() {
    let sim = start().await;
    let host = sim.http_url.trim_start_matches("http://").to_owned();
    let out = sdk_run("tencent_v3.py", "forms", &sim, &host).await;
    for form in [
        "POST/TC3-HMAC-SHA256",
        "GET/TC3-HMAC-SHA256",
        "POST/HmacSHA1",
        "GET/HmacSHA1",
        "POST/HmacSHA256",
        "GET/HmacSHA256",
    ] {
        assert_eq!(
            out[form],
            json!({ "max": 1_000_000, "filtered": ["nat-1"], "unchanged": true, "bad_signature": "AuthFailure.SignatureFailure" }),
            "{form}"
        );
    }
    // Six resizes to the current size and one real one: one order.
    let orders = sim.orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        (orders[0].gateway_id.as_str(), orders[0].order_id.as_str()),
        ("nat-2", out["resize"].as_str().unwrap())
    );
    assert_eq!(sim.gateway("nat-1").unwrap().state, "AVAILABLE");
}

#[tokio::test]
async fn tencentcloud_sdk_gets_the_documented_error_codes_and_every_model_field() {
    let sim = start().await;
    let host = sim.http_url.trim_start_matches("http://").to_owned();
    let out = sdk_run("tencent_v3.py", "strict", &sim, &host).await;
    let expected = [
        ("malformed_ids", "InvalidParameterValue.Malformed"),
        ("malformed_filter", "InvalidParameterValue.Malformed"),
        ("malformed_reset", "InvalidParameterValue.Malformed"),
        ("limit_101", "InvalidParameterValue.Range"),
        ("limit_0", "InvalidParameterValue.Range"),
        ("offset_negative", "InvalidParameterValue.Range"),
        ("coexist", "InvalidParameter.Coexist"),
        ("filter_key", "InvalidParameter.FilterInvalidKey"),
        ("filter_not_dict", "InvalidParameter.FilterNotDict"),
        ("filter_values_not_list", "InvalidParameter.FilterValuesNotList"),
        ("unknown_parameter", "UnknownParameter"),
        ("missing_parameter", "MissingParameter"),
        ("wrong_type", "InvalidParameter"),
        ("size_not_sold", "InvalidParameterValue.Range"),
        ("not_found", "ResourceNotFound"),
        ("unknown_action", "InvalidAction"),
        ("no_such_version", "NoSuchVersion"),
        ("invalid_secret_id", "AuthFailure.InvalidSecretId"),
        ("token_missing", "AuthFailure.TokenFailure"),
        ("token_wrong", "AuthFailure.TokenFailure"),
    ];
    for (case, code) in expected {
        assert_eq!(out[case], code, "{case}");
    }
    assert_eq!(out["tag_filter"], json!(["nat-1", "nat-2"]));
    assert_eq!(out["token_ok"], 1);
    assert_eq!(
        out["expired"],
        json!({ "TC3-HMAC-SHA256": "AuthFailure.SignatureExpire", "HmacSHA256": "AuthFailure.SignatureExpire" })
    );
    // Errors come as HTTP 200 with exactly `application/json`: the SDK parses error bodies only then.
    assert_eq!(out["put"], json!({ "status": 200, "contentType": "application/json", "code": "UnsupportedProtocol" }));
    assert_eq!(out["xml"]["code"], "InvalidParameter");
    assert_eq!(
        (out["bearer"].as_str(), out["no_action"].as_str()),
        (Some("AuthFailure.InvalidAuthorization"), Some("MissingParameter"))
    );
    assert_eq!(out["unchanged"], true);
    // Every field of the SDK's NatGateway model but the one documented as absent for
    // non-exclusive gateways, and nothing the model does not know.
    assert_eq!(out["fields"], json!({ "unset": ["ExclusiveGatewayBandwidth"], "verbose": "DETAIL", "ignored": [] }));
    assert!(sim.orders().is_empty(), "{:?}", sim.orders());
}

#[tokio::test]
async fn qcloudapi_sdk_gets_replay_protection_the_documented_codes_and_fields() {
    let sim = start().await;
    let host = sim.https_url.as_deref().unwrap().trim_start_matches("https://").to_owned();
    let out = sdk_run("tencent_v2.py", "strict", &sim, &host).await;
    for form in ["GET/HmacSHA1", "GET/HmacSHA256", "POST/HmacSHA1", "POST/HmacSHA256"] {
        assert_eq!(out["forms"][form], 1_000_000, "{form}");
        assert_eq!(out["bad_signature"][form], 4100, "{form}");
    }
    assert_eq!(
        out["replay"],
        json!({ "first": 0, "again": { "code": 4500, "codeDesc": "ReplayAttack" }, "other_nonce": 0 })
    );
    let code = |case: &str| (out[case]["code"].as_i64().unwrap_or(-1), out[case]["codeDesc"].as_str().unwrap_or(""));
    assert_eq!(code("expired"), (4500, "AuthFailure.SignatureExpire"));
    assert_eq!(code("bad_nonce"), (4000, "InvalidParameter"));
    assert_eq!(code("invalid_secret_id"), (4100, "AuthFailure.InvalidSecretId"));
    assert_eq!(code("token_missing"), (4105, "AuthFailure.TokenFailure"));
    assert_eq!(out["token_ok"], 0);
    assert_eq!(code("malformed_nat"), (4000, "InvalidParameterValue.Malformed"));
    assert_eq!(code("malformed_vpc"), (4000, "InvalidParameterValue.Malformed"));
    assert_eq!(code("missing"), (4000, "MissingParameter"));
    assert_eq!(code("size_not_sold"), (4000, "InvalidParameterValue.Range"));
    assert_eq!(code("not_a_number"), (4000, "InvalidParameterValue"));
    assert_eq!(code("limit_51"), (4000, "InvalidParameterValue.Range"));
    assert_eq!(code("unknown_bill"), (5000, "InvalidBillId.NotFound"));
    assert_eq!(code("unknown_action"), (4000, "InvalidAction"));
    // An upgrade to the current size: accepted, its bill done at once, nothing changed or ordered.
    assert_eq!(out["unchanged"], json!({ "code": "0", "bill": 0, "state": 1 }));
    assert_eq!(out["missing_fields"], json!([]));
    assert!(sim.orders().is_empty(), "{:?}", sim.orders());
}

/// The Tag API (tencentcloud-sdk-python-tag), STS `GetCallerIdentity` (the SDK's CommonClient)
/// and `DescribeNatGateways`' `TagSet` (tencentcloud-sdk-python-vpc), all on the simulator's one
/// port: the documented rules and codes, writes visible only after the tag delay, the last of
/// two writes winning, paging, the 50-tag limit, an injected refusal and a console edit.
#[tokio::test]
async fn tencentcloud_sdks_tag_gateways_and_read_the_caller_identity() {
    const OTHER: (&str, &str, &str) = ("AKIDotheraccount", "other-secret-key", "200000000002");
    let sim = start().await;
    sim.add_credential(SimCredential { key_id: OTHER.0.into(), secret: OTHER.1.into(), token: None });
    sim.set_account(OTHER.0, OTHER.2);
    let host = sim.http_url.trim_start_matches("http://").to_owned();
    let script = "tencent_tag.py";
    let mut cmd = tokio::process::Command::new(python::interpreter());
    cmd.arg(python::script(script))
        .arg("scenario")
        .env("SIM_HOST", &host)
        .env("SIM_CONTROL", &sim.http_url)
        .env("SECRET_ID", ID)
        .env("SECRET_KEY", KEY)
        .env("ACCOUNT", natgw_sim::core::DEFAULT_ACCOUNT)
        .env("OTHER_ID", OTHER.0)
        .env("OTHER_KEY", OTHER.1)
        .env("OTHER_ACCOUNT", OTHER.2)
        .env("GATEWAY", "nat-1")
        .env("SECOND", "nat-2")
        .env("DELAY_MS", "1000");
    let out = parse(script, cmd.output().await.expect("python runs"));
    let uin = natgw_sim::core::DEFAULT_ACCOUNT;
    let name = |id: &str| format!("qcs::vpc:ap-guangzhou:uin/{uin}:nat/{id}");

    assert_eq!(
        out["identity_secret"],
        json!({"AccountId": uin, "PrincipalId": uin, "UserId": uin, "Type": "CAMUser",
               "Arn": format!("qcs::cam::uin/{uin}:uin/{uin}")})
    );
    assert_eq!(out["identity_other"]["AccountId"], OTHER.2);

    assert_eq!(out["before"], json!({"managed-by": "natgw-operator-sim"}));
    assert_eq!(
        out["tag_failed"],
        json!([{"resource": name("nat-missing"), "code": "InvalidParameterValue.ResourceIdInvalid"}])
    );
    // The write is accepted but not visible until the delay has passed.
    assert_eq!(out["describe_at_once"], out["before"]);
    assert_eq!(out["get_at_once"], json!({"token": "", "mappings": []}));
    assert_eq!(
        out["describe_later"],
        json!({"managed-by": "natgw-operator-sim", "natgw.io/claim": "cluster-a.platform.egress", "team": "net"})
    );
    assert_eq!(out["get_later"]["mappings"], json!([{"resource": name("nat-1"), "tags": out["describe_later"]}]));
    assert_eq!(out["get_listed"]["mappings"].as_array().unwrap().len(), 2, "{}", out["get_listed"]);
    assert_eq!(out["last_writer"], "cluster-c.x.y");
    assert_eq!(out["pages"], json!([[name("nat-1")], [name("nat-2")]]));

    assert_eq!(
        out["errors"],
        json!({
            "reserved": "InvalidParameter.ReservedTagKey",
            "long_key": "InvalidParameterValue.TagKeyLengthExceeded",
            "long_value": "InvalidParameterValue.TagValueLengthExceeded",
            "bad_char": "InvalidParameterValue.TagKeyCharacterIllegal",
            "empty_value": "InvalidParameterValue.TagValueEmpty",
            "duplicate": "InvalidParameterValue.TagKeyDuplicate",
            "other_account": "AuthFailure.UnauthorizedOperation",
            "too_many_resources": "LimitExceeded.ResourceNumPerRequest",
            "not_a_name": "InvalidParameterValue.ResourceDescriptionError",
            "max_results": "InvalidParameter",
            "token": "InvalidParameter.PaginationTokenInvalid",
        })
    );
    assert_eq!(out["other_account_own_name"], json!([]));
    assert_eq!(out["over_limit"], json!([{"resource": name("nat-2"), "code": "LimitExceeded.ResourceAttachedTags"}]));
    assert_eq!(out["injected"], "FailedOperation.ResourceTagProcessing");
    assert_eq!(out["console"], "handed-over");
    assert_eq!(out["untag_failed"], json!([]));
    assert_eq!(out["untag_at_once"], true);
    assert_eq!(out["untag_later"], false);

    // Tag writes are not orders; each call is in the request log under its service.
    assert!(sim.orders().is_empty(), "{:?}", sim.orders());
    let requests = sim.requests();
    let logged = |api: &str, action: &str| requests.iter().any(|r| r.api == api && r.action == action);
    assert!(logged("tencent/tag", "TagResources") && logged("tencent/tag", "UnTagResources"));
    assert!(logged("tencent/tag", "GetResources") && logged("tencent/sts", "GetCallerIdentity"));
}
