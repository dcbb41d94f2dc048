//! The templates shipped inside the crate (`comfy-core/templates/*.json`).

use std::path::PathBuf;

use super::Template;
use crate::error::Result;

/// `(file name, contents)` of every built-in template.
pub(crate) const BUILTIN_FILES: [(&str, &str); 4] = [
    ("generate_image.json", include_str!("../../templates/generate_image.json")),
    ("image_to_image.json", include_str!("../../templates/image_to_image.json")),
    ("inpaint.json", include_str!("../../templates/inpaint.json")),
    ("upscale.json", include_str!("../../templates/upscale.json")),
];

/// Where built-ins say they come from (not a real file).
pub(crate) fn builtin_path(file: &str) -> PathBuf {
    PathBuf::from(format!("<builtin>/{file}"))
}

/// Parses every built-in template; each one succeeds or fails on its own.
pub(crate) fn builtins() -> Vec<(PathBuf, Result<Template>)> {
    BUILTIN_FILES
        .iter()
        .map(|(file, text)| {
            let stem = file.strip_suffix(".json").unwrap_or(file);
            (builtin_path(file), Template::from_json_str(stem, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_is_named_after_its_file() {
        for (path, result) in builtins() {
            let t = result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(format!("<builtin>/{}.json", t.name), path.display().to_string());
            assert!(!t.description.is_empty());
            assert!(t.params.values().all(|p| p.description.is_some()), "{}", t.name);
        }
    }
}
