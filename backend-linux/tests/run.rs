//! Foreground `run` on a real kernel: what the process inside observes, and exit codes.
//! Needs root (namespaces, mounts, cgroups).

#![cfg(target_os = "linux")]

mod common;

use common::World;
use stockade_core::backend::Runtime;

#[test]
#[ignore = "needs root"]
fn hostname_pid1_env_cwd_and_uid() {
    let w = World::new();
    let mut spec = w.spec_with(
        "obs",
        "hostname > /out/hostname; echo $$ > /out/pid; pwd > /out/cwd; \
         id -u > /out/uid; id -g > /out/gid; id -G > /out/groups; env | sort > /out/env",
        "cwd = \"/tmp\"\nuser = \"1000:1001\"\nenv = { GREETING = \"hi\" }",
        "",
    );
    spec.hostname = "inside".into();
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("hostname"), "inside");
    assert_eq!(w.read("pid"), "1");
    assert_eq!(w.read("cwd"), "/tmp");
    assert_eq!(w.read("uid"), "1000");
    assert_eq!(w.read("gid"), "1001");
    assert_eq!(w.read("groups"), "1001");
    let env = w.read("env");
    assert!(env.contains("GREETING=hi"), "{env}");
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains("CARGO"), "host environment leaked: {env}");
}

#[test]
#[ignore = "needs root"]
fn exit_codes_and_signals() {
    let w = World::new();
    let cases: &[(&str, &str, i32, Option<i32>)] = &[
        ("ok", "exit 0", 0, None),
        ("three", "exit 3", 3, None),
        ("notexec", "/etc/passwd", 126, None),
        ("notfound", "/nonexistent", 127, None),
    ];
    for (name, script, code, signal) in cases {
        let spec = w.spec(name, script, "");
        let exit = w.backend.run(&spec, &w.store).unwrap();
        assert_eq!(
            (exit.code, exit.signal),
            (*code, *signal),
            "{name}: {exit:?}"
        );
    }
    // PID 1 cannot be killed from inside its namespace; with init = true the command is
    // not PID 1, and the reaper reports 128+N for it.
    let spec = w.spec_with("killed", "kill -9 $$", "init = true", "");
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!((exit.code, exit.signal), (137, None), "{exit:?}");
    // The same codes when stockade itself execs a missing or non-executable command.
    let mut spec = w.spec("direct127", "true", "");
    spec.process.command = vec!["/no/such/program".into()];
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 127, "{exit:?}");
    assert!(exit.reason.unwrap_or_default().contains("not found"));
    spec.name = "direct126".into();
    spec.process.command = vec!["/etc/passwd".into()];
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 126, "{exit:?}");
}
