//! The tags on simulated resources (gateways, by id), shared by every cloud's simulator, with
//! the eventual consistency of the clouds' tag services: a tag write through the API becomes
//! visible to reads only [`TagStore::delay`] after it was accepted (0 by default: at once). The
//! limits a cloud checks (tags per resource) apply to what was written, visible or not.
//!
//! Each write of a key carries a sequence number; a write whose time comes after a later write
//! of the same key was already applied is dropped, so two writes in a row end with the second
//! once both are visible, whatever the delay was for each.
//!
//! A person editing tags in a console is [`TagStore::edit_now`]: visible at once and later than
//! every write before it. The control routes ([`control_routes`]):
//! - `GET /_sim/gateways/{id}/tags`: `{"visible": {key: value}, "written": {key: value}}`
//! - `PUT /_sim/gateways/{id}/tags` (`{key: value}`): sets those keys now, as a person would
//! - `DELETE /_sim/gateways/{id}/tags/{key}`: removes one key now
//!
//! each answering 404 for a gateway the simulator does not have.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get},
};
use serde::Serialize;

/// A key set to a value (`Some`) or removed (`None`).
pub type TagChange = (String, Option<String>);

#[derive(Debug, Default)]
pub struct TagStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    delay: Duration,
    seq: u64,
    resources: HashMap<String, Resource>,
}

#[derive(Debug, Default)]
struct Resource {
    /// Every accepted write applied: what limits are checked against.
    written: BTreeMap<String, String>,
    /// What reads see.
    visible: BTreeMap<String, String>,
    /// Key -> sequence number of the write `visible` holds for it.
    applied: HashMap<String, u64>,
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    at: Instant,
    seq: u64,
    key: String,
    value: Option<String>,
}

fn apply(map: &mut BTreeMap<String, String>, key: &str, value: &Option<String>) {
    match value {
        Some(v) => map.insert(key.to_owned(), v.clone()),
        None => map.remove(key),
    };
}

impl Resource {
    fn settle(&mut self, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        let (due, later): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.at <= now);
        self.pending = later;
        let mut due = due;
        due.sort_by_key(|p| p.seq);
        for p in due {
            if self.applied.get(&p.key).is_some_and(|s| *s > p.seq) {
                continue;
            }
            apply(&mut self.visible, &p.key, &p.value);
            self.applied.insert(p.key, p.seq);
        }
    }
}

impl TagStore {
    pub fn new(delay: Duration) -> TagStore {
        TagStore { inner: Mutex::new(Inner { delay, ..Inner::default() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn delay(&self) -> Duration {
        self.lock().delay
    }

    /// How long writes accepted from now on take to become visible.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// The tags reads see now.
    pub fn visible(&self, id: &str) -> BTreeMap<String, String> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.resources.get_mut(id) {
            Some(r) => {
                r.settle(now);
                r.visible.clone()
            }
            None => BTreeMap::new(),
        }
    }

    /// Every resource's visible tags (resources without tags left out), by id.
    pub fn all_visible(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner
            .resources
            .iter_mut()
            .filter_map(|(id, r)| {
                r.settle(now);
                (!r.visible.is_empty()).then(|| (id.clone(), r.visible.clone()))
            })
            .collect()
    }

    /// Every accepted write applied, visible or not: what a cloud checks its limits against.
    pub fn written(&self, id: &str) -> BTreeMap<String, String> {
        self.lock().resources.get(id).map(|r| r.written.clone()).unwrap_or_default()
    }

    /// A write through the API: applied to what was written now, visible after the delay.
    pub fn write(&self, id: &str, changes: Vec<TagChange>) {
        let now = Instant::now();
        let mut inner = self.lock();
        let at = now + inner.delay;
        for (key, value) in changes {
            inner.seq += 1;
            let seq = inner.seq;
            let r = inner.resources.entry(id.to_owned()).or_default();
            apply(&mut r.written, &key, &value);
            r.pending.push(Pending { at, seq, key, value });
        }
        if let Some(r) = inner.resources.get_mut(id) {
            r.settle(now);
        }
    }

    /// An edit that is visible at once and wins over every write before it (a person in the
    /// console, or seeding).
    pub fn edit_now(&self, id: &str, changes: Vec<TagChange>) {
        let mut inner = self.lock();
        for (key, value) in changes {
            inner.seq += 1;
            let seq = inner.seq;
            let r = inner.resources.entry(id.to_owned()).or_default();
            apply(&mut r.written, &key, &value);
            apply(&mut r.visible, &key, &value);
            r.applied.insert(key, seq);
        }
    }

    /// Replaces a resource's tags at once (seeding).
    pub fn replace(&self, id: &str, tags: BTreeMap<String, String>) {
        let old: Vec<TagChange> = self.written(id).into_keys().map(|k| (k, None)).collect();
        self.edit_now(id, old);
        self.edit_now(id, tags.into_iter().map(|(k, v)| (k, Some(v))).collect());
    }

    /// Whether the store has ever held tags for `id`.
    pub fn knows(&self, id: &str) -> bool {
        self.lock().resources.contains_key(id)
    }
}

/// Whether the simulator has a gateway with that id.
pub type Exists = Arc<dyn Fn(&str) -> bool + Send + Sync>;

#[derive(Clone)]
struct RouteState {
    tags: Arc<TagStore>,
    exists: Exists,
}

#[derive(Serialize)]
struct Tags {
    visible: BTreeMap<String, String>,
    written: BTreeMap<String, String>,
}

/// The `/_sim/gateways/{id}/tags` routes (see the module doc).
pub fn control_routes(tags: Arc<TagStore>, exists: Exists) -> Router {
    Router::new()
        .route("/_sim/gateways/{id}/tags", get(read).put(edit))
        .route("/_sim/gateways/{id}/tags/{key}", delete(remove))
        .with_state(RouteState { tags, exists })
}

async fn read(State(s): State<RouteState>, Path(id): Path<String>) -> Result<Json<Tags>, StatusCode> {
    if !(s.exists)(&id) {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(Json(Tags { visible: s.tags.visible(&id), written: s.tags.written(&id) }))
}

async fn edit(
    State(s): State<RouteState>,
    Path(id): Path<String>,
    Json(tags): Json<BTreeMap<String, String>>,
) -> StatusCode {
    if !(s.exists)(&id) {
        return StatusCode::NOT_FOUND;
    }
    s.tags.edit_now(&id, tags.into_iter().map(|(k, v)| (k, Some(v))).collect());
    StatusCode::NO_CONTENT
}

async fn remove(State(s): State<RouteState>, Path((id, key)): Path<(String, String)>) -> StatusCode {
    if !(s.exists)(&id) {
        return StatusCode::NOT_FOUND;
    }
    s.tags.edit_now(&id, vec![(key, None)]);
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &str, v: &str) -> TagChange {
        (k.to_owned(), Some(v.to_owned()))
    }

    #[test]
    fn writes_become_visible_after_the_delay() {
        let store = TagStore::new(Duration::from_millis(40));
        store.write("nat-1", vec![set("owner", "a")]);
        assert!(store.visible("nat-1").is_empty());
        assert_eq!(store.written("nat-1").get("owner").map(String::as_str), Some("a"));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(store.visible("nat-1").get("owner").map(String::as_str), Some("a"));
        store.write("nat-1", vec![("owner".to_owned(), None)]);
        assert_eq!(store.visible("nat-1").len(), 1);
        std::thread::sleep(Duration::from_millis(50));
        assert!(store.visible("nat-1").is_empty());
        assert!(store.all_visible().is_empty());
    }

    #[test]
    fn the_last_writer_wins_once_both_writes_are_visible() {
        let store = TagStore::new(Duration::from_millis(60));
        store.write("nat-1", vec![set("owner", "first")]);
        // The second write is visible before the first one's time comes.
        store.set_delay(Duration::ZERO);
        store.write("nat-1", vec![set("owner", "second")]);
        assert_eq!(store.visible("nat-1")["owner"], "second");
        std::thread::sleep(Duration::from_millis(70));
        assert_eq!(store.visible("nat-1")["owner"], "second");
    }

    #[test]
    fn a_console_edit_is_visible_at_once_and_wins_over_earlier_writes() {
        let store = TagStore::new(Duration::from_millis(40));
        store.write("nat-1", vec![set("owner", "api"), set("team", "x")]);
        store.edit_now("nat-1", vec![set("owner", "person")]);
        assert_eq!(store.visible("nat-1")["owner"], "person");
        std::thread::sleep(Duration::from_millis(50));
        let visible = store.visible("nat-1");
        assert_eq!((visible["owner"].as_str(), visible["team"].as_str()), ("person", "x"));
        store.replace("nat-1", BTreeMap::from([("k".to_owned(), "v".to_owned())]));
        assert_eq!(store.visible("nat-1"), BTreeMap::from([("k".to_owned(), "v".to_owned())]));
    }
}
