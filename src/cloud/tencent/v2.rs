//! API 2.0 calls: signed POST forms to `/v2/index.php`.

use super::DEFAULT_THROTTLE_PAUSE;
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{
    TencentClient,
    errors::{bad_answer, malformed_id, v2_error},
    now_unix,
    sign::{V2_PATH, V2Method, v2_signature, v2_string_to_sign},
};
use crate::{
    api::BillingMode,
    cloud::{Capacity, CloudError, ErrorKind, GatewayRef, GatewayState, Observed, OrderState, OrderTicket},
};

/// `DescribeNatGateway` returns at most 50 gateways per call.
const PAGE: usize = 50;

/// The form body of a signed API 2.0 POST (HmacSHA256), `Signature` included.
pub(crate) fn signed_form(params: &[(&str, &str)], secret_key: &str, host: &str, timestamp: i64, nonce: u64) -> String {
    let (timestamp, nonce) = (timestamp.to_string(), nonce.to_string());
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.extend([
        ("Timestamp", timestamp.as_str()),
        ("Nonce", nonce.as_str()),
        ("SignatureMethod", V2Method::HmacSha256.param()),
    ]);
    let signature =
        v2_signature(secret_key, V2Method::HmacSha256, &v2_string_to_sign("POST", host, V2_PATH, all.iter().copied()));
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(all).append_pair("Signature", &signature);
    form.finish()
}

/// A fresh `Nonce`. The cloud refuses a nonce it saw within the timestamp window as a replay
/// (4500), so it is drawn from the 63 bits the official SDK uses: from 32 bits, 10,000 calls of
/// one account within a window would share a nonce with a chance of about 1 %, 100,000 of 69 %.
fn nonce() -> u64 {
    rand::random_range(1..=i64::MAX as u64)
}

/// `code` is a string in some answers and a number in others.
fn code_of(body: &Value) -> Option<i64> {
    match body.get("code")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl TencentClient {
    /// Sends a call when the rate limiter allows.
    async fn v2_call(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, CloudError> {
        self.limiter.limited(action, DEFAULT_THROTTLE_PAUSE, self.v2_send(action, params)).await
    }

    async fn v2_send(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, CloudError> {
        let mut all =
            vec![("Action", action), ("Region", self.region.as_str()), ("SecretId", self.credentials.key_id.as_str())];
        if let Some(token) = &self.credentials.session_token {
            all.push(("Token", token.expose()));
        }
        all.extend_from_slice(params);
        let form = signed_form(&all, self.credentials.secret.expose(), &self.vpc.host, now_unix(), nonce());
        tracing::debug!(action, host = %self.vpc.host, "Tencent Cloud API 2.0 call");
        let response = self
            .http
            .post(format!("{}{V2_PATH}", self.vpc.base))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| bad_answer(status, &bytes))?;
        match code_of(&body) {
            Some(0) => Ok(body),
            Some(code) => Err(v2_error(
                code,
                body.get("codeDesc").and_then(Value::as_str),
                body.get("message").and_then(Value::as_str).unwrap_or(""),
            )),
            None => Err(bad_answer(status, &bytes)),
        }
    }

    pub(super) async fn v2_describe(&self, id: &str) -> Result<Observed, CloudError> {
        let body = self.v2_call("DescribeNatGateway", &[("natId", id)]).await?;
        let gateway = body
            .get("data")
            .and_then(Value::as_array)
            .and_then(|gateways| gateways.iter().find(|g| g.get("natId").and_then(Value::as_str) == Some(id)))
            .ok_or_else(|| {
                CloudError::new(ErrorKind::NotFound, format!("NAT gateway {id} not found in region {}", self.region))
            })?;
        observed(gateway).ok_or_else(|| bad_gateway(id))
    }

    /// Several gateways: pages of the region's gateways (50 each, the API's maximum) until all
    /// are found, switching to one call per id once fewer are missing than pages remain. One
    /// gateway: a call by id.
    pub(super) async fn v2_describe_many(&self, ids: &[String]) -> Result<HashMap<String, Observed>, CloudError> {
        let mut found = HashMap::new();
        let mut missing: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut offset = 0usize;
        while missing.len() > 1 {
            let (offset_text, limit) = (offset.to_string(), PAGE.to_string());
            let body = self.v2_call("DescribeNatGateway", &[("offset", &offset_text), ("limit", &limit)]).await?;
            let page = body.get("data").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for g in page {
                let Some(id) = g.get("natId").and_then(Value::as_str) else { continue };
                if missing.remove(id) {
                    found.insert(id.to_owned(), observed(g).ok_or_else(|| bad_gateway(id))?);
                }
            }
            offset += page.len();
            let total = body.get("totalCount").and_then(Value::as_u64).unwrap_or(0) as usize;
            if page.is_empty() || offset >= total {
                // Listed everything: whatever is missing does not exist.
                return Ok(found);
            }
            if missing.len() < total.saturating_sub(offset).div_ceil(PAGE) {
                break;
            }
        }
        for id in missing {
            match self.v2_describe(id).await {
                Ok(o) => {
                    found.insert(id.to_owned(), o);
                }
                // A malformed id names no gateway either.
                Err(e) if e.kind == ErrorKind::NotFound || malformed_id(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    pub(super) async fn v2_upgrade(&self, gateway: &GatewayRef, connections: u64) -> Result<OrderTicket, CloudError> {
        let vpc_id = gateway.place.tencent().and_then(|t| t.vpc_id.as_deref()).ok_or_else(|| {
            CloudError::new(
                ErrorKind::InvalidRequest,
                "Tencent Cloud API 2.0 needs the gateway's VPC to resize it: set spec.provider.tencent.vpcId",
            )
        })?;
        let connections = connections.to_string();
        let body = self
            .v2_call("UpgradeNatGateway", &[("vpcId", vpc_id), ("natId", &gateway.id), ("maxConcurrent", &connections)])
            .await?;
        let bill_id = match body.get("billId") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(bad_answer(reqwest::StatusCode::OK, body.to_string().as_bytes()));
            }
        };
        Ok(OrderTicket { order_id: Some(bill_id), request_id: None })
    }

    pub(super) async fn v2_bill_status(&self, bill_id: &str) -> Result<OrderState, CloudError> {
        let body = self.v2_call("QueryNatGatewayProductionStatus", &[("billId", bill_id)]).await?;
        let data = body.get("data");
        match data.and_then(|d| d.get("status")).and_then(Value::as_i64) {
            Some(0) => Ok(OrderState::Succeeded),
            // Failed is final: never keep waiting on it.
            Some(1) => {
                let detail = data.and_then(|d| d.get("errorMsg").or_else(|| d.get("errorCode"))).map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                Ok(OrderState::Failed {
                    reason: format!(
                        "Tencent Cloud reports bill {bill_id} failed{}",
                        detail.map(|d| format!(": {d}")).unwrap_or_default()
                    ),
                })
            }
            Some(2) => Ok(OrderState::InProgress),
            _ => Err(bad_answer(reqwest::StatusCode::OK, body.to_string().as_bytes())),
        }
    }
}

fn bad_gateway(id: &str) -> CloudError {
    CloudError::new(
        ErrorKind::Transient,
        format!("Tencent Cloud's description of NAT gateway {id} lacks maxConcurrent, state or productionStatus"),
    )
}

/// `state`: 0 running, 1 unavailable, 2 suspended for arrears. `productionStatus`: 0 creating,
/// 1 created, 2 create failed, 3 changing, 4 change failed, 5 deleting, 6 delete failed.
fn observed(g: &Value) -> Option<Observed> {
    let number = |k: &str| match g.get(k)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let (max, state, production) = (number("maxConcurrent")?, number("state")?, number("productionStatus")?);
    let state_word = match state {
        0 => "running",
        1 => "unavailable",
        2 => "suspended",
        _ => "unknown",
    };
    let production_word = match production {
        0 => "creating",
        1 => "created",
        2 => "create-failed",
        3 => "changing",
        4 => "change-failed",
        5 => "deleting",
        6 => "delete-failed",
        _ => "unknown",
    };
    let coarse = match (state, production) {
        (0, 1) => GatewayState::Ready,
        (0, 0 | 3 | 5) => GatewayState::Transitioning,
        _ => GatewayState::Unavailable,
    };
    Some(Observed {
        capacity: Capacity::Connections(max),
        billing: BillingMode::PayPerUse,
        state: coarse,
        raw_state: format!("{state_word}/{production_word}"),
        subscription: None,
        claim: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nonces_do_not_repeat() {
        // 300,000 draws: from 32 bits about ten would repeat; from 63 bits, none.
        let mut seen = HashSet::new();
        assert!((0..300_000).all(|_| seen.insert(nonce())));
    }

    #[test]
    fn form_is_signed_over_the_sent_values() {
        let form = signed_form(
            &[("Action", "DescribeNatGateway"), ("natId", "nat-1 x")],
            "key",
            "127.0.0.1:9443",
            1_700_000_000,
            42,
        );
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes()).into_owned().collect();
        let signature = pairs.iter().find(|(k, _)| k == "Signature").unwrap().1.clone();
        let unsigned = pairs.iter().filter(|(k, _)| k != "Signature").map(|(k, v)| (k.as_str(), v.as_str()));
        let expected =
            v2_signature("key", V2Method::HmacSha256, &v2_string_to_sign("POST", "127.0.0.1:9443", V2_PATH, unsigned));
        assert_eq!(signature, expected);
        assert!(pairs.contains(&("SignatureMethod".into(), "HmacSHA256".into())));
        assert!(pairs.contains(&("natId".into(), "nat-1 x".into())));
    }

    #[test]
    fn codes_as_strings_or_numbers() {
        assert_eq!(code_of(&json!({"code": "0"})), Some(0));
        assert_eq!(code_of(&json!({"code": 5100})), Some(5100));
        assert_eq!(code_of(&json!({"message": ""})), None);
    }

    #[test]
    fn states() {
        let o =
            |s: u64, p: u64| observed(&json!({"maxConcurrent": 3000000, "state": s, "productionStatus": p})).unwrap();
        assert_eq!(o(0, 1).state, GatewayState::Ready);
        assert_eq!(o(0, 1).raw_state, "running/created");
        assert_eq!(o(0, 1).capacity, Capacity::Connections(3_000_000));
        assert_eq!(o(0, 3).state, GatewayState::Transitioning);
        assert_eq!(o(0, 3).raw_state, "running/changing");
        assert_eq!(o(0, 0).state, GatewayState::Transitioning);
        for (s, p) in [(1, 1), (2, 1), (0, 2), (0, 4), (0, 6)] {
            assert_eq!(o(s, p).state, GatewayState::Unavailable, "{s}/{p}");
        }
        assert!(observed(&json!({"state": 0})).is_none());
    }
}
