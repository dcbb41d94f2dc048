//! Prometheus metrics of one client: jobs by backend and state, the backends' queue depth and
//! reachability, submit and completion latency, tool-call duration, errors by code, and (for a
//! server that counts them) HTTP responses by status.
//!
//! The counting happens where the events happen (job submission and completion in the client,
//! tool calls and HTTP responses in the surface that serves them); [`Comfy::render_metrics`]
//! refreshes what is read at scrape time (queue depth, reachability, jobs in flight) and
//! renders everything in the OpenMetrics text format ([`CONTENT_TYPE`]), which Prometheus
//! scrapes. Every per-backend series is labelled with the backend's name, so several backends
//! in one client are told apart.
//!
//! [`Comfy::render_metrics`]: crate::Comfy::render_metrics

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The content type of [`Comfy::render_metrics`](crate::Comfy::render_metrics)' text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Tool names longer than this are counted as `unknown` (a caller-chosen name is no label).
const MAX_TOOL_LABEL: usize = 64;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendInfoLabels {
    backend: String,
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    backend: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    backend: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn submit_histogram() -> Histogram {
    // 5 ms .. ~20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

fn job_histogram() -> Histogram {
    // 100 ms .. ~40 min.
    Histogram::new(exponential_buckets(0.1, 2.5, 12))
}

fn tool_histogram() -> Histogram {
    // 1 ms .. ~25 min.
    Histogram::new(exponential_buckets(0.001, 2.5, 16))
}

/// The metrics of one client (see the [module](self) documentation). Reached through
/// [`Comfy::metrics`](crate::Comfy::metrics); the surface serving the client counts its tool
/// calls and HTTP responses here so one scrape shows everything.
pub struct Metrics {
    registry: Registry,
    backend_info: Family<BackendInfoLabels, Gauge>,
    backend_up: Family<BackendLabels, Gauge>,
    queue_depth: Family<StateLabels, Gauge>,
    submitted: Family<BackendLabels, Counter>,
    finished: Family<StateLabels, Counter>,
    in_flight: Family<BackendLabels, Gauge>,
    submit_seconds: HistogramFamily<BackendLabels>,
    job_seconds: HistogramFamily<StateLabels>,
    errors: Family<CodeLabels, Counter>,
    tool_seconds: HistogramFamily<ToolLabels>,
    tools_in_flight: Gauge,
    tools_running: AtomicI64,
    http: Family<StatusLabels, Counter>,
    http_in_flight: Gauge,
    http_running: Arc<AtomicI64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics, registered under the `comfy_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("comfy");
        let backend_info = Family::<BackendInfoLabels, Gauge>::default();
        registry.register(
            "backend_info",
            "The backends this client submits to (always 1)",
            backend_info.clone(),
        );
        let backend_up = Family::<BackendLabels, Gauge>::default();
        registry.register(
            "backend_up",
            "Whether the backend answered its health check at the last scrape (1) or not (0)",
            backend_up.clone(),
        );
        let queue_depth = Family::<StateLabels, Gauge>::default();
        registry.register(
            "backend_queue_depth",
            "Jobs in the backend's own queue at the last scrape, by state (running, pending)",
            queue_depth.clone(),
        );
        let submitted = Family::<BackendLabels, Counter>::default();
        registry.register("jobs_submitted", "Jobs the backend accepted from this client", submitted.clone());
        let finished = Family::<StateLabels, Counter>::default();
        registry.register(
            "jobs_finished",
            "Jobs of this client that finished, by state (succeeded, failed, cancelled)",
            finished.clone(),
        );
        let in_flight = Family::<BackendLabels, Gauge>::default();
        registry.register(
            "jobs_in_flight",
            "Unfinished jobs this client follows (submitted or reattached)",
            in_flight.clone(),
        );
        let submit_seconds: HistogramFamily<BackendLabels> = Family::new_with_constructor(submit_histogram);
        registry.register_with_unit(
            "job_submit_duration",
            "Time to submit a job until the backend accepted it",
            Unit::Seconds,
            submit_seconds.clone(),
        );
        let job_seconds: HistogramFamily<StateLabels> = Family::new_with_constructor(job_histogram);
        registry.register_with_unit(
            "job_duration",
            "Time from a job's submission to its end, by final state",
            Unit::Seconds,
            job_seconds.clone(),
        );
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "errors",
            "Refused submissions and failed jobs, by the error's stable code",
            errors.clone(),
        );
        let tool_seconds: HistogramFamily<ToolLabels> = Family::new_with_constructor(tool_histogram);
        registry.register_with_unit(
            "tool_call_duration",
            "Tool calls by tool and outcome (ok, or the error code)",
            Unit::Seconds,
            tool_seconds.clone(),
        );
        let tools_in_flight = Gauge::default();
        registry.register("tool_calls_in_flight", "Tool calls running now", tools_in_flight.clone());
        let http = Family::<StatusLabels, Counter>::default();
        registry.register("http_responses", "HTTP responses by status code", http.clone());
        let http_in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered now (not counting GET event streams)",
            http_in_flight.clone(),
        );
        Metrics {
            registry,
            backend_info,
            backend_up,
            queue_depth,
            submitted,
            finished,
            in_flight,
            submit_seconds,
            job_seconds,
            errors,
            tool_seconds,
            tools_in_flight,
            tools_running: AtomicI64::new(0),
            http,
            http_in_flight,
            http_running: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Shows a backend's series from the start (at zero), so rates work from the first job.
    pub(crate) fn add_backend(&self, backend: &str, kind: &str) {
        self.backend_info
            .get_or_create(&BackendInfoLabels { backend: backend.into(), kind: kind.into() })
            .set(1);
        self.submitted.get_or_create(&backend_labels(backend)).inc_by(0);
        for state in ["succeeded", "failed", "cancelled"] {
            self.finished.get_or_create(&state_labels(backend, state)).inc_by(0);
        }
        self.in_flight.get_or_create(&backend_labels(backend)).set(0);
    }

    /// A job the backend accepted, `elapsed` after the submission started.
    pub(crate) fn job_submitted(&self, backend: &str, elapsed: Duration) {
        let labels = backend_labels(backend);
        self.submitted.get_or_create(&labels).inc();
        self.submit_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// A job that ended in `state` (`succeeded`, `failed`, `cancelled`), `elapsed` after it was
    /// submitted (`None`: unknown).
    pub(crate) fn job_finished(&self, backend: &str, state: &str, elapsed: Option<Duration>) {
        let labels = state_labels(backend, state);
        self.finished.get_or_create(&labels).inc();
        if let Some(elapsed) = elapsed {
            self.job_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
        }
    }

    /// An error with this stable code ([`Error::code`](crate::Error::code)).
    pub(crate) fn error(&self, backend: &str, code: &str) {
        self.errors.get_or_create(&CodeLabels { backend: backend.into(), code: code.into() }).inc();
    }

    pub(crate) fn set_in_flight(&self, backend: &str, jobs: usize) {
        self.in_flight.get_or_create(&backend_labels(backend)).set(jobs as i64);
    }

    pub(crate) fn set_up(&self, backend: &str, up: bool) {
        self.backend_up.get_or_create(&backend_labels(backend)).set(i64::from(up));
    }

    pub(crate) fn set_queue_depth(&self, backend: &str, running: usize, pending: usize) {
        self.queue_depth.get_or_create(&state_labels(backend, "running")).set(running as i64);
        self.queue_depth.get_or_create(&state_labels(backend, "pending")).set(pending as i64);
    }

    /// Starts timing a tool call: [`ToolCall::finish`] it with its outcome (a call dropped
    /// unfinished counts as `aborted`). Tools running now are counted
    /// ([`tool_calls_in_flight`](Self::tool_calls_in_flight)) until then.
    pub fn tool_call(&self, tool: &str) -> ToolCall<'_> {
        self.tools_in_flight.inc();
        self.tools_running.fetch_add(1, Ordering::SeqCst);
        let tool = if tool.is_empty() || tool.len() > MAX_TOOL_LABEL { "unknown" } else { tool };
        ToolCall { metrics: self, tool: tool.to_owned(), started: std::time::Instant::now(), outcome: None }
    }

    /// Tool calls started with [`tool_call`](Self::tool_call) and not finished yet.
    pub fn tool_calls_in_flight(&self) -> usize {
        self.tools_running.load(Ordering::SeqCst).max(0) as usize
    }

    /// Counts one HTTP response with this status code.
    pub fn http_response(&self, status: u16) {
        self.http.get_or_create(&StatusLabels { status: status.to_string() }).inc();
    }

    /// Counts an HTTP request as in flight until the returned guard is dropped (hold it until
    /// the response body has been sent).
    pub fn http_request(&self) -> HttpRequest {
        self.http_in_flight.inc();
        self.http_running.fetch_add(1, Ordering::SeqCst);
        HttpRequest { gauge: self.http_in_flight.clone(), running: self.http_running.clone() }
    }

    /// HTTP requests counted by [`http_request`](Self::http_request) and not done yet.
    pub fn http_requests_in_flight(&self) -> usize {
        self.http_running.load(Ordering::SeqCst).max(0) as usize
    }

    /// Everything, in the OpenMetrics text format (ends with `# EOF`).
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing into a String cannot fail; say so if the encoder ever does.
            tracing::error!(error = %e, "could not encode the metrics");
        }
        out
    }
}

/// An HTTP request in flight ([`Metrics::http_request`]); dropping it ends it.
#[derive(Debug)]
pub struct HttpRequest {
    gauge: Gauge,
    running: Arc<AtomicI64>,
}

impl Drop for HttpRequest {
    fn drop(&mut self) {
        self.gauge.dec();
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A tool call being timed ([`Metrics::tool_call`]).
#[derive(Debug)]
pub struct ToolCall<'a> {
    metrics: &'a Metrics,
    tool: String,
    started: std::time::Instant,
    outcome: Option<String>,
}

impl ToolCall<'_> {
    /// Ends the call with its outcome: `ok`, or the error's code.
    pub fn finish(mut self, outcome: &str) {
        self.outcome = Some(outcome.to_owned());
    }
}

impl Drop for ToolCall<'_> {
    fn drop(&mut self) {
        let m = self.metrics;
        m.tools_in_flight.dec();
        m.tools_running.fetch_sub(1, Ordering::SeqCst);
        let outcome = self.outcome.take().unwrap_or_else(|| "aborted".to_owned());
        m.tool_seconds
            .get_or_create(&ToolLabels { tool: std::mem::take(&mut self.tool), outcome })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

fn backend_labels(backend: &str) -> BackendLabels {
    BackendLabels { backend: backend.into() }
}

fn state_labels(backend: &str, state: &str) -> StateLabels {
    StateLabels { backend: backend.into(), state: state.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_as_openmetrics_text() {
        let m = Metrics::new();
        m.add_backend("local:http://a", "local");
        m.job_submitted("local:http://a", Duration::from_millis(20));
        m.job_finished("local:http://a", "succeeded", Some(Duration::from_secs(2)));
        m.error("local:http://a", "too_many_jobs");
        m.tool_call("wait_for_job").finish("ok");
        drop(m.tool_call("submit_workflow"));
        m.http_response(200);
        let request = m.http_request();
        assert_eq!(m.http_requests_in_flight(), 1);
        drop(request);
        assert_eq!(m.tool_calls_in_flight(), 0);
        assert_eq!(m.http_requests_in_flight(), 0);
        let text = m.encode();
        for line in [
            "comfy_backend_info{backend=\"local:http://a\",kind=\"local\"} 1",
            "comfy_jobs_submitted_total{backend=\"local:http://a\"} 1",
            "comfy_jobs_finished_total{backend=\"local:http://a\",state=\"succeeded\"} 1",
            "comfy_jobs_finished_total{backend=\"local:http://a\",state=\"failed\"} 0",
            "comfy_errors_total{backend=\"local:http://a\",code=\"too_many_jobs\"} 1",
            "comfy_job_submit_duration_seconds_count{backend=\"local:http://a\"} 1",
            "comfy_job_duration_seconds_count{backend=\"local:http://a\",state=\"succeeded\"} 1",
            "comfy_tool_call_duration_seconds_count{tool=\"wait_for_job\",outcome=\"ok\"} 1",
            "comfy_tool_call_duration_seconds_count{tool=\"submit_workflow\",outcome=\"aborted\"} 1",
            "comfy_tool_calls_in_flight 0",
            "comfy_http_responses_total{status=\"200\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_long_tool_name_is_no_label() {
        let m = Metrics::new();
        let long = "x".repeat(200);
        let call = m.tool_call(&long);
        assert_eq!(m.tool_calls_in_flight(), 1);
        call.finish("unknown_tool");
        let text = m.encode();
        assert!(!text.contains(&long) && text.contains("tool=\"unknown\""), "{text}");
    }
}
