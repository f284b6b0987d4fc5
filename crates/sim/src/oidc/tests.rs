//! The verifier against [`crate::issuer::TestIssuer`], which is built on this module's
//! configuration: in a file of its own, so that the issuer depends on the verifier and not back.

use ring::{
    rand::SystemRandom,
    signature::{RSA_PKCS1_SHA256, RsaKeyPair},
};
use serde_json::json;

use super::*;
use crate::issuer::{ISSUER, TestIssuer};

const AUDIENCE: &str = "sts.tencentcloudapi.com";
const SUBJECT: &str = "system:serviceaccount:team-a:workload";
/// A 2048-bit RSA key made for these tests alone (PKCS#1 DER, `openssl genpkey`); ring
/// cannot generate one.
const RSA_KEY: &[u8] = include_bytes!("../testdata/oidc-test-rsa2048.der");

fn claims() -> Value {
    let now = unix_now();
    json!({"iss": ISSUER, "aud": [AUDIENCE], "sub": SUBJECT, "exp": now + 600, "nbf": now - 1, "iat": now - 1})
}

/// `claims` signed RS256 with the test RSA key, and that key as a JWK.
fn rs256(kid: &str, claims: &Value) -> (String, Value) {
    let key = RsaKeyPair::from_der(RSA_KEY).unwrap();
    let c: RsaPublicKeyComponents<Vec<u8>> = key.public().into();
    let jwk = json!({"use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256",
                     "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)});
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "kid": kid}).to_string());
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut signature).unwrap();
    (format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)), jwk)
}

async fn started() -> (TestIssuer, OidcVerifier) {
    let issuer = TestIssuer::start().await.unwrap();
    let verifier = OidcVerifier::new(&issuer.config()).unwrap();
    (issuer, verifier)
}

#[tokio::test]
async fn es256_and_rs256_tokens_verify_and_name_their_subject() {
    let (issuer, verifier) = started().await;
    let (rsa_token, rsa_jwk) = rs256("rsa-1", &claims());
    issuer.publish(rsa_jwk);
    for token in [issuer.sign(&claims()), rsa_token] {
        assert_eq!(verifier.verify(&token, AUDIENCE).await.unwrap().subject, SUBJECT);
    }
    // `aud` as a single string, as some issuers write it.
    let mut single = claims();
    single["aud"] = json!(AUDIENCE);
    assert_eq!(verifier.verify(&issuer.sign(&single), AUDIENCE).await.unwrap().subject, SUBJECT);
}

#[tokio::test]
async fn each_failed_check_is_refused_for_its_reason() {
    let (issuer, verifier) = started().await;
    let (stranger, _) = started().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims();
        change(&mut c);
        issuer.sign(&c)
    };
    let now = unix_now();
    let cases: Vec<(String, Rejected)> = vec![
        ("not.a-jwt".into(), Rejected::Malformed),
        // Another issuer's key under the same kid.
        (stranger.sign(&claims()), Rejected::BadSignature),
        (with(&|c| c["iss"] = json!("https://evil.example")), Rejected::WrongIssuer(ISSUER.into())),
        (with(&|c| c["aud"] = json!(["someone-else"])), Rejected::WrongAudience(AUDIENCE.into())),
        (with(&|c| c["exp"] = json!(now - 60)), Rejected::Expired),
        (with(&|c| c["nbf"] = json!(now + 60)), Rejected::NotYetValid),
        (with(&|c| c["sub"] = json!("")), Rejected::NoSubject),
    ];
    for (token, reason) in cases {
        assert_eq!(verifier.verify(&token, AUDIENCE).await, Err(reason.clone()), "{reason}");
    }
    // A token signed with HS256 (a shared secret) is never accepted.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"test-key-0"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    let hs = format!("{header}.{body}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
    assert_eq!(verifier.verify(&hs, AUDIENCE).await, Err(Rejected::UnsupportedAlgorithm("HS256".into())));
    // An RS256 header over the EC key: the token does not choose how it is checked.
    let (rsa_token, _) = rs256("test-key-0", &claims());
    assert_eq!(verifier.verify(&rsa_token, AUDIENCE).await, Err(Rejected::BadSignature));
    // Within the leeway an expired token still passes.
    let late = with(&|c| c["exp"] = json!(now - 2));
    assert!(verifier.verify(&late, AUDIENCE).await.is_ok());
}

#[tokio::test]
async fn an_unknown_key_id_reads_the_key_set_again() {
    let (issuer, verifier) = started().await;
    verifier.verify(&issuer.sign(&claims()), AUDIENCE).await.unwrap();
    assert_eq!(issuer.key_reads(), 1);
    // Known key ids are served from the cache.
    verifier.verify(&issuer.sign(&claims()), AUDIENCE).await.unwrap();
    assert_eq!(issuer.key_reads(), 1);
    // The issuer rotates its key: the new kid is unknown, so the set is read again.
    let old = issuer.sign(&claims());
    issuer.rotate().unwrap();
    verifier.verify(&issuer.sign(&claims()), AUDIENCE).await.unwrap();
    assert_eq!(issuer.key_reads(), 2);
    assert_eq!(verifier.verify(&old, AUDIENCE).await, Err(Rejected::UnknownKey));
}

#[tokio::test]
async fn discovery_needs_the_bearer_token_and_says_so() {
    let (issuer, _) = started().await;
    let anonymous = OidcVerifier::new(&OidcConfig { bearer_token: None, ..issuer.config() }).unwrap();
    let err = anonymous.verify(&issuer.sign(&claims()), AUDIENCE).await.unwrap_err();
    assert!(matches!(&err, Rejected::Unreachable(m) if m.contains("401")), "{err}");
    // No token text in any refusal (a JWT's base64 header starts with "eyJ").
    assert!(!err.to_string().contains("eyJ"));
}
