//! The admin API over real HTTP: `callrec serve` started as a process on a free port, a policy
//! database of its own, tokens issued with `callrec token create`, requests sent over TCP.

mod common;

use common::TempDir;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `callrec serve`; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_callrec"))
            .current_dir(dir)
            .args(["serve", "--admin", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start callrec serve");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("serve prints its address");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let addr = v["admin"].as_str().expect("admin address").to_string();
        Server { child, addr }
    }

    /// One request; returns the status and the body (JSON when it is JSON).
    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
        (status, body)
    }

    /// SIGTERM; the server must exit 0.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "serve exited with {exit} on SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(dir: &Path, role: &str, orgs: &[&str]) -> String {
    let mut args = vec!["token", "create", "--role", role];
    for org in orgs {
        args.extend(["--org", org]);
    }
    let output = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .current_dir(dir)
        .args(&args)
        .output()
        .expect("token create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

#[test]
fn tokens_name_their_caller_and_anything_else_is_refused() {
    let tmp = TempDir::new("admin-auth");
    let customer = token(&tmp.0, "customer-admin", &["acme"]);
    let partner = token(&tmp.0, "partner-admin", &["acme", "globex"]);
    let reader = token(&tmp.0, "read-only", &["globex"]);
    assert!(customer.starts_with("crt_") && customer.len() > 40);
    let server = Server::start(&tmp.0);

    assert_eq!(
        server.request("GET", "/healthz", None, None),
        (200, Value::String("ok\n".into()))
    );
    let (status, body) = server.request("GET", "/v1/whoami", None, None);
    assert_eq!(status, 401);
    assert_eq!(
        body["message"],
        "an Authorization: Bearer token is required"
    );
    for wrong in [&customer[..customer.len() - 1], "crt_", "Bearer", "x"] {
        assert_eq!(
            server.request("GET", "/v1/whoami", Some(wrong), None).0,
            401,
            "{wrong}"
        );
    }
    for (token, role, orgs) in [
        (&customer, "customer-admin", vec!["acme"]),
        (&partner, "partner-admin", vec!["acme", "globex"]),
        (&reader, "read-only", vec!["globex"]),
    ] {
        let (status, body) = server.request("GET", "/v1/whoami", Some(token), None);
        assert_eq!(status, 200);
        assert_eq!(body["role"], role);
        assert_eq!(body["orgs"], serde_json::json!(orgs));
    }
    let (_, metrics) = server.request("GET", "/metrics", None, None);
    let metrics = metrics.as_str().expect("text");
    assert!(
        metrics.contains("callrec_admin_requests_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("callrec_admin_unauthorized_total 5\n"),
        "{metrics}"
    );
    server.terminate();
}
