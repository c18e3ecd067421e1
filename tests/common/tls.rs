//! SIP over TLS for tests: a certificate made by the openssl tool, and stunnel carrying a
//! client's plain TCP to callrec's TLS listener (Debian's SIPp is built without TLS).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A self-signed certificate for 127.0.0.1 and its key, made by the openssl tool.
pub fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("srs.pem"), dir.join("srs-key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=callrec.test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs (scripts/setup installs it)");
    assert!(status.success());
    (cert, key)
}

/// stunnel in client mode: plain TCP on `accept`, TLS to `connect`, checking the server's
/// certificate against `ca` (and its IP address).
pub struct Stunnel(Child);

impl Stunnel {
    pub fn start(dir: &Path, accept: SocketAddr, connect: SocketAddr, ca: &Path) -> Stunnel {
        let config = dir.join("stunnel.conf");
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\ndebug = 6\n[sip]\nclient = yes\naccept = {accept}\n\
                 connect = {connect}\nCAfile = {}\nverifyChain = yes\ncheckIP = 127.0.0.1\n",
                ca.display()
            ),
        )
        .unwrap();
        let child = Command::new("stunnel4")
            .arg(&config)
            .stderr(std::fs::File::create(dir.join("stunnel.log")).unwrap())
            .spawn()
            .expect("stunnel runs (Debian package stunnel4; scripts/setup installs it)");
        let log = dir.join("stunnel.log");
        // Its configuration is read before it binds: only "Accepting new connections" (logged
        // at level 6 once the port is bound) says SIPp may connect.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Accepting new connections")
        {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(Instant::now() < deadline, "stunnel did not start:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Stunnel(child)
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
