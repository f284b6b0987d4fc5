//! Test-only pieces that need the operator's types: the in-memory cloud.

pub mod memory;
