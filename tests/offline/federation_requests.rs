//! The operator's own workload identity exchanges against the official SDKs': both clients trade
//! the same token for the same role at a recording endpoint ([`Recorder`]), and their requests
//! must be the same (method, path, query, every header, the JSON body as a value) but for the
//! differences named here, each with why; a named difference that is not there fails too, so the
//! list stays true. The SDKs: Tencent's OIDC credential provider (`OIDCRoleArnCredential`, the
//! common package's path to `AssumeRoleWithWebIdentity`) and Huawei's core federation
//! (`FederalAccessor`: `CreateTokenWithIdToken`, then `CreateTemporaryAccessKeyByToken`).
//! Needs the SDKs of tests/conformance/requirements.txt.

use std::collections::BTreeMap;

use natgw_operator::{
    api::NatGatewaySpec,
    cloud::{Connector, SecretValue, connect::CloudConnector, endpoints::EndpointPolicy, http},
    metrics::Metrics,
};
use natgw_sim::recorder::{
    RECORDED_FEDERATED_TOKEN, RECORDED_HUAWEI_ACCESS_KEY, RECORDED_TENCENT_SECRET_ID, RecordedRequest, Recorder,
};
use serde_json::{Value, json};

use crate::federation_conformance::sdk;

/// A ServiceAccount token as TokenRequest issues one; the recorder verifies nothing.
const JWT: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGVhbS1hOm5hdGd3In0.c2lnbmF0dXJlLXBhcnQ";
/// What the operator names the session of ServiceAccount `natgw` in namespace `team-a`.
const SESSION_NAME: &str = "natgw.team-a.natgw";
const TENCENT_REGION: &str = "ap-guangzhou";
const PROVIDER_ID: &str = "natgw-cluster";
const ROLE_ARN: &str = "qcs::cam::uin/100000000001:roleName/natgw-federation";
const TENCENT_DURATION: u32 = 900;
const IDP_ID: &str = "natgw-idp";
/// huaweicloudsdkcore's `FederalAccessor` always asks for 6 hours; the operator asks for what the
/// spec says, so the spec says that.
const HUAWEI_DURATION: u32 = 6 * 3600;

/// How a header that may differ between the two clients is checked instead of compared.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// Sent by the SDK only, never by the operator.
    SdkOnly,
    /// Sent by both, with values that name the client or follow the body's spelling.
    OtherValue,
    /// The time the client sent the request: both within the cloud's 5 minutes of now.
    Now,
    /// The same media type, spelled otherwise: a `charset=utf-8` parameter changes nothing (JSON
    /// is UTF-8, RFC 8259 section 8.1).
    MediaType,
}

/// A header the two clients legitimately send differently (or the SDK only), and why.
struct Difference {
    header: &'static str,
    check: Check,
    why: &'static str,
}

const USER_AGENT: Difference = Difference {
    header: "user-agent",
    check: Check::OtherValue,
    why: "each client names itself (natgw-operator/x.y.z, python-requests or the SDK's own)",
};
const ACCEPT_ENCODING: Difference = Difference {
    header: "accept-encoding",
    check: Check::SdkOnly,
    why: "python-requests offers compressed answers; the operator's client takes them as they come",
};
const CONNECTION: Difference = Difference {
    header: "connection",
    check: Check::SdkOnly,
    why: "python-requests asks for keep-alive, which HTTP/1.1 does by default (RFC 9112 section 9.3)",
};
const CONTENT_LENGTH: Difference = Difference {
    header: "content-length",
    check: Check::OtherValue,
    why: "the JSON bodies differ in spacing only (json.dumps writes \", \"); they are compared as values",
};

/// Tencent STS `AssumeRoleWithWebIdentity`, besides the transport.
const TENCENT_DIFFERENCES: &[Difference] = &[
    Difference { header: "x-tc-timestamp", check: Check::Now, why: "when each client sent its request" },
    Difference {
        header: "content-type",
        check: Check::MediaType,
        why: "the operator sends `application/json; charset=utf-8` on every API 3.0 action, as the \
              TC3 signature document's example does; the SDK `application/json`",
    },
    Difference {
        header: "x-tc-requestclient",
        check: Check::SdkOnly,
        why: "the SDK names itself and its version (SDK_PYTHON_x.y.z); optional, no parameter of the action",
    },
    Difference {
        header: "x-tc-traceid",
        check: Check::SdkOnly,
        why: "a random UUID the SDK adds to every call for its tracing; optional",
    },
    Difference {
        header: "x-tc-language",
        check: Check::SdkOnly,
        why: "the SDK's ClientProfile default (zh-CN), the language of error messages; the operator \
              sends it on no action and acts on error codes, not messages",
    },
    USER_AGENT,
    ACCEPT_ENCODING,
    CONNECTION,
    CONTENT_LENGTH,
];

/// Huawei IAM `CreateTokenWithIdToken` and `CreateTemporaryAccessKeyByToken`: the transport only.
const HUAWEI_DIFFERENCES: &[Difference] = &[USER_AGENT, ACCEPT_ENCODING, CONNECTION, CONTENT_LENGTH];

/// A request with what carries meaning: header names lower-case (they are case-insensitive,
/// RFC 9110 section 5.1: the SDKs write `X-TC-Action`, the operator's client `x-tc-action`),
/// repeated headers kept in order, the body as a JSON value.
#[derive(Debug, PartialEq)]
struct Normalised {
    method: String,
    path: String,
    query: Option<String>,
    headers: BTreeMap<String, Vec<String>>,
    body: Value,
}

impl Normalised {
    fn of(r: &RecordedRequest) -> Normalised {
        let mut headers = BTreeMap::<String, Vec<String>>::new();
        for (name, value) in &r.headers {
            headers.entry(name.to_ascii_lowercase()).or_default().push(value.clone());
        }
        let body = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{} {}: the body is not JSON ({e})", r.method, r.path));
        Normalised { method: r.method.clone(), path: r.path.clone(), query: r.query.clone(), headers, body }
    }

    fn to_json(&self) -> Value {
        json!({"method": self.method, "path": self.path, "query": self.query, "headers": self.headers, "body": self.body})
    }
}

/// Asserts that the operator's request is the SDK's but for `differences`, each checked and
/// each really there; prints both for the record.
fn assert_same(call: &str, sdk: &RecordedRequest, ours: &RecordedRequest, differences: &[Difference]) {
    let (mut sdk, mut ours) = (Normalised::of(sdk), Normalised::of(ours));
    println!("{call}\n  SDK:      {}\n  operator: {}", sdk.to_json(), ours.to_json());
    for d in differences {
        let (theirs, mine) = (sdk.headers.remove(d.header), ours.headers.remove(d.header));
        let sent = |side: Option<Vec<String>>, who: &str| match side.as_deref() {
            Some([value]) => value.clone(),
            _ => panic!("{call}: {} is named a difference ({}); the {who} sent {side:?}", d.header, d.why),
        };
        if let Check::SdkOnly = d.check {
            assert_eq!(mine, None, "{call}: the operator sends {}, which only the SDK may ({})", d.header, d.why);
            sent(theirs, "SDK");
            continue;
        }
        let (theirs, mine) = (sent(theirs, "SDK"), sent(mine, "operator"));
        match d.check {
            Check::SdkOnly => {}
            Check::OtherValue => assert_ne!(theirs, mine, "{call}: {} is the same: no difference to name", d.header),
            Check::Now => {
                let now = natgw_sim::oidc::unix_now() as i64;
                for t in [&theirs, &mine] {
                    let near = t.parse::<i64>().is_ok_and(|t| (t - now).abs() <= 300);
                    assert!(near, "{call}: {} {t:?} is not the unix time of now", d.header);
                }
            }
            Check::MediaType => {
                assert_ne!(theirs, mine, "{call}: {} is the same: no difference to name", d.header);
                assert_eq!(media_type(&theirs), media_type(&mine), "{call}: {}", d.header);
            }
        }
    }
    assert_eq!(ours, sdk, "{call}: the operator's request (left) differs from the SDK's (right)");
}

/// A Content-Type's media type, lower-case; panics on a parameter other than `charset=utf-8`.
fn media_type(value: &str) -> String {
    let value = value.to_ascii_lowercase();
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default().to_owned();
    let other: Vec<_> = parts.filter(|p| *p != "charset=utf-8").collect();
    assert!(other.is_empty(), "Content-Type {value:?} has parameters that change its meaning");
    essence
}

/// The production connector with the production HTTP client, trusting the recorder's CA.
fn connector(recorder: &Recorder) -> CloudConnector {
    let client = http::client(Some(recorder.ca_pem_path())).unwrap();
    let policy = EndpointPolicy::new(&[recorder.url()], false, true).unwrap();
    CloudConnector::new(client).with_endpoint_policy(policy)
}

fn spec(provider: Value, identity: Value, endpoint: &str) -> NatGatewaySpec {
    serde_json::from_value(json!({
        "gatewayId": "nat-1", "provider": provider, "size": "Small",
        "workloadIdentity": identity, "endpoint": endpoint,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_sts_requests_equal_the_sdks() {
    let recorder = Recorder::start().await.unwrap();
    let out = sdk(
        "tencent_sts.py",
        "request",
        &[
            ("SIM_HOST", &recorder.host()),
            ("SIM_CA", recorder.ca_pem_path().to_str().unwrap()),
            ("PROVIDER_ID", PROVIDER_ID),
            ("ROLE_ARN", ROLE_ARN),
            ("TOKEN", JWT),
            ("SESSION_NAME", SESSION_NAME),
            ("DURATION", &TENCENT_DURATION.to_string()),
        ],
    )
    .await;
    assert_eq!(out["secretId"], RECORDED_TENCENT_SECRET_ID, "the SDK read the recorder's answer: {out}");
    let sdk_requests = recorder.take();

    let spec = spec(
        json!({"tencent": {"region": TENCENT_REGION}}),
        json!({"serviceAccountName": "natgw", "tencent": {
            "providerId": PROVIDER_ID, "roleArn": ROLE_ARN, "durationSeconds": TENCENT_DURATION}}),
        &recorder.url(),
    );
    let temporary =
        connector(&recorder).exchange(&spec, &SecretValue::new(JWT), SESSION_NAME, &Metrics::new()).await.unwrap();
    assert_eq!(temporary.credentials.key_id, RECORDED_TENCENT_SECRET_ID);
    let ours = recorder.take();

    let ([sdk_call], [our_call]) = (sdk_requests.as_slice(), ours.as_slice()) else {
        panic!("one call each: SDK {sdk_requests:?}, operator {ours:?}")
    };
    assert_same("AssumeRoleWithWebIdentity", sdk_call, our_call, TENCENT_DIFFERENCES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_federation_requests_equal_the_sdks() {
    let recorder = Recorder::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, JWT).unwrap();
    let out = sdk(
        "huawei_federation.py",
        "request",
        &[
            ("HW_ENDPOINT", &recorder.url()),
            ("HW_CA", recorder.ca_pem_path().to_str().unwrap()),
            ("IDP_ID", IDP_ID),
            ("TOKEN_FILE", token_file.to_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(out["access"], RECORDED_HUAWEI_ACCESS_KEY, "the SDK read the recorder's answers: {out}");
    let sdk_requests = recorder.take();

    let spec = spec(
        json!({"huawei": {"region": "cn-north-4"}}),
        json!({"serviceAccountName": "natgw", "huawei": {
            "identityProviderId": IDP_ID, "durationSeconds": HUAWEI_DURATION}}),
        &recorder.url(),
    );
    let temporary =
        connector(&recorder).exchange(&spec, &SecretValue::new(JWT), SESSION_NAME, &Metrics::new()).await.unwrap();
    assert_eq!(temporary.credentials.key_id, RECORDED_HUAWEI_ACCESS_KEY);
    let ours = recorder.take();

    let ([sdk_id_token, sdk_keys], [our_id_token, our_keys]) = (sdk_requests.as_slice(), ours.as_slice()) else {
        panic!("two calls each: SDK {sdk_requests:?}, operator {ours:?}")
    };
    assert_same("CreateTokenWithIdToken", sdk_id_token, our_id_token, HUAWEI_DIFFERENCES);
    assert_same("CreateTemporaryAccessKeyByToken", sdk_keys, our_keys, HUAWEI_DIFFERENCES);
    // Both sent back the federated token the recorder issued, and only in the body.
    assert_eq!(Normalised::of(our_keys).body["auth"]["identity"]["token"]["id"], RECORDED_FEDERATED_TOKEN);
}
