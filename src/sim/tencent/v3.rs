//! API 3.0: POST `/` with a JSON body, `X-TC-*` headers and a TC3-HMAC-SHA256 `Authorization`;
//! answers `{"Response": {..., "RequestId"}}`, errors as `Response.Error {Code, Message}`.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, Method},
    response::Response,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    CallError, Reply, Sim, SimGateway, after_auth, check_changeable, check_size, record_request, request_id, respond,
    timestamp_ok,
};
use crate::{
    cloud::tencent::sign::{TC3_ALGORITHM, tc3_canonical_request, tc3_date, tc3_signature},
    sim::core::SimCredential,
};

const API: &str = "tencent/v3";
const VERSION: &str = "2017-03-12";
const SERVICE: &str = "vpc";

pub(super) async fn handle(
    State(sim): State<Arc<Sim>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let request_id = request_id();
    let action = header(&headers, "x-tc-action").unwrap_or("").to_owned();
    let mut key_id = None;
    let reply = match authenticate(&sim, &method, &headers, query.as_deref().unwrap_or(""), &body) {
        Err(e) => Reply::Done(Err(e)),
        Ok(credential) => {
            key_id = Some(credential.key_id.clone());
            let version = header(&headers, "x-tc-version").unwrap_or("");
            match serde_json::from_slice::<Map<String, Value>>(&body) {
                Err(e) => {
                    Reply::Done(Err(CallError::new("InvalidParameter", format!("The body is not a JSON object: {e}"))))
                }
                Ok(_) if version != VERSION => Reply::Done(Err(CallError::new(
                    "NoSuchVersion",
                    format!("The version {version:?} does not exist; use {VERSION}."),
                ))),
                Ok(params) => {
                    after_auth(&sim, &action, &credential.key_id, |sim| {
                        dispatch(sim, &action, Value::Object(params), &credential.key_id, &request_id)
                    })
                    .await
                }
            }
        }
    };
    let outcome = match &reply {
        Reply::Done(Ok(_)) => "ok".to_owned(),
        Reply::Done(Err(e)) => e.code.clone(),
        Reply::Dropped => "dropped".to_owned(),
    };
    record_request(&sim, API, &action, key_id.as_deref(), &outcome);
    respond(reply, |result| {
        let mut response = match result {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => Map::new(),
            Err(e) => Map::from_iter([("Error".to_owned(), json!({ "Code": e.code, "Message": e.message }))]),
        };
        response.insert("RequestId".to_owned(), Value::String(request_id.clone()));
        json!({ "Response": response })
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn authenticate(
    sim: &Sim,
    method: &Method,
    headers: &HeaderMap,
    query: &str,
    body: &[u8],
) -> Result<SimCredential, CallError> {
    if method != Method::POST {
        return Err(CallError::new("InvalidParameter", "This endpoint takes API 3.0 calls as POST with a JSON body."));
    }
    let invalid = |why: &str| {
        CallError::new("AuthFailure.InvalidAuthorization", format!("The Authorization header is invalid: {why}."))
    };
    let authorization = header(headers, "authorization").ok_or_else(|| invalid("missing"))?;
    let fields = authorization
        .strip_prefix(TC3_ALGORITHM)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| invalid("the algorithm must be TC3-HMAC-SHA256"))?;
    let field = |name: &str| {
        fields
            .split(',')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| invalid(&format!("{name} is missing")))
    };
    let (credential, signed_headers, signature) = (field("Credential")?, field("SignedHeaders")?, field("Signature")?);
    let scope: Vec<&str> = credential.split('/').collect();
    let [secret_id, date, service, "tc3_request"] = scope[..] else {
        return Err(invalid("Credential must be SecretId/date/service/tc3_request"));
    };
    let stored = sim.core.credential(secret_id).ok_or_else(|| {
        CallError::new(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found; check that it exists and is enabled.",
        )
    })?;
    let ts: i64 = header(headers, "x-tc-timestamp")
        .ok_or_else(|| CallError::new("MissingParameter", "The X-TC-Timestamp header is missing."))?
        .parse()
        .map_err(|_| CallError::new("InvalidParameterValue", "X-TC-Timestamp must be unix seconds."))?;
    if !timestamp_ok(ts) {
        return Err(CallError::new(
            "AuthFailure.SignatureExpire",
            "Signature expired: the X-TC-Timestamp is more than 5 minutes from the server time.",
        ));
    }
    let failure = |why: &str| {
        CallError::new(
            "AuthFailure.SignatureFailure",
            format!("The provided credentials could not be validated: {why}."),
        )
    };
    if date != tc3_date(ts) {
        return Err(failure("the credential date is not the date of X-TC-Timestamp"));
    }
    if service != SERVICE {
        return Err(failure("the credential scope must name the service vpc"));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"content-type") || !names.contains(&"host") {
        return Err(failure("SignedHeaders must include content-type and host"));
    }
    let mut signed = Vec::with_capacity(names.len());
    for name in &names {
        let value = header(headers, name).ok_or_else(|| failure(&format!("the signed header {name} is missing")))?;
        signed.push((*name, value));
    }
    let payload: &[u8] =
        if header(headers, "x-tc-content-sha256") == Some("UNSIGNED-PAYLOAD") { b"UNSIGNED-PAYLOAD" } else { body };
    let canonical = tc3_canonical_request(method.as_str(), "/", query, &signed, signed_headers, payload);
    if tc3_signature(&stored.secret, service, ts, &canonical) != signature {
        return Err(failure("check the SecretKey and how the request is signed"));
    }
    if let Some(token) = &stored.token
        && header(headers, "x-tc-token") != Some(token.as_str())
    {
        return Err(CallError::new("AuthFailure.TokenFailure", "The X-TC-Token is missing or invalid."));
    }
    Ok(stored)
}

fn dispatch(sim: &Sim, action: &str, params: Value, key_id: &str, request_id: &str) -> Result<Value, CallError> {
    match action {
        "DescribeNatGateways" => describe(sim, parse(params)?),
        "ResetNatGatewayConnection" => reset(sim, parse(params)?, key_id, request_id),
        "" => Err(CallError::new("MissingParameter", "The X-TC-Action header is missing.")),
        other => Err(CallError::new("InvalidAction", format!("The action {other} does not exist."))),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(params: Value) -> Result<T, CallError> {
    serde_json::from_value(params).map_err(|e| {
        let code = if e.to_string().starts_with("missing field") { "MissingParameter" } else { "InvalidParameter" };
        CallError::new(code, format!("The parameters are invalid: {e}"))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Filter {
    name: String,
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeParams {
    #[serde(default)]
    nat_gateway_ids: Option<Vec<String>>,
    #[serde(default)]
    filters: Option<Vec<Filter>>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
}

fn describe(sim: &Sim, p: DescribeParams) -> Result<Value, CallError> {
    let range = |what: &str| CallError::new("InvalidParameterValue.Range", format!("{what} is out of range."));
    if p.nat_gateway_ids.is_some() && p.filters.is_some() {
        return Err(CallError::new("InvalidParameter.Coexist", "NatGatewayIds and Filters cannot be used together."));
    }
    if p.nat_gateway_ids.as_ref().is_some_and(|ids| ids.len() > 100) {
        return Err(range("NatGatewayIds (at most 100)"));
    }
    let limit = p.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(range("Limit (1-100)"));
    }
    let filters = p.filters.unwrap_or_default();
    for f in &filters {
        if !matches!(f.name.as_str(), "nat-gateway-id" | "vpc-id" | "nat-gateway-name" | "nat-state") {
            return Err(CallError::new(
                "InvalidParameter.FilterInvalidKey",
                format!("The filter {} is not supported.", f.name),
            ));
        }
    }
    let keep = |g: &SimGateway| {
        p.nat_gateway_ids.as_ref().is_none_or(|ids| ids.contains(&g.id))
            && filters.iter().all(|f| {
                let value = match f.name.as_str() {
                    "nat-gateway-id" => &g.id,
                    "vpc-id" => &g.vpc_id,
                    "nat-gateway-name" => &g.name,
                    _ => &g.state,
                };
                f.values.contains(value)
            })
    };
    // Asked by id: read those alone rather than every gateway of the account.
    let candidates = match (&p.nat_gateway_ids, filters.is_empty()) {
        (Some(ids), true) => sim.model().get_many(ids),
        _ => sim.model().gateways(),
    };
    let all: Vec<SimGateway> = candidates.into_iter().filter(|g| keep(g)).collect();
    let page: Vec<&SimGateway> = all.iter().skip(p.offset.unwrap_or(0) as usize).take(limit as usize).collect();
    sim.core.ledger.saw(page.iter().map(|g| g.id.as_str()));
    let set: Vec<Value> = page.into_iter().map(gateway_json).collect();
    Ok(json!({ "NatGatewaySet": set, "TotalCount": all.len() }))
}

fn gateway_json(g: &SimGateway) -> Value {
    json!({
        "NatGatewayId": g.id,
        "NatGatewayName": g.name,
        "CreatedTime": "2024-01-01 00:00:00",
        "State": g.state,
        "NetworkState": "AVAILABLE",
        "InternetMaxBandwidthOut": 100,
        "MaxConcurrentConnection": g.max_concurrent,
        "PublicIpAddressSet": [{ "PublicIpAddress": "203.0.113.10", "AddressId": "eip-sim00001", "IsBlocked": false }],
        "DestinationIpPortTranslationNatRuleSet": [],
        "SourceIpTranslationNatRuleSet": [],
        "VpcId": g.vpc_id,
        "Zone": g.zone,
        "DirectConnectGatewayIds": [],
        "SubnetId": "",
        "TagSet": [],
        "SecurityGroupSet": [],
        "IsExclusive": false,
        "RestrictState": "NORMAL",
        "NatProductVersion": 1,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResetParams {
    nat_gateway_id: String,
    max_concurrent_connection: u64,
}

fn reset(sim: &Sim, p: ResetParams, key_id: &str, request_id: &str) -> Result<Value, CallError> {
    check_size(p.max_concurrent_connection)?;
    let mut model = sim.model();
    let gateway = model.get(&p.nat_gateway_id).ok_or_else(|| {
        CallError::new("ResourceNotFound", format!("The NAT gateway {} does not exist.", p.nat_gateway_id))
    })?;
    check_changeable(&gateway)?;
    let fail = sim.order_should_fail("ResetNatGatewayConnection");
    model.start_change(&gateway.id, p.max_concurrent_connection, fail);
    sim.record_order(&gateway.id, "ResetNatGatewayConnection", request_id, p.max_concurrent_connection, key_id);
    sim.core.ledger.saw([gateway.id.as_str()]);
    Ok(json!({}))
}
