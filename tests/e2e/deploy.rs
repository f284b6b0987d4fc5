//! The install manifests in deploy/ against a real kube-apiserver: each kustomization renders
//! with kubectl's kustomize and passes a server-side dry run (schema, CEL rules, RBAC objects,
//! Pod Security admission), and the rendered objects have the properties docs/install.md promises
//! (2 replicas, non-root, read-only root, probes on the metrics port, least-privilege RBAC, a
//! NetworkPolicy that opens exactly the pod's traffic).

use std::collections::BTreeSet;

use natgw_operator::cloud::Registry;
use natgw_testkit::{Cluster, deploy_dir};
use serde_json::{Value, json};

/// The image the kustomizations pin (`images:`), the same in both installs.
const IMAGE: &str = "ghcr.io/natgw-io/natgw-operator:0.1.0";

/// kustomize may only load files under a kustomization's directory, so deploy/crd holds a copy
/// of the generated CRD, and so does the Helm chart's crds/ (Helm installs only those): neither may
/// drift from the one the code generates.
#[test]
fn crd_copies_are_the_generated_crd() {
    let root = env!("CARGO_MANIFEST_DIR");
    let generated = std::fs::read_to_string(format!("{root}/crds/natgateway.yaml")).unwrap();
    // The first is the generated one.
    for copy_path in &natgw_operator::CRD_FILES[1..] {
        let copy = std::fs::read_to_string(format!("{root}/{copy_path}")).unwrap();
        assert!(
            generated == copy,
            "{copy_path} differs from crds/natgateway.yaml; run `cargo run -- crd`, which writes both"
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
/// What grants namespaces' Secrets, watched by the cluster-wide install (metadata only) so that a
/// revoked grant is seen at once.
const GRANT_WATCH_RULES: &[(&str, &str, &[&str], &str)] = &[
    ("rbac.authorization.k8s.io", "rolebindings", &["list", "watch"], ""),
    ("rbac.authorization.k8s.io", "roles", &["list", "watch"], ""),
];
/// The cluster id: the UID of kube-system, and no other namespace (deploy/cluster-id/).
const CLUSTER_ID_RULES: &[(&str, &str, &[&str], &str)] = &[("", "namespaces", &["get"], "kube-system")];
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
        ("ClusterRole", "natgw-operator-cluster-id"),
        ("ClusterRoleBinding", "natgw-operator-cluster-id"),
        ("Role", "natgw-operator-leader-election"),
        ("RoleBinding", "natgw-operator-leader-election"),
        ("Deployment", "natgw-operator"),
        ("PodDisruptionBudget", "natgw-operator"),
        ("Service", "natgw-operator-metrics"),
        ("NetworkPolicy", "natgw-operator"),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), n.to_owned()))
    .collect();
    assert_eq!(kinds, expected);
    assert_deployment(&objs);
    assert!(!env_names(&objs).contains(&"NATGW_NAMESPACE"), "the cluster-wide install watches every namespace");
    // Multi-tenant: no Secret through the bound ClusterRole; namespaces bind the secret reader.
    let cluster_wide: BTreeSet<_> = [OPERATOR_RULES, GRANT_WATCH_RULES].iter().flat_map(|r| triples(r)).collect();
    assert_eq!(grants(&named(&objs, "natgw-operator"), "ClusterRole"), cluster_wide);
    assert_eq!(grants(&named(&objs, "natgw-operator-secret-reader"), "ClusterRole"), triples(SECRET_READER_RULES));
    assert_eq!(grants(&named(&objs, "natgw-operator-cluster-id"), "ClusterRole"), triples(CLUSTER_ID_RULES));
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
    // Cluster-scoped: only getting kube-system, whose UID names the cluster in claims.
    let cluster_scoped: Vec<&Value> =
        namespaced.iter().filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding").collect();
    assert!(cluster_scoped.iter().all(|o| o["metadata"]["name"] == "natgw-operator-cluster-id"), "{cluster_scoped:?}");
    assert_eq!(grants(&namespaced, "ClusterRole"), triples(CLUSTER_ID_RULES));
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

/// A port a pod listens on or sends to: (protocol, number).
type Flow = (String, u16);

fn tcp(port: u16) -> Flow {
    ("TCP".to_owned(), port)
}

/// The resolver's port, over UDP and over TCP (answers too long for UDP).
const DNS_PORT: u16 = 53;

/// What the operator's pods really receive and send, which their NetworkPolicy must open and
/// nothing more.
struct Traffic {
    listens: BTreeSet<Flow>,
    sends: BTreeSet<Flow>,
}

/// [`Traffic`] from its sources, not from the policy's authors: the rendered Deployment (the one
/// listener, src/health.rs on `--metrics-addr`, serves /metrics and both probes), the API server
/// (the live `kubernetes` Service's port, and the endpoint port the real-node test's API server
/// serves on, as kubeadm's), DNS, and every endpoint the clouds' profiles document.
fn traffic(cluster: &Cluster, objs: &[Value]) -> Traffic {
    let c = container(objs);
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let addr = args
        .windows(2)
        .find(|w| w[0] == "--metrics-addr")
        .map(|w| w[1])
        .or_else(|| args.iter().find_map(|a| a.strip_prefix("--metrics-addr=")))
        .expect("the Deployment sets --metrics-addr");
    let bound = tcp(addr.parse::<std::net::SocketAddr>().unwrap().port());
    let declared: BTreeSet<Flow> =
        c["ports"].as_array().unwrap().iter().filter_map(|p| resolve(p["containerPort"].clone(), p, c)).collect();
    assert_eq!(declared, BTreeSet::from([bound.clone()]), "the container declares the one port it binds");
    for probe in ["livenessProbe", "readinessProbe"] {
        let port = resolve(c[probe]["httpGet"]["port"].clone(), &Value::Null, c);
        assert_eq!(port.as_ref(), Some(&bound), "{probe} goes to --metrics-addr");
    }

    let out = cluster.env.kubectl(&["get", "service", "kubernetes", "-n", "default", "-o", "json"]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let service: Value = serde_json::from_slice(&out.stdout).unwrap();
    let service_port = service["spec"]["ports"][0]["port"].as_u64().unwrap() as u16;
    let clouds =
        Registry::builtin().admission().into_iter().flat_map(|(_, profile)| profile.endpoints.iter()).map(|e| {
            let url = url::Url::parse(&e.replace("{region}", "ap-guangzhou")).unwrap();
            assert_eq!(url.scheme(), "https", "{e}");
            tcp(url.port_or_known_default().unwrap())
        });
    let dns = [("UDP".to_owned(), DNS_PORT), tcp(DNS_PORT)];
    let api = [tcp(service_port), tcp(natgw_testenv::node::API_PORT)];
    Traffic { listens: BTreeSet::from([bound]), sends: api.into_iter().chain(dns).chain(clouds).collect() }
}

/// A NetworkPolicyPort's (or a probe's) `port`, a number or the name of one of the container's
/// ports, as a flow; None when the name is no port of the container.
fn resolve(port: Value, policy_port: &Value, c: &Value) -> Option<Flow> {
    let protocol = policy_port["protocol"].as_str().unwrap_or("TCP").to_owned();
    match port {
        Value::Number(n) => Some((protocol, n.as_u64()? as u16)),
        Value::String(name) => c["ports"].as_array()?.iter().find_map(|p| {
            let same = p["name"] == name.as_str() && p["protocol"].as_str().unwrap_or("TCP") == protocol;
            same.then(|| (protocol.clone(), p["containerPort"].as_u64().unwrap() as u16))
        }),
        _ => None,
    }
}

/// What is wrong with the install's NetworkPolicy for `traffic`: it must select the Deployment's
/// pods, isolate both directions and open exactly `traffic`'s ports (a rule or port without a
/// port number opens every port, an `endPort` a range).
fn policy_problems(objs: &[Value], traffic: &Traffic) -> Vec<String> {
    let policies: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "NetworkPolicy").collect();
    let [policy] = policies[..] else { return vec![format!("{} NetworkPolicies, not one", policies.len())] };
    let deployment = find(objs, "Deployment", "natgw-operator");
    let (spec, c) = (&policy["spec"], container(objs));
    let mut problems = Vec::new();
    if policy["metadata"]["namespace"] != deployment["metadata"]["namespace"] {
        problems.push(format!("it is in namespace {}, the pods in another", policy["metadata"]["namespace"]));
    }
    if spec["podSelector"] != json!({"matchLabels": deployment["spec"]["selector"]["matchLabels"]}) {
        problems.push(format!("it selects {}, not the Deployment's pods", spec["podSelector"]));
    }
    if spec["policyTypes"] != json!(["Ingress", "Egress"]) {
        problems.push(format!("policyTypes {} leave a direction open", spec["policyTypes"]));
    }
    for (direction, used) in [("ingress", &traffic.listens), ("egress", &traffic.sends)] {
        let mut opened = BTreeSet::new();
        for rule in spec[direction].as_array().into_iter().flatten() {
            let ports = rule["ports"].as_array().filter(|p| !p.is_empty());
            let Some(ports) = ports else {
                problems.push(format!("an {direction} rule opens every port: {rule}"));
                continue;
            };
            for port in ports {
                // A name means a port of the selected pod only for ingress; egress names the peer's.
                let named_on = if direction == "ingress" { c } else { &Value::Null };
                match (port.get("endPort"), resolve(port["port"].clone(), port, named_on)) {
                    (None, Some(flow)) => {
                        opened.insert(flow);
                    }
                    _ => problems.push(format!("{direction} port {port} is not one port of the pod's")),
                }
            }
        }
        for flow in opened.difference(used) {
            problems.push(format!("{direction} opens {flow:?}, which the pod does not use"));
        }
        for flow in used.difference(&opened) {
            problems.push(format!("{direction} closes {flow:?}, which the pod uses"));
        }
    }
    problems
}

/// [`policy_problems`] is empty.
pub(crate) fn assert_network_policy(cluster: &Cluster, objs: &[Value], what: &str) {
    let problems = policy_problems(objs, &traffic(cluster, objs));
    assert!(problems.is_empty(), "{what}: the NetworkPolicy does not fit the pod's traffic:\n{}", problems.join("\n"));
}

/// Every install ships the NetworkPolicy, and it opens exactly what the pods use. No CNI that
/// enforces policies runs here (deploy/README.md), so this checks the rendered policy, not packets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_policy_opens_exactly_the_pods_traffic() {
    let cluster = Cluster::start("netpol").await;
    for install in ["deploy", "deploy/namespaced", "deploy/all-secrets"] {
        assert_network_policy(&cluster, &cluster.kustomize(install), install);
    }

    // The check is live: each of these is found.
    let objs = cluster.kustomize("deploy");
    let traffic = traffic(&cluster, &objs);
    let cases: &[(&str, Change)] = &[
        ("SSH out", |p| push(&mut p["egress"][2]["ports"], json!({"port": 22, "protocol": "TCP"}))),
        ("no DNS over TCP", |p| {
            p["egress"][1]["ports"].as_array_mut().unwrap().pop();
        }),
        ("no API server endpoint port", |p| {
            p["egress"][0]["ports"].as_array_mut().unwrap().pop();
        }),
        ("a port nothing listens on", |p| push(&mut p["ingress"][0]["ports"], json!({"port": 9090}))),
        ("a name no port has", |p| p["ingress"][0]["ports"][0]["port"] = json!("http")),
        ("UDP to the metrics port", |p| p["ingress"][0]["ports"][0]["protocol"] = json!("UDP")),
        ("a rule without ports", |p| push(&mut p["egress"], json!({"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}))),
        ("a port without a number", |p| push(&mut p["egress"][1]["ports"], json!({"protocol": "UDP"}))),
        ("a port range", |p| p["egress"][2]["ports"][0]["endPort"] = json!(8443)),
        ("egress not isolated", |p| p["policyTypes"] = json!(["Ingress"])),
        ("other pods", |p| p["podSelector"] = json!({"matchLabels": {"app.kubernetes.io/name": "natgw-operator"}})),
    ];
    for (what, change) in cases {
        let mut changed = objs.clone();
        let policy = changed.iter_mut().find(|o| o["kind"] == "NetworkPolicy").unwrap();
        change(&mut policy["spec"]);
        assert!(!policy_problems(&changed, &traffic).is_empty(), "{what} passes the check");
    }
    let without: Vec<Value> = objs.iter().filter(|o| o["kind"] != "NetworkPolicy").cloned().collect();
    assert!(!policy_problems(&without, &traffic).is_empty(), "no policy passes the check");
}

/// An edit of a NetworkPolicy's spec that the check must find.
type Change = fn(&mut Value);

fn push(list: &mut Value, item: Value) {
    list.as_array_mut().unwrap().push(item);
}
