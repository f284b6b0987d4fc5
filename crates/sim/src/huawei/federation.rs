//! IAM's OpenID Connect federation, the two calls that turn a ServiceAccount token into a
//! temporary AK/SK; neither is signed (the caller has no key yet), as the SDK's
//! `FederalAccessor` sends them:
//!
//! - `CreateTokenWithIdToken`: `POST /v3.0/OS-AUTH/id-token/tokens`, header `X-Idp-Id`, body
//!   `{"auth": {"id_token": {"id": JWT}, "scope"?: {"project"|"domain": {"id"|"name"}}}}` ->
//!   201, header `X-Subject-Token` (the federated token), body `{"token": {"expires_at",
//!   "issued_at", "methods", "user": {"OS-FEDERATION", "domain", "id", "name"}, "project"?,
//!   "domain"?}}` (https://support.huaweicloud.com/intl/en-us/api-iam/iam_13_0605.html).
//!   The token is verified against the identity provider ([`crate::oidc`]) and its subject must
//!   be listed by the trust rule of the identity provider id ([`crate::federation`]). The
//!   federated token lives 24 hours, as IAM's tokens do, or less when the lifetime is capped.
//! - `CreateTemporaryAccessKeyByToken` for a federated user: `POST
//!   /v3.0/OS-CREDENTIAL/securitytokens`, the federated token in `X-Auth-Token` or in the body
//!   `{"auth": {"identity": {"methods": ["token"], "token": {"id", "duration_seconds"}}}}`
//!   (900-86400 s, default 900) -> 201 `{"credential": {"access", "secret", "securitytoken",
//!   "expires_at"}}` (https://support.huaweicloud.com/intl/en-us/api-iam/iam_04_0003.html).
//!   The AK/SK are then accepted by NAT, BSS and IAM only with `X-Security-Token` equal to
//!   `securitytoken`, and only until `expires_at` (then 401 `APIG.0307`, "The token must be
//!   updated.").
//!
//! The documents list status codes only (400 invalid parameter, 401 authentication failed, 403
//! no permission, 404 not found); the bodies carry IAM's codes: `IAM.0007` (invalid request
//! parameter), `IAM.0001` (authentication required: a bad or expired token), `IAM.0002` (not
//! authorized: the trust rule does not list the subject), `IAM.0004` (not found: the identity
//! provider or project), `IAM.0006` (the identity provider's keys could not be read).

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{
    answer::{Failure, Success},
    state::{SimState, header},
};
use crate::{
    core::SimCredential,
    federation::{LETTERS_DIGITS, Refused, random_text},
    oidc::Rejected,
    wire_time::iam_time,
};

/// IAM tokens live 24 hours.
const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_DURATION_SECS: u64 = 900;
const DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=86400;

fn invalid(key: &str) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "IAM.0007", format!("Request parameter {key} is invalid."))
}

/// Huawei's access keys are upper-case letters and digits.
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `CreateTokenWithIdToken`.
pub(super) async fn token_with_id_token(
    state: &SimState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Success, Failure> {
    let idp = header(headers, "x-idp-id").filter(|v| !v.is_empty()).ok_or_else(|| invalid("X-Idp-Id"))?;
    let request: Value = serde_json::from_slice(body).map_err(|_| invalid("body"))?;
    let auth = &request["auth"];
    let id_token =
        auth["id_token"]["id"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| invalid("auth.id_token.id"))?;
    let scope = scope(state, &auth["scope"])?;
    let verified = state.core.federation.authorize(idp, None, id_token).await.map_err(|r| refusal(r, idp))?;

    let now = crate::oidc::unix_now();
    let expires_at = now + state.core.federation.lifetime(TOKEN_LIFETIME).as_secs();
    let token = format!("MII{}", random_text(120, LETTERS_DIGITS));
    state.federated_tokens.lock().insert(token.clone(), expires_at);
    state.core.federation.remember(&token);

    let domain = state.domain_id.clone().unwrap_or_default();
    let mut body = json!({
        "expires_at": iam_time(expires_at),
        "issued_at": iam_time(now),
        "methods": ["mapped"],
        "user": {
            "OS-FEDERATION": {"identity_provider": {"id": idp}, "protocol": {"id": "oidc"}, "groups": []},
            "domain": {"id": domain, "name": domain},
            // The user IAM maps the subject to; its name is the subject, as a mapping rule that
            // copies `sub` into the user name would make it.
            "id": random_text(32, b"0123456789abcdef"),
            "name": verified.subject,
        },
    });
    if let Some((kind, value)) = scope {
        body[kind] = value;
    }
    Ok(Success {
        status: StatusCode::CREATED,
        body: Some(json!({ "token": body })),
        order: None,
        header: Some(("X-Subject-Token", token)),
    })
}

/// The token's scope as the request asks it: a project of the account (by id or name), the
/// account's domain, or none (an unscoped token).
fn scope(state: &SimState, scope: &Value) -> Result<Option<(&'static str, Value)>, Failure> {
    let domain = state.domain_id.clone().unwrap_or_default();
    if let Some(project) = scope.get("project").filter(|p| !p.is_null()) {
        let (id, name) = (project["id"].as_str(), project["name"].as_str());
        let found = state
            .projects()
            .iter()
            .find(|p| id.is_some_and(|id| id == p.id) || name.is_some_and(|n| n == p.name))
            .cloned()
            .ok_or_else(|| {
                let wanted = id.or(name).unwrap_or_default();
                Failure::new(StatusCode::NOT_FOUND, "IAM.0004", format!("Could not find project: {wanted}."))
            })?;
        let value = json!({"id": found.id, "name": found.name, "domain": {"id": domain, "name": domain}});
        return Ok(Some(("project", value)));
    }
    if scope.get("domain").is_some_and(|d| !d.is_null()) {
        return Ok(Some(("domain", json!({"id": domain, "name": domain}))));
    }
    Ok(None)
}

fn refusal(refused: Refused, idp: &str) -> Failure {
    match refused {
        Refused::UnknownProvider | Refused::UnknownRole => {
            Failure::new(StatusCode::NOT_FOUND, "IAM.0004", format!("Could not find identity provider: {idp}."))
        }
        Refused::NoVerifier => Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "IAM.0006",
            "The identity provider's OpenID Connect configuration is not set.",
        ),
        Refused::Token(Rejected::Unreachable(why)) => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "IAM.0006", why),
        Refused::Token(why) => {
            Failure::new(StatusCode::UNAUTHORIZED, "IAM.0001", format!("The id token is invalid: {why}."))
        }
        Refused::SubjectNotTrusted(subject) => Failure::new(
            StatusCode::FORBIDDEN,
            "IAM.0002",
            format!(
                "You are not authorized to perform the requested action: identity provider {idp} does not map {subject}."
            ),
        ),
    }
}

/// `CreateTemporaryAccessKeyByToken`, with a federated token.
pub(super) fn security_tokens(state: &SimState, headers: &HeaderMap, body: &[u8]) -> Result<Success, Failure> {
    let request: Value = serde_json::from_slice(body).map_err(|_| invalid("body"))?;
    let identity = &request["auth"]["identity"];
    let methods_ok = identity["methods"].as_array().is_some_and(|m| m.iter().any(|m| m == "token"));
    if !methods_ok {
        return Err(invalid("auth.identity.methods"));
    }
    let token = header(headers, "x-auth-token")
        .or_else(|| identity["token"]["id"].as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("auth.identity.token.id"))?;
    let duration = match &identity["token"]["duration_seconds"] {
        Value::Null => DEFAULT_DURATION_SECS,
        v => v
            .as_u64()
            .filter(|d| DURATION_RANGE.contains(d))
            .ok_or_else(|| invalid("auth.identity.token.duration_seconds"))?,
    };
    let now = crate::oidc::unix_now();
    let token_expiry = state.federated_tokens.lock().get(token).copied();
    match token_expiry {
        Some(at) if now < at => {}
        Some(_) => {
            return Err(Failure::new(StatusCode::UNAUTHORIZED, "IAM.0001", "The token has expired."));
        }
        None => {
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "IAM.0001",
                "The request you have made requires authentication.",
            ));
        }
    }
    let expires_at = now + state.core.federation.lifetime(Duration::from_secs(duration)).as_secs();
    let credential = SimCredential {
        key_id: random_text(20, UPPER_DIGITS),
        secret: random_text(40, LETTERS_DIGITS),
        token: Some(random_text(256, LETTERS_DIGITS)),
    };
    state.core.add_temporary_credential(credential.clone(), expires_at);
    Ok(Success {
        status: StatusCode::CREATED,
        body: Some(json!({"credential": {
            "access": credential.key_id,
            "secret": credential.secret,
            "securitytoken": credential.token,
            "expires_at": iam_time(expires_at),
        }})),
        order: None,
        header: None,
    })
}

#[cfg(test)]
mod tests;
