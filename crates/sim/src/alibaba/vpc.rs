//! VPC (2016-04-28): `DescribeNatGateways`, `ModifyNatGatewaySpec` and the tag calls on
//! `NATGATEWAY` resources (`TagResources`, `UnTagResources`, `ListTagResources`).

use serde_json::{Value, json};

use super::{
    answer::ApiError,
    params::{Params, boolean, int, list, required, tags},
    state::Sim,
    world::{Charge, Gateway, Refusal, SPECS, vpc_time},
};
use crate::{
    faults::FaultKind,
    ledger::{Order, now_unix_ms},
};

pub const VERSION: &str = "2016-04-28";
pub const ACTIONS: [&str; 5] =
    ["DescribeNatGateways", "ModifyNatGatewaySpec", "TagResources", "UnTagResources", "ListTagResources"];

/// The only resource type the simulator tags.
const RESOURCE_TYPE: &str = "NATGATEWAY";
/// Documented: up to 20 tags per resource, 50 resources per tag call.
const MAX_TAGS: usize = 20;
const MAX_RESOURCES: usize = 50;

pub fn dispatch(sim: &Sim, action: &str, params: &Params, key_id: &str, request_id: &str) -> Result<Value, ApiError> {
    match action {
        "DescribeNatGateways" => describe(sim, params),
        "ModifyNatGatewaySpec" => {
            sim.idempotent(key_id, action, params, |sim| modify_spec(sim, params, key_id, request_id))
        }
        "TagResources" => tag(sim, params),
        "UnTagResources" => untag(sim, params),
        _ => list_tags(sim, params),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "InvalidNatGatewayId.NotFound",
        format!("The specified NAT gateway {id} does not exist."),
    )
}

/// Paged (`PageNumber` from 1, `PageSize` 1-50, default 10), filtered by `RegionId` (required),
/// `NatGatewayId`, `Spec`, `InstanceChargeType`, `Status`, `VpcId` and `Tag.N.Key/Value`.
fn describe(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    let region = required(params, "RegionId")?;
    let page = int(params, "PageNumber", 1, 1..=u32::MAX)?;
    let size = int(params, "PageSize", 10, 1..=50)?;
    let wanted_tags = tags(params)?;
    let field = |name: &str| params.get(name).map(String::as_str);
    let mut world = sim.world();
    let matching: Vec<&Gateway> = world
        .gateways()
        .iter()
        .filter(|g| g.region_id == region)
        .filter(|g| field("NatGatewayId").is_none_or(|id| id == g.id))
        .filter(|g| field("Spec").is_none_or(|s| s == g.spec))
        .filter(|g| field("VpcId").is_none_or(|v| v == g.vpc_id))
        .filter(|g| field("Status").is_none_or(|s| s == g.status()))
        .filter(|g| field("InstanceChargeType").is_none_or(|c| c == charge_name(g.charge)))
        .filter(|g| has_tags(sim, &g.id, &wanted_tags))
        .collect();
    let total = matching.len();
    let start = (page as usize - 1).saturating_mul(size as usize);
    let shown: Vec<Value> = matching.iter().skip(start).take(size as usize).map(|g| gateway_json(sim, g)).collect();
    sim.core.ledger.saw(matching.iter().skip(start).take(size as usize).map(|g| g.id.as_str()));
    Ok(json!({
        "TotalCount": total,
        "PageNumber": page,
        "PageSize": size,
        "NatGateways": { "NatGateway": shown },
    }))
}

/// Whether the gateway's visible tags hold every wanted key (with its value, when given).
fn has_tags(sim: &Sim, id: &str, wanted: &[(String, Option<String>)]) -> bool {
    let have = sim.core.tags.visible(id);
    wanted.iter().all(|(k, v)| have.get(k).is_some_and(|h| v.as_ref().is_none_or(|v| v == h)))
}

fn charge_name(charge: Charge) -> &'static str {
    match charge {
        Charge::PrePaid => "PrePaid",
        Charge::PostPaid => "PostPaid",
    }
}

pub fn gateway_json(sim: &Sim, g: &Gateway) -> Value {
    let tags: Vec<Value> =
        sim.core.tags.visible(&g.id).into_iter().map(|(k, v)| json!({ "TagKey": k, "TagValue": v })).collect();
    json!({
        "NatGatewayId": g.id,
        "RegionId": g.region_id,
        "VpcId": g.vpc_id,
        "Name": g.id,
        "Spec": g.spec,
        "InstanceChargeType": charge_name(g.charge),
        // The simulator models billing by spec only (not by capacity unit, `PayByLcu`).
        "InternetChargeType": "PayBySpec",
        "Status": g.status(),
        "BusinessStatus": "Normal",
        "ExpiredTime": g.expires.map(vpc_time).unwrap_or_default(),
        "AutoPay": g.auto_pay,
        "NatType": "Enhanced",
        "NetworkType": "internet",
        "CreationTime": vpc_time(g.created),
        "Tags": { "Tag": tags },
    })
}

/// `RegionId`, `NatGatewayId`, `Spec` (required), `AutoPay` (default false), `ClientToken`.
fn modify_spec(sim: &Sim, params: &Params, key_id: &str, request_id: &str) -> Result<Value, ApiError> {
    let region = required(params, "RegionId")?;
    let id = required(params, "NatGatewayId")?;
    let spec = required(params, "Spec")?;
    let auto_pay = boolean(params, "AutoPay", false)?;
    if !SPECS.contains(&spec) {
        return Err(ApiError::bad(
            "InvalidParameter.Spec.ValueNotSupported",
            format!("The specified Spec {spec:?} is not supported: use one of {}.", SPECS.join(", ")),
        ));
    }
    let mut world = sim.world();
    if !world.gateways().iter().any(|g| g.id == id && g.region_id == region) {
        return Err(not_found(id));
    }
    let order = world.change_spec(id, spec, auto_pay).map_err(|r| match r {
        Refusal::SameSpec => ApiError::bad("NATGW_MODIFY_SPEC_SAME", "The specified Spec is same with now."),
        Refusal::Busy => ApiError::bad("IncorrectStatus.NatGateway", format!("The NAT gateway {id} is Modifying.")),
        Refusal::UnpaidOrder(order) => ApiError::bad(
            "IncorrectStatus.NatGateway",
            format!("The NAT gateway {id} has an unpaid order {order}: pay or cancel it first."),
        ),
        Refusal::Downgrade => ApiError::bad(
            "OperationUnsupported.SpecDowngrade",
            "A subscription NAT gateway cannot be downgraded through the API: downgrade it in the console.",
        ),
        Refusal::NoGateway | Refusal::NoOrder | Refusal::NotUnpaid(_) => not_found(id),
    })?;
    if sim.core.faults.take("ModifyNatGatewaySpec", |k| *k == FaultKind::FailOrder).is_some() {
        world.fail(id, order.as_ref().map(|o| o.id.as_str()));
    }
    drop(world);
    sim.core.ledger.saw([id]);
    sim.core.ledger.record_order(Order {
        gateway_id: id.to_owned(),
        action: "ModifyNatGatewaySpec".into(),
        order_id: order.map_or_else(|| request_id.to_owned(), |o| o.id),
        target: spec.to_owned(),
        key_id: key_id.to_owned(),
        at_unix_ms: now_unix_ms(),
    });
    Ok(json!({ "RequestId": request_id }))
}

/// `ResourceType` must be `NATGATEWAY`; every `ResourceId.N` must be a gateway.
fn resources(sim: &Sim, params: &Params) -> Result<Vec<String>, ApiError> {
    let kind = required(params, "ResourceType")?;
    if !kind.eq_ignore_ascii_case(RESOURCE_TYPE) {
        return Err(ApiError::bad(
            "InvalidResourceType.NotFound",
            format!("The resource type {kind:?} is not supported: use {RESOURCE_TYPE}."),
        ));
    }
    let ids = list(params, "ResourceId");
    if ids.len() > MAX_RESOURCES {
        return Err(ApiError::bad("InvalidParameter.ResourceId", format!("At most {MAX_RESOURCES} ResourceId.N.")));
    }
    let mut world = sim.world();
    let gateways = world.gateways();
    match ids.iter().find(|id| !gateways.iter().any(|g| &g.id == *id)) {
        Some(id) => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "InvalidResourceId.NotFound",
            format!("The specified resource {id} does not exist."),
        )),
        None => Ok(ids),
    }
}

/// `ResourceId.N` and `Tag.N.Key/Value` (1-20 tags).
fn tag(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    required(params, "RegionId")?;
    let ids = resources(sim, params)?;
    if ids.is_empty() {
        return Err(ApiError::missing("ResourceId.1"));
    }
    let new = tags(params)?;
    if new.is_empty() || new.len() > MAX_TAGS {
        return Err(ApiError::bad("InvalidParameter.Tag", format!("Give 1-{MAX_TAGS} Tag.N.Key.")));
    }
    for id in &ids {
        let mut after = sim.core.tags.written(id);
        after.extend(new.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())));
        if after.len() > MAX_TAGS {
            return Err(ApiError::bad(
                "QuotaExceeded.TagNum",
                format!("The resource {id} would have more than {MAX_TAGS} tags."),
            ));
        }
    }
    for id in &ids {
        sim.core.tags.write(id, new.iter().map(|(k, v)| (k.clone(), Some(v.clone().unwrap_or_default()))).collect());
    }
    Ok(json!({}))
}

/// `ResourceId.N` and `TagKey.N`, or `All=true` to remove every tag.
fn untag(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    required(params, "RegionId")?;
    let ids = resources(sim, params)?;
    if ids.is_empty() {
        return Err(ApiError::missing("ResourceId.1"));
    }
    let all = boolean(params, "All", false)?;
    let keys = list(params, "TagKey");
    for id in &ids {
        let removed: Vec<String> = if all { sim.core.tags.written(id).into_keys().collect() } else { keys.clone() };
        sim.core.tags.write(id, removed.into_iter().map(|k| (k, None)).collect());
    }
    Ok(json!({}))
}

/// By `ResourceId.N` or by `Tag.N.Key/Value` (one of them required), `MaxResults` 1-50
/// (default 50), `NextToken` the offset of the next page.
fn list_tags(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    required(params, "RegionId")?;
    let ids = resources(sim, params)?;
    let wanted = tags(params)?;
    if ids.is_empty() && wanted.is_empty() {
        return Err(ApiError::bad("MissingParameter", "Give ResourceId.N or Tag.N.Key."));
    }
    let max = int(params, "MaxResults", 50, 1..=50)? as usize;
    let offset: usize = match params.get("NextToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t.parse().map_err(|_| ApiError::bad("InvalidNextToken", "The NextToken is not valid."))?,
    };
    let candidates: Vec<String> =
        if ids.is_empty() { sim.world().gateways().iter().map(|g| g.id.clone()).collect() } else { ids };
    let mut rows = Vec::new();
    for id in candidates.into_iter().filter(|id| has_tags(sim, id, &wanted)) {
        for (k, v) in sim.core.tags.visible(&id) {
            rows.push(json!({ "ResourceId": id, "ResourceType": RESOURCE_TYPE, "TagKey": k, "TagValue": v }));
        }
    }
    let next = if offset + max < rows.len() { (offset + max).to_string() } else { String::new() };
    let page: Vec<Value> = rows.into_iter().skip(offset).take(max).collect();
    Ok(json!({ "NextToken": next, "TagResources": { "TagResource": page } }))
}
