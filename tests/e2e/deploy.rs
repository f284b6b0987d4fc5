//! The install manifests in deploy/ against a real kube-apiserver: each kustomization renders
//! with kubectl's kustomize and passes a server-side dry run (schema, CEL rules, RBAC objects,
//! Pod Security admission), and the rendered objects have the properties the README promises
//! (2 replicas, non-root, read-only root, probes on the metrics port, least-privilege RBAC).

use crate::support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{Cluster, deploy_dir};

/// The image the kustomizations pin (`images:`), the same in both installs.
const IMAGE: &str = "ghcr.io/natgw-io/natgw-operator:0.1.0";

/// kustomize may only load files under a kustomization's directory, so deploy/crd holds a copy
/// of the generated CRD, and so does the Helm chart's crds/ (Helm installs only those): neither may
/// drift from the one the code generates.
#[test]
fn crd_copies_are_the_generated_crd() {
    let root = env!("CARGO_MANIFEST_DIR");
    let generated = std::fs::read_to_string(format!("{root}/crds/natgateway.yaml")).unwrap();
    for copy_path in ["deploy/crd/natgateway.yaml", "charts/natgw-operator/crds/natgateway.yaml"] {
        let copy = std::fs::read_to_string(format!("{root}/{copy_path}")).unwrap();
        assert!(
            generated == copy,
            "{copy_path} differs from crds/natgateway.yaml; run `cp crds/natgateway.yaml {copy_path}`"
        );
    }
}

fn kind_name(obj: &Value) -> (String, String) {
    (
        obj["kind"].as_str().unwrap_or_default().to_owned(),
        obj["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
    )
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| kind_name(o) == (kind.to_owned(), name.to_owned()))
        .unwrap_or_else(|| panic!("no {kind}/{name} in {:?}", objs.iter().map(kind_name).collect::<Vec<_>>()))
}

/// `kubectl apply --dry-run=server -k DIR`: asserts that every rendered object is reported as a
/// server dry run and returns stderr (warnings, e.g. from Pod Security admission).
fn dry_run(cluster: &Cluster, relative: &str, objs: &[Value]) -> String {
    let out = cluster.env.kubectl(&["apply", "--dry-run=server", "-k", &deploy_dir(relative)]).expect("kubectl runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "server dry run of {relative} failed:\n{stderr}\n{stdout}");
    for obj in objs {
        let (kind, name) = kind_name(obj);
        // kubectl prints `<resource>.<group>/<name> created (server dry run)`; the resource is
        // the lower-case kind, e.g. `deployment.apps/natgw-operator`.
        let line = stdout.lines().find(|l| {
            let Some((resource, rest)) = l.split_once('/') else { return false };
            resource.split('.').next() == Some(kind.to_lowercase().as_str()) && rest.split(' ').next() == Some(&name)
        });
        let line = line.unwrap_or_else(|| panic!("{kind}/{name} is missing from the dry run of {relative}:\n{stdout}"));
        assert!(line.ends_with("(server dry run)"), "{line}");
    }
    assert_eq!(stdout.lines().count(), objs.len(), "one line per object:\n{stdout}");
    stderr.into_owned()
}

fn container(objs: &[Value]) -> &Value {
    &find(objs, "Deployment", "natgw-operator")["spec"]["template"]["spec"]["containers"][0]
}

fn env_names(objs: &[Value]) -> Vec<&str> {
    container(objs)["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect()
}

/// Every rule of every Role and ClusterRole, as (apiGroup, resource, verb, resourceName) with ""
/// for "any name"; panics on wildcards, which would grant whatever a future API adds.
fn grants(objs: &[Value], kind: &str) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for role in objs.iter().filter(|o| o["kind"] == kind) {
        for rule in role["rules"].as_array().unwrap() {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default()
            };
            let (groups, resources, verbs) = (list("apiGroups"), list("resources"), list("verbs"));
            let mut names = list("resourceNames");
            if names.is_empty() {
                names.push(String::new());
            }
            for g in &groups {
                for r in &resources {
                    for v in &verbs {
                        assert!(
                            ![g, r, v].iter().any(|s| s.contains('*')),
                            "{kind} {} grants a wildcard: {rule}",
                            role["metadata"]["name"]
                        );
                        for n in &names {
                            out.insert((g.clone(), r.clone(), v.clone(), n.clone()));
                        }
                    }
                }
            }
        }
    }
    out
}

type Grant = (String, String, String, String);

fn triples(list: &[(&str, &str, &[&str], &str)]) -> BTreeSet<Grant> {
    list.iter()
        .flat_map(|(g, r, verbs, n)| {
            verbs.iter().map(move |v| (g.to_string(), r.to_string(), v.to_string(), n.to_string()))
        })
        .collect()
}

/// What the operator calls: watched NatGateways, status by server-side apply, events.k8s.io
/// Events, ServiceAccount tokens for workload identities. tests/e2e/rbac.rs runs the binary with
/// exactly this.
const OPERATOR_RULES: &[(&str, &str, &[&str], &str)] = &[
    // patch: the unpaid-order finalizer only.
    ("natgw.io", "natgateways", &["get", "list", "watch", "patch"], ""),
    ("natgw.io", "natgateways/status", &["get", "patch"], ""),
    ("events.k8s.io", "events", &["create", "patch"], ""),
    // TokenRequest only: no get or list of ServiceAccounts.
    ("", "serviceaccounts/token", &["create"], ""),
];
/// Credential Secrets where the operator watches them (deploy/namespaced/, deploy/all-secrets/).
const SECRET_WATCH_RULES: &[(&str, &str, &[&str], &str)] = &[("", "secrets", &["get", "list", "watch"], "")];
/// What a namespace binds to grant its Secrets (deploy/rbac/secret-reader.yaml).
const SECRET_READER_RULES: &[(&str, &str, &[&str], &str)] = &[("", "secrets", &["get"], "")];

/// The objects of `kind` named `name`, for [`grants`] of one role.
fn named(objs: &[Value], name: &str) -> Vec<Value> {
    objs.iter().filter(|o| o["metadata"]["name"] == name).cloned().collect()
}
/// Leader election: create the Lease, then only ever touch that one (src/leader.rs LEASE_NAME).
const LEASE_RULES: &[(&str, &str, &[&str], &str)] = &[
    ("coordination.k8s.io", "leases", &["create"], ""),
    ("coordination.k8s.io", "leases", &["get", "update"], natgw_operator::leader::LEASE_NAME),
];

fn assert_deployment(objs: &[Value]) {
    let deployment = find(objs, "Deployment", "natgw-operator");
    assert_eq!(deployment["metadata"]["namespace"], "natgw-system");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2, "two replicas behind leader election");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "natgw-operator");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let c = container(objs);
    assert_eq!(c["image"], IMAGE, "the images: entry applies");
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "run");
    assert!(args.windows(2).any(|w| w == ["--log-format", "json"]), "{args:?}");
    assert!(args.contains(&"--leader-election=true"), "two replicas need leader election: {args:?}");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(c["ports"][0]["name"], "http-metrics");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http-metrics");
    assert!(c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string());
    for (name, field) in [("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")] {
        let var = c["env"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap();
        assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], field, "{name}");
    }
    // Every RBAC subject points at the ServiceAccount in the install's namespace.
    for binding in objs.iter().filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding") {
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": "natgw-operator", "namespace": "natgw-system"}]),
            "{binding}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_samples_and_namespaced_install_pass_server_dry_runs() {
    // The samples live in `platform`; Cluster::start creates it and installs the CRD, which a
    // dry run of NatGateways needs (a dry-run CRD is not served).
    let cluster = Cluster::start("platform").await;

    // --- the cluster-wide install
    let objs = cluster.kustomize("deploy");
    let kinds: BTreeSet<(String, String)> = objs.iter().map(kind_name).collect();
    let expected: BTreeSet<(String, String)> = [
        // The CRD is installed on its own (deploy/crd/), so deleting the install keeps NatGateways.
        ("Namespace", "natgw-system"),
        ("ServiceAccount", "natgw-operator"),
        ("ClusterRole", "natgw-operator"),
        ("ClusterRole", "natgw-operator-secret-reader"),
        ("ClusterRoleBinding", "natgw-operator"),
        ("Role", "natgw-operator-leader-election"),
        ("RoleBinding", "natgw-operator-leader-election"),
        ("Deployment", "natgw-operator"),
        ("PodDisruptionBudget", "natgw-operator"),
        ("Service", "natgw-operator-metrics"),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), n.to_owned()))
    .collect();
    assert_eq!(kinds, expected);
    assert_deployment(&objs);
    assert!(!env_names(&objs).contains(&"NATGW_NAMESPACE"), "the cluster-wide install watches every namespace");
    // Multi-tenant: no Secret through the bound ClusterRole; namespaces bind the secret reader.
    assert_eq!(grants(&named(&objs, "natgw-operator"), "ClusterRole"), triples(OPERATOR_RULES));
    assert_eq!(grants(&named(&objs, "natgw-operator-secret-reader"), "ClusterRole"), triples(SECRET_READER_RULES));
    let access = container(&objs)["env"].as_array().unwrap().iter().find(|e| e["name"] == "NATGW_SECRET_ACCESS");
    assert_eq!(access.expect("NATGW_SECRET_ACCESS is set")["value"], "granted");
    assert_eq!(grants(&objs, "Role"), triples(LEASE_RULES), "leases only in the operator's namespace");
    // (crd_copies_are_the_generated_crd checks the CRD file itself.)

    // A server dry run does not persist the Namespace, and namespaced objects need it to exist:
    // create it for real (from the rendered manifest, so its Pod Security labels apply).
    let namespace = serde_json::to_string(find(&objs, "Namespace", "natgw-system")).unwrap();
    let ns_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ns_file.path(), namespace).unwrap();
    cluster.kubectl(&["apply", "-f", ns_file.path().to_str().unwrap()]);

    let warnings = dry_run(&cluster, "deploy", &objs);
    // The namespace warns on the restricted Pod Security level; the Deployment must meet it.
    assert!(
        !warnings.contains("PodSecurity"),
        "the Deployment violates the restricted Pod Security level:\n{warnings}"
    );

    // The check above is live: the same Deployment without its container securityContext warns.
    let mut weak = find(&objs, "Deployment", "natgw-operator").clone();
    weak["spec"]["template"]["spec"]["containers"][0].as_object_mut().unwrap().remove("securityContext");
    let weak_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(weak_file.path(), serde_json::to_string(&weak).unwrap()).unwrap();
    let out = cluster
        .env
        .kubectl(&["apply", "--dry-run=server", "-f", weak_file.path().to_str().unwrap()])
        .expect("kubectl runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("would violate PodSecurity \"restricted"), "no Pod Security warning: {stderr}");

    // --- the samples: three NatGateways and their Secrets pass the CRD's schema and CEL rules.
    let samples = cluster.kustomize("deploy/samples");
    let gateways: Vec<&Value> = samples.iter().filter(|o| o["kind"] == "NatGateway").collect();
    let providers: BTreeSet<String> = gateways
        .iter()
        .map(|g| match &g["spec"]["provider"] {
            p if p["tencent"].is_object() => format!("tencent/{}", p["tencent"]["api"].as_str().unwrap_or("V3")),
            _ => "huawei".to_owned(),
        })
        .collect();
    assert_eq!(providers, BTreeSet::from(["tencent/V3".into(), "tencent/V2".into(), "huawei".into()]));
    let huawei = gateways.iter().find(|g| g["spec"]["provider"]["huawei"].is_object()).unwrap();
    assert_eq!(huawei["spec"]["billing"]["mode"], "Prepaid");
    for g in &gateways {
        // Each sample's Secret is in the samples, in the same namespace, with placeholder values.
        let secret = find(&samples, "Secret", g["spec"]["credentialsSecretRef"]["name"].as_str().unwrap());
        assert_eq!(secret["metadata"]["namespace"], g["metadata"]["namespace"]);
        let values: Vec<&str> =
            secret["stringData"].as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
        assert!(values.iter().all(|v| v.contains("EXAMPLE") || v.chars().all(|c| c == '0')), "{values:?}");
    }
    dry_run(&cluster, "deploy/samples", &samples);

    // --- the namespaced install: a Role instead of the ClusterRole, and the operator told to
    // watch its own namespace.
    let namespaced = cluster.kustomize("deploy/namespaced");
    assert!(namespaced.iter().all(|o| o["kind"] != "ClusterRole" && o["kind"] != "ClusterRoleBinding"));
    assert_deployment(&namespaced);
    let var = container(&namespaced)["env"].as_array().unwrap().iter().find(|e| e["name"] == "NATGW_NAMESPACE");
    assert_eq!(var.expect("NATGW_NAMESPACE is set")["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace");
    let all: BTreeSet<_> = [OPERATOR_RULES, SECRET_WATCH_RULES, LEASE_RULES].iter().flat_map(|r| triples(r)).collect();
    assert_eq!(grants(&namespaced, "Role"), all);
    let role = find(&namespaced, "Role", "natgw-operator");
    assert_eq!(role["metadata"]["namespace"], "natgw-system");
    dry_run(&cluster, "deploy/namespaced", &namespaced);

    // --- single tenant: the cluster-wide install plus every Secret, watched.
    let all_secrets = cluster.kustomize("deploy/all-secrets");
    assert_deployment(&all_secrets);
    let access = container(&all_secrets)["env"].as_array().unwrap().iter().find(|e| e["name"] == "NATGW_SECRET_ACCESS");
    assert_eq!(access.expect("NATGW_SECRET_ACCESS is set")["value"], "cluster");
    let watcher = named(&all_secrets, "natgw-operator-secret-watcher");
    assert_eq!(grants(&watcher, "ClusterRole"), triples(SECRET_WATCH_RULES));
    assert!(watcher.iter().any(|o| o["kind"] == "ClusterRoleBinding"), "the watcher role is bound");
    dry_run(&cluster, "deploy/all-secrets", &all_secrets);
}
