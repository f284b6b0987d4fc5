//! Cloud credentials as read from a Secret. The secret parts are wrapped so that no `Debug`,
//! `Display` or log line can show them.

use secrecy::{ExposeSecret as _, SecretString};

use super::profile::SecretKeys;

/// A secret string: readable only through [`SecretValue::expose`], zeroed when dropped.
/// `secrecy` has no `Eq`/`Hash` (credentials key the client cache), hence this thin wrapper.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(SecretString::from(value.into()))
    }

    /// The raw value, for signing only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for SecretValue {}

impl std::hash::Hash for SecretValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.expose().hash(state);
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One cloud account's access key pair, optionally temporary.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// Tencent SecretId / Huawei AK: an identifier, not a secret.
    pub key_id: String,
    pub secret: SecretValue,
    /// Tencent `Token` / Huawei `X-Security-Token` for temporary credentials.
    pub session_token: Option<SecretValue>,
    /// Huawei account (domain) id, sent as `X-Domain-Id` on global calls such as BSS.
    pub domain_id: Option<String>,
}

impl Credentials {
    /// The credentials a key-value source (a Secret's data, the environment) holds under `keys`;
    /// `Ok(None)` when the key id or the secret is absent. `get` answers a key's trimmed,
    /// non-empty value; its errors name keys, never values.
    pub fn from_keys(
        keys: SecretKeys,
        get: impl Fn(&str) -> Result<Option<String>, String>,
    ) -> Result<Option<Credentials>, String> {
        let (Some(key_id), Some(secret)) = (get(keys.key_id)?, get(keys.secret)?) else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            key_id,
            secret: SecretValue::new(secret),
            session_token: get(keys.token)?.map(SecretValue::new),
            domain_id: match keys.domain_id {
                Some(k) => get(k)?,
                None => None,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials {
            key_id: "AKIDEXAMPLE".into(),
            secret: SecretValue::new("very-secret-key"),
            session_token: Some(SecretValue::new("very-secret-token")),
            domain_id: None,
        };
        let shown = format!("{c:?} {:#?}", c);
        assert!(shown.contains("AKIDEXAMPLE"));
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
