//! deploy/monitoring/ against the real operator: two replicas with leader election, one resource
//! with an order open and one Stalled; every metric a rule or a dashboard panel names is one the
//! leader's /metrics exports, the gauges over its cache have samples, the standby exports none of
//! them, and docs/monitoring.md lists every family the leader exports. And
//! `kubectl apply -k deploy/monitoring/` renders the rule, a ServiceMonitor that selects the
//! metrics Service of deploy/ and the dashboard's ConfigMap. (The rules' behaviour is tested by
//! promtool in tests/offline/monitoring.rs.)

use std::{collections::BTreeSet, path::Path, time::Duration};

use natgw_operator::api::OrderPhase;
use natgw_testkit::{Cluster, condition, free_port, sample, tencent_keys, tencent_sim, tencent_spec};
use serde_json::Value;

const ID: &str = "AKIDe2emonitoring";
const KEY: &str = "e2e-monitoring-secret-key";

/// The families computed from the leader's cache.
const CACHE_FAMILIES: [&str; 3] =
    ["natgw_resources", "natgw_stalled_resources", "natgw_order_started_timestamp_seconds"];

fn monitoring_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring").join(name)).unwrap()
}

/// Every `expr` of a rule file or a dashboard, at any depth.
fn exprs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(e)) => found.push(e.clone()),
                    _ => exprs(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, found)),
        _ => {}
    }
}

/// The operator's metric names a PromQL expression reads.
fn metric_names(expr: &str) -> impl Iterator<Item = &str> {
    expr.match_indices("natgw_").map(|(at, _)| {
        let rest = &expr[at..];
        &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())]
    })
}

/// The sample names a /metrics text can have: each family's (from `# TYPE`, so a family with no
/// samples yet counts) and each sample line's.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|l| l.split_once(' ')) {
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') {
            names.extend(line.split(['{', ' ']).next().filter(|n| !n.is_empty()).map(str::to_owned));
        }
    }
    names
}

async fn scrape(base: &str) -> Option<String> {
    reqwest::get(format!("{base}/metrics")).await.ok()?.text().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_dashboard_name_only_exported_metrics() {
    let cluster = Cluster::start("monitoring").await;
    // Ten minutes per change: the order stays open for the whole test.
    let sim = tencent_sim(ID, KEY, Duration::from_secs(600), "nat-monitoring").await;
    let log = cluster.path("operator.log");
    let replicas: Vec<(String, natgw_testkit::Operator)> = ["replica-a", "replica-b"]
        .into_iter()
        .map(|name| {
            let addr = format!("127.0.0.1:{}", free_port());
            let args = ["--leader-election", "--lease-namespace", &cluster.namespace, "--metrics-addr", &addr];
            let env = [("POD_NAME", name), ("NATGW_ALLOWED_ENDPOINTS", sim.http_url.as_str())];
            (format!("http://{addr}"), cluster.operator(&args, &env, &log))
        })
        .collect();

    cluster.create_secret("tencent", tencent_keys(ID, KEY)).await;
    cluster
        .create_natgw("ordering", tencent_spec("nat-monitoring", Some("V2"), "Medium", "tencent", Some(&sim.http_url)))
        .await;
    cluster
        .create_natgw("stalled", tencent_spec("nat-other", Some("V2"), "Medium", "missing", Some(&sim.http_url)))
        .await;
    let ordering = cluster
        .wait_for("ordering", Duration::from_secs(60), |o| {
            o.status.as_ref().and_then(|s| s.order.as_ref()).is_some_and(|o| o.phase == OrderPhase::InProgress)
        })
        .await;
    cluster
        .wait_for("stalled", Duration::from_secs(60), |o| {
            condition(o, "Stalled") == Some(("True".into(), "SecretNotFound".into()))
        })
        .await;

    let mut texts = Vec::new();
    for (base, _) in &replicas {
        texts.push(scrape(base).await.expect("/metrics answers"));
    }
    let leading: Vec<f64> = texts.iter().map(|t| sample(t, "natgw_leader")).collect();
    let (leader, standby) = match leading.as_slice() {
        [1.0, 0.0] => (&texts[0], &texts[1]),
        [0.0, 1.0] => (&texts[1], &texts[0]),
        other => panic!("one leader and one standby, not {other:?}:\n{texts:#?}"),
    };
    println!("{leader}");

    let ns = &cluster.namespace;
    let submitted = ordering.status.unwrap().order.unwrap().submitted_at.0.as_second() as f64;
    let order = format!(
        "natgw_order_started_timestamp_seconds{{natgateway_namespace=\"{ns}\",natgateway=\"ordering\",provider=\"tencent/V2\",action=\"resize\",phase=\"in_progress\"}}"
    );
    assert_eq!(sample(leader, &order), submitted, "{leader}");
    assert_eq!(sample(leader, "natgw_stalled_resources{reason=\"SecretNotFound\"}"), 1.0, "{leader}");
    assert_eq!(sample(leader, "natgw_resources{condition=\"Stalled\",status=\"True\"}"), 1.0, "{leader}");
    assert_eq!(sample(leader, "natgw_resources{condition=\"Reconciling\",status=\"True\"}"), 1.0, "{leader}");
    for family in CACHE_FAMILIES {
        assert!(!standby.contains(family), "the standby has no cache, so no {family}:\n{standby}");
    }

    let mut used = Vec::new();
    exprs(&serde_yaml::from_str(&monitoring_file("prometheusrule.yaml")).unwrap(), &mut used);
    let rule_count = used.len();
    exprs(&serde_json::from_str(&monitoring_file("dashboard.json")).unwrap(), &mut used);
    assert!(rule_count >= 8 && used.len() > rule_count, "{used:#?}");
    let names: BTreeSet<&str> = used.iter().flat_map(|e| metric_names(e)).collect();
    for family in CACHE_FAMILIES.into_iter().chain(["natgw_leader", "natgw_cloud_throttled_total"]) {
        assert!(names.contains(family), "the rules or the dashboard read {family}: {names:?}");
    }
    let exported = exported(leader);
    let unknown: Vec<&&str> = names.iter().filter(|n| !exported.contains(**n)).collect();
    assert!(unknown.is_empty(), "rules and dashboard name metrics the operator does not export: {unknown:?}\n{leader}");
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/monitoring.md")).unwrap();
    let undocumented: Vec<String> = leader
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .map(|(name, kind)| if kind == "counter" { format!("{name}_total") } else { name.to_owned() })
        .filter(|name| !page.contains(&format!("`{name}`")))
        .collect();
    assert!(undocumented.is_empty(), "metrics missing from docs/monitoring.md: {undocumented:?}");
    assert_eq!(sim.orders().len(), 1, "{:?}", sim.orders());
}

/// `kubectl apply -k deploy/monitoring/` applies the rule, a ServiceMonitor that selects the
/// metrics Service deploy/ installs, and the dashboard as a ConfigMap Grafana's sidecar loads.
#[tokio::test]
async fn kustomization_renders_the_rule_the_scrape_and_the_dashboard() {
    let cluster = Cluster::start("monitoring-kustomize").await;
    let objects = cluster.kustomize("deploy/monitoring");
    let kinds: BTreeSet<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["ConfigMap", "PrometheusRule", "ServiceMonitor"]));
    assert!(objects.iter().all(|o| o["metadata"]["namespace"] == "natgw-system"), "{objects:?}");
    let of = |kind: &str| objects.iter().find(|o| o["kind"] == kind).unwrap();
    let rule: Value = serde_yaml::from_str(&monitoring_file("prometheusrule.yaml")).unwrap();
    assert_eq!(of("PrometheusRule")["spec"], rule["spec"]);
    let dashboard = of("ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(dashboard["data"]["dashboard.json"].as_str(), Some(monitoring_file("dashboard.json").as_str()));

    let monitor = &of("ServiceMonitor")["spec"];
    let install = cluster.kustomize("deploy");
    let service = install.iter().find(|o| o["kind"] == "Service").expect("deploy/ installs a metrics Service");
    assert_eq!(service["metadata"]["namespace"], "natgw-system");
    for (key, value) in monitor["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&service["metadata"]["labels"][key], value, "the ServiceMonitor selects {key}");
    }
    let port = monitor["endpoints"][0]["port"].as_str().unwrap();
    assert!(service["spec"]["ports"].as_array().unwrap().iter().any(|p| p["name"] == port), "{service}");
}
