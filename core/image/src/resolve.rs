//! `root.image` in a spec: the image's layers become the root's lower folders, and its
//! config's Entrypoint + Cmd, Env, WorkingDir and User become the process defaults.
//!
//! The spec's own keys win: `process.command` replaces Entrypoint and Cmd together
//! (as `podman run --entrypoint` does), `process.env` is laid over the image's Env
//! variable by variable, and `process.cwd` and `process.user` replace WorkingDir and
//! User.

use std::path::PathBuf;

use stockade_core::spec::{RootSource, User};
use stockade_core::Spec;

use crate::store::{Store, StoreError};

/// Why a spec's image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The store could not give the image.
    #[error("root.image {name:?}: {source}")]
    Store {
        /// The image's name.
        name: String,
        /// The cause.
        source: StoreError,
    },
    /// Neither the spec nor the image says what to run.
    #[error("root.image {0:?} has no Entrypoint or Cmd: set process.command in the spec")]
    NoCommand(String),
    /// The image's config holds a value stockade cannot use.
    #[error("root.image {name:?}: the image's {key} {value:?} {why}")]
    BadConfig {
        /// The image.
        name: String,
        /// The config key.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// Fills in the layers and process defaults of a `root.image` spec (nothing happens
/// for other roots).
pub fn resolve_spec(spec: &mut Spec, store: &Store) -> Result<(), ResolveError> {
    let RootSource::Image(image) = &mut spec.root.source else {
        return Ok(());
    };
    let name = image.name.clone();
    let resolved = store.resolve(&name).map_err(|source| ResolveError::Store {
        name: name.clone(),
        source,
    })?;
    image.id = Some(resolved.record.id.to_string());
    image.layers = resolved.layer_dirs.clone();
    // Where the flattened tree is (made at import on FreeBSD): named even when absent,
    // so `plan --target freebsd` on Linux shows the path FreeBSD would use.
    image.flat = Some(store.flat_dir(&resolved.record.id));

    let bad = |key, value: &str, why| ResolveError::BadConfig {
        name: name.clone(),
        key,
        value: value.to_string(),
        why,
    };
    let process = &mut spec.process;
    let config = resolved.config.config().clone().unwrap_or_default();
    if !process.given.command {
        let argv: Vec<String> = config
            .entrypoint()
            .iter()
            .flatten()
            .chain(config.cmd().iter().flatten())
            .cloned()
            .collect();
        if argv.is_empty() || argv[0].is_empty() {
            return Err(ResolveError::NoCommand(name));
        }
        process.command = argv;
    }
    let mut env = std::collections::BTreeMap::new();
    for pair in config.env().iter().flatten() {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() && !pair.contains('\0') => {
                env.insert(k.to_string(), v.to_string());
            }
            _ => return Err(bad("Env", pair, "is not NAME=VALUE")),
        }
    }
    env.extend(std::mem::take(&mut process.env));
    process.env = env;
    if !process.given.cwd {
        if let Some(dir) = config.working_dir().as_deref().filter(|d| !d.is_empty()) {
            let p = PathBuf::from(dir);
            if !p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
                return Err(bad(
                    "WorkingDir",
                    dir,
                    "is not an absolute path without `..`",
                ));
            }
            process.cwd = p;
        }
    }
    if !process.given.user {
        if let Some(user) = config.user().as_deref().filter(|u| !u.is_empty()) {
            process.user = parse_user(user).ok_or_else(|| bad("User", user, "is not a user"))?;
        }
    }
    Ok(())
}

/// An image's `User`: `uid`, `uid:gid`, `name` or `name:group` (OCI image-spec).
fn parse_user(s: &str) -> Option<User> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let name_ok = |n: &str| !n.is_empty() && !n.contains([':', '/', '\0']);
    match (u.parse::<u32>(), g.map(str::parse::<u32>)) {
        (Ok(uid), None) => Some(User::Id { uid, gid: uid }),
        (Ok(uid), Some(Ok(gid))) => Some(User::Id { uid, gid }),
        _ if name_ok(u) && g.is_none_or(name_ok) => Some(User::Name {
            user: u.to_string(),
            group: g.map(str::to_string),
        }),
        _ => None,
    }
}
