//! A [`Provider`] decorator that counts and times every cloud call, so each cloud client
//! (and the in-memory cloud) is measured the same way without knowing about metrics.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::{
    Capacity, CloudError, ErrorKind, GatewayRef, Listing, Observed, OrderState, OrderTicket, Profile, Provider,
    RenewalChange, claim::Claimant,
};
use crate::{
    api::{OrderAction, Prepaid, ProviderSpec},
    metrics::{CloudAction, Metrics},
};

pub struct InstrumentedProvider {
    inner: Arc<dyn Provider>,
    metrics: Arc<Metrics>,
}

impl InstrumentedProvider {
    /// Wraps `inner`; the result is used exactly like it.
    pub fn wrap(inner: Arc<dyn Provider>, metrics: Arc<Metrics>) -> Arc<dyn Provider> {
        Arc::new(InstrumentedProvider { inner, metrics })
    }

    async fn observe<T>(
        &self,
        action: CloudAction,
        call: impl Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        let started = Instant::now();
        let result = call.await;
        let error = result.as_ref().err().map(|e| e.kind);
        let provider = self.inner.profile().label;
        self.metrics.cloud_call(provider, action, error.map(ErrorKind::label), started.elapsed());
        if error == Some(ErrorKind::Throttled) {
            self.metrics.throttled(provider);
        }
        result
    }
}

#[async_trait]
impl Provider for InstrumentedProvider {
    fn profile(&self) -> &'static Profile {
        self.inner.profile()
    }

    async fn describe(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        self.observe(CloudAction::Describe, self.inner.describe(gateway)).await
    }

    async fn describe_within(&self, gateway: &GatewayRef, max_age: Duration) -> Result<Observed, CloudError> {
        self.observe(CloudAction::Describe, self.inner.describe_within(gateway, max_age)).await
    }

    async fn describe_fresh(&self, gateway: &GatewayRef) -> Result<Observed, CloudError> {
        self.observe(CloudAction::Describe, self.inner.describe_fresh(gateway)).await
    }

    async fn expect(&self, roster: &(dyn Fn() -> Vec<GatewayRef> + Send + Sync)) {
        self.inner.expect(roster).await
    }

    async fn resize(
        &self,
        gateway: &GatewayRef,
        capacity: &Capacity,
        auto_pay: bool,
    ) -> Result<OrderTicket, CloudError> {
        self.observe(CloudAction::Resize, self.inner.resize(gateway, capacity, auto_pay)).await
    }

    async fn change_billing(&self, gateway: &GatewayRef, prepaid: &Prepaid) -> Result<OrderTicket, CloudError> {
        self.observe(CloudAction::ChangeBilling, self.inner.change_billing(gateway, prepaid)).await
    }

    async fn order_status(&self, gateway: &GatewayRef, order_id: &str) -> Result<OrderState, CloudError> {
        self.observe(CloudAction::OrderStatus, self.inner.order_status(gateway, order_id)).await
    }

    async fn set_renewal(&self, gateway: &GatewayRef, change: RenewalChange) -> Result<(), CloudError> {
        self.observe(CloudAction::SetRenewal, self.inner.set_renewal(gateway, change)).await
    }

    async fn cancel_order(&self, gateway: &GatewayRef, order_id: &str) -> Result<(), CloudError> {
        self.observe(CloudAction::CancelOrder, self.inner.cancel_order(gateway, order_id)).await
    }

    async fn write_claim(&self, gateway: &GatewayRef, claimant: &Claimant, wait: bool) -> Result<(), CloudError> {
        self.observe(CloudAction::WriteClaim, self.inner.write_claim(gateway, claimant, wait)).await
    }

    async fn remove_claim(&self, gateway: &GatewayRef) -> Result<(), CloudError> {
        self.observe(CloudAction::RemoveClaim, self.inner.remove_claim(gateway)).await
    }

    async fn find_open_order(&self, gateway: &GatewayRef, action: OrderAction) -> Result<Option<String>, CloudError> {
        self.observe(CloudAction::FindOpenOrder, self.inner.find_open_order(gateway, action)).await
    }

    async fn list(&self, place: &ProviderSpec) -> Result<Listing, CloudError> {
        self.observe(CloudAction::List, self.inner.list(place)).await
    }
}
