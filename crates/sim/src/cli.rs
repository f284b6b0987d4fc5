//! `natgw-dev sim`: the simulators as a server, from command-line flags.

use crate::{SimError, alibaba, core, federation, huawei, server, tencent};

/// `natgw-dev sim`: serves the simulators until interrupted.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Tencent Cloud simulator, plain HTTP (API 2.0 at /v2/index.php, API 3.0 at /).
    #[arg(long, default_value_t = 9080)]
    pub tencent_port: u16,
    /// Tencent Cloud simulator, HTTPS (with --tls).
    #[arg(long, default_value_t = 9443)]
    pub tencent_tls_port: u16,
    /// Also serve HTTPS, with a CA generated at start.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the generated CA (PEM); a temporary file when omitted.
    #[arg(long, requires = "tls")]
    pub ca_out: Option<std::path::PathBuf>,
    /// An accepted access key pair, `ID:KEY` or `ID:KEY:TOKEN` (repeatable).
    #[arg(long = "credential", value_parser = core::SimCredential::parse)]
    pub credentials: Vec<core::SimCredential>,
    /// A Tencent gateway to start with, `ID:VPC:MAXCONCURRENT` (repeatable).
    #[arg(long = "tencent-gateway", value_parser = parse_tencent_gateway)]
    pub tencent_gateways: Vec<tencent::SimGateway>,
    /// How long a resize (and its order) takes, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub change_seconds: f64,
    /// Huawei Cloud simulator (NAT, BSS and IAM paths), plain HTTP.
    #[arg(long, default_value_t = 9180)]
    pub huawei_port: u16,
    /// Huawei Cloud simulator, HTTPS (with --tls).
    #[arg(long, default_value_t = 9543)]
    pub huawei_tls_port: u16,
    /// A Huawei gateway to start with, `ID:PROJECT:SPEC[:prepaid]` (repeatable).
    #[arg(long = "huawei-gateway", value_parser = huawei::SeedGateway::parse)]
    pub huawei_gateways: Vec<huawei::SeedGateway>,
    /// A Huawei project IAM lists, `PROJECT_ID:REGION` (repeatable).
    #[arg(long = "huawei-project", value_parser = huawei::SimProject::parse)]
    pub huawei_projects: Vec<huawei::SimProject>,
    /// The Huawei account (domain) id BSS expects in `X-Domain-Id`.
    #[arg(long)]
    pub huawei_domain_id: Option<String>,
    /// Alibaba Cloud simulator (VPC, BSS and STS), plain HTTP.
    #[arg(long, default_value_t = 9280)]
    pub alibaba_port: u16,
    /// Alibaba Cloud simulator, HTTPS (with --tls).
    #[arg(long, default_value_t = 9643)]
    pub alibaba_tls_port: u16,
    /// An Alibaba gateway to start with, `ID:REGION:SPEC[:prepaid]` (repeatable).
    #[arg(long = "alibaba-gateway", value_parser = alibaba::SeedGateway::parse)]
    pub alibaba_gateways: Vec<alibaba::SeedGateway>,
    /// How long a tag write takes to become visible to reads, in seconds (every cloud).
    #[arg(long, default_value_t = 0.0)]
    pub tag_delay_seconds: f64,
    /// A rate limit, `Action=PER_SECOND` (repeatable; 0 lifts it).
    #[arg(long = "rate-limit", value_parser = parse_rate_limit)]
    pub rate_limits: Vec<(String, u32)>,
}

fn parse_tencent_gateway(s: &str) -> Result<tencent::SimGateway, String> {
    match s.split(':').collect::<Vec<_>>()[..] {
        [id, vpc, size] if !id.is_empty() => {
            let size = size.parse().map_err(|_| format!("{size:?} is not a number of connections"))?;
            Ok(tencent::SimGateway::new(id, vpc, size))
        }
        _ => Err("expected ID:VPC:MAXCONCURRENT, e.g. nat-123:vpc-1:1000000".to_owned()),
    }
}

fn parse_rate_limit(s: &str) -> Result<(String, u32), String> {
    let (action, n) = s.split_once('=').ok_or("expected Action=PER_SECOND")?;
    Ok((action.to_owned(), n.parse().map_err(|_| format!("{n:?} is not a number"))?))
}

pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let change_time = std::time::Duration::try_from_secs_f64(args.change_seconds)
        .map_err(|_| SimError::Config("--change-seconds must be a non-negative number".into()))?;
    let tag_delay = std::time::Duration::try_from_secs_f64(args.tag_delay_seconds)
        .map_err(|_| SimError::Config("--tag-delay-seconds must be a non-negative number".into()))?;
    if args.credentials.is_empty() {
        return Err(SimError::Config("give at least one --credential ID:KEY".into()));
    }
    // One CA for every simulator, so clients trust a single file.
    let tls = if args.tls { Some(server::SimTls::generate(args.ca_out.as_deref())?) } else { None };

    let tencent = tencent::TencentSim::start(tencent::TencentSimConfig {
        bind: args.bind,
        http_port: args.tencent_port,
        https_port: tls.as_ref().map(|_| args.tencent_tls_port),
        tls: tls.clone(),
        ca_out: None,
        credentials: args.credentials.clone(),
        change_time,
        rate_limits: args.rate_limits.iter().cloned().collect(),
        gateways: args.tencent_gateways.clone(),
        // Configured through the control API (`/_sim/oidc`, `/_sim/trust-rules`).
        federation: federation::FederationConfig::default(),
        accounts: std::collections::HashMap::new(),
        tag_delay,
    })
    .await?;
    println!("tencent simulator: {} (API 2.0 at /v2/index.php, API 3.0 at /)", tencent.http_url);
    if let Some(url) = &tencent.https_url {
        println!("tencent simulator: {url}");
    }

    let huawei = huawei::HuaweiSim::start(huawei::HuaweiSimConfig {
        credentials: args.credentials.clone(),
        projects: args.huawei_projects.clone(),
        domain_id: args.huawei_domain_id.clone(),
        change_time,
        order_time: change_time,
        bind: args.bind,
        http_port: args.huawei_port,
        https_port: args.huawei_tls_port,
        tls: tls.clone(),
        rate_limits: args.rate_limits.iter().cloned().collect(),
        gateways: args.huawei_gateways.clone(),
        tag_delay,
        ..huawei::HuaweiSimConfig::default()
    })
    .await?;
    println!("huawei simulator: {} (NAT, BSS and IAM)", huawei.http_url);
    if let Some(url) = &huawei.https_url {
        println!("huawei simulator: {url}");
    }

    let alibaba = alibaba::AlibabaSim::start(alibaba::AlibabaSimConfig {
        bind: args.bind,
        http_port: args.alibaba_port,
        https_port: args.alibaba_tls_port,
        tls: tls.clone(),
        credentials: args.credentials.clone(),
        change_time,
        rate_limits: args.rate_limits.iter().cloned().collect(),
        gateways: args.alibaba_gateways.clone(),
        federation: federation::FederationConfig::default(),
        tag_delay,
    })
    .await?;
    println!("alibaba simulator: {} (VPC, BSS and STS)", alibaba.http_url);
    if let Some(url) = &alibaba.https_url {
        println!("alibaba simulator: {url}");
    }

    // Other clouds' simulators start here, with the same `tls`.

    if let Some(tls) = &tls {
        println!("CA certificate: {}", tls.ca_pem_path().display());
    }
    tokio::signal::ctrl_c().await.map_err(|e| SimError::Io("wait for Ctrl-C".into(), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: super::SimArgs,
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "sim",
            "--tls",
            "--credential",
            "AKID1:key1",
            "--credential",
            "AKID2:key2:token2",
            "--tencent-gateway",
            "nat-1:vpc-1:3000000",
            "--rate-limit",
            "DescribeNatGateways=5",
            "--alibaba-gateway",
            "ngw-1:cn-hangzhou:Small:prepaid",
        ])
        .unwrap();
        let sim = cli.sim;
        assert!(sim.tls);
        assert_eq!((sim.tencent_port, sim.tencent_tls_port), (9080, 9443));
        assert_eq!(sim.credentials[1].token.as_deref(), Some("token2"));
        assert_eq!(sim.tencent_gateways[0].max_concurrent, 3_000_000);
        assert_eq!(sim.rate_limits, vec![("DescribeNatGateways".to_owned(), 5)]);
        assert_eq!(sim.alibaba_gateways[0].charge, super::alibaba::Charge::PrePaid);
        assert!(Cli::try_parse_from(["sim", "--alibaba-gateway", "ngw-1:cn-hangzhou:Huge"]).is_err());
        assert!(Cli::try_parse_from(["sim", "--credential", "nokey"]).is_err());
        assert!(Cli::try_parse_from(["sim", "--tencent-gateway", "nat-1:vpc-1:big"]).is_err());
    }
}
