//! One cloud gateway, one managing NatGateway. Two resources that manage the same gateway would
//! order against each other forever (each sees the other's size as drift), so of all `Manage`
//! resources that name one gateway only the oldest claim may order; the others stall until it is
//! gone. `Observe` resources order nothing and may share a gateway freely.
//!
//! The decision reads only what every replica sees alike (the cached objects' creation time,
//! namespace and name), so it is the same across restarts and replicas.

use kube::{ResourceExt, runtime::reflector::ObjectRef};

use crate::{
    api::{ManagementPolicy, NatGateway},
    cloud::Connector,
};

/// What names one cloud gateway: the cloud, the region and the gateway id. The account is not
/// part of it because it is not known before a cloud call; two accounts with one gateway id in one
/// region would be over-cautious here (one stalls), never a second order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claim {
    cloud: &'static str,
    region: String,
    gateway_id: String,
}

impl Claim {
    /// `None` for a spec no cloud serves: it can order nothing, so it claims nothing.
    pub fn of(obj: &NatGateway, clouds: &dyn Connector) -> Option<Claim> {
        let selected = clouds.select(&obj.spec).ok()?;
        Some(Claim {
            cloud: selected.profile.account,
            region: selected.gateway.region,
            gateway_id: selected.gateway.id,
        })
    }
}

/// Whether `obj` may place orders (it orders at all, and holds the oldest claim).
fn claims(obj: &NatGateway) -> bool {
    obj.spec.management_policy == ManagementPolicy::Manage
}

/// Creation time, then namespace and name: a total order every replica computes alike.
fn age_key(obj: &NatGateway) -> (Option<k8s_openapi::jiff::Timestamp>, String, String) {
    (obj.creation_timestamp().map(|t| t.0), obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The resource that owns the gateway `obj` names, when it is another one: `obj` must not order.
/// `None` when `obj` holds the claim or orders nothing.
pub fn other_owner<'a>(
    obj: &NatGateway,
    all: impl IntoIterator<Item = &'a NatGateway>,
    clouds: &dyn Connector,
) -> Option<&'a NatGateway> {
    if !claims(obj) {
        return None;
    }
    let claim = Claim::of(obj, clouds)?;
    let me = age_key(obj);
    all.into_iter()
        .filter(|other| claims(other) && Claim::of(other, clouds).as_ref() == Some(&claim))
        .filter(|other| age_key(other) < me)
        .min_by_key(|other| age_key(other))
}

/// The other resources that name the same gateway as `obj`, to be looked at again when `obj`
/// goes away (one of them takes over its claim).
pub fn siblings<'a>(
    obj: &NatGateway,
    all: impl IntoIterator<Item = &'a NatGateway>,
    clouds: &dyn Connector,
) -> Vec<&'a NatGateway> {
    let Some(claim) = Claim::of(obj, clouds) else { return Vec::new() };
    let me = ObjectRef::from(obj);
    let same = |other: &NatGateway| Claim::of(other, clouds).as_ref() == Some(&claim);
    all.into_iter().filter(|other| ObjectRef::from(*other) != me && same(other)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clouds() -> crate::cloud::connect::CloudConnector {
        crate::cloud::connect::CloudConnector::new(reqwest::Client::new())
    }

    fn natgw(ns: &str, name: &str, created: &str, gateway: &str, policy: &str) -> NatGateway {
        serde_json::from_value(json!({
            "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway",
            "metadata": {"name": name, "namespace": ns, "uid": format!("{ns}-{name}"), "creationTimestamp": created},
            "spec": {
                "gatewayId": gateway, "provider": {"tencent": {"region": "ap-guangzhou"}},
                "size": "Small", "credentialsSecretRef": {"name": "creds"}, "managementPolicy": policy,
            },
        }))
        .unwrap()
    }

    #[test]
    fn the_oldest_manage_claim_owns_the_gateway() {
        let old = natgw("b", "old", "2026-01-01T00:00:00Z", "nat-1", "Manage");
        let new = natgw("a", "new", "2026-02-01T00:00:00Z", "nat-1", "Manage");
        let all = [old.clone(), new.clone()];
        assert_eq!(other_owner(&new, &all, &clouds()).map(|o| o.name_any()), Some("old".into()));
        assert!(other_owner(&old, &all, &clouds()).is_none());
    }

    #[test]
    fn ties_on_creation_time_break_on_namespace_then_name() {
        let t = "2026-01-01T00:00:00Z";
        let (a, b) = (natgw("a", "z", t, "nat-1", "Manage"), natgw("b", "a", t, "nat-1", "Manage"));
        let all = [b.clone(), a.clone()];
        assert!(other_owner(&a, &all, &clouds()).is_none());
        assert_eq!(other_owner(&b, &all, &clouds()).map(|o| o.name_any()), Some("z".into()));
    }

    #[test]
    fn observe_resources_neither_claim_nor_stall() {
        let observer = natgw("a", "watch", "2026-01-01T00:00:00Z", "nat-1", "Observe");
        let manager = natgw("a", "manage", "2026-02-01T00:00:00Z", "nat-1", "Manage");
        let all = [observer.clone(), manager.clone()];
        assert!(other_owner(&manager, &all, &clouds()).is_none());
        assert!(other_owner(&observer, &all, &clouds()).is_none());
    }

    #[test]
    fn other_gateways_and_regions_do_not_compete() {
        let a = natgw("a", "a", "2026-01-01T00:00:00Z", "nat-1", "Manage");
        let b = natgw("a", "b", "2026-02-01T00:00:00Z", "nat-2", "Manage");
        let mut c = natgw("a", "c", "2026-03-01T00:00:00Z", "nat-1", "Manage");
        c.spec.provider.tencent.as_mut().unwrap().region = "ap-shanghai".into();
        let all = [a, b.clone(), c.clone()];
        assert!(other_owner(&b, &all, &clouds()).is_none());
        assert!(other_owner(&c, &all, &clouds()).is_none());
        assert_eq!(siblings(&all[0], &all, &clouds()).len(), 0);
    }

    #[test]
    fn the_next_oldest_takes_over_when_the_owner_is_gone() {
        let mut owners = vec![
            natgw("a", "first", "2026-01-01T00:00:00Z", "nat-1", "Manage"),
            natgw("a", "second", "2026-02-01T00:00:00Z", "nat-1", "Manage"),
            natgw("a", "third", "2026-03-01T00:00:00Z", "nat-1", "Manage"),
        ];
        let third = owners[2].clone();
        assert_eq!(siblings(&owners[0], &owners, &clouds()).len(), 2);
        owners.remove(0);
        assert_eq!(other_owner(&third, &owners, &clouds()).map(|o| o.name_any()), Some("second".into()));
        assert!(other_owner(&owners[0], &owners, &clouds()).is_none());
    }
}
