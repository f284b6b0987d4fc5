//! Serves a simulator's router on loopback over plain HTTP and over HTTPS, with a CA and server
//! certificate (for `127.0.0.1` and `localhost`) generated at start. The CA is written as PEM so
//! clients can trust it: `SSL_CERT_FILE` for the Python SDKs, the operator's extra-CA option.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::Router;
use axum_server::{Handle, tls_rustls::RustlsConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::SimError;

/// A CA and a server certificate it signed. Clone the `Arc` to serve several simulators with
/// one CA, so clients trust a single file.
pub struct SimTls {
    ca_pem: String,
    ca_pem_path: PathBuf,
    config: RustlsConfig,
    /// Holds the CA file when no path was given; removed on drop.
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTls").field("ca_pem_path", &self.ca_pem_path).finish_non_exhaustive()
    }
}

impl SimTls {
    /// Generates the CA and certificate and writes the CA PEM to `ca_out` (or a temporary file).
    pub fn generate(ca_out: Option<&Path>) -> Result<Arc<SimTls>, SimError> {
        SimTls::generate_for(ca_out, &[])
    }

    /// As [`SimTls::generate`], the certificate also naming `hosts` (e.g. the address pods reach
    /// a test node's host at).
    pub fn generate_for(ca_out: Option<&Path>, hosts: &[String]) -> Result<Arc<SimTls>, SimError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
            KeyUsagePurpose,
        };
        let tls = |e: rcgen::Error| SimError::Tls(e.to_string());

        let ca_key = KeyPair::generate().map_err(tls)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "natgw-operator simulator CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).map_err(tls)?;
        let issuer = Issuer::new(ca, ca_key);

        // webpki refuses a CA certificate as the server's own, hence a separate leaf.
        let key = KeyPair::generate().map_err(tls)?;
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        names.extend_from_slice(hosts);
        let mut leaf = CertificateParams::new(names).map_err(tls)?;
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &issuer).map_err(tls)?;

        // Other code in the process (reqwest, kube) may need a process-wide provider too; one
        // already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| SimError::Tls(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from(cert.der().to_vec())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
                )
                .map_err(|e| SimError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];

        let ca_pem = ca_cert.pem();
        let (ca_pem_path, dir) = match ca_out {
            Some(path) => (path.to_owned(), None),
            None => {
                let dir = tempfile::tempdir().map_err(|e| SimError::Io("create a directory for the CA".into(), e))?;
                (dir.path().join("sim-ca.pem"), Some(dir))
            }
        };
        std::fs::write(&ca_pem_path, &ca_pem)
            .map_err(|e| SimError::Io(format!("write the CA to {}", ca_pem_path.display()), e))?;
        Ok(Arc::new(SimTls { ca_pem, ca_pem_path, config: RustlsConfig::from_config(Arc::new(config)), _dir: dir }))
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }
}

/// A running server; stops when dropped.
pub struct Served {
    pub addr: SocketAddr,
    handle: Handle,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// A simulator served over plain HTTP and, when it has a CA, HTTPS.
pub struct Endpoints {
    /// e.g. `http://127.0.0.1:41234`
    pub http_url: String,
    /// e.g. `https://localhost:41235`
    pub https_url: Option<String>,
    pub servers: Vec<Served>,
}

/// Serves `router` on `bind`: HTTP on `http_port`, and HTTPS on `https_port` with `tls` when
/// given (0 picks a free port).
pub async fn serve_both(
    router: Router,
    bind: std::net::IpAddr,
    http_port: u16,
    https_port: u16,
    tls: Option<&SimTls>,
) -> Result<Endpoints, SimError> {
    let http = serve(router.clone(), SocketAddr::new(bind, http_port), None).await?;
    let http_url = format!("http://{}", http.addr);
    let mut servers = vec![http];
    let mut https_url = None;
    if let Some(tls) = tls {
        let https = serve(router, SocketAddr::new(bind, https_port), Some(tls)).await?;
        https_url = Some(format!("https://localhost:{}", https.addr.port()));
        servers.push(https);
    }
    Ok(Endpoints { http_url, https_url, servers })
}

/// Serves `router` on `addr` (port 0 picks a free one), over TLS when `tls` is given.
pub async fn serve(router: Router, addr: SocketAddr, tls: Option<&SimTls>) -> Result<Served, SimError> {
    // Binding here (not inside the spawned task) reports a busy port at once and tells the port.
    let listener = std::net::TcpListener::bind(addr).map_err(|e| SimError::Io(format!("listen on {addr}"), e))?;
    listener.set_nonblocking(true).map_err(|e| SimError::Io(format!("listen on {addr}"), e))?;
    let addr = listener.local_addr().map_err(|e| SimError::Io(format!("listen on {addr}"), e))?;
    let handle = Handle::new();
    let service = router.into_make_service();
    match tls {
        Some(tls) => {
            let server = axum_server::from_tcp_rustls(listener, tls.config.clone()).handle(handle.clone());
            tokio::spawn(async move {
                if let Err(e) = server.serve(service).await {
                    tracing::error!(%addr, error = %e, "simulator HTTPS server stopped");
                }
            });
        }
        None => {
            let server = axum_server::from_tcp(listener).handle(handle.clone());
            tokio::spawn(async move {
                if let Err(e) = server.serve(service).await {
                    tracing::error!(%addr, error = %e, "simulator HTTP server stopped");
                }
            });
        }
    }
    Ok(Served { addr, handle })
}
