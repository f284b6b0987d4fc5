//! How the resource stands after a pass, in words a person can act on: what the conditions are
//! written from.

use super::Reason;
use crate::metrics::Outcome;

/// How the resource stands after a reconcile, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The gateway matches the spec.
    Ready { message: String },
    /// Work is under way (an order, a transition); Ready=False, Reconciling=True.
    Progressing { reason: Reason, message: String },
    /// A temporary problem (throttling, cloud errors): Reconciling=True, Ready left as it was.
    Retrying { reason: Reason, message: String },
    /// `Observe` found drift: Ready=False, neither reconciling nor stalled.
    Drift { message: String },
    /// Needs a person: Ready=False, Stalled=True.
    Stalled { reason: Reason, message: String },
    /// Paused by the user, reason `Paused` everywhere. `ready`: the gateway was as declared at this
    /// generation with no order open, so Ready stays True (kstatus: Current); otherwise the work
    /// waits for a person, Stalled=True (kstatus: Failed, never InProgress for ever).
    Paused { message: String, ready: bool },
}

impl Health {
    pub fn reason(&self) -> Reason {
        match self {
            Health::Ready { .. } => Reason::InSync,
            Health::Drift { .. } => Reason::DriftDetected,
            Health::Paused { .. } => Reason::Paused,
            Health::Progressing { reason, .. } | Health::Retrying { reason, .. } | Health::Stalled { reason, .. } => {
                *reason
            }
        }
    }

    /// For `natgw_reconcile_errors_total`: the reason of a Retrying or Stalled health.
    pub fn error_reason(&self) -> Option<Reason> {
        match self {
            Health::Retrying { reason, .. } | Health::Stalled { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// For `natgw_reconciles_total{outcome}`.
    pub fn outcome(&self) -> Outcome {
        match self {
            Health::Ready { .. } => Outcome::Ready,
            Health::Progressing { .. } => Outcome::Progressing,
            Health::Retrying { .. } => Outcome::Retrying,
            Health::Drift { .. } => Outcome::Drift,
            Health::Stalled { .. } => Outcome::Stalled,
            Health::Paused { .. } => Outcome::Paused,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Health::Ready { message }
            | Health::Drift { message }
            | Health::Progressing { message, .. }
            | Health::Retrying { message, .. }
            | Health::Stalled { message, .. }
            | Health::Paused { message, .. } => message,
        }
    }
}
