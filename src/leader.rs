//! Leader election on a `coordination.k8s.io` Lease, so that of several replicas exactly one
//! runs the controller: two active controllers could order the same change twice.
//!
//! A replica that loses the lease stops at once (its reconciles are dropped mid-flight, which
//! is safe: each order's intent is in status before its cloud call) and the process exits, so
//! that Kubernetes restarts it as a standby. A standby takes over when the holder has not
//! renewed for the lease duration. On SIGTERM the controller shuts down first, then the lease
//! is released.

use std::{future::Future, time::Duration};

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{info, warn};

use crate::{health::Readiness, metrics::Metrics};

/// The Lease every replica competes for.
pub const LEASE_NAME: &str = "natgw-operator";

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

    /// The lease duration and kube-lease-manager's grace (how long before expiry the holder
    /// renews), in seconds.
    fn timing(&self) -> Result<(u64, u64), LeaderError> {
        let d = self.lease_duration;
        if d.subsec_nanos() != 0 || d.as_secs() < 2 {
            return Err(LeaderError::Duration(d));
        }
        let secs = d.as_secs();
        let renew_every = (secs / 3).max(1);
        Ok((secs, secs - renew_every))
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
    #[error("the lease duration must be whole seconds and at least 2s, not {0:?}")]
    Duration(Duration),
    #[error(
        "cannot use the leader-election Lease {namespace}/{name} ({source}); check that the namespace exists (--lease-namespace, POD_NAMESPACE) and that the operator may get, create and patch leases there"
    )]
    Lease { namespace: String, name: String, source: LeaseManagerError },
    #[error(
        "lost the leader Lease {namespace}/{name}; stopped reconciling and exiting so that Kubernetes restarts this replica as a standby"
    )]
    Lost { namespace: String, name: String },
}

/// Runs `controller` only while this replica holds the lease, or at once when `election` is
/// `None` (a single replica). Keeps the leader gauge and [`Readiness`] current. Returns the
/// controller's own result, or why leadership ended it; resolves early with `Ok(Ok(()))` when
/// `shutdown` resolves before this replica became the leader.
pub async fn run<E>(
    client: Client,
    election: Option<Election>,
    metrics: &Metrics,
    readiness: &Readiness,
    shutdown: impl Future<Output = ()>,
    controller: impl Future<Output = Result<(), E>>,
) -> Result<Result<(), E>, LeaderError> {
    let Some(election) = election else {
        metrics.set_leader(true);
        let result = controller.await;
        metrics.set_leader(false);
        return Ok(result);
    };
    let (duration, grace) = election.timing()?;
    let lease_error = |source| LeaderError::Lease {
        namespace: election.namespace.clone(),
        name: election.lease_name.clone(),
        source,
    };
    let manager = LeaseManagerBuilder::new(client, &election.lease_name)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await
        .map_err(lease_error)?;
    let (mut held, task) = manager.watch().await;
    let lease = format!("{}/{}", election.namespace, election.lease_name);
    readiness.standby();
    info!(identity = %election.identity, %lease, "standby: waiting for the leader lease");

    tokio::select! {
        acquired = async { held.wait_for(|h| *h).await.is_ok() } => {
            if !acquired {
                // The lease manager stopped (it only does when it cannot report any more).
                return Err(LeaderError::Lost { namespace: election.namespace, name: election.lease_name });
            }
        }
        () = shutdown => {
            info!("shutting down as a standby");
            release(held, task).await;
            return Ok(Ok(()));
        }
    }

    metrics.set_leader(true);
    readiness.starting();
    info!(identity = %election.identity, %lease, "became the leader; starting the controller");
    let result = tokio::select! {
        result = controller => result,
        // Lost, or the lease manager stopped: we can no longer be sure we lead.
        () = async { let _ = held.wait_for(|h| !*h).await; } => {
            metrics.set_leader(false);
            return Err(LeaderError::Lost { namespace: election.namespace, name: election.lease_name });
        }
    };
    // The controller has stopped (shutdown): only now may another replica start.
    metrics.set_leader(false);
    release(held, task).await;
    Ok(result)
}

/// Closing the channel makes the lease manager release the lease (if held) and stop.
async fn release(held: watch::Receiver<bool>, task: JoinHandle<Result<LeaseManager, LeaseManagerError>>) {
    drop(held);
    match tokio::time::timeout(RELEASE_TIMEOUT, task).await {
        Ok(Ok(Ok(_))) => info!("released the leader lease"),
        Ok(Ok(Err(e))) => warn!(error = %e, "could not release the leader lease; it expires by itself"),
        Ok(Err(e)) => warn!(error = %e, "the lease manager failed; the lease expires by itself"),
        Err(_) => warn!("releasing the leader lease timed out; it expires by itself"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn election(lease_duration: Duration) -> Election {
        Election { namespace: "ns".into(), lease_name: LEASE_NAME.into(), identity: "me".into(), lease_duration }
    }

    #[test]
    fn the_holder_renews_every_third_of_the_lease() {
        assert_eq!(election(Duration::from_secs(15)).timing().unwrap(), (15, 10));
        assert_eq!(election(Duration::from_secs(4)).timing().unwrap(), (4, 3));
        assert_eq!(election(Duration::from_secs(2)).timing().unwrap(), (2, 1));
        assert!(matches!(election(Duration::from_secs(1)).timing(), Err(LeaderError::Duration(_))));
        assert!(matches!(election(Duration::from_millis(4500)).timing(), Err(LeaderError::Duration(_))));
    }

    #[test]
    fn identity_is_never_empty() {
        // POD_NAME is unset in unit tests: host name and pid.
        if std::env::var_os("POD_NAME").is_none() {
            assert!(identity().ends_with(&format!("-{}", std::process::id())));
        }
    }
}
