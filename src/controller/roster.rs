//! The gateways a cloud client will be asked about: every resource that reads through the same
//! account and place as one it is serving. A client that sweeps reads them all along with its
//! first read ([`crate::cloud::Provider::expect`]), so an operator that starts with a fleet in the
//! cluster re-reads it at gateways / 100 calls instead of one small batch per wave of reconciles.

use kube::{Resource, ResourceExt};

use crate::{
    api::NatGateway,
    cloud::{Connector, GatewayRef, Selected},
};

/// The gateways of the resources that share `obj`'s namespace, credentials, cloud, region and
/// endpoints (so the same client), `obj`'s own included. Paused resources and resources being
/// deleted are left out: a pause means no cloud call, and a deleted resource only follows its
/// open order.
pub fn roster<'a>(
    obj: &NatGateway,
    selected: &Selected,
    all: impl IntoIterator<Item = &'a NatGateway>,
    clouds: &dyn Connector,
) -> Vec<GatewayRef> {
    let same_credentials = |other: &NatGateway| {
        other.namespace() == obj.namespace()
            && other.spec.credentials_secret_ref == obj.spec.credentials_secret_ref
            && other.spec.workload_identity == obj.spec.workload_identity
    };
    all.into_iter()
        .filter(|other| same_credentials(other) && !other.paused() && other.meta().deletion_timestamp.is_none())
        .filter_map(|other| clouds.select(&other.spec).ok())
        .filter(|s| {
            s.profile == selected.profile
                && s.gateway.region() == selected.gateway.region()
                && s.endpoint == selected.endpoint
                && s.other_endpoints == selected.other_endpoints
        })
        .map(|s| s.gateway)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{natgw, tencent_spec};

    #[test]
    fn only_resources_read_through_the_same_client_are_listed() {
        let clouds = crate::cloud::connect::CloudConnector::new(reqwest::Client::new());
        let me = natgw("a", "me", tencent_spec("nat-1", "ap-guangzhou", "creds"));
        let mut paused = natgw("a", "paused", tencent_spec("nat-6", "ap-guangzhou", "creds"));
        paused.annotations_mut().insert(crate::api::PAUSED_ANNOTATION.into(), "true".into());
        let mut v2 = natgw("a", "v2", tencent_spec("nat-7", "ap-guangzhou", "creds"));
        if let crate::api::ProviderSpec::Tencent(t) = &mut v2.spec.provider {
            t.api = crate::cloud::tencent::TencentApi::V2;
        }
        let all = [
            me.clone(),
            natgw("a", "sibling", tencent_spec("nat-2", "ap-guangzhou", "creds")),
            natgw("b", "other-namespace", tencent_spec("nat-3", "ap-guangzhou", "creds")),
            natgw("a", "other-secret", tencent_spec("nat-4", "ap-guangzhou", "other")),
            natgw("a", "other-region", tencent_spec("nat-5", "ap-shanghai", "creds")),
            paused,
            v2,
        ];
        let selected = clouds.select(&me.spec).unwrap();
        let ids: Vec<String> = roster(&me, &selected, &all, &clouds).into_iter().map(|g| g.id).collect();
        assert_eq!(ids, ["nat-1", "nat-2"]);
    }
}
