//! The API 3.0 gateway: reads a request in every form the official SDKs send and authenticates
//! it. TC3-HMAC-SHA256 signs POST with a JSON body (parameters nested) and GET (flat parameters
//! in the query string); signature v1 (`SignatureMethod` HmacSHA1 or HmacSHA256, as
//! tencentcloud-sdk's `ClientProfile(signMethod=...)` sends) signs POST with a form body and GET,
//! every parameter flat, common ones included. Other verbs are `UnsupportedProtocol`.
//!
//! Every service is served on one port: TC3 names the service in its credential scope (`vpc`,
//! `tag` or `sts`, see [`SERVICES`]); signature v1 has no scope, so the service is the one the
//! action belongs to ([`service_of`]).
//!
//! It also wraps every API 3.0 answer, STS's unsigned one included ([`envelope`]).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, Method, header::HOST};
use serde_json::{Map, Value, json};

use super::{
    auth,
    call::{CallError, Sim},
    params::unflatten,
};
use natgw_operator::cloud::tencent::sign::{
    TC3_ALGORITHM, V2Method, tc3_canonical_request, tc3_date, tc3_signature, v2_signature, v2_string_to_sign,
};

use crate::core::SimCredential;

/// The services the simulator serves, as TC3 credential scopes name them.
pub(super) const SERVICES: [&str; 3] = ["vpc", "tag", "sts"];

/// The service an action belongs to, for requests that do not name one (signature v1).
pub(super) fn service_of(action: &str) -> &'static str {
    match action {
        "TagResources" | "UnTagResources" | "GetResources" => "tag",
        "GetCallerIdentity" | "AssumeRoleWithWebIdentity" => "sts",
        _ => "vpc",
    }
}
/// Signature v1 signs the path too: API 3.0 takes every call at `/`.
const PATH: &str = "/";
/// The parameters of signature v1 that are not the action's own.
const COMMON: [&str; 11] = [
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "Language",
    "RequestClient",
];

/// API 3.0's answer: `{"Response": {...fields or Error {Code, Message}, "RequestId"}}`.
pub(super) fn envelope(result: Result<Value, CallError>, request_id: &str) -> Value {
    let mut response = match result {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => Map::new(),
        Err(e) => Map::from_iter([("Error".to_owned(), json!({ "Code": e.code, "Message": e.message }))]),
    };
    response.insert("RequestId".to_owned(), Value::String(request_id.to_owned()));
    json!({ "Response": response })
}

/// An authenticated call.
pub(super) struct Call {
    /// `vpc`, `tag` or `sts`.
    pub service: String,
    pub version: String,
    pub credential: SimCredential,
    /// The action's parameters, nested as in a JSON body; leaves of flat forms are strings.
    pub params: Map<String, Value>,
}

/// The action the request names (for the request log, whatever the outcome) and the call.
pub(super) fn read(
    sim: &Sim,
    method: &Method,
    headers: &HeaderMap,
    query: &str,
    body: &[u8],
) -> (String, Result<Call, CallError>) {
    let flat = |raw: &[u8]| -> BTreeMap<String, String> { url::form_urlencoded::parse(raw).into_owned().collect() };
    let content_type = header(headers, "content-type").unwrap_or("").to_ascii_lowercase();
    let host = header(headers, HOST.as_str()).unwrap_or("");
    let tc3_action = || header(headers, "x-tc-action").unwrap_or("").to_owned();
    if *method != Method::GET && *method != Method::POST {
        let refused = CallError::new(
            "UnsupportedProtocol",
            format!("The HTTP method {method} is not supported: use GET or POST."),
        );
        return (tc3_action(), Err(refused));
    }
    if *method == Method::GET && header(headers, "authorization").is_none() {
        return v1(sim, method, host, flat(query.as_bytes()));
    }
    if *method == Method::POST && content_type.starts_with("application/x-www-form-urlencoded") {
        return v1(sim, method, host, flat(body));
    }
    if *method == Method::POST && !content_type.starts_with("application/json") {
        let refused = CallError::new(
            "InvalidParameter",
            "POST takes Content-Type application/json (TC3-HMAC-SHA256) or application/x-www-form-urlencoded (HmacSHA1, HmacSHA256).",
        );
        return (tc3_action(), Err(refused));
    }
    (tc3_action(), tc3(sim, method, headers, query, body))
}

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn missing(name: &str) -> CallError {
    CallError::new("MissingParameter", format!("The request is missing the required parameter {name}."))
}

/// Signature v1: `METHOD host / ? k=v&...` over every parameter but `Signature`.
fn v1(sim: &Sim, method: &Method, host: &str, params: BTreeMap<String, String>) -> (String, Result<Call, CallError>) {
    let action = params.get("Action").cloned().unwrap_or_default();
    let call = (|| {
        for name in ["Action", "Version", "SecretId", "Timestamp", "Nonce", "Signature"] {
            if params.get(name).is_none_or(String::is_empty) {
                return Err(missing(name));
            }
        }
        let credential = auth::credential(sim, &params["SecretId"])?;
        auth::timestamp("Timestamp", &params["Timestamp"])?;
        if params["Nonce"].parse::<u64>().is_err() {
            return Err(CallError::new("InvalidParameter", "Nonce must be a positive integer."));
        }
        let string_to_sign = v2_string_to_sign(
            method.as_str(),
            host,
            PATH,
            params.iter().filter(|(k, _)| *k != "Signature").map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let signature_method = V2Method::from_param(params.get("SignatureMethod").map(String::as_str));
        if v2_signature(&credential.secret, signature_method, &string_to_sign) != params["Signature"] {
            return Err(signature_failure("check the SecretKey and how the request is signed"));
        }
        auth::token(sim, &credential, params.get("Token").map(String::as_str))?;
        let own = params.iter().filter(|(k, _)| !COMMON.contains(&k.as_str()));
        let nested = unflatten(own.map(|(k, v)| (k.as_str(), v.as_str())))?;
        let service = service_of(&params["Action"]).to_owned();
        Ok(Call { service, version: params["Version"].clone(), credential, params: nested })
    })();
    (action, call)
}

fn signature_failure(why: &str) -> CallError {
    CallError::new("AuthFailure.SignatureFailure", format!("The provided credentials could not be validated: {why}."))
}

/// TC3-HMAC-SHA256, from the `Authorization` and `X-TC-*` headers.
fn tc3(sim: &Sim, method: &Method, headers: &HeaderMap, query: &str, body: &[u8]) -> Result<Call, CallError> {
    for name in ["X-TC-Action", "X-TC-Version", "X-TC-Timestamp"] {
        if header(headers, name).is_none_or(str::is_empty) {
            return Err(missing(name));
        }
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
    let (scope, signed_headers, signature) = (field("Credential")?, field("SignedHeaders")?, field("Signature")?);
    let scope: Vec<&str> = scope.split('/').collect();
    let [secret_id, date, service, "tc3_request"] = scope[..] else {
        return Err(invalid("Credential must be SecretId/date/service/tc3_request"));
    };
    let credential = auth::credential(sim, secret_id)?;
    let ts = auth::timestamp("X-TC-Timestamp", header(headers, "x-tc-timestamp").unwrap_or(""))?;
    if date != tc3_date(ts) {
        return Err(signature_failure("the credential date is not the date of X-TC-Timestamp"));
    }
    if !SERVICES.contains(&service) {
        return Err(signature_failure("the credential scope must name the service vpc, tag or sts"));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"content-type") || !names.contains(&"host") {
        return Err(signature_failure("SignedHeaders must include content-type and host"));
    }
    let mut signed = Vec::with_capacity(names.len());
    for name in &names {
        let value =
            header(headers, name).ok_or_else(|| signature_failure(&format!("the signed header {name} is missing")))?;
        signed.push((*name, value));
    }
    // GET signs its query string and an empty payload.
    let payload: &[u8] = match (header(headers, "x-tc-content-sha256"), method) {
        (Some("UNSIGNED-PAYLOAD"), _) => b"UNSIGNED-PAYLOAD",
        (_, &Method::GET) => b"",
        _ => body,
    };
    let canonical = tc3_canonical_request(method.as_str(), PATH, query, &signed, signed_headers, payload);
    if tc3_signature(&credential.secret, service, ts, &canonical) != signature {
        return Err(signature_failure("check the SecretKey and how the request is signed"));
    }
    auth::token(sim, &credential, header(headers, "x-tc-token"))?;
    let params = if *method == Method::GET {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        unflatten(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?
    } else {
        serde_json::from_slice::<Map<String, Value>>(body)
            .map_err(|e| CallError::new("InvalidParameter", format!("The body is not a JSON object: {e}")))?
    };
    let version = header(headers, "x-tc-version").unwrap_or("").to_owned();
    Ok(Call { service: service.to_owned(), version, credential, params })
}
