//! A small HTTP/1.1 server on std: one request per connection, a bounded
//! number of connections at a time, request heads capped in size. Enough
//! for a status page on a homelab host, without an async runtime.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;

/// Largest request head accepted.
const MAX_HEAD: usize = 16 << 10;
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 16;

/// A parsed request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// Query parameters, percent-decoded to bytes (`+` is a space).
    pub query: BTreeMap<String, Vec<u8>>,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
}

impl Request {
    /// A query parameter as text.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Writes a streamed body.
pub type Writer = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send>;

/// What a response carries.
pub enum Body {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// Written by a function, `len` bytes long (a file download).
    Stream(u64, Writer),
}

/// A response.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A response with a body in memory.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: Body::Bytes(body.into()),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: String) -> Response {
        self.headers.push((name.to_string(), value));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn decode(s: &str) -> Vec<u8> {
    percent_decode_str(&s.replace('+', " ")).collect()
}

/// Parses a request head (request line and headers).
pub fn parse_head(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = String::from_utf8_lossy(&percent_decode_str(path).collect::<Vec<u8>>()).into_owned();
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (String::from_utf8_lossy(&decode(k)).into_owned(), decode(v))
        })
        .collect();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Request {
        method,
        path,
        query,
        headers,
    })
}

fn read_head(s: &TcpStream) -> Option<String> {
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).ok()?;
        if n == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            return Some(head);
        }
        head.push_str(line.trim_end_matches(['\r', '\n']));
        head.push_str("\r\n");
        if head.len() > MAX_HEAD {
            return None;
        }
    }
}

fn respond(mut s: TcpStream, head_only: bool, r: Response) -> std::io::Result<()> {
    let len = match &r.body {
        Body::Bytes(b) => b.len() as u64,
        Body::Stream(n, _) => *n,
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {len}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n",
        r.status,
        reason(r.status),
        r.content_type
    );
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {}\r\n", v.replace(['\r', '\n'], " ")));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    if head_only {
        return s.flush();
    }
    match r.body {
        Body::Bytes(b) => s.write_all(&b)?,
        Body::Stream(_, f) => f(&mut s)?,
    }
    s.flush()
}

/// Serves `handler` on `listener` until the process ends.
pub fn serve(listener: TcpListener, handler: Arc<dyn Fn(&Request) -> Response + Send + Sync>) {
    let busy = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming().flatten() {
        while busy.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            std::thread::sleep(Duration::from_millis(5));
        }
        busy.fetch_add(1, Ordering::SeqCst);
        let (h, b) = (handler.clone(), busy.clone());
        std::thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(300)));
            let resp = match read_head(&stream).as_deref().and_then(parse_head) {
                Some(req) if matches!(req.method.as_str(), "GET" | "HEAD") => {
                    let head_only = req.method == "HEAD";
                    Some((head_only, h(&req)))
                }
                Some(_) => Some((false, Response::new(405, "text/plain", "GET only\n"))),
                None => Some((false, Response::new(400, "text/plain", "bad request\n"))),
            };
            if let Some((head_only, r)) = resp {
                let _ = respond(stream, head_only, r);
            }
            b.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_with_decoded_paths_and_queries() {
        let r = parse_head("GET /browse%20x?repo=usb&path=%2Fa+b%2F%ff HTTP/1.1\r\nHost: x\r\nAuthorization: Basic abc\r\n").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/browse x"));
        assert_eq!(r.param("repo").as_deref(), Some("usb"));
        assert_eq!(r.query["path"], b"/a b/\xff");
        assert_eq!(r.headers["authorization"], "Basic abc");
        assert!(parse_head("").is_none());
    }

    proptest::proptest! {
        /// Any head: a request or none, never a panic.
        #[test]
        fn any_head_parses_or_not(head in ".{0,200}") {
            let _ = parse_head(&head);
        }
    }
}
