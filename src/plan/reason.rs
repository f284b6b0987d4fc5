//! Every reason the operator writes: condition reasons, Event reasons and the `reason` label of
//! `natgw_reconcile_errors_total`. They are API (kstatus, Argo CD's health script and alerts read
//! them), so they live in one enum and are spelled once.

use crate::cloud::{CloudError, ErrorKind, Refusal};

/// Declares [`Reason`] with its list and its spelling from one list of names: a reason is
/// written exactly as its variant is named.
macro_rules! reasons {
    ($($name:ident,)*) => {
        /// One reason, written with [`Reason::as_str`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($name,)*
        }

        impl Reason {
            pub const ALL: &[Reason] = &[$(Reason::$name,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$name => stringify!($name),)*
                }
            }
        }
    };
}

reasons! {
    // Ready=True / Drift
    InSync,
    DriftDetected,
    // Progressing
    OrderSubmitting,
    OrderInProgress,
    AwaitingPayment,
    GatewayTransitioning,
    OrderSucceeded,
    Replanning,
    DeletionWaitsForOrder,
    RenewalChanged,
    CancellingOrder,
    OrderCancelled,
    // Retrying
    Throttled,
    CloudUnavailable,
    GatewayBusy,
    NotLeader,
    // Paused (natgw.io/paused)
    Paused,
    // Stalled
    SecretNotFound,
    SecretForbidden,
    InvalidSecretRef,
    CredentialsInvalid,
    EndpointNotAllowed,
    InsecureEndpoint,
    InvalidSpec,
    InvalidRequest,
    GatewayNotFound,
    GatewayUnavailable,
    GatewayClaimed,
    ClaimedElsewhere,
    UnsupportedSize,
    UnsupportedChange,
    OrderFailed,
    InsufficientFunds,
    // Stalled: workload identity
    ServiceAccountNotFound,
    TokenRequestForbidden,
    IdentityRoleNotFound,
    IdentityNotTrusted,
    IdentityTokenRejected,
    // Events only
    OrderSubmitted,
    OrderOutcomeUnknown,
    OrderAdopted,
    IntentDropped,
    Resumed,
    CancelTooLate,
    SubscriptionExpiring,
    SubscriptionExpired,
    Claimed,
    ClaimReleased,
    ClaimAbandoned,
    // Retrying: the claim tag could not be removed while the resource is deleted
    ClaimNotReleased,
    // Failed reconciles (metrics only)
    StatusWriteFailed,
    SecretReadFailed,
    FinalizerUpdateFailed,
    TokenRequestFailed,
}

impl Reason {
    /// A stall for this reason means the resource's own credentials could not reach its gateway
    /// (or never tried): such a resource holds no claim on it (src/controller/ownership.rs).
    pub fn denies_access(self) -> bool {
        matches!(
            self,
            Reason::SecretNotFound
                | Reason::SecretForbidden
                | Reason::InvalidSecretRef
                | Reason::CredentialsInvalid
                | Reason::EndpointNotAllowed
                | Reason::InsecureEndpoint
                | Reason::InvalidSpec
                | Reason::GatewayNotFound
                | Reason::ServiceAccountNotFound
                | Reason::TokenRequestForbidden
                | Reason::IdentityRoleNotFound
                | Reason::IdentityNotTrusted
                | Reason::IdentityTokenRejected
        )
    }

    /// The reason shown for a failed cloud call (or a spec refused before any call).
    pub fn of_cloud_error(e: &CloudError) -> Reason {
        if let Some(refusal) = e.refusal {
            return match refusal {
                Refusal::EndpointNotAllowed => Reason::EndpointNotAllowed,
                Refusal::InvalidSpec => Reason::InvalidSpec,
                Refusal::InsecureEndpoint => Reason::InsecureEndpoint,
            };
        }
        match e.kind {
            ErrorKind::Throttled => Reason::Throttled,
            ErrorKind::Transient => Reason::CloudUnavailable,
            ErrorKind::Busy => Reason::GatewayBusy,
            ErrorKind::NotFound => Reason::GatewayNotFound,
            ErrorKind::Auth => Reason::CredentialsInvalid,
            ErrorKind::InvalidRequest => Reason::InvalidRequest,
            ErrorKind::Unsupported => Reason::UnsupportedChange,
            ErrorKind::InsufficientFunds => Reason::InsufficientFunds,
            ErrorKind::NotLeader => Reason::NotLeader,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A reader of conditions or Events must be able to look every reason up: each one has an
    /// Argo CD health case (deploy/argocd/testdata) or is listed in docs/troubleshooting.md.
    #[test]
    fn every_reason_has_a_health_case_or_is_documented() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cases = String::new();
        for entry in std::fs::read_dir(root.join("deploy/argocd/testdata")).unwrap().map(Result::unwrap) {
            cases.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
        let page = std::fs::read_to_string(root.join("docs/troubleshooting.md")).unwrap();
        let missing: Vec<&str> = Reason::ALL
            .iter()
            .map(|r| r.as_str())
            .filter(|r| !cases.contains(&format!("reason: {r}\n")) && !page.contains(&format!("`{r}`")))
            .collect();
        assert_eq!(
            missing,
            Vec::<&str>::new(),
            "reasons with neither an Argo CD health case nor an entry in docs/troubleshooting.md"
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }
}
