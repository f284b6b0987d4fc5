//! What an order changes, typed: a size or a billing mode.

use crate::api::{BillingMode, OrderAction, OrderStatus, Size};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Size(Size),
    Billing(BillingMode),
}

impl Target {
    pub fn action(self) -> OrderAction {
        match self {
            Target::Size(_) => OrderAction::Resize,
            Target::Billing(_) => OrderAction::ChangeBilling,
        }
    }

    /// The target an order record names (`status.order.target` is text in the CRD); `None` for a
    /// record no target of its action is spelled like.
    pub fn of(order: &OrderStatus) -> Option<Target> {
        let named = |t: &Target| t.action() == order.action && t.to_string() == order.target;
        let sizes = Size::ALL.into_iter().map(Target::Size);
        let billings = BillingMode::ALL.into_iter().map(Target::Billing);
        sizes.chain(billings).find(named)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Size(s) => s.fmt(f),
            Target::Billing(b) => b.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_records_read_back_as_their_target() {
        for target in [Target::Size(Size::ExtraLarge), Target::Billing(BillingMode::Prepaid)] {
            let record: OrderStatus = serde_json::from_value(serde_json::json!({
                "action": target.action(), "target": target.to_string(), "attempt": 1,
                "phase": "InProgress", "submittedAt": "2026-01-01T00:00:00Z",
            }))
            .unwrap();
            assert_eq!(Target::of(&record), Some(target));
            let other = OrderStatus { target: "Huge".into(), ..record };
            assert_eq!(Target::of(&other), None);
        }
    }
}
