//! The store: one folder holding verified blobs, unpacked layers and named images.
//!
//! ```text
//! STORE/lock                  flock held by the one writer (import, commit, rm, prune)
//! STORE/blobs/sha256/HEX      every blob, named by its verified digest
//! STORE/layers/HEX/           a layer unpacked once (HEX: its diff_id), overlayfs form
//! STORE/flat/HEX/             an image's layers flattened into one tree (FreeBSD)
//! STORE/images/HEX.json       an image (HEX: its manifest's digest): config and layers
//! STORE/refs.json             NAME:TAG -> manifest digest
//! STORE/tmp/                  work in progress, invisible to readers
//! ```
//! Everything visible is made complete in `tmp/` first and then renamed into place
//! (a rename is atomic), records last: a reader never sees a half-made layer, and an
//! import killed half-way leaves only `tmp/` entries, which the next writer removes.
//! Writers hold the exclusive lock, so two imports of one image run one after the other
//! and the second finds every blob and layer already there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::image::{ImageConfiguration, ImageManifest};
use serde::{Deserialize, Serialize};

use crate::digest::{BadDigest, Digest};
use crate::unpack::UnpackError;

/// The default store folder.
pub const DEFAULT_STORE: &str = "/var/lib/stockade";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system call failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause, with errno.
        source: io::Error,
    },
    /// A JSON document is not what it should be.
    #[error("{what}: {source}")]
    Json {
        /// Which document.
        what: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// An OCI document is not what it should be.
    #[error("{what}: {source}")]
    Oci {
        /// Which document.
        what: String,
        /// The cause.
        source: oci_spec::OciSpecError,
    },
    /// No image has that name or id.
    #[error("no image {0:?} in the store: `stockade image list` shows what there is, `stockade image import FILE` adds one")]
    NotFound(String),
    /// An id prefix names several images.
    #[error("{0:?} names more than one image: give more of the id")]
    Ambiguous(String),
    /// Content does not match its digest.
    #[error("{what} should have digest {expected} but has {actual}: the input is corrupt or was tampered with")]
    DigestMismatch {
        /// Which content.
        what: String,
        /// The digest named by the manifest or config.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// A digest is malformed.
    #[error(transparent)]
    BadDigest(#[from] BadDigest),
    /// A layer could not be unpacked.
    #[error("layer {layer}: {source}")]
    Unpack {
        /// The layer's blob digest.
        layer: String,
        /// The cause.
        source: UnpackError,
    },
    /// The input is not an image layout or archive stockade reads.
    #[error("{path}: {why}")]
    Format {
        /// The input.
        path: String,
        /// What is wrong, and what to do.
        why: String,
    },
    /// An image name is malformed.
    #[error("{0}")]
    BadName(String),
    /// The image is in use and cannot be removed.
    #[error("image {image} is used by environment(s) {}: delete them first", envs.join(", "))]
    InUse {
        /// The image.
        image: String,
        /// The environments using it.
        envs: Vec<String>,
    },
}

/// Adds the path to an `io::Error`.
pub(crate) trait At<T> {
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The blob as shipped (compressed or not).
    pub blob: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// sha256 of the uncompressed tar: the name of its unpacked folder.
    pub diff_id: Digest,
}

/// An image in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The manifest's digest: the image's id.
    pub id: Digest,
    /// The config blob's digest.
    pub config: Digest,
    /// Layers, bottom first (the manifest's order).
    pub layers: Vec<LayerRecord>,
    /// When it was imported (seconds since the epoch).
    pub imported: u64,
    /// Device nodes and similar entries skipped while unpacking.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One line of `image list`.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    /// Names (NAME:TAG) pointing at it.
    pub names: Vec<String>,
    /// The manifest digest.
    pub id: String,
    /// Number of layers.
    pub layers: usize,
    /// Total size of its layer blobs in bytes.
    pub size: u64,
    /// Import time (seconds since the epoch).
    pub imported: u64,
}

/// An image resolved for use as a root.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The record.
    pub record: ImageRecord,
    /// The unpacked layer folders, top first (overlayfs' lowerdir order).
    pub layer_dirs: Vec<PathBuf>,
    /// The image's config.
    pub config: ImageConfiguration,
}

/// A held store lock; released on drop.
pub struct StoreLock {
    _file: File,
}

/// The image store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Store {
    /// The store at `root` (nothing is made until a write).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `blobs/sha256/HEX`.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// `layers/HEX` for a diff_id.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    /// `flat/HEX` for an image id.
    pub fn flat_dir(&self, id: &Digest) -> PathBuf {
        self.root.join("flat").join(id.hex())
    }

    fn record_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    fn refs_path(&self) -> PathBuf {
        self.root.join("refs.json")
    }

    pub(crate) fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Takes the writer's lock (and clears what an interrupted writer left). Readers
    /// take none: everything visible appeared by rename, whole.
    pub fn lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        for dir in ["blobs/sha256", "layers", "flat", "images", "tmp"] {
            let p = self.root.join(dir);
            fs::create_dir_all(&p).at(&p)?;
        }
        // The store holds whole root file systems (setuid files included): only root
        // reads it, as /var/lib/containers.
        set_mode(&self.root, 0o700)?;
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        file.lock().at(&path)?;
        // Nobody else writes now: whatever is in tmp/ is left by an interrupted writer.
        let tmp = self.tmp();
        for e in fs::read_dir(&tmp).at(&tmp)? {
            let e = e.at(&tmp)?;
            remove_any(&e.path())?;
        }
        Ok(StoreLock { _file: file })
    }

    /// NAME:TAG -> image id.
    pub fn refs(&self) -> Result<BTreeMap<String, Digest>, StoreError> {
        let path = self.refs_path();
        match fs::read(&path) {
            Ok(text) => serde_json::from_slice(&text).map_err(|source| StoreError::Json {
                what: path.display().to_string(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e).at(&path),
        }
    }

    pub(crate) fn write_refs(&self, refs: &BTreeMap<String, Digest>) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(refs).map_err(|source| StoreError::Json {
            what: "refs".into(),
            source,
        })?;
        self.write_atomic(&self.refs_path(), &text)
    }

    /// Writes `path` through a file in tmp/ and a rename.
    pub(crate) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let tmp = self.tmp().join(format!(
            "write-{}-{}",
            std::process::id(),
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        let mut f = File::create(&tmp).at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        fs::rename(&tmp, path).at(path)
    }

    /// Every image record, by id.
    pub fn records(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let dir = self.root.join("images");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&dir),
        };
        let mut out = Vec::new();
        for e in entries {
            let path = e.at(&dir)?.path();
            if path.extension().is_some_and(|x| x == "json") {
                out.push(self.read_record_at(&path)?);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn read_record_at(&self, path: &Path) -> Result<ImageRecord, StoreError> {
        let text = fs::read(path).at(path)?;
        serde_json::from_slice(&text).map_err(|source| StoreError::Json {
            what: path.display().to_string(),
            source,
        })
    }

    /// The record of image `id`.
    pub fn record(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        let path = self.record_path(id);
        if !path.exists() {
            return Err(StoreError::NotFound(id.to_string()));
        }
        self.read_record_at(&path)
    }

    pub(crate) fn write_record(&self, r: &ImageRecord) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(r).map_err(|source| StoreError::Json {
            what: "image record".into(),
            source,
        })?;
        self.write_atomic(&self.record_path(&r.id), &text)
    }

    /// Finds an image by NAME:TAG (`:latest` when no tag), full id, or id prefix.
    pub fn find(&self, reference: &str) -> Result<ImageRecord, StoreError> {
        let refs = self.refs()?;
        if let Ok(name) = normalize_name(reference) {
            if let Some(id) = refs.get(&name) {
                return self.record(id);
            }
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let found: Vec<ImageRecord> = self
                .records()?
                .into_iter()
                .filter(|r| r.id.hex().starts_with(hex))
                .collect();
            match found.len() {
                1 => return Ok(found.into_iter().next().unwrap_or_else(|| unreachable!())),
                0 => {}
                _ => return Err(StoreError::Ambiguous(reference.to_string())),
            }
        }
        Err(StoreError::NotFound(reference.to_string()))
    }

    /// The config of an image.
    pub fn config(&self, r: &ImageRecord) -> Result<ImageConfiguration, StoreError> {
        let path = self.blob_path(&r.config);
        let f = File::open(&path).at(&path)?;
        ImageConfiguration::from_reader(f).map_err(|source| StoreError::Oci {
            what: format!("config {}", r.config),
            source,
        })
    }

    /// The manifest of an image.
    pub fn manifest(&self, r: &ImageRecord) -> Result<ImageManifest, StoreError> {
        let path = self.blob_path(&r.id);
        let f = File::open(&path).at(&path)?;
        ImageManifest::from_reader(f).map_err(|source| StoreError::Oci {
            what: format!("manifest {}", r.id),
            source,
        })
    }

    /// Resolves NAME:TAG for use as a root. No lock: records and layers appear by
    /// rename, whole, so a reader never waits for a long import; an `image rm` racing
    /// with a create makes that create fail on the missing folder, never run a half
    /// image.
    pub fn resolve(&self, reference: &str) -> Result<Resolved, StoreError> {
        let record = self.find(reference)?;
        let config = self.config(&record)?;
        let layer_dirs = record
            .layers
            .iter()
            .rev()
            .map(|l| self.layer_dir(&l.diff_id))
            .collect();
        Ok(Resolved {
            record,
            layer_dirs,
            config,
        })
    }

    /// The images with their names, for `image list`.
    pub fn list(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let refs = self.refs()?;
        let mut out = Vec::new();
        for r in self.records()? {
            let names = refs
                .iter()
                .filter(|(_, id)| **id == r.id)
                .map(|(n, _)| n.clone())
                .collect();
            out.push(ImageSummary {
                names,
                id: r.id.to_string(),
                layers: r.layers.len(),
                size: r.layers.iter().map(|l| l.size).sum(),
                imported: r.imported,
            });
        }
        Ok(out)
    }

    /// Removes a name, or an image by id with all its names. `users(id)` lists the
    /// environments whose root is that image: removing the image (its last name, or by
    /// id) is refused while there are any; untagging one of several names is not.
    /// Returns what was untagged or removed.
    pub fn remove(
        &self,
        reference: &str,
        users: &dyn Fn(&Digest) -> Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        let _lock = self.lock_exclusive()?;
        let record = self.find(reference)?;
        let mut refs = self.refs()?;
        let mut gone = Vec::new();
        let by_name = normalize_name(reference)
            .ok()
            .filter(|n| refs.contains_key(n));
        match by_name {
            // Untag only; the image goes with its last name.
            Some(name) => {
                refs.remove(&name);
                gone.push(format!("untagged {name}"));
            }
            None => refs.retain(|n, id| {
                let keep = *id != record.id;
                if !keep {
                    gone.push(format!("untagged {n}"));
                }
                keep
            }),
        }
        if !refs.values().any(|id| *id == record.id) {
            // Another name keeps an image in use; its last name or its id would not.
            let envs = users(&record.id);
            if !envs.is_empty() {
                return Err(StoreError::InUse {
                    image: reference.to_string(),
                    envs,
                });
            }
            let path = self.record_path(&record.id);
            fs::remove_file(&path).at(&path)?;
            gone.push(format!("removed {}", record.id));
        }
        self.write_refs(&refs)?;
        Ok(gone)
    }

    /// Removes blobs, layers and flattened trees no image refers to, and images without
    /// a name that no environment uses. Returns the bytes freed (apparent sizes).
    pub fn prune(&self, users: &dyn Fn(&Digest) -> Vec<String>) -> Result<u64, StoreError> {
        let _lock = self.lock_exclusive()?;
        let refs = self.refs()?;
        let named: BTreeSet<&Digest> = refs.values().collect();
        let mut keep_blobs = BTreeSet::new();
        let mut keep_layers = BTreeSet::new();
        let mut keep_flat = BTreeSet::new();
        for r in self.records()? {
            if !named.contains(&r.id) && users(&r.id).is_empty() {
                let path = self.record_path(&r.id);
                fs::remove_file(&path).at(&path)?;
                continue;
            }
            keep_blobs.insert(r.id.hex().to_string());
            keep_blobs.insert(r.config.hex().to_string());
            keep_flat.insert(r.id.hex().to_string());
            for l in &r.layers {
                keep_blobs.insert(l.blob.hex().to_string());
                keep_layers.insert(l.diff_id.hex().to_string());
            }
        }
        let mut freed = 0;
        for (dir, keep) in [
            ("blobs/sha256", &keep_blobs),
            ("layers", &keep_layers),
            ("flat", &keep_flat),
        ] {
            let dir = self.root.join(dir);
            for e in fs::read_dir(&dir).at(&dir)? {
                let e = e.at(&dir)?;
                if !keep.contains(&*e.file_name().to_string_lossy()) {
                    freed += apparent_size(&e.path());
                    remove_any(&e.path())?;
                }
            }
        }
        Ok(freed)
    }
}

/// `NAME[:TAG]` -> `NAME:TAG` (`latest` when no tag), checked.
pub fn normalize_name(s: &str) -> Result<String, StoreError> {
    stockade_core::spec::check_image_name(s).map_err(StoreError::BadName)
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).at(path)
}

/// Removes a file or a folder tree (std's remove_dir_all never follows symlinks).
pub(crate) fn remove_any(path: &Path) -> Result<(), StoreError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at(path),
    };
    if meta.is_dir() {
        fs::remove_dir_all(path).at(path)
    } else {
        fs::remove_file(path).at(path)
    }
}

fn apparent_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|es| es.flatten().map(|e| apparent_size(&e.path())).sum())
        .unwrap_or(0)
}
