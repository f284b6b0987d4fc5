//! Times as the clouds write them in credential answers: the simulators and the recorder answer
//! alike, so both take them from here.

use k8s_openapi::jiff::Timestamp;

/// Huawei IAM's time format, `2024-01-01T00:00:00.000000Z` (the SDK parses `%Y-%m-%dT%H:%M:%S.%fZ`).
pub(crate) fn iam_time(unix: u64) -> String {
    Timestamp::from_second(unix as i64)
        .map(|t| format!("{}.000000Z", t.strftime("%Y-%m-%dT%H:%M:%S")))
        .unwrap_or_default()
}

/// Tencent STS's `Expiration`: ISO 8601 UTC to the second, e.g. `2018-12-04T09:06:16Z`.
pub(crate) fn expiration(unix: u64) -> String {
    Timestamp::from_second(unix as i64).map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_the_sdk_parses_them() {
        assert_eq!(iam_time(1_700_000_000), "2023-11-14T22:13:20.000000Z");
    }
}
