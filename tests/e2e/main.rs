//! Everything that needs a real kube-apiserver + etcd, in one test binary (each test binary links
//! the whole operator). Most tests share one API server, each in a namespace of its own
//! ([`natgw_testkit::Cluster::start`]); a test owns one
//! ([`natgw_testkit::Cluster::start_own`]) only when it would disturb the others or they it:
//!
//! - `faults`: restarts kube-apiserver;
//! - `claims`: runs an operator across namespaces of its own;
//! - `clusters`: two of its own per test, two clusters whose operators claim the same gateways;
//! - `rbac`: apply deploy/'s cluster-scoped RBAC for the natgw-system/natgw-operator
//!   ServiceAccount, one install per test, and run the operator across all namespaces with it;
//! - `tenancy`: relaxes the CRD's validation, which `admission` checks;
//! - `startup`: needs a cluster without the CRD;
//! - `helm`: `helm install` creates cluster-scoped objects and the CRD from the chart's crds/.
//!
//! Operators on the shared server watch only their test's namespace: one watching all of them
//! would reconcile other tests' NatGateways.
//!
//! tests/e2e_seams.rs is a binary of its own: it restarts the control plane too, and it compares
//! cloud-read rates over 10 s windows, which tests running beside it on 2 cores skew (it failed
//! once in three runs here).

#[path = "../conformance/federation.rs"]
mod federation_conformance;
#[path = "../conformance/python.rs"]
mod python;

mod admission;
mod at_rest;
mod billing;
mod claims;
mod clouds;
mod clusters;
mod controller;
mod deploy;
mod events;
mod faults;
mod federation;
mod helm;
mod huawei_orders;
mod import;
mod keyless;
mod kstatus;
mod leader;
mod metrics;
mod monitoring;
mod pause;
mod plain_http;
mod rbac;
mod restart;
mod startup;
mod tenancy;
mod workload_identity;
