//! What tests apply and read: NatGateways, their specs, Secrets, conditions, seeded gateways.

use k8s_openapi::api::core::v1::Secret;
use natgw_operator::api::{BillingMode, NatGateway};
use natgw_sim::huawei::SeedGateway;
use serde_json::{Value, json};

/// A NatGateway named `name` with `spec`, as a user would apply it.
pub fn natgw(name: &str, spec: Value) -> NatGateway {
    serde_json::from_value(json!({
        "apiVersion": "natgw.io/v1alpha1", "kind": "NatGateway", "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

/// The spec of Tencent gateway `gateway` in ap-guangzhou / vpc-1 at `size`, with the keys of Secret
/// `secret`. `api: None` leaves the API to the CRD's default (V3), `endpoint: None` to the public one.
pub fn tencent_spec(gateway: &str, api: Option<&str>, size: &str, secret: &str, endpoint: Option<&str>) -> Value {
    let mut spec = json!({
        "gatewayId": gateway,
        "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-1"}},
        "size": size,
        "credentialsSecretRef": {"name": secret},
    });
    if let Some(api) = api {
        spec["provider"]["tencent"]["api"] = api.into();
    }
    if let Some(endpoint) = endpoint {
        spec["endpoint"] = endpoint.into();
    }
    spec
}

/// The spec of Huawei gateway `gateway` in cn-north-4 / `project` at `size`, monthly prepaid
/// (`auto_pay` as given), with the keys of Secret `huawei`, through `endpoint`.
pub fn huawei_prepaid_spec(gateway: &str, project: &str, size: &str, auto_pay: bool, endpoint: &str) -> Value {
    json!({
        "gatewayId": gateway,
        "provider": {"huawei": {"region": "cn-north-4", "projectId": project}},
        "size": size,
        "billing": {"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 1, "autoPay": auto_pay}},
        "credentialsSecretRef": {"name": "huawei"},
        "endpoint": endpoint,
    })
}

/// A Secret named `name` whose `stringData` is `data`.
pub fn secret(name: &str, data: Value) -> Secret {
    serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap()
}

/// The `stringData` of a Tencent credentials Secret.
pub fn tencent_keys(secret_id: &str, secret_key: &str) -> Value {
    json!({"secretId": secret_id, "secretKey": secret_key})
}

/// Ready=True at the current generation.
pub fn ready(o: &NatGateway) -> bool {
    o.status.as_ref().is_some_and(|s| s.observed_generation == o.metadata.generation)
        && condition(o, "Ready").is_some_and(|c| c.0 == "True")
}

/// A condition's (status, reason).
pub fn condition(o: &NatGateway, type_: &str) -> Option<(String, String)> {
    o.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| (c.status.clone(), c.reason.clone()))
}

/// Stalled=True with `reason`.
pub fn stalled(reason: &'static str) -> impl Fn(&NatGateway) -> bool {
    move |o| condition(o, "Stalled").is_some_and(|c| c.0 == "True" && c.1 == reason)
}

/// A condition's message; empty when it is absent.
pub fn condition_message(o: &NatGateway, type_: &str) -> String {
    let conditions = o.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    conditions.iter().find(|c| c.type_ == type_).map(|c| c.message.clone()).unwrap_or_default()
}

/// An ACTIVE, PayPerUse Huawei gateway `id` of flavour `spec` ("1" is Small) in `project`.
pub fn huawei_gateway(id: &str, project: &str, spec: &str) -> SeedGateway {
    SeedGateway {
        id: id.into(),
        project_id: project.into(),
        spec: spec.into(),
        status: "ACTIVE".into(),
        billing: BillingMode::PayPerUse,
        admin_state_up: true,
    }
}
