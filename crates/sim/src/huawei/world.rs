//! The simulated account: gateways, their subscriptions and BSS orders, and how they move with
//! time. Time advances lazily: every read or write first settles what has come due. The world's
//! clock is the host's, which clients compare BSS times with (an operator reads "expires in 7
//! days" off its own clock); [`World::advance`] lets a month pass at once by moving everything
//! the world holds (periods, order times, pending changes) that much into the past.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use natgw_operator::api::BillingMode;
use natgw_operator::cloud::huawei::wire;

use super::subscription::{SeedTerms, SimSubscription, Term, bss_time};

/// BSS order statuses the simulator uses.
pub const PROCESSING: i64 = 3;
pub const CANCELLED: i64 = 4;
pub const COMPLETED: i64 = 5;
pub const PENDING_PAYMENT: i64 = 6;
use wire::{ORDER_TYPE_CHANGE, ORDER_TYPE_RENEWAL, ORDER_TYPE_TO_PERIOD};

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
    Resize {
        spec: String,
    },
    ToPeriod {
        period_type: String,
        period_num: i64,
        auto_renew: bool,
    },
    /// An automatic renewal (BSS order type 2), placed and paid by BSS itself seven days before
    /// expiry: never in the ledger of calls. `until` is the new expiry.
    Renew {
        period_type: String,
        period_num: i64,
        until: String,
    },
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
    /// A yearly/monthly gateway's subscription; `Some` exactly when `billing_info` is non-empty.
    subscription: Option<Term>,
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

/// Why `CancelCustomerOrder` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRefusal {
    UnknownOrder,
    /// Only an order pending payment (6) can be cancelled; this is its status.
    NotPending(i64),
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
        OrderEffect::ToPeriod { period_num, .. } | OrderEffect::Renew { period_num, .. } => *period_num,
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
    let (period_type, period_num) = match &o.effect {
        OrderEffect::ToPeriod { period_type, period_num, .. } => (period_type, period_num),
        OrderEffect::Renew { until, .. } => return Some(until.clone()),
        OrderEffect::Resize { .. } => return None,
    };
    let paid = k8s_openapi::jiff::civil::DateTime::strptime(wire::BSS_TIME_FORMAT, o.paid_at.as_deref()?).ok()?;
    let days = if period_type == "year" { 365 } else { 30 } * period_num;
    let end = paid.checked_add(k8s_openapi::jiff::Span::new().days(days)).ok()?;
    Some(end.strftime(wire::BSS_TIME_FORMAT).to_string())
}

impl World {
    pub fn new(change_time: Duration, order_time: Duration) -> World {
        World { gateways: BTreeMap::new(), orders: BTreeMap::new(), change_time, order_time, next_order: 0 }
    }

    /// The world's time: BSS timestamps, periods.
    pub fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    /// The world's monotonic time: when orders and spec changes come due.
    fn instant(&self) -> Instant {
        Instant::now()
    }

    fn now_text(&self) -> String {
        bss_time(self.now())
    }

    /// Lets `by` pass at once: every period, order time and pending change moves `by` into the
    /// past, then what came due is settled (renewals, conversions, orders); returns the time.
    pub fn advance(&mut self, by: Duration) -> Timestamp {
        // Monotonic instants cannot go before the host's boot: one that would is simply due.
        let earlier = |at: Instant| at.checked_sub(by).unwrap_or_else(Instant::now);
        let earlier_text = |text: &mut String| {
            if let Ok(at) = k8s_openapi::jiff::civil::DateTime::strptime(wire::BSS_TIME_FORMAT, text.as_str())
                .and_then(|at| at.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC))
            {
                *text = bss_time(at.timestamp() - by);
            }
        };
        for gw in self.gateways.values_mut() {
            if let Some(term) = gw.subscription.as_mut() {
                term.effective -= by;
                term.expires -= by;
            }
            if let Some((at, _)) = gw.landing.as_mut() {
                *at = earlier(*at);
            }
        }
        for order in self.orders.values_mut() {
            earlier_text(&mut order.created_at);
            if let Some(paid) = order.paid_at.as_mut() {
                earlier_text(paid);
            }
            if let OrderEffect::Renew { until, .. } = &mut order.effect {
                earlier_text(until);
            }
            order.due = order.due.map(earlier);
        }
        self.settle();
        self.now()
    }

    /// A gateway, with the terms it has when seeded yearly/monthly (`SeedTerms::default()` for
    /// the command line's `:prepaid`).
    pub fn seed(&mut self, seed: SeedGateway, terms: SeedTerms) {
        let prepaid = seed.billing == BillingMode::Prepaid;
        let subscription = prepaid.then(|| Term::seeded(self.now(), &terms));
        let billing_info = prepaid.then(|| format!("seeded-prepaid-{}", seed.id));
        let body = wire::NatGateway {
            id: seed.id.clone(),
            tenant_id: seed.project_id,
            name: format!("nat-{}", seed.id),
            description: String::new(),
            spec: seed.spec,
            status: seed.status,
            admin_state_up: seed.admin_state_up,
            // The documented format, which the SDKs must cope with as well as RFC 3339.
            created_at: Some(serde_json::Value::String(self.now().strftime("%Y-%m-%d %H:%M:%S%.6f").to_string())),
            router_id: "sim-router".to_owned(),
            internal_network_id: "sim-network".to_owned(),
            enterprise_project_id: "0".to_owned(),
            billing_info,
        };
        self.gateways.insert(seed.id, Gateway { body, landing: None, waiting_for: None, subscription });
    }

    /// Applies everything that has come due: orders, spec changes, then subscriptions.
    fn settle(&mut self) {
        let now = self.instant();
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
        self.settle_subscriptions();
    }

    /// Auto-renewals (each recorded as a completed renewal order, which BSS places and pays
    /// itself) and conversions to pay-per-use at expiry (no order).
    fn settle_subscriptions(&mut self) {
        let now = self.now();
        let mut renewals = Vec::new();
        for gw in self.gateways.values_mut() {
            let Some(term) = gw.subscription.as_mut() else { continue };
            let passage = term.pass(now);
            let (period_type, period_num) = (term.period_type.clone(), term.period_num);
            let mut until = term.expires;
            for at in passage.renewals.into_iter().rev() {
                renewals.push((gw.body.id.clone(), at, period_type.clone(), period_num, until));
                until -= super::subscription::period_length(&period_type, period_num);
            }
            if passage.to_pay_per_use {
                gw.subscription = None;
                gw.body.billing_info = None;
            }
        }
        renewals.sort_by_key(|r| r.1);
        for (gateway_id, at, period_type, period_num, until) in renewals {
            let effect = OrderEffect::Renew { period_type, period_num, until: bss_time(until) };
            self.record_renewal(&gateway_id, effect, at);
        }
    }

    fn record_renewal(&mut self, gateway_id: &str, effect: OrderEffect, at: Timestamp) {
        let order_id = self.next_order_id(at);
        let order = SimOrder {
            order_id: order_id.clone(),
            gateway_id: gateway_id.to_owned(),
            effect,
            status: COMPLETED,
            fails: false,
            created_at: bss_time(at),
            paid_at: Some(bss_time(at)),
            due: None,
        };
        self.orders.insert(order_id, order);
    }

    fn next_order_id(&mut self, at: Timestamp) -> String {
        self.next_order += 1;
        format!("CS{}SIM{:05}", at.strftime("%y%m%d%H%M"), self.next_order)
    }

    fn finish_order(&mut self, id: &str) {
        let Some(order) = self.orders.get_mut(id) else {
            return;
        };
        order.due = None;
        order.status = if order.fails { CANCELLED } else { COMPLETED };
        let (status, effect, gateway_id) = (order.status, order.effect.clone(), order.gateway_id.clone());
        let (lands, now) = (self.instant() + self.change_time, self.now());
        let Some(gw) = self.gateways.get_mut(&gateway_id) else {
            return;
        };
        match (status, effect) {
            (COMPLETED, OrderEffect::ToPeriod { period_type, period_num, auto_renew }) => {
                gw.body.billing_info = Some(format!("order:{id}"));
                let policy = if auto_renew { wire::EXPIRE_AUTO_RENEW } else { wire::EXPIRE_GRACE_PERIOD };
                gw.subscription = Some(Term::bought(now, &period_type, period_num, policy));
            }
            (COMPLETED, OrderEffect::Resize { spec }) => {
                gw.waiting_for = None;
                gw.landing = Some((lands, spec));
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
        let order_id = self.next_order_id(self.now());
        let (status, due) =
            if auto_pay { (PROCESSING, Some(self.instant() + self.order_time)) } else { (PENDING_PAYMENT, None) };
        let order = SimOrder {
            order_id: order_id.clone(),
            gateway_id: gateway_id.to_owned(),
            effect,
            status,
            fails,
            created_at: self.now_text(),
            paid_at: auto_pay.then(|| self.now_text()),
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
        let lands = self.instant() + self.change_time;
        let gw = self.changeable(project, id)?;
        if gw.body.spec == spec {
            return Ok(SpecChange::Unchanged);
        }
        gw.body.status = "PENDING_UPDATE".to_owned();
        if gw.body.billing_info.as_deref().is_none_or(str::is_empty) {
            gw.landing = Some((lands, spec.to_owned()));
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
        order_info.pending_payment_end_time =
            (o.status == PENDING_PAYMENT).then(|| bss_time(self.now() + Duration::from_secs(15 * 24 * 3600)));
        order_info.other.insert("user_name".into(), "sim-user".into());
        order_info.other.insert("sub_order_infos".into(), serde_json::json!([]));
        // BSS `period_type`: 2 month, 3 year; a change order keeps the subscription's terms.
        let (period_type, period_num) = match &o.effect {
            OrderEffect::ToPeriod { period_type, period_num, .. }
            | OrderEffect::Renew { period_type, period_num, .. } => {
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
            OrderEffect::ToPeriod { .. } | OrderEffect::Renew { .. } => {
                self.gateways.get(&o.gateway_id).map(|g| g.body.spec.clone()).unwrap_or_default()
            }
        }
    }

    fn order_info(&self, o: &SimOrder) -> wire::OrderInfo {
        let order_type = match o.effect {
            OrderEffect::Resize { .. } => ORDER_TYPE_CHANGE,
            OrderEffect::ToPeriod { .. } => ORDER_TYPE_TO_PERIOD,
            OrderEffect::Renew { .. } => ORDER_TYPE_RENEWAL,
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

    /// `ListPayPerUseCustomerResources` before paging: the account's yearly/monthly gateways, or
    /// with `order_id` the gateway that order is for. BSS documents that it lists provisioned
    /// resources only; a NAT gateway is provisioned before any order about it is placed, so an
    /// order's gateway is listed whatever the order's state (without times while it has no
    /// subscription). Filters: `resource_ids`, `order_id`, `status_list` (2 in use, 5 expired),
    /// `service_type_code`, `expire_time_begin`/`_end`; `only_main_resource` changes nothing, as
    /// a NAT gateway is a main resource with no attached ones here. `region` names a project's
    /// region.
    pub fn resources(
        &mut self,
        query: &wire::QueryResourcesRequest,
        region: impl Fn(&str) -> String,
    ) -> Vec<wire::CustomerResource> {
        self.settle();
        let now = self.now();
        let ids: Vec<&str> = match query.order_id.as_deref().filter(|o| !o.is_empty()) {
            Some(order) => self
                .orders
                .values()
                .filter(|o| o.order_id.eq_ignore_ascii_case(order))
                .map(|o| o.gateway_id.as_str())
                .collect(),
            None => self.gateways.values().filter(|g| g.subscription.is_some()).map(|g| g.body.id.as_str()).collect(),
        };
        let wanted = |id: &str| query.resource_ids.as_ref().is_none_or(|r| r.is_empty() || r.iter().any(|w| w == id));
        let service = query.service_type_code.as_deref().is_none_or(|s| s == wire::NAT_SERVICE_TYPE);
        ids.into_iter()
            .filter(|id| service && wanted(id))
            .filter_map(|id| self.gateways.get(id))
            .map(|g| resource(g, now, &region))
            .filter(|r| query.status_list.as_ref().is_none_or(|s| s.is_empty() || s.contains(&r.status)))
            .filter(|r| expires_within(r, query))
            .collect()
    }

    /// Every subscription, for the control API.
    pub fn subscriptions(&mut self) -> Vec<SimSubscription> {
        self.settle();
        let now = self.now();
        self.gateways.values().filter_map(|g| Some(g.subscription.as_ref()?.view(&g.body.id, now))).collect()
    }

    /// The term of a yearly/monthly gateway, for a BSS call that changes it; `Err` is BSS's
    /// `CBC.0100` message for anything else.
    fn term(&mut self, resource_id: &str) -> Result<&mut Term, String> {
        self.settle();
        self.gateways.get_mut(resource_id).and_then(|g| g.subscription.as_mut()).ok_or_else(|| {
            format!("Invalid parameter: {resource_id} is not a yearly/monthly resource of this account.")
        })
    }

    /// `AutoRenewalResources`: renew automatically from now on (policy 3), whatever the policy was.
    pub fn auto_renew(&mut self, resource_id: &str) -> Result<(), String> {
        self.term(resource_id)?.policy = wire::EXPIRE_AUTO_RENEW;
        // A term within seven days of its end renews at once.
        self.settle();
        Ok(())
    }

    /// `CancelAutoRenewalResources`: auto-renew (3) becomes the grace period (0); any other policy
    /// stays, so that a repeated call changes nothing.
    pub fn cancel_auto_renew(&mut self, resource_id: &str) -> Result<(), String> {
        let term = self.term(resource_id)?;
        if term.policy == wire::EXPIRE_AUTO_RENEW {
            term.policy = wire::EXPIRE_GRACE_PERIOD;
        }
        Ok(())
    }

    /// `UpdatePeriodToOnDemand` for one resource: `SET_UP` makes it pay-per-use at expiry
    /// (policy 1, replacing auto-renew too); `CANCEL` undoes that (back to 0) and leaves any other
    /// policy as it is.
    pub fn to_on_demand(&mut self, resource_id: &str, set_up: bool) -> Result<(), String> {
        let term = self.term(resource_id)?;
        if set_up {
            term.policy = wire::EXPIRE_TO_ON_DEMAND;
        } else if term.policy == wire::EXPIRE_TO_ON_DEMAND {
            term.policy = wire::EXPIRE_GRACE_PERIOD;
        }
        Ok(())
    }

    /// `CancelCustomerOrder`: only an order pending payment (6) is cancelled (4), leaving its
    /// gateway as it was.
    pub fn cancel_pending(&mut self, order_id: &str) -> Result<(), CancelRefusal> {
        self.settle();
        let order = self.orders.get_mut(order_id).ok_or(CancelRefusal::UnknownOrder)?;
        if order.status != PENDING_PAYMENT {
            return Err(CancelRefusal::NotPending(order.status));
        }
        order.fails = true;
        self.finish_order(order_id);
        Ok(())
    }

    pub fn orders(&mut self) -> Vec<SimOrder> {
        self.settle();
        self.orders.values().cloned().collect()
    }

    /// Pays a pending order: it starts processing. `Err` says why it cannot be paid.
    pub fn pay(&mut self, id: &str) -> Result<(), String> {
        self.settle();
        let (now, due) = (self.now(), self.instant() + self.order_time);
        let order =
            self.orders.get_mut(id).ok_or_else(|| format!("Invalid parameter: the order {id} does not exist."))?;
        if order.status != PENDING_PAYMENT {
            return Err(format!("Invalid parameter: the order {id} is not pending payment."));
        }
        order.status = PROCESSING;
        order.paid_at = Some(bss_time(now));
        order.due = Some(due);
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

/// A gateway as `ListPayPerUseCustomerResources` lists it (`OrderInstanceV2`).
fn resource(g: &Gateway, now: Timestamp, region: &impl Fn(&str) -> String) -> wire::CustomerResource {
    let term = g.subscription.as_ref();
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
        status: term.map_or(wire::RESOURCE_IN_USE, |t| t.status(now)),
        effective_time: term.map(|t| bss_time(t.effective)),
        expire_time: term.map(|t| bss_time(t.expires)),
        expire_policy: term.map_or(wire::EXPIRE_GRACE_PERIOD, |t| t.policy),
        product_spec_desc: format!("NAT gateway | spec {}", g.body.spec),
        update_time: Some(bss_time(now)),
        enterprise_project: Some(serde_json::json!({"id": "0", "name": "default"})),
    }
}

/// `expire_time_begin` <= expiry <= `expire_time_end`, each bound when given (the request is
/// checked before: a bound that does not parse is no bound here).
fn expires_within(r: &wire::CustomerResource, query: &wire::QueryResourcesRequest) -> bool {
    let time = |t: Option<&str>| {
        k8s_openapi::jiff::civil::DateTime::strptime(wire::BSS_TIME_FORMAT, t?)
            .ok()?
            .to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    };
    let expires = time(r.expire_time.as_deref());
    let after = time(query.expire_time_begin.as_deref()).is_none_or(|b| expires.is_some_and(|e| e >= b));
    let before = time(query.expire_time_end.as_deref()).is_none_or(|b| expires.is_some_and(|e| e <= b));
    after && before
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
            w.seed(
                SeedGateway {
                    id: id.into(),
                    project_id: "p".into(),
                    spec: "1".into(),
                    status: active(),
                    billing,
                    admin_state_up: true,
                },
                SeedTerms::default(),
            );
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

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn seeded(renewal: natgw_operator::api::Renewal, days: u32) -> World {
        let mut w = World::new(Duration::from_millis(30), Duration::from_millis(30));
        let seed = SeedGateway::parse("g:p:1:prepaid").unwrap();
        w.seed(seed, SeedTerms { expires_in_days: days, renewal });
        w
    }

    /// Whole days from now to the first subscription's expiry, as a client reads them.
    fn days_left(w: &mut World) -> i64 {
        let expires = &w.subscriptions()[0].expire_time;
        let expires = k8s_openapi::jiff::civil::DateTime::strptime(wire::BSS_TIME_FORMAT, expires).unwrap();
        let expires = expires.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC).unwrap().timestamp();
        (expires.duration_since(w.now()).as_secs() as f64 / DAY.as_secs_f64()).round() as i64
    }

    fn policy(w: &mut World) -> (i64, i64) {
        let s = &w.subscriptions()[0];
        (s.expire_policy, s.status)
    }

    #[test]
    fn auto_renew_extends_the_period_seven_days_before_expiry_with_a_renewal_order() {
        let mut w = seeded(natgw_operator::api::Renewal::Auto, 30);
        w.advance(22 * DAY);
        assert_eq!(days_left(&mut w), 8, "not renewed yet");
        assert!(w.orders().is_empty());
        w.advance(DAY);
        assert_eq!(days_left(&mut w), 7 + 30, "renewed for a month");
        let renewed = w.subscriptions()[0].clone();
        assert_eq!((renewed.expire_policy, renewed.status), (3, 2));
        let orders = w.orders();
        assert_eq!(orders.len(), 1);
        assert_eq!((orders[0].status, orders[0].gateway_id.as_str()), (COMPLETED, "g"));
        assert!(matches!(&orders[0].effect, OrderEffect::Renew { until, .. } if *until == renewed.expire_time));
        assert_eq!(w.customer_orders()[0].order_type, Some(wire::ORDER_TYPE_RENEWAL));
        assert_eq!(w.order(&orders[0].order_id).unwrap().order_line_items[0]["expire_time"], renewed.expire_time);
        assert!(w.gateway("p", "g").unwrap().billing_info.is_some());
    }

    #[test]
    fn pay_per_use_at_expiry_converts_without_an_order() {
        let mut w = seeded(natgw_operator::api::Renewal::PayPerUseAtExpiry, 10);
        w.advance(10 * DAY - Duration::from_secs(60));
        assert_eq!(policy(&mut w), (1, 2));
        w.advance(Duration::from_secs(60));
        assert!(w.subscriptions().is_empty());
        let gw = w.gateway("p", "g").unwrap();
        assert_eq!((gw.billing_info, gw.status.as_str()), (None, "ACTIVE"));
        assert!(w.orders().is_empty());
        assert!(w.resources(&Default::default(), |_| String::new()).is_empty());
    }

    #[test]
    fn a_manual_subscription_expires_and_the_gateway_stays_active() {
        let mut w = seeded(natgw_operator::api::Renewal::Manual, 1);
        w.advance(2 * DAY);
        assert_eq!(policy(&mut w), (0, wire::RESOURCE_EXPIRED));
        assert_eq!(w.gateway("p", "g").unwrap().status, "ACTIVE");
        let expired = wire::QueryResourcesRequest { status_list: Some(vec![5]), ..Default::default() };
        assert_eq!(w.resources(&expired, |_| String::new()).len(), 1);
        let in_use = wire::QueryResourcesRequest { status_list: Some(vec![2]), ..Default::default() };
        assert!(w.resources(&in_use, |_| String::new()).is_empty());
    }

    #[test]
    fn renewal_settings_change_the_policy_of_yearly_monthly_gateways_only() {
        let mut w = seeded(natgw_operator::api::Renewal::Manual, 30);
        w.auto_renew("g").unwrap();
        assert_eq!(policy(&mut w).0, 3);
        w.to_on_demand("g", true).unwrap();
        assert_eq!(policy(&mut w).0, 1);
        w.cancel_auto_renew("g").unwrap();
        assert_eq!(policy(&mut w).0, 1, "not auto-renewing: unchanged");
        w.to_on_demand("g", false).unwrap();
        w.to_on_demand("g", false).unwrap();
        assert_eq!(policy(&mut w).0, 0);
        w.auto_renew("g").unwrap();
        w.cancel_auto_renew("g").unwrap();
        assert_eq!(policy(&mut w).0, 0);
        let mut w = world();
        assert!(w.auto_renew("ppu").unwrap_err().contains("not a yearly/monthly resource"));
        assert!(w.to_on_demand("none", true).is_err());
        // Auto-renew turned on within the last seven days renews at once.
        let mut w = seeded(natgw_operator::api::Renewal::Manual, 3);
        w.auto_renew("g").unwrap();
        assert_eq!(w.orders().len(), 1);
    }

    #[test]
    fn a_completed_conversion_starts_a_subscription_on_its_terms() {
        let mut w = world();
        let options = wire::PrepaidOptions {
            period_type: "month".into(),
            period_num: 2,
            is_auto_renew: Some(true),
            is_auto_pay: Some(true),
        };
        w.change_to_period("p", "ppu", &options, false).unwrap();
        w.advance(Duration::from_secs(1));
        let s = w.subscriptions().into_iter().find(|s| s.gateway_id == "ppu").unwrap();
        assert_eq!((s.expire_policy, s.period_type.as_str(), s.period_num), (3, "month", 2));
        let listed = w.resources(&Default::default(), |_| "r".into());
        let ppu = listed.iter().find(|r| r.resource_id == "ppu").unwrap();
        assert_eq!((ppu.expire_time.as_deref(), ppu.expire_policy), (Some(s.expire_time.as_str()), 3));
    }

    #[test]
    fn only_orders_pending_payment_can_be_cancelled() {
        let mut w = world();
        let SpecChange::Ordered(pending) = w.update_spec("p", "pre", "3", false, false).unwrap() else {
            panic!("an order")
        };
        w.cancel_pending(&pending).unwrap();
        assert_eq!(w.order(&pending).unwrap().order_info.status, CANCELLED);
        assert_eq!(w.gateway("p", "pre").unwrap().status, "ACTIVE");
        assert_eq!(w.cancel_pending(&pending), Err(CancelRefusal::NotPending(CANCELLED)));
        let SpecChange::Ordered(paid) = w.update_spec("p", "pre", "3", true, false).unwrap() else {
            panic!("an order")
        };
        assert_eq!(w.cancel_pending(&paid), Err(CancelRefusal::NotPending(PROCESSING)));
        assert_eq!(w.cancel_pending("CSNONE"), Err(CancelRefusal::UnknownOrder));
    }

    #[test]
    fn passing_time_moves_periods_and_order_times_into_the_past() {
        let mut w = seeded(natgw_operator::api::Renewal::Manual, 30);
        let order = w.update_spec("p", "g", "2", false, false).unwrap();
        let SpecChange::Ordered(order) = order else { panic!("an order") };
        let created = w.order(&order).unwrap().order_info.create_time.unwrap();
        let now = w.advance(10 * DAY);
        assert_eq!(days_left(&mut w), 20);
        let moved = w.order(&order).unwrap().order_info.create_time.unwrap();
        assert!(moved < created && moved <= bss_time(now - 10 * DAY + Duration::from_secs(5)), "{created} -> {moved}");
    }
}
