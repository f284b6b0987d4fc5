//! A yearly/monthly gateway's subscription at BSS: its expiry and what happens then, read along
//! with the gateways (`ListPayPerUseCustomerResources`, once per batched read and only when the
//! batch has yearly/monthly gateways: never a call per gateway per drift check), and changed
//! with `AutoRenewalResources`, `CancelAutoRenewalResources` and `UpdatePeriodToOnDemand`, none
//! of which places an order or moves money. Also `CancelCustomerOrder`.

use std::collections::{HashMap, HashSet};

use k8s_openapi::jiff::Timestamp;
use reqwest::Method;

use super::{HuaweiClient, Scope, errors, wire};
use crate::api::{BillingMode, Renewal};
use crate::cloud::{
    CloudError, ErrorKind, Observed, Refusal, RenewalChange, Subscription, ratelimit::read_with_retries, shape,
};

/// Up to this many yearly/monthly gateways are asked for by id, in one call (BSS takes at most
/// 50 `resource_ids`); for more, pages of the account's NAT subscriptions cost fewer calls.
const MAX_IDS: usize = 50;
/// `limit` of an account-wide page. BSS documents the default (10) and no maximum.
const ACCOUNT_PAGE: i64 = 100;
/// Account-wide pages read before giving up (100,000 NAT subscriptions): a server that keeps
/// answering full pages must not keep a read going forever.
const MAX_ACCOUNT_PAGES: i64 = 1000;

/// `ListPayPerUseCustomerResources`; BSS spells the path `suscriptions`.
pub(super) const QUERY_PATH: &str = "/v2/orders/suscriptions/resources/query";
const TO_ON_DEMAND_PATH: &str = "/v2/orders/subscriptions/resources/to-on-demand";
const CANCEL_ORDER_PATH: &str = "/v2/orders/customer-orders/cancel";

/// BSS `expire_policy` in the operator's terms: only 3 renews and only 1 turns pay-per-use; every
/// other policy (0 grace period, 2 deleted at expiry, 4 frozen, 5 deleted from the retention
/// period, and any added later) leaves renewing to someone, which is [`Renewal::Manual`].
pub fn renewal_of(expire_policy: i64) -> Renewal {
    match expire_policy {
        wire::EXPIRE_AUTO_RENEW => Renewal::Auto,
        wire::EXPIRE_TO_ON_DEMAND => Renewal::PayPerUseAtExpiry,
        _ => Renewal::Manual,
    }
}

/// One listed resource's subscription. `expire_time` is documented as `yyyy-MM-ddTHH:mm:ssZ`;
/// anything unparseable leaves the expiry unknown rather than failing the read.
pub fn subscription_of(resource: &wire::CustomerResource) -> Subscription {
    Subscription {
        expires_at: resource.expire_time.as_deref().and_then(|t| t.parse::<Timestamp>().ok()),
        renewal: renewal_of(resource.expire_policy),
    }
}

/// The query for `ids`, all in one answer: main resources only, so each id is listed once.
pub fn by_ids(ids: &[&str]) -> wire::QueryResourcesRequest {
    wire::QueryResourcesRequest {
        resource_ids: Some(ids.iter().map(|id| (*id).to_owned()).collect()),
        only_main_resource: Some(1),
        limit: Some(MAX_IDS as i64),
        ..Default::default()
    }
}

/// One page of the account's NAT subscriptions from `offset`. No `status_list`: expired ones
/// (in their grace period) must be seen too.
pub fn account_page(offset: i64) -> wire::QueryResourcesRequest {
    wire::QueryResourcesRequest {
        service_type_code: Some(wire::NAT_SERVICE_TYPE.to_owned()),
        only_main_resource: Some(1),
        offset: Some(offset),
        limit: Some(ACCOUNT_PAGE),
        ..Default::default()
    }
}

/// Keeps the subscriptions of `wanted` among `listed`; of two entries for one resource, the one
/// that ends later.
fn keep(found: &mut HashMap<String, Subscription>, wanted: &HashSet<&str>, listed: Vec<wire::CustomerResource>) {
    for resource in listed.iter().filter(|r| wanted.contains(r.resource_id.as_str())) {
        let subscription = subscription_of(resource);
        let later = found.get(&resource.resource_id).is_none_or(|s| s.expires_at < subscription.expires_at);
        if later {
            found.insert(resource.resource_id.clone(), subscription);
        }
    }
}

/// `id` if it may go into a BSS path: the spec's gateway id is checked at admission, this keeps a
/// path from ever carrying anything but a plain id.
fn path_id(id: &str) -> Result<&str, CloudError> {
    if shape::ID.fits(id, 128) {
        return Ok(id);
    }
    Err(CloudError::new(
        ErrorKind::InvalidRequest,
        "spec.gatewayId is not a plain id (letters, digits, '_' and '-'); not sending it to BSS",
    )
    .with_refusal(Refusal::InvalidSpec))
}

fn autorenew_path(id: &str) -> Result<String, CloudError> {
    Ok(format!("/v2/orders/subscriptions/resources/autorenew/{}", path_id(id)?))
}

/// The first failure `UpdatePeriodToOnDemand` reports in a 200 answer, as an error. The operator
/// sends one id, so any entry is about it (BSS's `id` names "the customer or the batch message",
/// not always the resource). An entry without a code counts as a refusal.
fn first_failure(details: &[wire::ErrorDetail], request_id: Option<String>) -> Option<CloudError> {
    let detail = details.first()?;
    let code = Some(detail.error_code.as_str()).filter(|c| !c.is_empty());
    Some(errors::classify(400, code, &detail.error_msg, request_id))
}

impl HuaweiClient {
    /// Sets `subscription` of the yearly/monthly gateways among `gateways` from BSS, in one call
    /// for up to 50 of them, else in pages of the account's NAT subscriptions. A gateway BSS does
    /// not list keeps `None`.
    pub(super) async fn add_subscriptions<'a>(
        &self,
        gateways: impl IntoIterator<Item = (&'a String, &'a mut Observed)>,
    ) -> Result<(), CloudError> {
        let prepaid: Vec<_> = gateways.into_iter().filter(|(_, o)| o.billing == BillingMode::Prepaid).collect();
        if prepaid.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = prepaid.iter().map(|(id, _)| id.as_str()).collect();
        let found = self.subscriptions(&ids).await?;
        for (id, observed) in prepaid {
            observed.subscription = found.get(id.as_str()).copied();
        }
        Ok(())
    }

    async fn subscriptions(&self, ids: &[&str]) -> Result<HashMap<String, Subscription>, CloudError> {
        let wanted: HashSet<&str> = ids.iter().copied().collect();
        let mut found = HashMap::new();
        if wanted.len() <= MAX_IDS {
            let query = by_ids(ids);
            let listed = read_with_retries(|| self.resources(&query)).await?;
            keep(&mut found, &wanted, listed.data);
            return Ok(found);
        }
        let mut offset = 0;
        for _ in 0..MAX_ACCOUNT_PAGES {
            let query = account_page(offset);
            let page = read_with_retries(|| self.resources(&query)).await?;
            let listed = page.data.len() as i64;
            keep(&mut found, &wanted, page.data);
            offset += listed;
            if listed < ACCOUNT_PAGE || offset >= page.total_count || found.len() == wanted.len() {
                return Ok(found);
            }
        }
        Err(CloudError::new(
            ErrorKind::Transient,
            format!("BSS lists more than {} NAT subscriptions; stopped reading them", ACCOUNT_PAGE * MAX_ACCOUNT_PAGES),
        ))
    }

    /// One `ListPayPerUseCustomerResources` call.
    pub(super) async fn resources(
        &self,
        query: &wire::QueryResourcesRequest,
    ) -> Result<wire::CustomerResources, CloudError> {
        let answer = self
            .call(
                "ListPayPerUseCustomerResources",
                Method::POST,
                &self.bss,
                QUERY_PATH,
                &[],
                Scope::Global,
                Self::json(query),
            )
            .await?;
        Self::decode(&answer, "ListPayPerUseCustomerResources")
    }

    /// The BSS call that makes `change`. Auto-renew is set with an empty `AutoRenewalResourcesReq`
    /// (`{}`: no limit on the times, the period of the last order), cleared with a DELETE
    /// without a body.
    pub(super) async fn renew(&self, gateway_id: &str, change: RenewalChange) -> Result<(), CloudError> {
        match change {
            RenewalChange::EnableAutoRenew => {
                let body = Self::json(&wire::AutoRenewalRequest::default());
                let path = autorenew_path(gateway_id)?;
                self.call("AutoRenewalResources", Method::POST, &self.bss, &path, &[], Scope::Global, body).await?;
            }
            RenewalChange::DisableAutoRenew => {
                let path = autorenew_path(gateway_id)?;
                self.call("CancelAutoRenewalResources", Method::DELETE, &self.bss, &path, &[], Scope::Global, None)
                    .await?;
            }
            RenewalChange::PayPerUseAtExpiry => self.to_on_demand(gateway_id, wire::TO_ON_DEMAND_SET_UP).await?,
            RenewalChange::KeepAtExpiry => self.to_on_demand(gateway_id, wire::TO_ON_DEMAND_CANCEL).await?,
        }
        Ok(())
    }

    /// `UpdatePeriodToOnDemand` for one gateway; a failure BSS reports in its 200 answer is an error.
    async fn to_on_demand(&self, gateway_id: &str, operation: &str) -> Result<(), CloudError> {
        let body = wire::PeriodToOnDemandRequest {
            operation: operation.to_owned(),
            resource_ids: vec![path_id(gateway_id)?.to_owned()],
        };
        let answer = self
            .call(
                "UpdatePeriodToOnDemand",
                Method::POST,
                &self.bss,
                TO_ON_DEMAND_PATH,
                &[],
                Scope::Global,
                Self::json(&body),
            )
            .await?;
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let result: wire::PeriodToOnDemandResponse = Self::decode(&answer, "UpdatePeriodToOnDemand")?;
        first_failure(&result.error_details, answer.request_id).map_or(Ok(()), Err)
    }

    /// `CancelCustomerOrder`. BSS cancels only an order pending payment; any other is refused
    /// (`CBC.99005010`, see [`errors`]), and the order's status then tells what became of it.
    pub(super) async fn cancel_customer_order(&self, order_id: &str) -> Result<(), CloudError> {
        if !shape::ID.fits(order_id, 64) {
            return Err(CloudError::new(
                ErrorKind::InvalidRequest,
                "the recorded order id is not a BSS order id (letters, digits, '_' and '-', at most 64)",
            ));
        }
        let body = Self::json(&wire::CancelOrderRequest { order_id: order_id.to_owned() });
        self.call("CancelCustomerOrder", Method::PUT, &self.bss, CANCEL_ORDER_PATH, &[], Scope::Global, body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(id: &str, expire: Option<&str>, policy: i64) -> wire::CustomerResource {
        wire::CustomerResource {
            resource_id: id.into(),
            expire_time: expire.map(str::to_owned),
            expire_policy: policy,
            ..Default::default()
        }
    }

    #[test]
    fn expire_policies_map_to_renewals() {
        assert_eq!(renewal_of(3), Renewal::Auto);
        assert_eq!(renewal_of(1), Renewal::PayPerUseAtExpiry);
        for manual in [0, 2, 4, 5, 42, -1] {
            assert_eq!(renewal_of(manual), Renewal::Manual, "{manual}");
        }
    }

    #[test]
    fn expiry_is_read_as_utc_and_unknown_when_unreadable() {
        let s = subscription_of(&resource("g", Some("2019-05-06T08:05:01Z"), 3));
        assert_eq!(s.expires_at, Some("2019-05-06T08:05:01Z".parse().unwrap()));
        assert_eq!(s.renewal, Renewal::Auto);
        assert_eq!(subscription_of(&resource("g", Some("2019-05-06 08:05:01"), 0)).expires_at, None);
        assert_eq!(subscription_of(&resource("g", None, 1)).renewal, Renewal::PayPerUseAtExpiry);
    }

    #[test]
    fn only_wanted_gateways_are_kept_and_the_later_entry_wins() {
        let wanted = HashSet::from(["a", "b"]);
        let mut found = HashMap::new();
        let listed = vec![
            resource("a", Some("2030-01-01T00:00:00Z"), 0),
            resource("other", Some("2030-01-01T00:00:00Z"), 3),
            resource("a", Some("2031-01-01T00:00:00Z"), 3),
            resource("a", Some("2029-01-01T00:00:00Z"), 1),
        ];
        keep(&mut found, &wanted, listed);
        assert_eq!(found.len(), 1);
        assert_eq!(found["a"].renewal, Renewal::Auto);
        assert_eq!(found["a"].expires_at, Some("2031-01-01T00:00:00Z".parse().unwrap()));
    }

    fn v<T: serde::Serialize>(body: &T) -> serde_json::Value {
        serde_json::to_value(body).unwrap()
    }

    /// The bodies, as the SDK serialises the same models (tests/offline/huawei_conformance.rs
    /// compares them on the wire).
    #[test]
    fn request_bodies() {
        assert_eq!(
            v(&by_ids(&["g1", "g2"])),
            json!({"resource_ids": ["g1", "g2"], "only_main_resource": 1, "limit": 50})
        );
        assert_eq!(
            v(&account_page(200)),
            json!({"service_type_code": "hws.service.type.natgateway", "only_main_resource": 1, "offset": 200, "limit": 100})
        );
        assert_eq!(v(&wire::AutoRenewalRequest::default()), json!({}));
        assert_eq!(
            v(&wire::PeriodToOnDemandRequest { operation: "SET_UP".into(), resource_ids: vec!["g".into()] }),
            json!({"operation": "SET_UP", "resource_ids": ["g"]})
        );
        assert_eq!(v(&wire::CancelOrderRequest { order_id: "CS1".into() }), json!({"order_id": "CS1"}));
    }

    #[test]
    fn ids_that_are_not_plain_never_reach_a_path() {
        assert_eq!(autorenew_path("nat-1_a").unwrap(), "/v2/orders/subscriptions/resources/autorenew/nat-1_a");
        for bad in ["", "a/../b", "a b", "a?x=1", "ü"] {
            let e = autorenew_path(bad).unwrap_err();
            assert_eq!((e.kind, e.refusal), (ErrorKind::InvalidRequest, Some(Refusal::InvalidSpec)), "{bad:?}");
        }
    }

    #[test]
    fn a_reported_failure_is_an_error_classified_by_its_code() {
        assert!(first_failure(&[], None).is_none());
        let detail = |code: &str| wire::ErrorDetail {
            error_code: code.into(),
            error_msg: "not a yearly/monthly resource".into(),
            id: "g".into(),
        };
        let e = first_failure(&[detail("CBC.0100")], Some("r".into())).unwrap();
        assert_eq!(
            (e.kind, e.code.as_deref(), e.request_id.as_deref()),
            (ErrorKind::InvalidRequest, Some("CBC.0100"), Some("r"))
        );
        assert_eq!(first_failure(&[detail("CBC.0151")], None).unwrap().kind, ErrorKind::Auth);
        let e = first_failure(&[detail("")], None).unwrap();
        assert_eq!((e.kind, e.code), (ErrorKind::InvalidRequest, None));
    }
}
