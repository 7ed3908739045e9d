//! `hbk plan serve`: a small read-only web UI for a backup plan — each
//! repository with its RPO, last run, drills, verification and size in
//! green, amber or red against the plan's thresholds; plots of the run
//! history; a snapshot browser that lists directories and downloads one
//! file; `/metrics` (Prometheus) and `/healthz`. Pages are rendered on
//! the server (HTML and inline SVG, no script). It never shows a secret:
//! repository URLs lose their passwords.
//!
//! * [`http`]: a small HTTP/1.1 server on std;
//! * [`pages`], [`svg`]: the pages and plots, as text (pure);
//! * [`app`]: routes, authentication, repository handles.

pub mod app;
pub mod escape;
pub mod http;
pub mod pages;
pub mod svg;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use hbk_plan::config::Plan;

pub use app::{App, Auth};

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address does not parse.
    #[error("listen address {0:?}: {1}")]
    Address(String, String),
    /// A non-loopback address without a password or token.
    #[error(
        "listening on {0} (beyond this machine) needs serve.password or serve.token in the plan"
    )]
    Unprotected(SocketAddr),
    /// A secret of `[serve]` cannot be read.
    #[error(transparent)]
    Secret(#[from] hbk_plan::Error),
    /// Binding failed.
    #[error("listening on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// The authentication `plan` asks for.
pub fn auth_of(plan: &Plan) -> Result<Auth, Error> {
    let s = &plan.serve;
    let basic = match &s.password {
        Some(src) => Some((
            s.user.clone().unwrap_or_else(|| "hbk".into()),
            src.resolve("serve.password")?,
        )),
        None => None,
    };
    let token = match &s.token {
        Some(src) => Some(src.resolve("serve.token")?),
        None => None,
    };
    Ok(Auth { basic, token })
}

/// Binds `listen` (refusing an open address without authentication);
/// returns the listener and the address it got.
pub fn bind(listen: &str, auth: &Auth) -> Result<(TcpListener, SocketAddr), Error> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e: std::net::AddrParseError| Error::Address(listen.into(), e.to_string()))?;
    if !addr.ip().is_loopback() && !auth.required() {
        return Err(Error::Unprotected(addr));
    }
    let l = TcpListener::bind(addr).map_err(|e| Error::Bind(addr, e))?;
    let got = l.local_addr().map_err(|e| Error::Bind(addr, e))?;
    Ok((l, got))
}

/// Serves `plan` on `listener` until the process ends.
pub fn serve(plan: Plan, auth: Auth, listener: TcpListener) {
    let app = Arc::new(App::new(plan, auth));
    http::serve(listener, Arc::new(move |req| app.handle(req)));
}
