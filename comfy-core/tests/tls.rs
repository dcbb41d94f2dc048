//! TLS through rustls: `https://` and `wss://` to a local server whose certificate is signed by
//! a CA generated here (rcgen) work when the backend trusts that CA (`ca_cert`), and fail with a
//! clear error when it does not.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::get;
use comfy_core::backend::Backend;
use comfy_core::backend::local::LocalComfyUi;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// A TCP listener that completes a TLS handshake before handing a connection to axum; failed
/// handshakes (a client that does not trust us) are skipped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A test CA and a server certificate for 127.0.0.1 signed by it.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    Pki { ca_pem: ca.as_ref().pem(), server: Arc::new(server) }
}

/// `GET /api/system_stats` and a `/ws` that greets with a `status` message, over TLS.
async fn server(pki: &Pki) -> String {
    let app = Router::new()
        .route(
            "/api/system_stats",
            get(|| async { axum::Json(json!({"system": {"comfyui_version": "tls-test"}, "devices": []})) }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    let hello =
                        json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}});
                    let _ = socket.send(Message::Text(hello.to_string().into())).await;
                    while let Some(Ok(_)) = socket.recv().await {}
                })
                .into_response()
            }),
        );
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener { tcp, acceptor: TlsAcceptor::from(pki.server.clone()) };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("https://127.0.0.1:{port}")
}

async fn eventually_connected(b: &LocalComfyUi) -> bool {
    for _ in 0..200 {
        if b.events_connected() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn https_and_wss_work_with_the_ca_and_fail_clearly_without_it() {
    let pki = pki();
    let url = server(&pki).await;

    let trusted = LocalComfyUi::builder(&url)
        .ca_cert_pem(pki.ca_pem.clone())
        .max_reconnect_delay(Duration::from_millis(100))
        .build()
        .unwrap();
    assert_eq!(trusted.health().await.unwrap().version.as_deref(), Some("tls-test"));
    assert!(eventually_connected(&trusted).await, "wss:// connects with the CA");

    let untrusted = LocalComfyUi::builder(&url)
        .retries(0)
        .max_reconnect_delay(Duration::from_millis(100))
        .build()
        .unwrap();
    let e = untrusted.health().await.unwrap_err();
    assert_eq!(e.code(), "backend_unreachable", "{e}");
    let text = e.to_string();
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("ca_cert"), "the error says how to fix it: {text}");
    assert!(!eventually_connected(&untrusted).await, "wss:// must not connect without the CA");
}

#[tokio::test]
async fn the_ca_can_come_from_a_pem_file() {
    let pki = pki();
    let url = server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &pki.ca_pem).unwrap();
    let b = LocalComfyUi::builder(&url).websocket(false).ca_cert(&path).build().unwrap();
    assert!(b.health().await.is_ok());
    let e = LocalComfyUi::builder(&url)
        .websocket(false)
        .ca_cert(dir.path().join("missing.pem"))
        .build()
        .unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    assert!(e.to_string().contains("missing.pem"), "{e}");
}
