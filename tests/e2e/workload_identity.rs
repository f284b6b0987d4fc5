//! Workload identity on a real API server, up to the cloud's answer: the controller requests a
//! token of the ServiceAccount the resource names (TokenRequest), sends it to the allow-listed
//! STS endpoint only, and stalls with a reason that says what to fix. The STS here is a stub that
//! records what it gets and refuses the subject; the simulated STS/IAM that accept it come with
//! the simulators.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, response::IntoResponse};
use base64::Engine as _;
use natgw_operator::cloud::connect::CloudConnector;
use natgw_testkit::{Cluster, allow_endpoints, condition};
use serde_json::{Value, json};

const SA: &str = "natgw-cloud";

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// Tencent STS refusing every subject, as a trust policy that does not name it.
async fn refuse(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    seen.lock().unwrap().push((headers, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    axum::Json(json!({"Response": {
        "Error": {"Code": "UnauthorizedOperation", "Message": "the role's trust policy does not allow this subject"},
        "RequestId": "req-1",
    }}))
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn stalled_reason(o: &natgw_operator::api::NatGateway) -> Option<String> {
    condition(o, "Stalled").filter(|(status, _)| status == "True").map(|(_, reason)| reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_token_goes_to_the_sts_and_refusals_say_what_to_fix() {
    let cluster = Cluster::start("workload-identity").await;
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sts = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().fallback(refuse).with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let connector = CloudConnector::new(reqwest::Client::new()).with_endpoint_policy(allow_endpoints(&[&sts]));
    let controller = cluster.run_controller(Arc::new(connector), Duration::from_millis(300));
    cluster
        .create_natgw(
            "keyless",
            json!({
                "gatewayId": "nat-keyless", "size": "Medium", "endpoint": sts,
                "provider": {"tencent": {"region": "ap-guangzhou"}},
                "workloadIdentity": {"serviceAccountName": SA, "tencent": {
                    "providerId": "k8s-oidc", "roleArn": "qcs::cam::uin/100000000001:roleName/natgw"}},
            }),
        )
        .await;

    // No ServiceAccount yet: stalled, and nothing went to the STS.
    let limit = Duration::from_secs(30);
    let o =
        cluster.wait_for("keyless", limit, |o| stalled_reason(o).as_deref() == Some("ServiceAccountNotFound")).await;
    assert!(seen.lock().unwrap().is_empty());
    let status = serde_json::to_string(&o.status).unwrap();
    assert!(status.contains(&format!("ServiceAccount {}/{SA} does not exist", cluster.namespace)), "{status}");

    // Created: looked at again without any change to the resource, and the STS's refusal named.
    cluster.kubectl(&["create", "serviceaccount", SA]);
    let o = cluster.wait_for("keyless", limit, |o| stalled_reason(o).as_deref() == Some("IdentityNotTrusted")).await;
    let calls = seen.lock().unwrap().clone();
    let (headers, body) = calls.first().expect("the STS was called");
    assert_eq!(headers["authorization"], "SKIP");
    assert_eq!(headers["x-tc-action"], "AssumeRoleWithWebIdentity");
    assert!(headers.get("x-tc-token").is_none());
    let jwt = body["WebIdentityToken"].as_str().expect("the token in the body");
    let c = claims(jwt);
    assert_eq!(c["sub"], format!("system:serviceaccount:{}:{SA}", cluster.namespace));
    assert_eq!(c["aud"], json!(["natgw-operator"]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600, "a 10-minute token");
    assert_eq!(body["RoleArn"], "qcs::cam::uin/100000000001:roleName/natgw");

    // The token is nowhere in status or Events.
    let status = serde_json::to_string(&o.status).unwrap();
    assert!(status.contains(&format!("system:serviceaccount:{}:{SA}", cluster.namespace)), "{status}");
    let events = cluster.kubectl(&["get", "events.events.k8s.io", "-o", "json"]);
    for part in jwt.split('.') {
        assert!(!status.contains(part) && !events.contains(part), "the token leaked");
    }
    controller.stop().await;
}
