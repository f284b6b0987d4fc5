//! Claims across clusters (issue 24): two real API servers, `blue` and `green` (each its own
//! kube-apiserver and etcd, as two clusters holding the same manifests are), ONE set of cloud
//! simulators (Tencent API 3.0 and Huawei, which keep a claim as a tag on the gateway), and one
//! operator process per cluster with its own `--cluster-id`. Every scenario counts the orders in
//! the simulators' ledgers: exactly one per change, whichever cluster places it.
//!
//! - `same_manifests_in_two_clusters_order_once_and_hand_over`: one cluster orders, the other
//!   stalls naming it; deleting the owner's resource hands the gateway over (blue/green).
//! - `simultaneous_claims_leave_one_owner`: 20 gateways, each created in both clusters at the same
//!   moment with a tag write delay: one owner and one order each.
//! - `claim_fault_matrix`: a crash between the tag write and its read-back, an uninstalled
//!   cluster and the takeover annotation, a cloud that refuses the claim's removal or its write,
//!   and a claim removed by hand; printed as a table (`--nocapture`).

use std::{
    os::unix::process::ExitStatusExt,
    path::PathBuf,
    time::{Duration, Instant},
};

use kube::{
    ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use natgw_operator::{
    api::{ABANDON_CLAIM_ANNOTATION, NatGateway, Size, TAKEOVER_ANNOTATION},
    cloud::claim::TAG_KEY,
    controller::CLAIM_FINALIZER,
};
use natgw_sim::{
    faults::{Fault, FaultKind},
    tencent::SimGateway,
};
use natgw_testkit::{Clouds, Cluster, LogOnPanic, Operator, condition, condition_message, eventually, ready, stalled};
use serde_json::{Value, json};

const TENCENT: (&str, &str) = ("AKIDclusters", "clusters-tencent-secret-value");
const HUAWEI: (&str, &str) = ("HWAKCLUSTERS", "clusters-huawei-secret-value");
const PROJECT: &str = "proj-clusters";
const WAIT: Duration = Duration::from_secs(60);
/// `--drift-interval` of [`natgw_testkit::fast_operator_args`].
const DRIFT: Duration = Duration::from_secs(3);
/// `--claim-settle` of [`natgw_testkit::fast_operator_args`].
const SETTLE: Duration = natgw_testkit::CLAIM_SETTLE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloud {
    Tencent,
    Huawei,
}

/// One cluster: its own API server, its id and its operator process.
struct Side {
    id: &'static str,
    cluster: Cluster,
    log: PathBuf,
    operator: Option<Operator>,
    /// Where the running operator serves /metrics and /readyz.
    metrics: String,
}

impl Side {
    /// Starts this cluster's operator (alone, no leader election), replacing a running one:
    /// `--claim-settle settle`, and `NATGW_CRASH_AT=crash_at` when given.
    fn start_operator(&mut self, clouds: &Clouds, settle: Duration, crash_at: Option<&str>) {
        self.operator = None;
        self.metrics = format!("127.0.0.1:{}", natgw_testkit::free_port());
        let mut args = natgw_testkit::fast_operator_args(&clouds.tls);
        let at = args.iter().position(|a| a == "--claim-settle").expect("the fast flags set --claim-settle");
        args[at + 1] = format!("{}ms", settle.as_millis());
        args.extend(
            ["--leader-election=false", "--metrics-addr", &self.metrics, "--cluster-id", self.id].map(str::to_owned),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let allowed = clouds.allowed_endpoints();
        let mut env: Vec<(&str, &str)> = crash_at.map(|p| ("NATGW_CRASH_AT", p)).into_iter().collect();
        env.push(("NATGW_ALLOWED_ENDPOINTS", &allowed));
        self.operator = Some(self.cluster.operator(&args, &env, &self.log));
    }

    /// Waits until the operator's cache is synced (`/readyz`).
    async fn ready(&self) {
        let url = format!("http://{}/readyz", self.metrics);
        eventually(WAIT, &format!("the {} operator is ready", self.id), || async {
            (reqwest::get(&url).await.ok()?.status() == 200).then_some(())
        })
        .await;
    }

    /// SIGKILLs this cluster's operator: uninstalled, its resources and their claims left.
    fn stop_operator(&mut self) {
        self.operator = None;
    }

    async fn create(&self, name: &str, spec: Value) {
        self.cluster.create_natgw(name, spec).await;
    }

    async fn get(&self, name: &str) -> Option<NatGateway> {
        self.cluster.natgws().get_opt(name).await.expect("get natgateway")
    }

    async fn wait(&self, name: &str, done: impl Fn(&NatGateway) -> bool) -> NatGateway {
        self.cluster.wait_for(name, WAIT, done).await
    }

    async fn patch(&self, name: &str, patch: Value) {
        self.cluster.natgws().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patched");
    }

    async fn resize(&self, name: &str, size: &str) {
        self.patch(name, json!({"spec": {"size": size}})).await;
    }

    async fn annotate(&self, name: &str, key: &str, value: &str) {
        self.patch(name, json!({"metadata": {"annotations": {key: value}}})).await;
    }

    async fn delete(&self, name: &str) {
        self.cluster.natgws().delete(name, &DeleteParams::default()).await.expect("deleted");
    }

    async fn wait_gone(&self, name: &str) {
        let what = format!("{name} is gone from cluster {}", self.id);
        eventually(WAIT, &what, || async { self.get(name).await.is_none().then_some(()) }).await;
    }

    /// The claim tag value this cluster's NatGateway `name` writes.
    fn claim(&self, name: &str) -> String {
        format!("{}_{}_{name}", self.id, self.cluster.namespace)
    }

    /// The reasons of the Events about NatGateway `name`.
    fn event_reasons(&self, name: &str) -> Vec<String> {
        let out = self.cluster.kubectl(&["get", "events.events.k8s.io", "-o", "json"]);
        let events: Value = serde_json::from_str(&out).unwrap();
        let items = events["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .filter(|e| e["regarding"]["name"] == name)
            .filter_map(|e| e["reason"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Stalled, ClaimedElsewhere, the message naming NatGateway `name` of cluster `cluster` (the
/// same namespace: its name may be told).
fn claimed_by(cluster: &'static str, name: &str) -> impl Fn(&NatGateway) -> bool {
    let who = format!("NatGateway {name} of cluster {cluster}");
    move |o| stalled("ClaimedElsewhere")(o) && condition_message(o, "Stalled").contains(&who)
}

fn observed_size(o: &NatGateway) -> Option<Size> {
    o.status.as_ref()?.observed.as_ref()?.size
}

/// Ready at the current generation with the gateway at `size`.
fn ready_at(size: Size) -> impl Fn(&NatGateway) -> bool {
    move |o| ready(o) && observed_size(o) == Some(size)
}

fn describe(o: &NatGateway) -> String {
    let cond = |t: &str| condition(o, t).map(|c| format!("{t}={}({})", c.0, c.1)).unwrap_or_default();
    format!("{} {} {:?}", cond("Ready"), cond("Stalled"), observed_size(o))
}

/// Two clusters with the same namespace, the Secrets `tencent` and `huawei` in both, one set of
/// simulators.
struct Pair {
    blue: Side,
    green: Side,
    clouds: Clouds,
}

impl Pair {
    async fn start(namespace: &str) -> Pair {
        let (blue, green) = tokio::join!(Cluster::start_own(namespace), Cluster::start_own(namespace));
        let clouds = Clouds::start(&blue, TENCENT, HUAWEI, PROJECT).await;
        Clouds::create_secrets(&green, TENCENT, HUAWEI).await;
        let side = |id, cluster: Cluster| Side {
            id,
            log: cluster.path("operator.log"),
            cluster,
            operator: None,
            metrics: String::new(),
        };
        Pair { blue: side("blue", blue), green: side("green", green), clouds }
    }

    fn start_operators(&mut self, settle: Duration) {
        self.blue.start_operator(&self.clouds, settle, None);
        self.green.start_operator(&self.clouds, settle, None);
    }

    fn sides(&self) -> [&Side; 2] {
        [&self.blue, &self.green]
    }

    /// A Small gateway `id`.
    fn seed(&self, cloud: Cloud, id: &str) {
        match cloud {
            Cloud::Tencent => self.clouds.tencent.seed_gateway(SimGateway::new(id, "vpc-1", 1_000_000)),
            Cloud::Huawei => self.clouds.huawei.seed_gateway(natgw_testkit::huawei_gateway(id, PROJECT, "1")),
        }
    }

    /// The same manifest in either cluster: Tencent API 3.0 (plain HTTP), or Huawei pay-per-use.
    fn spec(&self, cloud: Cloud, id: &str, size: &str) -> Value {
        match cloud {
            Cloud::Tencent => {
                natgw_testkit::tencent_spec(id, Some("V3"), size, "tencent", Some(&self.clouds.tencent.http_url))
            }
            Cloud::Huawei => {
                let endpoint = self.clouds.huawei.https_url.as_deref().unwrap();
                let mut spec = natgw_testkit::huawei_prepaid_spec(id, PROJECT, size, true, endpoint);
                spec.as_object_mut().unwrap().remove("billing");
                spec
            }
        }
    }

    fn orders(&self, gateway: &str) -> usize {
        self.clouds.orders(gateway)
    }

    /// The claim tag on gateway `id` as reads see it now.
    fn tag(&self, cloud: Cloud, id: &str) -> Option<String> {
        let tags = match cloud {
            Cloud::Tencent => self.clouds.tencent.tags(id),
            Cloud::Huawei => self.clouds.huawei.tags(id),
        };
        tags.get(TAG_KEY).cloned()
    }

    fn sim_url(&self, cloud: Cloud) -> &str {
        match cloud {
            Cloud::Tencent => &self.clouds.tencent.http_url,
            Cloud::Huawei => &self.clouds.huawei.http_url,
        }
    }

    /// The API action that writes (`remove: false`) or removes the claim tag.
    fn tag_action(cloud: Cloud, remove: bool) -> &'static str {
        match (cloud, remove) {
            (Cloud::Tencent, false) => "TagResources",
            (Cloud::Tencent, true) => "UnTagResources",
            (Cloud::Huawei, _) => "BatchCreateDeleteNatGatewayTag",
        }
    }

    /// Every call of `action` fails with the cloud's own "internal error" code until
    /// [`Pair::clear_faults`].
    fn fail(&self, cloud: Cloud, action: &str, code: Option<&str>) {
        let code = code.unwrap_or(match cloud {
            Cloud::Tencent => "InternalError",
            Cloud::Huawei => "NAT.0007",
        });
        let fault = Fault {
            action: Some(action.to_owned()),
            times: 10_000,
            kind: FaultKind::Error { code: code.into(), message: None },
        };
        match cloud {
            Cloud::Tencent => self.clouds.tencent.inject(fault),
            Cloud::Huawei => self.clouds.huawei.inject(fault),
        }
    }

    fn clear_faults(&self) {
        self.clouds.tencent.clear_faults();
        self.clouds.huawei.core().faults.clear();
    }

    /// `PUT /_sim/tag-delay` on both simulators.
    async fn set_tag_delay(&self, delay: Duration) {
        for cloud in [Cloud::Tencent, Cloud::Huawei] {
            let url = format!("{}/_sim/tag-delay", self.sim_url(cloud));
            let body = json!({"millis": delay.as_millis() as u64});
            let response = reqwest::Client::new().put(url).json(&body).send().await.expect("the simulator answers");
            assert!(response.status().is_success(), "PUT /_sim/tag-delay: {}", response.status());
        }
    }

    /// Someone removes the claim tag in the console: `DELETE /_sim/gateways/{id}/tags/{key}`.
    async fn remove_tag_by_hand(&self, cloud: Cloud, id: &str) {
        let url = format!("{}/_sim/gateways/{id}/tags/{TAG_KEY}", self.sim_url(cloud));
        let response = reqwest::Client::new().delete(url).send().await.expect("the simulator answers");
        assert_eq!(response.status(), 204, "DELETE of the claim tag on {id}");
    }

    /// A fresh gateway of `cloud` for matrix row `row` (NatGateway `{row}-tc` or `{row}-hw`),
    /// resized to Medium by blue's NatGateway, which owns it: (gateway id, name).
    async fn owned_by_blue(&self, cloud: Cloud, row: &str) -> (String, String) {
        let (id, name) = (gateway(cloud, row), resource(cloud, row));
        self.seed(cloud, &id);
        self.blue.create(&name, self.spec(cloud, &id, "Medium")).await;
        self.blue.wait(&name, ready_at(Size::Medium)).await;
        assert_eq!(self.tag(cloud, &id), Some(self.blue.claim(&name)), "{cloud:?}: blue's claim");
        (id, name)
    }

    /// `natgw-operator claims ARGS` against `cloud`'s simulator with the account's keys from the
    /// environment; its stdout, after checking it succeeded.
    fn claims_cli(&self, cloud: Cloud, args: &[&str]) -> String {
        let ca = self.clouds.tls.ca_pem_path().to_str().unwrap();
        let (account, keys) = match cloud {
            Cloud::Tencent => (
                vec!["--cloud", "tencent", "--region", "ap-guangzhou", "--vpc-id", "vpc-1", "--allow-http"],
                [("TENCENTCLOUD_SECRET_ID", TENCENT.0), ("TENCENTCLOUD_SECRET_KEY", TENCENT.1)],
            ),
            Cloud::Huawei => (
                vec!["--cloud", "huawei", "--region", "cn-north-4", "--project-id", PROJECT],
                [("HUAWEICLOUD_SDK_AK", HUAWEI.0), ("HUAWEICLOUD_SDK_SK", HUAWEI.1)],
            ),
        };
        let endpoint = match cloud {
            Cloud::Tencent => self.clouds.tencent.http_url.as_str(),
            Cloud::Huawei => self.clouds.huawei.https_url.as_deref().unwrap(),
        };
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_natgw-operator"))
            .arg("claims")
            .args(args)
            .args(account)
            .args(["--endpoint", endpoint, "--extra-ca", ca, "--allow-private-endpoints"])
            .env_clear()
            .envs(keys)
            .output()
            .expect("natgw-operator runs");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "claims {args:?} failed: {stderr}");
        format!("{stdout}{stderr}")
    }

    /// Waits until exactly one cluster owns gateway `id` through its NatGateway `name`: the tag
    /// names it, its resource is Ready, the other's is Stalled (ClaimedElsewhere) naming it.
    /// Returns the owner's index in [`Pair::sides`].
    async fn one_owner(&self, cloud: Cloud, id: &str, name: &str) -> usize {
        let what = format!("one cluster owns {id} ({name} Ready, the other Stalled naming it)");
        let start = Instant::now();
        loop {
            let sides = self.sides();
            let (blue, green) = (sides[0].get(name).await, sides[1].get(name).await);
            let (Some(blue), Some(green)) = (blue, green) else { panic!("{name} missing in a cluster") };
            let objects = [&blue, &green];
            let tag = self.tag(cloud, id);
            let owner = (0..2).find(|&owner| {
                tag.as_deref() == Some(sides[owner].claim(name).as_str())
                    && ready(objects[owner])
                    && claimed_by(sides[owner].id, name)(objects[1 - owner])
            });
            if let Some(owner) = owner {
                return owner;
            }
            let last = format!("tag {tag:?}; blue: {}; green: {}", describe(&blue), describe(&green));
            assert!(start.elapsed() < WAIT, "{what} within {WAIT:?}; last: {last}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Prints both operators' last log lines when the test panics.
fn logs_on_panic(pair: &Pair) -> (PathBuf, PathBuf) {
    (pair.blue.log.clone(), pair.green.log.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_manifests_in_two_clusters_order_once_and_hand_over() {
    let mut pair = Pair::start("clusters-twin").await;
    let (blue_log, green_log) = logs_on_panic(&pair);
    let _logs = (LogOnPanic(&blue_log), LogOnPanic(&green_log));
    pair.start_operators(SETTLE);

    for (cloud, id, name) in [(Cloud::Tencent, "nat-twin", "egress-tc"), (Cloud::Huawei, "hw-twin", "egress-hw")] {
        pair.seed(cloud, id);
        // 1. The same manifest in both clusters at once, in sync: one claims, the other stalls.
        let spec = pair.spec(cloud, id, "Small");
        tokio::join!(pair.blue.create(name, spec.clone()), pair.green.create(name, spec));
        let owner = pair.one_owner(cloud, id, name).await;
        let (old, new) = (pair.sides()[owner], pair.sides()[1 - owner]);
        assert_eq!(pair.orders(id), 0, "{cloud:?}: in sync, nothing ordered");

        // A size change applied to both clusters: exactly one order, by the owner.
        tokio::join!(old.resize(name, "Medium"), new.resize(name, "Medium"));
        let start = Instant::now();
        old.wait(name, ready_at(Size::Medium)).await;
        let owner_took = start.elapsed();
        new.wait(name, |o| o.status.as_ref().and_then(|s| s.observed_generation) == Some(2)).await;
        tokio::time::sleep(DRIFT + SETTLE).await; // past a drift check on both sides
        let stalled_new = new.get(name).await.unwrap();
        assert!(claimed_by(old.id, name)(&stalled_new), "{cloud:?}: {}", describe(&stalled_new));
        assert_eq!(pair.orders(id), 1, "{cloud:?}: one order for one change applied in two clusters");
        println!(
            "[clusters] {cloud:?}: {} owns {id} (Medium in {owner_took:?}), {} stalled: {}",
            old.id,
            new.id,
            condition_message(&stalled_new, "Stalled")
        );

        // 2. Blue/green: the old cluster's resource deleted, its claim released; the new cluster
        // takes over within a drift interval (plus the settle delay) and orders its changes.
        old.delete(name).await;
        old.wait_gone(name).await;
        let released = Instant::now();
        let tag = pair.tag(cloud, id);
        assert!(tag.is_none() || tag == Some(new.claim(name)), "{cloud:?}: the old claim is gone: {tag:?}");
        assert!(old.event_reasons(name).iter().any(|r| r == "ClaimReleased"), "{cloud:?}: a ClaimReleased Event");
        new.wait(name, ready_at(Size::Medium)).await;
        let took_over = released.elapsed();
        assert_eq!(pair.tag(cloud, id), Some(new.claim(name)), "{cloud:?}: the new cluster's claim");
        let limit = DRIFT + SETTLE + Duration::from_secs(2);
        assert!(took_over < limit, "{cloud:?}: took over in {took_over:?}, over a drift interval + settle");
        new.resize(name, "Large").await;
        new.wait(name, ready_at(Size::Large)).await;
        assert_eq!(pair.orders(id), 2, "{cloud:?}: orders = changes after the handover");
        println!("[clusters] {cloud:?}: {} released {id}; {} Ready {took_over:?} later, then resized", old.id, new.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_claims_leave_one_owner() {
    // Per cloud, both clusters' claims stay within the account's documented tag-write rate (20
    // a second, shared by the clusters): at 10 a cloud per cluster the second cluster's writes were
    // throttled, so it never claimed at once and no trial raced.
    const TRIALS: usize = 12;
    const TAG_DELAY: Duration = Duration::from_millis(300);
    const CLAIM_SETTLE: Duration = Duration::from_secs(1); // > 2 x the tag delay
    let mut pair = Pair::start("clusters-race").await;
    let (blue_log, green_log) = logs_on_panic(&pair);
    let _logs = (LogOnPanic(&blue_log), LogOnPanic(&green_log));
    pair.set_tag_delay(TAG_DELAY).await;
    pair.start_operators(CLAIM_SETTLE);
    // Both caches synced: a cluster still listing would come late to every trial.
    tokio::join!(pair.blue.ready(), pair.green.ready());
    let trials: Vec<(Cloud, String, String)> = (0..TRIALS)
        .map(|i| match i % 2 {
            0 => (Cloud::Tencent, format!("nat-race-{i}"), format!("race-{i}")),
            _ => (Cloud::Huawei, format!("hw-race-{i}"), format!("race-{i}")),
        })
        .collect();
    let start = Instant::now();
    // All trials at once; each creates its resource (a change: Small -> Medium) in both clusters
    // at the same moment.
    let pair = &pair;
    let owners = futures::future::join_all(trials.iter().map(|(cloud, id, name)| async move {
        pair.seed(*cloud, id);
        let spec = pair.spec(*cloud, id, "Medium");
        tokio::join!(pair.blue.create(name, spec.clone()), pair.green.create(name, spec));
        let owner = pair.one_owner(*cloud, id, name).await;
        pair.sides()[owner].wait(name, ready_at(Size::Medium)).await;
        owner
    }))
    .await;
    let settled = start.elapsed();
    tokio::time::sleep(DRIFT + CLAIM_SETTLE).await; // a late order would show by now
    let mut races = 0;
    for ((cloud, id, name), owner) in trials.iter().zip(&owners) {
        let (old, other) = (pair.sides()[*owner], pair.sides()[1 - owner]);
        assert_eq!(pair.orders(id), 1, "{cloud:?} {id}: exactly one order");
        let loser = other.get(name).await.unwrap();
        assert!(claimed_by(old.id, name)(&loser), "{id}: the other cluster still stalled: {}", describe(&loser));
        assert_eq!(pair.tag(*cloud, id), Some(old.claim(name)), "{id}: the owner's claim stays");
        // Both wrote a claim: a real race, which the settle delay decided.
        let claimed = |side: &Side| side.event_reasons(name).iter().any(|r| r == "Claimed");
        if claimed(pair.sides()[0]) && claimed(pair.sides()[1]) {
            races += 1;
        }
    }
    let blue = owners.iter().filter(|o| **o == 0).count();
    println!(
        "[clusters] {TRIALS} simultaneous trials settled in {settled:?}: blue owns {blue}, green {}; both clusters wrote a claim in {races}",
        TRIALS - blue
    );
    assert!(races > 0, "no trial had both clusters claim at once: the test did not race");
}

/// A gateway id of `cloud` for a row (Tencent's start with `nat-`).
fn gateway(cloud: Cloud, row: &str) -> String {
    match cloud {
        Cloud::Tencent => format!("nat-{row}"),
        Cloud::Huawei => format!("hw-{row}"),
    }
}

/// The NatGateway of a matrix row, in either cluster.
fn resource(cloud: Cloud, row: &str) -> String {
    match cloud {
        Cloud::Tencent => format!("{row}-tc"),
        Cloud::Huawei => format!("{row}-hw"),
    }
}

/// One row of the claims fault matrix.
struct Row {
    fault: String,
    outcome: String,
    orders: usize,
    expected_orders: usize,
}

fn record(rows: &mut Vec<Row>, pair: &Pair, fault: String, gateway: &str, expected_orders: usize, outcome: String) {
    let orders = pair.orders(gateway);
    println!("[claims matrix] {fault}: {outcome}; orders {orders} (expected {expected_orders})");
    rows.push(Row { fault, outcome, orders, expected_orders });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_fault_matrix() {
    let mut pair = Pair::start("clusters-faults").await;
    let (blue_log, green_log) = logs_on_panic(&pair);
    let _logs = (LogOnPanic(&blue_log), LogOnPanic(&green_log));
    let mut rows = Vec::new();
    pair.green.start_operator(&pair.clouds, SETTLE, None);
    let clouds = [Cloud::Tencent, Cloud::Huawei];

    // 1. SIGKILL between the tag write and its read-back; the other cluster respects the claim
    // the dead process left, and the restarted one orders once.
    for cloud in clouds {
        let (id, name) = (gateway(cloud, "crash"), resource(cloud, "crash"));
        pair.seed(cloud, &id);
        pair.blue.start_operator(&pair.clouds, SETTLE, Some("after-claim"));
        pair.blue.create(&name, pair.spec(cloud, &id, "Medium")).await;
        let crashed = pair.blue.operator.as_mut().unwrap().wait_exit(WAIT).await;
        let crashed = crashed.expect("the operator reaches the crash point");
        assert_eq!(crashed.signal(), Some(libc::SIGKILL), "{cloud:?}: killed at after-claim");
        assert_eq!(pair.tag(cloud, &id), Some(pair.blue.claim(&name)), "{cloud:?}: the tag was written");
        let held = pair.blue.get(&name).await.unwrap();
        assert!(held.metadata.finalizers.iter().flatten().any(|f| f == CLAIM_FINALIZER), "finalizer before the tag");
        pair.green.create(&name, pair.spec(cloud, &id, "Medium")).await;
        let green = pair.green.wait(&name, claimed_by("blue", &name)).await;
        assert_eq!(pair.orders(&id), 0);
        pair.blue.start_operator(&pair.clouds, SETTLE, None);
        let blue = pair.blue.wait(&name, ready_at(Size::Medium)).await;
        let outcome = format!("green {}; restarted blue {}", describe(&green), describe(&blue));
        record(&mut rows, &pair, format!("SIGKILL after-claim ({cloud:?})"), &id, 1, outcome);
    }

    // 2. The old cluster's operator uninstalled, its claim left: the new cluster stalls until a
    // person hands the gateway over (the takeover annotation, or `natgw-operator claims release`);
    // the old one, back, does not order against the new claim.
    for (cloud, annotate) in clouds.into_iter().flat_map(|c| [(c, true), (c, false)]) {
        let (way, row) = if annotate { ("takeover annotation", "takeover") } else { ("claims release", "handed") };
        let (id, name) = pair.owned_by_blue(cloud, row).await;
        pair.blue.stop_operator();
        pair.green.create(&name, pair.spec(cloud, &id, "Large")).await;
        let stalled_green = pair.green.wait(&name, claimed_by("blue", &name)).await;
        tokio::time::sleep(DRIFT + SETTLE).await;
        assert_eq!(pair.orders(&id), 1, "{cloud:?}: nothing ordered against blue's claim");
        if annotate {
            pair.green.annotate(&name, TAKEOVER_ANNOTATION, "blue").await;
        } else {
            let listed = pair.claims_cli(cloud, &["list", "--cluster-id", "blue"]);
            let line = format!("{id}\tblue\t{}/{name}", pair.blue.cluster.namespace);
            assert!(listed.lines().any(|l| l == line), "{cloud:?}: `claims list` shows {line:?}: {listed}");
            let released = pair.claims_cli(cloud, &["release", "--cluster-id", "blue", "--gateway", &id]);
            assert!(released.contains(&format!("released {id}")), "{cloud:?}: {released}");
        }
        let green = pair.green.wait(&name, ready_at(Size::Large)).await;
        assert_eq!(pair.tag(cloud, &id), Some(pair.green.claim(&name)), "{cloud:?}: green's claim");
        pair.blue.start_operator(&pair.clouds, SETTLE, None);
        // Blue still asks for Medium: it must stall on green's claim, not resize back.
        let blue = pair.blue.wait(&name, claimed_by("green", &name)).await;
        tokio::time::sleep(DRIFT + SETTLE).await;
        let outcome =
            format!("green {} -> {}; blue back: {}", describe(&stalled_green), describe(&green), describe(&blue));
        record(&mut rows, &pair, format!("operator uninstalled, {way} ({cloud:?})"), &id, 2, outcome);
    }

    // 3. The cloud unreachable when the owner is deleted: kept (finalizer) and Stalled until the
    // tag is removed, or until the user abandons the claim.
    for cloud in clouds {
        let (id, name) = pair.owned_by_blue(cloud, "release").await;
        pair.fail(cloud, Pair::tag_action(cloud, true), None);
        pair.blue.delete(&name).await;
        let stuck = pair.blue.wait(&name, stalled("ClaimNotReleased")).await;
        assert!(stuck.metadata.finalizers.iter().flatten().any(|f| f == CLAIM_FINALIZER), "finalizer kept");
        let message = condition_message(&stuck, "Stalled");
        assert!(message.contains(ABANDON_CLAIM_ANNOTATION), "{cloud:?}: the way out is told: {message}");
        // Only the claim's finalizer holds it: no word of an order's.
        assert!(!message.contains("natgw.io/unpaid-order"), "{cloud:?}: {message}");
        assert_eq!(pair.tag(cloud, &id), Some(pair.blue.claim(&name)), "{cloud:?}: the tag stays meanwhile");
        pair.clear_faults();
        pair.blue.wait_gone(&name).await;
        assert_eq!(pair.tag(cloud, &id), None, "{cloud:?}: the tag removed once the cloud answers");
        let outcome = format!("Stalled(ClaimNotReleased): {message} -> released, deleted");
        record(&mut rows, &pair, format!("cloud unreachable during release ({cloud:?})"), &id, 1, outcome);
    }
    {
        let cloud = Cloud::Tencent;
        let (id, name) = pair.owned_by_blue(cloud, "abandon").await;
        let (id, name) = (id.as_str(), name.as_str());
        pair.fail(cloud, Pair::tag_action(cloud, true), None);
        pair.blue.delete(name).await;
        pair.blue.wait(name, stalled("ClaimNotReleased")).await;
        pair.blue.annotate(name, ABANDON_CLAIM_ANNOTATION, "true").await;
        pair.blue.wait_gone(name).await;
        pair.clear_faults();
        assert_eq!(pair.tag(cloud, id), Some(pair.blue.claim(name)), "an abandoned claim stays in the cloud");
        let events = pair.blue.event_reasons(name);
        assert!(events.iter().any(|r| r == "ClaimAbandoned"), "a ClaimAbandoned Event: {events:?}");
        // The claim left behind stalls the next cluster.
        pair.green.create(name, pair.spec(cloud, id, "Medium")).await;
        let green = pair.green.wait(name, claimed_by("blue", name)).await;
        let outcome = format!("abandoned, deleted, tag left; green {}", describe(&green));
        record(&mut rows, &pair, "release unreachable, claim abandoned (Tencent)".into(), id, 1, outcome);
    }

    // 4. The claim's write refused: nothing ordered, the resource says why, and the write is
    // retried once the cloud takes it.
    for cloud in clouds {
        let (id, name) = (gateway(cloud, "refused"), resource(cloud, "refused"));
        pair.seed(cloud, &id);
        pair.fail(cloud, Pair::tag_action(cloud, false), None);
        pair.blue.create(&name, pair.spec(cloud, &id, "Medium")).await;
        let retrying = pair
            .blue
            .wait(&name, |o| {
                o.status
                    .iter()
                    .flat_map(|s| &s.conditions)
                    .any(|c| c.reason == "CloudUnavailable" && c.status == "True")
            })
            .await;
        tokio::time::sleep(DRIFT).await;
        assert_eq!(pair.orders(&id), 0, "{cloud:?}: no order without a claim");
        assert_eq!(pair.tag(cloud, &id), None);
        pair.clear_faults();
        let blue = pair.blue.wait(&name, ready_at(Size::Medium)).await;
        assert_eq!(pair.tag(cloud, &id), Some(pair.blue.claim(&name)));
        let outcome = format!("{} -> {}", describe(&retrying), describe(&blue));
        record(&mut rows, &pair, format!("claim write refused, 5xx ({cloud:?})"), &id, 1, outcome);
    }
    {
        let (cloud, id, name) = (Cloud::Tencent, "nat-denied", "denied-tc");
        pair.seed(cloud, id);
        pair.fail(cloud, Pair::tag_action(cloud, false), Some("UnauthorizedOperation"));
        pair.blue.create(name, pair.spec(cloud, id, "Medium")).await;
        let denied = pair.blue.wait(name, stalled("CredentialsInvalid")).await;
        let message = condition_message(&denied, "Stalled");
        tokio::time::sleep(DRIFT).await;
        assert_eq!(pair.orders(id), 0, "no order without a claim");
        assert!(message.contains("tag:TagResources") && message.contains("every drift interval"), "{message}");
        // The key is granted tag:TagResources in CAM, and nothing else changes: the next drift
        // check tags the gateway and the change goes through.
        pair.clear_faults();
        let granted = Instant::now();
        let blue = pair.blue.wait(name, ready_at(Size::Medium)).await;
        assert!(granted.elapsed() < DRIFT * 2 + SETTLE + Duration::from_secs(2), "{:?}", granted.elapsed());
        assert_eq!(pair.tag(cloud, id), Some(pair.blue.claim(name)));
        let outcome = format!("Stalled(CredentialsInvalid): {message} -> granted in CAM: {}", describe(&blue));
        record(&mut rows, &pair, "claim write denied by CAM (Tencent)".into(), id, 1, outcome);
    }

    // 5. The claim removed by hand in the console: claimed again at the next look (by one of the
    // two clusters), nothing ordered again.
    for cloud in clouds {
        let (id, name) = pair.owned_by_blue(cloud, "console").await;
        pair.green.create(&name, pair.spec(cloud, &id, "Medium")).await;
        pair.green.wait(&name, claimed_by("blue", &name)).await;
        pair.remove_tag_by_hand(cloud, &id).await;
        let removed = Instant::now();
        let what = format!("{id} claimed again");
        eventually(DRIFT * 2 + SETTLE + Duration::from_secs(2), &what, || async { pair.tag(cloud, &id) }).await;
        let again = removed.elapsed();
        let owner = pair.one_owner(cloud, &id, &name).await;
        tokio::time::sleep(DRIFT + SETTLE).await;
        let outcome = format!("re-claimed after {again:?} by {}", pair.sides()[owner].id);
        record(&mut rows, &pair, format!("claim tag removed in the console ({cloud:?})"), &id, 1, outcome);
    }

    println!("\n{:<60} {:>6} {:>8}  outcome", "fault", "orders", "expected");
    for r in &rows {
        println!("{:<60} {:>6} {:>8}  {}", r.fault, r.orders, r.expected_orders, r.outcome);
    }
    let wrong: Vec<&String> = rows.iter().filter(|r| r.orders != r.expected_orders).map(|r| &r.fault).collect();
    assert!(wrong.is_empty(), "order counts differ from desired changes: {wrong:?}");
}

/// A namespace deleted with its Secret and its claiming NatGateway: the namespace controller
/// deletes both, in no set order (this test API server runs no controller manager, so the test
/// deletes them itself, the Secret first). The claim's finalizer then cannot reach the cloud and
/// leaves the tag with an Event (`ClaimAbandoned`) rather than hold the namespace in Terminating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_whose_secret_is_gone_leaves_its_claim_and_goes() {
    let mut pair = Pair::start("clusters-doomed").await;
    let blue_log = pair.blue.log.clone();
    let _log = LogOnPanic(&blue_log);
    pair.blue.start_operator(&pair.clouds, SETTLE, None);
    let gateways = [(Cloud::Tencent, "nat-doomed", "tencent"), (Cloud::Huawei, "hw-doomed", "huawei")];
    for (cloud, id, _) in gateways {
        pair.seed(cloud, id);
        pair.blue.create(id, pair.spec(cloud, id, "Small")).await;
        pair.blue.wait(id, |o| ready(o) && o.finalizers().iter().any(|f| f == CLAIM_FINALIZER)).await;
        assert_eq!(pair.tag(cloud, id), Some(pair.blue.claim(id)), "{cloud:?}: claimed");
    }
    for (cloud, id, secret) in gateways {
        pair.blue.cluster.secrets().delete(secret, &DeleteParams::default()).await.expect("secret deleted");
        let deleted = Instant::now();
        pair.blue.delete(id).await;
        pair.blue.wait_gone(id).await;
        println!("[clusters] {cloud:?}: deleted without its Secret, gone in {:?}", deleted.elapsed());
        assert!(pair.blue.event_reasons(id).iter().any(|r| r == "ClaimAbandoned"), "{cloud:?}: an Event says so");
        assert_eq!(pair.tag(cloud, id), Some(pair.blue.claim(id)), "{cloud:?}: the tag is left");
    }
}
