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
    sync::Mutex,
    time::Duration,
};

use tokio::sync::oneshot;

use super::{CloudError, ErrorKind};

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
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let batch = pending.get_or_insert_with(|| {
                let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
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
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
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
                        calls.lock().unwrap().push(keys.clone());
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
        let calls = calls.lock().unwrap();
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
        assert_eq!(*calls.lock().unwrap(), vec![vec![2, 4], vec![6]]);
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
