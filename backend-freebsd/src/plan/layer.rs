//! Copy-on-write roots on FreeBSD (`root.overlay = true`): which mechanism, and why.
//!
//! FreeBSD has two ways to give many jails one base that none of them can change:
//! - **unionfs(5)**, always possible: the jail path is a nullfs view of the writable
//!   layer's folder (a plain folder, in the state folder or `root.changes`), and the base
//!   and each `root.layers` folder are union-mounted *below* it (`below`): the nullfs of
//!   the writable folder stays the union's upper layer, so every copy-up and whiteout
//!   lands in that folder, and the base is only ever read. Mounting below in order, top
//!   layer first and `root.path` last, stacks them as Linux's `lowerdir` does. With
//!   `root.host`, each host folder gets a union of its own over `upper/<folder>`.
//! - **a ZFS clone**, when `root.path` is the mount point of a ZFS dataset: a snapshot
//!   of the dataset (`<dataset>@stockade-<name>`) and a clone of it
//!   (`<parent>/stockade-<name>`, `mountpoint=legacy`) mounted at the jail path. The
//!   clone shares the base's blocks and costs nothing until written; delete destroys the
//!   clone and the snapshot. It is what pot and iocage do; it needs one dataset as the
//!   base, so `root.layers`, `root.changes` (a folder that outlives the environment) and
//!   `root.host` always use unionfs.
//!
//! Whether `root.path` is a dataset is a fact of the host, probed on FreeBSD (see
//! `crate::probe`) and passed in as [`ZfsProbe`]: the choice itself is pure, so
//! `stockade plan --target freebsd` shows it, with the reason, from any OS.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stockade_core::spec::{RootSource, Spec};

/// The folder below the state folder holding `upper/`, unless `root.changes` names one.
pub const LAYER_DIR: &str = "layer";

/// What the host says about `root.path` and ZFS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "zfs", content = "dataset", rename_all = "snake_case")]
pub enum ZfsProbe {
    /// Not asked (planning off FreeBSD, or nothing to ask about).
    #[default]
    NotProbed,
    /// `root.path` is not the mount point of a ZFS dataset.
    NotADataset,
    /// `root.path` is the mount point of this dataset.
    Dataset(String),
}

/// How a copy-on-write root is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mechanism", rename_all = "snake_case")]
pub enum Cow {
    /// unionfs below a nullfs of a writable folder.
    Unionfs {
        /// The writable layer: a plain folder on the host.
        upper: PathBuf,
        /// True for `root.changes`: the folder survives delete.
        kept: bool,
        /// The lower folders, top first (`/` for `root.host`: each host folder).
        lowers: Vec<PathBuf>,
        /// Why not a ZFS clone.
        why: String,
    },
    /// A clone of a snapshot of the base's dataset.
    ZfsClone {
        /// The base's dataset.
        dataset: String,
        /// The snapshot made at create.
        snapshot: String,
        /// The clone mounted at the jail path.
        clone: String,
        /// Why a clone.
        why: String,
    },
}

impl fmt::Display for Cow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cow::Unionfs {
                upper, kept, why, ..
            } => write!(
                f,
                "unionfs below a nullfs of the writable layer {} ({}), because {why}",
                upper.display(),
                if *kept {
                    "root.changes, kept on delete"
                } else {
                    "removed on delete"
                }
            ),
            Cow::ZfsClone {
                snapshot,
                clone,
                why,
                ..
            } => write!(
                f,
                "ZFS clone {clone} of snapshot {snapshot} (both destroyed on delete), because {why}"
            ),
        }
    }
}

/// The copy-on-write mechanism for a spec, `None` when `root.overlay` is off.
pub fn choose(spec: &Spec, state_dir: &Path, zfs: &ZfsProbe) -> Option<Cow> {
    let overlay = spec.root.overlay.as_ref()?;
    let unionfs = |why: String| {
        let dir = overlay
            .changes
            .clone()
            .unwrap_or_else(|| state_dir.join(LAYER_DIR));
        let lowers = match &spec.root.source {
            RootSource::Host => vec![PathBuf::from("/")],
            RootSource::Path(_) => spec.root.lowers().iter().map(|p| p.to_path_buf()).collect(),
            // FreeBSD keeps an image as one flattened tree (unionfs has no whiteout
            // format to import layers in).
            RootSource::Image(image) => overlay
                .layers
                .iter()
                .cloned()
                .chain(image.flat.clone())
                .collect(),
        };
        Some(Cow::Unionfs {
            upper: dir.join("upper"),
            kept: overlay.changes.is_some(),
            lowers,
            why,
        })
    };
    let base = match &spec.root.source {
        RootSource::Host => {
            return unionfs("root.host has no dataset to clone: each host folder is a union".into())
        }
        RootSource::Path(base) => base,
        RootSource::Image(image) => match &image.flat {
            Some(flat) => flat,
            None => {
                return unionfs(
                    "the image is not resolved yet: the store gives its flattened tree".into(),
                )
            }
        },
    };
    if overlay.changes.is_some() {
        return unionfs(
            "root.changes keeps the writable layer in a folder, which a ZFS clone is not".into(),
        );
    }
    if !overlay.layers.is_empty() {
        return unionfs("root.layers stacks folders, which a clone of one dataset cannot".into());
    }
    match zfs {
        ZfsProbe::Dataset(dataset) => {
            let parent = dataset
                .rsplit_once('/')
                .map_or(dataset.as_str(), |(p, _)| p);
            Some(Cow::ZfsClone {
                snapshot: format!("{dataset}@stockade-{}", spec.name),
                clone: format!("{parent}/stockade-{}", spec.name),
                why: format!(
                    "root.path {} is the mount point of ZFS dataset {dataset}: a clone shares \
                     its blocks and costs nothing until written",
                    base.display()
                ),
                dataset: dataset.clone(),
            })
        }
        ZfsProbe::NotADataset => unionfs(format!(
            "root.path {} is not the mount point of a ZFS dataset",
            base.display()
        )),
        ZfsProbe::NotProbed => unionfs(
            "this plan was made without probing the host for ZFS (stockade on FreeBSD \
             checks whether root.path is a dataset's mount point, and clones it if so)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(root: &str) -> Spec {
        let text = format!("name = \"web\"\n[root]\n{root}\n[process]\ncommand = [\"/bin/sh\"]\n");
        Spec::from_toml(&text, Some(Path::new("/etc/stockade/web.toml"))).expect("valid spec")
    }

    const STATE: &str = "/var/run/stockade/web";

    #[test]
    fn a_dataset_base_is_cloned() {
        let s = spec("path = \"/jails/base\"\noverlay = true");
        let cow = choose(
            &s,
            Path::new(STATE),
            &ZfsProbe::Dataset("zroot/jails/base".into()),
        )
        .unwrap();
        assert_eq!(
            cow,
            Cow::ZfsClone {
                dataset: "zroot/jails/base".into(),
                snapshot: "zroot/jails/base@stockade-web".into(),
                clone: "zroot/jails/stockade-web".into(),
                why: "root.path /jails/base is the mount point of ZFS dataset zroot/jails/base: \
                      a clone shares its blocks and costs nothing until written"
                    .into(),
            }
        );
        let top = choose(&s, Path::new(STATE), &ZfsProbe::Dataset("tank".into())).unwrap();
        assert!(matches!(top, Cow::ZfsClone { ref clone, .. } if clone == "tank/stockade-web"));
    }

    #[test]
    fn everything_else_is_a_union_and_says_why() {
        let why = |root: &str, zfs: ZfsProbe| match choose(&spec(root), Path::new(STATE), &zfs) {
            Some(Cow::Unionfs { why, .. }) => why,
            other => panic!("{other:?}"),
        };
        let dataset = || ZfsProbe::Dataset("zroot/base".into());
        assert_eq!(
            why("path = \"/b\"\noverlay = true", ZfsProbe::NotADataset),
            "root.path /b is not the mount point of a ZFS dataset"
        );
        assert!(why("path = \"/b\"\noverlay = true", ZfsProbe::NotProbed)
            .starts_with("this plan was made without probing"));
        assert!(
            why("path = \"/b\"\noverlay = true\nchanges = \"/k\"", dataset())
                .starts_with("root.changes keeps")
        );
        assert!(why(
            "path = \"/b\"\noverlay = true\nlayers = [\"/l\"]",
            dataset()
        )
        .starts_with("root.layers stacks"));
        assert!(why("host = true\noverlay = true", dataset()).starts_with("root.host has"));
        assert_eq!(
            choose(&spec("path = \"/b\""), Path::new(STATE), &dataset()),
            None
        );
    }

    #[test]
    fn the_union_lists_its_lowers_and_its_writable_folder() {
        let s = spec("path = \"/b\"\noverlay = true\nlayers = [\"/l1\", \"/l2\"]");
        let Some(Cow::Unionfs {
            upper,
            kept,
            lowers,
            ..
        }) = choose(&s, Path::new(STATE), &ZfsProbe::NotADataset)
        else {
            panic!("a union");
        };
        assert_eq!(upper, Path::new("/var/run/stockade/web/layer/upper"));
        assert!(!kept);
        assert_eq!(
            lowers,
            [Path::new("/l1"), Path::new("/l2"), Path::new("/b")]
        );
        let s = spec("path = \"/b\"\noverlay = true\nchanges = \"/keep/web\"");
        let Some(Cow::Unionfs { upper, kept, .. }) =
            choose(&s, Path::new(STATE), &ZfsProbe::NotProbed)
        else {
            panic!("a union");
        };
        assert_eq!(upper, Path::new("/keep/web/upper"));
        assert!(kept);
    }
}
