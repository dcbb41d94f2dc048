//! Saved workflows through ComfyUI's user-data routes, and the official templates it serves as
//! static files.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::urlencode;
use crate::backend::http::{Http, Retry};
use crate::backend::{SavedWorkflowInfo, WORKFLOWS_DIR, saved_workflow_name, saved_workflow_path};
use crate::error::{Error, Result};

/// Template names as the index spells them (`^[a-zA-Z0-9._-]+$`).
fn valid_template_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The ComfyUI-compatible user-data and template routes, shared by the local and the Comfy Cloud
/// backends.
impl Http {
    fn userdata_unexpected(&self, op: &str, message: String) -> Error {
        Error::UnexpectedResponse { backend: self.settings().name.clone(), operation: op.to_owned(), message }
    }

    /// Reads a response body as text.
    async fn text(&self, op: &str, resp: reqwest::Response) -> Result<String> {
        resp.text()
            .await
            .map_err(|e| self.userdata_unexpected(op, format!("the body could not be read: {e}")))
    }

    /// A saved workflow entry from a `full_info` object (or a bare path string).
    fn info_of(&self, op: &str, v: &Value, strip_dir: bool) -> Result<SavedWorkflowInfo> {
        let path = match v {
            Value::String(p) => p.as_str(),
            other => other.get("path").and_then(Value::as_str).ok_or_else(|| {
                self.userdata_unexpected(op, format!("no path in {}", crate::json::preview(other)))
            })?,
        };
        let name = if strip_dir {
            path.strip_prefix(&format!("{WORKFLOWS_DIR}/")).unwrap_or(path).to_owned()
        } else {
            path.to_owned()
        };
        Ok(SavedWorkflowInfo {
            name,
            size: v.get("size").and_then(Value::as_u64),
            modified: v.get("modified").and_then(Value::as_f64),
        })
    }

    pub(crate) async fn userdata_list(&self) -> Result<Vec<SavedWorkflowInfo>> {
        let path = format!("/api/userdata?dir={WORKFLOWS_DIR}&recurse=true&full_info=true");
        let (op, resp) =
            self.request(Method::GET, &path, Retry::Idempotent, &[StatusCode::NOT_FOUND], None).await?;
        // 404 "Directory not found": nothing has been saved yet.
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let v = self.json(&op, resp).await?;
        let Value::Array(items) = &v else {
            return Err(
                self.userdata_unexpected(&op, format!("expected a list, got {}", crate::json::preview(&v)))
            );
        };
        let mut out = items.iter().map(|item| self.info_of(&op, item, false)).collect::<Result<Vec<_>>>()?;
        out.retain(|i| i.name.to_ascii_lowercase().ends_with(".json"));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn not_found(&self, name: &str) -> Error {
        let names: Vec<String> =
            self.userdata_list().await.map(|l| l.into_iter().map(|i| i.name).collect()).unwrap_or_default();
        Error::SavedWorkflowNotFound {
            name: name.to_owned(),
            suggestions: crate::suggest::closest(name, names.iter().map(String::as_str), 3),
        }
    }

    pub(crate) async fn userdata_get(&self, name: &str) -> Result<Value> {
        let name = saved_workflow_name(name, "name")?;
        let path = format!("/api/userdata/{}", urlencode(&saved_workflow_path(&name)));
        let (op, resp) =
            self.request(Method::GET, &path, Retry::Idempotent, &[StatusCode::NOT_FOUND], None).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(self.not_found(&name).await);
        }
        let text = self.text(&op, resp).await?;
        crate::json::parse_strict(&text, &format!("saved workflow {name:?}"))
    }

    pub(crate) async fn userdata_save(
        &self,
        name: &str,
        workflow: &Value,
        overwrite: bool,
    ) -> Result<SavedWorkflowInfo> {
        let name = saved_workflow_name(name, "name")?;
        let path = format!(
            "/api/userdata/{}?overwrite={overwrite}&full_info=true",
            urlencode(&saved_workflow_path(&name))
        );
        let body = serde_json::to_vec_pretty(workflow).unwrap_or_default();
        let (op, resp) = self
            .request(Method::POST, &path, Retry::ConnectOnly, &[StatusCode::CONFLICT], Some(&body))
            .await?;
        if resp.status() == StatusCode::CONFLICT {
            return Err(Error::AlreadyExists { what: "saved workflow", name });
        }
        let v = self.json(&op, resp).await?;
        self.info_of(&op, &v, true)
    }

    pub(crate) async fn userdata_delete(&self, name: &str) -> Result<()> {
        let name = saved_workflow_name(name, "name")?;
        let path = format!("/api/userdata/{}", urlencode(&saved_workflow_path(&name)));
        let (_, resp) =
            self.request(Method::DELETE, &path, Retry::ConnectOnly, &[StatusCode::NOT_FOUND], None).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(self.not_found(&name).await);
        }
        Ok(())
    }

    pub(crate) async fn userdata_move(
        &self,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<SavedWorkflowInfo> {
        let from = saved_workflow_name(from, "from")?;
        let to = saved_workflow_name(to, "to")?;
        let path = format!(
            "/api/userdata/{}/move/{}?overwrite={overwrite}&full_info=true",
            urlencode(&saved_workflow_path(&from)),
            urlencode(&saved_workflow_path(&to))
        );
        let accept = [StatusCode::NOT_FOUND, StatusCode::CONFLICT];
        let (op, resp) = self.request(Method::POST, &path, Retry::ConnectOnly, &accept, None).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Err(self.not_found(&from).await),
            StatusCode::CONFLICT => Err(Error::AlreadyExists { what: "saved workflow", name: to }),
            _ => {
                let v = self.json(&op, resp).await?;
                self.info_of(&op, &v, true)
            }
        }
    }

    /// GET a static file under `/templates/`; 404 is `None`.
    async fn templates_file(&self, file: &str) -> Result<Option<Value>> {
        let path = format!("/templates/{file}");
        let (op, resp) =
            self.request(Method::GET, &path, Retry::Idempotent, &[StatusCode::NOT_FOUND], None).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.json(&op, resp).await.map(Some)
    }

    pub(crate) async fn official_index(&self) -> Result<Value> {
        self.templates_file("index.json").await?.ok_or_else(|| Error::NotSupported {
            backend: self.settings().name.clone(),
            operation: "official workflow templates",
            reason: "GET /templates/index.json is 404: the comfyui-workflow-templates package is \
                     not installed on this server (pip install comfyui-workflow-templates)"
                .into(),
        })
    }

    pub(crate) async fn official_template(&self, name: &str) -> Result<Value> {
        let known = |index: &Value| -> Vec<String> {
            crate::gallery::TemplateIndex::from_value(index)
                .map(|i| i.entries.into_iter().map(|e| e.name).collect())
                .unwrap_or_default()
        };
        if !valid_template_name(name) {
            return Err(Error::InvalidArgument {
                argument: "name".into(),
                message: format!("{name:?} is not a template name (letters, digits, '.', '_' and '-')"),
            });
        }
        match self.templates_file(&format!("{name}.json")).await? {
            Some(v) => Ok(v),
            None => {
                let names = known(&self.official_index().await?);
                Err(Error::TemplateNotFound {
                    name: name.to_owned(),
                    suggestions: crate::suggest::closest(name, names.iter().map(String::as_str), 3),
                })
            }
        }
    }
}
