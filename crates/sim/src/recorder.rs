//! A recording HTTPS endpoint for conformance tests: it keeps every request as it arrived
//! (method, path, query, headers, body) and answers the workload identity exchanges with the
//! documented success answer, so any client (the operator, an official SDK) completes its
//! exchange and the requests of two clients can be compared. It verifies nothing: the simulators
//! do ([`crate::tencent`], [`crate::huawei`]).
//!
//! Answers, with fixed credentials (the `RECORDED_*` constants) so a test can tell the client
//! read them:
//! - Tencent STS `AssumeRoleWithWebIdentity` (any path, header `X-TC-Action`): 200
//!   `{"Response": {"Credentials": {"Token", "TmpSecretId", "TmpSecretKey"}, "ExpiredTime",
//!   "Expiration", "RequestId"}}` (tencentcloud.com document 1150/49454).
//! - Huawei IAM `CreateTokenWithIdToken`: 201, header `X-Subject-Token`, body `{"token": {...}}`
//!   (support.huaweicloud.com api-iam iam_13_0605).
//! - Huawei IAM `CreateTemporaryAccessKeyByToken`: 201 `{"credential": {"access", "secret",
//!   "securitytoken", "expires_at"}}` (iam_04_0003).
//! - Anything else: 404.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    SimError,
    oidc::unix_now,
    server::{Served, SimTls, serve},
    wire_time::{expiration, iam_time},
};

/// The Tencent temporary SecretId the recorder hands out.
pub const RECORDED_TENCENT_SECRET_ID: &str = "AKIDrecordedTemporarySecretId";
/// The Huawei federated token of `CreateTokenWithIdToken`, which step 2 sends back.
pub const RECORDED_FEDERATED_TOKEN: &str = "MIIrecordedFederatedToken";
/// The Huawei temporary access key the recorder hands out.
pub const RECORDED_HUAWEI_ACCESS_KEY: &str = "RECORDEDTEMPORARYAK";
/// How long the credentials handed out live.
const LIFETIME_SECS: u64 = 3600;

const TENCENT_ACTION: &str = "AssumeRoleWithWebIdentity";
const ID_TOKEN_PATH: &str = "/v3.0/OS-AUTH/id-token/tokens";
const SECURITY_TOKENS_PATH: &str = "/v3.0/OS-CREDENTIAL/securitytokens";

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, if the URL had one.
    pub query: Option<String>,
    /// In the order received; names lower-case, as HTTP/1.1 treats them case-insensitively
    /// (RFC 9110 section 5.1) and the server reads them so.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

type Requests = Arc<Mutex<Vec<RecordedRequest>>>;

/// A running recorder on loopback; stops when dropped.
pub struct Recorder {
    requests: Requests,
    tls: Arc<SimTls>,
    served: Served,
}

impl Recorder {
    /// Serves HTTPS on a free port of 127.0.0.1, with a CA of its own.
    pub async fn start() -> Result<Recorder, SimError> {
        let requests = Requests::default();
        let router = Router::new().fallback(record).with_state(requests.clone());
        let tls = SimTls::generate(None)?;
        let served = serve(router, SocketAddr::from(([127, 0, 0, 1], 0)), Some(&tls)).await?;
        Ok(Recorder { requests, tls, served })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.host())
    }

    /// `127.0.0.1:PORT`, for clients that take a host rather than a URL.
    pub fn host(&self) -> String {
        self.served.addr.to_string()
    }

    /// The CA the server's certificate is signed by (PEM).
    pub fn ca_pem_path(&self) -> &Path {
        self.tls.ca_pem_path()
    }

    /// The requests received since the last call, oldest first.
    pub fn take(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

async fn record(
    State(requests): State<Requests>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body.to_vec(),
    };
    let response = answer(&request);
    requests.lock().unwrap_or_else(|e| e.into_inner()).push(request);
    response
}

fn answer(request: &RecordedRequest) -> Response {
    let now = unix_now();
    let expires = now + LIFETIME_SECS;
    if request.header("x-tc-action") == Some(TENCENT_ACTION) {
        return Json(json!({"Response": {
            "Credentials": {
                "Token": "recorded-temporary-token",
                "TmpSecretId": RECORDED_TENCENT_SECRET_ID,
                "TmpSecretKey": "recorded-temporary-secret-key",
            },
            "ExpiredTime": expires,
            "Expiration": expiration(expires),
            "RequestId": "6e1c1d4a-0000-4000-8000-00000000recd",
        }}))
        .into_response();
    }
    match request.path.as_str() {
        ID_TOKEN_PATH => (
            StatusCode::CREATED,
            [("X-Subject-Token", RECORDED_FEDERATED_TOKEN)],
            Json(json!({"token": {
                "expires_at": iam_time(expires),
                "issued_at": iam_time(now),
                "methods": ["mapped"],
                "user": {
                    "OS-FEDERATION": {
                        "identity_provider": {"id": request.header("x-idp-id").unwrap_or_default()},
                        "protocol": {"id": "oidc"},
                        "groups": [],
                    },
                    "domain": {"id": "recorded-domain", "name": "recorded-domain"},
                    "id": "recorded-federated-user",
                    "name": "recorded-federated-user",
                },
            }})),
        )
            .into_response(),
        SECURITY_TOKENS_PATH => (
            StatusCode::CREATED,
            Json(json!({"credential": {
                "access": RECORDED_HUAWEI_ACCESS_KEY,
                "secret": "recorded-temporary-secret",
                "securitytoken": "recorded-security-token",
                "expires_at": iam_time(expires),
            }})),
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "the recorder answers only the workload identity exchanges").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_requests_and_answers_the_exchanges() {
        let recorder = Recorder::start().await.unwrap();
        let ca = reqwest::Certificate::from_pem(recorder.tls.ca_pem().as_bytes()).unwrap();
        let http = reqwest::Client::builder().use_rustls_tls().add_root_certificate(ca).build().unwrap();
        let url = recorder.url();

        let sts = http.post(format!("{url}/?a=1")).header("X-TC-Action", TENCENT_ACTION).body("{}").send().await;
        let sts: serde_json::Value = sts.unwrap().json().await.unwrap();
        assert_eq!(sts["Response"]["Credentials"]["TmpSecretId"], RECORDED_TENCENT_SECRET_ID);
        assert!(sts["Response"]["ExpiredTime"].as_u64().unwrap() > unix_now());

        let idp = http.post(format!("{url}{ID_TOKEN_PATH}")).header("X-Idp-Id", "idp").send().await.unwrap();
        assert_eq!(idp.status(), StatusCode::CREATED);
        assert_eq!(idp.headers()["x-subject-token"], RECORDED_FEDERATED_TOKEN);
        let keys = http.post(format!("{url}{SECURITY_TOKENS_PATH}")).send().await.unwrap();
        let keys: serde_json::Value = keys.json().await.unwrap();
        assert!(keys["credential"]["expires_at"].as_str().unwrap().ends_with(".000000Z"));
        assert_eq!(http.get(format!("{url}/other")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

        let seen = recorder.take();
        assert_eq!(seen.len(), 4);
        let first = &seen[0];
        assert_eq!((first.method.as_str(), first.path.as_str(), first.query.as_deref()), ("POST", "/", Some("a=1")));
        assert_eq!((first.header("X-TC-ACTION"), first.body.as_slice()), (Some(TENCENT_ACTION), &b"{}"[..]));
        assert!(recorder.take().is_empty(), "taken");
    }
}
