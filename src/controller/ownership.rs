//! One cloud gateway, one managing NatGateway. Two resources that manage the same gateway would
//! order against each other forever (each sees the other's size as drift), so of all `Manage`
//! resources that name one gateway only the oldest claim may order; the others stall until it is
//! gone. `Observe` resources order nothing and may share a gateway freely.
//!
//! A claim needs access: a resource whose own credentials failed (no Secret, a Secret it may not
//! read, keys the cloud refuses, an account without that gateway) takes no part, so a tenant with
//! bad keys cannot block a gateway whose id it knows. One not yet tried holds its place for the
//! one pass that tries them: two new resources with good keys must never both think they own it.
//!
//! The decision reads only what every replica sees alike (the cached objects' creation time,
//! namespace, name and conditions), so it is the same across restarts and replicas.

use kube::{ResourceExt, runtime::reflector::ObjectRef};

use crate::{
    api::{ManagementPolicy, NatGateway},
    cloud::Connector,
    plan::{Owner, Reason},
};

/// What names one cloud gateway: the cloud, the region and the gateway id. The account is not
/// part of it: gateway ids are the cloud's own, and a resource whose credentials cannot read the
/// gateway in their account takes no part ([`takes_part`]), so another account never blocks it.
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
            region: selected.gateway.region().to_owned(),
            gateway_id: selected.gateway.id,
        })
    }
}

/// Whether `obj` takes part in the ownership of its gateway: it manages it, its credentials have
/// not failed, and it has read the gateway or is about to (a paused resource that never read it
/// has proven nothing and may be paused forever).
fn takes_part(obj: &NatGateway) -> bool {
    let status = obj.status.as_ref();
    let failed = status.is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == "Stalled"
                && c.status == "True"
                && Reason::ALL.iter().any(|r| r.denies_access() && r.as_str() == c.reason)
        })
    });
    let read = status.is_some_and(|s| s.observed.is_some());
    obj.spec.management_policy == ManagementPolicy::Manage && !failed && (read || !obj.paused())
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
    if obj.spec.management_policy != ManagementPolicy::Manage {
        return None;
    }
    let claim = Claim::of(obj, clouds)?;
    let me = age_key(obj);
    all.into_iter()
        // The id first: it rules out nearly every resource without parsing its spec.
        .filter(|other| other.spec.gateway_id == obj.spec.gateway_id && age_key(other) < me)
        .filter(|other| takes_part(other) && Claim::of(other, clouds).as_ref() == Some(&claim))
        .min_by_key(|other| age_key(other))
}

/// How `obj`'s condition names the owner `owner`: by name within its namespace only, since a
/// tenant must not learn another namespace's object names (the operator's log names it for the
/// cluster admin).
pub fn owner_for<'a>(obj: &NatGateway, owner: &'a NatGateway) -> Owner<'a> {
    match owner.metadata.namespace == obj.metadata.namespace {
        true => Owner::SameNamespace(owner.metadata.name.as_deref().unwrap_or_default()),
        false => Owner::OtherNamespace,
    }
}

/// Whether a change of `obj` may hand its gateway to another resource: it names one and its
/// credentials failed (the resources it blocked are looked at again at once).
pub fn lost_access(obj: &NatGateway) -> bool {
    obj.spec.management_policy == ManagementPolicy::Manage && !takes_part(obj)
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
    let same = |other: &NatGateway| {
        other.spec.gateway_id == obj.spec.gateway_id && Claim::of(other, clouds).as_ref() == Some(&claim)
    };
    all.into_iter().filter(|other| ObjectRef::from(*other) != me && same(other)).collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    use super::*;
    use crate::testing::{natgw, tencent_spec};

    fn clouds() -> crate::cloud::connect::CloudConnector {
        crate::cloud::connect::CloudConnector::new(reqwest::Client::new())
    }

    /// A Tencent NatGateway created at `created` (whole seconds) that claims `gateway` with `policy`.
    fn claim(ns: &str, name: &str, created: &str, gateway: &str, policy: &str) -> NatGateway {
        let mut spec = tencent_spec(gateway, "ap-guangzhou", "creds");
        spec["managementPolicy"] = policy.into();
        let mut obj = natgw(ns, name, spec);
        obj.metadata.uid = Some(format!("{ns}-{name}"));
        obj.metadata.creation_timestamp = Some(Time(created.parse().unwrap()));
        obj
    }

    #[test]
    fn the_oldest_manage_claim_owns_the_gateway() {
        let old = claim("b", "old", "2026-01-01T00:00:00Z", "nat-1", "Manage");
        let new = claim("a", "new", "2026-02-01T00:00:00Z", "nat-1", "Manage");
        let all = [old.clone(), new.clone()];
        assert_eq!(other_owner(&new, &all, &clouds()).map(|o| o.name_any()), Some("old".into()));
        assert!(other_owner(&old, &all, &clouds()).is_none());
    }

    #[test]
    fn ties_on_creation_time_break_on_namespace_then_name() {
        let t = "2026-01-01T00:00:00Z";
        let (a, b) = (claim("a", "z", t, "nat-1", "Manage"), claim("b", "a", t, "nat-1", "Manage"));
        let all = [b.clone(), a.clone()];
        assert!(other_owner(&a, &all, &clouds()).is_none());
        assert_eq!(other_owner(&b, &all, &clouds()).map(|o| o.name_any()), Some("z".into()));
    }

    #[test]
    fn observe_resources_neither_claim_nor_stall() {
        let observer = claim("a", "watch", "2026-01-01T00:00:00Z", "nat-1", "Observe");
        let manager = claim("a", "manage", "2026-02-01T00:00:00Z", "nat-1", "Manage");
        let all = [observer.clone(), manager.clone()];
        assert!(other_owner(&manager, &all, &clouds()).is_none());
        assert!(other_owner(&observer, &all, &clouds()).is_none());
    }

    #[test]
    fn other_gateways_and_regions_do_not_compete() {
        let a = claim("a", "a", "2026-01-01T00:00:00Z", "nat-1", "Manage");
        let b = claim("a", "b", "2026-02-01T00:00:00Z", "nat-2", "Manage");
        let mut c = claim("a", "c", "2026-03-01T00:00:00Z", "nat-1", "Manage");
        if let crate::api::ProviderSpec::Tencent(t) = &mut c.spec.provider {
            t.region = "ap-shanghai".into();
        }
        let all = [a, b.clone(), c.clone()];
        assert!(other_owner(&b, &all, &clouds()).is_none());
        assert!(other_owner(&c, &all, &clouds()).is_none());
        assert_eq!(siblings(&all[0], &all, &clouds()).len(), 0);
    }

    fn stalled(mut obj: NatGateway, reason: Reason, read: bool) -> NatGateway {
        obj.status = Some(serde_json::from_value(json!({
            "observed": if read { json!({"size": "Small", "state": "AVAILABLE", "checkedAt": "2026-01-01T00:00:00Z"}) } else { json!(null) },
            "conditions": [{"type": "Stalled", "status": "True", "reason": reason.as_str(), "message": "",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        }))
        .unwrap());
        obj
    }

    /// A squatter whose own credentials fail (or whose account has no such gateway) blocks no
    /// one; one not yet tried does, until its first pass; a stall of another kind keeps its claim.
    #[test]
    fn a_claim_needs_credentials_that_reached_the_gateway() {
        let victim = claim("victim", "gw", "2026-02-01T00:00:00Z", "nat-1", "Manage");
        let squat = claim("tenant-a", "squat", "2026-01-01T00:00:00Z", "nat-1", "Manage");
        assert!(
            other_owner(&victim, std::slice::from_ref(&squat), &clouds()).is_some(),
            "untried: it may prove access"
        );
        for reason in Reason::ALL.iter().filter(|r| r.denies_access()) {
            let failed = stalled(squat.clone(), *reason, true);
            assert!(other_owner(&victim, std::slice::from_ref(&failed), &clouds()).is_none(), "{reason}");
            assert!(lost_access(&failed), "{reason}");
        }
        let unsupported = stalled(squat.clone(), Reason::UnsupportedChange, true);
        assert!(other_owner(&victim, std::slice::from_ref(&unsupported), &clouds()).is_some());
        assert!(!lost_access(&unsupported));
        // Paused before it ever read the gateway: it has proven nothing and may stay paused.
        let mut paused = squat.clone();
        paused.metadata.annotations = Some([(crate::api::PAUSED_ANNOTATION.to_owned(), "true".to_owned())].into());
        assert!(other_owner(&victim, std::slice::from_ref(&paused), &clouds()).is_none());
        let paused_owner = stalled(paused, Reason::UnsupportedChange, true);
        assert!(other_owner(&victim, &[paused_owner], &clouds()).is_some(), "a paused owner that read keeps it");
    }

    #[test]
    fn only_an_owner_of_the_same_namespace_is_named() {
        let owner = claim("a", "egress", "2026-01-01T00:00:00Z", "nat-1", "Manage");
        let same = claim("a", "dup", "2026-02-01T00:00:00Z", "nat-1", "Manage");
        let other = claim("b", "dup", "2026-02-01T00:00:00Z", "nat-1", "Manage");
        assert_eq!(owner_for(&same, &owner), Owner::SameNamespace("egress"));
        assert_eq!(owner_for(&other, &owner), Owner::OtherNamespace);
    }

    #[test]
    fn the_next_oldest_takes_over_when_the_owner_is_gone() {
        let mut owners = vec![
            claim("a", "first", "2026-01-01T00:00:00Z", "nat-1", "Manage"),
            claim("a", "second", "2026-02-01T00:00:00Z", "nat-1", "Manage"),
            claim("a", "third", "2026-03-01T00:00:00Z", "nat-1", "Manage"),
        ];
        let third = owners[2].clone();
        assert_eq!(siblings(&owners[0], &owners, &clouds()).len(), 2);
        owners.remove(0);
        assert_eq!(other_owner(&third, &owners, &clouds()).map(|o| o.name_any()), Some("second".into()));
        assert!(other_owner(&owners[0], &owners, &clouds()).is_none());
    }
}
