//! Request parameters as Tencent's gateways read them: the shape of resource ids, flat form or
//! query parameters (`NatGatewayIds.0`, `Filters.0.Values.1`) turned into the JSON object an
//! API 3.0 POST carries (so every request form is validated by the same code), and serde's
//! complaints turned into the documented error codes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

use super::call::CallError;

/// Whether `id` has the shape of a `prefix` resource id. Real ids are the prefix, `-` and 8
/// lowercase letters or digits (`nat-et8e970y`); the simulator also takes longer ids of the same
/// characters with inner hyphens (`nat-kill-3-v2`), which tests use for readability.
pub fn well_formed(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('-')
            && !rest.ends_with('-')
            && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// `InvalidParameterValue.Malformed` unless `id` is a well-formed `prefix` id.
pub fn check_id(name: &str, id: &str, prefix: &str) -> Result<(), CallError> {
    if well_formed(id, prefix) {
        Ok(())
    } else {
        Err(CallError::new(
            "InvalidParameterValue.Malformed",
            format!("The value {id:?} of {name} is malformed: expected an id like {prefix}-xxxxxxxx."),
        ))
    }
}

/// Flat parameters to the JSON object they stand for: `A.0=x&A.1=y` is `{"A":["x","y"]}`,
/// `F.0.Name=n` is `{"F":[{"Name":"n"}]}`. Leaves stay strings (see [`int`]).
pub fn unflatten<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Map<String, Value>, CallError> {
    let mut root = Map::new();
    for (key, value) in pairs {
        let segments: Vec<&str> = key.split('.').collect();
        insert(&mut root, &segments, value)
            .map_err(|()| CallError::new("InvalidParameter", format!("The parameter {key} conflicts with another.")))?;
    }
    Ok(arrays(Value::Object(root)).as_object().cloned().unwrap_or_default())
}

fn insert(map: &mut Map<String, Value>, path: &[&str], value: &str) -> Result<(), ()> {
    match path {
        [] => Err(()),
        [last] => match map.insert((*last).to_owned(), Value::String(value.to_owned())) {
            None => Ok(()),
            Some(_) => Err(()),
        },
        [first, rest @ ..] => match map.entry((*first).to_owned()).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(inner) => insert(inner, rest, value),
            _ => Err(()),
        },
    }
}

/// Objects whose keys are all indexes become arrays, in index order.
fn arrays(value: Value) -> Value {
    match value {
        Value::Object(map) if !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok()) => {
            let indexed: BTreeMap<usize, Value> =
                map.into_iter().filter_map(|(k, v)| Some((k.parse().ok()?, arrays(v)))).collect();
            Value::Array(indexed.into_values().collect())
        }
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, arrays(v))).collect()),
        other => other,
    }
}

/// Parses an action's parameters, answering serde's complaints with the documented codes.
pub fn parse<T: DeserializeOwned>(params: Map<String, Value>) -> Result<T, CallError> {
    serde_json::from_value(Value::Object(params)).map_err(|e| {
        let text = e.to_string();
        if let Some(rest) = text.strip_prefix("unknown field ") {
            let name = rest.split(',').next().unwrap_or(rest);
            CallError::new("UnknownParameter", format!("The parameter {name} is not recognized."))
        } else if let Some(rest) = text.strip_prefix("missing field ") {
            CallError::new("MissingParameter", format!("The request is missing the required parameter {rest}."))
        } else {
            CallError::new("InvalidParameter", format!("A parameter has the wrong type: {text}."))
        }
    })
}

/// An integer sent as a JSON number or, from a form or query string, as text.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Number(i64),
        Text(String),
    }
    match Int::deserialize(d)? {
        Int::Number(n) => Ok(n),
        Int::Text(s) => s.trim().parse().map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
    }
}

/// [`int`] for an optional parameter (use with `#[serde(default)]`).
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    int(d).map(Some)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids() {
        for ok in ["nat-et8e970y", "nat-1", "nat-kill-3-v2"] {
            assert!(well_formed(ok, "nat"), "{ok}");
        }
        for bad in
            ["nat-", "nat", "NAT-et8e970y", "nat-ET8E970Y", "vpc-et8e970y", "nat_1", "nat--1", "nat-1-", "nat-a b"]
        {
            assert!(!well_formed(bad, "nat"), "{bad}");
        }
    }

    #[test]
    fn flat_parameters_nest() {
        let flat = [
            ("NatGatewayIds.1", "nat-b"),
            ("NatGatewayIds.0", "nat-a"),
            ("Filters.0.Name", "vpc-id"),
            ("Filters.0.Values.0", "vpc-1"),
            ("Limit", "10"),
        ];
        assert_eq!(
            Value::Object(unflatten(flat).unwrap()),
            json!({"NatGatewayIds": ["nat-a", "nat-b"], "Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}], "Limit": "10"})
        );
        assert_eq!(unflatten([("A", "1"), ("A.0", "2")]).unwrap_err().code, "InvalidParameter");
    }

    #[test]
    fn serde_complaints_become_codes() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        struct P {
            #[serde(deserialize_with = "int")]
            limit: i64,
        }
        let code = |v: Value| parse::<P>(v.as_object().unwrap().clone()).unwrap_err().code;
        assert_eq!(code(json!({})), "MissingParameter");
        assert_eq!(code(json!({"Limit": 1, "Bogus": 2})), "UnknownParameter");
        assert_eq!(code(json!({"Limit": "ten"})), "InvalidParameter");
        assert_eq!(parse::<P>(json!({"Limit": "10"}).as_object().unwrap().clone()).unwrap().limit, 10);
    }
}
