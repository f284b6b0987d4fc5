//! The shapes of the spec's values that reach a host, a path or a header, each written once: the
//! CEL rule the CRD checks at admission beside the test the operator makes again before use (for
//! objects admitted under an older CRD, and values a cloud returns). Lengths are the schema's
//! `maxLength` and the check's `max`.

use std::ops::RangeInclusive;

use super::{CloudError, ErrorKind, Refusal};

pub struct Shape {
    /// CEL on the string `self`. Where it admits `''`, the field's "must not be empty" rule
    /// refuses it at admission; [`Shape::test`] refuses it outright.
    pub cel: &'static str,
    pub test: fn(&str) -> bool,
    /// What a value must be, as a refusal says.
    pub says: &'static str,
}

impl Shape {
    /// Whether `value` has this shape and at most `max` bytes.
    pub fn fits(&self, value: &str, max: usize) -> bool {
        value.len() <= max && (self.test)(value)
    }

    /// `Ok` when `value` [fits](Shape::fits), else the refusal naming `field`.
    pub fn check(&self, field: &str, value: &str, max: usize) -> Result<(), CloudError> {
        if self.fits(value, max) { Ok(()) } else { Err(invalid(field, value, self.says)) }
    }
}

/// A cloud id: letters, digits, `_` and `-` (`nat-et8e970y`, a UUID, 32 hex digits).
pub const ID: Shape = Shape {
    cel: "self.matches('^[A-Za-z0-9_-]+$')",
    test: |v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
    says: "letters, digits, '_' and '-' only",
};

/// A region: lowercase letters and digits in hyphen-separated words, e.g. `ap-guangzhou`.
pub const REGION: Shape = Shape {
    cel: "self == '' || self.matches('^[a-z0-9]+(-[a-z0-9]+)*$')",
    test: |v| {
        !v.is_empty()
            && v.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    },
    says: "lowercase letters and digits in words separated by single '-', e.g. ap-guangzhou",
};

/// A Kubernetes object name as Secrets and ServiceAccounts take it: a DNS subdomain name.
pub const OBJECT_NAME: Shape = Shape {
    cel: "self == '' || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",
    test: |v| {
        v.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
    },
    says: "the name of a ServiceAccount in this namespace: lowercase letters, digits, '-' and '.'",
};

/// Whether `name` is the name of a Secret or ServiceAccount (at most 253 bytes).
pub fn is_object_name(name: &str) -> bool {
    OBJECT_NAME.fits(name, 253)
}

/// The refusal of `field`'s `value`, which must be `shape`.
fn invalid(field: &str, value: &str, shape: &str) -> CloudError {
    let shown: String = value.chars().take(64).collect();
    CloudError::new(ErrorKind::InvalidRequest, format!("{field} {shown:?} is not valid: it must be {shape}"))
        .with_refusal(Refusal::InvalidSpec)
}

/// A duration of a workload identity's temporary credentials in `range` (the cloud's documented
/// one), when set.
pub fn check_duration(field: &str, value: Option<u32>, range: RangeInclusive<u32>) -> Result<(), CloudError> {
    match value {
        Some(d) if !range.contains(&d) => {
            let shape = format!("from {} to {} seconds", range.start(), range.end());
            Err(invalid(field, &d.to_string(), &shape))
        }
        _ => Ok(()),
    }
}

// Empty regions and Secret names are left to their "must not be empty" rules; an empty optional
// id is no id.
pub(crate) const REGION_MESSAGE: &str =
    "region must be lowercase letters and digits in words separated by '-', e.g. ap-guangzhou";

// http as well as https: an installer may allow plain HTTP (`run --allow-http`). Checked again
// before use with the allow-list (src/cloud/endpoints.rs).
pub(crate) const ENDPOINT_RULE: &str = "self.matches('^https?://[^/?#@\\\\s]+(/[^?#\\\\s]*)?$')";
