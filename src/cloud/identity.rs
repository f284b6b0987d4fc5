//! Workload identity as every cloud sees it: a ServiceAccount token goes to the cloud's STS or
//! IAM endpoint, and temporary credentials come back. Each cloud implements the exchange in its
//! own folder ([`super::registry::Cloud::exchange`]); this is what they share.

use super::{CloudError, Credentials, SecretValue};
use crate::api::WorkloadIdentity;

/// One exchange, as the connector hands it to the cloud: the endpoint is already checked
/// against the installer's allow-list, and the token goes nowhere else.
pub struct ExchangeRequest<'a> {
    pub http: &'a reqwest::Client,
    /// Where the token goes: the cloud's STS / IAM endpoint (or an allow-listed override).
    pub endpoint: &'a str,
    pub region: &'a str,
    pub identity: &'a WorkloadIdentity,
    /// The ServiceAccount token (a JWT).
    pub token: &'a SecretValue,
    /// A name for the session in the cloud's audit log (Tencent `RoleSessionName`).
    pub session_name: &'a str,
}

/// Temporary credentials and when they stop working.
#[derive(Debug, Clone)]
pub struct Temporary {
    pub credentials: Credentials,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Why the cloud refused to trade the token, where a person must change something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The role (Tencent) or identity provider (Huawei) does not exist.
    UnknownRole,
    /// The trust policy or mapping rules do not let this ServiceAccount assume the role.
    SubjectNotTrusted,
    /// The token itself was refused: audience, issuer, signature or expiry.
    TokenRejected,
}

/// A failed exchange.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExchangeError {
    /// The cloud answered, and only a change to the cloud's identity setup (or the spec) helps.
    #[error("{error}")]
    Refused { refused: Refused, error: CloudError },
    /// Anything else, classified like any cloud call: throttling and outages are retried with
    /// backoff, refusals before the call (endpoint, values) stall.
    #[error("{0}")]
    Call(CloudError),
}

impl ExchangeError {
    /// The same error with `secrets` (the token, whatever the cloud echoed) removed from its texts.
    pub fn scrubbed(self, secrets: &[&str]) -> ExchangeError {
        match self {
            ExchangeError::Refused { refused, error } => {
                ExchangeError::Refused { refused, error: error.scrubbed(secrets) }
            }
            ExchangeError::Call(error) => ExchangeError::Call(error.scrubbed(secrets)),
        }
    }
}

impl From<CloudError> for ExchangeError {
    fn from(e: CloudError) -> Self {
        ExchangeError::Call(e)
    }
}

impl From<reqwest::Error> for ExchangeError {
    fn from(e: reqwest::Error) -> Self {
        ExchangeError::Call(e.into())
    }
}
