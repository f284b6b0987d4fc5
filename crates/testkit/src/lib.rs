//! The test helpers, in one place for every test target of the workspace: the in-memory cloud for
//! controller tests ([`memory`]), and for the end-to-end tests a real API server per test
//! ([`Cluster`], on `natgw-testenv`), the simulators as tests start them ([`Clouds`]), the
//! operator binary ([`Operator`]), the objects tests apply ([`natgw`] and the specs) and the
//! worlds the fault tests run in ([`World`]). A dev-dependency only: the operator links none of it
//! (`.ci/check-operator-binary`).

mod clouds;
mod cluster;
pub mod memory;
mod objects;
mod operator;
mod partition;
mod poll;
mod world;

pub use clouds::{
    Clouds, allow_endpoints, huawei_https_config, huawei_pay_order, sim_credentials, tencent_https_config, tencent_sim,
};
pub use cluster::{Cluster, Env, InProcess, apply_crd_without, create_once_admitted, deploy_dir, yaml_documents};
pub use objects::{
    condition, condition_message, huawei_gateway, huawei_prepaid_spec, natgw, ready, secret, stalled, tencent_keys,
    tencent_spec,
};
pub use operator::{CLAIM_SETTLE, LogOnPanic, Operator, fast_operator_args, free_port, sample};
pub use partition::Partition;
pub use poll::eventually;
pub use world::World;
