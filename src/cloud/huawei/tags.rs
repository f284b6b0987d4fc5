//! The claim tag on Huawei Cloud NAT gateways (NAT v3 tags, `huaweicloudsdknat`): one gateway's
//! tags with `ShowNatGatewayTag`, a whole project's claims with one `ListNatGatewayByTag` page per
//! 1,000 claimed gateways (the list calls carry no tags, so a sweep adds one call, not one per
//! gateway), writes with `BatchCreateDeleteNatGatewayTag`.

use std::collections::HashMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{HuaweiClient, Scope, THROTTLE_PAUSE};
use crate::cloud::{
    CloudError, GatewayRef, Observed,
    claim::{ClaimTag, Claimant, TAG_KEY},
    ratelimit::read_with_retries,
};

/// `limit` of `ListNatGatewayByTag` (the API's maximum).
const TAG_PAGE: usize = 1000;

#[derive(Debug, Serialize, Deserialize)]
struct Tag {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
struct Resource {
    resource_id: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
struct Resources {
    #[serde(default)]
    resources: Vec<Resource>,
    #[serde(default)]
    total_count: usize,
}

fn claim_in(tags: &[Tag]) -> ClaimTag {
    ClaimTag::from_value(tags.iter().find(|t| t.key == TAG_KEY).map(|t| t.value.as_deref().unwrap_or_default()))
}

impl HuaweiClient {
    /// Sets each read gateway's claim: `ShowNatGatewayTag` for each when `one_by_one` (or
    /// alone), else one `ListNatGatewayByTag` filter on the claim key per project (every claimed
    /// gateway of the project, whatever the value); a gateway it does not list is unclaimed.
    pub(super) async fn add_claims(
        &self,
        found: &mut HashMap<(String, String), Observed>,
        one_by_one: bool,
    ) -> Result<(), CloudError> {
        if one_by_one || found.len() == 1 {
            let reads = found.iter_mut().map(|((project, id), observed)| async move {
                observed.claim = read_with_retries(|| self.claim_of(project, id)).await?;
                Ok::<_, CloudError>(())
            });
            futures::future::try_join_all(reads).await?;
            return Ok(());
        }
        let mut projects: Vec<&String> = found.keys().map(|(p, _)| p).collect();
        projects.sort();
        projects.dedup();
        let mut claims = HashMap::new();
        for project in projects {
            for (id, claim) in read_with_retries(|| self.claims_in(project)).await? {
                claims.insert((project.clone(), id), claim);
            }
        }
        for (key, observed) in found.iter_mut() {
            observed.claim = claims.remove(key).unwrap_or(ClaimTag::Free);
        }
        Ok(())
    }

    async fn claim_of(&self, project: &str, id: &str) -> Result<ClaimTag, CloudError> {
        let path = format!("/v3/{project}/nat_gateways/{id}/tags");
        let answer =
            self.call("ShowNatGatewayTag", Method::GET, &self.nat, &path, &[], Scope::Project(project), None).await?;
        Ok(claim_in(&Self::decode::<Tags>(&answer, "ShowNatGatewayTag")?.tags))
    }

    /// Every gateway of `project` that carries the claim key, with its claim.
    pub(super) async fn claims_in(&self, project: &str) -> Result<Vec<(String, ClaimTag)>, CloudError> {
        let path = format!("/v3/{project}/nat_gateways/resource_instances/action");
        let mut claims = Vec::new();
        loop {
            let body = serde_json::json!({
                "action": "filter",
                "tags": [{"key": TAG_KEY, "values": []}],
                "limit": TAG_PAGE.to_string(),
                "offset": claims.len().to_string(),
            });
            let body = Self::json(&body);
            let answer = self
                .call("ListNatGatewayByTag", Method::POST, &self.nat, &path, &[], Scope::Project(project), body)
                .await?;
            let page = Self::decode::<Resources>(&answer, "ListNatGatewayByTag")?;
            let listed = page.resources.len();
            claims.extend(page.resources.into_iter().map(|r| (r.resource_id, claim_in(&r.tags))));
            if listed < TAG_PAGE || claims.len() >= page.total_count {
                return Ok(claims);
            }
        }
    }

    /// `BatchCreateDeleteNatGatewayTag` with the claim: `create` with `claimant` (which overwrites
    /// the key's value), `delete` without; `wait` for the rate limit
    /// ([`crate::cloud::Provider::write_claim`]).
    pub(super) async fn tag(&self, gateway: &GatewayRef, tag: Option<&Claimant>, wait: bool) -> Result<(), CloudError> {
        let action = if tag.is_some() { "create" } else { "delete" };
        let project = self.project_id(&gateway.place).await?;
        let path = format!("/v3/{project}/nat_gateways/{}/tags/action", gateway.id);
        let tag = Tag { key: TAG_KEY.to_owned(), value: tag.map(|c| c.tag_value().to_owned()) };
        let body = Self::json(&serde_json::json!({ "action": action, "tags": [tag] }));
        // A sweep that read the gateway before the write must not answer for its claim.
        self.forget(&project, &gateway.id);
        const ACTION: &str = "BatchCreateDeleteNatGatewayTag";
        let send = self.send(Method::POST, &self.nat, &path, &[], Scope::Project(&project), body);
        match wait {
            true => self.limiter.limited(ACTION, THROTTLE_PAUSE, send).await?,
            false => self.limiter.limited_now(ACTION, THROTTLE_PAUSE, send).await?,
        };
        Ok(())
    }
}
