//! The Tencent client against the in-process simulator, over HTTP and HTTPS: both APIs, the
//! order lifecycle, each error kind, fault injection and secret hygiene.

use std::time::Duration;

use natgw_operator::{
    api::{PeriodUnit, Prepaid, ProviderSpec},
    cloud::{
        Capacity, CloudError, Credentials, ErrorKind, GatewayRef, GatewayState, OrderState, Provider, SecretValue,
        tencent::{TencentApi, TencentClient, TencentProvider, sign},
    },
};
use natgw_sim::{
    core::SimCredential,
    faults::{Fault, FaultKind},
    tencent::{SimGateway, TencentSim, TencentSimConfig, TencentSimHandle},
};

const ID: &str = "AKIDsimtest";
const KEY: &str = "sim-secret-key-0123456789";
const CHANGE: Duration = Duration::from_millis(300);

async fn start() -> TencentSimHandle {
    TencentSim::start(TencentSimConfig {
        credentials: vec![SimCredential { key_id: ID.into(), secret: KEY.into(), token: None }],
        change_time: CHANGE,
        gateways: vec![SimGateway::new("nat-1", "vpc-1", 1_000_000)],
        ..TencentSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn credentials(id: &str, key: &str) -> Credentials {
    Credentials { key_id: id.into(), secret: SecretValue::new(key), session_token: None, domain_id: None }
}

/// V2 over HTTPS trusting the simulator's CA (as in production), V3 over plain HTTP.
fn client(sim: &TencentSimHandle, api: TencentApi, creds: Credentials) -> TencentClient {
    let (http, endpoint) = match api {
        TencentApi::V2 => {
            (natgw_operator::cloud::http::client(sim.ca_pem_path()).unwrap(), sim.https_url.clone().unwrap())
        }
        TencentApi::V3 => (natgw_operator::cloud::http::client(None).unwrap(), sim.http_url.clone()),
    };
    TencentClient::new(api, http, Some(&endpoint), "ap-guangzhou", creds).unwrap()
}

/// Sends `request` and reads its answer as JSON.
async fn json_answer(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn gw(id: &str) -> GatewayRef {
    GatewayRef {
        id: id.into(),
        place: ProviderSpec::Tencent(TencentProvider {
            region: "ap-guangzhou".into(),
            vpc_id: Some("vpc-1".into()),
            api: TencentApi::V3,
        }),
    }
}

#[tokio::test]
async fn v3_resize_runs_updating_then_available() {
    let sim = start().await;
    let c = client(&sim, TencentApi::V3, credentials(ID, KEY));
    let o = c.describe(&gw("nat-1")).await.unwrap();
    assert_eq!(
        (o.capacity, o.state, o.raw_state.as_str()),
        (Capacity::Connections(1_000_000), GatewayState::Ready, "AVAILABLE")
    );

    let ticket = c.resize(&gw("nat-1"), &Capacity::Connections(10_000_000), true).await.unwrap();
    assert!(ticket.order_id.is_none());
    let request_id = ticket.request_id.expect("a request id");
    let o = c.describe(&gw("nat-1")).await.unwrap();
    assert_eq!((o.state, o.raw_state.as_str()), (GatewayState::Transitioning, "UPDATING"));

    let busy = c.resize(&gw("nat-1"), &Capacity::Connections(3_000_000), true).await.unwrap_err();
    assert_eq!((busy.kind, busy.code.as_deref()), (ErrorKind::Busy, Some("UnsupportedOperation.NatGatewayIsBusy")));
    assert!(busy.request_id.is_some());

    tokio::time::sleep(CHANGE + Duration::from_millis(100)).await;
    let o = c.describe(&gw("nat-1")).await.unwrap();
    assert_eq!((o.capacity, o.state), (Capacity::Connections(10_000_000), GatewayState::Ready));

    let orders = sim.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!((orders[0].order_id.as_str(), orders[0].target.as_str()), (request_id.as_str(), "10000000"));
    // Decreases are fine on API 3.0.
    c.resize(&gw("nat-1"), &Capacity::Connections(1_000_000), true).await.unwrap();
    let prepaid = Prepaid { period_unit: PeriodUnit::Month, periods: 1, auto_renew: false, auto_pay: true };
    let e = c.change_billing(&gw("nat-1"), &prepaid).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(c.order_status(&gw("nat-1"), "x").await.unwrap_err().kind, ErrorKind::Unsupported);
    assert_eq!(sim.orders().len(), 2);
}

#[tokio::test]
async fn v2_upgrade_bill_goes_in_progress_then_succeeded() {
    let sim = start().await;
    let c = client(&sim, TencentApi::V2, credentials(ID, KEY));
    let o = c.describe(&gw("nat-1")).await.unwrap();
    assert_eq!((o.state, o.raw_state.as_str()), (GatewayState::Ready, "running/created"));

    let mut no_vpc = gw("nat-1");
    if let ProviderSpec::Tencent(t) = &mut no_vpc.place {
        t.vpc_id = None;
    }
    let e = c.resize(&no_vpc, &Capacity::Connections(3_000_000), true).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("spec.provider.tencent.vpcId"), "{e}");

    let bill =
        c.resize(&gw("nat-1"), &Capacity::Connections(3_000_000), true).await.unwrap().order_id.expect("a bill id");
    assert_eq!(c.order_status(&gw("nat-1"), &bill).await.unwrap(), OrderState::InProgress);
    let o = c.describe(&gw("nat-1")).await.unwrap();
    assert_eq!((o.state, o.raw_state.as_str()), (GatewayState::Transitioning, "running/changing"));
    let busy = c.resize(&gw("nat-1"), &Capacity::Connections(10_000_000), true).await.unwrap_err();
    assert_eq!(busy.kind, ErrorKind::Busy, "{busy}");

    tokio::time::sleep(CHANGE + Duration::from_millis(100)).await;
    assert_eq!(c.order_status(&gw("nat-1"), &bill).await.unwrap(), OrderState::Succeeded);
    assert_eq!(c.describe(&gw("nat-1")).await.unwrap().capacity, Capacity::Connections(3_000_000));

    let down = c.resize(&gw("nat-1"), &Capacity::Connections(1_000_000), true).await.unwrap_err();
    assert_eq!(down.kind, ErrorKind::Unsupported, "{down}");

    // A bill that fails is reported failed, not "keep waiting".
    sim.inject(Fault { action: Some("UpgradeNatGateway".into()), times: 1, kind: FaultKind::FailOrder });
    let bill = c.resize(&gw("nat-1"), &Capacity::Connections(10_000_000), true).await.unwrap().order_id.unwrap();
    tokio::time::sleep(CHANGE + Duration::from_millis(100)).await;
    assert!(matches!(c.order_status(&gw("nat-1"), &bill).await.unwrap(), OrderState::Failed { .. }));
    assert_eq!(c.describe(&gw("nat-1")).await.unwrap().capacity, Capacity::Connections(3_000_000));
    assert_eq!(sim.orders().len(), 2);
    assert_eq!(c.order_status(&gw("nat-1"), "nope").await.unwrap_err().kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn each_error_kind_on_both_apis() {
    let sim = start().await;
    for api in [TencentApi::V2, TencentApi::V3] {
        let c = client(&sim, api, credentials(ID, KEY));
        let e = c.describe(&gw("nat-missing")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound, "{api:?} {e}");
        let e = c.resize(&gw("nat-missing"), &Capacity::Connections(3_000_000), true).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound, "{api:?} {e}");

        let e = client(&sim, api, credentials(ID, "wrong-key")).describe(&gw("nat-1")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth, "{api:?} {e}");
        let e = client(&sim, api, credentials("AKIDunknown", KEY)).describe(&gw("nat-1")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth, "{api:?} {e}");

        let action = if api == TencentApi::V2 { "DescribeNatGateway" } else { "DescribeNatGateways" };
        sim.set_rate_limit(action, 1);
        c.describe(&gw("nat-1")).await.unwrap();
        // The cloud's throttling answer pauses the account's limiter for its 1 s hint; the read
        // is then tried again and succeeds (the answer stays in the request log, checked below).
        let started = std::time::Instant::now();
        c.describe(&gw("nat-1")).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(900), "{api:?} {:?}", started.elapsed());
        sim.set_rate_limit(action, 100);

        sim.inject(Fault {
            action: None,
            times: 1,
            kind: FaultKind::Error { code: "UnsupportedOperation.InsufficientFunds".into(), message: None },
        });
        let e = c.resize(&gw("nat-1"), &Capacity::Connections(10_000_000), true).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InsufficientFunds, "{api:?} {e}");
        sim.inject(Fault {
            action: None,
            times: 1,
            kind: FaultKind::Error { code: "InternalError".into(), message: None },
        });
        assert_eq!(c.describe(&gw("nat-1")).await.unwrap_err().kind, ErrorKind::Transient);
    }
    assert!(sim.orders().is_empty());
    let outcomes: Vec<String> = sim.requests().into_iter().map(|r| r.outcome).collect();
    for code in [
        "5000",
        "4100",
        "4104",
        "4400",
        "ResourceNotFound",
        "AuthFailure.SignatureFailure",
        "AuthFailure.SecretIdNotFound",
        "RequestLimitExceeded",
    ] {
        assert!(outcomes.iter().any(|o| o == code), "{code} not in {outcomes:?}");
    }
}

#[tokio::test]
async fn a_dropped_answer_is_transient_but_the_order_exists() {
    let sim = start().await;
    let c = client(&sim, TencentApi::V3, credentials(ID, KEY));
    sim.inject(Fault { action: Some("ResetNatGatewayConnection".into()), times: 1, kind: FaultKind::DropResponse });
    let e = c.resize(&gw("nat-1"), &Capacity::Connections(3_000_000), true).await.unwrap_err();
    assert!(e.kind.outcome_unknown(), "{e}");
    assert_eq!(sim.orders().len(), 1);
    assert_eq!(sim.gateway("nat-1").unwrap().state, "UPDATING");
}

#[tokio::test]
async fn describe_many_batches_a_hundred_ids_per_call() {
    let sim = start().await;
    let ids: Vec<String> = (0..150).map(|i| format!("nat-{i:04}")).collect();
    for id in &ids[..140] {
        sim.seed_gateway(SimGateway::new(id, "vpc-1", 3_000_000));
    }
    let c = client(&sim, TencentApi::V3, credentials(ID, KEY));
    let found = c.describe_many(&ids).await.unwrap();
    assert_eq!(found.len(), 140);
    assert_eq!(found["nat-0000"].capacity, Capacity::Connections(3_000_000));
    assert!(!found.contains_key("nat-0145"));
    assert_eq!(sim.requests().iter().filter(|r| r.action == "DescribeNatGateways").count(), 2);
}

#[tokio::test]
async fn stale_timestamps_are_rejected() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let host = sim.http_url.trim_start_matches("http://").to_owned();
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 600;
    let body = br#"{"NatGatewayIds":["nat-1"]}"#;
    let ct = "application/json";
    let canonical = sign::tc3_canonical_request(
        "POST",
        "/",
        "",
        &[("content-type", ct), ("host", &host)],
        "content-type;host",
        body,
    );
    let auth =
        sign::tc3_authorization(ID, "vpc", ts, "content-type;host", &sign::tc3_signature(KEY, "vpc", ts, &canonical));
    let answer = json_answer(
        http.post(&sim.http_url)
            .header("Authorization", auth)
            .header("Content-Type", ct)
            .header("X-TC-Action", "DescribeNatGateways")
            .header("X-TC-Version", "2017-03-12")
            .header("X-TC-Timestamp", ts.to_string())
            .body(&body[..]),
    )
    .await;
    assert_eq!(answer["Response"]["Error"]["Code"], "AuthFailure.SignatureExpire");

    // API 2.0 calls this a replay (4500); the client says the clock is off.
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("Action", "DescribeNatGateway"),
            ("SecretId", ID),
            ("Nonce", "1"),
            ("Timestamp", &ts.to_string()),
            ("Signature", "x"),
        ])
        .finish();
    let answer = json_answer(
        http.post(format!("{}/v2/index.php", sim.http_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await;
    assert_eq!(answer["code"], 4500);
}

#[tokio::test]
async fn the_secret_never_shows_in_errors_or_debug() {
    const SECRET: &str = "TOP-SECRET-do-not-print-9f8e7d";
    let sim = start().await;
    let shown = |e: &CloudError, c: &TencentClient| format!("{e} {e:?} {c:?} {c:#?}");
    for api in [TencentApi::V2, TencentApi::V3] {
        let c = client(&sim, api, credentials(ID, SECRET));
        let e = c.describe(&gw("nat-1")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(!shown(&e, &c).contains(SECRET));

        // Nothing listens on port 9 of loopback: a transport failure.
        let http = natgw_operator::cloud::http::client(None).unwrap();
        let c =
            TencentClient::new(api, http, Some("http://127.0.0.1:9"), "ap-guangzhou", credentials(ID, SECRET)).unwrap();
        let e = c.resize(&gw("nat-1"), &Capacity::Connections(3_000_000), true).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transient, "{e}");
        assert!(!shown(&e, &c).contains(SECRET));
    }
    let log = format!("{:?} {:?}", sim.requests(), sim.orders());
    assert!(!log.contains(SECRET) && !log.contains(KEY));
}

#[tokio::test]
async fn control_api_seeds_injects_and_reports() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", sim.http_url);
    let ok = |r: reqwest::Response| assert!(r.status().is_success(), "{}", r.status());
    ok(http
        .post(url("/_sim/gateways"))
        .json(&serde_json::json!({"id": "nat-9", "vpcId": "vpc-9"}))
        .send()
        .await
        .unwrap());
    ok(http.put(url("/_sim/timing")).json(&serde_json::json!({"changeMillis": 50})).send().await.unwrap());
    let fault = serde_json::json!({"action": "DescribeNatGateways", "kind": "error", "code": "InternalError"});
    ok(http.post(url("/_sim/faults")).json(&fault).send().await.unwrap());

    let c = client(&sim, TencentApi::V3, credentials(ID, KEY));
    assert_eq!(c.describe(&gw("nat-9")).await.unwrap_err().kind, ErrorKind::Transient);
    assert_eq!(c.describe(&gw("nat-9")).await.unwrap().capacity, Capacity::Connections(1_000_000));
    c.resize(&gw("nat-9"), &Capacity::Connections(3_000_000), true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let gateways = json_answer(http.get(url("/_sim/gateways"))).await;
    let nat9 = gateways.as_array().unwrap().iter().find(|g| g["id"] == "nat-9").unwrap();
    assert_eq!((nat9["maxConcurrent"].as_u64(), nat9["state"].as_str()), (Some(3_000_000), Some("AVAILABLE")));
    let ledger = json_answer(http.get(url("/_sim/ledger"))).await;
    assert_eq!(ledger[0]["gatewayId"], "nat-9");
    let requests = json_answer(http.get(url("/_sim/requests"))).await;
    assert_eq!(requests[0]["outcome"], "InternalError");
    assert_eq!(requests.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_malformed_id_costs_only_its_own_read() {
    let sim = start().await;
    let mut ids: Vec<String> = (0..150).map(|i| format!("nat-{i:04}")).collect();
    for id in &ids {
        sim.seed_gateway(SimGateway::new(id, "vpc-1", 3_000_000));
    }
    // The cloud refuses a whole DescribeNatGateways call for one id that is not shaped like one.
    ids.insert(120, "NAT-Typo".into());
    let c = client(&sim, TencentApi::V3, credentials(ID, KEY));
    let found = c.describe_many(&ids).await.unwrap();
    assert_eq!(found.len(), 150);
    assert!(!found.contains_key("NAT-Typo"));
    // It names no gateway, on either API.
    for api in [TencentApi::V3, TencentApi::V2] {
        let e = client(&sim, api, credentials(ID, KEY)).describe(&gw("NAT-Typo")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound, "{api:?} {e}");
    }
    let refused = sim.requests().iter().filter(|r| r.outcome.contains("Malformed") || r.outcome == "4000").count();
    assert!(refused <= 16, "a malformed id is found by halving, not one call per id: {refused} refusals");
}

#[tokio::test]
async fn a_change_to_the_current_size_places_no_order() {
    let sim = start().await;
    for api in [TencentApi::V3, TencentApi::V2] {
        let c = client(&sim, api, credentials(ID, KEY));
        let ticket = c.resize(&gw("nat-1"), &Capacity::Connections(1_000_000), true).await.unwrap();
        if let Some(bill) = ticket.order_id {
            assert_eq!(c.order_status(&gw("nat-1"), &bill).await.unwrap(), OrderState::Succeeded, "{api:?}");
        }
        let o = c.describe(&gw("nat-1")).await.unwrap();
        assert_eq!((o.capacity, o.state), (Capacity::Connections(1_000_000), GatewayState::Ready), "{api:?}");
    }
    assert!(sim.orders().is_empty(), "{:?}", sim.orders());
}

/// The tag control routes: seeding with tags, reading what is visible and what was written,
/// a console edit and removal (at once), the tag delay set through `/_sim/timing` and
/// `/_sim/tag-delay`, 404 for a gateway that is not there, and an account per key.
#[tokio::test]
async fn control_api_edits_tags_and_sets_the_tag_delay() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", sim.http_url);
    let status = |r: reqwest::Response| r.status().as_u16();
    let seed = serde_json::json!({"id": "nat-7", "tags": {"owner": "seeded"}});
    assert_eq!(status(http.post(url("/_sim/gateways")).json(&seed).send().await.unwrap()), 204);
    let tags = json_answer(http.get(url("/_sim/gateways/nat-7/tags"))).await;
    assert_eq!(tags, serde_json::json!({"visible": {"owner": "seeded"}, "written": {"owner": "seeded"}}));
    // A gateway seeded without tags carries the default one.
    assert_eq!(sim.tags("nat-1").get("managed-by").map(String::as_str), Some("natgw-operator-sim"));

    let edit = serde_json::json!({"owner": "person", "team": "net"});
    assert_eq!(status(http.put(url("/_sim/gateways/nat-7/tags")).json(&edit).send().await.unwrap()), 204);
    assert_eq!(sim.tags("nat-7").get("owner").map(String::as_str), Some("person"));
    assert_eq!(status(http.delete(url("/_sim/gateways/nat-7/tags/team")).send().await.unwrap()), 204);
    assert!(!sim.tags("nat-7").contains_key("team"));
    assert_eq!(status(http.get(url("/_sim/gateways/nat-none/tags")).send().await.unwrap()), 404);
    assert_eq!(status(http.put(url("/_sim/gateways/nat-none/tags")).json(&edit).send().await.unwrap()), 404);

    let timing = serde_json::json!({"tagDelayMillis": 250});
    assert_eq!(status(http.put(url("/_sim/timing")).json(&timing).send().await.unwrap()), 204);
    assert_eq!(json_answer(http.get(url("/_sim/tag-delay"))).await, serde_json::json!({"millis": 250}));
    let delay = serde_json::json!({"millis": 0});
    assert_eq!(status(http.put(url("/_sim/tag-delay")).json(&delay).send().await.unwrap()), 204);
    assert_eq!(json_answer(http.get(url("/_sim/tag-delay"))).await, serde_json::json!({"millis": 0}));

    let other = serde_json::json!({"keyId": "AKIDother", "secret": "s", "account": "200000000002"});
    assert_eq!(status(http.post(url("/_sim/credentials")).json(&other).send().await.unwrap()), 204);
}
