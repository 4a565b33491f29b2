//! Unpacking legitimate layers: whiteouts and opaque folders (applied when flattening,
//! kept in overlayfs' form for lowers), hard links inside a layer, modes.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

use common::{layer, tree, E};
use stockade_image::unpack::{unpack, Whiteouts};

#[test]
fn flattening_applies_whiteouts_and_opaque_folders_layer_by_layer() {
    let dir = tempfile::tempdir().unwrap();
    let l1 = layer(&[
        E::Dir("a"),
        E::File("a/gone", b"1"),
        E::File("a/kept", b"1"),
        E::Dir("b"),
        E::File("b/old", b"1"),
        E::Dir("b/sub"),
        E::File("b/sub/deep", b"1"),
    ]);
    let l2 = layer(&[
        E::File("a/.wh.gone", b""),
        E::Dir("b"),
        E::File("b/new", b"2"),
        E::File("b/.wh..wh..opq", b""),
        E::File("c", b"2"),
        E::Hardlink("c2", "c"),
    ]);
    for l in [&l1, &l2] {
        let u = unpack(&l[..], dir.path(), Whiteouts::Apply).unwrap();
        assert_eq!(u.diff_id.unwrap().hex(), common::sha(l));
    }
    assert_eq!(tree(dir.path()), ["a", "a/kept", "b", "b/new", "c", "c2"]);
    let c = fs::metadata(dir.path().join("c")).unwrap();
    assert_eq!(c.nlink(), 2, "c2 is a hard link of c");
    assert_eq!(c.permissions().mode() & 0o777, 0o644);
    assert_eq!(c.mtime(), 1_700_000_000);
}

#[test]
fn a_later_entry_replaces_an_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let l = layer(&[
        E::File("x", b"first"),
        E::Symlink("x", "target"),
        E::File("y", b"1"),
        E::File("y", b"2"),
    ]);
    unpack(&l[..], dir.path(), Whiteouts::Apply).unwrap();
    assert_eq!(
        fs::read_link(dir.path().join("x")).unwrap().to_str(),
        Some("target")
    );
    assert_eq!(fs::read_to_string(dir.path().join("y")).unwrap(), "2");
}

// overlayfs and these xattr names are Linux's.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root"]
fn lowers_keep_whiteouts_as_overlayfs_writes_them() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = tempfile::tempdir().unwrap();
    let l = layer(&[
        E::Dir("etc"),
        E::File("etc/.wh.passwd", b""),
        E::Dir("opq"),
        E::File("opq/.wh..wh..opq", b""),
        E::File("opq/new", b"1"),
    ]);
    unpack(&l[..], dir.path(), Whiteouts::Overlay).unwrap();
    let wh = fs::symlink_metadata(dir.path().join("etc/passwd")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "not a 0:0 whiteout"
    );
    let mut buf = [0u8; 4];
    let n = rustix::fs::getxattr(dir.path().join("opq"), "trusted.overlay.opaque", &mut buf)
        .expect("the opaque folder is marked");
    assert_eq!(&buf[..n], b"y");
    assert!(!dir.path().join("opq/.wh..wh..opq").exists());
    assert!(dir.path().join("opq/new").is_file());
}

#[test]
#[ignore = "needs root"]
fn an_image_flattens_into_one_tree_and_its_diff_ids_are_checked() {
    // FreeBSD's form of an image (made at import there); the store makes it on any OS.
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    common::oci_layout(
        &layout,
        &[
            layer(&[E::Dir("a"), E::File("a/x", b"1"), E::File("a/y", b"1")]),
            layer(&[E::File("a/.wh.x", b""), E::File("b", b"2")]),
        ],
        &["/bin/sh"],
        &[],
        "flat:1",
    );
    let store = stockade_image::Store::new(dir.path().join("store"));
    store.import(&layout, None, &mut |_| {}).unwrap();
    let r = store.find("flat:1").unwrap();
    let flat = store.flatten(&r).unwrap();
    assert_eq!(tree(&flat), ["a", "a/y", "b"]);

    // A record whose diff_id does not match the blob is refused, and leaves nothing.
    let mut bad = r.clone();
    bad.id = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
        .parse()
        .unwrap();
    bad.layers[1].diff_id = bad.layers[0].diff_id.clone();
    let err = store.flatten(&bad).unwrap_err().to_string();
    assert!(err.contains("should have digest"), "{err}");
    assert!(!store.flat_dir(&bad.id).exists());
}

#[cfg(target_os = "linux")]
#[test]
fn pax_xattrs_are_kept_and_overlayfs_ones_dropped() {
    let mut b = tar::Builder::new(Vec::new());
    let mut records = Vec::new();
    for (k, v) in [
        ("SCHILY.xattr.user.stockade", "yes"),
        ("SCHILY.xattr.trusted.overlay.opaque", "y"),
    ] {
        // "LEN KEY=VALUE\n", LEN counting itself.
        let body = format!(" {k}={v}\n");
        let mut len = body.len();
        while len != body.len() + len.to_string().len() {
            len = body.len() + len.to_string().len();
        }
        records.extend(format!("{len}{body}").into_bytes());
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(records.len() as u64);
    h.set_path("PaxHeaders/f").unwrap();
    h.set_cksum();
    b.append(&h, &records[..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(2);
    h.set_path("f").unwrap();
    h.set_cksum();
    b.append(&h, &b"hi"[..]).unwrap();
    let l = b.into_inner().unwrap();

    let dir = tempfile::tempdir().unwrap();
    unpack(&l[..], dir.path(), Whiteouts::Apply).unwrap();
    let f = dir.path().join("f");
    assert_eq!(fs::read_to_string(&f).unwrap(), "hi");
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(&f, "user.stockade", &mut buf).expect("user.stockade kept");
    assert_eq!(&buf[..n], b"yes");
    assert!(
        rustix::fs::getxattr(&f, "trusted.overlay.opaque", &mut buf).is_err(),
        "an overlayfs attribute in a layer must not reach the folder"
    );
}
