//! Template parameter defaults: get_defaults, set_defaults.

use comfy_core::DefaultsLayer;
use comfy_core::template::{EffectiveDefault, ParamDefaults};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::shared::NoArgs;
use super::{CallCtx, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

/// Serializes config-file rewrites within this process.
static PERSIST_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "get_defaults",
            "Get defaults",
            "Template parameter defaults and where each comes from.",
        ),
        get_defaults,
    );
    r.add(
        ToolDef {
            idempotent: true,
            ..ToolDef::write(
                "set_defaults",
                "Set defaults",
                "Set template parameter defaults (null removes one); persist=true saves them.",
            )
        },
        set_defaults,
    );
}

/// The answer of get_defaults and set_defaults.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DefaultsView {
    /// Every parameter name, sorted, with the value a call would get and its layer.
    pub defaults: Vec<EffectiveDefault>,
    /// The layers: runtime (set_defaults), config (`[defaults]` of the config file), env
    /// (`COMFY_DEFAULT_<NAME>`).
    #[serde(flatten)]
    pub layers: ParamDefaults,
    /// A config file is in use (set_defaults can persist).
    pub config_file: bool,
    /// Names set that no template has (kept for templates added later).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unused: Vec<String>,
    /// Written to the config file (set_defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persisted: Option<bool>,
}

fn view(ctx: &CallCtx) -> DefaultsView {
    let lib = ctx.state.comfy.templates().snapshot();
    let layers = ctx.state.comfy.param_defaults();
    DefaultsView {
        defaults: layers.effective(lib.list().iter().map(|t| t.as_ref())),
        layers,
        config_file: ctx.state.settings.config_file.is_some(),
        unused: Vec::new(),
        persisted: None,
    }
}

async fn get_defaults(ctx: CallCtx, _: NoArgs) -> ToolResult<DefaultsView> {
    Ok(view(&ctx).into())
}

fn values_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "minProperties": 1,
        "maxProperties": 100,
        "description": "{param: value}; null removes the default."
    })
}

/// Arguments of set_defaults.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDefaultsArgs {
    /// Name to value.
    #[schemars(schema_with = "values_schema")]
    pub values: Map<String, Value>,
    /// Also write them to the config file.
    #[serde(default)]
    pub persist: bool,
}

async fn set_defaults(ctx: CallCtx, args: SetDefaultsArgs) -> ToolResult<DefaultsView> {
    if args.values.is_empty() || args.values.len() > 100 {
        return Err(ToolError::invalid("values", "give 1 to 100 {param: value} entries"));
    }
    if args.persist && ctx.state.settings.config_file.is_none() {
        return Err(ToolError::new(
            "no_config_file",
            "persist=true needs a config file, and the server was started without one (--config / \
             COMFY_MCP_CONFIG); call again without persist to set them for this run",
        )
        .with_field("persist"));
    }
    let field = |e: comfy_core::Error| match &e {
        comfy_core::Error::InvalidParameter { param, .. } => {
            let field = format!("values.{param}");
            ToolError::from(e).with_field(field)
        }
        _ => ToolError::from(e),
    };
    // Checked before anything is written: a bad value changes neither the file nor the layers.
    ctx.state.comfy.enrich_templates().await;
    let checked = ctx.state.comfy.check_param_defaults(&args.values).map_err(field)?;
    if args.persist {
        let path = ctx.state.settings.config_file.clone().unwrap_or_default();
        let _guard = PERSIST_LOCK.lock().await;
        let values = checked.values.clone();
        tokio::task::spawn_blocking(move || crate::config_edit::persist_defaults(&path, &values))
            .await
            .map_err(|e| ToolError::new("internal_error", e.to_string()))?
            .map_err(|e| ToolError::new("config_write_failed", e.0).with_field("persist"))?;
    }
    let layer = if args.persist { DefaultsLayer::Config } else { DefaultsLayer::Runtime };
    let set = ctx.state.comfy.set_param_defaults(&checked.values, layer).await.map_err(field)?;
    let unused = set.unused;
    let mut out = view(&ctx);
    out.unused = unused;
    out.persisted = Some(args.persist);
    Ok(out.into())
}
