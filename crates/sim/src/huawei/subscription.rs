//! A yearly/monthly gateway's subscription as BSS keeps it: its period, its expiry and what
//! happens then (`expire_policy`), and what passing time does to it. Months are 30 days, years
//! 365, as everywhere in the simulator.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use natgw_operator::api::Renewal;
use natgw_operator::cloud::huawei::wire;

/// Auto-renew deducts the next period this long before expiry (BSS: at 03:00 seven days before;
/// here to the second).
pub const RENEWAL_LEAD: Duration = Duration::from_secs(7 * DAY);

const DAY: u64 = 24 * 3600;

/// The terms of a seeded yearly/monthly gateway (ignored for a pay-per-use one): what
/// `POST /_sim/gateways` takes besides a [`super::SeedGateway`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedTerms {
    /// Days from now to expiry.
    #[serde(default = "thirty")]
    pub expires_in_days: u32,
    #[serde(default = "manual")]
    pub renewal: Renewal,
}

impl Default for SeedTerms {
    fn default() -> Self {
        SeedTerms { expires_in_days: thirty(), renewal: manual() }
    }
}

fn thirty() -> u32 {
    30
}

fn manual() -> Renewal {
    Renewal::Manual
}

/// BSS `expire_policy` of a renewal setting.
pub fn policy_of(renewal: Renewal) -> i64 {
    match renewal {
        Renewal::Auto => wire::EXPIRE_AUTO_RENEW,
        Renewal::Manual => wire::EXPIRE_GRACE_PERIOD,
        Renewal::PayPerUseAtExpiry => wire::EXPIRE_TO_ON_DEMAND,
    }
}

/// A subscription as the control API shows it (`GET /_sim/subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimSubscription {
    pub gateway_id: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`, as BSS writes them.
    pub effective_time: String,
    pub expire_time: String,
    /// BSS's `expire_policy` and what it means.
    pub expire_policy: i64,
    pub renewal: Renewal,
    /// 2 in use, 5 expired (the grace period).
    pub status: i64,
    /// `month` or `year`.
    pub period_type: String,
    pub period_num: i64,
}

/// What passing time did to a term.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Passage {
    /// When each automatic renewal was deducted (each extended the term by one period).
    pub renewals: Vec<Timestamp>,
    /// The term ended with policy 1: the gateway is pay-per-use now.
    pub to_pay_per_use: bool,
}

/// One gateway's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub effective: Timestamp,
    pub expires: Timestamp,
    /// BSS `expire_policy`: 0 grace period, 1 to pay-per-use, 3 auto-renew.
    pub policy: i64,
    /// `month` or `year`.
    pub period_type: String,
    pub period_num: i64,
}

/// How long `num` periods of `period_type` last.
pub fn period_length(period_type: &str, num: i64) -> Duration {
    let days = if period_type == "year" { 365 } else { 30 };
    Duration::from_secs(days * DAY * num.max(1).unsigned_abs())
}

/// `yyyy-MM-ddTHH:mm:ssZ`.
pub fn bss_time(t: Timestamp) -> String {
    t.strftime(wire::BSS_TIME_FORMAT).to_string()
}

impl Term {
    /// A term bought at `from`.
    pub fn bought(from: Timestamp, period_type: &str, period_num: i64, policy: i64) -> Term {
        Term {
            effective: from,
            expires: from + period_length(period_type, period_num),
            policy,
            period_type: period_type.to_owned(),
            period_num,
        }
    }

    /// A seeded gateway's term: it ends `expires_in_days` from `now` and was bought one period
    /// before, of whole months up to 9 (270 days), else of whole years.
    pub fn seeded(now: Timestamp, terms: &SeedTerms) -> Term {
        let days = i64::from(terms.expires_in_days);
        let (period_type, period_num) =
            if days <= 270 { ("month", (days + 29) / 30) } else { ("year", (days + 364) / 365) };
        let expires = now + Duration::from_secs(days.unsigned_abs() * DAY);
        Term {
            effective: expires - period_length(period_type, period_num),
            expires,
            policy: policy_of(terms.renewal),
            period_type: period_type.to_owned(),
            period_num: period_num.max(1),
        }
    }

    /// 5 (expired) from the expiry on, else 2 (in use). A gateway not renewed stays `ACTIVE`
    /// through its grace period.
    pub fn status(&self, now: Timestamp) -> i64 {
        if now >= self.expires { wire::RESOURCE_EXPIRED } else { wire::RESOURCE_IN_USE }
    }

    /// Brings the term to `now`: auto-renew (3) adds a period at each [`RENEWAL_LEAD`] before
    /// expiry that has passed; to pay-per-use (1) ends the term at expiry; the others wait.
    pub fn pass(&mut self, now: Timestamp) -> Passage {
        let mut passage = Passage::default();
        match self.policy {
            wire::EXPIRE_AUTO_RENEW => {
                // A period is at least 30 days, longer than the lead: this ends.
                while self.expires - RENEWAL_LEAD <= now {
                    passage.renewals.push(self.expires - RENEWAL_LEAD);
                    self.expires += period_length(&self.period_type, self.period_num);
                }
            }
            wire::EXPIRE_TO_ON_DEMAND => passage.to_pay_per_use = now >= self.expires,
            _ => {}
        }
        passage
    }

    pub fn view(&self, gateway_id: &str, now: Timestamp) -> SimSubscription {
        SimSubscription {
            gateway_id: gateway_id.to_owned(),
            effective_time: bss_time(self.effective),
            expire_time: bss_time(self.expires),
            expire_policy: self.policy,
            renewal: natgw_operator::cloud::huawei::renewal::renewal_of(self.policy),
            status: self.status(now),
            period_type: self.period_type.clone(),
            period_num: self.period_num,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn seeded_terms_end_when_asked_and_began_a_period_before() {
        let now = at("2024-01-01T00:00:00Z");
        let t = Term::seeded(now, &SeedTerms::default());
        assert_eq!(
            (bss_time(t.expires).as_str(), t.period_type.as_str(), t.period_num),
            ("2024-01-31T00:00:00Z", "month", 1)
        );
        assert_eq!(t.effective, now);
        assert_eq!(t.policy, 0);
        let t = Term::seeded(now, &SeedTerms { expires_in_days: 400, renewal: Renewal::Auto });
        assert_eq!((t.period_type.as_str(), t.period_num, t.policy), ("year", 2, 3));
        assert!(t.effective < now);
        let t = Term::seeded(now, &SeedTerms { expires_in_days: 0, renewal: Renewal::PayPerUseAtExpiry });
        assert_eq!((t.period_num, t.policy, t.status(now)), (1, 1, 5));
    }

    #[test]
    fn auto_renew_adds_a_period_seven_days_before_expiry() {
        let now = at("2024-01-01T00:00:00Z");
        let mut t = Term::bought(now, "month", 1, 3);
        let expiry = t.expires;
        assert_eq!(t.pass(expiry - RENEWAL_LEAD - Duration::from_secs(1)), Passage::default());
        let p = t.pass(expiry - RENEWAL_LEAD);
        assert_eq!(p.renewals, vec![expiry - RENEWAL_LEAD]);
        assert_eq!(t.expires, expiry + period_length("month", 1));
        // Far ahead: one renewal per period that came due, none missed.
        let p = t.pass(now + Duration::from_secs(100 * DAY));
        assert_eq!(p.renewals, vec![now + Duration::from_secs(53 * DAY), now + Duration::from_secs(83 * DAY)]);
        assert_eq!(t.expires, now + Duration::from_secs(120 * DAY));
        assert_eq!(t.status(now + Duration::from_secs(100 * DAY)), 2);
    }

    #[test]
    fn to_pay_per_use_ends_the_term_and_manual_ones_just_expire() {
        let now = at("2024-01-01T00:00:00Z");
        let mut t = Term::bought(now, "year", 1, 1);
        assert!(!t.pass(t.expires - Duration::from_secs(1)).to_pay_per_use);
        assert!(t.pass(t.expires).to_pay_per_use);
        let mut t = Term::bought(now, "month", 2, 0);
        let after = t.expires + Duration::from_secs(DAY);
        assert_eq!(t.pass(after), Passage::default());
        assert_eq!(t.status(after), 5);
        assert_eq!(t.view("g", after).renewal, Renewal::Manual);
    }
}
