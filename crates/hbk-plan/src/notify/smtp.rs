//! A small SMTP client for email notifications: EHLO, STARTTLS (rustls,
//! the system's roots or a given CA), AUTH PLAIN, one message. Every
//! read and write is bounded by the notification's deadline.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::config::SmtpConfig;
use crate::secret::Secret;

/// Longest reply line accepted from the server.
const MAX_LINE: usize = 4096;

enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(b),
            Conn::Tls(s) => s.read(b),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(b),
            Conn::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

struct Session {
    conn: Conn,
    deadline: Instant,
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "timed out".to_string())
}

impl Session {
    fn tcp(&self) -> &TcpStream {
        match &self.conn {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }

    fn bound(&self) -> Result<(), String> {
        let left = remaining(self.deadline)?;
        let tcp = self.tcp();
        tcp.set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(left)).map_err(|e| e.to_string())
    }

    /// Reads one reply (all its lines); returns the code and the text.
    fn reply(&mut self) -> Result<(u16, String), String> {
        let mut text = String::new();
        loop {
            self.bound()?;
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while !line.ends_with(b"\n") {
                let n = self
                    .conn
                    .read(&mut byte)
                    .map_err(|e| format!("reading the reply: {e}"))?;
                if n == 0 {
                    return Err("the server closed the connection".into());
                }
                line.push(byte[0]);
                if line.len() > MAX_LINE {
                    return Err("reply line too long".into());
                }
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let Some(code) = code else {
                return Err(format!("not an SMTP reply: {line:?}"));
            };
            text.push_str(line.get(4..).unwrap_or(""));
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
            text.push(' ');
        }
    }

    /// Sends `line` and expects a reply with code `want`.
    fn command(&mut self, line: &str, want: u16) -> Result<String, String> {
        self.bound()?;
        self.conn
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| self.conn.flush())
            .map_err(|e| format!("sending: {e}"))?;
        let (code, text) = self.reply()?;
        if code != want {
            let shown = if line.starts_with("AUTH") {
                "AUTH PLAIN …"
            } else {
                line
            };
            return Err(format!("{shown}: server answered {code} {text}"));
        }
        Ok(text)
    }
}

fn tls_config(cfg: &SmtpConfig) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    match &cfg.ca_file {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            let certs =
                CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            Ok(builder.with_root_certificates(roots).with_no_client_auth())
        }
        None => {
            let verifier =
                rustls_platform_verifier::Verifier::new(provider).map_err(|e| e.to_string())?;
            Ok(builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth())
        }
    }
}

/// Sends `message` (headers and body, lines ending in `\n`) from `from`
/// to `to` through the server of `cfg`, before `deadline`.
pub fn send(
    cfg: &SmtpConfig,
    password: Option<&Secret>,
    from: &str,
    to: &[String],
    message: &str,
    deadline: Instant,
) -> Result<(), String> {
    let addrs: Vec<_> = (cfg.host.as_str(), cfg.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", cfg.host))?
        .collect();
    let mut last = format!("{} has no address", cfg.host);
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(t) => {
                tcp = Some(t);
                break;
            }
            Err(e) => last = format!("connecting to {}:{}: {e}", cfg.host, cfg.port),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let mut s = Session {
        conn: Conn::Plain(tcp),
        deadline,
    };
    let (code, text) = s.reply()?;
    if code != 220 {
        return Err(format!("greeting: {code} {text}"));
    }
    let me = Some(hbk_engine::lock::hostname())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    s.command(&format!("EHLO {me}"), 250)?;
    if cfg.starttls {
        s.command("STARTTLS", 220)?;
        let name = ServerName::try_from(cfg.host.clone()).map_err(|e| e.to_string())?;
        let conn =
            ClientConnection::new(Arc::new(tls_config(cfg)?), name).map_err(|e| e.to_string())?;
        let Conn::Plain(tcp) = s.conn else {
            return Err("already TLS".into());
        };
        s.conn = Conn::Tls(Box::new(StreamOwned::new(conn, tcp)));
        s.command(&format!("EHLO {me}"), 250)?;
    }
    if let Some(user) = &cfg.user {
        let pw = password.map(Secret::expose).unwrap_or("");
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pw}"));
        s.command(&format!("AUTH PLAIN {token}"), 235)?;
    }
    s.command(&format!("MAIL FROM:<{from}>"), 250)?;
    for rcpt in to {
        s.command(&format!("RCPT TO:<{rcpt}>"), 250)?;
    }
    s.command("DATA", 354)?;
    let mut data = String::with_capacity(message.len() + 64);
    for line in message.lines() {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push('.');
    s.command(&data, 250)?;
    let _ = s.command("QUIT", 221);
    Ok(())
}
