//! Reading a template: strip `__metadata__`, parse the graph, find placeholders, merge the
//! declarations of `__metadata__` and the sidecar.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use super::metadata::{Declared, FileMeta, invalid, parse_metadata, parse_sidecar};
use super::placeholder::normalize_name;
use super::scan::scan;
use super::values::check_value;
use super::{Origin, Template, resolve};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ui::{UiOptions, to_api_with};
use crate::workflow::{Workflow, WorkflowFormat, detect_format};

/// Template files larger than this are refused (a workflow is kilobytes, not megabytes).
pub(crate) const MAX_TEMPLATE_BYTES: u64 = 16 * 1024 * 1024;

impl Template {
    /// Parses a template from JSON text. `name` is used (normalised) when the file declares none.
    pub fn from_json_str(name: &str, text: &str) -> Result<Template> {
        let value = crate::json::parse_strict(text, name)?;
        Template::from_parts(name, value, None)
    }

    /// Builds a template from a parsed JSON document.
    pub fn from_value(name: &str, value: Value) -> Result<Template> {
        Template::from_parts(name, value, None)
    }

    /// Builds a template from a parsed document and an optional parsed sidecar
    /// (`<stem>.meta.json`). `fallback_name` is normalised (and cut to 64 characters) and used
    /// when neither declares a name.
    pub fn from_parts(fallback_name: &str, value: Value, sidecar: Option<&Value>) -> Result<Template> {
        Template::from_parts_with(fallback_name, value, sidecar, None)
    }

    /// [`Template::from_parts`] that also takes editor (UI-format) files: with a catalogue they
    /// are converted to the API format first ([`crate::ui::to_api_with`], placeholders kept
    /// verbatim so `"{{name}}"` and `PARAM_…` widget values become parameters; a top-level
    /// `__metadata__` is honoured). Without one a UI file is an [`Error::InvalidTemplate`] saying
    /// it waits for the catalogue; a class the catalogue lacks is reported for the file.
    pub fn from_parts_with(
        fallback_name: &str,
        mut value: Value,
        sidecar: Option<&Value>,
        catalog: Option<&Catalog>,
    ) -> Result<Template> {
        let mut label: String = normalize_name(fallback_name).chars().take(64).collect();
        if label.is_empty() {
            label = "template".into();
        }
        if let WorkflowFormat::Ui { node_count } = detect_format(&value) {
            let Some(catalog) = catalog else {
                return Err(invalid(
                    &label,
                    format!(
                        "this is a ComfyUI editor (UI \"save\" format) workflow with {node_count} nodes; it is \
                         converted to the API format once the node catalogue is known (when ComfyUI is reachable)"
                    ),
                ));
            };
            let metadata = value.as_object_mut().and_then(|m| m.remove("__metadata__"));
            let options = UiOptions { keep_placeholders: true, seed: Some(0), ..UiOptions::default() };
            let converted = to_api_with(&value, catalog, &options)
                .map_err(|e| invalid(&label, format!("converting the editor workflow: {e}")))?;
            let mut api = converted.workflow.to_value();
            if let (Some(meta), Value::Object(m)) = (metadata, &mut api) {
                m.insert("__metadata__".into(), meta);
            }
            value = api;
        }
        let Value::Object(mut map) = value else {
            return Err(invalid(
                &label,
                format!(
                    "a template is a JSON object of node id → node (plus an optional \"__metadata__\"), got {}",
                    crate::json::type_name(&value)
                ),
            ));
        };
        let metadata = match map.shift_remove("__metadata__") {
            Some(m) => parse_metadata(&label, &m)?,
            None => FileMeta::default(),
        };
        let side = match sidecar {
            Some(s) => parse_sidecar(&label, &format!("{label}.meta.json"), s)?,
            None => FileMeta::default(),
        };
        let workflow =
            Workflow::from_value(Value::Object(map)).map_err(|e| invalid(&label, e.to_string()))?;
        let found = scan(&label, &workflow)?;

        for (source, meta) in [("__metadata__", &metadata), ("the sidecar", &side)] {
            for declared in meta.params.keys() {
                if !found.bindings.contains_key(declared) {
                    return Err(unused_declaration(&label, source, declared, found.bindings.keys()));
                }
            }
        }
        for (name, (graph_ty, node, input)) in &found.graph_types {
            if let Some(meta_ty) = metadata.params.get(name).and_then(|d| d.ty)
                && meta_ty != *graph_ty
            {
                return Err(invalid(
                    &label,
                    format!(
                        "parameter {name:?}: __metadata__ declares type {meta_ty}, but node \"{node}\" input \
                         {input:?} declares {graph_ty} with its PARAM_ prefix; make them agree"
                    ),
                ));
            }
        }

        let name = match side.name.as_ref().or(metadata.name.as_ref()) {
            Some(explicit) => valid_name(&label, explicit)?,
            None => label.clone(),
        };
        let description = side
            .description
            .clone()
            .or(metadata.description.clone())
            .unwrap_or_else(|| format!("Runs the ComfyUI workflow \"{name}\"."));

        // Declaration order: __metadata__ first, then the graph.
        let mut order: Vec<&String> = metadata.params.keys().collect();
        order.extend(found.bindings.keys().filter(|k| !metadata.params.contains_key(*k)));
        let mut origins = IndexMap::new();
        let mut params = IndexMap::new();
        for pname in order {
            let mut declared = metadata.params.get(pname).cloned().unwrap_or_default();
            declared.overlay(&side.params.get(pname).cloned().unwrap_or_default());
            let origin = Origin { declared, graph_ty: found.graph_types.get(pname).map(|(t, _, _)| *t) };
            let bindings = found.bindings.get(pname).cloned().unwrap_or_default();
            let spec = resolve(pname, &origin.declared, origin.graph_ty, bindings, None);
            check_declared(&label, &origin.declared, &spec)?;
            origins.insert(pname.clone(), origin);
            params.insert(pname.clone(), spec);
        }
        Ok(Template { name, description, workflow, params, source: None, origins })
    }

    /// Reads a template file and its sidecar `<stem>.meta.json`, if there is one.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Template> {
        Template::from_file_with(path, None)
    }

    /// [`Template::from_file`] converting editor (UI-format) files with the catalogue (see
    /// [`Template::from_parts_with`]).
    pub fn from_file_with(path: impl AsRef<Path>, catalog: Option<&Catalog>) -> Result<Template> {
        let path = path.as_ref();
        let file_label = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let text = read_limited(path)?;
        let value = crate::json::parse_strict(&text, &file_label)?;
        let sidecar_file = sidecar_path(path);
        let sidecar = match std::fs::read_to_string(&sidecar_file) {
            Ok(text) => Some(crate::json::parse_strict(&text, &sidecar_file.display().to_string())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("reading", sidecar_file, e)),
        };
        let mut template = Template::from_parts_with(&file_stem(path), value, sidecar.as_ref(), catalog)?;
        template.source = Some(path.to_path_buf());
        Ok(template)
    }
}

/// `dir/foo.json` → `foo`.
pub(crate) fn file_stem(path: &Path) -> String {
    let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    name.strip_suffix(".json").map(str::to_owned).unwrap_or(name)
}

/// `dir/foo.json` → `dir/foo.meta.json`.
pub(crate) fn sidecar_path(path: &Path) -> PathBuf {
    path.with_file_name(format!("{}.meta.json", file_stem(path)))
}

fn read_limited(path: &Path) -> Result<String> {
    let size = std::fs::metadata(path).map_err(|e| Error::io("reading", path, e))?.len();
    if size > MAX_TEMPLATE_BYTES {
        return Err(invalid(
            &file_stem(path),
            format!("the file is {size} bytes; template files are limited to {MAX_TEMPLATE_BYTES} bytes"),
        ));
    }
    std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))
}

/// An explicit name must be usable as an MCP tool name.
fn valid_name(label: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(invalid(
            label,
            format!(
                "name {:?} is not a valid tool name: use 1 to 64 ASCII letters, digits, '_' or '-' (e.g. {:?})",
                crate::json::preview(&Value::String(name.to_owned())),
                normalize_name(name).chars().take(64).collect::<String>()
            ),
        ))
    }
}

fn unused_declaration<'a>(
    label: &str,
    source: &str,
    declared: &str,
    used: impl Iterator<Item = &'a String> + Clone,
) -> Error {
    let names: Vec<&str> = used.map(String::as_str).collect();
    let close = crate::suggest::closest(declared, names.iter().copied(), 3);
    let hint = if close.is_empty() { String::new() } else { format!("did you mean {}? ", close.join(", ")) };
    let listed = if names.is_empty() {
        "the graph has no placeholders".to_string()
    } else {
        format!("the graph's parameters are {}", names.join(", "))
    };
    invalid(
        label,
        format!(
            "{source} declares parameter {declared:?}, but no placeholder in the graph uses it; {hint}{listed}"
        ),
    )
}

/// An explicit default must satisfy the parameter's own type and constraints, and a parameter
/// cannot be both required and defaulted.
fn check_declared(label: &str, declared: &Declared, spec: &super::ParamSpec) -> Result<()> {
    if declared.required == Some(true) && declared.default.is_some() {
        return Err(invalid(
            label,
            format!(
                "parameter {:?} is declared required and also has a default; a default makes it optional, so \
                 drop one of the two",
                spec.name
            ),
        ));
    }
    if let Some(default) = &declared.default {
        check_value(spec, default).map_err(|why| {
            invalid(
                label,
                format!(
                    "parameter {:?}: the default {} is not valid: {why}",
                    spec.name,
                    crate::json::preview(default)
                ),
            )
        })?;
    }
    if let (Some(lo), Some(hi)) = (spec.minimum, spec.maximum)
        && lo > hi
    {
        return Err(invalid(label, format!("parameter {:?}: min {lo} is greater than max {hi}", spec.name)));
    }
    Ok(())
}
