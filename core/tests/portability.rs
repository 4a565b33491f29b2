//! The portability table: complete, consistent, and the source of docs/portability.md.

use std::path::Path;

use stockade_core::portability::{
    self, check, features_used, privilege_mapping, support, Feature, Support, Target, FEATURES,
    PRIVILEGES,
};
use stockade_core::spec::Privilege;
use stockade_core::Spec;

#[test]
fn every_privilege_has_exactly_one_mapping_in_order() {
    let mapped: Vec<Privilege> = PRIVILEGES.iter().map(|m| m.privilege).collect();
    assert_eq!(mapped, Privilege::ALL);
    for p in Privilege::ALL {
        assert_eq!(privilege_mapping(*p).privilege, *p);
        assert!(
            !privilege_mapping(*p).capabilities.is_empty(),
            "{p:?} grants no Linux capability"
        );
    }
}

#[test]
fn every_feature_has_exactly_one_row() {
    let mut seen = Vec::new();
    for r in FEATURES {
        assert!(!seen.contains(&r.feature), "{:?} twice", r.feature);
        seen.push(r.feature);
        for t in Target::ALL {
            let m = r.on(t);
            if let Some(why) = m.support.why() {
                assert!(why.len() > 20, "{:?} on {t}: say why", r.feature);
            }
        }
    }
    assert_eq!(seen.len(), 34);
}

#[test]
fn known_facts_hold() {
    assert_eq!(
        support(Feature::MemoryLimit, Target::LinuxCgroupV2),
        Support::Exact
    );
    assert_eq!(
        support(Feature::MemoryLimit, Target::LinuxCgroupV1),
        Support::Exact
    );
    assert!(matches!(
        support(Feature::MemoryLimit, Target::Freebsd),
        Support::Approximate(_)
    ));
    assert!(matches!(
        support(Feature::Privilege(Privilege::Mknod), Target::Freebsd),
        Support::Unsupported(_)
    ));
    assert_eq!(
        portability::mechanism(Feature::CpuLimit, Target::LinuxCgroupV1).how,
        "cpu.cfs_quota_us / cpu.cfs_period_us"
    );
    assert_eq!(
        privilege_mapping(Privilege::RawSockets).jail_params,
        ["allow.raw_sockets"]
    );
}

fn spec(extra: &str) -> Spec {
    let text =
        format!("name = \"t\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/true\"]\n{extra}");
    Spec::from_toml(&text, Some(Path::new("/t.toml"))).unwrap()
}

#[test]
fn features_used_follow_the_spec() {
    let s = spec("init = true\n[[mount]]\nkind = \"proc\"\ntarget = \"/proc\"\n[limits]\nmemory = \"1G\"\n[privileges]\nallow = [\"mlock\"]\n");
    let used: Vec<Feature> = features_used(&s).into_iter().map(|u| u.feature).collect();
    assert_eq!(
        used,
        vec![
            Feature::ProcessIsolation,
            Feature::IpcIsolation,
            Feature::Hostname,
            Feature::RootHost,
            Feature::Init,
            Feature::ProcMount,
            Feature::NetworkNone,
            Feature::MemoryLimit,
            Feature::SyscallFilter,
            Feature::Privilege(Privilege::Mlock),
        ]
    );
}

#[test]
fn check_flags_unsupported_features_per_target() {
    let s = spec("[privileges]\nallow = [\"mknod\"]\n");
    let reports = check(&s, &Target::ALL);
    assert!(reports[0].is_usable());
    assert!(reports[1].is_usable());
    assert!(!reports[2].is_usable());
    let bad: Vec<_> = reports[2]
        .findings
        .iter()
        .filter(|f| !f.support.is_usable())
        .map(|f| f.used.key.as_str())
        .collect();
    assert_eq!(bad, ["privileges.allow \"mknod\""]);
}

#[test]
fn docs_portability_md_is_generated_from_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/portability.md");
    let expected = portability::markdown();
    if std::env::var_os("STOCKADE_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/portability.md is stale: run `STOCKADE_BLESS=1 cargo test -p stockade-core --test portability` \
         or `cargo run -q -p stockade -- portability > docs/portability.md`"
    );
}

#[test]
fn rootless_column_refuses_what_needs_root() {
    assert!(!support(Feature::NetworkPrivate, Target::LinuxRootless).is_usable());
    assert!(!support(Feature::Privilege(Privilege::Mknod), Target::LinuxRootless).is_usable());
    assert!(matches!(
        support(Feature::MemoryLimit, Target::LinuxRootless),
        Support::Approximate(why) if why.contains("delegated")
    ));
    assert_eq!(
        support(Feature::Hostname, Target::LinuxRootless),
        Support::Exact
    );
    assert!(!Target::ALL.contains(&Target::LinuxRootless));
    let s = spec("[network]\nmode = \"private\"\naddress = \"10.0.0.2/24\"\n");
    let report = &check(&s, &[Target::LinuxRootless])[0];
    assert!(!report.is_usable());
    assert!(portability::markdown().contains("| linux (rootless) |"));
}
