//! The three conditions kstatus, `kubectl wait` and Argo CD read: `Ready` (normal polarity),
//! `Reconciling` and `Stalled` (abnormal-true polarity).

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

use crate::plan::{Health, Reason};

/// The new condition list. `lastTransitionTime` moves only when a condition's status flips.
pub fn conditions(previous: &[Condition], health: &Health, generation: i64, now: Timestamp) -> Vec<Condition> {
    let (reason, message) = (health.reason().as_str(), health.message());
    let previous_ready = previous.iter().find(|c| c.type_ == "Ready");
    // A pause's words do not outlive it.
    let previous_ready = previous_ready.filter(|c| c.reason != Reason::Paused.as_str());
    let ready = match health {
        Health::Ready { .. } | Health::Paused { ready: true, .. } => ("True", reason, message),
        Health::Retrying { .. } => match previous_ready {
            Some(c) => (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            None => ("Unknown", reason, message),
        },
        _ => ("False", reason, message),
    };
    let reconciling = match health {
        Health::Progressing { .. } | Health::Retrying { .. } => ("True", reason, message),
        _ => ("False", reason, ""),
    };
    let stalled = match health {
        Health::Stalled { .. } | Health::Paused { ready: false, .. } => ("True", reason, message),
        _ => ("False", reason, ""),
    };
    [("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled)]
        .into_iter()
        .map(|(type_, (status, reason, message))| {
            let since = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .map_or(Time(now), |c| c.last_transition_time.clone());
            Condition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                reason: reason.to_owned(),
                message: message.to_owned(),
                observed_generation: Some(generation),
                last_transition_time: since,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of<'a>(c: &'a [Condition], t: &str) -> &'a str {
        &c.iter().find(|c| c.type_ == t).unwrap().status
    }

    #[test]
    fn polarity_matches_kstatus() {
        let now = Timestamp::UNIX_EPOCH;
        let cases = [
            (Health::Ready { message: "ok".into() }, ["True", "False", "False"]),
            (Health::Progressing { reason: Reason::OrderInProgress, message: "m".into() }, ["False", "True", "False"]),
            (Health::Stalled { reason: Reason::GatewayNotFound, message: "m".into() }, ["False", "False", "True"]),
            (Health::Drift { message: "m".into() }, ["False", "False", "False"]),
            (Health::Retrying { reason: Reason::Throttled, message: "m".into() }, ["Unknown", "True", "False"]),
            (Health::Paused { message: "m".into(), ready: true }, ["True", "False", "False"]),
            (Health::Paused { message: "m".into(), ready: false }, ["False", "False", "True"]),
        ];
        for (health, expected) in cases {
            let c = conditions(&[], &health, 3, now);
            let got = [status_of(&c, "Ready"), status_of(&c, "Reconciling"), status_of(&c, "Stalled")];
            assert_eq!(got, expected, "{health:?}");
            assert!(c.iter().all(|c| c.observed_generation == Some(3)));
        }
    }

    #[test]
    fn retrying_keeps_ready_and_transition_times_move_only_on_flips() {
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = Timestamp::from_second(100).unwrap();
        let first = conditions(&[], &Health::Ready { message: "ok".into() }, 1, t0);
        let second = conditions(&first, &Health::Retrying { reason: Reason::Throttled, message: "slow".into() }, 1, t1);
        let ready = second.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.last_transition_time.0), ("True", t0));
        let reconciling = second.iter().find(|c| c.type_ == "Reconciling").unwrap();
        assert_eq!((reconciling.status.as_str(), reconciling.last_transition_time.0), ("True", t1));
    }

    /// After a pause, a retry does not keep showing the pause's Ready.
    #[test]
    fn retrying_after_a_pause_does_not_keep_its_ready() {
        let t0 = Timestamp::UNIX_EPOCH;
        let paused = conditions(&[], &Health::Paused { message: "paused".into(), ready: true }, 1, t0);
        let after = conditions(&paused, &Health::Retrying { reason: Reason::Throttled, message: "slow".into() }, 1, t0);
        let ready = after.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("Unknown", "Throttled"));
    }
}
