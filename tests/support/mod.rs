//! Shared end-to-end fixtures: a real API server with the CRD installed and a namespace per test.
#![allow(dead_code)] // not every helper is used

use std::{
    ops::{Deref, DerefMut},
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
    time::Duration,
};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{
    Api, Client,
    api::{DynamicObject, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use natgw_operator::{
    api::{BillingMode, NatGateway},
    cloud::{Connector, endpoints::EndpointPolicy},
    controller,
};
use natgw_sim::{
    core::SimCredential,
    huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway, SimProject},
    server::SimTls,
    tencent::{SimGateway, TencentSim, TencentSimConfig, TencentSimHandle},
};
use natgw_testenv::TestEnv;
use serde_json::{Value, json};

pub struct Cluster {
    pub env: Env,
    pub client: Client,
    pub namespace: String,
    /// This test's files (operator logs).
    dir: tempfile::TempDir,
}

/// The API server of a [`Cluster`]: the one the test binary shares, or the test's own.
pub enum Env {
    Shared(&'static TestEnv),
    Own(Box<TestEnv>),
}

impl Deref for Env {
    type Target = TestEnv;

    fn deref(&self) -> &TestEnv {
        match self {
            Env::Shared(env) => env,
            Env::Own(env) => env,
        }
    }
}

/// Only for restarts, which only a test's own API server may go through.
impl DerefMut for Env {
    fn deref_mut(&mut self) -> &mut TestEnv {
        match self {
            Env::Own(env) => env,
            Env::Shared(_) => panic!("the shared API server cannot be restarted; use Cluster::start_own"),
        }
    }
}

/// The API server the tests of this binary share, with the CRD installed; the first test that
/// asks starts it. etcd and kube-apiserver die with the thread that spawned them
/// (`PR_SET_PDEATHSIG`), and a test's thread ends with its test: a thread of their own spawns
/// them and lives as long as the process.
static SHARED: OnceLock<Result<TestEnv, String>> = OnceLock::new();

fn shared_env() -> &'static TestEnv {
    let env = SHARED.get_or_init(|| {
        let (sent, received) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("shared-apiserver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let env = runtime.block_on(TestEnv::start()).map_err(|e| e.to_string());
                let _ = sent.send(env.and_then(|env| install_crd(&env).map(|()| env)));
                loop {
                    std::thread::park();
                }
            })
            .expect("a thread for the shared API server");
        let env = received.recv().expect("the shared API server starts or says why not");
        // A static is never dropped: stop the server and remove its files as the process exits.
        extern "C" fn stop_shared() {
            if let Some(Ok(env)) = SHARED.get() {
                env.kill_at_exit();
            }
        }
        // SAFETY: registers a plain function; it only stops our own children.
        unsafe { libc::atexit(stop_shared) };
        env
    });
    env.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

/// Installs the committed CRD with kubectl and waits until it is served.
fn install_crd(env: &TestEnv) -> Result<(), String> {
    let crd = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/natgateway.yaml");
    let out = env.kubectl(&["apply", "-f", crd]).map_err(|e| format!("kubectl: {e}"))?;
    if !out.status.success() {
        return Err(format!("kubectl apply of the CRD failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    // kubectl wait fails at once, instead of waiting, while the CRD has no conditions yet (its
    // status is written a moment after the create): ask again then.
    for _ in 0..20 {
        let out = env
            .kubectl(&["wait", "--for=condition=Established", "crd/natgateways.natgw.io", "--timeout=30s"])
            .map_err(|e| format!("kubectl: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Ok(());
        }
        if !stderr.contains(".status.conditions accessor error") {
            return Err(format!("CRD not established: {stderr}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err("CRD not established: it still had no conditions after 5 s".to_owned())
}

impl Cluster {
    /// Creates `namespace` on the API server this test binary shares (the CRD installed); the
    /// test must keep to it, and make only what no other test could name alike elsewhere.
    pub async fn start(namespace: &str) -> Cluster {
        Cluster::in_env(Env::Shared(shared_env()), namespace).await
    }

    /// Starts an API server for this test alone, installs the CRD and creates `namespace`: for
    /// tests that restart it, change cluster-wide objects or run an operator across namespaces.
    pub async fn start_own(namespace: &str) -> Cluster {
        let env = TestEnv::start().await.unwrap_or_else(|e| panic!("{e}"));
        install_crd(&env).unwrap_or_else(|e| panic!("{e}"));
        Cluster::in_env(Env::Own(Box::new(env)), namespace).await
    }

    async fn in_env(env: Env, namespace: &str) -> Cluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "natgw_operator=info".into()),
            )
            .with_test_writer()
            .try_init();
        // A client per test, in the test's own runtime.
        let client = env.client().await.unwrap_or_else(|e| panic!("{e}"));
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).unwrap();
        Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace created");
        let dir = tempfile::Builder::new().prefix(&format!("natgw-test-{namespace}-")).tempdir().unwrap();
        Cluster { env, client, namespace: namespace.to_owned(), dir }
    }

    /// A path in this test's own directory, e.g. for an operator's log.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The operator binary ([`Operator::start`]) as the cluster admin, watching only this test's
    /// namespace: on a shared API server, one watching every namespace would reconcile the other
    /// tests' NatGateways.
    pub fn operator(&self, args: &[&str], env: &[(&str, &str)], log: &Path) -> Operator {
        let mut env = env.to_vec();
        env.push(("NATGW_NAMESPACE", &self.namespace));
        Operator::start(&self.env.kubeconfig, args, &env, log)
    }

    pub fn natgws(&self) -> Api<NatGateway> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates [`natgw`]`(name, spec)` in this test's namespace.
    pub async fn create_natgw(&self, name: &str, spec: Value) -> NatGateway {
        self.natgws().create(&PostParams::default(), &natgw(name, spec)).await.expect("natgateway created")
    }

    /// Creates [`secret`]`(name, data)` in this test's namespace.
    pub async fn create_secret(&self, name: &str, data: Value) -> Secret {
        self.secrets().create(&PostParams::default(), &secret(name, data)).await.expect("secret created")
    }

    /// Runs the controller in this process against `connector`, watching this test's namespace,
    /// until [`InProcess::stop`].
    pub fn run_controller(&self, connector: Arc<dyn Connector>, poll_interval: Duration) -> InProcess {
        let config = controller::Config { poll_interval, claim_settle: CLAIM_SETTLE, ..Default::default() };
        self.run_controller_with(connector, config)
    }

    /// [`Cluster::run_controller`] with `config`, whose namespace is set to this test's.
    pub fn run_controller_with(&self, connector: Arc<dyn Connector>, config: controller::Config) -> InProcess {
        // This namespace only: the API server may be shared (see [`Cluster::operator`]).
        let config = controller::Config { namespace: Some(self.namespace.clone()), ..config };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(controller::run(self.client.clone(), connector, config, async {
            let _ = stopped.await;
        }));
        InProcess { stop, handle }
    }

    /// Creates an arbitrary object (possibly invalid) and returns the API server's message on failure.
    pub async fn create_raw(&self, obj: &serde_json::Value) -> Result<(), String> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("natgw.io", "v1alpha1", "NatGateway"),
            "natgateways",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &self.namespace, &ar);
        let obj: DynamicObject = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) => Err(status.message),
            Err(e) => Err(e.to_string()),
        }
    }

    /// kubectl in this test's namespace; panics with stderr when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.namespace.as_str()];
        all.extend_from_slice(args);
        let out = self.env.kubectl(&all).expect("kubectl runs");
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls `get` until `done` holds, or panics with the last object after `limit`.
    pub async fn wait_for(&self, name: &str, limit: Duration, done: impl Fn(&NatGateway) -> bool) -> NatGateway {
        self.wait_for_in(&self.namespace, name, limit, done).await
    }

    /// [`Cluster::wait_for`] in another namespace.
    pub async fn wait_for_in(
        &self,
        namespace: &str,
        name: &str,
        limit: Duration,
        done: impl Fn(&NatGateway) -> bool,
    ) -> NatGateway {
        let api: Api<NatGateway> = Api::namespaced(self.client.clone(), namespace);
        let start = std::time::Instant::now();
        loop {
            let obj = api.get(name).await.expect("get natgateway");
            if done(&obj) {
                return obj;
            }
            if start.elapsed() > limit {
                panic!("{name} did not reach the expected state in {limit:?}; last status: {:#?}", obj.status);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Applies the committed CRD without the validation rules `drop` picks (by their `rule` text): an
/// older CRD, under which objects the current one refuses were admitted before an upgrade.
pub fn apply_crd_without(cluster: &Cluster, drop: impl Fn(&str) -> bool + Copy) {
    fn strip(v: &mut Value, drop: impl Fn(&str) -> bool + Copy) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get_mut("x-kubernetes-validations") {
                    rules.retain(|r| !drop(r["rule"].as_str().unwrap_or_default()));
                }
                map.values_mut().for_each(|v| strip(v, drop));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| strip(v, drop)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/natgateway.yaml")).unwrap();
    let mut crd: Value = serde_yaml::from_str(&text).unwrap();
    strip(&mut crd, drop);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_string(&crd).unwrap()).unwrap();
    let out = cluster.env.kubectl(&["apply", "-f", file.path().to_str().unwrap()]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Creates NatGateway `name` with `spec`, retrying for 15 s while a just-relaxed CRD
/// ([`apply_crd_without`]) is not yet in force.
pub async fn create_once_admitted(cluster: &Cluster, name: &str, spec: &Value) {
    let obj =
        json!({"apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway", "metadata": {"name": name}, "spec": spec});
    let start = std::time::Instant::now();
    loop {
        match cluster.create_raw(&obj).await {
            Ok(()) => return,
            Err(e) if start.elapsed() < Duration::from_secs(15) => {
                tracing::info!("{name} not admitted yet: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("{name} was not admitted: {e}"),
        }
    }
}

/// A NatGateway named `name` with `spec`, as a user would apply it.
pub fn natgw(name: &str, spec: Value) -> NatGateway {
    serde_json::from_value(json!({
        "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway", "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

/// The spec of Tencent gateway `gateway` in ap-guangzhou / vpc-1 at `size`, with the keys of Secret
/// `secret`. `api: None` leaves the API to the CRD's default (V3), `endpoint: None` to the public one.
pub fn tencent_spec(gateway: &str, api: Option<&str>, size: &str, secret: &str, endpoint: Option<&str>) -> Value {
    let mut spec = json!({
        "gatewayId": gateway,
        "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-1"}},
        "size": size,
        "credentialsSecretRef": {"name": secret},
    });
    if let Some(api) = api {
        spec["provider"]["tencent"]["api"] = api.into();
    }
    if let Some(endpoint) = endpoint {
        spec["endpoint"] = endpoint.into();
    }
    spec
}

/// The spec of Huawei gateway `gateway` in cn-north-4 / `project` at `size`, monthly prepaid
/// (`auto_pay` as given), with the keys of Secret `huawei`, through `endpoint`.
pub fn huawei_prepaid_spec(gateway: &str, project: &str, size: &str, auto_pay: bool, endpoint: &str) -> Value {
    json!({
        "gatewayId": gateway,
        "provider": {"huawei": {"region": "cn-north-4", "projectId": project}},
        "size": size,
        "billing": {"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1, "autoPay": auto_pay}},
        "credentialsSecretRef": {"name": "huawei"},
        "endpoint": endpoint,
    })
}

/// A Secret named `name` whose `stringData` is `data`.
pub fn secret(name: &str, data: Value) -> Secret {
    serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap()
}

/// The `stringData` of a Tencent credentials Secret.
pub fn tencent_keys(secret_id: &str, secret_key: &str) -> Value {
    json!({"secretId": secret_id, "secretKey": secret_key})
}

/// Ready=True at the current generation.
pub fn ready(o: &NatGateway) -> bool {
    o.status.as_ref().is_some_and(|s| s.observed_generation == o.metadata.generation)
        && condition(o, "Ready").is_some_and(|c| c.0 == "True")
}

/// A condition's (status, reason).
pub fn condition(o: &NatGateway, type_: &str) -> Option<(String, String)> {
    o.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| (c.status.clone(), c.reason.clone()))
}

/// Stalled=True with `reason`.
pub fn stalled(reason: &'static str) -> impl Fn(&NatGateway) -> bool {
    move |o| condition(o, "Stalled").is_some_and(|c| c.0 == "True" && c.1 == reason)
}

/// A condition's message; empty when it is absent.
pub fn condition_message(o: &NatGateway, type_: &str) -> String {
    let conditions = o.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone()).unwrap_or_default()
}

/// Polls until `check` returns `Some`, or panics with `what` after `limit`.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The simulators' credential list for one key pair.
pub fn sim_credentials(key_id: &str, secret: &str) -> Vec<SimCredential> {
    vec![SimCredential { key_id: key_id.into(), secret: secret.into(), token: None }]
}

/// A Tencent simulator over plain HTTP that accepts `key_id`/`secret`, takes `change_time` per
/// change and holds one Small gateway (1,000,000 connections) `gateway` in vpc-1.
pub async fn tencent_sim(key_id: &str, secret: &str, change_time: Duration, gateway: &str) -> TencentSimHandle {
    TencentSim::start(TencentSimConfig {
        credentials: sim_credentials(key_id, secret),
        change_time,
        https_port: None,
        gateways: vec![SimGateway::new(gateway, "vpc-1", 1_000_000)],
        ..TencentSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A Tencent simulator's configuration with HTTP and HTTPS (any port, certificates from `tls`),
/// accepting `key_id`/`secret` and taking `change_time` per change; no gateways yet.
pub fn tencent_https_config(key_id: &str, secret: &str, change_time: Duration, tls: &Arc<SimTls>) -> TencentSimConfig {
    TencentSimConfig {
        credentials: sim_credentials(key_id, secret),
        change_time,
        https_port: Some(0),
        tls: Some(tls.clone()),
        ..TencentSimConfig::default()
    }
}

/// A Huawei simulator's configuration over HTTPS (certificates from `tls`), accepting `ak`/`sk`,
/// with project `project` for region cn-north-4; changes and orders take `change_time` each.
pub fn huawei_https_config(
    ak: &str,
    sk: &str,
    project: &str,
    change_time: Duration,
    tls: &Arc<SimTls>,
) -> HuaweiSimConfig {
    HuaweiSimConfig {
        credentials: sim_credentials(ak, sk),
        projects: vec![SimProject { id: project.into(), name: "cn-north-4".into() }],
        change_time,
        order_time: change_time,
        tls: Some(tls.clone()),
        ..HuaweiSimConfig::default()
    }
}

/// A namespace of the shared API server, a Huawei simulator over HTTPS that accepts `ak`/`sk`
/// (changes and orders taking 1.5 s; project `project` in cn-north-4) with those keys in the
/// Secret `huawei`, and a log file for the operator binary.
pub struct HuaweiWorld {
    pub cluster: Cluster,
    pub sim: HuaweiSim,
    pub tls: Arc<SimTls>,
    pub log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl HuaweiWorld {
    pub async fn start(namespace: &str, ak: &str, sk: &str, project: &str) -> HuaweiWorld {
        let cluster = Cluster::start(namespace).await;
        let tls = SimTls::generate(None).unwrap();
        let sim =
            HuaweiSim::start(huawei_https_config(ak, sk, project, Duration::from_millis(1500), &tls)).await.unwrap();
        cluster.create_secret("huawei", json!({"accessKey": ak, "secretKey": sk})).await;
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("operator.log");
        HuaweiWorld { cluster, sim, tls, log, _logdir: logdir }
    }

    /// The operator binary, alone (no leader election), with the fast flags, the simulator
    /// allow-listed, `/metrics` on `metrics_addr`, and `NATGW_CRASH_AT=crash_at` when given.
    pub fn operator(&self, crash_at: Option<&str>, metrics_addr: &str) -> Operator {
        let mut args = fast_operator_args(&self.tls);
        args.extend(["--leader-election=false", "--metrics-addr", metrics_addr].map(str::to_owned));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut env: Vec<(&str, &str)> = crash_at.map(|p| ("NATGW_CRASH_AT", p)).into_iter().collect();
        env.push(("NATGW_ALLOWED_ENDPOINTS", self.sim.https_url.as_deref().unwrap()));
        self.cluster.operator(&args, &env, &self.log)
    }

    /// The operator's last 20 log lines.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// An ACTIVE, PayPerUse Huawei gateway `id` of flavour `spec` ("1" is Small) in `project`.
pub fn huawei_gateway(id: &str, project: &str, spec: &str) -> SeedGateway {
    SeedGateway {
        id: id.into(),
        project_id: project.into(),
        spec: spec.into(),
        status: "ACTIVE".into(),
        billing: BillingMode::PayPerUse,
        admin_state_up: true,
    }
}

/// The installer's endpoint allow-list in tests: exactly `urls` (simulators, on loopback over HTTP
/// or HTTPS) on top of the clouds' documented endpoints, tokens and API 2.0 allowed over HTTP too
/// (`--allow-http-credentials`). For the binary, pass the same list as `NATGW_ALLOWED_ENDPOINTS`
/// (comma-separated) to [`Operator::start`].
pub fn allow_endpoints(urls: &[&str]) -> EndpointPolicy {
    let urls: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
    EndpointPolicy::new(&urls, true, true).expect("simulator URLs are valid endpoints").with_http_credentials(true)
}

/// The flags end-to-end tests run the operator with: fast polls and drift checks, a short cloud
/// timeout, claims read back soon (the simulators' tags show at once unless a test sets a delay),
/// and the simulators' CA from `tls`.
pub fn fast_operator_args(tls: &SimTls) -> Vec<String> {
    let ca = tls.ca_pem_path().to_str().unwrap();
    let args =
        ["--poll-interval", "300ms", "--drift-interval", "3s", "--cloud-timeout", "2s", "--claim-settle", "200ms"];
    args.into_iter().chain(["--extra-ca", ca]).map(str::to_owned).collect()
}

/// How long in-process controllers wait before reading a claim back (see [`fast_operator_args`]).
pub const CLAIM_SETTLE: Duration = Duration::from_millis(200);

/// Both simulators over HTTPS (one generated CA), changes and orders taking 1.5 s, and the
/// Secrets `tencent` and `huawei` with their keys in the cluster's namespace.
pub struct Clouds {
    pub tls: Arc<SimTls>,
    pub tencent: TencentSimHandle,
    pub huawei: HuaweiSim,
}

impl Clouds {
    /// `tencent` and `huawei` are (key id, secret) pairs; Huawei's project `project` is in
    /// cn-north-4.
    pub async fn start(cluster: &Cluster, tencent: (&str, &str), huawei: (&str, &str), project: &str) -> Clouds {
        let tls = SimTls::generate(None).unwrap();
        let change_time = Duration::from_millis(1500);
        let tc = TencentSim::start(tencent_https_config(tencent.0, tencent.1, change_time, &tls)).await.unwrap();
        let hw = HuaweiSim::start(huawei_https_config(huawei.0, huawei.1, project, change_time, &tls)).await.unwrap();
        Clouds::create_secrets(cluster, tencent, huawei).await;
        Clouds { tls, tencent: tc, huawei: hw }
    }

    /// The Secrets `tencent` and `huawei` with these keys in `cluster`'s namespace (for a second
    /// cluster that reaches the same clouds).
    pub async fn create_secrets(cluster: &Cluster, tencent: (&str, &str), huawei: (&str, &str)) {
        cluster.create_secret("tencent", tencent_keys(tencent.0, tencent.1)).await;
        cluster.create_secret("huawei", json!({"accessKey": huawei.0, "secretKey": huawei.1})).await;
    }

    /// Both simulators' URLs, as `NATGW_ALLOWED_ENDPOINTS` takes them.
    pub fn allowed_endpoints(&self) -> String {
        let urls =
            [&self.tencent.http_url, self.tencent.https_url.as_ref().unwrap(), self.huawei.https_url.as_ref().unwrap()];
        urls.map(String::as_str).join(",")
    }

    /// Orders either simulator's ledger holds for `gateway`.
    pub fn orders(&self, gateway: &str) -> usize {
        let tc = self.tencent.orders().into_iter().filter(|o| o.gateway_id == gateway).count();
        let hw = self.huawei.core().ledger.orders().into_iter().filter(|o| o.gateway_id == gateway).count();
        tc + hw
    }
}

/// The controller running inside the test process; see [`Cluster::run_controller`].
pub struct InProcess {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), controller::StartError>>,
}

impl InProcess {
    /// Asks the controller to shut down and waits for it to return `Ok` (20 s at the most).
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("the controller stops")
            .unwrap()
            .unwrap();
    }
}

/// A free local TCP port (for `--metrics-addr`).
pub fn free_port() -> u16 {
    natgw_testenv::free_port().expect("a free local port")
}

/// In a /metrics text, the value of the sample whose name and labels are exactly `series`; 0 when
/// absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

/// Prints the end of an operator's log when the test panics (it is in a temporary directory that
/// goes with the test).
pub struct LogOnPanic<'a>(pub &'a Path);

impl Drop for LogOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.0).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("operator log (last lines):\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
    }
}

/// The real operator binary as a child process (so tests can SIGKILL it), logging to a file.
/// Dropping it kills it.
pub struct Operator {
    child: std::process::Child,
}

impl Operator {
    /// Starts `natgw-operator run` against `kubeconfig` with `args` and `env`, appending its
    /// output to `log`. The simulators listen on loopback, often over plain HTTP (Tencent API
    /// 2.0 and temporary tokens included): the operator is told to accept such endpoints and to
    /// send tokens to them (`NATGW_ALLOW_HTTP_CREDENTIALS`, which `env` may set to `false`), and
    /// `env` must still allow-list them one by one (`NATGW_ALLOWED_ENDPOINTS`, see
    /// [`allow_endpoints`]).
    pub fn start(kubeconfig: &std::path::Path, args: &[&str], env: &[(&str, &str)], log: &std::path::Path) -> Operator {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("operator log opens");
        // NATGW_OPERATOR_BIN runs the end-to-end tests against another build (e.g. an older
        // commit's, to show a test fails without a fix).
        let bin = std::env::var("NATGW_OPERATOR_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_natgw-operator").into());
        let child = std::process::Command::new(bin)
            .arg("run")
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,natgw_operator=debug")
            .env("NATGW_ALLOW_HTTP", "true")
            .env("NATGW_ALLOW_HTTP_CREDENTIALS", "true")
            .env("NATGW_ALLOW_PRIVATE_ENDPOINTS", "true")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("operator starts");
        Operator { child }
    }

    /// Sends SIGTERM (a graceful shutdown, as Kubernetes does); see [`Operator::wait_exit`].
    pub fn terminate(&mut self) {
        // Only while it runs: once reaped, its pid may belong to another process.
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, which has not been reaped.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): a replica paused as a stalled VM or a long GC is.
    pub fn pause(&mut self, stop: bool) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, which has not been reaped.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, if stop { libc::SIGSTOP } else { libc::SIGCONT });
            }
        }
    }

    /// Waits for the process to end by itself; its exit status, or `None` after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A kustomization under `deploy/` (e.g. `"deploy"`, `"deploy/namespaced"`) as an absolute path.
pub fn deploy_dir(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}

/// Parses multi-document YAML (kubectl kustomize output) into JSON values, skipping empty documents.
pub fn yaml_documents(text: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize as _;
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

impl Cluster {
    /// Renders a kustomization with the real kubectl's built-in kustomize.
    pub fn kustomize(&self, relative: &str) -> Vec<serde_json::Value> {
        yaml_documents(&self.kubectl(&["kustomize", &deploy_dir(relative)]))
    }

    /// Runs kubectl with another identity's kubeconfig (e.g. a ServiceAccount token's), unchecked.
    pub fn kubectl_as(&self, kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
        std::process::Command::new(self.env.bin_dir().join("kubectl"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs")
    }
}

/// A TCP proxy in front of the API server that a test can cut: a network partition between one
/// client (given [`Partition::kubeconfig`]) and the API server, while everything else reaches it.
pub struct Partition {
    cut: tokio::sync::watch::Sender<bool>,
    pub kubeconfig: std::path::PathBuf,
    _accept: tokio::task::JoinHandle<()>,
}

impl Partition {
    /// Proxies to `env`'s API server; writes a kubeconfig naming the proxy as `file_name` beside
    /// the environment's.
    pub async fn start(env: &natgw_testenv::TestEnv, file_name: &str) -> Partition {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = format!("https://{}", listener.local_addr().unwrap());
        let upstream = env.server.trim_start_matches("https://").to_owned();
        let kubeconfig = env.kubeconfig.with_file_name(file_name);
        let text = std::fs::read_to_string(&env.kubeconfig).unwrap().replace(&env.server, &proxy);
        std::fs::write(&kubeconfig, text).unwrap();
        let (cut, cut_rx) = tokio::sync::watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *cut_rx.borrow() {
                    continue; // dropped: the connection is refused at once
                }
                let upstream = upstream.clone();
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Partition { cut, kubeconfig, _accept: accept }
    }

    /// Cuts (`true`) or heals (`false`) the link: open connections are dropped, new ones refused.
    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// Pays Huawei order `order_id` as its owner would: a `PayOrders` call (BSS, signed with
/// `ak`/`sk`) to the simulator at `endpoint`; panics unless BSS answers 204.
pub async fn huawei_pay_order(endpoint: &str, ak: &str, sk: &str, order_id: &str) {
    use natgw_operator::cloud::huawei::sign;
    let url = reqwest::Url::parse(&format!("{endpoint}/v3/orders/customer-orders/pay")).unwrap();
    let body = json!({"order_id": order_id, "use_coupon": "NO", "use_discount": "NO"}).to_string();
    let headers = vec![
        ("Host".to_owned(), format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())),
        ("X-Sdk-Date".to_owned(), sign::format_date(k8s_openapi::jiff::Timestamp::now())),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let request =
        sign::SignedRequest { method: "POST", path: url.path(), query: &[], headers: &headers, body: body.as_bytes() };
    let mut call = reqwest::Client::new()
        .post(url.clone())
        .header("Authorization", sign::authorization(&request, ak, sk).unwrap());
    for (name, value) in headers.iter().filter(|(n, _)| n != "Host") {
        call = call.header(name, value);
    }
    let response = call.body(body).send().await.expect("PayOrders is answered");
    assert_eq!(response.status(), 204, "PayOrders {order_id}: {}", response.text().await.unwrap_or_default());
}
