mod support;
use natgw_operator::{
    cloud::{ProviderKind, memory::MemoryCloud},
    controller,
    health::Readiness,
};
use std::{sync::Arc, time::Duration};
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let cluster = support::Cluster::start("scratch").await;
    let cloud = MemoryCloud::new(ProviderKind::TencentV3, Duration::from_secs(2));
    let readiness = Readiness::default();
    let config = controller::Config { readiness: readiness.clone(), ..Default::default() };
    tokio::spawn(controller::run(cluster.client.clone(), Arc::new(cloud), config, std::future::pending()));
    for _ in 0..20 {
        println!("{:?}", readiness.state());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
