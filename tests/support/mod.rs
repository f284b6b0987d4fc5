//! Shared end-to-end fixtures: a real API server with the CRD installed and a namespace per test.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{DynamicObject, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use natgw_operator::{api::NatGateway, testenv::TestEnv};

pub struct Cluster {
    pub env: TestEnv,
    pub client: Client,
    pub namespace: String,
}

impl Cluster {
    /// Starts the API server, installs the committed CRD with kubectl and creates `namespace`.
    pub async fn start(namespace: &str) -> Cluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "natgw_operator=info".into()),
            )
            .with_test_writer()
            .try_init();
        let env = TestEnv::start().await.unwrap_or_else(|e| panic!("{e}"));
        let client = env.client().await.unwrap_or_else(|e| panic!("{e}"));
        let crd = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/natgateway.yaml");
        let out = env.kubectl(&["apply", "-f", crd]).expect("kubectl runs");
        assert!(out.status.success(), "kubectl apply of the CRD failed: {}", String::from_utf8_lossy(&out.stderr));
        let out = env
            .kubectl(&["wait", "--for=condition=Established", "crd/natgateways.natgw.io", "--timeout=30s"])
            .expect("kubectl runs");
        assert!(out.status.success(), "CRD not established: {}", String::from_utf8_lossy(&out.stderr));
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).unwrap();
        Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace created");
        Cluster { env, client, namespace: namespace.to_owned() }
    }

    pub fn natgws(&self) -> Api<NatGateway> {
        Api::namespaced(self.client.clone(), &self.namespace)
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
        let start = std::time::Instant::now();
        loop {
            let obj = self.natgws().get(name).await.expect("get natgateway");
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

/// The real operator binary as a child process (so tests can SIGKILL it), logging to a file.
/// Dropping it kills it.
pub struct Operator {
    child: std::process::Child,
}

impl Operator {
    /// Starts `natgw-operator run` against `kubeconfig` with `args` and `env`, appending its
    /// output to `log`.
    pub fn start(kubeconfig: &std::path::Path, args: &[&str], env: &[(&str, &str)], log: &std::path::Path) -> Operator {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("operator log opens");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_natgw-operator"))
            .arg("run")
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,natgw_operator=debug")
            .envs(env.iter().copied())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("operator starts");
        Operator { child }
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
