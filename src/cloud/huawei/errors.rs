//! Maps a Huawei error answer to a [`CloudError`]. Huawei warns that the HTTP status "may not be
//! accurate", so the code decides and the status is only the fallback.

use std::time::Duration;

use crate::cloud::{CloudError, ErrorKind};

/// Huawei asks for 2-5 s after a throttled call; the controller may add its own back-off.
pub const THROTTLE_RETRY_AFTER: Duration = Duration::from_secs(2);

/// What the code alone says, if it is one the operator knows.
fn kind_of_code(code: &str) -> Option<ErrorKind> {
    // API Gateway codes come spelled `APIG.` and `APIGW.`.
    let apig = code.strip_prefix("APIGW.").or_else(|| code.strip_prefix("APIG."));
    if let Some(n) = apig {
        return match n {
            "0308" => Some(ErrorKind::Throttled),
            // 0301 bad AK/SK or signature, 0302 IP not allowed, 0303 expired, 0304-0307 other
            // authentication and authorisation failures.
            n if n.starts_with("03") => Some(ErrorKind::Auth),
            // The API does not exist at this endpoint: a wrong endpoint, not a missing gateway.
            "0101" => Some(ErrorKind::InvalidRequest),
            _ => None,
        };
    }
    Some(match code {
        "NAT.0001" | "NAT.0002" | "NAT.1010" | "CBC.0100" => ErrorKind::InvalidRequest,
        // `CancelCustomerOrder`'s definite refusals (see [`hint_of_code`]): the controller learns
        // what became of the order from its status, so none of them is an auth error that stalls.
        "CBC.99005010" | "CBC.30000010" | "CBC.99000089" => ErrorKind::InvalidRequest,
        // 0102 "The system is busy", 0103 "NatGateway ... is not ACTIVE".
        "NAT.0102" | "NAT.0103" => ErrorKind::Busy,
        "NAT.0007" | "CBC.0999" => ErrorKind::Transient,
        "NatGatewayNotFound" => ErrorKind::NotFound,
        "CBC.0151" | "CBC.0154" | "CBC.0155" => ErrorKind::Auth,
        "CBC.99005003" => ErrorKind::InsufficientFunds,
        "CBC.99007197" => ErrorKind::Throttled,
        _ => return None,
    })
}

/// What to do about a code whose own message does not say, appended to the cloud's message.
fn hint_of_code(code: &str) -> Option<&'static str> {
    Some(match code {
        // "The order status does not allow cancellation": paid (processing or completed) or
        // cancelled already, e.g. paid by someone just before the cancellation arrived.
        "CBC.99005010" => {
            "BSS cancels only orders pending payment; the order's status tells whether it was paid or cancelled"
        }
        // "Invalid order": BSS does not know this order id (or not for this account).
        "CBC.30000010" => "BSS does not know this order for this account",
        _ => return None,
    })
}

fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        429 => ErrorKind::Throttled,
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Busy,
        400 | 405 | 413 | 415 | 422 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Transient,
    }
}

/// Classifies one error answer. `message` comes from the response body, never from the request.
pub fn classify(status: u16, code: Option<&str>, message: &str, request_id: Option<String>) -> CloudError {
    let lower = message.to_ascii_lowercase();
    let kind = code
        .and_then(kind_of_code)
        .or_else(|| {
            (lower.contains("insufficient balance") || message.contains("余额不足"))
                .then_some(ErrorKind::InsufficientFunds)
        })
        .unwrap_or_else(|| kind_of_status(status));
    let is_expired = code.is_some_and(|c| c.ends_with(".0303"));
    let text = if is_expired {
        format!(
            "{message}: the request's X-Sdk-Date is more than 15 minutes from Huawei Cloud's clock; check this host's clock (NTP)"
        )
    } else if message.is_empty() {
        format!("Huawei Cloud answered HTTP {status}")
    } else {
        message.to_owned()
    };
    let text = match code.and_then(hint_of_code) {
        Some(hint) => format!("{text}: {hint}"),
        None => text,
    };
    let mut err = CloudError::new(kind, text).with_request_id(request_id);
    if let Some(code) = code {
        err = err.with_code(code);
    }
    if kind == ErrorKind::Throttled {
        err = err.with_retry_after(THROTTLE_RETRY_AFTER);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, code: Option<&str>) -> ErrorKind {
        classify(status, code, "m", None).kind
    }

    #[test]
    fn the_code_decides_over_the_status() {
        assert_eq!(kind(400, Some("APIG.0308")), ErrorKind::Throttled);
        assert_eq!(kind(429, Some("APIGW.0308")), ErrorKind::Throttled);
        assert_eq!(kind(200, Some("NAT.0103")), ErrorKind::Busy);
        assert_eq!(kind(500, Some("NAT.0002")), ErrorKind::InvalidRequest);
        assert_eq!(kind(400, Some("NAT.1010")), ErrorKind::InvalidRequest);
        assert_eq!(kind(400, Some("APIGW.0101")), ErrorKind::InvalidRequest);
        assert_eq!(kind(401, Some("APIG.0301")), ErrorKind::Auth);
        assert_eq!(kind(403, Some("APIGW.0302")), ErrorKind::Auth);
        assert_eq!(kind(400, Some("CBC.99005003")), ErrorKind::InsufficientFunds);
        assert_eq!(kind(404, Some("NatGatewayNotFound")), ErrorKind::NotFound);
    }

    #[test]
    fn unknown_codes_fall_back_to_the_status() {
        assert_eq!(kind(404, Some("NAT.9999")), ErrorKind::NotFound);
        assert_eq!(kind(503, None), ErrorKind::Transient);
        assert_eq!(kind(500, Some("NAT.9999")), ErrorKind::Transient);
        assert_eq!(kind(429, None), ErrorKind::Throttled);
        assert_eq!(kind(400, None), ErrorKind::InvalidRequest);
    }

    #[test]
    fn throttling_carries_a_retry_hint_and_expiry_blames_the_clock() {
        let e = classify(429, Some("APIG.0308"), "The throttling threshold has been reached", Some("r1".into()));
        assert_eq!(e.retry_after, Some(THROTTLE_RETRY_AFTER));
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        let e = classify(401, Some("APIGW.0303"), "Incorrect app authentication information: signature expired", None);
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("clock"), "{e}");
    }

    /// `CancelCustomerOrder`'s documented codes: denied access is an auth error, a BSS failure
    /// transient, and the refusals definite but never auth or unsupported (the order is polled).
    #[test]
    fn order_cancellation_codes_are_classified_honestly() {
        assert_eq!(kind(403, Some("CBC.0151")), ErrorKind::Auth);
        assert_eq!(kind(500, Some("CBC.0999")), ErrorKind::Transient);
        for refusal in ["CBC.0100", "CBC.30000010", "CBC.99005010", "CBC.99000089"] {
            assert_eq!(kind(400, Some(refusal)), ErrorKind::InvalidRequest, "{refusal}");
        }
        let e = classify(400, Some("CBC.99005010"), "The order status does not allow cancellation.", None);
        assert!(e.message.contains("pending payment"), "{e}");
        assert!(e.to_string().contains("CBC.99005010"), "{e}");
    }

    #[test]
    fn balance_messages_are_insufficient_funds() {
        assert_eq!(
            classify(400, Some("NAT.5555"), "Insufficient balance in the account", None).kind,
            ErrorKind::InsufficientFunds
        );
    }
}
