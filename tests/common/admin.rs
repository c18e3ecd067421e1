//! The admin API as the tests' clients see it: a `callrec serve` whose admin API listens on a
//! free loopback port (its address read from the line `serve` prints when ready), and requests
//! sent over plain TCP, one HTTP/1.1 connection each; killed when dropped. Tokens are made
//! as an operator makes them, with `callrec token create`.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

pub struct AdminServer {
    pub child: Child,
    pub addr: String,
}

impl AdminServer {
    /// Runs `callrec` (`command`, its folder and database already chosen) as `serve --admin
    /// 127.0.0.1:0 --sip 127.0.0.1:0`, then `args`.
    pub fn start(mut command: Command, args: &[&str]) -> AdminServer {
        let mut child = command
            .args(["serve", "--admin", "127.0.0.1:0", "--sip", "127.0.0.1:0"])
            .args(args)
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
        AdminServer { child, addr }
    }

    /// One request; the status, the Content-Type and the body (JSON when it is JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, String, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let response = self.exchange(method, path, &headers, body);
        let content_type = response
            .header("content-type")
            .unwrap_or_default()
            .to_string();
        (response.status, content_type, response.body)
    }

    /// One request with the headers given as they are (and `Content-Type: application/json`);
    /// the whole response.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Response {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
        Response {
            status,
            headers,
            body,
        }
    }
}

/// A response as [`AdminServer::exchange`] read it.
pub struct Response {
    pub status: u16,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    /// JSON when it is JSON, else the text.
    pub body: Value,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new bearer token of `role` for `orgs`, made by `callrec token create` (`command`, its
/// folder chosen, then `args`: the database), issued to a person of its own.
pub fn create_token(command: Command, role: &str, orgs: &[&str], args: &[&str]) -> String {
    static PEOPLE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = PEOPLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    create_token_for(
        command,
        &format!("person-{n}@example.com"),
        role,
        orgs,
        args,
    )
}

/// [`create_token`] issued to `person`.
pub fn create_token_for(
    mut command: Command,
    person: &str,
    role: &str,
    orgs: &[&str],
    args: &[&str],
) -> String {
    command.args(["token", "create", "--person", person, "--role", role]);
    for org in orgs {
        command.args(["--org", org]);
    }
    let output = command.args(args).output().expect("token create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("token create prints one JSON line");
    assert_eq!(line["type"], "token", "{line}");
    line["token"].as_str().expect("the token").to_string()
}
