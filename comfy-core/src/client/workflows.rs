//! Workflows in any format, saved workflows and official templates, through the backend.

use serde_json::Value;

use super::Comfy;
use crate::backend::SavedWorkflowInfo;
use crate::error::Result;
use crate::gallery::TemplateIndex;
use crate::ui::{self, UiConversion};

impl Comfy {
    /// Accepts a workflow in either format: API format is parsed as is; an editor (UI) workflow
    /// is converted against the backend's live catalogue ([`ui::to_api`]). The catalogue is only
    /// fetched when needed.
    pub async fn workflow_from_value(&self, value: &Value) -> Result<UiConversion> {
        if ui::is_ui(value) {
            let catalog = self.backend().catalog(false).await?;
            return ui::to_api(value, &catalog);
        }
        ui::to_api_any(value, &crate::catalog::Catalog::default())
    }

    /// A saved workflow (the editor's `workflows/` folder), converted to the API format.
    pub async fn saved_workflow(&self, name: &str) -> Result<UiConversion> {
        let value = self.backend().get_saved_workflow(name).await?;
        self.workflow_from_value(&value).await
    }

    /// Saves a workflow under `name` in the editor's format: an API-format workflow is converted
    /// with [`ui::to_ui`] (against the live catalogue) so it opens in the editor; a UI one is
    /// stored as given.
    pub async fn save_workflow(
        &self,
        name: &str,
        value: &Value,
        overwrite: bool,
    ) -> Result<SavedWorkflowInfo> {
        let document = if ui::is_ui(value) {
            value.clone()
        } else {
            let workflow = crate::Workflow::from_value(value.clone())?;
            let catalog = self.backend().catalog(false).await?;
            ui::to_ui(&workflow, &catalog)?
        };
        self.backend().save_workflow(name, &document, overwrite).await
    }

    /// The official templates index the backend serves.
    pub async fn template_index(&self) -> Result<TemplateIndex> {
        TemplateIndex::from_value(&self.backend().template_index().await?)
    }

    /// One official template, converted to the API format.
    pub async fn official_template(&self, name: &str) -> Result<UiConversion> {
        let value = self.backend().template_workflow(name).await?;
        self.workflow_from_value(&value).await
    }
}
