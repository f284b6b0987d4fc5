//! `natgw-dev bench`: the scale benchmark. A real kube-apiserver + etcd ([`TestEnv`]), both
//! cloud simulators in this process, and the operator binary as a child process (so its peak
//! RSS is its own). It prints its figures; it asserts nothing. See BENCHMARKS.md.
//!
//! Phases:
//! 1. `--count` NatGateways over `--accounts` accounts (the first half Tencent API 3.0, the rest
//!    Huawei, one Huawei gateway in ten yearly/monthly), created `--create-concurrency` at a time;
//!    every `--change-every`th asks for a bigger size than the simulator seeded. Measures created -> all Ready, cloud calls by action,
//!    apply -> first cloud call naming the gateway, orders placed vs changes requested.
//! 2. At rest: `--drift-cycles` drift intervals of an in-sync fleet; describe calls per object
//!    per cycle (Huawei: NAT reads and BSS subscription queries), status writes (the API
//!    server's `apiserver_request_total` of `natgateways/status`) and the watch events a second
//!    watcher of NatGateways receives.
//! 3. Idle latency: `--idle-samples` more objects applied one by one to the idle operator.
//! 4. Resize: `--resize-count` gateways of one Tencent API 3.0 account created, then all
//!    resized at once; elapsed vs the lower bound N / 20 s, and whether any was ever Stalled.
//! 5. Restart (`--restart`, after phase 1): the operator SIGKILLed and started again with nothing
//!    changed in the cloud; cloud reads and status writes until every gateway was read again.
//! 6. Failover (`--failover`, after phase 4): two operators with leader election; the leader
//!    SIGKILLed while the resize account's gateways are resized again; the standby's first
//!    cloud call after the kill, orders vs changes, Stalled.
//!
//! Then the operators' peak VmHWM and the API server's `apiserver_request_total` by verb.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Namespace, Secret},
};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

use natgw_operator::api::{BillingMode, NatGateway, Size};
use natgw_sim::{
    core::SimCredential,
    huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway},
    ledger::{RequestRecord, now_unix_ms},
    tencent::{SimGateway, TencentSim, TencentSimConfig, TencentSimHandle},
};
use natgw_testenv::TestEnv;
use natgw_testkit::natgw;

const NAMESPACE: &str = "bench";
/// Which of each ten Huawei gateways of an account is yearly/monthly.
const PREPAID_EVERY_TENTH: usize = 5;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// NatGateways in the fleet.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Cloud accounts the fleet is spread over: the first half Tencent API 3.0, the rest Huawei.
    #[arg(long, default_value_t = 10)]
    pub accounts: usize,
    /// Every Nth object asks for Medium while its gateway is Small (a change to order).
    #[arg(long, default_value_t = 10)]
    pub change_every: usize,
    /// Creates in flight at once.
    #[arg(long, default_value_t = 32)]
    pub create_concurrency: usize,
    /// The operator's --drift-interval, in seconds.
    #[arg(long, default_value_t = 30)]
    pub drift_seconds: u64,
    /// Drift intervals to count describe calls, status writes and watch events over.
    #[arg(long, default_value_t = 3)]
    pub drift_cycles: u32,
    /// The operator's --concurrency.
    #[arg(long, default_value_t = 64)]
    pub operator_concurrency: u16,
    /// Objects applied one at a time to the idle operator, for apply -> first cloud call.
    #[arg(long, default_value_t = 40)]
    pub idle_samples: usize,
    /// Gateways of one Tencent API 3.0 account resized at once (0 skips the phase).
    #[arg(long, default_value_t = 1000)]
    pub resize_count: usize,
    /// Seconds a simulated change takes.
    #[arg(long, default_value_t = 1)]
    pub change_seconds: u64,
    /// Give up waiting for Ready after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout_seconds: u64,
    /// The operator binary; `natgw-operator` beside this tool when absent.
    #[arg(long)]
    pub operator_bin: Option<PathBuf>,
    /// Kill and restart the operator after phase 1 (`--restart=false` skips it).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub restart: bool,
    /// Kill the leader of two operators in the middle of the resize account's next resize
    /// (needs `--resize-count`; `--failover=false` skips it).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub failover: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    TestEnv(#[from] natgw_testenv::TestEnvError),
    #[error("a cloud simulator failed to start: {0}")]
    Sim(#[from] natgw_sim::SimError),
    #[error("the Kubernetes API failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Other(String),
}

fn say(start: Instant, line: impl AsRef<str>) {
    println!("[{:>7.1}s] {}", start.elapsed().as_secs_f64(), line.as_ref());
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cloud {
    Tencent,
    Huawei,
}

struct Account {
    cloud: Cloud,
    key_id: String,
    secret: String,
    /// Secret name in the namespace.
    secret_name: String,
}

struct Fleet {
    tencent: TencentSimHandle,
    huawei: HuaweiSim,
    accounts: Vec<Account>,
}

impl Fleet {
    fn requests(&self) -> Vec<RequestRecord> {
        let mut all = self.tencent.requests();
        all.extend(self.huawei.core().ledger.requests());
        all
    }

    fn first_seen(&self) -> HashMap<String, u64> {
        let mut all = self.tencent.first_seen();
        all.extend(self.huawei.core().ledger.first_seen());
        all
    }

    /// How many of `ids` carry a claim tag (in either simulator).
    fn claimed<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> usize {
        let key = natgw_operator::cloud::claim::TAG_KEY;
        ids.into_iter()
            .filter(|id| self.tencent.tags(id).contains_key(key) || self.huawei.tags(id).contains_key(key))
            .count()
    }

    /// Waits until every one of `ids` is claimed; how long that took, `None` past `limit`.
    async fn wait_claimed(&self, ids: &[&String], limit: Duration) -> Option<Duration> {
        let began = Instant::now();
        while began.elapsed() < limit {
            if self.claimed(ids.iter().copied()) == ids.len() {
                return Some(began.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        None
    }

    fn last_seen(&self) -> HashMap<String, u64> {
        let mut all = self.tencent.last_seen();
        all.extend(self.huawei.core().ledger.last_seen());
        all
    }

    /// Cloud calls accepted after `since_ms`, by action.
    fn calls_since(&self, since_ms: u64) -> BTreeMap<(String, String), usize> {
        let after: Vec<RequestRecord> = self.requests().into_iter().filter(|r| r.at_unix_ms >= since_ms).collect();
        count_by_action(&after)
    }

    fn orders(&self) -> usize {
        self.tencent.orders().len() + self.huawei.core().ledger.orders().len()
    }

    /// Seeds the gateway of object `i` of account `a` and returns its spec.
    fn object(
        &self,
        name_prefix: &str,
        i: usize,
        a: usize,
        size: Size,
        seeded: Size,
    ) -> (String, String, serde_json::Value) {
        let account = &self.accounts[a];
        let name = format!("{name_prefix}-{i:05}");
        match account.cloud {
            Cloud::Tencent => {
                let id = format!("nat-{name_prefix}{i:05}");
                let seeded = match seeded {
                    Size::Medium => 3_000_000,
                    Size::Large => 10_000_000,
                    _ => 1_000_000,
                };
                self.tencent.seed_gateway(SimGateway::new(&id, "vpc-bench", seeded));
                let spec = json!({
                    "gatewayId": id,
                    "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-bench", "api": "V3"}},
                    "size": size.to_string(),
                    "credentialsSecretRef": {"name": account.secret_name},
                    "endpoint": self.tencent.http_url,
                });
                (name, id, spec)
            }
            Cloud::Huawei => {
                let id = format!("hw-{name_prefix}{i:05}");
                let spec_of = |s: Size| match s {
                    Size::Medium => "2",
                    Size::Large => "3",
                    _ => "1",
                };
                let project = format!("proj-{a}");
                // Every tenth yearly/monthly (30 days left, renewed by hand, as declared): their
                // expiry and renewal are read along with the drift checks' sweeps.
                // Objects are dealt round-robin over the fleet's accounts (all but the resize
                // account): one in ten of each account's.
                let nth_of_account = i / (self.accounts.len() - 1).max(1);
                let prepaid = nth_of_account % 10 == PREPAID_EVERY_TENTH;
                let billing = if prepaid { BillingMode::Prepaid } else { BillingMode::PayPerUse };
                self.huawei.seed_gateway(SeedGateway {
                    id: id.clone(),
                    project_id: project.clone(),
                    spec: spec_of(seeded).into(),
                    status: "ACTIVE".into(),
                    billing,
                    admin_state_up: true,
                });
                let mut spec = json!({
                    "gatewayId": id,
                    "provider": {"huawei": {"region": "cn-north-4", "projectId": project}},
                    "size": size.to_string(),
                    "credentialsSecretRef": {"name": account.secret_name},
                    "endpoint": self.huawei.http_url,
                });
                if prepaid {
                    spec["billing"] = json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1}});
                }
                (name, id, spec)
            }
        }
    }
}

/// Creates objects `create_concurrency` at a time; returns name -> unix ms when the create returned.
async fn create_all(
    api: &Api<NatGateway>,
    objects: Vec<(String, serde_json::Value)>,
    concurrency: usize,
) -> Result<HashMap<String, u64>, BenchError> {
    let created: Vec<(String, u64)> = futures::stream::iter(objects)
        .map(|(name, spec)| async move {
            let obj = natgw(&name, spec);
            api.create(&PostParams::default(), &obj).await?;
            Ok::<_, BenchError>((name, now_unix_ms()))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(created.into_iter().collect())
}

/// Patches every object in `names` to `size`, `concurrency` at a time.
async fn resize_all(
    api: &Api<NatGateway>,
    names: &std::collections::HashSet<String>,
    size: Size,
    concurrency: usize,
) -> Result<(), BenchError> {
    let patch = json!({"spec": {"size": size.to_string()}});
    futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let patch = patch.clone();
            async move { api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ()) }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

fn condition(obj: &NatGateway, type_: &str) -> Option<(String, String)> {
    obj.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .map(|c| (c.reason.clone(), c.message.clone()))
}

/// What a status sample found.
#[derive(Default)]
struct Sample {
    ready: usize,
    total: usize,
    /// Stalled objects by reason.
    stalled: BTreeMap<String, usize>,
    /// Objects whose conditions mention throttling.
    throttled: usize,
}

async fn sample(
    api: &Api<NatGateway>,
    names: &std::collections::HashSet<String>,
    want: Option<Size>,
) -> Result<Sample, BenchError> {
    let mut s = Sample::default();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = api.list(&params).await?;
        for obj in &page.items {
            let name = obj.metadata.name.clone().unwrap_or_default();
            if !names.contains(&name) {
                continue;
            }
            s.total += 1;
            let ready = condition(obj, "Ready").is_some()
                && obj.status.as_ref().and_then(|st| st.observed_generation) == obj.metadata.generation
                && want.is_none_or(|w| {
                    obj.status.as_ref().and_then(|st| st.observed.as_ref()).and_then(|o| o.size) == Some(w)
                });
            if ready {
                s.ready += 1;
            }
            if let Some((reason, _)) = condition(obj, "Stalled") {
                *s.stalled.entry(reason).or_default() += 1;
            }
            let mentions_throttle = obj.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.status == "True" && (c.reason == "Throttled" || c.message.contains("throttl")))
            });
            if mentions_throttle {
                s.throttled += 1;
            }
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    Ok(s)
}

/// Polls until every object in `names` is Ready (at `want`, when given); returns how long it
/// took and the worst Stalled/throttled sample seen on the way.
async fn wait_ready(
    api: &Api<NatGateway>,
    names: &std::collections::HashSet<String>,
    want: Option<Size>,
    limit: Duration,
    start: Instant,
) -> Result<(Option<Duration>, BTreeMap<String, usize>, usize, usize), BenchError> {
    let began = Instant::now();
    let mut stalled: BTreeMap<String, usize> = BTreeMap::new();
    let (mut max_throttled, mut samples) = (0, 0);
    let mut last_report = Instant::now();
    loop {
        let s = sample(api, names, want).await?;
        samples += 1;
        for (reason, n) in &s.stalled {
            let e = stalled.entry(reason.clone()).or_default();
            *e = (*e).max(*n);
        }
        max_throttled = max_throttled.max(s.throttled);
        if s.ready == names.len() {
            return Ok((Some(began.elapsed()), stalled, max_throttled, samples));
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            say(start, format!("  {}/{} ready", s.ready, names.len()));
            last_report = Instant::now();
        }
        if began.elapsed() > limit {
            return Ok((None, stalled, max_throttled, samples));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// apply -> first cloud call naming the gateway, in ms (p50, p99, max, how many had one).
fn latencies(
    created: &HashMap<String, u64>,
    ids: &HashMap<String, String>,
    seen: &HashMap<String, u64>,
) -> (u64, u64, u64, usize) {
    let mut l: Vec<u64> =
        created.iter().filter_map(|(name, at)| seen.get(ids.get(name)?).map(|s| s.saturating_sub(*at))).collect();
    l.sort_unstable();
    (percentile(&l, 50.0), percentile(&l, 99.0), l.last().copied().unwrap_or(0), l.len())
}

fn count_by_action(requests: &[RequestRecord]) -> BTreeMap<(String, String), usize> {
    let mut by = BTreeMap::new();
    for r in requests {
        *by.entry((format!("{} {}", r.api, r.action), r.outcome.clone())).or_default() += 1;
    }
    by
}

/// `apiserver_request_total` summed by verb.
async fn apiserver_requests(client: &Client) -> Result<BTreeMap<String, f64>, BenchError> {
    let request = http::Request::get("/metrics").body(Vec::new()).map_err(|e| BenchError::Other(e.to_string()))?;
    let text = client.request_text(request).await?;
    let mut by_verb = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let Some((labels, value)) = line.rsplit_once(' ') else { continue };
        let verb = labels.split("verb=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
        *by_verb.entry(verb.to_owned()).or_default() += value.parse::<f64>().unwrap_or(0.0);
    }
    Ok(by_verb)
}

fn vm_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// How the benchmark starts operators: one binary, one set of flags, a log file each.
struct Launcher {
    bin: PathBuf,
    kubeconfig: PathBuf,
    dir: PathBuf,
    args: Vec<String>,
    allowed: String,
}

impl Launcher {
    fn args(&self, elected: bool) -> Vec<String> {
        let mut args = self.args.clone();
        match elected {
            true => args.extend(["--leader-election=true", "--lease-namespace", NAMESPACE].map(str::to_owned)),
            false => args.push("--leader-election=false".to_owned()),
        }
        args
    }

    fn command_line(&self, elected: bool) -> String {
        format!("{} {}", self.bin.display(), self.args(elected).join(" "))
    }

    /// Starts operator `name` (its leader-election identity when `elected`).
    fn start(&self, name: &str, elected: bool) -> Result<Operator, BenchError> {
        let log = self.dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).map_err(|e| BenchError::Other(e.to_string()))?;
        let child = std::process::Command::new(&self.bin)
            .args(self.args(elected))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("POD_NAME", name)
            .env("NATGW_ALLOWED_ENDPOINTS", &self.allowed)
            .env("NATGW_ALLOW_HTTP", "true")
            .env("NATGW_ALLOW_PRIVATE_ENDPOINTS", "true")
            .env("RUST_LOG", "warn,natgw_operator=info")
            .env("NO_COLOR", "1")
            .stdout(out.try_clone().map_err(|e| BenchError::Other(e.to_string()))?)
            .stderr(out)
            .spawn()
            .map_err(|e| BenchError::Other(format!("could not start {}: {e}", self.bin.display())))?;
        Ok(Operator { pid: child.id(), child, log, name: name.to_owned() })
    }
}

/// An operator process; dropping it SIGKILLs it.
struct Operator {
    child: std::process::Child,
    pid: u32,
    log: PathBuf,
    name: String,
}

impl Operator {
    fn peak_kib(&self) -> u64 {
        vm_kib(self.pid, "VmHWM:").unwrap_or(0)
    }

    /// `natgw_reconciles_total`, all outcomes.
    async fn reconciles(&self) -> f64 {
        operator_metrics(&self.log).await.values().sum()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `natgw-operator` from the same build as this tool (`cargo build --release` builds both).
fn operator_beside_me() -> Result<PathBuf, BenchError> {
    let me = std::env::current_exe().map_err(|e| BenchError::Other(e.to_string()))?;
    let bin = me.with_file_name("natgw-operator");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(BenchError::Other(format!(
            "{} is missing: build the operator with this tool (`cargo build --release`) or pass --operator-bin",
            bin.display()
        )))
    }
}

pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let start = Instant::now();
    let accounts_n = args.accounts.max(2);
    say(start, format!("bench: {} objects over {accounts_n} accounts, {} cores", args.count, num_cpus()));
    let env = TestEnv::start().await?;
    let client = env.client().await?;
    let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_yaml::from_str(&natgw_operator::crd_yaml()).map_err(|e| BenchError::Other(e.to_string()))?;
    Api::all(client.clone()).create(&PostParams::default(), &crd).await?;
    wait_for_crd(&client).await?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap())
        .await?;
    say(start, format!("API server at {}", env.server));

    let mut accounts: Vec<Account> = (0..accounts_n)
        .map(|a| {
            let cloud = if a < accounts_n / 2 { Cloud::Tencent } else { Cloud::Huawei };
            Account {
                cloud,
                key_id: match cloud {
                    Cloud::Tencent => format!("AKIDbench{a:02}"),
                    Cloud::Huawei => format!("HWBENCH{a:02}"),
                },
                secret: format!("bench-secret-{a}"),
                secret_name: format!("creds-{a}"),
            }
        })
        .collect();
    // The resize phase's own account.
    accounts.push(Account {
        cloud: Cloud::Tencent,
        key_id: "AKIDresize".into(),
        secret: "bench-secret-resize".into(),
        secret_name: "creds-resize".into(),
    });
    let creds = |cloud: Cloud| -> Vec<SimCredential> {
        accounts
            .iter()
            .filter(|a| a.cloud == cloud)
            .map(|a| SimCredential { key_id: a.key_id.clone(), secret: a.secret.clone(), token: None })
            .collect()
    };
    let change = Duration::from_secs(args.change_seconds);
    let tencent = TencentSim::start(TencentSimConfig {
        https_port: None,
        credentials: creds(Cloud::Tencent),
        change_time: change,
        ..TencentSimConfig::default()
    })
    .await?;
    // Each account's gateways are in its own project (`Fleet::object`), and BSS lists an
    // account's own subscriptions.
    let projects = accounts.iter().enumerate().filter(|(_, a)| a.cloud == Cloud::Huawei);
    let huawei = HuaweiSim::start(HuaweiSimConfig {
        credentials: creds(Cloud::Huawei),
        change_time: change,
        order_time: change,
        accounts: projects.map(|(i, a)| (a.key_id.clone(), vec![format!("proj-{i}")])).collect(),
        ..HuaweiSimConfig::default()
    })
    .await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    for a in &accounts {
        let data = match a.cloud {
            Cloud::Tencent => json!({"secretId": a.key_id, "secretKey": a.secret}),
            Cloud::Huawei => json!({"accessKey": a.key_id, "secretKey": a.secret}),
        };
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": a.secret_name}, "stringData": data})).unwrap(),
            )
            .await?;
    }
    let fleet = Fleet { tencent, huawei, accounts };

    // The operator, as in production but with a short drift interval.
    let dir = tempfile::tempdir().map_err(|e| BenchError::Other(e.to_string()))?;
    let drift = format!("{}s", args.drift_seconds);
    let launcher = Launcher {
        bin: match &args.operator_bin {
            Some(b) => b.clone(),
            None => operator_beside_me()?,
        },
        kubeconfig: env.kubeconfig.clone(),
        dir: dir.path().to_owned(),
        args: ["run", "--metrics-addr", "127.0.0.1:0", "--drift-interval", &drift, "--poll-interval", "2s"]
            .map(str::to_owned)
            .into_iter()
            .chain(["--concurrency".to_owned(), args.operator_concurrency.to_string()])
            .collect(),
        // The installer's allow-list: exactly the two simulators (plain HTTP on loopback).
        allowed: format!("{},{}", fleet.tencent.http_url, fleet.huawei.http_url),
    };
    let mut operator = launcher.start("operator", false)?;
    say(start, format!("operator pid {}: {}", operator.pid, launcher.command_line(false)));
    say(start, format!("operator log: {}", operator.log.display()));
    // Each operator process's VmHWM, taken just before it is killed or at the end.
    let mut peaks: Vec<(String, u64)> = Vec::new();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let api: Api<NatGateway> = Api::namespaced(client.clone(), NAMESPACE);
    let fleet_accounts = accounts_n; // excludes the resize account
    let mut objects = Vec::new();
    let mut ids = HashMap::new();
    let mut changes_requested = 0;
    for i in 0..args.count {
        let a = i % fleet_accounts;
        let size = if args.change_every > 0 && i % args.change_every == 0 { Size::Medium } else { Size::Small };
        if size != Size::Small {
            changes_requested += 1;
        }
        let (name, id, spec) = fleet.object("gw", i, a, size, Size::Small);
        ids.insert(name.clone(), id);
        objects.push((name, spec));
    }
    let names: std::collections::HashSet<String> = objects.iter().map(|(n, _)| n.clone()).collect();
    let n_tencent = (0..args.count).filter(|i| fleet.accounts[i % fleet_accounts].cloud == Cloud::Tencent).count();
    let n_huawei = args.count - n_tencent;

    // Phase 1: create, then wait for all Ready.
    say(
        start,
        format!(
            "phase 1: creating {} NatGateways ({n_tencent} Tencent V3, {n_huawei} Huawei), {} in flight; {changes_requested} ask for a change",
            args.count, args.create_concurrency
        ),
    );
    let create_began = Instant::now();
    let created = create_all(&api, objects, args.create_concurrency).await?;
    let create_took = create_began.elapsed();
    say(start, format!("all created in {:.1}s", create_took.as_secs_f64()));
    let limit = Duration::from_secs(args.timeout_seconds);
    let (ready_after, stalled, throttled, _) = wait_ready(&api, &names, None, limit, start).await?;
    let ready_text =
        ready_after.map_or("NOT all Ready before the timeout".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
    say(start, format!("created -> all Ready: {ready_text}"));
    // Claims at rest follow the first looks (`--claim-rate`): the fleet's one-time cost, waited
    // for so that the phases below measure a claimed fleet.
    let fleet_ids: Vec<&String> = ids.values().collect();
    let claimed_after = fleet.wait_claimed(&fleet_ids, limit).await.map(|d| d + ready_after.unwrap_or_default());
    let claimed_text =
        claimed_after.map_or("NOT all claimed before the timeout".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
    say(start, format!("created -> all claimed: {claimed_text}"));
    let seen = fleet.first_seen();
    let (bulk_p50, bulk_p99, bulk_max, bulk_n) = latencies(&created, &ids, &seen);
    let phase1_requests = fleet.requests();
    let phase1_calls = count_by_action(&phase1_requests);
    let orders_phase1 = fleet.orders();

    // Restart: nothing changed in the cloud, so nothing should be written, and the fleet should
    // be read again at the cost of a sweep.
    let mut restart = None;
    if args.restart {
        say(start, "restart: the operator is SIGKILLed and started again; nothing changed in the cloud");
        peaks.push((operator.name.clone(), operator.peak_kib()));
        let writes_before = status_writes(&client).await?;
        drop(operator);
        let killed_ms = now_unix_ms();
        operator = launcher.start("operator-restarted", false)?;
        let began = Instant::now();
        // Every gateway named by an accepted cloud call since the restart, and every object
        // reconciled by the new process.
        let (mut verified_at, mut reconciled_at) = (None, None);
        while began.elapsed() < Duration::from_secs(180) && (verified_at.is_none() || reconciled_at.is_none()) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let seen = fleet.last_seen();
            if verified_at.is_none() && fleet_ids.iter().all(|id| seen.get(*id).is_some_and(|at| *at >= killed_ms)) {
                verified_at = Some(began.elapsed());
            }
            if reconciled_at.is_none() && operator.reconciles().await >= args.count as f64 {
                reconciled_at = Some(began.elapsed());
            }
        }
        // Whatever the restart still does comes within a few seconds; drift checks come due later.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let reads = fleet.calls_since(killed_ms);
        let writes = status_writes(&client).await? - writes_before;
        let verified_text =
            verified_at.map_or("NOT all within 180 s".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
        let reconciled_text =
            reconciled_at.map_or("NOT all within 180 s".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
        say(
            start,
            format!(
                "restart: every gateway read again {verified_text} after the start, every object reconciled {reconciled_text}; {writes} status writes"
            ),
        );
        restart = Some((verified_text, reconciled_text, reads, writes));
    }

    // Phase 2: drift checks of the in-sync fleet.
    let window = Duration::from_secs(args.drift_seconds * u64::from(args.drift_cycles));
    say(
        start,
        format!(
            "phase 2: counting describe calls over {} drift intervals of {}s",
            args.drift_cycles, args.drift_seconds
        ),
    );
    let tencent_before = fleet.tencent.requests().len();
    let huawei_before = fleet.huawei.core().ledger.requests().len();
    let writes_before = status_writes(&client).await?;
    let watcher = tokio::spawn(count_watch_events(api.clone()));
    tokio::time::sleep(window).await;
    watcher.abort();
    let rest_events = WATCH_EVENTS.load(std::sync::atomic::Ordering::Relaxed);
    let rest_writes = status_writes(&client).await? - writes_before;
    let tencent_window: Vec<RequestRecord> = fleet.tencent.requests().into_iter().skip(tencent_before).collect();
    let huawei_window: Vec<RequestRecord> =
        fleet.huawei.core().ledger.requests().into_iter().skip(huawei_before).collect();
    let describes =
        |rs: &[RequestRecord], actions: &[&str]| rs.iter().filter(|r| actions.contains(&r.action.as_str())).count();
    let v3_describes = describes(&tencent_window, &["DescribeNatGateways"]);
    // BSS's subscription query is part of a Huawei read where yearly/monthly gateways are swept,
    // and the claims' page (ListNatGatewayByTag; ShowNatGatewayTag with a lone read) of every one.
    let hw_reads = [
        "ShowNatGateway",
        "ListNatGateways",
        "ListPayPerUseCustomerResources",
        "ShowNatGatewayTag",
        "ListNatGatewayByTag",
    ];
    let hw_describes = describes(&huawei_window, &hw_reads);
    let by_action: Vec<String> = hw_reads.iter().map(|a| format!("{a} {}", describes(&huawei_window, &[a]))).collect();
    say(start, format!("drift window, Huawei reads by action: {}", by_action.join(", ")));
    // A fleet-only run (no cycles) prints 0 calls per object, not NaN.
    let cycles = f64::from(args.drift_cycles.max(1));
    let v3_per_object = v3_describes as f64 / (n_tencent.max(1) as f64 * cycles);
    let hw_per_object = hw_describes as f64 / (n_huawei.max(1) as f64 * cycles);
    say(
        start,
        format!(
            "drift: Tencent V3 {v3_describes} DescribeNatGateways calls = {v3_per_object:.4} per object per cycle; Huawei {hw_describes} Show/List/BSS resource/tag calls = {hw_per_object:.4}"
        ),
    );
    say(
        start,
        format!(
            "at rest: {rest_writes} status writes, {rest_events} watch events to a second watcher over {}s",
            window.as_secs()
        ),
    );
    let rss_fleet = vm_kib(operator.pid, "VmRSS:");

    // Phase 3: apply -> first cloud call on an idle operator.
    say(start, format!("phase 3: {} objects applied one at a time to the idle operator", args.idle_samples));
    let mut idle_created = HashMap::new();
    let mut idle_ids = HashMap::new();
    for k in 0..args.idle_samples {
        let a = k % fleet_accounts;
        let (name, id, spec) = fleet.object("idle", k, a, Size::Small, Size::Small);
        api.create(&PostParams::default(), &natgw(&name, spec)).await?;
        idle_created.insert(name.clone(), now_unix_ms());
        idle_ids.insert(name, id);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let idle_names: std::collections::HashSet<String> = idle_created.keys().cloned().collect();
    wait_ready(&api, &idle_names, None, Duration::from_secs(120), start).await?;
    let (idle_p50, idle_p99, idle_max, idle_n) = latencies(&idle_created, &idle_ids, &fleet.first_seen());

    // Phase 4: 1,000 resizes in one account.
    let mut resize = None;
    let mut rs_names = std::collections::HashSet::new();
    if args.resize_count > 0 {
        let a = fleet.accounts.len() - 1;
        say(start, format!("phase 4: {} gateways in one Tencent V3 account, created Small", args.resize_count));
        let (mut objs, mut rs_ids) = (Vec::new(), Vec::new());
        for i in 0..args.resize_count {
            let (name, id, spec) = fleet.object("rs", i, a, Size::Small, Size::Small);
            objs.push((name, spec));
            rs_ids.push(id);
        }
        rs_names = objs.iter().map(|(n, _)| n.clone()).collect();
        create_all(&api, objs, args.create_concurrency).await?;
        wait_ready(&api, &rs_names, None, limit, start).await?;
        let rs_ids: Vec<&String> = rs_ids.iter().collect();
        let claimed = fleet.wait_claimed(&rs_ids, limit).await;
        say(start, format!("all claimed {:.1}s after Ready", claimed.unwrap_or(limit).as_secs_f64()));
        let resets_before = fleet.tencent.orders().iter().filter(|o| o.key_id == "AKIDresize").count();
        say(start, format!("all Ready; resizing all {} to Medium at once", args.resize_count));
        let began = Instant::now();
        let began_ms = now_unix_ms();
        resize_all(&api, &rs_names, Size::Medium, args.create_concurrency).await?;
        let patched = began.elapsed();
        let (done, stalled_rs, throttled_rs, samples) =
            wait_ready(&api, &rs_names, Some(Size::Medium), limit, start).await?;
        // From the first patch, not from when the last patch returned.
        let done = done.map(|d| d + patched);
        let orders: Vec<_> = fleet.tencent.orders().into_iter().filter(|o| o.key_id == "AKIDresize").collect();
        let last_order_ms = orders.iter().map(|o| o.at_unix_ms).max().unwrap_or(began_ms);
        let throttled_calls = fleet
            .tencent
            .requests()
            .iter()
            .filter(|r| r.key_id.as_deref() == Some("AKIDresize") && r.outcome.starts_with("RequestLimitExceeded"))
            .count();
        resize = Some((
            done,
            patched,
            last_order_ms.saturating_sub(began_ms),
            orders.len() - resets_before,
            stalled_rs,
            throttled_rs,
            samples,
            throttled_calls,
        ));
    }

    let reconciles = operator_metrics(&operator.log).await;
    let rss_now = vm_kib(operator.pid, "VmRSS:");

    // Failover: the leader of two operators killed in the middle of the resize account's next
    // resize, to Large.
    let mut failover = None;
    if args.failover && !rs_names.is_empty() {
        say(start, "failover: two operators with leader election, the leader SIGKILLed in the middle of a resize");
        peaks.push((operator.name.clone(), operator.peak_kib()));
        drop(operator);
        let total = (args.count + args.idle_samples + args.resize_count) as f64;
        let first = launcher.start("operator-a", true)?;
        let second = launcher.start("operator-b", true)?;
        let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
        let holder = || async {
            let lease = leases.get_opt(natgw_operator::leader::LEASE_NAME).await.ok().flatten()?;
            let spec = lease.spec?;
            Some((spec.holder_identity?, spec.acquire_time.map(|t| t.0.as_millisecond() as u64).unwrap_or(0)))
        };
        let began = Instant::now();
        let (leader, standby) = loop {
            if began.elapsed() > Duration::from_secs(300) {
                return Err(BenchError::Other(
                    "no operator became the leader and reconciled everything within 300 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Some((name, _)) = holder().await else { continue };
            let (leader, standby) = if name == first.name { (&first, &second) } else { (&second, &first) };
            if leader.reconciles().await >= total {
                break (leader, standby);
            }
        };
        say(start, format!("{} leads and has reconciled every object; {} stands by", leader.name, standby.name));
        let patch_ms = now_unix_ms();
        resize_all(&api, &rs_names, Size::Large, args.create_concurrency).await?;
        let resets_since = |since: u64| {
            fleet.tencent.orders().iter().filter(|o| o.key_id == "AKIDresize" && o.at_unix_ms >= since).count()
        };
        while resets_since(patch_ms) < args.resize_count / 2 && began.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let before_kill = resets_since(patch_ms);
        peaks.push((leader.name.clone(), leader.peak_kib()));
        // How much of the survivor's peak it reached as a standby, before it had anything to do.
        let standby_kib = (vm_kib(standby.pid, "VmRSS:").unwrap_or(0), standby.peak_kib());
        let (killed, survivor) = if leader.name == first.name { (first, second) } else { (second, first) };
        drop(killed);
        let killed_ms = now_unix_ms();
        say(start, format!("leader killed after {before_kill} of {} resets", args.resize_count));
        // The standby's first call: the first accepted after it took the lease (its acquireTime).
        let mut first_call_ms = None;
        while first_call_ms.is_none() && began.elapsed() < Duration::from_secs(900) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let Some((name, acquired_ms)) = holder().await else { continue };
            if name != survivor.name {
                continue;
            }
            first_call_ms = fleet.requests().iter().filter(|r| r.at_unix_ms >= acquired_ms).map(|r| r.at_unix_ms).min();
        }
        let took_over_ms = holder().await.map(|(_, at)| at);
        let (done, stalled_fo, _, samples) = wait_ready(&api, &rs_names, Some(Size::Large), limit, start).await?;
        let all_large_ms = done.map(|_| now_unix_ms().saturating_sub(patch_ms));
        failover = Some((
            before_kill,
            took_over_ms.map(|t| t as i64 - killed_ms as i64),
            first_call_ms.map(|t| t as i64 - killed_ms as i64),
            resets_since(patch_ms),
            stalled_fo,
            samples,
            all_large_ms,
            standby_kib,
        ));
        operator = survivor;
    }
    peaks.push((operator.name.clone(), operator.peak_kib()));
    let peak_kib = peaks.iter().map(|(_, kib)| *kib).max().unwrap_or(0);
    let verbs = apiserver_requests(&client).await?;
    let all_calls = count_by_action(&fleet.requests());

    // The report.
    println!();
    println!(
        "==== natgw-dev bench: {} objects, {fleet_accounts} accounts ({n_tencent} Tencent V3, {n_huawei} Huawei), {} cores ====",
        args.count,
        num_cpus()
    );
    println!("operator: {}", launcher.command_line(false));
    println!(
        "create: {:.1}s for {} objects ({} in flight)",
        create_took.as_secs_f64(),
        args.count,
        args.create_concurrency
    );
    println!("created -> all Ready: {ready_text}");
    println!("created -> all claimed: {claimed_text}");
    println!(
        "  Stalled seen while converging (max per sample, by reason): {stalled:?}; throttling mentioned: {throttled}"
    );
    println!(
        "apply -> first cloud call (bulk create, busy operator): p50 {bulk_p50} ms, p99 {bulk_p99} ms, max {bulk_max} ms over {bulk_n}"
    );
    println!(
        "apply -> first cloud call (idle operator, {idle_n} objects): p50 {idle_p50} ms, p99 {idle_p99} ms, max {idle_max} ms"
    );
    println!("orders placed vs changes requested (fleet): {orders_phase1} vs {changes_requested}");
    println!("cloud calls by action and outcome, fleet create -> Ready:");
    for ((action, outcome), n) in &phase1_calls {
        println!("  {action:<45} {outcome:<24} {n}");
    }
    println!(
        "drift check ({} cycles of {}s): Tencent V3 {v3_describes} DescribeNatGateways = {v3_per_object:.4} calls/object/cycle; Huawei {hw_describes} ShowNatGateway+ListNatGateways+ListPayPerUseCustomerResources+ShowNatGatewayTag+ListNatGatewayByTag = {hw_per_object:.4}",
        args.drift_cycles, args.drift_seconds
    );
    let per_hour = |n: f64| n * 3600.0 / window.as_secs_f64().max(1.0);
    println!(
        "at rest ({} s): status writes {rest_writes} (apiserver_request_total, natgateways/status APPLY+PATCH+PUT) = {:.0}/h; watch events delivered to a second NatGateway watcher {rest_events} = {:.0}/h",
        window.as_secs(),
        per_hour(rest_writes),
        per_hour(rest_events as f64)
    );
    if let Some((verified, reconciled, reads, writes)) = &restart {
        println!(
            "restart (SIGKILL, started again, nothing changed): every gateway read again {verified} after the start; every object reconciled {reconciled}; status writes {writes}"
        );
        println!("  cloud calls from the kill until 2 s after both:");
        for ((action, outcome), n) in reads {
            println!("    {action:<43} {outcome:<24} {n}");
        }
    }
    if let Some((done, patched, last_order_ms, resets, stalled_rs, throttled_rs, samples, throttled_calls)) = &resize {
        let bound = args.resize_count as f64 / 20.0;
        let done_text = done.map_or("NOT done before the timeout".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
        println!(
            "resize {} in one account: all Ready at Medium {done_text} after the first patch (lower bound {bound:.1}s, target {:.1}s); last ResetNatGatewayConnection accepted at {:.1}s; patches took {:.1}s",
            args.resize_count,
            bound * 1.15,
            *last_order_ms as f64 / 1000.0,
            patched.as_secs_f64()
        );
        println!(
            "  resets accepted {resets}; RequestLimitExceeded answers {throttled_calls}; Stalled seen in {samples} samples: {stalled_rs:?}; throttling mentioned (max per sample): {throttled_rs}"
        );
    }
    if let Some((before_kill, took_over, first_call, resets, stalled_fo, samples, done, (standby_rss, standby_hwm))) =
        &failover
    {
        let ms = |v: &Option<i64>| v.map_or("never".to_owned(), |v| format!("{:.1}s", v as f64 / 1000.0));
        println!(
            "failover (default lease duration 15 s): leader SIGKILLed after {before_kill} of {} resets; the standby took the lease {} and made its first cloud call {} after the kill (target lease + 2 s = 17.0s)",
            args.resize_count,
            ms(took_over),
            ms(first_call),
        );
        println!(
            "  all {} at Large {} after the first patch; resets accepted for the change {resets} (changes {}); Stalled seen in {samples} samples: {stalled_fo:?}",
            args.resize_count,
            done.map_or("NOT before the timeout".to_owned(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
            args.resize_count
        );
        println!(
            "  the standby just before the kill: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
            *standby_rss as f64 / 1024.0,
            *standby_hwm as f64 / 1024.0
        );
    }
    println!("cloud calls by action and outcome, whole run:");
    for ((action, outcome), n) in &all_calls {
        println!("  {action:<45} {outcome:<24} {n}");
    }
    println!(
        "operator memory: VmHWM {} KiB ({:.1} MiB, the highest of every operator process); VmRSS after the fleet {} KiB, at the end {} KiB",
        peak_kib,
        peak_kib as f64 / 1024.0,
        rss_fleet.unwrap_or(0),
        rss_now.unwrap_or(0)
    );
    let by_process: Vec<String> =
        peaks.iter().map(|(name, kib)| format!("{name} {:.1} MiB", *kib as f64 / 1024.0)).collect();
    println!("  VmHWM by process: {}", by_process.join(", "));
    println!("operator reconciles by outcome (natgw_reconciles_total): {reconciles:?}");
    println!("API server requests by verb (apiserver_request_total, whole run):");
    for (verb, n) in &verbs {
        println!("  {verb:<10} {n}");
    }
    drop(operator);
    Ok(())
}

/// Watch events (added, modified, deleted) a watcher of NatGateways received, counted by
/// [`count_watch_events`] until it is stopped.
static WATCH_EVENTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A second watcher of NatGateways, as Argo CD's or Flux's would be: counts every change event
/// after its initial list (re-watching as the API server ends each watch).
async fn count_watch_events(api: Api<NatGateway>) {
    use kube::runtime::watcher::{self, Event};
    WATCH_EVENTS.store(0, std::sync::atomic::Ordering::Relaxed);
    let mut events = std::pin::pin!(watcher::watcher(api, watcher::Config::default()));
    while let Some(event) = events.next().await {
        if let Ok(Event::Apply(_) | Event::Delete(_)) = event {
            WATCH_EVENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Status writes to NatGateways so far (`apiserver_request_total` of the status subresource).
async fn status_writes(client: &Client) -> Result<f64, BenchError> {
    let request = http::Request::get("/metrics").body(Vec::new()).map_err(|e| BenchError::Other(e.to_string()))?;
    let text = client.request_text(request).await?;
    let writes = text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .filter(|l| l.contains("resource=\"natgateways\"") && l.contains("subresource=\"status\""))
        .filter(|l| ["APPLY", "PATCH", "PUT"].iter().any(|v| l.contains(&format!("verb=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Ok(writes)
}

/// `natgw_reconciles_total` by outcome, from the operator's /metrics (address from its log).
async fn operator_metrics(log: &std::path::Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let Some(addr) = text
        .lines()
        .find(|l| l.contains("serving /metrics"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|a| a.split_whitespace().next())
    else {
        return out;
    };
    let addr = addr.trim_matches(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'));
    let Ok(body) = async { reqwest::get(format!("http://{addr}/metrics")).await?.text().await }.await else {
        return out;
    };
    for line in body.lines().filter(|l| l.starts_with("natgw_reconciles_total{")) {
        let outcome = line.split("outcome=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
        let value = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        out.insert(outcome.to_owned(), value);
    }
    out
}

async fn wait_for_crd(client: &Client) -> Result<(), BenchError> {
    let api: Api<NatGateway> = Api::all(client.clone());
    for _ in 0..100 {
        if api.list(&ListParams::default().limit(1)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(BenchError::Other("the NatGateway CRD did not become available".into()))
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
