//! Huawei Cloud: NAT v2, BSS and IAM clients and the SDK-HMAC-SHA256 signature.
//!
//! One [`HuaweiClient`] serves one account. Every call is signed with the account's AK/SK; NAT
//! calls carry `X-Project-Id`, BSS calls `X-Domain-Id` when the account id is known, and
//! temporary credentials add `X-Security-Token`. Mutating calls are sent once: the controller
//! decides about retries.
//!
//! Every call first waits for a token of the account's rate limiter
//! ([`crate::cloud::ratelimit`]); a throttling answer (`APIG.0308`) pauses and slows it down, and
//! reads are tried again. Concurrent gateway reads are coalesced ([`crate::cloud::batch`]): a lone
//! read is a `ShowNatGateway`, several of one project share `ListNatGateways` pages (2,000 each).
//! A read that finds yearly/monthly gateways adds BSS queries for their subscriptions
//! ([`renewal`]): one for up to 50 of them, else a page per 100 of the account's.

mod api;
mod cloud;
pub mod errors;
pub mod federation;
pub mod renewal;
pub mod sign;
mod tags;
pub mod wire;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde::{Serialize, de::DeserializeOwned};

use crate::api::{BillingMode, OrderAction, PeriodUnit, Prepaid, ProviderSpec};
use crate::cloud::ratelimit::read_with_retries;
use crate::cloud::{
    Capacity, CloudError, Credentials, ErrorKind, GatewayRef, GatewayState, Listed, Listing, Observed, OrderState,
    OrderTicket, Provider, RenewalChange,
    batch::{self, Batcher, SweepCache},
    claim::{ClaimTag, Claimant},
    profile::Profile,
    ratelimit::RateLimiter,
};

pub use api::{HuaweiIdentity, HuaweiProvider};
pub use cloud::{Huawei, PROFILE};

/// Which scoping headers a call carries.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    /// Project-scoped services (NAT): `X-Project-Id`.
    Project(&'a str),
    /// Global services (BSS): `X-Domain-Id` when known, never a project.
    Global,
    /// IAM project lookup: the AK/SK alone.
    Plain,
}

/// A Huawei Cloud account in one region. `Debug` shows endpoints and the AK, never the SK.
#[derive(Debug)]
pub struct HuaweiClient {
    http: reqwest::Client,
    nat: Url,
    bss: Url,
    iam: Url,
    credentials: Credentials,
    /// Project ids found through IAM, by region name: looked up once per region.
    projects: tokio::sync::Mutex<HashMap<String, String>>,
    limiter: Arc<RateLimiter>,
    /// Coalesced gateway reads, by [`ReadKey`].
    describes: Batcher<ReadKey, Observed>,
    /// When enabled: account-wide sweeps answer drift checks of gateways at rest. What is kept
    /// is the [`Observed`] part only, not the whole answer (memory at 10,000 gateways).
    sweeps: Option<Arc<SweepCache<Observed>>>,
    /// Which slow fact the next sweep that may skip one reads ([`SlowFacts`]): claims when set.
    claims_turn: AtomicBool,
}

/// A coalesced read: project, gateway id, and whether the caller decides a change on it (every
/// fact read now, none taken over from the last sweep).
type ReadKey = (String, String, bool);

/// `ListNatGateways` page size: the API's maximum (and default), 2000.
const LIST_PAGE: usize = 2000;
/// Huawei asks for 2-5 s after APIG.0308 when it gives no hint.
const THROTTLE_PAUSE: Duration = Duration::from_secs(2);
/// Most gateways [`HuaweiClient::read_keys`] reads one by one.
const ONE_BY_ONE: usize = 8;
/// Most gateways one coalesced read is given.
const DESCRIBE_BATCH_MAX: usize = 2000;

/// A successful answer: its body and request id.
struct Answer {
    body: Vec<u8>,
    request_id: Option<String>,
}

fn endpoint(value: &str, what: &str) -> Result<Url, CloudError> {
    let url = Url::parse(value.trim_end_matches('/')).map_err(|e| {
        CloudError::new(ErrorKind::InvalidRequest, format!("the {what} endpoint {value:?} is not a URL: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CloudError::new(
            ErrorKind::InvalidRequest,
            format!("the {what} endpoint {value:?} must be an http(s) URL with a host"),
        ));
    }
    Ok(url)
}

/// `host[:port]` as the HTTP client sends it in `Host`, port only when not the scheme's default.
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

impl HuaweiClient {
    /// Defaults: NAT `https://nat.{region}.myhuaweicloud.com`, BSS `https://bss.myhuaweicloud.com`,
    /// IAM `https://iam.{region}.myhuaweicloud.com`. An `endpoint` override (private endpoint, the
    /// simulator) serves NAT and IAM, and BSS too unless `bss_endpoint` is given.
    pub fn new(
        http: reqwest::Client,
        endpoint_override: Option<&str>,
        bss_endpoint: Option<&str>,
        region: &str,
        credentials: Credentials,
    ) -> Result<HuaweiClient, CloudError> {
        if region.is_empty() {
            return Err(CloudError::new(ErrorKind::InvalidRequest, "the Huawei Cloud region must not be empty"));
        }
        let (nat, iam) = match endpoint_override {
            Some(e) => (endpoint(e, "NAT")?, endpoint(e, "IAM")?),
            None => (
                endpoint(&format!("https://nat.{region}.myhuaweicloud.com"), "NAT")?,
                endpoint(&format!("https://iam.{region}.myhuaweicloud.com"), "IAM")?,
            ),
        };
        let bss = match (bss_endpoint, endpoint_override) {
            (Some(b), _) | (None, Some(b)) => endpoint(b, "BSS")?,
            (None, None) => endpoint("https://bss.myhuaweicloud.com", "BSS")?,
        };
        Ok(HuaweiClient {
            http,
            nat,
            bss,
            iam,
            credentials,
            projects: Default::default(),
            limiter: Arc::new(RateLimiter::documented(PROFILE.rate_limits)),
            describes: Batcher::new(batch::WINDOW, DESCRIBE_BATCH_MAX),
            sweeps: None,
            claims_turn: AtomicBool::new(true),
        })
    }

    /// The plain-HTTP endpoint this client would send its temporary credentials' security token
    /// to (`X-Security-Token` goes with every call: NAT, IAM and BSS alike), with what crosses it.
    /// `None` over HTTPS, and with long-lived keys, which send only the signature and the AK.
    pub fn sent_in_clear(&self) -> Option<(&Url, &'static str)> {
        self.credentials.session_token.as_ref()?;
        let plain = [&self.nat, &self.iam, &self.bss].into_iter().find(|url| url.scheme() == "http")?;
        Some((plain, "Huawei Cloud sends the security token (X-Security-Token)"))
    }

    /// Answer drift checks of gateways at rest (`ACTIVE`) from an account-wide sweep at most
    /// `max_age` old: a read that goes to the cloud takes along the project's other gateways
    /// asked about lately, up to 2,000 a `ListNatGateways` page. Gateways this client changes are
    /// forgotten, and [`Provider::describe_fresh`] (before an order, while one is open) never
    /// takes a swept answer. Zero: every read goes to the cloud.
    pub fn with_sweeps(mut self, max_age: std::time::Duration) -> HuaweiClient {
        if !max_age.is_zero() {
            self.sweeps = Some(Arc::new(SweepCache::new(max_age)));
        }
        self
    }

    /// Shares `limiter` (the account's) instead of a limiter of its own.
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> HuaweiClient {
        self.limiter = limiter;
        self
    }

    /// Reads several gateways of one project: `ShowNatGateway` for one, else pages of
    /// `ListNatGateways` (`GET /v2/{project_id}/nat_gateways?limit=&marker=`) until all are found,
    /// then the subscriptions of the yearly/monthly ones from BSS ([`renewal`]). Ids the cloud
    /// does not know are absent from the map. Only what a read needs is kept of each answer: a
    /// sweep holds thousands at once.
    pub async fn describe_many(&self, project: &str, ids: &[String]) -> Result<HashMap<String, Observed>, CloudError> {
        let mut found = read_with_retries(|| self.list_many(project, ids)).await?;
        self.add_subscriptions(found.iter_mut()).await?;
        Ok(found)
    }

    async fn list_many(&self, project: &str, ids: &[String]) -> Result<HashMap<String, Observed>, CloudError> {
        let mut found = HashMap::new();
        if let [id] = ids {
            let path = format!("/v2/{project}/nat_gateways/{id}");
            match self.call("ShowNatGateway", Method::GET, &self.nat, &path, &[], Scope::Project(project), None).await {
                Ok(answer) => {
                    let gw = Self::decode::<wire::NatGatewayEnvelope>(&answer, "ShowNatGateway")?.nat_gateway;
                    found.insert(id.clone(), observe(&gw));
                }
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            return Ok(found);
        }
        let mut missing: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut marker: Option<String> = None;
        while !missing.is_empty() {
            let page = self.list_page(project, marker.as_deref()).await?;
            let listed = page.len();
            marker = page.last().map(|g| g.id.clone());
            for gw in page {
                if missing.remove(gw.id.as_str()) {
                    found.insert(gw.id.clone(), observe(&gw));
                }
            }
            if listed < LIST_PAGE || marker.is_none() {
                break;
            }
        }
        Ok(found)
    }

    /// One `ListNatGateways` page: up to 2,000 gateways after `marker` (the previous page's last).
    async fn list_page(&self, project: &str, marker: Option<&str>) -> Result<Vec<wire::NatGateway>, CloudError> {
        let path = format!("/v2/{project}/nat_gateways");
        let mut query = vec![("limit".to_owned(), LIST_PAGE.to_string())];
        if let Some(m) = marker {
            query.push(("marker".to_owned(), m.to_owned()));
        }
        let answer =
            self.call("ListNatGateways", Method::GET, &self.nat, &path, &query, Scope::Project(project), None).await?;
        Ok(Self::decode::<wire::NatGateways>(&answer, "ListNatGateways")?.nat_gateways)
    }

    /// Waits for a token of `action` (the API's name, as rate limits know it), signs and sends
    /// one request, and slows the account's limiter down when the cloud throttles anyway.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        action: &str,
        method: Method,
        base: &Url,
        path: &str,
        query: &[(String, String)],
        scope: Scope<'_>,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, CloudError> {
        self.limiter.limited(action, THROTTLE_PAUSE, self.send(method, base, path, query, scope, body)).await
    }

    /// Signs and sends one request; maps every failure to a [`CloudError`].
    async fn send(
        &self,
        method: Method,
        base: &Url,
        path: &str,
        query: &[(String, String)],
        scope: Scope<'_>,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, CloudError> {
        let canonical_query = sign::canonical_query(query);
        let mut url = base.clone();
        url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
        url.set_query((!canonical_query.is_empty()).then_some(canonical_query.as_str()));

        let mut headers = vec![
            ("Host".to_owned(), host_header(&url)),
            (sign::DATE_HEADER.to_owned(), sign::format_date(k8s_openapi::jiff::Timestamp::now())),
        ];
        if body.is_some() {
            headers.push(("Content-Type".to_owned(), "application/json;charset=UTF-8".to_owned()));
        }
        match scope {
            Scope::Project(id) => headers.push(("X-Project-Id".to_owned(), id.to_owned())),
            Scope::Global => {
                if let Some(domain) = &self.credentials.domain_id {
                    headers.push(("X-Domain-Id".to_owned(), domain.clone()));
                }
            }
            Scope::Plain => {}
        }
        if let Some(token) = &self.credentials.session_token {
            headers.push(("X-Security-Token".to_owned(), token.expose().to_owned()));
        }
        let body = body.unwrap_or_default();
        let request =
            sign::SignedRequest { method: method.as_str(), path: url.path(), query, headers: &headers, body: &body };
        let authorization = sign::authorization(&request, &self.credentials.key_id, self.credentials.secret.expose())
            .ok_or_else(|| CloudError::new(ErrorKind::InvalidRequest, "could not sign the request"))?;

        let mut builder = self.http.request(method, url).header("Authorization", authorization);
        // reqwest sets Host itself from the URL, to the same value that was signed.
        for (name, value) in headers.iter().filter(|(n, _)| n != "Host") {
            builder = builder.header(name, value);
        }
        if !body.is_empty() {
            builder = builder.body(body);
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let request_id = response.headers().get("X-Request-Id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().await?.to_vec();
        if (200..300).contains(&status) {
            return Ok(Answer { body: bytes, request_id });
        }
        let parsed = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
        let (code, message) = match parsed.as_ref().and_then(wire::error_fields) {
            Some((c, m)) => (Some(c), m),
            // Never the raw body: it reaches status and Events (classify says "answered HTTP n").
            None => (None, String::new()),
        };
        let request_id = request_id.or_else(|| parsed.as_ref()?.get("request_id")?.as_str().map(str::to_owned));
        Err(errors::classify(status, code.as_deref(), &message, request_id))
    }

    fn decode<T: DeserializeOwned>(answer: &Answer, what: &str) -> Result<T, CloudError> {
        serde_json::from_slice(&answer.body).map_err(|e| {
            CloudError::new(ErrorKind::Transient, format!("Huawei Cloud's answer to {what} could not be read: {e}"))
                .with_request_id(answer.request_id.clone())
        })
    }

    fn json<T: Serialize>(value: &T) -> Option<Vec<u8>> {
        // Serialising these plain structs cannot fail.
        serde_json::to_vec(value).ok()
    }

    /// The project of `place`: the resource's, else looked up once per region through IAM.
    async fn project_id(&self, place: &ProviderSpec) -> Result<String, CloudError> {
        if let Some(id) = place.huawei().and_then(|h| h.project_id.as_ref()) {
            return Ok(id.clone());
        }
        let region = place.region();
        let mut cache = self.projects.lock().await;
        if let Some(id) = cache.get(region) {
            return Ok(id.clone());
        }
        let query = [("name".to_owned(), region.to_owned())];
        let answer = self
            .call("KeystoneListProjects", Method::GET, &self.iam, "/v3/projects", &query, Scope::Plain, None)
            .await?;
        let projects: wire::Projects = Self::decode(&answer, "KeystoneListProjects")?;
        let id = pick_project(region, projects.projects)?;
        crate::cloud::endpoints::check_project_id(&id)?;
        cache.insert(region.to_owned(), id.clone());
        Ok(id)
    }

    /// The open NAT orders of `order_type` created within [`OPEN_ORDER_LOOKBACK`], newest first.
    /// `ListCustomerOrders` does not say which resource an order is for: see [`Self::order_is_for`].
    async fn open_orders(&self, order_type: i64) -> Result<Vec<String>, CloudError> {
        let now = k8s_openapi::jiff::Timestamp::now();
        // `create_time_end` a day ahead tolerates clock skew between this host and BSS.
        let end = (now + std::time::Duration::from_secs(24 * 3600)).strftime(wire::BSS_TIME_FORMAT).to_string();
        let begin = (now - OPEN_ORDER_LOOKBACK).strftime(wire::BSS_TIME_FORMAT).to_string();
        let mut open = Vec::new();
        for page in 0..MAX_ORDER_PAGES {
            // No `status` filter: it takes one value, and open spans several; filtered below.
            let query: Vec<(String, String)> = [
                ("service_type_code", wire::NAT_SERVICE_TYPE.to_owned()),
                ("order_type", order_type.to_string()),
                ("create_time_begin", begin.clone()),
                ("create_time_end", end.clone()),
                ("order_by", "-createTime".to_owned()),
                ("limit", ORDER_PAGE.to_string()),
                ("offset", (page * ORDER_PAGE).to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let answer = self
                .call(
                    "ListCustomerOrders",
                    Method::GET,
                    &self.bss,
                    "/v2/orders/customer-orders",
                    &query,
                    Scope::Global,
                    None,
                )
                .await?;
            let orders: wire::CustomerOrders = Self::decode(&answer, "ListCustomerOrders")?;
            let listed = orders.order_infos.len();
            open.extend(
                orders
                    .order_infos
                    .into_iter()
                    .filter(|o| o.order_type.is_none_or(|t| t == order_type) && order_is_open(o.status)),
            );
            let seen = page * ORDER_PAGE + listed;
            if listed < ORDER_PAGE || seen as i64 >= orders.total_count {
                // Sorted here rather than trusting the server's `order_by` (the format sorts as text).
                open.sort_by(|a, b| b.create_time.cmp(&a.create_time));
                return Ok(open.into_iter().map(|o| o.order_id).collect());
            }
        }
        // Not knowing is not "none": answering `None` here could buy a second subscription.
        Err(CloudError::new(
            ErrorKind::Transient,
            format!(
                "BSS lists more than {} NAT orders of type {order_type} in the last {} days; could not \
                 rule out an open one",
                ORDER_PAGE * MAX_ORDER_PAGES,
                OPEN_ORDER_LOOKBACK.as_secs() / 86_400
            ),
        ))
    }

    /// Whether BSS lists `gateway_id` among the resources of order `order_id`
    /// (`ListPayPerUseCustomerResources` filtered by both). The answer's `resource_id`s are
    /// compared too, so an order is never taken for this gateway on a filter BSS ignored.
    async fn order_is_for(&self, order_id: &str, gateway_id: &str) -> Result<bool, CloudError> {
        let body = wire::QueryResourcesRequest {
            resource_ids: Some(vec![gateway_id.to_owned()]),
            order_id: Some(order_id.to_owned()),
            only_main_resource: Some(1),
            limit: Some(RESOURCE_PAGE),
            ..Default::default()
        };
        let resources = self.resources(&body).await?;
        Ok(resources.data.iter().any(|r| r.resource_id == gateway_id))
    }

    /// One gateway: from an account-wide sweep at most `swept_within` old when it is at rest
    /// there, else from the cloud in a coalesced read that also refreshes the sweep's stale
    /// gateways.
    async fn read(&self, gateway: &GatewayRef, swept_within: Option<Duration>) -> Result<Observed, CloudError> {
        let project = self.project_id(&gateway.place).await?;
        let not_found = format!("NAT gateway {} not found in project {project}", gateway.id);
        if let Some(within) = swept_within
            && let Some(sweeps) = &self.sweeps
            && let Some(observed) =
                sweeps.fresh(&sweep_key(&project, &gateway.id), within, |o| o.state == GatewayState::Ready).await
        {
            return Ok(observed);
        }
        let key = (project, gateway.id.clone(), swept_within.is_none());
        let found = self
            .describes
            .get(key, |keys| async move {
                let fresh = keys.iter().any(|(_, _, fresh)| *fresh);
                let asked = keys.iter().map(|(p, id, _)| (p.clone(), id.clone()));
                let found = match &self.sweeps {
                    None => self.read_keys(asked.collect(), None, fresh).await?,
                    Some(sweeps) => {
                        let sweep = sweeps.sweep(asked.map(|(p, id)| sweep_key(&p, &id)).collect()).await;
                        let ids = sweep.ids.iter().filter_map(|k| k.split_once('/'));
                        let ids = ids.map(|(p, id)| (p.to_owned(), id.to_owned())).collect();
                        let found = self.read_keys(ids, Some(sweeps), fresh).await?;
                        let by_key = found.iter().map(|((p, id), o)| (sweep_key(p, id), o.clone())).collect();
                        sweeps.store(&sweep, &by_key);
                        found
                    }
                };
                let answer =
                    |(p, id, fresh): ReadKey| Some((found.get(&(p.clone(), id.clone()))?.clone(), (p, id, fresh)));
                Ok(keys.into_iter().filter_map(answer).map(|(o, k)| (k, o)).collect())
            })
            .await?;
        found.ok_or_else(|| CloudError::new(ErrorKind::NotFound, not_found))
    }

    /// Gateways by (project, id), with their subscriptions (BSS is account-wide: asked once for
    /// all projects) and claims. A few gateways that a change is decided on, or that were never
    /// read, are read one by one (`ShowNatGateway`, `ShowNatGatewayTag`): a project's pages would
    /// answer them in fewer calls but hold every gateway of the project, parsed for a few, and a
    /// fleet's first looks and claims ask for a few at a time. Else `ListNatGateways` pages per
    /// project and one claims page, in a sweep slot ([`batch::sweep_slot`]); at rest (not
    /// `fresh`), a fact that only the last sweep's answer may stand for is taken from `sweeps`
    /// ([`SlowFacts`]).
    async fn read_keys(
        &self,
        keys: Vec<(String, String)>,
        sweeps: Option<&SweepCache<Observed>>,
        fresh: bool,
    ) -> Result<HashMap<(String, String), Observed>, CloudError> {
        let never_read =
            |(p, id): &(String, String)| sweeps.is_none_or(|s| s.last(&sweep_key(p, id), |_| ()).is_none());
        let one_by_one = keys.len() <= ONE_BY_ONE && (fresh || keys.iter().all(never_read));
        let _slot = batch::sweep_slot(!one_by_one).await;
        let mut all = self.read_gateways(keys, one_by_one).await?;
        let read = match sweeps.filter(|_| !fresh) {
            Some(last) => self.take_over(last, &mut all),
            None => SlowFacts { subscriptions: true, claims: true },
        };
        if read.subscriptions {
            self.add_subscriptions(all.iter_mut().map(|((_, id), o)| (id, o))).await?;
        }
        if read.claims {
            self.add_claims(&mut all, one_by_one).await?;
        }
        Ok(all)
    }

    /// Takes the subscriptions and claims of the last sweep over into `read`, and says which to
    /// read anew: one of the two in turn, so that a sweep at rest costs the NAT pages and one more
    /// page per 1,000 gateways (a subscription's expiry and a claim change rarely, and neither is
    /// ever taken over for a change); both when a gateway's last answer lacks one (first sight,
    /// or forgotten since this client changed it).
    fn take_over(&self, last: &SweepCache<Observed>, read: &mut HashMap<(String, String), Observed>) -> SlowFacts {
        let (mut need_subscriptions, mut need_claims, mut prepaid) = (false, false, false);
        for ((project, id), observed) in read.iter_mut() {
            let is_prepaid = observed.billing == BillingMode::Prepaid;
            prepaid |= is_prepaid;
            let before = last.last(&sweep_key(project, id), |o| (o.claim.clone(), o.subscription));
            let Some((claim, subscription)) = before else {
                (need_subscriptions, need_claims) = (need_subscriptions || is_prepaid, true);
                continue;
            };
            need_claims |= claim == ClaimTag::Unread;
            need_subscriptions |= is_prepaid && subscription.is_none();
            (observed.claim, observed.subscription) = (claim, subscription.filter(|_| is_prepaid));
        }
        // With no subscription to read, the claims every time.
        let claims_turn = self.claims_turn.fetch_xor(true, Ordering::Relaxed) || !prepaid;
        SlowFacts { subscriptions: need_subscriptions || !claims_turn, claims: need_claims || claims_turn }
    }

    /// The NAT part of [`Self::read_keys`].
    async fn read_gateways(
        &self,
        keys: Vec<(String, String)>,
        one_by_one: bool,
    ) -> Result<HashMap<(String, String), Observed>, CloudError> {
        // A lone read keeps the cloud's own answer (its code and request id) on failure.
        if let [(project, id)] = keys.as_slice() {
            let path = format!("/v2/{project}/nat_gateways/{id}");
            let answer = read_with_retries(|| {
                self.call("ShowNatGateway", Method::GET, &self.nat, &path, &[], Scope::Project(project), None)
            })
            .await?;
            let gw = Self::decode::<wire::NatGatewayEnvelope>(&answer, "ShowNatGateway")?.nat_gateway;
            return Ok(HashMap::from([((project.clone(), id.clone()), observe(&gw))]));
        }
        if one_by_one {
            let reads = keys.iter().map(|(project, id)| async move {
                let found = read_with_retries(|| self.list_many(project, std::slice::from_ref(id))).await?;
                Ok::<_, CloudError>(found.into_values().map(|o| ((project.clone(), id.clone()), o)).next())
            });
            return Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect());
        }
        // Keys of several projects (resources that name different ones) are read apart.
        let mut by_project: HashMap<String, Vec<String>> = HashMap::new();
        for (project, id) in keys {
            by_project.entry(project).or_default().push(id);
        }
        let mut all = HashMap::new();
        for (project, ids) in by_project {
            for (id, gw) in read_with_retries(|| self.list_many(&project, &ids)).await? {
                all.insert((project.clone(), id), gw);
            }
        }
        Ok(all)
    }

    /// This client is about to change the gateway, or just did: no earlier sweep answers for it.
    fn forget(&self, project: &str, id: &str) {
        if let Some(s) = &self.sweeps {
            s.invalidate(&sweep_key(project, id));
        }
    }

    async fn show(&self, gateway: &GatewayRef) -> Result<wire::NatGateway, CloudError> {
        let project = self.project_id(&gateway.place).await?;
        let path = format!("/v2/{project}/nat_gateways/{}", gateway.id);
        let answer =
            self.call("ShowNatGateway", Method::GET, &self.nat, &path, &[], Scope::Project(&project), None).await?;
        Ok(Self::decode::<wire::NatGatewayEnvelope>(&answer, "ShowNatGateway")?.nat_gateway)
    }
}

/// Which facts besides the NAT pages a read asks for ([`HuaweiClient::take_over`]).
struct SlowFacts {
    subscriptions: bool,
    claims: bool,
}

/// A gateway in the sweep cache: project and gateway ids are plain tokens (checked before use),
/// so `/` separates them unambiguously.
fn sweep_key(project: &str, id: &str) -> String {
    format!("{project}/{id}")
}

/// Exactly one enabled project must carry the region's name.
fn pick_project(region: &str, projects: Vec<wire::Project>) -> Result<String, CloudError> {
    let mut matching: Vec<_> = projects.into_iter().filter(|p| p.name == region && p.enabled).collect();
    match matching.len() {
        1 => Ok(matching.remove(0).id),
        n => Err(CloudError::new(
            ErrorKind::InvalidRequest,
            format!(
                "IAM lists {n} projects named {region:?} for these credentials, expected exactly one; \
                 set spec.provider.huawei.projectId"
            ),
        )),
    }
}

/// The operator's view of a NAT gateway read; BSS adds the subscription of a yearly/monthly one.
pub fn observe(gw: &wire::NatGateway) -> Observed {
    let state = match gw.status.as_str() {
        "ACTIVE" => GatewayState::Ready,
        s if s.starts_with("PENDING_") => GatewayState::Transitioning,
        _ => GatewayState::Unavailable,
    };
    let prepaid = gw.billing_info.as_deref().is_some_and(|b| !b.trim().is_empty());
    Observed {
        capacity: Capacity::Spec(gw.spec.clone()),
        billing: if prepaid { BillingMode::Prepaid } else { BillingMode::PayPerUse },
        state,
        raw_state: gw.status.clone(),
        subscription: None,
        claim: ClaimTag::Unread,
    }
}

/// How far back `find_open_order` looks. BSS cancels an unpaid order at its
/// `pending_payment_end_time` (days after creation) and a paid one completes within minutes, so an
/// order older than this cannot still be open; BSS refuses windows over one year.
const OPEN_ORDER_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);
/// `ListCustomerOrders` page size (BSS allows 1-100) and how many pages to read before giving up:
/// finished orders of the same kind share the window, and the status filter takes one value only.
const ORDER_PAGE: usize = 100;
const MAX_ORDER_PAGES: usize = 10;
/// `limit` of `ListPayPerUseCustomerResources`: one gateway is asked for, attached resources are
/// left out, so one page holds the answer.
const RESOURCE_PAGE: i64 = 10;

/// Whether a BSS order has not ended: everything but 4 (cancelled) and 5 (completed), so pending
/// approval (1), pending refund (2), processing (3), pending payment (6), pending confirmation (9),
/// the delivery states (10-13) and statuses added later all count as open. It is the same line
/// `order_state` draws, so a found order is one the controller can follow.
pub fn order_is_open(status: i64) -> bool {
    matches!(order_state(status), OrderState::InProgress | OrderState::AwaitingPayment)
}

/// BSS `order_info.status` in the operator's terms.
pub fn order_state(status: i64) -> OrderState {
    match status {
        5 => OrderState::Succeeded,
        4 => OrderState::Cancelled,
        6 => OrderState::AwaitingPayment,
        1 | 2 | 3 | 9..=13 => OrderState::InProgress,
        other => {
            // A status BSS added after this was written: keep polling rather than guess an end.
            tracing::warn!(status = other, "unknown Huawei BSS order status, treating it as in progress");
            OrderState::InProgress
        }
    }
}

fn prepaid_options(prepaid: &Prepaid) -> wire::PrepaidOptions {
    wire::PrepaidOptions {
        period_type: match prepaid.period_unit {
            PeriodUnit::Month => "month",
            PeriodUnit::Year => "year",
        }
        .to_owned(),
        period_num: i64::from(prepaid.periods),
        is_auto_renew: Some(prepaid.auto_renew),
        is_auto_pay: Some(prepaid.auto_pay),
    }
}

#[async_trait]
impl Provider for HuaweiClient {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    async fn describe(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        self.read(gateway, Some(Duration::MAX)).await
    }

    async fn describe_within(&self, gateway: &GatewayRef, max_age: Duration) -> Result<Observed, CloudError> {
        self.read(gateway, Some(max_age)).await
    }

    async fn describe_fresh(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        self.read(gateway, None).await
    }

    async fn expect(&self, roster: &(dyn Fn() -> Vec<GatewayRef> + Send + Sync)) {
        let Some(announce) = self.sweeps.as_ref().and_then(|s| s.wants_roster()) else {
            return;
        };
        let mut keys = Vec::new();
        for gateway in roster() {
            // A project that cannot be found now fails the first read with the reason; the
            // roster only saves reads.
            if let Ok(project) = self.project_id(&gateway.place).await {
                keys.push(sweep_key(&project, &gateway.id));
            }
        }
        announce.expect(keys);
    }

    async fn resize(
        &self,
        gateway: &GatewayRef,
        capacity: &Capacity,
        auto_pay: bool,
    ) -> Result<OrderTicket, CloudError> {
        let Capacity::Spec(spec) = capacity else {
            return Err(CloudError::new(
                ErrorKind::Unsupported,
                "Huawei Cloud sizes NAT gateways by spec, not by connections",
            ));
        };
        // A prepaid gateway's spec change is an order that must be paid; learn the billing mode
        // from a fresh read rather than trusting a possibly stale hint.
        let project = self.project_id(&gateway.place).await?;
        self.forget(&project, &gateway.id);
        let current = self.show(gateway).await?;
        let prepaid = observe(&current).billing == BillingMode::Prepaid;
        let body = wire::UpdateRequest {
            nat_gateway: wire::UpdateOption {
                spec: Some(spec.clone()),
                prepaid_options: prepaid.then_some(wire::UpdatePrepaid { is_auto_pay: Some(auto_pay) }),
                ..Default::default()
            },
        };
        let path = format!("/v2/{project}/nat_gateways/{}", gateway.id);
        let answer = self
            .call("UpdateNatGateway", Method::PUT, &self.nat, &path, &[], Scope::Project(&project), Self::json(&body))
            .await;
        // Again: a sweep that read the gateway while the call was under way saw it before.
        self.forget(&project, &gateway.id);
        let answer = answer?;
        let envelope: wire::NatGatewayEnvelope = Self::decode(&answer, "UpdateNatGateway")?;
        Ok(OrderTicket { order_id: envelope.order_id.filter(|o| !o.is_empty()), request_id: answer.request_id })
    }

    async fn change_billing(&self, gateway: &GatewayRef, prepaid: &Prepaid) -> Result<OrderTicket, CloudError> {
        let project = self.project_id(&gateway.place).await?;
        self.forget(&project, &gateway.id);
        let body = wire::ChangeToPeriodRequest { prepaid_options: prepaid_options(prepaid) };
        let path = format!("/v2/{project}/nat_gateways/{}/change_to_period", gateway.id);
        let answer = self
            .call(
                "UpdateNatGatewayToPeriod",
                Method::POST,
                &self.nat,
                &path,
                &[],
                Scope::Project(&project),
                Self::json(&body),
            )
            .await;
        self.forget(&project, &gateway.id);
        let answer = answer?;
        let order: wire::OrderIdResponse = Self::decode(&answer, "UpdateNatGatewayToPeriod")?;
        Ok(OrderTicket { order_id: Some(order.order_id), request_id: answer.request_id })
    }

    async fn order_status(&self, _gateway: &GatewayRef, order_id: &str) -> Result<OrderState, CloudError> {
        let path = format!("/v2/orders/customer-orders/details/{order_id}");
        let answer =
            self.call("ShowCustomerOrderDetails", Method::GET, &self.bss, &path, &[], Scope::Global, None).await?;
        let details: wire::OrderDetails = Self::decode(&answer, "ShowCustomerOrderDetails")?;
        Ok(order_state(details.order_info.status))
    }

    /// See [`renewal`]: one BSS call, no order. The gateway is forgotten by the sweeps before and
    /// after, so the next read sees the change.
    async fn set_renewal(&self, gateway: &GatewayRef, change: RenewalChange) -> Result<(), CloudError> {
        let project = self.project_id(&gateway.place).await?;
        self.forget(&project, &gateway.id);
        let result = self.renew(&gateway.id, change).await;
        self.forget(&project, &gateway.id);
        result
    }

    /// `CancelCustomerOrder`; a cancelled spec change leaves the gateway `ACTIVE` again, so it is
    /// forgotten by the sweeps like a change.
    async fn cancel_order(&self, gateway: &GatewayRef, order_id: &str) -> Result<(), CloudError> {
        let project = self.project_id(&gateway.place).await?;
        self.forget(&project, &gateway.id);
        let result = self.cancel_customer_order(order_id).await;
        self.forget(&project, &gateway.id);
        result
    }

    /// `ChangeBilling`: an open pay-per-use -> yearly/monthly order (type 11). `Resize`: an open
    /// change order (type 3), only for a yearly/monthly gateway, since a pay-per-use spec change
    /// opens no order and shows as `PENDING_UPDATE` or the new spec. Only an order BSS lists with
    /// this gateway as its resource is returned, never another gateway's. BSS documents that it
    /// lists provisioned resources only: should it not list an unpaid order's gateway, the answer
    /// is `None`, and a second order for a gateway with an unfinished one is refused (the
    /// simulator answers `NAT.0103`; Huawei documents no code for it), so nothing is bought twice.
    async fn find_open_order(&self, gateway: &GatewayRef, action: OrderAction) -> Result<Option<String>, CloudError> {
        let order_type = match action {
            OrderAction::ChangeBilling => wire::ORDER_TYPE_TO_PERIOD,
            OrderAction::Resize => {
                if observe(&self.show(gateway).await?).billing == BillingMode::PayPerUse {
                    return Ok(None);
                }
                wire::ORDER_TYPE_CHANGE
            }
        };
        for order_id in self.open_orders(order_type).await? {
            if self.order_is_for(&order_id, &gateway.id).await? {
                return Ok(Some(order_id));
            }
        }
        Ok(None)
    }

    async fn write_claim(&self, gateway: &GatewayRef, claimant: &Claimant, wait: bool) -> Result<(), CloudError> {
        self.tag(gateway, Some(claimant), wait).await
    }

    async fn remove_claim(&self, gateway: &GatewayRef) -> Result<(), CloudError> {
        self.tag(gateway, None, true).await
    }

    async fn list(&self, place: &ProviderSpec) -> Result<Listing, CloudError> {
        let project = self.project_id(place).await?;
        let mut listing = Listing::default();
        loop {
            let marker = listing.gateways.last().map(|g| g.id.clone());
            let page = read_with_retries(|| self.list_page(&project, marker.as_deref())).await?;
            listing.pages += 1;
            let full = page.len() >= LIST_PAGE;
            listing.gateways.extend(page.into_iter().map(|gw| Listed {
                observed: observe(&gw),
                // A manifest names no more than the place: the router is not part of a spec.
                place: place.clone(),
                name: gw.name,
                id: gw.id,
            }));
            if !full {
                let gateways = listing.gateways.iter_mut().map(|l| (&l.id, &mut l.observed));
                self.add_subscriptions(gateways).await?;
                let mut claims: HashMap<_, _> =
                    read_with_retries(|| self.claims_in(&project)).await?.into_iter().collect();
                listing.pages += 1;
                for l in &mut listing.gateways {
                    l.observed.claim = claims.remove(&l.id).unwrap_or(ClaimTag::Free);
                }
                return Ok(listing);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statuses_map_to_order_states() {
        assert_eq!(order_state(5), OrderState::Succeeded);
        assert_eq!(order_state(4), OrderState::Cancelled);
        assert_eq!(order_state(6), OrderState::AwaitingPayment);
        for pending in [1, 2, 3, 9, 10, 11, 12, 13, 42] {
            assert_eq!(order_state(pending), OrderState::InProgress, "{pending}");
        }
    }

    #[test]
    fn only_completed_and_cancelled_orders_are_closed() {
        for open in [1, 2, 3, 6, 9, 10, 13, 42] {
            assert!(order_is_open(open), "{open}");
        }
        assert!(!order_is_open(4));
        assert!(!order_is_open(5));
    }

    #[test]
    fn gateway_status_and_billing_info_are_read() {
        let gw = |status: &str, billing: Option<&str>| wire::NatGateway {
            id: "g".into(),
            spec: "2".into(),
            status: status.into(),
            billing_info: billing.map(str::to_owned),
            ..Default::default()
        };
        let seen = observe(&gw("ACTIVE", Some("order-1")));
        assert_eq!((seen.state, seen.billing), (GatewayState::Ready, BillingMode::Prepaid));
        assert_eq!(seen.capacity, Capacity::Spec("2".into()));
        assert_eq!(observe(&gw("PENDING_UPDATE", Some(""))).billing, BillingMode::PayPerUse);
        assert_eq!(observe(&gw("PENDING_UPDATE", None)).state, GatewayState::Transitioning);
        assert_eq!(observe(&gw("INACTIVE", None)).state, GatewayState::Unavailable);
        assert_eq!(observe(&gw("EIP_FREEZED", None)).state, GatewayState::Unavailable);
    }

    #[test]
    fn endpoints_default_per_region_and_follow_the_override() {
        let creds = Credentials {
            key_id: "ak".into(),
            secret: crate::cloud::SecretValue::new("sk-secret"),
            session_token: None,
            domain_id: None,
        };
        let http = reqwest::Client::new();
        let c = HuaweiClient::new(http.clone(), None, None, "cn-north-4", creds.clone()).unwrap();
        assert_eq!(c.nat.as_str(), "https://nat.cn-north-4.myhuaweicloud.com/");
        assert_eq!(c.iam.as_str(), "https://iam.cn-north-4.myhuaweicloud.com/");
        assert_eq!(c.bss.as_str(), "https://bss.myhuaweicloud.com/");
        let c = HuaweiClient::new(http.clone(), Some("http://127.0.0.1:9180"), None, "r", creds.clone()).unwrap();
        assert_eq!((c.nat.as_str(), c.bss.as_str()), ("http://127.0.0.1:9180/", "http://127.0.0.1:9180/"));
        let c = HuaweiClient::new(
            http.clone(),
            Some("http://h:1"),
            Some("https://bss-intl.myhuaweicloud.com"),
            "r",
            creds.clone(),
        )
        .unwrap();
        assert_eq!(c.bss.as_str(), "https://bss-intl.myhuaweicloud.com/");
        assert!(!format!("{c:?}").contains("sk-secret"));
        let err = HuaweiClient::new(http, Some("ftp://x"), None, "r", creds).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn over_plain_http_only_long_lived_keys_go() {
        let creds = |token: Option<&str>| Credentials {
            key_id: "ak".into(),
            secret: crate::cloud::SecretValue::new("sk"),
            session_token: token.map(crate::cloud::SecretValue::new),
            domain_id: None,
        };
        let client = |endpoint: Option<&str>, bss: Option<&str>, token| {
            HuaweiClient::new(reqwest::Client::new(), endpoint, bss, "cn-north-4", creds(token)).unwrap()
        };
        let http = Some("http://127.0.0.1:9180");
        let c = client(http, None, Some("tok"));
        let (url, sends) = c.sent_in_clear().expect("the token would cross HTTP");
        assert_eq!((url.as_str(), sends.contains("X-Security-Token")), ("http://127.0.0.1:9180/", true));
        // BSS alone over HTTP carries the token too.
        let c = client(None, Some("http://127.0.0.1:9181"), Some("tok"));
        assert_eq!(c.sent_in_clear().map(|(u, _)| u.as_str()), Some("http://127.0.0.1:9181/"));
        assert!(client(http, None, None).sent_in_clear().is_none(), "a signature and the AK only");
        assert!(client(Some("https://127.0.0.1:9443"), None, Some("tok")).sent_in_clear().is_none());
        assert!(client(None, None, Some("tok")).sent_in_clear().is_none());
    }

    #[test]
    fn host_header_carries_only_non_default_ports() {
        assert_eq!(host_header(&Url::parse("https://nat.r.myhuaweicloud.com/x").unwrap()), "nat.r.myhuaweicloud.com");
        assert_eq!(host_header(&Url::parse("http://127.0.0.1:9180/").unwrap()), "127.0.0.1:9180");
    }
}
