//! HTTP to a backend, shared by every backend: TLS through rustls, timeouts, bounded retries
//! with backoff (honouring `Retry-After`), redirects followed by hand so that credentials only
//! ever reach the configured host, and typed errors that keep the server's own message.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::credentials::{Credential, CredentialProvider, origin};
use crate::error::{Error, Result};

/// How much of an unexpected body goes into an error message.
const BODY_SNIPPET: usize = 300;

/// Redirects followed (by hand) before a request is declared a redirect loop.
const MAX_REDIRECTS: u32 = 5;

/// Whether a request may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads: retry connection failures, timeouts, 429 and 5xx.
    Idempotent,
    /// Writes (submit, upload, cancel): retry only when the request never reached the server.
    ConnectOnly,
}

/// What an [`Http`] needs to know.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    /// Base URL without a trailing slash (may carry a path prefix).
    pub base_url: String,
    /// Backend name for errors.
    pub name: String,
    /// The credential provider; its credential goes to the base URL's origin only.
    pub credentials: Option<Arc<dyn CredentialProvider>>,
    /// Time limit to connect.
    pub connect_timeout: Duration,
    /// Time limit of one ordinary request.
    pub request_timeout: Duration,
    /// Retries of retryable failures.
    pub retries: u32,
    /// First retry delay (doubled each time, capped at 5 s).
    pub retry_backoff: Duration,
    /// The longest `Retry-After` waited for before retrying; a longer one is returned as an
    /// error carrying it.
    pub max_retry_after: Duration,
    /// TLS configuration (roots plus extra CAs).
    pub tls: Arc<rustls::ClientConfig>,
    /// What a URL off the configured host (a hosted output, a redirect hop) may reach.
    pub url_policy: crate::net::UrlPolicy,
}

#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    /// For URLs off the configured host: its resolver refuses addresses the policy refuses.
    guarded: reqwest::Client,
    settings: HttpSettings,
    origin: Option<String>,
}

fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.chars().count() <= BODY_SNIPPET {
        trimmed.to_owned()
    } else {
        format!("{}…", trimmed.chars().take(BODY_SNIPPET).collect::<String>())
    }
}

/// `Retry-After` in whole seconds (the HTTP-date form is not used by the backends we know).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_millis((secs * 1000.0).min(86_400_000.0) as u64))
}

/// The header a credential is sent as.
fn credential_header(credential: &Credential) -> Result<(HeaderName, HeaderValue)> {
    let (name, value) = credential.header();
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| Error::InvalidArgument {
        argument: "credential header name".into(),
        message: e.to_string(),
    })?;
    let mut value = HeaderValue::from_str(value.expose()).map_err(|_| Error::InvalidArgument {
        argument: "credential".into(),
        message: "the credential is not a valid header value".into(),
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

impl Http {
    pub(crate) fn new(settings: HttpSettings) -> Result<Self> {
        let builder = || {
            reqwest::Client::builder()
                .tls_backend_preconfigured((*settings.tls).clone())
                .connect_timeout(settings.connect_timeout)
                // Redirects are followed by hand: see `send`.
                .redirect(reqwest::redirect::Policy::none())
        };
        let built = |b: reqwest::ClientBuilder| {
            b.build().map_err(|e| Error::InvalidArgument {
                argument: "HTTP client".into(),
                message: error_chain(&e),
            })
        };
        let client = built(builder())?;
        let resolver = Arc::new(crate::net::GuardedResolver::new(settings.url_policy.clone()));
        let guarded = built(builder().dns_resolver(resolver))?;
        let origin = origin(&settings.base_url);
        Ok(Http { client, guarded, settings, origin })
    }

    /// The client for `url`: the plain one on the configured host, else the guarded one after
    /// the URL passed the policy (scheme, address).
    async fn client_for(&self, url: &reqwest::Url) -> std::result::Result<&reqwest::Client, Attempt> {
        if self.is_own_origin(url.as_str()) {
            return Ok(&self.client);
        }
        self.settings.url_policy.check(url.as_str()).await.map_err(Attempt::Fatal)?;
        Ok(&self.guarded)
    }

    /// A transport error of a guarded request refused by the resolver, or the error itself.
    fn transport(url: &reqwest::Url, e: reqwest::Error) -> Attempt {
        match crate::net::refused_in(url.as_str(), &e) {
            Some(refused) => Attempt::Fatal(refused),
            None => Attempt::Transport(e),
        }
    }

    pub(crate) fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.base_url, path)
    }

    fn backend(&self) -> String {
        self.settings.name.clone()
    }

    /// Whether `url` is on the configured host (the only place credentials go).
    pub(crate) fn is_own_origin(&self, url: &str) -> bool {
        self.origin.is_some() && origin(url) == self.origin
    }

    /// The current credential, if the backend has a provider.
    pub(crate) async fn credential(&self) -> Result<Option<Credential>> {
        match &self.settings.credentials {
            Some(p) => p.credential().await.map(Some),
            None => Ok(None),
        }
    }

    /// Sends one request (following GET/HEAD redirects by hand), adding the credential to
    /// requests for the configured host only. Returns the response and the credential sent.
    async fn execute(
        &self,
        op: &str,
        request: RequestBuilder,
        timeout: Duration,
        follow: bool,
    ) -> std::result::Result<(Response, Option<Credential>), Attempt> {
        let mut request = request.timeout(timeout).build().map_err(|e| {
            // reqwest refuses other schemes itself: say so as the guard does.
            if let Some(url) = e.url()
                && let Err(refused) = self.settings.url_policy.check_static(url.as_str())
            {
                return Attempt::Fatal(refused);
            }
            Attempt::Fatal(Error::InvalidArgument { argument: "request".into(), message: error_chain(&e) })
        })?;
        let method = request.method().clone();
        let mut sent = None;
        if self.is_own_origin(request.url().as_str())
            && let Some(credential) = self.credential().await.map_err(Attempt::Fatal)?
        {
            let (name, value) = credential_header(&credential).map_err(Attempt::Fatal)?;
            request.headers_mut().insert(name, value);
            sent = Some(credential);
        }
        let url = request.url().clone();
        let client = self.client_for(&url).await?;
        let mut resp = client.execute(request).await.map_err(|e| Self::transport(&url, e))?;
        let mut hops = 0;
        while follow && resp.status().is_redirection() && (method == Method::GET || method == Method::HEAD) {
            let Some(location) = resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok())
            else {
                break;
            };
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(Attempt::Fatal(Error::UnexpectedResponse {
                    backend: self.backend(),
                    operation: op.to_owned(),
                    message: "too many redirects (a redirect loop?)".into(),
                }));
            }
            let next = resp.url().join(location).map_err(|e| {
                Attempt::Fatal(Error::UnexpectedResponse {
                    backend: self.backend(),
                    operation: op.to_owned(),
                    message: format!("a redirect to an invalid location {location:?}: {e}"),
                })
            })?;
            // Every hop is checked again: a redirect off the configured host is a URL the
            // backend chose.
            let client = self.client_for(&next).await?;
            let mut follow = client.request(method.clone(), next.clone()).timeout(timeout);
            // Another host (a signed storage URL) gets no credential at all.
            sent = None;
            if self.is_own_origin(next.as_str())
                && let Some(credential) = self.credential().await.map_err(Attempt::Fatal)?
            {
                let (name, value) = credential_header(&credential).map_err(Attempt::Fatal)?;
                follow = follow.header(name, value);
                sent = Some(credential);
            }
            tracing::debug!(op, host = next.host_str().unwrap_or(""), "following a redirect");
            resp = follow.send().await.map_err(|e| Self::transport(&next, e))?;
        }
        Ok((resp, sent))
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
        let mut refreshed = false;
        loop {
            let mut wait = None;
            match self.execute(op, build(&self.client), timeout, true).await {
                Ok((resp, sent)) => {
                    let status = resp.status();
                    if status.is_success() || accept.contains(&status) {
                        return Ok(resp);
                    }
                    if status == StatusCode::UNAUTHORIZED
                        && !refreshed
                        && let (Some(provider), Some(sent)) = (&self.settings.credentials, &sent)
                    {
                        refreshed = true;
                        if provider.refresh(sent).await? {
                            tracing::debug!(op, "credential refreshed after a 401; sending again");
                            continue;
                        }
                    }
                    let retryable = retry == Retry::Idempotent
                        && (status == StatusCode::TOO_MANY_REQUESTS
                            || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED));
                    let after = retry_after(resp.headers());
                    let too_long = after.is_some_and(|a| a > self.settings.max_retry_after);
                    if !retryable || too_long || attempt >= self.settings.retries {
                        return Err(self.status_error(op, resp).await);
                    }
                    wait = after;
                    tracing::debug!(op, %status, attempt, ?after, "retrying after HTTP error");
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Transport(e)) => {
                    let never_sent = e.is_connect();
                    let retryable = never_sent || (retry == Retry::Idempotent && e.is_timeout());
                    let error = self.transport_error(op, &e, timeout);
                    if !retryable || attempt >= self.settings.retries {
                        return Err(error);
                    }
                    tracing::debug!(op, attempt, error = %error, "retrying after transport error");
                }
            }
            attempt += 1;
            let delay = match wait {
                Some(after) => after,
                None => {
                    // Exponential backoff with a little jitter, bounded.
                    let base = self.settings.retry_backoff.as_millis() as u64 * (1u64 << attempt.min(6));
                    let jitter = rand::random::<u64>() % (base / 4 + 1);
                    Duration::from_millis((base + jitter).min(5_000))
                }
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One GET of `path` on the configured host that does not follow a redirect: the
    /// `Location` of a 3xx answer (resolved against the request URL), or `None` for a 2xx.
    pub(crate) async fn redirect_target(&self, path: &str) -> Result<Option<String>> {
        let op = format!("GET {}", path.split('?').next().unwrap_or(path));
        let url = self.url(path);
        let timeout = self.settings.request_timeout;
        let resp = match self.execute(&op, self.client.get(&url), timeout, false).await {
            Ok((resp, _)) => resp,
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Transport(e)) => return Err(self.transport_error(&op, &e, timeout)),
        };
        if resp.status().is_redirection() {
            let location = resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok());
            let target =
                location.and_then(|l| resp.url().join(l).ok()).ok_or_else(|| Error::UnexpectedResponse {
                    backend: self.backend(),
                    operation: op.clone(),
                    message: format!("HTTP {} without a usable Location", resp.status().as_u16()),
                })?;
            return Ok(Some(target.to_string()));
        }
        if resp.status().is_success() {
            return Ok(None);
        }
        Err(self.status_error(&op, resp).await)
    }

    fn transport_error(&self, op: &str, e: &reqwest::Error, timeout: Duration) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                operation: format!("{} {op}", self.backend()),
                after_ms: timeout.as_millis() as u64,
            }
        } else if e.is_connect() || e.is_request() {
            let chain = error_chain(e);
            let message = match super::tls::certificate_hint(&chain) {
                Some(hint) => format!("{op}: {chain} ({hint})"),
                None => format!("{op}: {chain}"),
            };
            Error::BackendUnreachable { backend: self.backend(), message }
        } else {
            Error::UnexpectedResponse {
                backend: self.backend(),
                operation: op.to_owned(),
                message: error_chain(e),
            }
        }
    }

    /// The error for an HTTP error status, keeping the server's message.
    pub(crate) async fn status_error(&self, op: &str, resp: Response) -> Error {
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        let body = resp.text().await.unwrap_or_default();
        classify(&self.backend(), op, status, after, &body)
    }

    /// `POST /api/upload/image` (or `/api/upload/mask`) with ComfyUI's multipart form, the
    /// same on a local ComfyUI and on Comfy Cloud; answers the operation name and the JSON body.
    pub(crate) async fn post_upload(
        &self,
        upload: &super::Upload,
        timeout: Duration,
    ) -> Result<(String, Value)> {
        let (path, original) = match &upload.kind {
            super::UploadKind::File => ("/api/upload/image", None),
            super::UploadKind::Mask { original } => {
                ("/api/upload/mask", serde_json::to_string(original).ok())
            }
        };
        let op = format!("POST {path}");
        let url = self.url(path);
        let mime = crate::job::MediaKind::mime_for(&upload.filename);
        let resp = self
            .send(&op, Retry::ConnectOnly, timeout, &[], |c| {
                let part = reqwest::multipart::Part::stream(upload.data.clone())
                    .file_name(upload.filename.clone())
                    .mime_str(mime)
                    .unwrap_or_else(|_| {
                        reqwest::multipart::Part::stream(upload.data.clone())
                            .file_name(upload.filename.clone())
                    });
                // `type` is always sent: the docs say it defaults to input, the spec to output.
                let mut form = reqwest::multipart::Form::new()
                    .part("image", part)
                    .text("type", upload.folder.as_str())
                    .text("subfolder", upload.subfolder.clone())
                    .text("overwrite", if upload.overwrite { "true" } else { "false" });
                if let Some(original) = &original {
                    form = form.text("original_ref", original.clone());
                }
                c.post(&url).multipart(form)
            })
            .await?;
        let body = self.json(&op, resp).await?;
        Ok((op, body))
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
        let op = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let url = self.url(path);
        let resp = self
            .send(&op, retry, self.settings.request_timeout, accept, |c| {
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
        self.optional_json(&op, resp).await
    }

    /// A JSON body, or `Null` when the body is empty.
    pub(crate) async fn optional_json(&self, op: &str, resp: Response) -> Result<Value> {
        if resp.content_length() == Some(0) {
            return Ok(Value::Null);
        }
        let content_type = content_type(&resp);
        let text = resp.text().await.unwrap_or_default();
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        parse_json_body(&self.backend(), op, &content_type, &text)
    }
}

/// One attempt's failure: a transport error (maybe retried) or an error to return as is.
enum Attempt {
    Transport(reqwest::Error),
    Fatal(Error),
}

/// The server's own message from an error body: ComfyUI's `{"error": {"message", "details"}}`
/// or `{"error": "..."}`, the hosted `{"code", "message"}`, or the start of the text.
fn body_message(body: &str) -> (String, Option<String>) {
    let parsed = serde_json::from_str::<Value>(body).ok();
    let code = parsed.as_ref().and_then(|v| {
        v.get("code")
            .or_else(|| v.get("error").and_then(|e| e.get("code")))
            .or_else(|| v.get("error").and_then(|e| e.get("type")))
            .and_then(Value::as_str)
            .map(str::to_owned)
            // RunComfy: a numeric `error_code` (10001 InsufficientFunds, 422001, ...).
            .or_else(|| v.get("error_code").and_then(Value::as_u64).map(|c| c.to_string()))
    });
    let message = parsed
        .as_ref()
        .and_then(|v| match v.get("error") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(e @ Value::Object(_)) => {
                let m = e.get("message").and_then(Value::as_str).unwrap_or("");
                let d = e.get("details").and_then(Value::as_str).unwrap_or("");
                Some(if d.is_empty() { m.to_owned() } else { format!("{m}: {d}") })
            }
            _ => v.get("message").or_else(|| v.get("error_message")).and_then(Value::as_str).map(|m| match v
                .get("detail")
                .filter(|d| !d.is_null())
            {
                // RunComfy's validation errors list what is wrong in `detail`.
                Some(detail) => format!("{m}: {}", crate::json::preview(detail)),
                None => m.to_owned(),
            }),
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| if body.trim().is_empty() { "(empty body)".into() } else { snippet(body) });
    (message, code)
}

/// Maps an HTTP error status (and its body) to the error a caller can act on: 401
/// `unauthorized`, 402 `insufficient_credits`, 429 `rate_limited`, `queue_full` or
/// `subscription_inactive` (Comfy Cloud overloads 429: the body tells them apart), anything else
/// `backend_http_error`.
pub(crate) fn classify(backend: &str, op: &str, status: u16, after: Option<Duration>, body: &str) -> Error {
    let (message, code) = body_message(body);
    let code = code.unwrap_or_default().to_ascii_lowercase();
    let text = format!("{code} {message}").to_ascii_lowercase();
    let subscription = code.contains("subscription")
        || code.contains("inactivesubscription")
        || text.contains("not paid")
        || text.contains("subscription");
    let backend = backend.to_owned();
    let retry_after_ms = after.map(|d| d.as_millis() as u64);
    match status {
        401 => Error::Unauthorized { backend, message },
        402 => Error::InsufficientCredits { backend, message },
        403 | 429 if subscription => Error::SubscriptionInactive { backend, message },
        429 if code.contains("queue_full") || (text.contains("queue") && text.contains("full")) => {
            Error::QueueFull { backend, message, retry_after_ms }
        }
        429 => Error::RateLimited { backend, message, retry_after_ms },
        _ if code.contains("insufficient") || code == "10001" => {
            Error::InsufficientCredits { backend, message }
        }
        _ => Error::Http { backend, operation: op.to_owned(), status, message },
    }
}

/// The response's `Content-Type` (empty when absent or not text).
pub(crate) fn content_type(resp: &Response) -> String {
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

/// Checks a backend base URL (`what` names it in the error: "ComfyUI URL", "Comfy Cloud URL")
/// and answers it without surrounding blanks or trailing slashes.
pub(crate) fn base_url(url: &str, what: &str, scheme_hint: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let invalid =
        |m: &str| Error::InvalidArgument { argument: what.into(), message: format!("{url:?}: {m}") };
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(|| invalid(scheme_hint))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("has no host"));
    }
    if trimmed.contains(['?', '#']) {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(trimmed.to_owned())
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

    #[test]
    fn hosted_error_statuses_are_told_apart() {
        let c = |status, body: &str| {
            classify("b", "POST /api/prompt", status, Some(Duration::from_secs(3)), body)
        };
        let e = c(402, r#"{"code":"insufficient_credits","message":"Add credits"}"#);
        assert_eq!((e.code(), e.is_retryable()), ("insufficient_credits", false));
        assert!(e.to_string().contains("Add credits"), "{e}");
        let e = c(429, r#"{"message":"User has not paid"}"#);
        assert_eq!((e.code(), e.is_retryable()), ("subscription_inactive", false));
        let e = c(429, r#"{"message":"Rate limit exceeded. Please try again later."}"#);
        assert_eq!((e.code(), e.is_retryable()), ("rate_limited", true));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        let e = c(429, r#"{"error":{"code":"queue_full","message":"The queue holds at most 100 jobs"}}"#);
        assert_eq!((e.code(), e.is_retryable()), ("queue_full", true));
        let e = c(401, r#"{"code":"unauthorized","message":"Invalid API key"}"#);
        assert_eq!((e.code(), e.is_retryable()), ("unauthorized", false));
        let e = c(503, "busy");
        assert_eq!((e.code(), e.is_retryable()), ("backend_http_error", true));
        let e = c(500, "500 Internal Server Error\n\nServer got itself in trouble");
        assert!(e.to_string().contains("Server got itself in trouble"));
    }

    #[test]
    fn retry_after_seconds_are_read() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), None);
    }
}
