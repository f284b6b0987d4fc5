//! Notices of a yearly/monthly gateway's coming expiry: an Event at 30 days, 7 days and 1 day
//! before, and at expiry, each once. What was sent is kept in `status.observed.expiryNotice`, so
//! a restart, a failover or a drift check sends nothing twice; a renewal starts them over.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::{Effect, EventType, Reason};
use crate::api::{ExpiryNotice, NatGatewayStatus, Renewal};

const DAY: u64 = 24 * 3600;

/// The notice due with `left` until expiry (`None`: more than 30 days left).
fn due(left: i64) -> Option<ExpiryNotice> {
    match left {
        ..=0 => Some(ExpiryNotice::Expired),
        l if l <= DAY as i64 => Some(ExpiryNotice::Day1),
        l if l <= 7 * DAY as i64 => Some(ExpiryNotice::Days7),
        l if l <= 30 * DAY as i64 => Some(ExpiryNotice::Days30),
        _ => None,
    }
}

/// Carries the notice already sent from `previous` into `status` (whose `observed` this pass
/// read afresh) and returns the Event of a notice that has come due since. The notice sent
/// belongs to one expiry: a new `expiresAt` (renewed) starts over.
pub fn expiry_notice(status: &mut NatGatewayStatus, previous: &NatGatewayStatus, now: Timestamp) -> Option<Effect> {
    let observed = status.observed.as_mut()?;
    let sent = previous.observed.as_ref().filter(|p| p.expires_at == observed.expires_at).and_then(|p| p.expiry_notice);
    let Some(expires) = observed.expires_at.as_ref().map(|t| t.0) else {
        observed.expiry_notice = None;
        return None;
    };
    let notice = due(expires.duration_since(now).as_secs());
    observed.expiry_notice = notice.max(sent);
    let notice = notice.filter(|n| sent.is_none_or(|s| *n > s))?;
    let date = expires.strftime("%Y-%m-%d %H:%M UTC");
    let left = Duration::from_secs(expires.duration_since(now).as_secs().max(0).unsigned_abs());
    let left = humantime::format_duration(Duration::from_secs(left.as_secs() / 3600 * 3600));
    let renewal = observed.renewal;
    let (type_, reason, message) = match (notice, renewal) {
        (ExpiryNotice::Expired, Some(Renewal::Manual) | None) => (
            EventType::Warning,
            Reason::SubscriptionExpired,
            format!(
                "the yearly/monthly period ended at {date} and was not renewed: renew it in the cloud's billing center during the grace period, or the gateway is frozen and later deleted"
            ),
        ),
        (ExpiryNotice::Expired, Some(r)) => (
            EventType::Normal,
            Reason::SubscriptionExpired,
            format!("the yearly/monthly period ended at {date}; renewal: {r}"),
        ),
        (_, Some(Renewal::Manual) | None) => (
            EventType::Warning,
            Reason::SubscriptionExpiring,
            format!(
                "the yearly/monthly period ends at {date} (in {left}) and is not renewed automatically: renew it in the cloud's billing center, set spec.billing.prepaid.autoRenew: true, or remove spec.billing to turn pay-per-use at expiry"
            ),
        ),
        (_, Some(Renewal::Auto)) => (
            EventType::Normal,
            Reason::SubscriptionExpiring,
            format!(
                "the yearly/monthly period ends at {date} (in {left}) and is renewed automatically: the fee is charged to the account's balance before then"
            ),
        ),
        (_, Some(Renewal::PayPerUseAtExpiry)) => (
            EventType::Normal,
            Reason::SubscriptionExpiring,
            format!(
                "the yearly/monthly period ends at {date} (in {left}); the gateway then becomes pay-per-use, as the spec declares"
            ),
        ),
    };
    Some(Effect::Event(type_, reason, message))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::{BillingMode, ObservedStatus};

    fn status(expires: Option<Timestamp>, renewal: Renewal, notice: Option<ExpiryNotice>) -> NatGatewayStatus {
        NatGatewayStatus {
            observed: Some(ObservedStatus {
                size: None,
                max_concurrent_connections: None,
                spec: Some("2".into()),
                billing_mode: Some(BillingMode::Prepaid),
                expires_at: expires.map(Time),
                renewal: Some(renewal),
                expiry_notice: notice,
                state: "ACTIVE".into(),
                checked_at: Time(Timestamp::UNIX_EPOCH),
            }),
            ..Default::default()
        }
    }

    fn at(days: f64) -> Timestamp {
        Timestamp::UNIX_EPOCH + Duration::from_secs_f64(days * DAY as f64)
    }

    /// Walks a gateway from 40 days before expiry to 2 days after, one hour at a time, as drift
    /// checks would: four Events in all, one per notice, in order.
    #[test]
    fn each_notice_is_sent_once_in_order() {
        let expires = at(100.0);
        let mut previous = status(Some(expires), Renewal::Manual, None);
        let mut sent = Vec::new();
        for hour in 0..(42 * 24) {
            let now = at(60.0) + Duration::from_secs(hour * 3600);
            let mut current = status(Some(expires), Renewal::Manual, None);
            if let Some(Effect::Event(type_, reason, message)) = expiry_notice(&mut current, &previous, now) {
                assert_eq!(type_, EventType::Warning);
                sent.push((current.observed.as_ref().unwrap().expiry_notice, reason, message));
            }
            previous = current;
        }
        let notices: Vec<_> = sent.iter().map(|(n, r, _)| (n.unwrap(), *r)).collect();
        assert_eq!(
            notices,
            [
                (ExpiryNotice::Days30, Reason::SubscriptionExpiring),
                (ExpiryNotice::Days7, Reason::SubscriptionExpiring),
                (ExpiryNotice::Day1, Reason::SubscriptionExpiring),
                (ExpiryNotice::Expired, Reason::SubscriptionExpired),
            ]
        );
        assert!(sent[0].2.contains("in 30days"), "{}", sent[0].2);
        assert!(sent[0].2.contains("autoRenew"), "{}", sent[0].2);
    }

    #[test]
    fn a_late_start_sends_only_the_notice_due_and_a_renewal_starts_over() {
        let previous = NatGatewayStatus::default();
        let mut current = status(Some(at(5.0)), Renewal::Auto, None);
        let event = expiry_notice(&mut current, &previous, at(0.0));
        assert!(matches!(event, Some(Effect::Event(EventType::Normal, Reason::SubscriptionExpiring, _))));
        assert_eq!(current.observed.as_ref().unwrap().expiry_notice, Some(ExpiryNotice::Days7));
        // The same expiry read again: nothing new.
        let mut again = status(Some(at(5.0)), Renewal::Auto, None);
        assert_eq!(expiry_notice(&mut again, &current, at(0.5)), None);
        assert_eq!(again.observed.as_ref().unwrap().expiry_notice, Some(ExpiryNotice::Days7));
        // Renewed for a year: the notice is forgotten and nothing is sent.
        let mut renewed = status(Some(at(370.0)), Renewal::Auto, None);
        assert_eq!(expiry_notice(&mut renewed, &again, at(1.0)), None);
        assert_eq!(renewed.observed.as_ref().unwrap().expiry_notice, None);
    }

    #[test]
    fn no_expiry_no_notice() {
        let mut current = status(None, Renewal::Manual, Some(ExpiryNotice::Days7));
        assert_eq!(expiry_notice(&mut current, &NatGatewayStatus::default(), at(0.0)), None);
        assert_eq!(current.observed.as_ref().unwrap().expiry_notice, None);
        let mut none = NatGatewayStatus::default();
        assert_eq!(expiry_notice(&mut none, &NatGatewayStatus::default(), at(0.0)), None);
    }

    #[test]
    fn pay_per_use_at_expiry_is_told_as_such() {
        let mut current = status(Some(at(20.0)), Renewal::PayPerUseAtExpiry, None);
        let Some(Effect::Event(EventType::Normal, _, message)) =
            expiry_notice(&mut current, &NatGatewayStatus::default(), at(0.0))
        else {
            panic!("a Normal event")
        };
        assert!(message.contains("becomes pay-per-use"), "{message}");
    }
}
