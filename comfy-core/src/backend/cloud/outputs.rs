//! Outputs on Comfy Cloud: `GET /api/view` answers 302 with a short-lived signed storage URL
//! (GCS: `X-Goog-Signature`, ...). The redirect is followed without any credential, the signed
//! URL is used verbatim, and its expiry is read from its query.

use futures::TryStreamExt;
use serde_json::Value;

use super::ComfyCloud;
use crate::backend::http::{Retry, error_chain};
use crate::backend::local::urlencode;
use crate::backend::{Download, HostedUrl};
use crate::error::{Error, Result};
use crate::job::FileRef;

/// The `/api/view` path of a file.
pub(super) fn view_path(file: &FileRef) -> String {
    format!(
        "/api/view?filename={}&subfolder={}&type={}",
        urlencode(&file.filename),
        urlencode(&file.subfolder),
        file.folder.as_str()
    )
}

/// `YYYYMMDDTHHMMSSZ` (the signing date of GCS V4 and S3 URLs) in ms since the epoch.
fn compact_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let iso = format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]);
    crate::store::parse_time(&iso)
}

/// When a signed URL expires, from its query: GCS V4 / S3 (`X-Goog-Date` + `X-Goog-Expires`,
/// `X-Amz-Date` + `X-Amz-Expires`) or GCS V2 (`Expires` in Unix seconds). `None` when it does
/// not say (the lifetime is a server setting, about 6 hours on Comfy Cloud, not a contract).
pub fn signed_url_expiry(url: &str) -> Option<i64> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let mut date = None;
    let mut lifetime = None;
    let mut expires = None;
    for (k, v) in parsed.query_pairs() {
        match k.to_ascii_lowercase().as_str() {
            "x-goog-date" | "x-amz-date" => date = compact_date(&v),
            "x-goog-expires" | "x-amz-expires" => lifetime = v.parse::<i64>().ok(),
            "expires" => expires = v.parse::<i64>().ok(),
            _ => {}
        }
    }
    match (date, lifetime, expires) {
        (Some(d), Some(l), _) => Some(d + l * 1000),
        (_, _, Some(e)) => Some(e * 1000),
        _ => None,
    }
}

impl ComfyCloud {
    /// Streams a response body as a [`Download`].
    fn stream(&self, resp: reqwest::Response) -> Download {
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_length = resp.content_length();
        let backend = self.inner.config.name.clone();
        let stream = resp.bytes_stream().map_err(move |e| Error::UnexpectedResponse {
            backend: backend.clone(),
            operation: "download".into(),
            message: error_chain(&e),
        });
        Download { content_type, content_length, stream: Box::pin(stream) }
    }

    /// `GET /api/view`, following the redirect to storage without credentials.
    pub(super) async fn download_file(&self, file: &FileRef) -> Result<Download> {
        let op = format!("GET /api/view {}", file.filename);
        let url = self.http().url(&view_path(file));
        let timeout = self.inner.config.transfer_timeout;
        let resp = self.http().send(&op, Retry::Idempotent, timeout, &[], |c| c.get(&url)).await?;
        Ok(self.stream(resp))
    }

    /// Any URL: with the credential on the Cloud's own host, without it anywhere else.
    pub(super) async fn download_any(&self, url: &str) -> Result<Download> {
        reqwest::Url::parse(url).map_err(|e| Error::InvalidArgument {
            argument: "url".into(),
            message: format!("{url:?} is not a URL: {e}"),
        })?;
        let op = "GET (hosted output URL)";
        let timeout = self.inner.config.transfer_timeout;
        let resp = self.http().send(op, Retry::Idempotent, timeout, &[], |c| c.get(url)).await?;
        Ok(self.stream(resp))
    }

    /// The signed storage URL of a file (the target of `/api/view`'s redirect) and its expiry.
    pub(super) async fn signed_url(&self, file: &FileRef) -> Result<HostedUrl> {
        match self.http().redirect_target(&view_path(file)).await? {
            Some(url) => Ok(HostedUrl { expires_at: signed_url_expiry(&url), url }),
            None => Err(Error::UnexpectedResponse {
                backend: self.inner.config.name.clone(),
                operation: "GET /api/view".into(),
                message: "the file was served directly, not redirected to a signed URL".into(),
            }),
        }
    }
}

/// An output list entry of the Cloud's `/api/jobs` answer is ComfyUI's node-keyed outputs; a
/// `null` or missing value means "not known here" (look in history).
pub(super) fn outputs_of(detail: &Value) -> Option<&Value> {
    detail.get("outputs").filter(|o| o.as_object().is_some_and(|m| !m.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_url_expiry_is_read_from_the_query() {
        let v4 = "https://storage.googleapis.com/b/o.png?X-Goog-Algorithm=GOOG4-RSA-SHA256\
                  &X-Goog-Date=20261203T093000Z&X-Goog-Expires=21600&X-Goog-Signature=ab";
        let start = crate::store::parse_time("2026-12-03T09:30:00Z").unwrap();
        assert_eq!(signed_url_expiry(v4), Some(start + 21_600_000));
        let v2 = "https://storage.googleapis.com/b/o.png?GoogleAccessId=x&Expires=1764000000&Signature=s";
        assert_eq!(signed_url_expiry(v2), Some(1_764_000_000_000));
        let s3 = "https://s3.example/o.png?X-Amz-Date=20261203T093000Z&X-Amz-Expires=60&X-Amz-Signature=s";
        assert_eq!(signed_url_expiry(s3), Some(start + 60_000));
        assert_eq!(signed_url_expiry("https://cdn.example/o.png"), None);
        assert_eq!(signed_url_expiry("https://x/o?X-Goog-Date=garbage&X-Goog-Expires=5"), None);
    }
}
