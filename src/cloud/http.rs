//! The HTTP client every cloud client shares: rustls, bounded timeouts, an optional extra CA
//! (private endpoints, the simulators).

use std::{path::Path, time::Duration};

/// How long any single cloud call may take, connection included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per cloud host for reuse; more are closed when their call ends.
const IDLE_CONNECTIONS_PER_HOST: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("could not read the extra CA file {path}: {source}")]
    ReadCa { path: String, source: std::io::Error },
    #[error("the extra CA file {path} holds no usable PEM certificate: {source}")]
    ParseCa { path: String, source: reqwest::Error },
    #[error("could not build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// Builds the shared client, trusting `extra_ca` (PEM, may hold several certificates) on top of
/// the public roots.
pub fn client(extra_ca: Option<&Path>) -> Result<reqwest::Client, HttpSetupError> {
    client_with_timeout(extra_ca, CALL_TIMEOUT)
}

/// [`client`] with another per-call timeout (`--cloud-timeout`).
pub fn client_with_timeout(extra_ca: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, HttpSetupError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        // Each HTTP/1 connection keeps a read buffer as large as the largest answer it carried
        // (up to ~400 KiB for a page of 2,000 gateways); a burst of calls must not leave dozens
        // of them idle (peak RSS, BENCHMARKS.md). HTTP/2 endpoints use one connection anyway.
        .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
        .user_agent(concat!("natgw-operator/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = extra_ca {
        let pem = std::fs::read(path)
            .map_err(|source| HttpSetupError::ReadCa { path: path.display().to_string(), source })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|source| HttpSetupError::ParseCa { path: path.display().to_string(), source })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}
