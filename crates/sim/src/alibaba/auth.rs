//! Reads a request as Alibaba Cloud's API gateway does and checks who sent it. Three forms:
//! - V3: `Authorization: ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex`, the
//!   action and version in `x-acs-action`/`x-acs-version`, `x-acs-date` and
//!   `x-acs-signature-nonce`, `x-acs-content-sha256` the body's digest, a session token in
//!   `x-acs-security-token`; what the Tea/darabonba SDKs send by default (`do_request`).
//! - RPC: `Action`, `Version`, `AccessKeyId`, `SignatureMethod=HMAC-SHA1`,
//!   `SignatureVersion=1.0`, `SignatureNonce`, `Timestamp`, `Signature` (and `SecurityToken`)
//!   among the parameters, in the query or a POST form; what the SDKs send with
//!   `signature_algorithm='v2'` (`do_rpcrequest`) and what older SDKs always sent.
//! - unsigned, for the actions that take no credential (STS `AssumeRoleWithOIDC`).
//!
//! Parameters are the query's and a form body's together. Times must be within 15 minutes of
//! the simulator's clock and a nonce is accepted once in that window, as documented.

use std::collections::{BTreeMap, HashMap};

use axum::http::{HeaderMap, Method, StatusCode};
use k8s_openapi::jiff::Timestamp;

use super::{
    answer::ApiError,
    sign::{self, ACS3},
};
use crate::core::{SimCore, SimCredential};

/// How far a request's time may be from the simulator's, and how long a nonce is remembered.
const WINDOW_SECS: u64 = 15 * 60;

/// The signature a call came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    Rpc,
    V3,
    Anonymous,
}

impl Signed {
    pub fn name(self) -> &'static str {
        match self {
            Signed::Rpc => "rpc",
            Signed::V3 => "v3",
            Signed::Anonymous => "anonymous",
        }
    }
}

/// An authenticated (or knowingly unsigned) call.
#[derive(Debug)]
pub struct Call {
    pub action: String,
    pub version: String,
    pub params: BTreeMap<String, String>,
    /// `None` for an unsigned call.
    pub key_id: Option<String>,
    pub signed: Signed,
}

/// (key id, nonce) pairs seen in the last [`WINDOW_SECS`].
pub type Nonces = crate::nonces::Nonces<(String, String)>;

pub fn nonces() -> Nonces {
    Nonces::new(std::time::Duration::from_secs(WINDOW_SECS))
}

fn first_use(nonces: &Nonces, key_id: &str, nonce: &str) -> Result<(), ApiError> {
    if nonces.first_use((key_id.to_owned(), nonce.to_owned())) {
        Ok(())
    } else {
        Err(ApiError::bad("SignatureNonceUsed", "The request signature nonce has been used."))
    }
}

/// The request as received.
pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub query: &'a str,
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Query and form parameters, and the query's alone (what V3 signs).
    fn params(&self) -> (BTreeMap<String, String>, Vec<(String, String)>) {
        let query: Vec<(String, String)> = url::form_urlencoded::parse(self.query.as_bytes()).into_owned().collect();
        let mut all: BTreeMap<String, String> = query.iter().cloned().collect();
        let form = self.header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if form {
            all.extend(url::form_urlencoded::parse(self.body).into_owned());
        }
        (all, query)
    }
}

/// Reads and authenticates `request`; `unsigned_ok` says which actions take no signature.
pub fn read(
    core: &SimCore,
    nonces: &Nonces,
    request: &Request,
    unsigned_ok: impl Fn(&str) -> bool,
) -> Result<Call, ApiError> {
    if ![Method::GET, Method::POST].contains(request.method) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnsupportedHTTPMethod",
            format!("The HTTP method {} is not supported: use GET or POST.", request.method),
        ));
    }
    let (mut params, query) = request.params();
    if let Some(auth) = request.header("authorization") {
        let call = v3(core, nonces, request, auth, &query)?;
        return Ok(Call { params, ..call });
    }
    // An unsigned V3-style call names its action only in the headers.
    let named = |param: &str, header: &str| {
        params
            .get(param)
            .map(String::as_str)
            .or(request.header(header))
            .map(str::to_owned)
            .ok_or_else(|| ApiError::missing(param))
    };
    let action = named("Action", "x-acs-action")?;
    let version = named("Version", "x-acs-version")?;
    if !params.contains_key("Signature") && unsigned_ok(&action) {
        return Ok(Call { action, version, params, key_id: None, signed: Signed::Anonymous });
    }
    let key_id = rpc(core, nonces, request.method.as_str(), &params)?;
    for common in ["Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "AccessKeyId", "SecurityToken"]
    {
        params.remove(common);
    }
    Ok(Call { action, version, params, key_id: Some(key_id), signed: Signed::Rpc })
}

fn rpc(core: &SimCore, nonces: &Nonces, method: &str, params: &BTreeMap<String, String>) -> Result<String, ApiError> {
    let get = |name: &str| params.get(name).map(String::as_str).ok_or_else(|| ApiError::missing(name));
    let signature = get("Signature").map_err(|_| {
        ApiError::bad("IncompleteSignature", "The request signature does not conform to Aliyun standards.")
    })?;
    if get("SignatureMethod")? != "HMAC-SHA1" {
        return Err(ApiError::bad(
            "InvalidSignatureMethod",
            "Specified signature method is not supported: use HMAC-SHA1.",
        ));
    }
    if get("SignatureVersion")? != "1.0" {
        return Err(ApiError::bad("InvalidSignatureVersion", "Specified signature version is not supported: use 1.0."));
    }
    timestamp(get("Timestamp")?)?;
    let credential = credential(core, get("AccessKeyId")?, params.get("SecurityToken").map(String::as_str))?;
    let signed = params.iter().filter(|(k, _)| *k != "Signature").map(|(k, v)| (k.as_str(), v.as_str()));
    let string_to_sign = sign::rpc_string_to_sign(method, signed);
    if sign::rpc_signature(&credential.secret, &string_to_sign) != signature {
        return Err(ApiError::bad(
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    first_use(nonces, &credential.key_id, get("SignatureNonce")?)?;
    Ok(credential.key_id)
}

/// The parts of a V3 `Authorization` header.
struct V3Auth<'a> {
    key_id: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_v3(auth: &str) -> Option<V3Auth<'_>> {
    let rest = auth.strip_prefix(ACS3)?.strip_prefix(' ')?;
    let mut fields = HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        fields.insert(k, v);
    }
    Some(V3Auth {
        key_id: fields.get("Credential")?,
        signed_headers: fields.get("SignedHeaders")?.split(';').collect(),
        signature: fields.get("Signature")?,
    })
}

fn v3(
    core: &SimCore,
    nonces: &Nonces,
    request: &Request,
    auth: &str,
    query: &[(String, String)],
) -> Result<Call, ApiError> {
    let auth = parse_v3(auth).ok_or_else(|| {
        ApiError::bad(
            "IncompleteSignature",
            format!("The Authorization header must be `{ACS3} Credential=...,SignedHeaders=...,Signature=...`."),
        )
    })?;
    let header = |name: &str| request.header(name).ok_or_else(|| ApiError::missing(name));
    let action = header("x-acs-action")?.to_owned();
    let version = header("x-acs-version")?.to_owned();
    timestamp(header("x-acs-date")?)?;
    let credential = credential(core, auth.key_id, request.header("x-acs-security-token"))?;
    let payload = header("x-acs-content-sha256")?;
    let mismatch = |why: String| ApiError::bad("SignatureDoesNotMatch", why);
    if payload != sign::sha256_hex(request.body) {
        return Err(mismatch("x-acs-content-sha256 is not the SHA-256 of the body.".into()));
    }
    for required in
        ["host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"]
    {
        if !auth.signed_headers.contains(&required) {
            return Err(mismatch(format!("The signed headers must include {required}.")));
        }
    }
    let mut headers = Vec::new();
    for name in &auth.signed_headers {
        let value =
            request.header(name).ok_or_else(|| mismatch(format!("The signed header {name} is not in the request.")))?;
        headers.push(((*name).to_owned(), value.to_owned()));
    }
    let pairs = query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let canonical = sign::v3_canonical_request(request.method.as_str(), request.path, pairs, &headers, payload);
    if sign::v3_signature(&credential.secret, &canonical) != auth.signature {
        return Err(mismatch(format!(
            "Specified signature is not matched with our calculation. server string to sign is:{ACS3}\n{}",
            sign::sha256_hex(canonical.as_bytes())
        )));
    }
    first_use(nonces, &credential.key_id, header("x-acs-signature-nonce")?)?;
    Ok(Call { action, version, params: BTreeMap::new(), key_id: Some(credential.key_id), signed: Signed::V3 })
}

/// The key's credential, with the session token it requires and before its expiry.
fn credential(core: &SimCore, key_id: &str, token: Option<&str>) -> Result<SimCredential, ApiError> {
    let credential = core.credential(key_id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    })?;
    if core.expired(key_id) {
        return Err(ApiError::bad("InvalidSecurityToken.Expired", "Specified SecurityToken is expired."));
    }
    match (&credential.token, token) {
        (None, _) => Ok(credential),
        (Some(_), None) => Err(ApiError::bad("MissingSecurityToken", "SecurityToken is mandatory for this action.")),
        (Some(want), Some(got)) if want == got => Ok(credential),
        (Some(_), Some(_)) => Err(ApiError::bad(
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )),
    }
}

/// A request time (`yyyy-MM-ddTHH:mm:ssZ`) within the window of now.
fn timestamp(value: &str) -> Result<(), ApiError> {
    let at: Timestamp = value.parse().map_err(|_| {
        ApiError::bad(
            "InvalidTimeStamp.Format",
            format!("Specified time stamp {value:?} is not in yyyy-MM-ddTHH:mm:ssZ."),
        )
    })?;
    let skew = at.as_second().abs_diff(Timestamp::now().as_second());
    if skew > WINDOW_SECS {
        return Err(ApiError::bad("InvalidTimeStamp.Expired", "Specified time stamp or date header is expired."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_authorization_parses_and_bad_ones_are_refused() {
        let a = parse_v3("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=ab").unwrap();
        assert_eq!((a.key_id, a.signed_headers, a.signature), ("AK", vec!["host", "x-acs-date"], "ab"));
        assert!(parse_v3("ACS3-HMAC-SHA256 Credential=AK").is_none());
        assert!(parse_v3("ACS3-HMAC-SM3 Credential=AK,SignedHeaders=host,Signature=ab").is_none());
    }

    #[test]
    fn times_outside_the_window_and_reused_nonces_are_refused() {
        assert_eq!(timestamp("2016-02-23T12:46:24Z").unwrap_err().code, "InvalidTimeStamp.Expired");
        assert_eq!(timestamp("yesterday").unwrap_err().code, "InvalidTimeStamp.Format");
        assert!(timestamp(&super::super::world::bss_time(Timestamp::now())).is_ok());
        let nonces = nonces();
        assert!(first_use(&nonces, "AK", "n").is_ok());
        assert_eq!(first_use(&nonces, "AK", "n").unwrap_err().code, "SignatureNonceUsed");
    }
}
