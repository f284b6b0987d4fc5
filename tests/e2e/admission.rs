//! Admission on the real API server: the CRD installs, a valid object is accepted, and each
//! invalid one is rejected with a message naming the offending field; so is a size or billing
//! mode the chosen cloud does not have.

use natgw_operator::{
    api::{BillingMode, Size},
    cloud::{Profile, Registry},
};
use natgw_testkit::Cluster;

fn valid() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "natgw.io/v1alpha1",
        "kind": "NatGateway",
        "metadata": {"name": "ok"},
        "spec": {
            "gatewayId": "nat-et8e970y",
            "provider": {"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-xdf54d"}},
            "size": "Medium",
            "credentialsSecretRef": {"name": "tencent-creds"}
        }
    })
}

fn tencent_identity() -> serde_json::Value {
    serde_json::json!({
        "serviceAccountName": "natgw-cloud",
        "tencent": {"providerId": "k8s-oidc", "roleArn": "qcs::cam::uin/100000000001:roleName/natgw", "durationSeconds": 3600},
    })
}

fn huawei_identity() -> serde_json::Value {
    serde_json::json!({
        "serviceAccountName": "natgw-cloud",
        "huawei": {"identityProviderId": "k8s-oidc", "domainId": "0b0e8d9f5a2c4b7e", "durationSeconds": 900},
    })
}

/// `edit` on a valid object with a Tencent workload identity and no Secret.
fn keyless(edit: impl FnOnce(&mut serde_json::Value) + 'static) -> Box<dyn FnOnce(&mut serde_json::Value)> {
    Box::new(move |o| {
        o["spec"].as_object_mut().unwrap().remove("credentialsSecretRef");
        o["spec"]["workloadIdentity"] = tencent_identity();
        edit(o)
    })
}

/// Applies `edit` to a valid object and returns the API server's answer.
async fn create_with(cluster: &Cluster, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Result<(), String> {
    let mut obj = valid();
    obj["metadata"]["name"] = name.into();
    edit(&mut obj);
    cluster.create_raw(&obj).await
}

#[tokio::test]
async fn admission_accepts_valid_objects_and_names_the_field_it_rejects() {
    let cluster = Cluster::start("admission").await;

    create_with(&cluster, "valid", |_| {}).await.expect("a valid object is accepted");
    create_with(&cluster, "valid-prepaid", |o| {
        o["spec"]["provider"] = serde_json::json!({"huawei": {"region": "cn-north-4"}});
        o["spec"]["billing"] = serde_json::json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Year", "periods": 3}});
        o["spec"]["endpoint"] = "http://127.0.0.1:8080".into();
    })
    .await
    .expect("a valid prepaid object is accepted");
    // Real id shapes: a Huawei project id (32 hex digits), a gateway UUID, a dotted Secret name.
    create_with(&cluster, "valid-huawei-ids", |o| {
        o["spec"]["gatewayId"] = "5f1ab3a4-6c2d-4e1f-9a7b-2c3d4e5f6a7b".into();
        o["spec"]["provider"] =
            serde_json::json!({"huawei": {"region": "ap-southeast-1", "projectId": "0b0e8d9f5a2c4b7e9d1f3a5c7e9b1d3f"}});
        o["spec"]["credentialsSecretRef"]["name"] = "huawei.creds-v2".into();
        o["spec"]["endpoint"] = "https://nat.ap-southeast-1.myhuaweicloud.com/".into();
    })
    .await
    .expect("real ids are accepted");
    // Keyless: a ServiceAccount of the namespace instead of the Secret, for each cloud.
    create_with(&cluster, "valid-tencent-identity", |o| {
        o["spec"].as_object_mut().unwrap().remove("credentialsSecretRef");
        o["spec"]["workloadIdentity"] = tencent_identity();
    })
    .await
    .expect("a Tencent workload identity is accepted");
    create_with(&cluster, "valid-huawei-identity", |o| {
        o["spec"].as_object_mut().unwrap().remove("credentialsSecretRef");
        o["spec"]["provider"] = serde_json::json!({"huawei": {"region": "cn-north-4"}});
        o["spec"]["workloadIdentity"] = huawei_identity();
    })
    .await
    .expect("a Huawei workload identity is accepted");

    for interval in ["10s", "1m", "1h30m", "168h"] {
        create_with(&cluster, &format!("valid-drift-{}", interval.to_lowercase()), |o| {
            o["spec"]["driftInterval"] = interval.into();
        })
        .await
        .unwrap_or_else(|e| panic!("driftInterval {interval} is accepted: {e}"));
    }

    // (name, edit, text the message must contain)
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let drift = |value: &'static str| -> Edit { Box::new(move |o| o["spec"]["driftInterval"] = value.into()) };
    let drift_message: &[&str] = &["spec.driftInterval", natgw_operator::api::DRIFT_INTERVAL_MESSAGE];
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        ("drift-too-short", drift("5s"), drift_message),
        ("drift-too-long", drift("169h"), drift_message),
        ("drift-days", drift("1d"), drift_message),
        ("drift-not-a-duration", drift("often"), drift_message),
        ("drift-fraction", drift("1.5h"), drift_message),
        ("bad-size", Box::new(|o| o["spec"]["size"] = "Huge".into()), &["spec.size", "Unsupported value", "\"Huge\""]),
        (
            "bad-api",
            Box::new(|o| o["spec"]["provider"]["tencent"]["api"] = "V4".into()),
            &["spec.provider.tencent.api", "Unsupported value"],
        ),
        (
            "bad-policy",
            Box::new(|o| o["spec"]["managementPolicy"] = "Delete".into()),
            &["spec.managementPolicy", "Unsupported value"],
        ),
        (
            "no-provider",
            Box::new(|o| o["spec"]["provider"] = serde_json::json!({})),
            &["spec.provider", "set exactly one provider"],
        ),
        (
            "two-providers",
            Box::new(|o| o["spec"]["provider"]["huawei"] = serde_json::json!({"region": "cn-north-4"})),
            &["spec.provider", "set exactly one provider"],
        ),
        (
            "prepaid-without-terms",
            Box::new(|o| o["spec"]["billing"] = serde_json::json!({"mode": "Prepaid"})),
            &["spec.billing", "billing.prepaid", "required"],
        ),
        (
            "thirteen-months",
            Box::new(|o| {
                o["spec"]["billing"] =
                    serde_json::json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 13}})
            }),
            &["spec.billing.prepaid.periods"],
        ),
        (
            "four-years",
            Box::new(|o| {
                o["spec"]["billing"] =
                    serde_json::json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Year", "periods": 4}})
            }),
            &["spec.billing.prepaid.periods", "1-3 when it is Year"],
        ),
        (
            "zero-periods",
            Box::new(|o| {
                o["spec"]["billing"] =
                    serde_json::json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Month", "periods": 0}})
            }),
            &["spec.billing.prepaid.periods"],
        ),
        (
            "bad-period-unit",
            Box::new(|o| {
                o["spec"]["billing"] =
                    serde_json::json!({"mode": "Prepaid", "prepaid": {"periodUnit": "Week", "periods": 1}})
            }),
            &["spec.billing.prepaid.periodUnit", "Unsupported value"],
        ),
        ("empty-gateway", Box::new(|o| o["spec"]["gatewayId"] = "".into()), &["spec.gatewayId", "must not be empty"]),
        (
            "empty-secret",
            Box::new(|o| o["spec"]["credentialsSecretRef"]["name"] = "".into()),
            &["spec.credentialsSecretRef.name", "must not be empty"],
        ),
        (
            "ftp-endpoint",
            Box::new(|o| o["spec"]["endpoint"] = "ftp://example.com".into()),
            &["spec.endpoint", "http:// or https:// URL"],
        ),
        (
            "not-a-url",
            Box::new(|o| o["spec"]["endpoint"] = "localhost:8080".into()),
            &["spec.endpoint", "http:// or https://"],
        ),
        // Tenancy: nothing may steer the credentials to another host, path or Secret.
        (
            "endpoint-userinfo",
            Box::new(|o| o["spec"]["endpoint"] = "https://user:pass@vpc.tencentcloudapi.com".into()),
            &["spec.endpoint", "without user info"],
        ),
        (
            "endpoint-at-host",
            Box::new(|o| o["spec"]["endpoint"] = "https://vpc.tencentcloudapi.com@169.254.169.254".into()),
            &["spec.endpoint", "without user info"],
        ),
        (
            "endpoint-fragment",
            Box::new(|o| o["spec"]["endpoint"] = "https://vpc.tencentcloudapi.com/#x".into()),
            &["spec.endpoint", "fragment"],
        ),
        (
            "endpoint-query",
            Box::new(|o| o["spec"]["endpoint"] = "https://vpc.tencentcloudapi.com/?a=b".into()),
            &["spec.endpoint", "query"],
        ),
        (
            "bss-endpoint-userinfo",
            Box::new(|o| {
                o["spec"]["provider"] = serde_json::json!({"huawei": {
                    "region": "cn-north-4", "bssEndpoint": "https://x@bss.myhuaweicloud.com"}})
            }),
            &["spec.provider.huawei.bssEndpoint", "without user info"],
        ),
        (
            "huawei-region-host",
            Box::new(|o| o["spec"]["provider"] = serde_json::json!({"huawei": {"region": "x@127.0.0.1:29999#"}})),
            &["spec.provider.huawei.region", "lowercase letters and digits"],
        ),
        (
            "tencent-region-host",
            Box::new(|o| o["spec"]["provider"]["tencent"]["region"] = "ap-guangzhou.evil.example".into()),
            &["spec.provider.tencent.region", "lowercase letters and digits"],
        ),
        (
            "project-path",
            Box::new(|o| {
                o["spec"]["provider"] =
                    serde_json::json!({"huawei": {"region": "cn-north-4", "projectId": "../../v3/projects"}})
            }),
            &["spec.provider.huawei.projectId", "letters, digits"],
        ),
        (
            "gateway-path",
            Box::new(|o| o["spec"]["gatewayId"] = "nat-1/../../x".into()),
            &["spec.gatewayId", "letters, digits"],
        ),
        (
            "vpc-query",
            Box::new(|o| o["spec"]["provider"]["tencent"]["vpcId"] = "vpc-1&Action=Other".into()),
            &["spec.provider.tencent.vpcId", "letters, digits"],
        ),
        (
            "secret-other-namespace",
            Box::new(|o| o["spec"]["credentialsSecretRef"]["name"] = "other/creds".into()),
            &["spec.credentialsSecretRef.name", "name of a Secret in this namespace"],
        ),
        (
            "secret-dotdot",
            Box::new(|o| o["spec"]["credentialsSecretRef"]["name"] = "../..".into()),
            &["spec.credentialsSecretRef.name", "name of a Secret in this namespace"],
        ),
        (
            "secret-uppercase",
            Box::new(|o| o["spec"]["credentialsSecretRef"]["name"] = "Tencent_Creds".into()),
            &["spec.credentialsSecretRef.name", "name of a Secret in this namespace"],
        ),
        (
            "secret-leading-dash",
            Box::new(|o| o["spec"]["credentialsSecretRef"]["name"] = "-creds".into()),
            &["spec.credentialsSecretRef.name", "name of a Secret in this namespace"],
        ),
        (
            "secret-too-long",
            Box::new(|o| o["spec"]["credentialsSecretRef"]["name"] = "a".repeat(254).into()),
            &["spec.credentialsSecretRef.name"],
        ),
        // One credential source, of the resource's own cloud and namespace.
        (
            "no-credentials",
            Box::new(|o| o["spec"].as_object_mut().unwrap().remove("credentialsSecretRef").map(drop).unwrap_or(())),
            &["spec", "set exactly one credential source", "credentialsSecretRef", "workloadIdentity"],
        ),
        (
            "two-credential-sources",
            Box::new(|o| o["spec"]["workloadIdentity"] = tencent_identity()),
            &["spec", "set exactly one credential source"],
        ),
        (
            "identity-of-the-other-cloud",
            keyless(|o| o["spec"]["workloadIdentity"] = huawei_identity()),
            &["spec.workloadIdentity", "must name the cloud of spec.provider"],
        ),
        (
            "identity-of-both-clouds",
            keyless(|o| o["spec"]["workloadIdentity"]["huawei"] = huawei_identity()["huawei"].clone()),
            &["spec.workloadIdentity", "exactly one of workloadIdentity.tencent or workloadIdentity.huawei"],
        ),
        (
            "identity-of-no-cloud",
            keyless(|o| {
                o["spec"]["workloadIdentity"].as_object_mut().unwrap().remove("tencent").map(drop).unwrap_or(())
            }),
            &["spec.workloadIdentity", "exactly one of workloadIdentity.tencent or workloadIdentity.huawei"],
        ),
        (
            "service-account-other-namespace",
            keyless(|o| o["spec"]["workloadIdentity"]["serviceAccountName"] = "kube-system/default".into()),
            &["spec.workloadIdentity.serviceAccountName", "name of a ServiceAccount in this namespace"],
        ),
        (
            "service-account-empty",
            keyless(|o| o["spec"]["workloadIdentity"]["serviceAccountName"] = "".into()),
            &["spec.workloadIdentity.serviceAccountName", "must not be empty"],
        ),
        (
            "role-arn-shape",
            keyless(|o| {
                o["spec"]["workloadIdentity"]["tencent"]["roleArn"] =
                    "qcs::cam::uin/12x:role/4611686018427397919".into()
            }),
            &["spec.workloadIdentity.tencent.roleArn", "qcs::cam::uin/<account uin>:roleName/<role name>"],
        ),
        (
            "provider-id-shape",
            keyless(|o| o["spec"]["workloadIdentity"]["tencent"]["providerId"] = "a b".into()),
            &["spec.workloadIdentity.tencent.providerId"],
        ),
        (
            "tencent-duration-too-long",
            keyless(|o| o["spec"]["workloadIdentity"]["tencent"]["durationSeconds"] = serde_json::json!(43201)),
            &["spec.workloadIdentity.tencent.durationSeconds"],
        ),
        (
            "huawei-idp-header",
            Box::new(|o| {
                o["spec"].as_object_mut().unwrap().remove("credentialsSecretRef");
                o["spec"]["provider"] = serde_json::json!({"huawei": {"region": "cn-north-4"}});
                o["spec"]["workloadIdentity"] = huawei_identity();
                o["spec"]["workloadIdentity"]["huawei"]["identityProviderId"] = "idp\r\nX-Evil: 1".into();
            }),
            &["spec.workloadIdentity.huawei.identityProviderId", "letters, digits"],
        ),
        (
            "huawei-duration-too-short",
            Box::new(|o| {
                o["spec"].as_object_mut().unwrap().remove("credentialsSecretRef");
                o["spec"]["provider"] = serde_json::json!({"huawei": {"region": "cn-north-4"}});
                o["spec"]["workloadIdentity"] = huawei_identity();
                o["spec"]["workloadIdentity"]["huawei"]["durationSeconds"] = serde_json::json!(899);
            }),
            &["spec.workloadIdentity.huawei.durationSeconds"],
        ),
        (
            "missing-size",
            Box::new(|o| o["spec"].as_object_mut().unwrap().remove("size").map(drop).unwrap_or(())),
            &["spec.size", "Required"],
        ),
    ];
    for (name, edit, expected) in cases {
        let err = create_with(&cluster, name, edit).await.expect_err(&format!("{name} must be rejected"));
        for needle in expected {
            assert!(err.contains(needle), "{name}: rejection {err:?} lacks {needle:?}");
        }
        println!("rejected {name}: {err}");
    }
}

/// The spec's `provider` that selects `profile`, for each built-in cloud API.
fn provider_of(profile: &Profile) -> serde_json::Value {
    match profile.label {
        "tencent/V2" => serde_json::json!({"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-xdf54d", "api": "V2"}}),
        "tencent/V3" => serde_json::json!({"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-xdf54d"}}),
        "huawei" => serde_json::json!({"huawei": {"region": "cn-north-4"}}),
        other => panic!("a new cloud API {other}: add a spec that selects it"),
    }
}

/// Every size x billing mode (and none) on every built-in cloud API: admitted exactly when the
/// cloud's profile takes both, else refused with the words the Stalled check would use, which
/// list what that cloud takes.
#[tokio::test]
async fn admission_refuses_what_the_chosen_cloud_cannot_take() {
    let cluster = Cluster::start("admission-clouds").await;
    let billings = [None, Some(BillingMode::PayPerUse), Some(BillingMode::Prepaid)];
    let (mut admitted, mut refused) = (0, 0);
    for (_, profile) in Registry::builtin().admission() {
        for size in Size::ALL {
            for billing in billings {
                let name = format!(
                    "{}-{}-{}",
                    profile.label.replace('/', "-").to_lowercase(),
                    size.to_string().to_lowercase(),
                    billing.map_or("none".to_owned(), |b| b.to_string().to_lowercase())
                );
                let result = create_with(&cluster, &name, |o| {
                    o["spec"]["provider"] = provider_of(profile);
                    o["spec"]["size"] = size.to_string().into();
                    if let Some(mode) = billing {
                        o["spec"]["billing"] =
                            serde_json::json!({"mode": mode, "prepaid": {"periodUnit": "Month", "periods": 1}});
                    }
                })
                .await;
                let mode = billing.unwrap_or_default();
                let mut expected = Vec::new();
                if profile.capacity_for(size).is_none() {
                    expected.push(("spec.size", profile.size_refusal(&size.to_string())));
                }
                if !profile.billing_modes.contains(&mode) {
                    expected.push(("spec.billing.mode", profile.billing_refusal(&mode.to_string())));
                }
                match result {
                    Ok(()) => {
                        assert_eq!(expected, Vec::new(), "{name} was admitted");
                        admitted += 1;
                    }
                    Err(message) => {
                        assert!(!expected.is_empty(), "{name} was refused: {message}");
                        for (field, words) in &expected {
                            assert!(message.contains(field) && message.contains(words.as_str()), "{name}: {message}");
                        }
                        refused += 1;
                    }
                }
            }
        }
    }
    // Tencent (two APIs): Small..Large without billing or pay-per-use; Huawei: everything.
    assert_eq!((admitted, refused), (2 * 3 * 2 + 5 * 3, 2 * (5 * 3 - 3 * 2)));
    // A null billing is no billing.
    create_with(&cluster, "tencent-null-billing", |o| o["spec"]["billing"] = serde_json::Value::Null)
        .await
        .expect("billing: null is admitted");
}
