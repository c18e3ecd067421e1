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
    /// Where it takes SIPREC calls (UDP and TCP).
    pub sip: Option<std::net::SocketAddr>,
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
        let sip = v["sip"].as_str().and_then(|a| a.parse().ok());
        AdminServer { child, addr, sip }
    }

    /// One request; the status, the Content-Type and the body (JSON when it is JSON, else
    /// the text, lossily).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, String, Value) {
        let raw = self.raw(method, path, token, body, &[]);
        let content_type = raw.header("content-type").unwrap_or_default().to_string();
        let text = String::from_utf8_lossy(&raw.body);
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned()));
        (raw.status, content_type, body)
    }

    /// One request with the headers given as they are (and `Content-Type: application/json`);
    /// the whole response, its body JSON when it is JSON.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Response {
        let raw = self.raw(method, path, None, body, headers);
        let text = String::from_utf8_lossy(&raw.body);
        Response {
            body: serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned())),
            status: raw.status,
            headers: raw.headers,
        }
    }

    /// One request with `headers` besides; the response as it came (bytes, every header).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> RawResponse {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        write!(
            stream,
            "{head}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read");
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a whole response");
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let mut body = response[split + 4..].to_vec();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        if chunked {
            body = dechunk(&body);
        }
        RawResponse {
            status,
            headers,
            body,
        }
    }
}

/// A response as it came.
pub struct RawResponse {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response with its body read as JSON (else text).
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

/// A chunked body's data (RFC 9112 §7.1).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).expect("a chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
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
