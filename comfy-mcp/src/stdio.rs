//! The stdio transport: rmcp's newline-delimited JSON-RPC over stdin/stdout, with the messages
//! a client may not send before `initialize` dropped instead of ending the server.
//!
//! rmcp's server, while it waits for `initialize`, answers requests (ping, or an error) but
//! gives up on any notification or response: `serve` fails with "expect initialized request"
//! and the process would exit 1. The MCP lifecycle only says a client should not send them
//! yet; a stray `notifications/initialized` sent too early, an unknown notification or a
//! response to nothing must not kill a stdio server, so they are ignored (logged at debug)
//! until a session has begun.

use std::future::Future;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta, JsonRpcMessage, ProtocolVersion};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;

/// The server's stdio transport (pipes on the IO reactor where possible; see
/// [`rmcp::transport::stdio_pipes`]).
pub fn transport() -> impl Transport<RoleServer, Error = std::io::Error> + 'static {
    let (read, write) = rmcp::transport::stdio_pipes();
    UntilSession::new(AsyncRwTransport::new_server(read, write))
}

/// A server transport that drops notifications and responses until a session has begun.
#[derive(Debug)]
pub struct UntilSession<T> {
    inner: T,
    started: bool,
}

impl<T> UntilSession<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        UntilSession { inner, started: false }
    }
}

/// Whether rmcp begins a session with this message: an `initialize` request, or a request
/// other than ping and discover that carries the inline protocol metadata of the stateless
/// lifecycle. Anything else before that is answered or, here, dropped.
fn starts_session(message: &ClientJsonRpcMessage) -> bool {
    let JsonRpcMessage::Request(r) = message else { return false };
    match &r.request {
        ClientRequest::InitializeRequest(_) => true,
        ClientRequest::PingRequest(_) | ClientRequest::DiscoverRequest(_) => false,
        other => {
            let meta = other.get_meta();
            meta.protocol_version().is_some()
                && meta.missing_required_keys(&ProtocolVersion::V_2026_07_28).is_empty()
        }
    }
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for UntilSession<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    // Cancel-safe as the inner `receive` is: the state changes only once a message is in hand.
    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let message = self.inner.receive().await?;
            if self.started || starts_session(&message) {
                self.started = true;
                return Some(message);
            }
            match &message {
                JsonRpcMessage::Request(_) => return Some(message),
                JsonRpcMessage::Notification(_) => {
                    tracing::debug!("ignoring a notification before initialize")
                }
                _ => tracing::debug!("ignoring a response before initialize"),
            }
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
