//! Tencent Cloud STS `AssumeRoleWithWebIdentity`: a ServiceAccount token for temporary
//! credentials (tencentcloud.com document 1150/49454, and tencentcloud-sdk-python's
//! `OIDCRoleArnCredential`).
//!
//! An API 3.0 call, unsigned: "when called with signature method v3, header X-TC-Token could be
//! ignored, and Authorization should be SKIP". The token travels in the JSON body only.

use serde_json::{Value, json};

use super::{DEFAULT_THROTTLE_PAUSE, STS_VERSION, TencentIdentity, errors::bad_answer, errors::v3_error, now_unix};
use crate::cloud::{
    CloudError, ErrorKind,
    identity::{ExchangeCall, ExchangeError, ExchangeRequest, Refused, Temporary},
};

/// The documented STS endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://sts.tencentcloudapi.com";
const ACTION: &str = "AssumeRoleWithWebIdentity";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Where the token goes for a resource whose API calls go to `vpc_endpoint` (`spec.endpoint`):
/// see [`super::sibling_endpoint`].
pub fn endpoint_for(vpc_endpoint: Option<&str>) -> String {
    super::sibling_endpoint("sts", vpc_endpoint)
}

/// The request as sent: POST `/` with the X-TC headers, `Authorization: SKIP`, no `X-TC-Token`.
pub fn request(
    exchange: &ExchangeRequest<'_>,
    identity: &TencentIdentity,
    timestamp: i64,
) -> Result<reqwest::Request, ExchangeError> {
    let mut params = json!({
        "ProviderId": identity.provider_id,
        "WebIdentityToken": exchange.token.expose(),
        "RoleArn": identity.role_arn,
        "RoleSessionName": exchange.session_name,
    });
    if let Some(seconds) = identity.duration_seconds {
        params["DurationSeconds"] = seconds.into();
    }
    let body = serde_json::to_vec(&params).map_err(|e| CloudError::new(ErrorKind::InvalidRequest, e.to_string()))?;
    let base = exchange.endpoint.trim_end_matches('/');
    let built = exchange
        .http
        .post(format!("{base}/"))
        .header(reqwest::header::AUTHORIZATION, "SKIP")
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .header("X-TC-Action", ACTION)
        .header("X-TC-Version", STS_VERSION)
        .header("X-TC-Timestamp", timestamp.to_string())
        .header("X-TC-Region", exchange.region)
        .body(body)
        .build()
        .map_err(CloudError::from)?;
    Ok(built)
}

/// The call as metrics and the limiter know it.
const CALL: ExchangeCall = ExchangeCall {
    provider: "tencent/sts",
    action: ACTION,
    label: "assume_role_with_web_identity",
    throttle_pause: DEFAULT_THROTTLE_PAUSE,
};

pub async fn assume_role_with_web_identity(
    exchange: &ExchangeRequest<'_>,
    identity: &TencentIdentity,
) -> Result<Temporary, ExchangeError> {
    let request = request(exchange, identity, now_unix())?;
    exchange
        .call(CALL, async {
            tracing::debug!(action = ACTION, "Tencent Cloud STS call");
            let response = exchange.http.execute(request).await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            parse(status, &bytes)
        })
        .await
}

/// The credentials of an answer, or why there are none (never the raw body).
pub fn parse(status: reqwest::StatusCode, bytes: &[u8]) -> Result<Temporary, ExchangeError> {
    let body: Value = serde_json::from_slice(bytes).map_err(|_| bad_answer(status, bytes))?;
    let response = body.get("Response").ok_or_else(|| bad_answer(status, bytes))?;
    let request_id = response.get("RequestId").and_then(Value::as_str).map(str::to_owned);
    if let Some(error) = response.get("Error") {
        let code = error.get("Code").and_then(Value::as_str).unwrap_or("InternalError");
        let message = error.get("Message").and_then(Value::as_str).unwrap_or("");
        return Err(classify(code, message, request_id));
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let credentials = response.get("Credentials");
    let field = |name: &str| text(credentials.and_then(|c| c.get(name)));
    let (Some(id), Some(key), Some(token), Some(expires_at)) = (
        field("TmpSecretId"),
        field("TmpSecretKey"),
        field("Token"),
        response.get("ExpiredTime").and_then(Value::as_i64),
    ) else {
        return Err(CloudError::new(
            ErrorKind::Transient,
            "Tencent Cloud STS answered without Credentials (TmpSecretId, TmpSecretKey, Token) or ExpiredTime",
        )
        .with_request_id(request_id)
        .into());
    };
    Ok(Temporary::new(id, key, token, None, expires_at))
}

/// The STS's own refusals (the codes the SDKs list for AssumeRoleWithWebIdentity), else the
/// shared API 3.0 classification (`RequestLimitExceeded` is throttling, retried).
fn classify(code: &str, message: &str, request_id: Option<String>) -> ExchangeError {
    let refused = match code {
        // The action's documented code for a role the provider does not know is
        // InternalError.GetRoleError; ResourceNotFound.RoleNotFound is STS's general one.
        "InternalError.GetRoleError" => Some(Refused::UnknownRole),
        c if c.starts_with("ResourceNotFound") => Some(Refused::UnknownRole),
        c if c.starts_with("UnauthorizedOperation") => Some(Refused::SubjectNotTrusted),
        "InvalidParameter.WebIdentityTokenError" => Some(Refused::TokenRejected),
        _ => None,
    };
    let error = v3_error(code, message, request_id);
    match refused {
        Some(refused) => ExchangeError::Refused { refused, error },
        None => ExchangeError::Call(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::{IdentitySpec, WorkloadIdentity},
        cloud::{SecretValue, ratelimit::RateLimiter},
        metrics::Metrics,
    };

    fn identity(duration: Option<u32>) -> WorkloadIdentity {
        WorkloadIdentity {
            service_account_name: "natgw".into(),
            cloud: IdentitySpec::Tencent(TencentIdentity {
                provider_id: "k8s-oidc".into(),
                role_arn: "qcs::cam::uin/100000000001:roleName/natgw".into(),
                duration_seconds: duration,
            }),
        }
    }

    #[test]
    fn the_request_is_unsigned_and_carries_the_token_in_the_body_only() {
        let (http, token) = (reqwest::Client::new(), SecretValue::new("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"));
        let id = identity(Some(900));
        let exchange = ExchangeRequest {
            http: &http,
            endpoint: "https://sts.tencentcloudapi.com",
            region: "ap-guangzhou",
            identity: &id,
            token: &token,
            session_name: "natgw.team-a.natgw",
            limiter: &RateLimiter::new(Default::default()),
            metrics: &Metrics::new(),
        };
        let r = request(&exchange, id.cloud.tencent().unwrap(), 1_700_000_000).unwrap();
        assert_eq!((r.method().as_str(), r.url().as_str()), ("POST", "https://sts.tencentcloudapi.com/"));
        let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(h("authorization").as_deref(), Some("SKIP"));
        assert_eq!(h("x-tc-action").as_deref(), Some("AssumeRoleWithWebIdentity"));
        assert_eq!(h("x-tc-version").as_deref(), Some("2018-08-13"));
        assert_eq!(h("x-tc-timestamp").as_deref(), Some("1700000000"));
        assert_eq!(h("x-tc-region").as_deref(), Some("ap-guangzhou"));
        assert_eq!(h("content-type").as_deref(), Some(CONTENT_TYPE));
        assert_eq!(h("x-tc-token"), None);
        for (_, v) in r.headers() {
            assert!(!v.to_str().unwrap().contains("eyJ"), "the token is in a header");
        }
        let body: Value = serde_json::from_slice(r.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "ProviderId": "k8s-oidc", "WebIdentityToken": "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
                "RoleArn": "qcs::cam::uin/100000000001:roleName/natgw", "RoleSessionName": "natgw.team-a.natgw",
                "DurationSeconds": 900,
            })
        );
        let id = identity(None);
        let r = request(&ExchangeRequest { identity: &id, ..exchange }, id.cloud.tencent().unwrap(), 0).unwrap();
        let body: Value = serde_json::from_slice(r.body().unwrap().as_bytes().unwrap()).unwrap();
        assert!(body.get("DurationSeconds").is_none(), "the cloud's default when omitted");
    }

    #[test]
    fn answers_give_credentials_or_a_reason() {
        let ok = json!({"Response": {
            "Credentials": {"Token": "tok", "TmpSecretId": "AKIDtmp", "TmpSecretKey": "key"},
            "ExpiredTime": 1_700_007_200, "Expiration": "2023-11-15T00:13:20Z", "RequestId": "r1",
        }});
        let t = parse(reqwest::StatusCode::OK, ok.to_string().as_bytes()).unwrap();
        assert_eq!((t.credentials.key_id.as_str(), t.expires_at), ("AKIDtmp", 1_700_007_200));
        assert_eq!(t.credentials.session_token.as_ref().map(SecretValue::expose), Some("tok"));
        assert_eq!(t.credentials.secret.expose(), "key");

        let refused = |code: &str| {
            let body = json!({"Response": {"Error": {"Code": code, "Message": "m"}, "RequestId": "r"}});
            parse(reqwest::StatusCode::OK, body.to_string().as_bytes()).unwrap_err()
        };
        let reason = |code: &str| match refused(code) {
            ExchangeError::Refused { refused, .. } => Some(refused),
            ExchangeError::Call(_) => None,
        };
        assert_eq!(reason("ResourceNotFound.RoleNotFound"), Some(Refused::UnknownRole));
        assert_eq!(reason("InternalError.GetRoleError"), Some(Refused::UnknownRole));
        assert_eq!(reason("UnauthorizedOperation"), Some(Refused::SubjectNotTrusted));
        assert_eq!(reason("InvalidParameter.WebIdentityTokenError"), Some(Refused::TokenRejected));
        match refused("RequestLimitExceeded") {
            ExchangeError::Call(e) => assert!(e.kind == ErrorKind::Throttled && e.retry_after.is_some()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(refused("InternalError"), ExchangeError::Call(e) if e.kind == ErrorKind::Transient));
        let missing = json!({"Response": {"Credentials": {"TmpSecretId": "x"}, "RequestId": "r"}});
        assert!(matches!(parse(reqwest::StatusCode::OK, missing.to_string().as_bytes()), Err(ExchangeError::Call(_))));
        let html = parse(reqwest::StatusCode::BAD_GATEWAY, b"<html>secret-ish</html>").unwrap_err();
        assert!(!html.to_string().contains("secret-ish"), "{html}");
    }

    #[test]
    fn the_token_goes_to_the_sts_of_the_endpoints_domain() {
        assert_eq!(endpoint_for(None), DEFAULT_ENDPOINT);
        assert_eq!(endpoint_for(Some("https://vpc.tencentcloudapi.com")), DEFAULT_ENDPOINT);
        assert_eq!(
            endpoint_for(Some("https://vpc.ap-guangzhou.tencentcloudapi.com")),
            "https://sts.ap-guangzhou.tencentcloudapi.com"
        );
        assert_eq!(endpoint_for(Some("https://vpc.api.qcloud.com")), DEFAULT_ENDPOINT);
        assert_eq!(endpoint_for(Some("http://127.0.0.1:8443")), "http://127.0.0.1:8443");
    }
}
