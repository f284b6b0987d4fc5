//! The real operator binary's HTTP endpoints: after a resize through the Tencent simulator,
//! /metrics shows the reconciles, the cloud calls and the order, and /healthz and /readyz answer.

use std::time::Duration;

use natgw_operator::{api::OrderPhase, metrics::CONTENT_TYPE};
use natgw_testkit::{Cluster, free_port, sample, tencent_keys, tencent_sim, tencent_spec};

const ID: &str = "AKIDe2emetrics";
const KEY: &str = "e2e-metrics-secret-key";

/// Status code, Content-Type and body of `GET base + path`, or `None` while nothing listens.
async fn get(base: &str, path: &str) -> Option<(u16, String, String)> {
    let r = reqwest::get(format!("{base}{path}")).await.ok()?;
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    Some((r.status().as_u16(), content_type, r.text().await.ok()?))
}

/// The sum over every label set of `name`.
fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_report_a_resize() {
    let cluster = Cluster::start("metrics").await;
    let sim = tencent_sim(ID, KEY, Duration::from_secs(2), "nat-metrics").await;

    let addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{addr}");
    let log = cluster.path("operator.log");
    let _operator = cluster.operator(
        &["--metrics-addr", &addr, "--leader-election=false", "--poll-interval", "500ms"],
        &[("NATGW_ALLOWED_ENDPOINTS", &sim.http_url)],
        &log,
    );
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // Ready once the cache is synced, which takes one list against a local API server.
    let started = std::time::Instant::now();
    while get(&base, "/readyz").await.map(|r| r.0) != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(30), "/readyz never answered 200; log:\n{}", log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(&base, "/healthz").await.map(|r| r.0), Some(200));

    cluster.create_secret("tencent", tencent_keys(ID, KEY)).await;
    // API 2.0: its orders are bills that the operator polls, so every cloud action but billing runs.
    cluster
        .create_natgw("egress", tencent_spec("nat-metrics", Some("V2"), "Medium", "tencent", Some(&sim.http_url)))
        .await;
    let done = cluster
        .wait_for("egress", Duration::from_secs(60), |o| {
            o.status.as_ref().is_some_and(|s| {
                s.last_order.as_ref().is_some_and(|o| o.phase == OrderPhase::Succeeded)
                    && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
        .await;
    assert_eq!(sim.orders().len(), 1, "one order: {:?}", sim.orders());

    let (status, content_type, text) = get(&base, "/metrics").await.expect("/metrics answers");
    assert_eq!((status, content_type.as_str()), (200, CONTENT_TYPE));
    println!("{text}");
    let v2 = |action: &str, outcome: &str| {
        sample(
            &text,
            &format!("natgw_cloud_calls_total{{provider=\"tencent/V2\",action=\"{action}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert!(total(&text, "natgw_reconciles_total") >= 3.0, "submit, poll, finish at least:\n{text}");
    assert!(sample(&text, "natgw_reconciles_total{outcome=\"ready\"}") >= 1.0, "{text}");
    assert!(sample(&text, "natgw_reconcile_duration_seconds_count") >= 3.0, "{text}");
    assert!(v2("describe", "ok") >= 3.0, "{text}");
    assert_eq!(v2("resize", "ok"), 1.0, "one resize call for one order:\n{text}");
    assert!(v2("order_status", "ok") >= 1.0, "the bill was polled:\n{text}");
    assert_eq!(
        sample(&text, "natgw_cloud_call_duration_seconds_count{provider=\"tencent/V2\",action=\"resize\"}"),
        1.0,
        "{text}"
    );
    let orders = |phase: &str| {
        sample(&text, &format!("natgw_orders_total{{provider=\"tencent/V2\",action=\"resize\",phase=\"{phase}\"}}"))
    };
    assert_eq!((orders("submitted"), orders("succeeded"), orders("failed")), (1.0, 1.0, 0.0), "{text}");
    assert_eq!(total(&text, "natgw_cloud_throttled_total"), 0.0, "{text}");
    assert_eq!(sample(&text, "natgw_leader"), 1.0, "without election the only replica leads:\n{text}");
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(get(&base, "/readyz").await.map(|r| r.0), Some(200));
    assert_eq!(done.status.unwrap().observed.unwrap().max_concurrent_connections, Some(3_000_000));
}
