//! The planner's `RequireDir` check: a mount point in a file system stockade does not own
//! must already be a folder, reached from the jail path without following a symbolic
//! link, so that a link planted in a prepared root (`/var/www -> /etc`) can never point a
//! mount at the host's own tree.
//!
//! The check walks the components below the jail path with lstat(2). nmount(2) itself
//! resolves the path again afterwards; nothing runs in the jail yet at that point, so only
//! the host's own users could swap a component in between.

use std::fs;
use std::io;
use std::path::{Component, Path};

/// Checks that `path` lies below `root` and that each component after `root` is a folder
/// and not a symbolic link.
pub fn require_dir_below(path: &Path, root: &Path) -> io::Result<()> {
    let rel = path.strip_prefix(root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not below {}", path.display(), root.display()),
        )
    })?;
    let mut at = root.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(name) => at.push(name),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} has a `..` or `.` component", path.display()),
                ))
            }
        }
        let meta = fs::symlink_metadata(&at).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{}: {e} (the mount point must exist in the root)",
                    at.display()
                ),
            )
        })?;
        if meta.file_type().is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link: a mount point inside the root must be a real folder",
                    at.display()
                ),
            ));
        }
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a folder", at.display()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_pass_links_and_files_fail() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        fs::create_dir_all(root.join("var/www")).expect("mkdir");
        fs::write(root.join("file"), b"x").expect("file");
        std::os::unix::fs::symlink("/etc", root.join("var/link")).expect("link");
        fs::create_dir_all(root.join("real")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("real"), root.join("alias")).expect("link");

        require_dir_below(&root.join("var/www"), root).expect("a folder");
        require_dir_below(root, root).expect("the root itself");
        let link = require_dir_below(&root.join("var/link"), root).expect_err("a link");
        assert!(link.to_string().contains("symbolic link"), "{link}");
        // A link earlier on the way is refused too.
        let through = require_dir_below(&root.join("alias"), root).expect_err("link on the way");
        assert!(through.to_string().contains("symbolic link"), "{through}");
        let file = require_dir_below(&root.join("file"), root).expect_err("a file");
        assert_eq!(file.kind(), io::ErrorKind::NotADirectory);
        let missing = require_dir_below(&root.join("nope"), root).expect_err("missing");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(require_dir_below(Path::new("/etc"), root).is_err());
        assert!(require_dir_below(&root.join("var/../etc"), root).is_err());
    }
}
