//! API 2.0: `/v2/index.php`, parameters in the query (GET) or a form body (POST), answers with
//! a numeric `code`, `message` and `codeDesc`.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, Method, header::HOST},
    response::Response,
};
use serde_json::{Value, json};

use super::{
    auth,
    call::{CallError, Reply, Sim, after_auth, check_changeable, check_size, record_request, respond},
    params::check_id,
};
use natgw_operator::cloud::tencent::sign::{V2_PATH, V2Method, v2_signature, v2_string_to_sign};

use crate::core::SimCredential;

const API: &str = "tencent/v2";

pub(super) async fn handle(
    State(sim): State<Arc<Sim>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let raw: &[u8] = if method == Method::GET { query.as_deref().unwrap_or("").as_bytes() } else { &body };
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(raw).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let reply = match authenticate(&sim, method.as_str(), host, &params) {
        Err(e) => Reply::Done(Err(e)),
        Ok(credential) => {
            after_auth(&sim, &action, &credential.key_id, |sim| dispatch(sim, &action, &params, &credential.key_id))
                .await
        }
    };
    let outcome = match &reply {
        Reply::Done(Ok(_)) => "ok".to_owned(),
        Reply::Done(Err(e)) => v2_code(&e.code).0.to_string(),
        Reply::Dropped => "dropped".to_owned(),
    };
    record_request(&sim, API, &action, params.get("SecretId").map(String::as_str), &outcome);
    respond(reply, |result| match result {
        Ok(body) => body,
        Err(e) => {
            let (code, desc) = v2_code(&e.code);
            json!({ "code": code, "message": e.message, "codeDesc": desc })
        }
    })
}

fn authenticate(
    sim: &Sim,
    method: &str,
    host: &str,
    params: &BTreeMap<String, String>,
) -> Result<SimCredential, CallError> {
    for name in ["Action", "SecretId", "Signature", "Timestamp", "Nonce"] {
        if params.get(name).is_none_or(String::is_empty) {
            return Err(CallError::new("MissingParameter", format!("The parameter {name} is missing.")));
        }
    }
    let credential = auth::credential(sim, &params["SecretId"])?;
    auth::timestamp("Timestamp", &params["Timestamp"])?;
    let nonce: u64 = params["Nonce"]
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| CallError::new("InvalidParameter", "Nonce must be a positive integer."))?;
    let string_to_sign = v2_string_to_sign(
        method,
        host,
        V2_PATH,
        params.iter().filter(|(k, _)| *k != "Signature").map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let signature_method = V2Method::from_param(params.get("SignatureMethod").map(String::as_str));
    if v2_signature(&credential.secret, signature_method, &string_to_sign) != params["Signature"] {
        return Err(CallError::new("AuthFailure.SignatureFailure", "Signature verification failed."));
    }
    auth::token(sim, &credential, params.get("Token").map(String::as_str))?;
    // Only a request that passed the signature check spends its nonce.
    if !sim.nonces.first_use((credential.key_id.clone(), nonce)) {
        return Err(CallError::new(
            REPLAY,
            "The Nonce was already used within the Timestamp window: the request is a replay.",
        ));
    }
    Ok(credential)
}

/// 4500's `codeDesc`: the number and its meaning (a repeated `Nonce`, or a `Timestamp` too far
/// off) are documented, the string is not.
const REPLAY: &str = "ReplayAttack";

/// API 2.0's numeric code and `codeDesc` for an error.
fn v2_code(code: &str) -> (u32, String) {
    if let Ok(n) = code.parse() {
        return (n, code.to_owned());
    }
    let n = match code {
        "AuthFailure.SignatureFailure" | "AuthFailure.InvalidAuthorization" | "AuthFailure.InvalidSecretId" => 4100,
        "AuthFailure.UnauthorizedOperation" => 4102,
        "AuthFailure.SecretIdNotFound" => 4104,
        "AuthFailure.TokenFailure" => 4105,
        "AuthFailure.SignatureExpire" | REPLAY => 4500,
        "UnsupportedOperation.InsufficientFunds" => 5300,
        c if c.starts_with("RequestLimitExceeded") => 4400,
        c if c.contains("NotFound") => 5000,
        c if c.starts_with("UnsupportedOperation")
            || c.starts_with("ResourceInUse")
            || c.starts_with("FailedOperation") =>
        {
            5100
        }
        c if c.starts_with("InternalError") || c.starts_with("ServiceUnavailable") => 6000,
        _ => 4000,
    };
    (n, code.to_owned())
}

fn required<'a>(params: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, CallError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| CallError::new("MissingParameter", format!("The parameter {name} is missing.")))
}

fn number(params: &BTreeMap<String, String>, name: &str) -> Result<Option<u64>, CallError> {
    params
        .get(name)
        .map(|v| {
            v.parse()
                .map_err(|_| CallError::new("InvalidParameterValue", format!("{name} must be a non-negative integer.")))
        })
        .transpose()
}

/// API 2.0 takes a VPC by its `vpc-` id or by its old numeric id.
fn check_vpc_id(id: &str) -> Result<(), CallError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) { Ok(()) } else { check_id("vpcId", id, "vpc") }
}

fn dispatch(sim: &Sim, action: &str, params: &BTreeMap<String, String>, key_id: &str) -> Result<Value, CallError> {
    match action {
        "UpgradeNatGateway" => upgrade(sim, params, key_id),
        "QueryNatGatewayProductionStatus" => query_bill(sim, params),
        "DescribeNatGateway" => describe(sim, params),
        other => Err(CallError::new("InvalidAction", format!("The action {other} does not exist."))),
    }
}

fn upgrade(sim: &Sim, params: &BTreeMap<String, String>, key_id: &str) -> Result<Value, CallError> {
    let vpc_id = required(params, "vpcId")?;
    let nat_id = required(params, "natId")?;
    required(params, "maxConcurrent")?;
    check_vpc_id(vpc_id)?;
    check_id("natId", nat_id, "nat")?;
    let target = number(params, "maxConcurrent")?.unwrap_or_default();
    check_size(target)?;
    let mut model = sim.model();
    let gateway = model.get(nat_id).ok_or_else(|| {
        CallError::new("InvalidNatGatewayId.NotFound", format!("The NAT gateway {nat_id} does not exist."))
    })?;
    if gateway.vpc_id != vpc_id {
        return Err(CallError::new(
            "InvalidVpc.NotFound",
            format!("The VPC {vpc_id} does not exist or holds no gateway {nat_id}."),
        ));
    }
    check_changeable(&gateway)?;
    if target < gateway.max_concurrent {
        return Err(CallError::new(
            "UnsupportedOperation.DowngradeNotSupported",
            "maxConcurrent only supports upgrade.",
        ));
    }
    sim.core.ledger.saw([nat_id]);
    // Already that size: a bill that is done at once, with nothing changed and nothing ordered,
    // so that a client polling the bill sees success.
    if target == gateway.max_concurrent {
        let bill_id = model.new_done_bill();
        return Ok(json!({ "code": "0", "message": "", "codeDesc": "Success", "billId": bill_id }));
    }
    let fail = sim.order_should_fail("UpgradeNatGateway");
    model.start_change(nat_id, target, fail);
    let bill_id = model.new_bill(fail);
    sim.record_order(nat_id, "UpgradeNatGateway", &bill_id, target, key_id);
    // The documented example answers with `code` as a string.
    Ok(json!({ "code": "0", "message": "", "codeDesc": "Success", "billId": bill_id }))
}

fn query_bill(sim: &Sim, params: &BTreeMap<String, String>) -> Result<Value, CallError> {
    let bill_id = required(params, "billId")?;
    let status = sim
        .model()
        .bill_status(bill_id)
        .ok_or_else(|| CallError::new("InvalidBillId.NotFound", format!("The bill {bill_id} does not exist.")))?;
    let data = if status == super::model::BILL_FAILED {
        json!({ "status": status, "errorCode": 5100, "errorMsg": "the upgrade failed; the gateway keeps its size" })
    } else {
        json!({ "status": status, "errorCode": 0 })
    };
    Ok(json!({ "code": 0, "message": "", "codeDesc": "Success", "data": data }))
}

fn describe(sim: &Sim, params: &BTreeMap<String, String>) -> Result<Value, CallError> {
    let offset = number(params, "offset")?.unwrap_or(0) as usize;
    let limit = number(params, "limit")?.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(CallError::new("InvalidParameterValue.Range", "limit must be between 1 and 50."));
    }
    if let Some(id) = params.get("natId") {
        check_id("natId", id, "nat")?;
    }
    if let Some(id) = params.get("vpcId") {
        check_vpc_id(id)?;
    }
    let matches = |g: &super::SimGateway| {
        params.get("natId").is_none_or(|v| *v == g.id)
            && params.get("natName").is_none_or(|v| *v == g.name)
            && params.get("vpcId").is_none_or(|v| *v == g.vpc_id)
    };
    let candidates = match params.get("natId") {
        Some(id) => sim.model().get(id).into_iter().collect(),
        None => sim.model().gateways(),
    };
    let all: Vec<_> = candidates.into_iter().filter(|g| matches(g)).collect();
    let page: Vec<_> = all.iter().skip(offset).take(limit as usize).collect();
    sim.core.ledger.saw(page.iter().map(|g| g.id.as_str()));
    let data: Vec<Value> = page
        .into_iter()
        .map(|g| {
            let (state, production) = g.v2_state();
            json!({
                "natId": g.id,
                "natName": g.name,
                "unVpcId": g.vpc_id,
                "maxConcurrent": g.max_concurrent,
                "bandwidth": 100,
                "eipCount": 1,
                "eipSet": ["203.0.113.10"],
                "createTime": "2024-01-01 00:00:00",
                "state": state,
                "productionStatus": production,
            })
        })
        .collect();
    Ok(json!({ "code": 0, "message": "", "codeDesc": "Success", "totalCount": all.len(), "data": data }))
}
