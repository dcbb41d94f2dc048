//! Template parameter defaults: get_defaults, set_defaults.

use comfy_core::template::{EffectiveDefault, ValueSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::execution::NoArgs;
use super::{CallCtx, Registry, ToolDef, ToolResult};
use crate::error::ToolError;

/// Serializes config-file rewrites within this process.
static PERSIST_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn register(r: &mut Registry) {
    r.add(
        ToolDef::read(
            "get_defaults",
            "Get defaults",
            "Template parameter defaults with their source: runtime > config > env > template.",
        ),
        get_defaults,
    );
    r.add(
        ToolDef {
            idempotent: true,
            ..ToolDef::write(
                "set_defaults",
                "Set defaults",
                "Set template parameter defaults for later calls (null removes one), checked against the \
                 templates; persist=true writes them to the config file's [defaults].",
            )
        },
        set_defaults,
    );
}

/// One parameter's effective default.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DefaultView {
    /// Parameter name.
    pub name: String,
    /// The value used when a call gives none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// runtime, config, env or template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Templates with this parameter.
    pub templates: Vec<String>,
}

/// The answer of get_defaults and set_defaults.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DefaultsView {
    /// Every parameter name, sorted.
    pub defaults: Vec<DefaultView>,
    /// Set at runtime (set_defaults).
    pub runtime: Map<String, Value>,
    /// From the config file's [defaults].
    pub config: Map<String, Value>,
    /// From COMFY_DEFAULT_<NAME> variables.
    pub env: Map<String, Value>,
    /// A config file is in use (set_defaults can persist).
    pub config_file: bool,
    /// Names set that no template has (kept for templates added later).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unused: Vec<String>,
    /// Written to the config file (set_defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persisted: Option<bool>,
}

fn source_name(s: ValueSource) -> String {
    serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn view(ctx: &CallCtx) -> DefaultsView {
    let lib = ctx.state.comfy.templates().snapshot();
    let templates = lib.list();
    let d = ctx.state.comfy.param_defaults();
    let effective: Vec<EffectiveDefault> = d.effective(templates.iter().map(|t| t.as_ref()));
    DefaultsView {
        defaults: effective
            .into_iter()
            .map(|e| DefaultView {
                name: e.name,
                value: e.value,
                source: e.source.map(source_name),
                templates: e.templates,
            })
            .collect(),
        runtime: d.runtime,
        config: d.config,
        env: d.env,
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
    /// Parameter defaults to set.
    #[schemars(schema_with = "values_schema")]
    pub values: Map<String, Value>,
    /// Also write them into the config file's [defaults] (default false: this server run only).
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
    ctx.state.comfy.enrich_templates().await;
    let lib = ctx.state.comfy.templates().snapshot();
    let templates = lib.list();
    let mut checked = Map::new();
    let mut unused = Vec::new();
    for (name, value) in &args.values {
        let field = format!("values.{name}");
        if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ToolError::invalid(field, "a parameter name: 1 to 64 letters, digits or '_'"));
        }
        let mut normalised = value.clone();
        let mut used = false;
        for t in &templates {
            let Some(spec) = t.param(name) else { continue };
            used = true;
            if value.is_null() {
                continue;
            }
            normalised = spec.check(value).map_err(|why| {
                ToolError::invalid(field.clone(), format!("template {:?}: {why}", t.name))
                    .with_expected(spec.describe_valid())
            })?;
        }
        if !used {
            unused.push(name.clone());
        }
        checked.insert(name.clone(), normalised);
    }
    if args.persist {
        let path = ctx.state.settings.config_file.clone().unwrap_or_default();
        let _guard = PERSIST_LOCK.lock().await;
        let values = checked.clone();
        tokio::task::spawn_blocking(move || crate::config_edit::persist_defaults(&path, &values))
            .await
            .map_err(|e| ToolError::new("internal_error", e.to_string()))?
            .map_err(|e| ToolError::new("config_write_failed", e.0).with_field("persist"))?;
    }
    ctx.state.comfy.update_param_defaults(|d| {
        for (name, value) in &checked {
            if args.persist {
                // The file's value is now the config layer; drop a runtime value that would hide it.
                d.runtime.remove(name);
                if value.is_null() {
                    d.config.remove(name);
                } else {
                    d.config.insert(name.clone(), value.clone());
                }
            } else if value.is_null() {
                d.runtime.remove(name);
            } else {
                d.runtime.insert(name.clone(), value.clone());
            }
        }
    });
    let mut out = view(&ctx);
    out.unused = unused;
    out.persisted = Some(args.persist);
    Ok(out.into())
}
