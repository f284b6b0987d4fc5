//! What a cloud's STS knows besides the token it is shown: the identity provider it trusts (an
//! [`OidcVerifier`]), the trust rules that say which subjects may take which role, and how long
//! the temporary credentials it issues live. Both simulators share this shape; each answers in
//! its own protocol (Tencent `AssumeRoleWithWebIdentity`, Huawei `CreateTokenWithIdToken`).
//!
//! Control API (JSON), merged into every simulator's `/_sim/...` routes:
//! - `PUT /_sim/oidc` (an [`OidcConfig`]): where the identity provider's discovery is read
//! - `POST /_sim/trust-rules` (a [`TrustRule`]), `GET /_sim/trust-rules`, `DELETE /_sim/trust-rules`
//! - `PUT /_sim/credential-lifetime` (`{"maxSeconds": N}`, `null` lifts the cap): temporary
//!   credentials live at most this long, whatever duration the caller asks for (as a role's
//!   maximum session duration does), so tests can watch them expire

use std::{
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{post, put},
};
use serde::{Deserialize, Serialize};

use crate::oidc::{OidcConfig, OidcVerifier, Rejected, Verified};

/// Who may take a role: tokens from the identity provider `provider_id` whose `aud` holds
/// `audience` and whose `sub` is one of `subjects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustRule {
    /// Tencent: the `ProviderId` of the OIDC identity provider; Huawei: the identity provider
    /// id sent in `X-Idp-Id`.
    pub provider_id: String,
    /// Tencent: the role (`qcs::cam::uin/<uin>:roleName/<name>`). Huawei has no role in the
    /// exchange (the identity provider's mapping grants the permissions): leave it out.
    #[serde(default)]
    pub role_arn: Option<String>,
    pub audience: String,
    /// e.g. `system:serviceaccount:team-a:natgw`.
    pub subjects: Vec<String>,
}

/// A simulator's federation settings at start.
#[derive(Debug, Clone, Default)]
pub struct FederationConfig {
    pub oidc: Option<OidcConfig>,
    pub trust_rules: Vec<TrustRule>,
    /// The longest temporary credentials (and Huawei's federated tokens) live.
    pub max_credential_lifetime: Option<Duration>,
}

/// Why an exchange was refused, before each cloud words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No trust rule names this identity provider.
    UnknownProvider,
    /// The identity provider is known, but no rule of it names this role.
    UnknownRole,
    /// No identity provider's discovery is configured (`PUT /_sim/oidc`).
    NoVerifier,
    /// The token failed a check, or the identity provider could not be read.
    Token(Rejected),
    /// The token is valid, but the rule does not list its subject.
    SubjectNotTrusted(String),
}

#[derive(Debug, Default)]
pub struct Federation {
    verifier: RwLock<Option<Arc<OidcVerifier>>>,
    rules: Mutex<Vec<TrustRule>>,
    max_lifetime: Mutex<Option<Duration>>,
    secrets: Secrets,
}

/// Every token shown to the simulator's STS / IAM and every secret it issued.
#[derive(Default)]
struct Secrets(Mutex<Vec<String>>);

/// Secrets: only their number is shown.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().unwrap_or_else(|e| e.into_inner()).len();
        f.debug_struct("Secrets").field("kept", &n).finish()
    }
}

impl Federation {
    /// Applies a start configuration.
    pub fn configure(&self, config: FederationConfig) -> Result<(), crate::SimError> {
        if let Some(oidc) = &config.oidc {
            self.set_oidc(oidc)?;
        }
        for rule in config.trust_rules {
            self.add_rule(rule);
        }
        self.set_max_lifetime(config.max_credential_lifetime);
        Ok(())
    }

    pub fn set_oidc(&self, config: &OidcConfig) -> Result<(), crate::SimError> {
        let verifier = OidcVerifier::new(config).map_err(|e| crate::SimError::Config(e.to_string()))?;
        *self.verifier.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(verifier));
        Ok(())
    }

    pub fn add_rule(&self, rule: TrustRule) {
        self.lock_rules().push(rule);
    }

    pub fn rules(&self) -> Vec<TrustRule> {
        self.lock_rules().clone()
    }

    pub fn clear_rules(&self) {
        self.lock_rules().clear();
    }

    pub fn set_max_lifetime(&self, max: Option<Duration>) {
        *self.max_lifetime.lock().unwrap_or_else(|e| e.into_inner()) = max;
    }

    /// `requested`, capped by the configured maximum.
    pub fn lifetime(&self, requested: Duration) -> Duration {
        match *self.max_lifetime.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(max) => requested.min(max),
            None => requested,
        }
    }

    /// Keeps `value` (a token shown, a key id, secret or token issued) for [`Federation::secrets`].
    pub fn remember(&self, value: &str) {
        self.secrets.0.lock().unwrap_or_else(|e| e.into_inner()).push(value.to_owned());
    }

    /// Every web identity token shown to the exchange so far, and every federated token,
    /// temporary key id, secret and session token issued: what a test looks for in what a
    /// client logged or published.
    pub fn secrets(&self) -> Vec<String> {
        self.secrets.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Verifies `token` for the rule of `provider_id` (and `role_arn`, for clouds that name one)
    /// and returns the subject it may act as.
    pub async fn authorize(&self, provider_id: &str, role_arn: Option<&str>, token: &str) -> Result<Verified, Refused> {
        self.remember(token);
        let rules: Vec<TrustRule> =
            self.lock_rules().iter().filter(|r| r.provider_id == provider_id).cloned().collect();
        if rules.is_empty() {
            return Err(Refused::UnknownProvider);
        }
        let rule = rules.into_iter().find(|r| r.role_arn.as_deref() == role_arn).ok_or(Refused::UnknownRole)?;
        let verifier = self.verifier.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or(Refused::NoVerifier)?;
        let verified = verifier.verify(token, &rule.audience).await.map_err(Refused::Token)?;
        if !rule.subjects.contains(&verified.subject) {
            return Err(Refused::SubjectNotTrusted(verified.subject));
        }
        Ok(verified)
    }

    fn lock_rules(&self) -> std::sync::MutexGuard<'_, Vec<TrustRule>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `len` characters drawn from `alphabet`: the keys, secrets and tokens an STS issues.
pub(crate) fn random_text(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// Letters and digits, as both clouds' keys and tokens are.
pub(crate) const LETTERS_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The control routes over a simulator's federation settings.
pub fn control_routes(federation: Arc<Federation>) -> Router {
    Router::new()
        .route("/_sim/oidc", put(set_oidc))
        .route("/_sim/trust-rules", post(add_rule).get(list_rules).delete(clear_rules))
        .route("/_sim/credential-lifetime", put(set_lifetime))
        .with_state(federation)
}

async fn set_oidc(State(federation): State<Arc<Federation>>, Json(config): Json<OidcConfig>) -> (StatusCode, String) {
    match federation.set_oidc(&config) {
        Ok(()) => (StatusCode::NO_CONTENT, String::new()),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn add_rule(State(federation): State<Arc<Federation>>, Json(rule): Json<TrustRule>) -> StatusCode {
    federation.add_rule(rule);
    StatusCode::NO_CONTENT
}

async fn list_rules(State(federation): State<Arc<Federation>>) -> Json<Vec<TrustRule>> {
    Json(federation.rules())
}

async fn clear_rules(State(federation): State<Arc<Federation>>) -> StatusCode {
    federation.clear_rules();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lifetime {
    max_seconds: Option<u64>,
}

async fn set_lifetime(State(federation): State<Arc<Federation>>, Json(lifetime): Json<Lifetime>) -> StatusCode {
    federation.set_max_lifetime(lifetime.max_seconds.map(Duration::from_secs));
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(role: Option<&str>) -> TrustRule {
        TrustRule {
            provider_id: "k8s".into(),
            role_arn: role.map(str::to_owned),
            audience: "sts".into(),
            subjects: vec!["system:serviceaccount:a:w".into()],
        }
    }

    #[tokio::test]
    async fn rules_are_matched_by_provider_then_role_before_any_token_is_read() {
        let f = Federation::default();
        f.add_rule(rule(Some("qcs::cam::uin/1:roleName/natgw")));
        assert_eq!(f.authorize("other", None, "t").await, Err(Refused::UnknownProvider));
        assert_eq!(f.authorize("k8s", Some("qcs::cam::uin/1:roleName/x"), "t").await, Err(Refused::UnknownRole));
        assert_eq!(f.authorize("k8s", Some("qcs::cam::uin/1:roleName/natgw"), "t").await, Err(Refused::NoVerifier));
        let json: TrustRule =
            serde_json::from_str(r#"{"providerId":"k8s","audience":"sts","subjects":["system:serviceaccount:a:w"]}"#)
                .unwrap();
        assert_eq!(json, rule(None));
    }

    #[test]
    fn lifetimes_are_capped_only_when_asked() {
        let f = Federation::default();
        assert_eq!(f.lifetime(Duration::from_secs(7200)), Duration::from_secs(7200));
        f.set_max_lifetime(Some(Duration::from_secs(3)));
        assert_eq!(f.lifetime(Duration::from_secs(7200)), Duration::from_secs(3));
        assert_eq!(f.lifetime(Duration::from_secs(1)), Duration::from_secs(1));
    }
}
