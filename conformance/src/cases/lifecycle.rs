//! The lifecycle: create → start → running → exec → stop → stopped → delete, what `state`
//! and `list` say at each point, signals sent with `kill`, `stop`'s escalation to SIGKILL,
//! and the refusals (a second environment of the same name, deleting a running one).

use serde_json::json;
use stockade_core::portability::{Feature, Target};

use crate::case::{at, check, probe, Action, Case, Env, Matcher, Script, Step};
use Matcher::{AtLeast, Between, Contains, Eq, Lacks};

fn sleeper(extra: &[&str]) -> Env {
    let mut args = vec!["--sleep", "300"];
    args.extend_from_slice(extra);
    Env::host(&args)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "lifecycle.create_start_exec_stop_delete",
            "create waits for start; state, exec, stop and delete each do their part",
            sleeper(&["--trap", "TERM:0"]).hostname("cf-life"),
            Script::Steps(vec![
                Step::new("create", Action::Create),
                Step::new("created", Action::State),
                Step::new("start", Action::Start),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("exec", Action::Exec(vec![])),
                Step::new("list", Action::List),
                Step::new("stop", Action::Stop(10.0)),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("delete", Action::Delete { force: false }),
                Step::new("gone", Action::State).fails(),
                Step::new("list_after", Action::List),
            ]),
        )
        .features(&[Feature::ProcessIsolation, Feature::Hostname])
        .checks(vec![
            check(at("created", "/json/status"), Eq(json!("created"))),
            check(at("created", "/json/name"), Eq(json!("{name}"))),
            check(at("created", "/json/pid"), AtLeast(1.0)),
            check(at("running", "/json/status"), Eq(json!("running"))),
            probe("exec", "/hostname", Eq(json!("cf-life"))),
            // The exec'd probe sees the environment's first process and itself.
            probe("exec", "/processes", AtLeast(2.0)),
            check(at("list", "/stdout"), Contains(json!("\"{name}\""))),
            check(at("stopped", "/json/exit_code"), Eq(json!(0))),
            check(at("stopped", "/json/pid"), Eq(json!(null))),
            check(at("list_after", "/stdout"), Lacks(json!("\"{name}\""))),
        ]),
        Case::new(
            "lifecycle.state_fields",
            "state reports name, status, pid, creation time, and exit code and signal once killed",
            sleeper(&[]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("kill", Action::Kill("KILL")),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("delete", Action::Delete { force: false }),
            ]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![
            check(at("running", "/json/name"), Eq(json!("{name}"))),
            check(at("running", "/json/pid"), AtLeast(1.0)),
            check(at("running", "/json/created"), Contains(json!("T"))),
            check(at("running", "/json/exit_code"), Eq(json!(null))),
            check(at("running", "/json/exit_signal"), Eq(json!(null))),
            check(at("stopped", "/json/exit_code"), Eq(json!(137))),
            check(at("stopped", "/json/exit_signal"), Eq(json!(9))),
        ]),
        Case::new(
            "lifecycle.detached_exit_recorded",
            "run -d: the monitor records the command's exit status",
            Env::host(&["--exit", "4"]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("delete", Action::Delete { force: false }),
            ]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![
            check(at("stopped", "/json/exit_code"), Eq(json!(4))),
            check(at("stopped", "/json/exit_signal"), Eq(json!(null))),
        ]),
        Case::new(
            "lifecycle.exec_status",
            "exec passes the command's status through: 5, 127 not found, 126 not executable",
            sleeper(&[]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("exec", Action::Exec(vec!["--exit".into(), "5".into()])).exit(5),
                Step::new("not_found", Action::ExecCommand(vec!["/nonexistent/program".into()])).exit(127),
                Step::new("not_executable", Action::ExecCommand(vec!["/probe/not-executable".into()])).exit(126),
                Step::new("delete", Action::Delete { force: true }),
            ]),
        )
        .features(&[Feature::ProcessIsolation]),
        Case::new(
            "lifecycle.exec_same_limits_and_privileges",
            "a process joined with exec has the environment's limits, privileges and filter",
            sleeper(&[]).extra("[limits]\nopen_files = 100\n\n[privileges]\nallow = [\"raw_sockets\"]"),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("exec", Action::Exec(vec!["--raw-socket".into(), "--bind-port".into(), "80".into()])),
                Step::new("delete", Action::Delete { force: true }),
            ]),
        )
        .features(&[Feature::OpenFilesLimit, Feature::SyscallFilter])
        .checks(vec![
            probe("exec", "/rlimits/nofile/soft", Eq(json!(100))),
            probe("exec", "/rlimits/nofile/hard", Eq(json!(100))),
            probe("exec", "/attempts/raw_socket/ok", Eq(json!(true))),
            probe("exec", "/attempts/bind_port/ok", Eq(json!(false))),
            probe("exec", "/seccomp", Eq(json!(null))).on_linux(Eq(json!(2))),
            probe("exec", "/no_new_privs", Eq(json!(null))).on_linux(Eq(json!(1))),
        ]),
        Case::new(
            "lifecycle.kill_term_with_handler",
            "kill TERM reaches the first process, which exits through its handler (status 7)",
            sleeper(&["--trap", "TERM:7"]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("kill", Action::Kill("TERM")),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("delete", Action::Delete { force: false }),
            ]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![check(at("stopped", "/json/exit_code"), Eq(json!(7)))]),
        Case::new(
            "lifecycle.stop_escalates",
            "stop: SIGTERM, then SIGKILL once the grace time is over when TERM is ignored",
            sleeper(&["--trap", "TERM:ignore"]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("stop", Action::Stop(1.0)),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("delete", Action::Delete { force: false }),
            ]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![
            check(at("stop", "/secs"), Between(0.9, 8.0)),
            check(at("stopped", "/json/exit_code"), Eq(json!(137))),
            check(at("stopped", "/json/exit_signal"), Eq(json!(9))),
        ]),
        // A Linux PID 1 gets no default action for signals it does not handle, so SIGTERM
        // does nothing and stop escalates; a jail has no PID 1, so SIGTERM ends it.
        Case::new(
            "lifecycle.stop_first_process_without_handler",
            "stop of a first process without a TERM handler: Linux escalates to KILL (PID 1), FreeBSD ends it with TERM",
            sleeper(&[]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("stop", Action::Stop(2.0)),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("delete", Action::Delete { force: false }),
            ]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![
            check(at("stopped", "/json/exit_code"), Eq(json!(137))).on(Target::Freebsd, Eq(json!(143))),
        ]),
        Case::new(
            "lifecycle.delete_running_refused",
            "delete refuses a running environment; delete --force kills and removes it",
            sleeper(&[]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("delete", Action::Delete { force: false }).fails(),
                Step::new("still", Action::State),
                Step::new("force", Action::Delete { force: true }),
            ]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![check(at("still", "/json/status"), Eq(json!("running")))]),
        Case::new(
            "lifecycle.start_twice_refused",
            "start on an environment that already runs is refused and changes nothing",
            sleeper(&[]),
            Script::Steps(vec![
                Step::new("create", Action::Create),
                Step::new("start", Action::Start),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("again", Action::Start).fails(),
                Step::new("still", Action::State),
                Step::new("delete", Action::Delete { force: true }),
            ]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![check(at("still", "/json/status"), Eq(json!("running")))]),
        Case::new(
            "lifecycle.exec_stopped_refused",
            "exec into an environment whose process has exited is refused",
            Env::host(&[]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("exec", Action::Exec(vec![])).fails(),
                Step::new("delete", Action::Delete { force: false }),
            ]),
        )
        .features(&[Feature::ProcessIsolation]),
        Case::new(
            "lifecycle.duplicate_name_refused",
            "a second environment with a name in use is refused and the first one is untouched",
            sleeper(&[]),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("again", Action::RunDetached).fails(),
                Step::new("still", Action::State),
                Step::new("delete", Action::Delete { force: true }),
            ]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![check(at("still", "/json/status"), Eq(json!("running")))]),
    ]
}
