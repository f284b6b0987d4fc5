//! A [`Provider`] decorator that counts and times every cloud call, so each cloud client
//! (and the in-memory cloud) is measured the same way without knowing about metrics.

use std::{future::Future, sync::Arc, time::Instant};

use async_trait::async_trait;

use super::{Capacity, CloudError, ErrorKind, GatewayRef, Observed, OrderState, OrderTicket, Profile, Provider};
use crate::{
    api::{OrderAction, Prepaid},
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

    async fn find_open_order(&self, gateway: &GatewayRef, action: OrderAction) -> Result<Option<String>, CloudError> {
        self.observe(CloudAction::FindOpenOrder, self.inner.find_open_order(gateway, action)).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{api::BillingMode, cloud::memory::MemoryCloud};

    #[tokio::test]
    async fn counts_each_call_with_its_outcome_and_passes_results_through() {
        let cloud = MemoryCloud::new(Duration::from_secs(60));
        cloud.seed("nat-1", Capacity::Connections(1_000_000), BillingMode::PayPerUse);
        let metrics = Arc::new(Metrics::new());
        let provider = InstrumentedProvider::wrap(Arc::new(cloud.clone()), metrics.clone());
        let gw = |id: &str| GatewayRef { id: id.into(), region: "r".into(), vpc_id: None, project_id: None };

        assert_eq!(provider.profile().label, "memory");
        assert!(provider.describe(&gw("nat-1")).await.is_ok());
        let ticket = provider.resize(&gw("nat-1"), &Capacity::Connections(3_000_000), true).await.unwrap();
        assert_eq!(ticket.order_id.as_deref(), Some("mem-1"));
        let busy = provider.resize(&gw("nat-1"), &Capacity::Connections(3_000_000), true).await.unwrap_err();
        assert_eq!(busy.kind, crate::cloud::ErrorKind::Busy);
        assert!(provider.describe(&gw("missing")).await.is_err());
        assert_eq!(cloud.ledger().len(), 1, "the decorator never repeats a call");

        let text = metrics.encode();
        for line in [
            "natgw_cloud_calls_total{provider=\"memory\",action=\"describe\",outcome=\"ok\"} 1",
            "natgw_cloud_calls_total{provider=\"memory\",action=\"describe\",outcome=\"not_found\"} 1",
            "natgw_cloud_calls_total{provider=\"memory\",action=\"resize\",outcome=\"ok\"} 1",
            "natgw_cloud_calls_total{provider=\"memory\",action=\"resize\",outcome=\"busy\"} 1",
            "natgw_cloud_call_duration_seconds_count{provider=\"memory\",action=\"resize\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
