use super::*;
use crate::api::{NatGatewaySpec, ProviderSpec, WorkloadIdentity};

#[test]
fn the_yaml_is_one_property_per_cloud() {
    let written = [
        r#"{"tencent":{"region":"ap-guangzhou","vpcId":"vpc-1","api":"V2"}}"#,
        r#"{"huawei":{"region":"cn-north-4","projectId":"p1","bssEndpoint":"https://bss.example"}}"#,
    ];
    for yaml in written {
        let provider: ProviderSpec = serde_json::from_str(yaml).unwrap();
        assert_eq!(serde_json::to_string(&provider).unwrap(), yaml);
    }
    let identity = r#"{"serviceAccountName":"sa","huawei":{"identityProviderId":"idp"}}"#;
    let parsed: WorkloadIdentity = serde_json::from_str(identity).unwrap();
    assert_eq!((parsed.cloud.cloud(), serde_json::to_string(&parsed).unwrap().as_str()), ("huawei", identity));
}

/// A null part is no part, as admission's `has()` reads it; none or two are what admission
/// refuses, and reading refuses them in its words.
#[test]
fn reading_takes_exactly_one_cloud() {
    let provider = |json: &str| serde_json::from_str::<ProviderSpec>(json).map_err(|e| e.to_string());
    let huawei = provider(r#"{"tencent":null,"huawei":{"region":"cn-north-4"}}"#).unwrap();
    assert_eq!(huawei.cloud(), "huawei");
    for refused in ["{}", r#"{"tencent":null}"#, r#"{"tencent":{"region":"r"},"huawei":{"region":"r"}}"#] {
        let error = provider(refused).unwrap_err();
        assert!(error.contains("set exactly one provider: either provider.tencent or provider.huawei"), "{error}");
    }
    let spec = serde_json::json!({
        "gatewayId": "nat-1", "provider": {"huawei": {"region": "cn-north-4"}}, "size": "Small",
        "workloadIdentity": {"serviceAccountName": "sa"},
    });
    let error = serde_json::from_value::<NatGatewaySpec>(spec).unwrap_err().to_string();
    assert!(error.contains("set exactly one of workloadIdentity.tencent or workloadIdentity.huawei"), "{error}");
}

/// A third cloud gets rules and messages of the same form.
#[test]
fn rules_name_every_cloud() {
    let three = ["tencent", "huawei", "alibaba"];
    assert_eq!(
        one_provider(&three),
        (
            "[has(self.tencent), has(self.huawei), has(self.alibaba)].filter(set, set).size() == 1".to_owned(),
            "set exactly one provider: one of provider.tencent, provider.huawei or provider.alibaba".to_owned()
        )
    );
    assert_eq!(
        one_identity(&three).1,
        "set exactly one of workloadIdentity.tencent, workloadIdentity.huawei or workloadIdentity.alibaba, the cloud of spec.provider"
    );
    assert_eq!(
        provider_description(&three),
        "The cloud that hosts the gateway: exactly one of `tencent`, `huawei` or `alibaba`."
    );
    assert!(
        identity_of_the_provider(&three)
            .rule
            .ends_with("&& has(self.workloadIdentity.alibaba) == has(self.provider.alibaba))")
    );
}
