//! Hostile layers: each is refused, and nothing is written outside the store (nor left
//! half-visible inside it). These run unprivileged: the refusals come before anything
//! that needs root.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use common::{layer, oci_layout, tree, E};
use stockade_image::Store;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    secret: PathBuf,
    store: Store,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let outside = root.join("outside");
    fs::create_dir(&outside).unwrap();
    let secret = outside.join("secret");
    fs::write(&secret, "do not touch").unwrap();
    let store = Store::new(root.join("store"));
    Fixture {
        _tmp: tmp,
        root,
        outside,
        secret,
        store,
    }
}

/// Imports a one-image layout of `layers`, expects a refusal mentioning `why`, and
/// checks nothing changed outside the store and nothing became visible inside it.
fn refused(f: &Fixture, layers: &[Vec<u8>], why: &str) {
    let before = tree(&f.outside);
    let shadow_links = fs::metadata("/etc/shadow").map(|m| m.nlink()).ok();
    let layout = f
        .root
        .join(format!("layout-{}", common::sha(&layers.concat())));
    oci_layout(&layout, layers, &["/bin/sh"], &[], "hostile:1");
    let err = f
        .store
        .import(&layout, None, &mut |_| {})
        .expect_err("a hostile layer was imported");
    let msg = err.to_string();
    assert!(msg.contains(why), "unexpected error: {msg}");
    assert!(msg.contains("refused"), "not a refusal: {msg}");

    assert_eq!(
        tree(&f.outside),
        before,
        "something changed outside the store"
    );
    assert_eq!(fs::read_to_string(&f.secret).unwrap(), "do not touch");
    assert_eq!(
        fs::metadata(&f.secret).unwrap().nlink(),
        1,
        "secret was hard-linked"
    );
    assert_eq!(
        fs::metadata("/etc/shadow").map(|m| m.nlink()).ok(),
        shadow_links,
        "/etc/shadow was hard-linked"
    );
    // Nothing named, recorded or unpacked; the work folder is gone.
    let s = f.store.root();
    assert!(f.store.list().unwrap().is_empty());
    assert!(!s.join("refs.json").exists() || f.store.refs().unwrap().is_empty());
    assert_eq!(tree(&s.join("layers")), Vec::<String>::new());
    assert_eq!(tree(&s.join("tmp")), Vec::<String>::new());
    // And nothing landed next to the store either.
    let mut top = tree(&f.root);
    top.retain(|p| {
        !p.starts_with("store") && !p.starts_with("layout-") && !p.starts_with("outside")
    });
    assert_eq!(top, Vec::<String>::new());
}

fn outside(f: &Fixture) -> &str {
    f.outside.to_str().unwrap()
}

#[test]
fn dot_dot_paths_are_refused() {
    let f = fixture();
    refused(&f, &[layer(&[E::File("../../escape", b"x")])], "climbs out");
    refused(
        &f,
        &[layer(&[
            E::Dir("etc"),
            E::File("etc/../../../escape", b"x"),
        ])],
        "climbs out",
    );
}

#[test]
fn writing_through_an_absolute_symlink_is_refused() {
    let f = fixture();
    let target = outside(&f).to_string();
    refused(
        &f,
        &[layer(&[
            E::Symlink("out", &target),
            E::File("out/pwned", b"x"),
        ])],
        "symlink",
    );
    refused(
        &f,
        &[layer(&[
            E::Symlink("root", "/"),
            E::Dir("root/tmp"),
            E::File("root/tmp/pwned", b"x"),
        ])],
        "symlink",
    );
    // A relative one climbing out, and a symlink made the parent of a later folder.
    refused(
        &f,
        &[layer(&[
            E::Symlink("up", "../../../.."),
            E::File("up/pwned", b"x"),
        ])],
        "symlink",
    );
}

#[test]
fn a_symlink_in_a_lower_layer_is_not_followed_by_an_upper_one() {
    // Each layer is unpacked into its own folder, so layer 2's `out/pwned` makes a real
    // folder `out` there (overlayfs then shows it over layer 1's symlink): nothing reaches
    // the symlink's target. Making the folder needs no root; the import fails later only
    // if whiteouts need root, and this layer has none.
    let f = fixture();
    let target = outside(&f).to_string();
    let layout = f.root.join("layout-lower");
    oci_layout(
        &layout,
        &[
            layer(&[E::Symlink("out", &target)]),
            layer(&[E::File("out/pwned", b"x")]),
        ],
        &["/bin/sh"],
        &[],
        "twolayers:1",
    );
    f.store.import(&layout, None, &mut |_| {}).unwrap();
    assert_eq!(tree(&f.outside), vec!["secret".to_string()]);
}

#[test]
fn whiteouts_of_dot_dot_are_refused() {
    let f = fixture();
    refused(&f, &[layer(&[E::File(".wh..", b"")])], "whites out");
    refused(
        &f,
        &[layer(&[E::Dir("etc"), E::File("etc/.wh..", b"")])],
        "whites out",
    );
    refused(&f, &[layer(&[E::File("etc/.wh.", b"")])], "whites out");
}

#[test]
fn hard_links_out_of_the_layer_are_refused() {
    let f = fixture();
    refused(
        &f,
        &[layer(&[E::Hardlink("shadow", "/etc/shadow")])],
        "did not make",
    );
    refused(
        &f,
        &[layer(&[E::Hardlink("shadow", "../../../../../etc/shadow")])],
        "climbs out",
    );
    let secret = f.secret.to_str().unwrap().to_string();
    refused(&f, &[layer(&[E::Hardlink("s", &secret)])], "did not make");
    // Through a symlink the layer made: the link target is resolved without following it.
    let out = outside(&f).to_string();
    refused(
        &f,
        &[layer(&[
            E::Symlink("o", &out),
            E::Hardlink("s", "o/secret"),
        ])],
        "did not make",
    );
}

#[test]
fn a_corrupt_blob_is_refused_by_its_digest() {
    let f = fixture();
    let layout = f.root.join("layout-corrupt");
    let l = layer(&[E::File("hello", b"hi")]);
    oci_layout(
        &layout,
        std::slice::from_ref(&l),
        &["/bin/sh"],
        &[],
        "corrupt:1",
    );
    let hex = common::sha(&l);
    fs::write(
        layout.join("blobs/sha256").join(&hex),
        layer(&[E::File("hello", b"ho")]),
    )
    .unwrap();
    let err = f
        .store
        .import(&layout, None, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("should have digest"), "{err}");
    assert!(f.store.list().unwrap().is_empty());
    assert_eq!(tree(&f.store.root().join("layers")), Vec::<String>::new());
}

#[test]
fn a_symlinked_blob_in_the_layout_does_not_read_host_files() {
    let f = fixture();
    let layout = f.root.join("layout-link");
    let l = layer(&[E::File("hello", b"hi")]);
    oci_layout(
        &layout,
        std::slice::from_ref(&l),
        &["/bin/sh"],
        &[],
        "link:1",
    );
    let blob = layout.join("blobs/sha256").join(common::sha(&l));
    fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink(&f.secret, &blob).unwrap();
    let err = f
        .store
        .import(&layout, None, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(!f
        .store
        .blob_path(&common::sha(b"do not touch").parse().unwrap())
        .exists());
    assert!(f.store.list().unwrap().is_empty(), "{err}");
}

#[test]
fn device_nodes_are_skipped_with_a_note() {
    let f = fixture();
    let layout = f.root.join("layout-dev");
    oci_layout(
        &layout,
        &[layer(&[
            E::Dir("dev"),
            E::Char("dev/kmem"),
            E::File("ok", b"1"),
        ])],
        &["/bin/sh"],
        &[],
        "dev:1",
    );
    let imported = f.store.import(&layout, None, &mut |_| {}).unwrap();
    assert_eq!(imported.len(), 1);
    assert!(
        imported[0].notes.iter().any(|n| n.contains("/dev/kmem")),
        "{:?}",
        imported[0].notes
    );
    let r = f.store.find("dev:1").unwrap();
    let dir = f.store.layer_dir(&r.layers[0].diff_id);
    assert!(dir.join("ok").is_file());
    assert!(!dir.join("dev/kmem").exists());
    let _ = Path::new("");
}
