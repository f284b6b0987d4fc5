//! Workload identity: temporary cloud credentials for the ServiceAccount a resource names in its
//! own namespace.
//!
//! The operator asks the API server for a short-lived token of that ServiceAccount (TokenRequest,
//! `serviceaccounts/token` create, with the installer's audience), hands it to the connector,
//! which sends it only to the cloud's allow-listed STS / IAM endpoint, and keeps the temporary
//! credentials that come back: per (namespace, identity, endpoint), until 80% of their life has
//! passed. The token itself is dropped after the exchange. A reconcile pass takes its credentials
//! once, before its first cloud call, so a refresh never falls between an order's calls.

use std::{collections::HashMap, sync::Arc, time::Duration};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use kube::{Api, Client, api::PostParams};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::{
    api::{NatGatewaySpec, WorkloadIdentity},
    cloud::{
        CloudError, Connector, Credentials, SecretValue,
        endpoints::check_values,
        identity::{ExchangeError, Refused},
    },
    metrics::Metrics,
    plan::Reason,
};

/// `expirationSeconds` of the TokenRequest: the least the API server grants. The token is used
/// at once, for one exchange.
const TOKEN_SECONDS: i64 = 600;
/// Credentials are exchanged again once this share of their life has passed.
const REFRESH_AT: f64 = 0.8;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "ServiceAccount {namespace}/{name} does not exist; create it, or name an existing ServiceAccount of namespace {namespace} in workloadIdentity.serviceAccountName"
    )]
    ServiceAccountMissing { namespace: String, name: String },
    #[error(
        "the operator may not request tokens of ServiceAccount {namespace}/{name} ({message}); it needs create on serviceaccounts/token, which deploy/ grants"
    )]
    Forbidden { namespace: String, name: String, message: String },
    #[error("requesting a token of ServiceAccount {namespace}/{name} failed: {message}")]
    TokenRequest { namespace: String, name: String, message: String },
    #[error("{message}")]
    Refused { refused: Refused, message: String },
    /// A refusal before the exchange (values, endpoint) or a failed call, as for any cloud call.
    #[error("{0}")]
    Cloud(CloudError),
}

impl IdentityError {
    /// The `Stalled` reason for problems a person must fix; `None` for ones handled elsewhere
    /// ([`IdentityError::Cloud`]) or worth retrying ([`IdentityError::TokenRequest`]).
    pub fn stall_reason(&self) -> Option<Reason> {
        match self {
            IdentityError::ServiceAccountMissing { .. } => Some(Reason::ServiceAccountNotFound),
            IdentityError::Forbidden { .. } => Some(Reason::TokenRequestForbidden),
            IdentityError::Refused { refused: Refused::UnknownRole, .. } => Some(Reason::IdentityRoleNotFound),
            IdentityError::Refused { refused: Refused::SubjectNotTrusted, .. } => Some(Reason::IdentityNotTrusted),
            IdentityError::Refused { refused: Refused::TokenRejected, .. } => Some(Reason::IdentityTokenRejected),
            IdentityError::TokenRequest { .. } | IdentityError::Cloud(_) => None,
        }
    }
}

type Key = (String, WorkloadIdentity, Option<String>);

struct Held {
    credentials: Credentials,
    refresh_at: Instant,
    expires_at: Instant,
}

/// Temporary credentials of the workload identities resources use.
pub struct Identities {
    /// The audience of every token requested (`run --workload-identity-audience`).
    audience: String,
    /// One slot per identity: concurrent reconciles of one identity wait for one exchange.
    entries: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Option<Held>>>>>,
}

impl Identities {
    pub fn new(audience: impl Into<String>) -> Identities {
        Identities { audience: audience.into(), entries: Mutex::default() }
    }

    /// Credentials for `identity` of a resource in `namespace`: cached ones while they are in
    /// the first 80% of their life (unless `fresh`), else a fresh token exchanged through
    /// `connector`.
    #[allow(clippy::too_many_arguments)] // each is one thing the exchange needs; no struct holds them
    pub async fn credentials(
        &self,
        client: &Client,
        connector: &dyn Connector,
        namespace: &str,
        spec: &NatGatewaySpec,
        identity: &WorkloadIdentity,
        metrics: &Metrics,
        fresh: bool,
    ) -> Result<Credentials, IdentityError> {
        // The ServiceAccount name goes into the TokenRequest's path: checked before, with the
        // rest of the spec.
        check_values(spec).map_err(IdentityError::Cloud)?;
        let key = (namespace.to_owned(), identity.clone(), spec.endpoint.clone());
        let sa = identity.service_account_name.as_str();
        self.get_with(key, fresh, async {
            let token = request_token(client, namespace, sa, &self.audience).await?;
            let session = session_name(namespace, sa);
            let temporary = connector
                .exchange(spec, &token, &session, metrics)
                .await
                .map_err(|e| self.explain(namespace, identity, e))?;
            let life = (temporary.expires_at - unix_now()).max(0);
            Ok::<_, IdentityError>((temporary.credentials, Duration::from_secs(life as u64)))
        })
        .await
    }

    /// [`Identities::credentials`] with the token request and exchange as `fetch`, which runs
    /// only when the slot holds nothing fresh (or `fresh` asks for it) and answers the
    /// credentials and their life.
    async fn get_with(
        &self,
        key: Key,
        fresh: bool,
        fetch: impl Future<Output = Result<(Credentials, Duration), IdentityError>>,
    ) -> Result<Credentials, IdentityError> {
        let slot = {
            let mut entries = self.entries.lock();
            // Slots nobody waits on whose credentials expired (or never came) go.
            let now = Instant::now();
            entries.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.try_lock().is_ok_and(|held| matches!(&*held, Some(h) if h.expires_at > now))
            });
            entries.entry(key).or_default().clone()
        };
        let mut held = slot.lock().await;
        if let Some(h) = &*held
            && !fresh
            && Instant::now() < h.refresh_at
        {
            return Ok(h.credentials.clone());
        }
        // A failed refresh leaves nothing: the resource stalls rather than use credentials
        // about to expire.
        *held = None;
        let (credentials, life) = fetch.await?;
        let now = Instant::now();
        *held = Some(Held {
            credentials: credentials.clone(),
            refresh_at: now + life.mul_f64(REFRESH_AT),
            expires_at: now + life,
        });
        Ok(credentials)
    }

    /// A failed exchange, with what to change for a refusal.
    fn explain(&self, namespace: &str, identity: &WorkloadIdentity, e: ExchangeError) -> IdentityError {
        let (refused, error) = match e {
            ExchangeError::Refused { refused, error } => (refused, error),
            ExchangeError::Call(error) => return IdentityError::Cloud(error),
        };
        let advice = match refused {
            Refused::UnknownRole => {
                format!("the cloud knows no such role or identity provider; check {}", identity.cloud.named_by())
            }
            Refused::SubjectNotTrusted => format!(
                "the cloud does not let system:serviceaccount:{namespace}:{} use this identity; allow that subject in {}",
                identity.service_account_name,
                identity.cloud.trusted_by()
            ),
            Refused::TokenRejected => format!(
                "the cloud refused the ServiceAccount token; its identity provider must trust this cluster's service account issuer and accept the audience {:?} (run --workload-identity-audience)",
                self.audience
            ),
        };
        IdentityError::Refused { refused, message: format!("{advice}: {error}") }
    }
}

/// A token of ServiceAccount `namespace/name` for `audience`, from the TokenRequest API. Held in
/// memory for one exchange only, never logged.
async fn request_token(
    client: &Client,
    namespace: &str,
    name: &str,
    audience: &str,
) -> Result<SecretValue, IdentityError> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![audience.to_owned()],
            expiration_seconds: Some(TOKEN_SECONDS),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    match api.create_token_request(&name, &PostParams::default(), &request).await {
        Ok(answer) => match answer.status.map(|s| s.token).filter(|t| !t.is_empty()) {
            Some(token) => Ok(SecretValue::new(token)),
            None => Err(IdentityError::TokenRequest { namespace, name, message: "the answer held no token".into() }),
        },
        Err(kube::Error::Api(s)) if s.code == 404 => Err(IdentityError::ServiceAccountMissing { namespace, name }),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            Err(IdentityError::Forbidden { namespace, name, message: s.message })
        }
        Err(e) => Err(IdentityError::TokenRequest { namespace, name, message: e.to_string() }),
    }
}

/// Tencent `RoleSessionName` (2-128 of `[\w+=,.@-]`; names and namespaces qualify), seen in
/// the cloud's audit log.
fn session_name(namespace: &str, sa: &str) -> String {
    format!("natgw.{namespace}.{sa}").chars().take(128).collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::IdentitySpec,
        cloud::{ErrorKind, tencent::TencentIdentity},
    };

    fn identity(sa: &str) -> WorkloadIdentity {
        WorkloadIdentity {
            service_account_name: sa.into(),
            cloud: IdentitySpec::Tencent(TencentIdentity {
                provider_id: "k8s".into(),
                role_arn: "qcs::cam::uin/1:roleName/r".into(),
                duration_seconds: None,
            }),
        }
    }

    fn key(ns: &str, sa: &str) -> Key {
        (ns.into(), identity(sa), None)
    }

    fn creds(id: &str) -> Credentials {
        Credentials {
            key_id: id.into(),
            secret: SecretValue::new("s"),
            session_token: Some(SecretValue::new("t")),
            domain_id: None,
        }
    }

    /// Asks the cache for `key`; a miss fetches `id` living `life`. Returns what it got and
    /// whether it fetched.
    async fn get(ids: &Identities, key: Key, id: &str, life: Duration) -> (String, bool) {
        let fetched = std::cell::Cell::new(false);
        let fetch = async {
            fetched.set(true);
            Ok((creds(id), life))
        };
        let got = ids.get_with(key, false, fetch).await.unwrap();
        (got.key_id, fetched.get())
    }

    #[tokio::test(start_paused = true)]
    async fn credentials_are_refreshed_at_80_percent_of_their_life() {
        let ids = Identities::new("natgw-operator");
        let hour = Duration::from_secs(3600);
        assert_eq!(get(&ids, key("a", "sa"), "K1", hour).await, ("K1".into(), true));
        tokio::time::advance(Duration::from_secs(2879)).await;
        assert_eq!(get(&ids, key("a", "sa"), "K2", hour).await, ("K1".into(), false), "before 80%: cached");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(get(&ids, key("a", "sa"), "K2", hour).await, ("K2".into(), true), "at 80%: exchanged again");
        // Per namespace and identity: another namespace's same-named ServiceAccount is another.
        assert_eq!(get(&ids, key("b", "sa"), "K3", hour).await, ("K3".into(), true));
        assert_eq!(get(&ids, key("a", "other"), "K4", hour).await, ("K4".into(), true));
        assert_eq!(get(&ids, key("a", "sa"), "K5", hour).await, ("K2".into(), false));
    }

    /// Before an order the exchange is made again, however young the held credentials.
    #[tokio::test(start_paused = true)]
    async fn a_fresh_read_exchanges_again() {
        let ids = Identities::new("aud");
        get(&ids, key("a", "sa"), "K1", Duration::from_secs(3600)).await;
        let fresh = async { Ok((creds("K2"), Duration::from_secs(3600))) };
        assert_eq!(ids.get_with(key("a", "sa"), true, fresh).await.unwrap().key_id, "K2");
        assert_eq!(get(&ids, key("a", "sa"), "K3", Duration::from_secs(3600)).await, ("K2".into(), false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_leaves_nothing_and_the_next_try_exchanges() {
        let ids = Identities::new("aud");
        let life = Duration::from_secs(100);
        get(&ids, key("a", "sa"), "K1", life).await;
        tokio::time::advance(Duration::from_secs(80)).await;
        let failing = async { Err(IdentityError::ServiceAccountMissing { namespace: "a".into(), name: "sa".into() }) };
        let e = ids.get_with(key("a", "sa"), false, failing).await.unwrap_err();
        assert_eq!(e.stall_reason(), Some(Reason::ServiceAccountNotFound));
        assert_eq!(get(&ids, key("a", "sa"), "K2", life).await, ("K2".into(), true), "recreated: recovers");
    }

    #[tokio::test(start_paused = true)]
    async fn expired_slots_are_dropped() {
        let ids = Identities::new("aud");
        get(&ids, key("a", "one"), "K1", Duration::from_secs(10)).await;
        tokio::time::advance(Duration::from_secs(11)).await;
        get(&ids, key("a", "two"), "K2", Duration::from_secs(10)).await;
        assert_eq!(ids.entries.lock().len(), 1);
    }

    #[test]
    fn refusals_say_what_to_fix_and_map_to_reasons() {
        let ids = Identities::new("natgw-operator");
        let refused = |refused| {
            let error = CloudError::new(ErrorKind::Auth, "no").with_code("C");
            ids.explain("team-a", &identity("natgw"), ExchangeError::Refused { refused, error })
        };
        let e = refused(Refused::SubjectNotTrusted);
        assert_eq!(e.stall_reason(), Some(Reason::IdentityNotTrusted));
        assert!(e.to_string().contains("system:serviceaccount:team-a:natgw"), "{e}");
        let e = refused(Refused::TokenRejected);
        assert_eq!(e.stall_reason(), Some(Reason::IdentityTokenRejected));
        assert!(e.to_string().contains("\"natgw-operator\"") && e.to_string().contains("--workload-identity-audience"));
        assert_eq!(refused(Refused::UnknownRole).stall_reason(), Some(Reason::IdentityRoleNotFound));
        // Throttling is no stall: retried with backoff like any throttled call.
        let throttled = CloudError::new(ErrorKind::Throttled, "slow down");
        let e = ids.explain("a", &identity("b"), ExchangeError::Call(throttled.clone()));
        assert!(matches!(&e, IdentityError::Cloud(c) if *c == throttled) && e.stall_reason().is_none());
        let forbidden = IdentityError::Forbidden { namespace: "a".into(), name: "b".into(), message: "m".into() };
        assert_eq!(forbidden.stall_reason(), Some(Reason::TokenRequestForbidden));
    }

    #[test]
    fn session_names_fit_tencents_rule() {
        assert_eq!(session_name("team-a", "natgw"), "natgw.team-a.natgw");
        assert_eq!(session_name("n", &"s".repeat(300)).len(), 128);
    }
}
