//! `stockade image import`: an OCI image layout (a folder), an OCI archive (that folder
//! as a tar), or a `docker save` archive, into the store.
//!
//! Every blob is copied into the store while its sha256 is computed, and kept only when
//! it matches the digest the manifest names (docker-save archives name their layers by
//! path: their digests are the config's `diff_ids`, checked while unpacking). Each layer
//! is unpacked once, under its diff_id, and shared by every image that has it.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Descriptor, DescriptorBuilder, ImageConfiguration, ImageIndex, ImageManifest,
    ImageManifestBuilder, MediaType, ANNOTATION_REF_NAME,
};
use serde::Deserialize;

use crate::digest::{Digest, HashingWriter};
use crate::inroot;
use crate::store::{
    normalize_name, now, remove_any, At, ImageRecord, LayerRecord, Store, StoreError,
};
use crate::unpack::{self, Whiteouts};

/// What an import reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A blob is being copied and verified.
    Blob {
        /// Its digest (or the archive path for docker-save layers).
        what: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A layer is being unpacked (`index` of `count`, from 1).
    Unpack {
        /// Position, from 1.
        index: usize,
        /// Number of layers.
        count: usize,
        /// The layer's diff_id.
        diff_id: String,
    },
    /// A layer was already unpacked by an earlier import.
    Shared {
        /// The layer's diff_id.
        diff_id: String,
    },
}

/// One image an import added.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Its id.
    pub id: Digest,
    /// The name given to it, if any.
    pub name: Option<String>,
    /// Entries skipped while unpacking.
    pub notes: Vec<String>,
}

/// How layers are kept on this OS: overlayfs lowers on Linux, one flattened tree per
/// image elsewhere.
pub const WHITEOUTS: Whiteouts = if cfg!(target_os = "linux") {
    Whiteouts::Overlay
} else {
    Whiteouts::Apply
};

/// `docker save`'s manifest.json entries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

struct Import<'a> {
    store: &'a Store,
    /// The layout or extracted archive.
    src: PathBuf,
    /// Name of the input, for messages.
    input: String,
    progress: &'a mut dyn FnMut(Progress),
    seq: usize,
}

impl Store {
    /// Imports `input` (folder or archive). `name` names the image (there must be one
    /// image in the input then). Returns the images added.
    pub fn import(
        &self,
        input: &Path,
        name: Option<&str>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Imported>, StoreError> {
        let name = name.map(normalize_name).transpose()?;
        let _lock = self.lock_exclusive()?;
        let work = self.tmp().join(format!("import-{}", std::process::id()));
        fs::create_dir(&work).at(&work)?;
        let result = self.import_in(input, name, progress, &work);
        let cleaned = remove_any(&work);
        let imported = result?;
        cleaned?;
        Ok(imported)
    }

    fn import_in(
        &self,
        input: &Path,
        name: Option<String>,
        progress: &mut dyn FnMut(Progress),
        work: &Path,
    ) -> Result<Vec<Imported>, StoreError> {
        let meta = fs::metadata(input).at(input)?;
        let src = if meta.is_dir() {
            input.to_path_buf()
        } else {
            let dest = work.join("input");
            fs::create_dir(&dest).at(&dest)?;
            extract(input, &dest)?;
            dest
        };
        let mut imp = Import {
            store: self,
            src,
            input: input.display().to_string(),
            progress,
            seq: 0,
        };
        let images = if imp.src.join("index.json").is_file() {
            imp.oci_images()?
        } else if imp.src.join("manifest.json").is_file() {
            imp.docker_images()?
        } else {
            return Err(StoreError::Format {
                path: imp.input,
                why: "has neither index.json (OCI layout or archive) nor manifest.json \
                      (docker save archive)"
                    .into(),
            });
        };
        if name.is_some() && images.len() != 1 {
            return Err(StoreError::Format {
                path: imp.input,
                why: format!(
                    "holds {} images, and --name can name only one: import without --name",
                    images.len()
                ),
            });
        }
        let mut refs = self.refs()?;
        let mut out = Vec::new();
        for (manifest_digest, manifest, found_name) in images {
            let (record, notes) = imp.image(manifest_digest, &manifest)?;
            self.write_record(&record)?;
            let name = name.clone().or(found_name);
            if let Some(n) = &name {
                refs.insert(n.clone(), record.id.clone());
            }
            out.push(Imported {
                id: record.id,
                name,
                notes,
            });
        }
        self.write_refs(&refs)?;
        Ok(out)
    }
}

/// Extracts an archive (plain or gzip'd tar) with the layer unpacker's rules.
fn extract(archive: &Path, dest: &Path) -> Result<(), StoreError> {
    let file = File::open(archive).at(archive)?;
    let reader = decompress(BufReader::new(file)).at(archive)?;
    unpack::unpack(reader, dest, Whiteouts::Apply).map_err(|source| StoreError::Unpack {
        layer: archive.display().to_string(),
        source,
    })?;
    Ok(())
}

/// Recognises gzip and zstd by their magic numbers; anything else is read as is.
pub fn decompress<'a>(mut r: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(r)?))
    } else {
        Ok(Box::new(r))
    }
}

fn oci_err(what: impl Into<String>) -> impl FnOnce(oci_spec::OciSpecError) -> StoreError {
    let what = what.into();
    move |source| StoreError::Oci { what, source }
}

/// The OCI platform names of this host.
pub(crate) fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    (std::env::consts::OS, arch)
}

impl Import<'_> {
    fn next_tmp(&mut self, what: &str) -> PathBuf {
        self.seq += 1;
        self.store
            .tmp()
            .join(format!("{what}-{}-{}", std::process::id(), self.seq))
    }

    /// Copies `rel` of the input into the store, checking `expected` when given.
    fn blob(
        &mut self,
        rel: &str,
        expected: Option<&Digest>,
        size: u64,
    ) -> Result<Digest, StoreError> {
        (self.progress)(Progress::Blob {
            what: expected.map_or_else(|| rel.to_string(), ToString::to_string),
            size,
        });
        if let Some(d) = expected {
            if self.store.blob_path(d).is_file() {
                return Ok(d.clone());
            }
        }
        let src = inroot::open(&self.src, rel).at(&self.src.join(rel))?;
        let tmp = self.next_tmp("blob");
        let out = File::create(&tmp).at(&tmp)?;
        let mut w = HashingWriter::new(out);
        io::copy(&mut BufReader::new(src), &mut w).at(&tmp)?;
        let (digest, _, file) = w.finish();
        file.sync_all().at(&tmp)?;
        if let Some(e) = expected {
            if *e != digest {
                remove_any(&tmp)?;
                return Err(StoreError::DigestMismatch {
                    what: format!("{} in {}", rel, self.input),
                    expected: e.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let dest = self.store.blob_path(&digest);
        fs::rename(&tmp, &dest).at(&dest)?;
        Ok(digest)
    }

    fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.store.blob_path(d);
        fs::read(&p).at(&p)
    }

    /// The manifests named by index.json, with their names.
    fn oci_images(&mut self) -> Result<Vec<(Digest, ImageManifest, Option<String>)>, StoreError> {
        let f = inroot::open(&self.src, "index.json").at(&self.src.join("index.json"))?;
        let index =
            ImageIndex::from_reader(f).map_err(oci_err(format!("{}: index.json", self.input)))?;
        let mut out = Vec::new();
        for desc in index.manifests() {
            let name = desc.annotations().as_ref().and_then(|a| {
                a.get("io.containerd.image.name")
                    .or_else(|| a.get(ANNOTATION_REF_NAME))
                    .and_then(|n| normalize_name(n).ok())
            });
            let Some((digest, manifest)) = self.manifest_for(desc)? else {
                continue;
            };
            out.push((digest, manifest, name));
        }
        if out.is_empty() {
            return Err(StoreError::Format {
                path: self.input.clone(),
                why: format!(
                    "holds no image for {}/{}",
                    host_platform().0,
                    host_platform().1
                ),
            });
        }
        Ok(out)
    }

    /// The manifest a descriptor names; a nested index is searched for this host's
    /// platform.
    fn manifest_for(
        &mut self,
        desc: &Descriptor,
    ) -> Result<Option<(Digest, ImageManifest)>, StoreError> {
        let digest = Digest::try_from(desc.digest())?;
        let rel = format!("blobs/sha256/{}", digest.hex());
        match desc.media_type() {
            MediaType::ImageIndex => {
                self.blob(&rel, Some(&digest), desc.size())?;
                let index = ImageIndex::from_reader(&self.read_blob(&digest)?[..])
                    .map_err(oci_err(format!("index {digest}")))?;
                let (os, arch) = host_platform();
                for d in index.manifests() {
                    let fits = d.platform().as_ref().is_none_or(|p| {
                        p.os().to_string() == os && p.architecture().to_string() == arch
                    });
                    if fits && *d.media_type() == MediaType::ImageManifest {
                        return self.manifest_for(d);
                    }
                }
                Ok(None)
            }
            MediaType::ImageManifest | MediaType::Other(_) => {
                self.blob(&rel, Some(&digest), desc.size())?;
                let m = ImageManifest::from_reader(&self.read_blob(&digest)?[..])
                    .map_err(oci_err(format!("manifest {digest}")))?;
                Ok(Some((digest, m)))
            }
            _ => Ok(None),
        }
    }

    /// docker save: copies config and layers, and writes an OCI manifest for them.
    fn docker_images(
        &mut self,
    ) -> Result<Vec<(Digest, ImageManifest, Option<String>)>, StoreError> {
        let f = inroot::open(&self.src, "manifest.json").at(&self.src.join("manifest.json"))?;
        let entries: Vec<DockerEntry> =
            serde_json::from_reader(f).map_err(|source| StoreError::Json {
                what: format!("{}: manifest.json", self.input),
                source,
            })?;
        let mut out = Vec::new();
        for e in entries {
            let config = self.blob(&e.config, None, 0)?;
            // The config is named by its digest in every docker-save format.
            let stem = Path::new(&e.config)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let named = Path::new(&e.config)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned());
            let claimed = stem
                .parse::<Digest>()
                .ok()
                .or_else(|| named.and_then(|n| n.parse().ok()));
            if let Some(claimed) = claimed {
                if claimed != config {
                    return Err(StoreError::DigestMismatch {
                        what: format!("{} in {}", e.config, self.input),
                        expected: claimed.to_string(),
                        actual: config.to_string(),
                    });
                }
            }
            let config_size = fs::metadata(self.store.blob_path(&config))
                .at(&self.store.blob_path(&config))?
                .len();
            let mut layers = Vec::new();
            for l in &e.layers {
                let d = self.blob(l, None, 0)?;
                let p = self.store.blob_path(&d);
                let size = fs::metadata(&p).at(&p)?.len();
                let mut head = [0u8; 4];
                let n = File::open(&p).at(&p)?.read(&mut head).at(&p)?;
                let media = if head[..n].starts_with(&[0x1f, 0x8b]) {
                    MediaType::ImageLayerGzip
                } else {
                    MediaType::ImageLayer
                };
                layers.push(descriptor(media, &d, size)?);
            }
            let manifest = ImageManifestBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageManifest)
                .config(descriptor(MediaType::ImageConfig, &config, config_size)?)
                .layers(layers)
                .build()
                .map_err(oci_err("manifest"))?;
            let digest = self
                .store
                .put_json_blob(&manifest.to_string().map_err(oci_err("manifest"))?)?;
            let name = e
                .repo_tags
                .as_ref()
                .and_then(|t| t.first())
                .and_then(|n| normalize_name(n).ok());
            out.push((digest, manifest, name));
        }
        Ok(out)
    }

    /// Copies an image's config and layers, unpacks new layers, and returns its record.
    fn image(
        &mut self,
        id: Digest,
        manifest: &ImageManifest,
    ) -> Result<(ImageRecord, Vec<String>), StoreError> {
        let cdesc = manifest.config();
        let config_digest = Digest::try_from(cdesc.digest())?;
        self.blob(
            &format!("blobs/sha256/{}", config_digest.hex()),
            Some(&config_digest),
            cdesc.size(),
        )?;
        let config = ImageConfiguration::from_reader(&self.read_blob(&config_digest)?[..])
            .map_err(oci_err(format!("config {config_digest}")))?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(StoreError::Format {
                path: self.input.clone(),
                why: format!(
                    "manifest {id} has {} layers but its config lists {} diff_ids",
                    manifest.layers().len(),
                    diff_ids.len()
                ),
            });
        }
        let mut layers = Vec::new();
        let mut notes = Vec::new();
        let count = manifest.layers().len();
        for (i, (desc, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
            let blob = Digest::try_from(desc.digest())?;
            let diff_id: Digest = diff_id.parse()?;
            self.blob(
                &format!("blobs/sha256/{}", blob.hex()),
                Some(&blob),
                desc.size(),
            )?;
            if WHITEOUTS == Whiteouts::Apply {
                // Flattened below, per image, where each diff_id is checked.
            } else if self.store.layer_dir(&diff_id).is_dir() {
                (self.progress)(Progress::Shared {
                    diff_id: diff_id.to_string(),
                });
            } else {
                (self.progress)(Progress::Unpack {
                    index: i + 1,
                    count,
                    diff_id: diff_id.to_string(),
                });
                notes.extend(self.store.unpack_layer(&blob, &diff_id, WHITEOUTS)?);
            }
            layers.push(LayerRecord {
                blob,
                media_type: desc.media_type().to_string(),
                size: desc.size(),
                diff_id,
            });
        }
        let record = ImageRecord {
            id,
            config: config_digest,
            layers,
            imported: now(),
            notes: notes.clone(),
        };
        if WHITEOUTS == Whiteouts::Apply {
            self.store.flatten(&record)?;
        }
        Ok((record, notes))
    }
}

/// An OCI descriptor.
pub(crate) fn descriptor(
    media: MediaType,
    d: &Digest,
    size: u64,
) -> Result<Descriptor, StoreError> {
    DescriptorBuilder::default()
        .media_type(media)
        .digest(d.to_oci())
        .size(size)
        .build()
        .map_err(oci_err("descriptor"))
}

impl Store {
    /// Stores a JSON document as a blob; returns its digest.
    pub(crate) fn put_json_blob(&self, text: &str) -> Result<Digest, StoreError> {
        let d = Digest::of(text.as_bytes());
        let path = self.blob_path(&d);
        if !path.is_file() {
            self.write_atomic(&path, text.as_bytes())?;
        }
        Ok(d)
    }

    /// Unpacks blob `blob` into `layers/<diff_id>`, checking the diff_id. Returns the
    /// notes.
    pub(crate) fn unpack_layer(
        &self,
        blob: &Digest,
        diff_id: &Digest,
        whiteouts: Whiteouts,
    ) -> Result<Vec<String>, StoreError> {
        let tmp = self.tmp().join(format!("layer-{}", diff_id.hex()));
        remove_any(&tmp)?;
        fs::create_dir(&tmp).at(&tmp)?;
        let path = self.blob_path(blob);
        let file = File::open(&path).at(&path)?;
        let reader = decompress(BufReader::new(file)).at(&path)?;
        let unpacked =
            unpack::unpack(reader, &tmp, whiteouts).map_err(|source| StoreError::Unpack {
                layer: blob.to_string(),
                source,
            });
        let unpacked = match unpacked {
            Ok(u) => u,
            Err(e) => {
                remove_any(&tmp)?;
                return Err(e);
            }
        };
        let actual = unpacked.diff_id.unwrap_or_else(|| Digest::of(b""));
        if actual != *diff_id {
            remove_any(&tmp)?;
            return Err(StoreError::DigestMismatch {
                what: format!("uncompressed layer {blob}"),
                expected: diff_id.to_string(),
                actual: actual.to_string(),
            });
        }
        let dest = self.layer_dir(diff_id);
        fs::rename(&tmp, &dest).at(&dest)?;
        Ok(unpacked.notes)
    }

    /// Flattens an image's layers into `flat/<id>` (whiteouts applied): the one tree
    /// FreeBSD's unionfs or a ZFS clone starts from.
    pub fn flatten(&self, r: &ImageRecord) -> Result<PathBuf, StoreError> {
        let dest = self.flat_dir(&r.id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let tmp = self.tmp().join(format!("flat-{}", r.id.hex()));
        remove_any(&tmp)?;
        fs::create_dir(&tmp).at(&tmp)?;
        for l in &r.layers {
            let path = self.blob_path(&l.blob);
            let file = File::open(&path).at(&path)?;
            let reader = decompress(BufReader::new(file)).at(&path)?;
            let unpacked = match unpack::unpack(reader, &tmp, Whiteouts::Apply) {
                Ok(u) => u,
                Err(source) => {
                    remove_any(&tmp)?;
                    return Err(StoreError::Unpack {
                        layer: l.blob.to_string(),
                        source,
                    });
                }
            };
            if unpacked.diff_id.as_ref() != Some(&l.diff_id) {
                remove_any(&tmp)?;
                return Err(StoreError::DigestMismatch {
                    what: format!("uncompressed layer {}", l.blob),
                    expected: l.diff_id.to_string(),
                    actual: unpacked.diff_id.map_or_else(String::new, |d| d.to_string()),
                });
            }
        }
        fs::rename(&tmp, &dest).at(&dest)?;
        Ok(dest)
    }
}
