//! Workload identity exchanges through the production connector, against a recording endpoint
//! standing in for Tencent STS and Huawei IAM: what is sent where (the token to the allow-listed
//! exchange endpoint only, never in a header it does not belong in), and what comes back.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use natgw_operator::{
    api::{IdentitySpec, NatGatewaySpec},
    cloud::{
        Connector, ErrorKind, Refusal, SecretValue,
        connect::CloudConnector,
        endpoints::EndpointPolicy,
        identity::{ExchangeError, Refused},
    },
    metrics::Metrics,
};
use serde_json::{Value, json};

const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YTpiIn0.c2lnbmF0dXJlLXBhcnQ";

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// An STS error code to answer with, or an IAM status for the id-token call.
    refuse: Option<(u16, &'static str)>,
}

async fn answer(State(r): State<Recorder>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    assert_eq!(method, Method::POST);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.seen.lock().unwrap().push(Seen { path: uri.path().to_owned(), headers: headers.clone(), body: body.clone() });
    match uri.path() {
        "/" => {
            let inner = match r.refuse {
                // Echoes the token in its message, as a careless endpoint might.
                Some((_, code)) => {
                    json!({"Error": {"Code": code, "Message": format!("bad token {JWT}")}, "RequestId": "r"})
                }
                None => json!({
                    "Credentials": {"Token": "tmp-token", "TmpSecretId": "AKIDtmp", "TmpSecretKey": "tmp-key"},
                    "ExpiredTime": 4_000_000_000i64, "Expiration": "2096-10-02T07:06:40Z", "RequestId": "r",
                }),
            };
            axum::Json(json!({"Response": inner})).into_response()
        }
        "/v3.0/OS-AUTH/id-token/tokens" => match r.refuse {
            Some((status, code)) => (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(
                    json!({"error": {"code": code, "message": "no mapping rule matches", "title": "Forbidden"}}),
                ),
            )
                .into_response(),
            None => (StatusCode::CREATED, [("X-Subject-Token", "MIIfederated")], axum::Json(json!({"token": {}})))
                .into_response(),
        },
        "/v3.0/OS-CREDENTIAL/securitytokens" => (
            StatusCode::CREATED,
            axum::Json(json!({"credential": {
                "access": "TMPAK", "secret": "tmp-sk", "securitytoken": "gQp-token",
                "expires_at": "2096-10-02T07:06:40.000000Z",
            }})),
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A recording endpoint on loopback; its URL.
async fn serve(recorder: Recorder) -> String {
    let app = Router::new().fallback(answer).with_state(recorder);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn connector(allowed: &str) -> CloudConnector {
    let policy = EndpointPolicy::new(&[allowed.to_owned()], true, true).unwrap().with_http_credentials(true);
    CloudConnector::new(reqwest::Client::new()).with_endpoint_policy(policy)
}

fn spec(provider: Value, identity: Value, endpoint: &str) -> NatGatewaySpec {
    serde_json::from_value(json!({
        "gatewayId": "nat-1", "provider": provider, "size": "Small",
        "workloadIdentity": identity, "endpoint": endpoint,
    }))
    .unwrap()
}

fn tencent(endpoint: &str) -> NatGatewaySpec {
    spec(
        json!({"tencent": {"region": "ap-guangzhou"}}),
        json!({"serviceAccountName": "natgw", "tencent": {
            "providerId": "k8s-oidc", "roleArn": "qcs::cam::uin/100000000001:roleName/natgw", "durationSeconds": 600}}),
        endpoint,
    )
}

fn huawei(endpoint: &str) -> NatGatewaySpec {
    spec(
        json!({"huawei": {"region": "cn-north-4"}}),
        json!({"serviceAccountName": "natgw", "huawei": {"identityProviderId": "k8s-oidc", "domainId": "dom1"}}),
        endpoint,
    )
}

#[tokio::test]
async fn tencent_sts_gets_the_token_in_the_body_and_no_signature() {
    let recorder = Recorder::default();
    let url = serve(recorder.clone()).await;
    let temporary = connector(&url)
        .exchange(&tencent(&url), &SecretValue::new(JWT), "natgw.a.natgw", &Metrics::new())
        .await
        .unwrap();
    assert_eq!(temporary.credentials.key_id, "AKIDtmp");
    assert_eq!(temporary.credentials.session_token.as_ref().map(SecretValue::expose), Some("tmp-token"));
    assert_eq!(temporary.expires_at, 4_000_000_000);
    let seen = recorder.seen.lock().unwrap().clone();
    let [call] = seen.as_slice() else { panic!("{seen:?}") };
    assert_eq!(call.path, "/");
    assert_eq!(call.headers["authorization"], "SKIP");
    assert_eq!(call.headers["x-tc-action"], "AssumeRoleWithWebIdentity");
    assert_eq!(call.headers["x-tc-version"], "2018-08-13");
    assert!(call.headers.get("x-tc-token").is_none());
    assert!(call.headers.values().all(|v| !v.to_str().unwrap_or_default().contains("eyJ")), "token in a header");
    assert_eq!(call.body["WebIdentityToken"], JWT);
    assert_eq!(call.body["RoleArn"], "qcs::cam::uin/100000000001:roleName/natgw");
    assert_eq!(call.body["ProviderId"], "k8s-oidc");
    assert_eq!(call.body["RoleSessionName"], "natgw.a.natgw");
    assert_eq!(call.body["DurationSeconds"], 600);
}

#[tokio::test]
async fn tencent_refusals_name_the_problem_and_never_echo_the_token() {
    for (code, want) in [
        ("UnauthorizedOperation", Some(Refused::SubjectNotTrusted)),
        ("ResourceNotFound.RoleNotFound", Some(Refused::UnknownRole)),
        ("InvalidParameter.WebIdentityTokenError", Some(Refused::TokenRejected)),
        ("RequestLimitExceeded", None),
    ] {
        let recorder = Recorder { refuse: Some((200, code)), ..Default::default() };
        let url = serve(recorder).await;
        let e =
            connector(&url).exchange(&tencent(&url), &SecretValue::new(JWT), "s", &Metrics::new()).await.unwrap_err();
        let text = format!("{e} {e:?}");
        for part in JWT.split('.') {
            assert!(!text.contains(part), "{code}: the token leaked: {text}");
        }
        match (e, want) {
            (ExchangeError::Refused { refused, .. }, Some(want)) => assert_eq!(refused, want, "{code}"),
            (ExchangeError::Call(c), None) => assert_eq!(c.kind, ErrorKind::Throttled, "{code}"),
            (other, _) => panic!("{code}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn huawei_iam_trades_the_token_then_the_federated_token() {
    let recorder = Recorder::default();
    let url = serve(recorder.clone()).await;
    let temporary =
        connector(&url).exchange(&huawei(&url), &SecretValue::new(JWT), "s", &Metrics::new()).await.unwrap();
    assert_eq!(temporary.credentials.key_id, "TMPAK");
    assert_eq!(temporary.credentials.session_token.as_ref().map(SecretValue::expose), Some("gQp-token"));
    assert_eq!(temporary.credentials.domain_id.as_deref(), Some("dom1"));
    let seen = recorder.seen.lock().unwrap().clone();
    let [id_token, keys] = seen.as_slice() else { panic!("{seen:?}") };
    assert_eq!(id_token.path, "/v3.0/OS-AUTH/id-token/tokens");
    assert_eq!(id_token.headers["x-idp-id"], "k8s-oidc");
    assert_eq!(id_token.body, json!({"auth": {"id_token": {"id": JWT}}}));
    assert_eq!(keys.path, "/v3.0/OS-CREDENTIAL/securitytokens");
    assert_eq!(keys.body, json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "MIIfederated"}}}}));
    for call in [id_token, keys] {
        assert!(call.headers.get("authorization").is_none(), "unsigned");
    }

    let recorder = Recorder { refuse: Some((403, "IAM.0003")), ..Default::default() };
    let url = serve(recorder.clone()).await;
    let e = connector(&url).exchange(&huawei(&url), &SecretValue::new(JWT), "s", &Metrics::new()).await.unwrap_err();
    assert!(matches!(e, ExchangeError::Refused { refused: Refused::SubjectNotTrusted, .. }), "{e:?}");
    assert_eq!(recorder.seen.lock().unwrap().len(), 1, "no second call after a refusal");
}

#[tokio::test]
async fn the_token_goes_nowhere_off_the_allow_list() {
    let recorder = Recorder::default();
    let url = serve(recorder.clone()).await;
    // The endpoint is not allow-listed: refused before any call.
    let e = connector("https://private.example")
        .exchange(&tencent(&url), &SecretValue::new(JWT), "s", &Metrics::new())
        .await;
    assert!(matches!(e, Err(ExchangeError::Call(c)) if c.refusal == Some(Refusal::EndpointNotAllowed)));
    let e = connector("https://private.example")
        .exchange(&huawei(&url), &SecretValue::new(JWT), "s", &Metrics::new())
        .await;
    assert!(matches!(e, Err(ExchangeError::Call(c)) if c.refusal == Some(Refusal::EndpointNotAllowed)));
    // A value that would reach a header is refused too.
    let mut bad = huawei(&url);
    if let IdentitySpec::Huawei(h) = &mut bad.workload_identity.as_mut().unwrap().cloud {
        h.identity_provider_id = "a\r\nX-Evil: 1".into();
    }
    let e = connector(&url).exchange(&bad, &SecretValue::new(JWT), "s", &Metrics::new()).await;
    assert!(matches!(e, Err(ExchangeError::Call(c)) if c.refusal == Some(Refusal::InvalidSpec)));
    assert!(recorder.seen.lock().unwrap().is_empty(), "nothing reached the endpoint");
}

/// The value of the sample `series` (name and labels) in `text`, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn exchange_calls_are_counted_and_timed_like_every_cloud_call() {
    let metrics = Metrics::new();
    let token = SecretValue::new(JWT);
    for refuse in [None, Some((200, "UnauthorizedOperation"))] {
        let url = serve(Recorder { refuse, ..Default::default() }).await;
        let _ = connector(&url).exchange(&tencent(&url), &token, "s", &metrics).await;
    }
    for refuse in [None, Some((403, "IAM.0003"))] {
        let url = serve(Recorder { refuse, ..Default::default() }).await;
        let _ = connector(&url).exchange(&huawei(&url), &token, "s", &metrics).await;
    }
    let text = metrics.encode();
    let calls = |provider: &str, action: &str, outcome: &str| {
        let series =
            format!("natgw_cloud_calls_total{{provider=\"{provider}\",action=\"{action}\",outcome=\"{outcome}\"}}");
        sample(&text, &series)
    };
    let sts = ("tencent/sts", "assume_role_with_web_identity");
    assert_eq!((calls(sts.0, sts.1, "ok"), calls(sts.0, sts.1, "auth")), (1.0, 1.0), "{text}");
    let id_token = ("huawei/iam", "create_token_with_id_token");
    assert_eq!((calls(id_token.0, id_token.1, "ok"), calls(id_token.0, id_token.1, "auth")), (1.0, 1.0), "{text}");
    // The refused id token stopped the exchange: one call for keys.
    let keys = ("huawei/iam", "create_temporary_access_key_by_token");
    assert_eq!(calls(keys.0, keys.1, "ok"), 1.0, "{text}");
    let latency = |(provider, action): (&str, &str)| {
        sample(
            &text,
            &format!("natgw_cloud_call_duration_seconds_count{{provider=\"{provider}\",action=\"{action}\"}}"),
        )
    };
    assert_eq!((latency(sts), latency(id_token), latency(keys)), (2.0, 2.0, 1.0), "{text}");
    for value in JWT.split('.').chain(["tmp-token", "tmp-key", "MIIfederated", "tmp-sk", "gQp-token"]) {
        assert!(!text.contains(value), "{value} in the metrics:\n{text}");
    }
}

/// A refresh brings a new temporary key id; the cloud still counts the calls against the role,
/// and so does the operator: refreshed credentials wait for the same budget, and the exchanges
/// of one role are paced by it too. Another role has its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_credentials_share_their_roles_rate_budget() {
    use natgw_operator::cloud::{Credentials, GatewayRef};
    use natgw_sim::{
        federation::{FederationConfig, TrustRule},
        issuer::TestIssuer,
        tencent::{SimGateway, TencentSim, TencentSimConfig},
    };
    use std::{
        collections::HashMap,
        time::{Duration, Instant},
    };

    const SUBJECT: &str = "system:serviceaccount:team-a:natgw";
    let roles = ["qcs::cam::uin/100000000001:roleName/natgw", "qcs::cam::uin/100000000001:roleName/other"];
    let issuer = TestIssuer::start().await.unwrap();
    let sim = TencentSim::start(TencentSimConfig {
        https_port: None,
        gateways: vec![SimGateway::new("nat-1", "vpc-1", 1_000_000)],
        federation: FederationConfig {
            oidc: Some(issuer.config()),
            trust_rules: roles
                .map(|role| TrustRule {
                    provider_id: "k8s-oidc".into(),
                    role_arn: Some(role.into()),
                    audience: "sts".into(),
                    subjects: vec![SUBJECT.into()],
                })
                .into(),
            max_credential_lifetime: None,
        },
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    let url = sim.http_url.clone();
    // One call a second (a burst of one) for both the exchange and the gateway read.
    let limits = [("AssumeRoleWithWebIdentity", 1.0), ("DescribeNatGateways", 1.0)];
    let connector =
        connector(&url).with_rate_limits(limits.map(|(a, n)| (a.to_owned(), n)).into_iter().collect::<HashMap<_, _>>());
    let metrics = Metrics::new();
    let spec = |role: &str| {
        let mut spec = tencent(&url);
        if let IdentitySpec::Tencent(t) = &mut spec.workload_identity.as_mut().unwrap().cloud {
            t.role_arn = role.into();
        }
        spec
    };
    let gateway = GatewayRef { id: "nat-1".into(), place: tencent("").provider };
    let slow = Duration::from_millis(800);
    // Each step's credentials (or read) and how long it took.
    let exchange = async |role: &str| {
        let started = Instant::now();
        let token = SecretValue::new(issuer.token(SUBJECT, "sts", Duration::from_secs(600)));
        let temporary = connector.exchange(&spec(role), &token, "natgw.a.natgw", &metrics).await.expect("exchanged");
        (temporary.credentials, started.elapsed())
    };
    let read = async |role: &str, credentials: Credentials| {
        let provider = connector.connect(&spec(role), credentials).expect("a client");
        let started = Instant::now();
        provider.describe(&gateway).await.expect("read with temporary credentials");
        started.elapsed()
    };
    let (first, _) = exchange(roles[0]).await;
    let (refreshed, took) = exchange(roles[0]).await;
    assert!(took >= slow, "the role's second exchange was not paced: {took:?}");
    assert_ne!(first.key_id, refreshed.key_id, "refreshed credentials");
    let took = read(roles[0], first).await;
    assert!(took < slow, "{took:?}");
    let took = read(roles[0], refreshed).await;
    assert!(took >= slow, "the refreshed credentials got a budget of their own: {took:?}");
    // Another role is another principal: nothing to wait for.
    let (other, took) = exchange(roles[1]).await;
    assert!(took < slow, "{took:?}");
    let took = read(roles[1], other).await;
    assert!(took < slow, "{took:?}");
}

/// A throttled exchange is not retried at once: the role's bucket pauses for the cloud's hint
/// (Tencent: 1 s), so the next exchange of the role waits, and both count as throttled.
#[tokio::test]
async fn a_throttled_exchange_pauses_the_roles_next_one() {
    use std::time::{Duration, Instant};
    let url = serve(Recorder { refuse: Some((200, "RequestLimitExceeded")), ..Default::default() }).await;
    let (connector, metrics, token) = (connector(&url), Metrics::new(), SecretValue::new(JWT));
    let first = connector.exchange(&tencent(&url), &token, "s", &metrics).await;
    assert!(matches!(first, Err(ExchangeError::Call(e)) if e.kind == ErrorKind::Throttled));
    let started = Instant::now();
    let _ = connector.exchange(&tencent(&url), &token, "s", &metrics).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "retried at once: {:?}", started.elapsed());
    let text = metrics.encode();
    assert_eq!(sample(&text, "natgw_cloud_throttled_total{provider=\"tencent/sts\"}"), 2.0, "{text}");
}
