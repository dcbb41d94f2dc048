//! Discovery: list_models, search_models, search_nodes, get_node_info.

use comfy_core::ModelHit;
use comfy_core::catalog::{NodeInfo, SearchHit, SearchQuery};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CallCtx, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "list_models",
            "List models",
            "Model files in a folder (checkpoints, loras, vae, ...), or the folders.",
        ),
        list_models,
    );
    r.add(ToolDef::read("search_models", "Search models", "Find model files by name."), search_models);
    r.add(
        ToolDef::read(
            "search_nodes",
            "Search nodes",
            "Find node classes by words, input/output type or category.",
        ),
        search_nodes,
    );
    r.add(
        ToolDef::read(
            "get_node_info",
            "Node info",
            "A node class's inputs (type, default, bounds, choices) and outputs.",
        ),
        get_node_info,
    );
}

/// Arguments of list_models.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListModelsArgs {
    /// e.g. `checkpoints`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub folder: Option<String>,
}

/// The answer of list_models.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelList {
    /// The folder listed, if one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Model folder names (when no folder was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folders: Option<Vec<String>>,
    /// Model files (when a folder was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
}

fn bad_folder(e: comfy_core::Error, folders: Option<&[String]>) -> ToolError {
    let mut t = ToolError::from(e);
    if t.code == "invalid_argument" {
        t = t.with_field("folder");
        if let Some(f) = folders {
            t = t.with_expected(format!("one of: {}", f.join(", ")));
        }
    }
    t
}

async fn list_models(ctx: CallCtx, args: ListModelsArgs) -> ToolResult<ModelList> {
    let backend = ctx.state.comfy.backend();
    match args.folder {
        None => {
            let folders = backend.model_folders().await?;
            Ok(ModelList { folder: None, folders: Some(folders), models: None }.into())
        }
        Some(folder) => match backend.models(&folder).await {
            Ok(models) => Ok(ModelList { folder: Some(folder), folders: None, models: Some(models) }.into()),
            Err(e) => {
                let folders = backend.model_folders().await.ok();
                Err(bad_folder(e, folders.as_deref()))
            }
        },
    }
}

/// Arguments of search_models.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchModelsArgs {
    /// Words to find in file names (all must match, case-insensitive).
    #[schemars(length(min = 1, max = 200))]
    pub query: String,
    /// Only this folder.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub folder: Option<String>,
    /// At most this many (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

/// The answer of search_models.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelHits {
    /// Matches, best first.
    pub matches: Vec<ModelHit>,
}

async fn search_models(ctx: CallCtx, args: SearchModelsArgs) -> ToolResult<ModelHits> {
    let limit = args.limit.unwrap_or(20) as usize;
    let matches = ctx
        .state
        .comfy
        .search_models(&args.query, args.folder.as_deref(), limit)
        .await
        .map_err(|e| bad_folder(e, None))?;
    Ok(ModelHits { matches }.into())
}

/// Arguments of search_nodes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchNodesArgs {
    /// Words to find (class name, display name, category, description); may be empty when a
    /// filter is given.
    #[schemars(length(max = 200))]
    pub query: String,
    /// e.g. `IMAGE`, `LATENT`, `MODEL`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub input_type: Option<String>,
    /// e.g. `LATENT`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub output_type: Option<String>,
    /// Category prefix, e.g. `sampling`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub category: Option<String>,
    /// At most this many (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// The answer of search_nodes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NodeHits {
    /// Matches, best first.
    pub nodes: Vec<SearchHit>,
}

async fn search_nodes(ctx: CallCtx, args: SearchNodesArgs) -> ToolResult<NodeHits> {
    let catalog = ctx.state.comfy.catalog().await?;
    let query = SearchQuery {
        text: &args.query,
        input_type: args.input_type.as_deref(),
        output_type: args.output_type.as_deref(),
        category: args.category.as_deref(),
        limit: args.limit.unwrap_or(20) as usize,
    };
    Ok(NodeHits { nodes: catalog.search(&query) }.into())
}

/// Arguments of get_node_info.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeInfoArgs {
    /// e.g. `KSampler`.
    #[schemars(length(min = 1, max = 200))]
    pub class_type: String,
}

async fn get_node_info(ctx: CallCtx, args: NodeInfoArgs) -> ToolResult<NodeInfo> {
    Ok(ctx.state.comfy.catalog().await?.node_info(&args.class_type)?.into())
}
