//! When each resource at rest is next checked for drift, kept compactly.
//!
//! kube's scheduler would hold these as requeues: two full `ObjectRef`s and a delay-queue slot a
//! resource, ~500 bytes (4.9 MiB at 10,000 resources, the largest thing after the cache). Drift
//! checks need neither a precise time nor a per-entry timer: one `namespace/name` string and a
//! due second each, swept once a second, cost a fifth of that. Short requeues (an order being
//! followed, a backoff) stay kube's.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::Stream;
use kube::runtime::reflector::{ObjectRef, Store};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::api::NatGateway;

/// How often due checks are looked for: the precision of a drift interval (10 s at least).
const TICK: Duration = Duration::from_secs(1);

/// The next drift check of each resource at rest, in whole seconds since the schedule began.
pub struct DriftSchedule {
    began: Instant,
    due: Mutex<HashMap<Box<str>, u32>>,
}

fn key(namespace: &str, name: &str) -> Box<str> {
    // Neither a namespace nor a name may contain '/'.
    format!("{namespace}/{name}").into_boxed_str()
}

impl DriftSchedule {
    pub fn new() -> Arc<DriftSchedule> {
        Arc::new(DriftSchedule { began: Instant::now(), due: Mutex::default() })
    }

    fn now_secs(&self) -> u64 {
        self.began.elapsed().as_secs()
    }

    /// Checks `namespace`/`name` again `after` from now (replacing its earlier time).
    pub fn schedule(&self, namespace: &str, name: &str, after: Duration) {
        let at = self.began.elapsed().saturating_add(after);
        // Rounded up: never earlier than asked.
        let secs = at.as_secs() + u64::from(at.subsec_nanos() > 0);
        self.due.lock().insert(key(namespace, name), u32::try_from(secs).unwrap_or(u32::MAX));
    }

    /// A pass of the resource starts: it schedules its own next check if it ends at rest.
    pub fn cancel(&self, obj: &ObjectRef<NatGateway>) {
        self.due.lock().remove(key(obj.namespace.as_deref().unwrap_or_default(), &obj.name).as_ref());
    }

    /// The resources due now, earliest first, taken off the schedule (their keys moved, not
    /// copied: a whole fleet may come due at once).
    fn take_due(&self) -> Vec<(u32, Box<str>)> {
        let now = self.now_secs();
        let mut due = self.due.lock();
        let mut fired: Vec<(u32, Box<str>)> =
            due.extract_if(|_, at| u64::from(*at) <= now).map(|(key, at)| (at, key)).collect();
        drop(due);
        fired.sort_unstable();
        fired
    }

    /// The checks as they come due, for the controller's triggers: pulled one at a time, so that
    /// a consumer that takes them as passes start keeps the rest here. Resources gone from
    /// `cache` (deleted since their last pass) are dropped: kube would drop their trigger without
    /// a pass, and the consumer would hold a place for it.
    pub fn fired(
        self: Arc<Self>,
        cache: Store<NatGateway>,
    ) -> impl Stream<Item = ObjectRef<NatGateway>> + Send + 'static {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ready: std::vec::IntoIter<(u32, Box<str>)> = Vec::new().into_iter();
        futures::stream::unfold((self, cache, tick, ready), |(schedule, cache, mut tick, mut ready)| async move {
            loop {
                for (_, key) in ready.by_ref() {
                    if let Some((ns, name)) = key.split_once('/')
                        && let obj = ObjectRef::new(name).within(ns)
                        && cache.get(&obj).is_some()
                    {
                        return Some((obj, (schedule, cache, tick, ready)));
                    }
                }
                tick.tick().await;
                ready = schedule.take_due().into_iter();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::testing::{natgw, tencent_spec};

    fn obj(name: &str) -> ObjectRef<NatGateway> {
        ObjectRef::new(name).within("ns")
    }

    /// Checks fire once, in the order they come due, never early; a new time replaces the old
    /// one, and neither a cancelled check nor a deleted resource's fires.
    #[tokio::test(start_paused = true)]
    async fn checks_fire_once_in_due_order_and_a_pass_replaces_its_own() {
        let (cache, mut writer) = kube::runtime::reflector::store();
        for name in ["a", "b", "c", "d"] {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(natgw(
                "ns",
                name,
                tencent_spec("nat-1", "ap-guangzhou", "creds"),
            )));
        }
        let schedule = DriftSchedule::new();
        let start = Instant::now();
        schedule.schedule("ns", "a", Duration::from_secs(30));
        schedule.schedule("ns", "b", Duration::from_secs(10));
        schedule.schedule("ns", "c", Duration::from_secs(5));
        schedule.schedule("ns", "c", Duration::from_secs(20));
        schedule.schedule("ns", "d", Duration::from_secs(15));
        schedule.cancel(&obj("d"));
        schedule.schedule("ns", "deleted", Duration::from_secs(12));
        let mut fired = Box::pin(schedule.clone().fired(cache));
        for (name, at) in [("b", 10), ("c", 20), ("a", 30)] {
            assert_eq!(fired.next().await, Some(obj(name)));
            let waited = start.elapsed();
            assert!(waited >= Duration::from_secs(at) && waited <= Duration::from_secs(at + 1), "{name} at {waited:?}");
        }
        let nothing = tokio::time::timeout(Duration::from_secs(600), fired.next()).await;
        assert!(nothing.is_err(), "each check fires once; d was cancelled, `deleted` is not in the cache");
        assert!(schedule.due.lock().is_empty());
    }
}
