//! `natgw-operator import`: lists the NAT gateways of one account and region with the cloud's
//! list call (pages of 100 or 2,000, never one read per gateway) and turns each into a
//! NatGateway manifest, ready to commit to a GitOps repository.
//!
//! Adopting a fleet starts with watching it: the manifests say `managementPolicy: Observe`
//! unless asked otherwise, and carry the size and billing mode the cloud reports, so applying
//! them changes nothing.

use kube::api::ObjectMeta;

use crate::{
    api::{Billing, BillingMode, NatGateway, NatGatewaySpec, PeriodUnit, Prepaid, Renewal},
    cloud::{CloudError, Connector, Credentials, Listed, Observed, Place, endpoints::is_object_name},
};

/// Stands in for the gateway id in the spec every manifest starts from; replaced per gateway.
pub const TEMPLATE_GATEWAY_ID: &str = "template";

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    pub manifests: Vec<NatGateway>,
    /// Gateways listed but not turned into a manifest, with the reason.
    pub skipped: Vec<Skipped>,
    /// List calls made (pages read).
    pub pages: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub id: String,
    pub why: String,
}

/// Lists the gateways where `template` points (its provider's region, Tencent VPC, Huawei
/// project and endpoint) with `credentials`, and builds their manifests.
pub async fn import(
    connector: &dyn Connector,
    template: &NatGatewaySpec,
    namespace: Option<&str>,
    credentials: Credentials,
) -> Result<Imported, CloudError> {
    let selected = connector.select(template)?;
    let provider = connector.connect(template, credentials)?;
    let place = Place {
        region: selected.gateway.region.clone(),
        vpc_id: selected.gateway.vpc_id.clone(),
        project_id: selected.gateway.project_id.clone(),
    };
    let listing = provider.list(&place).await?;
    let (manifests, skipped) = manifests(template, namespace, selected.profile, &listing.gateways);
    Ok(Imported { manifests, skipped, pages: listing.pages })
}

/// One manifest per listed gateway, in the cloud's order; a gateway whose cloud size no
/// `spec.size` stands for, or whose id makes no object name, is skipped with the reason.
pub fn manifests(
    template: &NatGatewaySpec,
    namespace: Option<&str>,
    profile: &crate::cloud::Profile,
    listed: &[Listed],
) -> (Vec<NatGateway>, Vec<Skipped>) {
    let mut manifests: Vec<NatGateway> = Vec::new();
    let mut skipped = Vec::new();
    for gateway in listed {
        let skip = |why: String| Skipped { id: gateway.id.clone(), why };
        let Some(size) = profile.size_of(&gateway.observed.capacity) else {
            skipped.push(skip(format!(
                "its size ({:?}) is none of the sizes spec.size names for {}",
                gateway.observed.capacity, profile.name
            )));
            continue;
        };
        let name = object_name(&gateway.id);
        if !is_object_name(&name) {
            skipped.push(skip(format!("its id makes no Kubernetes object name ({name:?})")));
            continue;
        }
        if manifests.iter().any(|m| m.metadata.name.as_deref() == Some(name.as_str())) {
            skipped.push(skip(format!("another gateway's manifest is already named {name}")));
            continue;
        }
        let mut spec = template.clone();
        spec.gateway_id = gateway.id.clone();
        spec.size = size;
        spec.billing = billing(&gateway.observed);
        if let (Some(t), Some(vpc)) = (spec.provider.tencent.as_mut(), &gateway.vpc_id) {
            t.vpc_id = Some(vpc.clone());
        }
        manifests.push(NatGateway {
            metadata: ObjectMeta { name: Some(name), namespace: namespace.map(str::to_owned), ..Default::default() },
            spec,
            status: None,
        });
    }
    (manifests, skipped)
}

/// The billing a manifest declares so that applying it changes nothing. A yearly/monthly
/// gateway's period is not in the answer; it matters only for a change from pay-per-use, which an
/// already prepaid gateway never makes. Its renewal is kept: `autoRenew` as the cloud reports it,
/// and a gateway set to turn pay-per-use at expiry declares pay-per-use. `autoPay: false`: an
/// order a later resize opens waits for a person unless the manifest is changed.
fn billing(observed: &Observed) -> Option<Billing> {
    let renewal = observed.subscription.map(|s| s.renewal);
    match (observed.billing, renewal) {
        (BillingMode::PayPerUse, _) | (BillingMode::Prepaid, Some(Renewal::PayPerUseAtExpiry)) => None,
        (BillingMode::Prepaid, renewal) => Some(Billing {
            mode: BillingMode::Prepaid,
            prepaid: Some(Prepaid {
                period_unit: PeriodUnit::Month,
                periods: 1,
                auto_renew: renewal == Some(Renewal::Auto),
                auto_pay: false,
            }),
        }),
    }
}

/// The object name for a gateway id: Kubernetes names are lowercase, and ids use `_` too.
fn object_name(id: &str) -> String {
    id.to_ascii_lowercase().replace('_', "-")
}

/// The manifests as one YAML stream, each document preceded by `---`.
pub fn to_yaml(manifests: &[NatGateway]) -> String {
    manifests
        .iter()
        .map(|m| {
            let mut value = serde_json::to_value(m).unwrap_or_default();
            // `status: null` is noise in a manifest someone commits.
            if let Some(o) = value.as_object_mut() {
                o.remove("status");
            }
            format!("---\n{}", serde_yaml::to_string(&value).unwrap_or_default())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Capacity, GatewayState, Observed, huawei, tencent};

    fn template(provider: serde_json::Value) -> NatGatewaySpec {
        serde_json::from_value(serde_json::json!({
            "gatewayId": TEMPLATE_GATEWAY_ID, "provider": provider, "size": "Small",
            "credentialsSecretRef": {"name": "cloud-creds"}, "managementPolicy": "Observe",
        }))
        .unwrap()
    }

    fn listed(id: &str, capacity: Capacity, billing: BillingMode, vpc: Option<&str>) -> Listed {
        Listed {
            id: id.into(),
            name: "console name".into(),
            vpc_id: vpc.map(str::to_owned),
            observed: Observed {
                capacity,
                billing,
                state: GatewayState::Ready,
                raw_state: "AVAILABLE".into(),
                subscription: None,
            },
        }
    }

    #[test]
    fn each_gateway_becomes_an_observed_manifest_at_its_size() {
        let t = template(serde_json::json!({"tencent": {"region": "ap-guangzhou"}}));
        let gateways = [
            listed("nat-AB_1", Capacity::Connections(3_000_000), BillingMode::PayPerUse, Some("vpc-1")),
            listed("nat-2", Capacity::Connections(10_000_000), BillingMode::PayPerUse, Some("vpc-2")),
        ];
        let (manifests, skipped) = manifests(&t, Some("platform"), &tencent::V3, &gateways);
        assert!(skipped.is_empty(), "{skipped:?}");
        let shown: Vec<_> = manifests
            .iter()
            .map(|m| {
                let tc = m.spec.provider.tencent.as_ref().unwrap();
                (
                    m.metadata.name.clone().unwrap(),
                    m.metadata.namespace.clone().unwrap(),
                    m.spec.gateway_id.clone(),
                    m.spec.size.to_string(),
                    tc.vpc_id.clone().unwrap(),
                    m.spec.management_policy,
                    m.spec.credentials_secret_ref.clone().unwrap().name,
                )
            })
            .collect();
        use crate::api::ManagementPolicy::Observe;
        assert_eq!(
            shown,
            [
                (
                    "nat-ab-1".into(),
                    "platform".into(),
                    "nat-AB_1".into(),
                    "Medium".into(),
                    "vpc-1".into(),
                    Observe,
                    "cloud-creds".into()
                ),
                (
                    "nat-2".into(),
                    "platform".into(),
                    "nat-2".into(),
                    "Large".into(),
                    "vpc-2".into(),
                    Observe,
                    "cloud-creds".into()
                ),
            ]
        );
    }

    #[test]
    fn unknown_sizes_and_clashing_names_are_skipped_with_the_reason() {
        let t = template(serde_json::json!({"tencent": {"region": "ap-guangzhou"}}));
        let gateways = [
            listed("nat-1", Capacity::Connections(2_000_000), BillingMode::PayPerUse, None),
            listed("nat-x", Capacity::Connections(1_000_000), BillingMode::PayPerUse, None),
            listed("NAT-X", Capacity::Connections(1_000_000), BillingMode::PayPerUse, None),
        ];
        let (manifests, skipped) = manifests(&t, None, &tencent::V3, &gateways);
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].metadata.namespace, None);
        let ids: Vec<&str> = skipped.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["nat-1", "NAT-X"]);
        assert!(skipped[0].why.contains("Connections(2000000)"), "{}", skipped[0].why);
        assert!(skipped[1].why.contains("already named nat-x"), "{}", skipped[1].why);
    }

    #[test]
    fn prepaid_gateways_keep_their_billing_and_never_pay_by_themselves() {
        let t = template(serde_json::json!({"huawei": {"region": "cn-north-4", "projectId": "p1"}}));
        let gateways = [
            listed("5e1a-prepaid", Capacity::Spec("4".into()), BillingMode::Prepaid, Some("router")),
            listed("5e1a-ppu", Capacity::Spec("1".into()), BillingMode::PayPerUse, None),
        ];
        let (manifests, skipped) = manifests(&t, Some("ns"), &huawei::PROFILE, &gateways);
        assert!(skipped.is_empty());
        let billing = manifests[0].spec.billing.clone().unwrap();
        assert_eq!((billing.mode, billing.prepaid.unwrap().auto_pay), (BillingMode::Prepaid, false));
        assert_eq!(manifests[0].spec.size.to_string(), "ExtraLarge");
        assert_eq!(manifests[1].spec.billing, None);
        assert_eq!(manifests[0].spec.provider.huawei.as_ref().unwrap().project_id.as_deref(), Some("p1"));
    }

    /// Applying an imported manifest changes nothing, renewal included.
    #[test]
    fn prepaid_gateways_keep_their_renewal() {
        let t = template(serde_json::json!({"huawei": {"region": "cn-north-4"}}));
        let renewing = |id: &str, renewal| {
            let mut g = listed(id, Capacity::Spec("1".into()), BillingMode::Prepaid, None);
            g.observed.subscription = Some(crate::cloud::Subscription { expires_at: None, renewal });
            g
        };
        let gateways = [
            renewing("auto", Renewal::Auto),
            renewing("manual", Renewal::Manual),
            renewing("at-expiry", Renewal::PayPerUseAtExpiry),
        ];
        let (manifests, _) = manifests(&t, None, &huawei::PROFILE, &gateways);
        let auto_renew =
            |i: usize| manifests[i].spec.billing.as_ref().and_then(|b| b.prepaid.as_ref()).map(|p| p.auto_renew);
        assert_eq!((auto_renew(0), auto_renew(1)), (Some(true), Some(false)));
        assert_eq!(manifests[2].spec.billing, None, "pay-per-use at expiry is declared pay-per-use");
    }

    #[test]
    fn the_yaml_parses_back_to_the_manifests() {
        let t = template(serde_json::json!({"huawei": {"region": "cn-north-4"}}));
        let gateways = [listed("gw-1", Capacity::Spec("2".into()), BillingMode::PayPerUse, None)];
        let (manifests, _) = manifests(&t, Some("ns"), &huawei::PROFILE, &gateways);
        let yaml = to_yaml(&manifests);
        assert!(yaml.starts_with("---\napiVersion: natgw.io/v1alpha1\nkind: NatGateway\n"), "{yaml}");
        assert!(!yaml.contains("status"), "{yaml}");
        let back: Vec<NatGateway> =
            serde_yaml::Deserializer::from_str(&yaml).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].spec, manifests[0].spec);
    }
}
