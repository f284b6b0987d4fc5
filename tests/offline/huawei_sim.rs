//! The Huawei client against the in-process Huawei simulator: every call the operator makes,
//! the order lifecycle, project lookup, and each error class.

use std::time::Duration;

use natgw_operator::api::{BillingMode, OrderAction, PeriodUnit, Prepaid, ProviderSpec, Renewal};
use natgw_operator::cloud::huawei::{HuaweiClient, HuaweiProvider, sign};
use natgw_operator::cloud::{
    Capacity, Credentials, ErrorKind, GatewayRef, GatewayState, OrderState, Provider, RenewalChange, SecretValue,
};
use natgw_sim::core::SimCredential;
use natgw_sim::faults::{Fault, FaultKind};
use natgw_sim::huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway, SeedTerms, SimProject};

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

/// A client without its client-side rate limiter, to see the simulator's own limits answer.
fn unlimited_client(sim: &HuaweiSim) -> HuaweiClient {
    let none = natgw_operator::cloud::ratelimit::RateLimiter::new(Default::default());
    client(sim).with_limiter(std::sync::Arc::new(none))
}

fn gateway(id: &str) -> GatewayRef {
    GatewayRef { id: id.into(), place: place(REGION, Some(PROJECT)) }
}

fn place(region: &str, project: Option<&str>) -> ProviderSpec {
    ProviderSpec::Huawei(Box::new(HuaweiProvider {
        region: region.into(),
        project_id: project.map(str::to_owned),
        bss_endpoint: None,
    }))
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

    let ticket = c.resize(&gw, &Capacity::Spec("3".into()), true).await.unwrap();
    assert_eq!(ticket.order_id, None);
    assert_eq!(ticket.request_id.as_ref().map(String::len), Some(32));
    let during = c.describe(&gw).await.unwrap();
    assert_eq!((during.state, during.raw_state.as_str()), (GatewayState::Transitioning, "PENDING_UPDATE"));
    let busy = c.resize(&gw, &Capacity::Spec("4".into()), true).await.unwrap_err();
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
    let ticket = c.resize(&gw, &Capacity::Spec("4".into()), true).await.unwrap();
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
    let gw = GatewayRef { place: place(REGION, None), ..gateway("gw-ppu") };
    c.describe(&gw).await.unwrap();
    c.describe(&gw).await.unwrap();
    let lookups = sim.core().ledger.requests().iter().filter(|r| r.action == "KeystoneListProjects").count();
    assert_eq!(lookups, 1);

    for region in ["ap-dup", "nowhere-1"] {
        let err = c.describe(&GatewayRef { place: place(region, None), ..gw.clone() }).await.unwrap_err();
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
    let bad = c.resize(&gateway("gw-ppu"), &Capacity::Spec("9".into()), true).await.unwrap_err();
    assert_eq!(bad.kind, ErrorKind::InvalidRequest);
    let already = c.change_billing(&gateway("gw-pre"), &prepaid(PeriodUnit::Month, 1, true)).await.unwrap_err();
    assert_eq!(already.kind, ErrorKind::InvalidRequest);

    // A throttled read waits out the 2 s hint and is tried again, three times in all.
    sim.inject(Fault {
        action: Some("ShowNatGateway".into()),
        times: 3,
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
    let err = c.resize(&gateway("gw-ppu"), &Capacity::Spec("2".into()), true).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.kind.outcome_unknown());
    assert_eq!(sim.gateway("gw-ppu").unwrap().status, "PENDING_UPDATE");
}

#[tokio::test]
async fn bss_is_limited_to_ten_calls_a_second_per_key() {
    let sim = sim().await;
    let c = unlimited_client(&sim);
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
    let tls = natgw_sim::server::SimTls::generate(None).unwrap();
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

#[tokio::test]
async fn an_order_whose_answer_was_lost_is_found_open() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-ppu");
    // Nothing ordered yet: asking cannot buy twice.
    assert_eq!(c.find_open_order(&gw, OrderAction::ChangeBilling).await.unwrap(), None);

    sim.inject(Fault { action: Some("UpdateNatGatewayToPeriod".into()), times: 1, kind: FaultKind::DropResponse });
    let lost = c.change_billing(&gw, &prepaid(PeriodUnit::Month, 1, false)).await.unwrap_err();
    assert!(lost.kind.outcome_unknown(), "{lost}");
    assert_eq!(c.describe(&gw).await.unwrap().billing, BillingMode::PayPerUse);
    let placed = sim.orders();
    assert_eq!(placed.len(), 1);
    let found = c.find_open_order(&gw, OrderAction::ChangeBilling).await.unwrap();
    assert_eq!(found.as_deref(), Some(placed[0].order_id.as_str()));
    assert_eq!(c.order_status(&gw, &placed[0].order_id).await.unwrap(), OrderState::AwaitingPayment);
    // A pay-per-use spec change opens no order, so there is none to find for a resize.
    assert_eq!(c.find_open_order(&gw, OrderAction::Resize).await.unwrap(), None);

    let lists =
        sim.core().ledger.requests().into_iter().filter(|r| r.action == "ListCustomerOrders").collect::<Vec<_>>();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(lists.iter().all(|r| r.outcome == "ok" && r.api == "huawei/bss"));
}

#[tokio::test]
async fn completed_and_cancelled_orders_are_not_open() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-ppu");
    let cancelled = c.change_billing(&gw, &prepaid(PeriodUnit::Month, 1, false)).await.unwrap().order_id.unwrap();
    sim.cancel_order(&cancelled).unwrap();
    assert_eq!(c.find_open_order(&gw, OrderAction::ChangeBilling).await.unwrap(), None);

    // While paid and processing (3) it is open; once completed (5) it is not.
    let paid = c.change_billing(&gw, &prepaid(PeriodUnit::Year, 1, true)).await.unwrap().order_id.unwrap();
    assert_eq!(c.find_open_order(&gw, OrderAction::ChangeBilling).await.unwrap(), Some(paid.clone()));
    wait_for(&c, &gw, &paid, OrderState::Succeeded).await;
    assert_eq!(c.find_open_order(&gw, OrderAction::ChangeBilling).await.unwrap(), None);
    assert_eq!(c.describe(&gw).await.unwrap().billing, BillingMode::Prepaid);
}

#[tokio::test]
async fn a_lost_prepaid_resize_order_is_found_open() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-pre");
    assert_eq!(c.find_open_order(&gw, OrderAction::Resize).await.unwrap(), None);
    sim.inject(Fault { action: Some("UpdateNatGateway".into()), times: 1, kind: FaultKind::DropResponse });
    assert!(c.resize(&gw, &Capacity::Spec("3".into()), true).await.unwrap_err().kind.outcome_unknown());
    let order = sim.orders().pop().unwrap().order_id;
    assert_eq!(c.find_open_order(&gw, OrderAction::Resize).await.unwrap(), Some(order.clone()));
    // A change order is not a conversion order: the kinds do not mix.
    assert_eq!(c.find_open_order(&gw, OrderAction::ChangeBilling).await.unwrap(), None);
    wait_for(&c, &gw, &order, OrderState::Succeeded).await;
    assert_eq!(c.find_open_order(&gw, OrderAction::Resize).await.unwrap(), None);
}

fn seed_pay_per_use(sim: &HuaweiSim, id: &str) {
    sim.seed_gateway(SeedGateway {
        id: id.into(),
        project_id: PROJECT.into(),
        spec: "1".into(),
        status: "ACTIVE".into(),
        billing: BillingMode::PayPerUse,
        admin_state_up: true,
    });
}

/// Finding 3 of issue 11: another gateway's open order, even a newer one of the same kind, is
/// never taken for this gateway's.
#[tokio::test]
async fn an_open_order_is_matched_to_its_own_gateway_only() {
    let sim = sim().await;
    seed_pay_per_use(&sim, "gw-ppu2");
    seed_pay_per_use(&sim, "gw-ppu3");
    let c = unlimited_client(&sim);
    let first = c.change_billing(&gateway("gw-ppu"), &prepaid(PeriodUnit::Month, 1, false)).await.unwrap();
    let second = c.change_billing(&gateway("gw-ppu2"), &prepaid(PeriodUnit::Month, 1, false)).await.unwrap();
    assert_ne!(first.order_id, second.order_id);
    let found = c.find_open_order(&gateway("gw-ppu"), OrderAction::ChangeBilling).await.unwrap();
    assert_eq!(found, first.order_id, "gw-ppu's own order, not the newer one of gw-ppu2");
    let found = c.find_open_order(&gateway("gw-ppu2"), OrderAction::ChangeBilling).await.unwrap();
    assert_eq!(found, second.order_id);
    // A gateway with no order of its own adopts none, however many others are open.
    assert_eq!(c.find_open_order(&gateway("gw-ppu3"), OrderAction::ChangeBilling).await.unwrap(), None);
    let asked: Vec<_> =
        sim.core().ledger.requests().into_iter().filter(|r| r.action == "ListPayPerUseCustomerResources").collect();
    assert!(asked.iter().all(|r| r.outcome == "ok" && r.api == "huawei/bss"), "{asked:?}");

    let mut throttled = None;
    for _ in 0..12 {
        if let Err(e) = c.find_open_order(&gateway("gw-ppu"), OrderAction::ChangeBilling).await {
            throttled = Some(e);
            break;
        }
    }
    let e = throttled.expect("BSS allows 10 calls a second per API");
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::Throttled, Some("APIG.0308")));
}

/// Finding 4 of issue 11: a prepaid resize with `autoPay: false` waits for payment, and is not
/// paid until someone pays it.
#[tokio::test]
async fn a_prepaid_resize_without_auto_pay_waits_for_payment() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-pre");
    let order = c.resize(&gw, &Capacity::Spec("3".into()), false).await.unwrap().order_id.expect("an order id");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.order_status(&gw, &order).await.unwrap(), OrderState::AwaitingPayment);
    assert_eq!(c.describe(&gw).await.unwrap().capacity, Capacity::Spec("2".into()));
    let (status, details) =
        signed(&sim, "GET", &format!("/v2/orders/customer-orders/details/{order}"), vec![], "").await;
    assert_eq!(status, 200, "{details}");
    assert!(details["order_info"]["payment_time"].is_null(), "unpaid: {details}");
    sim.pay_order(&order).unwrap();
    wait_for(&c, &gw, &order, OrderState::Succeeded).await;
    let (_, details) = signed(&sim, "GET", &format!("/v2/orders/customer-orders/details/{order}"), vec![], "").await;
    assert!(details["order_info"]["payment_time"].as_str().is_some_and(|t| t.ends_with('Z')), "{details}");
    assert_eq!(sim.core().ledger.orders().len(), 1);
    // With autoPay the order is paid at once (once the first change has landed).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paid = c.resize(&gw, &Capacity::Spec("4".into()), true).await.unwrap().order_id.unwrap();
    assert_ne!(c.order_status(&gw, &paid).await.unwrap(), OrderState::AwaitingPayment);
}

/// A spec change to the spec the gateway has changes nothing and is no order.
#[tokio::test]
async fn a_resize_to_the_current_spec_is_not_an_order() {
    let sim = sim().await;
    let c = client(&sim);
    for (id, spec) in [("gw-pre", "2"), ("gw-ppu", "1")] {
        let ticket = c.resize(&gateway(id), &Capacity::Spec(spec.into()), true).await.unwrap();
        assert_eq!(ticket.order_id, None, "{id}");
        assert_eq!(c.describe(&gateway(id)).await.unwrap().state, GatewayState::Ready, "{id}");
    }
    assert_eq!(sim.core().ledger.orders(), vec![], "nothing changed, nothing is in the ledger");
    assert!(sim.orders().is_empty());
}

/// `ListPayPerUseCustomerResources`: the order's gateway, the account's yearly/monthly gateways,
/// and BSS's bounds.
#[tokio::test]
async fn customer_resources_are_listed_by_order_and_checked() {
    let sim = sim().await;
    // More probes than BSS's 10 a second.
    sim.core().limits.set("ListPayPerUseCustomerResources", 0);
    let c = client(&sim);
    let order = c.change_billing(&gateway("gw-ppu"), &prepaid(PeriodUnit::Month, 1, false)).await.unwrap();
    let order = order.order_id.unwrap();
    let path = "/v2/orders/suscriptions/resources/query";
    let (status, body) = signed(&sim, "POST", path, vec![], &format!(r#"{{"order_id":"{order}"}}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_count"], 1);
    let resource = &body["data"][0];
    assert_eq!((resource["resource_id"].as_str(), resource["project_id"].as_str()), (Some("gw-ppu"), Some(PROJECT)));
    assert_eq!(resource["region_code"], REGION);
    assert_eq!(resource["service_type_code"], "hws.service.type.natgateway");
    assert_eq!(resource["is_main_resource"], 1);
    // Without an order: the yearly/monthly gateways only.
    let (_, body) = signed(&sim, "POST", path, vec![], "{}").await;
    let ids: Vec<_> = body["data"].as_array().unwrap().iter().map(|r| r["resource_id"].clone()).collect();
    assert_eq!(ids, vec![serde_json::json!("gw-pre")]);
    let (_, body) =
        signed(&sim, "POST", path, vec![], &format!(r#"{{"order_id":"{order}","resource_ids":["gw-pre"]}}"#)).await;
    assert_eq!(body["total_count"], 0, "both filters apply");
    let many: Vec<String> = (0..51).map(|i| format!("\"gw-{i}\"")).collect();
    for bad in [
        format!(r#"{{"resource_ids":[{}]}}"#, many.join(",")),
        r#"{"only_main_resource":2}"#.to_owned(),
        r#"{"status_list":[1]}"#.to_owned(),
        r#"{"service_type_code":""}"#.to_owned(),
        r#"{"limit":0}"#.to_owned(),
        r#"{"offset":-1}"#.to_owned(),
        r#"{"expire_time_begin":"2024-01-01 00:00:00"}"#.to_owned(),
        format!(r#"{{"order_id":"{}"}}"#, "C".repeat(65)),
        r#"{"limit":"ten"}"#.to_owned(),
    ] {
        let (status, body) = signed(&sim, "POST", path, vec![], &bad).await;
        assert_eq!((status, body["error_code"].as_str()), (400, Some("CBC.0100")), "{bad}: {body}");
    }
    let (status, body) = signed(&sim, "POST", path, vec![], "{not json").await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("CBC.0100")), "{body}");
}

/// Malformed ids, oversized bodies and unknown orders answer with the clouds' codes.
#[tokio::test]
async fn malformed_requests_get_documented_codes() {
    let sim = sim().await;
    for path in [format!("/v2/{PROJECT}/nat_gateways/gw%2F..%2Fx"), "/v2/bad%20project/nat_gateways/gw-ppu".to_owned()]
    {
        let (status, body) = signed(&sim, "GET", &path, vec![], "").await;
        assert_eq!((status, body["error_code"].as_str()), (400, Some("NAT.0002")), "{path}: {body}");
    }
    let (status, body) = signed(&sim, "GET", "/v2/orders/customer-orders/details/CSNOSUCHORDER", vec![], "").await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("CBC.0100")), "{body}");
    let big = format!(r#"{{"nat_gateway":{{"description":"{}"}}}}"#, "x".repeat(70 * 1024));
    let (status, body) = signed(&sim, "PUT", &format!("/v2/{PROJECT}/nat_gateways/gw-ppu"), vec![], &big).await;
    assert_eq!((status, body["error_code"].as_str()), (413, Some("APIG.0201")), "{body}");
    sim.inject(Fault {
        action: Some("ShowNatGateway".into()),
        times: 1,
        kind: FaultKind::Timeout { millis: 10, apply: false },
    });
    let (status, body) = signed(&sim, "GET", &format!("/v2/{PROJECT}/nat_gateways/gw-ppu"), vec![], "").await;
    assert_eq!((status, body["error_code"].as_str()), (504, Some("APIG.0203")), "{body}");
}

#[tokio::test]
async fn list_customer_orders_filters_and_pages_as_documented() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-ppu");
    let order = c.change_billing(&gw, &prepaid(PeriodUnit::Month, 1, false)).await.unwrap().order_id.unwrap();
    let get = |query: Vec<(&str, &str)>| {
        let pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        signed_bss_get(&sim, pairs)
    };
    let (status, body) = get(vec![("order_id", &order.to_lowercase()), ("status", "6"), ("order_type", "11")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_count"], 1);
    assert_eq!(body["order_infos"][0]["order_id"], order.as_str());
    assert_eq!(body["order_infos"][0]["customer_id"], DOMAIN);
    assert_eq!(body["order_infos"][0]["service_type_code"], "hws.service.type.natgateway");
    let (_, body) = get(vec![("status", "5")]).await;
    assert_eq!(body, serde_json::json!({"total_count": 0, "order_infos": []}));
    let (_, body) = get(vec![("create_time_end", "2019-05-06T08:05:01Z")]).await;
    assert_eq!(body["total_count"], 0);
    let (_, body) = get(vec![("offset", "1")]).await;
    assert_eq!((body["total_count"].as_i64(), body["order_infos"].as_array().map(Vec::len)), (Some(1), Some(0)));
    for bad in [
        vec![("create_time_begin", "2019-05-06 08:05:01")],
        vec![("create_time_begin", "2019-01-01T00:00:00Z"), ("create_time_end", "2021-01-01T00:00:00Z")],
        vec![("limit", "101")],
        vec![("order_by", "status")],
    ] {
        let (status, body) = get(bad.clone()).await;
        assert_eq!((status, body["error_code"].as_str()), (400, Some("CBC.0100")), "{bad:?}: {body}");
    }
}

/// A `ListCustomerOrders` call signed by hand, to probe the simulator's filters directly.
async fn signed_bss_get(sim: &HuaweiSim, pairs: Vec<(String, String)>) -> (u16, serde_json::Value) {
    signed(sim, "GET", "/v2/orders/customer-orders", pairs, "").await
}

/// A request signed by hand (with the domain header BSS takes), to probe the simulator directly.
async fn signed(
    sim: &HuaweiSim,
    method: &str,
    path: &str,
    pairs: Vec<(String, String)>,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut url = reqwest::Url::parse(&format!("{}{path}", sim.http_url)).unwrap();
    url.set_query(Some(&sign::canonical_query(&pairs)).filter(|q| !q.is_empty()).map(String::as_str));
    let date = sign::format_date(k8s_openapi::jiff::Timestamp::now());
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut headers = vec![
        ("Host".to_owned(), host),
        ("X-Sdk-Date".to_owned(), date),
        ("X-Domain-Id".to_owned(), DOMAIN.to_owned()),
        ("X-Project-Id".to_owned(), PROJECT.to_owned()),
    ];
    if !body.is_empty() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    let request =
        sign::SignedRequest { method, path: url.path(), query: &pairs, headers: &headers, body: body.as_bytes() };
    let auth = sign::authorization(&request, AK, SK).unwrap();
    let mut builder = reqwest::Client::new().request(method.parse().unwrap(), url).header("Authorization", auth);
    for (name, value) in headers.iter().filter(|(n, _)| n != "Host") {
        builder = builder.header(name, value);
    }
    let response = builder.body(body.to_owned()).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

fn bss_calls(sim: &HuaweiSim, action: &str) -> usize {
    sim.core().ledger.requests().iter().filter(|r| r.action == action).count()
}

fn seed_prepaid(sim: &HuaweiSim, id: &str) {
    sim.seed_gateway(SeedGateway {
        billing: BillingMode::Prepaid,
        ..SeedGateway::parse(&format!("{id}:{PROJECT}:1")).unwrap()
    });
}

/// A yearly/monthly gateway's read carries its subscription, in one BSS call; a pay-per-use
/// gateway's costs none.
#[tokio::test]
async fn a_prepaid_read_carries_its_subscription() {
    let sim = sim().await;
    let c = client(&sim);
    assert_eq!(c.describe(&gateway("gw-ppu")).await.unwrap().subscription, None);
    assert_eq!(bss_calls(&sim, "ListPayPerUseCustomerResources"), 0);
    let seen = c.describe(&gateway("gw-pre")).await.unwrap().subscription.expect("a subscription");
    assert_eq!(bss_calls(&sim, "ListPayPerUseCustomerResources"), 1);
    let expected = sim.subscription("gw-pre").unwrap();
    assert_eq!(seen.expires_at, Some(expected.expire_time.parse().unwrap()));
    assert_eq!(seen.renewal, Renewal::Manual);
    let left = seen.expires_at.unwrap().duration_since(sim.now());
    assert!(left.as_hours() > 29 * 24 && left.as_hours() <= 30 * 24, "{left:?}");
}

/// Reads of many yearly/monthly gateways find their subscriptions in pages of the account's NAT
/// subscriptions (100 each), a few in one call by id; so does an import's listing.
#[tokio::test]
async fn many_prepaid_gateways_cost_a_bss_page_per_hundred() {
    let sim = sim().await;
    sim.core().limits.set("ListPayPerUseCustomerResources", 0);
    let ids: Vec<String> = (0..120).map(|i| format!("gw-many{i:03}")).collect();
    for id in &ids {
        seed_prepaid(&sim, id);
    }
    let c = client(&sim);
    let found = c.describe_many(PROJECT, &ids).await.unwrap();
    assert_eq!(found.len(), 120);
    assert!(found.values().all(|o| o.subscription.is_some_and(|s| s.renewal == Renewal::Manual)));
    // 121 yearly/monthly gateways in the account: two pages.
    assert_eq!(bss_calls(&sim, "ListPayPerUseCustomerResources"), 2);
    let two = c.describe_many(PROJECT, &ids[..2]).await.unwrap();
    assert!(two.values().all(|o| o.subscription.is_some()));
    assert_eq!(bss_calls(&sim, "ListPayPerUseCustomerResources"), 3);
    let listing = c.list(&place(REGION, Some(PROJECT))).await.unwrap();
    let prepaid = listing.gateways.iter().filter(|g| g.observed.billing == BillingMode::Prepaid);
    assert!(prepaid.clone().count() == 121 && prepaid.clone().all(|g| g.observed.subscription.is_some()));
    assert_eq!(bss_calls(&sim, "ListPayPerUseCustomerResources"), 5);
}

/// Each renewal change is one BSS call that the next read shows, and none is an order.
#[tokio::test]
async fn renewal_changes_reach_bss_and_the_next_read() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-pre");
    for (change, renewal) in [
        (RenewalChange::EnableAutoRenew, Renewal::Auto),
        (RenewalChange::DisableAutoRenew, Renewal::Manual),
        (RenewalChange::PayPerUseAtExpiry, Renewal::PayPerUseAtExpiry),
        (RenewalChange::KeepAtExpiry, Renewal::Manual),
    ] {
        c.set_renewal(&gw, change).await.unwrap();
        // Sent twice (a lost answer): the same outcome.
        c.set_renewal(&gw, change).await.unwrap();
        let seen = c.describe(&gw).await.unwrap().subscription.unwrap();
        assert_eq!(seen.renewal, renewal, "{change:?}");
        assert_eq!(sim.subscription("gw-pre").unwrap().renewal, renewal);
    }
    assert!(sim.core().ledger.orders().is_empty(), "no order placed");
    // A pay-per-use gateway has no subscription: refused with a call-level error and in the
    // batch answer of UpdatePeriodToOnDemand alike.
    for change in [RenewalChange::EnableAutoRenew, RenewalChange::PayPerUseAtExpiry] {
        let e = c.set_renewal(&gateway("gw-ppu"), change).await.unwrap_err();
        assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::InvalidRequest, Some("CBC.0100")), "{change:?}: {e}");
        assert!(e.request_id.is_some());
    }
    let e = c.set_renewal(&gateway("gw/../x"), RenewalChange::EnableAutoRenew).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(bss_calls(&sim, "AutoRenewalResources"), 3, "the malformed id was never sent");
}

/// The world's clock: auto-renew extends the period seven days before expiry (a renewal order
/// BSS places itself, not the operator's), pay-per-use at expiry converts the gateway, and a
/// subscription renewed by hand expires while the gateway stays up.
#[tokio::test]
async fn subscriptions_live_on_the_simulated_clock() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    for (id, renewal, days) in [("gw-auto", "Auto", 10), ("gw-convert", "PayPerUseAtExpiry", 5)] {
        let seed = serde_json::json!({"id": id, "projectId": PROJECT, "spec": "1", "billing": "Prepaid",
                                      "renewal": renewal, "expiresInDays": days});
        let r = http.post(format!("{}/_sim/gateways", sim.http_url)).json(&seed).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }
    let manual = SeedGateway::parse(&format!("gw-manual:{PROJECT}:1:prepaid")).unwrap();
    sim.seed_gateway_with(manual, SeedTerms { expires_in_days: 5, renewal: Renewal::Manual });
    let c = client(&sim);
    let before = c.describe(&gateway("gw-auto")).await.unwrap().subscription.unwrap();
    assert_eq!(before.renewal, Renewal::Auto);

    // Four days on: 6 days left for gw-auto, within the seven that renew it.
    let advanced = http
        .post(format!("{}/_sim/clock", sim.http_url))
        .json(&serde_json::json!({"advanceSeconds": 4 * 24 * 3600}))
        .send()
        .await
        .unwrap();
    let now: serde_json::Value = advanced.json().await.unwrap();
    assert_eq!(now["now"].as_str().map(str::len), Some(20), "{now}");
    let after = c.describe(&gateway("gw-auto")).await.unwrap().subscription.unwrap();
    let added = after.expires_at.unwrap().duration_since(before.expires_at.unwrap());
    assert_eq!(added.as_hours(), (30 - 4) * 24, "four days passed, then one month more");
    let renewals: Vec<_> = sim.orders().into_iter().filter(|o| o.gateway_id == "gw-auto").collect();
    assert_eq!(renewals.len(), 1);
    assert_eq!(renewals[0].status, 5);
    assert!(sim.core().ledger.orders().is_empty(), "BSS renewed, the operator ordered nothing");

    sim.advance(Duration::from_secs(24 * 3600 + 60));
    let converted = c.describe(&gateway("gw-convert")).await.unwrap();
    assert_eq!(
        (converted.billing, converted.subscription, converted.state),
        (BillingMode::PayPerUse, None, GatewayState::Ready)
    );
    let expired = c.describe(&gateway("gw-manual")).await.unwrap();
    let subscription = expired.subscription.unwrap();
    assert_eq!(
        (expired.billing, expired.state, subscription.renewal),
        (BillingMode::Prepaid, GatewayState::Ready, Renewal::Manual)
    );
    assert!(subscription.expires_at.unwrap() < sim.now());
    assert_eq!(sim.subscription("gw-manual").unwrap().status, 5);
}

/// `CancelCustomerOrder`: an order pending payment is cancelled and its gateway left as it was;
/// a paid one and an unknown one are refused with BSS's codes.
#[tokio::test]
async fn only_unpaid_orders_are_cancelled() {
    let sim = sim().await;
    let c = client(&sim);
    let gw = gateway("gw-pre");
    let unpaid = c.resize(&gw, &Capacity::Spec("3".into()), false).await.unwrap().order_id.unwrap();
    c.cancel_order(&gw, &unpaid).await.unwrap();
    assert_eq!(c.order_status(&gw, &unpaid).await.unwrap(), OrderState::Cancelled);
    let after = c.describe(&gw).await.unwrap();
    assert_eq!((after.capacity, after.state), (Capacity::Spec("2".into()), GatewayState::Ready));

    let paid = c.resize(&gw, &Capacity::Spec("3".into()), true).await.unwrap().order_id.unwrap();
    let refused = c.cancel_order(&gw, &paid).await.unwrap_err();
    assert_eq!((refused.kind, refused.code.as_deref()), (ErrorKind::InvalidRequest, Some("CBC.99005010")));
    assert!(refused.message.contains("pending payment"), "{refused}");
    assert_eq!(c.order_status(&gw, &paid).await.unwrap(), OrderState::InProgress);
    let unknown = c.cancel_order(&gw, "CSNOSUCHORDER").await.unwrap_err();
    assert_eq!((unknown.kind, unknown.code.as_deref()), (ErrorKind::InvalidRequest, Some("CBC.30000010")));
    let malformed = c.cancel_order(&gw, "CS/../1").await.unwrap_err();
    assert_eq!((malformed.kind, malformed.code), (ErrorKind::InvalidRequest, None));
    assert_eq!(bss_calls(&sim, "CancelCustomerOrder"), 3, "the malformed id was never sent");
}

/// BSS lists an account's own subscriptions: with `accounts` set, a key sees the yearly/monthly
/// gateways of its projects only, in the read and in the account-wide query alike.
#[tokio::test]
async fn each_account_lists_its_own_subscriptions() {
    let config = HuaweiSimConfig {
        credentials: vec![
            SimCredential { key_id: AK.into(), secret: SK.into(), token: None },
            SimCredential { key_id: "OTHERAK".into(), secret: "other-sk".into(), token: None },
        ],
        projects: vec![SimProject { id: PROJECT.into(), name: REGION.into() }],
        domain_id: Some(DOMAIN.into()),
        accounts: [(AK.to_owned(), vec![PROJECT.to_owned()]), ("OTHERAK".to_owned(), vec!["p-other".to_owned()])]
            .into(),
        ..HuaweiSimConfig::default()
    };
    let sim = HuaweiSim::start(config).await.unwrap();
    for (id, project) in [("gw-mine", PROJECT), ("gw-theirs", "p-other")] {
        let seed =
            SeedGateway { billing: BillingMode::Prepaid, ..SeedGateway::parse(&format!("{id}:{project}:1")).unwrap() };
        sim.seed_gateway(seed);
    }
    let mine = client(&sim).describe(&gateway("gw-mine")).await.unwrap();
    assert_eq!(mine.subscription.map(|s| s.renewal), Some(Renewal::Manual));
    let http = natgw_operator::cloud::http::client(None).unwrap();
    let other =
        HuaweiClient::new(http, Some(&sim.http_url), None, REGION, credentials("OTHERAK", "other-sk", None)).unwrap();
    // The other account's key reads the first account's gateway (the simulator's NAT API does not
    // scope projects), but BSS does not list that gateway's subscription to it.
    let seen = other.describe(&gateway("gw-mine")).await.unwrap();
    assert_eq!((seen.billing, seen.subscription), (BillingMode::Prepaid, None));
}
