//! Events on a real API server: a repeat becomes a series on the first Event, anything else is
//! a new Event, and `kubectl describe` shows both.

use k8s_openapi::api::events::v1::Event;
use kube::{Api, Resource, api::ListParams};
use natgw_operator::controller::events::{EventType, Recorder};
use natgw_testkit::{Cluster, tencent_spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_fold_into_a_series() {
    let cluster = Cluster::start("events").await;
    let obj = cluster.create_natgw("egress", tencent_spec("nat-1", None, "Medium", "creds", None)).await;
    let regarding = obj.object_ref(&());
    let recorder = Recorder::new(cluster.client.clone(), "natgw-operator", Some("pod-a".into()));
    let missing = "Secret events/creds does not exist; create it with the cloud credentials";

    for _ in 0..3 {
        recorder.publish(&regarding, EventType::Warning, "CredentialsMissing", missing).await.unwrap();
    }
    recorder.publish(&regarding, EventType::Warning, "CredentialsMissing", "another message").await.unwrap();
    let long = "é".repeat(600); // 1,200 bytes: cut below the API server's 1 KiB limit
    recorder.publish(&regarding, EventType::Normal, "OrderSubmitted", &long).await.unwrap();

    let events: Api<Event> = Api::namespaced(cluster.client.clone(), "events");
    let mut list = events.list(&ListParams::default()).await.unwrap().items;
    list.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
    let seen: Vec<_> = list
        .iter()
        .map(|e| {
            (
                e.type_.as_deref().unwrap(),
                e.reason.as_deref().unwrap(),
                e.note.as_deref().unwrap().len(),
                e.series.as_ref().map(|s| s.count),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Warning", "CredentialsMissing", missing.len(), Some(3)),
            ("Warning", "CredentialsMissing", "another message".len(), None),
            ("Normal", "OrderSubmitted", 1024, None),
        ]
    );
    let first = &list[0];
    assert_eq!(first.regarding.as_ref().unwrap().uid, obj.metadata.uid);
    assert_eq!(first.reporting_controller.as_deref(), Some("natgw-operator"));
    assert_eq!(first.reporting_instance.as_deref(), Some("pod-a"));

    // An Event deleted meanwhile (they expire after an hour) is created afresh on the next repeat.
    let name = list[1].metadata.name.clone().unwrap();
    events.delete(&name, &Default::default()).await.unwrap();
    recorder.publish(&regarding, EventType::Warning, "CredentialsMissing", "another message").await.unwrap();
    let again = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(again.len(), 3, "{again:?}");

    let described = cluster.kubectl(&["describe", "natgw", "egress"]);
    assert!(described.contains(missing) && described.contains("(x3 over"), "{described}");
}
