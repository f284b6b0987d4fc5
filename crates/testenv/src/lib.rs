//! A real Kubernetes API server for tests and the demo: etcd + kube-apiserver built from Go
//! modules by `crates/testenv/build.sh`, started on free loopback ports in a temporary directory with
//! generated certificates, a static admin token and a kubeconfig. Dropping the [`TestEnv`] stops
//! both processes, also when a test panics; if the whole process dies, the kernel stops them
//! (`PR_SET_PDEATHSIG`).

use std::{
    fs,
    io::Read,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kube::config::{KubeConfigOptions, Kubeconfig};

mod kubelet;
pub mod node;

/// The Services' ClusterIP range (`--service-cluster-ip-range`); the node's firewall lets pods
/// reach it.
const SERVICE_RANGE: &str = "10.0.0.0/24";
/// The token of the `system:masters` user the tests act as.
const ADMIN_TOKEN: &str = "natgw-testenv-admin";

/// What the API server is started for.
#[derive(Clone, Copy)]
enum Flavor {
    /// Tests and the demo: loopback, a free port, no node, no ServiceAccount token mounting.
    Plain,
    /// A real node's control plane ([`node::Node`]): on the node's address, node authorization and
    /// admission, the ServiceAccount admission plugin (it mounts tokens into pods) and a client
    /// certificate for reaching the kubelet.
    Node { address: std::net::Ipv4Addr, port: u16 },
}

#[derive(Debug, thiserror::Error)]
pub enum TestEnvError {
    #[error(
        "could not build or find the test API server binaries ({0}); run `bash crates/testenv/build.sh` to see the build output, or set NATGW_TESTENV_BIN to a directory holding etcd, kube-apiserver and kubectl"
    )]
    Binaries(String),
    #[error("could not build or find helm ({0}); run `bash crates/testenv/build-helm.sh` to see the build output")]
    Helm(String),
    #[error("could not prepare the test environment: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not generate certificates: {0}")]
    Certificates(#[from] rcgen::Error),
    #[error("{what} did not become ready within {secs} s; last lines of its log:\n{log}")]
    NotReady { what: &'static str, secs: u64, log: String },
    #[error("could not build a client for the test API server: {0}")]
    Client(String),
}

/// A running etcd + kube-apiserver pair.
pub struct TestEnv {
    dir: tempfile::TempDir,
    bin: PathBuf,
    etcd: Child,
    apiserver: Child,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    pub kubeconfig: PathBuf,
    ca_pem: String,
    etcd_args: Vec<String>,
    apiserver_args: Vec<String>,
}

impl TestEnv {
    /// Builds (first run only) and starts the API server; returns once `/readyz` answers ok.
    pub async fn start() -> Result<TestEnv, TestEnvError> {
        TestEnv::start_flavor(binaries(false)?, Flavor::Plain).await
    }

    /// Starts the pair; a port another process bound between our pick and the server's bind is
    /// picked again (twice at most), any other failure is returned at once.
    async fn start_flavor(bin: PathBuf, flavor: Flavor) -> Result<TestEnv, TestEnvError> {
        let mut attempt = 1;
        loop {
            match TestEnv::start_once(bin.clone(), flavor).await {
                Err(TestEnvError::NotReady { log, .. }) if attempt < 3 && log.contains("address already in use") => {
                    tracing::warn!(attempt, "a port picked for the test API server was taken meanwhile; picking again");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once(bin: PathBuf, flavor: Flavor) -> Result<TestEnv, TestEnvError> {
        let dir = tempfile::Builder::new().prefix("natgw-testenv-").tempdir()?;
        let certs = write_certificates(dir.path(), flavor)?;
        let mut tokens = format!("{ADMIN_TOKEN},admin,admin,system:masters\n");
        if let Flavor::Node { .. } = flavor {
            // The kubelet's identity, which the Node authorizer and NodeRestriction key on.
            tokens.push_str(&format!(
                "{},system:node:{},kubelet,system:nodes\n",
                kubelet::KUBELET_TOKEN,
                kubelet::NODE_NAME
            ));
        }
        fs::write(dir.path().join("tokens.csv"), tokens)?;

        let etcd_client = free_port()?;
        let etcd_peer = free_port()?;
        let (bind, api_port) = match flavor {
            Flavor::Plain => (std::net::Ipv4Addr::LOCALHOST, free_port()?),
            Flavor::Node { address, port } => (address, port),
        };
        let etcd_args = vec![
            format!("--data-dir={}", dir.path().join("etcd").display()),
            format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ];
        let d = dir.path().display();
        let mut apiserver_args = vec![
            format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
            format!("--secure-port={api_port}"),
            format!("--bind-address={bind}"),
            format!("--advertise-address={bind}"),
            format!("--tls-cert-file={d}/serving.crt"),
            format!("--tls-private-key-file={d}/serving.key"),
            format!("--client-ca-file={d}/ca.crt"),
            format!("--token-auth-file={d}/tokens.csv"),
            format!("--service-account-key-file={d}/sa.pub"),
            format!("--service-account-signing-key-file={d}/sa.key"),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-cluster-ip-range={SERVICE_RANGE}"),
            "--allow-privileged=true".into(),
            "--v=0".into(),
        ];
        apiserver_args.extend(match flavor {
            Flavor::Plain => {
                vec!["--authorization-mode=RBAC".into(), "--disable-admission-plugins=ServiceAccount".into()]
            }
            Flavor::Node { .. } => vec![
                "--authorization-mode=Node,RBAC".into(),
                "--enable-admission-plugins=NodeRestriction".into(),
                format!("--kubelet-client-certificate={d}/kubelet-client.crt"),
                format!("--kubelet-client-key={d}/kubelet-client.key"),
                // The kubelet serves on loopback under the node name `localhost`.
                "--kubelet-preferred-address-types=Hostname".into(),
            ],
        });
        let etcd = spawn(&bin.join("etcd"), &etcd_args, &dir.path().join("etcd.log"))?;
        let apiserver = spawn(&bin.join("kube-apiserver"), &apiserver_args, &dir.path().join("apiserver.log"))?;
        let server = format!("https://{bind}:{api_port}");
        let kubeconfig = dir.path().join("kubeconfig");
        fs::write(&kubeconfig, kubeconfig_yaml(&server, &certs.ca_pem, ADMIN_TOKEN))?;
        let mut env =
            TestEnv { dir, bin, etcd, apiserver, server, kubeconfig, ca_pem: certs.ca_pem, etcd_args, apiserver_args };
        env.wait_ready(Duration::from_secs(90)).await?;
        Ok(env)
    }

    /// A client acting as the cluster admin.
    pub async fn client(&self) -> Result<kube::Client, TestEnvError> {
        self.client_for(&self.kubeconfig).await
    }

    /// A client for any kubeconfig pointing at this server (e.g. a ServiceAccount's).
    pub async fn client_for(&self, kubeconfig: &Path) -> Result<kube::Client, TestEnvError> {
        let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| TestEnvError::Client(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| TestEnvError::Client(e.to_string()))?;
        kube::Client::try_from(config).map_err(|e| TestEnvError::Client(e.to_string()))
    }

    /// Writes a kubeconfig that authenticates with `token`, e.g. a ServiceAccount token.
    pub fn kubeconfig_for_token(&self, name: &str, token: &str) -> Result<PathBuf, TestEnvError> {
        let path = self.dir.path().join(format!("kubeconfig-{name}"));
        fs::write(&path, kubeconfig_yaml(&self.server, &self.ca_pem, token))?;
        Ok(path)
    }

    /// Runs the real kubectl against this server.
    pub fn kubectl(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new(self.bin.join("kubectl")).arg("--kubeconfig").arg(&self.kubeconfig).args(args).output()
    }

    /// The directory holding etcd, kube-apiserver and kubectl.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Stops and restarts kube-apiserver on the same port and etcd data (API server restarts).
    pub async fn restart_apiserver(&mut self) -> Result<(), TestEnvError> {
        stop(&mut self.apiserver);
        self.apiserver =
            spawn(&self.bin.join("kube-apiserver"), &self.apiserver_args, &self.dir.path().join("apiserver.log"))?;
        self.wait_ready(Duration::from_secs(90)).await
    }

    /// Stops etcd and kube-apiserver, keeps both down for `outage`, then starts them again on the
    /// same ports and data (a control-plane outage).
    pub async fn restart_control_plane(&mut self, outage: Duration) -> Result<(), TestEnvError> {
        stop(&mut self.apiserver);
        stop(&mut self.etcd);
        tokio::time::sleep(outage).await;
        self.etcd = spawn(&self.bin.join("etcd"), &self.etcd_args, &self.dir.path().join("etcd.log"))?;
        self.apiserver =
            spawn(&self.bin.join("kube-apiserver"), &self.apiserver_args, &self.dir.path().join("apiserver.log"))?;
        self.wait_ready(Duration::from_secs(90)).await
    }

    /// Kills etcd and kube-apiserver and removes their files, for an environment that is never
    /// dropped (one a whole test binary shares, in a static): call it once, as the process exits.
    pub fn kill_at_exit(&self) {
        for child in [&self.apiserver, &self.etcd] {
            let pid = child.id() as libc::pid_t;
            // SAFETY: kill(2) and waitpid(2) on our own children, which nothing else reaps.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        let _ = fs::remove_dir_all(self.dir.path());
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), TestEnvError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes())
                    .map_err(|e| TestEnvError::Client(e.to_string()))?,
            )
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| TestEnvError::Client(e.to_string()))?;
        let start = Instant::now();
        loop {
            let ok = http
                .get(format!("{}/readyz", self.server))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(());
            }
            let exited =
                matches!(self.apiserver.try_wait(), Ok(Some(_))) || matches!(self.etcd.try_wait(), Ok(Some(_)));
            if exited || start.elapsed() > limit {
                return Err(TestEnvError::NotReady {
                    what: if exited { "kube-apiserver (it exited)" } else { "kube-apiserver" },
                    secs: start.elapsed().as_secs(),
                    log: format!(
                        "{}\n--- etcd ---\n{}",
                        tail(&self.dir.path().join("apiserver.log")),
                        tail(&self.dir.path().join("etcd.log"))
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        stop(&mut self.apiserver);
        stop(&mut self.etcd);
    }
}

/// A tool build.sh caches beside the API server binaries (`kstatus`, `argocd-health`, `promtool`), built on
/// first use: only that tool, not the API server.
pub fn tool(name: &str) -> Result<PathBuf, TestEnvError> {
    let dir = match std::env::var_os("NATGW_TESTENV_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => run_build_script("build.sh", Some(name)).map_err(TestEnvError::Binaries)?,
    };
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestEnvError::Binaries(format!("{} is missing: build.sh did not build it", path.display())))
    }
}

/// Finds the cached API server binaries (with the node's when `node`), building them on the first
/// run: nothing else.
fn binaries(node: bool) -> Result<PathBuf, TestEnvError> {
    if let Some(dir) = std::env::var_os("NATGW_TESTENV_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let dir =
        run_build_script("build.sh", Some(if node { "node" } else { "apiserver" })).map_err(TestEnvError::Binaries)?;
    for name in ["etcd", "kube-apiserver", "kubectl"] {
        if !dir.join(name).is_file() {
            return Err(TestEnvError::Binaries(format!("{} is missing", dir.join(name).display())));
        }
    }
    Ok(dir)
}

/// What the Helm chart's tests run with (crates/testenv/build-helm.sh, cached).
pub struct HelmTools {
    /// The `helm` binary.
    pub helm: PathBuf,
    /// The Prometheus Operator's ServiceMonitor CRD, for the ServiceMonitor the chart can render.
    pub service_monitor_crd: PathBuf,
}

/// Finds the chart's test tools, building them on the first run.
pub fn helm_tools() -> Result<HelmTools, TestEnvError> {
    let dir = run_build_script("build-helm.sh", None).map_err(TestEnvError::Helm)?;
    let tools = HelmTools { helm: dir.join("helm"), service_monitor_crd: dir.join("servicemonitor-crd.yaml") };
    for path in [&tools.helm, &tools.service_monitor_crd] {
        if !path.is_file() {
            return Err(TestEnvError::Helm(format!("{} is missing from {}", path.display(), dir.display())));
        }
    }
    Ok(tools)
}

/// Runs one of this crate's build scripts, which print the directory of what they built (cached).
fn run_build_script(name: &str, arg: Option<&str>) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    // Progress goes to our stderr so a first, long build is visible.
    let out = Command::new("bash")
        .arg(&script)
        .args(arg)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", script.display(), out.status));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

struct Certificates {
    ca_pem: String,
}

fn write_certificates(dir: &Path, flavor: Flavor) -> Result<Certificates, TestEnvError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "natgw-testenv-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate()?;
    // Pods reach the API server by the names of the `kubernetes` Service.
    let mut names: Vec<String> =
        ["localhost", "127.0.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
            .map(String::from)
            .into();
    if let Flavor::Node { address, .. } = flavor {
        names.push(address.to_string());
    }
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    let serving = params.signed_by(&key, &issuer)?;

    fs::write(dir.join("ca.crt"), ca.pem())?;
    fs::write(dir.join("serving.crt"), serving.pem())?;
    fs::write(dir.join("serving.key"), key.serialize_pem())?;
    if let Flavor::Node { .. } = flavor {
        // The API server's identity towards the kubelet (logs, exec), authorized as an admin.
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, "kube-apiserver-kubelet-client");
        params.distinguished_name.push(DnType::OrganizationName, "system:masters");
        let client = params.signed_by(&key, &issuer)?;
        fs::write(dir.join("kubelet-client.crt"), client.pem())?;
        fs::write(dir.join("kubelet-client.key"), key.serialize_pem())?;
    }
    let sa = KeyPair::generate()?;
    fs::write(dir.join("sa.key"), sa.serialize_pem())?;
    fs::write(dir.join("sa.pub"), sa.public_key_pem())?;
    Ok(Certificates { ca_pem: ca.pem() })
}

fn kubeconfig_yaml(server: &str, ca_pem: &str, token: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: testenv\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: user\n  user:\n    token: {token}\ncontexts:\n- name: testenv\n  context:\n    cluster: testenv\n    user: user\n    namespace: default\ncurrent-context: testenv\n"
    )
}

/// A local TCP port nothing listens on, picked below the kernel's ephemeral range: a port the
/// kernel hands out (`bind(:0)`) is one it also gives any outgoing connection's local end, so a
/// test's own connections could take it before the server binds it (seen in CI: etcd's
/// `address already in use`).
pub fn free_port() -> std::io::Result<u16> {
    use std::hash::{BuildHasher as _, Hasher as _};
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    const LOWEST: u16 = 10000;
    if ephemeral_low > LOWEST + 1000 {
        for _ in 0..64 {
            // RandomState is seeded per process and per call: a random port without a crate.
            let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
            let port = LOWEST + (random % u64::from(ephemeral_low - LOWEST)) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn(program: &Path, args: &[String], log: &Path) -> std::io::Result<Child> {
    let log_file = fs::File::create(log)?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to signal the child when we die.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
}

fn stop(child: &mut Child) {
    // SIGTERM first so etcd and kube-apiserver shut down cleanly; SIGKILL if they linger.
    let pid = child.id() as libc::pid_t;
    // SAFETY: plain kill(2) on a child we own.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
