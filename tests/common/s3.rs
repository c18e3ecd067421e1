//! The S3-compatible server ./scripts/test started (Ceph RADOS Gateway on loopback): a fresh
//! prefix in its bucket, and a way to stop and restart the gateway. Tests that stop it take
//! the lock, so they never pull the server from under each other in one test binary.

use std::process::{Command, Stdio};

pub struct S3 {
    pub url: String,
    ceph_dir: String,
    _exclusive: std::sync::MutexGuard<'static, ()>,
}

impl S3 {
    pub fn new(test: &str) -> S3 {
        static EXCLUSIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let exclusive = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
        let missing = |name: &str| -> String {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run ./scripts/test, which starts the S3 server")
            })
        };
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let s3 = S3 {
            url: format!("{}/{test}-{unique}", missing("CALLREC_TEST_S3")),
            ceph_dir: missing("CALLREC_TEST_CEPH_DIR"),
            _exclusive: exclusive,
        };
        s3.gateway("gateway-start");
        s3
    }

    /// `scripts/radosgw gateway-stop|gateway-start DIR`: the gateway process only; the
    /// cluster and its data stay.
    pub fn gateway(&self, action: &str) {
        let script = format!("{}/scripts/radosgw", env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(script)
            .args([action, &self.ceph_dir])
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/radosgw");
        assert!(status.success(), "scripts/radosgw {action} failed");
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.gateway("gateway-start");
    }
}
