//! The real operator binary as a child process, the flags tests run it with, and reading its
//! log and metrics.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use natgw_sim::server::SimTls;

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

/// The last 40 lines of the log at `path`.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}

impl Drop for LogOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("operator log (last lines):\n{}", log_tail(self.0));
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
        let bin = operator_bin();
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

/// The operator binary: `NATGW_OPERATOR_BIN` when set, to run the end-to-end tests against another
/// build (e.g. an older commit's, to show a test fails without a fix); else the one cargo built for
/// the running test binary, which cargo names in `CARGO_BIN_EXE_natgw-operator` when it runs it
/// (this library is no test target, so it cannot read that at build time); else the one beside
/// the test binary's deps/ directory, where cargo puts it, for a test binary run by hand.
fn operator_bin() -> PathBuf {
    let named = ["NATGW_OPERATOR_BIN", "CARGO_BIN_EXE_natgw-operator"].into_iter().find_map(std::env::var_os);
    named.map(PathBuf::from).unwrap_or_else(|| {
        let test_binary = std::env::current_exe().expect("the test binary's path");
        test_binary.parent().and_then(Path::parent).expect("target/<profile>/deps").join("natgw-operator")
    })
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
