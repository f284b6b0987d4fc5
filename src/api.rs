//! The `NatGateway` custom resource: what the user declares (spec) and what the operator reports
//! (status). Everything the schema can check is checked at admission, so the controller only ever
//! sees well-formed specs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cloud::shape::{self, ENDPOINT_RULE};
pub use crate::cloud::spec::{IdentitySpec, ProviderSpec};

/// Desired state of one existing cloud NAT gateway. The operator adopts the gateway; it never
/// creates or deletes it.
// Two wide-only columns repeat `priority = "1"`, which clippy mistakes for a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "natgw.io",
    version = "v1alpha1",
    kind = "NatGateway",
    plural = "natgateways",
    shortname = "natgw",
    category = "cloud",
    namespaced,
    status = "NatGatewayStatus",
    printcolumn(
        name = "Provider",
        type_ = "string",
        json_path = ".status.provider",
        description = "Cloud provider and API"
    ),
    printcolumn(name = "Gateway", type_ = "string", json_path = ".spec.gatewayId", description = "Cloud gateway id"),
    printcolumn(name = "Size", type_ = "string", json_path = ".spec.size", description = "Desired size"),
    printcolumn(
        name = "Observed",
        type_ = "string",
        json_path = ".status.observed.size",
        description = "Size the cloud reports"
    ),
    printcolumn(
        name = "Billing",
        type_ = "string",
        json_path = ".status.observed.billingMode",
        description = "Billing mode the cloud reports"
    ),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        description = "Why Ready is what it is, e.g. GatewayClaimed for a second resource on one gateway"
    ),
    printcolumn(
        name = "Order",
        type_ = "string",
        json_path = ".status.order.phase",
        description = "Phase of the running order"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Region", type_ = "string", json_path = ".status.region", priority = "1"),
    printcolumn(
        name = "Expires",
        type_ = "string",
        json_path = ".status.observed.expiresAt",
        description = "When the yearly/monthly period ends",
        priority = "1"
    ),
    printcolumn(
        name = "Renewal",
        type_ = "string",
        json_path = ".status.observed.renewal",
        description = "What happens at expiry: Auto, Manual or PayPerUseAtExpiry",
        priority = "1"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.credentialsSecretRef) != has(self.workloadIdentity)").message("set exactly one credential source: credentialsSecretRef (a Secret of this namespace) or workloadIdentity (a ServiceAccount of this namespace)"))]
#[x_kube(validation = crate::cloud::clouds::identity_of_the_provider(crate::cloud::spec::CLOUDS))]
pub struct NatGatewaySpec {
    /// The cloud's id of an existing NAT gateway, e.g. `nat-et8e970y` or a UUID.
    #[x_kube(validation = Rule::new("self != ''").message("gatewayId must not be empty"))]
    #[x_kube(validation = Rule::new(shape::ID.cel).message("gatewayId may hold only letters, digits, '_' and '-'"))]
    #[schemars(length(max = 128))]
    pub gateway_id: String,

    // Described by its type: the registered clouds.
    pub provider: ProviderSpec,

    // Described in the CRD by the clouds' profiles (src/cloud/admission.rs).
    pub size: Size,

    /// Desired billing mode; pay-per-use when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<Billing>,

    /// Secret in the resource's own namespace with the cloud credentials. Exactly one of this
    /// and `workloadIdentity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,

    /// A ServiceAccount of the resource's own namespace whose token the operator exchanges for
    /// temporary cloud credentials (no long-lived keys). Exactly one of this and
    /// `credentialsSecretRef`.
    // Boxed, like a provider of the registry (src/cloud/registry.rs): the cache holds a copy of every NatGateway, and inline
    // these would take it past jemalloc's 768-byte size class (BENCHMARKS.md, memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<Box<WorkloadIdentity>>,

    /// Overrides the cloud's API endpoint (a private endpoint, the simulator): only one of the
    /// endpoints the operator's installer allow-listed (`run --allowed-endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(ENDPOINT_RULE).message("endpoint must be an http:// or https:// URL without user info (@), query (?) or fragment (#), e.g. https://vpc.tencentcloudapi.com"))]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,

    /// `Manage` corrects the gateway; `Observe` only reports drift and never orders.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// How often the gateway is read for drift while nothing changes, e.g. `1m` for a critical
    /// gateway or `24h` for a quiet one (s, m and h; from 10s to 168h); the operator's
    /// `run --drift-interval` (10m by default) when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", length(max = 32))]
    #[x_kube(validation = Rule::new(DRIFT_INTERVAL_RULE).message(DRIFT_INTERVAL_MESSAGE))]
    pub drift_interval: Option<DriftInterval>,
}

// The same bounds as `DriftInterval::parse`; `&&` stops before `duration()` could fail.
const DRIFT_INTERVAL_RULE: &str =
    "self.matches('^([0-9]+[smh])+$') && duration(self) >= duration('10s') && duration(self) <= duration('168h')";
/// Why a `spec.driftInterval` is refused, at admission and by the operator alike.
pub const DRIFT_INTERVAL_MESSAGE: &str =
    "driftInterval must be a duration in s, m and h from 10s to 168h, e.g. 30s, 10m, 1h30m or 24h";

/// `spec.driftInterval`, kept as seconds: the cache holds every NatGateway (see
/// `a_cached_natgateway_fits_the_768_byte_class`). A value the operator cannot use (admitted
/// under an older CRD) still deserializes, as [`DriftInterval::get`] `None`, so that one bad
/// object cannot stop the watch of all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriftInterval(u32);

impl DriftInterval {
    const MIN: u32 = 10;
    const MAX: u32 = 168 * 3600;

    /// `None` when `text` is not a duration [`DRIFT_INTERVAL_RULE`] admits.
    pub fn parse(text: &str) -> Option<DriftInterval> {
        let (mut total, mut digits) = (0u64, String::new());
        for c in text.chars() {
            let unit = match c {
                '0'..='9' => {
                    digits.push(c);
                    continue;
                }
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => return None,
            };
            let n: u64 = std::mem::take(&mut digits).parse().ok()?;
            total = total.checked_add(n.checked_mul(unit)?)?;
        }
        let seconds = u32::try_from(total).ok().filter(|s| (Self::MIN..=Self::MAX).contains(s));
        seconds.filter(|_| digits.is_empty() && !text.is_empty()).map(DriftInterval)
    }

    /// The interval; `None` for a value the operator cannot use.
    pub fn get(self) -> Option<std::time::Duration> {
        (self.0 != 0).then(|| std::time::Duration::from_secs(self.0.into()))
    }
}

impl Serialize for DriftInterval {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            0 => serializer.serialize_str("invalid"),
            s if s % 3600 == 0 => serializer.collect_str(&format_args!("{}h", s / 3600)),
            s if s % 60 == 0 => serializer.collect_str(&format_args!("{}m", s / 60)),
            s => serializer.collect_str(&format_args!("{s}s")),
        }
    }
}

impl<'de> Deserialize<'de> for DriftInterval {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'_, str>>::deserialize(deserializer)?;
        Ok(DriftInterval::parse(&text).unwrap_or(DriftInterval(0)))
    }
}

/// Gateway sizes, mapped per cloud in [`crate::cloud`].
#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    Small,
    Medium,
    Large,
    ExtraLarge,
    Enterprise,
}

impl Size {
    pub const ALL: [Size; 5] = [Size::Small, Size::Medium, Size::Large, Size::ExtraLarge, Size::Enterprise];
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'Prepaid' || has(self.prepaid)").message("billing.prepaid (periodUnit, periods) is required when billing.mode is Prepaid"))]
pub struct Billing {
    #[serde(default)]
    pub mode: BillingMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepaid: Option<Prepaid>,
}

#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum BillingMode {
    #[default]
    PayPerUse,
    Prepaid,
}

impl BillingMode {
    pub const ALL: [BillingMode; 2] = [BillingMode::PayPerUse, BillingMode::Prepaid];
}

impl std::fmt::Display for BillingMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Yearly/monthly subscription terms, for a cloud whose billing changes take them.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.periodUnit == 'Month' ? self.periods <= 9 : self.periods <= 3").message("periods must be 1-9 when periodUnit is Month and 1-3 when it is Year").field_path(".periods"))]
pub struct Prepaid {
    pub period_unit: PeriodUnit,
    #[schemars(range(min = 1, max = 9))]
    pub periods: u32,
    /// Renew automatically at expiry (one more period each time, charged before expiry). Kept
    /// on every drift check: turned on or off at the cloud when it differs, no order placed.
    #[serde(default)]
    pub auto_renew: bool,
    /// Pay the order from the account balance; when false the order waits for someone to pay it.
    #[serde(default = "default_true")]
    pub auto_pay: bool,
}

fn default_true() -> bool {
    true
}

#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeriodUnit {
    Month,
    Year,
}

#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// Name of a Secret in the resource's namespace (never another namespace's).
    #[x_kube(validation = Rule::new("self != ''").message("credentialsSecretRef.name must not be empty"))]
    #[x_kube(validation = Rule::new(shape::OBJECT_NAME.cel).message("credentialsSecretRef.name must be the name of a Secret in this namespace: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (no '/')"))]
    #[schemars(length(max = 253))]
    pub name: String,
}

/// Keyless credentials: a token of a ServiceAccount of this namespace, exchanged with the cloud's
/// STS or IAM (as its part, `workloadIdentity.<cloud>`, says) for temporary keys. The cloud's
/// trust policy decides which ServiceAccount may assume what.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentity {
    /// Name of a ServiceAccount in the resource's namespace (never another namespace's).
    #[x_kube(validation = Rule::new("self != ''").message("workloadIdentity.serviceAccountName must not be empty"))]
    #[x_kube(validation = Rule::new(shape::OBJECT_NAME.cel).message("workloadIdentity.serviceAccountName must be the name of a ServiceAccount in this namespace: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (no '/')"))]
    #[schemars(length(max = 253))]
    pub service_account_name: String,
    /// The cloud's part, `<cloud>: {...}` (its rule: exactly one cloud).
    #[serde(flatten)]
    pub cloud: IdentitySpec,
}

/// With the value `"true"`, the operator makes no cloud call for the resource (no read, change or
/// order poll) until the annotation is removed or set to anything else.
pub const PAUSED_ANNOTATION: &str = "natgw.io/paused";

/// The id of a cluster whose claim on the gateway this resource takes over: its tag is then
/// overwritten before this resource's first change. For a cluster that is gone (uninstalled, lost)
/// and left its claim behind; a cluster that still runs stalls on the new claim at its next look.
pub const TAKEOVER_ANNOTATION: &str = "natgw.io/take-over-claim-from";

/// With the value `"true"` on a NatGateway being deleted, the claim finalizer lets go without
/// removing the gateway's claim tag (for a cloud that cannot be reached); the tag stays until
/// `natgw-operator claims release` or the console removes it.
pub const ABANDON_CLAIM_ANNOTATION: &str = "natgw.io/abandon-claim";

impl NatGateway {
    fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
    }

    /// Whether the user paused this resource with [`PAUSED_ANNOTATION`].
    pub fn paused(&self) -> bool {
        self.annotation(PAUSED_ANNOTATION) == Some("true")
    }

    /// The cluster id [`TAKEOVER_ANNOTATION`] names.
    pub fn takeover(&self) -> Option<&str> {
        self.annotation(TAKEOVER_ANNOTATION).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Whether [`ABANDON_CLAIM_ANNOTATION`] lets the claim finalizer go without the cloud.
    pub fn abandons_claim(&self) -> bool {
        self.annotation(ABANDON_CLAIM_ANNOTATION) == Some("true")
    }
}

/// Where a resource's cloud credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource<'a> {
    Secret(&'a SecretRef),
    WorkloadIdentity(&'a WorkloadIdentity),
}

#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum ManagementPolicy {
    #[default]
    Manage,
    Observe,
}

/// What the operator last saw and did. Written only through the status subresource.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NatGatewayStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The cloud (and its API) serving the resource, as its profile names it, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<ObservedStatus>,
    // Boxed, like `last_order`: most resources have neither, and every cached NatGateway
    // would otherwise carry their space (2 x 160 bytes).
    /// The change being made now; absent when none is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Box<OrderStatus>>,
    /// The most recent finished order, kept for reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_order: Option<Box<OrderStatus>>,
}

#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStatus {
    /// The size the cloud's value maps to; absent when it maps to none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
    /// The size the cloud reports, for a cloud that sizes gateways by concurrent connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_connections: Option<u64>,
    /// The size the cloud reports, for a cloud that sizes gateways by a specification code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<BillingMode>,
    /// A yearly/monthly gateway's end of period, as the cloud's billing reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// What happens at `expiresAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<Renewal>,
    /// The last notice of the coming expiry sent as an Event, so that each is sent once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_notice: Option<ExpiryNotice>,
    /// The cloud's own state word, e.g. `AVAILABLE`, `UPDATING`, `ACTIVE`.
    pub state: String,
    /// When the cloud was read for what this status says. Written with a change only (of the
    /// gateway, the conditions or the order), not by every drift check that finds the gateway as
    /// recorded: an in-sync fleet writes nothing at rest, so nothing wakes its watchers. The
    /// drift checks themselves show in `natgw_reconciles_total{outcome="ready"}`.
    pub checked_at: Time,
}

/// What happens to a yearly/monthly gateway when its period ends.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Renewal {
    /// Renewed by the cloud for another period (some charge the fee days before expiry).
    Auto,
    /// Not renewed: after expiry a grace period, then the gateway is frozen and later deleted,
    /// unless someone renews it.
    Manual,
    /// Becomes pay-per-use at expiry; nothing is charged in advance.
    PayPerUseAtExpiry,
}

impl std::fmt::Display for Renewal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// How close a yearly/monthly gateway's expiry is, at the points where an Event tells.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExpiryNotice {
    #[serde(rename = "30d")]
    Days30,
    #[serde(rename = "7d")]
    Days7,
    #[serde(rename = "1d")]
    Day1,
    Expired,
}

#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderAction {
    Resize,
    ChangeBilling,
}

impl std::fmt::Display for OrderAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderPhase {
    /// The intent is recorded; the cloud may or may not have accepted the call.
    Submitting,
    InProgress,
    AwaitingPayment,
    /// The spec no longer asks for this unpaid order's target: cancelling it is recorded, the
    /// cloud may or may not have taken the cancellation yet.
    Cancelling,
    Succeeded,
    Failed,
    /// Cancelled by the operator, unpaid, because the spec changed.
    Cancelled,
}

impl std::fmt::Display for OrderPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatus {
    pub action: OrderAction,
    /// The target: a size (`Medium`) or a billing mode (`Prepaid`).
    #[schemars(with = "String")]
    pub target: OrderTarget,
    /// 1 for the first submission of this change; higher after a definite rejection.
    pub attempt: u32,
    /// The cloud's order id (`billId`, `order_id`), polled until the order ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The request id of the accepted call (all there is from a cloud whose change opens no order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The resource generation this change was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    pub phase: OrderPhase,
    pub submitted_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What an order record names as its target: text in the CRD, read back typed. A word no
/// version of the operator writes (a status edited by hand) reads as `Unknown` rather than
/// failing the whole object, which would stop the watch for every resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderTarget {
    Size(Size),
    Billing(BillingMode),
    Unknown(Box<str>),
}

impl From<&str> for OrderTarget {
    fn from(word: &str) -> Self {
        let size = Size::ALL.into_iter().find(|s| s.to_string() == word).map(OrderTarget::Size);
        let billing = || BillingMode::ALL.into_iter().find(|b| b.to_string() == word).map(OrderTarget::Billing);
        size.or_else(billing).unwrap_or_else(|| OrderTarget::Unknown(word.into()))
    }
}

impl std::fmt::Display for OrderTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderTarget::Size(s) => s.fmt(f),
            OrderTarget::Billing(b) => b.fmt(f),
            OrderTarget::Unknown(word) => f.write_str(word),
        }
    }
}

impl Serialize for OrderTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OrderTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(OrderTarget::from(String::deserialize(deserializer)?.as_str()))
    }
}

impl NatGatewaySpec {
    /// The billing mode the user wants; pay-per-use when `billing` is omitted.
    pub fn billing_mode(&self) -> BillingMode {
        self.billing.as_ref().map(|b| b.mode).unwrap_or_default()
    }

    /// The one credential source the spec names; the error says what to set (admission refuses
    /// neither and both, objects admitted under another CRD may still have them).
    pub fn credential_source(&self) -> Result<CredentialSource<'_>, &'static str> {
        match (&self.credentials_secret_ref, &self.workload_identity) {
            (Some(secret), None) => Ok(CredentialSource::Secret(secret)),
            (None, Some(identity)) => Ok(CredentialSource::WorkloadIdentity(identity)),
            (None, None) => Err("spec names no credentials: set credentialsSecretRef or workloadIdentity"),
            (Some(_), Some(_)) => {
                Err("spec names two credential sources: set credentialsSecretRef or workloadIdentity, not both")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_intervals_parse_as_the_admission_rule_reads_them() {
        let secs = |t: &str| DriftInterval::parse(t).and_then(DriftInterval::get).map(|d| d.as_secs());
        assert_eq!(secs("10s"), Some(10));
        assert_eq!(secs("1m"), Some(60));
        assert_eq!(secs("1h30m"), Some(5400));
        assert_eq!(secs("168h"), Some(604_800));
        for refused in ["", "9s", "169h", "1d", "1.5h", "m", "10", "-1m", "1m ", "99999999999999999999h"] {
            assert_eq!(DriftInterval::parse(refused), None, "{refused:?}");
        }
        let spec = |v: &str| serde_json::from_value::<DriftInterval>(serde_json::json!(v)).unwrap();
        assert_eq!(spec("abc").get(), None, "kept, as unusable, rather than failing the object");
        assert_eq!(serde_json::to_value(spec("90m")).unwrap(), "90m");
        assert_eq!(serde_json::to_value(spec("120m")).unwrap(), "2h");
    }

    /// The reflector keeps an `Arc<NatGateway>` of every resource: with its two counters it must
    /// stay within jemalloc's 768-byte size class (1 KiB before the boxed fields: 2.5 MiB more
    /// at 10,000 resources, BENCHMARKS.md).
    #[test]
    fn a_cached_natgateway_fits_the_768_byte_class() {
        let arc_inner = std::mem::size_of::<NatGateway>() + 2 * std::mem::size_of::<usize>();
        assert!(arc_inner <= 768, "Arc<NatGateway> takes {arc_inner} bytes");
    }
}
