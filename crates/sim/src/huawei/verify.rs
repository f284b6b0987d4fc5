//! API Gateway's check of an AK/SK signature, for every algorithm the official SDKs can sign with
//! (`huaweicloudsdkcore` `SigningAlgorithm`): `SDK-HMAC-SHA256` (the default), `SDK-HMAC-SM3`,
//! `SDK-ECDSA-P256-SHA256` and `SDK-SM2-SM3`. The SDK's fifth signer, derived `V11-HMAC-SHA256`,
//! needs a service name that the NAT, BSS and IAM clients do not set (the SDK refuses to sign so
//! for them), so it is refused here like any unknown algorithm.
//!
//! The canonical request is [`sign`]'s. The elliptic-curve variants sign with a key derived from
//! the SK (the SDK's counter-mode HMAC derivation), so the verifier derives the same key.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sm3::Sm3;

use natgw_operator::cloud::huawei::sign::{self, Authorization, SignedRequest};

const HMAC_SM3: &str = "SDK-HMAC-SM3";
const ECDSA_P256: &str = "SDK-ECDSA-P256-SHA256";
const SM2_SM3: &str = "SDK-SM2-SM3";
const SM3_CONTENT_HEADER: &str = "X-Sdk-Content-Sm3";
/// The user id the SDK's SM2 signer puts in `ZA` (GB/T 32918's default).
const SM2_DIST_ID: &str = "1234567812345678";

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// A header named in `SignedHeaders`, or `X-Sdk-Date`, is missing.
    MissingHeader,
    /// An algorithm the SDKs do not offer for these services.
    UnsupportedAlgorithm,
    /// The signature does not match.
    Mismatch,
}

/// Checks `auth` (already parsed) against `req` and the credential's `secret`.
pub fn verify(auth: &Authorization, req: &SignedRequest<'_>, secret: &str) -> Result<(), Rejected> {
    let date = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(sign::DATE_HEADER))
        .map(|(_, v)| v.trim())
        .ok_or(Rejected::MissingHeader)?;
    let sha256 = |b: &[u8]| hex::encode(Sha256::digest(b));
    let sm3 = |b: &[u8]| hex::encode(Sm3::digest(b));
    let string_to_sign = |content_header: &str, hash: &dyn Fn(&[u8]) -> String| {
        let canonical = sign::canonical_request_hashed(req, &auth.signed_headers, content_header, hash)
            .ok_or(Rejected::MissingHeader)?;
        Ok::<_, Rejected>(format!("{}\n{date}\n{}", auth.algorithm, hash(canonical.as_bytes())))
    };
    let matches = match auth.algorithm.as_str() {
        sign::ALGORITHM => {
            let expected = sign::compute(req, &auth.signed_headers, secret).ok_or(Rejected::MissingHeader)?;
            expected == auth.signature
        }
        HMAC_SM3 => {
            let text = string_to_sign(SM3_CONTENT_HEADER, &sm3)?;
            hmac_sm3(secret.as_bytes(), text.as_bytes()).is_some_and(|m| hex::encode(m) == auth.signature)
        }
        ECDSA_P256 => {
            let text = string_to_sign(sign::CONTENT_SHA256_HEADER, &sha256)?;
            p256_matches(&auth.access, secret, text.as_bytes(), &auth.signature)
        }
        SM2_SM3 => {
            let text = string_to_sign(SM3_CONTENT_HEADER, &sm3)?;
            sm2_matches(&auth.access, secret, text.as_bytes(), &auth.signature)
        }
        _ => return Err(Rejected::UnsupportedAlgorithm),
    };
    if matches { Ok(()) } else { Err(Rejected::Mismatch) }
}

/// The SDK's private scalar for `algorithm`: the first `HMAC(SK, 00000001 || algorithm || 00 ||
/// AK || counter || 00000100)` that is at most `n - 2`, plus one (big-endian bytes). The HMAC is
/// the signer's hash (SHA-256 for P-256, SM3 for SM2), and `n` is P-256's order for both: the
/// SDK's SM2 key class inherits P-256's `N_MINUS_TWO`.
fn derived_scalar(
    access: &str,
    secret: &str,
    algorithm: &str,
    mac: impl Fn(&[u8], &[u8]) -> Option<[u8; 32]>,
) -> Option<[u8; 32]> {
    use p256::elliptic_curve::{Curve, bigint::Encoding};
    // n - 2, big-endian: the order's last byte is 0x51.
    let mut limit = p256::NistP256::ORDER.to_be_bytes();
    limit[31] = limit[31].checked_sub(2)?;
    for counter in 0..=0xfe_u8 {
        let mut data = vec![0, 0, 0, 1];
        data.extend_from_slice(algorithm.as_bytes());
        data.push(0);
        data.extend_from_slice(access.as_bytes());
        data.push(counter);
        data.extend_from_slice(&[0, 0, 1, 0]);
        let candidate = mac(secret.as_bytes(), &data)?;
        if candidate <= limit {
            return add_one(candidate);
        }
    }
    None
}

fn add_one(mut n: [u8; 32]) -> Option<[u8; 32]> {
    for byte in n.iter_mut().rev() {
        let (sum, carry) = byte.overflowing_add(1);
        *byte = sum;
        if !carry {
            return Some(n);
        }
    }
    None
}

/// `r` and `s`, each left-padded to 32 bytes, from the DER `SEQUENCE { INTEGER r, INTEGER s }`
/// (hex) the SDK's EC signers send.
fn der_scalars(signature_hex: &str) -> Option<([u8; 32], [u8; 32])> {
    let der = hex::decode(signature_hex).ok()?;
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || usize::from(len) != body.len() || len >= 0x80 {
        return None;
    }
    let integer = |input: &[u8]| -> Option<([u8; 32], usize)> {
        let (&tag, rest) = input.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let value = rest.get(..usize::from(len)).filter(|_| tag == 0x02 && len < 0x80)?;
        let value = value.strip_prefix(&[0]).unwrap_or(value);
        let mut out = [0u8; 32];
        out.get_mut(32usize.checked_sub(value.len())?..)?.copy_from_slice(value);
        Some((out, 2 + usize::from(len)))
    };
    let (r, used) = integer(body)?;
    let (s, rest_used) = integer(&body[used..])?;
    (used + rest_used == body.len()).then_some((r, s))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(data);
    Some(mac.finalize().into_bytes().into())
}

fn hmac_sm3(key: &[u8], data: &[u8]) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sm3>::new_from_slice(key).ok()?;
    mac.update(data);
    Some(mac.finalize().into_bytes().into())
}

fn p256_matches(access: &str, secret: &str, message: &[u8], signature_hex: &str) -> bool {
    use p256::ecdsa::{Signature, VerifyingKey, signature::Verifier};
    let Some(scalar) = derived_scalar(access, secret, ECDSA_P256, hmac_sha256) else {
        return false;
    };
    let Ok(key) = p256::SecretKey::from_bytes(&scalar.into()) else {
        return false;
    };
    let Some((r, s)) = der_scalars(signature_hex) else {
        return false;
    };
    let Ok(signature) = Signature::from_scalars(r, s) else {
        return false;
    };
    VerifyingKey::from(key.public_key()).verify(message, &signature).is_ok()
}

fn sm2_matches(access: &str, secret: &str, message: &[u8], signature_hex: &str) -> bool {
    use sm2::dsa::{Signature, VerifyingKey, signature::Verifier};
    let Some(scalar) = derived_scalar(access, secret, SM2_SM3, hmac_sm3) else {
        return false;
    };
    let Ok(key) = sm2::SecretKey::from_bytes(&scalar.into()) else {
        return false;
    };
    let Some((r, s)) = der_scalars(signature_hex) else {
        return false;
    };
    let (Ok(signature), Ok(verifying)) =
        (Signature::from_scalars(r, s), VerifyingKey::new(SM2_DIST_ID, key.public_key()))
    else {
        return false;
    };
    verifying.verify(message, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_derived_as_the_sdk_derives_them() {
        // The SDK's `get_signing_key()._private_key` for AK `AK1`, SK `sk-one`.
        let p256 = derived_scalar("AK1", "sk-one", ECDSA_P256, hmac_sha256).unwrap();
        let sm2 = derived_scalar("AK1", "sk-one", SM2_SM3, hmac_sm3).unwrap();
        assert_eq!(hex::encode(sm2), "58bcf57d122ceb0a7f6998ffe35d9707eb11e6e75961c30486e497793f5893ed");
        assert_eq!(hex::encode(p256), "2af3d4d56ce42c637aec72999fcba9edb7641938f8e5773e716bd2c254af2031");
    }

    #[test]
    fn der_signatures_parse_with_and_without_padding() {
        let mut der = vec![0x30, 0x45, 0x02, 0x21, 0x00];
        der.extend([0x80; 32]);
        der.extend([0x02, 0x20]);
        der.extend([0x01; 32]);
        let (r, s) = der_scalars(&hex::encode(&der)).unwrap();
        assert_eq!((r, s), ([0x80; 32], [0x01; 32]));
        let short = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07];
        let (r, s) = der_scalars(&hex::encode(short)).unwrap();
        assert_eq!((r[31], s[31], r[30]), (5, 7, 0));
        assert_eq!(der_scalars("30"), None);
        assert_eq!(der_scalars("zz"), None);
        assert_eq!(der_scalars(&hex::encode([0x30, 0x03, 0x02, 0x01, 0x05])), None);
    }

    #[test]
    fn unknown_algorithms_and_missing_dates_are_refused() {
        let headers = vec![("Host".to_owned(), "h".to_owned())];
        let req = SignedRequest { method: "GET", path: "/", query: &[], headers: &headers, body: b"" };
        let auth = Authorization {
            algorithm: "V11-HMAC-SHA256".into(),
            access: "ak".into(),
            signed_headers: vec!["host".into()],
            signature: "00".into(),
        };
        assert_eq!(verify(&auth, &req, "sk"), Err(Rejected::MissingHeader));
        let headers = vec![("Host".to_owned(), "h".to_owned()), ("X-Sdk-Date".to_owned(), "20240101T000000Z".into())];
        let req = SignedRequest { headers: &headers, ..req };
        assert_eq!(verify(&auth, &req, "sk"), Err(Rejected::UnsupportedAlgorithm));
        let auth = Authorization { algorithm: ECDSA_P256.into(), ..auth };
        assert_eq!(verify(&auth, &req, "sk"), Err(Rejected::Mismatch));
    }
}
