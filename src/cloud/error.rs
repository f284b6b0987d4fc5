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

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Throttled,
        ErrorKind::Transient,
        ErrorKind::Busy,
        ErrorKind::NotFound,
        ErrorKind::Auth,
        ErrorKind::InvalidRequest,
        ErrorKind::Unsupported,
        ErrorKind::InsufficientFunds,
        ErrorKind::NotLeader,
    ];

    /// The kind's two spellings, kept side by side so they cannot drift apart: the metric label
    /// (`natgw_cloud_calls_total{outcome}`) and the words that start an error message.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            ErrorKind::Throttled => ("throttled", "throttled"),
            ErrorKind::Transient => ("transient", "transient error"),
            ErrorKind::Busy => ("busy", "gateway busy"),
            ErrorKind::NotFound => ("not_found", "not found"),
            ErrorKind::Auth => ("auth", "authentication failed"),
            ErrorKind::InvalidRequest => ("invalid_request", "invalid request"),
            ErrorKind::Unsupported => ("unsupported", "unsupported"),
            ErrorKind::InsufficientFunds => ("insufficient_funds", "insufficient funds"),
            ErrorKind::NotLeader => ("not_leader", "not the leader"),
        }
    }

    /// The `outcome` label of a failed cloud call.
    pub fn label(self) -> &'static str {
        self.names().0
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.names().1)
    }
}

/// Why a spec was refused before any call was made; shown as its own stall reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// An endpoint not on the installer's allow-list.
    EndpointNotAllowed,
    /// A region or id that may not reach a host or a path.
    InvalidSpec,
    /// A temporary token, a ServiceAccount token or a Tencent API 2.0 `SecretId` would cross a
    /// plain-HTTP endpoint, which the installer did not allow (`--allow-http-credentials`).
    InsecureEndpoint,
}

/// Longest message kept: cloud text reaches status and Events, and a hostile or broken endpoint
/// must not be able to fill them.
pub const MAX_MESSAGE: usize = 256;
/// Longest code or request id kept.
const MAX_CODE: usize = 64;

/// A failed cloud call. Holds the cloud's own code, message and request id for the user, each
/// length-capped at construction; clients never put a raw response body into one, and
/// [`CloudError::scrubbed`] removes credential values an endpoint may have echoed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct CloudError {
    pub kind: ErrorKind,
    /// The cloud's code, e.g. `RequestLimitExceeded`, `APIG.0308`, `4104`.
    pub code: Option<String>,
    pub request_id: Option<String>,
    pub message: String,
    /// How long the cloud asked us to wait, when it said.
    pub retry_after: Option<Duration>,
    /// Set for refusals made before any call, which the user reads apart from the kind's.
    pub refusal: Option<Refusal>,
}

impl CloudError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = capped(&message.into(), MAX_MESSAGE);
        CloudError { kind, code: None, request_id: None, message, retry_after: None, refusal: None }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(capped(&code.into(), MAX_CODE));
        self
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id.map(|id| capped(&id, MAX_CODE));
        self
    }

    pub fn with_refusal(mut self, refusal: Refusal) -> Self {
        self.refusal = Some(refusal);
        self
    }

    /// The same error with every occurrence of each of `secrets` (key id, secret, token) in its
    /// texts replaced: an endpoint may echo what it was sent.
    pub fn scrubbed(mut self, secrets: &[&str]) -> Self {
        self.message = scrub(&self.message, secrets);
        self.code = self.code.map(|c| scrub(&c, secrets));
        self.request_id = self.request_id.map(|r| scrub(&r, secrets));
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

/// `text` without control characters, cut to `max` characters (marked with `…`).
fn capped(text: &str, max: usize) -> String {
    let clean = text.chars().map(|c| if c.is_control() { ' ' } else { c });
    let mut out: String = clean.clone().take(max).collect();
    if clean.count() > max {
        out.push('…');
    }
    out
}

/// Replaces each non-empty `secrets` entry in `text` with `<redacted>`, a secret's start that the
/// length cap left at the end of `text`, and echoed request signatures (`Signature=...`), which
/// would let a reader replay the signed request.
fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = secrets.iter().filter(|s| !s.is_empty()).fold(text.to_owned(), |t, s| t.replace(s, "<redacted>"));
    out = without_signatures(&out);
    if let Some(body) = out.strip_suffix('…') {
        let cut = secrets.iter().find_map(|s| {
            (4..s.len()).rev().find_map(|k| s.get(..k).filter(|prefix| body.ends_with(prefix)).map(str::len))
        });
        if let Some(n) = cut {
            out = format!("{}<redacted>…", &body[..body.len() - n]);
        }
    }
    out
}

fn without_signatures(text: &str) -> String {
    const KEY: &str = "Signature=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        let (before, after) = rest.split_at(at + KEY.len());
        out.push_str(before);
        let end =
            after.find(|c: char| c.is_whitespace() || matches!(c, ',' | '&' | '"' | '\'' | ';')).unwrap_or(after.len());
        if end > 0 {
            out.push_str("<redacted>");
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
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
    fn texts_are_capped_and_secrets_scrubbed() {
        let body = format!("token=TOKEN123 {}\r\ninjected", "Z".repeat(10_000));
        let e = CloudError::new(ErrorKind::Transient, body)
            .with_code("C".repeat(500))
            .with_request_id(Some("TOKEN123".into()))
            .scrubbed(&["TOKEN123", ""]);
        // Capped, with a mark; "<redacted>" is two characters longer than what it replaced.
        assert_eq!(e.message.chars().count(), MAX_MESSAGE + 1 + 2);
        assert!(e.message.ends_with("ZZZ…"));
        assert!(e.message.starts_with("token=<redacted> ZZZ"), "{}", e.message);
        assert!(!e.message.contains('\n'));
        assert_eq!(e.code.as_deref().map(|c| c.chars().count()), Some(MAX_CODE + 1));
        assert_eq!(e.request_id.as_deref(), Some("<redacted>"));
        let shown = e.to_string();
        assert!(!shown.contains("TOKEN123") && shown.len() < 500, "{shown}");
        let signed = CloudError::new(ErrorKind::Auth, "Authorization: SDK-HMAC-SHA256 Access=AK, Signature=0a1b2c; x")
            .scrubbed(&[]);
        assert_eq!(signed.message, "Authorization: SDK-HMAC-SHA256 Access=AK, Signature=<redacted>; x");
        // The cap cut through the token: its start goes too.
        let cut = CloudError::new(ErrorKind::Transient, format!("{}SECRETTOKEN", "a".repeat(MAX_MESSAGE - 6)));
        let cut = cut.scrubbed(&["SECRETTOKEN"]);
        assert!(cut.message.ends_with("a<redacted>…"), "{}", cut.message);
    }

    #[test]
    fn terminal_and_unknown_outcome_are_disjoint() {
        for kind in ErrorKind::ALL {
            assert!(!(kind.is_terminal() && kind.outcome_unknown()), "{kind}");
        }
    }
}
