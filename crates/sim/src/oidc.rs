//! An OpenID Connect verifier for Kubernetes ServiceAccount tokens, as a cloud's STS runs one
//! against an identity provider it trusts: it reads the issuer's discovery document
//! (`/.well-known/openid-configuration`) and key set (`jwks_uri`, `/openid/v1/jwks` on
//! kube-apiserver), then checks a token's signature (ES256 or RS256, with `ring`), `iss`, `aud`,
//! `exp` and `nbf`, and returns its `sub` (`system:serviceaccount:<ns>:<name>`).
//!
//! The issuer a token names (`https://kubernetes.default.svc...`) does not resolve outside the
//! cluster, so discovery is read from a configured base URL (the API server's own address), and
//! the key set from that same base URL with `jwks_uri`'s path. The key set is fetched again
//! when a token names a key id it does not hold (the API server rotated its keys).

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;

/// How far `exp` and `nbf` may be off, for clocks that differ a little.
pub const LEEWAY: Duration = Duration::from_secs(5);
/// How long a discovery or key-set read may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to read the identity provider's discovery document and keys.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcConfig {
    /// The base URL discovery is read from, e.g. the test API server's `https://127.0.0.1:PORT`.
    pub discovery_url: String,
    /// The CA that signed that server's certificate (PEM), besides the public roots.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// A bearer token allowed to read discovery (kube-apiserver serves it to authenticated
    /// ServiceAccounts and admins only).
    #[serde(default)]
    pub bearer_token: Option<String>,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("discovery_url", &self.discovery_url)
            .field("ca_pem", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a token was not accepted. Messages name the check, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the token is not a JWT (three base64url parts, JSON header and claims with an exp)")]
    Malformed,
    #[error("the token is signed with {0}; only ES256 and RS256 are accepted")]
    UnsupportedAlgorithm(String),
    #[error("the token names a key id the issuer does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify with the issuer's key")]
    BadSignature,
    #[error("the token's issuer is not the identity provider's ({0})")]
    WrongIssuer(String),
    #[error("the token's audience does not contain {0:?}")]
    WrongAudience(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has no subject")]
    NoSubject,
    /// The identity provider could not be read: the caller may retry.
    #[error("the identity provider's discovery document or keys could not be read: {0}")]
    Unreachable(String),
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub subject: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// A public key from the key set.
#[derive(Debug, Clone)]
enum Key {
    /// The uncompressed point `04 || x || y`.
    Es256(Vec<u8>),
    Rs256 {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl Key {
    /// Whether this key verifies the JWS algorithm `alg`.
    fn signs(&self, alg: &str) -> bool {
        matches!((self, alg), (Key::Es256(_), "ES256") | (Key::Rs256 { .. }, "RS256"))
    }
}

/// What discovery said, and the keys last read.
#[derive(Debug, Clone)]
struct Provider {
    issuer: String,
    jwks_path: String,
    keys: HashMap<String, Key>,
}

/// The verifier of one identity provider; cheap to share behind an `Arc`.
pub struct OidcVerifier {
    http: reqwest::Client,
    base: url::Url,
    bearer_token: Option<String>,
    provider: tokio::sync::Mutex<Option<Provider>>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// Why a verifier could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the discovery URL {0:?} is not an http(s) URL")]
    Url(String),
    #[error("the CA is not a PEM certificate: {0}")]
    Ca(String),
    #[error("could not build an HTTP client: {0}")]
    Client(String),
}

impl OidcVerifier {
    pub fn new(config: &OidcConfig) -> Result<OidcVerifier, ConfigError> {
        let base = url::Url::parse(&config.discovery_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ConfigError::Url(config.discovery_url.clone()))?;
        let mut http = reqwest::Client::builder().use_rustls_tls().timeout(FETCH_TIMEOUT);
        if let Some(pem) = &config.ca_pem {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| ConfigError::Ca(e.to_string()))?;
            http = http.add_root_certificate(ca);
        }
        let http = http.build().map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(OidcVerifier {
            http,
            base,
            bearer_token: config.bearer_token.clone(),
            provider: tokio::sync::Mutex::new(None),
        })
    }

    /// Verifies `token` for `audience` at the current time.
    pub async fn verify(&self, token: &str, audience: &str) -> Result<Verified, Rejected> {
        self.verify_at(token, audience, unix_now()).await
    }

    async fn verify_at(&self, token: &str, audience: &str, now: u64) -> Result<Verified, Rejected> {
        let jwt = Jwt::parse(token)?;
        let mut cached = self.provider.lock().await;
        let (provider, fresh) = match cached.take() {
            Some(p) => (p, false),
            None => (self.discover().await?, true),
        };
        // An unknown key id: the issuer may have rotated its keys since the last read.
        let stale = !fresh && jwt.kid.as_ref().is_some_and(|kid| !provider.keys.contains_key(kid));
        let provider = if stale {
            match self.read_keys(&provider.jwks_path).await {
                Ok(keys) => Provider { keys, ..provider },
                Err(e) => {
                    *cached = Some(provider);
                    return Err(e);
                }
            }
        } else {
            provider
        };
        let result = jwt.verify(&provider, audience, now);
        *cached = Some(provider);
        result
    }

    async fn discover(&self) -> Result<Provider, Rejected> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let discovery: Discovery = self.get_json("/.well-known/openid-configuration").await?;
        let jwks_path = url::Url::parse(&discovery.jwks_uri)
            .map(|u| u.path().to_owned())
            .map_err(|_| Rejected::Unreachable("jwks_uri is not a URL".into()))?;
        let keys = self.read_keys(&jwks_path).await?;
        Ok(Provider { issuer: discovery.issuer, jwks_path, keys })
    }

    async fn read_keys(&self, path: &str) -> Result<HashMap<String, Key>, Rejected> {
        #[derive(Deserialize)]
        struct KeySet {
            keys: Vec<Value>,
        }
        let set: KeySet = self.get_json(path).await?;
        Ok(set.keys.iter().filter_map(parse_jwk).collect())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Rejected> {
        let url = self.base.join(path).map_err(|e| Rejected::Unreachable(e.to_string()))?;
        let mut request = self.http.get(url.clone());
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }
        let unreachable = |what: String| Rejected::Unreachable(format!("{}: {what}", url.path()));
        let response = request.send().await.map_err(|e| unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("HTTP {}", response.status())));
        }
        response.json().await.map_err(|e| unreachable(e.without_url().to_string()))
    }
}

/// A key of the set, by `kid`; keys of other types or curves are skipped.
fn parse_jwk(jwk: &Value) -> Option<(String, Key)> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| field(name).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let kid = field("kid").unwrap_or_default().to_owned();
    let key = match (field("kty")?, field("crv")) {
        ("EC", Some("P-256")) => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            Key::Es256([&[4u8][..], x.as_slice(), y.as_slice()].concat())
        }
        ("RSA", _) => Key::Rs256 { n: bytes("n")?, e: bytes("e")? },
        _ => return None,
    };
    Some((kid, key))
}

/// A token split and decoded, not yet trusted.
struct Jwt {
    alg: String,
    kid: Option<String>,
    claims: Value,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

impl Jwt {
    fn parse(token: &str) -> Result<Jwt, Rejected> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return Err(Rejected::Malformed);
        };
        let json = |part: &str| -> Result<Value, Rejected> {
            let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| Rejected::Malformed)?;
            serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object).ok_or(Rejected::Malformed)
        };
        let header = json(header)?;
        Ok(Jwt {
            alg: header.get("alg").and_then(Value::as_str).ok_or(Rejected::Malformed)?.to_owned(),
            kid: header.get("kid").and_then(Value::as_str).map(str::to_owned),
            claims: json(claims)?,
            signed: format!("{}.{}", parts[0], parts[1]).into_bytes(),
            signature: URL_SAFE_NO_PAD.decode(signature).map_err(|_| Rejected::Malformed)?,
        })
    }

    fn verify(&self, provider: &Provider, audience: &str, now: u64) -> Result<Verified, Rejected> {
        if !matches!(self.alg.as_str(), "ES256" | "RS256") {
            return Err(Rejected::UnsupportedAlgorithm(self.alg.clone()));
        }
        // Without a kid, the one key of the token's type may sign it.
        let key = match &self.kid {
            Some(kid) => provider.keys.get(kid),
            None => {
                let mut of_type = provider.keys.values().filter(|k| k.signs(&self.alg));
                of_type.next().filter(|_| of_type.next().is_none())
            }
        }
        .ok_or(Rejected::UnknownKey)?;
        // A key of the other type never verifies: the token cannot choose how it is checked.
        let valid = key.signs(&self.alg)
            && match key {
                Key::Es256(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(&self.signed, &self.signature)
                    .is_ok(),
                Key::Rs256 { n, e } => RsaPublicKeyComponents { n, e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, &self.signed, &self.signature)
                    .is_ok(),
            };
        if !valid {
            return Err(Rejected::BadSignature);
        }
        let claim = |name: &str| self.claims.get(name);
        if claim("iss").and_then(Value::as_str) != Some(provider.issuer.as_str()) {
            return Err(Rejected::WrongIssuer(provider.issuer.clone()));
        }
        let audience_ok = match claim("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(Rejected::WrongAudience(audience.to_owned()));
        }
        let leeway = LEEWAY.as_secs();
        let expires_at = claim("exp").and_then(Value::as_u64).ok_or(Rejected::Malformed)?;
        if now > expires_at.saturating_add(leeway) {
            return Err(Rejected::Expired);
        }
        if claim("nbf").and_then(Value::as_u64).is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(Rejected::NotYetValid);
        }
        let subject = claim("sub").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(Rejected::NoSubject)?;
        Ok(Verified { subject: subject.to_owned(), expires_at })
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
