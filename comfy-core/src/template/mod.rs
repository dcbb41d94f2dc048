//! Templates: API-format workflows with parameters.
//!
//! A template is a workflow whose inputs hold placeholders, plus a parameter schema:
//!
//! - `"{{name}}"` as an input's whole value is a typed parameter; `{{name}}` inside a longer
//!   string is interpolated. Names are `[A-Za-z_][A-Za-z0-9_]*`; `{{ name }}` works too.
//! - `"PARAM_<TYPE>_<NAME>"` (JN convention) as an input's whole value: TYPE is `STR`, `STRING`,
//!   `TEXT`, `INT`, `FLOAT` or `BOOL`; without a type it is a string unless the node catalogue
//!   says otherwise. The name is lower-cased with non-alphanumerics turned into `_`.
//! - A top-level `"__metadata__"` object: `name`, `description` and `parameters`
//!   (`type`, `required`, `default`, `min`, `max`, `step`, `enum`, `description`).
//! - An optional `<stem>.meta.json` sidecar (`name`, `description`, `defaults`, `constraints`,
//!   `descriptions`, `parameters`).
//!
//! Every fact about a parameter comes from the highest source that states it:
//! sidecar > `__metadata__` > type declared in the graph (`PARAM_INT_`) > node catalogue
//! ([`Template::enrich`]) > inference (a default's JSON type, `seed`/`noise_seed` → integer,
//! otherwise string). The same holds for the template's name and description.
//!
//! **Required rule**: a parameter is required when declared so; otherwise it is required exactly
//! when it has no default anywhere (sidecar, `__metadata__`, catalogue input default), except
//! seeds (bound to an input with `control_after_generate`, or named `seed`/`noise_seed`), which
//! are drawn at random. A seed's catalogue default (the editor's initial `0`) is not used.
//! An optional parameter that ends up without a value removes its whole-value inputs from the
//! graph (the node's own default applies) and interpolates as empty text.
//!
//! **Rendering** ([`Template::render`]) takes each value from the highest layer that has it:
//! per-call values > runtime defaults > config-file defaults > environment
//! (`COMFY_DEFAULT_<NAME>`) > the template's default > random (seeds). A parameter declared
//! `required` ignores the template default (it must come from a layer above). `null` in any layer
//! means "not set here". Values are coerced (`"7"` → 7), checked against type, choices, bounds
//! and integer step, and the rendered graph is refused if any placeholder is left.

mod builtin;
mod check;
mod defaults;
mod info;
mod library;
mod metadata;
mod parse;
pub(crate) mod placeholder;
mod render;
mod resolve;
mod scan;
mod schema;
mod set;
mod spec;
mod substitute;
mod values;
mod watch;

use std::path::PathBuf;

use indexmap::IndexMap;

pub use defaults::{ENV_PREFIX, EffectiveDefault, ParamDefaults, ValueSource};
pub use info::{ParamInfo, TemplateInfo, TemplateSource};
pub use library::TemplateLibrary;
pub use placeholder::normalize_name;
pub use render::{RenderRequest, Rendered};
pub use schema::SCHEMA_DIALECT;
pub use set::TemplateSet;
pub use spec::{Binding, ParamSpec, ParamType};
pub use watch::{DEBOUNCE, WatchedLibrary};

use crate::catalog::Catalog;
use crate::workflow::Workflow;
use metadata::Declared;
use resolve::{CatalogFacts, resolve};

/// A workflow with parameters. Build one with [`Template::from_file`],
/// [`Template::from_json_str`] or [`Template::from_parts`], or get it from a [`TemplateLibrary`].
#[derive(Debug, Clone)]
pub struct Template {
    /// The template's name (a valid MCP tool name).
    pub name: String,
    /// What it does.
    pub description: String,
    /// The graph, placeholders still in it (`__metadata__` removed).
    pub workflow: Workflow,
    /// The parameters, in declaration order (`__metadata__` first, then graph order).
    pub params: IndexMap<String, ParamSpec>,
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// Explicit declarations per parameter, kept so that enrichment can be redone.
    origins: IndexMap<String, Origin>,
}

/// What the template files themselves say about a parameter.
#[derive(Debug, Clone, Default, PartialEq)]
struct Origin {
    /// Sidecar over `__metadata__`.
    declared: Declared,
    /// Type from a `PARAM_<TYPE>_` placeholder.
    graph_ty: Option<ParamType>,
}

impl Template {
    /// A parameter by name.
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.get(name)
    }

    /// Fills in what the node catalogue knows about each parameter's inputs (whole-value
    /// bindings only): type (INT → integer, FLOAT → number, STRING → string, BOOLEAN → boolean,
    /// COMBO → string with its options as `enum`, unless it has none or is an upload/remote combo),
    /// `min`/`max`/`step`, default, tooltip (as the description fallback), multiline and seed-ness.
    /// Sidecar and `__metadata__` values still win. Calling it again with another catalogue
    /// recomputes everything from the template's own declarations.
    pub fn enrich(&mut self, catalog: &Catalog) {
        for (name, spec) in self.params.iter_mut() {
            let origin = self.origins.get(name).cloned().unwrap_or_default();
            let facts = CatalogFacts::gather(catalog, &self.workflow, &spec.bindings);
            let bindings = std::mem::take(&mut spec.bindings);
            *spec = resolve(name, &origin.declared, origin.graph_ty, bindings, Some(&facts));
        }
    }

    /// A copy enriched from `catalog`.
    pub fn enriched(&self, catalog: &Catalog) -> Template {
        let mut t = self.clone();
        t.enrich(catalog);
        t
    }

    /// The names of the required parameters.
    pub fn required_params(&self) -> impl Iterator<Item = &str> {
        self.params.values().filter(|p| p.required).map(|p| p.name.as_str())
    }
}

/// "Did you mean" candidates; none for absurdly long input (string similarity is quadratic).
pub(crate) fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    if wanted.len() > 256 {
        return Vec::new();
    }
    crate::suggest::closest(wanted, candidates, 3)
}

#[cfg(test)]
mod tests;
