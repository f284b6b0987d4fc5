//! Admission on the real API server: the CRD installs, a valid object is accepted, and each
//! invalid one is rejected with a message naming the offending field.

mod support;

use support::Cluster;

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

    // (name, edit, text the message must contain)
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &[&str])> = vec![
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
