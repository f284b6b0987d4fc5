//! API 3.0 at `/` (see [`super::v3_gateway`] for the request forms and their authentication):
//! answers `{"Response": {..., "RequestId"}}`, errors as `Response.Error {Code, Message}`
//! ([`envelope`]), with HTTP 200 and `Content-Type: application/json` (the SDK reads error bodies
//! only then).

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
    SimGateway,
    call::{CallError, Reply, Sim, after_auth, check_changeable, check_size, record_request, request_id, respond},
    params::{check_id, int, opt_int, parse},
    sts, tag,
    v3_gateway::{self, envelope},
};

const API: &str = "tencent/v3";
const VERSION: &str = "2017-03-12";
/// `NatGatewayIds` per call, and the largest `Limit`.
const MAX_PER_CALL: usize = 100;

pub(super) async fn handle(
    State(sim): State<Arc<Sim>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    // The one action called unsigned: STS takes the caller's web identity token instead.
    if sts::is_web_identity_call(&headers) {
        return sts::handle(&sim, &method, &headers, query.as_deref().unwrap_or(""), &body).await;
    }
    let request_id = request_id();
    let (action, call) = v3_gateway::read(&sim, &method, &headers, query.as_deref().unwrap_or(""), &body);
    let key_id = call.as_ref().ok().map(|c| c.credential.key_id.clone());
    let service = call.as_ref().map_or("vpc", |c| c.service.as_str()).to_owned();
    let reply = match call {
        Err(e) => Reply::Done(Err(e)),
        Ok(call) if call.version != version_of(&call.service) => Reply::Done(Err(CallError::new(
            "NoSuchVersion",
            format!(
                "The version {:?} does not exist for {}; use {}.",
                call.version,
                call.service,
                version_of(&call.service)
            ),
        ))),
        Ok(call) => {
            let key_id = call.credential.key_id.clone();
            let principal = sim.core.principal(&key_id);
            after_auth(&sim, &action, &key_id, |sim| match call.service.as_str() {
                "tag" => tag::dispatch(sim, &action, call.params, &principal),
                "sts" => sts::dispatch(&action, call.params, &principal),
                _ => dispatch(sim, &action, call.params, &key_id, &request_id),
            })
            .await
        }
    };
    let outcome = match &reply {
        Reply::Done(Ok(_)) => "ok".to_owned(),
        Reply::Done(Err(e)) => e.code.clone(),
        Reply::Dropped => "dropped".to_owned(),
    };
    let api = match service.as_str() {
        "tag" => "tencent/tag",
        "sts" => "tencent/sts",
        _ => API,
    };
    record_request(&sim, api, &action, key_id.as_deref(), &outcome);
    respond(reply, |result| envelope(result, &request_id))
}

/// The API version each service answers.
fn version_of(service: &str) -> &'static str {
    match service {
        "tag" | "sts" => tag::VERSION,
        _ => VERSION,
    }
}

fn dispatch(
    sim: &Sim,
    action: &str,
    params: Map<String, Value>,
    key_id: &str,
    request_id: &str,
) -> Result<Value, CallError> {
    match action {
        "DescribeNatGateways" => describe(sim, parse(params)?),
        "ResetNatGatewayConnection" => reset(sim, parse(params)?, key_id, request_id),
        other => Err(CallError::new("InvalidAction", format!("The action {other} does not exist."))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DescribeParams {
    #[serde(default)]
    nat_gateway_ids: Option<Vec<String>>,
    /// Checked one by one, for the filter codes.
    #[serde(default)]
    filters: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "opt_int")]
    offset: Option<i64>,
    #[serde(default, deserialize_with = "opt_int")]
    limit: Option<i64>,
}

/// One documented filter: `nat-gateway-id`, `vpc-id`, `nat-gateway-name`, `tag-key`,
/// `nat-state`.
struct Filter {
    name: String,
    values: Vec<String>,
}

fn filter(value: &Value) -> Result<Filter, CallError> {
    let Some(fields) = value.as_object() else {
        return Err(CallError::new(
            "InvalidParameter.FilterNotDict",
            "Each of Filters must be a {Name, Values} object.",
        ));
    };
    let name = fields.get("Name").and_then(Value::as_str);
    let values = fields.get("Values");
    let (Some(name), Some(values)) = (name, values) else {
        return Err(CallError::new("InvalidParameter.FilterMissParameter", "Each filter needs Name and Values."));
    };
    let Some(values) = values.as_array() else {
        return Err(CallError::new(
            "InvalidParameter.FilterValuesNotList",
            format!("Values of filter {name} must be a list."),
        ));
    };
    if let Some(other) = fields.keys().find(|k| !matches!(k.as_str(), "Name" | "Values")) {
        return Err(CallError::new("UnknownParameter", format!("The parameter Filters.{other} is not recognized.")));
    }
    if !matches!(name, "nat-gateway-id" | "vpc-id" | "nat-gateway-name" | "tag-key" | "nat-state") {
        return Err(CallError::new(
            "InvalidParameter.FilterInvalidKey",
            format!("The filter {name} is not supported."),
        ));
    }
    let values: Vec<String> = values
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| CallError::new("InvalidParameter", format!("Values of filter {name} must be strings.")))?;
    if name == "nat-gateway-id" {
        for v in &values {
            check_id("Filters.Values", v, "nat")?;
        }
    }
    Ok(Filter { name: name.to_owned(), values })
}

fn describe(sim: &Sim, p: DescribeParams) -> Result<Value, CallError> {
    let range = |what: &str| CallError::new("InvalidParameterValue.Range", format!("{what} is out of range."));
    if p.nat_gateway_ids.is_some() && p.filters.is_some() {
        return Err(CallError::new("InvalidParameter.Coexist", "NatGatewayIds and Filters cannot be used together."));
    }
    let ids = p.nat_gateway_ids.unwrap_or_default();
    if ids.len() > MAX_PER_CALL {
        return Err(range("NatGatewayIds (at most 100)"));
    }
    for id in &ids {
        check_id("NatGatewayIds", id, "nat")?;
    }
    let limit = p.limit.unwrap_or(20);
    if !(1..=MAX_PER_CALL as i64).contains(&limit) {
        return Err(range("Limit (1-100)"));
    }
    let offset = p.offset.unwrap_or(0);
    if offset < 0 {
        return Err(range("Offset (0 or more)"));
    }
    let filters = p.filters.unwrap_or_default().iter().map(filter).collect::<Result<Vec<_>, _>>()?;
    let keep = |g: &SimGateway| {
        filters.iter().all(|f| match f.name.as_str() {
            "nat-gateway-id" => f.values.contains(&g.id),
            "vpc-id" => f.values.contains(&g.vpc_id),
            "nat-gateway-name" => f.values.contains(&g.name),
            "nat-state" => f.values.contains(&g.state),
            _ => {
                let tags = sim.core.tags.visible(&g.id);
                f.values.iter().any(|v| tags.contains_key(v))
            }
        })
    };
    // Asked by id: read those alone rather than every gateway of the account.
    let candidates = if ids.is_empty() { sim.model().gateways() } else { sim.model().get_many(&ids) };
    let all: Vec<SimGateway> = candidates.into_iter().filter(|g| keep(g)).collect();
    let page: Vec<&SimGateway> = all.iter().skip(offset as usize).take(limit as usize).collect();
    sim.core.ledger.saw(page.iter().map(|g| g.id.as_str()));
    let set: Vec<Value> = page.into_iter().map(|g| gateway_json(g, &sim.core.tags.visible(&g.id))).collect();
    Ok(json!({ "NatGatewaySet": set, "TotalCount": all.len(), "VerboseLevel": "DETAIL" }))
}

/// Every field of the SDK's `NatGateway` model. `ExclusiveGatewayBandwidth` is documented as
/// absent when `IsExclusive` is false, as it is for the traditional gateways simulated here.
/// `TagSet` is the tags visible now ([`crate::tags`]).
fn gateway_json(g: &SimGateway, tags: &std::collections::BTreeMap<String, String>) -> Value {
    let tag_set: Vec<Value> = tags.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect();
    let network_state = if g.state == "DENIED" { "INSUFFICIENT" } else { "AVAILABLE" };
    json!({
        "NatGatewayId": g.id,
        "NatGatewayName": g.name,
        "CreatedTime": "2024-01-01 00:00:00",
        "State": g.state,
        "NetworkState": network_state,
        "InternetMaxBandwidthOut": 100,
        "MaxConcurrentConnection": g.max_concurrent,
        "PublicIpAddressSet": [{
            "PublicIpAddress": "203.0.113.10",
            "AddressId": "eip-sim00001",
            "IsBlocked": false,
            "BlockType": "NORMAL",
        }],
        "DestinationIpPortTranslationNatRuleSet": [{
            "IpProtocol": "TCP",
            "PublicIpAddress": "203.0.113.10",
            "PublicPort": 8080,
            "PrivateIpAddress": "10.0.0.10",
            "PrivatePort": 80,
            "Description": "simulated",
        }],
        "SourceIpTranslationNatRuleSet": [{
            "ResourceId": "subnet-sim00001",
            "ResourceType": "SUBNET",
            "PrivateIpAddress": "10.0.0.0/24",
            "PublicIpAddresses": ["203.0.113.10"],
            "Description": "simulated",
            "NatGatewaySnatId": "snat-sim00001",
            "NatGatewayId": g.id,
            "VpcId": g.vpc_id,
            "CreatedTime": "2024-01-01 00:00:00",
        }],
        "VpcId": g.vpc_id,
        "Zone": g.zone,
        "DirectConnectGatewayIds": [],
        "SubnetId": "",
        "TagSet": tag_set,
        "SecurityGroupSet": [],
        "IsExclusive": false,
        "RestrictState": "NORMAL",
        "NatProductVersion": 1,
        "StrictSnatMode": false,
        "SmartScheduleMode": false,
        "DedicatedClusterId": "",
        "DeletionProtectionEnabled": false,
        "ConnectionStateTimeouts": {
            "UDPMappingTimeout": 10,
            "TCPEstablishedConnectionTimeout": 10800,
            "TCPTimeWaitTimeout": 120,
        },
        "ExclusiveType": "",
        "AutoScaling": false,
        "ICMPProxy": true,
        "PublicAddressAffinity": true,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ResetParams {
    nat_gateway_id: String,
    #[serde(deserialize_with = "int")]
    max_concurrent_connection: i64,
    #[serde(default)]
    exclusive_type: Option<String>,
}

fn reset(sim: &Sim, p: ResetParams, key_id: &str, request_id: &str) -> Result<Value, CallError> {
    check_id("NatGatewayId", &p.nat_gateway_id, "nat")?;
    let target = u64::try_from(p.max_concurrent_connection).unwrap_or(0);
    check_size(target)?;
    if let Some(t) = p.exclusive_type.as_deref()
        && !matches!(t, "ExclusiveSmall" | "ExclusiveMedium1" | "ExclusiveLarge1")
    {
        return Err(CallError::new(
            "InvalidParameterValue",
            format!("ExclusiveType {t:?} is not one of ExclusiveSmall, ExclusiveMedium1, ExclusiveLarge1."),
        ));
    }
    let mut model = sim.model();
    let gateway = model.get(&p.nat_gateway_id).ok_or_else(|| {
        CallError::new("ResourceNotFound", format!("The NAT gateway {} does not exist.", p.nat_gateway_id))
    })?;
    check_changeable(&gateway)?;
    sim.core.ledger.saw([gateway.id.as_str()]);
    // Already that size: answered like any accepted call, but nothing changes and nothing is
    // ordered (the documented answer carries only a RequestId either way).
    if target == gateway.max_concurrent {
        return Ok(json!({}));
    }
    let fail = sim.order_should_fail("ResetNatGatewayConnection");
    model.start_change(&gateway.id, target, fail);
    sim.record_order(&gateway.id, "ResetNatGatewayConnection", request_id, target, key_id);
    Ok(json!({}))
}
