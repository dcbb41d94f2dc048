//! Discovery: the built-in templates plus every template file in a directory.
//!
//! **Names.** A template is named by its sidecar's `name`, else its `__metadata__.name`, else
//! its normalised file stem (`My Flow.json` → `my_flow`). Files are read in file-name order.
//! A user file whose name equals a built-in's **replaces that built-in** (drop your own
//! `generate_image.json` in the directory to customise it); the first such file wins, later
//! ones are de-duplicated. Any other clash is de-duplicated by suffixing `_2`, `_3`, ...
//!
//! **Errors.** A bad file never breaks the others: its error is kept in
//! [`TemplateLibrary::errors`] with its path, as are sidecars without a template file.
//!
//! **Editor (UI-format) files** are converted with the node catalogue
//! ([`TemplateLibrary::load_with`]); loaded without one, each is an error saying it waits for
//! the catalogue, and [`WatchedLibrary::set_catalog`](super::WatchedLibrary::set_catalog) loads
//! them once it is known. Placeholders in their widget values become parameters.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use super::Template;
use super::builtin::builtins;
use super::metadata::invalid;
use super::parse::file_stem;
use crate::catalog::Catalog;
use crate::error::{Error, Result};

/// Longest template name (MCP tool names are limited to 64 characters).
const MAX_NAME: usize = 64;

/// A set of templates by name.
#[derive(Debug, Default)]
pub struct TemplateLibrary {
    dir: Option<PathBuf>,
    templates: IndexMap<String, Arc<Template>>,
    errors: Vec<(PathBuf, Error)>,
}

impl TemplateLibrary {
    /// Only the built-in templates.
    pub fn builtin() -> TemplateLibrary {
        let mut lib = TemplateLibrary::default();
        for (path, result) in builtins() {
            match result {
                Ok(t) => {
                    lib.templates.insert(t.name.clone(), Arc::new(t));
                }
                Err(e) => lib.errors.push((path, e)),
            }
        }
        lib
    }

    /// The built-ins plus every `*.json` file (not `*.meta.json`, not hidden) directly in `dir`.
    /// Fails only when the directory cannot be listed; problems with single files are in
    /// [`TemplateLibrary::errors`].
    pub fn load(dir: impl AsRef<Path>) -> Result<TemplateLibrary> {
        TemplateLibrary::load_with(dir, None)
    }

    /// [`TemplateLibrary::load`], converting editor (UI-format) files with `catalog`.
    pub fn load_with(dir: impl AsRef<Path>, catalog: Option<&Catalog>) -> Result<TemplateLibrary> {
        let dir = dir.as_ref();
        let mut lib = TemplateLibrary::builtin();
        lib.dir = Some(dir.to_path_buf());
        let (files, sidecars) = list_dir(dir, &mut lib.errors)?;
        let builtin_names: HashSet<String> = lib.templates.keys().cloned().collect();
        let mut overridden = HashSet::new();
        for path in &files {
            match Template::from_file_with(path, catalog) {
                Ok(mut t) => {
                    let name = if builtin_names.contains(&t.name) && overridden.insert(t.name.clone()) {
                        tracing::info!(template = %t.name, file = %path.display(), "user template replaces the built-in");
                        t.name.clone()
                    } else {
                        unique_name(&t.name, &lib.templates)
                    };
                    t.name.clone_from(&name);
                    lib.templates.insert(name, Arc::new(t));
                }
                Err(e) => lib.errors.push((path.clone(), e)),
            }
        }
        for sidecar in sidecars {
            let stem = file_stem(&sidecar);
            let stem = stem.strip_suffix(".meta").unwrap_or(&stem);
            let template_file = sidecar.with_file_name(format!("{stem}.json"));
            if !files.contains(&template_file) {
                let err = invalid(
                    stem,
                    format!(
                        "the sidecar {} has no template file {} next to it",
                        sidecar.display(),
                        template_file.display()
                    ),
                );
                lib.errors.push((sidecar, err));
            }
        }
        Ok(lib)
    }

    /// Reads the same directory again (or the built-ins again, for a built-in-only library).
    pub fn reload(&self) -> Result<TemplateLibrary> {
        match &self.dir {
            Some(dir) => TemplateLibrary::load(dir),
            None => Ok(TemplateLibrary::builtin()),
        }
    }

    /// The directory templates were loaded from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// A template by name, or [`Error::TemplateNotFound`] with close names.
    pub fn get(&self, name: &str) -> Result<Arc<Template>> {
        self.templates.get(name).cloned().ok_or_else(|| Error::TemplateNotFound {
            name: super::render::short(name),
            suggestions: super::suggest(name, self.templates.keys().map(String::as_str)),
        })
    }

    /// Every template: built-ins first, then files in file-name order.
    pub fn list(&self) -> Vec<Arc<Template>> {
        self.templates.values().cloned().collect()
    }

    /// Every template name, in [`TemplateLibrary::list`] order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// Whether there are no templates.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// The files that could not be loaded, with why.
    pub fn errors(&self) -> &[(PathBuf, Error)] {
        &self.errors
    }

    /// Enriches every template from the node catalogue ([`Template::enrich`]).
    pub fn enrich(&mut self, catalog: &Catalog) {
        for t in self.templates.values_mut() {
            Arc::make_mut(t).enrich(catalog);
        }
    }
}

/// Template files and sidecars directly in `dir`, sorted by file name. Hidden files (editor
/// swap and lock files) are skipped.
fn list_dir(dir: &Path, errors: &mut Vec<(PathBuf, Error)>) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    let mut files = Vec::new();
    let mut sidecars = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push((dir.to_path_buf(), Error::io("listing", dir, e)));
                continue;
            }
        };
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if name.starts_with('.') || !name.ends_with(".json") || !path.is_file() {
            continue;
        }
        if name.ends_with(".meta.json") {
            sidecars.push(path);
        } else {
            files.push(path);
        }
    }
    files.sort();
    sidecars.sort();
    Ok((files, sidecars))
}

/// `base`, or `base_2`, `base_3`, ... whichever is free, within [`MAX_NAME`] characters.
fn unique_name(base: &str, taken: &IndexMap<String, Arc<Template>>) -> String {
    if !taken.contains_key(base) {
        return base.to_owned();
    }
    (2usize..)
        .map(|n| {
            let suffix = format!("_{n}");
            // Names are ASCII (validated or normalised), so byte slicing is safe.
            let keep = base.len().min(MAX_NAME.saturating_sub(suffix.len()));
            format!("{}{suffix}", base.get(..keep).unwrap_or(base))
        })
        .find(|candidate| !taken.contains_key(candidate))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_all_there() {
        let lib = TemplateLibrary::builtin();
        assert!(lib.errors().is_empty(), "{:?}", lib.errors());
        let names: Vec<&str> = lib.names().collect();
        assert_eq!(names, ["generate_image", "image_to_image", "inpaint", "upscale"]);
        let err = lib.get("generate_imag").unwrap_err();
        assert!(
            matches!(&err, Error::TemplateNotFound { suggestions, .. } if suggestions[0] == "generate_image")
        );
    }

    #[test]
    fn unique_names_stay_short() {
        let mut taken = IndexMap::new();
        let t = Arc::new(Template::from_json_str("x", "{}").unwrap());
        let long = "a".repeat(64);
        taken.insert(long.clone(), t.clone());
        let n = unique_name(&long, &taken);
        assert_eq!(n.len(), 64);
        assert!(n.ends_with("_2"));
        taken.insert("b".into(), t.clone());
        taken.insert("b_2".into(), t);
        assert_eq!(unique_name("b", &taken), "b_3");
    }
}
