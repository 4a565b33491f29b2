//! The JSON Schema of the spec (`stockade schema`) accepts every example and rejects the
//! invalid specs an editor can catch; each invalid one is also refused by the loader, so
//! the schema never disagrees with stockade about a file.

use std::path::Path;

use stockade_core::spec::{schema, Spec};

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&schema::json()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn as_json(text: &str) -> serde_json::Value {
    toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const BASE: &str = "name = \"web\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n";

#[test]
fn every_example_is_valid_against_the_schema() {
    let v = validator();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let errors: Vec<String> = v
            .iter_errors(&as_json(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        seen += 1;
    }
    assert!(seen >= 4, "examples not found in {}", dir.display());
    assert!(v.is_valid(&as_json(BASE)));
    let full = format!(
        "{BASE}user = \"1000:1000\"\ncwd = \"/tmp\"\ninit = true\nenv = {{ A = \"b\" }}\n\
         [[mount]]\nkind = \"tmpfs\"\ntarget = \"/t\"\nsize = \"1.5G\"\n\
         [limits]\nmemory = 268435456\nprocesses = 8\ncpus = 1.5\nopen_files = 64\n\
         [network]\nmode = \"private\"\naddress = \"10.1.0.2/24\"\n\
         [privileges]\nallow = [\"chown\", \"raw_sockets\"]\nseccomp = \"unconfined\"\n"
    );
    assert!(Spec::from_toml(&full, None).is_ok());
    let errors: Vec<String> = v
        .iter_errors(&as_json(&full))
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn invalid_specs_are_rejected_by_the_schema_and_the_loader() {
    let v = validator();
    let cases: Vec<(&str, String)> = vec![
        (
            "unknown top key",
            BASE.replace("name = \"web\"", "name = \"web\"\nhostnme = \"x\""),
        ),
        ("unknown process key", BASE.replace("command", "comand")),
        (
            "no [root]",
            "name = \"web\"\n[process]\ncommand = [\"/bin/sh\"]\n".into(),
        ),
        ("empty command", BASE.replace("[\"/bin/sh\"]", "[]")),
        (
            "command not a list",
            BASE.replace("[\"/bin/sh\"]", "\"/bin/sh\""),
        ),
        ("bad name", BASE.replace("\"web\"", "\"-web\"")),
        ("relative cwd", format!("{BASE}cwd = \"tmp\"\n")),
        ("init not a bool", format!("{BASE}init = \"yes\"\n")),
        ("bad size", format!("{BASE}[limits]\nmemory = \"12Q\"\n")),
        (
            "negative processes",
            format!("{BASE}[limits]\nprocesses = -1\n"),
        ),
        ("unknown limit", format!("{BASE}[limits]\nswap = \"1G\"\n")),
        (
            "bad mount kind",
            format!("{BASE}[[mount]]\nkind = \"nfs\"\ntarget = \"/x\"\n"),
        ),
        (
            "mount without target",
            format!("{BASE}[[mount]]\nkind = \"tmpfs\"\n"),
        ),
        (
            "relative mount target",
            format!("{BASE}[[mount]]\nkind = \"tmpfs\"\ntarget = \"x\"\n"),
        ),
        (
            "bad network mode",
            format!("{BASE}[network]\nmode = \"bridge\"\n"),
        ),
        (
            "unknown privilege",
            format!("{BASE}[privileges]\nallow = [\"root\"]\n"),
        ),
        (
            "bad seccomp",
            format!("{BASE}[privileges]\nseccomp = \"strict\"\n"),
        ),
        (
            "root key misplaced",
            BASE.replace("[root]\nhost = true\n", "host = true\n[root]\n"),
        ),
        ("user with slash", format!("{BASE}user = \"a/b\"\n")),
    ];
    for (what, text) in &cases {
        assert!(
            Spec::from_toml(text, None).is_err(),
            "{what}: the loader accepts it\n{text}"
        );
        assert!(
            !v.is_valid(&as_json(text)),
            "{what}: the schema accepts it\n{text}"
        );
    }
}
