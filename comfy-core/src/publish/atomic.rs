//! Atomic file updates: write a temporary file in the same directory, flush it to disk, rename
//! it over the target. Readers see the old or the new content, never a partial one.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `target` with `data` atomically (temporary file + rename in the same directory).
pub fn write_atomic(target: &Path, data: &[u8]) -> Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
        f.write_all(data).map_err(|e| Error::io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("flushing", &tmp, e))?;
        std::fs::rename(&tmp, target).map_err(|e| Error::io("replacing", target, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Appends one line (a `\n` is added) with a single write in append mode, so concurrent
/// appenders never interleave within a line.
pub fn append_line(target: &Path, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(target)
        .map_err(|e| Error::io("opening", target, e))?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    f.write_all(&buf).map_err(|e| Error::io("appending to", target, e))?;
    f.sync_data().map_err(|e| Error::io("flushing", target, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("manifest.json");
        write_atomic(&t, b"{}").unwrap();
        write_atomic(&t, b"{\"a\":1}").unwrap();
        assert_eq!(std::fs::read(&t).unwrap(), b"{\"a\":1}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(write_atomic(&dir.path().join("missing/x.json"), b"x").is_err());
        append_line(&dir.path().join("log.jsonl"), "{}").unwrap();
        append_line(&dir.path().join("log.jsonl"), "{\"b\":2}").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap(), "{}\n{\"b\":2}\n");
    }
}
