//! The worlds tests run in: an API server namespace, simulators and the operator's log.

use std::{path::PathBuf, sync::Arc, time::Duration};

use natgw_sim::{huawei::HuaweiSim, server::SimTls};
use serde_json::json;

use crate::{
    clouds::huawei_https_config,
    cluster::Cluster,
    operator::{Operator, fast_operator_args},
};

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
