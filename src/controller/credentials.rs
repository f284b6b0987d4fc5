//! Reads a resource's cloud credentials from the Secret in its own namespace.

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, Client};

use crate::cloud::{Credentials, ProviderKind, SecretValue};

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Secret {namespace}/{name} does not exist; create it with the cloud credentials")]
    Missing { namespace: String, name: String },
    #[error("Secret {namespace}/{name} {problem}")]
    Invalid { namespace: String, name: String, problem: String },
    #[error("could not read Secret {namespace}/{name}: {source}")]
    Kube { namespace: String, name: String, source: kube::Error },
}

/// The Secret keys each cloud reads: (key id, secret, session token).
pub fn keys(kind: ProviderKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ProviderKind::TencentV2 | ProviderKind::TencentV3 => ("secretId", "secretKey", "token"),
        ProviderKind::Huawei => ("accessKey", "secretKey", "securityToken"),
    }
}

pub async fn read(
    client: &Client,
    namespace: &str,
    name: &str,
    kind: ProviderKind,
) -> Result<Credentials, CredentialsError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = match api.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(CredentialsError::Missing { namespace: namespace.to_owned(), name: name.to_owned() }),
        Err(source) => {
            return Err(CredentialsError::Kube { namespace: namespace.to_owned(), name: name.to_owned(), source });
        }
    };
    parse(&secret, kind).map_err(|problem| CredentialsError::Invalid {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        problem,
    })
}

/// Extracts credentials; the error names keys, never values.
fn parse(secret: &Secret, kind: ProviderKind) -> Result<Credentials, String> {
    let (id_key, secret_key, token_key) = keys(kind);
    let data = secret.data.clone().unwrap_or_default();
    let get = |key: &str| -> Result<Option<String>, String> {
        match data.get(key) {
            None => Ok(None),
            Some(ByteString(bytes)) => String::from_utf8(bytes.clone())
                .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                .map_err(|_| format!("has a key {key} that is not UTF-8 text")),
        }
    };
    let missing = || {
        let present: Vec<&str> = data.keys().map(String::as_str).collect();
        format!(
            "must have the keys {id_key} and {secret_key} (optionally {token_key}{}); it has: {}",
            if kind == ProviderKind::Huawei { ", domainId" } else { "" },
            if present.is_empty() { "no keys".to_owned() } else { present.join(", ") }
        )
    };
    let (Some(key_id), Some(secret_value)) = (get(id_key)?, get(secret_key)?) else {
        return Err(missing());
    };
    Ok(Credentials {
        key_id,
        secret: SecretValue::new(secret_value),
        session_token: get(token_key)?.map(SecretValue::new),
        domain_id: get("domainId")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(pairs.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn reads_each_clouds_keys() {
        let c = parse(&secret(&[("secretId", "AKID1"), ("secretKey", "s3cr3t\n")]), ProviderKind::TencentV3).unwrap();
        assert_eq!((c.key_id.as_str(), c.secret.expose(), c.session_token.is_none()), ("AKID1", "s3cr3t", true));
        let c = parse(
            &secret(&[("accessKey", "AK"), ("secretKey", "SK"), ("securityToken", "T"), ("domainId", "D")]),
            ProviderKind::Huawei,
        )
        .unwrap();
        assert_eq!(c.session_token.unwrap().expose(), "T");
        assert_eq!(c.domain_id.as_deref(), Some("D"));
    }

    #[test]
    fn wrong_keys_are_named_but_values_are_not() {
        let err =
            parse(&secret(&[("accessKey", "AK"), ("secretKey", "topsecret")]), ProviderKind::TencentV2).unwrap_err();
        assert!(err.contains("secretId and secretKey"), "{err}");
        assert!(err.contains("accessKey, secretKey"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        let err = parse(&secret(&[]), ProviderKind::Huawei).unwrap_err();
        assert!(err.contains("no keys"), "{err}");
    }
}
