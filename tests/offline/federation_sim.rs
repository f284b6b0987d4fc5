//! The simulated STS and IAM federation with the official SDKs (tests/conformance/federation.rs),
//! with tokens of [`TestIssuer`], which serves discovery and keys as kube-apiserver does: no API
//! server needed. tests/e2e/federation.rs runs the same with real ServiceAccount tokens.

use std::time::Duration;

use natgw_sim::issuer::TestIssuer;

use crate::federation_conformance::{self as conformance, HUAWEI_AUDIENCE, TENCENT_AUDIENCE, Tokens};

const SUBJECT: &str = "system:serviceaccount:team-a:natgw";

fn tokens(issuer: &TestIssuer, audience: &str) -> Tokens {
    let lifetime = Duration::from_secs(600);
    Tokens {
        workload: issuer.token(SUBJECT, audience, lifetime),
        other: issuer.token("system:serviceaccount:team-b:natgw", audience, lifetime),
        wrong_audience: issuer.token(SUBJECT, "someone-else", lifetime),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_sts_with_the_official_sdk() {
    let issuer = TestIssuer::start().await.unwrap();
    conformance::tencent_sts(issuer.config(), SUBJECT, tokens(&issuer, TENCENT_AUDIENCE)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_federation_with_the_official_sdk() {
    let issuer = TestIssuer::start().await.unwrap();
    conformance::huawei_federation(issuer.config(), SUBJECT, tokens(&issuer, HUAWEI_AUDIENCE)).await;
}
