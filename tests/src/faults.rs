//! A fault-injecting HTTP proxy for backend tests: it sits between hbk
//! (or restic) and a test server on 127.0.0.1 and, per request, passes
//! it on, answers `500 Internal Server Error`, or drops the connection.
//!
//! Each client connection carries one request: the proxy adds
//! `Connection: close` to the request and the answer, then copies bytes
//! both ways until the server closes. Signatures are unaffected:
//! `Connection` is a hop-by-hop header that S3 clients do not sign.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};

/// What the proxy does with requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Pass every request on.
    Pass,
    /// Fail this fraction (0.0–1.0) of requests, half of them with a 500
    /// answer and half by dropping the connection.
    Flaky(f64),
    /// Drop every connection at once, as if the server were down.
    Refuse,
    /// Pass requests on until this many uploads of pack data (PUT or
    /// POST under `data/`) went through, then behave as [`Mode::Refuse`].
    RefuseAfterUploads(u64),
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    injected: AtomicU64,
    uploads: AtomicU64,
    lines: Mutex<Vec<String>>,
}

/// A running proxy; stops accepting when dropped.
pub struct FaultProxy {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream_port`.
    pub fn start(upstream_port: u16, mode: Mode) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let mode = Arc::new(Mutex::new(mode));
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (m, c, s) = (mode.clone(), counters.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(0x004b_426b);
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let roll: f64 = rng.gen();
                        let m = m.clone();
                        let c = c.clone();
                        std::thread::spawn(move || handle(client, upstream_port, &m, &c, roll));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy {
            port,
            mode,
            counters,
            stop,
        }
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Changes what the proxy does from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }

    /// The request lines (`GET /path HTTP/1.1`) seen so far.
    pub fn request_lines(&self) -> Vec<String> {
        self.counters
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the request lines seen so far.
    pub fn clear_request_lines(&self) {
        self.counters
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Faults injected so far (500s, drops and refusals).
    pub fn injected(&self) -> u64 {
        self.counters.injected.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Reads up to the end of the HTTP head; returns head and any body bytes
/// read with it.
fn read_head(s: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Some((buf, rest));
        }
        if buf.len() > 1 << 20 {
            return None;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The head with any `Connection` header replaced by `Connection: close`.
fn close_head(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn handle(mut client: TcpStream, upstream: u16, mode: &Mutex<Mode>, c: &Counters, roll: f64) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(120)));
    let current = *mode.lock().unwrap_or_else(|e| e.into_inner());
    if current == Mode::Refuse {
        c.injected.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Some((head, body_start)) = read_head(&mut client) else {
        return;
    };
    c.requests.fetch_add(1, Ordering::SeqCst);
    let first_line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    c.lines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(first_line.clone());
    let is_upload = (first_line.starts_with("PUT ") || first_line.starts_with("POST "))
        && first_line.contains("/data/");
    match current {
        Mode::Flaky(p) if roll < p / 2.0 => {
            c.injected.fetch_add(1, Ordering::SeqCst);
            let _ = client.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nInternalError",
            );
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Mode::Flaky(p) if roll < p => {
            c.injected.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Mode::RefuseAfterUploads(n) if c.uploads.load(Ordering::SeqCst) >= n => {
            *mode.lock().unwrap_or_else(|e| e.into_inner()) = Mode::Refuse;
            c.injected.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        _ => {}
    }
    if is_upload {
        c.uploads.fetch_add(1, Ordering::SeqCst);
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    if server.write_all(&close_head(&head)).is_err() || server.write_all(&body_start).is_err() {
        return;
    }
    // Client → server (the rest of the body) on a helper thread.
    let (Ok(mut from_client), Ok(mut to_server)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_server);
    });
    // Server → client, with the answer's head rewritten.
    if let Some((rhead, rbody)) = read_head(&mut server) {
        if client.write_all(&close_head(&rhead)).is_ok() && client.write_all(&rbody).is_ok() {
            let _ = std::io::copy(&mut server, &mut client);
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    let _ = up.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_header_is_replaced() {
        let h = close_head(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
    }
}
