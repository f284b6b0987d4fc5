//! A real single-node cluster for tests: the [`TestEnv`] control plane (etcd, kube-apiserver) plus
//! kube-controller-manager, kube-scheduler, Debian's containerd + runc and a kubelet, all built
//! from the same Go modules (`build.sh --node`) and started in the environment's temporary
//! directory. Pods get addresses from the CNI `ptp` plugin on [`POD_SUBNET`] and reach the API
//! server and any test server at [`NODE_ADDRESS`], an address added to `lo` for the node's life.
//! No kube-proxy, no DNS: a pod is told the API server's address.
//!
//! NetworkPolicies are enforced, as a CNI such as Calico or Cilium enforces them: `ptp` enforces
//! none, so kube-router runs beside the kubelet with its firewall alone (`--run-firewall`, no
//! router, no service proxy; built by `build.sh node`), writing iptables rules and ipsets for the
//! pods of this node. As on any such node, a pod's egress policy also governs its traffic to the
//! node itself (the API server and the test servers listen at [`NODE_ADDRESS`]), while the node's
//! own traffic to its pods (the kubelet's probes, a test on the host) is always let through.
//! [`in_netns_of`] sends a test's packets from a pod's network namespace.
//!
//! Needs root (containerd, mounts, cgroups, network namespaces). One node runs on a machine at a
//! time (a lock file); dropping the [`Node`] stops every process by PID, kills the containers,
//! unmounts what the kubelet and containerd mounted, removes the pods' network namespaces and
//! cgroups, kube-router's iptables chains and ipsets and the address; a node whose test process
//! died is swept the same way when the next one starts. Facts behind the settings:
//! `../shared/reference/real-node.md`.

use std::{
    fs,
    net::Ipv4Addr,
    os::unix::{fs::MetadataExt, io::AsRawFd},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use crate::{
    Flavor, SERVICE_RANGE, TestEnv, TestEnvError, free_port,
    kubelet::{KUBELET_TOKEN, NODE_NAME},
    spawn, tail,
};

/// Where pods reach the host: the API server, simulators. On `lo`, so no interface is created for
/// it; the `ptp` plugin routes each pod's traffic to it over the pod's veth.
pub const NODE_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// The pods' addresses (`host-local` IPAM).
pub const POD_SUBNET: &str = "10.200.0.0/24";
/// The API server's port on [`NODE_ADDRESS`]; fixed, so manifests can name it.
pub const API_PORT: u16 = 6443;
/// The pod sandbox image, built by `build.sh --node` (`pause.oci.tar`). A pod may run it too
/// (`imagePullPolicy: Never`): a process that only holds the pod's namespaces, e.g. a client whose
/// network namespace a test connects from ([`in_netns_of`]).
pub const PAUSE_IMAGE: &str = "localhost/natgw-pause:1";
/// The prefixes of what kube-router's firewall adds to the `filter` table: its top-level chains
/// (`KUBE-ROUTER-INPUT`, `-FORWARD`, `-OUTPUT`), a chain per pod and per policy.
const FIREWALL_CHAINS: [&str; 3] = ["KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-"];
/// ... and of its ipsets (a policy's sources and destinations).
const FIREWALL_SETS: [&str; 2] = ["KUBE-SRC-", "KUBE-DST-"];
/// Marks this module's temporary directories, so a sweep finds what a dead run left.
const DIR_MARK: &str = "natgw-testenv-";
/// How often a start-up wait looks again.
const STEP: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("the real node needs root (containerd, kubelet, mounts, cgroups); run the node tests as root, e.g. in CI")]
    NotRoot,
    #[error("{tool} is not installed; on Debian/Ubuntu: apt-get install {package} (scripts/setup.sh does it)")]
    Missing { tool: String, package: &'static str },
    #[error(transparent)]
    Control(#[from] TestEnvError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{what} failed ({status}): {stderr}")]
    Command { what: String, status: String, stderr: String },
    #[error("{what} did not become ready within {secs} s; last lines of its log:\n{log}")]
    NotReady { what: &'static str, secs: u64, log: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
    let what = what.into();
    move |source| NodeError::Io { what, source }
}

/// A running node; see the module documentation.
pub struct Node {
    /// The control plane; kubectl and clients act as the cluster admin through it.
    pub env: TestEnv,
    dir: PathBuf,
    bin: PathBuf,
    /// kube-controller-manager, kube-scheduler, containerd, kubelet, kube-router, stopped in
    /// reverse order.
    components: Vec<(&'static str, Child)>,
    /// How long kube-router took from its start to its first full sync, within [`Node::start`].
    pub firewall_sync: Duration,
    /// `net.ipv4.ip_forward` was 0 and the node set it (pod to pod traffic is routed by the host);
    /// it goes back to 0 with the node.
    enabled_forwarding: bool,
    /// Held for the node's life: one node per machine.
    _lock: fs::File,
}

impl Node {
    /// Builds (first run only) and starts the node, imports `images` (OCI archives, e.g. from
    /// `podman save --format oci-archive`) into containerd, and returns once the Node is Ready.
    pub async fn start(images: &[&Path]) -> Result<Node, NodeError> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(NodeError::NotRoot);
        }
        for (tool, package) in [
            ("containerd", "containerd"),
            ("ctr", "containerd"),
            ("runc", "runc"),
            ("ip", "iproute2"),
            ("/usr/lib/cni/ptp", "containernetworking-plugins"),
            // kube-router's firewall.
            ("iptables", "iptables"),
            ("iptables-save", "iptables"),
            ("iptables-restore", "iptables"),
            ("ipset", "ipset"),
        ] {
            if !on_path(tool) {
                return Err(NodeError::Missing { tool: tool.into(), package });
            }
        }
        let lock = lock_machine()?;
        sweep(None);
        let bin = crate::binaries(true)?;
        for name in ["kubelet", "kube-controller-manager", "kube-scheduler", "pause.oci.tar", "kube-router"] {
            if !bin.join(name).is_file() {
                return Err(TestEnvError::Binaries(format!("{} is missing", bin.join(name).display())).into());
            }
        }
        run("ip", &["addr", "replace", &format!("{NODE_ADDRESS}/32"), "dev", "lo"], "adding the node address")?;
        let env = match TestEnv::start_flavor(bin.clone(), Flavor::Node { address: NODE_ADDRESS, port: API_PORT }).await
        {
            Ok(env) => env,
            Err(e) => {
                let _ = run("ip", &["addr", "del", &format!("{NODE_ADDRESS}/32"), "dev", "lo"], "");
                return Err(e.into());
            }
        };
        let dir = env.dir.path().join("node");
        let mut node = Node {
            env,
            dir,
            bin,
            components: Vec::new(),
            firewall_sync: Duration::ZERO,
            enabled_forwarding: false,
            _lock: lock,
        };
        node.boot(images).await?;
        Ok(node)
    }

    async fn boot(&mut self, images: &[&Path]) -> Result<(), NodeError> {
        let d = &self.dir.clone();
        for sub in ["cni", "containerd", "kubelet", "logs"] {
            fs::create_dir_all(d.join(sub)).map_err(io(format!("creating {}", d.join(sub).display())))?;
        }
        let control = self.env.dir.path().to_owned();
        let admin = self.env.kubeconfig.clone();
        let kubelet_kubeconfig = self.env.kubeconfig_for_token("kubelet", KUBELET_TOKEN)?;

        let kcm_args = vec![
            format!("--kubeconfig={}", admin.display()),
            // Otherwise the controllers share one identity and no ReplicaSet appears.
            "--use-service-account-credentials=true".into(),
            format!("--root-ca-file={}/ca.crt", control.display()),
            format!("--service-account-private-key-file={}/sa.key", control.display()),
            "--controllers=*,-nodeipam".into(),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port().map_err(io("a free port"))?),
        ];
        self.spawn("kube-controller-manager", &self.bin.join("kube-controller-manager"), &kcm_args)?;
        let scheduler_args = vec![
            format!("--kubeconfig={}", admin.display()),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port().map_err(io("a free port"))?),
        ];
        self.spawn("kube-scheduler", &self.bin.join("kube-scheduler"), &scheduler_args)?;

        fs::write(d.join("cni/10-pods.conflist"), cni_config(&d.join("cni/ipam")))
            .map_err(io("writing the CNI config"))?;
        fs::write(d.join("containerd/config.toml"), containerd_config(d)).map_err(io("writing containerd's config"))?;
        let containerd_args = vec![format!("--config={}", d.join("containerd/config.toml").display())];
        self.spawn("containerd", Path::new("containerd"), &containerd_args)?;
        self.wait_containerd().await?;
        self.import(&self.bin.join("pause.oci.tar"))?;
        for image in images {
            self.import(image)?;
        }

        let kubelet_port = free_port().map_err(io("a free port"))?;
        let healthz_port = free_port().map_err(io("a free port"))?;
        fs::write(d.join("kubelet/config.yaml"), kubelet_config(d, &control, kubelet_port, healthz_port))
            .map_err(io("writing the kubelet's config"))?;
        let kubelet_args = vec![
            format!("--config={}", d.join("kubelet/config.yaml").display()),
            format!("--kubeconfig={}", kubelet_kubeconfig.display()),
            format!("--hostname-override={NODE_NAME}"),
            format!("--node-ip={NODE_ADDRESS}"),
            format!("--root-dir={}", d.join("kubelet/root").display()),
        ];
        self.spawn("kubelet", &self.bin.join("kubelet"), &kubelet_args)?;
        self.wait_node_ready(Duration::from_secs(120)).await?;
        self.start_firewall().await
    }

    /// kube-router's network policy controller, once the Node exists (it reads its own Node for
    /// the node's address, and enforces for the pods whose hostIP that is). Returns after its first
    /// full sync, so pods created from now on start under their policies.
    async fn start_firewall(&mut self) -> Result<(), NodeError> {
        let forward = Path::new("/proc/sys/net/ipv4/ip_forward");
        if fs::read_to_string(forward).map_err(io("reading net.ipv4.ip_forward"))?.trim() == "0" {
            fs::write(forward, "1").map_err(io("enabling net.ipv4.ip_forward"))?;
            self.enabled_forwarding = true;
        }
        let args = vec![
            format!("--kubeconfig={}", self.env.kubeconfig.display()),
            format!("--hostname-override={NODE_NAME}"),
            "--run-firewall=true".into(),
            "--run-router=false".into(),
            "--run-service-proxy=false".into(),
            format!("--service-cluster-ip-range={SERVICE_RANGE}"),
            // No listener of its own: health and metrics servers off.
            "--health-port=0".into(),
            "--metrics-port=0".into(),
            // Level 1 logs each sync ("sync iptables took ..."), which says it is in force.
            "--v=1".into(),
        ];
        self.spawn("kube-router", &self.bin.join("kube-router"), &args)?;
        let log = self.dir.join("logs/kube-router.log");
        let synced = |_: &Node| fs::read_to_string(&log).is_ok_and(|l| l.contains("sync iptables took"));
        self.firewall_sync =
            self.wait_until("kube-router's firewall", "kube-router", Duration::from_secs(60), STEP, synced).await?;
        Ok(())
    }

    /// Runs the real kubectl as the cluster admin.
    pub fn kubectl(&self, args: &[&str]) -> std::io::Result<Output> {
        self.env.kubectl(args)
    }

    /// Runs `ctr` against this node's containerd, in the Kubernetes namespace.
    pub fn ctr(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new("ctr").arg("--address").arg(self.socket()).args(["--namespace", "k8s.io"]).args(args).output()
    }

    /// A component's log (`"kubelet"`, `"containerd"`, ...): the last lines, for failure messages.
    pub fn log_tail(&self, component: &str) -> String {
        tail(&self.dir.join("logs").join(format!("{component}.log")))
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("containerd/containerd.sock")
    }

    fn spawn(&mut self, name: &'static str, program: &Path, args: &[String]) -> Result<(), NodeError> {
        let child = spawn(program, args, &self.dir.join("logs").join(format!("{name}.log")))
            .map_err(io(format!("starting {name}")))?;
        self.components.push((name, child));
        Ok(())
    }

    fn import(&self, archive: &Path) -> Result<(), NodeError> {
        let out = self
            .ctr(&["images", "import", &archive.display().to_string()])
            .map_err(io(format!("importing {}", archive.display())))?;
        check(out, &format!("ctr images import {}", archive.display()))
    }

    async fn wait_containerd(&mut self) -> Result<(), NodeError> {
        let up = |node: &Node| node.ctr(&["version"]).is_ok_and(|o| o.status.success());
        self.wait_until("containerd", "containerd", Duration::from_secs(30), STEP, up).await.map(drop)
    }

    async fn wait_node_ready(&mut self, limit: Duration) -> Result<(), NodeError> {
        let ready = r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#;
        let ready =
            |node: &Node| node.kubectl(&["get", "node", NODE_NAME, "-o", ready]).is_ok_and(|o| o.stdout == b"True");
        self.wait_until("the node (kubelet)", "kubelet", limit, STEP * 5 / 2, ready).await.map(drop)
    }

    /// Polls `done` every `every` until it holds (answering how long that took), or fails naming
    /// `what` with `component`'s log once `limit` has passed or the component has exited.
    async fn wait_until(
        &mut self,
        what: &'static str,
        component: &str,
        limit: Duration,
        every: Duration,
        done: impl Fn(&Node) -> bool,
    ) -> Result<Duration, NodeError> {
        let start = Instant::now();
        loop {
            if done(self) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > limit || self.exited(component) {
                return Err(NodeError::NotReady {
                    what,
                    secs: start.elapsed().as_secs(),
                    log: self.log_tail(component),
                });
            }
            tokio::time::sleep(every).await;
        }
    }

    fn exited(&mut self, name: &str) -> bool {
        self.components.iter_mut().any(|(n, child)| *n == name && matches!(child.try_wait(), Ok(Some(_))))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The directory goes with the node: what a failed test needs to see, first.
            eprintln!("--- the node after a failure (logs' last lines) ---");
            eprintln!("kube-apiserver:\n{}", tail(&self.env.dir.path().join("apiserver.log")));
            for component in ["kubelet", "containerd", "kube-controller-manager", "kube-router"] {
                eprintln!("{component}:\n{}", self.log_tail(component));
            }
            for args in [&["-brief", "addr"][..], &["route", "show", "table", "local"][..]] {
                if let Ok(out) = Command::new("ip").args(args).output() {
                    eprintln!("ip {}:\n{}", args.join(" "), String::from_utf8_lossy(&out.stdout));
                }
            }
        }
        // The kubelet first, so it restarts nothing; containerd after its containers.
        while let Some((_, mut child)) = self.components.pop() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        sweep(Some(&self.dir));
        if self.enabled_forwarding {
            let _ = fs::write("/proc/sys/net/ipv4/ip_forward", "0");
        }
        // The control plane stops and its directory goes when `env` drops, after this.
    }
}

/// Serializes nodes on this machine: fixed address and port, one set of pod cgroups.
fn lock_machine() -> Result<fs::File, NodeError> {
    let path = Path::new("/run/natgw-testenv-node.lock");
    let file =
        fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io("the node lock"))?;
    // SAFETY: flock(2) on a descriptor we own; it is released when the file closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io("locking /run/natgw-testenv-node.lock")(std::io::Error::last_os_error()));
    }
    Ok(file)
}

/// Removes what a node leaves behind: every process in a pod cgroup, containerd shims, mounts,
/// pod network namespaces, pod cgroups, kube-router's rules and sets, and the node address. `dir`
/// is this node's directory; with `None` (under the machine lock, before a node starts)
/// everything a dead run left is swept.
fn sweep(dir: Option<&Path>) {
    let ours = |path: &str| match dir {
        Some(dir) => path.starts_with(&*dir.to_string_lossy()),
        None => path.contains(&format!("/{DIR_MARK}")),
    };
    // Containers and their shims (shims are re-parented to init, so no signal reaches them).
    for cgroup in pod_cgroups() {
        for pid in fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default().lines() {
            kill(pid);
        }
    }
    for pid in processes() {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("containerd-shim") && cmdline.split(' ').any(ours) {
            kill(&pid);
        }
        // A dead run's firewall, which would write its rules again (its kubeconfig is in the
        // control plane's directory, beside the node's).
        let firewall = cmdline.split(' ').next().is_some_and(|p| p.ends_with("/kube-router"));
        if dir.is_none() && firewall && cmdline.contains(&format!("/{DIR_MARK}")) {
            kill(&pid);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    // Deepest first, detached: a busy mount still goes.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| ours(p)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        umount(point);
    }
    remove_idle_netns();
    remove_firewall();
    for cgroup in pod_cgroups().into_iter().rev() {
        let _ = fs::remove_dir(cgroup);
    }
    let _ = Command::new("ip")
        .args(["addr", "del", &format!("{NODE_ADDRESS}/32"), "dev", "lo"])
        .stderr(Stdio::null())
        .status();
}

/// Every `kubepods` cgroup and its descendants, parents before children, in each hierarchy
/// (cgroup v1 controllers, or the v2 root).
fn pod_cgroups() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        out.push(dir.to_owned());
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), out);
            }
        }
    }
    let root = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![root.to_owned()];
    hierarchies.extend(fs::read_dir(root).into_iter().flatten().flatten().map(|e| e.path()));
    let mut out = Vec::new();
    for hierarchy in hierarchies {
        let pods = hierarchy.join("kubepods");
        if pods.is_dir() {
            walk(&pods, &mut out);
        }
    }
    out
}

/// Unmounts and removes CRI's pod network namespaces (`/run/netns/cni-*`) that no process is in
/// any more; destroying one removes the pod's veth and routes with it.
fn remove_idle_netns() {
    let in_use: std::collections::HashSet<u64> =
        processes().filter_map(|pid| fs::metadata(format!("/proc/{pid}/ns/net")).ok()).map(|m| m.ino()).collect();
    for entry in fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("cni-") {
            continue;
        }
        if fs::metadata(&path).is_ok_and(|m| in_use.contains(&m.ino())) {
            continue;
        }
        umount(&path.to_string_lossy());
        let _ = fs::remove_file(&path);
    }
}

/// Deletes kube-router's firewall once it is stopped: the jumps from the built-in chains to its
/// chains, its chains, then its ipsets (a set in use by a rule cannot go). One `iptables-restore
/// --noflush` of exactly those lines from `iptables-save`, so no other rule of the host is touched
/// (kube-router's own `--cleanup-config` would also flush every IPVS service and more).
fn remove_firewall() {
    let ours = |chain: &str| FIREWALL_CHAINS.iter().any(|p| chain.starts_with(p));
    let Ok(saved) = Command::new("iptables-save").args(["-t", "filter"]).output() else { return };
    let saved = String::from_utf8_lossy(&saved.stdout);
    let chains: Vec<&str> =
        saved.lines().filter_map(|l| l.strip_prefix(':')?.split(' ').next()).filter(|c| ours(c)).collect();
    let jumps: Vec<&str> = saved
        .lines()
        .filter_map(|l| l.strip_prefix("-A "))
        .filter(|rule| {
            let chain = rule.split(' ').next().unwrap_or("");
            !ours(chain) && rule.split(" -j ").nth(1).is_some_and(ours)
        })
        .collect();
    if !chains.is_empty() || !jumps.is_empty() {
        let mut script = String::from("*filter\n");
        script.extend(jumps.iter().map(|rule| format!("-D {rule}\n")));
        script.extend(chains.iter().map(|chain| format!("-F {chain}\n")));
        script.extend(chains.iter().map(|chain| format!("-X {chain}\n")));
        script.push_str("COMMIT\n");
        let restore = Command::new("iptables-restore")
            .arg("--noflush")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        if let Ok(mut restore) = restore {
            if let Some(mut stdin) = restore.stdin.take() {
                use std::io::Write;
                let _ = stdin.write_all(script.as_bytes());
            }
            let _ = restore.wait();
        }
    }
    let sets = Command::new("ipset").args(["list", "-n"]).output().map(|o| o.stdout).unwrap_or_default();
    for set in String::from_utf8_lossy(&sets).lines().filter(|s| FIREWALL_SETS.iter().any(|p| s.starts_with(p))) {
        let _ = Command::new("ipset").args(["destroy", set]).stderr(Stdio::null()).status();
    }
}

/// Runs `f` on a thread of its own inside the network namespace of process `pid` (a pod's
/// container, say), so that what it connects is the pod's traffic as the node's firewall sees it.
/// A socket made there stays in that namespace when `f` returns it (a listener in a pod).
pub fn in_netns_of<T: Send + 'static>(pid: u32, f: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    let ns = fs::File::open(format!("/proc/{pid}/ns/net"))?;
    std::thread::spawn(move || {
        // SAFETY: setns(2) with a namespace descriptor we own; it moves this thread alone, which
        // ends when `f` returns.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f())
    })
    .join()
    .map_err(|_| std::io::Error::other("the thread in the pod's network namespace panicked"))?
}

fn processes() -> impl Iterator<Item = String> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
}

fn kill(pid: &str) {
    if let Ok(pid) = pid.trim().parse::<libc::pid_t>() {
        // SAFETY: kill(2) with a pid read from the kernel; at worst the process is already gone.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

fn umount(point: &str) {
    // mountinfo escapes spaces and the like as octal; our paths have none.
    if let Ok(path) = std::ffi::CString::new(point) {
        // SAFETY: umount2(2) with a valid C string; failure (not mounted) is fine.
        unsafe {
            libc::umount2(path.as_ptr(), libc::MNT_DETACH);
        }
    }
}

fn on_path(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        || ["/usr/sbin", "/sbin"].iter().any(|dir| Path::new(dir).join(tool).is_file())
}

fn run(program: &str, args: &[&str], what: &str) -> Result<(), NodeError> {
    let out = Command::new(program).args(args).output().map_err(io(format!("{what}: {program}")))?;
    check(out, what)
}

fn check(out: Output, what: &str) -> Result<(), NodeError> {
    if out.status.success() {
        return Ok(());
    }
    Err(NodeError::Command {
        what: what.into(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().into(),
    })
}

/// `ptp`: one veth per pod, the host side holding [`NODE_ADDRESS`] as the pods' gateway.
fn cni_config(ipam_dir: &Path) -> String {
    format!(
        r#"{{"cniVersion":"0.4.0","name":"natgw-pods","plugins":[{{"type":"ptp","ipMasq":false,"ipam":{{"type":"host-local","ranges":[[{{"subnet":"{POD_SUBNET}","gateway":"{NODE_ADDRESS}"}}]],"routes":[{{"dst":"0.0.0.0/0"}}],"dataDir":"{}"}}}},{{"type":"loopback"}}]}}"#,
        ipam_dir.display()
    )
}

fn containerd_config(d: &Path) -> String {
    let d = d.display();
    // restrict_oom_score_adj: this machine lacks CAP_SYS_RESOURCE, without it every sandbox fails.
    // The pause image is imported (no registry); the cgroupfs driver matches the kubelet's.
    format!(
        r#"version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
[grpc]
  address = "{d}/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
"#
    )
}

fn kubelet_config(d: &Path, control: &Path, port: u16, healthz_port: u16) -> String {
    let (d, control) = (d.display(), control.display());
    // No iptables chains, no swap or cgroup v1 refusal, no host DNS config; image GC and eviction
    // relaxed so a busy test machine's disk does not evict the pods under test.
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
podLogsDir: {d}/kubelet/pod-logs
resolvConf: ""
address: 127.0.0.1
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz_port}
containerRuntimeEndpoint: unix://{d}/containerd/containerd.sock
volumePluginDir: {d}/kubelet/volume-plugins
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {control}/ca.crt}}
authorization:
  mode: Webhook
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "10Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
"#
    )
}
