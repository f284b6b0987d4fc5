//! The simulated account: gateways and BSS orders, and how they move with time. Time advances
//! lazily: every read or write first settles what has come due.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use natgw_operator::api::BillingMode;
use natgw_operator::cloud::huawei::wire;

/// BSS order statuses the simulator uses.
pub const PROCESSING: i64 = 3;
pub const CANCELLED: i64 = 4;
pub const COMPLETED: i64 = 5;
pub const PENDING_PAYMENT: i64 = 6;
use wire::{ORDER_TYPE_CHANGE, ORDER_TYPE_TO_PERIOD};

/// A gateway as the control API seeds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedGateway {
    pub id: String,
    pub project_id: String,
    /// `"1"`..`"5"`.
    pub spec: String,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub billing: BillingMode,
    #[serde(default = "yes")]
    pub admin_state_up: bool,
}

impl SeedGateway {
    /// Parses `ID:PROJECT:SPEC` or `ID:PROJECT:SPEC:prepaid`, as the command line takes it.
    pub fn parse(s: &str) -> Result<SeedGateway, String> {
        let billing = |b: Option<&str>| match b {
            None | Some("postpaid") => Ok(BillingMode::PayPerUse),
            Some("prepaid") => Ok(BillingMode::Prepaid),
            Some(other) => Err(format!("{other:?} is not prepaid or postpaid")),
        };
        match s.split(':').collect::<Vec<_>>()[..] {
            [id, project, spec, ref rest @ ..] if !id.is_empty() && !project.is_empty() && rest.len() <= 1 => {
                Ok(SeedGateway {
                    id: id.into(),
                    project_id: project.into(),
                    spec: spec.into(),
                    status: active(),
                    billing: billing(rest.first().copied())?,
                    admin_state_up: true,
                })
            }
            _ => Err("expected ID:PROJECT:SPEC[:prepaid], e.g. nat-1:0a1b2c:1".to_owned()),
        }
    }
}

fn active() -> String {
    "ACTIVE".to_owned()
}

fn yes() -> bool {
    true
}

/// What an order does when it completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum OrderEffect {
    Resize { spec: String },
    ToPeriod { period_type: String, period_num: i64, auto_renew: bool },
}

/// One BSS order, as the control API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimOrder {
    pub order_id: String,
    pub gateway_id: String,
    pub effect: OrderEffect,
    pub status: i64,
    /// Set by the `failOrder` fault: processing ends cancelled instead of completed.
    pub fails: bool,
    pub created_at: String,
    /// When it was paid (at once when auto-paid), BSS's `payment_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    #[serde(skip)]
    due: Option<Instant>,
}

#[derive(Debug)]
struct Gateway {
    body: wire::NatGateway,
    /// When a running spec change lands, and the spec it lands on.
    landing: Option<(Instant, String)>,
    /// The order that a prepaid spec change waits for.
    waiting_for: Option<String>,
}

/// What `UpdateNatGateway` with a spec did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecChange {
    /// The gateway already has that spec: nothing changes, nothing is ordered.
    Unchanged,
    /// A pay-per-use gateway: the change runs without an order.
    Applying,
    /// A yearly/monthly gateway: this order carries the change.
    Ordered(String),
}

/// Why a call was refused, in the NAT API's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    NotActive(String),
    Invalid(String),
}

#[derive(Debug)]
pub struct World {
    gateways: BTreeMap<String, Gateway>,
    orders: BTreeMap<String, SimOrder>,
    change_time: Duration,
    order_time: Duration,
    next_order: u64,
}

/// The simulator's price of an order: 100 per spec step and period (a change: one period).
fn amount(o: &SimOrder, spec: &str) -> f64 {
    let periods = match &o.effect {
        OrderEffect::ToPeriod { period_num, .. } => *period_num,
        OrderEffect::Resize { .. } => 1,
    };
    spec.parse::<f64>().unwrap_or(1.0) * 100.0 * periods as f64
}

/// `AmountInfomationV2` (BSS's spelling) of an order paid from the balance without discounts.
fn amount_info() -> serde_json::Value {
    serde_json::json!({
        "discounts": [], "flexipurchase_coupon_amount": 0.0, "coupon_amount": 0.0,
        "stored_card_amount": 0.0, "commission_amount": 0.0, "consumed_amount": 0.0
    })
}

/// When a paid subscription order's term ends (months of 30 days, years of 365).
fn expiry(o: &SimOrder) -> Option<String> {
    let OrderEffect::ToPeriod { period_type, period_num, .. } = &o.effect else {
        return None;
    };
    let paid = k8s_openapi::jiff::civil::DateTime::strptime(wire::BSS_TIME_FORMAT, o.paid_at.as_deref()?).ok()?;
    let days = if period_type == "year" { 365 } else { 30 } * period_num;
    let end = paid.checked_add(k8s_openapi::jiff::Span::new().days(days)).ok()?;
    Some(end.strftime(wire::BSS_TIME_FORMAT).to_string())
}

fn now_text() -> String {
    Timestamp::now().strftime(wire::BSS_TIME_FORMAT).to_string()
}

impl World {
    pub fn new(change_time: Duration, order_time: Duration) -> World {
        World { gateways: BTreeMap::new(), orders: BTreeMap::new(), change_time, order_time, next_order: 0 }
    }

    pub fn seed(&mut self, seed: SeedGateway) {
        let billing_info = (seed.billing == BillingMode::Prepaid).then(|| format!("seeded-prepaid-{}", seed.id));
        let body = wire::NatGateway {
            id: seed.id.clone(),
            tenant_id: seed.project_id,
            name: format!("nat-{}", seed.id),
            description: String::new(),
            spec: seed.spec,
            status: seed.status,
            admin_state_up: seed.admin_state_up,
            // The documented format, which the SDKs must cope with as well as RFC 3339.
            created_at: Some(serde_json::Value::String(Timestamp::now().strftime("%Y-%m-%d %H:%M:%S%.6f").to_string())),
            router_id: "sim-router".to_owned(),
            internal_network_id: "sim-network".to_owned(),
            enterprise_project_id: "0".to_owned(),
            billing_info,
        };
        self.gateways.insert(seed.id, Gateway { body, landing: None, waiting_for: None });
    }

    /// Applies everything that has come due, in time order.
    fn settle(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .orders
            .values()
            .filter(|o| o.status == PROCESSING && o.due.is_some_and(|d| d <= now))
            .map(|o| o.order_id.clone())
            .collect();
        for id in due {
            self.finish_order(&id);
        }
        for gw in self.gateways.values_mut() {
            if let Some((at, spec)) = &gw.landing
                && *at <= now
            {
                gw.body.spec = spec.clone();
                gw.body.status = "ACTIVE".to_owned();
                gw.landing = None;
            }
        }
    }

    fn finish_order(&mut self, id: &str) {
        let Some(order) = self.orders.get_mut(id) else {
            return;
        };
        order.due = None;
        order.status = if order.fails { CANCELLED } else { COMPLETED };
        let (status, effect, gateway_id) = (order.status, order.effect.clone(), order.gateway_id.clone());
        let change_time = self.change_time;
        let Some(gw) = self.gateways.get_mut(&gateway_id) else {
            return;
        };
        match (status, effect) {
            (COMPLETED, OrderEffect::ToPeriod { .. }) => gw.body.billing_info = Some(format!("order:{id}")),
            (COMPLETED, OrderEffect::Resize { spec }) => {
                gw.waiting_for = None;
                gw.landing = Some((Instant::now() + change_time, spec));
            }
            (_, OrderEffect::Resize { .. }) => {
                // A cancelled change leaves the gateway as it was.
                gw.waiting_for = None;
                gw.body.status = "ACTIVE".to_owned();
            }
            _ => {}
        }
    }

    pub fn gateway(&mut self, project: &str, id: &str) -> Result<wire::NatGateway, Refusal> {
        self.settle();
        match self.gateways.get(id) {
            Some(gw) if gw.body.tenant_id == project => Ok(gw.body.clone()),
            _ => Err(Refusal::NotFound),
        }
    }

    /// A project's gateways in id order after `marker` (exclusive), at most `limit`.
    pub fn list(&mut self, project: &str, marker: Option<&str>, limit: usize) -> Vec<wire::NatGateway> {
        use std::ops::Bound;
        self.settle();
        let from = marker.map_or(Bound::Unbounded, |m| Bound::Excluded(m.to_owned()));
        self.gateways
            .range((from, Bound::Unbounded))
            .map(|(_, g)| &g.body)
            .filter(|g| g.tenant_id == project)
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn gateways(&mut self) -> Vec<wire::NatGateway> {
        self.settle();
        self.gateways.values().map(|g| g.body.clone()).collect()
    }

    fn changeable(&mut self, project: &str, id: &str) -> Result<&mut Gateway, Refusal> {
        self.gateway(project, id)?;
        let gw = self.gateways.get_mut(id).ok_or(Refusal::NotFound)?;
        if gw.body.status != "ACTIVE" || !gw.body.admin_state_up {
            return Err(Refusal::NotActive(format!("NatGateway {id} is not ACTIVE.")));
        }
        Ok(gw)
    }

    fn new_order(&mut self, gateway_id: &str, effect: OrderEffect, auto_pay: bool, fails: bool) -> String {
        self.next_order += 1;
        let order_id = format!("CS{}SIM{:05}", Timestamp::now().strftime("%y%m%d%H%M"), self.next_order);
        let (status, due) =
            if auto_pay { (PROCESSING, Some(Instant::now() + self.order_time)) } else { (PENDING_PAYMENT, None) };
        let order = SimOrder {
            order_id: order_id.clone(),
            gateway_id: gateway_id.to_owned(),
            effect,
            status,
            fails,
            created_at: now_text(),
            paid_at: auto_pay.then(now_text),
            due,
        };
        self.orders.insert(order_id.clone(), order);
        order_id
    }

    /// `UpdateNatGateway` with a new spec. Returns the order id for a yearly/monthly gateway.
    pub fn update_spec(
        &mut self,
        project: &str,
        id: &str,
        spec: &str,
        auto_pay: bool,
        fails: bool,
    ) -> Result<SpecChange, Refusal> {
        if !matches!(spec, "1" | "2" | "3" | "4" | "5") {
            return Err(Refusal::Invalid(format!("Invalid parameters: spec {spec:?} is not one of 1-5.")));
        }
        let change_time = self.change_time;
        let gw = self.changeable(project, id)?;
        if gw.body.spec == spec {
            return Ok(SpecChange::Unchanged);
        }
        gw.body.status = "PENDING_UPDATE".to_owned();
        if gw.body.billing_info.as_deref().is_none_or(str::is_empty) {
            gw.landing = Some((Instant::now() + change_time, spec.to_owned()));
            return Ok(SpecChange::Applying);
        }
        let order = self.new_order(id, OrderEffect::Resize { spec: spec.to_owned() }, auto_pay, fails);
        if let Some(gw) = self.gateways.get_mut(id) {
            gw.waiting_for = Some(order.clone());
        }
        Ok(SpecChange::Ordered(order))
    }

    /// `change_to_period`: validates the terms and opens an order.
    pub fn change_to_period(
        &mut self,
        project: &str,
        id: &str,
        options: &wire::PrepaidOptions,
        fails: bool,
    ) -> Result<String, Refusal> {
        let max = match options.period_type.as_str() {
            "month" => 9,
            "year" => 3,
            other => {
                return Err(Refusal::Invalid(format!(
                    "Invalid parameters: period_type {other:?} is not month or year."
                )));
            }
        };
        if !(1..=max).contains(&options.period_num) {
            return Err(Refusal::Invalid(format!(
                "Invalid parameters: period_num must be 1-{max} for period_type {}.",
                options.period_type
            )));
        }
        let gw = self.changeable(project, id)?;
        if gw.body.billing_info.as_deref().is_some_and(|b| !b.is_empty()) {
            return Err(Refusal::Invalid(format!("Invalid parameters: NatGateway {id} is already yearly/monthly.")));
        }
        if self.orders.values().any(|o| o.gateway_id == id && matches!(o.status, PROCESSING | PENDING_PAYMENT)) {
            return Err(Refusal::NotActive(format!("NatGateway {id} has an unfinished order.")));
        }
        let effect = OrderEffect::ToPeriod {
            period_type: options.period_type.clone(),
            period_num: options.period_num,
            auto_renew: options.is_auto_renew.unwrap_or(false),
        };
        Ok(self.new_order(id, effect, options.is_auto_pay.unwrap_or(false), fails))
    }

    /// `ShowCustomerOrderDetails`: the order and one line item. Like BSS's `OrderLineItemEntityV2`,
    /// the line item names the product and terms, not the gateway: BSS has no resource id there
    /// (`ListPayPerUseCustomerResources` by order id names it, see [`World::resources`]).
    pub fn order(&mut self, id: &str) -> Option<wire::OrderDetails> {
        self.settle();
        let o = self.orders.get(id)?;
        let mut order_info = self.order_info(o);
        order_info.pending_payment_end_time = (o.status == PENDING_PAYMENT).then(|| {
            (Timestamp::now() + std::time::Duration::from_secs(15 * 24 * 3600))
                .strftime(wire::BSS_TIME_FORMAT)
                .to_string()
        });
        order_info.other.insert("user_name".into(), "sim-user".into());
        order_info.other.insert("sub_order_infos".into(), serde_json::json!([]));
        // BSS `period_type`: 2 month, 3 year; a change order keeps the subscription's terms.
        let (period_type, period_num) = match &o.effect {
            OrderEffect::ToPeriod { period_type, period_num, .. } => {
                (if period_type == "year" { 3 } else { 2 }, Some(*period_num))
            }
            OrderEffect::Resize { .. } => (2, None),
        };
        let spec = self.order_spec(o);
        let (effective, expire) = o.paid_at.as_ref().map_or((None, None), |paid| (Some(paid.clone()), expiry(o)));
        let line_item = serde_json::json!({
            "order_line_item_id": format!("{}-1", o.order_id),
            "order_id": o.order_id,
            "service_type_code": wire::NAT_SERVICE_TYPE,
            "service_type_name": "NAT Gateway",
            "product_id": format!("sim-nat-spec-{spec}"),
            "product_spec_desc": format!("NAT gateway | spec {spec}"),
            "period_type": period_type,
            "period_num": period_num,
            "effective_time": effective,
            "expire_time": expire,
            "subscription_num": 1,
            "amount_after_discount": amount(o, &spec),
            "official_amount": amount(o, &spec),
            "amount_info": amount_info(),
            "currency": "CNY",
            "category_code": "hws.resource.type.natgateway",
            "product_owner_service": wire::NAT_SERVICE_TYPE,
            "commercial_resource": "hws.resource.type.natgateway",
            "base_product_info": {
                "product_id": format!("sim-nat-spec-{spec}"),
                "product_spec_desc": format!("NAT gateway | spec {spec}"),
                "category_code": "hws.resource.type.natgateway",
                "product_owner_service": wire::NAT_SERVICE_TYPE,
                "commercial_resource": "hws.resource.type.natgateway",
            },
        });
        Some(wire::OrderDetails { total_count: 1, order_info, order_line_items: vec![line_item] })
    }

    /// `ListCustomerOrders` before filtering: every order of the account, settled.
    pub fn customer_orders(&mut self) -> Vec<wire::OrderInfo> {
        self.settle();
        let mut infos: Vec<wire::OrderInfo> = self.orders.values().map(|o| self.order_info(o)).collect();
        for info in &mut infos {
            info.other.insert("enterprise_projects".into(), serde_json::json!([{"id": "0", "name": "default"}]));
            info.other.insert("sub_order_infos".into(), serde_json::json!([]));
        }
        infos
    }

    /// The spec an order is about: the new one of a change, the gateway's of a conversion.
    fn order_spec(&self, o: &SimOrder) -> String {
        match &o.effect {
            OrderEffect::Resize { spec } => spec.clone(),
            OrderEffect::ToPeriod { .. } => {
                self.gateways.get(&o.gateway_id).map(|g| g.body.spec.clone()).unwrap_or_default()
            }
        }
    }

    fn order_info(&self, o: &SimOrder) -> wire::OrderInfo {
        let order_type = match o.effect {
            OrderEffect::Resize { .. } => ORDER_TYPE_CHANGE,
            OrderEffect::ToPeriod { .. } => ORDER_TYPE_TO_PERIOD,
        };
        let spec = self.order_spec(o);
        let other = serde_json::json!({
            "service_type_name": "NAT Gateway",
            "source_type": 1,
            "amount_after_discount": amount(o, &spec),
            "official_amount": amount(o, &spec),
            "measure_id": 1,
            "currency": "CNY",
            "contract_id": "",
            "amount_info": amount_info(),
        });
        wire::OrderInfo {
            order_id: o.order_id.clone(),
            customer_id: None,
            status: o.status,
            order_type: Some(order_type),
            service_type_code: Some(wire::NAT_SERVICE_TYPE.to_owned()),
            create_time: Some(o.created_at.clone()),
            payment_time: o.paid_at.clone(),
            pending_payment_end_time: None,
            other: other.as_object().cloned().unwrap_or_default(),
        }
    }

    /// `ListPayPerUseCustomerResources`: the account's yearly/monthly gateways, or with `order_id`
    /// the gateway that order is for. BSS documents that it lists provisioned resources only; a
    /// NAT gateway is provisioned before any order about it is placed, so an order's gateway is
    /// listed whatever the order's state. Filters: `resource_ids`, `order_id`, `status_list`,
    /// `service_type_code`; `region` names a project's region.
    pub fn resources(
        &mut self,
        query: &wire::QueryResourcesRequest,
        region: impl Fn(&str) -> String,
    ) -> Vec<wire::CustomerResource> {
        self.settle();
        let prepaid = |g: &Gateway| g.body.billing_info.as_deref().is_some_and(|b| !b.is_empty());
        let ids: Vec<&str> = match query.order_id.as_deref().filter(|o| !o.is_empty()) {
            Some(order) => self
                .orders
                .values()
                .filter(|o| o.order_id.eq_ignore_ascii_case(order))
                .map(|o| o.gateway_id.as_str())
                .collect(),
            None => self.gateways.values().filter(|g| prepaid(g)).map(|g| g.body.id.as_str()).collect(),
        };
        let wanted = |id: &str| query.resource_ids.as_ref().is_none_or(|r| r.is_empty() || r.iter().any(|w| w == id));
        let service = query.service_type_code.as_deref().is_none_or(|s| s == wire::NAT_SERVICE_TYPE);
        let in_use = query.status_list.as_ref().is_none_or(|s| s.is_empty() || s.contains(&2));
        ids.into_iter()
            .filter(|id| wanted(id) && service && in_use)
            .filter_map(|id| self.gateways.get(id))
            .map(|g| {
                let subscription = self
                    .orders
                    .values()
                    .filter(|o| o.gateway_id == g.body.id && o.status == COMPLETED)
                    .find(|o| matches!(o.effect, OrderEffect::ToPeriod { .. }));
                let auto_renew =
                    subscription.is_some_and(|o| matches!(o.effect, OrderEffect::ToPeriod { auto_renew: true, .. }));
                wire::CustomerResource {
                    id: format!("sim-instance-{}", g.body.id),
                    resource_id: g.body.id.clone(),
                    resource_name: g.body.name.clone(),
                    region_code: region(&g.body.tenant_id),
                    service_type_code: wire::NAT_SERVICE_TYPE.to_owned(),
                    resource_type_code: "hws.resource.type.natgateway".to_owned(),
                    resource_type_name: "NAT Gateway".to_owned(),
                    service_type_name: "NAT Gateway".to_owned(),
                    resource_spec_code: format!("sim.natgateway.spec{}", g.body.spec),
                    project_id: g.body.tenant_id.clone(),
                    product_id: format!("sim-nat-spec-{}", g.body.spec),
                    parent_resource_id: None,
                    is_main_resource: 1,
                    status: 2,
                    effective_time: subscription.and_then(|o| o.paid_at.clone()),
                    expire_time: subscription.and_then(expiry),
                    // 3: renewed at expiry; 0: a grace period.
                    expire_policy: if auto_renew { 3 } else { 0 },
                    product_spec_desc: format!("NAT gateway | spec {}", g.body.spec),
                    update_time: Some(now_text()),
                    enterprise_project: Some(serde_json::json!({"id": "0", "name": "default"})),
                }
            })
            .collect()
    }

    pub fn orders(&mut self) -> Vec<SimOrder> {
        self.settle();
        self.orders.values().cloned().collect()
    }

    /// Pays a pending order: it starts processing. `Err` says why it cannot be paid.
    pub fn pay(&mut self, id: &str) -> Result<(), String> {
        self.settle();
        let order_time = self.order_time;
        let order =
            self.orders.get_mut(id).ok_or_else(|| format!("Invalid parameter: the order {id} does not exist."))?;
        if order.status != PENDING_PAYMENT {
            return Err(format!("Invalid parameter: the order {id} is not pending payment."));
        }
        order.status = PROCESSING;
        order.paid_at = Some(now_text());
        order.due = Some(Instant::now() + order_time);
        Ok(())
    }

    /// Cancels an unfinished order (as a user or BSS would), leaving the gateway as it was.
    pub fn cancel(&mut self, id: &str) -> Result<(), String> {
        self.settle();
        let order = self.orders.get_mut(id).ok_or_else(|| format!("the order {id} does not exist"))?;
        if !matches!(order.status, PROCESSING | PENDING_PAYMENT) {
            return Err(format!("the order {id} has already ended"));
        }
        order.fails = true;
        self.finish_order(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    impl World {
        fn order_statuses(&mut self) -> HashMap<String, i64> {
            self.orders().into_iter().map(|o| (o.order_id, o.status)).collect()
        }
    }

    fn world() -> World {
        let mut w = World::new(Duration::from_millis(30), Duration::from_millis(30));
        for (id, billing) in [("ppu", BillingMode::PayPerUse), ("pre", BillingMode::Prepaid)] {
            w.seed(SeedGateway {
                id: id.into(),
                project_id: "p".into(),
                spec: "1".into(),
                status: active(),
                billing,
                admin_state_up: true,
            });
        }
        w
    }

    fn options(t: &str, n: i64, pay: bool) -> wire::PrepaidOptions {
        wire::PrepaidOptions { period_type: t.into(), period_num: n, is_auto_renew: None, is_auto_pay: Some(pay) }
    }

    #[test]
    fn seeds_parse_from_the_command_line() {
        let seed = SeedGateway::parse("gw:p:2:prepaid").unwrap();
        assert_eq!((seed.spec.as_str(), seed.billing), ("2", BillingMode::Prepaid));
        assert_eq!(SeedGateway::parse("gw:p:1").unwrap().billing, BillingMode::PayPerUse);
        assert!(SeedGateway::parse("gw:p").is_err());
        assert!(SeedGateway::parse("gw:p:1:weekly").is_err());
    }

    #[test]
    fn pay_per_use_spec_change_passes_through_pending_update() {
        let mut w = world();
        assert_eq!(w.update_spec("p", "ppu", "2", true, false), Ok(SpecChange::Applying));
        assert_eq!(w.update_spec("p", "pre", "1", true, false), Ok(SpecChange::Unchanged));
        assert_eq!(w.gateway("p", "ppu").unwrap().status, "PENDING_UPDATE");
        assert!(matches!(w.update_spec("p", "ppu", "3", true, false), Err(Refusal::NotActive(_))));
        std::thread::sleep(Duration::from_millis(40));
        let gw = w.gateway("p", "ppu").unwrap();
        assert_eq!((gw.spec.as_str(), gw.status.as_str()), ("2", "ACTIVE"));
    }

    #[test]
    fn prepaid_spec_change_follows_its_order() {
        let mut w = world();
        let SpecChange::Ordered(order) = w.update_spec("p", "pre", "3", true, false).unwrap() else {
            panic!("an order")
        };
        assert_eq!(w.order(&order).unwrap().order_info.status, PROCESSING);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(w.order(&order).unwrap().order_info.status, COMPLETED);
        assert_eq!(w.gateway("p", "pre").unwrap().status, "PENDING_UPDATE");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(w.gateway("p", "pre").unwrap().spec, "3");
    }

    #[test]
    fn change_to_period_waits_for_payment_then_makes_the_gateway_prepaid() {
        let mut w = world();
        assert!(matches!(w.change_to_period("p", "ppu", &options("month", 10, true), false), Err(Refusal::Invalid(_))));
        assert!(matches!(w.change_to_period("p", "ppu", &options("year", 4, true), false), Err(Refusal::Invalid(_))));
        assert!(matches!(w.change_to_period("p", "ppu", &options("week", 1, true), false), Err(Refusal::Invalid(_))));
        assert!(matches!(w.change_to_period("p", "pre", &options("year", 1, true), false), Err(Refusal::Invalid(_))));
        assert_eq!(w.change_to_period("q", "ppu", &options("year", 1, true), false), Err(Refusal::NotFound));
        let order = w.change_to_period("p", "ppu", &options("year", 3, false), false).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(w.order(&order).unwrap().order_info.status, PENDING_PAYMENT);
        assert!(w.gateway("p", "ppu").unwrap().billing_info.is_none());
        w.pay(&order).unwrap();
        assert!(w.pay(&order).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(w.order(&order).unwrap().order_info.status, COMPLETED);
        assert!(w.gateway("p", "ppu").unwrap().billing_info.is_some_and(|b| !b.is_empty()));
    }

    #[test]
    fn cancelled_and_failed_orders_change_nothing() {
        let mut w = world();
        let SpecChange::Ordered(order) = w.update_spec("p", "pre", "4", false, false).unwrap() else {
            panic!("an order")
        };
        w.cancel(&order).unwrap();
        assert_eq!(w.order(&order).unwrap().order_info.status, CANCELLED);
        let gw = w.gateway("p", "pre").unwrap();
        assert_eq!((gw.spec.as_str(), gw.status.as_str()), ("1", "ACTIVE"));
        let order = w.change_to_period("p", "ppu", &options("month", 1, true), true).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(w.order_statuses()[&order], CANCELLED);
        assert!(w.gateway("p", "ppu").unwrap().billing_info.is_none());
    }
}
