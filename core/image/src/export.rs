//! `stockade image export NAME:TAG FILE`: an image as an OCI archive (an OCI image
//! layout in a tar), which `podman load`, `skopeo copy oci-archive:FILE ...` and
//! `stockade image import` read.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::Path;

use oci_spec::image::{ImageIndexBuilder, MediaType, ANNOTATION_REF_NAME};

use crate::import::descriptor;
use crate::store::{remove_any, At, Store, StoreError};

impl Store {
    /// Writes image `reference` to `file` as an OCI archive; returns its id.
    pub fn export(&self, reference: &str, file: &Path) -> Result<String, StoreError> {
        let record = self.find(reference)?;
        let names: Vec<String> = self
            .refs()?
            .into_iter()
            .filter(|(_, id)| *id == record.id)
            .map(|(n, _)| n)
            .collect();
        let name = crate::store::normalize_name(reference)
            .ok()
            .filter(|n| names.contains(n))
            .or_else(|| names.first().cloned());
        let manifest_size = fs::metadata(self.blob_path(&record.id))
            .at(&self.blob_path(&record.id))?
            .len();
        let mut desc = descriptor(MediaType::ImageManifest, &record.id, manifest_size)?;
        if let Some(n) = &name {
            desc.set_annotations(Some(HashMap::from([
                (ANNOTATION_REF_NAME.to_string(), n.clone()),
                ("io.containerd.image.name".to_string(), n.clone()),
            ])));
        }
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(vec![desc])
            .build()
            .map_err(|source| StoreError::Oci {
                what: "index".into(),
                source,
            })?;
        let index = index.to_string().map_err(|source| StoreError::Oci {
            what: "index".into(),
            source,
        })?;

        // Written next to the destination and renamed: a reader never sees half a file.
        let tmp = file.with_extension("partial");
        let result = (|| -> io::Result<()> {
            let mut b = tar::Builder::new(File::create(&tmp)?);
            add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
            add_bytes(&mut b, "index.json", index.as_bytes())?;
            let mut blobs = vec![record.id.clone(), record.config.clone()];
            blobs.extend(record.layers.iter().map(|l| l.blob.clone()));
            blobs.dedup();
            for d in &blobs {
                let mut f = File::open(self.blob_path(d))?;
                b.append_file(format!("blobs/sha256/{}", d.hex()), &mut f)?;
            }
            let mut out = b.into_inner()?;
            out.flush()?;
            out.sync_all()
        })();
        if let Err(e) = result {
            remove_any(&tmp)?;
            return Err(e).at(file);
        }
        fs::rename(&tmp, file).at(file)?;
        Ok(record.id.to_string())
    }
}

fn add_bytes(b: &mut tar::Builder<File>, path: &str, bytes: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(crate::store::now());
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, bytes)
}
