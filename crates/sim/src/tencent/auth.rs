//! The checks both APIs make of every request's credentials, in API 3.0 terms (API 2.0 renders
//! them with its numeric codes), and API 2.0's replay protection.

use std::time::Duration;

use super::{CallError, Sim, TIMESTAMP_WINDOW_SECS, now_unix};
use crate::core::SimCredential;

/// The accepted key pair `secret_id` names. Tencent's API keys all start with `AKID`; anything
/// else is not an API key at all.
pub(super) fn credential(sim: &Sim, secret_id: &str) -> Result<SimCredential, CallError> {
    if !secret_id.starts_with("AKID") {
        return Err(CallError::new(
            "AuthFailure.InvalidSecretId",
            "The SecretId is not a Cloud API key (API keys start with AKID).",
        ));
    }
    sim.core.credential(secret_id).ok_or_else(|| {
        CallError::new(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found; check that it exists and is enabled.",
        )
    })
}

/// The request's unix timestamp, refused when it is more than the window away from now.
pub(super) fn timestamp(name: &str, text: &str) -> Result<i64, CallError> {
    let ts: i64 =
        text.trim().parse().map_err(|_| CallError::new("InvalidParameter", format!("{name} must be unix seconds.")))?;
    if (now_unix() - ts).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(CallError::new(
            "AuthFailure.SignatureExpire",
            format!("Signature expired: {name} is more than {TIMESTAMP_WINDOW_SECS} seconds from the server time."),
        ));
    }
    Ok(ts)
}

/// Temporary credentials must come with their token (`X-TC-Token` in API 3.0, `Token` in API
/// 2.0), and are refused once expired: `AuthFailure.TokenFailure` either way, API 3.0's common
/// error code for an invalid token (its table of common error codes: "Invalid token").
pub(super) fn token(sim: &Sim, credential: &SimCredential, sent: Option<&str>) -> Result<(), CallError> {
    match &credential.token {
        Some(token) if sent != Some(token.as_str()) => {
            Err(CallError::new("AuthFailure.TokenFailure", "The token is missing or invalid."))
        }
        _ if sim.core.expired(&credential.key_id) => Err(CallError::new(
            "AuthFailure.TokenFailure",
            "The temporary credentials have expired; ask STS for new ones.",
        )),
        _ => Ok(()),
    }
}

/// The `Nonce`s of authenticated API 2.0 requests, per SecretId: a request that repeats one is a
/// replay. Timestamps may be off either way by the window, so a nonce is kept twice as long.
pub(super) fn nonces() -> crate::nonces::Nonces<(String, u64)> {
    crate::nonces::Nonces::new(Duration::from_secs(TIMESTAMP_WINDOW_SECS as u64 * 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_the_window_expire() {
        let now = now_unix();
        assert_eq!(timestamp("T", &now.to_string()).unwrap(), now);
        assert_eq!(timestamp("T", &(now - 301).to_string()).unwrap_err().code, "AuthFailure.SignatureExpire");
        assert_eq!(timestamp("T", &(now + 301).to_string()).unwrap_err().code, "AuthFailure.SignatureExpire");
        assert_eq!(timestamp("T", "soon").unwrap_err().code, "InvalidParameter");
    }
}
