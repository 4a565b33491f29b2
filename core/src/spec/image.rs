//! `root.image`: an image from the local store as the root, and the image names the
//! spec accepts. The store itself (stockade-image) resolves the name into layer folders
//! before planning; a spec fresh from the loader names the image only.

use std::path::PathBuf;

use serde::Serialize;

/// The image of a `root.image` root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageRoot {
    /// `NAME:TAG` as normalised by [`check_image_name`].
    pub name: String,
    /// The image's id (its manifest's digest), once resolved.
    pub id: Option<String>,
    /// The unpacked layer folders, top first, once resolved: the lowers of the root.
    pub layers: Vec<PathBuf>,
    /// The layers flattened into one folder, when the store keeps one (FreeBSD).
    pub flat: Option<PathBuf>,
}

impl ImageRoot {
    /// True once the store has filled in the layers.
    pub fn is_resolved(&self) -> bool {
        self.id.is_some()
    }
}

/// Which `[process]` keys the file set itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessKeys {
    /// `process.command`.
    pub command: bool,
    /// `process.cwd`.
    pub cwd: bool,
    /// `process.env`.
    pub env: bool,
    /// `process.user`.
    pub user: bool,
}

/// Checks an image name and returns it as `NAME:TAG` (`:latest` when no tag is given).
/// NAME is lowercase letters, digits and `._-/` (with an optional `host[:port]/` in
/// front); TAG is letters, digits and `._-`, at most 128 characters.
pub fn check_image_name(s: &str) -> Result<String, String> {
    let (name, tag) = match s.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (s, "latest"),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['/', '.', '-'])
        && !name.ends_with('/')
        && !name.contains("//")
        && name.split('/').enumerate().all(|(i, part)| {
            let host =
                i == 0 && name.contains('/') && (part.contains(['.', ':']) || part == "localhost");
            !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || matches!(c, '.' | '_' | '-')
                        || (host && (c == ':' || c.is_ascii_uppercase()))
                })
        });
    if !name_ok {
        return Err(format!(
            "{s:?} is not an image name: use lowercase letters, digits and . _ - / as in \"alpine:3.20\""
        ));
    }
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !tag_ok {
        return Err(format!(
            "{s:?} has a bad tag {tag:?}: use letters, digits and . _ - (at most 128)"
        ));
    }
    Ok(format!("{name}:{tag}"))
}

#[cfg(test)]
mod tests {
    use super::check_image_name;

    #[test]
    fn names_get_a_tag_and_bad_ones_are_refused() {
        assert_eq!(check_image_name("alpine").unwrap(), "alpine:latest");
        assert_eq!(check_image_name("alpine:3.20").unwrap(), "alpine:3.20");
        assert_eq!(
            check_image_name("localhost:5000/team/app:v1").unwrap(),
            "localhost:5000/team/app:v1"
        );
        assert_eq!(
            check_image_name("localhost/app").unwrap(),
            "localhost/app:latest"
        );
        for bad in [
            "", "Alpine", "a:", "a:b c", "../x", "a//b", "a/", ":tag", "a:.x",
        ] {
            assert!(check_image_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
