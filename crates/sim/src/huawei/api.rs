//! The wire side of the Huawei simulator: routing by path, API Gateway's checks (signature,
//! clock, rate limits), injected faults, and the NAT, BSS and IAM answers.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    answer::{Failure, Success, no_content, ok},
    federation,
    state::SimState,
    state::header,
    tags,
    verify::{self, Rejected},
    world::{CancelRefusal, SpecChange},
};
use crate::{
    faults::{FaultKind, broken_response},
    ledger::{Order, RequestRecord, now_unix_ms},
};
use natgw_operator::cloud::huawei::{sign, wire};

/// Bodies larger than this are refused; the real calls send a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
enum Route {
    List { project: String },
    Show { project: String, id: String },
    Update { project: String, id: String },
    ToPeriod { project: String, id: String },
    OrderDetails { order_id: String },
    ListOrders,
    ListResources,
    PayOrders,
    AutoRenew { resource_id: String },
    CancelAutoRenew { resource_id: String },
    ToOnDemand,
    CancelOrder,
    ListProjects,
    TagBatch { project: String, id: String },
    TagCreate { project: String, id: String },
    TagDelete { project: String, id: String, key: String },
    TagShow { project: String, id: String },
    TagKeys { project: String },
    ByTag { project: String },
}

/// A path segment with its `%XX` escapes decoded (a tag key in `DeleteNatGatewayTag`'s path).
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Route {
    fn of(method: &Method, path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let s = |v: &str| v.to_owned();
        Some(match (method.as_str(), segments.as_slice()) {
            ("GET", ["v2", "orders", "customer-orders", "details", id]) => Route::OrderDetails { order_id: s(id) },
            ("GET", ["v2", "orders", "customer-orders"]) => Route::ListOrders,
            ("POST", ["v3", "orders", "customer-orders", "pay"]) => Route::PayOrders,
            // BSS spells the path `suscriptions`.
            ("POST", ["v2", "orders", "suscriptions", "resources", "query"]) => Route::ListResources,
            ("POST", ["v2", "orders", "subscriptions", "resources", "autorenew", id]) => {
                Route::AutoRenew { resource_id: s(id) }
            }
            ("DELETE", ["v2", "orders", "subscriptions", "resources", "autorenew", id]) => {
                Route::CancelAutoRenew { resource_id: s(id) }
            }
            ("POST", ["v2", "orders", "subscriptions", "resources", "to-on-demand"]) => Route::ToOnDemand,
            ("PUT", ["v2", "orders", "customer-orders", "cancel"]) => Route::CancelOrder,
            ("GET", ["v3", "projects"]) => Route::ListProjects,
            ("GET", ["v2", p, "nat_gateways"]) => Route::List { project: s(p) },
            ("GET", ["v2", p, "nat_gateways", id]) => Route::Show { project: s(p), id: s(id) },
            ("PUT", ["v2", p, "nat_gateways", id]) => Route::Update { project: s(p), id: s(id) },
            ("POST", ["v2", p, "nat_gateways", id, "change_to_period"]) => Route::ToPeriod { project: s(p), id: s(id) },
            ("POST", ["v3", p, "nat_gateways", "resource_instances", "action"]) => Route::ByTag { project: s(p) },
            ("GET", ["v3", p, "nat_gateways", "tags"]) => Route::TagKeys { project: s(p) },
            ("POST", ["v3", p, "nat_gateways", id, "tags", "action"]) => Route::TagBatch { project: s(p), id: s(id) },
            ("POST", ["v3", p, "nat_gateways", id, "tags"]) => Route::TagCreate { project: s(p), id: s(id) },
            ("GET", ["v3", p, "nat_gateways", id, "tags"]) => Route::TagShow { project: s(p), id: s(id) },
            ("DELETE", ["v3", p, "nat_gateways", id, "tags", key]) => {
                Route::TagDelete { project: s(p), id: s(id), key: percent_decoded(key) }
            }
            _ => return None,
        })
    }

    fn action(&self) -> &'static str {
        match self {
            Route::List { .. } => "ListNatGateways",
            Route::Show { .. } => "ShowNatGateway",
            Route::Update { .. } => "UpdateNatGateway",
            Route::ToPeriod { .. } => "UpdateNatGatewayToPeriod",
            Route::OrderDetails { .. } => "ShowCustomerOrderDetails",
            Route::ListOrders => "ListCustomerOrders",
            Route::ListResources => "ListPayPerUseCustomerResources",
            Route::PayOrders => "PayOrders",
            Route::AutoRenew { .. } => "AutoRenewalResources",
            Route::CancelAutoRenew { .. } => "CancelAutoRenewalResources",
            Route::ToOnDemand => "UpdatePeriodToOnDemand",
            Route::CancelOrder => "CancelCustomerOrder",
            Route::ListProjects => "KeystoneListProjects",
            Route::TagBatch { .. } => "BatchCreateDeleteNatGatewayTag",
            Route::TagCreate { .. } => "CreateNatGatewayTag",
            Route::TagDelete { .. } => "DeleteNatGatewayTag",
            Route::TagShow { .. } => "ShowNatGatewayTag",
            Route::TagKeys { .. } => "ListNatGatewayTag",
            Route::ByTag { .. } => "ListNatGatewayByTag",
        }
    }

    fn api(&self) -> &'static str {
        match self {
            Route::List { .. }
            | Route::Show { .. }
            | Route::Update { .. }
            | Route::ToPeriod { .. }
            | Route::TagBatch { .. }
            | Route::TagCreate { .. }
            | Route::TagDelete { .. }
            | Route::TagShow { .. }
            | Route::TagKeys { .. }
            | Route::ByTag { .. } => "huawei/nat",
            Route::ListProjects => "huawei/iam",
            _ => "huawei/bss",
        }
    }
}

/// IAM's unsigned federation calls (see [`super::federation`]): the caller has no key yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FederationCall {
    TokenWithIdToken,
    SecurityTokens,
}

impl FederationCall {
    fn of(method: &Method, path: &str) -> Option<FederationCall> {
        match (method.as_str(), path.trim_end_matches('/')) {
            ("POST", "/v3.0/OS-AUTH/id-token/tokens") => Some(FederationCall::TokenWithIdToken),
            ("POST", "/v3.0/OS-CREDENTIAL/securitytokens") => Some(FederationCall::SecurityTokens),
            _ => None,
        }
    }

    fn action(self) -> &'static str {
        match self {
            FederationCall::TokenWithIdToken => "CreateTokenWithIdToken",
            FederationCall::SecurityTokens => "CreateTemporaryAccessKeyByToken",
        }
    }
}

fn reply(status: StatusCode, body: Option<Value>, request_id: &str) -> Response {
    reply_with(status, body, None, request_id)
}

fn reply_with(
    status: StatusCode,
    body: Option<Value>,
    header: Option<(&'static str, String)>,
    request_id: &str,
) -> Response {
    let mut response = match body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    };
    if let Some((name, value)) = header
        && let Ok(v) = HeaderValue::from_str(&value)
    {
        response.headers_mut().insert(name, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("X-Request-Id", v);
    }
    response
}

/// API Gateway's check of an AK/SK signed request; returns the access key id.
fn authenticate(state: &SimState, parts: &Parts, body: &[u8]) -> Result<String, Failure> {
    let value = header(&parts.headers, "authorization").ok_or_else(|| Failure::auth("Authorization not found"))?;
    let auth = sign::parse_authorization(value).ok_or_else(|| Failure::auth("unsupported Authorization format"))?;
    let credential =
        state.core.credential(&auth.access).ok_or_else(|| Failure::auth("Get secretKey failed, ak not exist"))?;
    let date = header(&parts.headers, sign::DATE_HEADER)
        .and_then(sign::parse_date)
        .ok_or_else(|| Failure::auth("x-sdk-date not found or not in the format YYYYMMDDTHHMMSSZ"))?;
    let skew = Timestamp::now().duration_since(date).unsigned_abs();
    if skew > state.clock_window {
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "APIG.0303",
            // API Gateway's own wording, with both times.
            format!(
                "Incorrect app authentication information: signature expired, signature time:{},server time:{}",
                sign::format_date(date),
                sign::format_date(Timestamp::now())
            ),
        ));
    }
    if !auth.signed_headers.iter().any(|h| h == "x-sdk-date") {
        return Err(Failure::auth("x-sdk-date is not signed"));
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let query = sign::parse_query(parts.uri.query().unwrap_or_default());
    let request = sign::SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        headers: &headers,
        body,
    };
    match verify::verify(&auth, &request, &credential.secret) {
        Ok(()) => {}
        Err(Rejected::MissingHeader) => return Err(Failure::auth("a signed header is missing from the request")),
        Err(Rejected::UnsupportedAlgorithm) => return Err(Failure::auth("unsupported signing algorithm")),
        Err(Rejected::Mismatch) => return Err(Failure::auth("verify aksk signature fail")),
    }
    if let Some(token) = &credential.token
        && header(&parts.headers, "x-security-token") != Some(token.as_str())
    {
        return Err(Failure::auth("the security token is missing or invalid"));
    }
    // A temporary AK/SK past its expiry: API Gateway's answer to an expired token
    // (https://support.huaweicloud.com/en-us/ocr_faq/ocr_01_0089.html).
    if state.core.expired(&credential.key_id) {
        return Err(Failure::new(StatusCode::UNAUTHORIZED, "APIG.0307", "The token must be updated."));
    }
    Ok(credential.key_id)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], invalid_code: &str) -> Result<T, Failure> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let code = if invalid_code == "NAT.0002" { "NAT.1010" } else { invalid_code };
        Failure::new(StatusCode::BAD_REQUEST, code, format!("Request parameter Json parsing failed: {e}"))
    })?;
    serde_json::from_value(value)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, invalid_code, format!("Invalid parameters: {e}")))
}

fn check_domain(state: &SimState, headers: &HeaderMap) -> Result<(), Failure> {
    match (header(headers, "x-domain-id"), &state.domain_id) {
        (Some(sent), Some(expected)) if sent != expected => Err(Failure::new(
            StatusCode::FORBIDDEN,
            "CBC.0151",
            "Access denied: X-Domain-Id does not match the credentials.",
        )),
        _ => Ok(()),
    }
}

/// A gateway as the NAT API answers it: what [`wire::NatGateway`] holds, and the fields of the
/// SDK's `NatGatewayResponseBody` the operator does not read: the documented defaults (session
/// timeouts 900/300/10/5 s, 200 DNAT rules, 20 SNAT EIPs) and the simulator's own address and
/// per-spec capacity figures.
fn gateway_body(gw: &wire::NatGateway) -> Value {
    let mut body = serde_json::to_value(gw).unwrap_or_default();
    let step = gw.spec.parse::<u64>().unwrap_or(1);
    if let Some(fields) = body.as_object_mut() {
        for (k, v) in [
            (
                "session_conf",
                json!({"tcp_session_expire_time": 900, "udp_session_expire_time": 300,
                       "icmp_session_expire_time": 10, "tcp_time_wait_time": 5}),
            ),
            ("ngport_ip_address", json!("192.168.0.254")),
            ("dnat_rules_limit", json!(200)),
            ("snat_rule_public_ip_limit", json!(20)),
            ("pps_max", json!(100_000 * step)),
            ("bps_max", json!(1_000 * step)),
        ] {
            fields.insert(k.to_owned(), v);
        }
    }
    body
}

/// NAT ids (UUIDs at the cloud, shorter names in tests) and project ids are letters, digits,
/// `-` and `_`, at most 64: anything else in a path is refused as an invalid parameter.
fn check_ids(route: &Route) -> Result<(), Failure> {
    let well_formed =
        |v: &str| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let ids: Vec<&str> = match route {
        Route::List { project } | Route::TagKeys { project } | Route::ByTag { project } => vec![project],
        Route::Show { project, id }
        | Route::Update { project, id }
        | Route::ToPeriod { project, id }
        | Route::TagBatch { project, id }
        | Route::TagCreate { project, id }
        | Route::TagDelete { project, id, .. }
        | Route::TagShow { project, id } => vec![project, id],
        Route::OrderDetails { order_id } => {
            return if well_formed(order_id) {
                Ok(())
            } else {
                Err(invalid_parameter(format!("the order id {order_id:?} is not valid")))
            };
        }
        Route::AutoRenew { resource_id } | Route::CancelAutoRenew { resource_id } => {
            return if well_formed(resource_id) {
                Ok(())
            } else {
                Err(invalid_parameter(format!("the resource id {resource_id:?} is not valid")))
            };
        }
        _ => vec![],
    };
    match ids.into_iter().find(|v| !well_formed(v)) {
        Some(bad) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "NAT.0002",
            format!("Invalid parameters: {bad:?} is not a valid id."),
        )),
        None => Ok(()),
    }
}

/// Carries out one authenticated call.
fn serve(state: &SimState, route: &Route, parts: &Parts, body: &[u8], key_id: &str) -> Result<Success, Failure> {
    check_ids(route)?;
    let take_fail_order = || state.core.faults.take(route.action(), |k| *k == FaultKind::FailOrder).is_some();
    match route {
        Route::List { project } => {
            // Documented: `limit` 0-2000 (default 2000), `marker` the last id of the previous page.
            let query = sign::parse_query(parts.uri.query().unwrap_or_default());
            let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let limit = match param("limit") {
                None => 2000,
                Some(v) => v.parse::<usize>().ok().filter(|n| *n <= 2000).ok_or_else(|| {
                    Failure::new(
                        StatusCode::BAD_REQUEST,
                        "NAT.0002",
                        format!("Invalid parameters: limit {v:?} is not 0-2000."),
                    )
                })?,
            };
            let limit = if limit == 0 { 2000 } else { limit };
            let page = state.world().list(project, param("marker"), limit);
            state.core.ledger.saw(page.iter().map(|g| g.id.as_str()));
            Ok(ok(json!({ "nat_gateways": page.iter().map(gateway_body).collect::<Vec<_>>() })))
        }
        Route::Show { project, id } => {
            let gw = state.world().gateway(project, id).map_err(|r| Failure::from_refusal(r, id))?;
            state.core.ledger.saw([id.as_str()]);
            Ok(ok(json!({ "nat_gateway": gateway_body(&gw) })))
        }
        Route::Update { project, id } => {
            let request: wire::UpdateRequest = parse(body, "NAT.0002")?;
            let Some(spec) = request.nat_gateway.spec else {
                let gw = state.world().gateway(project, id).map_err(|r| Failure::from_refusal(r, id))?;
                return Ok(ok(json!({ "nat_gateway": gateway_body(&gw) })));
            };
            let auto_pay = request.nat_gateway.prepaid_options.and_then(|p| p.is_auto_pay).unwrap_or(false);
            let prepaid = state
                .world()
                .gateway(project, id)
                .map_err(|r| Failure::from_refusal(r, id))?
                .billing_info
                .is_some_and(|b| !b.is_empty());
            let fails = prepaid && take_fail_order();
            let mut world = state.world();
            let change =
                world.update_spec(project, id, &spec, auto_pay, fails).map_err(|r| Failure::from_refusal(r, id))?;
            let gw = world.gateway(project, id).map_err(|r| Failure::from_refusal(r, id))?;
            // The ledger holds what changes the gateway: the same spec again orders nothing.
            let (order_id, order) = match change {
                SpecChange::Unchanged => (None, None),
                SpecChange::Applying => (None, Some((id.clone(), None, format!("spec {spec}")))),
                SpecChange::Ordered(o) => (Some(o.clone()), Some((id.clone(), Some(o), format!("spec {spec}")))),
            };
            let mut body = json!({ "nat_gateway": gateway_body(&gw) });
            if let Some(order_id) = order_id {
                body["order_id"] = order_id.into();
            }
            Ok(Success { status: StatusCode::OK, body: Some(body), order, header: None })
        }
        Route::ToPeriod { project, id } => {
            let request: wire::ChangeToPeriodRequest = parse(body, "NAT.0002")?;
            let fails = take_fail_order();
            let order = state
                .world()
                .change_to_period(project, id, &request.prepaid_options, fails)
                .map_err(|r| Failure::from_refusal(r, id))?;
            let target = format!("{} {}", request.prepaid_options.period_num, request.prepaid_options.period_type);
            Ok(Success {
                status: StatusCode::OK,
                body: Some(json!({ "order_id": order })),
                order: Some((id.clone(), Some(order), target)),
                header: None,
            })
        }
        Route::OrderDetails { order_id } => {
            check_domain(state, &parts.headers)?;
            let mut details = state.world().order(order_id).ok_or_else(|| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    "CBC.0100",
                    format!("Invalid parameter: the order {order_id} does not exist."),
                )
            })?;
            details.order_info.customer_id = state.domain_id.clone();
            Ok(ok(serde_json::to_value(details).unwrap_or_default()))
        }
        Route::ListOrders => {
            check_domain(state, &parts.headers)?;
            let query = sign::parse_query(parts.uri.query().unwrap_or_default());
            let mut orders = state.world().customer_orders();
            for order in &mut orders {
                order.customer_id = state.domain_id.clone();
            }
            Ok(ok(serde_json::to_value(list_orders(&query, orders)?).unwrap_or_default()))
        }
        Route::ListResources => {
            check_domain(state, &parts.headers)?;
            let request: wire::QueryResourcesRequest = parse(body, "CBC.0100")?;
            check_resource_query(&request)?;
            let regions: Vec<super::config::SimProject> = state.projects().clone();
            let region =
                |project: &str| regions.iter().find(|p| p.id == project).map(|p| p.name.clone()).unwrap_or_default();
            let mut all = state.world().resources(&request, region);
            all.retain(|r| state.holds(key_id, &r.project_id));
            let total_count = all.len() as i64;
            let offset = request.offset.unwrap_or(0) as usize;
            let data = all.into_iter().skip(offset).take(request.limit.unwrap_or(10) as usize).collect();
            Ok(ok(serde_json::to_value(wire::CustomerResources { data, total_count }).unwrap_or_default()))
        }
        Route::PayOrders => {
            check_domain(state, &parts.headers)?;
            let request: wire::PayOrdersRequest = parse(body, "CBC.0100")?;
            state.world().pay(&request.order_id).map_err(|m| Failure::new(StatusCode::BAD_REQUEST, "CBC.0100", m))?;
            Ok(no_content())
        }
        Route::AutoRenew { resource_id } => {
            check_domain(state, &parts.headers)?;
            check_auto_renewal(body)?;
            state.world().auto_renew(resource_id).map_err(invalid_parameter_message)?;
            Ok(no_content())
        }
        Route::CancelAutoRenew { resource_id } => {
            check_domain(state, &parts.headers)?;
            state.world().cancel_auto_renew(resource_id).map_err(invalid_parameter_message)?;
            Ok(no_content())
        }
        Route::ToOnDemand => {
            check_domain(state, &parts.headers)?;
            let request: wire::PeriodToOnDemandRequest = parse(body, "CBC.0100")?;
            Ok(ok(serde_json::to_value(to_on_demand(state, &request)?).unwrap_or_default()))
        }
        Route::CancelOrder => {
            check_domain(state, &parts.headers)?;
            let request: wire::CancelOrderRequest = parse(body, "CBC.0100")?;
            cancel_order(state, &request.order_id)?;
            Ok(no_content())
        }
        Route::TagBatch { project, id } => tags::batch(state, project, id, parse(body, "NAT.0002")?),
        Route::TagCreate { project, id } => tags::create(state, project, id, parse(body, "NAT.0002")?),
        Route::TagDelete { project, id, key } => tags::delete(state, project, id, key),
        Route::TagShow { project, id } => tags::show(state, project, id),
        Route::TagKeys { project } => Ok(tags::list_keys(state, project)),
        Route::ByTag { project } => tags::by_tag(state, project, parse(body, "NAT.0002")?),
        Route::ListProjects => {
            let wanted = sign::parse_query(parts.uri.query().unwrap_or_default())
                .into_iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v);
            let domain = state.domain_id.clone().unwrap_or_default();
            let projects: Vec<Value> = state
                .projects()
                .iter()
                .filter(|p| wanted.as_ref().is_none_or(|w| *w == p.name))
                .map(|p| {
                    json!({
                        "id": p.id, "name": p.name, "domain_id": domain, "parent_id": domain, "enabled": true,
                        "is_domain": false, "description": "", "links": {"self": format!("/v3/projects/{}", p.id)}
                    })
                })
                .collect();
            Ok(ok(json!({ "projects": projects, "links": {"self": "/v3/projects", "previous": null, "next": null} })))
        }
    }
}

fn invalid_parameter(message: String) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "CBC.0100", format!("Invalid parameter: {message}"))
}

/// A `CBC.0100` whose message the world wrote whole.
fn invalid_parameter_message(message: String) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "CBC.0100", message)
}

/// `AutoRenewalResourcesReq`, optional as a whole (the SDK sends no body unless given one, and
/// Terraform's client none at all): `auto_renew_times` 0-99, `period_type` `MONTH` or `YEAR`.
fn check_auto_renewal(body: &[u8]) -> Result<(), Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let request: wire::AutoRenewalRequest = parse(body, "CBC.0100")?;
    if request.auto_renew_times.is_some_and(|t| !(0..=99).contains(&t)) {
        return Err(invalid_parameter("auto_renew_times must be 0-99".to_owned()));
    }
    if request.period_type.as_deref().is_some_and(|p| !matches!(p, "MONTH" | "YEAR")) {
        return Err(invalid_parameter("period_type must be MONTH or YEAR".to_owned()));
    }
    Ok(())
}

/// `UpdatePeriodToOnDemand`: `SET_UP` or `CANCEL` for 1-100 resources. A resource that cannot be
/// changed (unknown, not yearly/monthly) fails alone, in the 200 answer's `error_details`.
fn to_on_demand(
    state: &SimState,
    request: &wire::PeriodToOnDemandRequest,
) -> Result<wire::PeriodToOnDemandResponse, Failure> {
    let set_up = match request.operation.as_str() {
        wire::TO_ON_DEMAND_SET_UP => true,
        wire::TO_ON_DEMAND_CANCEL => false,
        other => return Err(invalid_parameter(format!("operation {other:?} is not SET_UP or CANCEL"))),
    };
    if !(1..=100).contains(&request.resource_ids.len()) {
        return Err(invalid_parameter("resource_ids takes 1-100 ids".to_owned()));
    }
    let mut world = state.world();
    let error_details = request
        .resource_ids
        .iter()
        .filter_map(|id| {
            let failed = world.to_on_demand(id, set_up).err()?;
            Some(wire::ErrorDetail { error_code: "CBC.0100".to_owned(), error_msg: failed, id: id.clone() })
        })
        .collect();
    Ok(wire::PeriodToOnDemandResponse { error_details })
}

/// `CancelCustomerOrder`'s documented answers: 400 `CBC.30000010` for an order it does not know,
/// 400 `CBC.99005010` for one not pending payment.
fn cancel_order(state: &SimState, order_id: &str) -> Result<(), Failure> {
    if order_id.is_empty() || order_id.chars().count() > 64 {
        return Err(invalid_parameter("order_id must be 1-64 characters".to_owned()));
    }
    state.world().cancel_pending(order_id).map_err(|refusal| match refusal {
        CancelRefusal::UnknownOrder => {
            Failure::new(StatusCode::BAD_REQUEST, "CBC.30000010", format!("Invalid order: {order_id}."))
        }
        CancelRefusal::NotPending(status) => Failure::new(
            StatusCode::BAD_REQUEST,
            "CBC.99005010",
            format!("The order status does not allow cancellation (status {status})."),
        ),
    })
}

/// `ListPayPerUseCustomerResources`' documented bounds: at most 50 `resource_ids`, an `order_id`
/// of at most 64 characters, `only_main_resource` 0 or 1, at most 10 statuses among 2-5, a
/// non-empty `service_type_code` when given, `offset` from 0, `limit` from 1, times as
/// `yyyy-MM-ddTHH:mm:ssZ`.
fn check_resource_query(q: &wire::QueryResourcesRequest) -> Result<(), Failure> {
    let time_ok = |t: &Option<String>| {
        t.as_deref().is_none_or(|t| {
            t.is_empty() || k8s_openapi::jiff::civil::DateTime::strptime(wire::BSS_TIME_FORMAT, t).is_ok()
        })
    };
    let problem = if q.resource_ids.as_ref().is_some_and(|r| r.len() > 50) {
        "resource_ids holds more than 50 ids"
    } else if q.order_id.as_ref().is_some_and(|o| o.chars().count() > 64) {
        "order_id is longer than 64 characters"
    } else if q.only_main_resource.is_some_and(|m| !matches!(m, 0 | 1)) {
        "only_main_resource is not 0 or 1"
    } else if q.status_list.as_ref().is_some_and(|s| s.len() > 10 || s.iter().any(|s| !(2..=5).contains(s))) {
        "status_list takes at most 10 of the statuses 2-5"
    } else if q.service_type_code.as_deref() == Some("") {
        "service_type_code must not be empty"
    } else if q.offset.is_some_and(|o| o < 0) || q.limit.is_some_and(|l| l < 1) {
        "offset must be 0 or more and limit 1 or more"
    } else if !time_ok(&q.expire_time_begin) || !time_ok(&q.expire_time_end) {
        "expire times are not yyyy-MM-ddTHH:mm:ssZ"
    } else {
        return Ok(());
    };
    Err(invalid_parameter(problem.to_owned()))
}

/// `ListCustomerOrders`' documented filters and paging over the account's orders. A parameter
/// absent or empty is no filter; ids and codes compare case-insensitively; times are
/// `yyyy-MM-ddTHH:mm:ssZ` and span at most a year; `limit` is 1-100 (default 10).
fn list_orders(query: &[(String, String)], orders: Vec<wire::OrderInfo>) -> Result<wire::CustomerOrders, Failure> {
    let param = |k: &str| query.iter().find(|(n, v)| n == k && !v.is_empty()).map(|(_, v)| v.as_str());
    let time = |k: &str| -> Result<Option<Timestamp>, Failure> {
        param(k)
            .map(|v| {
                k8s_openapi::jiff::civil::DateTime::strptime(wire::BSS_TIME_FORMAT, v)
                    .ok()
                    .and_then(|t| t.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC).ok())
                    .map(|z| z.timestamp())
                    .ok_or_else(|| invalid_parameter(format!("{k} {v:?} is not yyyy-MM-ddTHH:mm:ssZ")))
            })
            .transpose()
    };
    let number = |k: &str, default: i64, range: std::ops::RangeInclusive<i64>| -> Result<i64, Failure> {
        match param(k) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| invalid_parameter(format!("{k} {v:?} is out of range"))),
        }
    };
    let (begin, end) = (time("create_time_begin")?, time("create_time_end")?);
    if let (Some(b), Some(e)) = (begin, end)
        && e.duration_since(b).as_secs() > 366 * 24 * 3600
    {
        return Err(invalid_parameter("the create time range cannot exceed one year".to_owned()));
    }
    let status = param("status").map(|_| number("status", 0, 1..=99)).transpose()?;
    let order_type = param("order_type").map(|_| number("order_type", 0, 1..=99)).transpose()?;
    let limit = number("limit", 10, 1..=100)? as usize;
    let offset = number("offset", 0, 0..=i64::from(i32::MAX))? as usize;
    let descending = match param("order_by").map(str::to_ascii_lowercase).as_deref() {
        None | Some("createtime") => false,
        Some("-createtime") => true,
        Some(other) => return Err(invalid_parameter(format!("order_by {other:?} is not createTime or -createTime"))),
    };
    let same =
        |k: &str, v: &Option<String>| param(k).is_none_or(|p| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(p)));
    let created = |o: &wire::OrderInfo| {
        o.create_time
            .as_deref()
            .and_then(|t| k8s_openapi::jiff::civil::DateTime::strptime(wire::BSS_TIME_FORMAT, t).ok())
    };
    let mut matching: Vec<wire::OrderInfo> = orders
        .into_iter()
        .filter(|o| same("order_id", &Some(o.order_id.clone())))
        .filter(|o| same("customer_id", &o.customer_id) && same("service_type_code", &o.service_type_code))
        .filter(|o| status.is_none_or(|s| s == o.status) && order_type.is_none_or(|t| Some(t) == o.order_type))
        .filter(|o| {
            let at =
                created(o).and_then(|t| t.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC).ok()).map(|z| z.timestamp());
            begin.is_none_or(|b| at.is_some_and(|a| a >= b)) && end.is_none_or(|e| at.is_some_and(|a| a <= e))
        })
        .collect();
    // Creation times have one-second resolution; the simulator's order ids grow, so they break ties.
    matching.sort_by(|a, b| (&a.create_time, &a.order_id).cmp(&(&b.create_time, &b.order_id)));
    if descending {
        matching.reverse();
    }
    let total_count = matching.len() as i64;
    let order_infos = matching.into_iter().skip(offset).take(limit).collect();
    Ok(wire::CustomerOrders { total_count, order_infos })
}

/// The rate limit and injected errors, then the call.
fn admit_and_serve(
    state: &SimState,
    route: &Route,
    parts: &Parts,
    body: &[u8],
    key_id: &str,
) -> Result<Success, Failure> {
    let action = route.action();
    if state.core.limits.check(key_id, action).is_err() {
        let limit = state.core.limits.limits().get(action).copied().unwrap_or_default();
        return Err(Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "APIG.0308",
            format!(
                "The throttling threshold has been reached: policy user over ratelimit,limit:{limit},time:1 second"
            ),
        ));
    }
    if let Some(FaultKind::Error { code, message }) =
        state.core.faults.take(action, |k| matches!(k, FaultKind::Error { .. }))
    {
        return Err(Failure::injected(code, message));
    }
    serve(state, route, parts, body, key_id)
}

/// A request as it arrived, header names lower-case.
fn recorded(parts: &Parts, body: &[u8]) -> crate::recorder::RecordedRequest {
    crate::recorder::RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Every API call: route, pre-call faults, authentication, rate limit, injected errors, the call
/// itself, then post-call faults. Every outcome is recorded (ids and codes only).
pub async fn handle(State(state): State<Arc<SimState>>, request: Request) -> Response {
    let request_id = new_request_id();
    let (parts, body) = request.into_parts();
    if let Some(call) = FederationCall::of(&parts.method, parts.uri.path()) {
        return federation_call(&state, call, &parts.headers, body, &request_id).await;
    }
    let Some(route) = Route::of(&parts.method, parts.uri.path()) else {
        let f = Failure::new(
            StatusCode::NOT_FOUND,
            "APIG.0101",
            "The API does not exist or has not been published in the environment",
        );
        return reply(f.status, Some(f.body(&request_id)), &request_id);
    };
    let action = route.action();
    let faults = &state.core.faults;
    if let Some(FaultKind::Latency { millis }) = faults.take(action, |k| matches!(k, FaultKind::Latency { .. })) {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    if let Some(FaultKind::Timeout { millis, .. }) =
        faults.take(action, |k| matches!(k, FaultKind::Timeout { apply: false, .. }))
    {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        let f = Failure::new(StatusCode::GATEWAY_TIMEOUT, "APIG.0203", "Backend timeout");
        record(&state, &route, None, &f.code);
        return reply(f.status, Some(f.body(&request_id)), &request_id);
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        let f = Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "APIG.0201", "Request entity too large");
        record(&state, &route, None, &f.code);
        return reply(f.status, Some(f.body(&request_id)), &request_id);
    };
    state.keep(|| recorded(&parts, &body));

    let result = match authenticate(&state, &parts, &body) {
        Err(f) => Err((None, f)),
        Ok(key_id) => match admit_and_serve(&state, &route, &parts, &body, &key_id) {
            Ok(success) => Ok((key_id, success)),
            Err(f) => Err((Some(key_id), f)),
        },
    };
    let (key_id, success) = match result {
        Ok(v) => v,
        Err((key_id, f)) => {
            record(&state, &route, key_id, &f.code);
            return reply(f.status, Some(f.body(&request_id)), &request_id);
        }
    };
    if let Some((gateway_id, order_id, target)) = &success.order {
        state.core.ledger.saw([gateway_id.as_str()]);
        state.core.ledger.record_order(Order {
            gateway_id: gateway_id.clone(),
            action: action.to_owned(),
            order_id: order_id.clone().unwrap_or_else(|| request_id.clone()),
            target: target.clone(),
            key_id: key_id.clone(),
            at_unix_ms: now_unix_ms(),
        });
    }
    record(&state, &route, Some(key_id), "ok");
    let response = reply_with(success.status, success.body, success.header, &request_id);
    match faults.take(action, |k| matches!(k, FaultKind::DropResponse | FaultKind::Timeout { apply: true, .. })) {
        Some(FaultKind::DropResponse) => broken_response(),
        Some(FaultKind::Timeout { millis, .. }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            response
        }
        _ => response,
    }
}

/// The unsigned federation calls: injected errors, then the call (nothing is ordered).
async fn federation_call(
    state: &SimState,
    call: FederationCall,
    headers: &HeaderMap,
    body: axum::body::Body,
    request_id: &str,
) -> Response {
    let action = call.action();
    let injected = state.core.faults.take(action, |k| matches!(k, FaultKind::Error { .. }));
    let result = match (injected, axum::body::to_bytes(body, MAX_BODY).await) {
        (_, Err(_)) => Err(Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "APIG.0201", "Request entity too large")),
        (Some(FaultKind::Error { code, message }), _) => Err(Failure::injected(code, message)),
        (_, Ok(body)) => match call {
            FederationCall::TokenWithIdToken => federation::token_with_id_token(state, headers, &body).await,
            FederationCall::SecurityTokens => federation::security_tokens(state, headers, &body),
        },
    };
    let (outcome, response) = match result {
        Ok(success) => ("ok".to_owned(), reply_with(success.status, success.body, success.header, request_id)),
        Err(f) => (f.code.clone(), reply(f.status, Some(f.body(request_id)), request_id)),
    };
    record_call(state, "huawei/iam", action, None, &outcome);
    response
}

fn record(state: &SimState, route: &Route, key_id: Option<String>, outcome: &str) {
    record_call(state, route.api(), route.action(), key_id, outcome);
}

fn record_call(state: &SimState, api: &str, action: &str, key_id: Option<String>, outcome: &str) {
    state.core.ledger.record_request(RequestRecord {
        api: api.to_owned(),
        action: action.to_owned(),
        key_id,
        outcome: outcome.to_owned(),
        at_unix_ms: now_unix_ms(),
    });
}
