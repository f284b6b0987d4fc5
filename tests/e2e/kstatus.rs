//! kstatus — the library Flux and kpt compute readiness with (sigs.k8s.io/cli-utils/pkg/kstatus) —
//! reads NatGateways right: Current when Ready, InProgress while an order runs and while a spec
//! change is not yet observed, Failed when Stalled, Terminating while being deleted. Objects are
//! read with the real kubectl and piped into the real library (`kstatus`, built by
//! crates/testenv/build.sh next to kube-apiserver); the controller runs in-process on the in-memory cloud.

use std::{
    io::Write,
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use kube::api::PostParams;
use natgw_operator::{
    api::{NatGateway, ProviderSpec},
    cloud::{Capacity, Registry, connect::CloudConnector, huawei::HuaweiProvider},
};
use natgw_testkit::memory::MemoryCloud;
use natgw_testkit::{Cluster, ready, tencent_keys, tencent_spec};
use serde_json::Value;

/// A finalizer only this test holds, so that a deletion stays pending (Terminating).
const HOLD: &str = "natgw.test/hold";

/// A NatGateway on the in-memory cloud that `finalizers` hold, besides the controller's.
fn natgw(name: &str, gateway: &str, size: &str, secret: &str, finalizers: &[&str]) -> NatGateway {
    let mut obj = natgw_testkit::natgw(name, tencent_spec(gateway, None, size, secret, None));
    obj.metadata.finalizers = Some(finalizers.iter().map(|f| f.to_string()).collect());
    obj
}

/// What kstatus said about one object, and the object kubectl returned.
pub struct Kstatus {
    pub status: String,
    pub message: String,
    obj: Value,
}

impl Kstatus {
    /// A condition of the object kstatus read: (status, reason, message).
    fn condition(&self, type_: &str) -> Option<(String, String, String)> {
        let c = self.obj["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)?;
        let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
        Some((s("status"), s("reason"), s("message")))
    }

    fn order_phase(&self) -> Option<&str> {
        self.obj["status"]["order"]["phase"].as_str()
    }

    fn generations(&self) -> (Option<i64>, Option<i64>) {
        (self.obj["metadata"]["generation"].as_i64(), self.obj["status"]["observedGeneration"].as_i64())
    }
}

/// `kubectl get natgw NAME -o json | kstatus`.
pub fn kstatus(cluster: &Cluster, name: &str) -> Kstatus {
    let json = cluster.kubectl(&["get", "natgw", name, "-o", "json"]);
    let bin =
        natgw_testenv::tool("kstatus").unwrap_or_else(|e| panic!("{e}; run `bash crates/testenv/build.sh kstatus`"));
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kstatus runs");
    child.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kstatus failed on {name}: {}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).expect("kstatus prints JSON");
    Kstatus {
        status: result["status"].as_str().unwrap().to_owned(),
        message: result["message"].as_str().unwrap().to_owned(),
        obj: serde_json::from_str(&json).unwrap(),
    }
}

fn stalled(o: &NatGateway) -> bool {
    o.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Stalled" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kstatus_reads_natgateways() {
    let cluster = Cluster::start("kstatus").await;
    // Orders take a few seconds, long enough to look at one while it runs.
    let cloud = MemoryCloud::new(Duration::from_secs(6));
    for id in ["nat-resize", "nat-large", "nat-lag", "nat-leave"] {
        cloud.seed(id, Capacity::Connections(1_000_000), Default::default()); // Small
    }
    // The in-memory cloud is registered like a built-in one, and claims every spec.
    let connector =
        Arc::new(CloudConnector::new(reqwest::Client::new()).with_registry(Registry::empty().with(cloud.clone())));
    let mut operator = cluster.run_controller(connector.clone(), Duration::from_millis(500));
    cluster.create_secret("creds", tencent_keys("AKIDmemory", "memory-secret-key")).await;
    let create = |obj: NatGateway| {
        let api = cluster.natgws();
        async move { api.create(&PostParams::default(), &obj).await.unwrap() }
    };

    // 1. An order running: InProgress, with the controller's words on what it waits for.
    create(natgw("resize", "nat-resize", "Medium", "creds", &[])).await;
    let out =
        cluster.kubectl(&["wait", "--for=jsonpath={.status.order.phase}=InProgress", "natgw/resize", "--timeout=30s"]);
    assert!(out.contains("condition met"), "{out}");
    let running = kstatus(&cluster, "resize");
    assert_eq!(running.order_phase(), Some("InProgress"), "the order finished too soon: {:#}", running.obj);
    assert_eq!(running.status, "InProgress", "{}: {:#}", running.message, running.obj);
    let (reconciling, reason, message) = running.condition("Reconciling").unwrap();
    assert_eq!((reconciling.as_str(), reason.as_str()), ("True", "OrderInProgress"));
    assert_eq!(running.message, message, "kstatus passes on the Reconciling message");
    assert!(running.message.contains("to Medium") && running.message.contains("order mem-"), "{}", running.message);

    // 2. The order done: Ready, and kstatus says Current.
    let out = cluster.kubectl(&["wait", "--for=condition=Ready", "natgw/resize", "--timeout=60s"]);
    assert!(out.contains("condition met"), "{out}");
    let done = kstatus(&cluster, "resize");
    assert_eq!(done.status, "Current", "{}: {:#}", done.message, done.obj);
    assert_eq!(done.message, "Resource is Ready");
    let (generation, observed) = done.generations();
    assert_eq!(observed, generation);
    assert_eq!(done.condition("Reconciling").unwrap().0, "False");
    assert_eq!(done.condition("Stalled").unwrap().0, "False");

    // 3. Stalled for a missing Secret: Failed, with the fix in the message.
    create(natgw("nosecret", "nat-resize", "Large", "missing", &[])).await;
    cluster.wait_for("nosecret", Duration::from_secs(30), stalled).await;
    let failed = kstatus(&cluster, "nosecret");
    assert_eq!(failed.status, "Failed", "{}: {:#}", failed.message, failed.obj);
    assert_eq!(failed.condition("Stalled").unwrap().1, "SecretNotFound");
    assert!(failed.message.contains("Secret kstatus/missing does not exist"), "{}", failed.message);

    // 4. Stalled for a size the cloud does not sell: Failed, naming the sizes it does. Admission
    // refuses what the built-in clouds lack; the in-memory cloud, standing in for Huawei here,
    // has fewer sizes than Huawei, so only its check at run time refuses this one.
    let mut toolarge = natgw("toolarge", "nat-large", "ExtraLarge", "creds", &[]);
    toolarge.spec.provider = ProviderSpec::Huawei(Box::new(HuaweiProvider {
        region: "cn-north-4".into(),
        project_id: None,
        bss_endpoint: None,
    }));
    create(toolarge).await;
    cluster.wait_for("toolarge", Duration::from_secs(30), stalled).await;
    let failed = kstatus(&cluster, "toolarge");
    assert_eq!(failed.status, "Failed", "{}: {:#}", failed.message, failed.obj);
    assert_eq!(failed.condition("Stalled").unwrap().1, "UnsupportedSize");
    assert!(
        failed.message.contains("no size ExtraLarge") && failed.message.contains("set spec.size to one of"),
        "{}",
        failed.message
    );

    // 5. Deleted while a finalizer holds it: Terminating, while the controller keeps running
    // (and leaves the foreign finalizer alone).
    create(natgw("leaving", "nat-leave", "Small", "creds", &[HOLD])).await;
    cluster.wait_for("leaving", Duration::from_secs(30), ready).await;
    assert_eq!(kstatus(&cluster, "leaving").status, "Current");
    cluster.kubectl(&["delete", "natgw", "leaving", "--wait=false"]);
    let leaving = kstatus(&cluster, "leaving");
    assert_eq!(leaving.status, "Terminating", "{}: {:#}", leaving.message, leaving.obj);
    assert_eq!(leaving.message, "Resource scheduled for deletion");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still = kstatus(&cluster, "leaving");
    assert_eq!(still.status, "Terminating");
    assert_eq!(still.obj["metadata"]["finalizers"], serde_json::json!([HOLD]), "{:#}", still.obj);
    cluster.kubectl(&[
        "patch",
        "natgw",
        "leaving",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    cluster.kubectl(&["wait", "--for=delete", "natgw/leaving", "--timeout=30s"]);

    // 6. A spec change nobody has observed yet (controller stopped): the generation moves ahead
    // of status.observedGeneration and kstatus says InProgress, although Ready is still True.
    create(natgw("lagging", "nat-lag", "Small", "creds", &[])).await;
    cluster.wait_for("lagging", Duration::from_secs(30), ready).await;
    assert_eq!(kstatus(&cluster, "lagging").status, "Current");
    operator.stop().await;
    cluster.kubectl(&["patch", "natgw", "lagging", "--type=merge", "-p", r#"{"spec":{"size":"Large"}}"#]);
    let lagging = kstatus(&cluster, "lagging");
    let (generation, observed) = lagging.generations();
    assert_eq!((generation, observed), (Some(2), Some(1)), "{:#}", lagging.obj);
    assert_eq!(lagging.condition("Ready").unwrap().0, "True", "the stale Ready is still there");
    assert_eq!(lagging.status, "InProgress", "{}: {:#}", lagging.message, lagging.obj);
    assert_eq!(lagging.message, "NatGateway generation is 2, but latest observed generation is 1");

    // ...and once the controller is back it orders the change and the resource becomes Current.
    operator = cluster.run_controller(connector.clone(), Duration::from_millis(500));
    let out =
        cluster.kubectl(&["wait", "--for=jsonpath={.status.order.phase}=InProgress", "natgw/lagging", "--timeout=30s"]);
    assert!(out.contains("condition met"), "{out}");
    let running = kstatus(&cluster, "lagging");
    assert_eq!(running.order_phase(), Some("InProgress"), "{:#}", running.obj);
    assert_eq!(running.status, "InProgress", "{}", running.message);
    assert!(running.message.contains("to Large"), "{}", running.message);
    cluster.kubectl(&["wait", "--for=condition=Ready", "natgw/lagging", "--timeout=60s"]);
    let caught_up = kstatus(&cluster, "lagging");
    assert_eq!(caught_up.status, "Current", "{}: {:#}", caught_up.message, caught_up.obj);
    assert_eq!(caught_up.generations(), (Some(2), Some(2)));

    // Exactly the two resizes were ordered; the stalled resources ordered nothing.
    let ledger = cloud.ledger();
    assert_eq!(
        ledger.iter().map(|e| e.gateway_id.as_str()).collect::<Vec<_>>(),
        ["nat-resize", "nat-lag"],
        "{ledger:?}"
    );
    operator.stop().await;
}
