//! The production [`Connector`]: one client per cloud account, region and endpoint, shared by
//! every resource that uses it, and one rate limiter per cloud account (shared by its clients of
//! every region and API version, as the clouds count calls per account).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::{
    CloudError, Connector, Credentials, Provider, ProviderKind,
    huawei::HuaweiClient,
    ratelimit::{AccountKey, AccountLimiters},
    tencent::TencentClient,
};
use crate::api::{NatGatewaySpec, TencentApi};

/// Clients kept at most; beyond this (many rotated keys) the cache starts over.
const MAX_CLIENTS: usize = 1024;

#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    kind: ProviderKind,
    region: String,
    endpoint: Option<String>,
    bss_endpoint: Option<String>,
    credentials: Credentials,
}

pub struct CloudConnector {
    http: reqwest::Client,
    clients: Mutex<HashMap<ClientKey, Arc<dyn Provider>>>,
    limiters: AccountLimiters,
    sweep_max_age: std::time::Duration,
}

impl CloudConnector {
    /// Clients with the documented rate limits ([`super::ratelimit::default_limits`]).
    pub fn new(http: reqwest::Client) -> Self {
        CloudConnector {
            http,
            clients: Mutex::default(),
            limiters: AccountLimiters::default(),
            sweep_max_age: std::time::Duration::ZERO,
        }
    }

    /// Tencent API 3.0 drift checks may be answered from an account-wide sweep at most `max_age`
    /// old (see [`TencentClient::with_sweeps`]); zero (the default) reads every time.
    pub fn with_sweeps(mut self, max_age: std::time::Duration) -> Self {
        self.sweep_max_age = max_age;
        self
    }

    /// Per-action limits (calls per second; 0 lifts one) over the documented ones.
    pub fn with_rate_limits(mut self, overrides: HashMap<String, f64>) -> Self {
        self.limiters = AccountLimiters::new(overrides);
        self
    }
}

impl Connector for CloudConnector {
    fn connect(&self, spec: &NatGatewaySpec, credentials: Credentials) -> Result<Arc<dyn Provider>, CloudError> {
        let kind = ProviderKind::of(spec);
        let (region, bss_endpoint) = match (&spec.provider.tencent, &spec.provider.huawei) {
            (Some(t), _) => (t.region.clone(), None),
            (None, Some(h)) => (h.region.clone(), h.bss_endpoint.clone()),
            (None, None) => (String::new(), None),
        };
        let key = ClientKey { kind, region, endpoint: spec.endpoint.clone(), bss_endpoint, credentials };
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let account =
            |cloud| AccountKey { cloud, endpoint: key.endpoint.clone(), key_id: key.credentials.key_id.clone() };
        let client: Arc<dyn Provider> = match kind {
            ProviderKind::TencentV2 | ProviderKind::TencentV3 => {
                let api = if kind == ProviderKind::TencentV2 { TencentApi::V2 } else { TencentApi::V3 };
                Arc::new(
                    TencentClient::new(
                        api,
                        self.http.clone(),
                        key.endpoint.as_deref(),
                        &key.region,
                        key.credentials.clone(),
                    )?
                    .with_limiter(self.limiters.for_account(account("tencent")))
                    .with_sweeps(self.sweep_max_age),
                )
            }
            ProviderKind::Huawei => Arc::new(
                HuaweiClient::new(
                    self.http.clone(),
                    key.endpoint.as_deref(),
                    key.bss_endpoint.as_deref(),
                    &key.region,
                    key.credentials.clone(),
                )?
                .with_limiter(self.limiters.for_account(account("huawei"))),
            ),
        };
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }
}
