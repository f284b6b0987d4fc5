//! Huawei's JSON bodies for the calls the operator makes, shared by the client (to read them) and
//! the simulator (to write them), so both agree on field names by construction.

use serde::{Deserialize, Serialize};

/// `nat_gateway` of `ShowNatGateway` / `UpdateNatGateway`. Fields the operator does not read
/// are lenient so that an unexpected shape of one of them never fails a describe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NatGateway {
    pub id: String,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub spec: String,
    pub status: String,
    #[serde(default)]
    pub admin_state_up: bool,
    /// Docs show `2017-11-18 07:34:32.203044`, the SDK RFC 3339; not needed, so kept raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<serde_json::Value>,
    #[serde(default)]
    pub router_id: String,
    #[serde(default)]
    pub internal_network_id: String,
    #[serde(default)]
    pub enterprise_project_id: String,
    /// Order information; non-empty only for yearly/monthly gateways.
    #[serde(default)]
    pub billing_info: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatGatewayEnvelope {
    pub nat_gateway: NatGateway,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// `ListNatGateways` answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NatGateways {
    #[serde(default)]
    pub nat_gateways: Vec<NatGateway>,
}

/// `UpdateNatGateway` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRequest {
    pub nat_gateway: UpdateOption,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateOption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepaid_options: Option<UpdatePrepaid>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdatePrepaid {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_auto_pay: Option<bool>,
}

/// `UpdateNatGatewayToPeriod` (`change_to_period`) request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeToPeriodRequest {
    pub prepaid_options: PrepaidOptions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepaidOptions {
    /// `month` or `year`.
    pub period_type: String,
    pub period_num: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_auto_renew: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_auto_pay: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderIdResponse {
    pub order_id: String,
}

/// BSS `service_type_code` of NAT gateway orders.
pub const NAT_SERVICE_TYPE: &str = "hws.service.type.natgateway";
/// BSS `order_type` of a change (here: a yearly/monthly gateway's spec change).
pub const ORDER_TYPE_CHANGE: i64 = 3;
/// BSS `order_type` of a pay-per-use -> yearly/monthly conversion (`change_to_period`).
pub const ORDER_TYPE_TO_PERIOD: i64 = 11;
/// `create_time_begin` / `create_time_end` format of `ListCustomerOrders`, e.g. `2019-05-06T08:05:01Z`.
pub const BSS_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// `ShowCustomerOrderDetails` response (the parts the operator reads, plus what the SDK needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderDetails {
    #[serde(default)]
    pub total_count: i64,
    pub order_info: OrderInfo,
    #[serde(default)]
    pub order_line_items: Vec<serde_json::Value>,
}

/// `order_info` of `ShowCustomerOrderDetails` (the SDK's `CustomerOrderV3`) and each entry of
/// `ListCustomerOrders`' `order_infos` (`CustomerOrderV2`): the same fields but
/// `pending_payment_end_time`, which only the former has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderInfo {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// 1 pending approval, 2 pending refund, 3 processing, 4 cancelled, 5 completed,
    /// 6 pending payment, 9 pending confirmation, 10-13 delivery states.
    pub status: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_payment_end_time: Option<String>,
    /// The rest of the SDK's model (names, amounts, currency, ...), which the operator does not
    /// read; the simulator fills it so that the SDK sees every field.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `ListCustomerOrders` (`GET /v2/orders/customer-orders`) response. Its entries carry no
/// resource id, and neither do `ShowCustomerOrderDetails`' line items (`OrderLineItemEntityV2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerOrders {
    #[serde(default)]
    pub total_count: i64,
    #[serde(default)]
    pub order_infos: Vec<OrderInfo>,
}

/// `ListPayPerUseCustomerResources` (`POST /v2/orders/suscriptions/resources/query`, the path's
/// spelling is BSS's) request body, the SDK's `QueryResourcesReq`: the yearly/monthly resources
/// that match every filter given. An absent filter is no filter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueryResourcesRequest {
    /// At most 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// 1: main resources only; 0 (default): their attached resources too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_main_resource: Option<i64>,
    /// Resource statuses: 2 in use, 3 closed, 4 frozen, 5 expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_list: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time_begin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time_end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

/// `ListPayPerUseCustomerResources` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerResources {
    #[serde(default)]
    pub data: Vec<CustomerResource>,
    #[serde(default)]
    pub total_count: i64,
}

/// One entry of `ListPayPerUseCustomerResources` (the SDK's `OrderInstanceV2`). The operator reads
/// `resource_id`, `expire_time` and `expire_policy`; the rest is what the simulator serves so
/// that the SDK model is complete.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerResource {
    #[serde(default)]
    pub id: String,
    /// The cloud service's own id: for a NAT gateway, the gateway id.
    pub resource_id: String,
    #[serde(default)]
    pub resource_name: String,
    #[serde(default)]
    pub region_code: String,
    #[serde(default)]
    pub service_type_code: String,
    #[serde(default)]
    pub resource_type_code: String,
    #[serde(default)]
    pub resource_type_name: String,
    #[serde(default)]
    pub service_type_name: String,
    #[serde(default)]
    pub resource_spec_code: String,
    #[serde(default)]
    pub project_id: String,
    #[serde(default)]
    pub product_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_resource_id: Option<String>,
    #[serde(default)]
    pub is_main_resource: i64,
    /// [`RESOURCE_IN_USE`], 3 closed, 4 frozen, [`RESOURCE_EXPIRED`].
    #[serde(default)]
    pub status: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// What happens at `expire_time`: [`EXPIRE_GRACE_PERIOD`], [`EXPIRE_TO_ON_DEMAND`], 2 deleted,
    /// [`EXPIRE_AUTO_RENEW`], 4 frozen, 5 deleted from the retention period.
    #[serde(default)]
    pub expire_policy: i64,
    #[serde(default)]
    pub product_spec_desc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// `{"id","name"}` of the enterprise project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_project: Option<serde_json::Value>,
}

/// `ListPayPerUseCustomerResources` `status`: in use.
pub const RESOURCE_IN_USE: i64 = 2;
/// `ListPayPerUseCustomerResources` `status`: the period has ended (the grace period).
pub const RESOURCE_EXPIRED: i64 = 5;
/// `expire_policy`: not renewed; a grace period follows expiry.
pub const EXPIRE_GRACE_PERIOD: i64 = 0;
/// `expire_policy`: becomes pay-per-use at expiry (`UpdatePeriodToOnDemand` `SET_UP`).
pub const EXPIRE_TO_ON_DEMAND: i64 = 1;
/// `expire_policy`: renewed automatically (`AutoRenewalResources`); the only renewing policy.
pub const EXPIRE_AUTO_RENEW: i64 = 3;
/// BSS `order_type` of a renewal (what auto-renew places before expiry).
pub const ORDER_TYPE_RENEWAL: i64 = 2;

/// `AutoRenewalResources` (`POST /v2/orders/subscriptions/resources/autorenew/{resource_id}`)
/// request body, the SDK's `AutoRenewalResourcesReq`. Both fields are optional: without them BSS
/// renews without a limit on the number of times, by the period of the resource's last order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AutoRenewalRequest {
    /// 0-99; 0 is no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew_times: Option<i64>,
    /// `MONTH` or `YEAR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_type: Option<String>,
}

/// `UpdatePeriodToOnDemand` (`POST /v2/orders/subscriptions/resources/to-on-demand`) request
/// body, the SDK's `PeriodToOnDemandReq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodToOnDemandRequest {
    /// [`TO_ON_DEMAND_SET_UP`] or [`TO_ON_DEMAND_CANCEL`].
    pub operation: String,
    /// Main resources only, 1-100.
    pub resource_ids: Vec<String>,
}

/// `operation` of `UpdatePeriodToOnDemand`: become pay-per-use at expiry.
pub const TO_ON_DEMAND_SET_UP: &str = "SET_UP";
/// `operation` of `UpdatePeriodToOnDemand`: undo `SET_UP` (stay yearly/monthly at expiry).
pub const TO_ON_DEMAND_CANCEL: &str = "CANCEL";

/// `UpdatePeriodToOnDemand`'s 200 answer: the resources it could not change, if any.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PeriodToOnDemandResponse {
    #[serde(default)]
    pub error_details: Vec<ErrorDetail>,
}

/// One failure of a batch call (the SDK's `ErrorDetail`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub error_msg: String,
    /// What failed: BSS documents "the customer id or the batch message's id".
    #[serde(default)]
    pub id: String,
}

/// `CancelCustomerOrder` (`PUT /v2/orders/customer-orders/cancel`) request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelOrderRequest {
    pub order_id: String,
}

/// `PayOrders` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayOrdersRequest {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_coupon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_discount: Option<String>,
}

/// `KeystoneListProjects` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projects {
    pub projects: Vec<Project>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub domain_id: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// The error body every Huawei service returns (`error_code`/`error_msg`, optionally
/// `request_id`); the simulator writes it, the client reads it with [`error_fields`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error_code: String,
    pub error_msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Code and message of an error body, looked up as the official SDK does: `error_code` +
/// `error_msg`, `errorCode` + `errorMsg`, `code` + `message`, then the same inside nested
/// objects (IAM's `{"error":{...}}`); the NAT API's `{"NeutronError":{"type","message"}}`
/// gives its `type` as the code.
pub fn error_fields(body: &serde_json::Value) -> Option<(String, String)> {
    let obj = body.as_object()?;
    let text = |k: &str| obj.get(k).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
    for (code, msg) in
        [("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"), ("type", "message")]
    {
        if let (Some(c), Some(m)) = (text(code), text(msg)) {
            return Some((c, m));
        }
    }
    obj.values().find_map(error_fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_fields_follow_the_sdk_lookup_order() {
        let f = |v| error_fields(&v).map(|(c, m)| format!("{c}|{m}"));
        assert_eq!(
            f(json!({"error_code":"NAT.0002","error_msg":"Invalid parameters.","request_id":"r"})).unwrap(),
            "NAT.0002|Invalid parameters."
        );
        assert_eq!(f(json!({"error":{"code":"IAM.0001","message":"bad","title":"x"}})).unwrap(), "IAM.0001|bad");
        assert_eq!(
            f(json!({"NeutronError":{"message":"NatGateway x could not be found.","type":"NatGatewayNotFound","detail":""}})).unwrap(),
            "NatGatewayNotFound|NatGateway x could not be found."
        );
        assert_eq!(f(json!({"errorCode":"CBC.0100","errorMsg":"p"})).unwrap(), "CBC.0100|p");
        assert_eq!(f(json!(["no"])), None);
        assert_eq!(f(json!({"unrelated": 1})), None);
    }

    #[test]
    fn gateway_parses_with_nulls_and_both_date_formats() {
        for created in [json!("2017-11-18 07:34:32.203044"), json!("2017-11-18T07:34:32Z"), json!(null)] {
            let gw: NatGateway = serde_json::from_value(json!({
                "id":"g","spec":"1","status":"ACTIVE","created_at":created,"billing_info":null,"admin_state_up":true
            }))
            .unwrap();
            assert_eq!(gw.billing_info, None);
        }
    }
}
