//! What the controller needs from a cloud, independent of which cloud: the [`Provider`] trait,
//! credentials, the size mapping and the shared error type.

pub mod batch;
pub mod connect;
mod credentials;
pub mod endpoints;
mod error;
pub mod http;
pub mod huawei;
pub mod instrumented;
pub mod memory;
pub mod ratelimit;
pub mod tencent;

use std::sync::Arc;

use async_trait::async_trait;

pub use credentials::{Credentials, SecretValue};
pub use error::{CloudError, ErrorKind, Refusal};

use crate::api::{BillingMode, NatGatewaySpec, Prepaid, Size};

/// Which cloud API a resource talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    TencentV2,
    TencentV3,
    Huawei,
}

impl ProviderKind {
    pub fn of(spec: &NatGatewaySpec) -> ProviderKind {
        match (&spec.provider.tencent, &spec.provider.huawei) {
            (Some(t), _) => match t.api {
                crate::api::TencentApi::V2 => ProviderKind::TencentV2,
                crate::api::TencentApi::V3 => ProviderKind::TencentV3,
            },
            // Admission guarantees exactly one provider.
            (None, _) => ProviderKind::Huawei,
        }
    }

    /// Shown in the PROVIDER column.
    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::TencentV2 => "tencent/V2",
            ProviderKind::TencentV3 => "tencent/V3",
            ProviderKind::Huawei => "huawei",
        }
    }

    /// The cloud's value for a size, or `None` when this cloud has no such size.
    pub fn capacity_for(self, size: Size) -> Option<Capacity> {
        match self {
            ProviderKind::TencentV2 | ProviderKind::TencentV3 => match size {
                Size::Small => Some(Capacity::Connections(1_000_000)),
                Size::Medium => Some(Capacity::Connections(3_000_000)),
                Size::Large => Some(Capacity::Connections(10_000_000)),
                Size::ExtraLarge | Size::Enterprise => None,
            },
            ProviderKind::Huawei => Some(Capacity::Spec(
                match size {
                    Size::Small => "1",
                    Size::Medium => "2",
                    Size::Large => "3",
                    Size::ExtraLarge => "4",
                    Size::Enterprise => "5",
                }
                .to_owned(),
            )),
        }
    }

    /// The size a cloud value stands for, if any.
    pub fn size_of(self, capacity: &Capacity) -> Option<Size> {
        Size::ALL.into_iter().find(|s| self.capacity_for(*s).as_ref() == Some(capacity))
    }

    /// Whether this cloud can change a gateway's billing to `to` at all.
    pub fn supports_billing(self, from: BillingMode, to: BillingMode) -> bool {
        from == to || (self == ProviderKind::Huawei && from == BillingMode::PayPerUse && to == BillingMode::Prepaid)
    }
}

/// A gateway's size as the cloud expresses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capacity {
    /// Tencent's maximum concurrent connections.
    Connections(u64),
    /// Huawei's `spec` string.
    Spec(String),
}

/// Where a gateway lives: everything a client needs besides credentials and the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayRef {
    pub id: String,
    pub region: String,
    /// Tencent API 2.0 needs the VPC for `UpgradeNatGateway`.
    pub vpc_id: Option<String>,
    /// Huawei project; looked up from the region when absent.
    pub project_id: Option<String>,
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
}

/// What the cloud said when it accepted a change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderTicket {
    /// An id that [`Provider::order_status`] can poll (Tencent `billId`, Huawei `order_id`).
    pub order_id: Option<String>,
    /// The request id of the accepted call, for the user and support tickets.
    pub request_id: Option<String>,
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
    fn kind(&self) -> ProviderKind;

    async fn describe(&self, gateway: &GatewayRef) -> Result<Observed, CloudError>;

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
}

/// Builds (or reuses) a client for a resource's cloud account.
pub trait Connector: Send + Sync {
    fn connect(&self, spec: &NatGatewaySpec, credentials: Credentials) -> Result<Arc<dyn Provider>, CloudError>;
}

/// `spec.billing.prepaid.autoPay` (true when absent): whether an order a change opens is paid from
/// the balance at once.
pub fn auto_pay(spec: &NatGatewaySpec) -> bool {
    spec.billing.as_ref().and_then(|b| b.prepaid.as_ref()).is_none_or(|p| p.auto_pay)
}

impl GatewayRef {
    pub fn of(spec: &NatGatewaySpec) -> GatewayRef {
        match (&spec.provider.tencent, &spec.provider.huawei) {
            (Some(t), _) => GatewayRef {
                id: spec.gateway_id.clone(),
                region: t.region.clone(),
                vpc_id: t.vpc_id.clone(),
                project_id: None,
            },
            (None, Some(h)) => GatewayRef {
                id: spec.gateway_id.clone(),
                region: h.region.clone(),
                vpc_id: None,
                project_id: h.project_id.clone(),
            },
            (None, None) => {
                GatewayRef { id: spec.gateway_id.clone(), region: String::new(), vpc_id: None, project_id: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip_through_each_cloud() {
        for kind in [ProviderKind::TencentV2, ProviderKind::TencentV3, ProviderKind::Huawei] {
            for size in Size::ALL {
                if let Some(c) = kind.capacity_for(size) {
                    assert_eq!(kind.size_of(&c), Some(size), "{kind:?} {size}");
                }
            }
        }
        assert_eq!(ProviderKind::TencentV3.capacity_for(Size::Medium), Some(Capacity::Connections(3_000_000)));
        assert_eq!(ProviderKind::TencentV3.capacity_for(Size::ExtraLarge), None);
        assert_eq!(ProviderKind::Huawei.capacity_for(Size::Enterprise), Some(Capacity::Spec("5".into())));
        assert_eq!(ProviderKind::Huawei.size_of(&Capacity::Spec("9".into())), None);
    }

    #[test]
    fn billing_changes_only_where_an_api_exists() {
        use BillingMode::*;
        assert!(ProviderKind::Huawei.supports_billing(PayPerUse, Prepaid));
        assert!(!ProviderKind::Huawei.supports_billing(Prepaid, PayPerUse));
        assert!(!ProviderKind::TencentV3.supports_billing(PayPerUse, Prepaid));
        assert!(ProviderKind::TencentV2.supports_billing(PayPerUse, PayPerUse));
    }
}
