//! deploy/monitoring/ checked by Prometheus' own promtool (crates/testenv/go/promtool, built and
//! cached by crates/testenv/build.sh): the PrometheusRule's groups pass `promtool check rules`,
//! every alert fires and stays silent as tests.yaml says under `promtool test rules`, the
//! dashboard's queries parse as PromQL. tests/e2e/monitoring.rs renders the kustomization and
//! checks that the operator exports every metric they name.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value, json};

fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring")
}

fn yaml_file(name: &str) -> Value {
    let text = std::fs::read_to_string(monitoring_dir().join(name)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The PrometheusRule's `spec`: a plain rules file, as promtool reads one.
fn rule_groups() -> Value {
    let rule = yaml_file("prometheusrule.yaml");
    assert_eq!(
        (rule["apiVersion"].as_str(), rule["kind"].as_str()),
        (Some("monitoring.coreos.com/v1"), Some("PrometheusRule"))
    );
    rule["spec"].clone()
}

fn alerts(groups: &Value) -> Vec<&Value> {
    groups["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect()
}

/// Runs promtool with `args` in `dir`; its output when it succeeds, a failure with it otherwise.
fn promtool(dir: &Path, args: &[&str]) -> String {
    let promtool = natgw_testenv::tool("promtool").unwrap();
    let out = Command::new(&promtool).args(args).current_dir(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn write_yaml(dir: &Path, name: &str, value: &Value) {
    std::fs::write(dir.join(name), serde_yaml::to_string(value).unwrap()).unwrap();
}

#[test]
fn rules_pass_promtool_check_and_say_what_to_do() {
    let groups = rule_groups();
    let dir = tempfile::tempdir().unwrap();
    write_yaml(dir.path(), "rules.yaml", &groups);
    let out = promtool(dir.path(), &["check", "rules", "rules.yaml"]);
    let alerts = alerts(&groups);
    assert!(out.contains(&format!("SUCCESS: {} rules found", alerts.len())), "{out}");
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/monitoring.md")).unwrap();
    for alert in alerts {
        let name = alert["alert"].as_str().expect("only alerting rules");
        assert!(page.contains(&format!("| `{name}` |")), "docs/monitoring.md's alerts table explains {name}");
        let severity = alert["labels"]["severity"].as_str();
        assert!(matches!(severity, Some("warning" | "critical")), "{name}: severity {severity:?}");
        for annotation in ["summary", "description"] {
            let text = alert["annotations"][annotation].as_str().unwrap_or_default();
            assert!(text.len() > 20, "{name} needs a {annotation} that says what to do: {text:?}");
        }
    }
}

/// tests.yaml's expectations hold the summary only: descriptions are prose, and their templates
/// were parsed by `promtool check rules` above.
#[test]
fn every_alert_fires_and_has_a_near_miss_under_promtool_test() {
    let mut groups = rule_groups();
    for group in groups["groups"].as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            rule["annotations"].as_object_mut().unwrap().remove("description");
        }
    }
    let tests = yaml_file("tests.yaml");
    assert_eq!(tests["rule_files"], json!(["rules.yaml"]));
    let (mut fires, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for case in tests["tests"].as_array().unwrap().iter().flat_map(|t| t["alert_rule_test"].as_array().unwrap()) {
        let name = case["alertname"].as_str().unwrap();
        match case["exp_alerts"].as_array().map_or(0, Vec::len) {
            0 => silent.insert(name),
            _ => fires.insert(name),
        };
    }
    let names: BTreeSet<&str> = alerts(&groups).iter().map(|a| a["alert"].as_str().unwrap()).collect();
    assert_eq!(fires, names, "every alert fires in some case of tests.yaml, and only those");
    assert_eq!(silent, names, "every alert stays silent in a near miss of tests.yaml");

    let dir = tempfile::tempdir().unwrap();
    write_yaml(dir.path(), "rules.yaml", &groups);
    std::fs::copy(monitoring_dir().join("tests.yaml"), dir.path().join("tests.yaml")).unwrap();
    let out = promtool(dir.path(), &["test", "rules", "tests.yaml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// The dashboard's panels read the data source variable, and their queries are PromQL that
/// promtool accepts (as recording rules, with Grafana's `$__rate_interval` filled in).
#[test]
fn dashboard_queries_parse_and_use_the_datasource_variable() {
    let text = std::fs::read_to_string(monitoring_dir().join("dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"),
        "{variables:?}"
    );
    let datasource = json!({"type": "prometheus", "uid": "${datasource}"});
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap();
        assert_eq!(panel["datasource"], datasource, "{title}");
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty()).unwrap_or_else(|| panic!("{title}"));
        for target in targets {
            assert_eq!(target["datasource"], datasource, "{title}");
            exprs.push(target["expr"].as_str().unwrap().replace("$__rate_interval", "5m"));
        }
    }
    let rules: Vec<Value> =
        exprs.iter().enumerate().map(|(i, e)| json!({"record": format!("dashboard:query_{i}"), "expr": e})).collect();
    let dir = tempfile::tempdir().unwrap();
    write_yaml(dir.path(), "dashboard.yaml", &json!({"groups": [{"name": "dashboard", "rules": rules}]}));
    let out = promtool(dir.path(), &["check", "rules", "dashboard.yaml"]);
    assert!(out.contains(&format!("SUCCESS: {} rules found", exprs.len())), "{out}");
}
