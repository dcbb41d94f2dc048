//! HTTP to a ComfyUI server: timeouts, bounded retries with backoff, and typed errors that
//! keep the server's own message.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::config::LocalConfig;
use crate::error::{Error, Result};

/// How much of an unexpected body goes into an error message.
const BODY_SNIPPET: usize = 300;

/// Whether a request may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads: retry connection failures, timeouts, 429 and 5xx.
    Idempotent,
    /// Writes (submit, upload, cancel): retry only when the request never reached the server.
    ConnectOnly,
}

#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    config: LocalConfig,
}

fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.chars().count() <= BODY_SNIPPET {
        trimmed.to_owned()
    } else {
        format!("{}…", trimmed.chars().take(BODY_SNIPPET).collect::<String>())
    }
}

impl Http {
    pub(crate) fn new(config: LocalConfig) -> Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some((name, value)) = &config.auth_header {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                Error::InvalidArgument { argument: "auth header name".into(), message: e.to_string() }
            })?;
            let mut value = reqwest::header::HeaderValue::from_str(value.expose()).map_err(|e| {
                Error::InvalidArgument { argument: "auth header value".into(), message: e.to_string() }
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| Error::InvalidArgument { argument: "HTTP client".into(), message: e.to_string() })?;
        Ok(Http { client, config })
    }

    pub(crate) fn config(&self) -> &LocalConfig {
        &self.config
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url, path)
    }

    fn backend(&self) -> String {
        self.config.name.clone()
    }

    /// Sends a request built by `build`, retrying as `retry` allows. `op` names it in errors.
    /// Error statuses listed in `accept` are returned as responses for the caller to read.
    pub(crate) async fn send(
        &self,
        op: &str,
        retry: Retry,
        timeout: Duration,
        accept: &[StatusCode],
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        let mut attempt = 0u32;
        loop {
            match build(&self.client).timeout(timeout).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() || accept.contains(&status) {
                        return Ok(resp);
                    }
                    let retryable = retry == Retry::Idempotent
                        && (status == StatusCode::TOO_MANY_REQUESTS
                            || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED));
                    if !retryable || attempt >= self.config.retries {
                        return Err(self.status_error(op, resp).await);
                    }
                    tracing::debug!(op, %status, attempt, "retrying after HTTP error");
                }
                Err(e) => {
                    let never_sent = e.is_connect();
                    let retryable = never_sent || (retry == Retry::Idempotent && e.is_timeout());
                    let error = self.transport_error(op, &e, timeout);
                    if !retryable || attempt >= self.config.retries {
                        return Err(error);
                    }
                    tracing::debug!(op, attempt, error = %error, "retrying after transport error");
                }
            }
            attempt += 1;
            // Exponential backoff with a little jitter, bounded.
            let base = self.config.retry_backoff.as_millis() as u64 * (1u64 << attempt.min(6));
            let jitter = rand::random::<u64>() % (base / 4 + 1);
            tokio::time::sleep(Duration::from_millis((base + jitter).min(5_000))).await;
        }
    }

    fn transport_error(&self, op: &str, e: &reqwest::Error, timeout: Duration) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                operation: format!("{} {op}", self.backend()),
                after_ms: timeout.as_millis() as u64,
            }
        } else if e.is_redirect() {
            Error::UnexpectedResponse {
                backend: self.backend(),
                operation: op.to_owned(),
                message: "too many redirects (a redirect loop?)".into(),
            }
        } else if e.is_connect() || e.is_request() {
            Error::BackendUnreachable {
                backend: self.backend(),
                message: format!("{op}: {}", error_chain(e)),
            }
        } else {
            Error::UnexpectedResponse {
                backend: self.backend(),
                operation: op.to_owned(),
                message: error_chain(e),
            }
        }
    }

    async fn status_error(&self, op: &str, resp: Response) -> Error {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        // ComfyUI's JSON errors carry {"error": {"message", "details"}} or {"error": "..."}.
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                let e = v.get("error")?;
                match e {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(_) => {
                        let m = e.get("message").and_then(Value::as_str).unwrap_or("");
                        let d = e.get("details").and_then(Value::as_str).unwrap_or("");
                        Some(if d.is_empty() { m.to_owned() } else { format!("{m}: {d}") })
                    }
                    _ => None,
                }
            })
            .unwrap_or_else(|| if body.trim().is_empty() { "(empty body)".into() } else { snippet(&body) });
        Error::Http { backend: self.backend(), operation: op.to_owned(), status, message }
    }

    /// Reads a JSON body; HTML, truncated or invalid JSON become [`Error::UnexpectedResponse`].
    pub(crate) async fn json(&self, op: &str, resp: Response) -> Result<Value> {
        let content_type = content_type(&resp);
        let body = resp.text().await.map_err(|e| Error::UnexpectedResponse {
            backend: self.backend(),
            operation: op.to_owned(),
            message: format!("the body could not be read: {}", error_chain(&e)),
        })?;
        parse_json_body(&self.backend(), op, &content_type, &body)
    }

    /// One request to `path` (with a JSON `body`, if any) under the request timeout; statuses in
    /// `accept` come back as responses for the caller to interpret. Returns the operation name
    /// (`"GET /path"`, for errors) with the response.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        retry: Retry,
        accept: &[StatusCode],
        body: Option<&[u8]>,
    ) -> Result<(String, Response)> {
        let op = format!("{method} {path}");
        let url = self.url(path);
        let resp = self
            .send(&op, retry, self.config.request_timeout, accept, |c| {
                let request = c.request(method.clone(), &url);
                match body {
                    Some(bytes) => {
                        request.header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes.to_vec())
                    }
                    None => request,
                }
            })
            .await?;
        Ok((op, resp))
    }

    /// GET a JSON document.
    pub(crate) async fn get_json(&self, path: &str) -> Result<Value> {
        let (op, resp) = self.request(Method::GET, path, Retry::Idempotent, &[], None).await?;
        self.json(&op, resp).await
    }

    /// POST a JSON body; returns the JSON answer, or `Null` for an empty 200.
    pub(crate) async fn post_json(&self, path: &str, body: &Value, retry: Retry) -> Result<Value> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let (op, resp) = self.request(Method::POST, path, retry, &[], Some(&bytes)).await?;
        let empty = resp.content_length() == Some(0);
        if empty {
            return Ok(Value::Null);
        }
        let content_type = content_type(&resp);
        let text = resp.text().await.unwrap_or_default();
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        parse_json_body(&self.backend(), &op, &content_type, &text)
    }
}

/// The response's `Content-Type` (empty when absent or not text).
fn content_type(resp: &Response) -> String {
    resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// Parses a body that should be JSON, with errors that say what came instead.
pub(crate) fn parse_json_body(backend: &str, op: &str, content_type: &str, body: &str) -> Result<Value> {
    let unexpected = |message: String| Error::UnexpectedResponse {
        backend: backend.to_owned(),
        operation: op.to_owned(),
        message,
    };
    let trimmed = body.trim_start();
    if content_type.starts_with("text/html") || trimmed.starts_with('<') {
        return Err(unexpected(format!(
            "an HTML page instead of JSON (a proxy, login page or wrong URL?): {}",
            snippet(body)
        )));
    }
    serde_json::from_str(body).map_err(|e| {
        let what = if e.is_eof() { "truncated JSON" } else { "invalid JSON" };
        unexpected(format!("{what} ({e}): {}", snippet(body)))
    })
}

/// The error with its sources, e.g. "error sending request: connection refused".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_that_are_not_json_are_explained() {
        let e = parse_json_body("b", "GET /x", "text/html", "<!doctype html><html>").unwrap_err();
        assert!(e.to_string().contains("HTML page"), "{e}");
        let e = parse_json_body("b", "GET /x", "application/json", "{\"a\": [1, 2").unwrap_err();
        assert!(e.to_string().contains("truncated JSON"), "{e}");
        let e = parse_json_body("b", "GET /x", "application/json", "{nope}").unwrap_err();
        assert!(e.to_string().contains("invalid JSON"), "{e}");
        assert_eq!(e.code(), "unexpected_response");
        assert!(parse_json_body("b", "GET /x", "application/json", "{\"a\": 1}").is_ok());
    }

    #[test]
    fn snippets_are_bounded() {
        assert!(snippet(&"x".repeat(10_000)).chars().count() <= BODY_SNIPPET + 1);
    }
}
