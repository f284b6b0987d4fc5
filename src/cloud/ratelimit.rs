//! Client-side rate limiting: one token bucket per cloud action, shared by every client of one
//! cloud account (see [`AccountLimiters`]), so that concurrent reconciles queue for a token
//! instead of earning `RequestLimitExceeded` / `APIG.0308` answers.
//!
//! A call waits for its token; it never fails for lack of one. When the cloud throttles anyway
//! (other clients of the same account, a lower limit than documented), [`RateLimiter::throttled`]
//! slows the whole bucket: it pauses it for the cloud's retry hint and halves its rate, which
//! comes back to the configured rate after [`RECOVERY`] without another throttling answer.
//!
//! Hand-written because it must react to the cloud's throttling answers, which general-purpose
//! limiters (governor) cannot. Time is tokio's, so tests run with paused time.

use std::{collections::HashMap, sync::Arc, time::Duration};

use parking_lot::Mutex;

use super::{CloudError, ErrorKind};
use tokio::time::Instant;

/// How long a bucket stays slowed after the cloud's last throttling answer.
pub const RECOVERY: Duration = Duration::from_secs(30);
/// A throttled bucket never drops below this share of its configured rate.
const FLOOR: f64 = 0.1;

/// Parses `Action=N` (calls per second; `0` lifts the limit), as `--rate-limit` takes it.
pub fn parse_override(s: &str) -> Result<(String, f64), String> {
    let (action, n) = s.split_once('=').ok_or("expected Action=PER_SECOND, e.g. ResetNatGatewayConnection=20")?;
    let n: f64 = n.trim().parse().map_err(|_| format!("{n:?} is not a number of calls per second"))?;
    if action.is_empty() || !n.is_finite() || n < 0.0 {
        return Err("expected Action=PER_SECOND with a non-negative number".to_owned());
    }
    Ok((action.to_owned(), n))
}

#[derive(Debug)]
struct Bucket {
    /// The configured rate.
    base: f64,
    /// The rate now (lower than `base` for a while after throttling).
    rate: f64,
    burst: f64,
    /// May go negative: calls that reserved a future slot.
    tokens: f64,
    at: Instant,
    paused_until: Option<Instant>,
    slowed_until: Option<Instant>,
    /// Callers [`Bucket::take_now`] told to come back and that have not taken a token since:
    /// each is told a later time, so that they come back about as fast as tokens do rather
    /// than all at the first one.
    deferred: u32,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        // A quarter second of burst: the cloud's own bucket (a second's worth) then never runs
        // dry from our bursts, so network jitter alone cannot make it throttle us.
        let burst = (rate / 4.0).max(1.0);
        Bucket { base: rate, rate, burst, tokens: burst, at: now, paused_until: None, slowed_until: None, deferred: 0 }
    }

    fn refill(&mut self, now: Instant) {
        if self.slowed_until.is_some_and(|t| now >= t) {
            self.slowed_until = None;
            self.rate = self.base;
        }
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }

    /// Takes a token if one is there now; else when to come back: after the next token and one
    /// more for each caller already told to come back.
    fn take_now(&mut self, now: Instant) -> Option<Duration> {
        let wait = match self.paused_until.filter(|u| now < *u) {
            Some(until) => until - now,
            None => {
                self.refill(now);
                if self.tokens >= 1.0 {
                    // A full bucket: whoever was told to come back has gone, or come back.
                    self.deferred = if self.tokens >= self.burst { 0 } else { self.deferred.saturating_sub(1) };
                    self.tokens -= 1.0;
                    return None;
                }
                Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
            }
        };
        self.deferred = self.deferred.saturating_add(1);
        Some(wait + Duration::from_secs_f64(f64::from(self.deferred - 1) / self.rate))
    }

    /// Reserves one token; how long to wait before using it, or `Err(until)` while paused.
    fn reserve(&mut self, now: Instant) -> Result<Duration, Instant> {
        if let Some(until) = self.paused_until {
            if now < until {
                return Err(until);
            }
            self.paused_until = None;
            // Start again from an empty bucket, not with the tokens accrued while paused.
            self.tokens = self.tokens.min(0.0);
            self.at = now;
        }
        self.refill(now);
        self.tokens -= 1.0;
        Ok(if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.rate) })
    }
}

/// Token buckets by action for one cloud account.
#[derive(Debug)]
pub struct RateLimiter {
    limits: HashMap<String, f64>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `limits`: calls per second by action; actions without one (or with 0) are not limited.
    pub fn new(limits: HashMap<String, f64>) -> RateLimiter {
        RateLimiter { limits: limits.into_iter().filter(|(_, n)| *n > 0.0).collect(), buckets: Mutex::default() }
    }

    /// A limiter at a cloud's documented limits (its profile's).
    pub fn documented(limits: &[(&str, f64)]) -> RateLimiter {
        RateLimiter::new(limits.iter().map(|(a, n)| ((*a).to_owned(), *n)).collect())
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<String, Bucket>> {
        self.buckets.lock()
    }

    /// Waits until a call of `action` may be sent.
    pub async fn acquire(&self, action: &str) {
        let Some(&rate) = self.limits.get(action) else {
            return;
        };
        loop {
            let reserved = {
                let now = Instant::now();
                let mut buckets = self.lock();
                buckets.entry(action.to_owned()).or_insert_with(|| Bucket::new(rate, now)).reserve(now)
            };
            match reserved {
                Ok(wait) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    // A pause that began while we waited holds us too.
                    let paused = self.lock().get(action).and_then(|b| b.paused_until);
                    match paused {
                        Some(until) if Instant::now() < until => tokio::time::sleep_until(until).await,
                        _ => return,
                    }
                }
                Err(until) => tokio::time::sleep_until(until).await,
            }
        }
    }

    /// Waits for a token of `action`, runs `call`, and slows the account down when the cloud
    /// throttles anyway (pausing for its hint, else `default_pause`).
    pub async fn limited<T>(
        &self,
        action: &str,
        default_pause: Duration,
        call: impl std::future::Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        self.acquire(action).await;
        self.send(action, default_pause, call).await
    }

    /// Takes a token of `action` if one is left now; else when to try again (spread over the
    /// callers told so before, so that a crowd comes back at the bucket's rate).
    pub fn try_now(&self, action: &str) -> Result<(), Duration> {
        let Some(&rate) = self.limits.get(action) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.lock();
        let bucket = buckets.entry(action.to_owned()).or_insert_with(|| Bucket::new(rate, now));
        bucket.take_now(now).map_or(Ok(()), Err)
    }

    /// [`RateLimiter::limited`] for a call that may as well come later: with no token of `action`
    /// left now it sends nothing and answers `Throttled`, with when to try again
    /// ([`RateLimiter::try_now`]).
    pub async fn limited_now<T>(
        &self,
        action: &str,
        default_pause: Duration,
        call: impl std::future::Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        if let Err(wait) = self.try_now(action) {
            let message = format!("{action} waits for the account's rate limit");
            return Err(CloudError::new(ErrorKind::Throttled, message).with_retry_after(wait));
        }
        self.send(action, default_pause, call).await
    }

    async fn send<T>(
        &self,
        action: &str,
        default_pause: Duration,
        call: impl std::future::Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        // After the wait, not before: a replica paused while queued must not send on waking.
        let result = match crate::fence::check() {
            None | Some(Some(Duration::MAX)) => call.await,
            Some(None) => Err(CloudError::new(
                ErrorKind::NotLeader,
                format!("{action} was not sent: this replica no longer surely holds the leader lease"),
            )),
            Some(Some(left)) => tokio::time::timeout(left, call).await.unwrap_or_else(|_| {
                Err(CloudError::new(ErrorKind::Transient, format!("{action} did not finish while the lease was held")))
            }),
        };
        if let Err(e) = &result
            && e.kind == ErrorKind::Throttled
        {
            self.throttled(action, e.retry_after.unwrap_or(default_pause));
        }
        result
    }

    /// The cloud answered a call of `action` with a throttling error: pause the bucket for
    /// `retry_after` and halve its rate (not below a tenth of the configured one) for
    /// [`RECOVERY`].
    pub fn throttled(&self, action: &str, retry_after: Duration) {
        let Some(&rate) = self.limits.get(action) else {
            return;
        };
        let now = Instant::now();
        let mut buckets = self.lock();
        let bucket = buckets.entry(action.to_owned()).or_insert_with(|| Bucket::new(rate, now));
        bucket.refill(now);
        let until = now + retry_after;
        bucket.paused_until = Some(bucket.paused_until.map_or(until, |p| p.max(until)));
        bucket.rate = (bucket.rate / 2.0).max(bucket.base * FLOOR);
        bucket.slowed_until = Some(now + RECOVERY);
        tracing::warn!(action, ?retry_after, rate = bucket.rate, "the cloud throttled us: slowing this account down");
    }

    /// The rate a bucket runs at now (the configured one when unused or recovered).
    pub fn current_rate(&self, action: &str) -> Option<f64> {
        let rate = *self.limits.get(action)?;
        let now = Instant::now();
        let mut buckets = self.lock();
        Some(buckets.get_mut(action).map_or(rate, |b| {
            b.refill(now);
            b.rate
        }))
    }
}

/// Which account a limiter belongs to: the cloud, its endpoint and who signs. Regions and API
/// versions of one account share it, as the clouds count per account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountKey {
    pub cloud: &'static str,
    pub endpoint: Option<String>,
    pub account: Account,
}

/// Whom the cloud counts calls against (Tencent: per action, access region and (sub-)account;
/// Huawei: per account).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    /// A Secret's access key id.
    AccessKey(String),
    /// A workload identity's principal (the Tencent role, the Huawei identity provider): each
    /// refresh brings a new temporary key id, but calls are still made as this principal, so
    /// its budget, and a throttling pause, carry over; its exchanges are paced here too.
    Identity(String),
}

/// The limiters of every account, created on first use with the cloud's documented limits and the
/// installer's overrides on top.
#[derive(Debug)]
pub struct AccountLimiters {
    overrides: HashMap<String, f64>,
    accounts: Mutex<HashMap<AccountKey, Arc<RateLimiter>>>,
}

impl Default for AccountLimiters {
    fn default() -> Self {
        AccountLimiters::new(HashMap::new())
    }
}

impl AccountLimiters {
    /// `overrides` (calls per second by action; 0 lifts one) apply to every account.
    pub fn new(overrides: HashMap<String, f64>) -> AccountLimiters {
        AccountLimiters { overrides, accounts: Mutex::default() }
    }

    /// The account's limiter; `documented` are its cloud's limits (one cloud per account key).
    pub fn for_account(&self, key: AccountKey, documented: &[(&str, f64)]) -> Arc<RateLimiter> {
        let limits = || {
            let mut limits: HashMap<String, f64> = documented.iter().map(|(a, n)| ((*a).to_owned(), *n)).collect();
            limits.extend(self.overrides.clone());
            Arc::new(RateLimiter::new(limits))
        };
        self.accounts.lock().entry(key).or_insert_with(limits).clone()
    }
}

/// Reads are tried this many times while the cloud throttles them; changes never are (one
/// change, one order).
const READ_ATTEMPTS: u32 = 3;

/// A read, tried again while the cloud throttles it (the limiter paces the retries).
pub async fn read_with_retries<T, F, Fut>(mut call: F) -> Result<T, CloudError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CloudError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.kind == ErrorKind::Throttled && attempt < READ_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(action: &str, rate: f64) -> Arc<RateLimiter> {
        Arc::new(RateLimiter::new(HashMap::from([(action.to_owned(), rate)])))
    }

    /// Starts `n` concurrent acquires and returns when each got its token, from the start.
    async fn grant_times(l: &Arc<RateLimiter>, action: &'static str, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    l.acquire(action).await;
                    start.elapsed()
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        times
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_calls_wait_for_tokens_at_the_configured_rate() {
        let l = limiter("ResetNatGatewayConnection", 20.0);
        let times = grant_times(&l, "ResetNatGatewayConnection", 1000).await;
        // A burst of 5 (a quarter second), then one every 50 ms: 995 / 20 = 49.75 s.
        assert_eq!(times.iter().filter(|t| t.is_zero()).count(), 5);
        let last = times.last().unwrap().as_secs_f64();
        assert!((49.7..=49.8).contains(&last), "{last}");
        // No one-second window holds more than burst + rate calls.
        for (i, t) in times.iter().enumerate() {
            let within = times[i..].iter().take_while(|u| **u < *t + Duration::from_secs(1)).count();
            assert!(within <= 25, "{within} calls in the second after {t:?}");
        }
    }

    /// A call that may come later takes a token only if one is there, and otherwise is not sent
    /// and says when one will be; it never makes a waiting caller wait longer.
    #[tokio::test(start_paused = true)]
    async fn a_call_that_can_come_later_sends_nothing_without_a_token() {
        let l = limiter("TagResources", 20.0);
        let sent = std::sync::atomic::AtomicUsize::new(0);
        let call = || async {
            sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), CloudError>(())
        };
        for _ in 0..5 {
            l.limited_now("TagResources", Duration::from_secs(1), call()).await.unwrap();
        }
        let refused = l.limited_now("TagResources", Duration::from_secs(1), call()).await.unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Throttled);
        assert_eq!(refused.retry_after, Some(Duration::from_millis(50)), "one token every 50 ms");
        assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), 5, "the sixth was not sent");
        let start = Instant::now();
        l.acquire("TagResources").await;
        assert_eq!(start.elapsed(), Duration::from_millis(50), "the refusal took no token");
        l.limited_now("Unlimited", Duration::from_secs(1), call()).await.unwrap();
    }

    /// A crowd told to come back is told later and later times, one token apart, so that it
    /// comes back at the bucket's rate: each caller comes back about once, not once per token.
    #[tokio::test(start_paused = true)]
    async fn callers_told_to_come_back_are_spread_at_the_rate() {
        let l = limiter("TagResources", 20.0);
        let mut waiting: Vec<Duration> = Vec::new();
        for _ in 0..45 {
            if let Err(wait) = l.try_now("TagResources") {
                waiting.push(wait);
            }
        }
        assert_eq!(waiting.len(), 40, "5 of 45 took the burst");
        let expected: Vec<Duration> = (1..=40).map(|i| Duration::from_millis(50 * i)).collect();
        assert_eq!(waiting, expected);
        // Each comes back when told (in that order): the tokens are there for nearly all of them.
        let start = Instant::now();
        let mut refused_again = 0;
        for wait in waiting {
            tokio::time::sleep_until(start + wait).await;
            refused_again += usize::from(l.try_now("TagResources").is_err());
        }
        assert!(refused_again <= 2, "{refused_again} of 40 refused again");
        // Once the bucket is full again, nobody is waiting: the next refusal is one token away.
        tokio::time::sleep(Duration::from_secs(5)).await;
        for _ in 0..5 {
            l.try_now("TagResources").unwrap();
        }
        assert_eq!(l.try_now("TagResources"), Err(Duration::from_millis(50)));
    }

    #[tokio::test(start_paused = true)]
    async fn actions_and_unlisted_actions_do_not_wait_for_each_other() {
        let l = Arc::new(RateLimiter::new(HashMap::from([("A".to_owned(), 4.0), ("B".to_owned(), 4.0)])));
        let a = grant_times(&l, "A", 9).await;
        let start = Instant::now();
        l.acquire("B").await;
        l.acquire("Unlimited").await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(a.last().unwrap().as_secs_f64(), 2.0);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_pauses_the_bucket_and_halves_its_rate_until_it_recovers() {
        let l = limiter("DescribeNatGateways", 100.0);
        l.acquire("DescribeNatGateways").await;
        l.throttled("DescribeNatGateways", Duration::from_secs(2));
        assert_eq!(l.current_rate("DescribeNatGateways"), Some(50.0));
        let times = grant_times(&l, "DescribeNatGateways", 101).await;
        // Nothing before the pause ends; then 50/s from an empty bucket.
        assert!(times[0] >= Duration::from_secs(2), "{:?}", times[0]);
        let last = times.last().unwrap().as_secs_f64();
        assert!((3.9..=4.1).contains(&last), "{last}");
        // Repeated throttling halves again, never below a tenth.
        for _ in 0..10 {
            l.throttled("DescribeNatGateways", Duration::ZERO);
        }
        assert_eq!(l.current_rate("DescribeNatGateways"), Some(10.0));
        tokio::time::sleep(RECOVERY + Duration::from_secs(1)).await;
        assert_eq!(l.current_rate("DescribeNatGateways"), Some(100.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_calls_that_already_reserved_a_slot() {
        let l = limiter("A", 1.0);
        l.acquire("A").await; // burst of 1 used
        let waiter = {
            let l = l.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                l.acquire("A").await;
                start.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        l.throttled("A", Duration::from_secs(5));
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_millis(5500), "{waited:?}");
    }

    #[test]
    fn overrides_parse_and_accounts_share_one_limiter() {
        assert_eq!(parse_override("ResetNatGatewayConnection=5"), Ok(("ResetNatGatewayConnection".into(), 5.0)));
        assert_eq!(parse_override("X=0.5"), Ok(("X".into(), 0.5)));
        assert!(parse_override("X").is_err());
        assert!(parse_override("X=-1").is_err());
        assert!(parse_override("=3").is_err());
        let all = AccountLimiters::new(HashMap::from([("DescribeNatGateways".to_owned(), 7.0)]));
        let key = |k: &str| AccountKey { cloud: "tencent", endpoint: None, account: Account::AccessKey(k.into()) };
        let documented = [("DescribeNatGateways", 100.0), ("ResetNatGatewayConnection", 20.0)];
        let limiter = |k: &str| all.for_account(key(k), &documented);
        assert!(Arc::ptr_eq(&limiter("a"), &limiter("a")));
        assert!(!Arc::ptr_eq(&limiter("a"), &limiter("b")));
        assert_eq!(limiter("a").current_rate("DescribeNatGateways"), Some(7.0));
        assert_eq!(limiter("a").current_rate("ResetNatGatewayConnection"), Some(20.0));
    }
}
