//! Reads a resource's cloud credentials from the Secret in its own namespace.
//!
//! Two ways to get there ([`SecretAccess`]): `cluster`, where the operator may list and watch
//! Secrets (their metadata) wherever it watches NatGateways, and `granted`, for multi-tenant
//! clusters, where it holds no Secret grant of its own and each namespace lets it `get` its
//! Secret(s) with a RoleBinding; a Secret it was not granted stalls its resources with
//! `SecretForbidden`, naming the binding to create.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use parking_lot::Mutex;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, Client, ResourceExt, runtime::controller::Action};

use crate::{
    cloud::{Credentials, profile::SecretKeys, shape::is_object_name},
    plan::Reason,
};

/// How the operator reaches Secrets (`run --secret-access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SecretAccess {
    /// List and watch Secrets' metadata wherever NatGateways are watched; a rotated Secret is
    /// seen at once. Needs Secret get/list/watch there (deploy/all-secrets/, deploy/namespaced/).
    #[default]
    Cluster,
    /// No Secret watch: `get` only the referenced Secret, in namespaces that granted it with a
    /// RoleBinding; a rotation is seen within a drift interval (deploy/, multi-tenant clusters).
    Granted,
}

/// The ClusterRole that deploy/ ships for namespaces to bind (deploy/rbac/secret-reader.yaml).
pub const SECRET_READER_ROLE: &str = "natgw-operator-secret-reader";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Secret {namespace}/{name} does not exist; create it with the cloud credentials")]
    Missing { namespace: String, name: String },
    #[error("Secret {namespace}/{name} {problem}")]
    Invalid { namespace: String, name: String, problem: String },
    #[error(
        "credentialsSecretRef.name {name:?} is not the name of a Secret (lowercase letters, digits, '-' and '.', at most 253, no '/'); name a Secret in namespace {namespace}"
    )]
    InvalidName { namespace: String, name: String },
    #[error(
        "the operator may not read Secret {namespace}/{name}: a RoleBinding is missing; grant it in namespace {namespace} with `kubectl create rolebinding natgw-operator-secrets -n {namespace} --clusterrole={SECRET_READER_ROLE} {subject}` (add resourceNames with a Role instead to grant this Secret only)"
    )]
    Forbidden {
        namespace: String,
        name: String,
        /// `--serviceaccount=NS:NAME` (or `--user=NAME`) of the identity that was refused.
        subject: String,
    },
    #[error("could not read Secret {namespace}/{name}: {source}")]
    Kube { namespace: String, name: String, source: kube::Error },
}

impl CredentialsError {
    /// The `Stalled` reason for problems a person must fix; `None` for ones worth retrying.
    pub fn stall_reason(&self) -> Option<Reason> {
        match self {
            CredentialsError::Missing { .. } => Some(Reason::SecretNotFound),
            CredentialsError::Invalid { .. } => Some(Reason::CredentialsInvalid),
            CredentialsError::InvalidName { .. } => Some(Reason::InvalidSecretRef),
            CredentialsError::Forbidden { .. } => Some(Reason::SecretForbidden),
            CredentialsError::Kube { .. } => None,
        }
    }
}

/// `--serviceaccount=NS:NAME` from a 403's message (`User "system:serviceaccount:NS:NAME" cannot
/// ...`), else `--user=NAME`, else the ServiceAccount of deploy/.
fn subject_of(message: &str) -> String {
    let user = message.split('"').nth(1).filter(|_| message.starts_with("User \""));
    match user {
        Some(u) => match u.strip_prefix("system:serviceaccount:") {
            Some(sa) => format!("--serviceaccount={sa}"),
            None => format!("--user={u}"),
        },
        None => "--serviceaccount=natgw-system:natgw-operator".to_owned(),
    }
}

/// Credentials of the Secrets that NatGateways reference, reused until the Secret changes.
///
/// Without it every reconcile GETs its Secret: at 10,000 NatGateways that was half of the API
/// requests the operator made. The Secret watch ([`Cache::saw`]) drops an entry when the Secret
/// changes or goes; `max_age` bounds how long a change the watch missed (say, a deletion during
/// a watch gap) can go unseen.
pub struct Cache {
    max_age: Duration,
    access: SecretAccess,
    /// How soon a resource stalled by its Secret looks again when no watch will tell it.
    recheck: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
}

type Key = (String, String, SecretKeys);

#[derive(Default)]
struct Entry {
    cached: Option<Cached>,
    /// Moves on every change the watch reports: a read that began before a change must not
    /// cache what it got.
    epoch: u64,
}

struct Cached {
    resource_version: Option<String>,
    credentials: Credentials,
    at: Instant,
}

impl Cache {
    pub fn new(max_age: Duration, access: SecretAccess, recheck: Duration) -> Cache {
        Cache { max_age, access, recheck, entries: Mutex::default() }
    }

    /// When a resource stalled by a Secret problem (`forbidden` when it may not read it) looks
    /// again: when the Secret watch reports a change, or, where none can (no watch, or a missing
    /// RoleBinding, which no Secret event reports), after a while.
    pub fn after_stall(&self, forbidden: bool) -> Action {
        if self.access == SecretAccess::Cluster && !forbidden {
            Action::await_change()
        } else {
            Action::requeue(self.recheck)
        }
    }

    /// The Secret watch saw `namespace/name` at `resource_version`; `None` when it was deleted.
    pub fn saw(&self, namespace: &str, name: &str, resource_version: Option<&str>) {
        let mut entries = self.entries.lock();
        for ((ns, n, _), entry) in entries.iter_mut() {
            let unchanged = entry
                .cached
                .as_ref()
                .is_some_and(|c| resource_version.is_some() && c.resource_version.as_deref() == resource_version);
            if ns == namespace && n == name && !unchanged {
                entry.cached = None;
                entry.epoch += 1;
            }
        }
    }

    /// The credentials in Secret `namespace/name` under the cloud's `keys`: from the cache while
    /// the Secret is unchanged, else read from the API server. `fresh` reads it whatever is
    /// cached (and caches the answer): what an order is placed with, so that a grant revoked
    /// since the last read stops it.
    pub async fn read(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
        keys: SecretKeys,
        fresh: bool,
    ) -> Result<Credentials, CredentialsError> {
        if fresh {
            self.saw(namespace, name, None);
        }
        self.read_with((namespace.to_owned(), name.to_owned(), keys), read(client, namespace, name, keys)).await
    }

    /// Drops what is cached of every Secret in `namespace`: its grants changed (a RoleBinding or
    /// Role), so that the next read asks the API server whether the operator may still read them.
    pub fn forget_namespace(&self, namespace: &str) {
        for (_, entry) in self.entries.lock().iter_mut().filter(|((ns, _, _), _)| ns == namespace) {
            entry.cached = None;
            entry.epoch += 1;
        }
    }

    /// [`Cache::read`] with the API read as `fetch`, which runs only on a miss.
    async fn read_with(
        &self,
        key: Key,
        fetch: impl Future<Output = Result<(Credentials, Option<String>), CredentialsError>>,
    ) -> Result<Credentials, CredentialsError> {
        let epoch = {
            let mut entries = self.entries.lock();
            if let Some(c) = entries.get(&key).and_then(|e| e.cached.as_ref()).filter(|c| c.at.elapsed() < self.max_age)
            {
                return Ok(c.credentials.clone());
            }
            // Expired answers go; an entry without one (its read failed or was overtaken by a
            // change) stays, keeping its epoch: a few bytes per Secret name ever referenced.
            entries.retain(|_, e| e.cached.as_ref().is_none_or(|c| c.at.elapsed() < self.max_age));
            entries.entry(key.clone()).or_default().epoch
        };
        let (credentials, resource_version) = fetch.await?;
        let mut entries = self.entries.lock();
        if let Some(entry) = entries.get_mut(&key).filter(|e| e.epoch == epoch) {
            entry.cached = Some(Cached { resource_version, credentials: credentials.clone(), at: Instant::now() });
        }
        Ok(credentials)
    }
}

/// The credentials in Secret `namespace/name` under `keys`, read once (for commands run outside
/// the controller, such as `import`).
pub async fn read_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    keys: SecretKeys,
) -> Result<Credentials, CredentialsError> {
    read(client, namespace, name, keys).await.map(|(credentials, _)| credentials)
}

async fn read(
    client: &Client,
    namespace: &str,
    name: &str,
    keys: SecretKeys,
) -> Result<(Credentials, Option<String>), CredentialsError> {
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    // The name goes into the request path: `other/creds` or `../..` must not reach another object.
    if !is_object_name(&name) {
        return Err(CredentialsError::InvalidName { namespace, name });
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = match api.get_opt(&name).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(CredentialsError::Missing { namespace, name }),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            let subject = subject_of(&status.message);
            return Err(CredentialsError::Forbidden { namespace, name, subject });
        }
        Err(source) => return Err(CredentialsError::Kube { namespace, name, source }),
    };
    let credentials = parse(&secret, keys).map_err(|problem| CredentialsError::Invalid { namespace, name, problem })?;
    Ok((credentials, secret.resource_version()))
}

/// Extracts credentials; the error names keys, never values.
fn parse(secret: &Secret, keys: SecretKeys) -> Result<Credentials, String> {
    let SecretKeys { key_id: id_key, secret: secret_key, token: token_key, domain_id: domain_key } = keys;
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
            domain_key.map(|k| format!(", {k}")).unwrap_or_default(),
            if present.is_empty() { "no keys".to_owned() } else { present.join(", ") }
        )
    };
    Credentials::from_keys(keys, get)?.ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::SecretValue;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(pairs.iter().map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec()))).collect()),
            ..Default::default()
        }
    }

    /// Two clouds' kinds of keys: a token, or a token and an account id.
    const TOKEN: SecretKeys = SecretKeys { key_id: "secretId", secret: "secretKey", token: "token", domain_id: None };
    const DOMAIN: SecretKeys =
        SecretKeys { key_id: "accessKey", secret: "secretKey", token: "securityToken", domain_id: Some("domainId") };

    #[test]
    fn reads_each_clouds_keys() {
        let c = parse(&secret(&[("secretId", "AKID1"), ("secretKey", "s3cr3t\n")]), TOKEN).unwrap();
        assert_eq!((c.key_id.as_str(), c.secret.expose(), c.session_token.is_none()), ("AKID1", "s3cr3t", true));
        let c = parse(
            &secret(&[("accessKey", "AK"), ("secretKey", "SK"), ("securityToken", "T"), ("domainId", "D")]),
            DOMAIN,
        )
        .unwrap();
        assert_eq!(c.session_token.unwrap().expose(), "T");
        assert_eq!(c.domain_id.as_deref(), Some("D"));
    }

    fn creds(key_id: &str) -> Credentials {
        Credentials { key_id: key_id.into(), secret: SecretValue::new("s"), session_token: None, domain_id: None }
    }

    fn key(name: &str) -> Key {
        ("ns".into(), name.into(), TOKEN)
    }

    /// Reads `name` through the cache; the API read answers `key_id` at `rv`. Returns what the
    /// cache gave and whether the API was asked.
    async fn get(cache: &Cache, name: &str, key_id: &str, rv: &str) -> (String, bool) {
        let asked = std::cell::Cell::new(false);
        let fetch = async {
            asked.set(true);
            Ok((creds(key_id), Some(rv.to_owned())))
        };
        let got = cache.read_with(key(name), fetch).await.unwrap();
        (got.key_id, asked.get())
    }

    #[tokio::test]
    async fn a_secret_is_read_once_until_the_watch_reports_a_change() {
        let cache = Cache::new(Duration::from_secs(600), SecretAccess::Cluster, Duration::ZERO);
        assert_eq!(get(&cache, "a", "K1", "1").await, ("K1".into(), true));
        assert_eq!(get(&cache, "a", "K2", "2").await, ("K1".into(), false), "cached");
        cache.saw("ns", "a", Some("1")); // a relist: same version
        assert_eq!(get(&cache, "a", "K2", "2").await, ("K1".into(), false));
        cache.saw("other", "a", Some("9")); // same name, other namespace
        cache.saw("ns", "b", Some("9"));
        assert_eq!(get(&cache, "a", "K2", "2").await, ("K1".into(), false));
        cache.saw("ns", "a", Some("2")); // rotated
        assert_eq!(get(&cache, "a", "K2", "2").await, ("K2".into(), true));
        cache.saw("ns", "a", None); // deleted
        assert_eq!(get(&cache, "a", "K3", "3").await, ("K3".into(), true));
    }

    /// A RoleBinding or Role changed in a namespace: its Secrets are asked for again, others not.
    #[tokio::test]
    async fn a_grant_change_drops_the_namespace_s_secrets_only() {
        let cache = Cache::new(Duration::from_secs(600), SecretAccess::Granted, Duration::ZERO);
        assert_eq!(get(&cache, "a", "K1", "1").await, ("K1".into(), true));
        cache.forget_namespace("other");
        assert_eq!(get(&cache, "a", "K2", "1").await, ("K1".into(), false));
        cache.forget_namespace("ns");
        assert_eq!(get(&cache, "a", "K2", "1").await, ("K2".into(), true));
    }

    #[tokio::test]
    async fn a_read_overtaken_by_a_change_is_not_cached() {
        let cache = Cache::new(Duration::from_secs(600), SecretAccess::Cluster, Duration::ZERO);
        let fetch = async {
            // The Secret changes while the read is in flight: what it got may be the old one.
            cache.saw("ns", "a", Some("2"));
            Ok((creds("K1"), Some("1".to_owned())))
        };
        assert_eq!(cache.read_with(key("a"), fetch).await.unwrap().key_id, "K1");
        assert_eq!(get(&cache, "a", "K2", "2").await, ("K2".into(), true));
    }

    #[tokio::test]
    async fn failures_are_not_cached_and_entries_expire() {
        let cache = Cache::new(Duration::ZERO, SecretAccess::Cluster, Duration::ZERO);
        let missing = async { Err(CredentialsError::Missing { namespace: "ns".into(), name: "a".into() }) };
        assert!(cache.read_with(key("a"), missing).await.is_err());
        assert_eq!(get(&cache, "a", "K1", "1").await, ("K1".into(), true));
        assert_eq!(get(&cache, "a", "K2", "1").await, ("K2".into(), true), "max_age 0: always read");
    }

    #[test]
    fn secret_names_are_dns_subdomains() {
        for ok in ["cloud-creds", "a", "creds.v2", "0", &"a".repeat(253)] {
            assert!(is_object_name(ok), "{ok}");
        }
        for bad in ["other/creds", "../..", "..", ".", "", "Creds", "-a", "a-", "a..b", "a_b", "a b", &"a".repeat(254)]
        {
            assert!(!is_object_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_binding_to_create() {
        let sa = r#"User "system:serviceaccount:natgw-system:natgw-operator" cannot get resource "secrets" in API group "" in the namespace "team-a""#;
        assert_eq!(subject_of(sa), "--serviceaccount=natgw-system:natgw-operator");
        assert_eq!(subject_of(r#"User "alice" cannot get resource "secrets""#), "--user=alice");
        assert_eq!(subject_of("forbidden"), "--serviceaccount=natgw-system:natgw-operator");
        let e =
            CredentialsError::Forbidden { namespace: "team-a".into(), name: "creds".into(), subject: subject_of(sa) };
        let text = e.to_string();
        assert!(
            text.contains(
                "-n team-a --clusterrole=natgw-operator-secret-reader --serviceaccount=natgw-system:natgw-operator"
            ),
            "{text}"
        );
        assert_eq!(e.stall_reason(), Some(Reason::SecretForbidden));
    }

    #[test]
    fn only_the_watch_lets_a_stalled_resource_wait_for_a_change() {
        let cluster = Cache::new(Duration::ZERO, SecretAccess::Cluster, Duration::from_secs(60));
        assert_eq!(cluster.after_stall(false), Action::await_change());
        assert_eq!(cluster.after_stall(true), Action::requeue(Duration::from_secs(60)));
        let granted = Cache::new(Duration::ZERO, SecretAccess::Granted, Duration::from_secs(60));
        assert_eq!(granted.after_stall(false), Action::requeue(Duration::from_secs(60)));
    }

    #[test]
    fn wrong_keys_are_named_but_values_are_not() {
        let err = parse(&secret(&[("accessKey", "AK"), ("secretKey", "topsecret")]), TOKEN).unwrap_err();
        assert!(err.contains("secretId and secretKey"), "{err}");
        assert!(err.contains("accessKey, secretKey"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        let err = parse(&secret(&[]), DOMAIN).unwrap_err();
        assert!(err.contains("no keys"), "{err}");
    }
}
