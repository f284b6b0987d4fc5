//! The Helm chart (charts/natgw-operator) with a real `helm` (built from Go modules,
//! crates/testenv/build-helm.sh) and a real kube-apiserver: it lints; its default values render the
//! objects of `kubectl kustomize deploy/`, its namespaced and single-tenant values those of
//! deploy/namespaced/ and deploy/all-secrets/ (Helm's own labels aside); every value changes what
//! it says and nothing else; wrong values are refused with a message naming them; the rendered
//! objects pass a server-side dry run; and `helm install` / `upgrade` / `uninstall` work on the API
//! server, leaving the CRD and every NatGateway on uninstall.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use natgw_testenv::{HelmTools, TestEnv};
use natgw_testkit::{Cluster, yaml_documents};
use serde_json::{Value, json};

use crate::deploy;

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/natgw-operator");
const RELEASE: &str = "natgw-operator";
/// The namespace deploy/ installs into; the chart installs into the release's.
const NAMESPACE: &str = "natgw-system";

/// Labels Helm's conventions add that kustomize's do not (kustomize's `managed-by` is
/// `kustomize`): the only metadata in which the chart and deploy/ may differ.
const HELM_LABELS: [&str; 4] =
    ["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version"];

/// `helm` with config, cache and data directories of its own (never the user's), against
/// `kubeconfig` when given.
struct Helm {
    tools: HelmTools,
    home: tempfile::TempDir,
    kubeconfig: Option<PathBuf>,
}

impl Helm {
    fn new(kubeconfig: Option<&Path>) -> Helm {
        let tools = natgw_testenv::helm_tools().unwrap_or_else(|e| panic!("{e}"));
        let home = tempfile::Builder::new().prefix("natgw-helm-").tempdir().unwrap();
        Helm { tools, home, kubeconfig: kubeconfig.map(Path::to_path_buf) }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.tools.helm);
        for (var, dir) in [("HELM_CONFIG_HOME", "config"), ("HELM_CACHE_HOME", "cache"), ("HELM_DATA_HOME", "data")] {
            cmd.env(var, self.home.path().join(dir));
        }
        if let Some(kubeconfig) = &self.kubeconfig {
            cmd.env("KUBECONFIG", kubeconfig);
        }
        cmd.args(args).output().expect("helm runs")
    }

    /// Runs helm and returns its stdout; panics with its output when it fails.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "helm {args:?} failed:\n{stderr}\n{stdout}");
        stdout.into_owned()
    }

    /// `helm template` of the chart in `namespace` with `values` (`--set ...` arguments).
    fn template(&self, namespace: &str, values: &[&str]) -> String {
        let mut args = vec!["template", RELEASE, CHART, "--namespace", namespace];
        args.extend_from_slice(values);
        self.ok(&args)
    }

    /// [`Helm::template`], parsed.
    fn objects(&self, namespace: &str, values: &[&str]) -> Objects {
        by_identity(yaml_documents(&self.template(namespace, values)))
    }
}

/// Rendered objects by (kind, namespace, name).
type Objects = BTreeMap<(String, String, String), Value>;

fn by_identity(objs: Vec<Value>) -> Objects {
    let mut out = Objects::new();
    for obj in objs {
        let id = |field: &Value| field.as_str().unwrap_or_default().to_owned();
        let key = (id(&obj["kind"]), id(&obj["metadata"]["namespace"]), id(&obj["metadata"]["name"]));
        assert!(out.insert(key.clone(), obj).is_none(), "{key:?} is rendered twice");
    }
    out
}

fn key(kind: &str, namespace: &str, name: &str) -> (String, String, String) {
    (kind.to_owned(), namespace.to_owned(), name.to_owned())
}

/// Drops [`HELM_LABELS`] (asserting the chart set them) and Helm's resource policy, which only
/// the chart's Namespace carries (asserted by `default_values_render_deploy`).
fn without_helm_metadata(mut objs: Objects, from_chart: bool) -> Objects {
    for (id, obj) in objs.iter_mut() {
        let meta = obj["metadata"].as_object_mut().unwrap();
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            for label in HELM_LABELS {
                let value = labels.remove(label);
                assert!(!from_chart || value.is_some(), "{id:?} lacks Helm's label {label}");
            }
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove("helm.sh/resource-policy");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    objs
}

/// Asserts that the chart rendered exactly deploy/'s objects, object by object.
fn assert_same_objects(chart: Objects, kustomize: Objects, what: &str) {
    let (chart, kustomize) = (without_helm_metadata(chart, true), without_helm_metadata(kustomize, false));
    let (chart_ids, kustomize_ids): (Vec<_>, Vec<_>) = (chart.keys().collect(), kustomize.keys().collect());
    assert_eq!(chart_ids, kustomize_ids, "{what}: the chart renders other objects than kustomize");
    for (id, obj) in &chart {
        assert!(
            obj == &kustomize[id],
            "{what}: {id:?} differs\n--- chart ---\n{}\n--- kustomize ---\n{}",
            serde_json::to_string_pretty(obj).unwrap(),
            serde_json::to_string_pretty(&kustomize[id]).unwrap()
        );
    }
}

fn kustomize(cluster: &Cluster, relative: &str) -> Objects {
    by_identity(cluster.kustomize(relative))
}

fn deployment(objs: &mut Objects) -> &mut Value {
    objs.get_mut(&key("Deployment", NAMESPACE, "natgw-operator")).expect("the Deployment is rendered")
}

fn container(objs: &mut Objects) -> &mut Value {
    &mut deployment(objs)["spec"]["template"]["spec"]["containers"][0]
}

fn network_policy(objs: &mut Objects) -> &mut Value {
    &mut objs.get_mut(&key("NetworkPolicy", NAMESPACE, "natgw-operator")).expect("the NetworkPolicy is rendered")["spec"]
}

fn push_args(objs: &mut Objects, args: &[&str]) {
    let list = container(objs)["args"].as_array_mut().unwrap();
    list.extend(args.iter().map(|a| json!(a)));
}

#[test]
fn chart_version_is_the_project_version() {
    let text = std::fs::read_to_string(format!("{CHART}/Chart.yaml")).unwrap();
    let chart: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(chart["version"], env!("CARGO_PKG_VERSION"), "Chart.yaml version");
    assert_eq!(chart["appVersion"], env!("CARGO_PKG_VERSION"), "Chart.yaml appVersion (the image tag)");
}

#[test]
fn chart_lints_strictly() {
    let helm = Helm::new(None);
    let sets: [&[&str]; 3] = [
        &[],
        &["--set", "namespaced=true"],
        &["--set", "secretAccess=cluster", "--set", "metrics.serviceMonitor.enabled=true"],
    ];
    for values in sets {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend_from_slice(values);
        let out = helm.ok(&args);
        assert!(out.contains("1 chart(s) linted, 0 chart(s) failed"), "{values:?}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_values_render_deploy() {
    let cluster = Cluster::start("helm-render").await;
    let helm = Helm::new(None);
    let chart = helm.objects(NAMESPACE, &[]);
    let namespace = &chart[&key("Namespace", "", NAMESPACE)];
    assert_eq!(
        namespace["metadata"]["annotations"]["helm.sh/resource-policy"], "keep",
        "helm uninstall keeps the namespace (and the NatGateways of a namespaced install)"
    );
    for obj in chart.values() {
        assert_eq!(obj["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm", "{obj}");
        assert_eq!(obj["metadata"]["labels"]["app.kubernetes.io/instance"], RELEASE, "{obj}");
    }
    let rendered: Vec<Value> = chart.values().cloned().collect();
    deploy::assert_network_policy(&cluster, &rendered, "the chart's default values");
    assert_same_objects(chart, kustomize(&cluster, "deploy"), "default values vs deploy/");
    assert_same_objects(
        helm.objects(NAMESPACE, &["--set", "namespaced=true"]),
        kustomize(&cluster, "deploy/namespaced"),
        "namespaced=true vs deploy/namespaced/",
    );
    assert_same_objects(
        helm.objects(NAMESPACE, &["--set", "secretAccess=cluster"]),
        kustomize(&cluster, "deploy/all-secrets"),
        "secretAccess=cluster vs deploy/all-secrets/",
    );
}

/// What a value should do to the default render.
type Edit = fn(&mut Objects);

#[test]
fn each_value_changes_what_it_should_and_nothing_else() {
    let helm = Helm::new(None);
    let cases: &[(&[&str], Edit)] = &[
        (&["--set", "replicas=3"], |o| deployment(o)["spec"]["replicas"] = json!(3)),
        (&["--set", "image.tag=0.2.0"], |o| container(o)["image"] = json!("ghcr.io/natgw-io/natgw-operator:0.2.0")),
        (&["--set", "image.repository=registry.example.com/natgw"], |o| {
            container(o)["image"] = json!("registry.example.com/natgw:0.1.0")
        }),
        (&["--set", &format!("image.digest=sha256:{}", "a".repeat(64))], |o| {
            container(o)["image"] = json!(format!("ghcr.io/natgw-io/natgw-operator@sha256:{}", "a".repeat(64)))
        }),
        (&["--set", "image.pullPolicy=Always"], |o| container(o)["imagePullPolicy"] = json!("Always")),
        (&["--set-json", r#"resources={"requests":{"cpu":"50m","memory":"64Mi"},"limits":{"memory":"256Mi"}}"#], |o| {
            container(o)["resources"] =
                json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}})
        }),
        (&["--set", "logFormat=plain"], |o| container(o)["args"][2] = json!("plain")),
        (&["--set", "leaderElection.enabled=false", "--set", "replicas=1"], |o| {
            deployment(o)["spec"]["replicas"] = json!(1);
            container(o)["args"][3] = json!("--leader-election=false");
            // A single replica holds no Lease: no grant for one.
            o.remove(&key("Role", NAMESPACE, "natgw-operator-leader-election")).unwrap();
            o.remove(&key("RoleBinding", NAMESPACE, "natgw-operator-leader-election")).unwrap();
        }),
        (&["--set", "leaderElection.leaseDuration=30s"], |o| push_args(o, &["--lease-duration=30s"])),
        (&["--set-json", r#"rateLimits={"ResetNatGatewayConnection":10,"DescribeNatGateways":0.5}"#], |o| {
            push_args(o, &["--rate-limit=DescribeNatGateways=0.5", "--rate-limit=ResetNatGatewayConnection=10"])
        }),
        (&["--set", "extraCA.configMap=private-ca", "--set", "extraCA.key=bundle.pem"], |o| {
            push_args(o, &["--extra-ca=/etc/natgw/extra-ca/bundle.pem"]);
            container(o)["volumeMounts"] =
                json!([{"name": "extra-ca", "mountPath": "/etc/natgw/extra-ca", "readOnly": true}]);
            deployment(o)["spec"]["template"]["spec"]["volumes"] =
                json!([{"name": "extra-ca", "configMap": {"name": "private-ca"}}]);
        }),
        (
            &[
                "--set-json",
                r#"allowedEndpoints=["https://vpc.internal.example.com","https://nat.{region}.internal.example.com"]"#,
            ],
            |o| {
                push_args(
                    o,
                    &[
                        "--allowed-endpoint=https://vpc.internal.example.com",
                        "--allowed-endpoint=https://nat.{region}.internal.example.com",
                    ],
                )
            },
        ),
        (&["--set", "allowHttp=true", "--set", "allowPrivateEndpoints=true"], |o| {
            push_args(o, &["--allow-http", "--allow-private-endpoints"])
        }),
        (&["--set", "workloadIdentity.audience=sts.example.com"], |o| {
            push_args(o, &["--workload-identity-audience=sts.example.com"])
        }),
        (&["--set-json", r#"extraArgs=["--drift-interval=30m","--concurrency=32"]"#], |o| {
            push_args(o, &["--drift-interval=30m", "--concurrency=32"])
        }),
        (&["--set-json", r#"extraEnv=[{"name":"RUST_LOG","value":"natgw_operator=debug"}]"#], |o| {
            let env = container(o)["env"].as_array_mut().unwrap();
            env.push(json!({"name": "RUST_LOG", "value": "natgw_operator=debug"}));
        }),
        (&["--set", "metrics.service.enabled=false"], |o| {
            o.remove(&key("Service", NAMESPACE, "natgw-operator-metrics")).unwrap();
        }),
        (
            &[
                "--set",
                "metrics.serviceMonitor.enabled=true",
                "--set",
                "metrics.serviceMonitor.labels.release=prometheus",
                "--set",
                "metrics.serviceMonitor.interval=30s",
                "--set",
                "metrics.serviceMonitor.scrapeTimeout=10s",
            ],
            |o| {
                let mut labels = o[&key("Service", NAMESPACE, "natgw-operator-metrics")]["metadata"]["labels"].clone();
                labels["release"] = json!("prometheus");
                let monitor = json!({
                    "apiVersion": "monitoring.coreos.com/v1",
                    "kind": "ServiceMonitor",
                    "metadata": {"name": "natgw-operator", "namespace": NAMESPACE, "labels": labels},
                    "spec": {
                        "selector": {"matchLabels": {"app.kubernetes.io/name": "natgw-operator", "app.kubernetes.io/instance": RELEASE}},
                        "endpoints": [{"port": "http-metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]
                    }
                });
                o.insert(key("ServiceMonitor", NAMESPACE, "natgw-operator"), monitor);
            },
        ),
        (&["--set", "networkPolicy.enabled=false"], |o| {
            o.remove(&key("NetworkPolicy", NAMESPACE, "natgw-operator")).unwrap();
        }),
        (
            &[
                "--set-json",
                r#"networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"team":"monitoring"}}}]"#,
            ],
            |o| {
                network_policy(o)["ingress"][0]["from"] =
                    json!([{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}])
            },
        ),
        (&["--set-json", r#"networkPolicy.apiServer={"ports":[6443],"cidrs":["10.0.0.0/28","10.0.1.5/32"]}"#], |o| {
            network_policy(o)["egress"][0] = json!({
                "ports": [{"port": 6443, "protocol": "TCP"}],
                "to": [{"ipBlock": {"cidr": "10.0.0.0/28"}}, {"ipBlock": {"cidr": "10.0.1.5/32"}}]
            })
        }),
        (
            &[
                "--set-json",
                r#"networkPolicy.dns.to=[{"namespaceSelector":{},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}]"#,
            ],
            |o| {
                network_policy(o)["egress"][1]["to"] =
                    json!([{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}])
            },
        ),
        (&["--set-json", r#"networkPolicy.clouds={"ports":[443,8443],"cidrs":["203.0.113.0/24"]}"#], |o| {
            network_policy(o)["egress"][2] = json!({
                "ports": [{"port": 443, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}],
                "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]
            })
        }),
        (
            &[
                "--set-json",
                r#"networkPolicy.extraEgress=[{"to":[{"ipBlock":{"cidr":"10.0.5.10/32"}}],"ports":[{"port":3128}]}]"#,
            ],
            |o| {
                let egress = network_policy(o)["egress"].as_array_mut().unwrap();
                egress.push(json!({"to": [{"ipBlock": {"cidr": "10.0.5.10/32"}}], "ports": [{"port": 3128}]}));
            },
        ),
        (&["--set", "clusterId=blue"], |o| {
            container(o)["env"].as_array_mut().unwrap().push(json!({"name": "NATGW_CLUSTER_ID", "value": "blue"}));
            // Named by the value: no need to read kube-system's UID.
            o.remove(&key("ClusterRole", "", "natgw-operator-cluster-id")).unwrap();
            o.remove(&key("ClusterRoleBinding", "", "natgw-operator-cluster-id")).unwrap();
        }),
        (&["--set", "claimSettle=10s"], |o| {
            container(o)["env"].as_array_mut().unwrap().push(json!({"name": "NATGW_CLAIM_SETTLE", "value": "10s"}));
        }),
        (&["--set", "claimRate=2.5"], |o| {
            container(o)["env"].as_array_mut().unwrap().push(json!({"name": "NATGW_CLAIM_RATE", "value": "2.5"}));
        }),
        (&["--set", "namespace.create=false"], |o| {
            o.remove(&key("Namespace", "", NAMESPACE)).unwrap();
        }),
        (&["--set", "nodeSelector.kubernetes\\.io/os=linux"], |o| {
            deployment(o)["spec"]["template"]["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"})
        }),
        (
            &[
                "--set-json",
                r#"tolerations=[{"key":"dedicated","operator":"Equal","value":"platform","effect":"NoSchedule"}]"#,
            ],
            |o| {
                deployment(o)["spec"]["template"]["spec"]["tolerations"] =
                    json!([{"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}])
            },
        ),
    ];
    let defaults = helm.objects(NAMESPACE, &[]);
    for (values, edit) in cases {
        let mut expected = defaults.clone();
        edit(&mut expected);
        let rendered = helm.objects(NAMESPACE, values);
        assert!(expected != defaults, "{values:?}: the case changes nothing");
        for (id, obj) in &rendered {
            assert!(
                expected.get(id) == Some(obj),
                "{values:?}: {id:?} is not what the value should make it\n--- rendered ---\n{}\n--- expected ---\n{}",
                serde_json::to_string_pretty(obj).unwrap(),
                serde_json::to_string_pretty(&expected.get(id)).unwrap()
            );
        }
        let (rendered_ids, expected_ids): (Vec<_>, Vec<_>) = (rendered.keys().collect(), expected.keys().collect());
        assert_eq!(rendered_ids, expected_ids, "{values:?}: other objects than expected");
    }
}

#[test]
fn wrong_values_are_refused_with_a_message_naming_them() {
    let helm = Helm::new(None);
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "logFormat=xml"], "at '/logFormat': value must be one of 'plain', 'json'"),
        (&["--set", "replicas=0"], "at '/replicas'"),
        (&["--set", "replica=3"], "'replica' not allowed"),
        (&["--set", "secretAccess=all"], "at '/secretAccess'"),
        (&["--set", "clusterId=Blue_1"], "at '/clusterId'"),
        (&["--set", "claimSettle=soon"], "at '/claimSettle'"),
        (&["--set", "claimRate=-1"], "at '/claimRate'"),
        (&["--set", "claimRate=fast"], "at '/claimRate'"),
        (&["--set", "image.digest=latest"], "at '/image/digest'"),
        (&["--set", "rateLimits.ResetNatGatewayConnection=-1"], "at '/rateLimits/ResetNatGatewayConnection'"),
        (&["--set-json", r#"rateLimits={"Reset=1":1}"#], "invalid propertyName 'Reset=1'"),
        (&["--set", "leaderElection.leaseDuration=soon"], "at '/leaderElection/leaseDuration'"),
        (&["--set", "leaderElection.enabled=false"], "leaderElection.enabled=false needs replicas: 1"),
        (
            &["--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.service.enabled=false"],
            "metrics.serviceMonitor.enabled needs metrics.service.enabled",
        ),
        (&["--set", "networkPolicy.enabled=maybe"], "at '/networkPolicy/enabled'"),
        (&["--set", "networkPolicy.apiServer.cidrs={10.0.0.1}"], "at '/networkPolicy/apiServer/cidrs/0'"),
        (&["--set-json", "networkPolicy.clouds.ports=[]"], "at '/networkPolicy/clouds/ports'"),
        (&["--set-json", r#"networkPolicy.metricsFrom=[{"namespaceSelecter":{}}]"#], "'namespaceSelecter' not allowed"),
    ];
    for (values, names) in cases {
        let mut args = vec!["template", RELEASE, CHART];
        args.extend_from_slice(values);
        let out = helm.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{values:?} was accepted");
        assert!(stderr.contains(names), "{values:?}: the message does not name {names:?}: {stderr}");
    }
}

/// `helm template | kubectl apply --dry-run=server --server-side` in this test's namespace;
/// returns stderr (Pod Security warnings).
fn server_dry_run(cluster: &Cluster, helm: &Helm, values: &[&str]) -> String {
    let rendered = helm.template(&cluster.namespace, values);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &rendered).unwrap();
    let path = file.path().to_str().unwrap();
    let out = cluster.env.kubectl(&["apply", "--dry-run=server", "--server-side", "-f", path]).expect("kubectl runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "server dry run of {values:?} failed:\n{stderr}\n{stdout}");
    let objects = yaml_documents(&rendered).len();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), objects, "{values:?}: one line per object:\n{stdout}");
    assert!(lines.iter().all(|l| l.ends_with("(server dry run)")), "{stdout}");
    stderr.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_chart_passes_server_side_dry_runs() {
    let cluster = Cluster::start("helm-dry-run").await;
    let helm = Helm::new(None);
    // The namespace's Pod Security labels, for real (a dry run persists nothing), so that the
    // Deployment is checked against the restricted level.
    let objs = helm.objects(&cluster.namespace, &[]);
    let namespace = serde_json::to_string(&objs[&key("Namespace", "", &cluster.namespace)]).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), namespace).unwrap();
    cluster.kubectl(&["apply", "--server-side", "-f", file.path().to_str().unwrap()]);
    // The Prometheus Operator's ServiceMonitor CRD, so that the chart's ServiceMonitor is checked
    // against its real schema (a CRD of its own group: nothing else on the shared server uses it).
    let crd = helm.tools.service_monitor_crd.to_str().unwrap();
    cluster.kubectl(&["apply", "--server-side", "-f", crd]);
    let established = ["wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com"];
    cluster.kubectl(&[&established[..], &["--timeout=30s"]].concat());

    let digest = format!("image.digest=sha256:{}", "b".repeat(64));
    let sets: [&[&str]; 3] = [
        &[],
        &["--set", "namespaced=true"],
        &[
            "--set",
            "secretAccess=cluster",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "replicas=1",
            "--set",
            "logFormat=plain",
            "--set",
            "rateLimits.ResetNatGatewayConnection=10",
            "--set",
            "extraCA.configMap=private-ca",
            "--set-json",
            r#"allowedEndpoints=["https://vpc.internal.example.com"]"#,
            "--set",
            "allowPrivateEndpoints=true",
            "--set",
            "workloadIdentity.audience=sts.example.com",
            "--set",
            &digest,
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.interval=30s",
            // Every shape of the policy's values, against the real NetworkPolicy schema.
            "--set-json",
            r#"networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]"#,
            "--set-json",
            r#"networkPolicy.apiServer={"ports":[6443],"cidrs":["10.0.0.0/28"]}"#,
            "--set-json",
            r#"networkPolicy.dns.to=[{"namespaceSelector":{},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}]"#,
            "--set-json",
            r#"networkPolicy.clouds={"ports":[443,8443],"cidrs":["203.0.113.0/24"]}"#,
            "--set-json",
            r#"networkPolicy.extraEgress=[{"to":[{"ipBlock":{"cidr":"10.0.5.10/32"}}],"ports":[{"port":3128}]}]"#,
        ],
    ];
    for values in sets {
        let warnings = server_dry_run(&cluster, &helm, values);
        assert!(
            !warnings.contains("PodSecurity"),
            "{values:?} violates the restricted Pod Security level:\n{warnings}"
        );
    }
}

/// `kubectl get` of one object as JSON, or None when it does not exist.
fn get(env: &TestEnv, kind: &str, namespace: &str, name: &str) -> Option<Value> {
    let mut args = vec!["get", kind, name, "-o", "json"];
    if !namespace.is_empty() {
        args.extend(["-n", namespace]);
    }
    let out = env.kubectl(&args).expect("kubectl runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(stderr.contains("NotFound"), "kubectl get {kind} {name}: {stderr}");
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn kubectl_ok(env: &TestEnv, args: &[&str]) -> String {
    let out = env.kubectl(args).expect("kubectl runs");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn operator_args(env: &TestEnv) -> Vec<String> {
    let deployment = get(env, "deployment", NAMESPACE, "natgw-operator").expect("the Deployment exists");
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    args.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
}

/// docs/install.md's Helm commands, on an API server of its own (cluster-scoped objects, and no CRD yet: the
/// chart's crds/ installs it): install, upgrade, uninstall, install again; a release adopting a
/// kustomize install; a release in a namespace Helm creates. No node runs the pods: the objects
/// are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_upgrade_and_uninstall_keep_the_crd_and_natgateways() {
    let env = TestEnv::start().await.unwrap_or_else(|e| panic!("{e}"));
    let helm = Helm::new(Some(env.kubeconfig.as_path()));
    // Helm keeps the release in its namespace, so it must exist first; the chart then adopts it.
    kubectl_ok(&env, &["create", "namespace", NAMESPACE]);
    let install = ["install", RELEASE, CHART, "--namespace", NAMESPACE, "--take-ownership"];
    helm.ok(&install);

    // Every rendered object exists, and the CRD from crds/ is served.
    let rendered = helm.objects(NAMESPACE, &[]);
    for (kind, namespace, name) in rendered.keys() {
        assert!(get(&env, kind, namespace, name).is_some(), "{kind} {namespace}/{name} was not installed");
    }
    kubectl_ok(&env, &["wait", "--for=condition=Established", "crd/natgateways.natgw.io", "--timeout=30s"]);
    let namespace = get(&env, "namespace", "", NAMESPACE).unwrap();
    assert_eq!(namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
    assert_eq!(namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm", "adopted");
    let deployment = get(&env, "deployment", NAMESPACE, "natgw-operator").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert!(operator_args(&env).windows(2).any(|w| w == ["--log-format", "json"]));

    // NatGateways in the release's namespace and in a team's.
    kubectl_ok(&env, &["create", "namespace", "platform"]);
    for ns in [NAMESPACE, "platform"] {
        let natgw = json!({
            "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway",
            "metadata": {"name": "egress", "namespace": ns},
            "spec": natgw_testkit::tencent_spec("nat-1", None, "Small", "tencent-creds", None),
        });
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), natgw.to_string()).unwrap();
        kubectl_ok(&env, &["apply", "-f", file.path().to_str().unwrap()]);
    }
    let uids: Vec<Value> = [NAMESPACE, "platform"]
        .iter()
        .map(|ns| get(&env, "natgateway", ns, "egress").unwrap()["metadata"]["uid"].clone())
        .collect();

    // An upgrade changes the Deployment in place.
    helm.ok(&["upgrade", RELEASE, CHART, "--namespace", NAMESPACE, "--set", "replicas=1", "--set", "logFormat=plain"]);
    let deployment = get(&env, "deployment", NAMESPACE, "natgw-operator").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert!(operator_args(&env).windows(2).any(|w| w == ["--log-format", "plain"]), "{:?}", operator_args(&env));
    let history = helm.ok(&["history", RELEASE, "--namespace", NAMESPACE, "-o", "json"]);
    let history: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");

    // Uninstall removes the operator and keeps the CRD, the namespace and every NatGateway.
    let out = helm.ok(&["uninstall", RELEASE, "--namespace", NAMESPACE]);
    assert!(out.contains("kept due to the resource policy"), "{out}");
    for (kind, namespace, name) in rendered.keys().filter(|(kind, ..)| kind != "Namespace") {
        assert!(get(&env, kind, namespace, name).is_none(), "{kind} {namespace}/{name} outlived the uninstall");
    }
    assert!(get(&env, "crd", "", "natgateways.natgw.io").is_some(), "uninstall deleted the CRD");
    assert!(get(&env, "namespace", "", NAMESPACE).is_some(), "uninstall deleted the namespace");
    for (ns, uid) in [NAMESPACE, "platform"].iter().zip(&uids) {
        let natgw = get(&env, "natgateway", ns, "egress").unwrap_or_else(|| panic!("{ns}/egress was deleted"));
        assert_eq!(&natgw["metadata"]["uid"], uid, "{ns}/egress was replaced");
    }

    // The same install again adopts the namespace it kept.
    helm.ok(&install);
    assert!(get(&env, "deployment", NAMESPACE, "natgw-operator").is_some());
    helm.ok(&["uninstall", RELEASE, "--namespace", NAMESPACE]);

    // From kustomize to Helm: the release adopts what `kubectl apply -k deploy/` created (same
    // names, same immutable selectors), and then owns it.
    kubectl_ok(&env, &["apply", "-k", &natgw_testkit::deploy_dir("deploy")]);
    let labels = |kind: &str, namespace: &str, name: &str| {
        get(&env, kind, namespace, name).unwrap()["metadata"]["labels"].clone()
    };
    assert_eq!(labels("deployment", NAMESPACE, "natgw-operator")["app.kubernetes.io/managed-by"], "kustomize");
    helm.ok(&install);
    for (kind, namespace, name) in rendered.keys() {
        assert_eq!(labels(kind, namespace, name)["app.kubernetes.io/managed-by"], "Helm", "{kind} {namespace}/{name}");
    }
    helm.ok(&["uninstall", RELEASE, "--namespace", NAMESPACE]);
    assert!(get(&env, "clusterrole", "", "natgw-operator").is_none(), "the release did not own deploy/'s objects");

    // A namespace of one's own: Helm creates it, the chart leaves it alone.
    helm.ok(&[
        "install",
        RELEASE,
        CHART,
        "--namespace",
        "natgw-ops",
        "--create-namespace",
        "--set",
        "namespace.create=false",
    ]);
    assert!(get(&env, "deployment", "natgw-ops", "natgw-operator").is_some());
    let namespace = get(&env, "namespace", "", "natgw-ops").unwrap();
    assert!(namespace["metadata"]["labels"].get("pod-security.kubernetes.io/enforce").is_none(), "{namespace}");
}
