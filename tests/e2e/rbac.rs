//! The RBAC in deploy/ is enough and no more: the real operator binary, authenticated with a
//! token of the natgw-operator ServiceAccount bound only by the rendered manifests, resizes a
//! gateway on the Tencent simulator; and the same identity is refused everything else. The
//! default install may read no Secret until the namespace grants it one.

use std::{path::Path, time::Duration};

use natgw_operator::api::Size;
use natgw_testkit::{Cluster, Operator, condition, ready, tencent_keys, tencent_sim, tencent_spec};
use serde_json::Value;

const KEY_ID: &str = "AKIDrbactest";
const KEY: &str = "rbac-test-secret-key";
const SA: &str = "natgw-operator";
const SA_NAMESPACE: &str = "natgw-system";
/// The leader-election Lease, the only one the operator may read or renew.
const LEASE: &str = "leases.coordination.k8s.io/natgw-operator";

/// Applies only the identity and RBAC objects of a rendered kustomization, for real: no
/// Deployment (nothing would run it here) and no other grant that could hide a missing rule.
fn apply_rbac(cluster: &Cluster, kustomization: &str) {
    const KINDS: [&str; 6] =
        ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
    let objs: Vec<Value> =
        cluster.kustomize(kustomization).into_iter().filter(|o| KINDS.contains(&o["kind"].as_str().unwrap())).collect();
    assert!(objs.iter().any(|o| o["kind"] == "ServiceAccount"), "{kustomization} has no ServiceAccount");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        serde_json::to_string(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objs})).unwrap(),
    )
    .unwrap();
    // Not Cluster::kubectl: the objects carry their own namespaces.
    let out = cluster.env.kubectl(&["apply", "-f", file.path().to_str().unwrap()]).expect("kubectl runs");
    assert!(out.status.success(), "applying the RBAC of {kustomization}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A kubeconfig holding a fresh TokenRequest token of the operator's ServiceAccount.
fn service_account_kubeconfig(cluster: &Cluster) -> std::path::PathBuf {
    let out = cluster.env.kubectl(&["create", "token", SA, "-n", SA_NAMESPACE, "--duration=1h"]).expect("kubectl runs");
    assert!(out.status.success(), "kubectl create token: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    cluster.env.kubeconfig_for_token(SA, token.trim()).unwrap()
}

/// `kubectl auth can-i` as the ServiceAccount itself (its own token, not impersonation).
fn can_i(cluster: &Cluster, kubeconfig: &Path, args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    let out = cluster.kubectl_as(kubeconfig, &all);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // can-i exits 1 with "no" when refused; anything else is a broken check, not a "no".
    assert!(answer == "yes" || answer == "no", "can-i {args:?}: {answer} {}", String::from_utf8_lossy(&out.stderr));
    answer == "yes"
}

fn assert_grants(cluster: &Cluster, kubeconfig: &Path, yes: &[&[&str]], no: &[&[&str]]) {
    let granted: Vec<String> = no.iter().filter(|a| can_i(cluster, kubeconfig, a)).map(|a| a.join(" ")).collect();
    assert!(granted.is_empty(), "the ServiceAccount may do more than it needs: {granted:#?}");
    let refused: Vec<String> = yes.iter().filter(|a| !can_i(cluster, kubeconfig, a)).map(|a| a.join(" ")).collect();
    assert!(refused.is_empty(), "the ServiceAccount lacks grants it needs: {refused:#?}");
}

/// The binding deploy/README.md tells a namespace to create (and the SecretForbidden message).
fn grant_secrets(cluster: &Cluster) {
    cluster.kubectl(&[
        "create",
        "rolebinding",
        "natgw-operator-secrets",
        "--clusterrole=natgw-operator-secret-reader",
        &format!("--serviceaccount={SA_NAMESPACE}:{SA}"),
    ]);
}

/// Runs the operator binary as the ServiceAccount and resizes one gateway Small -> Medium in the
/// test's namespace, with exactly one cloud order. `ungranted`: the Secret is not readable at
/// first; the resource must say so, and proceed once [`grant_secrets`] binds it.
async fn resize_as_service_account(cluster: &Cluster, kubeconfig: &Path, env: &[(&str, &str)], ungranted: bool) {
    let sim = tencent_sim(KEY_ID, KEY, Duration::from_millis(1500), "nat-rbac").await;
    // The admin creates the user's objects; the operator only reads them and writes status.
    cluster.create_secret("tencent-creds", tencent_keys(KEY_ID, KEY)).await;
    let spec = tencent_spec("nat-rbac", Some("V3"), "Medium", "tencent-creds", Some(&sim.http_url));
    cluster.create_natgw("egress", spec).await;

    let log = tempfile::NamedTempFile::new().unwrap();
    // Dropping the guard kills the process, also when an assertion below panics.
    // Port 0: tests run in parallel, and /metrics is not what this test is about.
    let args = ["--poll-interval", "500ms", "--metrics-addr", "127.0.0.1:0"];
    let mut env = env.to_vec();
    env.push(("NATGW_ALLOWED_ENDPOINTS", &sim.http_url));
    let mut operator = Operator::start(kubeconfig, &args, &env, log.path());
    let logs = || std::fs::read_to_string(log.path()).unwrap_or_default();

    if ungranted {
        let started = std::time::Instant::now();
        let stalled = cluster
            .wait_for("egress", Duration::from_secs(30), |o| condition(o, "Stalled").is_some_and(|c| c.0 == "True"))
            .await;
        let waited = started.elapsed();
        let stalled_condition = stalled.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Stalled").unwrap();
        assert_eq!(stalled_condition.reason, "SecretForbidden", "{stalled_condition:?}");
        let ns = &cluster.namespace;
        for needle in [
            format!("Secret {ns}/tencent-creds"),
            format!("kubectl create rolebinding natgw-operator-secrets -n {ns}"),
            "--clusterrole=natgw-operator-secret-reader".to_owned(),
            format!("--serviceaccount={SA_NAMESPACE}:{SA}"),
        ] {
            assert!(stalled_condition.message.contains(&needle), "{needle:?} missing: {}", stalled_condition.message);
        }
        assert!(sim.orders().is_empty(), "nothing ordered without credentials");
        println!("SecretForbidden after {waited:?}: {}", stalled_condition.message);
        grant_secrets(cluster);
        assert!(!can_i(cluster, kubeconfig, &["get", "secrets", "-n", "default"]), "the grant is the namespace's only");
    }

    let start = std::time::Instant::now();
    let done = loop {
        let obj = cluster.natgws().get("egress").await.unwrap();
        if ready(&obj) {
            break obj;
        }
        if let Some(status) = operator.wait_exit(Duration::from_millis(250)).await {
            panic!("the operator exited ({status}):\n{}", logs());
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not Ready within 60 s; status: {:#?}\noperator log:\n{}",
            obj.status,
            logs()
        );
    };
    println!("Ready {:?} after the operator started (and, if ungranted, the RoleBinding)", start.elapsed());
    let status = done.status.unwrap();
    assert_eq!(status.observed.unwrap().size, Some(Size::Medium));
    let orders = sim.orders();
    assert_eq!(orders.len(), 1, "exactly one order: {orders:?}");
    assert_eq!((orders[0].gateway_id.as_str(), orders[0].target.as_str()), ("nat-rbac", "3000000"));

    // Events went through (the Recorder only logs a failure, so look for them).
    let events = cluster.kubectl(&["get", "events.events.k8s.io", "-o", "json"]);
    let events: Value = serde_json::from_str(&events).unwrap();
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reportingController"] == "natgw-operator")
        .map(|e| e["reason"].as_str().unwrap_or_default())
        .collect();
    assert!(reasons.contains(&"OrderSubmitted") && reasons.contains(&"OrderSucceeded"), "{reasons:?}");
    // Leader election (on by default, as in the Deployment) took the Lease with the Role's grant.
    let holder = cluster.kubectl_as(
        &cluster.env.kubeconfig,
        &["get", LEASE, "-n", SA_NAMESPACE, "-o", "jsonpath={.spec.holderIdentity}"],
    );
    assert!(!String::from_utf8_lossy(&holder.stdout).trim().is_empty(), "the operator holds no Lease");
    let log_text = logs();
    // (Refusals of the Secret before the grant were expected; any other is not.)
    let refused = log_text.lines().filter(|l| l.to_lowercase().contains("forbidden") && !l.contains("SecretForbidden"));
    assert_eq!(refused.count(), 0, "a call was refused:\n{log_text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_wide_rbac_runs_the_operator_and_grants_nothing_else() {
    let cluster = Cluster::start_own("rbac-user").await; // own: the install's cluster-wide RBAC and operator
    // Single tenant: the cluster-wide install plus every Secret (--secret-access=cluster).
    apply_rbac(&cluster, "deploy/all-secrets");
    let kubeconfig = service_account_kubeconfig(&cluster);
    let ns = cluster.namespace.as_str();

    // Granted: what the operator calls, in any namespace (a user namespace here).
    let yes: &[&[&str]] = &[
        &["get", "natgateways.natgw.io", "-n", ns],
        &["list", "natgateways.natgw.io", "--all-namespaces"],
        &["watch", "natgateways.natgw.io", "--all-namespaces"],
        &["get", "natgateways.natgw.io", "--subresource=status", "-n", ns],
        &["patch", "natgateways.natgw.io", "--subresource=status", "-n", ns],
        &["patch", "natgateways.natgw.io", "-n", ns],
        &["get", "secrets", "-n", ns],
        &["list", "secrets", "--all-namespaces"],
        &["watch", "secrets", "--all-namespaces"],
        &["create", "events.events.k8s.io", "-n", ns],
        &["patch", "events.events.k8s.io", "-n", ns],
        // workloadIdentity: a token of a ServiceAccount of the resource's namespace.
        &["create", "serviceaccounts", "--subresource=token", "-n", ns],
        &["create", "leases.coordination.k8s.io", "-n", SA_NAMESPACE],
        &["get", LEASE, "-n", SA_NAMESPACE],
        &["update", LEASE, "-n", SA_NAMESPACE],
        // The cluster id in claims on cloud gateways.
        &["get", "namespaces/kube-system"],
    ];
    // Refused: the spec belongs to the user and their GitOps tool (patch is granted for the
    // finalizer natgw.io/unpaid-order alone; RBAC cannot narrow it to a field); Secrets are only
    // read; nothing else in the cluster is the operator's business.
    let no: &[&[&str]] = &[
        &["create", "natgateways.natgw.io", "-n", ns],
        &["update", "natgateways.natgw.io", "-n", ns],
        &["delete", "natgateways.natgw.io", "-n", ns],
        &["deletecollection", "natgateways.natgw.io", "-n", ns],
        &["update", "natgateways.natgw.io", "--subresource=status", "-n", ns],
        &["create", "secrets", "-n", ns],
        &["update", "secrets", "-n", ns],
        &["patch", "secrets", "-n", ns],
        &["delete", "secrets", "-n", ns],
        &["create", "events", "-n", ns],
        &["delete", "events.events.k8s.io", "-n", ns],
        &["list", "events.events.k8s.io", "-n", ns],
        &["get", "leases.coordination.k8s.io", "-n", ns],
        &["get", "leases.coordination.k8s.io", "-n", SA_NAMESPACE],
        &["update", "leases.coordination.k8s.io/someone-elses", "-n", SA_NAMESPACE],
        &["patch", LEASE, "-n", SA_NAMESPACE],
        &["delete", LEASE, "-n", SA_NAMESPACE],
        &["list", "leases.coordination.k8s.io", "-n", SA_NAMESPACE],
        &["list", "pods", "--all-namespaces"],
        &["get", "configmaps", "-n", ns],
        &["list", "customresourcedefinitions.apiextensions.k8s.io"],
        &["get", "namespaces/default"],
        &["list", "namespaces"],
        // Tokens only: ServiceAccounts themselves are neither read nor changed.
        &["get", "serviceaccounts", "-n", ns],
        &["list", "serviceaccounts", "--all-namespaces"],
        &["watch", "serviceaccounts", "-n", ns],
        &["create", "serviceaccounts", "-n", ns],
        &["update", "serviceaccounts", "-n", ns],
        &["patch", "serviceaccounts", "-n", ns],
        &["delete", "serviceaccounts", "-n", ns],
        &["get", "serviceaccounts", "--subresource=token", "-n", ns],
        &["impersonate", "users"],
        &["escalate", "clusterroles.rbac.authorization.k8s.io"],
        &["*", "*"],
    ];
    assert_grants(&cluster, &kubeconfig, yes, no);

    resize_as_service_account(&cluster, &kubeconfig, &[("NATGW_SECRET_ACCESS", "cluster")], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_install_reads_only_the_secrets_a_namespace_granted() {
    let cluster = Cluster::start_own("rbac-tenant").await; // own: the install's cluster-wide RBAC and operator
    apply_rbac(&cluster, "deploy");
    let kubeconfig = service_account_kubeconfig(&cluster);
    let ns = cluster.namespace.as_str();

    // Multi-tenant: NatGateways everywhere, but not one Secret until a namespace grants it.
    let yes: &[&[&str]] = &[
        &["list", "natgateways.natgw.io", "--all-namespaces"],
        &["watch", "natgateways.natgw.io", "--all-namespaces"],
        &["patch", "natgateways.natgw.io", "--subresource=status", "-n", ns],
        &["create", "events.events.k8s.io", "-n", ns],
        &["create", "serviceaccounts", "--subresource=token", "-n", ns],
        &["watch", "rolebindings.rbac.authorization.k8s.io", "--all-namespaces"],
        &["watch", "roles.rbac.authorization.k8s.io", "--all-namespaces"],
    ];
    let no: &[&[&str]] = &[
        &["get", "serviceaccounts", "-n", ns],
        &["create", "rolebindings.rbac.authorization.k8s.io", "-n", ns],
        &["delete", "roles.rbac.authorization.k8s.io", "-n", ns],
        &["list", "serviceaccounts", "--all-namespaces"],
        &["create", "serviceaccounts", "-n", ns],
        &["get", "secrets", "-n", ns],
        &["get", "secrets/tencent-creds", "-n", ns],
        &["list", "secrets", "-n", ns],
        &["list", "secrets", "--all-namespaces"],
        &["watch", "secrets", "--all-namespaces"],
        &["get", "secrets", "-n", "kube-system"],
    ];
    assert_grants(&cluster, &kubeconfig, yes, no);

    // As deploy/ runs it (NATGW_SECRET_ACCESS=granted): SecretForbidden, then after the
    // namespace's RoleBinding one order.
    resize_as_service_account(&cluster, &kubeconfig, &[("NATGW_SECRET_ACCESS", "granted")], true).await;
    // The binding grants get, in this namespace only.
    assert!(can_i(&cluster, &kubeconfig, &["get", "secrets", "-n", ns]));
    assert!(!can_i(&cluster, &kubeconfig, &["list", "secrets", "-n", ns]));
    assert!(!can_i(&cluster, &kubeconfig, &["get", "secrets", "-n", "kube-system"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_rbac_runs_the_operator_in_its_namespace_only() {
    // The namespaced install manages NatGateways in its own namespace: the test's objects go there.
    let cluster = Cluster::start_own(SA_NAMESPACE).await; // own: the install's RBAC objects
    apply_rbac(&cluster, "deploy/namespaced");
    let other = "someone-else";
    cluster.kubectl(&["create", "namespace", other]);
    let kubeconfig = service_account_kubeconfig(&cluster);

    let yes: &[&[&str]] = &[
        &["list", "natgateways.natgw.io", "-n", SA_NAMESPACE],
        &["watch", "natgateways.natgw.io", "-n", SA_NAMESPACE],
        &["patch", "natgateways.natgw.io", "--subresource=status", "-n", SA_NAMESPACE],
        &["patch", "natgateways.natgw.io", "-n", SA_NAMESPACE],
        &["watch", "secrets", "-n", SA_NAMESPACE],
        &["create", "events.events.k8s.io", "-n", SA_NAMESPACE],
        &["update", LEASE, "-n", SA_NAMESPACE],
        &["create", "serviceaccounts", "--subresource=token", "-n", SA_NAMESPACE],
        &["get", "namespaces/kube-system"],
    ];
    let no: &[&[&str]] = &[
        &["get", "namespaces/default"],
        &["list", "namespaces"],
        &["create", "serviceaccounts", "--subresource=token", "-n", other],
        &["get", "serviceaccounts", "-n", SA_NAMESPACE],
        &["list", "serviceaccounts", "-n", SA_NAMESPACE],
        &["list", "natgateways.natgw.io", "--all-namespaces"],
        &["list", "natgateways.natgw.io", "-n", other],
        &["get", "secrets", "-n", other],
        &["list", "secrets", "--all-namespaces"],
        &["create", "events.events.k8s.io", "-n", other],
        &["patch", "natgateways.natgw.io", "-n", other],
        &["patch", LEASE, "-n", SA_NAMESPACE],
        &["list", "pods", "-n", SA_NAMESPACE],
    ];
    assert_grants(&cluster, &kubeconfig, yes, no);

    // Started without a namespace, the operator lists cluster-wide at start-up, is refused, and
    // exits with the API server's answer instead of running blind.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut unscoped = Operator::start(&kubeconfig, &["--metrics-addr", "127.0.0.1:0"], &[], log.path());
    let exit = unscoped.wait_exit(Duration::from_secs(30)).await.expect("the operator exits");
    assert!(!exit.success());
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(text.contains("forbidden"), "{text}");

    // As deploy/namespaced configures it: NATGW_NAMESPACE is the pod's own namespace. Without it
    // the operator would list cluster-wide and be refused at start-up.
    resize_as_service_account(&cluster, &kubeconfig, &[("NATGW_NAMESPACE", SA_NAMESPACE)], false).await;
}

/// A namespace that revokes its grant (deletes the RoleBinding) is honoured at once: the next
/// change orders nothing, since an order reads its Secret afresh, and at rest the resource shows
/// `SecretForbidden` within a minute although the drift interval is ten (the RoleBinding watch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_stops_the_next_order_and_shows_at_rest() {
    let cluster = Cluster::start_own("rbac-revoke").await; // own: cluster-wide RBAC and operator
    apply_rbac(&cluster, "deploy");
    let kubeconfig = service_account_kubeconfig(&cluster);
    grant_secrets(&cluster);
    let sim = tencent_sim(KEY_ID, KEY, Duration::from_millis(500), "nat-revoke").await;
    sim.seed_gateway(natgw_sim::tencent::SimGateway::new("nat-revoke-2", "vpc-1", 1_000_000));
    cluster.create_secret("tencent-creds", tencent_keys(KEY_ID, KEY)).await;
    for (name, gateway) in [("rest", "nat-revoke"), ("change", "nat-revoke-2")] {
        let spec = tencent_spec(gateway, Some("V3"), "Medium", "tencent-creds", Some(&sim.http_url));
        cluster.create_natgw(name, spec).await;
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let args = ["--poll-interval", "500ms", "--drift-interval", "10m", "--metrics-addr", "127.0.0.1:0"];
    let env = [("NATGW_SECRET_ACCESS", "granted"), ("NATGW_ALLOWED_ENDPOINTS", sim.http_url.as_str())];
    let _operator = Operator::start(&kubeconfig, &args, &env, log.path());
    for name in ["rest", "change"] {
        cluster.wait_for(name, Duration::from_secs(60), ready).await;
    }
    assert_eq!(sim.orders().len(), 2);

    // Revoked, and at once a change: the order's fresh read of the Secret is refused.
    cluster.kubectl(&["delete", "rolebinding", "natgw-operator-secrets"]);
    let revoked = std::time::Instant::now();
    let patch = serde_json::json!({"spec": {"size": "Large"}});
    let api = cluster.natgws();
    api.patch("change", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    let forbidden = |o: &natgw_operator::api::NatGateway| {
        condition(o, "Stalled").is_some_and(|c| c.0 == "True" && c.1 == "SecretForbidden")
    };
    cluster.wait_for("change", Duration::from_secs(30), forbidden).await;
    let at_rest = cluster.wait_for("rest", Duration::from_secs(60), forbidden).await;
    println!("SecretForbidden at rest {:?} after the RoleBinding was deleted", revoked.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sim.orders().len(), 2, "no order after the grant was revoked: {:?}", sim.orders());
    assert_eq!(at_rest.status.unwrap().observed.unwrap().size, Some(Size::Medium));
}
