//! The NatGateway cache, filled from the moment the process starts (a standby's too), and the
//! changes that start reconciles, which reach the controller only once it runs. A standby that
//! takes over thus reconciles at once instead of listing every object first: at 10,000 objects
//! that list is seconds of a failover.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, TryStreamExt, channel::mpsc};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        utils::Backoff,
        watcher,
    },
};

use super::ownership;
use crate::{
    api::{ABANDON_CLAIM_ANNOTATION, NatGateway, PAUSED_ANNOTATION, TAKEOVER_ANNOTATION},
    cloud::Connector,
    health::Readiness,
};

/// Errors at start-up that a person has to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "the NatGateway CRD is not installed in this cluster ({0}); install it with `natgw-operator crd | kubectl apply -f -` or `kubectl apply -f crds/natgateway.yaml`"
    )]
    CrdMissing(kube::Error),
    #[error(
        "the operator may not list NatGateways ({0}); apply the RBAC in deploy/ (ClusterRole, or a Role with --namespace for a namespaced install)"
    )]
    Forbidden(kube::Error),
    #[error("cannot reach the Kubernetes API: {0}")]
    Api(kube::Error),
}

/// A running watch of the NatGateways the operator serves. Dropping it stops the watch.
pub struct Watch {
    pub(super) store: Store<NatGateway>,
    gate: Arc<Gate>,
    /// Resources to reconcile, handed out by [`Watch::open`].
    triggers: mpsc::UnboundedReceiver<ObjectRef<NatGateway>>,
    task: Running,
}

/// The task that keeps the cache; stopped when dropped.
pub(super) struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether the controller runs, whether the cache is complete, and where triggers go.
struct Gate {
    open: AtomicBool,
    synced: AtomicBool,
    store: Store<NatGateway>,
    triggers: mpsc::UnboundedSender<ObjectRef<NatGateway>>,
    readiness: Readiness,
    /// Changes seen while a list runs, sent when it is done: until then the cache (kube's
    /// reflector) holds the previous list, and a reconcile of an object it lacks is dropped, so a
    /// resource created during a watch outage would never be looked at.
    listing: parking_lot::Mutex<Option<Vec<ObjectRef<NatGateway>>>>,
}

/// The annotations the controller reads; the watch cache drops every other.
const READ_ANNOTATIONS: [&str; 3] = [PAUSED_ANNOTATION, TAKEOVER_ANNOTATION, ABANDON_CLAIM_ANNOTATION];

/// What the controller's queue keeps of a resource (two copies each): its name and namespace.
/// The rest of a full reference (uid, resourceVersion) is never read there, since a reconcile
/// takes the object from the cache (1 MiB at 10,000 resources).
pub(super) fn trigger(obj: &NatGateway) -> ObjectRef<NatGateway> {
    let name = ObjectRef::new(&obj.name_any());
    match obj.namespace() {
        Some(ns) => name.within(&ns),
        None => name,
    }
}

/// Whether `new` starts a reconcile after `cached`: only first sight, a spec change, deletion,
/// a pause or its end, and a claim's takeover or abandonment annotation do. Our own status writes must not, or every drift check would schedule
/// another; orders are followed by explicit requeues. A resource recreated under the same name
/// (a new uid) is first sight.
fn starts_reconcile(cached: &NatGateway, new: &NatGateway) -> bool {
    let (old, now) = (cached.meta(), new.meta());
    now.generation.is_none()
        || old.uid != now.uid
        || old.generation != now.generation
        || old.deletion_timestamp.is_some() != now.deletion_timestamp.is_some()
        || cached.paused() != new.paused()
        || cached.takeover() != new.takeover()
        || cached.abandons_claim() != new.abandons_claim()
}

impl Gate {
    fn send(&self, obj: ObjectRef<NatGateway>) {
        if self.open.load(Ordering::SeqCst) {
            let _ = self.triggers.unbounded_send(obj);
        }
    }

    /// The resources that name `obj`'s gateway are looked at again.
    fn send_siblings(&self, obj: &NatGateway, clouds: &dyn Connector) {
        let state = self.store.state();
        for sibling in ownership::siblings(obj, state.iter().map(|g| g.as_ref()), clouds) {
            self.send(trigger(sibling));
        }
    }

    /// A change that starts a reconcile: held while a list runs ([`Gate::listing`]).
    fn changed(&self, obj: ObjectRef<NatGateway>) {
        match self.listing.lock().as_mut() {
            Some(held) => held.push(obj),
            None => self.send(obj),
        }
    }

    /// A list starts (the first, or a re-list after the watch lost its place).
    fn init(&self) {
        *self.listing.lock() = Some(Vec::new());
    }

    /// Every cached resource is looked at: what the controller does when it starts.
    fn send_all(&self) {
        for obj in self.store.state() {
            self.send(trigger(&obj));
        }
    }

    /// A list is in the cache. After the first, the controller may start (or, running, look
    /// at all). A re-list after a watch outage repeats every resource unchanged: the predicate
    /// lets through only what changed, and nothing more is sent here.
    fn init_done(&self) {
        for obj in self.listing.lock().take().unwrap_or_default() {
            self.send(obj);
        }
        let first = !self.synced.swap(true, Ordering::SeqCst);
        if first && self.open.load(Ordering::SeqCst) {
            self.send_all();
            self.readiness.synced();
        }
    }

    /// The controller starts: every cached resource is looked at once, and changes from now on.
    /// (Of this and [`Gate::init_done`] running at once, at least one sees the other's flag.)
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        if self.synced.load(Ordering::SeqCst) {
            self.send_all();
            self.readiness.synced();
        }
    }
}

/// When a watch reconnects after an error: at once would be a hot loop while the API server is
/// down, and kube's default (up to 30 s) leaves the cache stale for that long after it is back, so
/// that status writes made on it conflict and passes repeat. Doubling from 0.5 s to 5 s, and from
/// 0.5 s again once the watch works.
#[derive(Debug)]
pub(super) struct Reconnect(Duration);

impl Reconnect {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect(Self::FIRST)
    }
}

impl Iterator for Reconnect {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.0;
        self.0 = (wait * 2).min(Self::MAX);
        Some(wait)
    }
}

impl Backoff for Reconnect {
    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

/// Starts watching the NatGateways of `namespace` (all when `None`), after checking that the
/// CRD is installed and readable.
pub async fn start(
    client: Client,
    namespace: Option<&str>,
    clouds: Arc<dyn Connector>,
    readiness: Readiness,
) -> Result<Watch, StartError> {
    let natgws: Api<NatGateway> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    natgws.list(&kube::api::ListParams::default().limit(1)).await.map_err(|e| match &e {
        kube::Error::Api(s) if s.code == 404 => StartError::CrdMissing(e),
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => StartError::Forbidden(e),
        _ => StartError::Api(e),
    })?;
    let (store, mut writer) = reflector::store();
    let (tx, triggers) = mpsc::unbounded();
    let gate = Arc::new(Gate {
        open: AtomicBool::new(false),
        synced: AtomicBool::new(false),
        store: store.clone(),
        triggers: tx,
        readiness,
        listing: Default::default(),
    });
    let cache = store.clone();
    // managedFields (one entry per field manager, status writes included) and annotations
    // (kubectl's last-applied-configuration copies the whole object) are never read, but for
    // the pause and the claim's takeover and abandonment: dropping them keeps the cache of every
    // NatGateway small.
    let events = watcher::watcher(natgws, watcher::Config::default().any_semantic())
        .modify(|g| {
            g.managed_fields_mut().clear();
            g.annotations_mut().retain(|k, _| READ_ANNOTATIONS.contains(&k.as_str()));
        })
        .backoff(Reconnect::default())
        // The cache (what kube's `reflector` does), and whether the event starts a reconcile,
        // told from the cached copy it replaces: no second map of every resource (kube's
        // `predicate_filter` keeps one, ~200 bytes a resource).
        .map_ok(move |event| {
            let starts = match &event {
                watcher::Event::Apply(g) | watcher::Event::InitApply(g) => {
                    Some(trigger(g)).filter(|obj| cache.get(obj).is_none_or(|cached| starts_reconcile(&cached, g)))
                }
                _ => None,
            };
            writer.apply_watcher_event(&event);
            (event, starts)
        });
    let on_event = gate.clone();
    let task = tokio::spawn(events.for_each(move |event| {
        match event {
            Ok((event, starts)) => {
                match &event {
                    watcher::Event::Init => on_event.init(),
                    watcher::Event::InitDone => on_event.init_done(),
                    // When a resource goes away, or its credentials fail (it then holds no
                    // claim), the others that name its gateway are looked at again at once: the
                    // next oldest takes over its claim.
                    watcher::Event::Delete(gone) => on_event.send_siblings(gone, clouds.as_ref()),
                    watcher::Event::Apply(changed) if ownership::lost_access(changed) => {
                        on_event.send_siblings(changed, clouds.as_ref())
                    }
                    _ => {}
                }
                if let Some(obj) = starts {
                    on_event.changed(obj);
                }
            }
            // The watcher retries with its backoff; nothing to do but say so.
            Err(e) => tracing::debug!(error = %e, "NatGateway watch error"),
        }
        std::future::ready(())
    }));
    Ok(Watch { store, gate, triggers, task: Running(task) })
}

impl Watch {
    /// The resources to reconcile: every cached one now (or when the first list completes),
    /// then each change; the watch runs as long as the [`Running`] handed back is kept.
    pub(super) fn open(self) -> (mpsc::UnboundedReceiver<ObjectRef<NatGateway>>, Running) {
        self.gate.open();
        (self.triggers, self.task)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

    use super::*;
    use crate::testing::{natgw, tencent_spec};

    /// A gate over a cache that a list of `names` will fill, and what it sent.
    fn gate() -> (Gate, reflector::store::Writer<NatGateway>, mpsc::UnboundedReceiver<ObjectRef<NatGateway>>) {
        let (store, writer) = reflector::store();
        let (triggers, rx) = mpsc::unbounded();
        let gate = Gate {
            open: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            store,
            triggers,
            readiness: Readiness::default(),
            listing: Default::default(),
        };
        (gate, writer, rx)
    }

    fn list(writer: &mut reflector::store::Writer<NatGateway>, names: &[&str]) {
        writer.apply_watcher_event(&watcher::Event::Init);
        for name in names {
            writer.apply_watcher_event(&watcher::Event::InitApply(natgw(
                "ns",
                name,
                tencent_spec("nat-1", "ap-guangzhou", "creds"),
            )));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
    }

    fn sent(rx: &mut mpsc::UnboundedReceiver<ObjectRef<NatGateway>>) -> Vec<String> {
        let mut names = Vec::new();
        while let Ok(obj) = rx.try_recv() {
            names.push(obj.name);
        }
        names.sort();
        names
    }

    #[test]
    fn reconnects_double_up_to_five_seconds_and_start_over_after_a_reset() {
        let mut r = Reconnect::default();
        let waits: Vec<u64> = r.by_ref().take(6).map(|d| d.as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 5000, 5000]);
        r.reset();
        assert_eq!(r.next(), Some(Duration::from_millis(500)));
    }

    #[test]
    fn a_standby_sends_nothing_and_every_cached_resource_once_it_leads() {
        let (gate, mut writer, mut rx) = gate();
        list(&mut writer, &["a", "b"]);
        gate.init_done();
        gate.send(ObjectRef::new("c").within("ns"));
        assert!(sent(&mut rx).is_empty(), "a standby reconciles nothing");
        assert!(!gate.readiness.state().0, "not synced before it leads");
        gate.open();
        assert_eq!(sent(&mut rx), ["a", "b"]);
        assert!(gate.readiness.state().0);
        gate.send(ObjectRef::new("c").within("ns"));
        assert_eq!(sent(&mut rx), ["c"], "changes flow once it leads");
    }

    #[test]
    fn a_leader_that_opens_before_the_first_list_looks_at_all_when_it_completes() {
        let (gate, mut writer, mut rx) = gate();
        gate.open();
        assert!(sent(&mut rx).is_empty());
        list(&mut writer, &["a", "b"]);
        gate.init_done();
        assert_eq!(sent(&mut rx), ["a", "b"]);
        // A re-list after a watch outage: only what changed is sent (by the predicate), not all.
        list(&mut writer, &["a", "b"]);
        gate.init_done();
        assert!(sent(&mut rx).is_empty());
    }

    #[test]
    fn only_first_sight_a_spec_change_deletion_a_pause_or_a_claim_annotation_starts_a_reconcile() {
        let mut cached = natgw("ns", "a", tencent_spec("nat-1", "ap-guangzhou", "creds"));
        cached.metadata.generation = Some(1);
        cached.metadata.uid = Some("u1".into());
        let changed = |edit: fn(&mut NatGateway)| {
            let mut new = cached.clone();
            edit(&mut new);
            starts_reconcile(&cached, &new)
        };
        assert!(!changed(|g| g.status = Some(Default::default())), "our own status write");
        assert!(!changed(|g| g.metadata.resource_version = Some("2".into())));
        assert!(changed(|g| g.metadata.generation = Some(2)), "a spec change");
        assert!(changed(|g| g.metadata.uid = Some("u2".into())), "recreated under the same name");
        assert!(changed(|g| g.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH))));
        assert!(changed(|g| {
            g.metadata.annotations = Some([(PAUSED_ANNOTATION.to_owned(), "true".to_owned())].into());
        }));
        assert!(changed(|g| {
            g.metadata.annotations = Some([(TAKEOVER_ANNOTATION.to_owned(), "blue".to_owned())].into());
        }));
        assert!(changed(|g| {
            g.metadata.annotations = Some([(ABANDON_CLAIM_ANNOTATION.to_owned(), "true".to_owned())].into());
        }));
        assert!(!changed(|g| g.metadata.annotations = Some([("team".to_owned(), "a".to_owned())].into())));
        assert!(changed(|g| g.metadata.generation = None), "no generation: cannot tell");
    }

    /// A resource created during a watch outage arrives in the re-list, before the cache holds
    /// it: its reconcile is sent once the list is complete, when the cache can serve it.
    #[test]
    fn a_change_seen_while_a_list_runs_is_sent_when_the_cache_holds_it() {
        let (gate, mut writer, mut rx) = gate();
        gate.open();
        list(&mut writer, &["a"]);
        gate.init_done();
        assert_eq!(sent(&mut rx), ["a"]);
        gate.init();
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(natgw(
            "ns",
            "a",
            tencent_spec("nat-1", "ap-guangzhou", "creds"),
        )));
        writer.apply_watcher_event(&watcher::Event::InitApply(natgw(
            "ns",
            "new",
            tencent_spec("nat-1", "ap-guangzhou", "creds"),
        )));
        gate.changed(ObjectRef::new("new").within("ns"));
        assert!(sent(&mut rx).is_empty(), "held while the cache lacks it");
        writer.apply_watcher_event(&watcher::Event::InitDone);
        gate.init_done();
        assert_eq!(sent(&mut rx), ["new"]);
        assert!(gate.store.get(&ObjectRef::new("new").within("ns")).is_some());
        gate.changed(ObjectRef::new("a").within("ns"));
        assert_eq!(sent(&mut rx), ["a"], "a watch event is sent at once");
    }
}
