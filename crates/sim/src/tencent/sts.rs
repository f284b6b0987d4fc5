//! STS `AssumeRoleWithWebIdentity` (Version 2018-08-13), as documented at
//! https://www.tencentcloud.com/document/product/1150/49454 and in tencentcloud-sdk's `sts`
//! models: the caller shows a web identity token instead of signing, so the TC3 request carries
//! `Authorization: SKIP` and no `X-TC-Token` (the SDK's `OIDCRoleArnCredential` sends exactly
//! that, `SkipSign`). Every other action keeps refusing unsigned requests
//! ([`super::v3_gateway`]).
//!
//! Parameters `ProviderId`, `WebIdentityToken`, `RoleArn`, `RoleSessionName` and optional
//! `DurationSeconds` (default 7200, at most 43200). The token is verified for real against the
//! identity provider ([`crate::oidc`]) and the subject must be listed by the trust rule of
//! (`ProviderId`, `RoleArn`) ([`crate::federation`]). The answer is `Credentials {Token,
//! TmpSecretId, TmpSecretKey}`, `ExpiredTime` (unix seconds), `Expiration` (ISO 8601 UTC) and
//! `RequestId`; the credentials are then accepted, with their token, until they expire.
//!
//! Refusals use the action's documented codes: a bad token (signature, issuer, audience,
//! expiry) `InvalidParameter.WebIdentityTokenError`; a subject the rule does not list
//! `UnauthorizedOperation`; a role that is not there (or does not trust the provider)
//! `InternalError.GetRoleError`; an unknown provider or bad parameter
//! `InvalidParameter.ParamError`; an identity provider that cannot be read
//! `InternalError.SystemError`; throttling `RequestLimitExceeded`.
//!
//! The temporary credentials belong to the role's account: the uin in the role's ARN
//! (`qcs::cam::uin/{uin}:roleName/{name}`), else [`crate::core::DEFAULT_ACCOUNT`].
//!
//! `GetCallerIdentity` (same version, TC3-signed with scope service `sts` like any other call,
//! https://www.tencentcloud.com/document/product/1150/49453, 20 calls/s): no parameters; answers
//! `AccountId` (the key's account uin), `PrincipalId` (the same uin), `UserId` (the uin; for a
//! role's key `{roleId}:{roleSessionName}`), `Arn` (`qcs::cam::uin/{uin}:uin/{uin}`; for a
//! role's key `qcs::sts:{uin}:assumed-role/{roleId}`) and `Type` (`CAMUser`, or `CAMRole`).
//! The role id is a stable 19-digit number derived from the role's ARN.

use std::time::Duration;

use axum::{
    http::{HeaderMap, Method},
    response::Response,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    auth,
    call::{CallError, Reply, Sim, after_auth, record_request, request_id, respond},
    params::{opt_int, parse, unflatten},
    v3_gateway::{envelope, header},
};
use crate::{
    core::{AssumedRole, DEFAULT_ACCOUNT, SimCredential, SimPrincipal},
    federation::{LETTERS_DIGITS, Refused, random_text},
    oidc::Rejected,
    wire_time::expiration,
};

pub(super) const ACTION: &str = "AssumeRoleWithWebIdentity";
pub(super) const VERSION: &str = "2018-08-13";
const API: &str = "tencent/sts";
const DEFAULT_DURATION_SECS: i64 = 7200;
const MAX_DURATION_SECS: i64 = 43200;

/// Whether the request names this action (whatever else it carries).
pub(super) fn is_web_identity_call(headers: &HeaderMap) -> bool {
    header(headers, "x-tc-action") == Some(ACTION)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Params {
    provider_id: String,
    web_identity_token: String,
    role_arn: String,
    role_session_name: String,
    #[serde(default, deserialize_with = "opt_int")]
    duration_seconds: Option<i64>,
}

pub(super) async fn handle(sim: &Sim, method: &Method, headers: &HeaderMap, query: &str, body: &[u8]) -> Response {
    let request_id = request_id();
    let reply = match read(method, headers, query, body) {
        Err(e) => Reply::Done(Err(e)),
        Ok(p) => {
            let authorized = sim
                .core
                .federation
                .authorize(&p.provider_id, Some(&p.role_arn), &p.web_identity_token)
                .await
                .map_err(|r| refusal(r, &p));
            // Throttled per identity provider: the caller has no key yet.
            let bucket = format!("sts:{}", p.provider_id);
            after_auth(sim, ACTION, &bucket, |sim| {
                authorized?;
                Ok(issue(sim, &p))
            })
            .await
        }
    };
    let outcome = match &reply {
        Reply::Done(Ok(_)) => "ok".to_owned(),
        Reply::Done(Err(e)) => e.code.clone(),
        Reply::Dropped => "dropped".to_owned(),
    };
    record_request(sim, API, ACTION, None, &outcome);
    respond(reply, |result| envelope(result, &request_id))
}

/// The request as the SDK sends it unsigned, and its parameters checked.
fn read(method: &Method, headers: &HeaderMap, query: &str, body: &[u8]) -> Result<Params, CallError> {
    let unsigned = CallError::new(
        "AuthFailure.InvalidAuthorization",
        "AssumeRoleWithWebIdentity is called unsigned: send Authorization SKIP and no X-TC-Token.",
    );
    if header(headers, "authorization") != Some("SKIP") || headers.contains_key("x-tc-token") {
        return Err(unsigned);
    }
    match header(headers, "x-tc-version") {
        Some(VERSION) => {}
        Some(other) => {
            return Err(CallError::new(
                "NoSuchVersion",
                format!("The version {other:?} does not exist for sts; use {VERSION}."),
            ));
        }
        None => return Err(CallError::new("MissingParameter", "The request is missing X-TC-Version.")),
    }
    let ts = header(headers, "x-tc-timestamp")
        .ok_or_else(|| CallError::new("MissingParameter", "The request is missing X-TC-Timestamp."))?;
    auth::timestamp("X-TC-Timestamp", ts)?;
    let params: Map<String, Value> = if *method == Method::POST {
        serde_json::from_slice(body)
            .map_err(|e| CallError::new("InvalidParameter", format!("The body is not a JSON object: {e}")))?
    } else if *method == Method::GET {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        unflatten(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?
    } else {
        return Err(CallError::new(
            "UnsupportedProtocol",
            format!("The HTTP method {method} is not supported: use GET or POST."),
        ));
    };
    let p: Params = parse(params)?;
    let param_error = |m: String| CallError::new("InvalidParameter.ParamError", m);
    if !(1..=MAX_DURATION_SECS).contains(&p.duration_seconds.unwrap_or(DEFAULT_DURATION_SECS)) {
        return Err(param_error(format!("DurationSeconds must be 1-{MAX_DURATION_SECS}.")));
    }
    // As AssumeRole documents it: 2-128 characters of letters, digits and `=,.@_-`.
    let session_ok = (2..=128).contains(&p.role_session_name.len())
        && p.role_session_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"=,.@_-".contains(&b));
    if !session_ok {
        return Err(param_error("RoleSessionName must be 2-128 letters, digits or =,.@_-".into()));
    }
    for (name, value) in [("ProviderId", &p.provider_id), ("RoleArn", &p.role_arn)] {
        if value.is_empty() {
            return Err(param_error(format!("{name} must not be empty.")));
        }
    }
    Ok(p)
}

fn refusal(refused: Refused, p: &Params) -> CallError {
    match refused {
        Refused::UnknownProvider => CallError::new(
            "InvalidParameter.ParamError",
            format!("The identity provider {:?} does not exist.", p.provider_id),
        ),
        Refused::UnknownRole => CallError::new(
            "InternalError.GetRoleError",
            format!(
                "The role {:?} does not exist or does not trust identity provider {:?}.",
                p.role_arn, p.provider_id
            ),
        ),
        Refused::NoVerifier => {
            CallError::new("InternalError.SystemError", "The identity provider's keys are not configured.")
        }
        Refused::Token(Rejected::Unreachable(why)) => CallError::new("InternalError.SystemError", why),
        Refused::Token(why) => CallError::new("InvalidParameter.WebIdentityTokenError", why.to_string()),
        Refused::SubjectNotTrusted(subject) => CallError::new(
            "UnauthorizedOperation",
            format!("The role's trust policy does not allow {subject} to assume {}.", p.role_arn),
        ),
    }
}

/// New temporary credentials for the caller, accepted from now until they expire.
fn issue(sim: &Sim, p: &Params) -> Value {
    let requested = p.duration_seconds.unwrap_or(DEFAULT_DURATION_SECS).unsigned_abs();
    let lifetime = sim.core.federation.lifetime(Duration::from_secs(requested));
    let expired_time = crate::oidc::unix_now() + lifetime.as_secs();
    let credential = SimCredential {
        key_id: format!("AKID{}", random_text(32, LETTERS_DIGITS)),
        secret: random_text(32, LETTERS_DIGITS),
        token: Some(random_text(96, LETTERS_DIGITS)),
    };
    sim.core.add_temporary_credential(credential.clone(), expired_time);
    let role = AssumedRole { role_arn: p.role_arn.clone(), session_name: p.role_session_name.clone() };
    sim.core.set_principal(&credential.key_id, SimPrincipal { account: role_account(&p.role_arn), role: Some(role) });
    json!({
        "Credentials": {
            "Token": credential.token,
            "TmpSecretId": credential.key_id,
            "TmpSecretKey": credential.secret,
        },
        "ExpiredTime": expired_time,
        "Expiration": expiration(expired_time),
    })
}

/// The account uin in a role's ARN (`qcs::cam::uin/{uin}:roleName/{name}`).
fn role_account(role_arn: &str) -> String {
    role_arn
        .split(':')
        .find_map(|segment| segment.strip_prefix("uin/"))
        .filter(|uin| !uin.is_empty() && uin.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(DEFAULT_ACCOUNT)
        .to_owned()
}

/// A role's id, as CAM numbers roles: 19 digits, stable for one ARN.
fn role_id(role_arn: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(role_arn.as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 1_000_000_000;
    format!("4611686018{n:09}")
}

/// The signed STS calls: `GetCallerIdentity`.
pub(super) fn dispatch(action: &str, params: Map<String, Value>, principal: &SimPrincipal) -> Result<Value, CallError> {
    match action {
        "GetCallerIdentity" => {
            if let Some(name) = params.keys().next() {
                return Err(CallError::new("UnknownParameter", format!("The parameter {name} is not recognized.")));
            }
            Ok(caller_identity(principal))
        }
        ACTION => Err(CallError::new(
            "AuthFailure.InvalidAuthorization",
            "AssumeRoleWithWebIdentity is called unsigned: send Authorization SKIP and no X-TC-Token.",
        )),
        other => Err(CallError::new("InvalidAction", format!("The action {other} does not exist for sts."))),
    }
}

fn caller_identity(principal: &SimPrincipal) -> Value {
    let uin = &principal.account;
    match &principal.role {
        None => json!({
            "AccountId": uin,
            "PrincipalId": uin,
            "UserId": uin,
            "Arn": format!("qcs::cam::uin/{uin}:uin/{uin}"),
            "Type": "CAMUser",
        }),
        Some(role) => {
            let id = role_id(&role.role_arn);
            json!({
                "AccountId": uin,
                "PrincipalId": uin,
                "UserId": format!("{id}:{}", role.session_name),
                "Arn": format!("qcs::sts:{uin}:assumed-role/{id}"),
                "Type": "CAMRole",
            })
        }
    }
}

#[cfg(test)]
mod tests;
