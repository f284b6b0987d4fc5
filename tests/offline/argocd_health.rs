//! The Argo CD health check (deploy/argocd/health.lua) run by a real Lua 5.1 interpreter (Argo CD
//! runs gopher-lua, a Lua 5.1) against every case of health_test.yaml, in the format of Argo CD's
//! own resource_customizations tests. Lua 5.1 cannot read YAML, so each test object is converted
//! to a Lua table literal here and set as the global `obj`, as Argo CD does.

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use natgw_operator::plan::Reason;
use serde::Deserialize;
use serde_json::Value;

const LUA: &str = "lua5.1";

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

fn load_tests() -> Vec<HealthTest> {
    let text = std::fs::read_to_string(argocd_dir().join("health_test.yaml")).unwrap();
    serde_yaml::from_str::<HealthTests>(&text).expect("health_test.yaml parses").tests
}

fn load_object(input_path: &str) -> Value {
    let text = std::fs::read_to_string(argocd_dir().join(input_path)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{input_path}: {e}"))
}

/// A Lua string literal: printable ASCII as is, everything else as a `\ddd` byte escape (Lua 5.1
/// strings are bytes, and `\ddd` is the only escape for arbitrary bytes that 5.1 has).
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// JSON as Argo CD hands it to Lua: objects and arrays become tables (arrays 1-based), and null
/// becomes nil, i.e. the key is absent.
fn lua_value(v: &Value) -> String {
    match v {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        // Lua 5.1 numbers are doubles, like gopher-lua's.
        Value::Number(n) => n.as_f64().map(|f| format!("{f:?}")).unwrap_or_else(|| n.to_string()),
        Value::String(s) => lua_string(s),
        Value::Array(items) => format!("{{{}}}", items.iter().map(lua_value).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs health.lua on `obj` and returns (status, message).
fn run_health(obj: &Value) -> HealthStatus {
    let script = argocd_dir().join("health.lua");
    // health.lua ends with `return hs`, as Argo CD requires; dofile passes that value on.
    let program = format!(
        "obj = {}\nlocal hs = dofile({})\nio.write(tostring(hs.status), \"\\n\", tostring(hs.message))\n",
        lua_value(obj),
        lua_string(script.to_str().unwrap())
    );
    let mut child = match Command::new(LUA)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot run {LUA} ({e}); it runs the Argo CD health check in Argo CD's Lua dialect. Install it: `apt-get update && apt-get install -y lua5.1` (or run scripts/setup.sh)"
        ),
    };
    child.stdin.take().unwrap().write_all(program.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "health.lua failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, message) = text.split_once('\n').unwrap_or_else(|| panic!("unexpected output {text:?}"));
    HealthStatus { status: status.to_owned(), message: message.to_owned() }
}

#[test]
fn health_script_passes_every_case_of_health_test_yaml() {
    let tests = load_tests();
    assert!(!tests.is_empty());
    let mut failures = Vec::new();
    for t in &tests {
        let got = run_health(&load_object(&t.input_path));
        if got != t.health_status {
            failures.push(format!("{}: expected {:?}, got {:?}", t.input_path, t.health_status, got));
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

/// The converter itself: escapes survive a round trip through the real interpreter.
#[test]
fn lua_literals_round_trip_through_lua() {
    let obj = serde_json::json!({
        "metadata": {"generation": 2, "deletionTimestamp": null},
        "status": {"observedGeneration": 2, "conditions": [
            {"type": "Stalled", "status": "True", "reason": "X", "message": "quote \" backslash \\ newline\n tab\t é"}
        ]}
    });
    let got = run_health(&obj);
    assert_eq!(got.status, "Degraded");
    assert_eq!(got.message, "quote \" backslash \\ newline\n tab\t é");
}
