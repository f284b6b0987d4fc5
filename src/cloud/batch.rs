//! Coalesces reads from concurrent callers into the fewest cloud calls.
//!
//! The first caller of a window opens a batch; [`Batcher::window`] later, whichever of its callers
//! wakes first takes every key asked for meanwhile and makes the call(s) for all of them, and
//! each caller gets its own key's answer (so a cancelled caller never strands the others). A
//! batch that reaches `max` keys is sent at once by the caller that filled it. No task outlives
//! a batch: the senders are ordinary callers, so nothing runs between reconciles.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    hash::Hash,
    time::Duration,
};

use parking_lot::Mutex;

use tokio::sync::{Notify, oneshot};

use super::{CloudError, ErrorKind};

/// How old a swept answer a drift check every `drift_interval` may be served: young enough that
/// the check still reads the cloud once per interval (one sweep refreshes many at once).
pub fn sweep_age(drift_interval: Duration) -> Duration {
    drift_interval.mul_f64(0.75)
}

/// Sweeps reading at once, process-wide. A sweep's answer is the biggest thing the operator
/// holds for a moment (a 1,000-gateway Huawei page is ~1.5 MB of JSON before it is parsed), and
/// when a new leader starts every account sweeps at once: two at a time bound that burst (peak
/// RSS, BENCHMARKS.md) for a few hundred milliseconds more of the first look.
static SWEEP_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// For a read whose answer is `big` (pages of an account's gateways), waits for a turn
/// ([`SWEEP_SLOTS`]), held until the answer is stored; a small one (one call's worth) goes at once.
pub async fn sweep_slot(big: bool) -> Option<tokio::sync::SemaphorePermit<'static>> {
    // Never closed, so acquiring cannot fail.
    match big {
        true => Some(SWEEP_SLOTS.acquire().await.expect("the sweep semaphore is never closed")),
        false => None,
    }
}

/// Default window: long enough to gather the reconciles a watch event or a requeue wave starts
/// together, short next to a cloud call.
pub const WINDOW: Duration = Duration::from_millis(20);

type Reply<V> = oneshot::Sender<Result<Option<V>, CloudError>>;

struct Pending<K, V> {
    id: u64,
    deadline: tokio::time::Instant,
    waiting: Vec<(K, Reply<V>)>,
}

pub struct Batcher<K, V> {
    window: Duration,
    max: usize,
    pending: Mutex<Option<Pending<K, V>>>,
    next_id: Mutex<u64>,
}

impl<K, V> std::fmt::Debug for Batcher<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("window", &self.window).field("max", &self.max).finish_non_exhaustive()
    }
}

enum Role<K, V> {
    /// Send this batch now.
    Send(Vec<(K, Reply<V>)>),
    /// Wait until the batch's deadline, then send batch `id` if nobody else has.
    Wait(u64, tokio::time::Instant),
}

impl<K, V> Batcher<K, V>
where
    K: Clone + Eq + Hash,
    V: Clone,
{
    /// `max`: most distinct keys one flush is given (the API's per-call maximum, or a bound on
    /// how much one flush may page through).
    pub fn new(window: Duration, max: usize) -> Self {
        Batcher { window, max: max.max(1), pending: Mutex::new(None), next_id: Mutex::new(0) }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// The value for `key` (`None`: the cloud does not know it), read together with the keys
    /// of concurrent callers by `flush`, which answers for a set of distinct keys.
    pub async fn get<F, Fut>(&self, key: K, flush: F) -> Result<Option<V>, CloudError>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>, CloudError>>,
    {
        let (tx, rx) = oneshot::channel();
        let role = {
            let mut pending = self.pending.lock();
            let batch = pending.get_or_insert_with(|| {
                let mut next = self.next_id.lock();
                *next += 1;
                Pending { id: *next, deadline: tokio::time::Instant::now() + self.window, waiting: Vec::new() }
            });
            batch.waiting.push((key, tx));
            let distinct = batch.waiting.iter().map(|(k, _)| k).collect::<HashSet<_>>().len();
            if distinct >= self.max {
                Role::Send(pending.take().map(|b| b.waiting).unwrap_or_default())
            } else {
                Role::Wait(batch.id, batch.deadline)
            }
        };
        let to_send = match role {
            Role::Send(waiting) => Some(waiting),
            Role::Wait(id, deadline) => {
                tokio::time::sleep_until(deadline).await;
                let mut pending = self.pending.lock();
                if pending.as_ref().is_some_and(|b| b.id == id) { pending.take().map(|b| b.waiting) } else { None }
            }
        };
        if let Some(waiting) = to_send {
            let mut keys: Vec<K> = Vec::new();
            let mut seen = HashSet::new();
            for (k, _) in &waiting {
                if seen.insert(k.clone()) {
                    keys.push(k.clone());
                }
            }
            let result = flush(keys).await;
            for (k, reply) in waiting {
                let answer = match &result {
                    Ok(found) => Ok(found.get(&k).cloned()),
                    Err(e) => Err(e.clone()),
                };
                // A caller that gave up (cancelled reconcile) no longer listens.
                let _ = reply.send(answer);
            }
        }
        rx.await.unwrap_or_else(|_| {
            Err(CloudError::new(ErrorKind::Transient, "the batched read this call joined was cancelled"))
        })
    }
}

/// Account-wide sweeps for drift checks: reads that answered recently are served again, and a
/// read that has to go to the cloud takes along every gateway the account was asked about lately
/// whose answer is getting old, so an in-sync fleet costs one batched sweep per `max_age` (about
/// `known / 100` calls on Tencent API 3.0) instead of one call per gateway.
///
/// Only answers the caller calls servable (a gateway at rest) are served from here: a gateway
/// that is changing is always read afresh. [`SweepCache::invalidate`] forgets a gateway when this
/// client changes it, and an answer read while it was being changed is never stored.
#[derive(Debug)]
pub struct SweepCache<V> {
    max_age: Duration,
    /// By gateway; answers boxed, so that the table's many empty slots stay small (~1.2 MiB at
    /// 10,000 gateways).
    entries: Mutex<HashMap<Box<str>, Entry<V>>>,
    /// Woken when a sweep ends, for callers waiting on a gateway it was reading, and when the
    /// roster is in.
    swept: Notify,
    /// Whether the account's gateways were announced ([`SweepCache::wants_roster`]): `UNASKED`,
    /// `ANNOUNCING` (sweeps wait, or one would read a few gateways just before the roster) or
    /// `ANNOUNCED`.
    roster: std::sync::atomic::AtomicU8,
}

const UNASKED: u8 = 0;
const ANNOUNCING: u8 = 1;
const ANNOUNCED: u8 = 2;

/// The one caller's turn to announce an account's gateways ([`SweepCache::wants_roster`]);
/// dropped unused (the caller cancelled or had none), sweeps go on without it.
pub struct Roster<'a, V> {
    cache: &'a SweepCache<V>,
}

impl<V> Roster<'_, V> {
    /// Notes gateways callers will soon ask about (every resource of the account when the
    /// operator starts): the next sweep reads them along, 100 a call, instead of each wave of
    /// reconciles reading the few it holds.
    pub fn expect(self, ids: impl IntoIterator<Item = String>) {
        let now = tokio::time::Instant::now();
        let mut entries = self.cache.lock();
        for id in ids {
            entries.entry(id.into()).or_insert_with(|| Entry::new(now));
        }
    }
}

impl<V> Drop for Roster<'_, V> {
    fn drop(&mut self) {
        self.cache.roster.store(ANNOUNCED, std::sync::atomic::Ordering::SeqCst);
        self.cache.swept.notify_waiters();
    }
}

#[derive(Debug)]
struct Entry<V> {
    value: Option<Box<(V, tokio::time::Instant)>>,
    asked: tokio::time::Instant,
    epoch: u64,
    /// A sweep under way is reading it: wait for that answer rather than read it again.
    sweeping: bool,
}

impl<V> Entry<V> {
    fn new(now: tokio::time::Instant) -> Self {
        Entry { value: None, asked: now, epoch: 0, sweeping: false }
    }
}

/// The ids a sweep reads and their epochs when it started. Dropping it (stored, failed or
/// cancelled) releases the callers waiting on its ids.
pub struct Sweep<'a, V> {
    cache: &'a SweepCache<V>,
    pub ids: Vec<String>,
    epochs: HashMap<String, u64>,
}

impl<V> Drop for Sweep<'_, V> {
    fn drop(&mut self) {
        let mut entries = self.cache.lock();
        for id in &self.ids {
            if let Some(e) = entries.get_mut(id.as_str()) {
                e.sweeping = false;
            }
        }
        drop(entries);
        self.cache.swept.notify_waiters();
    }
}

impl<V> SweepCache<V> {
    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<Box<str>, Entry<V>>> {
        self.entries.lock()
    }
}

impl<V: Clone> SweepCache<V> {
    pub fn new(max_age: Duration) -> Self {
        SweepCache { max_age, entries: Mutex::default(), swept: Notify::new(), roster: Default::default() }
    }

    /// `Some` exactly once per cache: the caller should then announce the gateways it will ask
    /// about ([`Roster::expect`]); sweeps wait for it until then.
    pub fn wants_roster(&self) -> Option<Roster<'_, V>> {
        use std::sync::atomic::Ordering::SeqCst;
        // Asked on every pass: a read, not a write to the shared line, once it is done.
        let first = self.roster.load(SeqCst) == UNASKED
            && self.roster.compare_exchange(UNASKED, ANNOUNCING, SeqCst, SeqCst).is_ok();
        first.then(|| Roster { cache: self })
    }

    /// Returns once no roster is being announced.
    async fn roster_announced(&self) {
        loop {
            // Created before the check, so an announcement ending in between still wakes it.
            let announced = self.swept.notified();
            if self.roster.load(std::sync::atomic::Ordering::SeqCst) != ANNOUNCING {
                return;
            }
            announced.await;
        }
    }

    /// Notes that `id` was asked for; its answer if it is younger than the cache's `max_age` and
    /// the caller's `within`, and servable. While a sweep is reading `id`, waits for that sweep
    /// first: drift checks that come due together would otherwise each start a sweep of the same
    /// stale gateways.
    pub async fn fresh(&self, id: &str, within: Duration, servable: impl Fn(&V) -> bool) -> Option<V> {
        let max_age = self.max_age.min(within);
        loop {
            // Created before the check, so a sweep ending in between still wakes it.
            let swept = self.swept.notified();
            {
                let now = tokio::time::Instant::now();
                let mut entries = self.lock();
                let entry = entries.entry(id.into()).or_insert_with(|| Entry::new(now));
                entry.asked = now;
                match entry.value.as_deref() {
                    Some((v, at)) if now.duration_since(*at) < max_age && servable(v) => return Some(v.clone()),
                    _ if !entry.sweeping => return None,
                    _ => {}
                }
            }
            swept.await;
        }
    }

    /// What to read along with `asked`: every gateway asked about within two `max_age`s whose
    /// answer is older than half of it (or missing) and that no other sweep is reading.
    /// Gateways not asked about for longer are forgotten (deleted resources). Waits while the
    /// account's roster is being announced, so that the first sweep takes it along.
    pub async fn sweep(&self, asked: Vec<String>) -> Sweep<'_, V> {
        self.roster_announced().await;
        let now = tokio::time::Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, e| now.duration_since(e.asked) <= self.max_age * 2);
        let mut ids = asked;
        let mut seen: HashSet<String> = ids.iter().cloned().collect();
        for (id, e) in entries.iter() {
            let stale = e.value.as_deref().is_none_or(|(_, at)| now.duration_since(*at) >= self.max_age / 2);
            if stale && !e.sweeping && seen.insert(id.to_string()) {
                ids.push(id.to_string());
            }
        }
        let mut epochs = HashMap::with_capacity(ids.len());
        for id in &ids {
            let e = entries.entry(id.as_str().into()).or_insert_with(|| Entry::new(now));
            e.sweeping = true;
            epochs.insert(id.clone(), e.epoch);
        }
        Sweep { cache: self, ids, epochs }
    }

    /// Stores a sweep's answers (absent ids: the cloud does not know them), except for gateways
    /// invalidated since the sweep started.
    pub fn store(&self, sweep: &Sweep<'_, V>, found: &HashMap<String, V>) {
        let now = tokio::time::Instant::now();
        let mut entries = self.lock();
        for id in &sweep.ids {
            if let Some(e) = entries.get_mut(id.as_str())
                && sweep.epochs.get(id) == Some(&e.epoch)
            {
                e.value = found.get(id).map(|v| Box::new((v.clone(), now)));
            }
        }
    }

    /// `f` of the last answer stored for `id`, however old (none after [`SweepCache::invalidate`]):
    /// what a sweep may take over for facts it reads less often than the gateway.
    pub fn last<R>(&self, id: &str, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.lock().get(id).and_then(|e| e.value.as_deref()).map(|(v, _)| f(v))
    }

    /// This client is changing `id`: never serve an earlier answer, nor one read meanwhile.
    pub fn invalidate(&self, id: &str) {
        let now = tokio::time::Instant::now();
        let mut entries = self.lock();
        let e = entries.entry(id.into()).or_insert_with(|| Entry::new(now));
        e.epoch += 1;
        e.value = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    async fn run(
        batcher: Arc<Batcher<u32, u32>>,
        calls: Arc<Mutex<Vec<Vec<u32>>>>,
        keys: Vec<u32>,
    ) -> Vec<Option<u32>> {
        let tasks: Vec<_> = keys
            .into_iter()
            .map(|k| {
                let (b, calls) = (batcher.clone(), calls.clone());
                tokio::spawn(async move {
                    b.get(k, |keys| async move {
                        calls.lock().push(keys.clone());
                        // Odd keys do not exist.
                        Ok(keys.into_iter().filter(|k| k % 2 == 0).map(|k| (k, k * 10)).collect())
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_gets_share_calls_of_at_most_max_keys() {
        let batcher = Arc::new(Batcher::new(WINDOW, 100));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let answers = run(batcher, calls.clone(), (0..250).collect()).await;
        assert_eq!(answers[4], Some(40));
        assert_eq!(answers[5], None);
        let calls = calls.lock();
        assert_eq!(calls.len(), 3, "ceil(250/100) calls");
        assert!(calls.iter().all(|c| c.len() <= 100));
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 250);
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_keys_are_asked_once_and_later_gets_start_a_new_batch() {
        let batcher = Arc::new(Batcher::new(WINDOW, 100));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let answers = run(batcher.clone(), calls.clone(), vec![2, 2, 2, 4]).await;
        assert_eq!(answers, vec![Some(20), Some(20), Some(20), Some(40)]);
        run(batcher, calls.clone(), vec![6]).await;
        assert_eq!(*calls.lock(), vec![vec![2, 4], vec![6]]);
    }

    #[tokio::test(start_paused = true)]
    async fn sweeps_serve_recent_answers_and_take_stale_ones_along() {
        let cache: SweepCache<u32> = SweepCache::new(Duration::from_secs(60));
        let store = async |ids: Vec<&str>| {
            let sweep = cache.sweep(ids.into_iter().map(str::to_owned).collect()).await;
            let found: HashMap<String, u32> =
                sweep.ids.iter().filter(|i| *i != "gone").map(|i| (i.clone(), 1)).collect();
            cache.store(&sweep, &found);
            let mut ids = sweep.ids.clone();
            ids.sort();
            ids
        };
        for id in ["a", "b", "gone"] {
            assert_eq!(cache.fresh(id, Duration::MAX, |_| true).await, None);
        }
        assert_eq!(store(vec!["a"]).await, vec!["a", "b", "gone"]);
        assert_eq!(cache.fresh("a", Duration::MAX, |_| true).await, Some(1));
        assert_eq!(cache.fresh("a", Duration::MAX, |v| *v == 2).await, None, "not servable");
        assert_eq!(cache.fresh("gone", Duration::MAX, |_| true).await, None, "unknown to the cloud");
        // Half a max_age later a sweep for one id takes along the others that are getting old.
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(cache.fresh("b", Duration::from_secs(30), |_| true).await, None, "a resource checked more often");
        assert_eq!(cache.fresh("b", Duration::MAX, |_| true).await, Some(1));
        assert_eq!(store(vec!["c"]).await, vec!["a", "b", "c", "gone"]);
        // A gateway changed by this client is read afresh, and a sweep that raced the change
        // stores nothing for it.
        let racing = cache.sweep(vec!["a".to_owned()]).await;
        cache.invalidate("a");
        cache.store(&racing, &HashMap::from([("a".to_owned(), 1)]));
        drop(racing);
        assert_eq!(cache.fresh("a", Duration::MAX, |_| true).await, None);
        // Gateways nobody asks about for two max_ages are forgotten.
        tokio::time::advance(Duration::from_secs(121)).await;
        assert_eq!(cache.fresh("b", Duration::MAX, |_| true).await, None);
        assert_eq!(store(vec!["b"]).await, vec!["b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_announced_roster_is_read_by_the_first_sweep() {
        let cache: Arc<SweepCache<u32>> = Arc::new(SweepCache::new(Duration::from_secs(60)));
        let announce = cache.wants_roster().expect("the first caller announces");
        assert!(cache.wants_roster().is_none(), "once per cache");
        // Another pass's read while the roster is being gathered waits for it: read before, it
        // would be a sweep of its own few gateways, and the roster's a second one.
        let early = {
            let cache = cache.clone();
            tokio::spawn(async move {
                let sweep = cache.sweep(vec!["a".to_owned()]).await;
                let mut ids = sweep.ids.clone();
                ids.sort();
                cache.store(&sweep, &HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 2), ("c".to_owned(), 3)]));
                ids
            })
        };
        tokio::time::advance(Duration::from_millis(50)).await;
        assert!(!early.is_finished(), "the sweep waits for the roster");
        announce.expect(["b", "c"].map(str::to_owned));
        assert_eq!(early.await.unwrap(), ["a", "b", "c"], "the first read takes the whole roster along");
        assert_eq!(cache.fresh("c", Duration::MAX, |_| true).await, Some(3), "answered without a read of its own");
        // A roster given up (its caller cancelled) lets sweeps go on.
        let other: SweepCache<u32> = SweepCache::new(Duration::from_secs(60));
        drop(other.wants_roster());
        assert_eq!(other.sweep(vec!["a".to_owned()]).await.ids, ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_gateway_being_swept_waits_for_that_sweep_instead_of_a_second_read() {
        let cache: Arc<SweepCache<u32>> = Arc::new(SweepCache::new(Duration::from_secs(60)));
        for id in ["a", "b", "c"] {
            assert_eq!(cache.fresh(id, Duration::MAX, |_| true).await, None);
        }
        let first = cache.sweep(vec!["a".to_owned()]).await;
        assert_eq!(first.ids.len(), 3, "takes b and c along");
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.fresh("b", Duration::MAX, |_| true).await })
        };
        tokio::time::advance(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "b is being read: its caller waits");
        // A drift check of another gateway meanwhile reads only that one.
        assert_eq!(cache.sweep(vec!["d".to_owned()]).await.ids, ["d"]);
        cache.store(&first, &HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 2), ("c".to_owned(), 3)]));
        drop(first);
        assert_eq!(waiter.await.unwrap(), Some(2));

        // A sweep that fails (dropped without storing) releases its waiters empty-handed.
        tokio::time::advance(Duration::from_secs(61)).await;
        let failing = cache.sweep(vec!["a".to_owned()]).await;
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.fresh("c", Duration::MAX, |_| true).await })
        };
        tokio::time::advance(Duration::from_millis(50)).await;
        drop(failing);
        assert_eq!(waiter.await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_gives_up_does_not_strand_the_others() {
        let batcher: Arc<Batcher<u32, u32>> = Arc::new(Batcher::new(WINDOW, 100));
        let first = {
            let b = batcher.clone();
            tokio::spawn(
                async move { b.get(1, |keys| async move { Ok(keys.into_iter().map(|k| (k, k)).collect()) }).await },
            )
        };
        tokio::task::yield_now().await;
        let second = {
            let b = batcher.clone();
            tokio::spawn(
                async move { b.get(2, |keys| async move { Ok(keys.into_iter().map(|k| (k, k)).collect()) }).await },
            )
        };
        tokio::task::yield_now().await;
        first.abort();
        assert_eq!(second.await.unwrap().unwrap(), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_call_fails_every_caller_of_the_batch() {
        let batcher: Arc<Batcher<u32, u32>> = Arc::new(Batcher::new(WINDOW, 10));
        let flushes = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..5)
            .map(|k| {
                let (b, flushes) = (batcher.clone(), flushes.clone());
                tokio::spawn(async move {
                    b.get(k, |_| async move {
                        flushes.fetch_add(1, Ordering::SeqCst);
                        Err(CloudError::new(ErrorKind::Throttled, "slow down"))
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err().kind, ErrorKind::Throttled);
        }
        assert_eq!(flushes.load(Ordering::SeqCst), 1);
    }
}
