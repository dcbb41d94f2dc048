//! Editing the TOML config file in place: `[defaults]` entries are set or removed while every
//! other line, comment and table of the file is kept. The file is replaced atomically.

use std::path::Path;

use serde_json::{Map, Value};
use toml_edit::{DocumentMut, Item, Table};

use crate::config::ConfigError;

/// A JSON value as a TOML value (`null` has none: the key is removed instead).
fn to_toml(v: &Value) -> Option<toml_edit::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => {
            let mut a = toml_edit::Array::new();
            for item in items {
                a.push(to_toml(item)?);
            }
            a.into()
        }
        Value::Object(m) => {
            let mut t = toml_edit::InlineTable::new();
            for (k, v) in m {
                if let Some(v) = to_toml(v) {
                    t.insert(k, v);
                }
            }
            t.into()
        }
    })
}

/// Sets (or, for `null`, removes) `values` in the `[defaults]` table of `text`.
pub fn set_defaults_in(text: &str, values: &Map<String, Value>) -> Result<String, ConfigError> {
    let mut doc: DocumentMut =
        text.parse().map_err(|e| ConfigError(format!("the config file is not valid TOML: {e}")))?;
    if !doc.contains_key("defaults") {
        doc.insert("defaults", Item::Table(Table::new()));
    }
    let Some(table) = doc.get_mut("defaults").and_then(Item::as_table_like_mut) else {
        return Err(ConfigError("`defaults` in the config file is not a table".into()));
    };
    for (k, v) in values {
        match to_toml(v) {
            Some(tv) => {
                table.insert(k, Item::Value(tv));
            }
            None => {
                table.remove(k);
            }
        }
    }
    Ok(doc.to_string())
}

/// Rewrites the `[defaults]` of the config file at `path` atomically (temporary file + rename).
pub fn persist_defaults(path: &Path, values: &Map<String, Value>) -> Result<(), ConfigError> {
    let name = path.file_name().map_or_else(|| "config file".into(), |n| n.to_string_lossy().into_owned());
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("reading {name}: {e}")))?;
    let updated = set_defaults_in(&text, values)?;
    // The result must still load as a config file.
    crate::config::FileConfig::parse(&updated)?;
    comfy_core::publish::write_atomic(path, updated.as_bytes())
        .map_err(|e| ConfigError(format!("writing {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn edits_keep_the_rest_of_the_file() {
        let text = "# my server\ncomfyui_url = \"http://gpu:8188\"  # the box\n\n[limits]\nwait_budget_secs = 20\n\n[defaults]\nsteps = 30\ncfg = 7\n";
        let values: Map<String, Value> = serde_json::from_value(
            json!({"steps": 25, "cfg": null, "sampler_name": "euler", "denoise": 0.5}),
        )
        .unwrap();
        let out = set_defaults_in(text, &values).unwrap();
        assert!(out.starts_with("# my server\ncomfyui_url = \"http://gpu:8188\"  # the box\n"), "{out}");
        assert!(out.contains("wait_budget_secs = 20"));
        let parsed = crate::config::FileConfig::parse(&out).unwrap();
        assert_eq!(parsed.defaults["steps"], 25);
        assert_eq!(parsed.defaults["sampler_name"], "euler");
        assert_eq!(parsed.defaults["denoise"], 0.5);
        assert!(!parsed.defaults.contains_key("cfg"));
        let fresh = set_defaults_in("listen = \"127.0.0.1:9000\"\n", &values).unwrap();
        assert_eq!(crate::config::FileConfig::parse(&fresh).unwrap().defaults["steps"], 25);
        assert!(set_defaults_in("defaults = 3\n", &values).is_err());
        assert!(set_defaults_in("not toml = = =", &values).is_err());
    }

    #[test]
    fn persist_rewrites_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("comfy.toml");
        std::fs::write(&p, "[defaults]\nsteps = 30\n").unwrap();
        persist_defaults(&p, &serde_json::from_value(json!({"steps": 12})).unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[defaults]\nsteps = 12\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        assert!(persist_defaults(&dir.path().join("missing.toml"), &Map::new()).is_err());
    }
}
