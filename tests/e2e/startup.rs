//! Start-up on a cluster without the CRD: the operator says how to install it and exits.

use natgw_testenv::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_crd_is_explained_with_the_fix() {
    let env = TestEnv::start().await.unwrap_or_else(|e| panic!("{e}"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_natgw-operator"))
        .args(["run", "--leader-election=false", "--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the operator must not run without its CRD:\n{log}");
    assert!(log.contains("the NatGateway CRD is not installed"), "{log}");
    assert!(log.contains("kubectl apply -f crds/natgateway.yaml"), "{log}");
}
