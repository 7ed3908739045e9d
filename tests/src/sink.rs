//! Receivers for notification tests on 127.0.0.1: an HTTP sink that
//! records every request (and can be told to never answer), and an SMTP
//! sink (aiosmtpd from the test venv) that keeps messages in a maildir.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the HTTP sink received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server recording requests and answering 200 (or never).
pub struct HttpSink {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

fn serve(mut s: TcpStream, got: &Mutex<Vec<Received>>, hang: bool) -> Option<()> {
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    got.lock().ok()?.push(Received {
        method,
        path,
        headers,
        body,
    });
    if hang {
        std::thread::sleep(Duration::from_secs(3600));
    }
    s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK")
        .ok()
}

impl HttpSink {
    /// Starts a sink; with `hang`, it reads requests and never answers.
    pub fn start(hang: bool) -> HttpSink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let g = g.clone();
                std::thread::spawn(move || serve(s, &g, hang));
            }
        });
        HttpSink { url, got }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Forgets what it received.
    pub fn clear(&self) {
        self.got.lock().unwrap().clear();
    }
}

/// aiosmtpd on 127.0.0.1 keeping messages in a maildir.
pub struct SmtpSink {
    /// Its port.
    pub port: u16,
    maildir: PathBuf,
    child: Child,
}

impl SmtpSink {
    /// Starts aiosmtpd from the test venv (`HBK_TEST_VENV`); with
    /// `tls` = (certificate, key) PEM files it offers STARTTLS.
    pub fn start(dir: &Path, tls: Option<(&Path, &Path)>) -> SmtpSink {
        let port = crate::servers::free_port();
        let maildir = dir.join("maildir");
        let script = format!(
            "import asyncio, ssl, sys\n\
             from aiosmtpd.controller import Controller\n\
             from aiosmtpd.handlers import Mailbox\n\
             ctx = None\n\
             if len(sys.argv) > 3:\n\
             \x20   ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)\n\
             \x20   ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n\
             c = Controller(Mailbox(sys.argv[1]), hostname='127.0.0.1', port={port}, tls_context=ctx, require_starttls=ctx is not None)\n\
             c.start()\n\
             import time\n\
             while True: time.sleep(3600)\n"
        );
        let python = crate::servers::venv().join("bin/python");
        let mut cmd = Command::new(python);
        cmd.arg("-c").arg(script).arg(&maildir);
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd from the test venv (scripts/install-test-servers.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink {
            port,
            maildir,
            child,
        }
    }

    /// The messages received, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in rd.flatten() {
                    out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
