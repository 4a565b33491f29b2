//! `root.image`: what the loader accepts, implies and refuses (file, line, column, key).

use std::path::Path;

use stockade_core::spec::{ImageRoot, RootSource, Spec};

const FILE: &str = "/etc/stockade/web.toml";

fn load(text: &str) -> Result<Spec, Vec<String>> {
    Spec::from_toml(text, Some(Path::new(FILE)))
        .map_err(|e| e.diagnostics().iter().map(ToString::to_string).collect())
}

#[test]
fn an_image_root_is_copy_on_write_and_needs_no_process_table() {
    let spec = load("name = \"web\"\n[root]\nimage = \"alpine\"\n").unwrap();
    assert_eq!(
        spec.root.source,
        RootSource::Image(ImageRoot {
            name: "alpine:latest".into(),
            ..ImageRoot::default()
        })
    );
    assert!(
        spec.root.overlay.is_some(),
        "an image root is copy-on-write"
    );
    assert!(
        spec.process.command.is_empty(),
        "the image gives the command"
    );
    assert!(!spec.process.given.command && !spec.process.given.env);

    let spec = load(
        "name = \"web\"\n[root]\nimage = \"alpine:3.20\"\nlayers = [\"/srv/extra\"]\n\
         changes = \"/srv/changes\"\n[process]\nenv = { A = \"1\" }\n",
    )
    .unwrap();
    assert!(spec.process.given.env && !spec.process.given.command);
    let overlay = spec.root.overlay.unwrap();
    assert_eq!(overlay.layers, vec![Path::new("/srv/extra")]);
    assert_eq!(overlay.changes.as_deref(), Some(Path::new("/srv/changes")));
}

#[test]
fn image_errors_name_file_line_column_and_key() {
    let errs = load("name = \"web\"\n[root]\nimage = \"Alpine:3\"\n").unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(&format!(
            "{FILE}:3:9: root.image: \"Alpine:3\" is not an image name"
        )),
        "{errs:?}"
    );

    let errs = load("name = \"web\"\n[root]\nimage = \"alpine\"\npath = \"/srv\"\n").unwrap_err();
    assert!(
        errs[0].starts_with(&format!(
            "{FILE}:3:9: root.image: `image` and `path` or `host` are both set"
        )),
        "{errs:?}"
    );

    let errs = load("name = \"web\"\n[root]\nimage = \"alpine\"\noverlay = false\n").unwrap_err();
    assert!(
        errs[0].starts_with(&format!(
            "{FILE}:4:11: root.overlay: an image root is always copy-on-write"
        )),
        "{errs:?}"
    );

    let errs = load("name = \"web\"\n[root]\nimage = \"alpine\"\nreadonly = true\n").unwrap_err();
    assert!(errs[0].contains("root.readonly"), "{errs:?}");

    // Without an image the command is still required.
    let errs = load("name = \"web\"\n[root]\nhost = true\n[process]\ncwd = \"/\"\n").unwrap_err();
    assert!(errs[0].contains("process.command: missing"), "{errs:?}");
}
