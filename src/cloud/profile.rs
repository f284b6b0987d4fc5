//! What the rest of the operator knows about one cloud API, declared by that cloud in its own
//! folder: the decision, the controller and the shared plumbing read it and never name a cloud.

use crate::api::{BillingMode, Size};

/// A gateway's size as the cloud expresses it: each cloud's client reads and writes its own unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capacity {
    /// A maximum of concurrent connections (shown as status `observed.maxConcurrentConnections`).
    Connections(u64),
    /// A specification code (shown as status `observed.spec`).
    Spec(String),
}

/// One cloud API's description. Each is a `static`, so a `&'static Profile` is the cloud's
/// identity (compared by [`Profile::label`]).
pub struct Profile {
    /// Shown in the PROVIDER column and in the `provider` metric label, e.g. `tencent/V3`.
    pub label: &'static str,
    /// The cloud in messages, e.g. `Tencent Cloud`.
    pub name: &'static str,
    /// The cloud's value for each size it has.
    pub sizes: fn(Size) -> Option<Capacity>,
    /// The billing modes this cloud's gateways can be in: a spec may ask only for these.
    pub billing_modes: &'static [BillingMode],
    /// Billing changes (from, to) the cloud has an API for.
    pub billing_changes: &'static [(BillingMode, BillingMode)],
    /// The cloud reports a yearly/monthly gateway's expiry and renewal ([`super::Subscription`])
    /// and changes the renewal ([`super::Provider::set_renewal`]): a prepaid gateway declared
    /// pay-per-use turns so at expiry, and `autoRenew` is kept.
    pub renewal: bool,
    /// The cloud's reads carry the claim tag before an order ([`super::claim`]: a fresh read
    /// always, drift reads where the list answers carry tags or one batched call per sweep adds
    /// them) and [`super::Provider::write_claim`] / `remove_claim` work: one owner per gateway
    /// across clusters.
    pub claims: bool,
    /// With `claims`: what credentials need to be allowed to write and remove the claim tag, for
    /// the refusal that asks for it.
    pub claim_permissions: &'static str,
    pub downsize: Downsize,
    pub secret_keys: SecretKeys,
    /// The environment variables the cloud's own SDKs and CLIs read credentials from, for
    /// commands run outside the cluster (`natgw-operator import`).
    pub env_keys: SecretKeys,
    /// Accounts are counted per cloud, not per API version: profiles with one `account` share a
    /// rate limiter and the allow-listed endpoints.
    pub account: &'static str,
    /// Documented (or chosen, where none is published) calls per second by action.
    pub rate_limits: &'static [(&'static str, f64)],
    /// Documented endpoints; `{region}` stands for the resource's region.
    pub endpoints: &'static [&'static str],
}

/// Whether a gateway can be resized to a smaller cloud value in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downsize {
    InPlace,
    /// Refused by the API; the advice names `{from}` and `{to}`.
    Refused {
        advice: &'static str,
    },
}

/// The Secret keys a cloud's credentials are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretKeys {
    pub key_id: &'static str,
    pub secret: &'static str,
    /// Temporary credentials' session token, optional.
    pub token: &'static str,
    /// The cloud's account (domain) id, optional.
    pub domain_id: Option<&'static str>,
}

impl Profile {
    /// The cloud's value for a size, or `None` when this cloud has no such size.
    pub fn capacity_for(&self, size: Size) -> Option<Capacity> {
        (self.sizes)(size)
    }

    /// The sizes this cloud has, smallest first.
    pub fn offered_sizes(&self) -> impl Iterator<Item = Size> + '_ {
        Size::ALL.into_iter().filter(|s| self.capacity_for(*s).is_some())
    }

    /// What a spec asking for `size`, a size this cloud does not have, is told: in the CRD's
    /// admission rule (where `size` stands for the spec's value) and in the Stalled condition.
    pub fn size_refusal(&self, size: &str) -> String {
        let offered: Vec<String> = self.offered_sizes().map(|s| s.to_string()).collect();
        format!("{} NAT gateways have no size {size}; set spec.size to one of {}", self.name, offered.join(", "))
    }

    /// What a spec asking for billing `mode`, one no gateway of this cloud can be in, is told: at
    /// admission and in the Stalled condition, as [`Profile::size_refusal`].
    pub fn billing_refusal(&self, mode: &str) -> String {
        let modes: Vec<String> = self.billing_modes.iter().map(|m| m.to_string()).collect();
        let set = match modes.as_slice() {
            [one] => one.clone(),
            _ => format!("one of {}", modes.join(", ")),
        };
        format!(
            "{} has no API to change a NAT gateway's billing mode to {mode}; remove spec.billing or set spec.billing.mode to {set}",
            self.name
        )
    }

    /// The size a cloud value stands for, if any.
    pub fn size_of(&self, capacity: &Capacity) -> Option<Size> {
        Size::ALL.into_iter().find(|s| self.capacity_for(*s).as_ref() == Some(capacity))
    }

    /// Whether this cloud can change a gateway's billing to `to` at all.
    pub fn supports_billing(&self, from: BillingMode, to: BillingMode) -> bool {
        from == to || self.billing_changes.contains(&(from, to))
    }

    /// The advice when the API refuses to go from `from` to `to`. Cloud values are compared, not
    /// sizes: a gateway at a value no size maps to (set in the console) must not be "downsized".
    pub fn refused_resize(&self, from: &Capacity, to: &Capacity) -> Option<&'static str> {
        match (self.downsize, from, to) {
            (Downsize::Refused { advice }, Capacity::Connections(now), Capacity::Connections(want)) if want < now => {
                Some(advice)
            }
            _ => None,
        }
    }
}

impl PartialEq for Profile {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label
    }
}

impl Eq for Profile {}

impl std::hash::Hash for Profile {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.label.hash(state);
    }
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label)
    }
}
