//! The Huawei client against the in-process Huawei simulator: every call the operator makes,
//! the order lifecycle, project lookup, and each error class.

use std::time::Duration;

use natgw_operator::api::{BillingMode, PeriodUnit, Prepaid};
use natgw_operator::cloud::huawei::{HuaweiClient, sign};
use natgw_operator::cloud::{
    Capacity, Credentials, ErrorKind, GatewayRef, GatewayState, OrderState, Provider, SecretValue,
};
use natgw_operator::sim::core::SimCredential;
use natgw_operator::sim::faults::{Fault, FaultKind};
use natgw_operator::sim::huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway, SimProject};

const AK: &str = "HWAKSIM";
const SK: &str = "hw-very-secret-sk";
const REGION: &str = "cn-north-4";
const PROJECT: &str = "0a1b2c3d4e5f";
const DOMAIN: &str = "dom-1";

async fn sim() -> HuaweiSim {
    let config = HuaweiSimConfig {
        credentials: vec![
            SimCredential { key_id: AK.into(), secret: SK.into(), token: None },
            SimCredential { key_id: "TMPAK".into(), secret: "tmp-sk".into(), token: Some("tmp-token".into()) },
        ],
        projects: vec![
            SimProject { id: PROJECT.into(), name: REGION.into() },
            SimProject { id: "p2".into(), name: "ap-dup".into() },
            SimProject { id: "p3".into(), name: "ap-dup".into() },
        ],
        domain_id: Some(DOMAIN.into()),
        change_time: Duration::from_millis(200),
        order_time: Duration::from_millis(200),
        ..HuaweiSimConfig::default()
    };
    let sim = HuaweiSim::start(config).await.unwrap();
    for (id, billing, spec) in [("gw-ppu", BillingMode::PayPerUse, "1"), ("gw-pre", BillingMode::Prepaid, "2")] {
        sim.seed_gateway(SeedGateway {
            id: id.into(),
            project_id: PROJECT.into(),
            spec: spec.into(),
            status: "ACTIVE".into(),
            billing,
            admin_state_up: true,
        });
    }
    sim
}

fn credentials(ak: &str, sk: &str, token: Option<&str>) -> Credentials {
    Credentials {
        key_id: ak.into(),
        secret: SecretValue::new(sk),
        session_token: token.map(SecretValue::new),
        domain_id: Some(DOMAIN.into()),
    }
}

fn client(sim: &HuaweiSim) -> HuaweiClient {
    let http = natgw_operator::cloud::http::client(None).unwrap();
    HuaweiClient::new(http, Some(&sim.http_url), None, REGION, credentials(AK, SK, None)).unwrap()
}

fn gateway(id: &str) -> GatewayRef {
    GatewayRef { id: id.into(), region: REGION.into(), vpc_id: None, project_id: Some(PROJECT.into()) }
}

fn prepaid(unit: PeriodUnit, periods: u32, auto_pay: bool) -> Prepaid {
    Prepaid { period_unit: unit, periods, auto_renew: false, auto_pay }
}

async fn wait_for(client: &HuaweiClient, gw: &GatewayRef, order: &str, want: OrderState) {
    for _ in 0..50 {
        if client.order_status(gw, order).await.unwrap() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("order {order} never reached {want:?}");
}

#[tokio::test]
async fn pay_per_use_resize_passes_through_pending_update() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-ppu");
    let seen = c.describe(&gw).await.unwrap();
    assert_eq!(
        (seen.capacity, seen.billing, seen.state),
        (Capacity::Spec("1".into()), BillingMode::PayPerUse, GatewayState::Ready)
    );

    let ticket = c.resize(&gw, &Capacity::Spec("3".into())).await.unwrap();
    assert_eq!(ticket.order_id, None);
    assert_eq!(ticket.request_id.as_ref().map(String::len), Some(32));
    let during = c.describe(&gw).await.unwrap();
    assert_eq!((during.state, during.raw_state.as_str()), (GatewayState::Transitioning, "PENDING_UPDATE"));
    let busy = c.resize(&gw, &Capacity::Spec("4".into())).await.unwrap_err();
    assert_eq!((busy.kind, busy.code.as_deref()), (ErrorKind::Busy, Some("NAT.0103")));

    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = c.describe(&gw).await.unwrap();
    assert_eq!((after.capacity, after.state), (Capacity::Spec("3".into()), GatewayState::Ready));
    let ledger = sim.core().ledger.orders();
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0].action.as_str(), ledger[0].key_id.as_str()), ("UpdateNatGateway", AK));
}

#[tokio::test]
async fn prepaid_resize_returns_an_order_and_follows_it() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-pre");
    let ticket = c.resize(&gw, &Capacity::Spec("4".into())).await.unwrap();
    let order = ticket.order_id.expect("a prepaid spec change is an order");
    assert_eq!(c.order_status(&gw, &order).await.unwrap(), OrderState::InProgress);
    wait_for(&c, &gw, &order, OrderState::Succeeded).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = c.describe(&gw).await.unwrap();
    assert_eq!(
        (after.capacity, after.billing, after.state),
        (Capacity::Spec("4".into()), BillingMode::Prepaid, GatewayState::Ready)
    );
}

#[tokio::test]
async fn change_to_period_with_auto_pay_makes_the_gateway_prepaid() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-ppu");
    let ticket = c.change_billing(&gw, &prepaid(PeriodUnit::Month, 3, true)).await.unwrap();
    let order = ticket.order_id.unwrap();
    assert!(order.starts_with("CS"), "{order}");
    wait_for(&c, &gw, &order, OrderState::Succeeded).await;
    assert_eq!(c.describe(&gw).await.unwrap().billing, BillingMode::Prepaid);
}

#[tokio::test]
async fn an_unpaid_order_waits_for_payment() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-ppu");
    let order = c.change_billing(&gw, &prepaid(PeriodUnit::Year, 1, false)).await.unwrap().order_id.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.order_status(&gw, &order).await.unwrap(), OrderState::AwaitingPayment);
    assert_eq!(c.describe(&gw).await.unwrap().billing, BillingMode::PayPerUse);
    sim.pay_order(&order).unwrap();
    wait_for(&c, &gw, &order, OrderState::Succeeded).await;
    assert_eq!(c.describe(&gw).await.unwrap().billing, BillingMode::Prepaid);
}

#[tokio::test]
async fn cancelled_and_failed_orders_report_cancelled() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-ppu");
    let order = c.change_billing(&gw, &prepaid(PeriodUnit::Month, 1, false)).await.unwrap().order_id.unwrap();
    sim.cancel_order(&order).unwrap();
    assert_eq!(c.order_status(&gw, &order).await.unwrap(), OrderState::Cancelled);

    sim.inject(Fault { action: Some("UpdateNatGatewayToPeriod".into()), times: 1, kind: FaultKind::FailOrder });
    let order = c.change_billing(&gw, &prepaid(PeriodUnit::Month, 1, true)).await.unwrap().order_id.unwrap();
    wait_for(&c, &gw, &order, OrderState::Cancelled).await;
    assert_eq!(c.describe(&gw).await.unwrap().billing, BillingMode::PayPerUse);
}

#[tokio::test]
async fn the_project_is_looked_up_once_per_region() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = GatewayRef { project_id: None, ..gateway("gw-ppu") };
    c.describe(&gw).await.unwrap();
    c.describe(&gw).await.unwrap();
    let lookups = sim.core().ledger.requests().iter().filter(|r| r.action == "KeystoneListProjects").count();
    assert_eq!(lookups, 1);

    for region in ["ap-dup", "nowhere-1"] {
        let err = c.describe(&GatewayRef { region: region.into(), ..gw.clone() }).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(err.message.contains("spec.provider.huawei.projectId"), "{err}");
    }
}

#[tokio::test]
async fn errors_are_classified_by_code() {
    let sim = sim().await;
    let c = client(&sim);

    let missing = c.describe(&gateway("gw-none")).await.unwrap_err();
    assert_eq!((missing.kind, missing.code.as_deref()), (ErrorKind::NotFound, Some("NatGatewayNotFound")));
    assert!(missing.request_id.is_some());

    let bad = c.change_billing(&gateway("gw-ppu"), &prepaid(PeriodUnit::Month, 12, true)).await.unwrap_err();
    assert_eq!((bad.kind, bad.code.as_deref()), (ErrorKind::InvalidRequest, Some("NAT.0002")));
    let bad = c.resize(&gateway("gw-ppu"), &Capacity::Spec("9".into())).await.unwrap_err();
    assert_eq!(bad.kind, ErrorKind::InvalidRequest);
    let already = c.change_billing(&gateway("gw-pre"), &prepaid(PeriodUnit::Month, 1, true)).await.unwrap_err();
    assert_eq!(already.kind, ErrorKind::InvalidRequest);

    sim.inject(Fault {
        action: Some("ShowNatGateway".into()),
        times: 1,
        kind: FaultKind::Error { code: "APIG.0308".into(), message: None },
    });
    let throttled = c.describe(&gateway("gw-ppu")).await.unwrap_err();
    assert_eq!((throttled.kind, throttled.retry_after), (ErrorKind::Throttled, Some(Duration::from_secs(2))));

    sim.inject(Fault {
        action: Some("UpdateNatGatewayToPeriod".into()),
        times: 1,
        kind: FaultKind::Error { code: "CBC.99005003".into(), message: Some("Insufficient balance.".into()) },
    });
    let broke = c.change_billing(&gateway("gw-ppu"), &prepaid(PeriodUnit::Month, 1, true)).await.unwrap_err();
    assert_eq!(broke.kind, ErrorKind::InsufficientFunds);

    sim.inject(Fault {
        action: Some("ShowNatGateway".into()),
        times: 1,
        kind: FaultKind::Error { code: "CBC.0999".into(), message: None },
    });
    assert_eq!(c.describe(&gateway("gw-ppu")).await.unwrap_err().kind, ErrorKind::Transient);

    let unknown_order = c.order_status(&gateway("gw-ppu"), "CS-none").await.unwrap_err();
    assert_eq!(unknown_order.code.as_deref(), Some("CBC.0100"));
}

#[tokio::test]
async fn a_response_lost_after_commit_is_transient_and_the_change_happened() {
    let sim = sim().await;
    let c = client(&sim);
    sim.inject(Fault { action: Some("UpdateNatGateway".into()), times: 1, kind: FaultKind::DropResponse });
    let err = c.resize(&gateway("gw-ppu"), &Capacity::Spec("2".into())).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.kind.outcome_unknown());
    assert_eq!(sim.gateway("gw-ppu").unwrap().status, "PENDING_UPDATE");
}

#[tokio::test]
async fn bss_is_limited_to_ten_calls_a_second_per_key() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-ppu");
    let order = c.change_billing(&gw, &prepaid(PeriodUnit::Month, 1, false)).await.unwrap().order_id.unwrap();
    let mut throttled = None;
    for _ in 0..12 {
        if let Err(e) = c.order_status(&gw, &order).await {
            throttled = Some(e);
            break;
        }
    }
    let e = throttled.expect("the 11th call within a second is throttled");
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::Throttled, Some("APIG.0308")));
}

#[tokio::test]
async fn wrong_keys_and_tokens_are_auth_errors_without_the_secret() {
    let sim = sim().await;
    let http = natgw_operator::cloud::http::client(None).unwrap();
    let wrong_sk = "definitely-wrong-secret-value";
    let c =
        HuaweiClient::new(http.clone(), Some(&sim.http_url), None, REGION, credentials(AK, wrong_sk, None)).unwrap();
    let err = c.describe(&gateway("gw-ppu")).await.unwrap_err();
    assert_eq!((err.kind, err.code.as_deref()), (ErrorKind::Auth, Some("APIG.0301")));
    let shown = format!("{err} {err:?} {c:?}");
    assert!(!shown.contains(wrong_sk), "{shown}");

    let temp = HuaweiClient::new(
        http.clone(),
        Some(&sim.http_url),
        None,
        REGION,
        credentials("TMPAK", "tmp-sk", Some("tmp-token")),
    )
    .unwrap();
    temp.describe(&gateway("gw-ppu")).await.unwrap();
    assert!(!format!("{temp:?}").contains("tmp-token"));
    let no_token =
        HuaweiClient::new(http, Some(&sim.http_url), None, REGION, credentials("TMPAK", "tmp-sk", None)).unwrap();
    assert_eq!(no_token.describe(&gateway("gw-ppu")).await.unwrap_err().kind, ErrorKind::Auth);
}

#[tokio::test]
async fn a_stale_date_is_refused_as_expired() {
    let sim = sim().await;
    let url = reqwest::Url::parse(&format!("{}/v2/{PROJECT}/nat_gateways/gw-ppu", sim.http_url)).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let stale = sign::format_date(k8s_openapi::jiff::Timestamp::now() - Duration::from_secs(16 * 60));
    let headers = vec![("Host".to_owned(), host), ("X-Sdk-Date".to_owned(), stale.clone())];
    let request = sign::SignedRequest { method: "GET", path: url.path(), query: &[], headers: &headers, body: b"" };
    let auth = sign::authorization(&request, AK, SK).unwrap();
    let response =
        reqwest::Client::new().get(url).header("X-Sdk-Date", stale).header("Authorization", auth).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "APIG.0303");
}

#[tokio::test]
async fn https_with_the_simulator_ca() {
    let tls = natgw_operator::sim::server::SimTls::generate(None).unwrap();
    let config = HuaweiSimConfig {
        credentials: vec![SimCredential { key_id: AK.into(), secret: SK.into(), token: None }],
        tls: Some(tls),
        ..HuaweiSimConfig::default()
    };
    let sim = HuaweiSim::start(config).await.unwrap();
    sim.seed_gateway(SeedGateway {
        id: "gw".into(),
        project_id: PROJECT.into(),
        spec: "5".into(),
        status: "INACTIVE".into(),
        billing: BillingMode::PayPerUse,
        admin_state_up: true,
    });
    let http = natgw_operator::cloud::http::client(sim.ca_pem_path()).unwrap();
    let c = HuaweiClient::new(http, sim.https_url.as_deref(), None, REGION, credentials(AK, SK, None)).unwrap();
    let seen = c.describe(&gateway("gw")).await.unwrap();
    assert_eq!((seen.capacity, seen.state), (Capacity::Spec("5".into()), GatewayState::Unavailable));
}

#[tokio::test]
async fn unknown_paths_answer_like_api_gateway() {
    let sim = sim().await;
    let response = reqwest::get(format!("{}/v9/nothing", sim.http_url)).await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "APIG.0101");
}
