use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};
use futures::FutureExt as _;
use natgw_operator::{
    api::NatGatewaySpec,
    cloud, controller,
    fence::Fence,
    health,
    import::{Cluster, Existing, Imported, Searched},
    leader,
    metrics::Metrics,
};
use tracing::error;

// jemalloc: glibc's arenas fragment under the watch cache's churn (measured in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// Freed pages go back to the kernel at once instead of after 10 s: a bulk create's churn then
// never piles up as resident memory (peak RSS, BENCHMARKS.md). The environment variable `_RJEM_MALLOC_CONF` overrides it.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 34] = b"dirty_decay_ms:0,muzzy_decay_ms:0\0";

/// Keeps cloud NAT gateways at the size and billing mode declared in NatGateway resources.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Plain, global = true, env = "NATGW_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Plain,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Print the NatGateway CustomResourceDefinition as YAML.
    Crd,
    /// Run the controller against the cluster of the current kubeconfig or service account.
    Run(Box<RunArgs>),
    /// List the NAT gateways of one cloud account and region and print a NatGateway manifest
    /// for each (managementPolicy Observe, the size and billing the cloud reports).
    Import(Box<ImportArgs>),
    /// List or release the claims on cloud gateways (tag `natgw-operator-claim`) that clusters'
    /// operators hold: one owner per gateway across clusters.
    Claims(Box<ClaimsArgs>),
}

/// One cloud account and region, and where its credentials come from: what `import` and
/// `claims` read.
#[derive(clap::Args)]
struct AccountArgs {
    /// The cloud, as `spec.provider` names it.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(cloud::spec::CLOUDS))]
    cloud: String,
    /// Region, e.g. ap-guangzhou or cn-north-4.
    #[arg(long)]
    region: String,
    /// Tencent Cloud: only this VPC's gateways.
    #[arg(long)]
    vpc_id: Option<String>,
    /// Huawei Cloud: this project's gateways (else the region's project, looked up with IAM).
    #[arg(long)]
    project_id: Option<String>,
    /// A cloud endpoint to call instead of the documented one (a private endpoint); `import`'s
    /// manifests name it too, so the operator's installer must allow-list it.
    #[arg(long)]
    endpoint: Option<String>,
    /// Allow a plain-HTTP --endpoint (credentials and signatures then cross the network in clear).
    #[arg(long)]
    allow_http: bool,
    /// With --allow-http, also send a temporary token (or Tencent API 2.0's SecretId) over it;
    /// without it only long-lived keys' signatures and key ids cross plain HTTP.
    #[arg(long)]
    allow_http_credentials: bool,
    /// Allow an --endpoint on a loopback, link-local or private address.
    #[arg(long)]
    allow_private_endpoints: bool,
    /// Extra CA certificates (PEM) to trust for --endpoint.
    #[arg(long)]
    extra_ca: Option<PathBuf>,
    /// Read the credentials from this Secret (NAMESPACE/NAME, with the current kubeconfig)
    /// instead of the environment (TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY /
    /// TENCENTCLOUD_SECURITY_TOKEN, or HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK /
    /// HUAWEICLOUD_SDK_SECURITY_TOKEN / HUAWEICLOUD_SDK_DOMAIN_ID).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    credentials_secret: Option<String>,
}

#[derive(clap::Args)]
struct ImportArgs {
    #[command(flatten)]
    account: AccountArgs,
    /// Namespace of the manifests (default: the --credentials-secret's).
    #[arg(long)]
    namespace: Option<String>,
    /// The Secret the manifests name in credentialsSecretRef (default: the --credentials-secret's name).
    #[arg(long)]
    secret_name: Option<String>,
    /// managementPolicy of the manifests: Observe reports drift and never orders.
    #[arg(long, default_value = "Observe", value_parser = ["Observe", "Manage"])]
    management_policy: String,
    /// Do not check the cluster of the current kubeconfig for NatGateways that already declare
    /// the gateways or hold the manifests' names (the manifests may then duplicate or collide).
    #[arg(long, conflicts_with = "credentials_secret")]
    offline: bool,
}

#[derive(clap::Args)]
struct ClaimsArgs {
    #[command(subcommand)]
    action: ClaimsAction,
}

#[derive(Subcommand)]
enum ClaimsAction {
    /// Print the claimed gateways of the account and region: gateway, cluster id, namespace/name.
    List {
        #[command(flatten)]
        account: AccountArgs,
        /// Only the claims of this cluster.
        #[arg(long)]
        cluster_id: Option<String>,
    },
    /// Remove the claim tags of a cluster that no longer runs (uninstalled, lost), so that
    /// another cluster's NatGateways may claim the gateways. A cluster that still runs claims
    /// them again at its next look.
    Release {
        #[command(flatten)]
        account: AccountArgs,
        /// The cluster whose claims to remove.
        #[arg(long)]
        cluster_id: String,
        /// Only this gateway (repeatable); all of the cluster's claims in the account and region
        /// when absent.
        #[arg(long = "gateway")]
        gateways: Vec<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Watch only this namespace (for a namespaced install with a Role).
    #[arg(long, env = "NATGW_NAMESPACE")]
    namespace: Option<String>,
    /// How often an in-sync gateway is re-read to catch changes made outside the operator.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    drift_interval: Duration,
    /// How often a running order is polled.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    poll_interval: Duration,
    /// Longest wait between retries of one resource after refusals, errors and conflicts (the
    /// backoff doubles up to this, with jitter).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "NATGW_MAX_BACKOFF")]
    max_backoff: Duration,
    /// Resources reconciled at once.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// Longest a single cloud API call may take.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    cloud_timeout: Duration,
    /// Extra CA certificates (PEM) to trust for cloud endpoints, e.g. a private endpoint's.
    #[arg(long, env = "NATGW_EXTRA_CA")]
    extra_ca: Option<PathBuf>,
    /// A cloud action's client-side rate limit per account, `Action=PER_SECOND` (repeatable; 0
    /// lifts it), over the documented ones (e.g. `ResetNatGatewayConnection=20`).
    #[arg(long = "rate-limit", value_parser = cloud::ratelimit::parse_override)]
    rate_limits: Vec<(String, f64)>,
    // --- tenancy (src/cloud/endpoints.rs, src/controller/credentials.rs) ---
    /// An endpoint resources may pick with `spec.endpoint` / `bssEndpoint` (repeatable; `{region}`
    /// stands for the resource's region), on top of the clouds' documented ones.
    #[arg(long = "allowed-endpoint", env = "NATGW_ALLOWED_ENDPOINTS", value_delimiter = ',')]
    allowed_endpoints: Vec<String>,
    /// Allow plain-HTTP allowed endpoints (signatures and key ids then cross the network in
    /// clear). Tokens and Tencent API 2.0's SecretId still need --allow-http-credentials.
    #[arg(long, env = "NATGW_ALLOW_HTTP")]
    allow_http: bool,
    /// Also send what an eavesdropper could use to plain-HTTP endpoints: temporary tokens
    /// (Tencent's Token / X-TC-Token, Huawei's X-Security-Token), ServiceAccount tokens (workload
    /// identity exchanges) and Tencent API 2.0's SecretId. Without it such a resource is
    /// Stalled/InsecureEndpoint and nothing is sent; Tencent API 3.0 and Huawei with long-lived
    /// keys send only a signature and the key id, which --allow-http alone allows. Implies
    /// nothing else: plain-HTTP endpoints still need --allow-http.
    #[arg(long, env = "NATGW_ALLOW_HTTP_CREDENTIALS")]
    allow_http_credentials: bool,
    /// Allow allowed endpoints on loopback, link-local or private addresses (IP literals,
    /// `localhost`).
    #[arg(long, env = "NATGW_ALLOW_PRIVATE_ENDPOINTS")]
    allow_private_endpoints: bool,
    /// `cluster`: list and watch Secrets wherever NatGateways are watched. `granted`
    /// (multi-tenant): only get the Secrets namespaces granted with a RoleBinding.
    #[arg(long, value_enum, env = "NATGW_SECRET_ACCESS", default_value_t = controller::SecretAccess::Cluster)]
    secret_access: controller::SecretAccess,
    /// The audience of the ServiceAccount tokens the operator requests for `workloadIdentity`
    /// and exchanges with the cloud's STS / IAM: the client id its identity provider accepts.
    #[arg(long, env = "NATGW_WORKLOAD_IDENTITY_AUDIENCE", default_value = controller::DEFAULT_AUDIENCE)]
    workload_identity_audience: String,
    // --- telemetry and leader election (src/health.rs, src/leader.rs) ---
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, default_value = "0.0.0.0:8080", env = "NATGW_METRICS_ADDR")]
    metrics_addr: SocketAddr,
    /// Reconcile only while holding the leader Lease, so that replicas never act at once
    /// (`--leader-election=false` for a single replica).
    #[arg(
        long,
        env = "NATGW_LEADER_ELECTION",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    leader_election: bool,
    /// Namespace of the leader Lease: the operator's own.
    #[arg(long, env = "POD_NAMESPACE", default_value = "natgw-system")]
    lease_namespace: String,
    /// How long the leader's Lease outlives its last renewal (renewed every third of it): a
    /// standby takes over within this. Whole seconds.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    lease_duration: Duration,
    // --- claims on cloud gateways (src/cloud/claim.rs) ---
    /// This cluster's name in the claims it tags gateways with (a DNS label). Default: the UID of
    /// the `kube-system` namespace, which needs `get` on that namespace. Two installs in one
    /// cluster that must not order for each other's gateways need different ids.
    #[arg(long, env = "NATGW_CLUSTER_ID")]
    cluster_id: Option<String>,
    /// How long after writing a claim tag it is read back before the first order: more than
    /// twice the clouds' delay before a tag write shows to every read.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, env = "NATGW_CLAIM_SETTLE")]
    claim_settle: Duration,
    /// Claims of gateways already as declared, written per second at most (all accounts
    /// together): a fleet's first looks come first and its claims follow. A change claims its
    /// gateway at once.
    #[arg(long, default_value_t = controller::DEFAULT_CLAIM_RATE, value_parser = positive_rate, env = "NATGW_CLAIM_RATE")]
    claim_rate: f64,
}

/// A rate above zero.
fn positive_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!("{s:?} is not a number of claims per second above 0")),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Crd => {
            print!("{}", natgw_operator::crd_yaml());
            Ok(())
        }
        Command::Run(args) => run(*args).await,
        Command::Import(args) => import(*args).await,
        Command::Claims(args) => claims(args.action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<(), String> {
    // Listening before anything else: as PID 1 in a container, a SIGTERM that arrives before a
    // handler exists is ignored, and the kubelet waits out the whole grace period.
    let shutdown = shutdown_signal().shared();
    // The installer's flags first: a refused endpoint is reported before anything else happens.
    let endpoints =
        cloud::endpoints::EndpointPolicy::new(&args.allowed_endpoints, args.allow_http, args.allow_private_endpoints)
            .map_err(|e| e.to_string())?
            .with_http_credentials(args.allow_http_credentials);
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API ({e}); set KUBECONFIG or run inside a cluster"))?;
    let cluster = cluster_id(&client, args.cluster_id.as_deref()).await?;
    let http =
        cloud::http::client_with_timeout(args.extra_ca.as_deref(), args.cloud_timeout).map_err(|e| e.to_string())?;
    // Drift checks of Tencent API 3.0 gateways at rest may be answered by an account-wide sweep up
    // to 3/4 of a drift interval old: about one sweep (gateways / 100 calls) per interval.
    let connector = Arc::new(
        cloud::connect::CloudConnector::new(http)
            .with_endpoint_policy(endpoints)
            .with_rate_limits(args.rate_limits.into_iter().collect())
            .with_sweeps(cloud::batch::sweep_age(args.drift_interval)),
    );
    // --- telemetry and leader election ---
    let metrics = Arc::new(Metrics::new());
    let readiness = health::Readiness::default();
    let addr = health::serve(args.metrics_addr, metrics.clone(), readiness.clone())
        .await
        .map_err(|e| format!("cannot serve metrics on {} ({e}); choose another --metrics-addr", args.metrics_addr))?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    metrics.cluster_id(cluster.as_str());
    tracing::info!(cluster_id = %cluster, "claims on cloud gateways name this cluster");
    let election = args.leader_election.then(|| leader::Election::new(args.lease_namespace, args.lease_duration));
    // Order calls are sent only while the lease is surely held (src/fence.rs).
    let fence = if election.is_some() { Fence::elected() } else { Fence::unfenced() };
    let config = controller::Config {
        fence: fence.clone(),
        drift_interval: args.drift_interval,
        poll_interval: args.poll_interval,
        max_backoff: args.max_backoff,
        namespace: args.namespace,
        concurrency: args.concurrency,
        secret_access: args.secret_access,
        workload_identity_audience: args.workload_identity_audience,
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        cluster,
        claim_settle: args.claim_settle,
        claim_rate: args.claim_rate,
    };
    // Watched from the start, a standby's cache included: a new leader reconciles at once.
    let watch = controller::watch(client.clone(), config.namespace.as_deref(), connector.clone(), readiness.clone())
        .await
        .map_err(|e| e.to_string())?;
    // One signal listener for both: a standby stops at once, a leader stops its controller first.
    let controller = controller::run_watched(watch, client.clone(), connector, config, shutdown.clone());
    leader::run(client, election.map(|e| (e, fence)), &metrics, &readiness, shutdown, controller)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// `--cluster-id`, else the UID of the `kube-system` namespace.
async fn cluster_id(client: &kube::Client, flag: Option<&str>) -> Result<cloud::claim::ClusterId, String> {
    if let Some(id) = flag {
        return cloud::claim::ClusterId::new(id).map_err(|e| format!("--cluster-id: {e}"));
    }
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let uid = namespaces.get("kube-system").await.map(|ns| ns.metadata.uid).map_err(|e| {
        format!(
            "cannot read the UID of namespace kube-system ({e}), which names this cluster in claims on cloud gateways; grant get on namespaces/kube-system or give the id with --cluster-id (NATGW_CLUSTER_ID)"
        )
    })?;
    let uid = uid.ok_or("namespace kube-system has no UID; give the cluster id with --cluster-id")?;
    cloud::claim::ClusterId::new(&uid)
}

/// The spec `import` and `claims` select the cloud and build the client with.
fn template(account: &AccountArgs, secret_name: &str, policy: &str) -> Result<NatGatewaySpec, String> {
    // Each cloud's provider part takes the scopes it has and, like the API server, ignores
    // the others' (set or not).
    let scopes =
        serde_json::json!({"region": account.region, "vpcId": account.vpc_id, "projectId": account.project_id});
    let provider = serde_json::json!({ account.cloud.as_str(): scopes });
    serde_json::from_value(serde_json::json!({
        "gatewayId": natgw_operator::import::TEMPLATE_GATEWAY_ID,
        "provider": provider,
        "size": "Small",
        "credentialsSecretRef": {"name": secret_name},
        "endpoint": account.endpoint,
        "managementPolicy": policy,
    }))
    .map_err(|e| format!("invalid arguments: {e}"))
}

/// A connector that calls only the account's endpoint.
fn account_connector(account: &AccountArgs) -> Result<cloud::connect::CloudConnector, String> {
    let allowed: Vec<String> = account.endpoint.iter().cloned().collect();
    let endpoints =
        cloud::endpoints::EndpointPolicy::new(&allowed, account.allow_http, account.allow_private_endpoints)
            .map_err(|e| e.to_string())?
            .with_http_credentials(account.allow_http_credentials);
    let http = cloud::http::client(account.extra_ca.as_deref()).map_err(|e| e.to_string())?;
    Ok(cloud::connect::CloudConnector::new(http).with_endpoint_policy(endpoints))
}

/// `--credentials-secret NAMESPACE/NAME`, split.
fn secret_arg(account: &AccountArgs) -> Result<Option<(&str, &str)>, String> {
    let secret = account.credentials_secret.as_deref();
    secret.map(|s| s.split_once('/').ok_or(format!("--credentials-secret {s:?} must be NAMESPACE/NAME"))).transpose()
}

/// The account's credentials: from the --credentials-secret (read from `cluster`) or the
/// environment.
async fn account_credentials(
    account: &AccountArgs,
    profile: &cloud::Profile,
    cluster: Option<&Cluster>,
) -> Result<cloud::Credentials, String> {
    if let Some((ns, name)) = secret_arg(account)? {
        // clap refuses --offline with --credentials-secret; this says why if that changes.
        let cluster = cluster.ok_or("--credentials-secret reads the Secret from the cluster: drop --offline")?;
        return controller::read_secret(&cluster.client, ns, name, profile.secret_keys)
            .await
            .map_err(|e| e.to_string());
    }
    let var = |k: &str| Ok(std::env::var(k).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()));
    cloud::Credentials::from_keys(profile.env_keys, var)?.ok_or_else(|| {
        format!(
            "no credentials: set {} and {} (or read them from a Secret with --credentials-secret NAMESPACE/NAME)",
            profile.env_keys.key_id, profile.env_keys.secret
        )
    })
}

async fn import(args: ImportArgs) -> Result<(), String> {
    let secret = secret_arg(&args.account)?;
    let namespace = args.namespace.as_deref().or(secret.map(|(ns, _)| ns));
    let secret_name = args.secret_name.as_deref().or(secret.map(|(_, name)| name)).ok_or(
        "say which Secret the manifests name: --secret-name NAME (or read the credentials from it with --credentials-secret NAMESPACE/NAME)",
    )?;
    let template = template(&args.account, secret_name, &args.management_policy)?;
    let connector = account_connector(&args.account)?;
    let profile = cloud::Connector::select(&connector, &template).map_err(|e| e.to_string())?.profile;
    // The cluster first: an unreachable one fails before any cloud call.
    let cluster = if args.offline { None } else { Some(Cluster::connect().await.map_err(|e| e.to_string())?) };
    let credentials = account_credentials(&args.account, profile, cluster.as_ref()).await?;
    let existing = match &cluster {
        Some(cluster) => existing_in_cluster(cluster, namespace, &connector).await?,
        None => {
            eprintln!(
                "warning: --offline: not checked against a cluster, so a gateway a NatGateway already declares is not skipped and a name may be taken; review with `kubectl diff -f` and apply with `kubectl create -f`, which refuses to overwrite"
            );
            Existing::default()
        }
    };
    let imported = natgw_operator::import::import(&connector, &template, namespace, credentials, &existing)
        .await
        .map_err(|e| format!("cannot list the gateways: {e}"))?;
    print!("{}", natgw_operator::import::to_yaml(&imported.manifests));
    report(&imported);
    Ok(())
}

/// `claims list` and `claims release`: one list of the account's gateways (their claims come
/// with it), then one tag removal per released claim.
async fn claims(action: ClaimsAction) -> Result<(), String> {
    let (account, cluster, release) = match &action {
        ClaimsAction::List { account, cluster_id } => (account, cluster_id.as_deref(), None),
        ClaimsAction::Release { account, cluster_id, gateways } => (account, Some(cluster_id.as_str()), Some(gateways)),
    };
    let template = template(account, "claims", "Observe")?;
    let connector = account_connector(account)?;
    let selected = cloud::Connector::select(&connector, &template).map_err(|e| e.to_string())?;
    if !selected.profile.claims {
        return Err(format!("{} keeps no claims on NAT gateways", selected.profile.name));
    }
    let kube = match account.credentials_secret {
        Some(_) => Some(Cluster::connect().await.map_err(|e| e.to_string())?),
        None => None,
    };
    let credentials = account_credentials(account, selected.profile, kube.as_ref()).await?;
    let provider = cloud::Connector::connect(&connector, &template, credentials).map_err(|e| e.to_string())?;
    let listing = provider.list(&selected.gateway.place).await.map_err(|e| format!("cannot list the gateways: {e}"))?;
    let mut released = 0;
    for gateway in &listing.gateways {
        let cloud::claim::ClaimTag::Held(claimant) = &gateway.observed.claim else { continue };
        if cluster.is_some_and(|c| c != claimant.cluster()) {
            continue;
        }
        let Some(only) = release else {
            println!("{}\t{}\t{}/{}", gateway.id, claimant.cluster(), claimant.namespace(), claimant.name());
            continue;
        };
        if !only.is_empty() && !only.contains(&gateway.id) {
            continue;
        }
        let at = cloud::GatewayRef { id: gateway.id.clone(), ..selected.gateway.clone() };
        provider.remove_claim(&at).await.map_err(|e| format!("cannot release the claim on {}: {e}", gateway.id))?;
        println!("released {} ({}/{})", gateway.id, claimant.namespace(), claimant.name());
        released += 1;
    }
    if release.is_some() {
        eprintln!("{released} claims released, {} list calls", listing.pages);
    }
    Ok(())
}

/// What the cluster already holds where the manifests go (`namespace`, else the kubeconfig's),
/// saying on stderr where it looked when that is less than everywhere.
async fn existing_in_cluster(
    cluster: &Cluster,
    namespace: Option<&str>,
    connector: &dyn cloud::Connector,
) -> Result<Existing, String> {
    let namespace = namespace.unwrap_or(cluster.client.default_namespace());
    let (existing, searched) = cluster.existing(namespace, connector).await.map_err(|e| e.to_string())?;
    match searched {
        Searched::AllNamespaces => {}
        Searched::Namespace => eprintln!(
            "warning: may not list NatGateways in all namespaces, checked namespace {namespace} only: a NatGateway of another namespace may already declare one of these gateways (`kubectl get natgateways -A` as a cluster admin shows them)"
        ),
        Searched::NoCrd => {
            eprintln!("the NatGateway CRD is not installed in this cluster, so no gateway is declared yet")
        }
    }
    Ok(existing)
}

/// The skipped and renamed gateways and a summary, on stderr.
fn report(imported: &Imported) {
    for s in &imported.skipped {
        eprintln!("skipped {}: {}", s.id, s.why);
    }
    for r in &imported.renamed {
        eprintln!("renamed {}: {} is taken, named {}", r.id, r.taken, r.name);
    }
    eprintln!(
        "{} manifests, {} skipped, {} list calls",
        imported.manifests.len(),
        imported.skipped.len(),
        imported.pages
    );
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C. The SIGTERM handler is
/// installed by this call, not when the future is first polled.
fn shutdown_signal() -> impl Future<Output = ()> {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                error!("cannot listen for SIGTERM ({e}); stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        tracing::info!("shutting down");
    }
}
