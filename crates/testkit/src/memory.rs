//! An in-memory cloud for controller tests: gateways in a map, changes that take a set time,
//! and a ledger of every accepted change. It is a cloud like the others: it declares its
//! [`PROFILE`] and is registered with [`Registry::with`](natgw_operator::cloud::Registry::with),
//! ahead of or instead of the built-in clouds; it then claims every spec.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use natgw_operator::api::{BillingMode, NatGatewaySpec, Prepaid, Size};
use natgw_operator::cloud::{
    Capacity, CloudError, Credentials, ErrorKind, GatewayRef, GatewayState, Observed, OrderState, OrderTicket, Profile,
    Provider, Selected,
    profile::{Downsize, SecretKeys},
    registry::{Cloud, Shared},
};

pub static PROFILE: Profile = Profile {
    label: "memory",
    name: "the in-memory cloud",
    sizes,
    billing_modes: &[BillingMode::PayPerUse, BillingMode::Prepaid],
    billing_changes: &[(BillingMode::PayPerUse, BillingMode::Prepaid)],
    renewal: false,
    claims: false,
    claim_permissions: "",
    downsize: Downsize::InPlace,
    secret_keys: SecretKeys { key_id: "secretId", secret: "secretKey", token: "token", domain_id: None },
    env_keys: SecretKeys { key_id: "MEMORY_KEY_ID", secret: "MEMORY_SECRET", token: "MEMORY_TOKEN", domain_id: None },
    account: "memory",
    rate_limits: &[],
    endpoints: &[],
};

/// Connections, like Tencent's, so tests seed gateways in familiar numbers.
fn sizes(size: Size) -> Option<Capacity> {
    match size {
        Size::Small => Some(Capacity::Connections(1_000_000)),
        Size::Medium => Some(Capacity::Connections(3_000_000)),
        Size::Large => Some(Capacity::Connections(10_000_000)),
        Size::ExtraLarge | Size::Enterprise => None,
    }
}

#[derive(Debug, Clone)]
struct Gateway {
    capacity: Capacity,
    billing: BillingMode,
    /// The change being applied and when it completes.
    pending: Option<(Change, Instant)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Change {
    Resize(Capacity),
    Billing,
}

/// One accepted change, as the test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub gateway_id: String,
    pub action: &'static str,
    pub order_id: String,
}

#[derive(Default)]
struct State {
    gateways: HashMap<String, Gateway>,
    ledger: Vec<LedgerEntry>,
    /// What drift reads ([`Provider::describe`]) answer instead of the truth, as an account-wide
    /// sweep taken before a change would.
    stale: HashMap<String, Observed>,
}

/// A cloud held in memory. Cloning shares the same cloud.
#[derive(Clone)]
pub struct MemoryCloud {
    change_time: Duration,
    state: Arc<Mutex<State>>,
}

impl MemoryCloud {
    pub fn new(change_time: Duration) -> Self {
        MemoryCloud { change_time, state: Arc::default() }
    }

    pub fn seed(&self, id: &str, capacity: Capacity, billing: BillingMode) {
        self.lock().gateways.insert(id.to_owned(), Gateway { capacity, billing, pending: None });
    }

    /// From now on drift reads of `id` answer `observed`, as a sweep that predates a change
    /// would; reads that must be fresh ([`Provider::describe_fresh`]) still tell the truth.
    pub fn serve_stale(&self, id: &str, observed: Observed) {
        self.lock().stale.insert(id.to_owned(), observed);
    }

    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.lock().ledger.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock only happens in a failing test; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settle(gw: &mut Gateway) {
        if let Some((change, at)) = &gw.pending
            && Instant::now() >= *at
        {
            match change {
                Change::Resize(c) => gw.capacity = c.clone(),
                Change::Billing => gw.billing = BillingMode::Prepaid,
            }
            gw.pending = None;
        }
    }

    /// The gateway, with any change that is due applied.
    fn settled<'s>(state: &'s mut State, id: &str) -> Result<&'s mut Gateway, CloudError> {
        let gw = state
            .gateways
            .get_mut(id)
            .ok_or_else(|| CloudError::new(ErrorKind::NotFound, format!("gateway {id} does not exist")))?;
        Self::settle(gw);
        Ok(gw)
    }

    fn start(&self, gateway: &GatewayRef, change: Change, action: &'static str) -> Result<OrderTicket, CloudError> {
        let mut state = self.lock();
        let gw = Self::settled(&mut state, &gateway.id)?;
        if gw.pending.is_some() {
            return Err(CloudError::new(ErrorKind::Busy, "the gateway is being changed"));
        }
        gw.pending = Some((change, Instant::now() + self.change_time));
        let order_id = format!("mem-{}", state.ledger.len() + 1);
        state.ledger.push(LedgerEntry { gateway_id: gateway.id.clone(), action, order_id: order_id.clone() });
        Ok(OrderTicket { order_id: Some(order_id.clone()), request_id: Some(order_id) })
    }
}

#[async_trait]
impl Provider for MemoryCloud {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    async fn describe(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        if let Some(stale) = self.lock().stale.get(&gateway.id) {
            return Ok(stale.clone());
        }
        self.describe_fresh(gateway).await
    }

    async fn describe_fresh(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        let mut state = self.lock();
        let gw = Self::settled(&mut state, &gateway.id)?;
        let state = if gw.pending.is_some() { GatewayState::Transitioning } else { GatewayState::Ready };
        Ok(Observed {
            capacity: gw.capacity.clone(),
            billing: gw.billing,
            state,
            raw_state: if state == GatewayState::Ready { "AVAILABLE" } else { "UPDATING" }.to_owned(),
            subscription: None,
            claim: Default::default(),
        })
    }

    async fn resize(
        &self,
        gateway: &GatewayRef,
        capacity: &Capacity,
        _auto_pay: bool,
    ) -> Result<OrderTicket, CloudError> {
        self.start(gateway, Change::Resize(capacity.clone()), "Resize")
    }

    async fn change_billing(&self, gateway: &GatewayRef, _prepaid: &Prepaid) -> Result<OrderTicket, CloudError> {
        self.start(gateway, Change::Billing, "ChangeBilling")
    }

    async fn order_status(&self, gateway: &GatewayRef, order_id: &str) -> Result<OrderState, CloudError> {
        let mut state = self.lock();
        if !state.ledger.iter().any(|e| e.order_id == order_id) {
            return Err(CloudError::new(ErrorKind::NotFound, format!("order {order_id} does not exist")));
        }
        let gw = Self::settled(&mut state, &gateway.id)?;
        Ok(if gw.pending.is_some() { OrderState::InProgress } else { OrderState::Succeeded })
    }
}

impl Cloud for MemoryCloud {
    fn select(&self, spec: &NatGatewaySpec) -> Option<Selected> {
        // It stands in for whichever cloud the spec names: the gateway is in that region.
        let gateway = GatewayRef { id: spec.gateway_id.clone(), place: spec.provider.clone() };
        Some(Selected { profile: &PROFILE, gateway, endpoint: None, other_endpoints: Vec::new() })
    }

    /// None: it stands in for the clouds the CRD is generated from, so only its runtime check
    /// refuses what it lacks.
    fn admission(&self) -> Vec<(&'static str, &'static Profile)> {
        Vec::new()
    }

    fn connect(&self, _: &Selected, _: Credentials, _: Shared<'_>) -> Result<Arc<dyn Provider>, CloudError> {
        Ok(Arc::new(self.clone()))
    }
}
