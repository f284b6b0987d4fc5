//! `natgw-operator import` (the binary, as a platform team runs it) against the simulators with
//! hundreds of gateways: the manifests it prints carry each gateway's size and billing, pass the
//! CRD's admission on the real API server, and cost list calls only (pages of 100 / 2,000). The
//! credentials come from the environment (Tencent) or a Secret through the kubeconfig (Huawei),
//! and never show in what it prints.

use crate::support;

use std::{collections::HashMap, process::Output, time::Duration};

use natgw_operator::api::{BillingMode, ManagementPolicy, NatGateway};
use natgw_sim::{
    huawei::{HuaweiSim, SeedGateway},
    server::SimTls,
    tencent::{SimGateway, TencentSim},
};
use serde_json::json;
use support::{Cluster, huawei_gateway, huawei_https_config, tencent_https_config};

const TC_ID: &str = "AKIDimportfleet";
const TC_KEY: &str = "import-tencent-secret-key";
const HW_AK: &str = "HWAKIMPORTFLEET";
const HW_SK: &str = "import-huawei-secret-key";
const PROJECT: &str = "proj-import";

fn import(cluster: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_natgw-operator"))
        .arg("import")
        .args(args)
        .env_clear()
        .env("KUBECONFIG", &cluster.env.kubeconfig)
        .envs(env.iter().copied())
        .output()
        .expect("natgw-operator runs")
}

/// stdout parsed as NatGateways; stderr, which holds the summary. Neither shows a secret.
fn parse(out: &Output, secrets: &[&str]) -> (Vec<NatGateway>, String) {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "import failed: {stderr}");
    for secret in secrets {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "a credential was printed");
    }
    let manifests = support::yaml_documents(&stdout).into_iter().map(|d| serde_json::from_value(d).unwrap()).collect();
    (manifests, stderr)
}

/// Applies `yaml` server-side in the test's namespace: the CRD's admission accepts it.
fn apply(cluster: &Cluster, yaml: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, yaml).unwrap();
    cluster.kubectl(&["apply", "--server-side", "-f", file.to_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_becomes_observed_manifests_with_list_calls_only() {
    let cluster = Cluster::start("import").await;
    let ns = cluster.namespace.clone();
    let tls = SimTls::generate(None).unwrap();
    let ca = tls.ca_pem_path().to_str().unwrap().to_owned();

    // Tencent: 250 gateways, 3 sizes, 2 VPCs; the environment's keys.
    let sizes = [1_000_000, 3_000_000, 10_000_000];
    let tc = TencentSim::start(tencent_https_config(TC_ID, TC_KEY, Duration::from_secs(1), &tls)).await.unwrap();
    let mut seeded = HashMap::new();
    for i in 0..250 {
        let (id, vpc) = (format!("nat-fleet{i:03}"), if i % 5 == 0 { "vpc-b" } else { "vpc-a" });
        tc.seed_gateway(SimGateway::new(&id, vpc, sizes[i % 3]));
        seeded.insert(id, (vpc, ["Small", "Medium", "Large"][i % 3]));
    }
    let endpoint = tc.https_url.clone().unwrap();
    let common = ["--extra-ca", &ca, "--allow-private-endpoints", "--endpoint", &endpoint, "--region", "ap-guangzhou"];
    let env = [("TENCENTCLOUD_SECRET_ID", TC_ID), ("TENCENTCLOUD_SECRET_KEY", TC_KEY)];
    let mut args = vec!["--cloud", "tencent", "--namespace", &ns, "--secret-name", "tencent"];
    args.extend(common);
    let out = import(&cluster, &args, &env);
    let (manifests, summary) = parse(&out, &[TC_KEY]);
    println!("[import] tencent: {}", summary.trim());
    assert_eq!(manifests.len(), 250);
    for m in &manifests {
        let (vpc, size) = seeded[&m.spec.gateway_id];
        let t = m.spec.provider.tencent.as_ref().unwrap();
        assert_eq!((t.vpc_id.as_deref(), m.spec.size.to_string().as_str()), (Some(vpc), size), "{}", m.spec.gateway_id);
        assert_eq!(m.spec.management_policy, ManagementPolicy::Observe);
        assert_eq!(m.spec.credentials_secret_ref.as_ref().unwrap().name, "tencent");
        assert_eq!(m.spec.endpoint.as_deref(), Some(endpoint.as_str()));
    }
    let calls: Vec<String> = tc.requests().into_iter().map(|r| format!("{} {}", r.action, r.outcome)).collect();
    assert_eq!(calls, ["DescribeNatGateways ok"; 3], "one call per 100 gateways");
    assert!(summary.contains("250 manifests, 0 skipped, 3 list calls"), "{summary}");
    apply(&cluster, &out.stdout);
    assert_eq!(cluster.natgws().list(&Default::default()).await.unwrap().items.len(), 250);

    // One VPC: the filter is the cloud's, not a client-side one.
    let mut args = vec!["--cloud", "tencent", "--namespace", &ns, "--secret-name", "tencent", "--vpc-id", "vpc-b"];
    args.extend(common);
    let (manifests, _) = parse(&import(&cluster, &args, &env), &[TC_KEY]);
    assert_eq!(manifests.len(), 50);
    assert_eq!(tc.requests().len(), 4);

    // Refusals a person can act on: no keys, or the wrong ones (and still no secret printed).
    let mut args = vec!["--cloud", "tencent", "--secret-name", "tencent"];
    args.extend(common);
    let out = import(&cluster, &args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY"),
        "{stderr}"
    );
    let out =
        import(&cluster, &args, &[("TENCENTCLOUD_SECRET_ID", TC_ID), ("TENCENTCLOUD_SECRET_KEY", "wrong-key-value")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("cannot list the gateways"), "{stderr}");
    assert!(!stderr.contains("wrong-key-value"), "{stderr}");

    // Huawei: 2,300 gateways (two pages of up to 2,000), some yearly/monthly; the keys from a
    // Secret read through the kubeconfig, the project looked up from the region.
    let hw = HuaweiSim::start(huawei_https_config(HW_AK, HW_SK, PROJECT, Duration::from_secs(1), &tls)).await.unwrap();
    for i in 0..2300 {
        let id = format!("hw-fleet-{i:04}");
        let seed = SeedGateway {
            billing: if i % 7 == 0 { BillingMode::Prepaid } else { BillingMode::PayPerUse },
            ..huawei_gateway(&id, PROJECT, ["1", "2", "3", "4", "5"][i % 5])
        };
        hw.seed_gateway(seed);
    }
    cluster.create_secret("huawei", json!({"accessKey": HW_AK, "secretKey": HW_SK})).await;
    let endpoint = hw.https_url.clone().unwrap();
    let secret = format!("{ns}/huawei");
    let args = [
        "--cloud",
        "huawei",
        "--region",
        "cn-north-4",
        "--credentials-secret",
        &secret,
        "--endpoint",
        &endpoint,
        "--extra-ca",
        &ca,
        "--allow-private-endpoints",
    ];
    let out = import(&cluster, &args, &[]);
    let (manifests, summary) = parse(&out, &[HW_SK]);
    println!("[import] huawei: {}", summary.trim());
    assert_eq!(manifests.len(), 2300);
    let prepaid: Vec<&NatGateway> =
        manifests.iter().filter(|m| m.spec.billing.as_ref().is_some_and(|b| b.mode == BillingMode::Prepaid)).collect();
    assert_eq!(prepaid.len(), 2300_usize.div_ceil(7));
    assert!(prepaid.iter().all(|m| !m.spec.billing.as_ref().unwrap().prepaid.as_ref().unwrap().auto_pay));
    let enterprise = manifests.iter().filter(|m| m.spec.size.to_string() == "Enterprise").count();
    assert_eq!(enterprise, 460);
    assert!(manifests.iter().all(|m| m.metadata.namespace.as_deref() == Some(ns.as_str())));
    let calls: Vec<String> = hw.core().ledger.requests().into_iter().map(|r| r.action).collect();
    // The yearly/monthly gateways' renewal: BSS's subscription query, 100 a page (329 of them).
    let bss = ["ListPayPerUseCustomerResources"; 4];
    assert_eq!(calls, [&["KeystoneListProjects", "ListNatGateways", "ListNatGateways"][..], &bss].concat());
    assert!(summary.contains("2300 manifests, 0 skipped, 2 list calls"), "{summary}");
    // The first 300 documents (every size, both billing modes) pass admission too.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first: String = stdout.split_inclusive("---\n").take(301).collect::<String>();
    apply(&cluster, first.trim_end_matches("---\n").as_bytes());
    assert_eq!(cluster.natgws().list(&Default::default()).await.unwrap().items.len(), 550);
}
