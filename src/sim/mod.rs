//! Cloud simulators that speak the documented wire protocols, for tests and the demo.

pub mod huawei;
pub mod tencent;
