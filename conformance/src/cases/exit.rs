//! Exit statuses: the command's own status passes through `run`; 127 when the program
//! does not exist, 126 when it cannot be executed, 128+N when signal N ends it; 2 for an
//! invalid spec.

use serde_json::json;
use stockade_core::portability::Feature;

use crate::case::{check, Action, Case, Env, Matcher, Script, Step};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "exit.success",
            "a command that succeeds makes `run` exit 0",
            Env::host(&[]),
            Script::Steps(vec![Step::new("run", Action::Run(vec![]))]),
        )
        .features(&[Feature::ProcessIsolation]),
        Case::new(
            "exit.code",
            "`run` exits with the command's own status (3)",
            Env::host(&[]),
            Script::Steps(vec![Step::new(
                "run",
                Action::Run(vec!["--exit".into(), "3".into()]),
            )
            .exit(3)]),
        )
        .features(&[Feature::ProcessIsolation]),
        Case::new(
            "exit.not_found",
            "a program that does not exist: 127",
            Env::host(&[]),
            Script::Steps(vec![Step::new(
                "run",
                Action::RunCommand(vec!["/nonexistent/program".into()]),
            )
            .exit(127)]),
        )
        .features(&[Feature::ProcessIsolation]),
        Case::new(
            "exit.not_executable",
            "a file without execute permission: 126",
            Env::host(&[]),
            Script::Steps(vec![Step::new(
                "run",
                Action::RunCommand(vec!["/probe/not-executable".into()]),
            )
            .exit(126)]),
        )
        .features(&[Feature::ProcessIsolation]),
        // With a reaper as PID 1 the command can be killed by its own signal on Linux (a
        // PID 1 ignores signals it has no handler for); a jail has no PID 1 at all.
        Case::new(
            "exit.signal_kill",
            "a command killed by SIGKILL: 128+9 = 137",
            Env::host(&[]).process("init = true"),
            Script::Steps(vec![Step::new(
                "run",
                Action::Run(vec!["--raise".into(), "KILL".into()]),
            )
            .exit(137)]),
        )
        .features(&[Feature::Init]),
        Case::new(
            "exit.signal_term",
            "a command killed by SIGTERM: 128+15 = 143",
            Env::host(&[]).process("init = true"),
            Script::Steps(vec![Step::new(
                "run",
                Action::Run(vec!["--raise".into(), "TERM".into()]),
            )
            .exit(143)]),
        )
        .features(&[Feature::Init]),
        {
            let mut c = Case::new(
                "exit.invalid_spec",
                "an invalid spec is refused with exit 2 and the key named, before anything is made",
                Env::host(&[]).extra("[limits]\nmemory = \"12Q\""),
                Script::Steps(vec![Step::new("run", Action::Run(vec![])).exit(2)]),
            )
            .checks(vec![check(
                "/run/stderr",
                Matcher::Contains(json!("limits.memory")),
            )]);
            c.invalid_spec = true;
            c.privileged = false;
            c
        },
    ]
}
