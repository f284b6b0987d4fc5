//! The metrics decorator around a provider counts each call with its outcome and passes results
//! through unchanged.

use std::{sync::Arc, time::Duration};

use natgw_operator::{
    api::BillingMode,
    api::ProviderSpec,
    cloud::{
        Capacity, ErrorKind, GatewayRef,
        instrumented::InstrumentedProvider,
        tencent::{TencentApi, TencentProvider},
    },
    metrics::Metrics,
};
use natgw_testkit::memory::MemoryCloud;

#[tokio::test]
async fn counts_each_call_with_its_outcome_and_passes_results_through() {
    let cloud = MemoryCloud::new(Duration::from_secs(60));
    cloud.seed("nat-1", Capacity::Connections(1_000_000), BillingMode::PayPerUse);
    let metrics = Arc::new(Metrics::new());
    let provider = InstrumentedProvider::wrap(Arc::new(cloud.clone()), metrics.clone());
    let place = ProviderSpec::Tencent(TencentProvider { region: "r".into(), vpc_id: None, api: TencentApi::V3 });
    let gw = |id: &str| GatewayRef { id: id.into(), place: place.clone() };

    assert_eq!(provider.profile().label, "memory");
    assert!(provider.describe(&gw("nat-1")).await.is_ok());
    let ticket = provider.resize(&gw("nat-1"), &Capacity::Connections(3_000_000), true).await.unwrap();
    assert_eq!(ticket.order_id.as_deref(), Some("mem-1"));
    let busy = provider.resize(&gw("nat-1"), &Capacity::Connections(3_000_000), true).await.unwrap_err();
    assert_eq!(busy.kind, ErrorKind::Busy);
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
