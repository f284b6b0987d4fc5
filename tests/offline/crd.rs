//! The committed CRD is exactly what the code generates.

#[test]
fn committed_crd_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/natgateway.yaml")).unwrap();
    assert!(
        committed == natgw_operator::crd_yaml(),
        "crds/natgateway.yaml is stale: regenerate it and its copies with `cargo run -- crd` (tests/e2e/deploy.rs checks the copies)"
    );
}

#[test]
fn the_binary_prints_the_same_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natgw-operator")).arg("crd").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), natgw_operator::crd_yaml());
}

/// The committed CRD refuses, per built-in cloud API, exactly the sizes and billing modes its
/// profile lacks: each rule admits the listed values of the spec that API's condition selects.
#[test]
fn committed_crd_admits_per_cloud_exactly_what_each_profile_takes() {
    use natgw_operator::{
        api::{BillingMode, Size},
        cloud::Registry,
    };
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/natgateway.yaml")).unwrap();
    let crd: serde_json::Value = serde_yaml::from_str(&committed).unwrap();
    let rules =
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();
    // What the rule for `condition` on `field` lets through; every value when there is no rule.
    let admitted = |condition: &str, field: &str, all: Vec<String>| -> Vec<String> {
        let prefix = format!("!({condition}) || ");
        let Some(rule) = rules.iter().find(|r| r.starts_with(&prefix) && r.contains(&format!("{field} in ["))) else {
            return all;
        };
        let list = &rule[rule.find('[').unwrap() + 1..rule.rfind(']').unwrap()];
        list.split(", ").map(|v| v.trim_matches('\'').to_owned()).collect()
    };
    let admission = Registry::builtin().admission();
    assert_eq!(admission.len(), 3, "tencent/V2, tencent/V3, huawei");
    for (condition, profile) in admission {
        let sizes: Vec<String> = profile.offered_sizes().map(|s| s.to_string()).collect();
        let all_sizes = Size::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(admitted(condition, "self.size", all_sizes), sizes, "{profile:?}");
        let modes: Vec<String> = profile.billing_modes.iter().map(|m| m.to_string()).collect();
        let all_modes = BillingMode::ALL.iter().map(|m| m.to_string()).collect();
        assert_eq!(admitted(condition, "self.billing.mode", all_modes), modes, "{profile:?}");
    }
}
