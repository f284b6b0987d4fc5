//! STS (2015-04-01) `AssumeRoleWithOIDC`, the exchange behind RRSA: called unsigned with
//! `OIDCProviderArn`, `RoleArn`, `OIDCToken`, `RoleSessionName` and optional `DurationSeconds`
//! (900-43200, default 3600). The token is verified against the identity provider's JWKS
//! ([`crate::oidc`]) and the trust rule of (`OIDCProviderArn`, `RoleArn`)
//! ([`crate::federation`]); the answer's `Credentials` (`AccessKeyId` `STS.…`,
//! `AccessKeySecret`, `SecurityToken`, `Expiration`) are then accepted, with their token, until
//! they expire, and belong to the role's account (`acs:ram::{account}:role/{name}`).
//!
//! Refusals as documented (HTTP 401 unless said): an unknown provider, no configured keys or an
//! untrusted subject `AuthenticationFail.NoPermission`; an unknown role 404
//! `EntityNotExist.Role`; a bad token `AuthenticationFail.OIDCToken.Invalid`, `.Expired`,
//! `.AudienceNotMatch`, `.InvalidSignature`; an identity provider that cannot be read
//! `AuthenticationFail.OIDCToken.HttpsUrlInvalid`.

use std::time::Duration;

use axum::http::StatusCode;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    answer::ApiError,
    params::{Params, int, required},
    state::Sim,
    world::bss_time,
};
use crate::{
    core::{AssumedRole, DEFAULT_ACCOUNT, SimCredential, SimPrincipal},
    federation::{LETTERS_DIGITS, Refused, random_text},
    oidc::{Rejected, Verified},
};

pub const VERSION: &str = "2015-04-01";
pub const ACTION: &str = "AssumeRoleWithOIDC";

/// The checked parameters.
pub struct Exchange {
    provider: String,
    role: String,
    token: String,
    session: String,
    seconds: u32,
}

impl Exchange {
    pub fn provider(&self) -> &str {
        &self.provider
    }
}

pub fn read(params: &Params) -> Result<Exchange, ApiError> {
    let session = required(params, "RoleSessionName")?.to_owned();
    // Documented: 2-64 letters, digits and `.@-_`.
    let session_ok =
        (2..=64).contains(&session.len()) && session.bytes().all(|b| b.is_ascii_alphanumeric() || b".@-_".contains(&b));
    if !session_ok {
        return Err(ApiError::bad("InvalidParameter.RoleSessionName", "RoleSessionName must be 2-64 of a-zA-Z0-9.@-_"));
    }
    Ok(Exchange {
        provider: required(params, "OIDCProviderArn")?.to_owned(),
        role: required(params, "RoleArn")?.to_owned(),
        token: required(params, "OIDCToken")?.to_owned(),
        session,
        seconds: int(params, "DurationSeconds", 3600, 900..=43200)?,
    })
}

/// Verifies the token; the caller throttles and issues ([`issue`]).
pub async fn authorize(sim: &Sim, x: &Exchange) -> Result<Verified, ApiError> {
    let no_permission = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "AuthenticationFail.NoPermission", m);
    let token = |code: &str, m: String| {
        ApiError::new(StatusCode::UNAUTHORIZED, &format!("AuthenticationFail.OIDCToken.{code}"), m)
    };
    match sim.core.federation.authorize(&x.provider, Some(&x.role), &x.token).await {
        Ok(verified) => Ok(verified),
        Err(Refused::UnknownProvider | Refused::NoVerifier) => Err(no_permission("No such OIDC Provider registered.")),
        Err(Refused::UnknownRole) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "EntityNotExist.Role", "The specified Role not exists."))
        }
        Err(Refused::SubjectNotTrusted(_)) => Err(no_permission("There is no permission")),
        Err(Refused::Token(why)) => Err(match why {
            Rejected::Expired => token("Expired", "This JsonWebToken is expired.".into()),
            Rejected::WrongAudience(_) => token("AudienceNotMatch", "Invalid audience.".into()),
            Rejected::BadSignature | Rejected::UnknownKey => {
                token("InvalidSignature", "OIDC token validate failed: invalid signature.".into())
            }
            Rejected::Unreachable(e) => token("HttpsUrlInvalid", e),
            other => token("Invalid", other.to_string()),
        }),
    }
}

/// New temporary credentials for the role, accepted from now until they expire.
pub fn issue(sim: &Sim, x: &Exchange, verified: &Verified) -> Value {
    let lifetime = sim.core.federation.lifetime(Duration::from_secs(u64::from(x.seconds)));
    let expires_at = crate::oidc::unix_now() + lifetime.as_secs();
    let credential = SimCredential {
        key_id: format!("STS.{}", random_text(24, LETTERS_DIGITS)),
        secret: random_text(44, LETTERS_DIGITS),
        token: Some(random_text(120, LETTERS_DIGITS)),
    };
    sim.core.add_temporary_credential(credential.clone(), expires_at);
    let account = role_account(&x.role);
    let role = AssumedRole { role_arn: x.role.clone(), session_name: x.session.clone() };
    sim.core.set_principal(&credential.key_id, SimPrincipal { account, role: Some(role) });
    let expiration = Timestamp::from_second(i64::try_from(expires_at).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX);
    let role_name = x.role.rsplit('/').next().unwrap_or_default();
    json!({
        "Credentials": {
            "AccessKeyId": credential.key_id,
            "AccessKeySecret": credential.secret,
            "SecurityToken": credential.token,
            "Expiration": bss_time(expiration),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": format!("3{:018}:{}", role_name.len(), x.session),
            "Arn": format!("{}/{}", x.role.replace(":role/", ":assumed-role/"), x.session),
        },
        "OIDCTokenInfo": { "Subject": verified.subject },
    })
}

/// The account in `acs:ram::{account}:role/{name}`, else [`DEFAULT_ACCOUNT`].
fn role_account(arn: &str) -> String {
    arn.strip_prefix("acs:ram::")
        .and_then(|rest| rest.split_once(':'))
        .map(|(account, _)| account)
        .filter(|a| !a.is_empty())
        .unwrap_or(DEFAULT_ACCOUNT)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_read_from_the_role_arn() {
        assert_eq!(role_account("acs:ram::1234567890:role/natgw"), "1234567890");
        assert_eq!(role_account("natgw"), DEFAULT_ACCOUNT);
        let p: Params = [("RoleSessionName", "x"), ("OIDCProviderArn", "p"), ("RoleArn", "r"), ("OIDCToken", "t")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert_eq!(read(&p).err().map(|e| e.code).as_deref(), Some("InvalidParameter.RoleSessionName"));
    }
}
