//! `stockade commit NAME --name NEW:TAG`: an environment's changes as a new layer on
//! top of its image, stored as a new image.
//!
//! The caller lists the changes (Linux: `stockade_linux::diff` over the overlayfs
//! upper folder); this module writes them as an OCI layer tar: added and modified paths
//! as themselves (a new folder with everything below it), deleted paths as `.wh.`
//! whiteouts. The layer is kept uncompressed, so its blob digest is its diff_id.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use oci_spec::image::{HistoryBuilder, ImageManifestBuilder, MediaType};

use crate::digest::{Digest, HashingWriter};
use crate::import::{descriptor, WHITEOUTS};
use crate::store::{
    normalize_name, now, remove_any, At, ImageRecord, LayerRecord, Store, StoreError,
};
use crate::unpack::WHITEOUT_PREFIX;

/// One change of the environment, by absolute path inside it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// New: taken from the writable layer as it is (a folder with all below it).
    Add(PathBuf),
    /// Changed: taken from the writable layer as it is (a folder as its own entry).
    Modify(PathBuf),
    /// Gone: a whiteout.
    Delete(PathBuf),
}

fn oci(what: &str) -> impl FnOnce(oci_spec::OciSpecError) -> StoreError + '_ {
    move |source| StoreError::Oci {
        what: what.to_string(),
        source,
    }
}

impl Store {
    /// Stores `changes` (read from the writable folder `upper`) as a layer above image
    /// `base`, named `name`. Returns the new image's id.
    pub fn commit(
        &self,
        base: &str,
        upper: &Path,
        changes: &[Change],
        name: &str,
        comment: &str,
    ) -> Result<Digest, StoreError> {
        let name = normalize_name(name)?;
        let _lock = self.lock_exclusive()?;
        let base = self.find(base)?;
        let tmp = self
            .tmp()
            .join(format!("commit-{}.tar", std::process::id()));
        let written = write_layer(upper, changes, &tmp);
        let (diff_id, size) = match written {
            Ok(v) => v,
            Err(e) => {
                remove_any(&tmp)?;
                return Err(e).at(&tmp);
            }
        };
        self.add_layer(
            Some(&base),
            &tmp,
            &diff_id,
            size,
            name,
            &format!("stockade commit: {comment}"),
        )
    }

    /// Imports a root file system folder (`image import --rootfs DIR`) as a one-layer
    /// image named `name`, with an empty process config. Returns its id.
    pub fn import_rootfs(&self, dir: &Path, name: &str) -> Result<Digest, StoreError> {
        let name = normalize_name(name)?;
        if !fs::metadata(dir).at(dir)?.is_dir() {
            return Err(StoreError::Format {
                path: dir.display().to_string(),
                why: "is not a folder: --rootfs takes a root file system folder".into(),
            });
        }
        let _lock = self.lock_exclusive()?;
        let tmp = self
            .tmp()
            .join(format!("rootfs-{}.tar", std::process::id()));
        let (diff_id, size) = match write_tree(dir, &tmp) {
            Ok(v) => v,
            Err(e) => {
                remove_any(&tmp)?;
                return Err(e).at(dir);
            }
        };
        self.add_layer(
            None,
            &tmp,
            &diff_id,
            size,
            name,
            &format!("stockade image import --rootfs {}", dir.display()),
        )
    }

    /// Stores the layer tar `tmp` (uncompressed, `diff_id` its digest) above `base`
    /// (or alone) as image `name`, under the writer's lock the caller holds.
    fn add_layer(
        &self,
        base: Option<&ImageRecord>,
        tmp: &Path,
        diff_id: &Digest,
        size: u64,
        name: String,
        created_by: &str,
    ) -> Result<Digest, StoreError> {
        let diff_id = diff_id.clone();
        let blob_path = self.blob_path(&diff_id);
        fs::rename(tmp, &blob_path).at(&blob_path)?;
        let mut notes = base.map(|b| b.notes.clone()).unwrap_or_default();
        if !self.layer_dir(&diff_id).is_dir() {
            notes.extend(self.unpack_layer(&diff_id, &diff_id, WHITEOUTS)?);
        }

        let mut config = match base {
            Some(b) => self.config(b)?,
            None => empty_config()?,
        };
        config.rootfs_mut().diff_ids_mut().push(diff_id.to_string());
        let history = HistoryBuilder::default()
            .created(now_rfc3339())
            .created_by(created_by)
            .build()
            .map_err(oci("history"))?;
        let mut hist = config.history().clone().unwrap_or_default();
        hist.push(history);
        config.set_history(Some(hist));
        config.set_created(Some(now_rfc3339()));
        let config_text = config.to_string().map_err(oci("config"))?;
        let config_digest = self.put_json_blob(&config_text)?;

        let mut layers = match base {
            Some(b) => self.manifest(b)?.layers().clone(),
            None => Vec::new(),
        };
        layers.push(descriptor(MediaType::ImageLayer, &diff_id, size)?);
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(
                MediaType::ImageConfig,
                &config_digest,
                config_text.len() as u64,
            )?)
            .layers(layers)
            .build()
            .map_err(oci("manifest"))?;
        let id = self.put_json_blob(&manifest.to_string().map_err(oci("manifest"))?)?;
        let mut records = base.map(|b| b.layers.clone()).unwrap_or_default();
        records.push(LayerRecord {
            blob: diff_id.clone(),
            media_type: MediaType::ImageLayer.to_string(),
            size,
            diff_id,
        });
        let record = ImageRecord {
            id: id.clone(),
            config: config_digest,
            layers: records,
            imported: now(),
            notes,
        };
        if WHITEOUTS == crate::unpack::Whiteouts::Apply {
            self.flatten(&record)?;
        }
        self.write_record(&record)?;
        let mut refs = self.refs()?;
        refs.insert(name, id.clone());
        self.write_refs(&refs)?;
        Ok(id)
    }
}

/// A config for an image made from a folder: this host's platform, no process keys.
fn empty_config() -> Result<oci_spec::image::ImageConfiguration, StoreError> {
    let (os, arch) = crate::import::host_platform();
    oci_spec::image::ImageConfigurationBuilder::default()
        .os(os)
        .architecture(arch)
        .rootfs(
            oci_spec::image::RootFsBuilder::default()
                .typ("layers")
                .diff_ids(Vec::<String>::new())
                .build()
                .map_err(oci("rootfs"))?,
        )
        .build()
        .map_err(oci("config"))
}

/// Writes a whole folder as a layer tar; returns its digest and size.
fn write_tree(dir: &Path, out: &Path) -> io::Result<(Digest, u64)> {
    let mut b = tar::Builder::new(HashingWriter::new(File::create(out)?));
    b.follow_symlinks(false);
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let rel = PathBuf::from(e.file_name());
        b.append_path_with_name(e.path(), &rel)?;
        if e.file_type()?.is_dir() {
            append_tree(&mut b, dir, &rel)?;
        }
    }
    let (digest, size, mut file) = b.into_inner()?.finish();
    file.flush()?;
    file.sync_all()?;
    Ok((digest, size))
}

/// RFC 3339 UTC time of now (the config's `created`).
fn now_rfc3339() -> String {
    stockade_core::time::rfc3339_seconds(now())
}

/// Writes the layer tar; returns its digest and size.
fn write_layer(upper: &Path, changes: &[Change], out: &Path) -> io::Result<(Digest, u64)> {
    let mut b = tar::Builder::new(HashingWriter::new(File::create(out)?));
    b.follow_symlinks(false);
    let mut added = BTreeSet::new();
    let mut trees: Vec<PathBuf> = Vec::new();
    let mut sorted = changes.to_vec();
    sorted.sort();
    for change in &sorted {
        let (Change::Add(p) | Change::Modify(p) | Change::Delete(p)) = change;
        let rel: PathBuf = p
            .components()
            .skip_while(|c| c == &std::path::Component::RootDir)
            .collect();
        if rel.as_os_str().is_empty() || trees.iter().any(|t| rel.starts_with(t)) {
            continue;
        }
        // Parents first, with their metadata from the writable layer.
        let mut parent = PathBuf::new();
        for c in rel.parent().into_iter().flat_map(Path::components) {
            parent.push(c);
            if added.insert(parent.clone()) {
                b.append_path_with_name(upper.join(&parent), &parent)?;
            }
        }
        match change {
            Change::Delete(_) => {
                let name = rel.file_name().unwrap_or_default().to_string_lossy();
                let wh = rel.with_file_name(format!("{WHITEOUT_PREFIX}{name}"));
                let mut h = tar::Header::new_gnu();
                h.set_size(0);
                h.set_mode(0o600);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, &wh, io::empty())?;
            }
            Change::Add(_) | Change::Modify(_) => {
                let src = upper.join(&rel);
                if !added.contains(&rel) {
                    b.append_path_with_name(&src, &rel)?;
                }
                if matches!(change, Change::Add(_)) && fs::symlink_metadata(&src)?.is_dir() {
                    append_tree(&mut b, upper, &rel)?;
                    trees.push(rel.clone());
                }
                added.insert(rel);
            }
        }
    }
    let hashing = b.into_inner()?;
    let (digest, size, mut file) = hashing.finish();
    file.flush()?;
    file.sync_all()?;
    Ok((digest, size))
}

fn append_tree(
    b: &mut tar::Builder<HashingWriter<File>>,
    upper: &Path,
    rel: &Path,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(upper.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let child = rel.join(e.file_name());
        let meta = e.metadata()?;
        // overlayfs whiteouts inside a new folder cannot hide anything: leave them out.
        if std::os::unix::fs::FileTypeExt::is_char_device(&meta.file_type())
            && std::os::unix::fs::MetadataExt::rdev(&meta) == 0
        {
            continue;
        }
        b.append_path_with_name(e.path(), &child)?;
        if meta.is_dir() {
            append_tree(b, upper, &child)?;
        }
    }
    Ok(())
}
