//! What the controller needs from a cloud, independent of which cloud: the [`Provider`] trait,
//! credentials, each cloud's [`Profile`], the [`Registry`] of clouds and the shared error type.

pub mod admission;
pub mod batch;
mod builtin;
pub mod claim;
pub(crate) mod clouds;
pub mod connect;
mod credentials;
pub mod endpoints;
mod error;
pub mod http;
pub mod huawei;
pub mod identity;
pub mod instrumented;
pub mod profile;
pub mod ratelimit;
pub mod registry;
pub mod shape;
pub mod spec;
pub mod tencent;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

pub use credentials::{Credentials, SecretValue};
pub use error::{CloudError, ErrorKind, Refusal};
pub use profile::{Capacity, Profile};
pub use registry::Registry;

use k8s_openapi::jiff::Timestamp;

use crate::api::{BillingMode, NatGatewaySpec, Prepaid, ProviderSpec, Renewal};

/// Where a gateway lives: everything a client needs besides credentials and the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayRef {
    pub id: String,
    /// The spec's provider: the region, and whatever else its cloud needs to reach the gateway
    /// (read by that cloud's client only).
    pub place: ProviderSpec,
}

impl GatewayRef {
    pub fn region(&self) -> &str {
        self.place.region()
    }
}

/// The cloud a spec names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selected {
    pub profile: &'static Profile,
    pub gateway: GatewayRef,
    /// `spec.endpoint`: the endpoint the client uses instead of the documented ones.
    pub endpoint: Option<String>,
    /// Other endpoints the spec picks, by field (e.g. a separate billing API), checked against
    /// the allow-list like `spec.endpoint`.
    pub other_endpoints: Vec<(&'static str, String)>,
}

/// Coarse gateway state, from each cloud's own state words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayState {
    /// Running and accepting changes (`AVAILABLE`, `ACTIVE`, running + created).
    Ready,
    /// A change is being applied (`UPDATING`, `PENDING_UPDATE`, changing).
    Transitioning,
    /// Not usable and not changing by itself (`PENDFAILURE`, `INACTIVE`, arrears, ...).
    Unavailable,
}

/// One read of a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub capacity: Capacity,
    pub billing: BillingMode,
    pub state: GatewayState,
    /// The cloud's own state word(s), shown in status.
    pub raw_state: String,
    /// A yearly/monthly gateway's period, where the cloud reports it (Huawei's BSS); `None` for
    /// pay-per-use gateways and clouds that report none.
    pub subscription: Option<Subscription>,
    /// The claim tag ([`claim`]), where this read carries the gateway's tags.
    pub claim: claim::ClaimTag,
}

/// The period of a yearly/monthly gateway, as the cloud's billing reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// `None` when billing gives no end (it always should).
    pub expires_at: Option<Timestamp>,
    pub renewal: Renewal,
}

/// A change to what happens at a yearly/monthly gateway's expiry. None places an order or moves
/// money now; each is one call that may safely be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenewalChange {
    /// Renew automatically at expiry (Huawei `AutoRenewalResources`).
    EnableAutoRenew,
    /// Stop renewing automatically (Huawei `CancelAutoRenewalResources`).
    DisableAutoRenew,
    /// Become pay-per-use at expiry (Huawei `UpdatePeriodToOnDemand` `SET_UP`).
    PayPerUseAtExpiry,
    /// Stay yearly/monthly at expiry: undo [`RenewalChange::PayPerUseAtExpiry`] (`CANCEL`).
    KeepAtExpiry,
}

/// What the cloud said when it accepted a change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderTicket {
    /// An id that [`Provider::order_status`] can poll (Tencent `billId`, Huawei `order_id`).
    pub order_id: Option<String>,
    /// The request id of the accepted call, for the user and support tickets.
    pub request_id: Option<String>,
}

/// What [`Provider::list`] found, and how many list calls (pages) it took.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub gateways: Vec<Listed>,
    pub pages: usize,
}

/// One gateway of a [`Provider::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    /// The name given in the cloud's console (may be empty).
    pub name: String,
    /// The provider a manifest of this gateway names: the listed place, narrowed by what the
    /// cloud reports of where this gateway is.
    pub place: ProviderSpec,
    pub observed: Observed,
}

/// State of a cloud order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderState {
    InProgress,
    /// Waits for someone to pay it (Huawei `is_auto_pay=false`).
    AwaitingPayment,
    Succeeded,
    Failed {
        reason: String,
    },
    Cancelled,
}

/// One cloud account in one region. Implementations sign and send requests; they never retry
/// a mutating call (the controller decides, so that one change is one order).
#[async_trait]
pub trait Provider: Send + Sync {
    /// The cloud API this client speaks.
    fn profile(&self) -> &'static Profile;

    /// A read for a drift check: it may be answered by a recent account-wide sweep.
    async fn describe(&self, gateway: &GatewayRef) -> Result<Observed, CloudError>;

    /// [`Provider::describe`] for a resource with a drift interval of its own: a swept answer
    /// older than `max_age` is not served ([`batch::sweep_age`] of the interval).
    async fn describe_within(&self, gateway: &GatewayRef, _max_age: Duration) -> Result<Observed, CloudError> {
        self.describe(gateway).await
    }

    /// A read no earlier sweep answers: what an order is decided on, and what an open order is
    /// followed with. Clouds without sweeps read the same way as [`Provider::describe`].
    async fn describe_fresh(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        self.describe(gateway).await
    }

    /// Announces the gateways this client will soon be asked about: `roster()` lists every
    /// resource of its account and place. A client that sweeps asks for it once and reads them
    /// all along with its first read, so a restarted operator re-reads its fleet at the cost of
    /// one sweep instead of one small batch per wave of reconciles. Others ignore it.
    async fn expect(&self, _roster: &(dyn Fn() -> Vec<GatewayRef> + Send + Sync)) {}

    /// Starts a resize to `capacity`. `auto_pay` says whether an order the resize opens (Huawei:
    /// a yearly/monthly gateway's spec change) is paid from the balance at once, or waits for
    /// someone to pay it (`spec.billing.prepaid.autoPay`).
    async fn resize(
        &self,
        gateway: &GatewayRef,
        capacity: &Capacity,
        auto_pay: bool,
    ) -> Result<OrderTicket, CloudError>;

    /// Starts a change from pay-per-use to the given subscription.
    async fn change_billing(&self, gateway: &GatewayRef, prepaid: &Prepaid) -> Result<OrderTicket, CloudError>;

    async fn order_status(&self, gateway: &GatewayRef, order_id: &str) -> Result<OrderState, CloudError>;

    /// Changes what happens at the gateway's expiry. Only for clouds whose [`Profile::renewal`]
    /// says they report and change it.
    async fn set_renewal(&self, _gateway: &GatewayRef, _change: RenewalChange) -> Result<(), CloudError> {
        Err(CloudError::new(
            ErrorKind::Unsupported,
            format!("{} cannot change a NAT gateway's renewal", self.profile().name),
        ))
    }

    /// Cancels order `order_id` while it waits for payment. `Ok` means the cloud took the
    /// cancellation; the order's status then says whether it is cancelled or was paid first.
    async fn cancel_order(&self, _gateway: &GatewayRef, _order_id: &str) -> Result<(), CloudError> {
        Err(CloudError::new(ErrorKind::Unsupported, format!("{} cannot cancel orders", self.profile().name)))
    }

    /// An order of kind `action` for `gateway` that the cloud accepted and has not ended (neither
    /// completed nor cancelled), for when the call's answer was lost before its order id was
    /// recorded. `Some` means "do not order again: follow this order, then read the gateway".
    /// `Ok(None)` means the cloud knows of no such order, so asking again cannot buy twice.
    ///
    /// The default answers `Ok(None)`: clouds whose gateway state already reveals an accepted
    /// change (a new size, `UPDATING`, a billing mode) don't need it. An order the cloud does not
    /// tie to this gateway is never returned: following another gateway's order would leave this
    /// one unchanged and that order's payer confused.
    async fn find_open_order(
        &self,
        _gateway: &GatewayRef,
        _action: crate::api::OrderAction,
    ) -> Result<Option<String>, CloudError> {
        Ok(None)
    }

    /// Tags the gateway with `claimant`'s claim ([`claim::TAG_KEY`]), replacing any value the
    /// key had: the last writer holds it. Only for clouds whose [`Profile::claims`] says so.
    /// `wait`: for the account's rate limit; without it, a call that would wait is not sent and
    /// answers `Throttled` with the time to wait (a claim at rest can come later).
    async fn write_claim(
        &self,
        _gateway: &GatewayRef,
        _claimant: &claim::Claimant,
        _wait: bool,
    ) -> Result<(), CloudError> {
        Err(CloudError::new(ErrorKind::Unsupported, format!("{} cannot tag NAT gateways", self.profile().name)))
    }

    /// Removes the claim tag, whoever it names (the caller has read that it names the claimant
    /// to release).
    async fn remove_claim(&self, _gateway: &GatewayRef) -> Result<(), CloudError> {
        Err(CloudError::new(ErrorKind::Unsupported, format!("{} cannot tag NAT gateways", self.profile().name)))
    }

    /// Every gateway of the account at `place` (a region, and the narrower scopes the cloud's
    /// provider part names), read with the cloud's list call page by page (never one read per
    /// gateway): what `natgw-operator import` turns into manifests.
    async fn list(&self, _place: &ProviderSpec) -> Result<Listing, CloudError> {
        Err(CloudError::new(ErrorKind::Unsupported, format!("{} cannot list NAT gateways", self.profile().name)))
    }
}

/// Finds a resource's cloud and builds (or reuses) a client for its account.
pub trait Connector: Send + Sync {
    /// The registered cloud `spec` names; a refusal (`InvalidSpec`) when none claims it.
    fn select(&self, spec: &NatGatewaySpec) -> Result<Selected, CloudError>;

    fn connect(&self, spec: &NatGatewaySpec, credentials: Credentials) -> Result<Arc<dyn Provider>, CloudError>;

    /// Trades `token`, a token of the ServiceAccount `spec.workloadIdentity` names, for temporary
    /// credentials at the cloud's STS / IAM endpoint, once the spec and that endpoint passed the
    /// installer's allow-list. Errors carry no part of the token; each call is counted in
    /// `metrics` as every cloud call is.
    fn exchange<'a>(
        &'a self,
        spec: &'a NatGatewaySpec,
        token: &'a SecretValue,
        session_name: &'a str,
        metrics: &'a crate::metrics::Metrics,
    ) -> futures::future::BoxFuture<'a, Result<identity::Temporary, identity::ExchangeError>>;
}

/// `spec.billing.prepaid.autoPay` (true when absent): whether an order a change opens is paid from
/// the balance at once.
pub fn auto_pay(spec: &NatGatewaySpec) -> bool {
    spec.billing.as_ref().and_then(|b| b.prepaid.as_ref()).is_none_or(|p| p.auto_pay)
}
