//! The claim on a gateway that lives with the gateway: one cloud tag naming the cluster, namespace
//! and name of the NatGateway that may order for it, so that two clusters (a blue/green
//! migration, a DR copy of the same manifests, a second install) never order against each other.
//!
//! Key and value keep to what both clouds accept: Tencent's tag rules (key up to 127 characters,
//! value up to 255, letters, digits and `+ - = . _ : / @`, no `qcloud`/`tencent`/`project`
//! prefix) and Huawei's (key up to 128, value up to 255, letters, digits, `_ - .` and a few
//! others). A namespace and a name never contain `_`, and a cluster id is checked to have none
//! ([`ClusterId::new`]), so `_` separates the three parts unambiguously.

use std::fmt;

/// The tag key of the claim.
pub const TAG_KEY: &str = "natgw-operator-claim";

/// The longest tag value both clouds take.
const MAX_VALUE: usize = 255;

/// This operator's cluster, as its claims name it (`run --cluster-id`, by default the UID of the
/// `kube-system` namespace).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterId(String);

impl ClusterId {
    /// A DNS label (1-63 characters of `a-z`, `0-9` and `-`, starting and ending alphanumeric),
    /// which every namespace UID is.
    pub fn new(id: &str) -> Result<ClusterId, String> {
        let label = !id.is_empty()
            && id.len() <= 63
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.starts_with('-')
            && !id.ends_with('-');
        match label {
            true => Ok(ClusterId(id.to_owned())),
            false => Err(format!(
                "cluster id {id:?} must be 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit (like a namespace UID)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a claim names: a NatGateway of a cluster. Kept as the tag value alone (one string a
/// gateway in the sweep caches, which hold every gateway of the fleet).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claimant {
    /// `{cluster}_{namespace}_{name}`, checked by [`Claimant::parse`] or built by
    /// [`Claimant::new`].
    value: Box<str>,
}

impl Claimant {
    /// The claim of NatGateway `namespace`/`name` of `cluster`; the name cut so that the value
    /// fits the clouds' 255 characters (a name that long is rare; the cluster and namespace,
    /// which decide who owns, are always whole).
    pub fn new(cluster: &ClusterId, namespace: &str, name: &str) -> Claimant {
        let mut value = format!("{}_{namespace}_{name}", cluster.0);
        value.truncate(MAX_VALUE);
        Claimant { value: value.into() }
    }

    /// A tag value this operator wrote; `None` for anything else (a value edited by hand).
    pub fn parse(value: &str) -> Option<Claimant> {
        let mut parts = value.splitn(3, '_');
        let (cluster, namespace, name) = (parts.next()?, parts.next()?, parts.next()?);
        let label = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        (ClusterId::new(cluster).is_ok() && label(namespace) && label(name) && value.len() <= MAX_VALUE)
            .then(|| Claimant { value: value.into() })
    }

    fn part(&self, i: usize) -> &str {
        self.value.splitn(3, '_').nth(i).unwrap_or_default()
    }

    pub fn cluster(&self) -> &str {
        self.part(0)
    }

    pub fn namespace(&self) -> &str {
        self.part(1)
    }

    /// The NatGateway's name (cut when the whole would not fit).
    pub fn name(&self) -> &str {
        self.part(2)
    }

    pub fn tag_value(&self) -> &str {
        &self.value
    }
}

/// The claim tag as one read of the gateway found it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ClaimTag {
    /// This read does not carry tags (a cloud or API without them).
    #[default]
    Unread,
    /// No claim.
    Free,
    /// A claim this operator wrote.
    Held(Claimant),
    /// A value no operator writes (edited by hand): held by someone unknown.
    Unreadable,
}

impl ClaimTag {
    /// The claim a tag value (or its absence) makes.
    pub fn from_value(value: Option<&str>) -> ClaimTag {
        match value {
            None => ClaimTag::Free,
            Some(v) => Claimant::parse(v).map_or(ClaimTag::Unreadable, ClaimTag::Held),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_reads_back_as_written() {
        let cluster = ClusterId::new("0f6c4a52-5b1e-4c1c-9d7e-2a1f3b4c5d6e").unwrap();
        let c = Claimant::new(&cluster, "team-a", "edge.gw-1");
        assert_eq!(c.tag_value(), "0f6c4a52-5b1e-4c1c-9d7e-2a1f3b4c5d6e_team-a_edge.gw-1");
        assert_eq!(
            (c.cluster(), c.namespace(), c.name()),
            ("0f6c4a52-5b1e-4c1c-9d7e-2a1f3b4c5d6e", "team-a", "edge.gw-1")
        );
        assert_eq!(Claimant::parse(c.tag_value()), Some(c.clone()));
        assert_eq!(ClaimTag::from_value(Some(c.tag_value())), ClaimTag::Held(c));
        assert_eq!(ClaimTag::from_value(None), ClaimTag::Free);
    }

    #[test]
    fn a_long_name_is_cut_to_the_clouds_limit_and_still_compares() {
        let cluster = ClusterId::new("blue").unwrap();
        let long = Claimant::new(&cluster, "ns", &"n".repeat(253));
        let value = long.tag_value();
        assert_eq!(value.len(), 255);
        let read = Claimant::parse(value).unwrap();
        assert_eq!(read, long);
        assert_ne!(read, Claimant::new(&cluster, "ns", "other"));
        assert_eq!(Claimant::parse(&format!("{value}n")), None, "longer than any claim written");
    }

    #[test]
    fn values_no_operator_writes_are_unreadable() {
        for v in ["", "someone", "blue_ns", "Blue_ns_name", "blue__name", "blue_ns_na me", "-x_ns_name"] {
            assert_eq!(ClaimTag::from_value(Some(v)), ClaimTag::Unreadable, "{v:?}");
        }
    }

    #[test]
    fn cluster_ids_are_dns_labels() {
        for ok in ["a", "blue", "0f6c4a52-5b1e-4c1c-9d7e-2a1f3b4c5d6e", &"a".repeat(63)] {
            assert!(ClusterId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(ClusterId::new(bad).is_err(), "{bad}");
        }
    }
}
