//! `natgw-operator import`: lists the NAT gateways of one account and region with the cloud's
//! list call (pages of 100 or 2,000, never one read per gateway) and turns each into a
//! NatGateway manifest, ready to commit to a GitOps repository.
//!
//! Adopting a fleet starts with watching it: the manifests say `managementPolicy: Observe`
//! unless asked otherwise, and carry the size and billing mode the cloud reports, so applying
//! them changes nothing.
//!
//! Nor may applying them change what is already there: a gateway some NatGateway in the cluster
//! already declares gets no manifest, and a name already taken gets a numbered one that is free.

use std::collections::BTreeSet;

use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, ObjectMeta},
};

use crate::{
    api::{Billing, BillingMode, NatGateway, NatGatewaySpec, PeriodUnit, Prepaid, Renewal},
    cloud::{CloudError, Connector, Credentials, Listed, Observed, Selected, shape::is_object_name},
};

/// Stands in for the gateway id in the spec every manifest starts from; replaced per gateway.
pub const TEMPLATE_GATEWAY_ID: &str = "template";

/// The longest object name (a DNS subdomain).
const MAX_NAME: usize = 253;

/// The result of an import.
#[derive(Debug, Default)]
pub struct Imported {
    pub manifests: Vec<NatGateway>,
    /// Gateways listed but not turned into a manifest, with the reason.
    pub skipped: Vec<Skipped>,
    /// Manifests not named after their gateway because that name was taken.
    pub renamed: Vec<Renamed>,
    /// List calls made (pages read).
    pub pages: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub id: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub id: String,
    /// The name the gateway id makes, already taken.
    pub taken: String,
    pub name: String,
}

/// What the cluster already holds, so that applying the manifests overwrites none of it.
/// [`Existing::default`] knows nothing (`--offline`).
#[derive(Debug, Default)]
pub struct Existing {
    /// The gateway each NatGateway names, with that NatGateway's `namespace/name`.
    declared: Vec<(Selected, String)>,
    /// NatGateway names taken in the manifests' namespace.
    taken: BTreeSet<String>,
}

impl Existing {
    /// From `natgateways` (listed in every namespace, or only in `namespace`), for manifests
    /// going to `namespace`. A spec no cloud serves declares nothing.
    pub fn new(natgateways: &[NatGateway], namespace: &str, connector: &dyn Connector) -> Existing {
        let declared =
            natgateways.iter().filter_map(|o| Some((connector.select(&o.spec).ok()?, qualified(o)))).collect();
        let taken = natgateways.iter().filter(|o| o.namespace().as_deref() == Some(namespace)).map(|o| o.name_any());
        Existing { declared, taken: taken.collect() }
    }

    /// The NatGateways (`namespace/name`) that declare gateway `id` where `selected` points.
    fn declaring(&self, selected: &Selected, id: &str) -> Vec<&str> {
        self.declared.iter().filter(|(s, _)| same_gateway(s, selected, id)).map(|(_, name)| name.as_str()).collect()
    }
}

/// Whether `declared` names gateway `id` of `place`'s cloud and region: what one gateway is to
/// the controller's ownership claim (src/controller/ownership.rs), whatever the API version.
fn same_gateway(declared: &Selected, place: &Selected, id: &str) -> bool {
    declared.profile.account == place.profile.account
        && declared.gateway.region() == place.gateway.region()
        && declared.gateway.id == id
}

fn qualified(o: &NatGateway) -> String {
    format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any())
}

/// Where [`Cluster::existing`] found the NatGateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Searched {
    AllNamespaces,
    /// Only the manifests' namespace: listing every namespace was forbidden.
    Namespace,
    /// Nowhere: the NatGateway CRD is not installed, so none exists yet.
    NoCrd,
}

/// The cluster could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no cluster to check for NatGateways that already declare these gateways ({0}); set KUBECONFIG to the kubeconfig of the cluster the manifests are for, or pass --offline to skip the check"
    )]
    NoKubeconfig(kube::config::InferConfigError),
    #[error(
        "cannot reach the Kubernetes API at {server} to check for NatGateways that already declare these gateways ({source}); point KUBECONFIG (or its current context) at the cluster the manifests are for, or pass --offline to skip the check"
    )]
    Unreachable { server: String, source: kube::Error },
    #[error(
        "may not list NatGateways in namespace {namespace} ({source}); run import as someone who may list natgateways.natgw.io there, or pass --offline to skip the check"
    )]
    Forbidden { namespace: String, source: kube::Error },
}

/// The cluster the manifests are for: the current kubeconfig's, found as kubectl finds it.
pub struct Cluster {
    pub client: Client,
    /// Its API server, for messages.
    server: String,
}

impl Cluster {
    pub async fn connect() -> Result<Cluster, ClusterError> {
        let config = kube::Config::infer().await.map_err(ClusterError::NoKubeconfig)?;
        let server = config.cluster_url.to_string();
        let client =
            Client::try_from(config).map_err(|e| ClusterError::Unreachable { server: server.clone(), source: e })?;
        Ok(Cluster { client, server })
    }

    /// The NatGateways of the cluster, for manifests going to `namespace`: every namespace's (a
    /// gateway may be declared anywhere), or `namespace`'s alone when that is all the caller may
    /// list.
    pub async fn existing(
        &self,
        namespace: &str,
        connector: &dyn Connector,
    ) -> Result<(Existing, Searched), ClusterError> {
        let all = Api::<NatGateway>::all(self.client.clone()).list(&ListParams::default()).await;
        let (natgateways, searched) = match all {
            Ok(list) => (list.items, Searched::AllNamespaces),
            Err(kube::Error::Api(s)) if s.code == 404 => (Vec::new(), Searched::NoCrd),
            Err(kube::Error::Api(s)) if s.code == 403 => (self.in_namespace(namespace).await?, Searched::Namespace),
            Err(e) => return Err(self.unreachable(e)),
        };
        Ok((Existing::new(&natgateways, namespace, connector), searched))
    }

    async fn in_namespace(&self, namespace: &str) -> Result<Vec<NatGateway>, ClusterError> {
        match Api::<NatGateway>::namespaced(self.client.clone(), namespace).list(&ListParams::default()).await {
            Ok(list) => Ok(list.items),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                Err(ClusterError::Forbidden { namespace: namespace.to_owned(), source: kube::Error::Api(s) })
            }
            Err(e) => Err(self.unreachable(e)),
        }
    }

    fn unreachable(&self, source: kube::Error) -> ClusterError {
        ClusterError::Unreachable { server: self.server.clone(), source }
    }
}

/// Lists the gateways where `template` points (its provider: the region and the narrower scopes
/// its cloud has; and its endpoint) with `credentials`, and builds the manifests of those
/// `existing` does not already declare.
pub async fn import(
    connector: &dyn Connector,
    template: &NatGatewaySpec,
    namespace: Option<&str>,
    credentials: Credentials,
    existing: &Existing,
) -> Result<Imported, CloudError> {
    let selected = connector.select(template)?;
    let provider = connector.connect(template, credentials)?;
    let listing = provider.list(&selected.gateway.place).await?;
    let imported = manifests(template, namespace, &selected, &listing.gateways, existing);
    Ok(Imported { pages: listing.pages, ..imported })
}

/// One manifest per listed gateway, in the cloud's order, named after its id or, where that name
/// is taken (in the cluster or by an earlier manifest), the first free numbered one. Skipped with
/// the reason: a gateway a NatGateway of `existing` declares, one whose cloud size no `spec.size`
/// stands for, or whose id makes no object name.
pub fn manifests(
    template: &NatGatewaySpec,
    namespace: Option<&str>,
    selected: &Selected,
    listed: &[Listed],
    existing: &Existing,
) -> Imported {
    let mut imported = Imported::default();
    let mut taken = existing.taken.clone();
    for gateway in listed {
        let spec = match spec_for(template, selected, gateway, existing) {
            Ok(spec) => spec,
            Err(why) => {
                imported.skipped.push(Skipped { id: gateway.id.clone(), why });
                continue;
            }
        };
        let base = object_name(&gateway.id);
        let name = free_name(&base, &taken);
        if name != base {
            imported.renamed.push(Renamed { id: gateway.id.clone(), taken: base, name: name.clone() });
        }
        taken.insert(name.clone());
        imported.manifests.push(NatGateway {
            metadata: ObjectMeta { name: Some(name), namespace: namespace.map(str::to_owned), ..Default::default() },
            spec,
            status: None,
        });
    }
    imported
}

/// The spec of `gateway`'s manifest, or why it gets none.
fn spec_for(
    template: &NatGatewaySpec,
    selected: &Selected,
    gateway: &Listed,
    existing: &Existing,
) -> Result<NatGatewaySpec, String> {
    let declaring = existing.declaring(selected, &gateway.id);
    if !declaring.is_empty() {
        return Err(format!("already declared by NatGateway {}", declaring.join(", ")));
    }
    let profile = selected.profile;
    let Some(size) = profile.size_of(&gateway.observed.capacity) else {
        return Err(format!(
            "its size ({:?}) is none of the sizes spec.size names for {}",
            gateway.observed.capacity, profile.name
        ));
    };
    let name = object_name(&gateway.id);
    if !is_object_name(&name) {
        return Err(format!("its id makes no Kubernetes object name ({name:?})"));
    }
    let mut spec = template.clone();
    spec.gateway_id = gateway.id.clone();
    spec.size = size;
    spec.billing = billing(&gateway.observed);
    spec.provider = gateway.place.clone();
    Ok(spec)
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

/// `base` when it is not `taken`, else the first free of `base-2`, `base-3`, …: never an existing
/// name, which `kubectl apply` would overwrite.
fn free_name(base: &str, taken: &BTreeSet<String>) -> String {
    if !taken.contains(base) {
        return base.to_owned();
    }
    let mut n = 2;
    loop {
        let name = numbered(base, n);
        if !taken.contains(&name) {
            return name;
        }
        n += 1;
    }
}

/// `base-n`, `base` cut short where the suffix would make the name too long (an object name is
/// ASCII, so any cut is a character boundary) and never ending in `-` or `.`.
fn numbered(base: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let stem = &base[..base.len().min(MAX_NAME - suffix.len())];
    format!("{}{suffix}", stem.trim_end_matches(['-', '.']))
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
    use crate::{
        api::ProviderSpec,
        cloud::{Capacity, GatewayState, Observed, connect::CloudConnector},
        testing::{self, natgw},
    };

    fn template(provider: serde_json::Value) -> NatGatewaySpec {
        serde_json::from_value(serde_json::json!({
            "gatewayId": TEMPLATE_GATEWAY_ID, "provider": provider, "size": "Small",
            "credentialsSecretRef": {"name": "cloud-creds"}, "managementPolicy": "Observe",
        }))
        .unwrap()
    }

    fn clouds() -> CloudConnector {
        CloudConnector::new(reqwest::Client::new())
    }

    /// The manifests of `gateways` where `t` points, with `existing` in the cluster.
    fn imported(t: &NatGatewaySpec, ns: Option<&str>, gateways: &[Listed], existing: &Existing) -> Imported {
        manifests(t, ns, &clouds().select(t).unwrap(), gateways, existing)
    }

    /// A gateway as `t`'s cloud lists it: Tencent's names its VPC, Huawei's its router (no part of
    /// a spec).
    fn listed(t: &NatGatewaySpec, id: &str, capacity: Capacity, billing: BillingMode, vpc: Option<&str>) -> Listed {
        let mut place = t.provider.clone();
        if let (ProviderSpec::Tencent(tc), Some(vpc)) = (&mut place, vpc) {
            tc.vpc_id = Some(vpc.to_owned());
        }
        Listed {
            id: id.into(),
            name: "console name".into(),
            place,
            observed: Observed {
                capacity,
                billing,
                state: GatewayState::Ready,
                raw_state: "AVAILABLE".into(),
                subscription: None,
                claim: Default::default(),
            },
        }
    }

    #[test]
    fn each_gateway_becomes_an_observed_manifest_at_its_size() {
        let t = template(serde_json::json!({"tencent": {"region": "ap-guangzhou"}}));
        let gateways = [
            listed(&t, "nat-AB_1", Capacity::Connections(3_000_000), BillingMode::PayPerUse, Some("vpc-1")),
            listed(&t, "nat-2", Capacity::Connections(10_000_000), BillingMode::PayPerUse, Some("vpc-2")),
        ];
        let Imported { manifests, skipped, .. } = imported(&t, Some("platform"), &gateways, &Existing::default());
        assert!(skipped.is_empty(), "{skipped:?}");
        let shown: Vec<_> = manifests
            .iter()
            .map(|m| {
                let tc = m.spec.provider.tencent().unwrap();
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
    fn unknown_sizes_and_unnamable_ids_are_skipped_with_the_reason() {
        let t = template(serde_json::json!({"tencent": {"region": "ap-guangzhou"}}));
        let gateways = [
            listed(&t, "nat-1", Capacity::Connections(2_000_000), BillingMode::PayPerUse, None),
            listed(&t, "nat-x", Capacity::Connections(1_000_000), BillingMode::PayPerUse, None),
            listed(&t, "nat/x", Capacity::Connections(1_000_000), BillingMode::PayPerUse, None),
        ];
        let Imported { manifests, skipped, .. } = imported(&t, None, &gateways, &Existing::default());
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].metadata.namespace, None);
        let ids: Vec<&str> = skipped.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["nat-1", "nat/x"]);
        assert!(skipped[0].why.contains("Connections(2000000)"), "{}", skipped[0].why);
        assert!(skipped[1].why.contains("no Kubernetes object name"), "{}", skipped[1].why);
    }

    /// [`testing::tencent_spec`] through API `api`.
    fn tencent_spec(gateway: &str, region: &str, api: &str) -> serde_json::Value {
        let mut spec = testing::tencent_spec(gateway, region, "creds");
        spec["provider"]["tencent"]["api"] = api.into();
        spec
    }

    /// Names taken in the target namespace, by the cluster or by an earlier manifest, are never
    /// reused; names in other namespaces do not count.
    #[test]
    fn a_taken_name_gets_the_first_free_number() {
        let t = template(serde_json::json!({"tencent": {"region": "ap-guangzhou"}}));
        let in_cluster = [
            natgw("platform", "nat-x", tencent_spec("nat-other", "ap-guangzhou", "V3")),
            natgw("platform", "nat-x-2", tencent_spec("nat-other-2", "ap-guangzhou", "V3")),
            natgw("elsewhere", "nat-y", tencent_spec("nat-other-3", "ap-guangzhou", "V3")),
        ];
        let existing = Existing::new(&in_cluster, "platform", &clouds());
        let small = |id| listed(&t, id, Capacity::Connections(1_000_000), BillingMode::PayPerUse, None);
        let gateways = [small("nat-x"), small("NAT-X"), small("nat-y")];
        let Imported { manifests, skipped, renamed, .. } = imported(&t, Some("platform"), &gateways, &existing);
        assert!(skipped.is_empty(), "{skipped:?}");
        let names: Vec<_> = manifests.iter().map(|m| (m.spec.gateway_id.as_str(), m.name_any())).collect();
        assert_eq!(names, [("nat-x", "nat-x-3".into()), ("NAT-X", "nat-x-4".into()), ("nat-y", "nat-y".into())]);
        let renamed: Vec<_> = renamed.iter().map(|r| (r.id.as_str(), r.taken.as_str(), r.name.as_str())).collect();
        assert_eq!(renamed, [("nat-x", "nat-x", "nat-x-3"), ("NAT-X", "nat-x", "nat-x-4")]);
    }

    #[test]
    fn numbered_names_stay_object_names() {
        let taken = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(free_name("nat-1", &taken(&[])), "nat-1");
        assert_eq!(free_name("nat-1", &taken(&["nat-1", "nat-1-2", "nat-1-3"])), "nat-1-4");
        let long = format!("{}-{}", "a".repeat(250), "b".repeat(2));
        let name = free_name(&long, &taken(&[&long]));
        // Cut to 251 characters, whose trailing `-` goes too.
        assert_eq!(name, format!("{}-2", "a".repeat(250)));
        assert!(is_object_name(&name) && name.len() <= MAX_NAME, "{name}");
        let dotted = format!("{}.{}", "a".repeat(250), "b".repeat(2));
        let name = free_name(&dotted, &taken(&[&dotted]));
        assert!(is_object_name(&name) && name.len() == 252, "{name}");
    }

    /// A gateway is one gateway to import whatever namespace, name, API version or policy
    /// declares it; another region or cloud is another gateway.
    #[test]
    fn gateways_declared_in_the_cluster_get_no_manifest() {
        let t = template(serde_json::json!({"tencent": {"region": "ap-guangzhou"}}));
        let huawei = serde_json::json!({
            "gatewayId": "nat-3", "provider": {"huawei": {"region": "ap-guangzhou", "projectId": "p"}},
            "size": "Small", "credentialsSecretRef": {"name": "creds"},
        });
        let in_cluster = [
            natgw("team-a", "owner", tencent_spec("nat-1", "ap-guangzhou", "V2")),
            natgw("platform", "watcher", tencent_spec("nat-1", "ap-guangzhou", "V3")),
            natgw("platform", "shanghai", tencent_spec("nat-2", "ap-shanghai", "V3")),
            natgw("platform", "on-huawei", huawei),
        ];
        let existing = Existing::new(&in_cluster, "platform", &clouds());
        let small = |id| listed(&t, id, Capacity::Connections(1_000_000), BillingMode::PayPerUse, None);
        let gateways = [small("nat-1"), small("nat-2"), small("nat-3")];
        let Imported { manifests, skipped, .. } = imported(&t, Some("platform"), &gateways, &existing);
        let ids: Vec<&str> = manifests.iter().map(|m| m.spec.gateway_id.as_str()).collect();
        assert_eq!(ids, ["nat-2", "nat-3"]);
        let why = "already declared by NatGateway team-a/owner, platform/watcher";
        assert_eq!(skipped, [Skipped { id: "nat-1".into(), why: why.into() }]);
    }

    #[test]
    fn prepaid_gateways_keep_their_billing_and_never_pay_by_themselves() {
        let t = template(serde_json::json!({"huawei": {"region": "cn-north-4", "projectId": "p1"}}));
        let gateways = [
            listed(&t, "5e1a-prepaid", Capacity::Spec("4".into()), BillingMode::Prepaid, Some("router")),
            listed(&t, "5e1a-ppu", Capacity::Spec("1".into()), BillingMode::PayPerUse, None),
        ];
        let Imported { manifests, skipped, .. } = imported(&t, Some("ns"), &gateways, &Existing::default());
        assert!(skipped.is_empty());
        let billing = manifests[0].spec.billing.clone().unwrap();
        assert_eq!((billing.mode, billing.prepaid.unwrap().auto_pay), (BillingMode::Prepaid, false));
        assert_eq!(manifests[0].spec.size.to_string(), "ExtraLarge");
        assert_eq!(manifests[1].spec.billing, None);
        assert_eq!(manifests[0].spec.provider.huawei().unwrap().project_id.as_deref(), Some("p1"));
    }

    /// Applying an imported manifest changes nothing, renewal included.
    #[test]
    fn prepaid_gateways_keep_their_renewal() {
        let t = template(serde_json::json!({"huawei": {"region": "cn-north-4"}}));
        let renewing = |id: &str, renewal| {
            let mut g = listed(&t, id, Capacity::Spec("1".into()), BillingMode::Prepaid, None);
            g.observed.subscription = Some(crate::cloud::Subscription { expires_at: None, renewal });
            g
        };
        let gateways = [
            renewing("auto", Renewal::Auto),
            renewing("manual", Renewal::Manual),
            renewing("at-expiry", Renewal::PayPerUseAtExpiry),
        ];
        let Imported { manifests, .. } = imported(&t, None, &gateways, &Existing::default());
        let auto_renew =
            |i: usize| manifests[i].spec.billing.as_ref().and_then(|b| b.prepaid.as_ref()).map(|p| p.auto_renew);
        assert_eq!((auto_renew(0), auto_renew(1)), (Some(true), Some(false)));
        assert_eq!(manifests[2].spec.billing, None, "pay-per-use at expiry is declared pay-per-use");
    }

    #[test]
    fn the_yaml_parses_back_to_the_manifests() {
        let t = template(serde_json::json!({"huawei": {"region": "cn-north-4"}}));
        let gateways = [listed(&t, "gw-1", Capacity::Spec("2".into()), BillingMode::PayPerUse, None)];
        let Imported { manifests, .. } = imported(&t, Some("ns"), &gateways, &Existing::default());
        let yaml = to_yaml(&manifests);
        assert!(yaml.starts_with("---\napiVersion: natgw.io/v1alpha1\nkind: NatGateway\n"), "{yaml}");
        assert!(!yaml.contains("status"), "{yaml}");
        let back: Vec<NatGateway> =
            serde_yaml::Deserializer::from_str(&yaml).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].spec, manifests[0].spec);
    }
}
