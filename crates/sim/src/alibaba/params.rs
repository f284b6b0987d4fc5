//! Reading an action's parameters as the RPC convention flattens them: scalars by name, lists
//! as `Name.1`, `Name.2`, ... and lists of objects as `Tag.1.Key`, `Tag.1.Value`.

use std::collections::BTreeMap;

use super::answer::ApiError;

pub type Params = BTreeMap<String, String>;

pub fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| ApiError::missing(name))
}

/// An integer in `range`, `default` when absent.
pub fn int(params: &Params, name: &str, default: u32, range: std::ops::RangeInclusive<u32>) -> Result<u32, ApiError> {
    let Some(value) = params.get(name) else { return Ok(default) };
    value.parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        ApiError::bad(
            &format!("InvalidParameter.{name}"),
            format!("The parameter {name} must be {}-{}, not {value:?}.", range.start(), range.end()),
        )
    })
}

/// `true`/`false` in any case (the Python SDKs send `True`/`False`), `default` when absent.
pub fn boolean(params: &Params, name: &str, default: bool) -> Result<bool, ApiError> {
    match params.get(name).map(String::as_str) {
        None => Ok(default),
        Some(b) if b.eq_ignore_ascii_case("true") => Ok(true),
        Some(b) if b.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ApiError::bad(
            &format!("InvalidParameter.{name}"),
            format!("The parameter {name} must be true or false, not {other:?}."),
        )),
    }
}

/// `Name.1`, `Name.2`, ... in index order.
pub fn list(params: &Params, name: &str) -> Vec<String> {
    let mut items: Vec<(u32, String)> = params
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(name)?.strip_prefix('.')?.parse().ok()?, v.clone())))
        .collect();
    items.sort();
    items.into_iter().map(|(_, v)| v).collect()
}

/// `Tag.N.Key` / `Tag.N.Value` pairs in index order; a value may be absent.
pub fn tags(params: &Params) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let keys = params.iter().filter_map(|(k, v)| {
        let n: u32 = k.strip_prefix("Tag.")?.strip_suffix(".Key")?.parse().ok()?;
        Some((n, v.clone()))
    });
    let mut pairs: Vec<(u32, String)> = keys.collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(n, key)| {
            if key.is_empty() {
                return Err(ApiError::bad("InvalidTagKey.Malformed", format!("Tag.{n}.Key must not be empty.")));
            }
            Ok((key, params.get(&format!("Tag.{n}.Value")).cloned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_lists_and_tags_read_in_index_order() {
        let p: Params = [
            ("ResourceId.2", "b"),
            ("ResourceId.1", "a"),
            ("ResourceId.10", "c"),
            ("Tag.1.Key", "k"),
            ("Tag.1.Value", "v"),
            ("Tag.2.Key", "x"),
            ("PageSize", "99"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        assert_eq!(list(&p, "ResourceId"), ["a", "b", "c"]);
        assert_eq!(tags(&p).unwrap(), vec![("k".to_owned(), Some("v".to_owned())), ("x".to_owned(), None)]);
        assert_eq!(int(&p, "PageSize", 10, 1..=50).unwrap_err().code, "InvalidParameter.PageSize");
        assert_eq!(int(&p, "PageNumber", 1, 1..=u32::MAX), Ok(1));
        assert_eq!(required(&p, "RegionId").unwrap_err().code, "MissingParameter");
    }
}
