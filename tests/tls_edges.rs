//! The TLS edges of `callrec serve`, each met by an independent implementation: SIP over
//! mutual TLS with OpenSSL's `s_client` as the recording client (a listed certificate is
//! answered, one from another CA or with a name not listed never reaches SIP, and both are
//! counted and logged), and the admin API over HTTPS read with `curl`. Certificates are
//! made here with the `openssl` command (Debian's openssl; scripts/setup installs it).

mod common;

use common::serve::{parse_metrics, Serve};
use common::TempDir;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `openssl` with `args` in `dir`; it must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority of its own in `dir`: `NAME.pem` and `NAME-key.pem`.
fn authority(dir: &Path, name: &str) -> PathBuf {
    let (cert, key) = (format!("{name}.pem"), format!("{name}-key.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &cert,
        ],
    );
    dir.join(cert)
}

/// A certificate `NAME.pem` (key `NAME-key.pem`) issued by authority `ca` for `subject`, with
/// `extensions` (subjectAltName, extendedKeyUsage) as `openssl x509 -extfile` reads them.
fn issue(dir: &Path, ca: &str, name: &str, subject: &str, extensions: &str) -> (PathBuf, PathBuf) {
    let (cert, key, csr, ext) = (
        format!("{name}.pem"),
        format!("{name}-key.pem"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    std::fs::write(
        dir.join(&ext),
        format!("basicConstraints = CA:FALSE\n{extensions}\n"),
    )
    .expect("extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-set_serial",
            "7",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    (dir.join(cert), dir.join(key))
}

/// The server's certificate for 127.0.0.1, from authority `ca`.
fn server_certificate(dir: &Path, ca: &str) -> (PathBuf, PathBuf) {
    issue(
        dir,
        ca,
        "srs",
        "/CN=callrec.test",
        "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth",
    )
}

/// A recording client's certificate for `dns` from authority `ca`.
fn client_certificate(dir: &Path, ca: &str, name: &str, dns: &str) -> (PathBuf, PathBuf) {
    issue(
        dir,
        ca,
        name,
        &format!("/CN={dns}"),
        &format!("subjectAltName = DNS:{dns}\nextendedKeyUsage = clientAuth"),
    )
}

/// What the server answers to an OPTIONS sent over TLS by `openssl s_client` presenting
/// the certificate and key `presented` (or none): the response's status line, or `None` when no SIP response comes (the
/// handshake was refused) within a few seconds.
fn options_over_tls(
    server: SocketAddr,
    ca: &Path,
    presented: Option<(&Path, &Path)>,
) -> Option<String> {
    let mut client = Command::new("openssl");
    client
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(server.to_string())
        .arg("-CAfile")
        .arg(ca);
    if let Some((cert, key)) = presented {
        client.arg("-cert").arg(cert).arg("-key").arg(key);
    }
    let mut client = client
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client runs");
    let options = "OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\n\
                   Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKmtls1\r\n\
                   From: <sip:src@127.0.0.1>;tag=mtls\r\nTo: <sip:srs@127.0.0.1>\r\n\
                   Call-ID: mtls-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
                   Content-Length: 0\r\n\r\n";
    let mut stdin = client.stdin.take().expect("stdin");
    let _ = stdin.write_all(options.as_bytes());
    let mut stdout = client.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&seen).into_owned());
    });
    let answer = rx.recv_timeout(Duration::from_secs(5)).ok();
    let _ = client.kill();
    let _ = client.wait();
    drop(stdin);
    answer
        .and_then(|text| text.lines().next().map(str::to_string))
        .filter(|line| line.starts_with("SIP/2.0 "))
}

/// Waits until `/metrics` shows `sample` at `value` (counters a handshake task bumps on its
/// own time).
fn wait_for_metric(serve: &Serve, sample: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while serve.metric(sample) != value {
        assert!(
            Instant::now() < deadline,
            "{sample} is {}, not {value}",
            serve.metric(sample)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn mutual_tls_answers_a_listed_client_and_refuses_another_ca_and_an_unlisted_name() {
    let tmp = TempDir::new("mtls");
    let dir = &tmp.0;
    let ca = authority(dir, "sbc-ca");
    authority(dir, "other-ca");
    let (srs, srs_key) = server_certificate(dir, "sbc-ca");
    let (good, good_key) = client_certificate(dir, "sbc-ca", "sbc1", "sbc1.example.com");
    let (foreign, foreign_key) =
        client_certificate(dir, "other-ca", "impostor", "sbc1.example.com");
    let (unlisted, unlisted_key) = client_certificate(dir, "sbc-ca", "sbc9", "sbc9.example.com");
    let extra = format!(
        "tls_listen = \"127.0.0.1:0\"\ntls_certificate = \"{}\"\ntls_key = \"{}\"\n\
         tls_client_ca = \"{}\"\ntls_client_names = [\"sbc1.example.com\", \"sbc2.example.com\"]\n",
        srs.display(),
        srs_key.display(),
        ca.display()
    );
    let serve = Serve::start_wav_in_temp("mtls", 39000 + 600, 3, &extra);
    let tls = serve.sip_tls.expect("serve listens for TLS");
    let refused = "callrec_sip_refused_clients_total{reason=\"certificate\"}";
    assert_eq!(serve.metric(refused), 0.0);

    assert_eq!(
        options_over_tls(tls, &ca, Some((&good, &good_key))).as_deref(),
        Some("SIP/2.0 200 OK"),
        "a listed name from the configured CA is answered"
    );
    assert_eq!(serve.metric(refused), 0.0);

    assert_eq!(
        options_over_tls(tls, &ca, Some((&unlisted, &unlisted_key))),
        None
    );
    wait_for_metric(&serve, refused, 1.0);
    assert_eq!(
        options_over_tls(tls, &ca, Some((&foreign, &foreign_key))),
        None
    );
    wait_for_metric(&serve, refused, 2.0);
    assert_eq!(
        options_over_tls(tls, &ca, None),
        None,
        "no certificate at all"
    );
    wait_for_metric(&serve, refused, 3.0);
    assert_eq!(
        serve.metric("callrec_sip_refused_clients_total{reason=\"address\"}"),
        0.0
    );

    // All from 127.0.0.1 within the minute: one line, the first, which says why.
    let logged = serve.events("sip.client_refused");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["reason"], "certificate", "{logged:?}");
    let detail = logged[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("sbc9.example.com") && detail.contains("sip.tls_client_names"),
        "{detail}"
    );
    assert_eq!(
        serve.metric("callrec_sip_requests_total"),
        1.0,
        "only the listed client's"
    );
}

#[test]
fn the_admin_api_is_served_over_https_with_its_certificate() {
    let tmp = TempDir::new("admin-https");
    let dir = &tmp.0;
    let ca = authority(dir, "admin-ca");
    let (cert, key) = server_certificate(dir, "admin-ca");
    let config = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = 39800\nrtp_port_max = 39899\n\
         [admin]\ntls_certificate = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let serve = Serve::start_in_temp("admin-https", &config);
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", serve.admin.port());
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args)
            .output()
            .expect("curl runs")
    };
    let ca = ca.to_str().expect("UTF-8 path");
    let healthz = curl(&["--cacert", ca, &url("/healthz")]);
    assert!(
        healthz.status.success(),
        "{}",
        String::from_utf8_lossy(&healthz.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&healthz.stdout).trim(), "ok");
    let metrics = curl(&["--cacert", ca, &url("/metrics")]);
    let metrics = parse_metrics(&String::from_utf8_lossy(&metrics.stdout));
    assert_eq!(
        metrics.get("callrec_sip_refused_clients_total{reason=\"address\"}"),
        Some(&0.0),
        "{metrics:?}"
    );
    // The API without a token refuses over HTTPS as over HTTP.
    let people = curl(&[
        "--cacert",
        ca,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url("/v1/whoami"),
    ]);
    assert_eq!(String::from_utf8_lossy(&people.stdout), "401");
    // Unverified (no CA given) and plain HTTP both fail: nothing is served in clear.
    assert!(!curl(&[&url("/healthz")]).status.success());
    let plain = curl(&[&format!("http://127.0.0.1:{}/healthz", serve.admin.port())]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ok"));
}
