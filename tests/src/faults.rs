//! A fault-injecting HTTP proxy for backend tests: it sits between hbk
//! (or restic) and a test server on 127.0.0.1 and, per request, passes
//! it on, answers `500 Internal Server Error` or `503 Service Unavailable`
//! (with `Retry-After: 1`), drops the connection, stalls it (no byte for a
//! while, then closes), or cuts the body of the upload or of the answer
//! half-way. It can also check each upload's signed payload hash the
//! way S3 does ([`Mode::CheckPayloads`]), which moto and `rclone serve s3`
//! do not.
//!
//! Each client connection carries one request: the proxy adds
//! `Connection: close` to the request and the answer, then copies bytes
//! both ways until the server closes. Signatures are unaffected:
//! `Connection` is a hop-by-hop header that S3 clients do not sign.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

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
    /// Stall this fraction of requests: read the request head, send
    /// nothing for the duration (or until the client closes), then close.
    Stall(f64, Duration),
    /// Cut this fraction of requests half-way: an upload's body after half
    /// its bytes (the server sees a short body and the connection close),
    /// else the answer's body after half its bytes.
    Truncate(f64),
    /// Answer this fraction of requests `503 Service Unavailable` with
    /// `Retry-After: 1`, as a throttling S3 or REST server does.
    Unavailable(f64),
    /// Pass every request on, but check the body of each one that names
    /// its SHA-256 in `x-amz-content-sha256` (a SigV4 signed payload), as
    /// AWS and MinIO do: a body that does not match is answered `400
    /// XAmzContentSHA256Mismatch` and never reaches the server.
    CheckPayloads,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    injected: AtomicU64,
    uploads: AtomicU64,
    /// Pack uploads whose payload hash was checked and matched.
    checked_uploads: AtomicU64,
    /// Requests refused because the body did not match its hash.
    mismatches: AtomicU64,
    /// Faults allowed by chance before passing everything (`u64::MAX`: no
    /// limit).
    budget: AtomicU64,
    lines: Mutex<Vec<String>>,
}

impl Counters {
    /// Takes one fault from the budget; false when it is spent.
    fn take_fault(&self) -> bool {
        self.budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
            .is_ok()
    }
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
        let counters = Arc::new(Counters {
            budget: AtomicU64::new(u64::MAX),
            ..Counters::default()
        });
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

    /// Pack uploads (under `data/`) whose body matched the SHA-256 they
    /// were signed with ([`Mode::CheckPayloads`]).
    pub fn checked_uploads(&self) -> u64 {
        self.counters.checked_uploads.load(Ordering::SeqCst)
    }

    /// Requests refused because their body did not match the SHA-256
    /// they were signed with ([`Mode::CheckPayloads`]).
    pub fn payload_mismatches(&self) -> u64 {
        self.counters.mismatches.load(Ordering::SeqCst)
    }

    /// Faults injected so far (500s, 503s, drops, stalls, cuts and
    /// refusals).
    pub fn injected(&self) -> u64 {
        self.counters.injected.load(Ordering::SeqCst)
    }

    /// Uploads of pack data (PUT or POST under `data/`) passed on so far.
    pub fn uploads(&self) -> u64 {
        self.counters.uploads.load(Ordering::SeqCst)
    }

    /// Injects at most `n` more faults by chance (the `fraction` modes),
    /// then passes every request on, so a command that retries can finish.
    pub fn limit_faults(&self, n: u64) {
        self.counters.budget.store(n, Ordering::SeqCst);
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
    let cut = matches!(current, Mode::Truncate(p) if roll < p) && c.take_fault();
    match current {
        Mode::Flaky(p) if roll < p / 2.0 && c.take_fault() => {
            c.injected.fetch_add(1, Ordering::SeqCst);
            let _ = client.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nInternalError",
            );
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Mode::Flaky(p) if roll < p && c.take_fault() => {
            c.injected.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Mode::Stall(p, wait) if roll < p && c.take_fault() => {
            c.injected.fetch_add(1, Ordering::SeqCst);
            stall(&mut client, wait);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Mode::Unavailable(p) if roll < p && c.take_fault() => {
            c.injected.fetch_add(1, Ordering::SeqCst);
            let _ = client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\nSlowDown",
            );
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
    let mut body_start = body_start;
    if current == Mode::CheckPayloads {
        if let Some(expected) = signed_payload_hash(&head) {
            let whole = content_length(&head).unwrap_or(0);
            let rest = whole.saturating_sub(body_start.len() as u64);
            if std::io::copy(&mut (&mut client).take(rest), &mut body_start).is_err() {
                return;
            }
            if hex::encode(Sha256::digest(&body_start)) != expected {
                c.mismatches.fetch_add(1, Ordering::SeqCst);
                let _ = client.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: 45\r\nConnection: close\r\n\r\n<Error><Code>XAmzContentSHA256Mismatch</Code>",
                );
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            if is_upload {
                c.checked_uploads.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    if server.write_all(&close_head(&head)).is_err() {
        return;
    }
    if cut {
        c.injected.fetch_add(1, Ordering::SeqCst);
        cut_exchange(client, server, &head, body_start);
        return;
    }
    if server.write_all(&body_start).is_err() {
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

/// Sends nothing for `wait` or until the client closes, whichever is
/// first; what the client sends meanwhile is read and dropped.
fn stall(client: &mut TcpStream, wait: Duration) {
    let until = Instant::now() + wait;
    let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 8192];
    while Instant::now() < until {
        match client.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// The `Content-Length` of an HTTP head, if it has one.
/// The value of the header `name` (any case) in a request or answer head.
fn header(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The payload hash a request head signs (`x-amz-content-sha256` as 64
/// hex digits, in lower case), if it signs one: not for unsigned or
/// streaming payloads.
fn signed_payload_hash(head: &[u8]) -> Option<String> {
    let v = header(head, "x-amz-content-sha256")?;
    (v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_ascii_lowercase())
}

fn content_length(head: &[u8]) -> Option<u64> {
    header(head, "content-length")?.parse().ok()
}

/// Copies at most `limit` bytes from `from` to `to`.
fn copy_at_most(from: &mut TcpStream, to: &mut TcpStream, limit: u64) {
    let _ = std::io::copy(&mut from.take(limit), to);
}

/// One exchange cut half-way (the request head already went to the
/// server): a request with a body loses the second half of it; any other
/// gets its answer's head and the first half of the answer's body. Then
/// both connections close.
fn cut_exchange(mut client: TcpStream, mut server: TcpStream, head: &[u8], body_start: Vec<u8>) {
    let body_len = content_length(head).unwrap_or(0);
    if body_len > 0 {
        let half = body_len / 2;
        let first = usize::try_from(half)
            .unwrap_or(usize::MAX)
            .min(body_start.len());
        let sent = server.write_all(&body_start[..first]).is_ok();
        if sent {
            copy_at_most(&mut client, &mut server, half - first as u64);
        }
    } else if let Some((rhead, rbody)) = read_head(&mut server) {
        let half = content_length(&rhead).unwrap_or(rbody.len() as u64) / 2;
        let first = usize::try_from(half).unwrap_or(usize::MAX).min(rbody.len());
        if client.write_all(&close_head(&rhead)).is_ok()
            && client.write_all(&rbody[..first]).is_ok()
        {
            copy_at_most(&mut server, &mut client, half - first as u64);
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_found_in_any_case() {
        let h = b"PUT /x HTTP/1.1\r\ncontent-LENGTH: 42\r\nHost: y\r\n\r\n";
        assert_eq!(content_length(h), Some(42));
        assert_eq!(content_length(b"GET / HTTP/1.1\r\n\r\n"), None);
    }

    /// The payload check refuses a body that does not match its hash and
    /// passes one that does; unsigned payloads pass unchecked.
    #[test]
    fn payload_hashes_are_checked() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = server.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in server.incoming() {
                let Ok(mut conn) = conn else { return };
                if let Some((head, mut body)) = read_head(&mut conn) {
                    let rest = content_length(&head).unwrap_or(0) - body.len() as u64;
                    let _ = (&mut conn).take(rest).read_to_end(&mut body);
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                }
            }
        });
        let proxy = FaultProxy::start(upstream, Mode::CheckPayloads);
        let put = |hash: &str| {
            let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
            let body = b"pack bytes";
            let head = format!(
                "PUT /b/data/00/x HTTP/1.1\r\nHost: h\r\nx-amz-content-sha256: {hash}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body).unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer.lines().next().unwrap_or_default().to_string()
        };
        let right = hex::encode(Sha256::digest(b"pack bytes"));
        assert!(put(&right).contains(" 200 "));
        assert!(put(&"0".repeat(64)).contains(" 400 "));
        assert!(put("UNSIGNED-PAYLOAD").contains(" 200 "));
        assert_eq!(
            (proxy.checked_uploads(), proxy.payload_mismatches()),
            (1, 1)
        );
    }

    #[test]
    fn connection_header_is_replaced() {
        let h = close_head(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
    }
}
