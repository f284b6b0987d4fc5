//! The gateways and orders of the Alibaba simulator, and how they move with time: a spec change
//! keeps a gateway `Modifying` for the change time, then it is `Available` with the new spec; an
//! upgrade of a subscription (`PrePaid`) gateway waits in an order until it is paid (at once
//! with `AutoPay`, else by BSS `PayOrder` or `POST /_sim/orders/{id}/pay`), then changes.
//! Changes settle when the world is read, so no task runs in the background.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The specs `ModifyNatGatewaySpec` takes, smallest first (an upgrade goes right).
pub const SPECS: [&str; 4] = ["Small", "Middle", "Large", "XLarge.1"];

/// A gateway's billing, as `InstanceChargeType` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Charge {
    /// Subscription: spec upgrades go through an order.
    PrePaid,
    /// Pay-by-specification: resized in place.
    #[default]
    PostPaid,
}

/// A gateway to start with (`POST /_sim/gateways`, `--alibaba-gateway`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedGateway {
    pub id: String,
    #[serde(default = "default_region")]
    pub region_id: String,
    #[serde(default)]
    pub vpc_id: String,
    pub spec: String,
    #[serde(default)]
    pub charge: Charge,
    /// A subscription's days left.
    #[serde(default = "default_days")]
    pub expires_in_days: u32,
    /// What `DescribeNatGateways` reports as `AutoPay`.
    #[serde(default)]
    pub auto_pay: bool,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
}

fn default_region() -> String {
    "cn-hangzhou".to_owned()
}

fn default_days() -> u32 {
    30
}

impl SeedGateway {
    /// Parses `ID:REGION:SPEC[:prepaid]`, as the command line takes it.
    pub fn parse(s: &str) -> Result<SeedGateway, String> {
        let usage = || "expected ID:REGION:SPEC[:prepaid], e.g. ngw-1:cn-hangzhou:Small".to_owned();
        let parts: Vec<&str> = s.split(':').collect();
        let (id, region, spec, charge) = match parts[..] {
            [id, region, spec] => (id, region, spec, Charge::PostPaid),
            [id, region, spec, "prepaid"] => (id, region, spec, Charge::PrePaid),
            _ => return Err(usage()),
        };
        if id.is_empty() || region.is_empty() || !SPECS.contains(&spec) {
            return Err(usage());
        }
        Ok(SeedGateway {
            id: id.into(),
            region_id: region.into(),
            vpc_id: format!("vpc-{id}"),
            spec: spec.into(),
            charge,
            expires_in_days: default_days(),
            auto_pay: false,
            tags: None,
        })
    }
}

/// How BSS renews a subscription (`SetRenewal`, `QueryAvailableInstances`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Renewal {
    /// `AutoRenewal`, `ManualRenewal` or `NotRenewal`.
    pub status: String,
    pub period: u32,
    /// `M` or `Y`.
    pub unit: String,
}

#[derive(Debug, Clone)]
pub struct Gateway {
    pub id: String,
    pub region_id: String,
    pub vpc_id: String,
    pub spec: String,
    pub charge: Charge,
    pub auto_pay: bool,
    pub created: Timestamp,
    /// A subscription's end.
    pub expires: Option<Timestamp>,
    pub renewal: Renewal,
    /// A change under way: the spec it ends with, and when.
    change: Option<(String, Instant)>,
}

impl Gateway {
    pub fn status(&self) -> &'static str {
        if self.change.is_some() { "Modifying" } else { "Available" }
    }
}

/// `PaymentStatus` of a BSS order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Payment {
    Unpaid,
    Paid,
    Cancelled,
}

/// An upgrade order, as BSS shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimOrder {
    pub id: String,
    pub gateway_id: String,
    pub region_id: String,
    pub from_spec: String,
    pub to_spec: String,
    pub payment: Payment,
    #[serde(with = "rfc3339")]
    pub created: Timestamp,
    #[serde(with = "rfc3339::option")]
    pub paid: Option<Timestamp>,
    /// A `failOrder` fault: once paid, the gateway is `Modifying` and then back on `from_spec`.
    pub fails: bool,
}

mod rfc3339 {
    use k8s_openapi::jiff::Timestamp;

    pub fn serialize<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::bss_time(*t))
    }

    pub mod option {
        use k8s_openapi::jiff::Timestamp;

        pub fn serialize<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }
    }
}

/// BSS times: `2026-12-08T00:00:00Z`.
pub fn bss_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `DescribeNatGateways`' `ExpiredTime`: minutes, `2026-12-08T00:00Z`.
pub fn vpc_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%MZ").to_string()
}

/// Why a change or payment cannot be made, before the API words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoGateway,
    Busy,
    UnpaidOrder(String),
    SameSpec,
    Downgrade,
    NoOrder,
    NotUnpaid(Payment),
}

#[derive(Debug)]
pub struct World {
    gateways: Vec<Gateway>,
    orders: Vec<SimOrder>,
    pub change_time: Duration,
    next_order: u64,
}

impl World {
    pub fn new(change_time: Duration) -> World {
        World { gateways: Vec::new(), orders: Vec::new(), change_time, next_order: 0 }
    }

    /// Adds or replaces a gateway.
    pub fn seed(&mut self, seed: &SeedGateway) {
        let now = Timestamp::now();
        let expires = (seed.charge == Charge::PrePaid)
            .then(|| now + SignedDuration::from_hours(24 * i64::from(seed.expires_in_days)));
        let gateway = Gateway {
            id: seed.id.clone(),
            region_id: seed.region_id.clone(),
            vpc_id: seed.vpc_id.clone(),
            spec: seed.spec.clone(),
            charge: seed.charge,
            auto_pay: seed.auto_pay,
            created: now,
            expires,
            renewal: Renewal { status: "ManualRenewal".into(), period: 1, unit: "M".into() },
            change: None,
        };
        self.gateways.retain(|g| g.id != seed.id);
        self.gateways.push(gateway);
    }

    /// Finishes the changes whose time has come.
    fn settle(&mut self) {
        let now = Instant::now();
        for g in &mut self.gateways {
            if let Some((spec, at)) = &g.change
                && *at <= now
            {
                g.spec = spec.clone();
                g.change = None;
            }
        }
    }

    pub fn gateways(&mut self) -> &[Gateway] {
        self.settle();
        &self.gateways
    }

    pub fn gateways_mut(&mut self) -> &mut [Gateway] {
        self.settle();
        &mut self.gateways
    }

    pub fn orders(&self) -> &[SimOrder] {
        &self.orders
    }

    /// `ModifyNatGatewaySpec` on an existing gateway and a known spec: a resize under way
    /// (`None`) or the upgrade order it created.
    pub fn change_spec(&mut self, id: &str, spec: &str, auto_pay: bool) -> Result<Option<SimOrder>, Refusal> {
        self.settle();
        let change_time = self.change_time;
        let unpaid =
            self.orders.iter().find(|o| o.gateway_id == id && o.payment == Payment::Unpaid).map(|o| o.id.clone());
        let g = self.gateways.iter_mut().find(|g| g.id == id).ok_or(Refusal::NoGateway)?;
        if g.change.is_some() {
            return Err(Refusal::Busy);
        }
        if let Some(order) = unpaid {
            return Err(Refusal::UnpaidOrder(order));
        }
        if g.spec == spec {
            return Err(Refusal::SameSpec);
        }
        if g.charge == Charge::PostPaid {
            g.change = Some((spec.to_owned(), Instant::now() + change_time));
            return Ok(None);
        }
        let rank = |s: &str| SPECS.iter().position(|x| *x == s);
        if rank(spec) < rank(&g.spec) {
            return Err(Refusal::Downgrade);
        }
        self.next_order += 1;
        let order = SimOrder {
            // BSS order ids are long decimal numbers.
            id: format!("2{:013}{:04}", crate::ledger::now_unix_ms(), self.next_order % 10_000),
            gateway_id: g.id.clone(),
            region_id: g.region_id.clone(),
            from_spec: g.spec.clone(),
            to_spec: spec.to_owned(),
            payment: Payment::Unpaid,
            created: Timestamp::now(),
            paid: None,
            fails: false,
        };
        self.orders.push(order.clone());
        if auto_pay {
            self.pay(&order.id)?;
        }
        Ok(Some(self.orders.iter().find(|o| o.id == order.id).cloned().unwrap_or(order)))
    }

    /// Pays an unpaid order: its gateway starts changing.
    pub fn pay(&mut self, order_id: &str) -> Result<(), Refusal> {
        self.settle();
        let order = self.orders.iter_mut().find(|o| o.id == order_id).ok_or(Refusal::NoOrder)?;
        if order.payment != Payment::Unpaid {
            return Err(Refusal::NotUnpaid(order.payment));
        }
        order.payment = Payment::Paid;
        order.paid = Some(Timestamp::now());
        let at = Instant::now() + self.change_time;
        if let Some(g) = self.gateways.iter_mut().find(|g| g.id == order.gateway_id) {
            let end = if order.fails { g.spec.clone() } else { order.to_spec.clone() };
            g.change = Some((end, at));
        }
        Ok(())
    }

    /// Makes the change just accepted for gateway `id` (and its order) end failed: the gateway
    /// is `Modifying` for the change time, then back on the spec it had.
    pub fn fail(&mut self, id: &str, order_id: Option<&str>) {
        if let Some(order) = self.orders.iter_mut().find(|o| Some(o.id.as_str()) == order_id) {
            order.fails = true;
        }
        if let Some(g) = self.gateways.iter_mut().find(|g| g.id == id)
            && let Some((end, _)) = &mut g.change
        {
            end.clone_from(&g.spec);
        }
    }

    /// Cancels an unpaid order: nothing changes.
    pub fn cancel(&mut self, order_id: &str) -> Result<(), Refusal> {
        let order = self.orders.iter_mut().find(|o| o.id == order_id).ok_or(Refusal::NoOrder)?;
        if order.payment != Payment::Unpaid {
            return Err(Refusal::NotUnpaid(order.payment));
        }
        order.payment = Payment::Cancelled;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(charge: Charge) -> World {
        let mut w = World::new(Duration::ZERO);
        let mut seed = SeedGateway::parse("ngw-1:cn-hangzhou:Middle").unwrap();
        seed.charge = charge;
        w.seed(&seed);
        w
    }

    #[test]
    fn a_subscription_upgrade_waits_for_payment_and_a_downgrade_is_refused() {
        let mut w = world(Charge::PrePaid);
        assert_eq!(w.change_spec("ngw-1", "Small", false), Err(Refusal::Downgrade));
        assert_eq!(w.change_spec("ngw-1", "Middle", false), Err(Refusal::SameSpec));
        let order = w.change_spec("ngw-1", "Large", false).unwrap().unwrap();
        assert_eq!(order.payment, Payment::Unpaid);
        assert_eq!(w.gateways()[0].spec, "Middle");
        assert_eq!(w.change_spec("ngw-1", "XLarge.1", false), Err(Refusal::UnpaidOrder(order.id.clone())));
        w.pay(&order.id).unwrap();
        assert_eq!(w.pay(&order.id), Err(Refusal::NotUnpaid(Payment::Paid)));
        let g = &w.gateways()[0];
        assert_eq!((g.spec.as_str(), g.status()), ("Large", "Available"));
    }

    #[test]
    fn a_failed_change_ends_on_the_old_spec() {
        let mut w = world(Charge::PrePaid);
        let order = w.change_spec("ngw-1", "Large", false).unwrap().unwrap();
        w.fail("ngw-1", Some(&order.id));
        w.pay(&order.id).unwrap();
        assert_eq!(w.gateways()[0].spec, "Middle");
        let mut w = world(Charge::PostPaid);
        w.change_spec("ngw-1", "Large", false).unwrap();
        w.fail("ngw-1", None);
        assert_eq!(w.gateways()[0].spec, "Middle");
    }

    #[test]
    fn pay_by_spec_resizes_in_place_either_way() {
        let mut w = world(Charge::PostPaid);
        w.change_time = Duration::from_secs(3600);
        assert_eq!(w.change_spec("ngw-1", "Small", false), Ok(None));
        assert_eq!(w.gateways()[0].status(), "Modifying");
        assert_eq!(w.change_spec("ngw-1", "Large", false), Err(Refusal::Busy));
        assert!(w.orders().is_empty());
        assert!(SeedGateway::parse("ngw-1:cn-hangzhou:Huge").is_err());
    }
}
