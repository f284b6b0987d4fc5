//! Huawei Cloud's part of the `NatGateway` resource: `spec.provider.huawei` and
//! `spec.workloadIdentity.huawei`.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::cloud::{
    CloudError,
    shape::{self, ENDPOINT_RULE, REGION_MESSAGE, check_duration},
};

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct HuaweiProvider {
    /// Region, e.g. `cn-north-4`.
    #[x_kube(validation = Rule::new("self != ''").message("region must not be empty"))]
    #[x_kube(validation = Rule::new(shape::REGION.cel).message(REGION_MESSAGE))]
    #[schemars(length(max = 64))]
    pub region: String,
    /// Project id (32 hexadecimal digits); looked up from the region with IAM when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(shape::ID.cel).message("projectId may hold only letters, digits, '_' and '-'"))]
    #[schemars(length(max = 64))]
    pub project_id: Option<String>,
    /// BSS endpoint for order status: `https://bss.myhuaweicloud.com` (default), the
    /// international `https://bss-intl.myhuaweicloud.com`, or one the installer allow-listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(ENDPOINT_RULE).message("bssEndpoint must be an http:// or https:// URL without user info (@), query (?) or fragment (#)"))]
    #[schemars(length(max = 2048))]
    pub bss_endpoint: Option<String>,
}

impl HuaweiProvider {
    /// The values the clients put into hosts and paths (the CRD's rules, checked before use).
    pub fn check(&self) -> Result<(), CloudError> {
        shape::REGION.check("spec.provider.huawei.region", &self.region, 64)?;
        match &self.project_id {
            Some(project) => shape::ID.check("spec.provider.huawei.projectId", project, 64),
            None => Ok(()),
        }
    }
}

/// Huawei Cloud IAM OpenID Connect federation: an ID token for an unscoped federated token, then
/// temporary access keys.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct HuaweiIdentity {
    /// ID of the IAM identity provider (OpenID Connect, programmatic access) that trusts this
    /// cluster's issuer; its mapping rules decide what the ServiceAccount may do.
    #[x_kube(validation = Rule::new(shape::ID.cel).message("identityProviderId may hold only letters, digits, '_' and '-'"))]
    #[schemars(length(max = 64))]
    pub identity_provider_id: String,
    /// Account (domain) id, sent as `X-Domain-Id` to BSS, as a Secret's `domainId` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(shape::ID.cel).message("domainId may hold only letters, digits, '_' and '-'"))]
    #[schemars(length(max = 64))]
    pub domain_id: Option<String>,
    /// Life of the temporary access keys in seconds, 900 to 86400 as IAM documents; the cloud's
    /// default when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 900, max = 86400))]
    pub duration_seconds: Option<u32>,
}

/// IAM `duration_seconds`: 15 minutes to 24 hours (iam_04_0003).
const DURATION: std::ops::RangeInclusive<u32> = 900..=86400;

impl HuaweiIdentity {
    /// What names the identity, for a refusal that finds none.
    pub const NAMED_BY: &str = "workloadIdentity.huawei.identityProviderId";
    /// What lets a ServiceAccount use it, for a refusal of the subject.
    pub const TRUSTED_BY: &str = "the identity provider's mapping rules";

    /// The ids that reach IAM's paths and BSS's headers (the CRD's rules, checked before use).
    pub fn check(&self) -> Result<(), CloudError> {
        shape::ID.check("spec.workloadIdentity.huawei.identityProviderId", &self.identity_provider_id, 64)?;
        if let Some(domain) = &self.domain_id {
            shape::ID.check("spec.workloadIdentity.huawei.domainId", domain, 64)?;
        }
        check_duration("spec.workloadIdentity.huawei.durationSeconds", self.duration_seconds, DURATION)
    }
}
