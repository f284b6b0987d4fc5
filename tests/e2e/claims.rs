//! Who may claim a cloud gateway, across tenants: the real operator binary on its own API server
//! (it watches every namespace) and the Tencent simulator. A resource whose keys the cloud
//! refuses holds no claim; a duplicate shows as one at once, in sync or not; and no condition or
//! Event tells one namespace the names of another's objects.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use natgw_operator::api::{NatGateway, Size};
use natgw_sim::tencent::SimGateway;
use natgw_testkit::{Cluster, Operator, natgw, ready, secret, stalled, tencent_keys, tencent_sim, tencent_spec};
use serde_json::Value;

const KEY_ID: &str = "AKIDclaimstest";
const KEY: &str = "claims-test-secret-key";
const WAIT: Duration = Duration::from_secs(60);
const SQUAT: &str = "claims-squat";
const VICTIM: &str = "claims-victim";
const OTHER: &str = "claims-other";

fn ready_message(o: &NatGateway) -> String {
    natgw_testkit::condition_message(o, "Ready")
}

/// The notes of the operator's Events about objects in `namespace`.
fn event_notes(cluster: &Cluster, namespace: &str) -> Vec<String> {
    let out = cluster.env.kubectl(&["get", "events.events.k8s.io", "-n", namespace, "-o", "json"]).unwrap();
    let events: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = events["items"].as_array().cloned().unwrap_or_default();
    items.iter().filter_map(|e| e["note"].as_str().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_needs_working_keys_and_names_no_other_namespace() {
    let cluster = Cluster::start_own("claims").await; // own: the operator watches every namespace
    let sim = tencent_sim(KEY_ID, KEY, Duration::from_millis(500), "nat-r1d").await;
    sim.seed_gateway(SimGateway::new("nat-r2d", "vpc-1", 1_000_000));
    let api = |ns: &str| -> Api<NatGateway> { Api::namespaced(cluster.client.clone(), ns) };
    for (ns, key) in [(SQUAT, "not-the-key"), (VICTIM, KEY), (OTHER, KEY)] {
        let namespace: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
        Api::<Namespace>::all(cluster.client.clone()).create(&PostParams::default(), &namespace).await.unwrap();
        // The squatter's Secret names a key the cloud does not know (AuthFailure.SecretIdNotFound).
        let id = if ns == SQUAT { "AKIDsquatter" } else { KEY_ID };
        Api::namespaced(cluster.client.clone(), ns)
            .create(&PostParams::default(), &secret("tencent-creds", tencent_keys(id, key)))
            .await
            .unwrap();
    }
    let spec =
        |gateway: &str, size: &str| tencent_spec(gateway, Some("V3"), size, "tencent-creds", Some(&sim.http_url));
    let log = cluster.path("operator.log");
    let args = [
        "--poll-interval",
        "300ms",
        "--drift-interval",
        "10m",
        "--leader-election=false",
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    let _operator =
        Operator::start(&cluster.env.kubeconfig, &args, &[("NATGW_ALLOWED_ENDPOINTS", &sim.http_url)], &log);
    let _log = natgw_testkit::LogOnPanic(&log);
    let create = |ns: &'static str, name: &'static str, spec: Value| {
        let api = api(ns);
        async move { api.create(&PostParams::default(), &natgw(name, spec)).await.unwrap() }
    };

    // 1. The squatter came first, with keys the cloud refuses: the victim orders regardless.
    create(SQUAT, "squat", spec("nat-r1d", "Medium")).await;
    cluster.wait_for_in(SQUAT, "squat", WAIT, stalled("CredentialsInvalid")).await;
    let start = Instant::now();
    create(VICTIM, "victim-gw", spec("nat-r1d", "Large")).await;
    let victim = cluster.wait_for_in(VICTIM, "victim-gw", WAIT, ready).await;
    println!("victim Ready (Large) {:?} after it was created beside the squatter", start.elapsed());
    assert_eq!(victim.status.unwrap().observed.unwrap().size, Some(Size::Large));

    // 2. Both created together, the squatter a second older and not yet tried: once its keys
    // fail, the victim is looked at again and orders.
    create(SQUAT, "squat-2", spec("nat-r2d", "Medium")).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // creation times have whole seconds
    let start = Instant::now();
    create(VICTIM, "victim-2", spec("nat-r2d", "Large")).await;
    cluster.wait_for_in(VICTIM, "victim-2", WAIT, ready).await;
    println!("victim-2 Ready {:?} after it was created", start.elapsed());

    // 3. Duplicates, one asking for the owner's size (in sync): non-owners at once, and another
    // namespace's owner is not named.
    create(OTHER, "dup", spec("nat-r1d", "Large")).await;
    let dup = cluster.wait_for_in(OTHER, "dup", WAIT, stalled("GatewayClaimed")).await;
    let message = ready_message(&dup);
    assert!(message.contains("another namespace"), "{message}");
    create(VICTIM, "dup-same", spec("nat-r1d", "Large")).await;
    let same = cluster.wait_for_in(VICTIM, "dup-same", WAIT, stalled("GatewayClaimed")).await;
    assert!(ready_message(&same).contains("NatGateway victim-gw"), "{}", ready_message(&same));
    let shown = cluster.env.kubectl(&["get", "natgw", "-A"]).unwrap();
    println!("{}", String::from_utf8_lossy(&shown.stdout));

    // No name of the victim's namespace reaches the other tenants.
    for ns in [OTHER, SQUAT] {
        let mut texts = event_notes(&cluster, ns);
        for name in ["squat", "squat-2", "dup"] {
            if let Ok(o) = api(ns).get(name).await {
                texts.extend(o.status.into_iter().flat_map(|s| s.conditions).map(|c| c.message));
            }
        }
        let leaked: Vec<&String> = texts.iter().filter(|t| t.contains(VICTIM) || t.contains("victim-")).collect();
        assert!(leaked.is_empty(), "{ns} reads the victim's names: {leaked:#?}");
    }
    let orders = sim.orders();
    assert_eq!(orders.len(), 2, "one order per victim, none for squatters or duplicates: {orders:?}");
}
