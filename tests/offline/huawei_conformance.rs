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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_work_against_the_simulator() {
    let config = HuaweiSimConfig {
        credentials: vec![SimCredential { key_id: AK.into(), secret: SK.into(), token: None }],
        projects: vec![SimProject { id: PROJECT.into(), name: REGION.into() }],
        domain_id: Some(DOMAIN.into()),
        order_time: Duration::from_secs(30),
        change_time: Duration::from_secs(30),
        ..HuaweiSimConfig::default()
    };
    let sim = HuaweiSim::start(config).await.unwrap();
    for (id, billing) in
        [("gw-ppu", BillingMode::PayPerUse), ("gw-pre", BillingMode::Prepaid), ("gw-pre2", BillingMode::Prepaid)]
    {
        sim.seed_gateway(SeedGateway {
            id: id.into(),
            project_id: PROJECT.into(),
            spec: "1".into(),
            status: "ACTIVE".into(),
            billing,
            admin_state_up: true,
        });
    }
    let now = k8s_openapi::jiff::Timestamp::now();
    let begin = (now - Duration::from_secs(90 * 24 * 3600)).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let end = (now + Duration::from_secs(24 * 3600)).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let output = tokio::process::Command::new(python::interpreter())
        .arg(python::script("huawei_sdk.py"))
        .arg("flow")
        .env("HW_ENDPOINT", &sim.http_url)
        .env("HW_AK", AK)
        .env("HW_SK", SK)
        .env("HW_PROJECT", PROJECT)
        .env("HW_DOMAIN", DOMAIN)
        .env("HW_REGION", REGION)
        .env("HW_BEGIN", begin)
        .env("HW_END", end)
        .output()
        .await
        .expect("python runs");
    let report: Value = serde_json::from_str(&check(output)).expect("the script prints JSON");

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
