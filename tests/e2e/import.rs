//! `natgw-operator import` (the binary, as a platform team runs it) against the simulators with
//! hundreds of gateways: the manifests it prints carry each gateway's size and billing, pass the
//! CRD's admission on the real API server, and cost list calls only (pages of 100 / 2,000). The
//! credentials come from the environment (Tencent) or a Secret through the kubeconfig (Huawei),
//! and never show in what it prints. What the cluster already holds is never overwritten: a
//! gateway a NatGateway declares gets no manifest, a taken name a free one, and `kubectl create`
//! of the output changes no existing object.

use std::{collections::HashMap, path::Path, process::Output, time::Duration};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
};
use natgw_operator::api::{BillingMode, ManagementPolicy, NatGateway};
use natgw_sim::{
    huawei::{HuaweiSim, SeedGateway},
    server::SimTls,
    tencent::{SimGateway, TencentSim},
};
use natgw_testkit::{Cluster, huawei_gateway, huawei_https_config, tencent_https_config, tencent_spec};
use serde_json::json;

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
    let manifests =
        natgw_testkit::yaml_documents(&stdout).into_iter().map(|d| serde_json::from_value(d).unwrap()).collect();
    (manifests, stderr)
}

/// Creates `yaml` in the test's namespace with `kubectl create -f`, as docs/migration.md says (it
/// refuses to overwrite): the CRD's admission accepts it.
fn create(cluster: &Cluster, yaml: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, yaml).unwrap();
    cluster.kubectl(&["create", "-f", file.to_str().unwrap()]);
}

/// stderr of an import that failed.
fn failed(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "import succeeded: {stderr}");
    stderr
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
        let t = m.spec.provider.tencent().unwrap();
        assert_eq!((t.vpc_id.as_deref(), m.spec.size.to_string().as_str()), (Some(vpc), size), "{}", m.spec.gateway_id);
        assert_eq!(m.spec.management_policy, ManagementPolicy::Observe);
        assert_eq!(m.spec.credentials_secret_ref.as_ref().unwrap().name, "tencent");
        assert_eq!(m.spec.endpoint.as_deref(), Some(endpoint.as_str()));
    }
    let calls: Vec<String> = tc.requests().into_iter().map(|r| format!("{} {}", r.action, r.outcome)).collect();
    assert_eq!(calls, ["DescribeNatGateways ok"; 3], "one call per 100 gateways");
    assert!(summary.contains("250 manifests, 0 skipped, 3 list calls"), "{summary}");
    create(&cluster, &out.stdout);
    assert_eq!(cluster.natgws().list(&Default::default()).await.unwrap().items.len(), 250);

    // One VPC: the filter is the cloud's, not a client-side one. Its 50 gateways are declared
    // now (the manifests just created), so none gets a second manifest.
    let mut args = vec!["--cloud", "tencent", "--namespace", &ns, "--secret-name", "tencent", "--vpc-id", "vpc-b"];
    args.extend(common);
    let (manifests, summary) = parse(&import(&cluster, &args, &env), &[TC_KEY]);
    assert!(manifests.is_empty() && summary.contains("0 manifests, 50 skipped, 1 list calls"), "{summary}");
    assert!(summary.contains("skipped nat-fleet000: already declared by NatGateway import/nat-fleet000"), "{summary}");
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
    // And the claims on the project's gateways (natgw-operator claims list reads the same list).
    let nat = ["KeystoneListProjects", "ListNatGateways", "ListNatGateways"];
    assert_eq!(calls, [&nat[..], &bss, &["ListNatGatewayByTag"]].concat());
    assert!(summary.contains("2300 manifests, 0 skipped, 3 list calls"), "{summary}");
    // The first 300 documents (every size, both billing modes) pass admission too.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first: String = stdout.split_inclusive("---\n").take(301).collect::<String>();
    create(&cluster, first.trim_end_matches("---\n").as_bytes());
    assert_eq!(cluster.natgws().list(&Default::default()).await.unwrap().items.len(), 550);
}

const CLASH_IDS: [&str; 4] = ["nat-clash-a", "nat-clash-b", "nat-clash-c", "nat-clash-d"];

/// `namespace/name` → resourceVersion of every NatGateway in `namespaces`.
async fn versions(cluster: &Cluster, namespaces: &[&str]) -> HashMap<String, String> {
    let mut all = HashMap::new();
    for ns in namespaces {
        let api: Api<NatGateway> = Api::namespaced(cluster.client.clone(), ns);
        for o in api.list(&ListParams::default()).await.unwrap() {
            all.insert(format!("{ns}/{}", o.name_any()), o.resource_version().unwrap());
        }
    }
    all
}

/// (name, gateway id) of each manifest.
fn named(manifests: &[NatGateway]) -> Vec<(String, String)> {
    manifests.iter().map(|m| (m.name_any(), m.spec.gateway_id.clone())).collect()
}

/// A kubeconfig for the ServiceAccount `importer` of the test's namespace.
fn importer_kubeconfig(cluster: &Cluster) -> std::path::PathBuf {
    let token = cluster.kubectl(&["create", "token", "importer", "--duration=1h"]);
    cluster.env.kubeconfig_for_token(&format!("{}-importer", cluster.namespace), token.trim()).unwrap()
}

/// Waits until `kubeconfig` may list NatGateways in the test's namespace (RBAC is a cache).
async fn wait_until_may_list(cluster: &Cluster, kubeconfig: &Path) {
    for _ in 0..50 {
        let out = cluster
            .kubectl_as(kubeconfig, &["auth", "can-i", "list", "natgateways.natgw.io", "-n", &cluster.namespace]);
        if String::from_utf8_lossy(&out.stdout).trim() == "yes" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the importer was not granted list on natgateways");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_overwrites_nothing_the_cluster_holds() {
    let cluster = Cluster::start("import-clash").await;
    let (ns, other) = (cluster.namespace.clone(), "import-clash-other");
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": other}})).unwrap();
    Api::<Namespace>::all(cluster.client.clone()).create(&PostParams::default(), &namespace).await.unwrap();
    let tls = SimTls::generate(None).unwrap();
    let ca = tls.ca_pem_path().to_str().unwrap().to_owned();
    let tc = TencentSim::start(tencent_https_config(TC_ID, TC_KEY, Duration::from_secs(1), &tls)).await.unwrap();
    for id in CLASH_IDS {
        tc.seed_gateway(SimGateway::new(id, "vpc-1", 1_000_000));
    }
    let endpoint = tc.https_url.clone().unwrap();
    let spec = |gateway: &str| tencent_spec(gateway, None, "Small", "tencent", Some(&endpoint));

    // nat-clash-a is declared here and nat-clash-d in another namespace; nat-clash-b's name and
    // the next numbered one belong to NatGateways of other gateways.
    cluster.create_natgw("declares-a", spec("nat-clash-a")).await;
    cluster.create_natgw("nat-clash-b", spec("nat-clash-elsewhere")).await;
    cluster.create_natgw("nat-clash-b-2", spec("nat-clash-elsewhere-2")).await;
    let other_api: Api<NatGateway> = Api::namespaced(cluster.client.clone(), other);
    other_api.create(&PostParams::default(), &natgw_testkit::natgw("owner-d", spec("nat-clash-d"))).await.unwrap();
    let before = versions(&cluster, &[&ns, other]).await;

    let args = [
        "--cloud",
        "tencent",
        "--region",
        "ap-guangzhou",
        "--namespace",
        &ns,
        "--secret-name",
        "tencent",
        "--endpoint",
        &endpoint,
        "--extra-ca",
        &ca,
        "--allow-private-endpoints",
    ];
    let env = [("TENCENTCLOUD_SECRET_ID", TC_ID), ("TENCENTCLOUD_SECRET_KEY", TC_KEY)];
    let out = import(&cluster, &args, &env);
    let (manifests, stderr) = parse(&out, &[TC_KEY]);
    println!("[import] clash: {}", stderr.trim());
    let expected =
        [("nat-clash-b-3".to_owned(), "nat-clash-b".to_owned()), ("nat-clash-c".into(), "nat-clash-c".into())];
    assert_eq!(named(&manifests), expected);
    for line in [
        "skipped nat-clash-a: already declared by NatGateway import-clash/declares-a",
        "skipped nat-clash-d: already declared by NatGateway import-clash-other/owner-d",
        "renamed nat-clash-b: nat-clash-b is taken, named nat-clash-b-3",
        "2 manifests, 2 skipped, 1 list calls",
    ] {
        assert!(stderr.contains(line), "{line:?} not in {stderr}");
    }

    // Created as docs/migration.md says: nothing that was there changes.
    create(&cluster, &out.stdout);
    let after = versions(&cluster, &[&ns, other]).await;
    for (object, version) in &before {
        assert_eq!(after.get(object), Some(version), "{object} changed");
    }
    assert_eq!(after.len(), before.len() + 2);
    assert_eq!(cluster.natgws().get("nat-clash-b").await.unwrap().spec.gateway_id, "nat-clash-elsewhere");

    // Someone who may not list NatGateways at all is told what to do; one who may list them in
    // the namespace only is warned that other namespaces went unchecked (nat-clash-d is declared
    // there, which they cannot see).
    cluster.kubectl(&["create", "serviceaccount", "importer"]);
    let kubeconfig = importer_kubeconfig(&cluster);
    let as_importer = [&env[..], &[("KUBECONFIG", kubeconfig.to_str().unwrap())]].concat();
    let stderr = failed(&import(&cluster, &args, &as_importer));
    assert!(
        stderr.contains("may not list NatGateways in namespace import-clash") && stderr.contains("--offline"),
        "{stderr}"
    );
    cluster.kubectl(&["create", "role", "natgw-lister", "--verb=list", "--resource=natgateways.natgw.io"]);
    let subject = format!("--serviceaccount={ns}:importer");
    cluster.kubectl(&["create", "rolebinding", "natgw-lister", "--role=natgw-lister", &subject]);
    wait_until_may_list(&cluster, &kubeconfig).await;
    let (manifests, stderr) = parse(&import(&cluster, &args, &as_importer), &[TC_KEY]);
    assert!(stderr.contains("checked namespace import-clash only"), "{stderr}");
    assert_eq!(named(&manifests), [("nat-clash-d".to_owned(), "nat-clash-d".to_owned())]);

    // No cluster: an error that says what to do, before any cloud call; --offline goes on with a
    // warning and checks nothing.
    let unreachable = cluster.path("unreachable-kubeconfig");
    std::fs::write(
        &unreachable,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\n",
    )
    .unwrap();
    let calls = tc.requests().len();
    let nowhere = [&env[..], &[("KUBECONFIG", unreachable.to_str().unwrap())]].concat();
    let stderr = failed(&import(&cluster, &args, &nowhere));
    assert!(
        stderr.contains("cannot reach the Kubernetes API at https://127.0.0.1:1/") && stderr.contains("--offline"),
        "{stderr}"
    );
    assert_eq!(tc.requests().len(), calls, "no cloud call without the check");
    let offline = [&args[..], &["--offline"]].concat();
    let (manifests, stderr) = parse(&import(&cluster, &offline, &nowhere), &[TC_KEY]);
    assert!(stderr.contains("warning: --offline: not checked against a cluster"), "{stderr}");
    assert_eq!(manifests.len(), CLASH_IDS.len());
}
