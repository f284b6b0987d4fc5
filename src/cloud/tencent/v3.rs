//! API 3.0 calls: JSON POSTs to `/`, signed with TC3-HMAC-SHA256.

use super::{DEFAULT_THROTTLE_PAUSE, IDS_PER_CALL};
use std::collections::HashMap;

use serde_json::{Value, json};

use super::{
    Service, TencentClient,
    errors::{bad_answer, malformed_id, v3_error},
    now_unix,
    sign::{tc3_authorization, tc3_canonical_request, tc3_signature},
};
use crate::{
    api::{BillingMode, ProviderSpec},
    cloud::{
        Capacity, CloudError, ErrorKind, GatewayState, Listed, Listing, Observed, OrderTicket,
        claim::{ClaimTag, TAG_KEY},
    },
};

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The `Authorization` header for a JSON POST to `/` of `service` (`vpc`, `tag`, `sts`).
pub(crate) fn authorization(
    service: &str,
    secret_id: &str,
    secret_key: &str,
    host: &str,
    timestamp: i64,
    payload: &[u8],
) -> String {
    let signed_headers = "content-type;host";
    let canonical = tc3_canonical_request(
        "POST",
        "/",
        "",
        &[("content-type", CONTENT_TYPE), ("host", host)],
        signed_headers,
        payload,
    );
    let signature = tc3_signature(secret_key, service, timestamp, &canonical);
    tc3_authorization(secret_id, service, timestamp, signed_headers, &signature)
}

impl TencentClient {
    /// Returns the `Response` object of a successful VPC call, sent when the rate limiter allows.
    async fn v3_call(&self, action: &str, params: Value) -> Result<Value, CloudError> {
        self.service_call(&self.vpc, action, params).await
    }

    /// A call to `service`, sent when the account's rate limiter allows.
    pub(super) async fn service_call(
        &self,
        service: &Service,
        action: &str,
        params: Value,
    ) -> Result<Value, CloudError> {
        self.limiter.limited(action, DEFAULT_THROTTLE_PAUSE, self.v3_send(service, action, params)).await
    }

    /// [`Self::service_call`] that sends nothing while the rate limit would make it wait.
    pub(super) async fn service_call_now(
        &self,
        service: &Service,
        action: &str,
        params: Value,
    ) -> Result<Value, CloudError> {
        self.limiter.limited_now(action, DEFAULT_THROTTLE_PAUSE, self.v3_send(service, action, params)).await
    }

    async fn v3_send(&self, service: &Service, action: &str, params: Value) -> Result<Value, CloudError> {
        let payload =
            serde_json::to_vec(&params).map_err(|e| CloudError::new(ErrorKind::InvalidRequest, e.to_string()))?;
        let timestamp = now_unix();
        let secret = self.credentials.secret.expose();
        let auth = authorization(service.name, &self.credentials.key_id, secret, &service.host, timestamp, &payload);
        let mut request = self
            .http
            .post(format!("{}/", service.base))
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("X-TC-Action", action)
            .header("X-TC-Version", service.version)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.region);
        if let Some(token) = &self.credentials.session_token {
            request = request.header("X-TC-Token", token.expose());
        }
        tracing::debug!(action, host = %service.host, "Tencent Cloud API 3.0 call");
        let response = request.body(payload).send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let mut body: Value = serde_json::from_slice(&bytes).map_err(|_| bad_answer(status, &bytes))?;
        let Some(response) = body.get_mut("Response").map(Value::take) else {
            return Err(bad_answer(status, &bytes));
        };
        let request_id = response.get("RequestId").and_then(Value::as_str).map(str::to_owned);
        match response.get("Error") {
            Some(error) => Err(v3_error(
                error.get("Code").and_then(Value::as_str).unwrap_or("InternalError"),
                error.get("Message").and_then(Value::as_str).unwrap_or(""),
                request_id,
            )),
            None => Ok(response),
        }
    }

    /// A call per 100 ids. The cloud refuses a whole call for one malformed id
    /// (`InvalidParameterValue.Malformed`), so a refused call is halved until that id is alone
    /// and the other gateways are still read; an id that is malformed names no gateway.
    pub(super) async fn v3_describe_many(&self, ids: &[String]) -> Result<HashMap<String, Observed>, CloudError> {
        let mut found = HashMap::new();
        let mut pending: Vec<&[String]> = ids.chunks(IDS_PER_CALL).collect();
        while let Some(chunk) = pending.pop() {
            match self.v3_describe_chunk(chunk).await {
                Ok(part) => found.extend(part),
                Err(e) if malformed_id(&e) => {
                    if chunk.len() > 1 {
                        let (a, b) = chunk.split_at(chunk.len() / 2);
                        pending.extend([a, b]);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    async fn v3_describe_chunk(&self, ids: &[String]) -> Result<HashMap<String, Observed>, CloudError> {
        let response =
            self.v3_call("DescribeNatGateways", json!({ "NatGatewayIds": ids, "Limit": IDS_PER_CALL })).await?;
        let mut found = HashMap::new();
        for g in response.get("NatGatewaySet").and_then(Value::as_array).into_iter().flatten() {
            let id = g.get("NatGatewayId").and_then(Value::as_str).unwrap_or_default();
            let observed = observed(g).ok_or_else(|| incomplete(id))?;
            found.insert(id.to_owned(), observed);
        }
        Ok(found)
    }

    /// The region's gateways (one VPC's when `place` names one), 100 per `DescribeNatGateways`
    /// page until `TotalCount` is reached; each listed with its own VPC.
    pub(super) async fn v3_list(&self, place: &ProviderSpec) -> Result<Listing, CloudError> {
        let mut listing = Listing::default();
        loop {
            let mut params = json!({ "Offset": listing.gateways.len(), "Limit": IDS_PER_CALL });
            if let Some(vpc) = place.tencent().and_then(|t| t.vpc_id.as_deref()) {
                params["Filters"] = json!([{ "Name": "vpc-id", "Values": [vpc] }]);
            }
            let response = self.v3_call("DescribeNatGateways", params).await?;
            listing.pages += 1;
            let page = response.get("NatGatewaySet").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for g in page {
                let text = |field: &str| g.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
                let id = text("NatGatewayId");
                let observed = observed(g).ok_or_else(|| incomplete(&id))?;
                let mut place = place.clone();
                if let (ProviderSpec::Tencent(t), Some(vpc)) =
                    (&mut place, Some(text("VpcId")).filter(|v| !v.is_empty()))
                {
                    t.vpc_id = Some(vpc);
                }
                listing.gateways.push(Listed { name: text("NatGatewayName"), place, observed, id });
            }
            let total = response.get("TotalCount").and_then(Value::as_u64).unwrap_or(0) as usize;
            if page.is_empty() || listing.gateways.len() >= total {
                return Ok(listing);
            }
        }
    }

    pub(super) async fn v3_reset(&self, id: &str, connections: u64) -> Result<OrderTicket, CloudError> {
        let response = self
            .v3_call("ResetNatGatewayConnection", json!({ "NatGatewayId": id, "MaxConcurrentConnection": connections }))
            .await?;
        // Asynchronous, with no order to poll: the State goes UPDATING -> AVAILABLE.
        Ok(OrderTicket {
            order_id: None,
            request_id: response.get("RequestId").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

fn incomplete(id: &str) -> CloudError {
    CloudError::new(
        ErrorKind::Transient,
        format!("Tencent Cloud's description of NAT gateway {id} lacks State or MaxConcurrentConnection"),
    )
}

fn observed(g: &Value) -> Option<Observed> {
    let state = g.get("State")?.as_str()?;
    let max = g.get("MaxConcurrentConnection")?.as_u64()?;
    Some(Observed {
        capacity: Capacity::Connections(max),
        billing: BillingMode::PayPerUse,
        state: match state {
            "AVAILABLE" => GatewayState::Ready,
            "PENDING" | "UPDATING" | "DELETING" => GatewayState::Transitioning,
            _ => GatewayState::Unavailable,
        },
        raw_state: state.to_owned(),
        subscription: None,
        claim: claim(g),
    })
}

/// The claim in the gateway's `TagSet` (always answered, empty when untagged).
fn claim(g: &Value) -> ClaimTag {
    let tags = g.get("TagSet").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let value = tags.iter().find(|t| t.get("Key").and_then(Value::as_str) == Some(TAG_KEY));
    ClaimTag::from_value(value.map(|t| t.get("Value").and_then(Value::as_str).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_is_read_from_the_tag_set() {
        let o =
            |tags: Value| observed(&json!({"State": "AVAILABLE", "MaxConcurrentConnection": 1000000, "TagSet": tags}));
        assert_eq!(o(json!([])).unwrap().claim, ClaimTag::Free);
        assert_eq!(o(json!([{"Key": "team", "Value": "a"}])).unwrap().claim, ClaimTag::Free);
        let held = o(json!([{"Key": TAG_KEY, "Value": "blue_ns_gw"}])).unwrap().claim;
        assert!(matches!(held, ClaimTag::Held(c) if (c.cluster(), c.namespace(), c.name()) == ("blue", "ns", "gw")));
        assert_eq!(o(json!([{"Key": TAG_KEY, "Value": "by hand"}])).unwrap().claim, ClaimTag::Unreadable);
    }

    #[test]
    fn states() {
        let o = |s: &str| observed(&json!({"State": s, "MaxConcurrentConnection": 1000000})).unwrap();
        assert_eq!(o("AVAILABLE").state, GatewayState::Ready);
        for s in ["PENDING", "UPDATING", "DELETING"] {
            assert_eq!(o(s).state, GatewayState::Transitioning);
        }
        for s in ["PENDFAILURE", "DELETEFAILURE", "DENIED", "SOMETHINGNEW"] {
            assert_eq!(o(s).state, GatewayState::Unavailable);
        }
        assert_eq!(o("UPDATING").raw_state, "UPDATING");
        assert!(observed(&json!({"State": "AVAILABLE"})).is_none());
    }

    #[test]
    fn authorization_matches_the_signer() {
        let auth = authorization("vpc", "AKID", "key", "127.0.0.1:9080", 1_551_113_065, b"{}");
        assert!(auth.starts_with(
            "TC3-HMAC-SHA256 Credential=AKID/2019-02-25/vpc/tc3_request, SignedHeaders=content-type;host, Signature="
        ));
    }
}
