//! Tencent Cloud request signatures, as pure functions of their inputs: API 2.0 (HmacSHA1 /
//! HmacSHA256 over the sorted parameters) and API 3.0 (TC3-HMAC-SHA256). The simulator verifies
//! requests by recomputing with these same functions, so client and verifier cannot drift apart.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The path every API 2.0 call is made to; part of the string to sign.
pub const V2_PATH: &str = "/v2/index.php";
pub const TC3_ALGORITHM: &str = "TC3-HMAC-SHA256";

/// API 2.0 `SignatureMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2Method {
    HmacSha1,
    HmacSha256,
}

impl V2Method {
    /// Tencent treats anything other than exactly `HmacSHA256` (including no value) as SHA-1.
    pub fn from_param(value: Option<&str>) -> V2Method {
        if value == Some("HmacSHA256") { V2Method::HmacSha256 } else { V2Method::HmacSha1 }
    }

    pub fn param(self) -> &'static str {
        match self {
            V2Method::HmacSha1 => "HmacSHA1",
            V2Method::HmacSha256 => "HmacSHA256",
        }
    }
}

/// `METHOD + host + path + "?" + k=v&...`: keys with `_` turned into `.`, sorted in byte order,
/// raw (not url-encoded) values. `params` must not contain `Signature`. `host` is the Host
/// header as sent, port included when it is not the scheme's default.
pub fn v2_string_to_sign<'a>(
    http_method: &str,
    host: &str,
    path: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut pairs: Vec<(String, &str)> = params.into_iter().map(|(k, v)| (k.replace('_', "."), v)).collect();
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{host}{path}?{}", http_method.to_ascii_uppercase(), joined.join("&"))
}

/// base64 of the HMAC of `string_to_sign` under `secret_key` (not yet url-encoded).
pub fn v2_signature(secret_key: &str, method: V2Method, string_to_sign: &str) -> String {
    let mac = match method {
        V2Method::HmacSha1 => hmac_bytes::<Hmac<Sha1>>(secret_key.as_bytes(), string_to_sign.as_bytes()),
        V2Method::HmacSha256 => hmac_bytes::<Hmac<Sha256>>(secret_key.as_bytes(), string_to_sign.as_bytes()),
    };
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// TC3 canonical request. `headers` are the signed headers as `(lowercase name, value as sent)`,
/// in the order of `signed_headers`.
pub fn tc3_canonical_request(
    http_method: &str,
    uri: &str,
    query: &str,
    headers: &[(&str, &str)],
    signed_headers: &str,
    payload: &[u8],
) -> String {
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    format!(
        "{}\n{uri}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        http_method.to_ascii_uppercase(),
        sha256_hex(payload)
    )
}

/// `YYYY-MM-DD` (UTC) of a unix timestamp: the date in the credential scope.
pub fn tc3_date(timestamp: i64) -> String {
    // Civil-from-days (H. Hinnant): avoids a date crate for one conversion.
    let days = timestamp.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Hex TC3 signature of a canonical request.
pub fn tc3_signature(secret_key: &str, service: &str, timestamp: i64, canonical_request: &str) -> String {
    let date = tc3_date(timestamp);
    let string_to_sign = format!(
        "{TC3_ALGORITHM}\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_bytes::<Hmac<Sha256>>(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_bytes::<Hmac<Sha256>>(&k_date, service.as_bytes());
    let k_signing = hmac_bytes::<Hmac<Sha256>>(&k_service, b"tc3_request");
    hex::encode(hmac_bytes::<Hmac<Sha256>>(&k_signing, string_to_sign.as_bytes()))
}

/// The `Authorization` header value.
pub fn tc3_authorization(
    secret_id: &str,
    service: &str,
    timestamp: i64,
    signed_headers: &str,
    signature: &str,
) -> String {
    format!(
        "{TC3_ALGORITHM} Credential={secret_id}/{}/{service}/tc3_request, SignedHeaders={signed_headers}, Signature={signature}",
        tc3_date(timestamp)
    )
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_bytes<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";

    fn doc_params(method: V2Method) -> Vec<(&'static str, &'static str)> {
        vec![
            ("Action", "DescribeInstances"),
            ("Nonce", "11886"),
            ("Region", "ap-guangzhou"),
            ("SecretId", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"),
            ("SignatureMethod", method.param()),
            ("Timestamp", "1465185768"),
            // Written with `_` to check that it becomes `.` in the string to sign.
            ("InstanceIds_0", "ins-09dx96dg"),
        ]
    }

    #[test]
    fn v2_documentation_vectors() {
        let s = v2_string_to_sign("GET", "cvm.api.qcloud.com", V2_PATH, doc_params(V2Method::HmacSha256));
        assert_eq!(
            s,
            "GETcvm.api.qcloud.com/v2/index.php?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Nonce=11886&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&SignatureMethod=HmacSHA256&Timestamp=1465185768"
        );
        assert_eq!(v2_signature(DOC_KEY, V2Method::HmacSha256, &s), "0EEm/HtGRr/VJXTAD9tYMth1Bzm3lLHz5RCDv1GdM8s=");
        let s = v2_string_to_sign("GET", "cvm.api.qcloud.com", V2_PATH, doc_params(V2Method::HmacSha1));
        assert_eq!(v2_signature(DOC_KEY, V2Method::HmacSha1, &s), "nPVnY6njQmwQ8ciqbPl5Qe+Oru4=");
    }

    #[test]
    fn v2_sdk_vectors() {
        let params = [
            ("SecretId", "secretIdFoo"),
            ("Region", "ap-guangzhou"),
            ("Nonce", "1290303896666895346"),
            ("Timestamp", "1512393162"),
            ("Action", "DescribeInstances"),
            ("Version", "2017-03-12"),
        ];
        // The SDK signs its own SignatureMethod parameter too.
        let sign = |http: &str, m: V2Method| {
            let all = params.into_iter().chain([("SignatureMethod", m.param())]);
            v2_signature("secretKeyBar", m, &v2_string_to_sign(http, "cvm.api.qcloud.com", V2_PATH, all))
        };
        assert_eq!(sign("POST", V2Method::HmacSha1), "p3n+pxBqF5JGZtDSxoVn5tGngf0=");
        assert_eq!(sign("GET", V2Method::HmacSha1), "5HAq1BOKNLEE2/uauWnp6Zv9Z3c=");
        assert_eq!(sign("POST", V2Method::HmacSha256), "B2T37FRSP6Fk0/q/cdfrTE0p3zX5ooB/2BPWZUFpsj4=");
    }

    #[test]
    fn v2_sorts_by_bytes_and_keeps_the_port() {
        let s = v2_string_to_sign("post", "127.0.0.1:8443", V2_PATH, [("InstanceIds.2", "b"), ("InstanceIds.12", "a")]);
        assert_eq!(s, "POST127.0.0.1:8443/v2/index.php?InstanceIds.12=a&InstanceIds.2=b");
        assert_eq!(V2Method::from_param(Some("HmacSHA256")), V2Method::HmacSha256);
        assert_eq!(V2Method::from_param(Some("hmacsha256")), V2Method::HmacSha1);
        assert_eq!(V2Method::from_param(None), V2Method::HmacSha1);
    }

    #[test]
    fn tc3_documentation_vector() {
        let body = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(sha256_hex(body.as_bytes()), "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064");
        let canonical = tc3_canonical_request(
            "POST",
            "/",
            "",
            &[("content-type", "application/json; charset=utf-8"), ("host", "cvm.tencentcloudapi.com")],
            "content-type;host",
            body.as_bytes(),
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        let sig = tc3_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm", 1_551_113_065, &canonical);
        assert_eq!(sig, "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
        assert_eq!(
            tc3_authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "cvm", 1_551_113_065, "content-type;host", &sig),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn tc3_dates_cross_boundaries() {
        assert_eq!(tc3_date(0), "1970-01-01");
        assert_eq!(tc3_date(951_782_400), "2000-02-29");
        assert_eq!(tc3_date(1_551_139_199), "2019-02-25");
        assert_eq!(tc3_date(1_551_139_200), "2019-02-26");
    }
}
