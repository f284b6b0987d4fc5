//! The one error type every cloud client returns, classified so the controller can act on it
//! without knowing which cloud produced it.

use std::time::Duration;

/// What the controller can do about a failed cloud call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The cloud's rate limit answered; retry after the hint, slowing the whole account down.
    Throttled,
    /// 5xx, timeouts, connection resets: the outcome of a mutating call is unknown.
    Transient,
    /// The gateway is busy with another change; retry later.
    Busy,
    /// The gateway (or order) does not exist.
    NotFound,
    /// Bad or expired credentials, rejected signature, missing permission.
    Auth,
    /// The cloud rejected the parameters.
    InvalidRequest,
    /// The cloud has no way to make this change (e.g. downsize on Tencent API 2.0).
    Unsupported,
    /// The account cannot pay for the change.
    InsufficientFunds,
    /// Not sent: this replica no longer surely holds the leader lease (see `crate::fence`).
    NotLeader,
}

impl ErrorKind {
    /// Retrying without a change to the spec or the Secret cannot help.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ErrorKind::NotFound
                | ErrorKind::Auth
                | ErrorKind::InvalidRequest
                | ErrorKind::Unsupported
                | ErrorKind::InsufficientFunds
        )
    }

    /// A mutating call that failed this way may still have been applied by the cloud.
    pub fn outcome_unknown(self) -> bool {
        matches!(self, ErrorKind::Transient)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::Transient => "transient error",
            ErrorKind::Busy => "gateway busy",
            ErrorKind::NotFound => "not found",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InsufficientFunds => "insufficient funds",
            ErrorKind::NotLeader => "not the leader",
        })
    }
}

/// A failed cloud call. Holds the cloud's own code and request id for the user; never any part
/// of the credentials (clients build messages only from response bodies and their own text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct CloudError {
    pub kind: ErrorKind,
    /// The cloud's code, e.g. `RequestLimitExceeded`, `APIG.0308`, `4104`.
    pub code: Option<String>,
    pub request_id: Option<String>,
    pub message: String,
    /// How long the cloud asked us to wait, when it said.
    pub retry_after: Option<Duration>,
}

impl CloudError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CloudError { kind, code: None, request_id: None, message: message.into(), retry_after: None }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }
}

impl std::fmt::Display for CloudError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code}")?;
            if let Some(id) = &self.request_id {
                write!(f, ", request id {id}")?;
            }
            f.write_str(")")?;
        } else if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Maps a reqwest transport failure: the request may or may not have reached the cloud.
impl From<reqwest::Error> for CloudError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest errors can carry the URL, never credentials (those travel in headers or the
        // signed form body), so the message is safe to keep.
        let what = if e.is_timeout() {
            "the cloud API did not answer in time"
        } else if e.is_connect() {
            "could not connect to the cloud API"
        } else if e.is_decode() {
            "the cloud API's answer could not be read"
        } else {
            "the request to the cloud API failed"
        };
        CloudError::new(ErrorKind::Transient, format!("{what}: {}", without_url(&e)))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() { e.to_string() } else { parts.join(": ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_keeps_code_and_request_id() {
        let e = CloudError::new(ErrorKind::Throttled, "slow down")
            .with_code("RequestLimitExceeded")
            .with_request_id(Some("req-1".into()));
        assert_eq!(e.to_string(), "throttled: slow down (code RequestLimitExceeded, request id req-1)");
    }

    #[test]
    fn terminal_and_unknown_outcome_are_disjoint() {
        for kind in [
            ErrorKind::Throttled,
            ErrorKind::Transient,
            ErrorKind::Busy,
            ErrorKind::NotFound,
            ErrorKind::Auth,
            ErrorKind::InvalidRequest,
            ErrorKind::Unsupported,
            ErrorKind::InsufficientFunds,
        ] {
            assert!(!(kind.is_terminal() && kind.outcome_unknown()), "{kind}");
        }
    }
}
