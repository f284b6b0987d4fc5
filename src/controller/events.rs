//! Kubernetes Events (`events.k8s.io/v1`) for `kubectl describe`, repeats folded into a series.
//!
//! Hand-written rather than kube-runtime's `Recorder`, which keeps a copy of every Event for six
//! minutes (the largest allocation after a bulk create, BENCHMARKS.md); here one costs a hash.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    time::{Duration, Instant},
};

use parking_lot::Mutex;

use k8s_openapi::{
    api::{core::v1::ObjectReference, events::v1::Event},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::json;

/// How long a repeat joins the earlier Event's series rather than making a new Event
/// (client-go and kube-runtime use the same window).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

pub use crate::plan::EventType;

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// An Event published earlier, so that a repeat only bumps its series.
struct Recent {
    name: String,
    count: i32,
    last: Instant,
}

/// Publishes Events about objects on behalf of one controller instance.
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<Recents>,
}

#[derive(Default)]
struct Recents {
    by_key: HashMap<u64, Recent>,
    pruned: Option<Instant>,
}

impl Recorder {
    /// `instance` defaults to the controller name (kube-runtime does the same).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Recorder {
        Recorder {
            client,
            controller: controller.to_owned(),
            instance: instance.unwrap_or_else(|| controller.to_owned()),
            recent: Mutex::default(),
        }
    }

    /// Records `note` about `regarding`. The same type, reason and note about the same object
    /// within [`SERIES_WINDOW`] patches the earlier Event's series instead of creating another:
    /// a condition that persists does not flood the namespace with Events.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let key = fingerprint(regarding, type_, reason, note);
        let repeat = self.repeat_of(key);
        if let Some((name, count)) = &repeat {
            let series = json!({ "series": { "count": count, "lastObservedTime": MicroTime(Timestamp::now()) } });
            match api.patch(name, &PatchParams::default(), &Patch::Merge(&series)).await {
                Ok(_) => return Ok(()),
                // Deleted since (Events expire after an hour by default): start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = self.event(regarding, type_, reason, note);
        let name = event.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams::default(), &event).await?;
        self.remember(key, name);
        Ok(())
    }

    /// The name of the earlier Event and the count its series moves to, when this is a repeat.
    fn repeat_of(&self, key: u64) -> Option<(String, i32)> {
        let mut recent = self.recent.lock();
        let now = Instant::now();
        // Pruning walks every entry: do it at most once per window's tenth, not per Event.
        if recent.pruned.is_none_or(|at| now - at > SERIES_WINDOW / 10) {
            recent.by_key.retain(|_, r| now - r.last < SERIES_WINDOW);
            recent.by_key.shrink_to_fit();
            recent.pruned = Some(now);
        }
        let hit = recent.by_key.get_mut(&key).filter(|r| now - r.last < SERIES_WINDOW)?;
        hit.count += 1;
        hit.last = now;
        Some((hit.name.clone(), hit.count))
    }

    fn remember(&self, key: u64, name: String) {
        let mut recent = self.recent.lock();
        recent.by_key.insert(key, Recent { name, count: 1, last: Instant::now() });
    }

    fn event(&self, regarding: &ObjectReference, type_: EventType, reason: &str, note: &str) -> Event {
        let now = Timestamp::now();
        let object = regarding.name.as_deref().unwrap_or(&self.controller);
        Event {
            metadata: ObjectMeta {
                // The apiserver has no generateName for Events; kube-runtime and client-go
                // name them object.<time in hex>.
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..Default::default()
            },
            action: Some("Reconcile".into()),
            reason: Some(reason.to_owned()),
            note: Some(within_limit(note).to_owned()),
            type_: Some(type_.as_str().into()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        }
    }
}

/// The API server refuses notes over 1 KiB; cut at a character boundary below that.
fn within_limit(note: &str) -> &str {
    let mut end = note.len().min(1024);
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    &note[..end]
}

/// What makes two Events the same: the object (by uid, so a re-created object starts afresh),
/// type, reason and note.
fn fingerprint(regarding: &ObjectReference, type_: EventType, reason: &str, note: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (&regarding.namespace, &regarding.name, &regarding.uid, type_, reason, note).hash(&mut h);
    h.finish()
}
