//! The committed CRD is exactly what the code generates.

#[test]
fn committed_crd_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/natgateway.yaml")).unwrap();
    assert!(
        committed == natgw_operator::crd_yaml(),
        "crds/natgateway.yaml is stale: regenerate it with `cargo run -- crd > crds/natgateway.yaml`, then copy it to deploy/crd/ and charts/natgw-operator/crds/ (tests/e2e/deploy.rs checks the copies)"
    );
}

#[test]
fn the_binary_prints_the_same_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natgw-operator")).arg("crd").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), natgw_operator::crd_yaml());
}
