//! Classifies Tencent's error codes (API 3.0 strings, API 2.0 numbers with a `codeDesc`) into
//! the shared [`ErrorKind`]s. Messages come from the response and our own text only.

use std::time::Duration;

use crate::cloud::{CloudError, ErrorKind};

/// Tencent asks for no particular wait; its SDK backs off from about a second.
const THROTTLE_WAIT: Duration = Duration::from_secs(1);

pub(crate) fn v3_error(code: &str, message: &str, request_id: Option<String>) -> CloudError {
    use ErrorKind::*;
    let kind = match code {
        c if c.starts_with("RequestLimitExceeded") => Throttled,
        "UnsupportedOperation.InsufficientFunds" => InsufficientFunds,
        "UnsupportedOperation.NatGatewayIsBusy" | "UnsupportedOperation.UnpaidOrderAlreadyExists" => Busy,
        c if c.starts_with("ResourceInUse") => Busy,
        // Before the NotFound rule: AuthFailure.SecretIdNotFound is a credentials problem.
        c if c.starts_with("AuthFailure") || c.starts_with("UnauthorizedOperation") => Auth,
        c if c.starts_with("ResourceNotFound") || c.ends_with("NotFound") => NotFound,
        c if c.starts_with("UnsupportedOperation") => Unsupported,
        c if c.starts_with("InvalidParameter")
            || c.starts_with("MissingParameter")
            || c.starts_with("UnknownParameter")
            || c == "InvalidAction"
            || c == "NoSuchVersion" =>
        {
            InvalidRequest
        }
        // InternalError, ServiceUnavailable and anything unknown: treating an unknown code as
        // "outcome unknown" makes the controller look at the gateway before trying again, which
        // is safe whatever the code meant.
        _ => Transient,
    };
    let message = match code {
        "AuthFailure.SignatureExpire" => {
            format!("{message} (the clock of the host running the operator is probably off)")
        }
        _ => message.to_owned(),
    };
    finish(CloudError::new(kind, message).with_code(code).with_request_id(request_id))
}

pub(crate) fn v2_error(code: i64, code_desc: Option<&str>, message: &str) -> CloudError {
    use ErrorKind::*;
    let desc = code_desc.filter(|d| !d.is_empty() && *d != "Success");
    // `codeDesc` is more precise than the number where it names the condition.
    let by_desc = desc.and_then(|d| match d {
        d if d.starts_with("AuthFailure") => Some(Auth),
        d if d.ends_with("NotFound") => Some(NotFound),
        "UnsupportedOperation.InsufficientFunds" => Some(InsufficientFunds),
        d if d.contains("Busy") || d.starts_with("ResourceInUse") => Some(Busy),
        d if d.starts_with("UnsupportedOperation") => Some(Unsupported),
        _ => None,
    });
    let kind = by_desc.unwrap_or(match code {
        4000 | 4600 | 6100 => InvalidRequest,
        4100..=4105 | 4500 => Auth,
        4400 => Throttled,
        5000 => NotFound,
        // "Operation failed": the cloud answered, so the call was definitely not applied (not
        // Transient's "outcome unknown"), and API 2.0 answers it when the gateway's current
        // state refuses the change (e.g. another change running); retrying later is right.
        5100 => Busy,
        5300 => InsufficientFunds,
        _ => Transient,
    });
    let message = match code {
        4500 => format!(
            "{message} (Tencent Cloud took the request for a replay: the clock of the host running the operator is probably off)"
        ),
        4600 => format!("{message} (API 2.0 takes HTTPS only: use an https:// endpoint)"),
        _ => message.to_owned(),
    };
    let code = match desc {
        Some(d) => format!("{code}/{d}"),
        None => code.to_string(),
    };
    finish(CloudError::new(kind, message).with_code(code))
}

/// Whether the cloud refused a call because an id in it is not shaped like an id (API 3.0
/// `InvalidParameterValue.Malformed`, API 2.0 4000 with that `codeDesc`).
pub(crate) fn malformed_id(e: &CloudError) -> bool {
    e.code.as_deref().is_some_and(|c| c.ends_with("InvalidParameterValue.Malformed"))
}

fn finish(e: CloudError) -> CloudError {
    if e.kind == ErrorKind::Throttled { e.with_retry_after(THROTTLE_WAIT) } else { e }
}

/// An answer that is not the API's JSON envelope.
pub(crate) fn bad_answer(status: reqwest::StatusCode, body: &[u8]) -> CloudError {
    let kind = if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
        ErrorKind::InvalidRequest
    } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        ErrorKind::Throttled
    } else {
        ErrorKind::Transient
    };
    let hint = if kind == ErrorKind::InvalidRequest { " (check the endpoint)" } else { "" };
    finish(CloudError::new(
        kind,
        // Never the body itself: it reaches status and Events.
        format!(
            "unexpected answer from the Tencent Cloud API, HTTP {status}{hint}: {} bytes that are not the API's JSON",
            body.len()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_codes() {
        let kind = |c| v3_error(c, "m", None).kind;
        assert_eq!(kind("RequestLimitExceeded"), ErrorKind::Throttled);
        assert_eq!(kind("RequestLimitExceeded.UinLimitExceeded"), ErrorKind::Throttled);
        assert_eq!(kind("InternalError"), ErrorKind::Transient);
        assert_eq!(kind("ServiceUnavailable"), ErrorKind::Transient);
        assert_eq!(kind("UnsupportedOperation.NatGatewayIsBusy"), ErrorKind::Busy);
        assert_eq!(kind("UnsupportedOperation.UnpaidOrderAlreadyExists"), ErrorKind::Busy);
        assert_eq!(kind("ResourceInUse"), ErrorKind::Busy);
        assert_eq!(kind("ResourceNotFound"), ErrorKind::NotFound);
        assert_eq!(kind("InvalidParameterValue.NotFound"), ErrorKind::NotFound);
        assert_eq!(kind("AuthFailure.SignatureFailure"), ErrorKind::Auth);
        assert_eq!(kind("AuthFailure.SecretIdNotFound"), ErrorKind::Auth);
        assert_eq!(kind("UnsupportedOperation.InsufficientFunds"), ErrorKind::InsufficientFunds);
        assert_eq!(kind("UnsupportedOperation"), ErrorKind::Unsupported);
        assert_eq!(kind("InvalidParameterValue.Range"), ErrorKind::InvalidRequest);
        assert_eq!(kind("MissingParameter"), ErrorKind::InvalidRequest);
        let e = v3_error("RequestLimitExceeded", "slow", Some("req-1".into()));
        assert_eq!(
            (e.code.as_deref(), e.request_id.as_deref(), e.retry_after),
            (Some("RequestLimitExceeded"), Some("req-1"), Some(THROTTLE_WAIT))
        );
        assert!(v3_error("AuthFailure.SignatureExpire", "expired", None).message.contains("clock"));
        assert!(malformed_id(&v3_error("InvalidParameterValue.Malformed", "m", None)));
        assert!(!malformed_id(&v3_error("InvalidParameterValue.Range", "m", None)));
    }

    #[test]
    fn v2_codes() {
        let kind = |c, d| v2_error(c, d, "m").kind;
        assert_eq!(kind(4000, None), ErrorKind::InvalidRequest);
        for c in 4100..=4105 {
            assert_eq!(kind(c, None), ErrorKind::Auth);
        }
        assert_eq!(kind(4400, None), ErrorKind::Throttled);
        assert_eq!(kind(4500, None), ErrorKind::Auth);
        assert!(v2_error(4500, None, "replay").message.contains("clock"));
        assert_eq!(kind(5000, None), ErrorKind::NotFound);
        assert_eq!(kind(5100, Some("InvalidNatGatewayId.NotFound")), ErrorKind::NotFound);
        assert_eq!(kind(5100, Some("InvalidVpc.NotFound")), ErrorKind::NotFound);
        assert_eq!(kind(5100, Some("UnsupportedOperation.DowngradeNotSupported")), ErrorKind::Unsupported);
        assert_eq!(kind(5100, Some("UnsupportedOperation.NatGatewayIsBusy")), ErrorKind::Busy);
        assert_eq!(kind(5100, None), ErrorKind::Busy);
        assert_eq!(kind(4104, Some("AuthFailure.SecretIdNotFound")), ErrorKind::Auth);
        assert_eq!(kind(5300, None), ErrorKind::InsufficientFunds);
        assert_eq!(kind(6000, None), ErrorKind::Transient);
        assert_eq!(kind(6100, None), ErrorKind::InvalidRequest);
        assert_eq!(
            v2_error(5000, Some("InvalidNatGatewayId.NotFound"), "m").code.as_deref(),
            Some("5000/InvalidNatGatewayId.NotFound")
        );
        assert_eq!(v2_error(4400, None, "m").retry_after, Some(THROTTLE_WAIT));
        assert!(malformed_id(&v2_error(4000, Some("InvalidParameterValue.Malformed"), "m")));
    }
}
