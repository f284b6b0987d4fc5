//! natgw-operator: keeps cloud NAT gateways at the size and billing mode declared in a
//! `NatGateway` resource.

pub mod api;
pub mod cloud;
pub mod controller;
pub mod failpoint;
pub mod fence;
pub mod health;
pub mod import;
pub mod leader;
pub mod metrics;
pub mod plan;
#[cfg(test)]
mod testing;

/// Where the repository keeps [`crd_yaml`], relative to its root: the generated file, the copy
/// kustomize loads (it reads only under a kustomization's directory) and the Helm chart's.
/// `cargo run -- crd` writes them all; the tests check each.
pub const CRD_FILES: [&str; 3] =
    ["crds/natgateway.yaml", "deploy/crd/natgateway.yaml", "charts/natgw-operator/crds/natgateway.yaml"];

/// The CRD as YAML, exactly as committed in `crds/natgateway.yaml`: the schema of [`api`] and
/// the built-in clouds' admission rules.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt as _;
    let mut crd = api::NatGateway::crd();
    cloud::admission::add_rules(&mut crd, &cloud::Registry::builtin());
    // Serializing a CRD built from our own types cannot fail.
    serde_yaml::to_string(&crd).expect("the CRD serializes to YAML")
}
