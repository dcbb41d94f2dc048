//! Official workflow templates (the `comfyui-workflow-templates` package ComfyUI serves):
//! search_templates and get_template. Run one with run_saved_workflow {template: true}.

use comfy_core::gallery::{TemplateEntry, TemplateQuery};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::shared::{NameArgs, SummaryView, blame_name, summary_view};
use super::{CallCtx, Registry, ToolDef, ToolResult};

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "search_templates",
            "Search templates",
            "Search the official ComfyUI templates by words, tag, media type or model.",
        ),
        search_templates,
    );
    r.add(
        ToolDef::read(
            "get_template",
            "Template",
            "An official template's description, tags and editable inputs.",
        ),
        get_template,
    );
}

/// Arguments of search_templates.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Words (title, name, tags, models, description).
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub query: Option<String>,
    /// e.g. "Text to Image".
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub tag: Option<String>,
    /// image, video, audio, 3d, llm.
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub media_type: Option<String>,
    /// e.g. "flux".
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub model: Option<String>,
    /// Most results (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<usize>,
}

/// The answer of search_templates.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateSearch {
    /// How many matched in all.
    pub total: usize,
    /// The best matches.
    pub templates: Vec<TemplateEntry>,
}

async fn search_templates(ctx: CallCtx, args: SearchArgs) -> ToolResult<TemplateSearch> {
    let index = ctx.state.comfy.template_index().await?;
    let query = TemplateQuery {
        text: args.query.as_deref(),
        tag: args.tag.as_deref(),
        media_type: args.media_type.as_deref(),
        model: args.model.as_deref(),
    };
    let hits = index.search(&query);
    let templates = hits.iter().take(args.limit.unwrap_or(10)).map(|h| h.entry.clone()).collect();
    Ok(TemplateSearch { total: hits.len(), templates }.into())
}

async fn get_template(ctx: CallCtx, args: NameArgs) -> ToolResult<SummaryView> {
    let index = ctx.state.comfy.template_index().await?;
    let converted = ctx.state.comfy.official_template(&args.name).await.map_err(blame_name)?;
    let mut view = summary_view(&ctx, &args.name, converted).await?;
    if let Some(entry) = index.get(&args.name) {
        view.description = Some(entry.description.clone());
        view.tags = entry.tags.clone();
        view.models = entry.models.clone();
    }
    Ok(view.into())
}
