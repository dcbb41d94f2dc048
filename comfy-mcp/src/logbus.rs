//! The server's own warnings, for MCP clients: a `tracing` layer that copies every WARN and
//! ERROR event of `comfy_core` and `comfy_mcp` (about a job, the backend, the store, ...) onto a
//! process-wide channel, which each MCP session forwards as `notifications/message` at or above
//! the level the client chose with `logging/setLevel`.
//!
//! The HTTP layer's own warnings (rejected tokens, rate limits) are left out: they name other
//! callers. [`crate::init_logging`] installs the layer; an embedder with its own subscriber adds
//! [`layer`] to it.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// One forwarded event.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// `tracing` level (WARN or ERROR).
    pub level: Level,
    /// The module that logged it (the MCP `logger`).
    pub target: String,
    /// The message and its fields as JSON (`{"message": ..., "job_id": ...}`).
    pub data: Value,
}

fn bus() -> &'static broadcast::Sender<Arc<LogRecord>> {
    static BUS: OnceLock<broadcast::Sender<Arc<LogRecord>>> = OnceLock::new();
    BUS.get_or_init(|| broadcast::channel(256).0)
}

/// A receiver of every record logged from now on.
pub fn subscribe() -> broadcast::Receiver<Arc<LogRecord>> {
    bus().subscribe()
}

/// The layer that feeds the channel.
pub fn layer() -> McpLogLayer {
    McpLogLayer
}

/// [`layer`] behind a static per-target filter (WARN and up of `comfy_core` and `comfy_mcp`),
/// so the events it does not want are never built.
pub fn filtered<S>() -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    let targets = tracing_subscriber::filter::Targets::new()
        .with_target("comfy_core", Level::WARN)
        .with_target("comfy_mcp", Level::WARN);
    McpLogLayer.with_filter(targets)
}

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct McpLogLayer;

/// Whether events of `target` at `level` are forwarded.
pub fn forwarded(target: &str, level: Level) -> bool {
    level <= Level::WARN
        && (target.starts_with("comfy_core") || target.starts_with("comfy_mcp"))
        && !target.starts_with("comfy_mcp::http")
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for McpLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !forwarded(meta.target(), *meta.level()) || bus().receiver_count() == 0 {
            return;
        }
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let record = LogRecord {
            level: *meta.level(),
            target: meta.target().to_owned(),
            data: Value::Object(fields.0),
        };
        let _ = bus().send(Arc::new(record));
    }
}

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.0.insert(field.name().to_owned(), Value::String(s));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_warnings_are_forwarded() {
        assert!(forwarded("comfy_core::client::tracker", Level::WARN));
        assert!(forwarded("comfy_mcp::state", Level::ERROR));
        assert!(!forwarded("comfy_mcp::state", Level::INFO));
        assert!(!forwarded("comfy_mcp::http", Level::WARN));
        assert!(!forwarded("hyper::proto", Level::ERROR));
    }
}
