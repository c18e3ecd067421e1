//! A `callrec serve` process for the integration tests: started on a folder holding its
//! `callrec.toml`, its addresses read from the line it prints when ready, its structured log
//! and `/metrics` readable while it runs, killed (SIGKILL) when dropped.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Serve {
    /// A temporary folder the server owns (see [`Serve::start_in_temp`]), removed after it
    /// is killed.
    temp: Option<super::TempDir>,
    pub child: Child,
    pub sip: SocketAddr,
    /// Where SIP over TLS is received, when configured.
    pub sip_tls: Option<SocketAddr>,
    /// The admin API (/metrics).
    pub admin: SocketAddr,
    /// The folder it runs in: config, spool, store and `serve.log` (appended to, so a
    /// restarted server's log follows the first's).
    pub dir: PathBuf,
}

impl Serve {
    /// Starts `callrec serve --config callrec.toml --admin 127.0.0.1:0` in `dir`.
    pub fn start(dir: &Path) -> Serve {
        Serve::start_with(dir, &[], &[])
    }

    /// [`Serve::start`] with `flags` added to the command line and `env` set (the log level's
    /// `-q`/`-v`, `CALLREC_LOG`).
    pub fn start_with(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Serve {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("serve.log"))
            .expect("serve.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_callrec"))
            .args([
                "serve",
                "--config",
                "callrec.toml",
                "--admin",
                "127.0.0.1:0",
            ])
            .args(flags)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("callrec serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            panic!("serve did not start: {line:?}\n{log}")
        });
        let address = |name: &str| ready[name].as_str().map(|a| a.parse().expect(name));
        Serve {
            temp: None,
            child,
            sip: address("sip").expect("sip"),
            sip_tls: address("sip_tls"),
            admin: address("admin").expect("admin"),
            dir: dir.to_path_buf(),
        }
    }

    /// Starts `callrec serve` with `config` as its `callrec.toml` in a temporary folder of its
    /// own, named after `test`, removed once the server is killed.
    pub fn start_in_temp(test: &str, config: &str) -> Serve {
        Serve::start_in_temp_with(test, config, &[], &[])
    }

    /// [`Serve::start_in_temp`] with [`Serve::start_with`]'s `flags` and `env`.
    pub fn start_in_temp_with(
        test: &str,
        config: &str,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Serve {
        let temp = super::TempDir::new(test);
        std::fs::write(temp.0.join("callrec.toml"), config).expect("config");
        let mut serve = Serve::start_with(&temp.0, flags, env);
        serve.temp = Some(temp);
        serve
    }

    /// Starts `callrec serve` in a temporary folder as the live tests use it: WAV recordings
    /// with a 60 ms jitter buffer, SIP on a loopback port the system picks, a thousand RTP
    /// ports from `rtp_base` (each test its own range), calls silent for `idle_secs` ended,
    /// and `extra_sip` TOML lines added to `[sip]`.
    pub fn start_wav_in_temp(test: &str, rtp_base: u16, idle_secs: u32, extra_sip: &str) -> Serve {
        let config = format!(
            "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = {rtp_base}\nrtp_port_max = {}\n\
             idle_timeout_secs = {idle_secs}\n{extra_sip}\n[recording]\nformat = \"wav\"\njitter_ms = 60\n",
            rtp_base + 999
        );
        Serve::start_in_temp(test, &config)
    }

    /// Waits until the server's policy cache holds what was written before this call: two
    /// refreshes end, so one began after the write (it refreshes each second; a busy machine
    /// may take longer).
    pub fn wait_for_policy(&self) {
        let before = self.metric("callrec_policy_refreshes_total");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.metric("callrec_policy_refreshes_total") < before + 2.0 {
            assert!(
                Instant::now() < deadline,
                "the policy cache never refreshed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The server's structured log lines so far.
    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("serve.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The log lines of one event.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|l| l["event"] == event)
            .collect()
    }

    /// `/metrics`, as `name{labels}` → value.
    pub fn metrics(&self) -> HashMap<String, f64> {
        parse_metrics(&scrape(self.admin).1)
    }

    /// One sample of `/metrics`, e.g. `callrec_calls_total`; -1 while it is absent (below
    /// every count, so a wait for a count simply goes on).
    pub fn metric(&self, sample: &str) -> f64 {
        self.metrics().get(sample).copied().unwrap_or(-1.0)
    }

    /// Waits until `count` recordings are stored under `recordings/` (a filesystem store in
    /// the folder); returns their metadata documents, in path order.
    pub fn recordings(&self, count: usize) -> Vec<(PathBuf, Value)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = metadata_files(&self.path("recordings"));
            if found.len() >= count || Instant::now() > deadline {
                assert_eq!(
                    found.len(),
                    count,
                    "recordings stored; log:\n{:#?}",
                    self.log()
                );
                return read_documents(found);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The exit status, once the server has exited.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait")
    }

    /// Kills the server (if it still runs) and starts it again on the same folder, keeping it.
    pub fn restart(&mut self) {
        self.kill();
        let mut fresh = Serve::start(&self.dir);
        fresh.temp = self.temp.take();
        *self = fresh;
    }

    /// SIGKILL: the server dies at once, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Prometheus text as `name{labels}` → value.
/// `/metrics` from the admin API at `admin` as it comes, answered 200: the response's
/// Content-Type and its body.
pub fn scrape(admin: SocketAddr) -> (String, String) {
    let mut stream = TcpStream::connect(admin).expect("admin");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: callrec\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let content_type = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_string())
        })
        .expect("a Content-Type");
    (content_type, body.to_string())
}

pub fn parse_metrics(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Each metadata document at `paths`, read, with its path.
pub fn read_documents(paths: Vec<PathBuf>) -> Vec<(PathBuf, Value)> {
    paths
        .into_iter()
        .map(|p| {
            let doc = serde_json::from_slice(&std::fs::read(&p).expect("read"))
                .expect("metadata is JSON");
            (p, doc)
        })
        .collect()
}

/// Every metadata document (`*.json`) under `dir`, in path order.
pub fn metadata_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(metadata_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
    found.sort();
    found
}
