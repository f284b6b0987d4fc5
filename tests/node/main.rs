//! deploy/ applied the way a platform team applies it, on a real node (crates/testenv/src/node.rs:
//! kubelet, containerd, runc, scheduler, controller-manager): the operator's own image
//! (scripts/build-image.sh) runs as pods, against the cloud simulators listening at the node
//! address. The only changes to deploy/ are the test overlays in tests/node/overlays/; the Helm
//! chart (charts/natgw-operator) gets the same changes as values.
//!
//! The node enforces NetworkPolicies (kube-router's firewall), so every install runs under its
//! NetworkPolicy, and the test sends real packets from and to the operator's pods to show what the
//! policy lets through and what it refuses.
//!
//! One test, one node, steps in order, because every step builds on the last (an install, its
//! leader, its orders) and a node takes ~20 s to start. It needs root; the figures it prints
//! (timings, pod phases, ledger) are what the closing notes of the deployment work quote.
//! Without root, set NATGW_SKIP_NODE_TESTS=1 to skip it.

use std::{
    io::{ErrorKind, Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Pod};
use kube::{Api, Client};
use natgw_operator::api::{NatGateway, OrderPhase, Size};
use natgw_sim::{
    server::SimTls,
    tencent::{SimGateway, TencentSim, TencentSimConfig, TencentSimHandle},
};
use natgw_testenv::node::{API_PORT, NODE_ADDRESS, Node, PAUSE_IMAGE, in_netns_of};
use natgw_testkit::{natgw, ready, sim_credentials, tencent_keys, tencent_spec};
use serde_json::Value;

const OPERATOR_NS: &str = "natgw-system";
const TENANT_NS: &str = "team-a";
/// The image the overlays name; the imported archive is tagged so.
const IMAGE: &str = "localhost/natgw-operator:node-test";
/// Where the overlays' allow-list expects the Tencent simulator (HTTPS).
const TENCENT_PORT: u16 = 9443;
const TC_ID: &str = "AKIDnodetest";
const TC_KEY: &str = "node-test-tencent-secret-key-0123";
/// The Deployment's `--lease-duration` default.
const LEASE: Duration = Duration::from_secs(15);
/// The Deployment's terminationGracePeriodSeconds.
const GRACE: Duration = Duration::from_secs(30);
/// The operator's one port (`--metrics-addr`, `http-metrics`): the policy's only way in.
const METRICS_PORT: u16 = 8080;
/// A port the test listens on inside each operator pod: the policy does not name it.
const UNLISTED_POD_PORT: u16 = 9090;
/// Where a client pod runs, as Prometheus would: another namespace, no policy of its own.
const PROBE_NS: &str = "monitoring";
/// How long kube-router may take to bring its rules in line with a policy or pod change.
const FIREWALL_SYNC: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_on_a_real_node() {
    // Only by asking: the node needs root, and a test that skips itself unasked proves nothing.
    if std::env::var_os("NATGW_SKIP_NODE_TESTS").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: NATGW_SKIP_NODE_TESTS=1 (the real-node test needs root)");
        return;
    }
    let image = image_archive();
    let started = Instant::now();
    let node = Node::start(&[&image]).await.unwrap_or_else(|e| panic!("{e}"));
    println!(
        "node Ready {:.1} s after start, kube-router's firewall in force {:.1} s of it",
        started.elapsed().as_secs_f64(),
        node.firewall_sync.as_secs_f64()
    );
    tag_image(&node, &image);

    let tls = SimTls::generate_for(None, &[NODE_ADDRESS.to_string()]).unwrap();
    let tencent = TencentSim::start(TencentSimConfig {
        credentials: sim_credentials(TC_ID, TC_KEY),
        // Long enough to delete the leader while an order runs.
        change_time: Duration::from_secs(12),
        bind: IpAddr::V4(NODE_ADDRESS),
        https_port: Some(TENCENT_PORT),
        tls: Some(tls.clone()),
        gateways: ["nat-node-1", "nat-node-2", "nat-node-3"].map(|id| SimGateway::new(id, "vpc-1", 1_000_000)).into(),
        ..TencentSimConfig::default()
    })
    .await
    .unwrap();
    let endpoint = tencent.https_url.clone().unwrap();
    let client = node.env.client().await.unwrap();
    let files = tempfile::Builder::new().prefix("natgw-node-test-").tempdir().unwrap();
    // A port of the node that no policy names (the node's own listener, as the API server's and
    // the simulator's are): outside kube-router's always-open NodePort range 30000-32767.
    let unlisted = loop {
        let listener = TcpListener::bind((NODE_ADDRESS, 0)).unwrap();
        if !(30000..=32767).contains(&listener.local_addr().unwrap().port()) {
            break listener;
        }
    };
    let t = Test {
        node: &node,
        client,
        tencent: &tencent,
        endpoint,
        ca: tls.ca_pem().to_owned(),
        files,
        unlisted_node_port: unlisted.local_addr().unwrap().port(),
        probe: OnceLock::new(),
        policy_steps: Mutex::new(Duration::ZERO),
    };
    let probing = Instant::now();
    t.start_probe().await;
    t.spent(probing);

    t.cluster_wide_install().await;
    t.namespaced_install().await;
    t.helm_install().await;
    println!(
        "the NetworkPolicy steps (probe pod, packets, the policy deleted and applied again) took {:.1} s in all",
        t.policy_steps.lock().unwrap().as_secs_f64()
    );
    drop(t);

    // Teardown leaves nothing: processes, mounts, pod cgroups, network namespaces, the address,
    // the firewall.
    // The node's own processes name its directory (other tests' API servers may run meanwhile).
    let node_dir = node.env.kubeconfig.parent().unwrap().display().to_string();
    let stopping = Instant::now();
    drop(node);
    println!("node torn down in {:.1} s", stopping.elapsed().as_secs_f64());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("/natgw-testenv-"), "mounts left:\n{mounts}");
    let cgroups: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("kubepods"))
        .chain([PathBuf::from("/sys/fs/cgroup/kubepods")])
        .filter(|p| p.exists())
        .collect();
    assert!(cgroups.is_empty(), "pod cgroups left: {cgroups:?}");
    let netns: Vec<_> =
        std::fs::read_dir("/run/netns").into_iter().flatten().flatten().map(|e| e.file_name()).collect();
    assert!(!netns.iter().any(|n| n.to_string_lossy().starts_with("cni-")), "network namespaces left: {netns:?}");
    let lo = std::process::Command::new("ip").args(["-brief", "addr", "show", "lo"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&lo.stdout).contains(&NODE_ADDRESS.to_string()), "the node address is left");
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        // Every component's arguments name the node's directory; containers run these two.
        .filter(|c| c.contains(&node_dir) || c.starts_with("/usr/local/bin/natgw-operator") || c == "/pause ")
        .collect();
    assert!(left.is_empty(), "processes left: {left:?}");
    // kube-router's firewall: its chains and the jumps to them, its ipsets.
    let rules = std::process::Command::new("iptables-save").args(["-t", "filter"]).output().unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    let firewall: Vec<&str> = rules
        .lines()
        .filter(|l| ["KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-"].iter().any(|c| l.contains(c)))
        .collect();
    assert!(firewall.is_empty(), "kube-router's rules left: {firewall:#?}");
    let sets = std::process::Command::new("ipset").args(["list", "-n"]).output().unwrap();
    let sets = String::from_utf8_lossy(&sets.stdout);
    assert!(!sets.lines().any(|s| s.starts_with("KUBE-SRC-") || s.starts_with("KUBE-DST-")), "ipsets left: {sets}");
    println!("node test done in {:.1} s", started.elapsed().as_secs_f64());
}

struct Test<'a> {
    node: &'a Node,
    client: Client,
    tencent: &'a TencentSimHandle,
    endpoint: String,
    ca: String,
    /// Files kubectl reads (objects, the simulators' CA); removed with the test.
    files: tempfile::TempDir,
    /// A port the test listens on at the node address (the kernel completes the handshake, no
    /// accept needed); the operator's policy does not name it.
    unlisted_node_port: u16,
    /// The process of a pod in [`PROBE_NS`] (the pause image): its network namespace is where
    /// the test connects to the operator's pods from, as a scraper in another namespace would.
    probe: OnceLock<u32>,
    /// Time spent in the NetworkPolicy steps, which kube-router's enforcement added to the test.
    policy_steps: Mutex<Duration>,
}

/// An operator pod as the network sees it, with a listener on [`UNLISTED_POD_PORT`] in its
/// network namespace (closed when this drops, so the namespace can go with the pod).
struct PodNet {
    name: String,
    pid: u32,
    ip: IpAddr,
    _listener: TcpListener,
}

/// One operator pod's traffic, each a TCP connection with real packets (`Err`: how it failed).
#[derive(Debug)]
struct Traffic {
    pod: String,
    /// From the pod to the API server (6443 on the node), allowed.
    to_api_server: Result<(), ErrorKind>,
    /// From the pod to the cloud simulator (9443 on the node, the test overlay's rule), allowed.
    to_cloud: Result<(), ErrorKind>,
    /// From the pod to the node's port no rule names: refused under the policy.
    to_unlisted: Result<(), ErrorKind>,
    /// `GET /metrics` from the probe pod (another namespace), allowed.
    metrics_from_probe: Result<(), String>,
    /// From the probe pod to the pod's unlisted port: refused under the policy.
    unlisted_from_probe: Result<(), ErrorKind>,
    /// From the node itself to that port: always let through (the kubelet's probes come so).
    unlisted_from_node: Result<(), ErrorKind>,
}

impl Test<'_> {
    /// deploy/ with its ClusterRole: pods, probes, security, in-cluster config, a reconcile,
    /// leader failover mid-order with a graceful stop, logs, metrics, and the uninstall.
    async fn cluster_wide_install(&self) {
        let applied = Instant::now();
        self.install("cluster");
        let pods = self.wait_available(2, Duration::from_secs(45)).await;
        println!("deploy/: 2 pods Ready {:.1} s after kubectl apply", applied.elapsed().as_secs_f64());
        for pod in &pods {
            self.check_pod(pod);
        }
        // In force before the first order: every order below goes out under the policy.
        let checking = Instant::now();
        let nets = self.pod_nets(&pods);
        let took = self.wait_traffic(&nets, true).await;
        println!("deploy/'s NetworkPolicy in force on both pods {:.1} s after they were Ready", took.as_secs_f64());
        drop(nets);
        self.spent(checking);

        // A tenant, as docs/credentials.md has it: its Secret, its grant, its NatGateway.
        self.kubectl(&["create", "namespace", TENANT_NS]);
        self.kubectl(&[
            "create",
            "rolebinding",
            "natgw-operator-secrets",
            "-n",
            TENANT_NS,
            "--clusterrole=natgw-operator-secret-reader",
            "--serviceaccount=natgw-system:natgw-operator",
        ]);
        self.apply_secret(TENANT_NS);
        let reconciled = Instant::now();
        self.apply_natgw(TENANT_NS, "gw-1", "nat-node-1", "Medium");
        let gw = self.wait_natgw(TENANT_NS, "gw-1", Duration::from_secs(90), ready).await;
        println!("gw-1 Small -> Medium: Ready {:.1} s after kubectl apply", reconciled.elapsed().as_secs_f64());
        assert_eq!(gw.status.unwrap().observed.unwrap().size, Some(Size::Medium));
        assert_eq!(self.orders("nat-node-1"), 1, "one order for one change");

        self.failover_mid_order().await;
        self.logs_and_metrics().await;
        let checking = Instant::now();
        self.policy_removed_and_restored().await;
        self.spent(checking);
        self.uninstall("cluster", || self.kubectl_delete("cluster")).await;
    }

    /// The leader's pod deleted while its order runs: it stops within its grace period leaving
    /// the order in status, the standby takes the lease and finishes that order, and the cloud
    /// saw one order.
    async fn failover_mid_order(&self) {
        self.apply_natgw(TENANT_NS, "gw-2", "nat-node-2", "Large");
        let placed = self
            .wait_natgw(TENANT_NS, "gw-2", Duration::from_secs(60), |o| {
                order(o).is_some_and(|(phase, id)| phase == OrderPhase::InProgress && id.is_some())
            })
            .await;
        let (_, order_id) = order(&placed).unwrap();
        let leader = self.lease_holder().await.expect("a leader holds the lease");
        let requests_before = self.tencent.requests().len();
        println!("gw-2: order {order_id:?} in progress; deleting the leader pod {leader}");

        // Its log to the end, to see how it stopped.
        let follow = self.follow_logs(&leader);
        let deleted = Instant::now();
        self.kubectl(&["delete", "pod", "-n", OPERATOR_NS, &leader, "--wait=false"]);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), OPERATOR_NS);
        let mut new_leader = None;
        let mut gone = None;
        while gone.is_none() || new_leader.is_none() {
            assert!(
                deleted.elapsed() < GRACE + Duration::from_secs(15),
                "after {:?}: old pod gone: {gone:?}, new leader: {new_leader:?}",
                deleted.elapsed()
            );
            if gone.is_none() && pods.get_opt(&leader).await.unwrap().is_none() {
                gone = Some(deleted.elapsed());
                // The intent outlives the pod that placed it.
                let status = self.natgw(TENANT_NS, "gw-2").await;
                assert_eq!(order(&status).map(|(_, id)| id), Some(order_id.clone()), "the order stays in status");
            }
            if new_leader.is_none() {
                new_leader = self.lease_holder().await.filter(|h| *h != leader).map(|h| (h, deleted.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let gone = gone.unwrap();
        let (new_leader, handover) = new_leader.unwrap();
        assert!(gone < GRACE, "the pod stopped within its grace period ({gone:?})");
        // Stopped by its SIGTERM handler, not killed at the end of the grace period: the
        // controller stopped first, then the lease was given up.
        let last_words = follow.wait_with_output().unwrap();
        let last_words = String::from_utf8_lossy(&last_words.stdout);
        let stop = last_words.find("shutting down").unwrap_or_else(|| panic!("no graceful stop:\n{last_words}"));
        let release =
            last_words.find("released the leader lease").unwrap_or_else(|| panic!("lease kept:\n{last_words}"));
        assert!(stop < release, "the lease was released before the controller stopped:\n{last_words}");
        assert!(handover <= LEASE, "the standby leads within the lease duration ({handover:?})");
        let first_call = self.tencent.requests()[requests_before..]
            .iter()
            .map(|r| r.at_unix_ms)
            .min()
            .map(|ms| ms.saturating_sub(unix_ms_at(deleted)));
        println!(
            "failover: old leader's pod gone after {:.1} s (grace {} s), {new_leader} holds the lease after {:.1} s, \
             first cloud call after the deletion at +{first_call:?} ms",
            gone.as_secs_f64(),
            GRACE.as_secs(),
            handover.as_secs_f64()
        );

        let done = self.wait_natgw(TENANT_NS, "gw-2", Duration::from_secs(90), ready).await;
        let status = done.status.unwrap();
        assert_eq!(status.observed.unwrap().size, Some(Size::Large));
        assert_eq!(status.last_order.unwrap().phase, OrderPhase::Succeeded);
        assert_eq!(self.orders("nat-node-2"), 1, "the order the old leader placed is the only one");
        // The Deployment replaces the pod: two replicas again, the new one a standby.
        self.wait_available(2, Duration::from_secs(90)).await;
    }

    async fn logs_and_metrics(&self) {
        let mut leaders = Vec::new();
        for pod in self.pod_names() {
            let logs = self.kubectl(&["logs", "-n", OPERATOR_NS, &pod]);
            assert!(!logs.trim().is_empty(), "{pod} logged nothing");
            for line in logs.lines() {
                serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{pod}: not JSON ({e}): {line}"));
            }
            assert!(!logs.contains(TC_KEY), "{pod}'s log holds the secret key");
            println!("kubectl logs {pod}: {} JSON lines, no secret", logs.lines().count());
            let ip = self.pod_ip(&pod);
            let metrics = reqwest::get(format!("http://{ip}:8080/metrics")).await.unwrap();
            assert!(metrics.status().is_success());
            let text = metrics.text().await.unwrap();
            assert!(text.contains("natgw_"), "{pod}'s /metrics has no natgw_ series");
            assert!(!text.contains(TC_KEY) && !text.contains(TC_ID), "{pod}'s /metrics names a credential");
            if natgw_testkit::sample(&text, "natgw_leader") == 1.0 {
                leaders.push(pod);
            }
        }
        assert_eq!(leaders.len(), 1, "exactly one replica leads: {leaders:?}");
        println!("/metrics answers on both pods; natgw_leader 1 on {} only", leaders[0]);
    }

    fn spent(&self, since: Instant) {
        *self.policy_steps.lock().unwrap() += since.elapsed();
    }

    /// Starts the probe pod ([`PROBE_NS`]/probe, the pause image) and finds its process.
    async fn start_probe(&self) {
        self.kubectl(&["create", "namespace", PROBE_NS]);
        // The ServiceAccount admission wants the namespace's `default` account, which a
        // controller creates a moment after the namespace.
        let created = Instant::now();
        while self
            .node
            .kubectl(&["get", "serviceaccount", "default", "-n", PROBE_NS])
            .is_ok_and(|o| !o.status.success())
        {
            assert!(created.elapsed() < Duration::from_secs(30), "no default ServiceAccount in {PROBE_NS}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": PROBE_NS},
            "spec": {
                "containers": [{"name": "probe", "image": PAUSE_IMAGE, "imagePullPolicy": "Never"}],
                "terminationGracePeriodSeconds": 1,
            },
        });
        self.apply_json(&pod);
        let started = Instant::now();
        let pod = loop {
            let pod: Value =
                serde_json::from_str(&self.kubectl(&["get", "pod", "-n", PROBE_NS, "probe", "-o", "json"])).unwrap();
            if pod["status"]["containerStatuses"][0]["state"]["running"].is_object() {
                break pod;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the probe pod is not running: {}", pod["status"]);
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let pid = container_pid(&pod, "/pause").parse().unwrap();
        println!(
            "probe pod {PROBE_NS}/probe running {:.1} s after kubectl apply, ip {}",
            started.elapsed().as_secs_f64(),
            pod["status"]["podIP"]
        );
        self.probe.set(pid).unwrap();
    }

    /// The operator pods' processes and addresses, each with a listener on [`UNLISTED_POD_PORT`]
    /// made in its network namespace.
    fn pod_nets(&self, pods: &[String]) -> Vec<PodNet> {
        pods.iter()
            .map(|name| {
                let pod: Value =
                    serde_json::from_str(&self.kubectl(&["get", "pod", "-n", OPERATOR_NS, name, "-o", "json"]))
                        .unwrap();
                let pid: u32 = operator_pid(&pod).parse().unwrap();
                let ip = pod["status"]["podIP"].as_str().expect("a pod IP").parse().unwrap();
                let listener = in_netns_of(pid, || TcpListener::bind(("0.0.0.0", UNLISTED_POD_PORT)))
                    .unwrap()
                    .unwrap_or_else(|e| panic!("listening on {UNLISTED_POD_PORT} in {name}: {e}"));
                PodNet { name: name.clone(), pid, ip, _listener: listener }
            })
            .collect()
    }

    fn traffic(&self, pod: &PodNet) -> Traffic {
        let probe = *self.probe.get().expect("the probe pod runs");
        let node = |port| SocketAddr::new(IpAddr::V4(NODE_ADDRESS), port);
        Traffic {
            pod: pod.name.clone(),
            to_api_server: connect_from(pod.pid, node(API_PORT)),
            to_cloud: connect_from(pod.pid, node(TENCENT_PORT)),
            to_unlisted: connect_from(pod.pid, node(self.unlisted_node_port)),
            metrics_from_probe: metrics_from(probe, SocketAddr::new(pod.ip, METRICS_PORT)),
            unlisted_from_probe: connect_from(probe, SocketAddr::new(pod.ip, UNLISTED_POD_PORT)),
            unlisted_from_node: connect(SocketAddr::new(pod.ip, UNLISTED_POD_PORT)),
        }
    }

    /// Sends each pod's [`Traffic`] until the unlisted ports are refused (`enforced`) or open
    /// (no policy) on every pod, within [`FIREWALL_SYNC`]; then what the policy allows must have
    /// gone through too. Returns how long it took.
    async fn wait_traffic(&self, pods: &[PodNet], enforced: bool) -> Duration {
        let started = Instant::now();
        loop {
            let seen: Vec<Traffic> = pods.iter().map(|p| self.traffic(p)).collect();
            let settled =
                seen.iter().all(|t| t.to_unlisted.is_err() == enforced && t.unlisted_from_probe.is_err() == enforced);
            if settled {
                for t in &seen {
                    assert!(
                        t.to_api_server.is_ok()
                            && t.to_cloud.is_ok()
                            && t.metrics_from_probe.is_ok()
                            && t.unlisted_from_node.is_ok(),
                        "allowed traffic did not go through: {t:#?}"
                    );
                }
                let t = &seen[0];
                println!(
                    "{} pods, after {:.1} s of sending ({}): from {}: to the API server {}, to the simulator {}, \
                     to the node's port {} {}; to its {UNLISTED_POD_PORT} from {PROBE_NS}/probe {}, from the node {}; \
                     its /metrics from {PROBE_NS}/probe {}",
                    seen.len(),
                    started.elapsed().as_secs_f64(),
                    if enforced { "policy in force" } else { "no policy" },
                    t.pod,
                    verdict(&t.to_api_server),
                    verdict(&t.to_cloud),
                    self.unlisted_node_port,
                    verdict(&t.to_unlisted),
                    verdict(&t.unlisted_from_probe),
                    verdict(&t.unlisted_from_node),
                    if t.metrics_from_probe.is_ok() { "200 with natgw_ series" } else { "failed" },
                );
                return started.elapsed();
            }
            assert!(
                started.elapsed() < FIREWALL_SYNC,
                "unlisted ports {} after {FIREWALL_SYNC:?}: {seen:#?}\nkube-router:\n{}",
                if enforced { "still open under the policy" } else { "still refused without the policy" },
                self.node.log_tail("kube-router")
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The policy's refusals are the policy's: with it deleted the same connections go through,
    /// and once it is applied again they are refused again.
    async fn policy_removed_and_restored(&self) {
        let nets = self.pod_nets(&self.pod_names());
        self.wait_traffic(&nets, true).await;
        self.kubectl(&["delete", "networkpolicy", "natgw-operator", "-n", OPERATOR_NS]);
        let open = self.wait_traffic(&nets, false).await;
        self.kubectl(&["apply", "-k", &overlay_dir("cluster")]);
        let refused = self.wait_traffic(&nets, true).await;
        println!(
            "NetworkPolicy deleted: the unlisted ports open {:.1} s later; applied again: refused {:.1} s later",
            open.as_secs_f64(),
            refused.as_secs_f64()
        );
    }

    /// `kubectl logs -f` of `pod`, running until the pod's container ends.
    fn follow_logs(&self, pod: &str) -> std::process::Child {
        std::process::Command::new(self.node.env.bin_dir().join("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.node.env.kubeconfig)
            .args(["logs", "-f", "-n", OPERATOR_NS, pod])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl logs -f starts")
    }

    /// deploy/namespaced/: the same, with its Role, NatGateways in the operator's namespace.
    async fn namespaced_install(&self) {
        let applied = Instant::now();
        self.install("namespaced");
        let pods = self.wait_available(2, Duration::from_secs(120)).await;
        println!("deploy/namespaced/: 2 pods Ready {:.1} s after kubectl apply", applied.elapsed().as_secs_f64());
        self.check_pod(&pods[0]);
        self.apply_secret(OPERATOR_NS);
        self.apply_natgw(OPERATOR_NS, "gw-3", "nat-node-3", "Medium");
        let gw = self.wait_natgw(OPERATOR_NS, "gw-3", Duration::from_secs(90), ready).await;
        assert_eq!(gw.status.unwrap().observed.unwrap().size, Some(Size::Medium));
        assert_eq!(self.orders("nat-node-3"), 1);
        // It watches its own namespace only: a change to team-a's NatGateway is not its business.
        self.apply_natgw(TENANT_NS, "gw-1", "nat-node-1", "Large");
        tokio::time::sleep(Duration::from_secs(8)).await;
        let untouched = self.natgw(TENANT_NS, "gw-1").await;
        assert!(untouched.status.unwrap().observed_generation < untouched.metadata.generation);
        assert_eq!(self.orders("nat-node-1"), 1, "no order for another namespace's gateway");
        // Its NatGateways live in the install's namespace: deleted first, while the operator
        // runs to remove their claim tags and finalizers (docs/migration.md, "Claims across clusters").
        let uninstall = || {
            self.kubectl(&["delete", "natgateways", "--all", "-n", OPERATOR_NS, "--wait=true", "--timeout=60s"]);
            self.kubectl_delete("namespaced")
        };
        self.uninstall("namespaced", uninstall).await;
    }

    /// The Helm chart, with as values what the node overlay patches in (image, API server
    /// address, allow-list, the simulators' CA): pods Ready, the tenant's pending change
    /// reconciled, and `helm uninstall` leaving the NatGateways and the cloud alone.
    async fn helm_install(&self) {
        let tools = natgw_testenv::helm_tools().unwrap_or_else(|e| panic!("{e}"));
        let helm = |args: &[&str]| {
            let home = self.files.path().join("helm");
            let out = std::process::Command::new(&tools.helm)
                .env("KUBECONFIG", &self.node.env.kubeconfig)
                .env("HELM_CONFIG_HOME", home.join("config"))
                .env("HELM_CACHE_HOME", home.join("cache"))
                .env("HELM_DATA_HOME", home.join("data"))
                .args(args)
                .output()
                .expect("helm runs");
            assert!(out.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let (repository, tag) = IMAGE.rsplit_once(':').unwrap();
        let values = serde_json::json!({
            "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
            "extraEnv": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": NODE_ADDRESS.to_string()},
                {"name": "KUBERNETES_SERVICE_PORT", "value": API_PORT.to_string()},
            ],
            "allowedEndpoints": [self.endpoint],
            "allowPrivateEndpoints": true,
            "extraCA": {"configMap": "natgw-sim-ca", "key": "ca.pem"},
            // The simulators' ports, as the overlay's egress rule has them; the node enforces it.
            "networkPolicy": {"clouds": {"ports": [443, 9443, 9444]}},
        });
        let values = self.write("values.json", &values.to_string());
        // Helm keeps the release in its namespace: it comes first, the chart adopts it.
        self.kubectl(&["create", "namespace", OPERATOR_NS]);
        let ca = self.write("sim-ca.pem", &self.ca);
        self.kubectl(&["create", "configmap", "natgw-sim-ca", "-n", OPERATOR_NS, &format!("--from-file=ca.pem={ca}")]);
        let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/natgw-operator");
        let installed = Instant::now();
        helm(&["install", "natgw-operator", chart, "-n", OPERATOR_NS, "--take-ownership", "-f", &values]);
        let pods = self.wait_available(2, Duration::from_secs(120)).await;
        println!("helm install: 2 pods Ready {:.1} s after helm install", installed.elapsed().as_secs_f64());
        for pod in &pods {
            self.check_pod(pod);
        }
        // team-a's gw-1 went to Large while only the namespaced install ran: this one orders it.
        let gw = self.wait_natgw(TENANT_NS, "gw-1", Duration::from_secs(90), ready).await;
        assert_eq!(gw.status.unwrap().observed.unwrap().size, Some(Size::Large));
        assert_eq!(self.orders("nat-node-1"), 2, "one order for the one pending change");
        let checking = Instant::now();
        let nets = self.pod_nets(&pods);
        self.wait_traffic(&nets, true).await;
        println!("the chart's NetworkPolicy in force on both pods: the same verdicts as deploy/'s");
        drop(nets);
        self.spent(checking);
        self.uninstall("helm", || {
            helm(&["uninstall", "natgw-operator", "-n", OPERATOR_NS, "--wait", "--timeout=120s"]);
            // Helm waits for the Deployment; its pods go after it (the namespace stays).
            let deadline = Instant::now() + Duration::from_secs(90);
            while !self.pod_names().is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .await;
    }

    /// `kubectl apply -k` of a test overlay, after the CRD (installed on its own, as docs/install.md
    /// says) and the simulators' CA the overlay mounts.
    fn install(&self, overlay: &str) {
        self.kubectl(&["apply", "--server-side", "-k", &format!("{}/deploy/crd", env!("CARGO_MANIFEST_DIR"))]);
        self.kubectl(&["wait", "--for=condition=Established", "crd/natgateways.natgw.io", "--timeout=30s"]);
        // The namespace comes with the install, but the CA's ConfigMap must exist for the pods.
        let _ = self.node.kubectl(&["create", "namespace", OPERATOR_NS]);
        let ca = self.write("sim-ca.pem", &self.ca);
        self.kubectl(&["create", "configmap", "natgw-sim-ca", "-n", OPERATOR_NS, &format!("--from-file=ca.pem={ca}")]);
        self.kubectl(&["apply", "-k", &overlay_dir(overlay)]);
    }

    /// An uninstall (`kubectl delete -k` of `overlay`, or what `remove` does): the operator goes,
    /// every NatGateway and the cloud stay as they were.
    async fn uninstall(&self, overlay: &str, remove: impl FnOnce()) {
        let natgws: Api<NatGateway> = Api::all(self.client.clone());
        let before: Vec<(String, Option<i64>)> =
            natgws.list(&Default::default()).await.unwrap().items.iter().map(generation_and_name).collect();
        let orders = self.tencent.orders().len();
        let started = Instant::now();
        remove();
        assert!(self.pod_names().is_empty(), "no operator pod after the uninstall ({overlay})");
        println!("uninstall ({overlay}): done in {:.1} s", started.elapsed().as_secs_f64());
        // Nothing calls the cloud any more.
        let calls = self.tencent.requests().len();
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(self.tencent.requests().len(), calls, "a cloud call after the uninstall");
        assert_eq!(self.tencent.orders().len(), orders);
        let after: Vec<(String, Option<i64>)> =
            natgws.list(&Default::default()).await.unwrap().items.iter().map(generation_and_name).collect();
        let kept: Vec<_> = before.iter().filter(|b| !b.0.starts_with(&format!("{OPERATOR_NS}/"))).collect();
        for natgw in kept {
            assert!(after.contains(natgw), "{} did not survive the uninstall", natgw.0);
        }
    }

    /// `kubectl delete -k` of a test overlay, waiting for what it deletes (its namespace too).
    fn kubectl_delete(&self, overlay: &str) {
        self.kubectl(&["delete", "-k", &overlay_dir(overlay), "--wait=true", "--timeout=120s"]);
    }

    /// Pod checks: Ready through its probes, the security context in force on the real
    /// process, and in-cluster config from the mounted ServiceAccount token.
    fn check_pod(&self, name: &str) {
        let pod: Value =
            serde_json::from_str(&self.kubectl(&["get", "pod", "-n", OPERATOR_NS, name, "-o", "json"])).unwrap();
        let container = &pod["spec"]["containers"][0];
        assert!(
            container["readinessProbe"]["httpGet"].is_object() && container["livenessProbe"]["httpGet"].is_object()
        );
        let status = &pod["status"]["containerStatuses"][0];
        assert_eq!(status["ready"], true, "{name}: {status}");
        assert_eq!(status["restartCount"], 0, "{name} restarted: {status}");
        let env: Vec<&str> = container["env"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
        assert!(!env.contains(&"KUBECONFIG"), "in-cluster config, no kubeconfig");
        let mounts = container["volumeMounts"].as_array().unwrap();
        assert!(
            mounts.iter().any(|m| m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"),
            "{name} has no ServiceAccount token mounted: {mounts:?}"
        );

        // The process itself, as the kernel sees it.
        let pid = operator_pid(&pod);
        let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |key: &str| {
            proc_status.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.split_whitespace().next().unwrap_or(""))
        };
        assert_eq!(field("Uid:"), Some("65532"), "{name} runs as 65532");
        assert_eq!(field("Gid:"), Some("65532"));
        assert_eq!(field("CapEff:"), Some("0000000000000000"), "{name} has capabilities");
        assert_eq!(field("CapBnd:"), Some("0000000000000000"), "{name} can regain capabilities");
        assert_eq!(field("NoNewPrivs:"), Some("1"));
        let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        let root = mountinfo.lines().find(|l| l.split(' ').nth(4) == Some("/")).expect("a root mount");
        assert!(root.split(' ').nth(5).unwrap().split(',').any(|o| o == "ro"), "{name}'s root is writable: {root}");
        // The memory limit is the kernel's, on the container's cgroup (v1 here, v2 elsewhere).
        let limit = container["resources"]["limits"]["memory"].as_str().expect("a memory limit");
        let bytes = limit.strip_suffix("Mi").and_then(|m| m.parse::<u64>().ok()).expect("a limit in Mi") << 20;
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let enforced = cgroups.lines().find_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let (controllers, path) = rest.split_once(':')?;
            let file = match controllers {
                "memory" => format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"),
                "" => format!("/sys/fs/cgroup{path}/memory.max"),
                _ => return None,
            };
            std::fs::read_to_string(file).ok()?.trim().parse::<u64>().ok()
        });
        assert_eq!(enforced, Some(bytes), "{name}'s memory limit {limit} is not enforced");
        let rss = field("VmRSS:").unwrap_or("?");
        println!(
            "{name}: phase {}, Ready via its probes, pid {pid} uid 65532, no capabilities, read-only root, \
             memory limit {limit} enforced by its cgroup, RSS {rss} kB",
            pod["status"]["phase"]
        );
    }

    async fn wait_available(&self, replicas: usize, limit: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let ready: Vec<String> = self
                .pods()
                .into_iter()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .filter(|p| {
                    p["status"]["conditions"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
                })
                .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
                .collect();
            if ready.len() == replicas {
                return ready;
            }
            if started.elapsed() > limit {
                let pods = self.kubectl(&["get", "pods", "-n", OPERATOR_NS, "-o", "wide"]);
                let events = self.kubectl(&["get", "events", "-n", OPERATOR_NS]);
                panic!(
                    "{replicas} Ready operator pods not reached in {limit:?}:\n{pods}\n{events}\noperator logs:\n{}",
                    self.operator_logs(&["--tail=20", "--previous"])
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn pods(&self) -> Vec<Value> {
        let list: Value = serde_json::from_str(&self.kubectl(&[
            "get",
            "pods",
            "-n",
            OPERATOR_NS,
            "-l",
            "app.kubernetes.io/name=natgw-operator",
            "-o",
            "json",
        ]))
        .unwrap();
        list["items"].as_array().cloned().unwrap_or_default()
    }

    fn pod_names(&self) -> Vec<String> {
        self.pods().iter().filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned)).collect()
    }

    fn pod_ip(&self, pod: &str) -> String {
        self.kubectl(&["get", "pod", "-n", OPERATOR_NS, pod, "-o", "jsonpath={.status.podIP}"])
    }

    async fn lease_holder(&self) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), OPERATOR_NS);
        leases.get_opt("natgw-operator").await.ok()??.spec?.holder_identity.filter(|h| !h.is_empty())
    }

    fn apply_secret(&self, namespace: &str) {
        let secret = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tencent", "namespace": namespace},
            "stringData": tencent_keys(TC_ID, TC_KEY),
        });
        self.apply_json(&secret);
    }

    fn apply_natgw(&self, namespace: &str, name: &str, gateway: &str, size: &str) {
        let mut obj =
            serde_json::to_value(natgw(name, tencent_spec(gateway, None, size, "tencent", Some(&self.endpoint))))
                .unwrap();
        obj["metadata"]["namespace"] = namespace.into();
        self.apply_json(&obj);
    }

    /// Writes `text` to this test's file `name` and returns its path.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn apply_json(&self, obj: &Value) {
        let file = self.write("object.json", &obj.to_string());
        self.kubectl(&["apply", "-f", &file]);
    }

    async fn natgw(&self, namespace: &str, name: &str) -> NatGateway {
        Api::<NatGateway>::namespaced(self.client.clone(), namespace).get(name).await.unwrap()
    }

    async fn wait_natgw(
        &self,
        namespace: &str,
        name: &str,
        limit: Duration,
        done: impl Fn(&NatGateway) -> bool,
    ) -> NatGateway {
        let started = Instant::now();
        loop {
            let obj = self.natgw(namespace, name).await;
            if done(&obj) {
                return obj;
            }
            if started.elapsed() > limit {
                let logs = self.operator_logs(&["--tail=20"]);
                panic!("{namespace}/{name} not there in {limit:?}; status: {:#?}\noperator logs:\n{logs}", obj.status);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every operator pod's log (`kubectl logs` with `args`), for failure messages.
    fn operator_logs(&self, args: &[&str]) -> String {
        let mut logs = String::new();
        for pod in self.pod_names() {
            let mut all = vec!["logs", "-n", OPERATOR_NS, pod.as_str()];
            all.extend_from_slice(args);
            if let Ok(out) = self.node.kubectl(&all) {
                logs.push_str(&format!(
                    "--- {pod}\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        logs
    }

    fn orders(&self, gateway: &str) -> usize {
        self.tencent.orders().iter().filter(|o| o.gateway_id == gateway).count()
    }

    /// kubectl as the cluster admin; panics with its stderr when it fails. A connection that
    /// fails is tried again twice (said on stderr): 2 busy cores can starve the API server for
    /// seconds, and that is not what this test is about.
    fn kubectl(&self, args: &[&str]) -> String {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let out = self.node.kubectl(args).expect("kubectl runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                attempt < 3 && stderr.contains("Unable to connect to the server"),
                "kubectl {args:?} failed: {stderr}"
            );
            eprintln!("kubectl {args:?}: {}; trying again", stderr.trim());
            std::thread::sleep(Duration::from_secs(2));
        }
    }
}

/// The order in status: its phase and the cloud's id for it (API 3.0 has only a request id).
fn order(o: &NatGateway) -> Option<(OrderPhase, Option<String>)> {
    o.status.as_ref()?.order.as_ref().map(|o| (o.phase, o.id.clone().or(o.request_id.clone())))
}

fn generation_and_name(o: &NatGateway) -> (String, Option<i64>) {
    (
        format!("{}/{}", o.metadata.namespace.as_deref().unwrap_or(""), o.metadata.name.as_deref().unwrap_or("")),
        o.metadata.generation,
    )
}

/// The operator container's process on this host, found by its container id in the cgroup.
fn operator_pid(pod: &Value) -> String {
    container_pid(pod, "/usr/local/bin/natgw-operator")
}

/// The process running `program` in the pod's first container.
fn container_pid(pod: &Value, program: &str) -> String {
    let id = pod["status"]["containerStatuses"][0]["containerID"].as_str().expect("a container id");
    let id = id.trim_start_matches("containerd://");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .find(|p| {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            cmdline.starts_with(program.as_bytes())
                && std::fs::read_to_string(format!("/proc/{p}/cgroup")).is_ok_and(|c| c.contains(id))
        })
        .unwrap_or_else(|| panic!("no {program} process in container {id}"))
}

/// A TCP connection from here (the node), with a short timeout: kube-router refuses what a
/// policy does not allow (REJECT), so a refusal is quick.
fn connect(addr: SocketAddr) -> Result<(), ErrorKind> {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map(drop).map_err(|e| e.kind())
}

/// How a connection went, for the test's output.
fn verdict(result: &Result<(), ErrorKind>) -> &'static str {
    match result {
        Ok(()) => "open",
        Err(ErrorKind::ConnectionRefused) => "refused",
        Err(ErrorKind::TimedOut | ErrorKind::WouldBlock) => "timed out",
        Err(_) => "failed",
    }
}

/// [`connect`] from the network namespace of process `pid` (a pod's).
fn connect_from(pid: u32, addr: SocketAddr) -> Result<(), ErrorKind> {
    in_netns_of(pid, move || connect(addr)).expect("entering the pod's network namespace")
}

/// `GET /metrics` from the network namespace of process `pid`: Ok when it answers 200 with the
/// operator's series.
fn metrics_from(pid: u32, addr: SocketAddr) -> Result<(), String> {
    in_netns_of(pid, move || {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        let status = answer.lines().next().unwrap_or("").to_owned();
        if status.split(' ').nth(1) == Some("200") && answer.contains("natgw_") {
            Ok(())
        } else {
            Err(format!("answered {status:?}"))
        }
    })
    .expect("entering the probe pod's network namespace")
}

fn unix_ms_at(instant: Instant) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (now - instant.elapsed()).as_millis() as u64
}

fn overlay_dir(name: &str) -> String {
    format!("{}/tests/node/overlays/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The operator image as an OCI archive: `NATGW_IMAGE_ARCHIVE` (.ci/run builds it first), else
/// scripts/build-image.sh builds it now (the release binary, then the image).
fn image_archive() -> PathBuf {
    if let Some(path) = std::env::var_os("NATGW_IMAGE_ARCHIVE") {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-image.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("scripts/build-image.sh runs");
    assert!(out.status.success(), "scripts/build-image.sh failed (its output is above)");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().expect("the archive path").trim())
}

/// Tags the imported image as the overlays name it, whatever tag the archive carries.
fn tag_image(node: &Node, archive: &Path) {
    let out = std::process::Command::new("tar").arg("-xOf").arg(archive).arg("index.json").output().unwrap();
    let index: Value = serde_json::from_slice(&out.stdout).expect("an OCI archive's index.json");
    let name = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .expect("the archive names its image");
    let out = node.ctr(&["images", "tag", "--force", name, IMAGE]).unwrap();
    assert!(out.status.success(), "ctr images tag: {}", String::from_utf8_lossy(&out.stderr));
}
