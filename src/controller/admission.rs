//! Hands the watch's triggers to kube's controller in the order they came, a few more at a time
//! than it runs at once.
//!
//! kube's scheduler moves every message that is due while all reconcile slots are busy into a
//! hash set, and takes the next from that set in hash order. With a backlog (a bulk create that
//! outruns the slots, a takeover that looks at every resource) some resources then wait until
//! nearly all others are done: measured at 10,000 resources, the first ones created waited 60 s
//! and more for their first look while later ones took 100 ms. Holding the backlog here, first
//! in first out, keeps that set small.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use kube::runtime::reflector::ObjectRef;
use parking_lot::Mutex;
use tokio::{sync::Notify, time::Instant};

use crate::api::NatGateway;

/// How long a trigger handed over may take to start its pass before it no longer holds a place:
/// kube drops a trigger whose resource is gone from the cache by then, without a pass.
const LOST_AFTER: Duration = Duration::from_secs(30);

/// Triggers handed to kube and not yet started, by resource.
pub struct Admission {
    handed: Mutex<HashMap<ObjectRef<NatGateway>, Instant>>,
    /// Most triggers handed over and not yet started.
    limit: usize,
    started: Notify,
}

impl Admission {
    /// `limit`: a little more than the controller's concurrency, so that a slot that frees never
    /// waits for the next trigger.
    pub fn new(limit: usize) -> Arc<Admission> {
        Arc::new(Admission { handed: Mutex::default(), limit: limit.max(1), started: Notify::new() })
    }

    /// Whether a trigger of `obj` was handed over and its pass has not started: the pass about to
    /// start is for a change the watch saw, not a requeue.
    pub fn waiting(&self, obj: &ObjectRef<NatGateway>) -> bool {
        self.handed.lock().contains_key(obj)
    }

    /// A pass of `obj` starts: its trigger (if it came through here) no longer holds a place.
    pub fn started(&self, obj: &ObjectRef<NatGateway>) {
        if self.handed.lock().remove(obj).is_some() {
            self.started.notify_one();
        }
    }

    /// `triggers`, in their order, as fast as passes start. A trigger for a resource whose
    /// earlier trigger has not started yet is dropped: that pass reads the resource as it is then.
    pub fn gate(
        self: Arc<Admission>,
        triggers: impl Stream<Item = ObjectRef<NatGateway>> + Send + 'static,
    ) -> impl Stream<Item = ObjectRef<NatGateway>> + Send + 'static {
        triggers
            .then(move |obj| {
                let admission = self.clone();
                async move { admission.admit(obj).await }
            })
            .filter_map(std::future::ready)
    }

    async fn admit(&self, obj: ObjectRef<NatGateway>) -> Option<ObjectRef<NatGateway>> {
        loop {
            let started = self.started.notified();
            {
                let mut handed = self.handed.lock();
                if handed.contains_key(&obj) {
                    return None;
                }
                let now = Instant::now();
                handed.retain(|_, at| now.duration_since(*at) < LOST_AFTER);
                if handed.len() < self.limit {
                    handed.insert(obj.clone(), now);
                    return Some(obj);
                }
            }
            // Woken by a pass that starts, or in time to let go of a trigger kube dropped.
            let _ = tokio::time::timeout(LOST_AFTER, started).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(i: usize) -> ObjectRef<NatGateway> {
        ObjectRef::new(&format!("gw-{i}")).within("ns")
    }

    /// Triggers come out in order, `limit` at a time, each as an earlier one starts; a repeat of
    /// one still waiting is dropped.
    #[tokio::test(start_paused = true)]
    async fn triggers_pass_in_order_as_passes_start() {
        let admission = Admission::new(2);
        let (tx, rx) = futures::channel::mpsc::unbounded();
        for i in [0, 1, 1, 2, 3] {
            tx.unbounded_send(obj(i)).unwrap();
        }
        drop(tx);
        let mut out = Box::pin(admission.clone().gate(rx));
        assert_eq!(out.next().await, Some(obj(0)));
        assert_eq!(out.next().await, Some(obj(1)));
        assert!(admission.waiting(&obj(1)) && !admission.waiting(&obj(2)));
        // Two handed over, none started: the third waits.
        let waiting = tokio::time::timeout(Duration::from_secs(1), out.next()).await;
        assert!(waiting.is_err(), "nothing more before a pass starts");
        admission.started(&obj(0));
        assert_eq!(out.next().await, Some(obj(2)), "the repeat of gw-1 was dropped");
        admission.started(&obj(1));
        admission.started(&obj(2));
        assert_eq!(out.next().await, Some(obj(3)));
        assert_eq!(out.next().await, None);
    }

    /// A trigger kube dropped (its resource gone before its pass) holds its place only for a while.
    #[tokio::test(start_paused = true)]
    async fn a_trigger_that_never_starts_lets_go_of_its_place() {
        let admission = Admission::new(1);
        let (tx, rx) = futures::channel::mpsc::unbounded();
        tx.unbounded_send(obj(0)).unwrap();
        tx.unbounded_send(obj(1)).unwrap();
        let mut out = Box::pin(admission.gate(rx));
        assert_eq!(out.next().await, Some(obj(0)));
        let start = Instant::now();
        assert_eq!(out.next().await, Some(obj(1)));
        assert_eq!(start.elapsed(), LOST_AFTER);
    }
}
