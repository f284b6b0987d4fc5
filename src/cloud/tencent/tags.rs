//! The claim tag on Tencent Cloud NAT gateways: read with every `DescribeNatGateways` (its
//! `TagSet`, no extra call), written with the Tag API (`TagResources` / `UnTagResources`,
//! version 2018-08-13), which names a gateway by its six-segment resource name
//! `qcs::vpc:{region}:uin/{uin}:nat/{id}`. The account's uin comes from STS `GetCallerIdentity`,
//! asked once per client.

use serde_json::{Value, json};

use super::TencentClient;
use crate::cloud::{
    CloudError, ErrorKind, GatewayRef,
    claim::{Claimant, TAG_KEY},
};

impl TencentClient {
    /// Tags the gateway with `claimant`'s claim, or removes the claim key when `None`; `wait`
    /// for the rate limit ([`crate::cloud::Provider::write_claim`]).
    pub(super) async fn v3_tag(
        &self,
        gateway: &GatewayRef,
        claimant: Option<&Claimant>,
        wait: bool,
    ) -> Result<(), CloudError> {
        let resource = format!("qcs::vpc:{}:uin/{}:nat/{}", self.region, self.account().await?, gateway.id);
        let (action, params) = match claimant {
            Some(c) => (
                "TagResources",
                json!({ "ResourceList": [resource], "Tags": [{ "TagKey": TAG_KEY, "TagValue": c.tag_value() }] }),
            ),
            None => ("UnTagResources", json!({ "ResourceList": [resource], "TagKeys": [TAG_KEY] })),
        };
        let response = match wait {
            true => self.service_call(&self.tag, action, params).await?,
            false => self.service_call_now(&self.tag, action, params).await?,
        };
        // The call succeeds as a whole and lists the resources it could not tag.
        match response.get("FailedResources").and_then(Value::as_array).and_then(|f| f.first()) {
            None => Ok(()),
            Some(failed) => {
                let text = |field: &str| failed.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
                Err(super::errors::v3_error(&text("Code"), &text("Message"), None))
            }
        }
    }

    /// The account's uin (`GetCallerIdentity`'s `AccountId`), asked once.
    async fn account(&self) -> Result<&str, CloudError> {
        let uin = self
            .uin
            .get_or_try_init(|| async {
                let response = self.service_call(&self.sts, "GetCallerIdentity", json!({})).await?;
                let uin = response.get("AccountId").and_then(Value::as_str).unwrap_or_default();
                // It reaches a resource name: digits only, as every uin is.
                match !uin.is_empty() && uin.bytes().all(|b| b.is_ascii_digit()) {
                    true => Ok(uin.to_owned()),
                    false => Err(CloudError::new(
                        ErrorKind::Transient,
                        "Tencent Cloud's GetCallerIdentity answered no account id made of digits",
                    )),
                }
            })
            .await?;
        Ok(uin)
    }
}
