//! A stand-in for kube-apiserver's ServiceAccount token issuer, for tests that need no API
//! server: it serves `/.well-known/openid-configuration` and `/openid/v1/jwks` over HTTPS as
//! kube-apiserver does (bearer token required, `jwks_uri` at the issuer's unresolvable host) and
//! signs tokens with an ES256 key of its own, which it can rotate. Tests with an API server use
//! the real issuer instead.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::get,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _},
};
use serde_json::{Value, json};

use crate::{
    SimError,
    oidc::{OidcConfig, unix_now},
    server::{Served, SimTls, serve},
};

/// The issuer kube-apiserver names in its tokens (the test environment's `--service-account-issuer`).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The token discovery readers must show.
const READER_TOKEN: &str = "test-issuer-discovery-reader";

struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    fn generate(n: usize) -> Result<SigningKey, SimError> {
        let rng = SystemRandom::new();
        let failed = |_| SimError::Tls("could not generate an ECDSA P-256 key".into());
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(failed)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| SimError::Tls("could not read the generated key".into()))?;
        Ok(SigningKey { kid: format!("test-key-{n}"), pair })
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"use": "sig", "kty": "EC", "kid": self.kid, "crv": "P-256", "alg": "ES256",
               "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])})
    }
}

struct Keys {
    signing: SigningKey,
    rotations: usize,
    /// Published besides the signing key (e.g. an RSA key a test signs with itself).
    extra: Vec<Value>,
}

struct Shared {
    keys: Mutex<Keys>,
    key_reads: AtomicUsize,
}

impl Shared {
    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running issuer; stops when dropped.
pub struct TestIssuer {
    shared: Arc<Shared>,
    tls: Arc<SimTls>,
    served: Served,
}

impl TestIssuer {
    pub async fn start() -> Result<TestIssuer, SimError> {
        let shared = Arc::new(Shared {
            keys: Mutex::new(Keys { signing: SigningKey::generate(0)?, rotations: 0, extra: Vec::new() }),
            key_reads: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/openid/v1/jwks", get(jwks))
            .with_state(shared.clone());
        let tls = SimTls::generate(None)?;
        let served = serve(router, std::net::SocketAddr::from(([127, 0, 0, 1], 0)), Some(&tls)).await?;
        Ok(TestIssuer { shared, tls, served })
    }

    /// How a verifier reads this issuer's discovery.
    pub fn config(&self) -> OidcConfig {
        OidcConfig {
            discovery_url: format!("https://127.0.0.1:{}", self.served.addr.port()),
            ca_pem: Some(self.tls.ca_pem().to_owned()),
            bearer_token: Some(READER_TOKEN.into()),
        }
    }

    /// A token of `subject` for `audience`, valid for `lifetime`, as TokenRequest issues one.
    pub fn token(&self, subject: &str, audience: &str, lifetime: Duration) -> String {
        let now = unix_now();
        self.sign(&json!({"iss": ISSUER, "aud": [audience], "sub": subject, "iat": now, "nbf": now,
                          "exp": now + lifetime.as_secs()}))
    }

    /// Any claims, signed with the current key (ES256, its kid in the header).
    pub fn sign(&self, claims: &Value) -> String {
        let keys = self.shared.keys();
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": keys.signing.kid}).to_string());
        let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = keys
            .signing
            .pair
            .sign(&SystemRandom::new(), signed.as_bytes())
            .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{signed}.{signature}")
    }

    /// Replaces the signing key with a new one under a new kid; the old one is no longer
    /// published.
    pub fn rotate(&self) -> Result<(), SimError> {
        let mut keys = self.shared.keys();
        keys.rotations += 1;
        keys.signing = SigningKey::generate(keys.rotations)?;
        Ok(())
    }

    /// Publishes `jwk` in the key set too.
    pub fn publish(&self, jwk: Value) {
        self.shared.keys().extra.push(jwk);
    }

    /// How many times the key set was read.
    pub fn key_reads(&self) -> usize {
        self.shared.key_reads.load(Ordering::SeqCst)
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {READER_TOKEN}"))
}

async fn discovery(headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    if !authorized(&headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    // As kube-apiserver: the key set at an address of the cluster, which does not resolve here.
    Ok(Json(json!({
        "issuer": ISSUER,
        "jwks_uri": "https://10.0.0.1:443/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
    })))
}

async fn jwks(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    if !authorized(&headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    shared.key_reads.fetch_add(1, Ordering::SeqCst);
    let keys = shared.keys();
    let mut all = vec![keys.signing.jwk()];
    all.extend(keys.extra.iter().cloned());
    Ok(Json(json!({ "keys": all })))
}
