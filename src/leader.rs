//! Leader election on a `coordination.k8s.io` Lease, so that of several replicas exactly one
//! runs the controller: two active controllers could order the same change twice.
//!
//! The elector is our own (client-go's algorithm) rather than a library's because the fence
//! needs what libraries keep to themselves: until when the lease is surely ours. A renewal that
//! succeeds makes the lease ours until the moment the request was *sent* plus the lease duration
//! (less a margin), on the monotonic clock; a standby takes over only after it has seen the
//! Lease unchanged for a whole lease duration on its own clock, which starts later. So the
//! [`Fence`] of a replica that is paused, or cannot reach the API server, closes before any
//! standby can act, and its queued order calls are dropped.
//!
//! A replica that loses the lease (or cannot renew it in time) stops at once (its reconciles are
//! dropped mid-flight, which is safe: each order's intent is in status before its cloud call)
//! and the process exits, so that Kubernetes restarts it as a standby. On SIGTERM the controller
//! shuts down first, then the lease is released.

use std::{future::Future, time::Duration};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::{fence::Fence, health::Readiness, metrics::Metrics};

/// The Lease every replica competes for.
pub const LEASE_NAME: &str = "natgw-operator";

/// The shortest wait between two looks at the Lease.
const MIN_LOOK: Duration = Duration::from_millis(100);

/// How long a release on shutdown may take before we exit anyway (the lease then expires).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and as whom to compete for the lease.
#[derive(Debug, Clone)]
pub struct Election {
    pub namespace: String,
    pub lease_name: String,
    /// Unique among the live replicas.
    pub identity: String,
    /// How long the lease outlives its holder's last renewal; the holder renews every third of
    /// it. Whole seconds (the Lease API's unit), at least 2 s.
    pub lease_duration: Duration,
}

impl Election {
    /// The operator's lease in `namespace`, held as [`identity()`].
    pub fn new(namespace: impl Into<String>, lease_duration: Duration) -> Election {
        Election { namespace: namespace.into(), lease_name: LEASE_NAME.into(), identity: identity(), lease_duration }
    }

    /// The lease duration in whole seconds (the Lease API's unit), at least 2 s.
    fn seconds(&self) -> Result<i32, LeaderError> {
        let d = self.lease_duration;
        if d.subsec_nanos() != 0 || d.as_secs() < 2 || d.as_secs() > 3600 {
            return Err(LeaderError::Duration(d));
        }
        Ok(d.as_secs() as i32)
    }

    /// The holder renews every third of the lease.
    fn renew_every(&self) -> Duration {
        self.lease_duration / 3
    }

    /// A standby looks at the Lease this often: it sees a renewal at most this late, and so
    /// takes over at most this late after the lease expired.
    fn retry_every(&self) -> Duration {
        (self.lease_duration / 8).min(Duration::from_secs(1))
    }

    /// Taken off the end of the lease for the fence: covers the time between reading the clock
    /// and the request reaching the API server, and clock rate differences between nodes.
    fn margin(&self) -> Duration {
        (self.lease_duration / 10).max(Duration::from_millis(500))
    }
}

/// `POD_NAME` (unique among a Deployment's live pods), else the host name and process id.
pub fn identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "natgw-operator".to_owned());
    format!("{host}-{}", std::process::id())
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("the lease duration must be whole seconds between 2s and 1h, not {0:?}")]
    Duration(Duration),
    #[error(
        "cannot use the leader-election Lease {namespace}/{name} ({source}); check that the namespace exists (--lease-namespace, POD_NAMESPACE) and that the operator may get, create and update leases there"
    )]
    Lease { namespace: String, name: String, source: kube::Error },
    #[error(
        "lost the leader Lease {namespace}/{name} (another replica holds it, or it could not be renewed in time); stopped reconciling and exiting so that Kubernetes restarts this replica as a standby"
    )]
    Lost { namespace: String, name: String },
}

/// One replica's view of the Lease, and its attempts to take or keep it.
struct Elector {
    api: Api<Lease>,
    election: Election,
    seconds: i32,
    fence: Fence,
    /// The Lease as last seen (holder, renew time, transitions) and when we first saw it so:
    /// a holder that has not renewed for a lease duration by *our* clock has lost it.
    observed: Option<(LeaseRecord, Instant)>,
}

#[derive(Debug, Clone, PartialEq)]
struct LeaseRecord {
    holder: Option<String>,
    renewed: Option<Timestamp>,
    transitions: i32,
    seconds: Option<i32>,
}

impl LeaseRecord {
    fn of(spec: &LeaseSpec) -> LeaseRecord {
        LeaseRecord {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            renewed: spec.renew_time.as_ref().map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
            seconds: spec.lease_duration_seconds,
        }
    }
}

impl Elector {
    /// One attempt to take or renew the lease. `Ok(true)` when it is ours, and then the fence is
    /// moved to the send time of this attempt plus the lease duration, less the margin.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let sent = Instant::now();
        let now = MicroTime(Timestamp::now());
        let me = self.election.identity.clone();
        let Some(lease) = self.api.get_opt(&self.election.lease_name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.election.lease_name.clone()), ..Default::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(self.seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(self.held(sent)),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let record = LeaseRecord::of(&spec);
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != record) {
            self.observed = Some((record.clone(), sent));
        }
        let ours = record.holder.as_deref() == Some(me.as_str());
        let expired = self.observed.as_ref().is_some_and(|(_, since)| {
            let seconds = record.seconds.filter(|s| *s > 0).unwrap_or(self.seconds);
            sent.duration_since(*since) >= Duration::from_secs(seconds as u64)
        });
        if !(ours || record.holder.is_none() || expired) {
            return Ok(false);
        }
        let mut next = lease.clone();
        next.spec = Some(LeaseSpec {
            holder_identity: Some(me),
            lease_duration_seconds: Some(self.seconds),
            acquire_time: if ours { spec.acquire_time.clone() } else { Some(now.clone()) },
            renew_time: Some(now),
            lease_transitions: Some(record.transitions + i32::from(!ours)),
            ..spec
        });
        // Conditional on the resourceVersion we read: of two replicas taking over at once, one wins.
        match self.api.replace(&self.election.lease_name, &PostParams::default(), &next).await {
            Ok(_) => Ok(self.held(sent)),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn held(&mut self, sent: Instant) -> bool {
        let until = sent + self.election.lease_duration.saturating_sub(self.election.margin());
        self.fence.held_until(until);
        self.observed = None;
        true
    }

    /// Gives the lease up (on shutdown), so that a standby need not wait for it to expire.
    async fn release(&mut self) {
        self.fence.revoke();
        let released = async {
            let Some(mut lease) = self.api.get_opt(&self.election.lease_name).await? else {
                return Ok(false);
            };
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(self.election.identity.as_str()) {
                return Ok(false);
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            self.api.replace(&self.election.lease_name, &PostParams::default(), &lease).await.map(|_| true)
        };
        match tokio::time::timeout(RELEASE_TIMEOUT, released).await {
            Ok(Ok(true)) => info!("released the leader lease"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => warn!(error = %e, "could not release the leader lease; it expires by itself"),
            Err(_) => warn!("releasing the leader lease timed out; it expires by itself"),
        }
    }

    /// Waits until this replica holds the lease.
    async fn acquire(&mut self) -> Result<(), LeaderError> {
        let mut logged = false;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                // Before we ever held it, a Lease we may not use is a set-up problem.
                Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => {
                    return Err(LeaderError::Lease {
                        namespace: self.election.namespace.clone(),
                        name: self.election.lease_name.clone(),
                        source: kube::Error::Api(s),
                    });
                }
                Err(e) if !logged => {
                    warn!(error = %e, "cannot read the leader lease; trying again");
                    logged = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(self.next_look()).await;
        }
    }

    /// How long a standby waits before it looks again: its retry period, or until the lease it
    /// watches expires if that is sooner, so that it takes over then and not up to a period later.
    fn next_look(&self) -> Duration {
        let retry = self.election.retry_every();
        let Some((record, since)) = &self.observed else { return retry };
        let seconds = record.seconds.filter(|s| *s > 0).unwrap_or(self.seconds);
        let expires = *since + Duration::from_secs(seconds as u64);
        // Not zero: an attempt that lost a race for an expired lease must not spin.
        expires.saturating_duration_since(Instant::now()).clamp(MIN_LOOK, retry)
    }

    /// Renews the lease until it is lost: another replica took it, or it could not be renewed
    /// before the fence closed.
    async fn keep(&mut self) {
        loop {
            tokio::time::sleep(self.election.renew_every()).await;
            loop {
                match self.try_acquire_or_renew().await {
                    Ok(true) => break,
                    Ok(false) => {
                        self.fence.revoke();
                        return;
                    }
                    Err(e) => warn!(error = %e, "could not renew the leader lease; retrying"),
                }
                if self.fence.remaining().is_none() {
                    return;
                }
                tokio::time::sleep(self.election.retry_every()).await;
            }
        }
    }
}

/// Runs `controller` only while this replica holds the lease, or at once when `election` is
/// `None` (a single replica). `fence` is closed whenever this replica does not surely hold the
/// lease. Keeps the leader gauge and [`Readiness`] current. Returns the controller's own result,
/// or why leadership ended it; resolves early with `Ok(Ok(()))` when `shutdown` resolves before
/// this replica became the leader.
pub async fn run<E>(
    client: Client,
    election: Option<(Election, Fence)>,
    metrics: &Metrics,
    readiness: &Readiness,
    shutdown: impl Future<Output = ()>,
    controller: impl Future<Output = Result<(), E>>,
) -> Result<Result<(), E>, LeaderError> {
    let Some((election, fence)) = election else {
        metrics.set_leader(true);
        let result = controller.await;
        metrics.set_leader(false);
        return Ok(result);
    };
    let seconds = election.seconds()?;
    let lease = format!("{}/{}", election.namespace, election.lease_name);
    let mut elector = Elector {
        api: Api::namespaced(client, &election.namespace),
        election: election.clone(),
        seconds,
        fence,
        observed: None,
    };
    readiness.standby();
    info!(identity = %election.identity, %lease, "standby: waiting for the leader lease");
    let lost = || LeaderError::Lost { namespace: election.namespace.clone(), name: election.lease_name.clone() };

    tokio::select! {
        acquired = elector.acquire() => acquired?,
        () = shutdown => {
            info!("shutting down as a standby");
            return Ok(Ok(()));
        }
    }

    metrics.set_leader(true);
    readiness.starting();
    info!(identity = %election.identity, %lease, "became the leader; starting the controller");
    let result = tokio::select! {
        result = controller => result,
        () = elector.keep() => {
            metrics.set_leader(false);
            return Err(lost());
        }
    };
    // The controller has stopped (shutdown): only now may another replica start.
    metrics.set_leader(false);
    elector.release().await;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn election(lease_duration: Duration) -> Election {
        Election { namespace: "ns".into(), lease_name: LEASE_NAME.into(), identity: "me".into(), lease_duration }
    }

    #[test]
    fn lease_timing_follows_the_duration() {
        let e = election(Duration::from_secs(15));
        assert_eq!(e.seconds().unwrap(), 15);
        assert_eq!(e.renew_every(), Duration::from_secs(5));
        assert_eq!(e.retry_every(), Duration::from_secs(1));
        assert_eq!(e.margin(), Duration::from_millis(1500));
        let e = election(Duration::from_secs(4));
        assert_eq!(e.retry_every(), Duration::from_millis(500));
        assert_eq!(e.margin(), Duration::from_millis(500));
        assert!(matches!(election(Duration::from_secs(1)).seconds(), Err(LeaderError::Duration(_))));
        assert!(matches!(election(Duration::from_millis(4500)).seconds(), Err(LeaderError::Duration(_))));
    }

    #[test]
    fn identity_is_never_empty() {
        // POD_NAME is unset in unit tests: host name and pid.
        if std::env::var_os("POD_NAME").is_none() {
            assert!(identity().ends_with(&format!("-{}", std::process::id())));
        }
    }
}
