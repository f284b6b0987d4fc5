//! The Tag API (service `tag`, Version 2018-08-13, TC3-signed with scope service `tag`, served
//! on the simulator's one port) for NAT gateways: `TagResources`, `UnTagResources` and
//! `GetResources`, as tencentcloud-sdk-python-tag 3.1.109 models them and the API reference
//! documents them (https://www.tencentcloud.com/document/product/651/46533, /46532, /46539).
//!
//! Resources are six-segment names `qcs::vpc:{region}:uin/{uin}:nat/{nat-id}`; a gateway's
//! region is its zone without the zone number (`ap-guangzhou-3` -> `ap-guangzhou`). Every
//! simulated gateway belongs to every account (as `DescribeNatGateways` shows each key every
//! gateway), so the uin in a name must be the caller's account ([`crate::core::SimPrincipal`]).
//!
//! Limits and rules, from the API reference and "Use Limits"
//! (https://www.tencentcloud.com/document/product/651/13354), with the codes of the SDK's
//! `errorcodes.py`:
//! - `ResourceList` 1-10 names ("Value range of N: 0-9"), else
//!   `LimitExceeded.ResourceNumPerRequest`; `Tags` / `TagKeys` 1-10, else
//!   `LimitExceeded.TagNumPerRequest`; either empty `MissingParameter`.
//! - Tag key 1-127 Unicode characters (`InvalidParameterValue.TagKeyEmpty` /
//!   `.TagKeyLengthExceeded`), value 1-255 (`.TagValueEmpty` / `.TagValueLengthExceeded`);
//!   letters (any script), digits, spaces inside (not first or last) and `+ - = . _ : / @ ( ) [ ]
//!   , ; > <` (and the Chinese `【 】（ ）：`), else `.TagKeyCharacterIllegal` /
//!   `.TagValueCharacterIllegal`. Keys starting with `qcs:`, `project`, `项目` (Use Limits) or
//!   `qcloud`, `tencent` (the code's description), in any case: `InvalidParameter.ReservedTagKey`.
//!   The same key twice in one call: `InvalidParameterValue.TagKeyDuplicate`.
//! - At most 50 tags per resource: a resource that would have more fails alone, in
//!   `FailedResources`, with `LimitExceeded.ResourceAttachedTags`.
//! - A name that is not six segments: `InvalidParameterValue.ResourceDescriptionError`; another
//!   service `InvalidParameterValue.ServiceTypeInvalid`; another prefix
//!   `InvalidParameterValue.ResourcePrefixInvalid`; a uin that is not digits
//!   `InvalidParameterValue.UinInvalid`; names of two accounts in one call
//!   `FailedOperation.ResourceAppIdNotSame`; a malformed gateway id
//!   `InvalidParameterValue.ResourceIdInvalid`; another account's resource
//!   `AuthFailure.UnauthorizedOperation` (the call is refused whole).
//! - A gateway that does not exist (or not in that region) fails alone, in `FailedResources`
//!   (`{Resource, Code, Message}`), with `InvalidParameterValue.ResourceIdInvalid`; the others
//!   are tagged. Removing a key a gateway does not have succeeds.
//! - `GetResources`: `TagFilters` at most 6 (`InvalidParameterValue.TagFilters`), each with at
//!   most 10 `TagValue`s (`InvalidParameterValue.TagFiltersLengthExceeded`); an empty or absent
//!   `TagValue` matches any value; filters are ANDed, values ORed. `MaxResults` 1-200, default 50
//!   (`InvalidParameter`), ignored when `ResourceList` is given; `PaginationToken` is the
//!   previous answer's (`""` on the last page), anything else
//!   `InvalidParameter.PaginationTokenInvalid`. Without `ResourceList` only tagged gateways are
//!   listed; with it, each named gateway that exists and matches. Answers
//!   `ResourceTagMappingList [{Resource, Tags [{TagKey, TagValue}]}]` in gateway id order.
//!
//! Writes are visible after the tag delay ([`crate::tags`]); limits count what was written.
//! Rate limits: 20 calls/s each, as documented.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    call::{CallError, Sim},
    params::{check_id, opt_int, parse},
};
use crate::{core::SimPrincipal, tags::TagChange};

pub(super) const VERSION: &str = "2018-08-13";
const MAX_RESOURCES: usize = 10;
const MAX_TAGS_PER_CALL: usize = 10;
const MAX_TAGS_PER_RESOURCE: usize = 50;
const MAX_KEY_CHARS: usize = 127;
const MAX_VALUE_CHARS: usize = 255;
const MAX_FILTERS: usize = 6;
const MAX_FILTER_VALUES: usize = 10;
const MAX_RESULTS: i64 = 200;
const DEFAULT_RESULTS: i64 = 50;
/// Reserved key prefixes, compared without case.
const RESERVED: [&str; 5] = ["qcs:", "qcloud", "tencent", "project", "项目"];
const SPECIAL: &str = "+-=._:/@()[],;><【】（）：";

pub(super) fn dispatch(
    sim: &Sim,
    action: &str,
    params: Map<String, Value>,
    principal: &SimPrincipal,
) -> Result<Value, CallError> {
    match action {
        "TagResources" => tag_resources(sim, parse(params)?, principal),
        "UnTagResources" => untag_resources(sim, parse(params)?, principal),
        "GetResources" => get_resources(sim, parse(params)?, principal),
        other => Err(CallError::new("InvalidAction", format!("The action {other} does not exist for tag."))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Tag {
    tag_key: String,
    tag_value: String,
    /// Accepted (the SDK's `Tag` has it) and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    category: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TagParams {
    resource_list: Vec<String>,
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UnTagParams {
    resource_list: Vec<String>,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TagFilter {
    tag_key: String,
    #[serde(default)]
    tag_value: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GetParams {
    #[serde(default)]
    resource_list: Option<Vec<String>>,
    #[serde(default)]
    tag_filters: Option<Vec<TagFilter>>,
    #[serde(default)]
    pagination_token: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    max_results: Option<i64>,
}

/// A parsed six-segment name of a NAT gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resource {
    name: String,
    region: String,
    uin: String,
    id: String,
}

fn invalid(code: &str, message: impl Into<String>) -> CallError {
    CallError::new(code, message)
}

/// `qcs::vpc:{region}:uin/{uin}:nat/{id}`.
fn resource(name: &str) -> Result<Resource, CallError> {
    let malformed = || {
        invalid(
            "InvalidParameterValue.ResourceDescriptionError",
            format!(
                "{name:?} is not a six-segment resource name like qcs::vpc:ap-guangzhou:uin/100000000001:nat/nat-xxxxxxxx."
            ),
        )
    };
    let segments: Vec<&str> = name.split(':').collect();
    let ["qcs", "", service, region, account, last] = segments[..] else {
        return Err(malformed());
    };
    let (Some(uin), Some((prefix, id))) = (account.strip_prefix("uin/"), last.split_once('/')) else {
        return Err(malformed());
    };
    if service != "vpc" {
        return Err(invalid(
            "InvalidParameterValue.ServiceTypeInvalid",
            format!("The service {service:?} is not one the simulator tags (vpc)."),
        ));
    }
    if prefix != "nat" {
        return Err(invalid(
            "InvalidParameterValue.ResourcePrefixInvalid",
            format!("The resource prefix {prefix:?} is not one the simulator tags (nat)."),
        ));
    }
    if region.is_empty() {
        return Err(invalid("InvalidParameterValue.RegionInvalid", format!("{name:?} names no region.")));
    }
    if uin.is_empty() || !uin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("InvalidParameterValue.UinInvalid", format!("The uin {uin:?} is not an account uin.")));
    }
    check_id("ResourceList", id, "nat").map_err(|e| invalid("InvalidParameterValue.ResourceIdInvalid", e.message))?;
    Ok(Resource { name: name.to_owned(), region: region.to_owned(), uin: uin.to_owned(), id: id.to_owned() })
}

/// The names of one call: 1-10, one account, the caller's.
fn resources(names: &[String], principal: &SimPrincipal) -> Result<Vec<Resource>, CallError> {
    if names.is_empty() {
        return Err(CallError::new("MissingParameter", "The request is missing the required parameter ResourceList."));
    }
    if names.len() > MAX_RESOURCES {
        return Err(invalid(
            "LimitExceeded.ResourceNumPerRequest",
            format!("ResourceList takes at most {MAX_RESOURCES} resources."),
        ));
    }
    let parsed = names.iter().map(|n| resource(n)).collect::<Result<Vec<_>, _>>()?;
    owned(&parsed, principal)?;
    Ok(parsed)
}

fn owned(resources: &[Resource], principal: &SimPrincipal) -> Result<(), CallError> {
    let uins: BTreeSet<&str> = resources.iter().map(|r| r.uin.as_str()).collect();
    if uins.len() > 1 {
        return Err(invalid(
            "FailedOperation.ResourceAppIdNotSame",
            "The resources of one request must belong to one account.",
        ));
    }
    if let Some(other) = uins.into_iter().find(|u| *u != principal.account) {
        return Err(invalid(
            "AuthFailure.UnauthorizedOperation",
            format!("The caller (account {}) may not tag resources of account {other}.", principal.account),
        ));
    }
    Ok(())
}

/// A gateway's region: its zone without the zone number.
fn region_of(zone: &str) -> &str {
    match zone.rsplit_once('-') {
        Some((region, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => region,
        _ => zone,
    }
}

/// Whether the gateway a name points at exists, in that region.
fn exists(sim: &Sim, r: &Resource) -> bool {
    sim.model().get(&r.id).is_some_and(|g| region_of(&g.zone) == r.region)
}

fn name_of(region: &str, uin: &str, id: &str) -> String {
    format!("qcs::vpc:{region}:uin/{uin}:nat/{id}")
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || SPECIAL.contains(c)
}

/// `what` is `Key` or `Value`.
fn check_text(what: &str, text: &str, max: usize) -> Result<(), CallError> {
    let code = |suffix: &str| format!("InvalidParameterValue.Tag{what}{suffix}");
    if text.is_empty() {
        return Err(CallError::new(&code("Empty"), format!("A tag {} must not be empty.", what.to_lowercase())));
    }
    if text.chars().count() > max {
        return Err(CallError::new(
            &code("LengthExceeded"),
            format!("A tag {} is at most {max} characters.", what.to_lowercase()),
        ));
    }
    if text.starts_with(' ') || text.ends_with(' ') || !text.chars().all(allowed) {
        return Err(CallError::new(
            &code("CharacterIllegal"),
            format!(
                "The tag {} {text:?} has a character that is not allowed (letters, digits, inner spaces and {SPECIAL}).",
                what.to_lowercase()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn check_key(key: &str) -> Result<(), CallError> {
    check_text("Key", key, MAX_KEY_CHARS)?;
    let lower = key.to_lowercase();
    if let Some(prefix) = RESERVED.iter().find(|p| lower.starts_with(*p)) {
        return Err(CallError::new(
            "InvalidParameter.ReservedTagKey",
            format!("Tag keys starting with {prefix:?} are reserved by the system."),
        ));
    }
    Ok(())
}

fn count_in_call(n: usize) -> Result<(), CallError> {
    if n > MAX_TAGS_PER_CALL {
        return Err(invalid(
            "LimitExceeded.TagNumPerRequest",
            format!("One request takes at most {MAX_TAGS_PER_CALL} tags."),
        ));
    }
    Ok(())
}

fn unique<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<(), CallError> {
    let mut seen = BTreeSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(invalid("InvalidParameterValue.TagKeyDuplicate", format!("The tag key {k:?} is given twice.")));
        }
    }
    Ok(())
}

fn failed(r: &Resource, code: &str, message: String) -> Value {
    json!({ "Resource": r.name, "Code": code, "Message": message })
}

fn not_found(r: &Resource) -> Value {
    failed(
        r,
        "InvalidParameterValue.ResourceIdInvalid",
        format!("The NAT gateway {} does not exist in {}.", r.id, r.region),
    )
}

fn tag_resources(sim: &Sim, p: TagParams, principal: &SimPrincipal) -> Result<Value, CallError> {
    if p.tags.is_empty() {
        return Err(CallError::new("MissingParameter", "The request is missing the required parameter Tags."));
    }
    count_in_call(p.tags.len())?;
    for t in &p.tags {
        check_key(&t.tag_key)?;
        check_text("Value", &t.tag_value, MAX_VALUE_CHARS)?;
    }
    unique(p.tags.iter().map(|t| t.tag_key.as_str()))?;
    let targets = resources(&p.resource_list, principal)?;
    let mut failures = Vec::new();
    for r in &targets {
        if !exists(sim, r) {
            failures.push(not_found(r));
            continue;
        }
        let mut keys: BTreeSet<String> = sim.core.tags.written(&r.id).into_keys().collect();
        keys.extend(p.tags.iter().map(|t| t.tag_key.clone()));
        if keys.len() > MAX_TAGS_PER_RESOURCE {
            failures.push(failed(
                r,
                "LimitExceeded.ResourceAttachedTags",
                format!("A resource has at most {MAX_TAGS_PER_RESOURCE} tags; {} would have {}.", r.id, keys.len()),
            ));
            continue;
        }
        let changes: Vec<TagChange> = p.tags.iter().map(|t| (t.tag_key.clone(), Some(t.tag_value.clone()))).collect();
        sim.core.tags.write(&r.id, changes);
    }
    Ok(json!({ "FailedResources": failures }))
}

fn untag_resources(sim: &Sim, p: UnTagParams, principal: &SimPrincipal) -> Result<Value, CallError> {
    if p.tag_keys.is_empty() {
        return Err(CallError::new("MissingParameter", "The request is missing the required parameter TagKeys."));
    }
    count_in_call(p.tag_keys.len())?;
    for k in &p.tag_keys {
        if k.is_empty() {
            return Err(invalid("InvalidParameterValue.TagKeyEmpty", "A tag key must not be empty."));
        }
    }
    let targets = resources(&p.resource_list, principal)?;
    let mut failures = Vec::new();
    for r in &targets {
        if !exists(sim, r) {
            failures.push(not_found(r));
            continue;
        }
        sim.core.tags.write(&r.id, p.tag_keys.iter().map(|k| (k.clone(), None)).collect());
    }
    Ok(json!({ "FailedResources": failures }))
}

const TOKEN_PREFIX: &str = "natgw-sim-";

fn token(offset: usize) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(offset.to_string()))
}

fn offset_of(token: &str) -> Option<usize> {
    let bytes = hex::decode(token.strip_prefix(TOKEN_PREFIX)?).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

fn get_resources(sim: &Sim, p: GetParams, principal: &SimPrincipal) -> Result<Value, CallError> {
    let filters = p.tag_filters.unwrap_or_default();
    if filters.len() > MAX_FILTERS {
        return Err(invalid(
            "InvalidParameterValue.TagFilters",
            format!("TagFilters takes at most {MAX_FILTERS} filters."),
        ));
    }
    for f in &filters {
        if f.tag_key.is_empty() {
            return Err(invalid("InvalidParameterValue.TagFilters", "A filter's TagKey must not be empty."));
        }
        if f.tag_value.as_ref().is_some_and(|v| v.len() > MAX_FILTER_VALUES) {
            return Err(invalid(
                "InvalidParameterValue.TagFiltersLengthExceeded",
                format!("A filter takes at most {MAX_FILTER_VALUES} values."),
            ));
        }
    }
    let max = p.max_results.unwrap_or(DEFAULT_RESULTS);
    if !(1..=MAX_RESULTS).contains(&max) {
        return Err(invalid("InvalidParameter", format!("MaxResults must be 1-{MAX_RESULTS}.")));
    }
    let offset = match p.pagination_token.as_deref() {
        None | Some("") => 0,
        Some(t) => offset_of(t).ok_or_else(|| {
            invalid("InvalidParameter.PaginationTokenInvalid", "The PaginationToken is not one this API returned.")
        })?,
    };
    let matches = |tags: &BTreeMap<String, String>| {
        filters.iter().all(|f| match (tags.get(&f.tag_key), f.tag_value.as_deref()) {
            (None, _) => false,
            (Some(_), None | Some([])) => true,
            (Some(v), Some(values)) => values.contains(v),
        })
    };
    let mapping = |region: &str, id: &str, tags: &BTreeMap<String, String>| {
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({ "TagKey": k, "TagValue": v })).collect();
        json!({ "Resource": name_of(region, &principal.account, id), "Tags": tags })
    };
    if let Some(names) = p.resource_list.filter(|l| !l.is_empty()) {
        let listed = resources(&names, principal)?;
        let found: Vec<Value> = listed
            .iter()
            .filter(|r| exists(sim, r))
            .filter_map(|r| {
                let tags = sim.core.tags.visible(&r.id);
                matches(&tags).then(|| mapping(&r.region, &r.id, &tags))
            })
            .collect();
        return Ok(json!({ "ResourceTagMappingList": found, "PaginationToken": "" }));
    }
    let gateways = sim.model().gateways();
    let tagged: Vec<Value> = gateways
        .iter()
        .filter_map(|g| {
            let tags = sim.core.tags.visible(&g.id);
            (!tags.is_empty() && matches(&tags)).then(|| mapping(region_of(&g.zone), &g.id, &tags))
        })
        .collect();
    let page: Vec<Value> = tagged.iter().skip(offset).take(max as usize).cloned().collect();
    let next = offset + page.len();
    let next_token = if next < tagged.len() { token(next) } else { String::new() };
    Ok(json!({ "ResourceTagMappingList": page, "PaginationToken": next_token }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> SimPrincipal {
        SimPrincipal { account: "100000000001".into(), role: None }
    }

    #[test]
    fn names_parse_and_are_checked() {
        let r = resource("qcs::vpc:ap-guangzhou:uin/100000000001:nat/nat-et8e970y").unwrap();
        assert_eq!(
            (r.region.as_str(), r.uin.as_str(), r.id.as_str()),
            ("ap-guangzhou", "100000000001", "nat-et8e970y")
        );
        let code = |n: &str| resource(n).unwrap_err().code;
        assert_eq!(code("qcs::vpc:ap-guangzhou:uin/1:nat"), "InvalidParameterValue.ResourceDescriptionError");
        assert_eq!(code("nat-et8e970y"), "InvalidParameterValue.ResourceDescriptionError");
        assert_eq!(code("qcs::cvm:ap-guangzhou:uin/1:instance/ins-1"), "InvalidParameterValue.ServiceTypeInvalid");
        assert_eq!(code("qcs::vpc:ap-guangzhou:uin/1:vpc/vpc-1"), "InvalidParameterValue.ResourcePrefixInvalid");
        assert_eq!(code("qcs::vpc:ap-guangzhou:uin/abc:nat/nat-1"), "InvalidParameterValue.UinInvalid");
        assert_eq!(code("qcs::vpc:ap-guangzhou:uin/1:nat/NAT_1"), "InvalidParameterValue.ResourceIdInvalid");
        let names = |uins: &[&str]| -> Vec<String> {
            uins.iter().map(|u| format!("qcs::vpc:ap-guangzhou:uin/{u}:nat/nat-1")).collect()
        };
        assert!(resources(&names(&["100000000001"]), &principal()).is_ok());
        assert_eq!(
            resources(&names(&["200000000002"]), &principal()).unwrap_err().code,
            "AuthFailure.UnauthorizedOperation"
        );
        assert_eq!(
            resources(&names(&["100000000001", "200000000002"]), &principal()).unwrap_err().code,
            "FailedOperation.ResourceAppIdNotSame"
        );
        assert_eq!(
            resources(&names(&["100000000001"; 11]), &principal()).unwrap_err().code,
            "LimitExceeded.ResourceNumPerRequest"
        );
        assert_eq!(resources(&[], &principal()).unwrap_err().code, "MissingParameter");
    }

    #[test]
    fn key_and_value_rules() {
        for ok in ["natgw.io/claim", "owner", "a b", "环境", "k+-=._:/@()[],;><", &"k".repeat(127)] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        let code = |k: &str| check_key(k).unwrap_err().code;
        assert_eq!(code(""), "InvalidParameterValue.TagKeyEmpty");
        assert_eq!(code(&"k".repeat(128)), "InvalidParameterValue.TagKeyLengthExceeded");
        assert_eq!(code(" lead"), "InvalidParameterValue.TagKeyCharacterIllegal");
        assert_eq!(code("a*b"), "InvalidParameterValue.TagKeyCharacterIllegal");
        assert_eq!(code("a#b"), "InvalidParameterValue.TagKeyCharacterIllegal");
        for reserved in ["qcs:owner", "qcloud-x", "Tencent.owner", "project", "项目a"] {
            assert_eq!(code(reserved), "InvalidParameter.ReservedTagKey", "{reserved}");
        }
        assert!(check_text("Value", &"v".repeat(255), MAX_VALUE_CHARS).is_ok());
        assert_eq!(
            check_text("Value", &"v".repeat(256), MAX_VALUE_CHARS).unwrap_err().code,
            "InvalidParameterValue.TagValueLengthExceeded"
        );
        assert_eq!(check_text("Value", "", MAX_VALUE_CHARS).unwrap_err().code, "InvalidParameterValue.TagValueEmpty");
        assert_eq!(
            check_text("Value", "x|y", MAX_VALUE_CHARS).unwrap_err().code,
            "InvalidParameterValue.TagValueCharacterIllegal"
        );
        assert_eq!(unique(["a", "b", "a"]).unwrap_err().code, "InvalidParameterValue.TagKeyDuplicate");
    }

    #[test]
    fn regions_and_tokens() {
        assert_eq!(region_of("ap-guangzhou-3"), "ap-guangzhou");
        assert_eq!(region_of("ap-guangzhou"), "ap-guangzhou");
        assert_eq!(offset_of(&token(250)), Some(250));
        assert_eq!(offset_of("garbage"), None);
    }
}
