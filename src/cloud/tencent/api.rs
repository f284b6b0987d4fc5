//! Tencent Cloud's part of the `NatGateway` resource: `spec.provider.tencent` and
//! `spec.workloadIdentity.tencent`.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cloud::{
    CloudError,
    shape::{self, REGION_MESSAGE, Shape, check_duration},
};

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct TencentProvider {
    /// Region, e.g. `ap-guangzhou`.
    #[x_kube(validation = Rule::new("self != ''").message("region must not be empty"))]
    #[x_kube(validation = Rule::new(shape::REGION.cel).message(REGION_MESSAGE))]
    #[schemars(length(max = 64))]
    pub region: String,
    /// VPC of the gateway, e.g. `vpc-xdf54d`; API 2.0 needs it for `UpgradeNatGateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(shape::ID.cel).message("vpcId may hold only letters, digits, '_' and '-'"))]
    #[schemars(length(max = 64))]
    pub vpc_id: Option<String>,
    /// `V3` (default, current accounts) or `V2` (the legacy `vpc.api.qcloud.com`).
    #[serde(default)]
    pub api: TencentApi,
}

impl TencentProvider {
    /// The values the clients put into hosts and requests (the CRD's rules, checked before use).
    pub fn check(&self) -> Result<(), CloudError> {
        shape::REGION.check("spec.provider.tencent.region", &self.region, 64)?;
        match &self.vpc_id {
            Some(vpc) => shape::ID.check("spec.provider.tencent.vpcId", vpc, 64),
            None => Ok(()),
        }
    }
}

#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum TencentApi {
    #[default]
    V3,
    V2,
}

/// A CAM name (identity provider, role): letters, digits and `+=,.@_-`.
const CAM_NAME: Shape = Shape {
    cel: "self.matches('^[A-Za-z0-9+=,.@_-]+$')",
    test: |v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)),
    says: "a CAM name: letters, digits and +=,.@_-",
};

/// `qcs::cam::uin/<digits>:roleName/<CAM name>`.
const ROLE_ARN: Shape = Shape {
    cel: "self.matches('^qcs::cam::uin/[0-9]+:roleName/[A-Za-z0-9+=,.@_-]+$')",
    test: |v| {
        let Some((uin, role)) = v.strip_prefix("qcs::cam::uin/").and_then(|r| r.split_once(":roleName/")) else {
            return false;
        };
        !uin.is_empty() && uin.bytes().all(|b| b.is_ascii_digit()) && CAM_NAME.fits(role, 128)
    },
    says: "qcs::cam::uin/<account uin>:roleName/<role name>",
};

/// Tencent Cloud STS `AssumeRoleWithWebIdentity`.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct TencentIdentity {
    /// Name of the OIDC identity provider in CAM that trusts this cluster's issuer.
    #[x_kube(validation = Rule::new(CAM_NAME.cel).message("providerId must be a CAM identity provider name: letters, digits and +=,.@_-"))]
    #[schemars(length(max = 128))]
    pub provider_id: String,
    /// The role to assume, e.g. `qcs::cam::uin/100000000001:roleName/natgw-platform`.
    #[x_kube(validation = Rule::new(ROLE_ARN.cel).message("roleArn must look like qcs::cam::uin/<account uin>:roleName/<role name>"))]
    #[schemars(length(max = 256))]
    pub role_arn: String,
    /// Life of the temporary credentials in seconds; the cloud's default (7200) when omitted.
    /// At most 43200, as the STS documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 43200))]
    pub duration_seconds: Option<u32>,
}

/// STS `DurationSeconds`: at most 43200 (AssumeRoleWithWebIdentity, tencentcloud.com document
/// 1150/49454).
const DURATION: std::ops::RangeInclusive<u32> = 1..=43200;

impl TencentIdentity {
    /// What names the identity, for a refusal that finds none.
    pub const NAMED_BY: &str = "workloadIdentity.tencent.roleArn and providerId";
    /// What lets a ServiceAccount assume it, for a refusal of the subject.
    pub const TRUSTED_BY: &str = "the role's trust policy";

    /// The values the STS request carries (the CRD's rules, checked before use).
    pub fn check(&self) -> Result<(), CloudError> {
        CAM_NAME.check("spec.workloadIdentity.tencent.providerId", &self.provider_id, 128)?;
        ROLE_ARN.check("spec.workloadIdentity.tencent.roleArn", &self.role_arn, 256)?;
        check_duration("spec.workloadIdentity.tencent.durationSeconds", self.duration_seconds, DURATION)
    }
}
