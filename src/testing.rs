//! The NatGateways the unit tests build, in one place. The integration tests' builders are
//! `natgw_testkit`'s: unit tests cannot use that crate, which links the operator as a crate of
//! its own.

use serde_json::{Value, json};

use crate::api::NatGateway;

/// NatGateway `name` in namespace `ns` with `spec`, as a user would apply it.
pub(crate) fn natgw(ns: &str, name: &str, spec: Value) -> NatGateway {
    serde_json::from_value(json!({
        "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway",
        "metadata": {"name": name, "namespace": ns}, "spec": spec,
    }))
    .unwrap()
}

/// The spec of a Small Tencent gateway `gateway` in `region`, with the keys of Secret `secret`.
pub(crate) fn tencent_spec(gateway: &str, region: &str, secret: &str) -> Value {
    json!({
        "gatewayId": gateway, "provider": {"tencent": {"region": region}},
        "size": "Small", "credentialsSecretRef": {"name": secret},
    })
}
