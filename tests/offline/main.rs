//! Everything that needs no API server, in one test binary (each test binary links the whole
//! operator): the cloud clients against the simulators, the simulators against the clouds'
//! official SDKs, batching and rate limits, the generated CRD, the Argo CD health check, the
//! monitoring rules and dashboard (promtool), and the documents' links.

#[path = "../conformance/python.rs"]
mod python;

#[path = "../conformance/federation.rs"]
mod federation_conformance;

mod alibaba_conformance;
mod argocd_health;
mod cloud_batching;
mod crd;
mod docs;
mod federation_requests;
mod federation_sim;
mod huawei_conformance;
mod huawei_sim;
mod identity_exchange;
mod imports;
mod monitoring;
mod pass;
mod tencent_conformance;
mod tencent_sim;
