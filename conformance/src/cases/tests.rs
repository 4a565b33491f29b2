//! The cases themselves, checked without running them: every row of the portability
//! table is exercised, every spec is valid, per-target expectations only where the table
//! says the targets differ, and every check points at something the script records.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use stockade_core::portability::{Feature, Support, Target, FEATURES, PRIVILEGES};
use stockade_core::Spec;

use crate::case::{Case, Script};
use crate::runner::{case_features, env_name, render_spec};

fn vars() -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    for (k, val) in [
        ("name", "cf-test"),
        ("root", "/w/roots/x"),
        ("probe_dir", "/w/probe"),
        ("share", "/w/share/x"),
        ("layer", "/w/layers/x"),
        ("changes", "/w/changes/x"),
        ("port", "4242"),
        ("host_ip", "192.0.2.1"),
        ("state_dir", "/w/state/cf-test"),
        ("workdir", "/w"),
        ("probe", "/probe/stockade-probe"),
        ("image", "conformance/x:1"),
    ] {
        v.insert(k, val.to_string());
    }
    v
}

fn features_of(case: &Case) -> Vec<Feature> {
    let text = render_spec(&case.env, &vars());
    match Spec::from_toml(&text, Some(Path::new("/w/cases/x/spec.toml"))) {
        Ok(spec) => case_features(case, &spec),
        Err(_) => case.features.clone(),
    }
}

#[test]
fn every_spec_is_valid_unless_meant_to_be_invalid() {
    for case in super::all() {
        let text = render_spec(&case.env, &vars());
        let parsed = Spec::from_toml(&text, Some(Path::new("/w/cases/x/spec.toml")));
        assert_eq!(
            parsed.is_err(),
            case.invalid_spec,
            "{}: {:?}\n{text}",
            case.name,
            parsed.err().map(|e| e.to_string())
        );
    }
}

#[test]
fn every_row_of_the_portability_table_is_exercised() {
    let covered: BTreeSet<Feature> = super::all().iter().flat_map(features_of).collect();
    for row in FEATURES {
        assert!(
            covered.contains(&row.feature),
            "no case exercises {}",
            row.feature.label()
        );
    }
    for m in PRIVILEGES {
        let f = Feature::Privilege(m.privilege);
        assert!(covered.contains(&f), "no case exercises {}", f.label());
    }
}

#[test]
fn names_are_unique_and_make_valid_environment_names() {
    let mut seen = BTreeSet::new();
    for case in super::all() {
        assert!(seen.insert(case.name), "duplicate case {}", case.name);
        assert!(
            case.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_'),
            "{}",
            case.name
        );
        let name = env_name(case.name);
        stockade_core::spec::check_name(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Room for the `-NN` suffix of many-environment cases, and a valid host name.
        assert!(name.len() <= 56 && !name.contains('_'), "{name}");
    }
}

/// "Exact" means the same observable behaviour: a case may expect something different on
/// one target only when one of its features is approximate somewhere.
#[test]
fn per_target_expectations_only_where_the_table_is_approximate() {
    for case in super::all() {
        if !case.checks.iter().any(|c| c.is_per_target()) {
            continue;
        }
        let features = features_of(&case);
        let approximate = features.iter().any(|f| {
            Target::ALL.iter().any(|t| {
                matches!(
                    stockade_core::portability::support(*f, *t),
                    Support::Approximate(_)
                )
            })
        });
        assert!(
            approximate,
            "{} has per-target expectations but every feature it exercises is exact",
            case.name
        );
    }
}

#[test]
fn checks_point_at_recorded_steps() {
    for case in super::all() {
        let labels: BTreeSet<&str> = match &case.script {
            Script::Steps(steps) => steps
                .iter()
                .chain(&case.teardown)
                .map(|s| s.label)
                .collect(),
            Script::Many(_) => ["started", "running", "own_hostname", "deleted", "notes"].into(),
        };
        for c in &case.checks {
            let first = c.ptr.split('/').nth(1).unwrap_or("");
            assert!(
                labels.contains(first),
                "{}: {} points at no step",
                case.name,
                c.ptr
            );
        }
        if let Script::Steps(steps) = &case.script {
            let mut seen = BTreeSet::new();
            for s in steps {
                assert!(
                    seen.insert(s.label),
                    "{}: label {} twice",
                    case.name,
                    s.label
                );
            }
        }
    }
}

#[test]
fn host_roots_bind_the_probe_and_path_roots_name_the_prepared_folder() {
    let host = crate::case::Env::host(&["--exit", "3"]).hostname("h");
    let text = render_spec(&host, &vars());
    assert!(text.contains("host = true"), "{text}");
    assert!(text.contains("source = \"/w/probe\""), "{text}");
    assert!(
        text.contains("command = [\"/probe/stockade-probe\", \"--exit\", \"3\"]"),
        "{text}"
    );
    let spec = Spec::from_toml(&text, Some(Path::new("/w/spec.toml"))).unwrap();
    assert_eq!(spec.hostname, "h");
    let path = crate::case::Env::path(&[]).readonly();
    let text = render_spec(&path, &vars());
    assert!(text.contains("path = \"/w/roots/x\""), "{text}");
    assert!(!text.contains("[[mount]]"), "{text}");
    assert!(
        Spec::from_toml(&text, Some(Path::new("/w/spec.toml")))
            .unwrap()
            .root
            .readonly
    );
}

#[test]
fn skips_come_from_the_table_and_the_host_only() {
    use crate::host::Host;
    use crate::runner::skip_reason;
    let freebsd = Host {
        target: Target::Freebsd,
        cgroups: None,
        root: true,
        racct: Some(true),
        vimage: Some(true),
    };
    let all = super::all();
    let mknod = all
        .iter()
        .find(|c| c.name == "privilege.mknod.allowed")
        .unwrap();
    let why = skip_reason(mknod, &features_of(mknod), &freebsd, true).unwrap();
    assert!(
        why.starts_with("unsupported on freebsd: jails cannot create device nodes"),
        "{why}"
    );
    // On FreeBSD with racct and VIMAGE, only unsupported features skip.
    for case in &all {
        let features = features_of(case);
        let unsupported = features
            .iter()
            .any(|f| !stockade_core::portability::support(*f, Target::Freebsd).is_usable());
        assert_eq!(
            skip_reason(case, &features, &freebsd, true).is_some(),
            unsupported,
            "{}",
            case.name
        );
    }
    let no_racct = Host {
        racct: Some(false),
        ..freebsd
    };
    let memory = all.iter().find(|c| c.name == "limits.memory").unwrap();
    let why = skip_reason(memory, &features_of(memory), &no_racct, true).unwrap();
    assert!(why.starts_with("host lacks racct"), "{why}");
}
