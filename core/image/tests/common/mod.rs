//! Builders for test images: raw tar entries (names a well-behaved tar library refuses
//! to write, like `../x`) and OCI layouts around them.

#![allow(dead_code)]

use std::fs;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// One raw tar entry.
pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str),
}

/// A layer tar holding exactly these entries, names unchecked.
pub fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, kind, link, data): (&str, tar::EntryType, Option<&str>, &[u8]) = match e {
            E::Dir(n) => (n, tar::EntryType::Directory, None, b""),
            E::File(n, d) => (n, tar::EntryType::Regular, None, d),
            E::Symlink(n, t) => (n, tar::EntryType::Symlink, Some(t), b""),
            E::Hardlink(n, t) => (n, tar::EntryType::Link, Some(t), b""),
            E::Char(n) => (n, tar::EntryType::Char, None, b""),
        };
        // Raw bytes: Header::set_path refuses `..`, which is what these tests need.
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            gnu.linkname = [0; 100];
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("tar")
}

pub fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn blob(dir: &Path, bytes: &[u8]) -> String {
    let hex = sha(bytes);
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    hex
}

/// Writes an OCI layout at `dir` with these (uncompressed) layers, bottom first, and a
/// config with `cmd` and `env`; named `name` by annotation.
pub fn oci_layout(dir: &Path, layers: &[Vec<u8>], cmd: &[&str], env: &[&str], name: &str) {
    oci_layout_with(
        dir,
        layers,
        serde_json::json!({ "Cmd": cmd, "Env": env }),
        name,
    );
}

/// Like [`oci_layout`], with the config's `config` object given whole.
pub fn oci_layout_with(dir: &Path, layers: &[Vec<u8>], process: serde_json::Value, name: &str) {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha(l)))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": process,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    })
    .to_string();
    let config_hex = blob(dir, config.as_bytes());
    let layer_descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": format!("sha256:{}", blob(dir, l)),
                "size": l.len(),
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_hex}"),
            "size": config.len(),
        },
        "layers": layer_descs,
    })
    .to_string();
    let manifest_hex = blob(dir, manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"),
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": name },
        }],
    })
    .to_string();
    fs::write(dir.join("index.json"), index).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Every path below `dir`, relative, sorted (symlinks not followed).
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
