//! Tags on public NAT gateways (NAT v3, the paths huaweicloudsdknat 3.1.219's `NatClient`
//! sends), signed and checked like every other call:
//! - `BatchCreateDeleteNatGatewayTag` `POST /v3/{project_id}/nat_gateways/{id}/tags/action`
//!   `{"action": "create"|"delete", "tags": [{"key", "value"}]}` -> 204. Create sets each key
//!   (overwriting its value); delete removes a key when `value` is absent or empty, else only when
//!   the gateway's value is that value; keys it does not have are no error.
//! - `CreateNatGatewayTag` `POST .../{id}/tags` `{"tag": {"key", "value"}}` -> 204;
//!   `DeleteNatGatewayTag` `DELETE .../{id}/tags/{key}` -> 204.
//! - `ShowNatGatewayTag` `GET .../{id}/tags` -> 200 `{"tags": [{"key", "value"}]}`.
//! - `ListNatGatewayTag` `GET /v3/{project_id}/nat_gateways/tags` -> 200
//!   `{"tags": [{"key", "values": [...]}]}`: every key on the project's gateways.
//! - `ListNatGatewayByTag` `POST /v3/{project_id}/nat_gateways/resource_instances/action`
//!   `{"action": "filter"|"count", "tags"?, "tags_any"?, "not_tags"?, "not_tags_any"?: [{"key",
//!   "values": [...]}], "limit"?, "offset"? (strings or numbers), "matches"?: [{"key":
//!   "resource_name"|"resource_id", "value"}]}` -> 200 `{"resources": [{"resource_id",
//!   "resource_name", "resource_detail": {}, "tags": [{"key", "value"}]}], "total_count"}` for
//!   filter, `{"total_count"}` for count. `tags`: every key, any of its values (ANDed keys, ORed
//!   values); `tags_any`: any key; `not_tags` / `not_tags_any` their negations; empty `values`
//!   means any value, a value `*x` matches values containing `x`. `resource_name` matches
//!   case-insensitively by substring (exactly when the value is empty), `resource_id` exactly.
//!   `limit` 1-1000 (default 1000), `offset` from 0 (default 0). Gateways are in id order (the
//!   cloud's is newest first).
//!
//! Rules (API reference "Batch Adding or Deleting Tags to or from a Public NAT Gateway" and the
//! SDK's `PublicTags`/`TagBody`/`PublicTag` docs): a key is 1-128 Unicode characters, a value at
//! most 255 (empty allowed), neither with ASCII 0-31 or `= * < > \ , | /`; no key twice in one
//! request; at most 20 tags on a gateway (the v3 reference; v2.0 said 10). Deletion checks only
//! that keys are not empty and the lengths. Filters take at most 20 keys with at most 20 values
//! each (the v3 reference). Bad tags answer 400 `NAT.1015` ("Tags parameter is illegal."), too
//! many tags 400 `NAT.1016` ("The number of tags exceeds the limit 20."), other bad parameters
//! 400 `NAT.0002`, a body that is not JSON 400 `NAT.1010` (the NAT error code table); a gateway
//! that is not in the project 404 as every NAT call answers it.
//!
//! Writes are visible after the tag delay ([`crate::tags`]); limits count what was written.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    answer::{Failure, Success, no_content, ok},
    state::SimState,
};
use crate::tags::TagChange;

pub const MAX_TAGS_PER_GATEWAY: usize = 20;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 255;
const MAX_FILTER_KEYS: usize = 20;
const MAX_FILTER_VALUES: usize = 20;
const MAX_LIMIT: u64 = 1000;
const FORBIDDEN: &str = "=*<>\\,|/";

fn illegal(why: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "NAT.1015", format!("Tags parameter is illegal: {}.", why.into()))
}

fn invalid(why: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "NAT.0002", format!("Invalid parameters: {}.", why.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TagBody {
    key: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchRequest {
    action: String,
    tags: Vec<TagBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRequest {
    tag: TagBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Filter {
    key: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Match {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ByTagRequest {
    action: String,
    #[serde(default)]
    tags: Option<Vec<Filter>>,
    #[serde(default)]
    tags_any: Option<Vec<Filter>>,
    #[serde(default)]
    not_tags: Option<Vec<Filter>>,
    #[serde(default)]
    not_tags_any: Option<Vec<Filter>>,
    #[serde(default)]
    limit: Option<Value>,
    #[serde(default)]
    offset: Option<Value>,
    #[serde(default)]
    matches: Option<Vec<Match>>,
}

fn check_text(what: &str, text: &str, max: usize, charset: bool) -> Result<(), Failure> {
    if text.chars().count() > max {
        return Err(illegal(format!("a {what} is at most {max} characters")));
    }
    if charset && text.chars().any(|c| (c as u32) < 32 || FORBIDDEN.contains(c)) {
        return Err(illegal(format!("the {what} {text:?} has a control character or one of {FORBIDDEN}")));
    }
    Ok(())
}

fn check_key(key: &str, charset: bool) -> Result<(), Failure> {
    if key.trim().is_empty() {
        return Err(illegal("a key must not be empty"));
    }
    check_text("key", key, MAX_KEY_CHARS, charset)
}

/// The changes a create or delete makes, checked; `written` is the gateway's tags as written.
pub(super) fn changes(
    action: &str,
    tags: &[TagBody],
    written: &BTreeMap<String, String>,
) -> Result<Vec<TagChange>, Failure> {
    let create = match action {
        "create" => true,
        "delete" => false,
        other => return Err(invalid(format!("action {other:?} is not create or delete"))),
    };
    if tags.is_empty() {
        return Err(illegal("tags must not be empty"));
    }
    let mut seen = BTreeSet::new();
    for t in tags {
        check_key(&t.key, create)?;
        check_text("value", t.value.as_deref().unwrap_or(""), MAX_VALUE_CHARS, create)?;
        if create && !seen.insert(t.key.as_str()) {
            return Err(illegal(format!("the key {:?} is given twice", t.key)));
        }
    }
    if create {
        let mut keys: BTreeSet<&str> = written.keys().map(String::as_str).collect();
        keys.extend(tags.iter().map(|t| t.key.as_str()));
        if keys.len() > MAX_TAGS_PER_GATEWAY {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "NAT.1016",
                format!("The number of tags exceeds the limit {MAX_TAGS_PER_GATEWAY}."),
            ));
        }
        return Ok(tags.iter().map(|t| (t.key.clone(), Some(t.value.clone().unwrap_or_default()))).collect());
    }
    Ok(tags
        .iter()
        .filter(|t| match t.value.as_deref() {
            None | Some("") => true,
            Some(v) => written.get(&t.key).is_some_and(|w| w == v),
        })
        .map(|t| (t.key.clone(), None))
        .collect())
}

fn gateway_exists(state: &SimState, project: &str, id: &str) -> Result<(), Failure> {
    state.world().gateway(project, id).map(|_| ()).map_err(|r| Failure::from_refusal(r, id))
}

/// Applies checked changes to a gateway of the project.
fn write(state: &SimState, project: &str, id: &str, action: &str, tags: &[TagBody]) -> Result<Success, Failure> {
    gateway_exists(state, project, id)?;
    let changes = changes(action, tags, &state.core.tags.written(id))?;
    state.core.tags.write(id, changes);
    Ok(no_content())
}

pub(super) fn batch(state: &SimState, project: &str, id: &str, request: BatchRequest) -> Result<Success, Failure> {
    write(state, project, id, &request.action, &request.tags)
}

pub(super) fn create(state: &SimState, project: &str, id: &str, request: CreateRequest) -> Result<Success, Failure> {
    write(state, project, id, "create", &[request.tag])
}

pub(super) fn delete(state: &SimState, project: &str, id: &str, key: &str) -> Result<Success, Failure> {
    write(state, project, id, "delete", &[TagBody { key: key.to_owned(), value: None }])
}

fn pairs(tags: &BTreeMap<String, String>) -> Vec<Value> {
    tags.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect()
}

pub(super) fn show(state: &SimState, project: &str, id: &str) -> Result<Success, Failure> {
    gateway_exists(state, project, id)?;
    Ok(ok(json!({ "tags": pairs(&state.core.tags.visible(id)) })))
}

pub(super) fn list_keys(state: &SimState, project: &str) -> Success {
    let gateways = state.world().list(project, None, usize::MAX);
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in &gateways {
        for (k, v) in state.core.tags.visible(&g.id) {
            keys.entry(k).or_default().insert(v);
        }
    }
    let tags: Vec<Value> = keys.into_iter().map(|(k, v)| json!({ "key": k, "values": v })).collect();
    ok(json!({ "tags": tags }))
}

fn check_filters(name: &str, filters: &[Filter]) -> Result<(), Failure> {
    if filters.len() > MAX_FILTER_KEYS {
        return Err(illegal(format!("{name} takes at most {MAX_FILTER_KEYS} keys")));
    }
    let mut keys = BTreeSet::new();
    for f in filters {
        if f.key.trim().is_empty() {
            return Err(illegal(format!("a key of {name} must not be empty")));
        }
        if !keys.insert(f.key.trim()) {
            return Err(illegal(format!("the key {:?} is in {name} twice", f.key)));
        }
        if f.values.len() > MAX_FILTER_VALUES {
            return Err(illegal(format!("a key of {name} takes at most {MAX_FILTER_VALUES} values")));
        }
        let distinct: BTreeSet<&str> = f.values.iter().map(|v| v.trim()).collect();
        if distinct.len() != f.values.len() {
            return Err(illegal(format!("the values of {:?} in {name} repeat", f.key)));
        }
    }
    Ok(())
}

/// Whether the gateway's tags hold the filter's key with one of its values.
fn holds(tags: &BTreeMap<String, String>, f: &Filter) -> bool {
    let Some(value) = tags.get(f.key.trim()) else {
        return false;
    };
    f.values.is_empty()
        || f.values.iter().map(|v| v.trim()).any(|v| match v.strip_prefix('*') {
            Some(part) => value.contains(part),
            None => value == v,
        })
}

fn number(
    name: &str,
    value: &Option<Value>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, Failure> {
    let n = match value {
        None => return Ok(default),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    n.filter(|n| range.contains(n))
        .ok_or_else(|| invalid(format!("{name} must be a number {}-{}", range.start(), range.end())))
}

pub(super) fn by_tag(state: &SimState, project: &str, request: ByTagRequest) -> Result<Success, Failure> {
    let filter = match request.action.as_str() {
        "filter" => true,
        "count" => false,
        other => return Err(invalid(format!("action {other:?} is not filter or count"))),
    };
    let lists = [
        ("tags", &request.tags),
        ("tags_any", &request.tags_any),
        ("not_tags", &request.not_tags),
        ("not_tags_any", &request.not_tags_any),
    ];
    for (name, list) in lists {
        check_filters(name, list.as_deref().unwrap_or_default())?;
    }
    let limit = number("limit", &request.limit, MAX_LIMIT, 1..=MAX_LIMIT)? as usize;
    let offset = number("offset", &request.offset, 0, 0..=u64::from(u32::MAX))? as usize;
    let matches = request.matches.unwrap_or_default();
    if let Some(m) = matches.iter().find(|m| !matches!(m.key.as_str(), "resource_name" | "resource_id")) {
        return Err(invalid(format!("matches key {:?} is not resource_name or resource_id", m.key)));
    }
    let all = |l: &Option<Vec<Filter>>, tags: &BTreeMap<String, String>| {
        l.as_deref().is_none_or(|l| l.iter().all(|f| holds(tags, f)))
    };
    let any = |l: &Option<Vec<Filter>>, tags: &BTreeMap<String, String>| {
        l.as_deref().is_none_or(|l| l.is_empty() || l.iter().any(|f| holds(tags, f)))
    };
    let gateways = state.world().list(project, None, usize::MAX);
    let found: Vec<Value> = gateways
        .iter()
        .filter_map(|g| {
            let tags = state.core.tags.visible(&g.id);
            let tagged = all(&request.tags, &tags)
                && any(&request.tags_any, &tags)
                && request.not_tags.as_deref().is_none_or(|l| l.is_empty() || !l.iter().all(|f| holds(&tags, f)))
                && request.not_tags_any.as_deref().is_none_or(|l| !l.iter().any(|f| holds(&tags, f)));
            let named = matches.iter().all(|m| match m.key.as_str() {
                "resource_id" => g.id == m.value,
                _ if m.value.is_empty() => g.name.is_empty(),
                _ => g.name.to_lowercase().contains(&m.value.to_lowercase()),
            });
            (tagged && named).then(
                || json!({ "resource_id": g.id, "resource_name": g.name, "resource_detail": {}, "tags": pairs(&tags) }),
            )
        })
        .collect();
    let total_count = found.len();
    if !filter {
        return Ok(ok(json!({ "total_count": total_count })));
    }
    let page: Vec<Value> = found.into_iter().skip(offset).take(limit).collect();
    Ok(ok(json!({ "resources": page, "total_count": total_count })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: Option<&str>) -> TagBody {
        TagBody { key: k.into(), value: v.map(Into::into) }
    }

    fn code(r: Result<Vec<TagChange>, Failure>) -> String {
        r.err().map(|f| f.code).unwrap_or_default()
    }

    #[test]
    fn creates_are_checked_against_the_documented_rules() {
        let none = BTreeMap::new();
        assert_eq!(changes("create", &[tag("owner", Some("a")), tag("e", None)], &none).unwrap().len(), 2);
        assert_eq!(code(changes("create", &[tag("", Some("a"))], &none)), "NAT.1015");
        assert_eq!(code(changes("create", &[tag(&"k".repeat(129), Some("a"))], &none)), "NAT.1015");
        assert!(changes("create", &[tag(&"k".repeat(128), Some(&"v".repeat(255)))], &none).is_ok());
        assert_eq!(code(changes("create", &[tag("k", Some(&"v".repeat(256)))], &none)), "NAT.1015");
        for bad in ["natgw.io/claim", "a=b", "a*", "a<", "a>", "a\\", "a,b", "a|b", "a\u{7}"] {
            assert_eq!(code(changes("create", &[tag(bad, Some("v"))], &none)), "NAT.1015", "{bad}");
            assert_eq!(code(changes("create", &[tag("k", Some(bad))], &none)), "NAT.1015", "{bad}");
        }
        assert_eq!(code(changes("create", &[tag("k", Some("1")), tag("k", Some("2"))], &none)), "NAT.1015");
        assert_eq!(code(changes("create", &[], &none)), "NAT.1015");
        assert_eq!(code(changes("update", &[tag("k", None)], &none)), "NAT.0002");
        let full: BTreeMap<String, String> = (0..20).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(changes("create", &[tag("k0", Some("new"))], &full).is_ok());
        assert_eq!(code(changes("create", &[tag("k20", Some("v"))], &full)), "NAT.1016");
    }

    #[test]
    fn deletes_match_the_value_when_given() {
        let written = BTreeMap::from([("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]);
        let out = changes(
            "delete",
            &[tag("a", Some("other")), tag("b", Some("2")), tag("c", None), tag("a/x", None)],
            &written,
        )
        .unwrap();
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "c", "a/x"]);
        assert_eq!(code(changes("delete", &[tag(" ", None)], &written)), "NAT.1015");
    }

    #[test]
    fn filters() {
        let tags = BTreeMap::from([("owner".to_owned(), "cluster-a/ns/x".to_owned())]);
        let f = |k: &str, v: &[&str]| Filter { key: k.into(), values: v.iter().map(|s| s.to_string()).collect() };
        assert!(holds(&tags, &f("owner", &[])));
        assert!(holds(&tags, &f("owner", &["nope", "cluster-a/ns/x"])));
        assert!(holds(&tags, &f("owner", &["*ns/"])));
        assert!(!holds(&tags, &f("owner", &["cluster-b"])));
        assert!(!holds(&tags, &f("team", &[])));
        assert_eq!(check_filters("tags", &[f("a", &[]), f("a", &[])]).unwrap_err().code, "NAT.1015");
        assert_eq!(check_filters("tags", &[f("a", &["x", "x"])]).unwrap_err().code, "NAT.1015");
        let many: Vec<Filter> = (0..21).map(|i| f(&format!("k{i}"), &[])).collect();
        assert_eq!(check_filters("tags", &many).unwrap_err().code, "NAT.1015");
        assert_eq!(number("limit", &Some(json!("10")), 1000, 1..=1000).unwrap(), 10);
        assert_eq!(number("limit", &Some(json!(0)), 1000, 1..=1000).unwrap_err().code, "NAT.0002");
    }
}
