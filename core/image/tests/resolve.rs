//! `root.image` resolved against a store: layer folders top first, and the image's
//! Entrypoint/Cmd, Env, WorkingDir and User as defaults under the spec's own keys.

mod common;

use std::path::Path;

use common::{layer, oci_layout_with, E};
use stockade_core::spec::{RootSource, User};
use stockade_core::Spec;
use stockade_image::resolve::{resolve_spec, ResolveError};
use stockade_image::Store;

fn store_with(config: serde_json::Value) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    oci_layout_with(
        &layout,
        &[
            layer(&[E::File("one", b"1")]),
            layer(&[E::File("two", b"2")]),
        ],
        config,
        "app:1",
    );
    let store = Store::new(dir.path().join("store"));
    store.import(&layout, None, &mut |_| {}).unwrap();
    (dir, store)
}

fn spec(text: &str) -> Spec {
    Spec::from_toml(text, Some(Path::new("/x/app.toml"))).unwrap()
}

#[test]
fn the_image_gives_layers_and_process_defaults() {
    let (_d, store) = store_with(serde_json::json!({
        "Entrypoint": ["/bin/app"],
        "Cmd": ["--serve"],
        "Env": ["PATH=/usr/bin", "MODE=image"],
        "WorkingDir": "/srv",
        "User": "1000:100",
    }));
    let mut s = spec("name = \"a\"\n[root]\nimage = \"app:1\"\n");
    resolve_spec(&mut s, &store).unwrap();
    assert_eq!(s.process.command, ["/bin/app", "--serve"]);
    assert_eq!(s.process.env["MODE"], "image");
    assert_eq!(s.process.env["PATH"], "/usr/bin");
    assert_eq!(s.process.cwd, Path::new("/srv"));
    assert_eq!(
        s.process.user,
        User::Id {
            uid: 1000,
            gid: 100
        }
    );
    let RootSource::Image(image) = &s.root.source else {
        panic!("not an image root")
    };
    let r = store.find("app:1").unwrap();
    assert_eq!(image.id.as_deref(), Some(r.id.to_string().as_str()));
    // Top first: layer 2, then layer 1, as overlayfs' lowerdir.
    assert!(image.layers[0].join("two").is_file());
    assert!(image.layers[1].join("one").is_file());
    assert_eq!(s.root.lowers().len(), 2);
}

#[test]
fn the_specs_own_keys_win() {
    let (_d, store) = store_with(serde_json::json!({
        "Entrypoint": ["/bin/app"],
        "Cmd": ["--serve"],
        "Env": ["PATH=/usr/bin", "MODE=image"],
        "WorkingDir": "/srv",
        "User": "app",
    }));
    let mut s = spec(
        "name = \"a\"\n[root]\nimage = \"app:1\"\n[process]\ncommand = [\"/bin/sh\"]\n\
         cwd = \"/\"\nuser = \"0\"\nenv = { MODE = \"spec\", EXTRA = \"1\" }\n",
    );
    resolve_spec(&mut s, &store).unwrap();
    assert_eq!(s.process.command, ["/bin/sh"]);
    assert_eq!(s.process.env["MODE"], "spec");
    assert_eq!(s.process.env["EXTRA"], "1");
    assert_eq!(
        s.process.env["PATH"], "/usr/bin",
        "image variables stay unless overridden"
    );
    assert_eq!(s.process.cwd, Path::new("/"));
    assert_eq!(s.process.user, User::Id { uid: 0, gid: 0 });
}

#[test]
fn an_image_without_a_command_or_missing_image_is_a_clear_error() {
    let (_d, store) = store_with(serde_json::json!({ "Env": ["A=1"] }));
    let mut s = spec("name = \"a\"\n[root]\nimage = \"app:1\"\n");
    let err = resolve_spec(&mut s, &store).unwrap_err();
    assert!(matches!(err, ResolveError::NoCommand(_)), "{err}");
    assert!(err.to_string().contains("set process.command"), "{err}");

    let mut s = spec("name = \"a\"\n[root]\nimage = \"nope:1\"\n");
    let err = resolve_spec(&mut s, &store).unwrap_err().to_string();
    assert!(err.contains("no image \"nope:1\" in the store"), "{err}");
}
