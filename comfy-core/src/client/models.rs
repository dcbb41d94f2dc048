//! Finding model files across the backend's model folders.

use serde::Serialize;

use super::Comfy;
use crate::error::Result;

/// One model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ModelHit {
    /// Its folder (`checkpoints`, `loras`, ...).
    pub folder: String,
    /// The file name, as node inputs take it.
    pub name: String,
}

impl Comfy {
    /// Model files whose names contain every word of `query` (case-insensitive), best first
    /// (words that start the file name rank higher), in `folder` or in every folder. A folder
    /// that fails to list is skipped when searching everywhere, an error when it was named.
    pub async fn search_models(
        &self,
        query: &str,
        folder: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ModelHit>> {
        let backend = &self.inner.backend;
        let folders = match folder {
            Some(f) => vec![f.to_owned()],
            None => backend.model_folders().await?,
        };
        let terms: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let mut hits: Vec<(u32, ModelHit)> = Vec::new();
        for folder_name in folders {
            let models = match backend.models(&folder_name).await {
                Ok(m) => m,
                Err(e) if folder.is_some() => return Err(e),
                Err(_) => continue,
            };
            for name in models {
                let lower = name.to_lowercase();
                if !terms.iter().all(|t| lower.contains(t.as_str())) {
                    continue;
                }
                let stem = lower.rsplit('/').next().unwrap_or(&lower);
                let score =
                    terms.iter().map(|t| if stem.starts_with(t.as_str()) { 3 } else { 1 }).sum::<u32>();
                hits.push((score, ModelHit { folder: folder_name.clone(), name }));
            }
        }
        hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
        Ok(hits.into_iter().take(limit).map(|(_, h)| h).collect())
    }
}
