//! What the handlers of the three APIs share: the simulator's state and reading a request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::HeaderMap;

use super::{
    config::{BSS_ACTIONS, BSS_LIMIT_PER_SECOND, HuaweiSimConfig, SimProject},
    subscription::SeedTerms,
    world::World,
};
use crate::{core::SimCore, recorder::RecordedRequest};

/// Everything the handlers share.
#[derive(Debug)]
pub struct SimState {
    pub core: Arc<SimCore>,
    world: Mutex<World>,
    projects: Mutex<Vec<SimProject>>,
    pub(super) domain_id: Option<String>,
    pub(super) clock_window: Duration,
    pub(super) federated_tokens: FederatedTokens,
    /// `Some` when [`HuaweiSimConfig::keep_requests`]: the requests received.
    pub(super) kept: Option<Mutex<Vec<RecordedRequest>>>,
    /// [`HuaweiSimConfig::accounts`].
    accounts: HashMap<String, Vec<String>>,
}

impl SimState {
    /// The state for a configuration; BSS calls start rate-limited as documented.
    pub fn new(config: &HuaweiSimConfig) -> Arc<SimState> {
        let mut limits: HashMap<String, u32> = BSS_ACTIONS.map(|a| (a.to_owned(), BSS_LIMIT_PER_SECOND)).into();
        limits.extend(config.rate_limits.iter().map(|(a, n)| (a.clone(), *n)));
        // 0 lifts a limit, as on the control API.
        limits.retain(|_, n| *n > 0);
        let mut seeded = World::new(config.change_time, config.order_time);
        for seed in &config.gateways {
            seeded.seed(seed.clone(), SeedTerms::default());
        }
        let core = Arc::new(SimCore::new(config.credentials.clone(), limits));
        core.tags.set_delay(config.tag_delay);
        Arc::new(SimState {
            core,
            world: Mutex::new(seeded),
            projects: Mutex::new(config.projects.clone()),
            domain_id: config.domain_id.clone(),
            clock_window: config.clock_window,
            federated_tokens: FederatedTokens::default(),
            kept: config.keep_requests.then(Mutex::default),
            accounts: config.accounts.clone(),
        })
    }

    /// Keeps `request` when asked to ([`HuaweiSimConfig::keep_requests`]); never the session token.
    pub(super) fn keep(&self, request: impl FnOnce() -> RecordedRequest) {
        if let Some(kept) = &self.kept {
            let mut request = request();
            request.headers.retain(|(name, _)| name != "x-security-token");
            kept.lock().unwrap_or_else(|e| e.into_inner()).push(request);
        }
    }

    /// Whether the account of `key_id` holds `project` ([`HuaweiSimConfig::accounts`]).
    pub(super) fn holds(&self, key_id: &str, project: &str) -> bool {
        self.accounts.is_empty() || self.accounts.get(key_id).is_some_and(|p| p.iter().any(|p| p == project))
    }

    pub(super) fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn projects(&self) -> std::sync::MutexGuard<'_, Vec<SimProject>> {
        self.projects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A request header as text; here rather than in `api` because the IAM handlers read them too.
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The federated tokens issued, by token, with their expiry (unix seconds).
#[derive(Default)]
pub(super) struct FederatedTokens {
    expiry: Mutex<HashMap<String, u64>>,
}

/// Tokens are secrets: only their number is shown.
impl std::fmt::Debug for FederatedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedTokens").field("issued", &self.lock().len()).finish()
    }
}

impl FederatedTokens {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.expiry.lock().unwrap_or_else(|e| e.into_inner())
    }
}
