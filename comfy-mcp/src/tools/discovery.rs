//! Discovery: list_models, search_models, search_nodes, get_node_info.

use comfy_core::catalog::{InputKind, SearchQuery, Section};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CallCtx, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "list_models",
            "List models",
            "Model files in one folder (checkpoints, loras, vae, ...); without a folder, the folder names.",
        ),
        list_models,
    );
    r.add(
        ToolDef::read("search_models", "Search models", "Find model files by name, in every folder or one."),
        search_models,
    );
    r.add(
        ToolDef::read(
            "search_nodes",
            "Search nodes",
            "Find node classes by words and by input type, output type or category.",
        ),
        search_nodes,
    );
    r.add(
        ToolDef::read(
            "get_node_info",
            "Node info",
            "Inputs (type, default, bounds, choices) and outputs of one node class.",
        ),
        get_node_info,
    );
}

/// Arguments of list_models.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListModelsArgs {
    /// Model folder, e.g. `checkpoints`, `loras`, `vae`.
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

/// One model file.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelHit {
    /// Its folder.
    pub folder: String,
    /// The file name, as node inputs take it.
    pub name: String,
}

/// The answer of search_models.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelHits {
    /// Matches, best first.
    pub matches: Vec<ModelHit>,
}

async fn search_models(ctx: CallCtx, args: SearchModelsArgs) -> ToolResult<ModelHits> {
    let backend = ctx.state.comfy.backend();
    let folders = match &args.folder {
        Some(f) => vec![f.clone()],
        None => backend.model_folders().await?,
    };
    let terms: Vec<String> = args.query.split_whitespace().map(str::to_lowercase).collect();
    let mut hits: Vec<(u32, ModelHit)> = Vec::new();
    for folder in folders {
        let models = match backend.models(&folder).await {
            Ok(m) => m,
            Err(e) if args.folder.is_some() => return Err(bad_folder(e, None)),
            Err(_) => continue,
        };
        for name in models {
            let lower = name.to_lowercase();
            if !terms.iter().all(|t| lower.contains(t.as_str())) {
                continue;
            }
            let stem = lower.rsplit('/').next().unwrap_or(&lower).to_owned();
            let score = terms.iter().map(|t| if stem.starts_with(t.as_str()) { 3 } else { 1 }).sum::<u32>();
            hits.push((score, ModelHit { folder: folder.clone(), name }));
        }
    }
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let limit = args.limit.unwrap_or(20) as usize;
    Ok(ModelHits { matches: hits.into_iter().take(limit).map(|(_, h)| h).collect() }.into())
}

/// Arguments of search_nodes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchNodesArgs {
    /// Words to find (class name, display name, category, description); may be empty when a
    /// filter is given.
    #[schemars(length(max = 200))]
    pub query: String,
    /// Only nodes with an input of this type (`IMAGE`, `LATENT`, `MODEL`, ...).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub input_type: Option<String>,
    /// Only nodes with an output of this type.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub output_type: Option<String>,
    /// Only nodes whose category starts with this (`sampling`, `image/upscaling`, ...).
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub category: Option<String>,
    /// At most this many (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// One node class found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NodeHit {
    /// Class name (`class_type` in workflows).
    pub class_type: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Category.
    pub category: String,
}

/// The answer of search_nodes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NodeHits {
    /// Matches, best first.
    pub nodes: Vec<NodeHit>,
}

async fn search_nodes(ctx: CallCtx, args: SearchNodesArgs) -> ToolResult<NodeHits> {
    let catalog = ctx.state.catalog().await?;
    let query = SearchQuery {
        text: &args.query,
        input_type: args.input_type.as_deref(),
        output_type: args.output_type.as_deref(),
        category: args.category.as_deref(),
        limit: args.limit.unwrap_or(20) as usize,
    };
    let nodes = catalog
        .search(&query)
        .into_iter()
        .map(|h| NodeHit { class_type: h.name, display_name: h.display_name, category: h.category })
        .collect();
    Ok(NodeHits { nodes }.into())
}

/// Arguments of get_node_info.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeInfoArgs {
    /// The class name, e.g. `KSampler`.
    #[schemars(length(min = 1, max = 200))]
    pub class_type: String,
}

/// One input of a node class.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InputInfo {
    /// Input name.
    pub name: String,
    /// INT, FLOAT, STRING, BOOLEAN, COMBO, or a link type (IMAGE, MODEL, ...).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Must be given.
    pub required: bool,
    /// Only a link can go here (no literal value).
    pub link_only: bool,
    /// Default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Minimum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// Allowed values (COMBO; first 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Value>>,
    /// How many options there are in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options_total: Option<usize>,
    /// Tooltip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tooltip: Option<String>,
}

/// One output of a node class.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OutputInfo {
    /// Output name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// The answer of get_node_info.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NodeInfo {
    /// Class name.
    pub class_type: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Category.
    pub category: String,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// An output node (a workflow needs at least one).
    pub output_node: bool,
    /// Inputs in widget order (required first).
    pub inputs: Vec<InputInfo>,
    /// Outputs in slot order (links use the index).
    pub outputs: Vec<OutputInfo>,
}

async fn get_node_info(ctx: CallCtx, args: NodeInfoArgs) -> ToolResult<NodeInfo> {
    let catalog = ctx.state.catalog().await?;
    let Some(node) = catalog.node(&args.class_type) else {
        let suggestions =
            if args.class_type.len() <= 256 { catalog.suggest_classes(&args.class_type) } else { vec![] };
        let mut e =
            ToolError::new("unknown_class", format!("no node class {:?} on this server", args.class_type))
                .with_field("class_type");
        e = e.with_expected(if suggestions.is_empty() {
            "a class name from search_nodes".to_owned()
        } else {
            format!("did you mean {}?", suggestions.join(", "))
        });
        return Err(e);
    };
    let inputs = node
        .inputs
        .iter()
        .filter(|i| i.section != Section::Hidden)
        .map(|i| {
            let options = match &i.kind {
                InputKind::Combo { options, .. } => Some(options),
                _ => None,
            };
            InputInfo {
                name: i.name.clone(),
                type_name: i.kind.type_name().to_owned(),
                required: i.is_required(),
                link_only: !i.kind.takes_literal(),
                default: i.options.default.clone(),
                min: i.options.min,
                max: i.options.max,
                step: i.options.step,
                options: options.map(|o| o.iter().take(100).cloned().collect()),
                options_total: options.map(Vec::len).filter(|n| *n > 100),
                tooltip: i.options.tooltip.clone(),
            }
        })
        .collect();
    let outputs = node
        .outputs
        .iter()
        .map(|o| OutputInfo { name: o.name.clone(), type_name: o.type_name.clone() })
        .collect();
    Ok(NodeInfo {
        class_type: node.name.clone(),
        display_name: node.display_name.clone(),
        category: node.category.clone(),
        description: node.description.clone(),
        output_node: node.output_node,
        inputs,
        outputs,
    }
    .into())
}
