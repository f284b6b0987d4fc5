//! Conformance with Huawei Cloud's official Python SDKs: the simulator accepts what they sign and
//! they parse what it answers, and the operator's signer produces the SDK's exact signatures.
//! Needs the SDKs of tests/conformance/requirements.txt (see tests/conformance/python.rs).

use crate::python;

use std::time::Duration;

use natgw_operator::api::BillingMode;
use natgw_operator::cloud::huawei::sign;
use natgw_sim::core::SimCredential;
use natgw_sim::huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway, SimProject};
use serde_json::{Value, json};

const AK: &str = "SDKCONFORMANCEAK";
const SK: &str = "sdk-conformance-secret";
const PROJECT: &str = "9f8e7d6c5b4a";
const DOMAIN: &str = "d0main";
const REGION: &str = "cn-north-4";

/// Runs the script; fails loudly when the SDKs are missing or the script fails.
fn check(output: std::process::Output) -> String {
    python::assert_ran(&output, "Huawei Cloud", "huawei_sdk.py");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn sdk_authorization(case: &Value) -> String {
    let output = std::process::Command::new(python::interpreter())
        .arg(python::script("huawei_sdk.py"))
        .arg("sign")
        .arg(case.to_string())
        .output()
        .expect("python runs");
    check(output)
}

fn operator_authorization(case: &Value) -> String {
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
            .collect()
    };
    let mut headers = pairs(&case["headers"]);
    // The SDK adds `Host` from the request's host when the headers lack it.
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        headers.push(("Host".into(), case["host"].as_str().unwrap().into()));
    }
    let query = pairs(&case["query"]);
    let body = case["body"].as_str().unwrap_or_default().as_bytes();
    let request = sign::SignedRequest {
        method: case["method"].as_str().unwrap(),
        path: case["path"].as_str().unwrap(),
        query: &query,
        headers: &headers,
        body,
    };
    sign::authorization(&request, case["ak"].as_str().unwrap(), case["sk"].as_str().unwrap()).unwrap()
}

#[test]
fn the_operator_signs_exactly_as_the_sdk() {
    let date = "20240501T101112Z";
    let cases = [
        // What NatClient sends for change_to_period.
        json!({
            "method": "POST", "host": "127.0.0.1:8443", "path": format!("/v2/{PROJECT}/nat_gateways/gw-1/change_to_period"),
            "query": [], "ak": AK, "sk": SK,
            "headers": [["Content-Type", "application/json"], ["User-Agent", "huaweicloud-usdk-python/3.0"],
                        ["X-Project-Id", PROJECT], ["X-Sdk-Date", date]],
            "body": "{\"prepaid_options\": {\"period_type\": \"month\", \"period_num\": 1, \"is_auto_renew\": false, \"is_auto_pay\": true}}"
        }),
        // A BSS read with a domain, and a path segment that needs escaping.
        json!({
            "method": "GET", "host": "bss.myhuaweicloud.com", "path": "/v2/orders/customer-orders/details/CS 01",
            "query": [], "ak": AK, "sk": SK, "headers": [["X-Domain-Id", DOMAIN], ["X-Sdk-Date", date]], "body": ""
        }),
        // ListCustomerOrders as the operator sends it: times with `:` and a `-` in order_by.
        json!({
            "method": "GET", "host": "bss.myhuaweicloud.com", "path": "/v2/orders/customer-orders",
            "query": [["service_type_code", "hws.service.type.natgateway"], ["order_type", "11"],
                      ["create_time_begin", "2024-02-01T10:11:12Z"], ["create_time_end", "2024-05-02T10:11:12Z"],
                      ["order_by", "-createTime"], ["limit", "100"], ["offset", "0"]],
            "ak": AK, "sk": SK, "headers": [["X-Domain-Id", DOMAIN], ["X-Sdk-Date", date]], "body": ""
        }),
        // Repeated keys, reserved and non-ASCII characters in the query; an unsigned `_` header.
        json!({
            "method": "GET", "host": "iam.cn-north-4.myhuaweicloud.com", "path": "/v3/projects",
            "query": [["name", "cn-north-4"], ["multi", "3"], ["multi", "1"], ["test", "一 (&=?!#%.*)"]],
            "ak": AK, "sk": SK, "headers": [["X-Sdk-Date", date], ["TEST_UNDERSCORE", "x"], ["X-Security-Token", "tok"]], "body": ""
        }),
        // The first official vector's request; the SDK always signs a Host (here empty).
        json!({
            "method": "GET", "host": "", "path": "/path", "query": [["limit", "1"]], "ak": "AccessKey", "sk": "SecretKey",
            "headers": [["X-Sdk-Date", "20060102T150405Z"], ["Host", ""]], "body": ""
        }),
    ];
    for case in &cases {
        assert_eq!(operator_authorization(case), sdk_authorization(case), "case {case}");
    }
}

/// The simulator the SDK is driven against: this file's account, slow orders and changes (the
/// script reads them while they run).
fn sim_config() -> HuaweiSimConfig {
    HuaweiSimConfig {
        credentials: vec![SimCredential { key_id: AK.into(), secret: SK.into(), token: None }],
        projects: vec![SimProject { id: PROJECT.into(), name: REGION.into() }],
        domain_id: Some(DOMAIN.into()),
        order_time: Duration::from_secs(30),
        change_time: Duration::from_secs(30),
        ..HuaweiSimConfig::default()
    }
}

/// An ACTIVE Small gateway of the account's project.
fn gateway(id: &str, billing: BillingMode) -> SeedGateway {
    SeedGateway {
        id: id.into(),
        project_id: PROJECT.into(),
        spec: "1".into(),
        status: "ACTIVE".into(),
        billing,
        admin_state_up: true,
    }
}

/// Runs `huawei_sdk.py COMMAND` against `sim` with `env` besides the account's, and returns the
/// JSON report it prints.
async fn sdk(sim: &HuaweiSim, command: &str, env: &[(&str, String)]) -> Value {
    let output = tokio::process::Command::new(python::interpreter())
        .arg(python::script("huawei_sdk.py"))
        .arg(command)
        .env("HW_ENDPOINT", &sim.http_url)
        .env("HW_AK", AK)
        .env("HW_SK", SK)
        .env("HW_PROJECT", PROJECT)
        .env("HW_DOMAIN", DOMAIN)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .expect("python runs");
    serde_json::from_str(&check(output)).expect("the script prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_work_against_the_simulator() {
    let sim = HuaweiSim::start(sim_config()).await.unwrap();
    for (id, billing) in
        [("gw-ppu", BillingMode::PayPerUse), ("gw-pre", BillingMode::Prepaid), ("gw-pre2", BillingMode::Prepaid)]
    {
        sim.seed_gateway(gateway(id, billing));
    }
    let now = k8s_openapi::jiff::Timestamp::now();
    let begin = (now - Duration::from_secs(90 * 24 * 3600)).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let end = (now + Duration::from_secs(24 * 3600)).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let env = [("HW_REGION", REGION.to_owned()), ("HW_BEGIN", begin), ("HW_END", end)];
    let report = sdk(&sim, "flow", &env).await;

    assert_eq!(report["show"]["spec"], "1");
    assert_eq!(report["show"]["status"], "ACTIVE");
    assert!(report["show"]["billing_info"].is_null());
    assert!(report["show"]["created_at"].as_str().unwrap().starts_with("20"), "{}", report["show"]);
    assert!(report["update"]["order_id"].as_str().is_some_and(|o| o.starts_with("CS")), "{}", report["update"]);
    assert_eq!(report["update"]["status"], "PENDING_UPDATE");
    let order = report["to_period"]["order_id"].as_str().unwrap();
    assert!(order.starts_with("CS"));
    assert_eq!(report["order"], json!({"status": 6, "order_type": 11, "total_count": 1}));
    assert_eq!(
        report["line_item"],
        json!({"service_type_code": "hws.service.type.natgateway", "period_type": 2, "period_num": 1, "order_id": order})
    );
    // The SDK's model of ListCustomerOrders parses the simulator's answer; only the conversion
    // order is listed (the spec change is type 3), still pending payment.
    let listed = &report["listed"];
    assert_eq!(listed["total_count"], 1, "{listed}");
    let entry = &listed["orders"][0];
    assert_eq!(
        (entry["order_id"].as_str(), entry["status"].as_i64(), entry["order_type"].as_i64()),
        (Some(order), Some(6), Some(11))
    );
    assert_eq!(entry["service_type_code"], "hws.service.type.natgateway");
    assert!(entry["create_time"].as_str().is_some_and(|t| t.len() == 20 && t.ends_with('Z')), "{entry}");
    assert_eq!(report["listed_pending"], json!([order]));
    assert_eq!(report["pay"]["status"], 204);
    assert_eq!(report["order_after_pay"]["status"], 3);
    assert!(report["order_after_pay"]["payment_time"].as_str().is_some_and(|t| t.ends_with('Z')), "{report}");
    // Every field of the SDK's response models is filled (but those that do not apply).
    for unset in ["order_unset", "line_item_unset", "listed_unset"] {
        assert_eq!(report[unset], json!([]), "{unset}");
    }
    assert_eq!(report["order_after_pay"]["unset"], json!([]));
    assert_eq!(report["order_after_pay"]["line_item_unset"], json!([]));
    // ListPayPerUseCustomerResources ties the order to its gateway, and to no other.
    assert_eq!(
        report["resources"],
        json!({"total_count": 1, "ids": ["gw-ppu"], "regions": [REGION], "unset": []}),
        "{report}"
    );
    assert_eq!(report["resources_other"], 0);
    assert_eq!(
        (report["resources_invalid"]["status"].as_i64(), report["resources_invalid"]["code"].as_str()),
        (Some(400), Some("CBC.0100"))
    );
    for kind in ["pay_again", "unknown_order"] {
        assert_eq!(
            (report[kind]["status"].as_i64(), report[kind]["code"].as_str()),
            (Some(400), Some("CBC.0100")),
            "{kind}"
        );
    }
    // The same spec again orders nothing; without auto-pay the change order waits for payment.
    assert_eq!(report["same_spec"], json!({"order_id": null, "status": "ACTIVE"}));
    assert_eq!(report["manual_resize"]["status"], 6, "{report}");
    assert_eq!(report["manual_resize"]["order_type"], 3);
    assert_eq!(
        (report["malformed_id"]["status"].as_i64(), report["malformed_id"]["code"].as_str()),
        (Some(400), Some("NAT.0002"))
    );
    assert_eq!(report["projects"], json!([{"id": PROJECT, "name": REGION, "unset": []}]));
    assert_eq!((&report["show"]["unset"], &report["show"]["session_unset"]), (&json!([]), &json!([])), "{report}");
    assert_eq!(report["list"], json!({"gw-ppu": [], "gw-pre": [], "gw-pre2": []}), "ListNatGateways' model is filled");

    assert_eq!((report["auth"]["status"].as_i64(), report["auth"]["code"].as_str()), (Some(401), Some("APIG.0301")));
    assert_eq!(report["not_found"]["status"], 404);
    assert_eq!(
        (report["invalid"]["status"].as_i64(), report["invalid"]["code"].as_str()),
        (Some(400), Some("NAT.0002"))
    );
    // The SDK's urllib3 retry policy (status list [429], retry_times 0) turns any 429 into its own
    // "429" error without reading the body, so the APIG.0308 answer is checked in the ledger.
    assert_eq!(report["throttled"]["status"], 429);
    assert!(sim.core().ledger.requests().iter().any(|r| r.action == "ShowNatGateway" && r.outcome == "APIG.0308"));
    for kind in ["auth", "not_found", "invalid"] {
        assert_eq!(report[kind]["request_id"].as_str().map(str::len), Some(32), "{kind}: {}", report[kind]);
    }

    // Every signing algorithm of the SDK is accepted, for a read and for a body the hash covers.
    let accepted = json!({"nat": "ACTIVE", "bss": 1});
    assert_eq!(
        report["algorithms"],
        json!({"HMAC_SHA256": accepted, "HMAC_SM3": accepted, "ECDSA_P256_SHA256": accepted, "SM2_SM3": accepted}),
        "{report}"
    );
    assert_eq!(
        (report["auth_sm2"]["status"].as_i64(), report["auth_sm2"]["code"].as_str()),
        (Some(401), Some("APIG.0301"))
    );
    // Only the deliberately wrong secrets were refused: everything else the SDKs signed verified.
    let refused: Vec<_> = sim.core().ledger.requests().into_iter().filter(|r| r.outcome == "APIG.0301").collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    let orders = sim.orders();
    assert!(orders.iter().any(|o| o.order_id == order && o.status == 3));
    // The ledger: the spec change, the conversion, the unpaid spec change; not the no-op update.
    let ledger: Vec<_> = sim.core().ledger.orders().into_iter().map(|o| (o.gateway_id, o.action)).collect();
    assert_eq!(
        ledger,
        [("gw-pre", "UpdateNatGateway"), ("gw-ppu", "UpdateNatGatewayToPeriod"), ("gw-pre2", "UpdateNatGateway")]
            .map(|(g, a)| (g.to_owned(), a.to_owned()))
    );
}

/// A header the SDK's requests and the operator's may differ in, and why.
struct Difference {
    header: &'static str,
    why: &'static str,
}

/// The only differences allowed between the SDK's signed headers and the operator's.
const DIFFERENCES: &[Difference] = &[
    Difference {
        header: "user-agent",
        why: "the SDK signs its own User-Agent; the operator's HTTP client sends one it does not sign \
              (API Gateway verifies whatever SignedHeaders names)",
    },
    Difference {
        header: "content-type",
        why: "on a request without a body (CancelAutoRenewalResources' DELETE) the SDK still names \
              application/json and signs it; the operator sends no Content-Type when there is nothing to describe",
    },
];

/// The signed headers of a request, by lower-case name, and its SignedHeaders list.
fn signed(r: &natgw_sim::recorder::RecordedRequest) -> (Vec<String>, std::collections::BTreeMap<String, String>) {
    let auth =
        sign::parse_authorization(r.header("authorization").expect("signed")).expect("an SDK-HMAC-SHA256 header");
    assert_eq!(auth.algorithm, "SDK-HMAC-SHA256");
    assert_eq!(auth.access, AK);
    let values = auth
        .signed_headers
        .iter()
        .map(|h| (h.clone(), r.header(h).unwrap_or_else(|| panic!("{h} is signed but not sent")).to_owned()))
        .collect();
    (auth.signed_headers, values)
}

/// A JSON body as a value (the SDK writes `", "`, the operator `","`); none for an empty one.
fn body(r: &natgw_sim::recorder::RecordedRequest) -> Option<Value> {
    (!r.body.is_empty()).then(|| serde_json::from_slice(&r.body).expect("a JSON body"))
}

/// Asserts that the operator's request is the SDK's: method, path, query, body (as a value) and
/// every signed header, but for [`DIFFERENCES`] (each checked to be really there) and the values
/// that are the sender's own: `X-Sdk-Date` (both within API Gateway's 15 minutes of now) and
/// Content-Type's `charset=UTF-8` parameter (JSON is UTF-8, RFC 8259 section 8.1).
fn assert_same(call: &str, sdk: &natgw_sim::recorder::RecordedRequest, ours: &natgw_sim::recorder::RecordedRequest) {
    let line = |r: &natgw_sim::recorder::RecordedRequest| {
        format!("{} {} {:?} {}", r.method, r.path, r.query, String::from_utf8_lossy(&r.body))
    };
    println!("{call}\n  SDK:      {}\n  operator: {}", line(sdk), line(ours));
    assert_eq!((&ours.method, &ours.path, &ours.query), (&sdk.method, &sdk.path, &sdk.query), "{call}");
    assert_eq!(body(ours), body(sdk), "{call}: the bodies differ");
    let (sdk_names, mut theirs) = signed(sdk);
    let (our_names, mut mine) = signed(ours);
    let user_agent = &DIFFERENCES[0];
    assert!(sdk_names.iter().any(|h| h == user_agent.header), "{call}: {}", user_agent.why);
    assert!(!our_names.iter().any(|h| h == user_agent.header), "{call}: {}", user_agent.why);
    theirs.remove(user_agent.header);
    if ours.body.is_empty() {
        let content_type = &DIFFERENCES[1];
        assert_eq!(
            theirs.remove(content_type.header).as_deref(),
            Some("application/json"),
            "{call}: {}",
            content_type.why
        );
        assert_eq!(ours.header(content_type.header), None, "{call}: {}", content_type.why);
    } else {
        let media = |v: Option<String>| v.map(|v| v.to_ascii_lowercase().replace(";charset=utf-8", ""));
        assert_eq!(media(mine.remove("content-type")), media(theirs.remove("content-type")), "{call}: Content-Type");
    }
    let now = k8s_openapi::jiff::Timestamp::now();
    for side in [&mut theirs, &mut mine] {
        let date = side.remove("x-sdk-date").and_then(|d| sign::parse_date(&d)).expect("a signed X-Sdk-Date");
        assert!(now.duration_since(date).unsigned_abs() < Duration::from_secs(15 * 60), "{call}: X-Sdk-Date {date}");
    }
    assert_eq!(mine, theirs, "{call}: the operator's signed headers (left) differ from the SDK's (right)");
}

/// The operator's request for each SDK request it makes the same call as: same method, path and
/// body (a differing body fails against the first SDK request of that method and path).
fn pair<'a>(
    sdk: &'a [natgw_sim::recorder::RecordedRequest],
    ours: &natgw_sim::recorder::RecordedRequest,
) -> &'a natgw_sim::recorder::RecordedRequest {
    let same_call: Vec<_> = sdk.iter().filter(|r| r.method == ours.method && r.path == ours.path).collect();
    assert!(!same_call.is_empty(), "the SDK made no {} {} call", ours.method, ours.path);
    same_call.iter().find(|r| body(r) == body(ours)).copied().unwrap_or(same_call[0])
}

/// The BSS calls about a yearly/monthly gateway's subscription: the official SDK's requests are
/// accepted by the simulator and answered as its models expect, the refusals are BSS's documented
/// codes, and the operator's client sends each of these calls exactly as the SDK does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_renewal_calls_work_and_equal_the_sdks() {
    use natgw_operator::api::ProviderSpec;
    use natgw_operator::cloud::huawei::{HuaweiClient, HuaweiProvider};
    use natgw_operator::cloud::{Credentials, ErrorKind, GatewayRef, Provider, RenewalChange, SecretValue};

    let bss_unlimited = ["ListPayPerUseCustomerResources", "AutoRenewalResources", "CancelAutoRenewalResources"]
        .into_iter()
        .chain(["UpdatePeriodToOnDemand", "CancelCustomerOrder", "ShowCustomerOrderDetails"])
        .map(|a| (a.to_owned(), 0))
        .collect();
    let config = HuaweiSimConfig { rate_limits: bss_unlimited, keep_requests: true, ..sim_config() };
    let sim = HuaweiSim::start(config).await.unwrap();
    // More than 50 yearly/monthly gateways, so that a read of all of them pages the account.
    let mut prepaid: Vec<String> = ["gw-pre", "gw-pre2", "gw-pre3"].map(str::to_owned).to_vec();
    prepaid.extend((0..51).map(|i| format!("gw-pad{i:02}")));
    sim.seed_gateway(gateway("gw-ppu", BillingMode::PayPerUse));
    for id in &prepaid {
        sim.seed_gateway(gateway(id, BillingMode::Prepaid));
    }
    let report = sdk(&sim, "renewal", &[]).await;
    let sdk_requests = sim.take_requests();

    // (a) The SDK's calls are accepted and its models read the answers whole.
    let one = &report["one"];
    assert_eq!((one["total_count"].as_i64(), one["resource_id"].as_str()), (Some(1), Some("gw-pre")), "{report}");
    assert_eq!((one["status"].as_i64(), one["expire_policy"].as_i64(), &one["unset"]), (Some(2), Some(0), &json!([])));
    assert_eq!(one["expire_time"], sim.subscription("gw-pre").unwrap().expire_time);
    let mut listed = prepaid.clone();
    listed.sort();
    assert_eq!(report["page"], json!({"total_count": 54, "ids": listed}));
    assert_eq!(report["page_after_end"], json!({"total_count": 54, "listed": 0}));
    assert_eq!(report["auto_renew"], json!({"status": 204, "policy": 3}));
    assert_eq!(report["cancel_auto_renew"], json!({"status": 204, "policy": 0}));
    assert_eq!(report["auto_renew_bare"], json!({"status": 204, "policy": 3}));
    assert_eq!(report["set_up"], json!({"status": 200, "errors": [], "policy": 1}));
    assert_eq!(report["cancel"], json!({"status": 200, "errors": [], "policy": 0}));
    assert_eq!(report["set_up_pay_per_use"], json!({"status": 200, "errors": [{"code": "CBC.0100", "id": "gw-ppu"}]}));
    for refused in ["auto_renew_pay_per_use", "bad_operation"] {
        let r = &report[refused];
        assert_eq!((r["status"].as_i64(), r["code"].as_str()), (Some(400), Some("CBC.0100")), "{refused}: {r}");
    }
    let pending = &report["cancel_pending"];
    assert_eq!((pending["before"].as_i64(), pending["status"].as_i64()), (Some(6), Some(204)), "{pending}");
    assert_eq!(pending["after"], 4);
    let paid = &report["cancel_paid"];
    assert_eq!(
        (paid["status"].as_i64(), paid["code"].as_str(), paid["after"].as_i64()),
        (Some(400), Some("CBC.99005010"), Some(3)),
        "{paid}"
    );
    let unknown = &report["cancel_unknown"];
    assert_eq!((unknown["status"].as_i64(), unknown["code"].as_str()), (Some(400), Some("CBC.30000010")), "{unknown}");
    assert_eq!(sim.gateway("gw-pre2").unwrap().status, "ACTIVE", "a cancelled change leaves the gateway as it was");
    let refused: Vec<_> = sim.core().ledger.requests().into_iter().filter(|r| r.outcome.starts_with("APIG")).collect();
    assert!(refused.is_empty(), "every request the SDK signed verified: {refused:?}");
    assert!(
        sim.core().ledger.orders().iter().all(|o| o.action == "UpdateNatGateway"),
        "renewal settings are no orders"
    );

    // (b) The operator's client makes the same calls.
    let http = natgw_operator::cloud::http::client(None).unwrap();
    let credentials = Credentials {
        key_id: AK.into(),
        secret: SecretValue::new(SK),
        session_token: None,
        domain_id: Some(DOMAIN.into()),
    };
    let c = HuaweiClient::new(http, Some(&sim.http_url), None, REGION, credentials).unwrap();
    let place = ProviderSpec::Huawei(Box::new(HuaweiProvider {
        region: REGION.into(),
        project_id: Some(PROJECT.into()),
        bss_endpoint: None,
    }));
    let gw = GatewayRef { id: "gw-pre".into(), place };
    let seen = c.describe(&gw).await.unwrap();
    assert!(seen.subscription.is_some_and(|s| s.expires_at.is_some()), "{seen:?}");
    let all = c.describe_many(PROJECT, &prepaid).await.unwrap();
    assert!(all.values().all(|o| o.subscription.is_some()), "every one of the 54 found in the account's page");
    for change in [
        RenewalChange::EnableAutoRenew,
        RenewalChange::DisableAutoRenew,
        RenewalChange::PayPerUseAtExpiry,
        RenewalChange::KeepAtExpiry,
    ] {
        c.set_renewal(&gw, change).await.unwrap_or_else(|e| panic!("{change:?}: {e}"));
    }
    let unpaid = pending["order_id"].as_str().unwrap();
    let gw2 = GatewayRef { id: "gw-pre2".into(), ..gw.clone() };
    let again = c.cancel_order(&gw2, unpaid).await.unwrap_err();
    assert_eq!((again.kind, again.code.as_deref()), (ErrorKind::InvalidRequest, Some("CBC.99005010")), "{again}");
    let ours: Vec<_> = sim.take_requests().into_iter().filter(|r| r.path.starts_with("/v2/orders/")).collect();
    let calls: Vec<_> = ours.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    let query = "POST /v2/orders/suscriptions/resources/query";
    let autorenew = "/v2/orders/subscriptions/resources/autorenew/gw-pre";
    assert_eq!(
        calls,
        [
            query.to_owned(),
            query.to_owned(),
            format!("POST {autorenew}"),
            format!("DELETE {autorenew}"),
            "POST /v2/orders/subscriptions/resources/to-on-demand".to_owned(),
            "POST /v2/orders/subscriptions/resources/to-on-demand".to_owned(),
            "PUT /v2/orders/customer-orders/cancel".to_owned(),
        ]
    );
    let names = [
        "ListPayPerUseCustomerResources (one gateway)",
        "ListPayPerUseCustomerResources (the account's page)",
        "AutoRenewalResources",
        "CancelAutoRenewalResources",
        "UpdatePeriodToOnDemand SET_UP",
        "UpdatePeriodToOnDemand CANCEL",
        "CancelCustomerOrder",
    ];
    for (name, request) in names.iter().zip(&ours) {
        assert_same(name, pair(&sdk_requests, request), request);
    }
}

/// huaweicloudsdknat's tag calls (NAT v3 paths) against the simulator: writes visible only after
/// the tag delay, the last of two writes winning, delete by key or key/value, list-by-tag's
/// filters, count and paging, the documented rules (`NAT.1015`, 20 tags a gateway `NAT.1016`),
/// an injected refusal and a console edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nat_sdk_tags_gateways() {
    let sim = HuaweiSim::start(sim_config()).await.unwrap();
    for id in ["gw-a", "gw-b"] {
        sim.seed_gateway(gateway(id, BillingMode::PayPerUse));
    }
    let output = tokio::process::Command::new(python::interpreter())
        .arg(python::script("huawei_tags.py"))
        .arg("scenario")
        .env("HW_ENDPOINT", &sim.http_url)
        .env("HW_AK", AK)
        .env("HW_SK", SK)
        .env("HW_PROJECT", PROJECT)
        .env("GATEWAY", "gw-a")
        .env("SECOND", "gw-b")
        .env("DELAY_MS", "1000")
        .output()
        .await
        .expect("python runs");
    let stderr = python::assert_ran(&output, "Huawei Cloud", "huawei_tags.py");
    let r: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {stderr}"));
    let claim = "natgw-claim";

    assert_eq!(r["before"], json!({}));
    assert_eq!(r["batch_status"], 204);
    assert_eq!(r["show_at_once"], json!({}));
    assert_eq!(r["by_tag_at_once"], json!({"resources": [], "total": 0}));
    let tagged = json!({claim: "cluster-a.platform.egress", "team": "net"});
    assert_eq!(r["show_later"], tagged);
    assert_eq!(
        r["by_tag_later"],
        json!({"resources": [{"id": "gw-a", "name": "nat-gw-a", "tags": tagged}], "total": 1})
    );
    assert_eq!(r["by_tag_fuzzy"]["total"], 1);
    assert_eq!(r["count"], 1);
    assert_eq!(r["untagged"]["resources"][0]["id"], "gw-b");
    assert_eq!(r["untagged"]["total"], 1);
    assert_eq!(r["by_id"]["resources"][0]["id"], "gw-b");
    assert_eq!(r["page"]["total"], 2);
    assert_eq!(r["page"]["resources"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["page"]["resources"][0]["id"], "gw-b");
    assert_eq!(r["last_writer"], "cluster-c");
    assert_eq!(r["after_deletes"], json!({claim: "cluster-c"}));
    assert_eq!((r["create_one"].as_u64(), r["delete_one"].as_u64()), (Some(204), Some(204)));
    assert_eq!(r["second_after"], json!({}));
    assert_eq!(r["keys"], json!({claim: ["cluster-c"]}));

    let code = |name: &str| (r["errors"][name]["status"].as_u64(), r["errors"][name]["code"].as_str());
    for bad in ["slash_in_key", "long_key", "long_value", "duplicate"] {
        assert_eq!(code(bad), (Some(400), Some("NAT.1015")), "{bad}: {}", r["errors"]);
    }
    assert_eq!(code("bad_action"), (Some(400), Some("NAT.0002")));
    assert_eq!(code("too_many"), (Some(400), Some("NAT.1016")));
    assert_eq!(code("filter_limit"), (Some(400), Some("NAT.0002")));
    assert_eq!(r["errors"]["unknown_gateway"]["status"], 404);
    assert_eq!(r["twenty_first"]["code"], "NAT.1016");
    assert_eq!(r["overwrite_at_limit"], Value::Null);
    assert_eq!(r["injected"]["code"], "NAT.0007");
    assert_eq!(r["console"], "handed-over");

    // Tag writes are not orders; they are in the request log.
    assert!(sim.core().ledger.orders().is_empty());
    let requests = sim.core().ledger.requests();
    for action in ["BatchCreateDeleteNatGatewayTag", "ShowNatGatewayTag", "ListNatGatewayByTag", "ListNatGatewayTag"] {
        assert!(requests.iter().any(|q| q.action == action && q.api == "huawei/nat"), "{action}");
    }
}
