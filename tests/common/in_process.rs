//! The whole `callrec serve` (SIPREC server, media shards, uploads, admin API) inside the
//! test's own tokio runtime, on loopback ports: no binary, no SIPp. A temporary folder holds
//! its spool, its local-filesystem store (`recordings/`) and its policy store (SQLite), so
//! what a call leaves behind can be read back as files. The end-to-end tests that start the
//! binary stay in `serve.rs`; this is for server behaviour.

use super::serve::{metadata_files, parse_metrics, read_documents};
use super::TempDir;
use callrec::config::Config;
use callrec::policydb::PolicyDb;
use callrec::server::serve::Running;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct InProcess {
    /// `None` once stopped.
    running: Option<Running>,
    pub sip: SocketAddr,
    pub admin: SocketAddr,
    /// Its folder: `spool/`, `recordings/`, `policy.sqlite`. Removed when dropped.
    pub dir: TempDir,
}

impl InProcess {
    /// Starts a server named after `test` with the defaults (SIP and the admin API on
    /// loopback ports the system picks), changed by `configure`. Call inside a multi-thread
    /// runtime.
    pub async fn start(test: &str, configure: impl FnOnce(&mut Config)) -> InProcess {
        let dir = TempDir::new(test);
        let mut config = Config::default();
        config.sip.listen = "127.0.0.1:0".parse().expect("an address");
        config.admin.listen = "127.0.0.1:0".parse().expect("an address");
        config.store.url = dir.0.to_str().expect("a UTF-8 temp path").to_string();
        config.store.spool = dir.path("spool");
        config.policy.db = format!("sqlite://{}", dir.path("policy.sqlite").display());
        configure(&mut config);
        let db = PolicyDb::open(&config.policy.db)
            .await
            .expect("the policy store opens");
        db.migrate().await.expect("the policy schema");
        let running = Running::start(config, db).await.expect("the server starts");
        InProcess {
            sip: running.sip,
            admin: running.admin,
            running: Some(running),
            dir,
        }
    }

    /// Starts the drain (as SIGTERM does): new calls are refused, the ones up go on.
    pub fn drain(&self) {
        self.running.as_ref().expect("still running").drain();
    }

    /// Drains the server and waits until it has stopped (every call ended, uploads done).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("the server stops cleanly");
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }

    /// `GET path` on the admin API: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(self.admin)
            .await
            .expect("the admin API");
        let request = format!("GET {path} HTTP/1.1\r\nHost: callrec\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response");
        let status = response
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_string())
    }

    /// `/metrics`, as `name{labels}` → value.
    pub async fn metrics(&self) -> HashMap<String, f64> {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        parse_metrics(&body)
    }

    /// One sample of `/metrics`; -1 while it is absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        self.metrics().await.get(sample).copied().unwrap_or(-1.0)
    }

    /// Waits (60 s at most) until `count` recordings are stored under `recordings/`; returns
    /// each metadata document with its path, in path order.
    pub async fn recordings(&self, count: usize) -> Vec<(PathBuf, Value)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let found = metadata_files(&self.path("recordings"));
            if found.len() >= count || tokio::time::Instant::now() > deadline {
                assert_eq!(found.len(), count, "recordings stored");
                return read_documents(found);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
