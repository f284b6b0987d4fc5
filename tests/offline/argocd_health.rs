//! The Argo CD health check (deploy/argocd/health.lua) run by Argo CD's own engine: `argocd-health`
//! (crates/testenv/go/argocd-health, built and cached by crates/testenv/build.sh) loads it from
//! deploy/argocd/argocd-cm-patch.yaml the way Argo CD reads argocd-cm, and runs every case of
//! health_test.yaml (the format of Argo CD's own resource_customizations tests) through Argo CD's
//! util/lua VM — gopher-lua with only the libraries Argo CD opens for a user script (base, table,
//! package and a safe `os`; no `string`, `math` or `io` unless useOpenLibs says so).

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    process::Command,
};

use natgw_operator::plan::Reason;
use serde::Deserialize;
use serde_json::Value;

fn argocd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd")
}

#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<HealthTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthTest {
    health_status: HealthStatus,
    input_path: String,
}

#[derive(Deserialize, Debug, PartialEq)]
struct HealthStatus {
    status: String,
    message: String,
}

/// What Argo CD's engine made of one case: its health, or the error Argo CD would show.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    input_path: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error: String,
}

fn load_tests() -> Vec<HealthTest> {
    let text = std::fs::read_to_string(argocd_dir().join("health_test.yaml")).unwrap();
    serde_yaml::from_str::<HealthTests>(&text).expect("health_test.yaml parses").tests
}

fn load_object(input_path: &str) -> Value {
    let text = std::fs::read_to_string(argocd_dir().join(input_path)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{input_path}: {e}"))
}

/// Every case of `tests` (a health_test.yaml) through Argo CD's engine with argocd-cm-patch.yaml.
fn run_argocd(tests: &Path) -> HashMap<String, Outcome> {
    let bin =
        natgw_testenv::tool("argocd-health").unwrap_or_else(|e| panic!("{e}; run `bash crates/testenv/build.sh`"));
    let out = Command::new(bin)
        .arg(argocd_dir().join("argocd-cm-patch.yaml"))
        .arg(tests)
        .output()
        .expect("argocd-health runs");
    assert!(out.status.success(), "argocd-health failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Outcome>()
        .map(|o| o.expect("argocd-health prints JSON lines"))
        .map(|o| (o.input_path.clone(), o))
        .collect()
}

#[test]
fn health_script_passes_every_case_of_health_test_yaml() {
    let tests = load_tests();
    assert!(!tests.is_empty());
    let outcomes = run_argocd(&argocd_dir().join("health_test.yaml"));
    let mut failures = Vec::new();
    for t in &tests {
        let got = &outcomes[&t.input_path];
        let health = HealthStatus { status: got.status.clone(), message: got.message.clone() };
        if !got.error.is_empty() || health != t.health_status {
            failures.push(format!("{}: expected {:?}, got {got:?}", t.input_path, t.health_status));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), tests.len(), failures.join("\n"));
}

/// Every reason the operator can write has a case, so a new mapping decision is never implicit.
/// The lists mirror src/controller and src/plan; each name must still occur there as a string, so
/// a renamed reason fails here instead of silently falling through to "Progressing".
#[test]
fn health_tests_cover_every_condition_reason() {
    const READY: &[&str] = &[
        "InSync",
        "DriftDetected",
        "OrderInProgress",
        "OrderSubmitting",
        "OrderSucceeded",
        "GatewayTransitioning",
        "AwaitingPayment",
        "Paused",
    ];
    const STALLED: &[&str] = &[
        "SecretNotFound",
        "ServiceAccountNotFound",
        "CredentialsInvalid",
        "GatewayNotFound",
        "GatewayUnavailable",
        "UnsupportedSize",
        "UnsupportedChange",
        "OrderFailed",
        "InvalidRequest",
        "InsufficientFunds",
    ];
    // Reconciling=True with Ready left as it was.
    const RETRYING: &[&str] = &["Throttled", "CloudUnavailable", "GatewayBusy"];

    for reason in READY.iter().chain(STALLED).chain(RETRYING) {
        assert!(Reason::ALL.iter().any(|r| r.as_str() == *reason), "the operator no longer has the reason {reason}");
    }

    let (mut ready, mut stalled, mut retrying) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let (mut deleting, mut behind) = (false, false);
    for t in load_tests() {
        let obj = load_object(&t.input_path);
        deleting |= obj["metadata"]["deletionTimestamp"].is_string();
        behind |= obj["status"].is_object() && obj["status"]["observedGeneration"] != obj["metadata"]["generation"];
        let conditions = obj["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let find = |t: &str| conditions.iter().find(|c| c["type"] == t).cloned().unwrap_or_default();
        let (r, rec, st) = (find("Ready"), find("Reconciling"), find("Stalled"));
        if st["status"] == "True" {
            stalled.insert(st["reason"].as_str().unwrap().to_owned());
        } else if rec["status"] == "True" && RETRYING.iter().any(|x| rec["reason"] == *x) {
            retrying.insert(rec["reason"].as_str().unwrap().to_owned());
        } else if let Some(reason) = r["reason"].as_str() {
            ready.insert(reason.to_owned());
        }
    }
    let missing = |want: &[&str], have: &BTreeSet<String>| -> Vec<String> {
        want.iter().filter(|r| !have.contains(**r)).map(|r| r.to_string()).collect()
    };
    assert_eq!(missing(READY, &ready), Vec::<String>::new(), "Ready reasons without a case");
    assert_eq!(missing(STALLED, &stalled), Vec::<String>::new(), "Stalled reasons without a case");
    assert_eq!(missing(RETRYING, &retrying), Vec::<String>::new(), "retry reasons without a case");
    assert!(deleting, "no case for an object being deleted");
    assert!(behind, "no case for status.observedGeneration behind metadata.generation");
}

/// The argocd-cm patch users apply must carry the tested script, not an older copy.
#[test]
fn argocd_cm_patch_embeds_health_lua_byte_for_byte() {
    let dir = argocd_dir();
    let patch: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("argocd-cm-patch.yaml")).unwrap()).unwrap();
    assert_eq!((patch["kind"].as_str(), patch["metadata"]["name"].as_str()), (Some("ConfigMap"), Some("argocd-cm")));
    let embedded = patch["data"]["resource.customizations.health.natgw.io_NatGateway"]
        .as_str()
        .expect("the argocd-cm key resource.customizations.health.natgw.io_NatGateway");
    let script = std::fs::read_to_string(dir.join("health.lua")).unwrap();
    assert!(
        embedded == script,
        "argocd-cm-patch.yaml's script differs from health.lua; paste health.lua into it again (indented 4 spaces)"
    );
}

/// Text passes through Argo CD's engine unchanged (quotes, backslashes, newlines, non-ASCII), and
/// an object of another kind gets no health from this check.
#[test]
fn messages_pass_through_argocd_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let obj = serde_json::json!({
        "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway",
        "metadata": {"name": "x", "generation": 2},
        "status": {"observedGeneration": 2, "conditions": [
            {"type": "Stalled", "status": "True", "reason": "X", "message": "quote \" backslash \\ newline\n tab\t é"}
        ]}
    });
    let other = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}});
    std::fs::write(dir.path().join("obj.yaml"), serde_yaml::to_string(&obj).unwrap()).unwrap();
    std::fs::write(dir.path().join("other.yaml"), serde_yaml::to_string(&other).unwrap()).unwrap();
    let cases = "tests:\n- {healthStatus: {status: Degraded, message: m}, inputPath: obj.yaml}\n- {healthStatus: {status: Healthy, message: m}, inputPath: other.yaml}\n";
    std::fs::write(dir.path().join("health_test.yaml"), cases).unwrap();
    let outcomes = run_argocd(&dir.path().join("health_test.yaml"));
    let got = &outcomes["obj.yaml"];
    assert_eq!((got.status.as_str(), got.message.as_str()), ("Degraded", "quote \" backslash \\ newline\n tab\t é"));
    assert!(outcomes["other.yaml"].error.contains("no health check"), "{:?}", outcomes["other.yaml"]);
}
