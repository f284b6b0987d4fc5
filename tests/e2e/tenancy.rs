//! Tenants cannot steer credentials (issue 11, findings 7 and 8), on a real API server with the
//! real operator binary: a NatGateway whose endpoint is not allow-listed, whose region, project id
//! or Secret name would move a request to another host, path or object, is `Stalled` with a
//! reason before any cloud call; and what a hostile (allow-listed but compromised) endpoint
//! echoes reaches status and Events scrubbed of credentials and capped.
//!
//! The "attacker" and the "compromised" endpoint are tiny HTTPS servers (the simulators' CA) that
//! record every request and answer with the request's credentials and a large body.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use natgw_operator::api::NatGateway;
use natgw_sim::{
    huawei::HuaweiSim,
    server::{Served, SimTls, serve},
};
use natgw_testkit::{Cluster, Operator, huawei_https_config};
use serde_json::{Value, json};

const TC_ID: &str = "AKIDtenancykeyid";
const TC_KEY: &str = "tenancy-tc-secret-key-value";
const TC_TOKEN: &str = "tenancy-tc-session-token-value";
const HW_AK: &str = "HWTENANCYACCESSKEY";
const HW_SK: &str = "tenancy-hw-secret-key-value";
const HW_TOKEN: &str = "tenancy-hw-security-token-value";
/// A second Huawei account, used only by the resource whose project id would change the path.
const HW_PROJ_AK: &str = "HWPROJECTPATHKEY";
const CREDENTIALS: [&str; 7] = [TC_ID, TC_KEY, TC_TOKEN, HW_AK, HW_SK, HW_TOKEN, HW_PROJ_AK];
/// The cap on cloud text in status and Events (src/cloud/error.rs MAX_MESSAGE).
const CAP: usize = 256;
const LIMIT: Duration = Duration::from_secs(40);

/// An HTTPS server that records each request and echoes its credentials plus 5,000 `Z`s: as a
/// Tencent API 3.0 error on `POST /`, as a raw text body (HTTP 400) on any other path.
struct Echo {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
    _served: Served,
}

async fn echo(
    State(seen): State<Arc<Mutex<Vec<String>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = format!(
        "{} {} {} {method} {uri} {}",
        header("x-tc-token"),
        header("x-security-token"),
        header("authorization"),
        "Z".repeat(5000)
    );
    seen.lock().unwrap().push(format!("{method} {uri} {headers:?}"));
    if method == Method::POST && uri.path() == "/" {
        let body = json!({"Response": {
            "Error": {"Code": "InternalError", "Message": text},
            "RequestId": header("x-tc-token"),
        }});
        (StatusCode::OK, axum::Json(body)).into_response()
    } else {
        (StatusCode::BAD_REQUEST, text).into_response()
    }
}

impl Echo {
    async fn start(tls: &SimTls) -> Echo {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new().fallback(echo).with_state(seen.clone());
        let served = serve(router, "127.0.0.1:0".parse().unwrap(), Some(tls)).await.unwrap();
        Echo { url: format!("https://127.0.0.1:{}", served.addr.port()), seen, _served: served }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// One hostile resource: what it is, its spec, and the condition it must reach.
struct Case {
    name: &'static str,
    what: String,
    spec: Value,
    /// (condition type, reason) expected; `None`: any written condition (the echo cases).
    expect: Option<(&'static str, &'static str)>,
}

fn tencent(endpoint: &str) -> Value {
    json!({
        "gatewayId": "nat-tenancy1",
        "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-tenancy1"}},
        "size": "Medium",
        "credentialsSecretRef": {"name": "tencent"},
        "endpoint": endpoint,
    })
}

fn huawei(region: &str, project: Option<&str>, endpoint: Option<&str>, secret: &str) -> Value {
    let mut spec = json!({
        "gatewayId": "5f1ab3a4-6c2d-4e1f-9a7b-2c3d4e5f6a7b",
        "provider": {"huawei": {"region": region}},
        "size": "Medium",
        "credentialsSecretRef": {"name": secret},
    });
    if let Some(p) = project {
        spec["provider"]["huawei"]["projectId"] = p.into();
    }
    if let Some(e) = endpoint {
        spec["endpoint"] = e.into();
    }
    spec
}

/// The committed CRD without its `matches()` rules: what an older operator installed, under which
/// hostile values were admitted before the upgrade. The operator must check them again.
fn apply_lax_crd(cluster: &Cluster) {
    natgw_testkit::apply_crd_without(cluster, |rule| rule.contains("matches("));
}

/// Creates `case`, retrying while a just-relaxed CRD is not yet in force.
async fn create(cluster: &Cluster, case: &Case) {
    natgw_testkit::create_once_admitted(cluster, case.name, &case.spec).await;
}

fn reached(o: &NatGateway, expect: Option<(&str, &str)>) -> bool {
    let conditions = o.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    match expect {
        Some((type_, reason)) => {
            conditions.iter().any(|c| c.type_ == type_ && c.status == "True" && c.reason == reason)
        }
        None => conditions.iter().any(|c| c.type_ == "Ready" && !c.message.is_empty()),
    }
}

/// The operator's Events' notes in the test's namespace.
fn event_notes(cluster: &Cluster) -> Vec<String> {
    let events: Value = serde_json::from_str(&cluster.kubectl(&["get", "events.events.k8s.io", "-o", "json"])).unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reportingController"] == "natgw-operator")
        .map(|e| format!("{}: {}", e["reason"].as_str().unwrap_or_default(), e["note"].as_str().unwrap_or_default()))
        .collect()
}

/// What a reader of status or Events could learn: credential values, request signatures, and runs
/// of the echo's `Z`s longer than the cap.
fn leaks(text: &str) -> Vec<String> {
    let mut found: Vec<String> =
        CREDENTIALS.iter().filter(|c| text.contains(*c)).map(|c| format!("credential {c}")).collect();
    let signed =
        text.match_indices("Signature=").any(|(i, k)| text[i + k.len()..].starts_with(|c: char| c.is_ascii_hexdigit()));
    if signed {
        found.push("a request signature".to_owned());
    }
    let longest = text.split(|c| c != 'Z').map(str::len).max().unwrap_or(0);
    if longest > CAP {
        found.push(format!("{longest} characters of the endpoint's body"));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_specs_stall_before_any_call_and_echoed_credentials_never_reach_status() {
    let cluster = Cluster::start_own("tenancy").await; // it relaxes the CRD
    let tls = SimTls::generate(None).unwrap();
    let attacker = Echo::start(&tls).await;
    let compromised = Echo::start(&tls).await;
    let huawei_sim = HuaweiSim::start(huawei_https_config(HW_AK, HW_SK, "proj-tenancy", Duration::from_secs(1), &tls))
        .await
        .unwrap();
    let huawei_url = huawei_sim.https_url.clone().unwrap();
    let attacker_port = attacker.url.rsplit(':').next().unwrap().to_owned();

    cluster.create_secret("tencent", json!({"secretId": TC_ID, "secretKey": TC_KEY, "token": TC_TOKEN})).await;
    cluster.create_secret("huawei", json!({"accessKey": HW_AK, "secretKey": HW_SK, "securityToken": HW_TOKEN})).await;
    cluster.create_secret("huawei-proj", json!({"accessKey": HW_PROJ_AK, "secretKey": HW_SK})).await;

    // The installer allow-listed the compromised endpoint and the Huawei simulator, nothing else.
    let log = cluster.env.kubeconfig.with_file_name("operator.log");
    let ca = tls.ca_pem_path().to_str().unwrap().to_owned();
    let args = [
        "--extra-ca",
        &ca,
        "--poll-interval",
        "500ms",
        "--cloud-timeout",
        "3s",
        "--leader-election=false",
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    let allowed = format!("{},{huawei_url}", compromised.url);
    let _operator = Operator::start(&cluster.env.kubeconfig, &args, &[("NATGW_ALLOWED_ENDPOINTS", &allowed)], &log);

    let stalled = |reason| Some(("Stalled", reason));
    // Admitted by the current CRD: only the operator's allow-list stands between them and a call.
    let admitted = vec![
        Case {
            name: "attacker-endpoint",
            what: "spec.endpoint not allow-listed (an attacker's HTTPS server)".into(),
            spec: tencent(&attacker.url),
            expect: stalled("EndpointNotAllowed"),
        },
        Case {
            name: "metadata-endpoint",
            what: "spec.endpoint https://169.254.169.254 (instance metadata)".into(),
            spec: tencent("https://169.254.169.254"),
            expect: stalled("EndpointNotAllowed"),
        },
        Case {
            name: "echo-tencent",
            what: "allow-listed endpoint echoes token + 5,000 chars (Tencent V3 error)".into(),
            spec: tencent(&compromised.url),
            expect: None,
        },
        Case {
            name: "echo-huawei",
            what: "allow-listed endpoint echoes token + 5,000 chars (Huawei, raw body)".into(),
            spec: huawei("cn-north-4", Some("proj-tenancy"), Some(&compromised.url), "huawei"),
            expect: None,
        },
    ];
    // Admitted only by an older CRD without patterns: the operator checks the values again.
    let legacy = vec![
        Case {
            name: "steer-region",
            what: format!("Huawei region x@127.0.0.1:{attacker_port}# (moves the IAM call)"),
            spec: huawei(&format!("x@127.0.0.1:{attacker_port}#"), None, None, "huawei"),
            expect: stalled("InvalidSpec"),
        },
        Case {
            name: "steer-project",
            what: "Huawei projectId ../../v3/projects (changes the signed path)".into(),
            spec: huawei("cn-north-4", Some("../../v3/projects"), Some(&huawei_url), "huawei-proj"),
            expect: stalled("InvalidSpec"),
        },
        Case {
            name: "cross-namespace-secret",
            what: "credentialsSecretRef.name other/creds".into(),
            spec: json!({
                "gatewayId": "nat-tenancy2",
                "provider": {"tencent": {"region": "ap-guangzhou"}},
                "size": "Medium",
                "credentialsSecretRef": {"name": "other/creds"},
            }),
            expect: stalled("InvalidSecretRef"),
        },
        Case {
            name: "dotdot-secret",
            what: "credentialsSecretRef.name ../..".into(),
            spec: json!({
                "gatewayId": "nat-tenancy3",
                "provider": {"tencent": {"region": "ap-guangzhou"}},
                "size": "Medium",
                "credentialsSecretRef": {"name": "../.."},
            }),
            expect: stalled("InvalidSecretRef"),
        },
    ];

    let mut failures = Vec::new();
    let mut times = BTreeMap::new();
    for (group, cases) in [("admitted", &admitted), ("legacy", &legacy)] {
        if group == "legacy" {
            apply_lax_crd(&cluster);
        }
        let created = Instant::now();
        for case in cases.iter() {
            create(&cluster, case).await;
        }
        let mut pending: Vec<&Case> = cases.iter().collect();
        while !pending.is_empty() && created.elapsed() < LIMIT {
            let mut still = Vec::new();
            for case in pending {
                let obj = cluster.natgws().get(case.name).await.unwrap();
                let echoed = case.expect.is_some() || !compromised.requests().is_empty();
                if reached(&obj, case.expect) && echoed {
                    times.insert(case.name, created.elapsed());
                } else {
                    still.push(case);
                }
            }
            pending = still;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for case in pending {
            let obj = cluster.natgws().get(case.name).await.unwrap();
            let conditions: Vec<String> = obj
                .status
                .map(|s| s.conditions.iter().map(|c| format!("{}={} {}", c.type_, c.status, c.reason)).collect())
                .unwrap_or_default();
            failures.push(format!("{}: expected {:?} within {LIMIT:?}, has {conditions:?}", case.name, case.expect));
        }
    }
    // Let the echo cases retry a few times more, then read what a tenant can read.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let attacked = attacker.requests();
    if !attacked.is_empty() {
        failures.push(format!("the attacker's endpoint received {} request(s): {:?}", attacked.len(), attacked[0]));
    }
    let project_calls = huawei_sim.core().ledger.requests();
    let project_calls: Vec<_> = project_calls.iter().filter(|r| r.key_id.as_deref() == Some(HW_PROJ_AK)).collect();
    if !project_calls.is_empty() {
        failures.push(format!("the steered project id reached the cloud: {project_calls:?}"));
    }
    if compromised.requests().is_empty() {
        failures.push("the allow-listed endpoint was never called".into());
    }
    for case in admitted.iter().chain(&legacy) {
        let obj = cluster.natgws().get(case.name).await.unwrap();
        let status = serde_json::to_string(&obj.status).unwrap();
        for leak in leaks(&status) {
            failures.push(format!("{}: status shows {leak}", case.name));
        }
    }
    let notes = event_notes(&cluster).join("\n");
    for leak in leaks(&notes) {
        failures.push(format!("Events show {leak}"));
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    for secret in [TC_KEY, TC_TOKEN, HW_SK, HW_TOKEN] {
        if log_text.contains(secret) {
            failures.push(format!("the operator's log shows {secret}"));
        }
    }

    println!("| hostile case | orders placed / changes | time to Stalled |");
    for case in admitted.iter().chain(&legacy) {
        let t = times.get(case.name).map(|t| format!("{:.1} s", t.as_secs_f64())).unwrap_or("never".into());
        println!("| {} | 0 / 0 | {t} |", case.what);
    }
    for case in admitted.iter().chain(&legacy) {
        let obj = cluster.natgws().get(case.name).await.unwrap();
        let ready = obj.status.and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"));
        let (reason, message) = ready.map(|c| (c.reason, c.message)).unwrap_or_default();
        println!("{}: {reason}: {message}", case.name);
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}
