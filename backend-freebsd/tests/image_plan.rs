//! `root.image` on FreeBSD: the image's flattened tree is the base of the copy-on-write
//! root, a unionfs lower, or the origin of a ZFS clone when it is a dataset.

use std::path::{Path, PathBuf};

use stockade_core::backend::{CgroupVersion, PlanContext};
use stockade_core::spec::{ImageRoot, RootSource, Spec};
use stockade_freebsd::plan::layer::{choose, Cow, ZfsProbe};
use stockade_freebsd::plan::{plan_with, FreebsdPlanOptions};

const FLAT: &str = "/var/lib/stockade/flat/0123";

fn image_spec(extra: &str) -> Spec {
    let mut spec = Spec::from_toml(
        &format!("name = \"img\"\n[root]\nimage = \"alpine:3\"\n{extra}"),
        Some(Path::new("/x/img.toml")),
    )
    .unwrap();
    // What the store's resolution fills in.
    spec.root.source = RootSource::Image(ImageRoot {
        name: "alpine:3".into(),
        id: Some("sha256:0123".into()),
        layers: vec![
            PathBuf::from("/var/lib/stockade/layers/b"),
            PathBuf::from("/var/lib/stockade/layers/a"),
        ],
        flat: Some(PathBuf::from(FLAT)),
    });
    spec.process.command = vec!["/bin/sh".into()];
    spec
}

#[test]
fn an_image_is_one_flattened_tree_under_unionfs() {
    let spec = image_spec("");
    match choose(
        &spec,
        Path::new("/var/run/stockade/img"),
        &ZfsProbe::NotADataset,
    ) {
        Some(Cow::Unionfs { lowers, kept, .. }) => {
            assert_eq!(lowers, vec![PathBuf::from(FLAT)]);
            assert!(!kept);
        }
        other => panic!("{other:?}"),
    }
    // Layers above the image stack over the flattened tree, top first.
    let spec = image_spec("layers = [\"/srv/extra\"]\n");
    match choose(
        &spec,
        Path::new("/var/run/stockade/img"),
        &ZfsProbe::NotProbed,
    ) {
        Some(Cow::Unionfs { lowers, .. }) => {
            assert_eq!(
                lowers,
                vec![PathBuf::from("/srv/extra"), PathBuf::from(FLAT)]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_image_tree_on_zfs_becomes_a_clone() {
    let spec = image_spec("");
    let zfs = ZfsProbe::Dataset("zroot/stockade/flat/0123".into());
    match choose(&spec, Path::new("/var/run/stockade/img"), &zfs) {
        Some(Cow::ZfsClone { dataset, clone, .. }) => {
            assert_eq!(dataset, "zroot/stockade/flat/0123");
            assert_eq!(clone, "zroot/stockade/flat/stockade-img");
        }
        other => panic!("{other:?}"),
    }
    let ctx = PlanContext::new("/var/run/stockade", "img", CgroupVersion::V2);
    let plan = plan_with(&spec, &ctx, &FreebsdPlanOptions { zfs, abi: None }).unwrap();
    assert!(plan.to_string().contains("zfs"), "{plan}");
}
