//! natgw-operator: keeps cloud NAT gateways at the size and billing mode declared in a
//! `NatGateway` resource.

pub mod api;
pub mod cloud;
pub mod sim;
