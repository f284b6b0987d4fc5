//! The simulator's state, shared by the products' handlers: the world, the replay guard and the
//! answers kept per `ClientToken`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use serde_json::Value;

use super::{SeedGateway, answer::ApiError, auth, params, world::World};
use crate::core::SimCore;

/// A first answer kept for its `ClientToken`: the parameters it was for, and the answer.
type Kept = (String, Value);

pub struct Sim {
    pub(super) core: Arc<SimCore>,
    pub(super) world: Mutex<World>,
    pub(super) nonces: auth::Nonces,
    /// (account, action, ClientToken) -> the first successful answer.
    pub(super) client_tokens: Mutex<HashMap<(String, String, String), Kept>>,
}

impl Sim {
    pub(super) fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a gateway; one seeded without tags carries `managed-by: natgw-operator-sim`.
    pub(super) fn seed(&self, seed: &SeedGateway) {
        self.world().seed(seed);
        let tags = seed.tags.clone().unwrap_or_else(|| {
            let (k, v) = crate::tencent::DEFAULT_TAG;
            BTreeMap::from([(k.to_owned(), v.to_owned())])
        });
        self.core.tags.replace(&seed.id, tags);
    }

    /// Runs `call` once per `ClientToken`: a retry with the same parameters gets the first
    /// answer, one with other parameters `IdempotentParameterMismatch`. Failed calls are not
    /// kept, so they may be retried.
    pub(super) fn idempotent(
        &self,
        key_id: &str,
        action: &str,
        params: &params::Params,
        call: impl FnOnce(&Sim) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let Some(token) = params.get("ClientToken").filter(|t| !t.is_empty()) else { return call(self) };
        if token.len() > 64 || !token.is_ascii() {
            return Err(ApiError::bad("InvalidClientToken.Malformed", "ClientToken must be 1-64 ASCII characters."));
        }
        // What the call asks, without what changes on every retry.
        let volatile = ["Action", "Version", "Format", "Timestamp", "SignatureNonce", "ClientToken"];
        let asked: Vec<String> =
            params.iter().filter(|(k, _)| !volatile.contains(&k.as_str())).map(|(k, v)| format!("{k}={v}")).collect();
        let asked = asked.join("&");
        let key = (self.core.principal(key_id).account, action.to_owned(), token.clone());
        let mut kept = self.client_tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((first, answer)) = kept.get(&key) {
            return if *first == asked {
                Ok(answer.clone())
            } else {
                Err(ApiError::bad(
                    "IdempotentParameterMismatch",
                    "The request uses the same client token as a previous, but non-identical request.",
                ))
            };
        }
        let answer = call(self)?;
        kept.insert(key, (asked, answer.clone()));
        Ok(answer)
    }
}
