//! A simulator's configuration: its accounts, projects, timings and limits.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::world::SeedGateway;
use crate::{core::SimCredential, federation::FederationConfig, server::SimTls};

/// BSS allows 10 requests per second per account and API.
pub const BSS_LIMIT_PER_SECOND: u32 = 10;

/// The BSS calls the simulator serves, each limited to [`BSS_LIMIT_PER_SECOND`] by default.
pub(super) const BSS_ACTIONS: [&str; 8] = [
    "ShowCustomerOrderDetails",
    "ListCustomerOrders",
    "ListPayPerUseCustomerResources",
    "PayOrders",
    "AutoRenewalResources",
    "CancelAutoRenewalResources",
    "UpdatePeriodToOnDemand",
    "CancelCustomerOrder",
];

/// A project IAM lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimProject {
    pub id: String,
    /// The region name, e.g. `cn-north-4`.
    pub name: String,
}

impl SimProject {
    /// Parses `ID:REGION`, as the command line takes it.
    pub fn parse(s: &str) -> Result<SimProject, String> {
        match s.split_once(':') {
            Some((id, name)) if !id.is_empty() && !name.is_empty() => {
                Ok(SimProject { id: id.into(), name: name.into() })
            }
            _ => Err("expected PROJECT_ID:REGION, e.g. 0a1b2c:cn-north-4".to_owned()),
        }
    }
}

#[derive(Clone)]
pub struct HuaweiSimConfig {
    pub credentials: Vec<SimCredential>,
    pub projects: Vec<SimProject>,
    /// The account id BSS and IAM expect in `X-Domain-Id` (when a request sends one).
    pub domain_id: Option<String>,
    /// How long a spec change stays `PENDING_UPDATE`.
    pub change_time: Duration,
    /// How long a paid order stays processing (3) before it completes (5).
    pub order_time: Duration,
    /// How far `X-Sdk-Date` may be from the simulator's clock.
    pub clock_window: Duration,
    pub bind: IpAddr,
    /// Ports for HTTP and HTTPS; 0 picks a free one.
    pub http_port: u16,
    pub https_port: u16,
    /// Serve HTTPS too, with this CA (shared with other simulators).
    pub tls: Option<Arc<SimTls>>,
    /// Rate limits by action, over the BSS default.
    pub rate_limits: HashMap<String, u32>,
    pub gateways: Vec<SeedGateway>,
    /// The identity provider, trust rules and credential lifetimes of IAM's federation calls.
    pub federation: FederationConfig,
    /// Keep every NAT, BSS and IAM request as it arrived (not IAM's unsigned federation calls),
    /// for tests that compare two clients' requests ([`HuaweiSim::take_requests`]). Off by
    /// default: a benchmark sends millions.
    pub keep_requests: bool,
    /// The projects each access key's account holds (key id -> project ids): BSS lists an
    /// account's own yearly/monthly resources only. Empty: one account holds every project.
    pub accounts: HashMap<String, Vec<String>>,
    /// How long a tag write takes to become visible to reads.
    pub tag_delay: Duration,
}

impl Default for HuaweiSimConfig {
    fn default() -> Self {
        HuaweiSimConfig {
            credentials: Vec::new(),
            projects: Vec::new(),
            domain_id: None,
            change_time: Duration::from_secs(3),
            order_time: Duration::from_secs(3),
            clock_window: Duration::from_secs(15 * 60),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 0,
            https_port: 0,
            tls: None,
            rate_limits: HashMap::new(),
            gateways: Vec::new(),
            federation: FederationConfig::default(),
            keep_requests: false,
            accounts: HashMap::new(),
            tag_delay: Duration::ZERO,
        }
    }
}
