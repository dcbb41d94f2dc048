//! Safe handling of caller-given paths: plain file names that cannot leave their directory,
//! and source files that must lie inside allow-listed directories.
//!
//! Blocking file-system calls: use from `spawn_blocking` in async code.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Longest file name accepted.
pub const MAX_FILE_NAME: usize = 200;

fn not_allowed(argument: &str, message: impl Into<String>) -> Error {
    Error::PathNotAllowed { argument: argument.to_owned(), message: message.into() }
}

/// Checks that `name` is a plain file name: not empty, at most [`MAX_FILE_NAME`] bytes, no
/// separators, no `..`, not hidden (leading `.`), no drive letter or control characters.
/// `argument` names it in errors.
pub fn check_file_name(name: &str, argument: &str) -> Result<()> {
    let why = if name.trim().is_empty() {
        Some("the file name is empty")
    } else if name.len() > MAX_FILE_NAME {
        Some("the file name is longer than 200 bytes")
    } else if name.contains(['/', '\\']) {
        Some("a file name, not a path: no '/' or '\\'")
    } else if name.contains("..") {
        Some("'..' is not allowed in a file name")
    } else if name.starts_with('.') {
        Some("the file name must not start with '.'")
    } else if name.contains(':') || name.chars().any(char::is_control) {
        Some("the file name must not contain ':' or control characters")
    } else {
        None
    };
    match why {
        Some(w) => {
            Err(not_allowed(argument, format!("{w} (got {:?})", name.chars().take(80).collect::<String>())))
        }
        None => Ok(()),
    }
}

/// `root.join(name)` for a plain file name, refusing a name that is a symlink or would resolve
/// outside `root` (which must be canonical). The file need not exist.
pub fn file_inside(root: &Path, name: &str, argument: &str) -> Result<PathBuf> {
    check_file_name(name, argument)?;
    let target = root.join(name);
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(not_allowed(
                argument,
                format!("{name:?} is a symbolic link; refusing to write through it"),
            ));
        }
        Ok(meta) if meta.is_dir() => {
            return Err(not_allowed(argument, format!("{name:?} is a directory")));
        }
        _ => {}
    }
    let parent = target.parent().unwrap_or(root);
    let canonical_parent = parent.canonicalize().map_err(|e| Error::io("resolving", parent, e))?;
    if canonical_parent != root {
        return Err(not_allowed(argument, format!("{name:?} resolves outside the directory")));
    }
    Ok(target)
}

/// Resolves `path` (absolute, or relative to the first allowed directory) to a regular file
/// inside one of `allowed` directories, following symlinks and refusing any that lead out.
/// Returns the canonical path.
pub fn allowed_file(allowed: &[PathBuf], path: &str, argument: &str) -> Result<PathBuf> {
    if allowed.is_empty() {
        return Err(not_allowed(
            argument,
            "reading server files is disabled: no upload directory is configured (--upload-dir); send \
             the bytes in `data` instead",
        ));
    }
    if path.trim().is_empty() {
        return Err(not_allowed(argument, "the path is empty"));
    }
    let given = Path::new(path);
    if given.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(not_allowed(argument, "'..' is not allowed in the path"));
    }
    let roots: Vec<PathBuf> = allowed.iter().filter_map(|d| d.canonicalize().ok()).collect();
    let candidate = if given.is_absolute() { given.to_path_buf() } else { allowed[0].join(given) };
    let outside = || {
        not_allowed(argument, "the path is not inside an allowed upload directory (symlinks out are refused)")
    };
    let canonical = candidate.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => not_allowed(argument, "no such file in the upload directories"),
        _ => outside(),
    })?;
    if !roots.iter().any(|r| canonical.starts_with(r)) {
        return Err(outside());
    }
    let meta = std::fs::metadata(&canonical).map_err(|e| Error::io("reading", &canonical, e))?;
    if !meta.is_file() {
        return Err(not_allowed(argument, "not a regular file"));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape() {
        for bad in ["", " ", "../x.png", "a/b.png", "a\\b.png", "..", ".hidden", "/etc/passwd", "C:x", "a\nb"]
        {
            let e = check_file_name(bad, "target_filename").unwrap_err();
            assert_eq!(e.code(), "path_not_allowed", "{bad:?}");
            assert!(e.to_string().starts_with("target_filename:"), "{e}");
        }
        check_file_name("hero image-01.webp", "f").unwrap();
        assert!(check_file_name(&"a".repeat(201), "f").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root_c = root.path().canonicalize().unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("link.png")).unwrap();
        assert_eq!(file_inside(&root_c, "link.png", "t").unwrap_err().code(), "path_not_allowed");
        assert_eq!(file_inside(&root_c, "new.png", "t").unwrap(), root_c.join("new.png"));

        let allowed = vec![root.path().to_path_buf()];
        let e = allowed_file(&allowed, "link.png", "path").unwrap_err();
        assert_eq!(e.code(), "path_not_allowed");
        let abs = outside.path().join("secret.txt");
        assert!(allowed_file(&allowed, abs.to_str().unwrap(), "path").is_err());
        std::fs::write(root.path().join("in.png"), b"png").unwrap();
        assert_eq!(allowed_file(&allowed, "in.png", "path").unwrap(), root_c.join("in.png"));
        let inside_abs = root.path().join("in.png");
        assert!(allowed_file(&allowed, inside_abs.to_str().unwrap(), "path").is_ok());
        assert!(allowed_file(&allowed, "../in.png", "path").is_err());
        assert!(allowed_file(&allowed, "missing.png", "path").is_err());
        assert!(allowed_file(&[], "in.png", "path").is_err());
        std::fs::create_dir(root.path().join("sub")).unwrap();
        assert!(allowed_file(&allowed, "sub", "path").is_err(), "a directory");
    }
}
