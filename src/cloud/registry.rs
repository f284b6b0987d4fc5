//! The clouds the operator knows: each one [`super::spec`] declares, with its client. A cloud says
//! which specs are its ([`Cloud::select`]) and builds clients for them ([`Cloud::connect`]);
//! everything else the operator needs to know about it is in its [`Profile`].

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;

use super::{
    CloudError, Credentials, ErrorKind, Provider, Selected,
    identity::{ExchangeError, ExchangeRequest, Temporary},
    profile::Profile,
    ratelimit::RateLimiter,
};
use crate::api::{NatGatewaySpec, WorkloadIdentity};

/// A cloud: its folder implements this once.
pub trait Cloud: Send + Sync {
    /// `Some` when `spec` names this cloud: which of its APIs, and where the gateway is.
    fn select(&self, spec: &NatGatewaySpec) -> Option<Selected>;

    /// Each of this cloud's profiles with a CEL condition on `spec` that holds exactly when
    /// [`Cloud::select`] picks that profile: the CRD refuses at admission the sizes and billing
    /// modes the profile does not have (src/cloud/admission.rs).
    fn admission(&self) -> Vec<(&'static str, &'static Profile)>;

    /// A client for one account of this cloud.
    fn connect(
        &self,
        selected: &Selected,
        credentials: Credentials,
        shared: Shared<'_>,
    ) -> Result<Arc<dyn Provider>, CloudError>;

    /// Where this cloud sends a workload identity's ServiceAccount token for `selected` (its STS
    /// or IAM endpoint, or the spec's override); checked against the allow-list before use.
    /// `None`: the cloud has no workload identity.
    fn identity_endpoint(&self, _selected: &Selected) -> Option<String> {
        None
    }

    /// Whom the cloud counts the calls of `identity`'s temporary credentials against, whatever
    /// their key id (see [`super::ratelimit::Account::Identity`]); an error when `identity` has
    /// no part for this cloud.
    fn principal(&self, _identity: &WorkloadIdentity) -> Result<String, CloudError> {
        Err(no_workload_identity())
    }

    /// Trades a ServiceAccount token for temporary credentials at `request.endpoint`.
    fn exchange<'a>(&'a self, _request: ExchangeRequest<'a>) -> BoxFuture<'a, Result<Temporary, ExchangeError>> {
        Box::pin(async { Err(ExchangeError::Call(no_workload_identity())) })
    }
}

fn no_workload_identity() -> CloudError {
    CloudError::new(ErrorKind::Unsupported, "this cloud has no workload identity; use credentialsSecretRef")
}

/// What every client of one account shares, handed to [`Cloud::connect`].
pub struct Shared<'a> {
    pub http: &'a reqwest::Client,
    /// The account's rate limiter (built from the profile's limits and the installer's).
    pub limiter: Arc<RateLimiter>,
    /// How old an account-wide read may be to answer a drift check; zero reads every time.
    pub sweep_max_age: Duration,
    /// The installer's `--allow-http-credentials`: without it a client that would send a token
    /// (or Tencent API 2.0's `SecretId`) to a plain-HTTP endpoint is refused before any call
    /// ([`super::endpoints::sent_in_clear`]).
    pub allow_http_credentials: bool,
}

/// The registered clouds; the first whose [`Cloud::select`] claims a spec serves it.
#[derive(Clone)]
pub struct Registry {
    clouds: Vec<Arc<dyn Cloud>>,
}

impl Registry {
    pub fn empty() -> Registry {
        Registry { clouds: Vec::new() }
    }

    /// Registers `cloud` after the ones already registered.
    pub fn with(mut self, cloud: impl Cloud + 'static) -> Registry {
        self.clouds.push(Arc::new(cloud));
        self
    }

    /// Every registered cloud's [`Cloud::admission`] conditions and profiles, in registration order.
    pub fn admission(&self) -> Vec<(&'static str, &'static Profile)> {
        self.clouds.iter().flat_map(|c| c.admission()).collect()
    }

    /// The registered cloud that claims `spec`, with its selection.
    pub fn select(&self, spec: &NatGatewaySpec) -> Option<(&dyn Cloud, Selected)> {
        self.clouds.iter().find_map(|c| c.select(spec).map(|s| (c.as_ref(), s)))
    }
}
