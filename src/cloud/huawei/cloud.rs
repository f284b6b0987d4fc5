//! Huawei Cloud as the operator sees it: its profile and how a spec selects it.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::{
    api::{BillingMode, NatGatewaySpec, Size, WorkloadIdentity},
    cloud::{
        Capacity, CloudError, Credentials, GatewayRef, Provider, Selected,
        endpoints::sent_in_clear,
        identity::{ExchangeError, ExchangeRequest, Temporary, params},
        profile::{Downsize, Profile, SecretKeys},
        registry::{Cloud, Shared},
    },
};

use super::{HuaweiClient, federation};

/// `spec.provider.huawei`.
pub struct Huawei;

pub static PROFILE: Profile = Profile {
    label: "huawei",
    name: "Huawei Cloud",
    sizes,
    billing_modes: &[BillingMode::PayPerUse, BillingMode::Prepaid],
    // `change_to_period` (an order); back to pay-per-use at expiry (BSS `UpdatePeriodToOnDemand`,
    // a setting: no order, the period already paid is used up).
    billing_changes: &[(BillingMode::PayPerUse, BillingMode::Prepaid), (BillingMode::Prepaid, BillingMode::PayPerUse)],
    renewal: true,
    // Tags through NAT v3 (`/v3/{project_id}/nat_gateways/...`): one list-by-tag call per sweep.
    claims: true,
    claim_permissions: "Huawei Cloud IAM: the NAT gateway tag actions",
    downsize: Downsize::InPlace,
    secret_keys: SecretKeys {
        key_id: "accessKey",
        secret: "secretKey",
        token: "securityToken",
        domain_id: Some("domainId"),
    },
    // huaweicloudsdkcore's EnvCredentialProvider.
    env_keys: SecretKeys {
        key_id: "HUAWEICLOUD_SDK_AK",
        secret: "HUAWEICLOUD_SDK_SK",
        token: "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        domain_id: Some("HUAWEICLOUD_SDK_DOMAIN_ID"),
    },
    account: "huawei",
    rate_limits: RATE_LIMITS,
    endpoints: &[
        "https://nat.{region}.myhuaweicloud.com",
        "https://iam.{region}.myhuaweicloud.com",
        "https://iam.myhuaweicloud.com",
        "https://bss.myhuaweicloud.com",
        "https://bss-intl.myhuaweicloud.com",
    ],
};

/// BSS, documented: 10/s per account and API. Huawei publishes no NAT or IAM numbers (its API
/// Gateway answers `APIG.0308` at an account-specific threshold): chosen values, the IAM ones
/// (the project lookup, the two calls of OIDC federation) as low as BSS's.
const RATE_LIMITS: &[(&str, f64)] = &[
    ("ShowNatGateway", 50.0),
    ("ListNatGateways", 50.0),
    ("UpdateNatGateway", 20.0),
    ("UpdateNatGatewayToPeriod", 20.0),
    ("ShowCustomerOrderDetails", 10.0),
    ("ListCustomerOrders", 10.0),
    ("ListPayPerUseCustomerResources", 10.0),
    ("PayOrders", 10.0),
    ("AutoRenewalResources", 10.0),
    ("CancelAutoRenewalResources", 10.0),
    ("UpdatePeriodToOnDemand", 10.0),
    ("CancelCustomerOrder", 10.0),
    ("KeystoneListProjects", 10.0),
    ("CreateTokenWithIdToken", 10.0),
    ("CreateTemporaryAccessKeyByToken", 10.0),
    // Tags (claims): no published number either; reads as the NAT reads, writes as changes.
    ("ShowNatGatewayTag", 50.0),
    ("ListNatGatewayByTag", 50.0),
    ("BatchCreateDeleteNatGatewayTag", 20.0),
];

/// The NAT `spec`, "1" (small) to "5" (enterprise).
fn sizes(size: Size) -> Option<Capacity> {
    let spec = match size {
        Size::Small => "1",
        Size::Medium => "2",
        Size::Large => "3",
        Size::ExtraLarge => "4",
        Size::Enterprise => "5",
    };
    Some(Capacity::Spec(spec.to_owned()))
}

impl Cloud for Huawei {
    fn select(&self, spec: &NatGatewaySpec) -> Option<Selected> {
        let h = spec.provider.huawei()?;
        Some(Selected {
            profile: &PROFILE,
            gateway: GatewayRef { id: spec.gateway_id.clone(), place: spec.provider.clone() },
            endpoint: spec.endpoint.clone(),
            other_endpoints: h.bss_endpoint.iter().map(|b| ("spec.provider.huawei.bssEndpoint", b.clone())).collect(),
        })
    }

    fn admission(&self) -> Vec<(&'static str, &'static Profile)> {
        vec![("has(self.provider.huawei)", &PROFILE)]
    }

    fn connect(
        &self,
        selected: &Selected,
        credentials: Credentials,
        shared: Shared<'_>,
    ) -> Result<Arc<dyn Provider>, CloudError> {
        let bss = selected.other_endpoints.first().map(|(_, b)| b.as_str());
        let client = HuaweiClient::new(
            shared.http.clone(),
            selected.endpoint.as_deref(),
            bss,
            selected.gateway.region(),
            credentials,
        )?;
        // No client, so no call: refused before a byte is sent.
        if let Some((url, sends)) = client.sent_in_clear().filter(|_| !shared.allow_http_credentials) {
            return Err(sent_in_clear(url.as_str().trim_end_matches('/'), sends));
        }
        Ok(Arc::new(client.with_limiter(shared.limiter).with_sweeps(shared.sweep_max_age)))
    }

    /// IAM: `spec.endpoint` when set (it serves IAM for the client too), else the region's.
    fn identity_endpoint(&self, selected: &Selected) -> Option<String> {
        Some(match &selected.endpoint {
            Some(e) => e.clone(),
            None => format!("https://iam.{}.myhuaweicloud.com", selected.gateway.region()),
        })
    }

    /// The identity provider (of its account, when named): every federated user it maps acts in
    /// that account.
    fn principal(&self, identity: &WorkloadIdentity) -> Result<String, CloudError> {
        let h = params(identity.cloud.huawei(), "huawei")?;
        Ok(format!("{}/{}", h.domain_id.as_deref().unwrap_or_default(), h.identity_provider_id))
    }

    fn exchange<'a>(&'a self, request: ExchangeRequest<'a>) -> BoxFuture<'a, Result<Temporary, ExchangeError>> {
        Box::pin(async move {
            let identity = params(request.identity.cloud.huawei(), "huawei")?;
            federation::exchange(&request, identity).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rules() {
        for size in Size::ALL {
            let c = PROFILE.capacity_for(size).expect("every size");
            assert_eq!(PROFILE.size_of(&c), Some(size));
        }
        assert_eq!(PROFILE.capacity_for(Size::Enterprise), Some(Capacity::Spec("5".into())));
        assert_eq!(PROFILE.size_of(&Capacity::Spec("9".into())), None);
        assert!(PROFILE.supports_billing(BillingMode::PayPerUse, BillingMode::Prepaid));
        // Back to pay-per-use is a setting that takes effect at expiry (`UpdatePeriodToOnDemand`).
        assert!(PROFILE.supports_billing(BillingMode::Prepaid, BillingMode::PayPerUse));
        assert!(PROFILE.renewal);
        assert!(PROFILE.refused_resize(&Capacity::Spec("5".into()), &Capacity::Spec("1".into())).is_none());
    }
}
