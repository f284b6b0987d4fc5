//! Plain HTTP only where it cannot leak (issue 23, item 7), with the real operator binary on a real
//! API server: run with `--allow-http` but without `--allow-http-credentials`, a resource whose
//! calls would carry Tencent API 2.0's `SecretId` or a temporary token to an allow-listed
//! `http://` simulator is `Stalled`/`InsecureEndpoint` with an Event saying the fix, and the
//! simulator sees no request at all; API 3.0 with long-lived keys (a signature and the key id
//! only) still converges over plain HTTP.

use std::time::Duration;

use natgw_testkit::{Cluster, condition, ready, tencent_keys, tencent_sim, tencent_spec};
use serde_json::{Value, json};

const KEY_ID: &str = "AKIDplainhttpkeyid";
const KEY: &str = "plain-http-secret-key";
const TEMP_ID: &str = "AKIDplainhttptemporary";
const TOKEN: &str = "plain-http-session-token";
const LIMIT: Duration = Duration::from_secs(30);

/// The operator's Events in the test's namespace: (regarding name, reason, note).
fn events(cluster: &Cluster) -> Vec<(String, String, String)> {
    let events: Value = serde_json::from_str(&cluster.kubectl(&["get", "events.events.k8s.io", "-o", "json"])).unwrap();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reportingController"] == "natgw-operator")
        .map(|e| (text(&e["regarding"]["name"]), text(&e["reason"]), text(&e["note"])))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_api_2_key_ids_are_not_sent_over_plain_http_without_the_flag() {
    let cluster = Cluster::start("plain-http").await;
    // One simulator for the resources that must not reach it, one for the control.
    let refused_sim = tencent_sim(KEY_ID, KEY, Duration::from_millis(500), "nat-plain-v2").await;
    refused_sim.seed_gateway(natgw_sim::tencent::SimGateway::new("nat-plain-token", "vpc-1", 1_000_000));
    let control_sim = tencent_sim(KEY_ID, KEY, Duration::from_millis(500), "nat-plain-v3").await;
    let (refused_url, control_url) = (refused_sim.http_url.clone(), control_sim.http_url.clone());
    cluster.create_secret("tencent", tencent_keys(KEY_ID, KEY)).await;
    cluster.create_secret("tencent-temporary", json!({"secretId": TEMP_ID, "secretKey": KEY, "token": TOKEN})).await;

    // --allow-http (the harness's) without --allow-http-credentials.
    let log = cluster.path("operator.log");
    let allowed = format!("{refused_url},{control_url}");
    let args = ["--leader-election=false", "--metrics-addr", "127.0.0.1:0", "--poll-interval", "300ms"];
    let env = [("NATGW_ALLOWED_ENDPOINTS", allowed.as_str()), ("NATGW_ALLOW_HTTP_CREDENTIALS", "false")];
    let _operator = cluster.operator(&args, &env, &log);

    let refused = [
        ("v2-keys", tencent_spec("nat-plain-v2", Some("V2"), "Medium", "tencent", Some(&refused_url))),
        ("v3-token", tencent_spec("nat-plain-token", Some("V3"), "Medium", "tencent-temporary", Some(&refused_url))),
    ];
    for (name, spec) in &refused {
        cluster.create_natgw(name, spec.clone()).await;
    }
    cluster
        .create_natgw("v3-keys", tencent_spec("nat-plain-v3", Some("V3"), "Medium", "tencent", Some(&control_url)))
        .await;

    for (name, _) in &refused {
        let stalled = |o: &_| condition(o, "Stalled").is_some_and(|(s, r)| s == "True" && r == "InsecureEndpoint");
        let o = cluster.wait_for(name, LIMIT, stalled).await;
        let message = o.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Stalled").unwrap().message;
        assert!(message.contains(&refused_url), "{name}: names the endpoint: {message}");
        assert!(message.contains("https://") && message.contains("--allow-http-credentials"), "{name}: {message}");
        assert!(!message.contains(TOKEN) && !message.contains(KEY), "{name}: {message}");
    }
    // The control: a signature and a long-lived key id only, so --allow-http is enough.
    let done = cluster.wait_for("v3-keys", LIMIT, ready).await;
    assert_eq!(done.status.unwrap().observed.unwrap().size, Some(natgw_operator::api::Size::Medium));
    assert_eq!(control_sim.orders().len(), 1, "{:?}", control_sim.orders());

    // An Event per refused resource saying the fix.
    let start = std::time::Instant::now();
    let said = |events: &[(String, String, String)], name: &str| {
        events.iter().any(|(regarding, reason, note)| {
            regarding == name
                && reason == "InsecureEndpoint"
                && note.contains("https://")
                && note.contains("--allow-http-credentials")
        })
    };
    loop {
        let seen = events(&cluster);
        if refused.iter().all(|(name, _)| said(&seen, name)) {
            break;
        }
        assert!(start.elapsed() < LIMIT, "no InsecureEndpoint Event naming the fix for each of {refused:?}: {seen:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A while longer: still nothing reached the simulator they name.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(refused_sim.requests(), vec![], "requests reached the plain-HTTP endpoint");
    assert_eq!(refused_sim.orders(), vec![]);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log_text.contains(TOKEN) && !log_text.contains(KEY), "the operator's log shows a credential");
}
