//! The world the fault tests run in (the fault matrix, the seams, billing, orders): a namespace of
//! an API server, both simulators over HTTPS and the logs of the operators they start.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use k8s_openapi::api::{coordination::v1::Lease, events::v1::Event};
use kube::Api;
use natgw_operator::{
    api::{NatGateway, OrderPhase},
    leader::LEASE_NAME,
};
use natgw_sim::tencent::SimGateway;
use serde_json::Value;

use crate::{
    clouds::Clouds,
    cluster::{Cluster, Env},
    objects::{condition, huawei_gateway, huawei_prepaid_spec, tencent_spec},
    operator::{Operator, fast_operator_args, log_tail},
};

/// How long the waits below wait.
const WAIT: Duration = Duration::from_secs(60);

/// [`Clouds`] (Secrets `tencent` and `huawei` in the namespace, Huawei project `project` in
/// cn-north-4) beside `cluster`, and a directory for the operators' logs, which outlives a test
/// that panics.
pub struct World {
    pub cluster: Cluster,
    pub clouds: Clouds,
    pub project: String,
    dir: tempfile::TempDir,
}

impl World {
    /// `tencent` and `huawei` are (key id, secret) pairs.
    pub async fn start(cluster: Cluster, tencent: (&str, &str), huawei: (&str, &str), project: &str) -> World {
        let clouds = Clouds::start(&cluster, tencent, huawei, project).await;
        let dir = tempfile::Builder::new().prefix(&format!("natgw-world-{}-", cluster.namespace)).tempdir().unwrap();
        World { cluster, clouds, project: project.to_owned(), dir }
    }

    /// The log file of the operators started as `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// The last 40 lines of log `name`.
    pub fn log_tail(&self, name: &str) -> String {
        log_tail(&self.log(name))
    }

    /// The operator binary with the fast flags of [`fast_operator_args`] and `extra`, both
    /// simulators allow-listed, logging to [`World::log`]`(log)`, as the cluster admin or with
    /// `kubeconfig`. On the shared API server it watches only this test's namespace (see
    /// [`Cluster::operator`]).
    pub fn operator(&self, log: &str, kubeconfig: Option<&Path>, extra: &[&str], env: &[(&str, &str)]) -> Operator {
        let mut args = fast_operator_args(&self.clouds.tls);
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let kubeconfig = kubeconfig.unwrap_or(&self.cluster.env.kubeconfig);
        let allowed = self.clouds.allowed_endpoints();
        let mut env = env.to_vec();
        env.push(("NATGW_ALLOWED_ENDPOINTS", &allowed));
        if let Env::Shared(_) = self.cluster.env {
            env.push(("NATGW_NAMESPACE", &self.cluster.namespace));
        }
        Operator::start(kubeconfig, &args, &env, &self.log(log))
    }

    /// One replica, no leader election, logging to `log`.
    pub fn single(&self, log: &str, extra: &[&str]) -> Operator {
        let mut args = vec!["--leader-election=false"];
        args.extend_from_slice(extra);
        self.operator(log, None, &args, &[])
    }

    pub fn seed_tencent(&self, id: &str, connections: u64) {
        self.clouds.tencent.seed_gateway(SimGateway::new(id, "vpc-1", connections));
    }

    /// A pay-per-use Huawei gateway of flavour `spec` in the world's project.
    pub fn seed_huawei(&self, id: &str, spec: &str) {
        self.clouds.huawei.seed_gateway(huawei_gateway(id, &self.project, spec));
    }

    /// A spec for Tencent gateway `id` through API `api`: API 2.0 over HTTPS (its signature has
    /// no other protection), 3.0 over HTTP.
    pub fn tencent_spec(&self, id: &str, api: &str, size: &str) -> Value {
        let tencent = &self.clouds.tencent;
        let endpoint = if api == "V2" { tencent.https_url.clone().unwrap() } else { tencent.http_url.clone() };
        tencent_spec(id, Some(api), size, "tencent", Some(&endpoint))
    }

    /// A spec for Huawei gateway `id`, monthly prepaid.
    pub fn huawei_spec(&self, id: &str, size: &str, auto_pay: bool) -> Value {
        let endpoint = self.clouds.huawei.https_url.as_deref().unwrap();
        huawei_prepaid_spec(id, &self.project, size, auto_pay, endpoint)
    }

    /// Requests of `action` the simulators received, whatever their outcome.
    pub fn requests(&self, action: &str) -> usize {
        let tc = self.clouds.tencent.requests().into_iter().filter(|r| r.action == action).count();
        let hw = self.clouds.huawei.core().ledger.requests().into_iter().filter(|r| r.action == action).count();
        tc + hw
    }

    /// Waits for Stalled=True with `reason`.
    pub async fn stalled(&self, name: &str, reason: &str) -> NatGateway {
        self.cluster
            .wait_for(name, WAIT, |o| condition(o, "Stalled").is_some_and(|c| c.0 == "True" && c.1 == reason))
            .await
    }

    /// Waits for the order in status to reach `phase`.
    pub async fn phase(&self, name: &str, phase: OrderPhase) -> NatGateway {
        self.cluster
            .wait_for(name, WAIT, |o| {
                o.status.as_ref().and_then(|s| s.order.as_ref()).is_some_and(|o| o.phase == phase)
            })
            .await
    }

    /// The leader election Lease's holder in this namespace.
    pub async fn holder(&self) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        leases.get_opt(LEASE_NAME).await.ok()??.spec?.holder_identity
    }

    pub async fn wait_holder(&self, name: &str, limit: Duration) {
        let start = Instant::now();
        while self.holder().await.as_deref() != Some(name) {
            assert!(start.elapsed() < limit, "{name} did not take the lease within {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Events about `name` with `reason`, and the highest series count among them (1 without a series).
    pub async fn events(&self, name: &str, reason: &str) -> (usize, i32) {
        let events: Api<Event> = Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        let list = events.list(&Default::default()).await.unwrap();
        let mine: Vec<&Event> = list
            .items
            .iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect();
        let count = mine.iter().map(|e| e.series.as_ref().map_or(1, |s| s.count)).max().unwrap_or(0);
        (mine.len(), count)
    }
}

/// A test that panics says what the operators were doing: the end of each log, and where all of it
/// is kept.
impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            let logs = std::fs::read_dir(self.dir.path()).into_iter().flatten().flatten();
            for log in logs.map(|entry| entry.path()) {
                eprintln!("{} (last lines):\n{}", log.display(), log_tail(&log));
            }
        }
    }
}
