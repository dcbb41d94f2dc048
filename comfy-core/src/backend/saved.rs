//! Saved workflows (ComfyUI's user data, `workflows/` folder): names and listing entries.

use serde::Serialize;

use crate::error::{Error, Result};

/// The user-data folder the editor saves workflows in.
pub const WORKFLOWS_DIR: &str = "workflows";

/// Longest accepted saved-workflow name.
const MAX_NAME: usize = 255;

/// One saved workflow as listed by [`Backend::list_saved_workflows`](super::Backend::list_saved_workflows).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SavedWorkflowInfo {
    /// Its name: the path inside `workflows/`, with `.json` (`"portrait.json"`, `"team/a.json"`).
    pub name: String,
    /// Size in bytes, when the backend says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last modification, Unix seconds, when the backend says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<f64>,
}

/// Checks a saved-workflow name and returns it normalised: relative, `/`-separated, ending in
/// `.json` (added when missing). Names that could leave the folder (`..`, absolute paths,
/// backslashes, drive letters) or hold control characters are refused, naming `field`.
pub fn saved_workflow_name(name: &str, field: &str) -> Result<String> {
    let bad = |why: &str| Error::InvalidArgument {
        argument: field.to_owned(),
        message: format!(
            "{:?} is not a valid saved-workflow name: {why}",
            crate::json::preview(&name.into())
        ),
    };
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    if trimmed.len() > MAX_NAME {
        return Err(bad(&format!("it is longer than {MAX_NAME} bytes")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(bad("it contains control characters"));
    }
    // A proxy or server may decode `%2e`/`%2f`/`%5c` once more: refuse them outright.
    let lower = trimmed.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00"].iter().any(|e| lower.contains(e)) {
        return Err(bad("percent-encoded dots, slashes or NUL are not allowed"));
    }
    if trimmed.contains('\\') {
        return Err(bad("use '/' to separate folders, not '\\'"));
    }
    if trimmed.starts_with('/') || trimmed.get(1..2) == Some(":") {
        return Err(bad("it must be relative to the workflows folder, not an absolute path"));
    }
    if trimmed.split('/').any(|part| part == ".." || part == "." || part.is_empty()) {
        return Err(bad(
            "'..', '.' and empty path parts are not allowed (names stay inside the workflows folder)",
        ));
    }
    Ok(if trimmed.to_ascii_lowercase().ends_with(".json") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}.json")
    })
}

/// The user-data path of a checked name (`workflows/<name>`).
pub fn saved_workflow_path(name: &str) -> String {
    format!("{WORKFLOWS_DIR}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_confined() {
        assert_eq!(saved_workflow_name("portrait", "name").unwrap(), "portrait.json");
        assert_eq!(saved_workflow_name(" team/a.json ", "name").unwrap(), "team/a.json");
        for bad in [
            "",
            "  ",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "C:/x",
            "a\\b",
            "a//b",
            "./a",
            "a\u{0}b",
            "%2e%2e/x",
            "a%2Fb",
            "a%5c..",
        ] {
            let e = saved_workflow_name(bad, "name").unwrap_err();
            assert_eq!(e.code(), "invalid_argument", "{bad:?}");
            assert!(e.to_string().contains("invalid name") || e.to_string().contains("name"), "{e}");
        }
        assert!(
            saved_workflow_name(&"a".repeat(300), "to").unwrap_err().to_string().starts_with("invalid to")
        );
        assert_eq!(saved_workflow_path("a.json"), "workflows/a.json");
    }
}
