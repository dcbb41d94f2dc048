//! A loopback TCP proxy that tests can sever, block, or make refuse WebSocket upgrades.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct State {
    connections: Mutex<Vec<AbortHandle>>,
    block_all: AtomicBool,
    block_websockets: AtomicBool,
}

/// The proxy; dropping it stops accepting.
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.sever_all();
    }
}

impl TcpProxy {
    /// Proxies 127.0.0.1:<free port> to `target` (`http://host:port`).
    pub async fn start(target: &str) -> TcpProxy {
        let upstream: SocketAddr =
            target.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if st.block_all.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let st2 = st.clone();
                let task = tokio::spawn(async move { forward(client, upstream, st2).await });
                st.connections.lock().unwrap().push(task.abort_handle());
            }
        });
        TcpProxy { addr, state, accept: accept.abort_handle() }
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every open connection at once (as a network fault would).
    pub fn sever_all(&self) {
        for c in self.state.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// Refuses every new connection while set.
    pub fn block_all(&self, on: bool) {
        self.state.block_all.store(on, Ordering::SeqCst);
    }

    /// Refuses WebSocket upgrades (plain HTTP still passes) while set.
    pub fn block_websockets(&self, on: bool) {
        self.state.block_websockets.store(on, Ordering::SeqCst);
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, state: Arc<State>) {
    // Peek at the request head to spot WebSocket upgrades.
    let mut head = vec![0u8; 4096];
    let n = match client.read(&mut head).await {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    head.truncate(n);
    let is_ws = String::from_utf8_lossy(&head).to_ascii_lowercase().contains("upgrade: websocket");
    if is_ws && state.block_websockets.load(Ordering::SeqCst) {
        let _ = client
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    if server.write_all(&head).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
