//! Tencent Cloud as the operator sees it: its two APIs' profiles and how a spec selects them.

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

use super::{TencentApi, TencentClient, sts};

/// `spec.provider.tencent`.
pub struct Tencent;

/// API 3.0 (`ResetNatGatewayConnection`).
pub static V3: Profile = Profile { label: "tencent/V3", downsize: Downsize::InPlace, ..BASE };

/// API 2.0 (`UpgradeNatGateway`), which only upgrades.
pub static V2: Profile = Profile {
    label: "tencent/V2",
    downsize: Downsize::Refused {
        advice: "Tencent Cloud API 2.0 only upgrades NAT gateways, it cannot go from {from} to {to}; set spec.size to {from} or larger, or use spec.provider.tencent.api: V3",
    },
    // API 2.0's reads carry no tags: its gateways are claimed inside one cluster only.
    claims: false,
    ..BASE
};

const BASE: Profile = Profile {
    label: "",
    name: "Tencent Cloud",
    sizes,
    // The APIs report no billing mode (every gateway reads as pay-per-use) and change none.
    billing_modes: &[BillingMode::PayPerUse],
    billing_changes: &[],
    renewal: false,
    // `DescribeNatGateways` answers each gateway's TagSet; the Tag API writes it.
    claims: true,
    claim_permissions: "Tencent Cloud CAM: tag:TagResources and tag:UnTagResources",
    downsize: Downsize::InPlace,
    secret_keys: SecretKeys { key_id: "secretId", secret: "secretKey", token: "token", domain_id: None },
    // tencentcloud-sdk-python's EnvironmentVariableCredential; the token as Tencent's Terraform
    // provider names it.
    env_keys: SecretKeys {
        key_id: "TENCENTCLOUD_SECRET_ID",
        secret: "TENCENTCLOUD_SECRET_KEY",
        token: "TENCENTCLOUD_SECURITY_TOKEN",
        domain_id: None,
    },
    account: "tencent",
    rate_limits: RATE_LIMITS,
    endpoints: &[
        // API 3.0: the nearest region, or a named one.
        "https://vpc.tencentcloudapi.com",
        "https://vpc.{region}.tencentcloudapi.com",
        // API 2.0 (legacy, HTTPS only).
        "https://vpc.api.qcloud.com",
        // STS, where a workload identity's token goes (AssumeRoleWithWebIdentity).
        "https://sts.tencentcloudapi.com",
        "https://sts.{region}.tencentcloudapi.com",
        // The Tag API, where claims are written (TagResources / UnTagResources).
        "https://tag.tencentcloudapi.com",
        "https://tag.{region}.tencentcloudapi.com",
    ],
};

/// Both APIs count against one account limiter, so each lists both APIs' actions. API 3.0,
/// documented: `ResetNatGatewayConnection` 20/s, `DescribeNatGateways` 100/s. API 2.0 publishes
/// no per-action numbers: its actions take those of their API 3.0 counterparts, as the
/// simulator does. STS, documented (tencentcloud.com document 1150/49443):
/// `AssumeRoleWithWebIdentity` 20/s.
const RATE_LIMITS: &[(&str, f64)] = &[
    ("ResetNatGatewayConnection", 20.0),
    ("DescribeNatGateways", 100.0),
    ("UpgradeNatGateway", 20.0),
    ("QueryNatGatewayProductionStatus", 20.0),
    ("DescribeNatGateway", 100.0),
    ("AssumeRoleWithWebIdentity", 20.0),
    // Documented 20/s each: the Tag API (claims, once per gateway and cluster) and STS's
    // GetCallerIdentity (once per client).
    ("TagResources", 20.0),
    ("UnTagResources", 20.0),
    ("GetCallerIdentity", 20.0),
];

/// `maxConcurrent`: Tencent has no sizes above Large.
fn sizes(size: Size) -> Option<Capacity> {
    match size {
        Size::Small => Some(Capacity::Connections(1_000_000)),
        Size::Medium => Some(Capacity::Connections(3_000_000)),
        Size::Large => Some(Capacity::Connections(10_000_000)),
        Size::ExtraLarge | Size::Enterprise => None,
    }
}

impl Cloud for Tencent {
    fn select(&self, spec: &NatGatewaySpec) -> Option<Selected> {
        let t = spec.provider.tencent()?;
        Some(Selected {
            profile: match t.api {
                TencentApi::V2 => &V2,
                TencentApi::V3 => &V3,
            },
            gateway: GatewayRef { id: spec.gateway_id.clone(), place: spec.provider.clone() },
            endpoint: spec.endpoint.clone(),
            other_endpoints: Vec::new(),
        })
    }

    // `api` is defaulted to V3 before admission rules run.
    fn admission(&self) -> Vec<(&'static str, &'static Profile)> {
        vec![
            ("has(self.provider.tencent) && self.provider.tencent.api == 'V2'", &V2),
            ("has(self.provider.tencent) && self.provider.tencent.api == 'V3'", &V3),
        ]
    }

    fn connect(
        &self,
        selected: &Selected,
        credentials: Credentials,
        shared: Shared<'_>,
    ) -> Result<Arc<dyn Provider>, CloudError> {
        let api = if selected.profile == &V2 { TencentApi::V2 } else { TencentApi::V3 };
        let client = TencentClient::new(
            api,
            shared.http.clone(),
            selected.endpoint.as_deref(),
            selected.gateway.region(),
            credentials,
        )?;
        // No client, so no call: refused before a byte is sent.
        if let Some(sends) = client.sent_in_clear().filter(|_| !shared.allow_http_credentials) {
            return Err(sent_in_clear(&client.vpc.base, sends));
        }
        Ok(Arc::new(client.with_limiter(shared.limiter).with_sweeps(shared.sweep_max_age)))
    }

    fn identity_endpoint(&self, selected: &Selected) -> Option<String> {
        Some(sts::endpoint_for(selected.endpoint.as_deref()))
    }

    /// The role: the STS's limits count per (sub-)account, which a role's sessions act as.
    fn principal(&self, identity: &WorkloadIdentity) -> Result<String, CloudError> {
        Ok(params(identity.cloud.tencent(), "tencent")?.role_arn.clone())
    }

    fn exchange<'a>(&'a self, request: ExchangeRequest<'a>) -> BoxFuture<'a, Result<Temporary, ExchangeError>> {
        Box::pin(async move {
            let identity = params(request.identity.cloud.tencent(), "tencent")?;
            sts::assume_role_with_web_identity(&request, identity).await
        })
    }
}

impl TencentApi {
    /// The profile of this API version.
    pub fn profile(self) -> &'static Profile {
        match self {
            TencentApi::V2 => &V2,
            TencentApi::V3 => &V3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rules() {
        for profile in [&V2, &V3] {
            for size in Size::ALL {
                if let Some(c) = profile.capacity_for(size) {
                    assert_eq!(profile.size_of(&c), Some(size), "{profile:?} {size}");
                }
            }
            assert!(!profile.supports_billing(BillingMode::PayPerUse, BillingMode::Prepaid));
            assert!(profile.supports_billing(BillingMode::PayPerUse, BillingMode::PayPerUse));
        }
        assert_eq!(V3.capacity_for(Size::Medium), Some(Capacity::Connections(3_000_000)));
        assert_eq!(V3.capacity_for(Size::ExtraLarge), None);
        let (large, small) = (Capacity::Connections(10_000_000), Capacity::Connections(1_000_000));
        assert!(V2.refused_resize(&large, &small).is_some());
        assert!(V2.refused_resize(&small, &large).is_none());
        assert!(V3.refused_resize(&large, &small).is_none());
    }
}
