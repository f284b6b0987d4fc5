//! BSS OpenAPI (2017-12-14), for following an upgrade order and a subscription's renewal:
//! `QueryOrders`, `GetOrderDetail`, `PayOrder`, `CancelOrder`, `QueryAvailableInstances` and
//! `SetRenewal`. Answers carry `Code: "Success"`, `Message`, `Success: true` and `Data`, as BSS
//! does. Gateways are product `nat_gw`; an upgrade order is `OrderType` `Upgrade`.

use serde_json::{Value, json};

use super::{
    answer::ApiError,
    params::{Params, int, required},
    state::Sim,
    world::{Charge, Gateway, Payment, Refusal, SimOrder, bss_time},
};

pub const VERSION: &str = "2017-12-14";
pub const ACTIONS: [&str; 6] =
    ["QueryOrders", "GetOrderDetail", "PayOrder", "CancelOrder", "QueryAvailableInstances", "SetRenewal"];
/// BSS allows 10 calls per second per account and action.
pub const LIMIT_PER_SECOND: u32 = 10;

const PRODUCT: &str = "nat_gw";

pub fn dispatch(sim: &Sim, action: &str, params: &Params) -> Result<Value, ApiError> {
    match action {
        "QueryOrders" => query_orders(sim, params),
        "GetOrderDetail" => order_detail(sim, params),
        "PayOrder" => pay(sim, params),
        "CancelOrder" => cancel(sim, params),
        "QueryAvailableInstances" => instances(sim, params),
        _ => set_renewal(sim, params),
    }
}

fn success(data: Value) -> Value {
    json!({ "Code": "Success", "Message": "Successful!", "Success": true, "Data": data })
}

fn order_error(refusal: Refusal, id: &str) -> ApiError {
    match refusal {
        Refusal::NotUnpaid(status) => {
            ApiError::bad("ORDER.STATUS_ERROR", format!("The order {id} is {status:?}, not Unpaid."))
        }
        _ => ApiError::bad("InvalidParameter.OrderId", format!("The order {id} does not exist.")),
    }
}

fn payment_name(p: Payment) -> &'static str {
    match p {
        Payment::Unpaid => "Unpaid",
        Payment::Paid => "Paid",
        Payment::Cancelled => "Cancelled",
    }
}

fn order_json(o: &SimOrder, detail: bool) -> Value {
    let mut order = json!({
        "OrderId": o.id,
        "OrderType": "Upgrade",
        "ProductCode": PRODUCT,
        "ProductType": "",
        "CommodityCode": "nat_gw",
        "SubscriptionType": "Subscription",
        "PaymentStatus": payment_name(o.payment),
        "CreateTime": bss_time(o.created),
        "PaymentTime": o.paid.map(bss_time).unwrap_or_default(),
        "Currency": "CNY",
        "PaymentCurrency": "CNY",
        "PretaxAmount": "100.0",
        "PretaxGrossAmount": "100.0",
        "PretaxAmountLocal": "100.0",
        "AfterTaxAmount": "100.0",
        "Tax": "0.0",
    });
    if detail && let Some(fields) = order.as_object_mut() {
        fields.insert("InstanceIDs".into(), json!(o.gateway_id));
        fields.insert("Region".into(), json!(o.region_id));
        fields.insert("OriginalConfig".into(), json!(format!("Spec:{}", o.from_spec)));
        fields.insert("Config".into(), json!(format!("Spec:{}", o.to_spec)));
        fields.insert("Quantity".into(), json!("1"));
    }
    order
}

/// `PageNum` from 1, `PageSize` 1-100 (default 20), filtered by `OrderType`, `PaymentStatus`,
/// `ProductCode` and `SubscriptionType`; newest first.
fn query_orders(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    let page = int(params, "PageNum", 1, 1..=u32::MAX)?;
    let size = int(params, "PageSize", 20, 1..=100)?;
    let field = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let world = sim.world();
    let mut orders: Vec<&SimOrder> = world
        .orders()
        .iter()
        .filter(|_| field("OrderType").is_none_or(|t| t == "Upgrade"))
        .filter(|_| field("ProductCode").is_none_or(|p| p == PRODUCT))
        .filter(|_| field("SubscriptionType").is_none_or(|s| s == "Subscription"))
        .filter(|o| field("PaymentStatus").is_none_or(|p| p == payment_name(o.payment)))
        .collect();
    orders.reverse();
    let start = (page as usize - 1).saturating_mul(size as usize);
    let list: Vec<Value> = orders.iter().skip(start).take(size as usize).map(|o| order_json(o, false)).collect();
    Ok(success(json!({
        "HostName": "sim",
        "PageNum": page,
        "PageSize": size,
        "TotalCount": orders.len(),
        "OrderList": { "Order": list },
    })))
}

fn find<'a>(orders: &'a [SimOrder], id: &str) -> Result<&'a SimOrder, ApiError> {
    orders.iter().find(|o| o.id == id).ok_or_else(|| order_error(Refusal::NoOrder, id))
}

fn order_detail(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    let id = required(params, "OrderId")?;
    let world = sim.world();
    let order = find(world.orders(), id)?;
    Ok(success(json!({
        "HostName": "sim",
        "PageNum": 1,
        "PageSize": 1,
        "TotalCount": 1,
        "OrderList": { "Order": [order_json(order, true)] },
    })))
}

/// Pays from the account's balance; the gateway starts changing.
fn pay(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    let id = required(params, "OrderId")?;
    sim.world().pay(id).map_err(|r| order_error(r, id))?;
    Ok(json!({ "OrderId": id, "PayStatus": "Paid" }))
}

fn cancel(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    let id = required(params, "OrderId")?;
    sim.world().cancel(id).map_err(|r| order_error(r, id))?;
    Ok(success(json!({ "OrderId": id, "HostId": "sim" })))
}

/// Subscription gateways; `InstanceIDs` (comma-separated), `Region`, `RenewStatus`, `PageNum`,
/// `PageSize` (1-300, default 20) filter them; `ProductCode` other than `nat_gw` finds none.
fn instances(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    let page = int(params, "PageNum", 1, 1..=u32::MAX)?;
    let size = int(params, "PageSize", 20, 1..=300)?;
    let field = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let ids: Option<Vec<&str>> = field("InstanceIDs").map(|s| s.split(',').map(str::trim).collect());
    let mut world = sim.world();
    let matching: Vec<&Gateway> = world
        .gateways()
        .iter()
        .filter(|g| g.charge == Charge::PrePaid)
        .filter(|_| field("ProductCode").is_none_or(|p| p == PRODUCT))
        .filter(|g| ids.as_ref().is_none_or(|ids| ids.contains(&g.id.as_str())))
        .filter(|g| field("Region").is_none_or(|r| r == g.region_id))
        .filter(|g| field("RenewStatus").is_none_or(|s| s == g.renewal.status))
        .collect();
    let start = (page as usize - 1).saturating_mul(size as usize);
    let list: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(size as usize)
        .map(|g| {
            json!({
                "InstanceID": g.id,
                "ProductCode": PRODUCT,
                "ProductType": "",
                "Region": g.region_id,
                "SubscriptionType": "Subscription",
                "Status": "Normal",
                "SubStatus": "Normal",
                "RenewStatus": g.renewal.status,
                "RenewalDuration": g.renewal.period,
                "RenewalDurationUnit": g.renewal.unit,
                "CreateTime": bss_time(g.created),
                "EndTime": g.expires.map(bss_time).unwrap_or_default(),
            })
        })
        .collect();
    Ok(success(json!({ "PageNum": page, "PageSize": size, "TotalCount": matching.len(), "InstanceList": list })))
}

/// `InstanceIDs` (comma-separated), `ProductCode`, `RenewalStatus` `AutoRenewal` |
/// `ManualRenewal` | `NotRenewal`, and for auto-renewal `RenewalPeriod` with
/// `RenewalPeriodUnit` `M` | `Y`.
fn set_renewal(sim: &Sim, params: &Params) -> Result<Value, ApiError> {
    let ids: Vec<&str> = required(params, "InstanceIDs")?.split(',').map(str::trim).collect();
    if required(params, "ProductCode")? != PRODUCT {
        return Err(ApiError::bad("InvalidParameter.ProductCode", "The product code is not valid."));
    }
    let status = required(params, "RenewalStatus")?;
    if !["AutoRenewal", "ManualRenewal", "NotRenewal"].contains(&status) {
        return Err(ApiError::bad(
            "InvalidParameter.RenewalStatus",
            "RenewalStatus must be AutoRenewal, ManualRenewal or NotRenewal.",
        ));
    }
    let unit = params.get("RenewalPeriodUnit").map_or("M", String::as_str);
    if !["M", "Y"].contains(&unit) {
        return Err(ApiError::bad("InvalidParameter.RenewalPeriodUnit", "RenewalPeriodUnit must be M or Y."));
    }
    let period = int(params, "RenewalPeriod", 1, 1..=36)?;
    let mut world = sim.world();
    let gateways = world.gateways_mut();
    if let Some(missing) = ids.iter().find(|id| !gateways.iter().any(|g| g.id == **id && g.charge == Charge::PrePaid)) {
        return Err(ApiError::bad(
            "InvalidParameter.InstanceIDs",
            format!("The instance {missing} does not exist or is not a subscription."),
        ));
    }
    for g in gateways.iter_mut().filter(|g| ids.contains(&g.id.as_str())) {
        g.renewal.status = status.to_owned();
        g.renewal.period = period;
        g.renewal.unit = unit.to_owned();
    }
    Ok(json!({ "Code": "Success", "Message": "Successful!", "Success": true }))
}
