//! `natgw-dev demo` (`cargo run -- demo`): a real kube-apiserver + etcd, both cloud simulators over HTTPS, the
//! operator, and four NatGateways — a Tencent API 3.0 resize, a Tencent API 2.0 resize with its
//! billId, a Huawei billing change followed by a resize, and a Huawei yearly/monthly gateway
//! declared pay-per-use (set to turn so at expiry, no order) — with their progress printed as it
//! happens, then `kubectl get natgw -o wide` (expiry and renewal included). It leaves a kubeconfig
//! to poke at and cleans everything up on Ctrl-C.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::json;

use natgw_operator::{
    api::{BillingMode, NatGateway},
    cloud::{self, connect::CloudConnector, endpoints::EndpointPolicy},
    controller,
};
use natgw_sim::{
    core::SimCredential,
    huawei::{HuaweiSim, HuaweiSimConfig, SeedGateway, SimProject},
    server::SimTls,
    tencent::{SimGateway, TencentSim, TencentSimConfig},
};
use natgw_testenv::TestEnv;

/// Demo-only keys, accepted by the simulators and nothing else.
const TENCENT: (&str, &str) = ("AKIDdemo", "demo-tencent-secret");
const HUAWEI: (&str, &str) = ("HWDEMOAK", "demo-huawei-secret");
const NAMESPACE: &str = "demo";

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Exit once every gateway is Ready instead of waiting for Ctrl-C (for scripts and tests).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Seconds each simulated change (and order) takes.
    #[arg(long, default_value_t = 4)]
    pub change_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    TestEnv(#[from] natgw_testenv::TestEnvError),
    #[error("a cloud simulator failed to start: {0}")]
    Sim(#[from] natgw_sim::SimError),
    #[error("the Kubernetes API refused a demo object: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Other(String),
}

fn say(start: Instant, line: impl AsRef<str>) {
    println!("[{:>6.1}s] {}", start.elapsed().as_secs_f64(), line.as_ref());
}

pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    let start = Instant::now();
    say(
        start,
        "starting a real kube-apiserver + etcd (the first run builds them and kubectl from Go modules: about 5 min on 2 cores)",
    );
    let env = TestEnv::start().await?;
    say(start, format!("API server ready at {}", env.server));
    let client = env.client().await?;
    let crd = natgw_operator::crd_yaml();
    let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_yaml::from_str(&crd).map_err(|e| DemoError::Other(e.to_string()))?;
    Api::all(client.clone()).create(&PostParams::default(), &crd).await?;
    wait_for_crd(&client).await?;
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap())
        .await?;
    say(start, "installed the NatGateway CRD and namespace demo");

    let change = Duration::from_secs(args.change_seconds);
    let tls = SimTls::generate(None)?;
    let tencent_sim = TencentSim::start(TencentSimConfig {
        credentials: vec![SimCredential { key_id: TENCENT.0.into(), secret: TENCENT.1.into(), token: None }],
        change_time: change,
        https_port: Some(0),
        tls: Some(tls.clone()),
        gateways: vec![
            SimGateway::new("nat-demo-v3", "vpc-demo", 1_000_000),
            SimGateway::new("nat-demo-v2", "vpc-demo", 1_000_000),
        ],
        ..TencentSimConfig::default()
    })
    .await?;
    let huawei = HuaweiSim::start(HuaweiSimConfig {
        credentials: vec![SimCredential { key_id: HUAWEI.0.into(), secret: HUAWEI.1.into(), token: None }],
        projects: vec![SimProject { id: "proj-demo".into(), name: "cn-north-4".into() }],
        change_time: change,
        order_time: change,
        tls: Some(tls.clone()),
        ..HuaweiSimConfig::default()
    })
    .await?;
    let seed = |id: &str, billing| SeedGateway {
        id: id.into(),
        project_id: "proj-demo".into(),
        spec: "1".into(),
        status: "ACTIVE".into(),
        billing,
        admin_state_up: true,
    };
    huawei.seed_gateway(seed("hw-demo", BillingMode::PayPerUse));
    // Monthly, 30 days left, renewed by hand (the simulator's default terms).
    huawei.seed_gateway(seed("hw-demo-monthly", BillingMode::Prepaid));
    let tencent_https = tencent_sim.https_url.clone().unwrap_or_default();
    let huawei_https = huawei.https_url.clone().unwrap_or_default();
    say(start, format!("cloud simulators over HTTPS: Tencent {tencent_https}, Huawei {huawei_https}"));

    let http = cloud::http::client(Some(tls.ca_pem_path())).map_err(|e| DemoError::Other(e.to_string()))?;
    let config = controller::Config { poll_interval: Duration::from_millis(500), ..Default::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The installer's allow-list: exactly the two simulators (loopback, so private addresses too).
    let endpoints = EndpointPolicy::new(&[tencent_https.clone(), huawei_https.clone()], false, true)
        .map_err(|e| DemoError::Other(e.to_string()))?;
    let connector = Arc::new(CloudConnector::new(http).with_endpoint_policy(endpoints));
    let operator = tokio::spawn(controller::run(client.clone(), connector, config, async {
        let _ = stopped.await;
    }));
    say(start, "operator running");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    for (name, data) in [
        ("tencent-creds", json!({"secretId": TENCENT.0, "secretKey": TENCENT.1})),
        ("huawei-creds", json!({"accessKey": HUAWEI.0, "secretKey": HUAWEI.1})),
    ] {
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap(),
            )
            .await?;
    }
    let natgws: Api<NatGateway> = Api::namespaced(client.clone(), NAMESPACE);
    let tencent = |gateway: &str, api: &str, endpoint: &str| {
        json!({
            "gatewayId": gateway,
            "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-demo", "api": api}},
            "size": "Medium",
            "credentialsSecretRef": {"name": "tencent-creds"},
            "endpoint": endpoint,
        })
    };
    let objects = [
        ("egress-tencent-v3", tencent("nat-demo-v3", "V3", &tencent_https)),
        ("egress-tencent-v2", tencent("nat-demo-v2", "V2", &tencent_https)),
        (
            "egress-huawei",
            json!({
                "gatewayId": "hw-demo",
                "provider": {"huawei": {"region": "cn-north-4"}},
                "size": "Large",
                "billing": {"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1}},
                "credentialsSecretRef": {"name": "huawei-creds"},
                "endpoint": huawei_https,
            }),
        ),
        (
            "egress-huawei-ppu",
            json!({
                "gatewayId": "hw-demo-monthly",
                "provider": {"huawei": {"region": "cn-north-4"}},
                "size": "Small",
                "credentialsSecretRef": {"name": "huawei-creds"},
                "endpoint": huawei_https,
            }),
        ),
    ];
    for (name, spec) in &objects {
        let obj =
            json!({"apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway", "metadata": {"name": name}, "spec": spec});
        natgws.create(&PostParams::default(), &serde_json::from_value(obj).unwrap()).await?;
    }
    say(
        start,
        "applied: Tencent V3 Small -> Medium, Tencent V2 Small -> Medium, Huawei pay-per-use Small -> monthly Large, Huawei monthly Small declared pay-per-use",
    );

    let converged = follow(&natgws, start, objects.len()).await;
    let orders = format!(
        "orders placed: Tencent {} and Huawei {}, for 2 + 2 desired changes (pay-per-use at expiry is a setting, no order)",
        tencent_sim.orders().len(),
        huawei.core().ledger.orders().len()
    );
    if converged {
        say(start, format!("all {} gateways Ready; {orders}", objects.len()));
    } else {
        say(start, format!("not every gateway became Ready in 5 minutes; {orders}"));
    }

    let kubectl = env.bin_dir().join("kubectl");
    if let Ok(out) = env.kubectl(&["get", "natgw", "-n", NAMESPACE, "-o", "wide"]) {
        println!();
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    println!();
    println!("Poke at it (this stays up until Ctrl-C):");
    println!("  export KUBECONFIG={}", env.kubeconfig.display());
    println!("  {} get natgw -n {NAMESPACE} -o wide", kubectl.display());
    println!("  {} describe natgw -n {NAMESPACE} egress-huawei", kubectl.display());
    println!("  {} edit natgw -n {NAMESPACE} egress-tencent-v3   # change spec.size and watch it", kubectl.display());
    println!(
        "  curl -s {tencent_https}/_sim/ledger --cacert {}   # the simulator's order ledger",
        tls.ca_pem_path().display()
    );
    if !args.exit_when_done {
        let _ = tokio::signal::ctrl_c().await;
        println!();
    }
    say(start, "stopping the operator, the simulators and the API server");
    let _ = stop.send(());
    let _ = operator.await;
    if converged { Ok(()) } else { Err(DemoError::Other("the demo did not converge".into())) }
}

async fn wait_for_crd(client: &kube::Client) -> Result<(), DemoError> {
    let api: Api<NatGateway> = Api::namespaced(client.clone(), NAMESPACE);
    for _ in 0..100 {
        if api.list(&ListParams::default().limit(1)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DemoError::Other("the NatGateway CRD did not become available".into()))
}

/// Prints each resource's state whenever it changes; true once all are Ready.
async fn follow(api: &Api<NatGateway>, start: Instant, count: usize) -> bool {
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let Ok(list) = api.list(&ListParams::default()).await else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let mut ready = 0;
        for obj in &list.items {
            let name = obj.metadata.name.clone().unwrap_or_default();
            let line = progress_line(obj);
            if obj
                .status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            {
                ready += 1;
            }
            if last.get(&name) != Some(&line) {
                say(start, format!("{name:<18} {line}"));
                last.insert(name, line);
            }
        }
        if ready == count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    false
}

fn progress_line(obj: &NatGateway) -> String {
    let Some(status) = &obj.status else { return "waiting for the operator".into() };
    let observed = status
        .observed
        .as_ref()
        .map(|o| {
            let size = o.size.map(|s| s.to_string()).unwrap_or_else(|| "?".into());
            let billing = o.billing_mode.map(|b| b.to_string()).unwrap_or_default();
            format!("cloud: {size}/{billing} {}", o.state)
        })
        .unwrap_or_default();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    match (&status.order, ready) {
        (Some(order), _) => {
            let id = order.id.as_deref().or(order.request_id.as_deref()).unwrap_or("-");
            format!("{} to {}: {} (order {id}) | {observed}", order.action, order.target, order.phase)
        }
        (None, Some(c)) if c.status == "True" => format!("Ready: {} | {observed}", c.message),
        (None, Some(c)) => format!("{}: {} | {observed}", c.reason, c.message),
        (None, None) => observed,
    }
}
