//! A network partition between one client and the API server.

/// A TCP proxy in front of the API server that a test can cut: a network partition between one
/// client (given [`Partition::kubeconfig`]) and the API server, while everything else reaches it.
pub struct Partition {
    cut: tokio::sync::watch::Sender<bool>,
    pub kubeconfig: std::path::PathBuf,
    _accept: tokio::task::JoinHandle<()>,
}

impl Partition {
    /// Proxies to `env`'s API server; writes a kubeconfig naming the proxy as `file_name` beside
    /// the environment's.
    pub async fn start(env: &natgw_testenv::TestEnv, file_name: &str) -> Partition {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = format!("https://{}", listener.local_addr().unwrap());
        let upstream = env.server.trim_start_matches("https://").to_owned();
        let kubeconfig = env.kubeconfig.with_file_name(file_name);
        let text = std::fs::read_to_string(&env.kubeconfig).unwrap().replace(&env.server, &proxy);
        std::fs::write(&kubeconfig, text).unwrap();
        let (cut, cut_rx) = tokio::sync::watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *cut_rx.borrow() {
                    continue; // dropped: the connection is refused at once
                }
                let upstream = upstream.clone();
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Partition { cut, kubeconfig, _accept: accept }
    }

    /// Cuts (`true`) or heals (`false`) the link: open connections are dropped, new ones refused.
    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}
