//! Workload identity as every cloud sees it: a ServiceAccount token goes to the cloud's STS or
//! IAM endpoint, and temporary credentials come back. Each cloud implements the exchange in its
//! own folder ([`super::registry::Cloud::exchange`]); this is what they share.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use super::{CloudError, Credentials, ErrorKind, Refusal, SecretValue, ratelimit::RateLimiter};
use crate::{
    api::WorkloadIdentity,
    metrics::{CloudAction, Metrics},
};

/// One exchange, as the connector hands it to the cloud: the endpoint is already checked
/// against the installer's allow-list, and the token goes nowhere else.
pub struct ExchangeRequest<'a> {
    pub http: &'a reqwest::Client,
    /// The limiter of the identity's account ([`super::ratelimit::Account::Identity`]): the one
    /// its temporary credentials' calls use too.
    pub limiter: &'a RateLimiter,
    /// Where each call of the exchange is counted, as every cloud call is.
    pub metrics: &'a Metrics,
    /// Where the token goes: the cloud's STS / IAM endpoint (or an allow-listed override).
    pub endpoint: &'a str,
    pub region: &'a str,
    pub identity: &'a WorkloadIdentity,
    /// The ServiceAccount token (a JWT).
    pub token: &'a SecretValue,
    /// A name for the session in the cloud's audit log (Tencent `RoleSessionName`).
    pub session_name: &'a str,
}

/// One call of an exchange, as the metrics and the limiter name it.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeCall {
    /// `natgw_cloud_calls_total{provider}`, e.g. `tencent/sts`.
    pub provider: &'static str,
    /// The cloud's action name: the limiter's bucket (the profile's `rate_limits`).
    pub action: &'static str,
    /// `natgw_cloud_calls_total{action}`, e.g. `assume_role_with_web_identity`.
    pub label: &'static str,
    /// How long the account's bucket pauses after a throttling answer without a hint.
    pub throttle_pause: Duration,
}

impl ExchangeRequest<'_> {
    /// Sends one call of the exchange (`send`: the request and the parsing of its answer) once
    /// the account's limiter lets it, counts and times it like every cloud call, and slows the
    /// account down when the cloud throttles it. Never retried here: a failed exchange fails the
    /// reconcile, which backs off.
    pub async fn call<T>(
        &self,
        call: ExchangeCall,
        send: impl Future<Output = Result<T, ExchangeError>>,
    ) -> Result<T, ExchangeError> {
        self.limiter.acquire(call.action).await;
        let started = Instant::now();
        let result = send.await;
        let error = result.as_ref().err().map(ExchangeError::cloud_error);
        let outcome = error.map(|e| e.kind.label());
        self.metrics.cloud_call(call.provider, CloudAction::Exchange(call.label), outcome, started.elapsed());
        if let Some(e) = error
            && e.kind == ErrorKind::Throttled
        {
            self.metrics.throttled(call.provider);
            self.limiter.throttled(call.action, e.retry_after.unwrap_or(call.throttle_pause));
        }
        result
    }
}

/// The cloud's part of `spec.workloadIdentity` (`field`: its name there), or why the spec cannot
/// be exchanged.
pub fn params<'a, T>(part: Option<&'a T>, field: &str) -> Result<&'a T, CloudError> {
    part.ok_or_else(|| {
        CloudError::new(ErrorKind::InvalidRequest, format!("spec.workloadIdentity.{field} is not set"))
            .with_refusal(Refusal::InvalidSpec)
    })
}

/// Temporary credentials and when they stop working.
#[derive(Debug, Clone)]
pub struct Temporary {
    pub credentials: Credentials,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Temporary {
    /// A temporary key pair with its session token, as both clouds issue them.
    pub fn new(
        key_id: impl Into<String>,
        secret: impl Into<String>,
        session_token: impl Into<String>,
        domain_id: Option<String>,
        expires_at: i64,
    ) -> Temporary {
        Temporary {
            credentials: Credentials {
                key_id: key_id.into(),
                secret: SecretValue::new(secret),
                session_token: Some(SecretValue::new(session_token)),
                domain_id,
            },
            expires_at,
        }
    }
}

/// Why the cloud refused to trade the token, where a person must change something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The role or identity provider the workload identity names does not exist.
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
    /// The cloud's error, refused or not.
    pub fn cloud_error(&self) -> &CloudError {
        match self {
            ExchangeError::Refused { error, .. } | ExchangeError::Call(error) => error,
        }
    }

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
