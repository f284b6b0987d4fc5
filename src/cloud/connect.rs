//! The production [`Connector`]: one client per cloud account, region and endpoint, shared by
//! every resource that uses it, and one rate limiter per cloud account (shared by its clients of
//! every region and API version, as the clouds count calls per account).
//!
//! Before any client is built the spec passes the installer's [`EndpointPolicy`]; every client
//! is wrapped so that the texts it returns carry no credential value.

use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;

use async_trait::async_trait;

use futures::future::BoxFuture;

use super::{
    Capacity, CloudError, Connector, Credentials, ErrorKind, GatewayRef, Listed, Listing, Observed, OrderState,
    OrderTicket, Profile, Provider, Refusal, Registry, RenewalChange, SecretValue, Selected,
    claim::Claimant,
    endpoints::EndpointPolicy,
    identity::{ExchangeError, ExchangeRequest, Temporary},
    ratelimit::{Account, AccountKey, AccountLimiters, RateLimiter},
    registry::Shared,
};
use crate::{
    api::{NatGatewaySpec, OrderAction, Prepaid, ProviderSpec},
    metrics::Metrics,
};

/// Clients kept at most; beyond this the cache starts over.
const MAX_CLIENTS: usize = 1024;

/// One client per account and place: new credentials of the account (a rotated Secret, a
/// refreshed workload identity) replace its client instead of adding one.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    profile: &'static Profile,
    region: String,
    endpoint: Option<String>,
    other_endpoints: Vec<(&'static str, String)>,
    account: Account,
}

/// A cached client and the credentials it signs with.
struct Client {
    credentials: Credentials,
    provider: Arc<dyn Provider>,
}

pub struct CloudConnector {
    registry: Registry,
    http: reqwest::Client,
    clients: Mutex<HashMap<ClientKey, Client>>,
    limiters: AccountLimiters,
    sweep_max_age: std::time::Duration,
    endpoints: EndpointPolicy,
}

impl CloudConnector {
    /// Clients of the built-in clouds with their documented rate limits that reach only their
    /// documented endpoints (see [`CloudConnector::with_endpoint_policy`]).
    pub fn new(http: reqwest::Client) -> Self {
        CloudConnector {
            registry: Registry::builtin(),
            http,
            clients: Mutex::default(),
            limiters: AccountLimiters::default(),
            sweep_max_age: std::time::Duration::ZERO,
            endpoints: EndpointPolicy::default(),
        }
    }

    /// Serve the clouds of `registry` instead of the built-in ones.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// The endpoints resources may pick: the installer's allow-list.
    pub fn with_endpoint_policy(mut self, endpoints: EndpointPolicy) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Drift checks may be answered from an account-wide sweep at most `max_age` old, where a
    /// cloud sweeps (Tencent API 3.0); zero (the default) reads every time.
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
    fn select(&self, spec: &NatGatewaySpec) -> Result<Selected, CloudError> {
        self.registry.select(spec).map(|(_, selected)| selected).ok_or_else(no_cloud)
    }

    fn connect(&self, spec: &NatGatewaySpec, credentials: Credentials) -> Result<Arc<dyn Provider>, CloudError> {
        let (cloud, selected) = self.registry.select(spec).ok_or_else(no_cloud)?;
        // Before the cache: a cached client was built for an equal key, but the ids are not in it.
        self.endpoints.check(spec, &selected)?;
        // A workload identity's temporary credentials act as its principal, whatever their key id.
        let account = match spec.workload_identity.as_ref().and_then(|i| cloud.principal(i).ok()) {
            Some(principal) => Account::Identity(principal),
            None => Account::AccessKey(credentials.key_id.clone()),
        };
        let key = ClientKey {
            profile: selected.profile,
            region: selected.gateway.region().to_owned(),
            endpoint: selected.endpoint.clone(),
            other_endpoints: selected.other_endpoints.clone(),
            account,
        };
        let mut clients = self.clients.lock();
        if let Some(client) = clients.get(&key)
            && client.credentials == credentials
        {
            return Ok(client.provider.clone());
        }
        let shared = Shared {
            http: &self.http,
            limiter: self.limiter(&selected, key.account.clone()),
            sweep_max_age: self.sweep_max_age,
            allow_http_credentials: self.endpoints.allows_http_credentials(),
        };
        let provider = cloud.connect(&selected, credentials.clone(), shared)?;
        let provider: Arc<dyn Provider> = Arc::new(Scrubbed { secrets: secrets_of(&credentials), inner: provider });
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&key) {
            clients.clear();
        }
        clients.insert(key, Client { credentials, provider: provider.clone() });
        Ok(provider)
    }

    fn exchange<'a>(
        &'a self,
        spec: &'a NatGatewaySpec,
        token: &'a SecretValue,
        session_name: &'a str,
        metrics: &'a Metrics,
    ) -> BoxFuture<'a, Result<Temporary, ExchangeError>> {
        Box::pin(async move {
            let result = self.exchange_checked(spec, token, session_name, metrics).await;
            result.map_err(|e| e.scrubbed(&token_parts(token)))
        })
    }
}

impl CloudConnector {
    /// The limiter of `account` on the cloud `selected` names.
    fn limiter(&self, selected: &Selected, account: Account) -> Arc<RateLimiter> {
        let key = AccountKey { cloud: selected.profile.account, endpoint: selected.endpoint.clone(), account };
        self.limiters.for_account(key, selected.profile.rate_limits)
    }

    async fn exchange_checked(
        &self,
        spec: &NatGatewaySpec,
        token: &SecretValue,
        session_name: &str,
        metrics: &Metrics,
    ) -> Result<Temporary, ExchangeError> {
        let (cloud, selected) = self.registry.select(spec).ok_or_else(no_cloud)?;
        let identity = spec.workload_identity.as_ref().ok_or_else(|| {
            CloudError::new(ErrorKind::InvalidRequest, "spec.workloadIdentity is not set")
                .with_refusal(Refusal::InvalidSpec)
        })?;
        // The spec's values and endpoints first, then where the token itself would go: nothing a
        // tenant writes sends it off the allow-list.
        self.endpoints.check(spec, &selected)?;
        let endpoint = cloud.identity_endpoint(&selected).ok_or_else(|| {
            CloudError::new(
                ErrorKind::Unsupported,
                format!("{} has no workload identity; use credentialsSecretRef", selected.profile.name),
            )
        })?;
        self.endpoints.check_exchange_endpoint(&endpoint, &selected)?;
        // The limiter its credentials' calls will use: one budget for the principal.
        let limiter = self.limiter(&selected, Account::Identity(cloud.principal(identity)?));
        let request = ExchangeRequest {
            http: &self.http,
            limiter: &limiter,
            metrics,
            endpoint: &endpoint,
            region: selected.gateway.region(),
            identity,
            token,
            session_name,
        };
        cloud.exchange(request).await
    }
}

/// The token and each of its (JWT) parts long enough to be recognised: an endpoint may echo any.
fn token_parts(token: &SecretValue) -> Vec<&str> {
    let whole = token.expose();
    std::iter::once(whole).chain(whole.split('.').filter(|p| p.len() >= 8)).collect()
}

fn no_cloud() -> CloudError {
    CloudError::new(
        ErrorKind::InvalidRequest,
        "spec.provider names no cloud this operator serves; set exactly one provider",
    )
    .with_refusal(Refusal::InvalidSpec)
}

fn secrets_of(c: &Credentials) -> Vec<String> {
    let mut out = vec![c.key_id.clone(), c.secret.expose().to_owned()];
    out.extend(c.session_token.as_ref().map(|t| t.expose().to_owned()));
    out
}

/// A client whose answers (errors, order ids, failure reasons, state words) never carry a
/// credential value: those texts reach status and Events, and an endpoint may echo what it was
/// sent.
struct Scrubbed {
    inner: Arc<dyn Provider>,
    secrets: Vec<String>,
}

impl Scrubbed {
    fn secrets(&self) -> Vec<&str> {
        self.secrets.iter().map(String::as_str).collect()
    }

    fn error(&self, e: CloudError) -> CloudError {
        e.scrubbed(&self.secrets())
    }

    /// A cloud-supplied text, scrubbed and capped like an error message.
    fn text(&self, text: String) -> String {
        CloudError::new(ErrorKind::Transient, text).scrubbed(&self.secrets()).message
    }

    fn ticket(&self, t: OrderTicket) -> OrderTicket {
        OrderTicket { order_id: t.order_id.map(|id| self.text(id)), request_id: t.request_id.map(|id| self.text(id)) }
    }
}

#[async_trait]
impl Provider for Scrubbed {
    fn profile(&self) -> &'static Profile {
        self.inner.profile()
    }

    async fn describe(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        let observed = self.inner.describe(gateway).await.map_err(|e| self.error(e))?;
        Ok(Observed { raw_state: self.text(observed.raw_state), ..observed })
    }

    async fn describe_within(&self, gateway: &GatewayRef, max_age: Duration) -> Result<Observed, CloudError> {
        let observed = self.inner.describe_within(gateway, max_age).await.map_err(|e| self.error(e))?;
        Ok(Observed { raw_state: self.text(observed.raw_state), ..observed })
    }

    async fn describe_fresh(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        let observed = self.inner.describe_fresh(gateway).await.map_err(|e| self.error(e))?;
        Ok(Observed { raw_state: self.text(observed.raw_state), ..observed })
    }

    async fn expect(&self, roster: &(dyn Fn() -> Vec<GatewayRef> + Send + Sync)) {
        self.inner.expect(roster).await
    }

    async fn resize(
        &self,
        gateway: &GatewayRef,
        capacity: &Capacity,
        auto_pay: bool,
    ) -> Result<OrderTicket, CloudError> {
        let ticket = self.inner.resize(gateway, capacity, auto_pay).await.map_err(|e| self.error(e))?;
        Ok(self.ticket(ticket))
    }

    async fn change_billing(&self, gateway: &GatewayRef, prepaid: &Prepaid) -> Result<OrderTicket, CloudError> {
        let ticket = self.inner.change_billing(gateway, prepaid).await.map_err(|e| self.error(e))?;
        Ok(self.ticket(ticket))
    }

    async fn order_status(&self, gateway: &GatewayRef, order_id: &str) -> Result<OrderState, CloudError> {
        match self.inner.order_status(gateway, order_id).await.map_err(|e| self.error(e))? {
            OrderState::Failed { reason } => Ok(OrderState::Failed { reason: self.text(reason) }),
            other => Ok(other),
        }
    }

    async fn set_renewal(&self, gateway: &GatewayRef, change: RenewalChange) -> Result<(), CloudError> {
        self.inner.set_renewal(gateway, change).await.map_err(|e| self.error(e))
    }

    async fn cancel_order(&self, gateway: &GatewayRef, order_id: &str) -> Result<(), CloudError> {
        self.inner.cancel_order(gateway, order_id).await.map_err(|e| self.error(e))
    }

    async fn write_claim(&self, gateway: &GatewayRef, claimant: &Claimant, wait: bool) -> Result<(), CloudError> {
        self.inner.write_claim(gateway, claimant, wait).await.map_err(|e| self.error(e))
    }

    async fn remove_claim(&self, gateway: &GatewayRef) -> Result<(), CloudError> {
        self.inner.remove_claim(gateway).await.map_err(|e| self.error(e))
    }

    async fn find_open_order(&self, gateway: &GatewayRef, action: OrderAction) -> Result<Option<String>, CloudError> {
        let id = self.inner.find_open_order(gateway, action).await.map_err(|e| self.error(e))?;
        Ok(id.map(|id| self.text(id)))
    }

    async fn list(&self, place: &ProviderSpec) -> Result<Listing, CloudError> {
        let listing = self.inner.list(place).await.map_err(|e| self.error(e))?;
        let gateways = listing
            .gateways
            .into_iter()
            .map(|g| Listed {
                name: self.text(g.name),
                observed: Observed { raw_state: self.text(g.observed.raw_state), ..g.observed },
                ..g
            })
            .collect();
        Ok(Listing { gateways, ..listing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::ProviderSpec,
        cloud::{SecretValue, tencent::TencentApi},
    };

    fn spec(endpoint: &str) -> NatGatewaySpec {
        serde_json::from_value(serde_json::json!({
            "gatewayId": "nat-1", "provider": {"tencent": {"region": "ap-guangzhou"}}, "size": "Small",
            "credentialsSecretRef": {"name": "c"}, "endpoint": endpoint,
        }))
        .unwrap()
    }

    fn creds() -> Credentials {
        Credentials { key_id: "AKID".into(), secret: SecretValue::new("s"), session_token: None, domain_id: None }
    }

    #[test]
    fn new_credentials_of_an_account_replace_its_client() {
        let connector = CloudConnector::new(reqwest::Client::new());
        let temporary =
            |id: &str| Credentials { key_id: id.into(), session_token: Some(SecretValue::new(id)), ..creds() };
        let mut keyless = spec("https://vpc.tencentcloudapi.com");
        keyless.credentials_secret_ref = None;
        keyless.workload_identity = Some(
            serde_json::from_value(serde_json::json!({
                "serviceAccountName": "sa", "tencent": {"providerId": "p", "roleArn": "qcs::cam::uin/1:roleName/r"},
            }))
            .unwrap(),
        );
        for id in ["AKIDtmp1", "AKIDtmp2", "AKIDtmp3"] {
            connector.connect(&keyless, temporary(id)).unwrap();
        }
        assert_eq!(connector.clients.lock().len(), 1, "one client for the role, not one per refresh");
        // Stored keys: one client per key id; a rotated secret replaces its key's client.
        let stored = spec("https://vpc.tencentcloudapi.com");
        connector.connect(&stored, creds()).unwrap();
        connector.connect(&stored, Credentials { secret: SecretValue::new("rotated"), ..creds() }).unwrap();
        connector.connect(&stored, Credentials { key_id: "AKIDother".into(), ..creds() }).unwrap();
        assert_eq!(connector.clients.lock().len(), 3);
    }

    #[test]
    fn no_client_for_an_endpoint_off_the_allow_list() {
        let connector = CloudConnector::new(reqwest::Client::new());
        let refused = connector.connect(&spec("https://169.254.169.254"), creds()).err().expect("refused");
        assert_eq!(refused.refusal, Some(crate::cloud::Refusal::EndpointNotAllowed));
        assert!(connector.clients.lock().is_empty(), "no client was built");
        let allowed = EndpointPolicy::new(&["https://169.254.169.254".into()], false, true).unwrap();
        let connector = CloudConnector::new(reqwest::Client::new()).with_endpoint_policy(allowed);
        assert!(connector.connect(&spec("https://169.254.169.254"), creds()).is_ok());
    }

    const HTTP: &str = "http://127.0.0.1:8080";
    const HTTPS: &str = "https://127.0.0.1:8443";

    /// A connector whose installer allow-listed [`HTTP`] (`--allow-http`) and [`HTTPS`], with
    /// `--allow-http-credentials` as given.
    fn plain_http_connector(http_credentials: bool) -> CloudConnector {
        let policy = EndpointPolicy::new(&[HTTP.into(), HTTPS.into()], true, true).unwrap();
        CloudConnector::new(reqwest::Client::new()).with_endpoint_policy(policy.with_http_credentials(http_credentials))
    }

    fn with_api(mut spec: NatGatewaySpec, api: TencentApi) -> NatGatewaySpec {
        if let ProviderSpec::Tencent(t) = &mut spec.provider {
            t.api = api;
        }
        spec
    }

    fn huawei(endpoint: &str) -> NatGatewaySpec {
        serde_json::from_value(serde_json::json!({
            "gatewayId": "nat-1", "provider": {"huawei": {"region": "cn-north-4"}}, "size": "Small",
            "credentialsSecretRef": {"name": "c"}, "endpoint": endpoint,
        }))
        .unwrap()
    }

    #[test]
    fn tokens_and_api_2_key_ids_cross_plain_http_only_with_the_flag() {
        use TencentApi::{V2, V3};
        let temporary = || Credentials { session_token: Some(SecretValue::new("tok")), ..creds() };
        // (spec, credentials): what would put a token or a SecretId on the wire in clear.
        let exposed = [
            (with_api(spec(HTTP), V2), creds()),
            (with_api(spec(HTTP), V2), temporary()),
            (with_api(spec(HTTP), V3), temporary()),
            (huawei(HTTP), temporary()),
        ];
        for (spec, credentials) in &exposed {
            let connector = plain_http_connector(false);
            let refused = connector.connect(spec, credentials.clone()).err().expect("refused");
            assert_eq!(refused.refusal, Some(Refusal::InsecureEndpoint), "{refused}");
            assert!(refused.message.contains("--allow-http-credentials"), "{}", refused.message);
            assert!(connector.clients.lock().is_empty(), "no client was built");
            assert!(plain_http_connector(true).connect(spec, credentials.clone()).is_ok(), "{spec:?}");
        }
        // A signature and a long-lived key's id only: --allow-http is enough.
        for spec in [with_api(spec(HTTP), V3), huawei(HTTP)] {
            assert!(plain_http_connector(false).connect(&spec, creds()).is_ok(), "{spec:?}");
        }
        // HTTPS: always.
        for spec in [with_api(spec(HTTPS), V2), with_api(spec(HTTPS), V3), huawei(HTTPS)] {
            for credentials in [creds(), temporary()] {
                assert!(plain_http_connector(false).connect(&spec, credentials).is_ok(), "{spec:?}");
            }
        }
    }

    /// The exchange over plain HTTP is refused before a connection is opened; with the flag the
    /// token goes.
    #[tokio::test]
    async fn no_service_account_token_crosses_plain_http_without_the_flag() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        let policy = EndpointPolicy::new(std::slice::from_ref(&url), true, true).unwrap();
        let mut keyless = spec(&url);
        keyless.credentials_secret_ref = None;
        keyless.workload_identity = Some(
            serde_json::from_value(serde_json::json!({
                "serviceAccountName": "sa", "tencent": {"providerId": "p", "roleArn": "qcs::cam::uin/1:roleName/r"},
            }))
            .unwrap(),
        );
        let (token, metrics) = (SecretValue::new("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"), Metrics::new());
        for allowed in [false, true] {
            let connector = CloudConnector::new(reqwest::Client::new())
                .with_endpoint_policy(policy.clone().with_http_credentials(allowed));
            let error = connector.exchange(&keyless, &token, "natgw.ns.sa", &metrics).await.expect_err("no STS");
            let refusal = error.cloud_error().refusal;
            let connections = accepted.load(std::sync::atomic::Ordering::SeqCst);
            if allowed {
                assert_eq!((refusal, connections), (None, 1), "{error}");
            } else {
                assert_eq!((refusal, connections), (Some(Refusal::InsecureEndpoint), 0), "{error}");
            }
        }
    }
}
