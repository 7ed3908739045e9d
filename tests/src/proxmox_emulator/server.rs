//! The HTTPS transport: hyper (HTTP/1.1) over tokio-rustls, one runtime
//! thread, two listeners (PVE and PBS) sharing the state.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::state::{Api, Reply, State};

fn tls_acceptor() -> (TlsAcceptor, String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("self-signed certificate");
    let pem = ck.cert.pem();
    let der: CertificateDer<'static> = ck.cert.der().clone();
    let fingerprint = Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server certificate");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    (TlsAcceptor::from(Arc::new(cfg)), fingerprint, pem)
}

async fn handle(
    state: Arc<Mutex<State>>,
    api: Api,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let Reply { status, body } = state.lock().unwrap_or_else(|e| e.into_inner()).handle(
        api,
        &method,
        &path,
        &query,
        &body,
        auth.as_deref(),
    );
    let resp = Response::builder()
        .status(status)
        .header("content-type", "application/json;charset=UTF-8")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    Ok(resp)
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<Mutex<State>>, api: Api) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        if state.lock().unwrap_or_else(|e| e.into_inner()).is_down(api) {
            // "API down": the connection is dropped without an answer.
            drop(tcp);
            continue;
        }
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req| handle(state.clone(), api, req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

/// Starts the servers; returns the PVE port, the PBS port, the
/// certificate's fingerprint and the certificate as PEM.
pub fn spawn(state: Arc<Mutex<State>>) -> (u16, u16, String, String) {
    let (acceptor, fingerprint, pem) = tls_acceptor();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            let pve = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let pbs = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let ports = (
                pve.local_addr().expect("addr").port(),
                pbs.local_addr().expect("addr").port(),
            );
            let _ = tx.send(ports);
            let a = tokio::spawn(serve(pve, acceptor.clone(), state.clone(), Api::Pve));
            let b = tokio::spawn(serve(pbs, acceptor, state, Api::Pbs));
            let _ = a.await;
            let _ = b.await;
        });
    });
    let (pve, pbs) = rx.recv().expect("emulator started");
    (pve, pbs, fingerprint, pem)
}
