//! SDK-HMAC-SHA256, Huawei Cloud's AK/SK request signature. Pure functions shared by the client
//! (to sign) and the simulator (to recompute and compare), so both canonicalise the same way.

use hmac::{Hmac, Mac};
use k8s_openapi::jiff::{Timestamp, civil::DateTime, tz::TimeZone};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
pub const DATE_HEADER: &str = "X-Sdk-Date";
pub const CONTENT_SHA256_HEADER: &str = "X-Sdk-Content-Sha256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// A request as it goes on the wire, which is what the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The URL path, percent-encoded or not: it is decoded before escaping.
    pub path: &'a str,
    /// Query pairs, decoded.
    pub query: &'a [(String, String)],
    /// Header names in any case; values untrimmed.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The parts of an `Authorization: <algorithm> Access=..., SignedHeaders=..., Signature=...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `SDK-HMAC-SHA256`, or another the official SDKs offer (see the simulator's verifier).
    pub algorithm: String,
    pub access: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Huawei's escaping: unreserved `A-Za-z0-9_-~.` kept, every other byte `%XX` upper-case.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'~' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Each path segment escaped (after decoding what the URL already escaped), and a trailing `/`
/// always, as the SDKs do: `/v2/p/nat_gateways/id` -> `/v2/p/nat_gateways/id/`.
pub fn canonical_uri(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let mut uri = decoded.split('/').map(escape).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// Keys sorted, values of a repeated key sorted, both escaped. Also the query the client sends,
/// so what is signed is exactly what goes on the wire.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    sorted.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect::<Vec<_>>().join("&")
}

/// Splits a raw query string into decoded pairs (`+` is literal, as in the signer).
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The headers a signer signs: every header except those with `_` in the name, lower-cased,
/// sorted, once each.
pub fn signed_header_names(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> =
        headers.iter().filter(|(n, _)| !n.contains('_')).map(|(n, _)| n.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    names
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `METHOD\nURI\nQUERY\nHEADERS\nSIGNED_HEADERS\nPAYLOAD_HASH`, or `None` when a header named
/// in `signed_headers` is not in the request.
pub fn canonical_request(req: &SignedRequest<'_>, signed_headers: &[String]) -> Option<String> {
    canonical_request_hashed(req, signed_headers, CONTENT_SHA256_HEADER, |b| hex::encode(Sha256::digest(b)))
}

/// [`canonical_request`] with another payload hash (`hash`, hex) and the header that may declare
/// it (`content_header`, e.g. `X-Sdk-Content-Sm3`), as the SDK's SM3 signers do. Like the SDK, an
/// empty body always hashes as empty, and a declared value (`UNSIGNED-PAYLOAD`) replaces the hash
/// of a body.
pub fn canonical_request_hashed(
    req: &SignedRequest<'_>,
    signed_headers: &[String],
    content_header: &str,
    hash: impl Fn(&[u8]) -> String,
) -> Option<String> {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        canonical_headers.push_str(&format!("{name}:{}\n", header(req.headers, name)?.trim()));
    }
    let payload_hash = match header(req.headers, content_header) {
        Some(declared) if !req.body.is_empty() => declared.to_owned(),
        _ => hash(req.body),
    };
    Some(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed_headers.join(";"),
        payload_hash
    ))
}

pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{sdk_date}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())))
}

pub fn signature(secret: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The signature of `req` over `signed_headers` (its `X-Sdk-Date` is the signing time), or
/// `None` when the request lacks the date or a signed header.
pub fn compute(req: &SignedRequest<'_>, signed_headers: &[String], secret: &str) -> Option<String> {
    let date = header(req.headers, DATE_HEADER)?.trim();
    let canonical = canonical_request(req, signed_headers)?;
    Some(signature(secret, &string_to_sign(date, &canonical)))
}

/// The `Authorization` value for `req`, signing every header it carries (but `_` ones).
pub fn authorization(req: &SignedRequest<'_>, access: &str, secret: &str) -> Option<String> {
    let signed = signed_header_names(req.headers);
    let sig = compute(req, &signed, secret)?;
    Some(format!("{ALGORITHM} Access={access}, SignedHeaders={}, Signature={sig}", signed.join(";")))
}

pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let (algorithm, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim_start();
    let (mut access, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Access" => access = Some(v.to_owned()),
            "SignedHeaders" => signed = Some(v.split(';').map(str::to_owned).collect()),
            "Signature" => sig = Some(v.to_owned()),
            _ => {}
        }
    }
    Some(Authorization { algorithm: algorithm.to_owned(), access: access?, signed_headers: signed?, signature: sig? })
}

pub fn format_date(at: Timestamp) -> String {
    at.strftime(DATE_FORMAT).to_string()
}

pub fn parse_date(value: &str) -> Option<Timestamp> {
    DateTime::strptime(DATE_FORMAT, value).ok()?.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AccessKey";
    const SK: &str = "SecretKey";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn sign(method: &str, path: &str, query: &[(&str, &str)], hdrs: &[(&str, &str)], body: &[u8]) -> String {
        let query = headers(query);
        let hdrs = headers(hdrs);
        authorization(&SignedRequest { method, path, query: &query, headers: &hdrs, body }, AK, SK).unwrap()
    }

    #[test]
    fn official_vector_get_with_underscore_header() {
        let hdrs = headers(&[("X-Sdk-Date", "20060102T150405Z"), ("TEST_UNDERSCORE", "ignored")]);
        let query = headers(&[("limit", "1")]);
        let req = SignedRequest { method: "GET", path: "/path", query: &query, headers: &hdrs, body: b"" };
        assert_eq!(
            canonical_request(&req, &signed_header_names(&hdrs)).unwrap(),
            "GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            authorization(&req, AK, SK).unwrap(),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, \
             Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
    }

    #[test]
    fn official_vector_post_with_body() {
        let hdrs = headers(&[("X-Sdk-Date", "20060102T150405Z")]);
        let query = headers(&[("key", "value")]);
        let body = b"{\"Name\":\"test\",\"Id\":1}\n";
        let req = SignedRequest { method: "POST", path: "/path", query: &query, headers: &hdrs, body };
        assert_eq!(
            compute(&req, &["x-sdk-date".into()], SK).unwrap(),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn official_vectors_with_host() {
        let hdrs = [("Host", "service.endpoint.myhuaweicloud.com"), ("X-Sdk-Date", "20200608T023900Z")];
        assert_eq!(
            sign("GET", "/resources", &[("size", "1")], &hdrs, b""),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, \
             Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"
        );
        assert_eq!(
            sign("POST", "/resources", &[("size", "1")], &hdrs, b"{\"name\":\"test\",\"id\":1}"),
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, \
             Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"
        );
    }

    #[test]
    fn official_query_encoding_vector() {
        let pairs = headers(&[
            ("test", "一 (&=?!#%.*)"),
            ("path", "/tmp/123"),
            ("multi", "3"),
            ("limit", "1"),
            ("multi", "1"),
            ("enable", "true"),
            ("multi", "2"),
        ]);
        assert_eq!(
            canonical_query(&pairs),
            "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
        );
        let mut round_trip = parse_query(&canonical_query(&pairs));
        let mut expected = pairs.clone();
        round_trip.sort();
        expected.sort();
        assert_eq!(round_trip, expected);
    }

    #[test]
    fn uri_segments_are_escaped_once_and_end_with_a_slash() {
        assert_eq!(canonical_uri("/v2/p1/nat_gateways/a b"), "/v2/p1/nat_gateways/a%20b/");
        assert_eq!(canonical_uri("/v2/p1/nat_gateways/a%20b"), "/v2/p1/nat_gateways/a%20b/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/x/"), "/x/");
    }

    #[test]
    fn unsigned_payload_replaces_the_body_hash() {
        let hdrs = headers(&[("X-Sdk-Date", "20060102T150405Z"), ("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")]);
        let req = SignedRequest { method: "PUT", path: "/o", query: &[], headers: &hdrs, body: b"anything" };
        let canonical = canonical_request(&req, &signed_header_names(&hdrs)).unwrap();
        assert!(canonical.ends_with("\nx-sdk-content-sha256;x-sdk-date\nUNSIGNED-PAYLOAD"), "{canonical}");
    }

    #[test]
    fn header_values_are_trimmed_and_missing_signed_headers_refused() {
        let a = headers(&[("X-Sdk-Date", "20060102T150405Z"), ("X-Project-Id", "  p1 ")]);
        let b = headers(&[("x-sdk-date", "20060102T150405Z"), ("x-project-id", "p1")]);
        let req = |h| SignedRequest { method: "GET", path: "/", query: &[], headers: h, body: b"" };
        assert_eq!(authorization(&req(&a), AK, SK), authorization(&req(&b), AK, SK));
        assert_eq!(compute(&req(&b), &["host".into()], SK), None);
    }

    #[test]
    fn authorization_round_trips() {
        let value = sign("GET", "/", &[], &[("X-Sdk-Date", "20060102T150405Z"), ("Host", "h:8080")], b"");
        let parsed = parse_authorization(&value).unwrap();
        assert_eq!(parsed.access, AK);
        assert_eq!(parsed.signed_headers, vec!["host", "x-sdk-date"]);
        assert_eq!(parsed.signature.len(), 64);
        assert_eq!(parse_authorization("HMAC-SHA256 Access=a"), None);
        assert_eq!(parse_authorization("SDK-HMAC-SHA256 Access=a, SignedHeaders=x"), None);
    }

    #[test]
    fn dates_round_trip() {
        let t = parse_date("20200608T023900Z").unwrap();
        assert_eq!(format_date(t), "20200608T023900Z");
        assert_eq!(parse_date("2020-06-08"), None);
    }
}
