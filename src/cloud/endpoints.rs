//! Where a resource's credentials may be sent, and which spec values may reach a host or a path.
//!
//! A user who may create NatGateways in a namespace must not be able to steer that namespace's
//! credentials elsewhere: `spec.endpoint` (and Huawei's `bssEndpoint`) may only pick one of the
//! endpoints the operator's installer allow-listed (`run --allowed-endpoint`, on top of the
//! clouds' documented ones), and the region and ids that the clients put into hosts and paths
//! must be plain tokens. The CRD checks the same shapes at admission; this is the check before
//! use, for objects admitted under an older CRD and for values a cloud returns (project ids).

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::{CloudError, ErrorKind, Profile, Refusal, Selected, shape};
use crate::api::NatGatewaySpec;

/// Stands in for `{region}` when an installer's template is checked at start-up.
const SAMPLE_REGION: &str = "ap-guangzhou";

/// An endpoint the installer may not allow as given; says which flag would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("--allowed-endpoint {value:?}: {problem}")]
    Malformed { value: String, problem: String },
    #[error(
        "--allowed-endpoint {value:?} is plain HTTP: credentials and signatures would cross the network unencrypted; use https://, or add --allow-http to allow it anyway (temporary tokens and Tencent API 2.0 then also need --allow-http-credentials)"
    )]
    Http { value: String },
    #[error(
        "--allowed-endpoint {value:?} is a loopback, link-local or private address; add --allow-private-endpoints to allow it"
    )]
    Private { value: String },
}

/// The installer's endpoint allow-list, on top of each cloud's documented endpoints (its
/// [`Profile::endpoints`]). [`EndpointPolicy::default`] is the documented endpoints only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointPolicy {
    /// Normalised, good for every cloud; `{region}` may appear in the host.
    templates: Vec<String>,
    /// Whether what an eavesdropper could use (a temporary or ServiceAccount token, a Tencent
    /// API 2.0 `SecretId`) may be sent to a plain-HTTP endpoint (`run --allow-http-credentials`).
    http_credentials: bool,
}

impl EndpointPolicy {
    /// The documented endpoints plus `allowed` (the installer's `--allowed-endpoint` values).
    /// Plain HTTP and loopback, link-local or private addresses are refused unless allowed.
    pub fn new(allowed: &[String], allow_http: bool, allow_private: bool) -> Result<EndpointPolicy, PolicyError> {
        let mut policy = EndpointPolicy::default();
        // Blank entries: a trailing comma in NATGW_ALLOWED_ENDPOINTS.
        for value in allowed.iter().filter(|v| !v.trim().is_empty()) {
            let malformed = |problem: String| PolicyError::Malformed { value: value.clone(), problem };
            let url = parse(&value.replace("{region}", SAMPLE_REGION)).map_err(malformed)?;
            if url.scheme() == "http" && !allow_http {
                return Err(PolicyError::Http { value: value.clone() });
            }
            if is_private(&url) && !allow_private {
                return Err(PolicyError::Private { value: value.clone() });
            }
            let mut template = normalised(&url);
            if value.contains("{region}") {
                template = template.replace(SAMPLE_REGION, "{region}");
            }
            if !policy.templates.contains(&template) {
                policy.templates.push(template);
            }
        }
        Ok(policy)
    }

    /// Also send tokens and Tencent API 2.0's `SecretId` to plain-HTTP endpoints (the installer's
    /// `--allow-http-credentials`). Without it, only a signature and a long-lived key's id may
    /// cross `http://` (Tencent API 3.0 and Huawei with stored keys): see [`sent_in_clear`].
    pub fn with_http_credentials(mut self, allowed: bool) -> EndpointPolicy {
        self.http_credentials = allowed;
        self
    }

    /// Whether tokens and Tencent API 2.0's `SecretId` may go to plain-HTTP endpoints.
    pub fn allows_http_credentials(&self) -> bool {
        self.http_credentials
    }

    /// Whether `spec` (served as `selected`) may be sent anywhere: its region and ids are plain
    /// tokens and its endpoints are allow-listed. The error's `refusal` says which.
    pub fn check(&self, spec: &NatGatewaySpec, selected: &Selected) -> Result<(), CloudError> {
        check_values(spec)?;
        let (profile, region) = (selected.profile, selected.gateway.region());
        self.check_endpoint("spec.endpoint", selected.endpoint.as_deref(), profile, region)?;
        for (field, value) in &selected.other_endpoints {
            self.check_endpoint(field, Some(value), profile, region)?;
        }
        Ok(())
    }

    /// Whether a workload identity's token may go to `endpoint` (the cloud's STS / IAM endpoint
    /// for `selected`): the same allow-list as `spec.endpoint`, and over plain HTTP only with
    /// `--allow-http-credentials` (the ServiceAccount token, and Huawei's federated token, would
    /// cross it in clear).
    pub fn check_exchange_endpoint(&self, endpoint: &str, selected: &Selected) -> Result<(), CloudError> {
        let (profile, region) = (selected.profile, selected.gateway.region());
        self.check_endpoint("the workload identity exchange endpoint", Some(endpoint), profile, region)?;
        let plain = Url::parse(endpoint).is_ok_and(|url| url.scheme() == "http");
        if plain && !self.http_credentials {
            return Err(sent_in_clear(endpoint, "the exchange sends the ServiceAccount token"));
        }
        Ok(())
    }

    /// The allowed endpoints for a resource of the cloud `profile` in `region`, normalised.
    fn allowed<'a>(&'a self, profile: &'static Profile, region: &'a str) -> impl Iterator<Item = String> + 'a {
        let documented = profile.endpoints.iter().copied();
        documented.chain(self.templates.iter().map(String::as_str)).map(move |t| t.replace("{region}", region))
    }

    fn check_endpoint(
        &self,
        field: &str,
        value: Option<&str>,
        profile: &'static Profile,
        region: &str,
    ) -> Result<(), CloudError> {
        let Some(value) = value else { return Ok(()) };
        let shown: String = value.chars().take(64).collect();
        let refuse = |why: String| {
            CloudError::new(ErrorKind::InvalidRequest, format!("{field} {shown:?} {why}"))
                .with_refusal(Refusal::EndpointNotAllowed)
        };
        let url = parse(value).map_err(&refuse)?;
        let wanted = normalised(&url);
        if self.allowed(profile, region).any(|a| a == wanted) {
            return Ok(());
        }
        // Short enough for the message cap: the flag must be in it.
        Err(refuse(
            "is not on the installer's allow-list: omit it (public endpoint) or have the installer add it with --allowed-endpoint"
                .to_owned(),
        ))
    }
}

/// The refusal to send a token (or a Tencent API 2.0 `SecretId`) to the plain-HTTP `endpoint`:
/// `sends` says what would cross it in clear, the rest how to fix it. Made before any byte is
/// sent; the whole text fits the message cap (256 characters) with a `sends` of up to 60.
pub fn sent_in_clear(endpoint: &str, sends: &str) -> CloudError {
    let shown: String = endpoint.chars().take(64).collect();
    CloudError::new(
        ErrorKind::InvalidRequest,
        format!(
            "{shown:?} is plain HTTP and {sends} in clear; not sent: use an allow-listed https:// endpoint, or have the installer add --allow-http-credentials"
        ),
    )
    .with_refusal(Refusal::InsecureEndpoint)
}

/// Parses an endpoint: http(s), a host, no user info, query or fragment, no spaces.
fn parse(value: &str) -> Result<Url, String> {
    // Url::parse silently drops surrounding spaces and tabs; a value with any is not an endpoint.
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters".into());
    }
    let url = Url::parse(value).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an https:// (or, where the installer allows it, http://) URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info (user:password@)".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query (?) or fragment (#)".into());
    }
    match url.host() {
        None => Err("has no host".into()),
        Some(Host::Domain(d)) if d.ends_with('.') => Err("must not end its host with a dot".into()),
        Some(_) => Ok(url),
    }
}

/// `scheme://host[:port][/path]`: lowercase host (IDN as punycode), no default port, no trailing
/// slash.
fn normalised(url: &Url) -> String {
    let host = match url.host() {
        Some(Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}{}", url.scheme(), url.path().trim_end_matches('/'))
}

/// Loopback, link-local, private, shared or unspecified addresses, and `localhost` names.
fn is_private(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => private_v4(ip),
        Some(Host::Ipv6(ip)) => private_v6(ip),
        Some(Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        None => false,
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        // 100.64.0.0/10, carrier-grade NAT (and some clouds' metadata services).
        || (a == 100 && (64..128).contains(&b))
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        // fc00::/7 unique local, fe80::/10 link-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Checks every spec value that a client puts into a host name or a request path.
pub fn check_values(spec: &NatGatewaySpec) -> Result<(), CloudError> {
    shape::ID.check("spec.gatewayId", &spec.gateway_id, 128)?;
    spec.provider.check()?;
    if let Some(w) = &spec.workload_identity {
        check_identity(spec, w)?;
    }
    Ok(())
}

/// The workload identity's values: the ServiceAccount name reaches the TokenRequest's path, the
/// cloud's part its exchange.
fn check_identity(spec: &NatGatewaySpec, w: &crate::api::WorkloadIdentity) -> Result<(), CloudError> {
    shape::OBJECT_NAME.check("spec.workloadIdentity.serviceAccountName", &w.service_account_name, 253)?;
    w.cloud.check()?;
    if w.cloud.cloud() != spec.provider.cloud() {
        return Err(CloudError::new(
            ErrorKind::InvalidRequest,
            "spec.workloadIdentity must name exactly one cloud, the cloud of spec.provider",
        )
        .with_refusal(Refusal::InvalidSpec));
    }
    Ok(())
}

/// Checks a project id that IAM returned before it goes into request paths.
pub fn check_project_id(id: &str) -> Result<(), CloudError> {
    if shape::ID.fits(id, 64) {
        Ok(())
    } else {
        Err(CloudError::new(ErrorKind::Transient, "IAM returned a project id that is not a plain id; not using it"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProviderSpec;

    fn spec(provider: serde_json::Value, endpoint: Option<&str>) -> NatGatewaySpec {
        let mut v = serde_json::json!({
            "gatewayId": "nat-et8e970y", "provider": provider, "size": "Small",
            "credentialsSecretRef": {"name": "creds"},
        });
        if let Some(e) = endpoint {
            v["endpoint"] = e.into();
        }
        serde_json::from_value(v).unwrap()
    }

    fn tencent(endpoint: Option<&str>) -> NatGatewaySpec {
        spec(serde_json::json!({"tencent": {"region": "ap-guangzhou", "vpcId": "vpc-xdf54d"}}), endpoint)
    }

    fn huawei(region: &str, endpoint: Option<&str>) -> NatGatewaySpec {
        spec(serde_json::json!({"huawei": {"region": region}}), endpoint)
    }

    /// The check as the connector makes it, for the built-in cloud the spec names.
    fn check(p: &EndpointPolicy, spec: &NatGatewaySpec) -> Result<(), CloudError> {
        let (_, selected) = crate::cloud::Registry::builtin().select(spec).expect("a built-in cloud");
        p.check(spec, &selected)
    }

    fn reason(r: Result<(), CloudError>) -> Option<Refusal> {
        r.err().map(|e| e.refusal.expect("a refusal"))
    }

    #[test]
    fn documented_endpoints_are_allowed_by_default() {
        let p = EndpointPolicy::default();
        for e in [
            None,
            Some("https://vpc.tencentcloudapi.com"),
            Some("https://vpc.tencentcloudapi.com/"),
            Some("HTTPS://VPC.TencentCloudAPI.com:443"),
            Some("https://vpc.ap-guangzhou.tencentcloudapi.com"),
            Some("https://vpc.api.qcloud.com"),
        ] {
            assert_eq!(check(&p, &tencent(e)), Ok(()), "{e:?}");
        }
        for e in ["https://nat.cn-north-4.myhuaweicloud.com", "https://bss-intl.myhuaweicloud.com"] {
            assert_eq!(check(&p, &huawei("cn-north-4", Some(e))), Ok(()), "{e}");
        }
    }

    #[test]
    fn hostile_endpoints_are_refused() {
        let p = EndpointPolicy::new(&["https://nat.internal:8443".into()], false, false).unwrap();
        for e in [
            "http://vpc.tencentcloudapi.com",
            "https://user:pass@vpc.tencentcloudapi.com",
            "https://vpc.tencentcloudapi.com@evil.example",
            "https://169.254.169.254",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]",
            "https://[::ffff:127.0.0.1]",
            "https://127.0.0.1:1",
            "https://2130706433",
            "https://0x7f.1",
            "https://localhost",
            "https://vpc.tencentcloudapi.com.",
            "https://vpc.tencentcloudapi.com:8443",
            "https://vpc.tencentcloudapi.com.evil.example",
            "https://vpc.tencentcloudapi.com/?x=1",
            "https://vpc.tencentcloudapi.com/#frag",
            "https://vpc.tencentcloudapi.com/other",
            " https://vpc.tencentcloudapi.com",
            "https://vpc.tencentcloudapi.com\t",
            "https://vpc.tencentcloudapı.com", // dotless i: an IDN, punycode differs
            "https://vpc.tencentcloudapi.com%2e",
            "https://nat.cn-north-4.myhuaweicloud.com", // another cloud's documented endpoint
            "https://nat.internal",                     // allowed only with its port
            "ftp://vpc.tencentcloudapi.com",
            "//vpc.tencentcloudapi.com",
            "vpc.tencentcloudapi.com",
        ] {
            assert_eq!(reason(check(&p, &tencent(Some(e)))), Some(Refusal::EndpointNotAllowed), "{e:?}");
        }
        assert_eq!(check(&p, &tencent(Some("https://NAT.internal:8443/"))), Ok(()));
        // A region template follows the resource's own region only.
        let other_region = huawei("cn-north-4", Some("https://nat.cn-south-1.myhuaweicloud.com"));
        assert_eq!(reason(check(&p, &other_region)), Some(Refusal::EndpointNotAllowed));
    }

    #[test]
    fn the_message_names_the_flag_and_never_the_whole_value() {
        let long = format!("https://evil.example/{}", "a".repeat(3000));
        let e = check(&EndpointPolicy::default(), &tencent(Some(&long))).unwrap_err();
        assert!(e.message.contains("--allowed-endpoint"), "{e}");
        assert!(e.message.chars().count() <= crate::cloud::error::MAX_MESSAGE, "{}", e.message);
    }

    #[test]
    fn installers_must_opt_in_to_http_and_private_addresses() {
        let allow = |v: &str, http, private| EndpointPolicy::new(&[v.to_owned()], http, private);
        assert!(matches!(allow("http://vpc.internal", false, false), Err(PolicyError::Http { .. })));
        for v in [
            "https://127.0.0.1:1",
            "https://[::1]:8443",
            "https://169.254.169.254",
            "https://10.0.0.1",
            "https://[fd00::1]",
        ] {
            assert!(matches!(allow(v, false, false), Err(PolicyError::Private { .. })), "{v}");
            assert!(allow(v, false, true).is_ok(), "{v}");
        }
        assert!(matches!(allow("https://u:p@vpc.internal", true, true), Err(PolicyError::Malformed { .. })));
        assert!(matches!(allow("https://vpc.internal?x", true, true), Err(PolicyError::Malformed { .. })));
        let p = allow("http://127.0.0.1:8080", true, true).unwrap();
        assert_eq!(check(&p, &tencent(Some("http://127.0.0.1:8080"))), Ok(()));
        assert_eq!(reason(check(&p, &tencent(Some("http://127.0.0.1:8081")))), Some(Refusal::EndpointNotAllowed));
        // An installer's template with the region.
        let p = allow("https://nat.{region}.internal", false, false).unwrap();
        assert_eq!(check(&p, &huawei("cn-north-4", Some("https://nat.cn-north-4.internal"))), Ok(()));
    }

    #[test]
    fn values_that_reach_hosts_or_paths_are_plain_tokens() {
        let p = EndpointPolicy::default();
        for region in ["x@127.0.0.1:29999#", "cn-north-4.evil", "CN-NORTH-4", "cn--north", "-cn", "", "cn/north"] {
            assert_eq!(reason(check(&p, &huawei(region, None))), Some(Refusal::InvalidSpec), "{region:?}");
        }
        let with = |field: &str, value: &str| {
            let mut s = huawei("cn-north-4", None);
            match field {
                "projectId" => {
                    if let ProviderSpec::Huawei(h) = &mut s.provider {
                        h.project_id = Some(value.into());
                    }
                }
                _ => s.gateway_id = value.into(),
            }
            s
        };
        for v in ["../../v3/projects", "a/b", "a?b", "a#b", "a b", "a%2e"] {
            assert_eq!(reason(check(&p, &with("projectId", v))), Some(Refusal::InvalidSpec), "{v}");
            assert_eq!(reason(check(&p, &with("gatewayId", v))), Some(Refusal::InvalidSpec), "{v}");
        }
        let mut t = tencent(None);
        if let ProviderSpec::Tencent(tc) = &mut t.provider {
            tc.vpc_id = Some("vpc-1&Action=Other".into());
        }
        assert_eq!(reason(check(&p, &t)), Some(Refusal::InvalidSpec));
        // Real shapes and the simulators' seeds pass.
        for v in ["0b0e8d9f5a2c4b7e9d1f3a5c7e9b1d3f", "proj-faults", "5f1ab3a4-6c2d-4e1f-9a7b-2c3d4e5f6a7b", "nat-rbac"]
        {
            assert_eq!(check(&p, &with("projectId", v)), Ok(()), "{v}");
            assert_eq!(check(&p, &with("gatewayId", v)), Ok(()), "{v}");
        }
        assert!(check_project_id("../x").is_err() && check_project_id("0b0e8d9f5a2c4b7e").is_ok());
    }

    fn keyless(provider: serde_json::Value, identity: serde_json::Value) -> NatGatewaySpec {
        serde_json::from_value(serde_json::json!({
            "gatewayId": "nat-1", "provider": provider, "size": "Small", "workloadIdentity": identity,
        }))
        .unwrap()
    }

    #[test]
    fn workload_identity_values_are_checked_before_use() {
        let p = EndpointPolicy::default();
        let tencent = |sa: &str, role: &str, duration: u32| {
            keyless(
                serde_json::json!({"tencent": {"region": "ap-guangzhou"}}),
                serde_json::json!({"serviceAccountName": sa, "tencent": {
                    "providerId": "k8s-oidc", "roleArn": role, "durationSeconds": duration}}),
            )
        };
        let role = "qcs::cam::uin/100000000001:roleName/natgw.platform@x";
        assert_eq!(check(&p, &tencent("natgw-cloud", role, 7200)), Ok(()));
        for (sa, role, duration) in [
            ("kube-system/default", role, 7200),
            ("../x", role, 7200),
            ("Natgw", role, 7200),
            ("natgw", "qcs::cam::uin/12a:roleName/x", 7200),
            ("natgw", "qcs::cam::uin/1:role/4611686018427397919", 7200),
            ("natgw", "qcs::cam::uin/1:roleName/", 7200),
            ("natgw", "qcs::cam::uin/1:roleName/a b", 7200),
            ("natgw", role, 43201),
            ("natgw", role, 0),
        ] {
            assert_eq!(
                reason(check(&p, &tencent(sa, role, duration))),
                Some(Refusal::InvalidSpec),
                "{sa} {role} {duration}"
            );
        }
        let huawei = |idp: &str, domain: &str, duration: u32| {
            keyless(
                serde_json::json!({"huawei": {"region": "cn-north-4"}}),
                serde_json::json!({"serviceAccountName": "natgw", "huawei": {
                    "identityProviderId": idp, "domainId": domain, "durationSeconds": duration}}),
            )
        };
        assert_eq!(check(&p, &huawei("k8s-oidc", "0b0e8d9f", 900)), Ok(()));
        for (idp, domain, duration) in
            [("a\r\nX-Evil: 1", "d", 900), ("idp", "d\nx", 900), ("idp", "d", 899), ("idp", "d", 86401)]
        {
            assert_eq!(reason(check(&p, &huawei(idp, domain, duration))), Some(Refusal::InvalidSpec), "{idp:?}");
        }
        // The identity of another cloud than the provider's.
        let mismatched = keyless(
            serde_json::json!({"huawei": {"region": "cn-north-4"}}),
            serde_json::json!({"serviceAccountName": "natgw", "tencent": {"providerId": "p", "roleArn": role}}),
        );
        assert_eq!(reason(check(&p, &mismatched)), Some(Refusal::InvalidSpec));
    }

    #[test]
    fn exchange_endpoints_come_from_the_same_allow_list() {
        let p = EndpointPolicy::new(&["https://private.internal:8443".into()], false, false).unwrap();
        let (_, selected) = crate::cloud::Registry::builtin().select(&tencent(None)).unwrap();
        for ok in [
            "https://sts.tencentcloudapi.com",
            "https://sts.ap-guangzhou.tencentcloudapi.com",
            "https://private.internal:8443",
        ] {
            assert_eq!(p.check_exchange_endpoint(ok, &selected), Ok(()), "{ok}");
        }
        for bad in
            ["https://sts.ap-beijing.tencentcloudapi.com", "https://evil.example", "https://iam.myhuaweicloud.com"]
        {
            assert_eq!(reason(p.check_exchange_endpoint(bad, &selected)), Some(Refusal::EndpointNotAllowed), "{bad}");
        }
        let (_, selected) = crate::cloud::Registry::builtin().select(&huawei("cn-north-4", None)).unwrap();
        assert_eq!(p.check_exchange_endpoint("https://iam.cn-north-4.myhuaweicloud.com", &selected), Ok(()));
    }

    #[test]
    fn tokens_go_to_plain_http_exchange_endpoints_only_with_the_flag() {
        let http = "http://127.0.0.1:8080";
        let allowed = || EndpointPolicy::new(&[http.into(), "https://127.0.0.1:8443".into()], true, true).unwrap();
        for spec in [tencent(Some(http)), huawei("cn-north-4", Some(http))] {
            let (_, selected) = crate::cloud::Registry::builtin().select(&spec).unwrap();
            let refused = allowed().check_exchange_endpoint(http, &selected).unwrap_err();
            assert_eq!(refused.refusal, Some(Refusal::InsecureEndpoint));
            assert!(refused.message.contains("--allow-http-credentials"), "{}", refused.message);
            assert!(refused.message.contains("https://"), "{}", refused.message);
            assert_eq!(allowed().with_http_credentials(true).check_exchange_endpoint(http, &selected), Ok(()));
            // HTTPS needs no flag; off the allow-list stays EndpointNotAllowed, flag or not.
            assert_eq!(allowed().check_exchange_endpoint("https://127.0.0.1:8443", &selected), Ok(()));
            let unlisted =
                allowed().with_http_credentials(true).check_exchange_endpoint("http://127.0.0.1:9", &selected);
            assert_eq!(reason(unlisted), Some(Refusal::EndpointNotAllowed));
        }
    }

    #[test]
    fn the_plain_http_refusal_says_the_fix_uncut() {
        let long = format!("http://{}.example:65535", "h".repeat(80));
        let e = sent_in_clear(&long, "Tencent Cloud API 2.0 sends the SecretId and any Token");
        assert!(!e.message.ends_with('…'), "cut: {}", e.message);
        assert!(e.message.ends_with("--allow-http-credentials"), "{}", e.message);
        assert_eq!((e.kind, e.refusal), (ErrorKind::InvalidRequest, Some(Refusal::InsecureEndpoint)));
    }

    fn is_private_ip(ip: std::net::IpAddr) -> bool {
        match ip {
            std::net::IpAddr::V4(v4) => private_v4(v4),
            std::net::IpAddr::V6(v6) => private_v6(v6),
        }
    }

    #[test]
    fn private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "2001:db8::1", "100.128.0.1"] {
            assert!(!is_private_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
