//! Tencent Cloud: API 2.0 and API 3.0 clients and their signatures.
//!
//! Tencent has no billing field on NAT gateways and no API to change their billing: gateways
//! are always reported as pay-per-use and billing changes are refused as unsupported.

mod api;
mod cloud;
mod errors;
pub mod sign;
pub mod sts;
mod tags;
mod v2;
mod v3;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;

use super::{
    Capacity, CloudError, Credentials, ErrorKind, GatewayRef, GatewayState, Listing, Observed, OrderState, OrderTicket,
    Provider,
    batch::{self, Batcher, SweepCache},
    claim::Claimant,
    ratelimit::RateLimiter,
};
pub use api::{TencentApi, TencentIdentity, TencentProvider};
pub use cloud::{Tencent, V2, V3};

use crate::api::{Prepaid, ProviderSpec};
use crate::cloud::profile::Profile;
use crate::cloud::ratelimit::read_with_retries;

/// Where calls of another Tencent service (`sts`, `tag`) go for a resource whose API calls go to
/// `vpc_endpoint` (`spec.endpoint`): that service's host of the same public domain
/// (`vpc.X.tencentcloudapi.com` -> `{service}.X.tencentcloudapi.com`); the service's documented
/// endpoint for the defaults and API 2.0's `vpc.api.qcloud.com` (the other services speak API 3.0
/// only); and any other override itself, a private endpoint or simulator serving every action.
pub fn sibling_endpoint(service: &str, vpc_endpoint: Option<&str>) -> String {
    let default = format!("https://{service}.tencentcloudapi.com");
    let Some(endpoint) = vpc_endpoint else { return default };
    let Ok(url) = url::Url::parse(endpoint) else { return endpoint.to_owned() };
    let host = url.host_str().unwrap_or_default();
    if host == "vpc.api.qcloud.com" {
        return default;
    }
    match host
        .strip_prefix("vpc.")
        .filter(|rest| *rest == "tencentcloudapi.com" || rest.ends_with(".tencentcloudapi.com"))
    {
        Some(rest) => format!("https://{service}.{rest}"),
        None => endpoint.to_owned(),
    }
}

pub const DEFAULT_V2_ENDPOINT: &str = "https://vpc.api.qcloud.com";
pub const DEFAULT_V3_ENDPOINT: &str = "https://vpc.tencentcloudapi.com";

/// One Tencent Cloud account in one region, on API 2.0 or 3.0. `Debug` shows no secret
/// ([`Credentials`] redacts it).
///
/// Every call first takes a token from the account's [`RateLimiter`]; a throttling answer slows
/// that limiter down. Reads of single gateways ([`Provider::describe`]) from concurrent callers
/// are coalesced ([`Batcher`]): API 3.0 asks `DescribeNatGateways` for up to 100 ids per call,
/// API 2.0 pages through the region's gateways (`DescribeNatGateway`, 50 per page) when several
/// are wanted.
#[derive(Debug, Clone)]
pub struct TencentClient {
    api: TencentApi,
    http: reqwest::Client,
    /// VPC (API 2.0 or 3.0) at `spec.endpoint`; API 3.0's Tag API and STS beside it.
    vpc: Service,
    tag: Service,
    sts: Service,
    /// The account's uin, asked of STS once: the Tag API names gateways by it.
    uin: Arc<tokio::sync::OnceCell<String>>,
    region: String,
    credentials: Credentials,
    limiter: Arc<RateLimiter>,
    describes: Arc<Batcher<String, Observed>>,
    /// API 3.0 only, when enabled: account-wide sweeps answer drift checks.
    sweeps: Option<Arc<SweepCache<Observed>>>,
}

/// One API 3.0 service: where its calls go and how they are signed.
#[derive(Debug, Clone)]
pub(super) struct Service {
    /// The credential scope's service (`vpc`, `tag`, `sts`).
    name: &'static str,
    version: &'static str,
    /// `scheme://authority`, without a trailing slash.
    base: String,
    /// The Host header as reqwest sends it (port included when not the default): it is signed.
    host: String,
}

impl Service {
    fn at(name: &'static str, version: &'static str, endpoint: &str) -> Result<Service, CloudError> {
        let invalid = |why: &str| CloudError::new(ErrorKind::InvalidRequest, format!("endpoint {endpoint:?} {why}"));
        let url = url::Url::parse(endpoint).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("must be an http:// or https:// URL"));
        }
        let host = url.host_str().ok_or_else(|| invalid("has no host"))?;
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Service { name, version, base: format!("{}://{host}", url.scheme()), host })
    }
}

/// The pause after a throttling answer without a retry hint.
/// The API 3.0 versions this client speaks: VPC's, the Tag API's and STS's (the client builds
/// their services; the modules that call them read them here).
const VPC_VERSION: &str = "2017-03-12";
const TAG_VERSION: &str = "2018-08-13";
const STS_VERSION: &str = "2018-08-13";
/// `DescribeNatGateways` (API 3.0) takes at most 100 ids per call.
const IDS_PER_CALL: usize = 100;

pub(super) const DEFAULT_THROTTLE_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

impl TencentClient {
    /// `endpoint` overrides the default (`https://vpc.api.qcloud.com` for V2,
    /// `https://vpc.tencentcloudapi.com` for V3); only its scheme and authority are used.
    pub fn new(
        api: TencentApi,
        http: reqwest::Client,
        endpoint: Option<&str>,
        region: &str,
        credentials: Credentials,
    ) -> Result<TencentClient, CloudError> {
        let overridden = endpoint;
        let endpoint = endpoint.unwrap_or(match api {
            TencentApi::V2 => DEFAULT_V2_ENDPOINT,
            TencentApi::V3 => DEFAULT_V3_ENDPOINT,
        });
        let main = Service::at("vpc", VPC_VERSION, endpoint)?;
        Ok(TencentClient {
            api,
            http,
            vpc: main,
            tag: Service::at("tag", TAG_VERSION, &sibling_endpoint("tag", overridden))?,
            sts: Service::at("sts", STS_VERSION, &sibling_endpoint("sts", overridden))?,
            uin: Arc::default(),
            region: region.to_owned(),
            credentials,
            limiter: Arc::new(RateLimiter::documented(api.profile().rate_limits)),
            describes: Arc::new(Batcher::new(batch::WINDOW, describe_batch_max(api))),
            sweeps: None,
        })
    }

    /// API 3.0: answer reads of gateways at rest (`AVAILABLE`) from an account-wide sweep at
    /// most `max_age` old (see [`SweepCache`]); every read that goes to the cloud refreshes the
    /// account's other gateways that were asked about lately, 100 per call. Gateways this client
    /// resizes, and gateways that are changing, are always read afresh. No effect on API 2.0.
    pub fn with_sweeps(mut self, max_age: std::time::Duration) -> TencentClient {
        if self.api == TencentApi::V3 && !max_age.is_zero() {
            self.sweeps = Some(Arc::new(SweepCache::new(max_age)));
        }
        self
    }

    /// Shares `limiter` (the account's) instead of a limiter of its own.
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> TencentClient {
        self.limiter = limiter;
        self
    }

    /// What this client would send in clear text, when its endpoint is plain HTTP: API 2.0's
    /// `SecretId` (a form field, beside the temporary `Token` if any) and API 3.0's temporary
    /// token (`X-TC-Token`). `None` over HTTPS, and for API 3.0 with long-lived keys, which sends
    /// only the signature and the key id.
    pub fn sent_in_clear(&self) -> Option<&'static str> {
        if !self.vpc.base.starts_with("http://") {
            return None;
        }
        match (self.api, self.credentials.session_token.is_some()) {
            (TencentApi::V2, _) => Some("Tencent Cloud API 2.0 sends the SecretId and any Token"),
            (TencentApi::V3, true) => Some("Tencent Cloud API 3.0 sends the token (X-TC-Token)"),
            (TencentApi::V3, false) => None,
        }
    }

    /// This client is about to change the gateway, or just did: no earlier sweep answers for it.
    fn forget(&self, id: &str) {
        if let Some(s) = &self.sweeps {
            s.invalidate(id);
        }
    }

    /// Reads many gateways at once (API 3.0: 100 per call; API 2.0: by id for one, else pages of
    /// the region's gateways). Ids the cloud does not know are absent from the map.
    pub async fn describe_many(&self, ids: &[String]) -> Result<HashMap<String, Observed>, CloudError> {
        match self.api {
            TencentApi::V3 => read_with_retries(|| self.v3_describe_many(ids)).await,
            TencentApi::V2 => read_with_retries(|| self.v2_describe_many(ids)).await,
        }
    }
}

/// Most ids one coalesced read is given: API 3.0 takes 100 per call; API 2.0 pages, and more
/// than a few hundred at once only delays the first answers.
fn describe_batch_max(api: TencentApi) -> usize {
    match api {
        TencentApi::V3 => IDS_PER_CALL,
        TencentApi::V2 => 500,
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn connections(capacity: &Capacity) -> Result<u64, CloudError> {
    match capacity {
        Capacity::Connections(n) => Ok(*n),
        Capacity::Spec(s) => Err(CloudError::new(
            ErrorKind::InvalidRequest,
            format!("Tencent Cloud sizes NAT gateways by connections, not by spec {s:?}"),
        )),
    }
}

#[async_trait]
impl Provider for TencentClient {
    fn profile(&self) -> &'static Profile {
        self.api.profile()
    }

    async fn describe(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        self.describe_within(gateway, Duration::MAX).await
    }

    async fn describe_within(&self, gateway: &GatewayRef, max_age: Duration) -> Result<Observed, CloudError> {
        if let Some(sweeps) = &self.sweeps
            && let Some(cached) = sweeps.fresh(&gateway.id, max_age, |o| o.state == GatewayState::Ready).await
        {
            return Ok(cached);
        }
        self.describe_fresh(gateway).await
    }

    async fn describe_fresh(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        let found = self
            .describes
            .get(gateway.id.clone(), |ids| async move {
                let Some(sweeps) = &self.sweeps else {
                    return self.describe_many(&ids).await;
                };
                let sweep = sweeps.sweep(ids).await;
                // One call's answer is small: only a sweep of several calls waits for a slot.
                let one_call = self.api == TencentApi::V3 && sweep.ids.len() <= IDS_PER_CALL;
                let _slot = batch::sweep_slot(!one_call).await;
                let found = self.describe_many(&sweep.ids).await?;
                sweeps.store(&sweep, &found);
                Ok(found)
            })
            .await?;
        found.ok_or_else(|| {
            CloudError::new(
                ErrorKind::NotFound,
                format!("NAT gateway {} not found in region {}", gateway.id, self.region),
            )
        })
    }

    async fn expect(&self, roster: &(dyn Fn() -> Vec<GatewayRef> + Send + Sync)) {
        if let Some(announce) = self.sweeps.as_ref().and_then(|s| s.wants_roster()) {
            announce.expect(roster().into_iter().map(|g| g.id));
        }
    }

    /// Tencent charges a resize without an order to pay, so `auto_pay` does not apply.
    async fn resize(
        &self,
        gateway: &GatewayRef,
        capacity: &Capacity,
        _auto_pay: bool,
    ) -> Result<OrderTicket, CloudError> {
        let connections = connections(capacity)?;
        self.forget(&gateway.id);
        let result = match self.api {
            TencentApi::V2 => self.v2_upgrade(gateway, connections).await,
            TencentApi::V3 => self.v3_reset(&gateway.id, connections).await,
        };
        // Again: a sweep that read the gateway while the call was under way saw it before.
        self.forget(&gateway.id);
        result
    }

    async fn change_billing(&self, _gateway: &GatewayRef, _prepaid: &Prepaid) -> Result<OrderTicket, CloudError> {
        Err(CloudError::new(
            ErrorKind::Unsupported,
            "Tencent Cloud has no API to change a NAT gateway's billing mode: NAT gateways are billed pay-per-use",
        ))
    }

    /// API 2.0 polls the bill. API 3.0 resizes have no order id (completion shows as the
    /// gateway's State going UPDATING -> AVAILABLE), so this is never called for them and
    /// answers Unsupported.
    async fn order_status(&self, _gateway: &GatewayRef, order_id: &str) -> Result<OrderState, CloudError> {
        match self.api {
            TencentApi::V2 => self.v2_bill_status(order_id).await,
            TencentApi::V3 => Err(CloudError::new(
                ErrorKind::Unsupported,
                "Tencent Cloud API 3.0 resizes have no order to poll; watch the gateway's State instead",
            )),
        }
    }

    async fn write_claim(&self, gateway: &GatewayRef, claimant: &Claimant, wait: bool) -> Result<(), CloudError> {
        self.forget(&gateway.id);
        self.v3_tag(gateway, Some(claimant), wait).await
    }

    async fn remove_claim(&self, gateway: &GatewayRef) -> Result<(), CloudError> {
        self.forget(&gateway.id);
        self.v3_tag(gateway, None, true).await
    }

    /// API 3.0 only: its list takes 100 gateways a call and names each one's VPC.
    async fn list(&self, place: &ProviderSpec) -> Result<Listing, CloudError> {
        match self.api {
            TencentApi::V3 => read_with_retries(|| self.v3_list(place)).await,
            TencentApi::V2 => Err(CloudError::new(
                ErrorKind::Unsupported,
                "listing NAT gateways uses Tencent Cloud API 3.0 (DescribeNatGateways); list with API 3.0",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::SecretValue;

    fn creds() -> Credentials {
        Credentials {
            key_id: "AKIDtest".into(),
            secret: SecretValue::new("s3cr3t-key"),
            session_token: None,
            domain_id: None,
        }
    }

    #[test]
    fn endpoints_keep_scheme_and_port() {
        let c = TencentClient::new(TencentApi::V3, reqwest::Client::new(), None, "ap-guangzhou", creds()).unwrap();
        assert_eq!(
            (c.vpc.base.as_str(), c.vpc.host.as_str()),
            ("https://vpc.tencentcloudapi.com", "vpc.tencentcloudapi.com")
        );
        // The Tag API and STS beside a documented endpoint, at the override itself otherwise.
        assert_eq!(c.tag.base, "https://tag.tencentcloudapi.com");
        assert_eq!(c.sts.base, "https://sts.tencentcloudapi.com");
        let c = TencentClient::new(TencentApi::V2, reqwest::Client::new(), None, "ap-guangzhou", creds()).unwrap();
        assert_eq!(c.vpc.host, "vpc.api.qcloud.com");
        let c =
            TencentClient::new(TencentApi::V2, reqwest::Client::new(), Some("http://127.0.0.1:8443/x"), "r", creds())
                .unwrap();
        assert_eq!((c.vpc.base.as_str(), c.vpc.host.as_str()), ("http://127.0.0.1:8443", "127.0.0.1:8443"));
        assert_eq!((c.tag.base.as_str(), c.tag.host.as_str()), ("http://127.0.0.1:8443", "127.0.0.1:8443"));
        let c =
            TencentClient::new(TencentApi::V3, reqwest::Client::new(), Some("https://example.com:443"), "r", creds())
                .unwrap();
        assert_eq!(c.vpc.host, "example.com");
        let e = TencentClient::new(TencentApi::V3, reqwest::Client::new(), Some("ftp://x"), "r", creds()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn over_plain_http_only_signatures_and_long_lived_key_ids_go_unnoticed() {
        let temporary = || Credentials { session_token: Some(SecretValue::new("tok")), ..creds() };
        let client = |api, endpoint, credentials| {
            TencentClient::new(api, reqwest::Client::new(), Some(endpoint), "ap-guangzhou", credentials).unwrap()
        };
        let http = "http://127.0.0.1:8080";
        let v2 = client(TencentApi::V2, http, creds()).sent_in_clear();
        assert!(v2.is_some_and(|w| w.contains("SecretId")), "{v2:?}");
        assert!(client(TencentApi::V2, http, temporary()).sent_in_clear().is_some());
        let v3 = client(TencentApi::V3, http, temporary()).sent_in_clear();
        assert!(v3.is_some_and(|w| w.contains("X-TC-Token")), "{v3:?}");
        assert_eq!(client(TencentApi::V3, http, creds()).sent_in_clear(), None);
        for api in [TencentApi::V2, TencentApi::V3] {
            for credentials in [creds(), temporary()] {
                assert_eq!(client(api, "https://127.0.0.1:8443", credentials).sent_in_clear(), None);
            }
        }
    }
}
