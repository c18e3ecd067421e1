//! A real browser for the tests: headless Chromium driven by chromedriver over W3C WebDriver
//! (Debian's `chromium` and `chromium-driver`; scripts/setup installs them). chromedriver runs
//! on a free loopback port of its own per browser and is killed when the browser is dropped.
//!
//! WebDriver is plain JSON over HTTP, and the tests need a dozen of its commands, so they are
//! sent here over one `TcpStream` each, as the admin API tests send theirs (tests/common/admin.rs):
//! no WebDriver client crate and its async HTTP stack to build on every test machine.

use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One headless Chromium window and the chromedriver that drives it.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

/// An element of the page, as WebDriver refers to it.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// A new headless desktop browser whose window is `width`×`height` pixels, in UTC and
    /// British English (so dates read the same on every machine), playing audio without a
    /// gesture.
    pub fn start(width: u32, height: u32) -> Browser {
        Browser::launch(width, height, json!({}))
    }

    /// [`Browser::start`] as a phone: a viewport of exactly `width`×`height` CSS pixels at
    /// twice the density, with touch (a desktop window cannot be made narrower than 500).
    pub fn phone(width: u32, height: u32) -> Browser {
        let metrics = json!({"deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 2.0, "mobile": true, "touch": true,
        }});
        Browser::launch(width, height, json!({ "mobileEmulation": metrics }))
    }

    /// chromedriver on a port of its own, and a session of Chromium with `options` added to
    /// its `goog:chromeOptions`.
    fn launch(width: u32, height: u32, options: Value) -> Browser {
        let port = free_port();
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("TZ", "UTC")
            .env("LANGUAGE", "en_GB")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver runs (Debian package chromium-driver; scripts/setup installs it)",
            );
        let deadline = Instant::now() + Duration::from_secs(20);
        while request(port, "GET", "/status", None).is_err() {
            if Instant::now() > deadline {
                let _ = driver.kill();
                panic!("chromedriver did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut chrome = json!({
            "binary": chromium(),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--lang=en-GB",
                "--autoplay-policy=no-user-gesture-required",
                format!("--window-size={width},{height}"),
            ],
            "prefs": {"intl.accept_languages": "en-GB"},
        });
        for (key, value) in options.as_object().expect("options") {
            chrome[key] = value.clone();
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": chrome,
        }}});
        let created = request(port, "POST", "/session", Some(&capabilities))
            .unwrap_or_else(|e| panic!("new session: {e}"));
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Browser {
            driver,
            port,
            session,
        }
    }

    /// A command of this session; its `value`, or a panic naming the WebDriver error.
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        request(self.port, method, &path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its return value.
    pub fn eval_with(&self, script: &str, args: &[Value]) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )
    }

    pub fn eval(&self, script: &str) -> Value {
        self.eval_with(script, &[])
    }

    /// The first element `css` selects, waiting up to ten seconds for it to exist.
    pub fn find(&self, css: &str) -> Element {
        let mut found = None;
        self.wait(&format!("an element {css}"), || {
            let body = json!({"using": "css selector", "value": css});
            let path = format!("/session/{}/element", self.session);
            found = request(self.port, "POST", &path, Some(&body))
                .ok()
                .and_then(|v| v[ELEMENT].as_str().map(|id| Element(id.to_string())));
            found.is_some()
        });
        found.expect("found")
    }

    /// Every element `css` selects now (none is an answer, not an error).
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let body = json!({"using": "css selector", "value": css});
        self.command("POST", "/elements", Some(&body))
            .as_array()
            .expect("a list")
            .iter()
            .map(|v| Element(v[ELEMENT].as_str().expect("an element").to_string()))
            .collect()
    }

    pub fn click(&self, element: &Element) {
        self.command(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(&json!({})),
        );
    }

    /// Types `text` into `element`, as a person would.
    pub fn type_into(&self, element: &Element, text: &str) {
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(&json!({ "text": text })),
        );
    }

    /// The element's rendered text (what a person reads: hidden parts left out).
    pub fn text(&self, element: &Element) -> String {
        self.command("GET", &format!("/element/{}/text", element.0), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Whether `element` is shown.
    pub fn displayed(&self, element: &Element) -> bool {
        self.command("GET", &format!("/element/{}/displayed", element.0), None) == json!(true)
    }

    /// The rendered text of what `css` selects, or "" when nothing does.
    pub fn text_of(&self, css: &str) -> String {
        self.find_all(css)
            .first()
            .map(|e| self.text(e))
            .unwrap_or_default()
    }

    /// Waits up to ten seconds for `done`; panics naming `what` if it never holds.
    pub fn wait(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "waited in vain for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves what the window shows now as a PNG at `path`.
    pub fn screenshot(&self, path: &Path) {
        let data = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("a screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("screenshot folder");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = request(self.port, "DELETE", &path, None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Debian's Chromium, wherever this machine keeps it.
fn chromium() -> &'static str {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap_or("/usr/bin/chromium")
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One WebDriver request; the response's `value`, or its error and message.
fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let mut text = Vec::new();
    match length {
        Some(n) => {
            text.resize(n, 0);
            reader.read_exact(&mut text).map_err(|e| e.to_string())?;
        }
        None => {
            reader.read_to_end(&mut text).map_err(|e| e.to_string())?;
        }
    }
    let answer: Value = serde_json::from_slice(&text).map_err(|e| format!("{e}: {text:?}"))?;
    let value = answer["value"].clone();
    match value.get("error") {
        Some(error) => Err(format!("{error}: {}", value["message"])),
        None => Ok(value),
    }
}
