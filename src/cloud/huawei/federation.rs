//! Huawei Cloud IAM OpenID Connect federation: a ServiceAccount token for temporary access keys.
//!
//! Two unsigned calls to IAM, as huaweicloudsdkcore's `FederalAccessor` makes them:
//! 1. `CreateTokenWithIdToken`, `POST /v3.0/OS-AUTH/id-token/tokens` with header `X-Idp-Id` and
//!    body `{"auth":{"id_token":{"id":JWT}}}`: an unscoped federated token in the
//!    `X-Subject-Token` response header (201; support.huaweicloud.com api-iam iam_13_0605).
//! 2. `CreateTemporaryAccessKeyByToken`, `POST /v3.0/OS-CREDENTIAL/securitytokens` with body
//!    `{"auth":{"identity":{"methods":["token"],"token":{"id":TOKEN,"duration_seconds":N}}}}`:
//!    `{"credential":{"access","secret","securitytoken","expires_at"}}` (201; iam_04_0003).

use serde_json::{Value, json};

use super::{HuaweiIdentity, errors, wire};
use crate::cloud::{
    CloudError, ErrorKind, SecretValue,
    identity::{ExchangeCall, ExchangeError, ExchangeRequest, Refused, Temporary},
};

pub const ID_TOKEN_PATH: &str = "/v3.0/OS-AUTH/id-token/tokens";
pub const SECURITY_TOKENS_PATH: &str = "/v3.0/OS-CREDENTIAL/securitytokens";
const CONTENT_TYPE: &str = "application/json;charset=UTF-8";

fn url(endpoint: &str, path: &str) -> String {
    format!("{}{path}", endpoint.trim_end_matches('/'))
}

/// Step 1: the ServiceAccount token, to IAM only.
pub fn id_token_request(
    exchange: &ExchangeRequest<'_>,
    identity: &HuaweiIdentity,
) -> Result<reqwest::Request, ExchangeError> {
    let body = json!({"auth": {"id_token": {"id": exchange.token.expose()}}});
    Ok(exchange
        .http
        .post(url(exchange.endpoint, ID_TOKEN_PATH))
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .header("X-Idp-Id", &identity.identity_provider_id)
        .body(body.to_string())
        .build()
        .map_err(CloudError::from)?)
}

/// Step 2: the federated token for temporary keys.
pub fn security_token_request(
    exchange: &ExchangeRequest<'_>,
    identity: &HuaweiIdentity,
    federated: &SecretValue,
) -> Result<reqwest::Request, ExchangeError> {
    let mut token = json!({"id": federated.expose()});
    if let Some(seconds) = identity.duration_seconds {
        token["duration_seconds"] = seconds.into();
    }
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": token}}});
    Ok(exchange
        .http
        .post(url(exchange.endpoint, SECURITY_TOKENS_PATH))
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body.to_string())
        .build()
        .map_err(CloudError::from)?)
}

/// Huawei asks for 2-5 s after APIG.0308 when it gives no hint.
const THROTTLE_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);
const ID_TOKEN_CALL: ExchangeCall = ExchangeCall {
    provider: PROVIDER,
    action: "CreateTokenWithIdToken",
    label: "create_token_with_id_token",
    throttle_pause: THROTTLE_PAUSE,
};
const SECURITY_TOKENS_CALL: ExchangeCall = ExchangeCall {
    provider: PROVIDER,
    action: "CreateTemporaryAccessKeyByToken",
    label: "create_temporary_access_key_by_token",
    throttle_pause: THROTTLE_PAUSE,
};
const PROVIDER: &str = "huawei/iam";

pub async fn exchange(exchange: &ExchangeRequest<'_>, identity: &HuaweiIdentity) -> Result<Temporary, ExchangeError> {
    let request = id_token_request(exchange, identity)?;
    let federated = exchange
        .call(ID_TOKEN_CALL, async {
            tracing::debug!("Huawei Cloud IAM CreateTokenWithIdToken call");
            let response = exchange.http.execute(request).await?;
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            federated_token(status, &headers, &response.bytes().await?)
        })
        .await?;
    let request = security_token_request(exchange, identity, &federated)?;
    exchange
        .call(SECURITY_TOKENS_CALL, async {
            tracing::debug!("Huawei Cloud IAM CreateTemporaryAccessKeyByToken call");
            let response = exchange.http.execute(request).await?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            credentials(status, &bytes, identity)
        })
        .await
}

/// The unscoped token of step 1's answer, or the refusal: IAM answers 404 for an identity
/// provider it does not know, 403 when no mapping rule lets the subject in and 401 for a token it
/// does not accept (issuer, audience, signature, expiry). The code decides throttling, as for
/// every Huawei call.
pub fn federated_token(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Result<SecretValue, ExchangeError> {
    if (200..300).contains(&status) {
        let token = headers.get("x-subject-token").and_then(|v| v.to_str().ok()).filter(|t| !t.is_empty());
        return token.map(SecretValue::new).ok_or_else(|| {
            CloudError::new(
                ErrorKind::Transient,
                "Huawei Cloud IAM answered CreateTokenWithIdToken without X-Subject-Token",
            )
            .into()
        });
    }
    let error = error(status, body);
    if error.kind == ErrorKind::Throttled {
        return Err(ExchangeError::Call(error));
    }
    let refused = match status {
        404 => Refused::UnknownRole,
        403 => Refused::SubjectNotTrusted,
        401 => Refused::TokenRejected,
        _ => return Err(ExchangeError::Call(error)),
    };
    Err(ExchangeError::Refused { refused, error })
}

/// The temporary keys of step 2's answer.
pub fn credentials(status: u16, body: &[u8], identity: &HuaweiIdentity) -> Result<Temporary, ExchangeError> {
    if !(200..300).contains(&status) {
        return Err(ExchangeError::Call(error(status, body)));
    }
    let incomplete = || {
        CloudError::new(
            ErrorKind::Transient,
            "Huawei Cloud IAM answered CreateTemporaryAccessKeyByToken without credential (access, secret, securitytoken, expires_at)",
        )
    };
    let parsed: Value = serde_json::from_slice(body).map_err(|_| incomplete())?;
    let credential = parsed.get("credential").ok_or_else(incomplete)?;
    let field = |name: &str| credential.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (Some(access), Some(secret), Some(token), Some(expires_at)) =
        (field("access"), field("secret"), field("securitytoken"), field("expires_at"))
    else {
        return Err(incomplete().into());
    };
    // e.g. "2020-01-08T02:56:19.587000Z" (the SDK parses `%Y-%m-%dT%H:%M:%S.%fZ`).
    let expires_at: k8s_openapi::jiff::Timestamp = expires_at.parse().map_err(|_| {
        CloudError::new(ErrorKind::Transient, "Huawei Cloud IAM answered an expires_at that is not a timestamp")
    })?;
    Ok(Temporary::new(access, secret, token, identity.domain_id.clone(), expires_at.as_second()))
}

/// An error answer's code and message (never the raw body).
fn error(status: u16, body: &[u8]) -> CloudError {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let (code, message) = match parsed.as_ref().and_then(wire::error_fields) {
        Some((c, m)) => (Some(c), m),
        None => (None, String::new()),
    };
    let request_id = parsed.as_ref().and_then(|p| p.get("request_id")?.as_str().map(str::to_owned));
    errors::classify(status, code.as_deref(), &message, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::{IdentitySpec, WorkloadIdentity},
        cloud::ratelimit::RateLimiter,
        metrics::Metrics,
    };

    fn identity(duration: Option<u32>) -> WorkloadIdentity {
        WorkloadIdentity {
            service_account_name: "natgw".into(),
            cloud: IdentitySpec::Huawei(HuaweiIdentity {
                identity_provider_id: "k8s-oidc".into(),
                domain_id: Some("d0m41n".into()),
                duration_seconds: duration,
            }),
        }
    }

    fn body(r: &reqwest::Request) -> Value {
        serde_json::from_slice(r.body().unwrap().as_bytes().unwrap()).unwrap()
    }

    #[test]
    fn requests_follow_the_sdk() {
        let (http, jwt) = (reqwest::Client::new(), SecretValue::new("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"));
        let id = identity(Some(900));
        let exchange = ExchangeRequest {
            http: &http,
            endpoint: "https://iam.cn-north-4.myhuaweicloud.com/",
            region: "cn-north-4",
            identity: &id,
            token: &jwt,
            session_name: "unused",
            limiter: &RateLimiter::new(Default::default()),
            metrics: &Metrics::new(),
        };
        let huawei = id.cloud.huawei().unwrap();
        let r = id_token_request(&exchange, huawei).unwrap();
        assert_eq!(r.url().as_str(), "https://iam.cn-north-4.myhuaweicloud.com/v3.0/OS-AUTH/id-token/tokens");
        assert_eq!(r.method().as_str(), "POST");
        assert_eq!(r.headers()["x-idp-id"], "k8s-oidc");
        assert_eq!(r.headers()["content-type"], CONTENT_TYPE);
        assert!(r.headers().get("authorization").is_none() && r.headers().get("x-auth-token").is_none());
        assert_eq!(body(&r), json!({"auth": {"id_token": {"id": "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"}}}));

        let r = security_token_request(&exchange, huawei, &SecretValue::new("MIIfederated")).unwrap();
        assert_eq!(r.url().as_str(), "https://iam.cn-north-4.myhuaweicloud.com/v3.0/OS-CREDENTIAL/securitytokens");
        assert_eq!(
            body(&r),
            json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "MIIfederated", "duration_seconds": 900}}}})
        );
        assert!(!String::from_utf8_lossy(r.body().unwrap().as_bytes().unwrap()).contains("eyJ"), "no JWT in step 2");
    }

    #[test]
    fn answers_give_credentials_or_a_reason() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-subject-token", "MIIfederated".parse().unwrap());
        assert_eq!(federated_token(201, &headers, b"{}").unwrap().expose(), "MIIfederated");
        assert!(matches!(federated_token(201, &Default::default(), b"{}"), Err(ExchangeError::Call(_))));
        let refusal = |status: u16, code: &str| {
            let body = json!({"error": {"code": code, "message": "m", "title": "t"}});
            match federated_token(status, &Default::default(), body.to_string().as_bytes()).unwrap_err() {
                ExchangeError::Refused { refused, .. } => Some(refused),
                ExchangeError::Call(e) => {
                    assert_eq!(e.kind, ErrorKind::Throttled, "{e}");
                    None
                }
            }
        };
        assert_eq!(refusal(404, "IAM.0004"), Some(Refused::UnknownRole));
        assert_eq!(refusal(403, "IAM.0003"), Some(Refused::SubjectNotTrusted));
        assert_eq!(refusal(401, "IAM.0001"), Some(Refused::TokenRejected));
        assert_eq!(refusal(429, "APIG.0308"), None);

        let id = identity(None);
        let ok = json!({"credential": {
            "access": "TMPAK", "secret": "tmpsecret", "securitytoken": "gQpTOKEN",
            "expires_at": "2020-01-08T02:56:19.587000Z",
        }});
        let t = credentials(201, ok.to_string().as_bytes(), id.cloud.huawei().unwrap()).unwrap();
        assert_eq!((t.credentials.key_id.as_str(), t.expires_at), ("TMPAK", 1_578_452_179));
        assert_eq!(t.credentials.session_token.as_ref().map(SecretValue::expose), Some("gQpTOKEN"));
        assert_eq!(t.credentials.domain_id.as_deref(), Some("d0m41n"));
        let e = credentials(500, b"<html>oops</html>", id.cloud.huawei().unwrap()).unwrap_err();
        assert!(matches!(&e, ExchangeError::Call(c) if c.kind == ErrorKind::Transient && !c.message.contains("oops")));
    }
}
