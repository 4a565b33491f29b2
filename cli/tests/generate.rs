//! Completions, man pages and the spec's JSON Schema, generated from the binary.

use std::process::Command;

fn stockade(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_know_every_subcommand_and_bash_parses_its_script() {
    let bash = stockade(&["completions", "bash"]);
    for sub in ["run", "exec", "logs", "attach", "console", "top", "schema"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stockade.bash");
    std::fs::write(&file, &bash).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(syntax.success(), "bash -n rejects the completion script");
    assert!(stockade(&["completions", "zsh"]).starts_with("#compdef stockade"));
    let fish = stockade(&["completions", "fish"]);
    assert!(fish.contains("complete -c stockade") && fish.contains("logs"));
    let bad = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages_cover_the_command_and_each_subcommand() {
    let page = stockade(&["man"]);
    assert!(page.contains(".TH stockade 1"), "{page}");
    assert!(page.contains("attach"));
    let dir = tempfile::tempdir().unwrap();
    stockade(&["man", "--out", dir.path().to_str().unwrap()]);
    for sub in [
        "stockade.1",
        "stockade-run.1",
        "stockade-logs.1",
        "stockade-attach.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(sub)).unwrap();
        assert!(text.contains(".TH"), "{sub}");
    }
    let logs = std::fs::read_to_string(dir.path().join("stockade-logs.1")).unwrap();
    assert!(logs.contains("\\-\\-timestamps"), "{logs}");
}

#[test]
fn schema_is_json_schema_with_every_table() {
    let text = stockade(&["schema"]);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    for table in [
        "root",
        "process",
        "mount",
        "limits",
        "network",
        "privileges",
    ] {
        assert!(v["properties"][table].is_object(), "no {table}");
    }
    assert_eq!(v["required"], serde_json::json!(["root"]));
}
