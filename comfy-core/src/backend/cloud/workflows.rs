//! Comfy Cloud's own saved-workflow store (`/api/workflows`, UUID-keyed and versioned; not in
//! the OpenAPI spec, used by comfy-cli). The ComfyUI-compatible user-data store
//! (`/api/userdata`, by name) is what the [`Backend`](crate::backend::Backend) saved-workflow
//! methods use; this is the Cloud-only one the web editor lists.

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::ComfyCloud;
use crate::backend::http::Retry;
use crate::backend::local::urlencode;
use crate::error::{Error, Result};

/// One saved workflow of the Cloud workflow store.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CloudWorkflow {
    /// Its id (a UUID).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Its latest version, as Cloud reports it.
    pub latest_version: Option<Value>,
    /// When it was created (milliseconds since the Unix epoch), if known.
    pub created_at: Option<i64>,
    /// When it was last updated, if known.
    pub updated_at: Option<i64>,
}

fn time_of(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_str().and_then(crate::store::parse_time).or_else(|| super::status::millis(v))
}

impl CloudWorkflow {
    fn from_value(v: &Value) -> Option<CloudWorkflow> {
        Some(CloudWorkflow {
            id: v.get("id")?.as_str()?.to_owned(),
            name: v.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
            description: v.get("description").and_then(Value::as_str).map(str::to_owned),
            latest_version: v.get("latest_version").cloned().filter(|x| !x.is_null()),
            created_at: time_of(v.get("created_at")),
            updated_at: time_of(v.get("updated_at")),
        })
    }
}

impl ComfyCloud {
    fn workflow_error(&self, op: &str, v: &Value) -> Error {
        Error::UnexpectedResponse {
            backend: self.inner.config.name.clone(),
            operation: op.to_owned(),
            message: format!("not a workflow list or entry: {}", crate::json::preview(v)),
        }
    }

    /// The Cloud saved workflows, newest update first; `name` filters by a substring.
    pub async fn cloud_workflows(&self, name: Option<&str>, limit: u32) -> Result<Vec<CloudWorkflow>> {
        let mut path = format!("/api/workflows?limit={}&sort=update_time&order=desc", limit.clamp(1, 100));
        if let Some(n) = name {
            path.push_str(&format!("&name={}", urlencode(n)));
        }
        let v = self.http().get_json(&path).await?;
        let items = v
            .get("data")
            .or(Some(&v))
            .and_then(Value::as_array)
            .ok_or_else(|| self.workflow_error("GET /api/workflows", &v))?;
        Ok(items.iter().filter_map(CloudWorkflow::from_value).collect())
    }

    /// A Cloud saved workflow's latest content (UI "save" format, as the editor stored it).
    pub async fn cloud_workflow_content(&self, id: &str) -> Result<Value> {
        let path = format!("/api/workflows/{}/content", urlencode(id));
        let (op, resp) = self
            .http()
            .request(Method::GET, &path, Retry::Idempotent, &[StatusCode::NOT_FOUND], None)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::SavedWorkflowNotFound { name: id.to_owned(), suggestions: Vec::new() });
        }
        let v = self.http().json(&op, resp).await?;
        v.get("workflow_json").cloned().ok_or_else(|| self.workflow_error(&op, &v))
    }

    /// Saves a new Cloud workflow (UI "save" format).
    pub async fn create_cloud_workflow(
        &self,
        name: &str,
        workflow: &Value,
        description: Option<&str>,
    ) -> Result<CloudWorkflow> {
        let mut body = json!({"name": name, "workflow_json": workflow});
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        let v = self.http().post_json("/api/workflows", &body, Retry::ConnectOnly).await?;
        let mut created =
            CloudWorkflow::from_value(&v).ok_or_else(|| self.workflow_error("POST /api/workflows", &v))?;
        if created.name.is_empty() {
            created.name = name.to_owned();
        }
        Ok(created)
    }

    /// Deletes a Cloud workflow by id.
    pub async fn delete_cloud_workflow(&self, id: &str) -> Result<()> {
        let path = format!("/api/workflows/{}", urlencode(id));
        let (_, resp) = self
            .http()
            .request(Method::DELETE, &path, Retry::ConnectOnly, &[StatusCode::NOT_FOUND], None)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::SavedWorkflowNotFound { name: id.to_owned(), suggestions: Vec::new() });
        }
        Ok(())
    }
}
