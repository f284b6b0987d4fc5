//! A real API server for a test: the one the test binary shares or the test's own, with the CRD
//! installed and a namespace per test, and what tests do in it (create, wait, kubectl, run the
//! controller in process).

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
use natgw_operator::{api::NatGateway, cloud::Connector, controller};
use natgw_testenv::TestEnv;
use serde_json::{Value, json};

use crate::{
    objects::{natgw, secret},
    operator::{CLAIM_SETTLE, Operator},
};

/// The repository's top directory, which holds crds/ and deploy/.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// The committed CRD.
const CRD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../crds/natgateway.yaml");

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
    let out = env.kubectl(&["apply", "-f", CRD]).map_err(|e| format!("kubectl: {e}"))?;
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
    let text = std::fs::read_to_string(CRD).unwrap();
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

/// A kustomization under `deploy/` (e.g. `"deploy"`, `"deploy/namespaced"`) as an absolute path.
pub fn deploy_dir(relative: &str) -> String {
    format!("{REPO}/{relative}")
}

/// Parses multi-document YAML (kubectl kustomize output) into JSON values, skipping empty documents.
pub fn yaml_documents(text: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize as _;
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}
