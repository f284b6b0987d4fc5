//! The HTTP endpoints the kubelet and Prometheus use: `/healthz` (the process answers),
//! `/readyz` (see [`Readiness`]) and `/metrics` (OpenMetrics text).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get};

use crate::metrics::{self, Metrics};

const STARTING: u8 = 0;
const STANDBY: u8 = 1;
const SYNCED: u8 = 2;

/// Whether this replica is ready: a leader once its watch caches hold the cluster's objects (so
/// it does not plan from an empty cache), a standby as soon as it waits for the lease (so a
/// rolling update is not blocked by the replica that, by design, does nothing). Cloning shares.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicU8>);

impl Readiness {
    /// Not ready: the controller is starting (again, after winning the lease).
    pub fn starting(&self) {
        self.0.store(STARTING, Ordering::Release);
    }

    /// Ready: waiting for the lease.
    pub fn standby(&self) {
        self.0.store(STANDBY, Ordering::Release);
    }

    /// Ready: the controller's caches are synced.
    pub fn synced(&self) {
        self.0.store(SYNCED, Ordering::Release);
    }

    /// Ready or not, and why, in words for `/readyz`.
    pub fn state(&self) -> (bool, &'static str) {
        match self.0.load(Ordering::Acquire) {
            STANDBY => (true, "standby: waiting for the leader lease"),
            SYNCED => (true, "ok: the controller's caches are synced"),
            _ => (false, "starting: the controller's caches are not synced yet"),
        }
    }
}

#[derive(Clone)]
struct Endpoints {
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

pub fn router(metrics: Arc<Metrics>, readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Endpoints { metrics, readiness })
}

async fn readyz(State(e): State<Endpoints>) -> impl IntoResponse {
    let (ready, why) = e.readiness.state();
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, why)
}

async fn metrics_text(State(e): State<Endpoints>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], e.metrics.encode())
}

/// Binds `addr` (failing fast when it is taken) and serves the endpoints in the background for
/// the life of the process. Returns the bound address (useful with port 0).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>, readiness: Readiness) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(metrics, readiness);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics and health endpoints stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        let content_type =
            r.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (r.status().as_u16(), content_type, r.text().await.unwrap())
    }

    #[tokio::test]
    async fn readiness_follows_the_state_and_metrics_are_openmetrics() {
        let metrics = Arc::new(Metrics::new());
        let readiness = Readiness::default();
        let addr = serve("127.0.0.1:0".parse().unwrap(), metrics.clone(), readiness.clone()).await.unwrap();

        assert_eq!(get(addr, "/healthz").await.0, 200);
        let (status, _, body) = get(addr, "/readyz").await;
        assert_eq!((status, body.starts_with("starting")), (503, true), "{body}");
        readiness.standby();
        assert_eq!(get(addr, "/readyz").await.0, 200);
        readiness.starting();
        assert_eq!(get(addr, "/readyz").await.0, 503, "a new leader is not ready before its caches sync");
        readiness.synced();
        assert_eq!(get(addr, "/readyz").await.0, 200);

        metrics.set_leader(true);
        let (status, content_type, body) = get(addr, "/metrics").await;
        assert_eq!((status, content_type.as_str()), (200, metrics::CONTENT_TYPE));
        assert!(body.lines().any(|l| l == "natgw_leader 1") && body.ends_with("# EOF\n"), "{body}");
        assert_eq!(get(addr, "/nothing").await.0, 404);
    }
}
