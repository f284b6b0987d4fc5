//! Cloud simulators that speak the documented wire protocols, for tests and the demo.
//!
//! Shared pieces, for every cloud's simulator:
//! - [`server`]: serve an axum `Router` on loopback over HTTP and HTTPS ([`server::SimTls`]
//!   generates a CA + certificate for `127.0.0.1`/`localhost` and writes the CA PEM).
//! - [`core::SimCore`]: accepted credentials, [`ratelimit::RateLimits`] (per action, per key),
//!   [`faults::Faults`] (error / latency / timeout / dropped response / failed order on the next
//!   N calls), the [`ledger::Ledger`] (orders and request outcomes, never secrets) and the
//!   [`federation::Federation`] (the identity provider an STS trusts, checked by
//!   [`oidc::OidcVerifier`], its trust rules and credential lifetimes), with the generic
//!   `/_sim/...` control routes in [`core::control_routes`].
//! - [`nonces::Nonces`]: which signature nonces were used within a window (replay protection).
//! - [`issuer::TestIssuer`]: a ServiceAccount token issuer serving discovery and keys as
//!   kube-apiserver does, for tests of the federation that need no API server.
//! - [`recorder::Recorder`]: an HTTPS endpoint that records requests and answers the identity
//!   exchanges with the documented success answer, to compare what two clients send.
//!
//! A cloud simulator owns its gateway model and protocol handlers, merges the control routes
//! with its own `/_sim/gateways`-style routes, and offers an in-process handle for tests
//! (see [`tencent::TencentSim`]; [`huawei::HuaweiSim`] and [`alibaba::AlibabaSim`] likewise).

pub mod alibaba;
mod cli;
pub mod core;
pub mod faults;
pub mod federation;
pub mod huawei;
pub mod issuer;
pub mod ledger;
pub mod nonces;
pub mod oidc;
pub mod ratelimit;
pub mod recorder;
pub mod server;
pub mod tags;
pub mod tencent;
mod wire_time;

pub use cli::{SimArgs, run};

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("could not {0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("could not set up TLS: {0}")]
    Tls(String),
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}
