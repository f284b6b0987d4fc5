//! What an order changes, typed: a size or a billing mode.

use crate::api::{BillingMode, OrderAction, OrderStatus, OrderTarget, Size};

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

    /// The target an order record names; `None` for a record whose target is no target of its
    /// action.
    pub fn of(order: &OrderStatus) -> Option<Target> {
        match (order.action, &order.target) {
            (OrderAction::Resize, OrderTarget::Size(s)) => Some(Target::Size(*s)),
            (OrderAction::ChangeBilling, OrderTarget::Billing(b)) => Some(Target::Billing(*b)),
            _ => None,
        }
    }
}

impl From<Target> for OrderTarget {
    fn from(target: Target) -> Self {
        match target {
            Target::Size(s) => OrderTarget::Size(s),
            Target::Billing(b) => OrderTarget::Billing(b),
        }
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
            assert_eq!(serde_json::to_value(&record).unwrap()["target"], target.to_string(), "written as text");
            let other = OrderStatus { target: "Huge".into(), ..record.clone() };
            assert_eq!(other.target, OrderTarget::Unknown("Huge".into()));
            assert_eq!(Target::of(&other), None);
            let mismatched = OrderStatus {
                action: match target.action() {
                    OrderAction::Resize => OrderAction::ChangeBilling,
                    OrderAction::ChangeBilling => OrderAction::Resize,
                },
                ..record
            };
            assert_eq!(Target::of(&mismatched), None, "a target of the other action");
        }
    }
}
